"""``circulith org``: register and list the organisations of a registry."""

from __future__ import annotations

from typing import Annotated

import typer

from circulith.cli.common import call_service, console, emit_json
from circulith.services.organisations import list_organisations, register_organisation

app = typer.Typer(help="Organisations of the registry (the parties one can act as with --as).",
                  no_args_is_help=True)


@app.command("add")
def add(org_id: Annotated[str, typer.Argument(help="Organisation ID (e.g. OEM-NORDVIK).")],
        name: Annotated[str, typer.Option("--name", help="Registered name.")],
        role: Annotated[str, typer.Option("--role", help="oem, battery_maker, dismantler, reuse_integrator, "
                                                          "recycler, refiner, notified_body, market_surveillance, "
                                                          "commission or operator.")],
        country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-2 code.")] = None,
        json_: Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")] = False) -> None:
    """Register an organisation (the registry operator only; idempotent)."""
    out = call_service(register_organisation, org_id=org_id, name=name, role=role, country=country)
    if json_:
        emit_json(out)
        return
    o = out.organisation
    console.print(f"{'registered' if out.created else 'already registered'}: {o.org_id} ({o.role}, "
                  f"{o.country or 'no country'}) {o.name}", markup=False, highlight=False)


@app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")] = False) -> None:
    """List the registered organisations."""
    orgs = call_service(list_organisations)
    if json_:
        emit_json(orgs)
        return
    for o in orgs:
        console.print(f"{o.org_id}\t{o.role}\t{o.country or ''}\t{o.name}", markup=False, highlight=False)
