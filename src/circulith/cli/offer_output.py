"""The text form of a recycling offer (``triage offer``, ``recovery price`` on a grade output)."""

from __future__ import annotations

from circulith.cli.common import console
from circulith.services.offers import OfferResult


def print_offer(res: OfferResult) -> None:
    """Print the offer line by line: warnings, each battery's figures and handling costs, the total [USD]."""
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    for line in res.lines:
        console.print(f"{line.battery_id} ({line.chemistry} {line.form}, {line.mass_kg:g} kg, {line.damage_state}): "
                      f"{line.best_route} revenue {line.revenue_usd:,.2f} - processing {line.processing_cost_usd:,.2f}"
                      f" - logistics {line.logistics_usd:,.2f} - margin {line.margin_usd:,.2f} - handling "
                      f"{line.handling_usd:,.2f} = {line.offer_usd:,.2f} USD", highlight=False)
        for h in line.handling:
            console.print(f"    {h.item}: {h.quantity:g} x {h.rate:g} {h.unit} = {h.cost_usd:,.2f} USD",
                          highlight=False)
    console.print(f"total offer {res.offer_usd_total:,.2f} USD (handling {res.handling_usd_total:,.2f} USD)",
                  highlight=False)
