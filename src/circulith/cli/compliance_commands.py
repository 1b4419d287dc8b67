"""``circulith compliance``: plant-year reports, China traceability deadlines and recycled-content shares from the registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.table import Table

from circulith.cli.common import call_service, console, emit_json
from circulith.errors import InvalidInput, Problem
from circulith.io.text_files import read_text_file
from circulith.recovery.lots import NewBattery

app = typer.Typer(help="Compliance from the registry: EU Annex XII report per plant and year, China traceability "
                  "deadlines, recycled-content shares.", no_args_is_help=True)

M = TypeVar("M", bound=BaseModel)
JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]


@app.command()
def report(
    plant: Annotated[str, typer.Option("--plant", help="Plant identifier (as in its lots' plant_id).")],
    year: Annotated[int, typer.Option("--year", help="Reporting year.")],
    exclude_element: Annotated[list[str] | None, typer.Option(
        help="Element left out of input and output (e.g. C, P), per Delegated Regulation (EU) 2025/606.")] = None,
    no_graphite: Annotated[bool, typer.Option("--no-graphite", help="Do not count recovered graphite.")] = False,
    no_dismantled: Annotated[bool, typer.Option("--no-dismantled-components",
                                                help="Leave dismantled components out of the input.")] = False,
    hardware_kg: Annotated[float, typer.Option("--hardware-kg", help="Mass of dismantled components in the input [kg] "
                                               "(with --no-dismantled-components).")] = 0.0,
    evidence_csv: Annotated[Path | None, typer.Option("--evidence-csv", help="Also write the evidence lots to this "
                                                      "CSV file.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Recycling efficiency, material recovery per element against the EU 2025-2031 targets, MIIT, footprint.

    Acts as circulith --as ORG: the plant's own organisation, or an authority or the Commission (every plant).
    """
    from circulith.recovery.compliance import CountingRules
    from circulith.services.compliance import compliance
    from circulith.services.compliance import evidence_csv as to_csv

    rules = CountingRules(include_dismantled_components=not no_dismantled, count_graphite=not no_graphite,
                          excluded_elements=frozenset(exclude_element or []))
    rep = call_service(compliance, plant, year, rules=rules, hardware_kg=hardware_kg)
    if evidence_csv is not None:
        evidence_csv.write_text(to_csv(rep), encoding="utf-8")
    if json_:
        emit_json(rep)
        return
    console.print(f"[bold]Plant {plant}, {year}[/]: {rep.input_lots} input lots, {rep.product_lots} product lots, "
                  f"{rep.input_mass_kg:,.0f} kg in ({rep.counted_input_mass_kg:,.0f} kg counted)")
    console.print("counting rules: " + ", ".join(f"{k}={v}" for k, v in rep.counting_rules.items()))
    if rep.recycling_efficiency_pct is not None:
        console.print(f"recycling efficiency {rep.recycling_efficiency_pct:.1f}% ({rep.recycled_output_kg:,.0f} kg "
                      "recycled output)")
    console.print("material recovery: " + ", ".join(f"{k} {v:.1f}%" for k, v in rep.material_recovery_pct.items()))
    t = Table("regime", "metric", "material", "value %", "target %", "result", "source")
    for c in rep.checks:
        t.add_row(c.regime, c.metric, c.material, "-" if c.value_pct is None else f"{c.value_pct:.1f}",
                  f"{c.threshold_pct:.0f}", "n/a" if c.passed is None else ("pass" if c.passed else "FAIL"), c.source)
    console.print(t)
    for u in rep.upcoming:
        console.print(f"upcoming: {u['regime']} {u['metric']} {u['material']} {u['threshold_pct']:.0f}% from "
                      f"{u['applies_from']}")
    if rep.carbon_footprint_kg_co2e_per_kwh is not None:
        console.print(f"carbon footprint of recycling {rep.carbon_footprint_kg_co2e_per_kwh:.2f} kg CO2e/kWh; energy "
                      f"{rep.energy_mj:,.0f} MJ; water {rep.water_m3:.1f} m3")
    for n in rep.notes:
        console.print(f"note: {n}")
    console.print(f"method: {rep.method}")
    console.print(f"evidence: {len(rep.evidence)} lots, {rep.battery_count} batteries"
                  + (f" (written to {evidence_csv})" if evidence_csv else " (--evidence-csv FILE to download)"))


