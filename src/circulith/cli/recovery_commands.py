"""`circulith recovery ...`: run a route, compare routes, price batteries or lots, compliance from lot files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table
from sqlalchemy import Engine

from circulith.cli.common import acting_principal, console, emit_json
from circulith.cli.principal import calculation_principal
from circulith.cli.recovery_lot_plan import lot_plan
from circulith.errors import InvalidInput, Problem
from circulith.io.text_files import require_text_file
from circulith.recovery.lots import AnyLot
from circulith.recovery.prices import PriceBook, latest_price_date
from circulith.recovery.readers import read_batteries, read_lot_records, read_plant_overrides, read_price_file
from circulith.recovery.routes import apply_overrides
from circulith.services.lot_custody import LotCustody

app = typer.Typer(help="Recovery: what a lot contains, what each route recovers, what it is worth, and compliance.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]
PricesOpt = Annotated[str | None, typer.Option("--prices", help="A price CSV file, or a DATE (YYYY-MM-DD) for the "
                                               "shipped prices as of that date.")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Price date (YYYY-MM-DD); default: latest price.")]
OverridesOpt = Annotated[Path | None, typer.Option("--plant-params", help="TOML with a plant's own route figures.")]


def _scenario(prices: str | None, date: str | None) -> tuple[PriceBook | None, dt.date | None]:
    """The user's price book (a file) and price date from ``--prices`` and ``--date`` (parsing only)."""
    book: PriceBook | None = None
    as_of: dt.date | None = None
    if prices:
        try:
            as_of = dt.date.fromisoformat(prices)
        except ValueError:
            book = read_price_file(require_text_file(prices, "a CSV price file"))
            as_of = latest_price_date(book)
    if date:
        try:
            as_of = dt.date.fromisoformat(date)
        except ValueError:
            raise InvalidInput(f"--date '{date}' is not an ISO date (YYYY-MM-DD)") from None
    return book, as_of


def _lot_records(path: Path) -> list[AnyLot]:
    return read_lot_records(require_text_file(path, "JSON or JSON Lines text"))


def _params(path: Path | None) -> dict[str, Any] | None:
    return apply_overrides(read_plant_overrides(require_text_file(path, "TOML text"))) if path else None


@app.command()
def run(
    chemistry: Annotated[str, typer.Option(help="Chemistry code, e.g. NMC622, LFP.")],
    route: Annotated[str, typer.Option(help="pyro, hydro, direct or black_mass.")],
    mass_kg: Annotated[float, typer.Option("--mass-kg", help="Input mass [kg].")] = 1000.0,
    form: Annotated[str, typer.Option(help="cell, module, pack or black_mass.")] = "cell",
    prices: PricesOpt = None, date: DateOpt = None, plant_params: OverridesOpt = None, json_: JsonOpt = False,
) -> None:
    """Run one lot through one route: products, recoveries, money, energy, GHG, water, EU check."""
    from circulith.services.recovery_runs import recovery_run

    book, as_of = _scenario(prices, date)
    res = recovery_run(calculation_principal(), chemistry=chemistry, form=form, mass_kg=mass_kg, route=route, price_date=as_of,
                       price_book=book, params=_params(plant_params))
    if json_:
        emit_json(res)
        return
    d = res.model_dump(mode="json")
    as_of = res.price_date
    console.print(f"[bold]{chemistry} {form}, {mass_kg:g} kg, route {route}[/] — prices as of {as_of}")
    t = Table("stream", "kind", "commodity", "kg", "USD")
    for p in d["products"]:
        if p["mass_kg"] > 1e-9:
            t.add_row(p["stream"], p["kind"], p["commodity"] or "", f"{p['mass_kg']:.2f}", f"{p['revenue_usd']:.2f}")
    console.print(t)
    console.print("recovery: " + ", ".join(f"{k} {v:.1%}" for k, v in d["element_recovery"].items()))
    console.print(f"black mass {d['black_mass_kg']:.1f} kg | revenue {d['revenue_usd']:.2f} USD | cost "
                  f"{d['cost_usd']:.2f} USD | net {d['net_usd']:.2f} USD")
    console.print(f"energy {d['energy_mj']:.0f} MJ | GHG {d['ghg_kg_co2e']:.0f} kg CO2e | water {d['water_m3']:.2f} m3")
    for c in d["eu_material_recovery"]:
        mark = "n/a" if c["passed"] is None else ("pass" if c["passed"] else "FAIL")
        v = "-" if c["value_pct"] is None else f"{c['value_pct']:.1f}%"
        console.print(f"EU {c['metric']} {c['material']}: {v} vs {c['threshold_pct']:.0f}% {mark}")


