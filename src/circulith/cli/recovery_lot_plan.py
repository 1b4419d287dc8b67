"""``circulith recovery lot plan``: an input lot drafted from a consignment, a grade file or identifiers.

Registered on the ``recovery lot`` group by :mod:`circulith.cli.recovery_commands`. The acting organisation
(global ``--as``) is the plant's; the file written by ``--out`` is what ``recovery lot record`` reads.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from circulith.cli.common import call_service, console, emit_json, state
from circulith.errors import InvalidInput, Problem


def lot_plan(
    lot_id: Annotated[str, typer.Option("--lot-id", help="ID of the new input lot.")],
    consignment: Annotated[str | None, typer.Option("--consignment", help="Every battery received with this "
                                                    "consignment (intake receive --consignment).")] = None,
    from_grades: Annotated[Path | None, typer.Option("--from-grades", help="A 'triage grade --json' output (or its "
                                                     "CSV): the units graded recycle or quarantine.")] = None,
    battery: Annotated[list[str] | None, typer.Option("--battery", help="A battery identifier (repeatable).")] = None,
    all_grades: Annotated[bool, typer.Option("--all-grades", help="With --from-grades: every unit, whatever its "
                                             "grade.")] = False,
    plant: Annotated[str | None, typer.Option("--plant", help="Plant ID (ORG or ORG:site; default: the acting "
                                              "organisation).")] = None,
    on: Annotated[str | None, typer.Option("--on", help="Lot date (YYYY-MM-DD; default today).")] = None,
    with_plan: Annotated[bool, typer.Option("--with-plan", help="Add the black-mass and product lots the engine "
                                            "expects.")] = False,
    refiner: Annotated[str | None, typer.Option("--refiner", help="With --with-plan: the organisation that refines "
                                                "the black mass (its lots are left to it; the black mass ships).")
                       ] = None,
    route: Annotated[str, typer.Option("--route", help="Route of the plan: hydro, pyro or direct.")] = "hydro",
    out: Annotated[Path | None, typer.Option("--out", help="Write the lots for 'recovery lot record' to this "
                                             "JSON file.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="List every unit left out (default: counts by "
                                          "reason).")] = False,
) -> None:
    """Draft an input lot from what the registry holds: each battery's chemistry, form and mass from its passport."""
    from circulith.services.lot_inputs import draft_input_lot

    try:
        day = dt.date.fromisoformat(on) if on else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise InvalidInput(Problem(None, "--on", f"'{on}' is not an ISO date (YYYY-MM-DD)")) from None
    org = state.acting_org_id()
    if plant is None and not org:
        raise InvalidInput(Problem(None, "--plant", "give --plant, or act as the plant's organisation (--as ORG)"))
    draft = call_service(draft_input_lot, lot_id=lot_id, plant_id=plant or str(org), received_on=day,
                         battery_ids=battery or [], consignment_id=consignment, grade_file=from_grades,
                         all_grades=all_grades, with_plan=with_plan, route=route, refiner=refiner)
    if out is not None:
        out.write_text(json.dumps(draft.record_payloads(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if json_:
        emit_json(draft)
        return
    lot = draft.input_lot
    t = Table("battery", "chemistry", "form", "kg")
    for it in lot.items:
        t.add_row(it.battery_id, it.chemistry, it.form, f"{it.mass_kg:.1f}")
    console.print(t)
    console.print(f"input lot {lot.lot_id} at {lot.plant_id} on {lot.received_on}: {len(lot.items)} batteries, "
                  f"{lot.mass_kg:,.1f} kg, from {draft.source}"
                  + (f"; {len(draft.planned)} planned lots ({route})" if draft.planned else ""))
    if draft.at_refiner:
        console.print(f"  {len(draft.at_refiner)} refining lots expected at {refiner}: ship "
                      f"{lot.lot_id}-BM there ('circulith recovery lot ship {lot.lot_id}-BM --to {refiner}')")
    for line in draft.notes:
        console.print(f"  mass: {line}")
    groups: dict[str, list[str]] = {}
    for u in draft.left_out:
        groups.setdefault(u.reason, []).append(u.battery_id)
    for reason, ids in groups.items():
        console.print(f"  left out: {len(ids)} {reason}" + (f": {', '.join(ids)}" if verbose else ""))
    if out is not None:
        console.print(f"written to {out}: record it with 'circulith recovery lot record {out}'")
