"""Registry commands: database, import, passport, ledger, demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from circulith.cli.common import acting_principal, call_service, console, emit_json, shown, state

if TYPE_CHECKING:
    from rich.progress import TaskID
    from sqlalchemy import Engine

    from circulith.services.demo_users import DemoUser

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk import of passports and events (CSV, JSON, JSON Lines).", no_args_is_help=True)
passport_app = typer.Typer(help="Read passports, their history and Battery Pass exports.", no_args_is_help=True)
fleet_app = typer.Typer(help="Fleet aggregates within what the acting organisation may see.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Write the result as JSON.")]


def _engine() -> Engine:
    from circulith.store.database import create_db_engine

    return create_db_engine(state.database_url())


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


@db_app.command("upgrade")
def db_upgrade(json_out: JsonOpt = False) -> None:
    """Create or migrate the schema to the latest revision."""
    from circulith.store.database import upgrade

    revision = upgrade(_engine())
    if json_out:
        emit_json({"database": state.database_url(), "revision": revision})
    else:
        console.print(f"schema at revision {revision} ({shown(state.database_url())})")


def _import(kind: str, file: Path, fmt: str | None, skip_invalid: bool, rejects: Path | None, json_out: bool,
            migration: bool = False) -> None:

    from circulith.services import registry as svc
    from circulith.services.event_import import import_events
    from circulith.services.import_report import ImportReport
    from circulith.store.database import with_write_retries

    total = _count_records(file, fmt) if console.is_terminal else 0
    migrated: list[int] = []
    with _progress() as bar:
        task = bar.add_task(f"importing {kind}", total=total or None)
        engine, progress = _engine(), (lambda n: bar.advance(task, n))

        def unit() -> ImportReport:
            # One unit of work, run again from the start when another writer held the registry (a
            # concurrent import): the import waits and retries, then says the registry is busy (exit 2).
            bar.reset(task)
            migrated.clear()
            if kind == "passports":
                return svc.import_passports(engine, acting_principal(), file, fmt=fmt, skip_invalid=skip_invalid,
                                            rejects_path=rejects, progress=progress)
            return import_events(engine, file, as_org=state.acting_org_id(), fmt=fmt,
                                 skip_invalid=skip_invalid, rejects_path=rejects, progress=progress,
                                 migration=migration, on_migrated=migrated.append)

        report = with_write_retries(unit)
    if report.written:
        from circulith.services.ledger_trust import checkpoint_after_import

        # a signed tree head, when the operator's key is at hand
        head = with_write_retries(lambda: checkpoint_after_import(engine))
        if head is not None and not json_out:
            console.print(f"checkpoint issued: tree size {head.tree_size}")
    if json_out:
        emit_json(report.as_dict())
        return
    console.print(f"{shown(report.source)}: {report.records} records, {report.written} written, "
                  f"{report.unchanged} already recorded, {report.rejected} rejected")
    if report.rejects_path:
        console.print(f"rejects written to {shown(report.rejects_path)}")
    if migrated:
        console.print(f"migration import: {migrated[0]} rows recorded without the custody and role checks "
                      "(state machine and registered actors checked)")


def _count_records(file: Path, fmt: str | None) -> int:
    """Records in a file for the progress bar: lines for CSV / JSON Lines (cheap), a parse for JSON."""
    from circulith.io.records import detect_format, iter_records

    if not file.is_file():
        return 0
    kind = fmt or detect_format(file)
    if kind == "json":
        return sum(1 for _ in iter_records(file, kind))
    with file.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(0, lines - (1 if kind == "csv" else 0))


FormatOpt = Annotated[str | None, typer.Option("--format", help="csv, json or jsonl (default: from the suffix).")]
SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Import the valid records; write the rejects to a file.")]
RejectsOpt = Annotated[Path | None, typer.Option("--rejects", help="Where to write rejects (default: FILE.rejects.jsonl).")]
MigrationOpt = Annotated[bool, typer.Option(
    "--migration", help="Registry operator only: a bulk import of histories recorded in another system; the "
                        "custody and role checks are lifted (actors must still be registered organisations).")]


@import_app.command("passports")
def import_passports(
    file: Path,
    fmt: Annotated[str | None, typer.Option("--format", help="auto (default), circulith (csv, json, jsonl), "
                                            "batterypass, catenax or aas.")] = None,
    skip_invalid: SkipOpt = False, rejects: RejectsOpt = None, json_out: JsonOpt = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Foreign documents: skip the schema check.")] = False,
) -> None:
    """Register passports from FILE (circulith records or foreign passport documents); all or nothing."""
    from circulith.cli import format_commands

    foreign = format_commands.foreign_format_of(file, fmt)
    if foreign is not None:
        format_commands.refuse_record_options(skip_invalid=skip_invalid, rejects=rejects)
        format_commands.import_documents(file, foreign, validate=not no_validate, json_out=json_out)
        return
    _import("passports", file, None if fmt in (None, "auto", "circulith") else fmt, skip_invalid, rejects, json_out)


@import_app.command("events")
def import_events(file: Path, fmt: FormatOpt = None, skip_invalid: SkipOpt = False, rejects: RejectsOpt = None,
                  json_out: JsonOpt = False, migration: MigrationOpt = False) -> None:
    """Append lifecycle events from FILE; nothing is written if any event is invalid (unless --skip-invalid).

    Each row's actor must be a registered organisation entitled to record it (custody and role, as
    through the API); timestamps need a timezone. circulith --as ORG (or CIRCULITH_AS) records every
    event as that registered organisation. --migration: see its help.
    """
    _import("events", file, fmt, skip_invalid, rejects, json_out, migration)


LEVELS = ("public", "legitimate", "commission", "authority")


@passport_app.command("show")
def passport_show(
    identifier: str,
    level: Annotated[str | None, typer.Option(
        "--level", help="public, legitimate, commission or authority (default: what you may see); never more "
                        "than the organisation you act as (--as) may see.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the passport behind IDENTIFIER as the acting organisation may see it (Annex XIII); reads are logged."""
    from circulith.errors import InvalidInput, Problem
    from circulith.passport.access import Audience
    from circulith.services.passports import read_passport

    if level is not None and level not in LEVELS:
        raise InvalidInput(Problem(None, "--level", f"'{level}' is not one of {', '.join(LEVELS)}"))
    out = call_service(read_passport, identifier, level=Audience(level) if level else None)
    if json_out:
        emit_json(out)
        return
    table = Table(title=f"passport {shown(out.battery_id)} ({out.audience} view, ground: {out.ground})", show_lines=False)
    table.add_column("attribute")
    table.add_column("value", overflow="fold")
    for key, value in _flatten(out.passport):
        table.add_row(shown(key), shown(value))
    console.print(table)
    if out.withheld:
        console.print(f"withheld from this view: {shown(', '.join(out.withheld))}")
    rc = out.recycled_content_allocated
    if rc is not None:
        console.print(f"recycled content allocated ({rc.custody_model}): " + ", ".join(
            f"{f} {v:.3f} (declared {'n/a' if rc.declared[f] is None else format(rc.declared[f], '.3f')})"
            for f, v in rc.allocated.items()) + f"; {len(rc.evidence)} allocation(s) as evidence")