@app.command()
def compare(
    chemistry: Annotated[str, typer.Option(help="Chemistry code.")],
    mass_kg: Annotated[float, typer.Option("--mass-kg", help="Input mass [kg].")] = 1000.0,
    form: Annotated[str, typer.Option(help="cell, module, pack or black_mass.")] = "cell",
    prices: PricesOpt = None, date: DateOpt = None, plant_params: OverridesOpt = None, json_: JsonOpt = False,
) -> None:
    """All routes side by side, with the theoretical metal value and black-mass value by payables."""
    from circulith.services.recovery_runs import recovery_compare

    book, as_of = _scenario(prices, date)
    res = recovery_compare(calculation_principal(), chemistry=chemistry, form=form, mass_kg=mass_kg, price_date=as_of,
                           price_book=book, params=_params(plant_params))
    if json_:
        emit_json(res)
        return
    out = res.model_dump(mode="json")
    runs, theo, as_of = out["routes"], out["theoretical_metal_value_usd_per_t"], res.price_date
    t = Table("route", "revenue USD", "cost USD", "net USD", "energy MJ", "GHG kg", "water m3", "Li", "Ni", "Co")
    for r, d in runs.items():
        rec = d["element_recovery"]
        t.add_row(r, f"{d['revenue_usd']:.0f}", f"{d['cost_usd']:.0f}", f"{d['net_usd']:.0f}", f"{d['energy_mj']:.0f}",
                  f"{d['ghg_kg_co2e']:.0f}", f"{d['water_m3']:.2f}",
                  *(f"{rec[e]:.0%}" if e in rec else "-" for e in ("Li", "Ni", "Co")))
    console.print(f"[bold]{chemistry} {form}, {mass_kg:g} kg[/] — prices as of {as_of}; theoretical metal value "
                  f"{theo['total']:.0f} USD/t")
    console.print(t)