@app.command()
def traceability(
    year: Annotated[int, typer.Option("--year", help="Events that occurred in this year.")],
    org: Annotated[str | None, typer.Option("--org", help="Only this operator's events.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only batteries in this region (e.g. CN).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date for days left (YYYY-MM-DD; default today).")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0, help="First row of the page.")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Rows per page.")] = 1000,
    json_: JsonOpt = False,
) -> None:
    """China-bound report: the year's traceability events with their upload deadlines (MIIT 2018 provisions).

    The registry operator (the default) and authorities read every operator's events, others their own.
    """
    from circulith.services.traceability import traceability_report

    day = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise InvalidInput(f"--as-of '{as_of}' is not an ISO date (YYYY-MM-DD)") from None
    d = call_service(traceability_report, year, org_id=org, region=region, as_of=day, offset=offset, limit=limit)
    if json_:
        emit_json(d)
        return
    console.print(f"[bold]Traceability events {year}[/] (rows {d.offset + 1}-{d.offset + d.returned} of {d.total}"
                  f"{', more follow: --offset ' + str(d.offset + d.limit) if d.truncated else ''}); "
                  f"rule: {d.deadline_rule}")
    console.print(f"source: {d.source}")
    t = Table("operator", "events", "reported late", "overdue")
    for o, v in sorted(d.by_operator.items()):
        t.add_row(o, str(v.events), str(v.late), str(v.past_deadline))
    console.print(t)
    t = Table("occurred", "event ID", "battery", "event", "operator", "article", "deadline", "days left", "status")
    for r in d.events:
        t.add_row(r.occurred_at[:10], r.event_id, r.battery_id, r.kind, r.actor_org_id, r.article,
                  r.deadline.isoformat(), str(r.days_left), r.status)
    console.print(t)
    if d.truncated:
        console.print(f"[yellow]truncated[/]: {d.returned} rows shown; the next page starts at --offset "
                      f"{d.offset + d.limit}")
    console.print(d.note)