@passport_app.command("lineage")
def passport_lineage(identifier: str, json_out: JsonOpt = False) -> None:
    """Pack, modules and cells of IDENTIFIER; predecessor and successors where you have legitimate interest."""
    from circulith.services.passports import lineage

    out = call_service(lineage, identifier)
    if json_out:
        emit_json(out)
        return
    console.print(f"{out.level} {shown(out.battery_id)} (passport {shown(out.passport_id)}){' [ceased]' if out.ceased else ''}")
    if out.parent:
        console.print(f"  part of {out.parent.level} {shown(out.parent.battery_id)}")
    for c in out.children:
        console.print(f"  contains {c.level} {shown(c.battery_id)}")
    if out.predecessor:
        console.print(f"  successor of {shown(out.predecessor.battery_id)} (passport {shown(out.predecessor.passport_id)})")
    for s in out.successors:
        console.print(f"  succeeded by {shown(s.battery_id)} (passport {shown(s.passport_id)})")
    if out.withheld:
        console.print(f"  withheld: {shown(', '.join(out.withheld))}")


def _flatten(obj: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(obj, dict):
        out: list[tuple[str, object]] = []
        for k, v in obj.items():
            out.extend(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return [(prefix, obj)]


@passport_app.command("history")
def passport_history(identifier: str, json_out: JsonOpt = False) -> None:
    """The ledger history of the battery behind IDENTIFIER, payloads as the acting organisation may see them."""
    from circulith.services.passports import history

    out = call_service(history, identifier)
    if json_out:
        emit_json(out)
        return
    table = Table(title=f"ledger history of {shown(out.battery_id)} ({out.audience} view)")
    for col in ("#", "occurred_at", "kind", "actor", "site", "payload", "sha256"):
        table.add_column(col, overflow="fold")  # stored text is wrapped, never cut
    for e in out.events:
        table.add_row(str(e.battery_seq), shown(e.occurred_at), shown(e.kind), shown(e.actor_org_id),
                      shown(e.site_id or ""), shown(_payload_text(e.payload)), e.battery_chain_sha256[:16] + "…")
    console.print(table)


def _payload_text(payload: object) -> str:
    """A payload as one line of JSON for the history table (``{}`` when there is none)."""
    import json

    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str) if payload else ""


@passport_app.command("export")
def passport_export(
    identifier: str,
    fmt: Annotated[str, typer.Option("--format", help="batterypass (Battery Pass v1.2), catenax, aas, or json "
                                     "(circulith's own record).")] = "batterypass",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Export the passport behind IDENTIFIER in a format, validated against the format's schema.

    The whole passport goes to its manufacturer and to authorities only (``--as``); the export is logged.
    """
    import json

    from circulith.services.passports import export_passport

    if fmt != "json":
        from circulith.cli import format_commands

        format_commands.export_document(identifier, fmt, out)
        return
    from circulith.io.terminal import printable_json

    passport = call_service(export_passport, identifier)
    doc = passport.model_dump(mode="json", exclude_none=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"written {shown(out)}")
    else:
        typer.echo(printable_json(text))


@passport_app.command("successor")
def passport_successor(
    identifier: str,
    status: Annotated[str, typer.Option("--status", help="repurposed, reused or remanufactured.")],
    new_id: Annotated[str, typer.Option("--new-id", help="Identifier of the battery as placed on the market again.")],
    operator: Annotated[str | None, typer.Option("--operator", help="Organisation ID of the operator now responsible "
                                                 "(default: the organisation of circulith --as).")] = None,
    operator_name: Annotated[str, typer.Option("--operator-name", help="Its registered name.")] = "",
    category: Annotated[str | None, typer.Option("--category", help="New category (e.g. stationary).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Register the new passport of a repurposed/reused/remanufactured battery, linked to IDENTIFIER (Art. 77(7))."""
    from circulith.services.registry import register_successor

    changes = {"category": category} if category else {}
    from circulith.store.database import with_write_retries

    engine, principal = _engine(), acting_principal()
    responsible = operator or principal.org_id or ""
    new = with_write_retries(lambda: register_successor(
        engine, principal, identifier, status=status, new_battery_id=new_id, operator_org_id=responsible,
        operator_name=operator_name or responsible, changes=changes))
    if json_out:
        emit_json({"battery_id": new.battery_id, "passport_id": new.passport_id,
                   "predecessor_passport_id": new.predecessor_passport_id, "status": new.status})
    else:
        console.print(f"registered {shown(new.battery_id)} (passport {shown(new.passport_id)}), successor of "
                      f"{shown(new.predecessor_passport_id)}, status {shown(new.status)}")


@fleet_app.command("summary")
def fleet_summary(
    level: Annotated[str, typer.Option("--level", help="pack, module or cell.")] = "pack",
    json_out: JsonOpt = False,
) -> None:
    """Fleet aggregates: the whole fleet for authorities, the Commission and the operator; otherwise your own."""
    from circulith.errors import InvalidInput, Problem
    from circulith.services.fleet import fleet

    if level not in ("pack", "module", "cell"):
        raise InvalidInput(Problem(None, "--level", f"'{level}' is not one of pack, module, cell"))
    out = call_service(fleet, level)
    if json_out:
        emit_json(out)
        return
    console.print(f"[bold]{out.batteries}[/] {level}s ({out.scope}): {out.energy_mwh} MWh, {out.mass_t} t, "
                  f"mean SOH {out.mean_soh_pct if out.mean_soh_pct is not None else 'n/a'} %")
    for title, counts in (("chemistry", out.by_chemistry), ("lifecycle state", out.by_lifecycle_state),
                          ("region", out.by_region)):
        console.print(f"  by {title}: " + ", ".join(f"{shown(k)} {v}" for k, v in counts.items()))


def demo(
    batteries: Annotated[int, typer.Option("--batteries", min=1, help="Number of packs to generate.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the synthetic fleet.")] = 2026,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build and summarise, then exit.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")] = 8000,
    json_out: JsonOpt = False,
) -> None:
    """Build the demo registry, run the main job (triage, valuation, summary), then serve the dashboard."""
    from circulith.services.demo import build_demo, main_job
    from circulith.services.registry import verify

    engine = _engine()
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"loading {stage}", total=total)
            bar.update(tasks[stage], completed=done)

        loaded = build_demo(engine, batteries, seed=seed, today=dt.date.today(), step=step)
    job = main_job(engine, recycle=True)
    report = verify(engine)
    result = {"database": state.database_url(), "loaded": loaded, "ledger_ok": report.ok,
              "events_verified": report.events_checked, **job}
    from circulith.services.demo_users import seed_demo_users

    users = seed_demo_users(engine)
    result["logins"] = [u.model_dump(include={"email", "org_id", "role"}) for u in users]
    if json_out:
        emit_json(result)
    else:
        _print_summary(result)
        _print_logins(users)
    if not no_serve:
        from circulith.cli.serve_commands import serve

        serve(host, port)


def _print_logins(users: list[DemoUser]) -> None:
    table = Table(title="demo logins (password for all: see below)")
    for col in ("role", "organisation", "e-mail"):
        table.add_column(col)
    for u in users:
        table.add_row(shown(u.role), shown(u.org_id), shown(u.email))
    console.print(table)
    if users:
        console.print(f"password: [bold]{users[0].password}[/]  (demo only)")
    console.print("dashboard http://127.0.0.1:8000/dashboard · API docs http://127.0.0.1:8000/api/docs · "
                  "public passport pages http://127.0.0.1:8000/p/<identifier>")


def _print_summary(result: dict) -> None:
    fleet = result["fleet"]
    console.print(f"[bold]circulith demo registry[/] {result['database']}")
    console.print(f"loaded: {result['loaded']}")
    console.print(f"ledger verified: {'intact' if result['ledger_ok'] else 'BROKEN'} "
                  f"({result['events_verified']} events)")
    for title, key in (("packs by chemistry", "packs_by_chemistry"), ("packs by lifecycle state", "packs_by_lifecycle_state"),
                       ("packs by region", "packs_by_region")):
        table = Table(title=title)
        table.add_column(key.split("_by_")[1])
        table.add_column("packs", justify="right")
        for k, v in fleet[key].items():
            table.add_row(shown(k), str(v))
        console.print(table)
    console.print(f"batteries by level: {fleet['batteries_by_level']}; pack energy {fleet['pack_energy_mwh']} MWh, "
                  f"pack mass {fleet['pack_mass_t']} t; {fleet['events']} ledger events")
    triage = result["triage"]
    console.print(f"[bold]triage[/] (rules {triage['rules_version']}): graded {triage['graded_packs']} retired packs "
                  f"→ {triage['counts'].get('pack', {})}; modules {triage['counts'].get('module', {})}; "
                  f"{triage['events_written']} ledger events written")
    for key, g in triage["regroup"].items():
        console.print(f"  regrouped {key}: {g['groups']} second-life packs, {g['usable_energy_kwh']} kWh usable, "
                      f"{g['leftovers']} leftover modules")
    val = result["valuation"]
    if val.get("packs"):
        console.print(f"[bold]valuation[/]: {val['packs']} packs for recycling, offers total "
                      f"{val['offer_usd_total']:,.0f} USD; best routes {val['best_routes']}")
        for chem, v in val["by_chemistry"].items():
            console.print(f"  {chem}: {v['packs']} packs, offer {v['offer_usd']:,.0f} USD")


def register(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
    app.add_typer(db_app, name="db")
    app.add_typer(import_app, name="import")
    app.add_typer(passport_app, name="passport")
    app.add_typer(fleet_app, name="fleet")
    app.command("demo")(demo)