@app.command()
def price(
    file: Annotated[Path, typer.Argument(help="The grade output of 'triage grade' (--json or --out, JSON or CSV), "
                                         "a battery JSON (object or list) or a lot CSV, one row per battery.")],
    prices: PricesOpt = None, date: DateOpt = None, plant_params: OverridesOpt = None,
    logistics_usd_per_kg: Annotated[float, typer.Option(help="Collection and transport [USD/kg].")] = 0.0,
    margin: Annotated[float, typer.Option(help="Recycler margin as a fraction of revenue.")] = 0.0,
    reuse_value_usd_per_kwh: Annotated[float | None, typer.Option(
        help="Second-life value [USD per kWh of remaining capacity] (give its source); enables reuse comparison.")] = None,
    all_units: Annotated[bool, typer.Option("--all-units", help="Grade output: price every graded unit (top level), "
                                            "not only those graded recycle or quarantine.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Price batteries or a lot: best route per battery and the offer, line by line.

    A grade output (triage grade) is priced as triage offer prices it, as the organisation of circulith --as:
    its units graded for recycling (all units with --all-units), chemistry and mass from their passports
    unless the file states them (a figure the passport contradicts is refused by row), damaged-battery
    handling deducted, and a warning when the newest price is stale.
    """
    from circulith.io.grade_output import read_grade_output
    from circulith.services.recovery_runs import price_batteries

    graded = read_grade_output(file)
    if graded is not None:
        _price_graded(graded, prices, date, plant_params, logistics_usd_per_kg, margin, reuse_value_usd_per_kwh,
                      all_units, json_)
        return
    if all_units:
        raise InvalidInput(Problem(None, "--all-units", "applies to a grade output (from 'triage grade'); this file "
                                   "is a list of batteries, all priced"), source=str(file))
    book, as_of = _scenario(prices, date)
    res = price_batteries(calculation_principal(), _batteries(file), price_date=as_of, price_book=book,
                          params=_params(plant_params), logistics_usd_per_kg=logistics_usd_per_kg,
                          margin_fraction=margin, reuse_value_usd_per_kwh=reuse_value_usd_per_kwh)
    if json_:
        emit_json(res)
        return
    totals, as_of = res.totals, res.price_date
    t = Table("battery", "chemistry", "kg", "route", "revenue", "processing", "logistics", "margin", "offer", "destination")
    for r in res.batteries[:50]:
        t.add_row(str(r["battery_id"]), str(r["chemistry"]), f"{r['mass_kg']:.1f}", str(r["best_route"]),
                  f"{r['revenue_usd']:.2f}", f"{r['processing_cost_usd']:.2f}", f"{r['logistics_usd']:.2f}",
                  f"{r['margin_usd']:.2f}", f"{r['offer_usd']:.2f}", str(r["destination"]))
    console.print(f"prices as of {as_of}" + (f" (first 50 of {len(res.batteries)} batteries; --json for all)"
                                            if len(res.batteries) > 50 else ""))
    console.print(t)
    console.print("total: " + ", ".join(f"{k} {v:.2f}" for k, v in totals.items()))


def _batteries(file: Path) -> pd.DataFrame:
    """A list of batteries to price (JSON or CSV); a CSV that does not parse is one line naming the reason."""
    try:
        return read_batteries(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(Problem(None, "", f"not a readable battery list ({reason})"), source=str(file)) from None


def _price_graded(graded: pd.DataFrame, prices: str | None, date: str | None, plant_params: Path | None,
                  logistics_usd_per_kg: float, margin: float, reuse_value_usd_per_kwh: float | None,
                  all_units: bool, json_: bool) -> None:
    """``recovery price`` on a grade output: the recycling offer of ``triage offer``, one service."""
    from circulith.cli.offer_output import print_offer
    from circulith.services.offers import RECYCLING_GRADES, recycling_offer
    from circulith.services.recovery_runs import price_scenario

    if reuse_value_usd_per_kwh is not None:
        raise InvalidInput(Problem(None, "--reuse-value-usd-per-kwh", "not with a grade output: grading has decided "
                                   "reuse; price its recycle units, or --all-units"))
    book, _ = _scenario(prices, None)  # the user's price file, when --prices names one
    day = _scenario(None if book is not None else prices, date)[1]  # --date, or --prices DATE; None: today
    res = recycling_offer(_engine(), acting_principal(), graded, as_of=day,
                          prices=price_scenario(None, price_book=book)[0] if book is not None else None,
                          logistics_usd_per_kg=logistics_usd_per_kg, margin_fraction=margin,
                          grades=None if all_units else RECYCLING_GRADES, params=_params(plant_params))
    if json_:
        emit_json(res)
    else:
        print_offer(res)


@app.command()
def compliance(
    lots: Annotated[Path, typer.Option("--lots", help="Lot records: JSON list or JSON Lines of lot payloads.")],
    plant: Annotated[str, typer.Option(help="Plant identifier.")],
    year: Annotated[int, typer.Option(help="Reporting year.")],
    exclude_element: Annotated[list[str] | None, typer.Option(
        help="Element left out of input and output (e.g. C, P), per Delegated Regulation (EU) 2025/606.")] = None,
    no_graphite: Annotated[bool, typer.Option("--no-graphite", help="Do not count recovered graphite.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Compliance report of a plant and year from a lot-records file (EU Annex XII, MIIT, footprint)."""
    from circulith.recovery.compliance import CountingRules
    from circulith.services.compliance import compliance_of_lot_file

    rules = CountingRules(count_graphite=not no_graphite, excluded_elements=frozenset(exclude_element or []))
    rep = compliance_of_lot_file(calculation_principal(), _lot_records(lots), plant, year, rules=rules)
    if json_:
        emit_json(rep)
        return
    console.print(f"[bold]Plant {plant}, {year}[/]: {rep.input_lots} input lots, {rep.input_mass_kg:.0f} kg in")
    if rep.recycling_efficiency_pct is not None:
        console.print(f"recycling efficiency {rep.recycling_efficiency_pct:.1f}% (counting rules {rep.counting_rules})")
    console.print("material recovery: " + ", ".join(f"{k} {v:.1f}%" for k, v in rep.material_recovery_pct.items()))
    t = Table("regime", "metric", "material", "value %", "target %", "result")
    for c in rep.checks:
        t.add_row(c.regime, c.metric, c.material, "-" if c.value_pct is None else f"{c.value_pct:.1f}",
                  f"{c.threshold_pct:.0f}", "n/a" if c.passed is None else ("pass" if c.passed else "FAIL"))
    console.print(t)
    if rep.carbon_footprint_kg_co2e_per_kwh is not None:
        console.print(f"carbon footprint of recycling {rep.carbon_footprint_kg_co2e_per_kwh:.2f} kg CO2e/kWh")


# ---------------------------------------------------------------- plant lots in the registry

lot_app = typer.Typer(help="Plant lots in the registry: record, show, trace, close.", no_args_is_help=True)
lots_app = typer.Typer(help="All recorded plant lots: verify them against the ledger.", no_args_is_help=True)
app.add_typer(lot_app, name="lot")
app.add_typer(lots_app, name="lots")


def _engine() -> Engine:
    from circulith.cli.common import state
    from circulith.store.database import create_db_engine

    return create_db_engine(state.database_url())


@lot_app.command("record")
def lot_record(
    file: Annotated[Path, typer.Argument(help="Lot payloads: a JSON list or JSON Lines (sources before the lots "
                                         "made from them).")],
    close: Annotated[bool, typer.Option("--close", help="Close (recycled) every battery traced to these product "
                                        "lots.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Record lots in the registry as your organisation (circulith --as ORG, the plants' owner): ledger events on every
    battery they trace to, all or nothing."""
    from circulith.services.recovery import record_lots_as

    lots = _lot_records(file)
    if not lots:
        raise InvalidInput("no lots in the file", source=str(file))
    rep = record_lots_as(_engine(), acting_principal(), lots, close=close)
    if json_:
        emit_json(rep)
        return
    t = Table("lot", "type", "status", "batteries", "events", "sha256")
    for r in rep.lots:
        t.add_row(r.lot_id, r.lot_type, r.status, str(r.batteries), str(r.events_written), r.lot_sha256[:16] + "…")
    console.print(t)
    console.print(f"{rep.created} recorded, {rep.unchanged} unchanged, {rep.events_written} ledger events; "
                  f"{len(rep.closed)} batteries closed as recycled")
    for holder, bids in rep.awaiting_close.items():
        console.print(f"{len(bids)} batteries fully recovered, to be closed by their holder {holder} "
                      "(circulith recovery lot close <its input lot>)")


@lot_app.command("show")
def lot_show(lot_id: Annotated[str, typer.Argument(help="Lot ID.")], json_: JsonOpt = False) -> None:
    """A lot: its document, sources, products made from it, batteries, yields, energy, emissions, mass balance."""
    from circulith.services.lot_reports import lot_report

    rep = lot_report(_engine(), acting_principal(), lot_id)
    if json_:
        emit_json(rep)
        return
    lot = rep.lot
    console.print(f"[bold]{lot_id}[/] {rep.lot_type} lot of plant {lot['plant_id']}, recorded by {rep.actor_org_id} "
                  f"at {rep.recorded_at}; sha256 {rep.document_sha256}")
    console.print(f"sources: {', '.join(rep.sources) or '-'}; made into: {', '.join(rep.made_into) or '-'}; "
                  f"{len(rep.batteries)} batteries via input lots {', '.join(rep.input_lots)}")
    y = rep.yields
    console.print("yield: " + ", ".join(f"{k} {v:.1%}" for k, v in y.element_yield.items()))
    console.print(f"energy {y.energy_mj:.0f} MJ | GHG {y.ghg_kg_co2e:.0f} kg CO2e | water {y.water_m3:.2f} m3")
    if y.reagents_kg:
        console.print("reagents: " + ", ".join(f"{k} {v:.1f} kg" for k, v in y.reagents_kg.items())
                      + f" ({y.reagent_ghg_kg_co2e:.0f} kg CO2e, in the GHG figure)")
    if rep.plan is not None:
        pl = rep.plan
        t = Table(f"against the plan ({pl.route})", "actual", "plan")
        for el, ln in pl.element_yield.items():
            t.add_row(f"yield {el}", f"{ln.actual:.1%}", f"{ln.plan:.1%}")
        for name, ln in (("energy MJ", pl.energy_mj), ("water m3", pl.water_m3), ("GHG kg CO2e", pl.ghg_kg_co2e)):
            t.add_row(name, f"{ln.actual:,.1f}", f"{ln.plan:,.1f}")
        for rg, ln in pl.reagents_kg.items():
            t.add_row(f"reagent {rg} kg", f"{ln.actual:,.1f}", f"{ln.plan:,.1f}")
        console.print(t)
    mb = rep.mass_balance
    t = Table("element", "in kg", "products kg", "residues kg", "losses kg", "unaccounted kg", "ok")
    for el, r in mb.elements.items():
        t.add_row(el, f"{r.in_kg:.2f}", f"{r.products_kg:.2f}", f"{r.residues_kg:.2f}", f"{r.losses_kg:.2f}",
                  f"{r.unaccounted_kg:.2f}", "yes" if r.ok else "NO")
    console.print(t)
    console.print(f"mass balance {'closes' if mb.closes else 'does NOT close'} (per element, all lots made from the "
                  "input lots upstream)")


@lot_app.command("trace")
def lot_trace(lot_id: Annotated[str, typer.Argument(help="Lot ID (typically a product lot).")],
              json_: JsonOpt = False) -> None:
    """The battery identifiers that fed a lot, through its black-mass and shred lots."""
    from circulith.services.lot_reports import trace_report

    rep = trace_report(_engine(), acting_principal(), lot_id)
    if json_:
        emit_json(rep)
        return
    console.print(f"[bold]{lot_id}[/]: {len(rep.battery_ids)} batteries via " +
                  " ← ".join(p.lot_id for p in rep.path))
    t = Table("battery", "passport", "chemistry", "kg", "state")
    for b in rep.batteries:
        t.add_row(b.battery_id, b.passport_id, b.chemistry, f"{b.mass_kg:.1f}", b.lifecycle_state)
    console.print(t)


@lot_app.command("close")
def lot_close(lot_id: Annotated[str, typer.Argument(help="Lot ID.")], json_: JsonOpt = False) -> None:
    """Close a lot of your plant (circulith --as ORG): every battery traced to it that is not yet recycled gets 'recycled'."""
    from circulith.services.recovery import close_lot_as

    closed = close_lot_as(_engine(), acting_principal(), lot_id)
    if json_:
        emit_json({"lot_id": lot_id, "closed": closed})
    else:
        console.print(f"{len(closed)} batteries closed as recycled")


@lot_app.command("ship")
def lot_ship(lot_id: Annotated[str, typer.Argument(help="Lot ID.")],
             to: Annotated[str, typer.Option("--to", help="Receiving organisation.")],
             on: Annotated[str, typer.Option("--on", help="Shipping date (YYYY-MM-DD).")],
             json_: JsonOpt = False) -> None:
    """Record the shipment of a lot you hold (circulith --as ORG) to another organisation (its custody moves on receipt)."""
    from circulith.services.lot_custody import ship_lot

    _custody_out(ship_lot(_engine(), acting_principal(), lot_id, to, _day(on, "--on")), json_)


@lot_app.command("receive")
def lot_receive(lot_id: Annotated[str, typer.Argument(help="Lot ID.")],
                on: Annotated[str, typer.Option("--on", help="Receipt date (YYYY-MM-DD).")],
                json_: JsonOpt = False) -> None:
    """Record the receipt of a lot shipped to your organisation (circulith --as ORG): you hold it from now on."""
    from circulith.services.lot_custody import receive_lot

    _custody_out(receive_lot(_engine(), acting_principal(), lot_id, _day(on, "--on")), json_)


@lot_app.command("custody")
def lot_custody(lot_id: Annotated[str, typer.Argument(help="Lot ID.")], json_: JsonOpt = False) -> None:
    """Who holds a lot, and its shipments and receipts."""
    from circulith.services.lot_custody import lot_custody as custody

    _custody_out(custody(_engine(), acting_principal(), lot_id), json_)


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} '{text}' is not an ISO date (YYYY-MM-DD)") from None


def _custody_out(c: LotCustody, json_: bool) -> None:
    if json_:
        emit_json(c)
        return
    where = f"held by {c.holder}" if c.holder else f"in transit to {c.in_transit_to}"
    console.print(f"[bold]{c.lot_id}[/] recorded by {c.recorded_by}, {where}")
    for t in c.transfers:
        console.print(f"  {t.on_date} {t.kind} by {t.org_id} ({'to' if t.kind == 'shipped' else 'from'} "
                      f"{t.counterparty_org_id})")


@lots_app.command("verify")
def lots_verify(json_: JsonOpt = False) -> None:
    """Check every lot: its document's SHA-256 against the ledger events naming it, and conservation at every lot."""
    from circulith.errors import IntegrityViolation
    from circulith.services.lot_reports import verify_lots

    rep = verify_lots(_engine())
    if json_:
        emit_json(rep)
    else:
        for f in rep.findings[:50]:
            console.print(f"[red]✗[/] {f}", highlight=False)
        if rep.ok:
            console.print(f"[green]✓[/] lots intact and conserved: {rep.lots_checked} lots, {rep.events_checked} "
                          "ledger events")
    if not rep.ok:
        raise IntegrityViolation(f"lot verification failed: {len(rep.findings)} finding(s); first: {rep.findings[0]}")


lot_app.command("plan")(lot_plan)  # defined in its own module
