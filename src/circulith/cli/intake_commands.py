"""``circulith receive``: a consignment arrives (scanned codes, or the shipper's list as text, CSV, JSON or Excel)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from circulith.cli.common import console, emit_json, state
from circulith.errors import InvalidInput, Problem

JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]


def _when(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(Problem(None, "received-at", f"'{text}' is not an ISO 8601 time")) from None
    if at.tzinfo is None:
        raise InvalidInput(Problem(None, "received-at", f"'{text}' has no timezone: add Z or +hh:mm (naive "
                                   "timestamps are refused, not assumed to be UTC)"))
    return at


def receive(
    identifiers: Annotated[list[str] | None, typer.Argument(help="Scanned or typed identifiers (any scheme).")] = None,
    org: Annotated[str, typer.Option("--org", help="Receiving organisation: the acting one (global --as); if both "
                                     "are given they must be the same.")] = "",
    site: Annotated[str | None, typer.Option("--site", help="Receiving site.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="Consignment list: scanner text (one code a line), "
                                                   "CSV, JSON or Excel (.xlsx).")] = None,
    shipper: Annotated[str | None, typer.Option("--shipper", help="Organisation that handed the batteries over.")]
    = None,
    received_at: Annotated[str | None, typer.Option("--received-at", help="Time of receipt, ISO 8601 with its "
                                                    "timezone (Z or +hh:mm; default now).")]
    = None,
    expected: Annotated[int | None, typer.Option("--expected", min=1, help="Batteries announced on the delivery note; "
                                                 "a longer or shorter list is refused.")] = None,
    consignment: Annotated[str | None, typer.Option("--consignment", help="Delivery-note number (default: derived).")]
    = None,
    json_out: JsonOpt = False,
) -> None:
    """Record receipt of a consignment (custody of packs, modules and cells moves to you); quarantine what must be.

    The consignee is the acting organisation (``circulith --as ORG receive ...``); ``--org`` names the same
    organisation (it is refused when it differs from ``--as``). Every battery must be handed over by its holder
    (``--shipper``, default each battery's holder).
    """
    from circulith.services.intake import principal_for_org
    from circulith.services.intake import receive as receive_consignment
    from circulith.store.database import create_db_engine
    from circulith.triage.consignment import read_consignment

    lines: list[tuple[int, str]] = list(enumerate(identifiers or [], start=1))
    if from_file:
        lines += read_consignment(from_file)
    acting = state.acting_org_id()
    if acting and org and org != acting:
        raise InvalidInput(Problem(None, "org", f"--org {org} is not the acting organisation {acting} (--as): the "
                                   "consignee is who acts; drop --org or act as it"))
    consignee = acting or org
    if not lines or not consignee:
        raise InvalidInput("give identifiers (or --from FILE) and the receiving organisation (--as ORG)")
    engine = create_db_engine(state.database_url())
    report = receive_consignment(engine, principal_for_org(engine, consignee), lines, site_id=site,
                                 received_at=_when(received_at), shipper_org_id=shipper, expected_count=expected,
                                 consignment_id=consignment)
    if json_out:
        emit_json(report.as_dict())
        return
    console.print(f"consignment {report.consignment_id}: received {len(report.received)} batteries "
                  f"(+{report.components_received} modules and cells; {len(report.already_held)} already held by "
                  f"{report.receiver_org_id}); {len(report.quarantined)} quarantined", highlight=False)
    for bid, reasons in report.flags.items():
        console.print(f"[yellow]![/] {bid}: {'; '.join(reasons)}", highlight=False)
    for bid, how in report.handling.items():
        console.print(f"  {bid}: carry as {how}", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach ``receive`` to the root app (replacing the older command of the same name)."""
    app.command("receive")(receive)
