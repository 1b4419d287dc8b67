"""Our engine against EverBatt 2023's default black-mass case, per kg of black mass (for RESULTS.md).

    .venv/bin/python benchmarks/recovery_everbatt_compare.py

Reference figures and their derivation: ``src/circulith/reference/data/everbatt_2023_reference.toml``.
"""

from __future__ import annotations

import datetime as dt

from circulith.recovery.prices import price_book_from_rows
from circulith.recovery.reference_data import load_toml
from circulith.recovery.routes import apply_overrides
from circulith.recovery.valuation import evaluate

DATE = dt.date(2023, 1, 1)


def main() -> None:
    ref = load_toml("everbatt_2023_reference.toml")
    metals = {"Ni", "Co", "Mn", "Cu", "Al"}
    rows = [{"commodity": c, "price": str(v), "unit": "USD/kg", "basis": "contained_metal" if c in metals else "product",
             "date": DATE.isoformat(), "source": ref["source"]}
            for c, v in ref["prices_usd_per_kg"].items() if c not in ("source", "Cu_metal")]
    prices = price_book_from_rows(rows)
    params = apply_overrides({"operations": {
        "smelting": {"streams": {"alloy": {"payable": {"Ni": 1.0, "Co": 1.0, "Cu": 1.0}}}},
        "hydrometallurgy": {"streams": {"copper_cement": {"payable": {"Cu": 1.0}}}}}})
    print("| chemistry | route | revenue ours | revenue EverBatt | diff | cost ours (no feed) | cost EverBatt (no feed) "
          "| diff | of which capital | energy MJ/kg | GHG kg CO2e/kg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for chem in ("NMC622", "NMC811", "LFP"):
        for route in ("pyro", "hydro", "direct"):
            r = evaluate(chem, "black_mass", 1.0, route, prices=prices, as_of=DATE, params=params)
            rev = ref["revenue"].get(chem, {}).get("total", {}).get(route)
            cost = ref["cost"].get(chem, {}).get("non_feed", {}).get(route)
            f = (lambda a, b: f"{a / b - 1:+.0%}" if b else "-")  # noqa: E731
            print(f"| {chem} | {route} | {r.revenue_usd:.2f} | {rev if rev is not None else '-'} | "
                  f"{f(r.revenue_usd, rev) if rev else '-'} | {r.cost_usd:.2f} | {cost if cost is not None else '-'} | "
                  f"{f(r.cost_usd, cost) if cost else '-'} | {r.capital_cost_usd:.2f} | {r.energy_mj:.1f} | "
                  f"{r.ghg_kg_co2e:.2f} |")


if __name__ == "__main__":
    main()
