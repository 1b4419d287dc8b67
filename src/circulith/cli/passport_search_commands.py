"""``circulith passport search``: find passports by their attributes, as ``GET /api/v1/passports`` does."""

from __future__ import annotations

from typing import Annotated

import typer

from circulith.cli.common import call_service, console, emit_json, shown
from circulith.errors import InvalidInput, Problem

LEVELS = ("pack", "module", "cell")
CATEGORIES = ("EV", "LMT", "industrial", "stationary")

def _one_of(option: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInput(Problem(None, option, f"'{value}' is not one of {', '.join(allowed)}"))
    return value


def search(
    level: Annotated[str | None, typer.Option(help="pack, module or cell.")] = None,
    chemistry: Annotated[str | None, typer.Option(help="Chemistry code (e.g. LFP, NMC622).")] = None,
    category: Annotated[str | None, typer.Option(help="EV, LMT, industrial or stationary.")] = None,
    manufacturer_id: Annotated[str | None, typer.Option("--manufacturer", help="Manufacturer organisation.")] = None,
    model: Annotated[str | None, typer.Option(help="Battery model.")] = None,
    production_year: Annotated[int | None, typer.Option("--year", min=1990, max=2100,
                                                        help="Year of manufacture.")] = None,
    lifecycle_state: Annotated[str | None, typer.Option("--state", help="Lifecycle state (restricted: matches only "
                                                        "batteries you have legitimate interest in).")] = None,
    status: Annotated[str | None, typer.Option(help="Passport status: original, repurposed, ... (restricted).")]
    = None,
    region: Annotated[str | None, typer.Option(help="Region of custody, e.g. DE (restricted).")] = None,
    custodian_org_id: Annotated[str | None, typer.Option("--custodian", help="Custodian organisation "
                                                         "(restricted).")] = None,
    soh_min: Annotated[float | None, typer.Option(min=0.0, max=100.0, help="Lowest state of health [%] "
                                                  "(restricted).")] = None,
    soh_max: Annotated[float | None, typer.Option(min=0.0, max=100.0, help="Highest state of health [%] "
                                                  "(restricted).")] = None,
    cursor: Annotated[str | None, typer.Option(help="Next page: the cursor a previous page printed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Passports per page.")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="Write JSON to standard output (as the API).")] = False,
) -> None:
    """Search passports, ordered by battery ID, as the organisation of circulith --as sees them; reads are logged.

    Filters on restricted columns match only batteries the acting organisation has legitimate interest in.
    """
    from circulith.services.passports import search as search_passports

    filters = {"level": _one_of("--level", level, LEVELS), "chemistry": chemistry,
               "category": _one_of("--category", category, CATEGORIES), "manufacturer_id": manufacturer_id,
               "model": model, "production_year": production_year, "lifecycle_state": lifecycle_state,
               "status": status, "region": region, "custodian_org_id": custodian_org_id, "soh_min": soh_min,
               "soh_max": soh_max}
    page = call_service(search_passports, filters, cursor=cursor, limit=limit)
    if json_out:
        emit_json(page)
        return
    for p in page.items:  # one line each: a battery ID alone is wider than a table column on a terminal
        seen = "".join(f", {k} {v}" for k, v in (("SOH", None if p.soh_pct is None else f"{p.soh_pct:.1f} %"),
                                                 ("state", p.lifecycle_state), ("held by", p.custodian_org_id))
                       if v is not None)
        console.print(shown(f"{p.battery_id}  {p.level} {p.chemistry}, {p.model} ({p.manufacturer_id}, made "
                            f"{p.manufacturing_date[:10]}, {p.mass_kg:g} kg{seen})" + (" ceased" if p.ceased else "")),
                      highlight=False, soft_wrap=True)
    console.print(f"{len(page.items)} passports" + (f"; next page: --cursor {page.next_cursor}" if page.next_cursor
                                                    else ""), highlight=False, soft_wrap=True)