@app.command("traceability-submit")
def traceability_submit(
    on: Annotated[str, typer.Option("--on", help="Date of the upload to the national platform (YYYY-MM-DD).")],
    events: Annotated[list[str], typer.Option("--events", help="Event IDs reported (repeat or comma-separate), or "
                                              "@FILE with one per line.")],
    reference: Annotated[str | None, typer.Option("--reference", help="The platform's receipt number.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Record an upload to the national traceability platform, so that 'late' is a recorded fact.

    Acts as circulith --as ORG, the reporting operator (its own events only).
    """
    from circulith.services.traceability import SubmissionIn, submit_traceability

    ids: list[str] = []
    for v in _split(events):
        if v.startswith("@"):
            text = read_text_file(v[1:], "a text list of event IDs")
            ids.extend(line.strip() for line in text.splitlines() if line.strip())
        else:
            ids.append(v)
    try:
        day = dt.date.fromisoformat(on)
    except ValueError:
        raise InvalidInput(f"--on '{on}' is not an ISO date (YYYY-MM-DD)") from None
    if not ids:
        raise InvalidInput("no event IDs given (--events)")
    out = call_service(submit_traceability, _validated(SubmissionIn, {
        "event_ids": ids, "submitted_on": day, "platform_reference": reference}))
    if json_:
        emit_json(out)
        return
    console.print(f"submission {out.submission_id}: {out.events} events reported on {out.submitted_on} "
                  f"({out.late} late), {out.already_reported} reported before")


@app.command("late")
def late(
    year: Annotated[int, typer.Option("--year", help="Events that occurred in this year.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date for overdue (YYYY-MM-DD; default today).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only batteries in this region (e.g. CN).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Every operator's traceability record for a year: due, reported on time or late, overdue (as an authority
    or the registry operator)."""
    from circulith.services.traceability import late_report

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise InvalidInput(f"--as-of '{as_of}' is not an ISO date (YYYY-MM-DD)") from None
    rep = call_service(late_report, year, as_of=day, region=region)
    if json_:
        emit_json(rep)
        return
    t = Table("operator", "due", "on time", "late", "overdue")
    for r in rep.operators:
        t.add_row(r.org_id, str(r.events_due), str(r.submitted_on_time), str(r.submitted_late), str(r.overdue))
    console.print(f"[bold]Traceability record {year}[/] as of {rep.as_of}")
    console.print(t)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for x in values or [] for v in x.split(",") if v.strip()]


def _primary(values: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for v in _split(values):
        el, _, kg = v.partition("=")
        try:
            out[el.strip().capitalize()] = float(kg)
        except ValueError:
            raise InvalidInput(Problem(None, "--primary", f"'{v}' is not ELEMENT=KG (e.g. Co=1200)")) from None
    return out


def _new_batteries(path: Path | None) -> list[NewBattery]:
    if path is None:
        return []
    from pydantic import ValidationError

    try:
        data = json.loads(read_text_file(path, "JSON text"))
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON: {e}", source=str(path)) from None
    out: list[NewBattery] = []
    problems: list[Problem] = []
    for n, rec in enumerate(data if isinstance(data, list) else [data], start=1):
        try:
            out.append(NewBattery.model_validate(rec))
        except ValidationError as e:
            problems.extend(Problem(n, ".".join(map(str, err["loc"])), err["msg"]) for err in e.errors())
    if problems:
        raise InvalidInput(problems, source=str(path))
    return out


@app.command("recycled-content")
def recycled_content(
    lots: Annotated[list[str], typer.Option("--lots", help="Product lot IDs (repeat or comma-separate).")],
    batteries: Annotated[list[str] | None, typer.Option("--batteries", help="New batteries by identifier "
                                                        "(registered; Co/Li/Ni from their passports).")] = None,
    new_batteries: Annotated[Path | None, typer.Option("--new-batteries", help="JSON of batteries not yet registered: "
                                                       "battery_id, co_kg, li_kg, ni_kg.")] = None,
    primary: Annotated[list[str] | None, typer.Option("--primary", help="Primary supply in the period, ELEMENT=KG "
                                                      "(e.g. Co=1200,Li=300,Ni=5000).")] = None,
    year: Annotated[int | None, typer.Option("--year", help="Check against the Art. 8 minimums in force.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Recycled-content shares of new batteries by mass balance from product lots (for their new passports)."""
    from circulith.services.recycled_content import recycled_content_for

    res = call_service(recycled_content_for, _split(lots), _split(batteries),
                       new_batteries=_new_batteries(new_batteries), primary_kg=_primary(primary), year=year)
    if json_:
        emit_json(res)
        return
    d = res.model_dump(mode="json")
    console.print(f"recycled supply [kg]: {d['recycled_kg']}; primary [kg]: {d['primary_kg']}")
    t = Table("battery", "Co share", "Li share", "Ni share", "Co kg", "Li kg", "Ni kg")
    for s in d["shares"]:
        t.add_row(s["battery_id"], f"{s['co_share']:.1%}", f"{s['li_share']:.1%}", f"{s['ni_share']:.1%}",
                  f"{s['co_kg']:.2f}", f"{s['li_kg']:.2f}", f"{s['ni_kg']:.2f}")
    console.print(t)
    for c in d.get("checks", []):
        console.print(f"Art. 8 {c['material']}: {c['value_pct']:.1f}% vs {c['threshold_pct']:.0f}% "
                      f"{'pass' if c['passed'] else 'FAIL'}")
    console.print(d["note"])


def _validated(model: type[M], data: dict[str, object]) -> M:
    """``model`` built from ``data``; a validation error becomes one clear line per field (exit 2)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidInput([Problem(None, ".".join(map(str, err["loc"])), err["msg"]) for err in e.errors()]) from None


def _element_kg(values: list[str] | None, option: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for v in _split(values):
        el, _, kg = v.partition("=")
        try:
            out[el.strip().capitalize()] = float(kg)
        except ValueError:
            raise InvalidInput(Problem(None, option, f"'{v}' is not ELEMENT=KG (e.g. Co=1.2)")) from None
    return out


@app.command("allocate")
def allocate(
    lot: Annotated[str, typer.Option("--lot", help="Product lot you (--as, the lot's holder) hold.")],
    element: Annotated[list[str], typer.Option("--element", help="Recycled kilograms to allocate, ELEMENT=KG "
                                               "(Co, Li, Ni, Pb; repeat or comma-separate).")],
    passport: Annotated[str | None, typer.Option("--passport", help="Target battery (any identifier).")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Target batch ID (with --batch-content).")] = None,
    batch_content: Annotated[list[str] | None, typer.Option("--batch-content", help="The batch's total content, "
                                                            "ELEMENT=KG.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Record an allocation of a lot's recycled kilograms to a passport or batch (mass balance, reserved once)."""
    from circulith.services.recycled_content import AllocationIn, allocate_to_target

    if (passport is None) == (batch is None):
        raise InvalidInput("give exactly one of --passport and --batch")
    body = _validated(AllocationIn, {
        "product_lot_id": lot, "target_kind": "passport" if passport else "batch", "target_id": passport or batch,
        "element_kg": _element_kg(element, "--element"),
        "target_element_kg": _element_kg(batch_content, "--batch-content")})
    out = call_service(allocate_to_target, body)
    if json_:
        emit_json(out)
        return
    for ln in out.lines:
        console.print(f"allocated {ln.kg:.3f} kg {ln.element} of {ln.product_lot_id} to {ln.target_kind} "
                      f"{ln.target_id} ({ln.origin}, {ln.custody_model})")
    console.print("left in the lot [kg]: " + ", ".join(f"{k} {v:.3f}" for k, v in out.remaining_kg.items()))


@app.command("recycled-content-of")
def recycled_content_of(target: Annotated[str, typer.Argument(help="Battery identifier or batch ID.")],
                        json_: JsonOpt = False) -> None:
    """A passport's or batch's recycled-content shares from its recorded allocations (Art. 8)."""
    from circulith.services.recycled_content import recycled_content_of as shares_of

    out = call_service(shares_of, target)
    if json_:
        emit_json(out)
        return
    console.print(f"[bold]{out.target_id}[/] ({out.target_kind}), chain of custody: {out.custody_model}")
    for el, kg in out.element_kg.items():
        console.print(f"{el}: {out.post_consumer_kg.get(el, 0.0):.3f} kg post-consumer "
                      f"({out.post_consumer_share.get(el, 0.0):.1%}), {out.pre_consumer_kg.get(el, 0.0):.3f} kg "
                      f"pre-consumer of {kg:.3f} kg")
    if out.passport is not None:
        for f, v in out.passport.allocated.items():
            d = out.passport.declared[f]
            console.print(f"passport {f}: allocated {v:.3f}, declared {'n/a' if d is None else format(d, '.3f')}")
