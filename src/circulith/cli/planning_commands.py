"""Planning commands: ``forecast run`` and ``network plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from circulith.cli.common import call_service, console, emit_json
from circulith.cli.principal import calculation_principal
from circulith.errors import InvalidInput, Problem

forecast_app = typer.Typer(help="Retirement and feedstock forecast with ranges.", no_args_is_help=True)
network_app = typer.Typer(help="Collection-to-hub network plan (MILP) and greedy baseline.", no_args_is_help=True)


def _toml(path: Path) -> Path:
    """``path``, checked to be UTF-8 text (a workbook or another encoding is one line, exit 2)."""
    from circulith.io.text_files import require_text_file

    return require_text_file(path, "TOML text")


def _registry_engine() -> Engine:
    """The registry's engine (``--db``), for scenarios that read the registry's own fleet."""
    from circulith.cli.common import state
    from circulith.store.database import create_db_engine

    return create_db_engine(state.database_url())


@forecast_app.command("run")
def forecast_run(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario TOML file (defaults if omitted).")] = None,
    stream: Annotated[str, typer.Option(help="Stream: feedstock, eol, eol_damaged, first_life_exit, "
                                        "second_life_entry, production_scrap.")] = "feedstock",
    metric: Annotated[str, typer.Option(help="Metric: tonnes, gwh, units, li_t, ni_t, co_t, mn_t, value_musd.")] = "tonnes",
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output (same as the API).")] = False,
) -> None:
    """Forecast first-life exits, second life, end-of-life flows and production scrap (median and interval)."""
    from circulith.planning.readers import read_scenario
    from circulith.services.planning import forecast

    sc = read_scenario(_toml(scenario)) if scenario else None
    out = forecast(calculation_principal(), scenario=sc, stream=stream, metric=metric, region=region,
                   engine=_registry_engine() if sc is not None and sc.registry_fleet else None)  # fmt: skip
    if json_out:
        emit_json(out)
        return
    console.print(f"scenario {out.scenario}: {out.n_members} members, {stream} in {metric}, interval "
                  f"{out.interval[0]:.0%}-{out.interval[1]:.0%}; cohorts: {out.cohorts_source}")  # fmt: skip
    cal = out.calibration
    colour = "green" if cal.status == "ok" else "bold red"
    console.print(f"[{colour}]ranges: {cal.message}[/] (the lifetime-parameter band alone covered "
                  f"{cal.coverage_parameter_only:.0%})")  # fmt: skip
    console.print(out.width_note)
    table = Table("year", "region", "chemistry", "median", "lower", "upper")
    for r in out.rows:
        table.add_row(str(r.year), r.region, r.chemistry or "all", f"{r.median:,.2f}", f"{r.lower:,.2f}",
                      f"{r.upper:,.2f}")  # fmt: skip
    console.print(table)


@forecast_app.command("compare")
def forecast_compare(
    scenario: Annotated[list[Path] | None, typer.Option("--scenario", help="Scenario TOML file (repeatable, 2-8); "
                                                        "default: the shipped examples.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Name of the base scenario (default: the first).")] = None,
    from_year: Annotated[int, typer.Option("--from-year", help="First year of the window [year].")] = 2025,
    to_year: Annotated[int, typer.Option("--to-year", help="Last year of the window [year].")] = 2035,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output (same as the API).")] = False,
) -> None:
    """Scenarios side by side: feedstock by region and chemistry, metals and value, capacity gap, network cost."""
    from circulith.planning.readers import read_scenario
    from circulith.services.planning_compare import compare_scenarios, example_scenarios

    scs = [read_scenario(_toml(p)) for p in scenario] if scenario else example_scenarios()
    out = compare_scenarios(calculation_principal(), scs, base=base, from_year=from_year, to_year=to_year,
                            engine=_registry_engine() if any(s.registry_fleet for s in scs) else None)  # fmt: skip
    if json_out:
        emit_json(out)
        return
    names = [s.name for s in out.scenarios]
    console.print(f"{len(names)} scenarios, {from_year}-{to_year}, differences to [bold]{out.base}[/]")
    for s in out.scenarios:
        colour = "green" if s.calibration.status == "ok" else "red"
        console.print(f"  {s.name}: network {s.network_status}; [{colour}]ranges: {s.calibration.message}[/]")
        console.print(f"    network {s.network_demand}")
    table = Table("figure", "unit", "region", "chemistry", *names, *(f"{n} - {out.base}" for n in names if n != out.base))
    for r in out.rows:
        vals = [("n/a" if r.values[n] is None else f"{r.values[n]:,.1f}") for n in names]
        diffs = [("n/a" if r.difference[n] is None else f"{r.difference[n]:+,.1f}") for n in names if n != out.base]
        table.add_row(r.figure, r.unit, r.region or "", r.chemistry or "", *vals, *diffs)
    console.print(table)


@network_app.command("plan")
def network_plan(
    sites: Annotated[Path | None, typer.Option("--sites", help="Sites CSV (default: the shipped example).")] = None,
    demand: Annotated[Path | None, typer.Option("--demand", help="Demand CSV (default: the shipped example).")] = None,
    costs: Annotated[Path | None, typer.Option("--costs", help="Cost or distance matrix CSV: origin_id, "
                                               "destination_id, distance_km and/or cost_usd_per_t.")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit [s].")] = 60.0,
    gap: Annotated[float, typer.Option("--gap", help="Relative optimality gap tolerance.")] = 1e-4,
    k_nearest: Annotated[int | None, typer.Option("--k-nearest", help="Screen to k nearest spokes.")] = None,
    continuous_trucks: Annotated[bool, typer.Option("--continuous-trucks", help="Relax truck counts.")] = False,
    method: Annotated[str, typer.Option("--method", help="auto (exact MILP on small instances, LP-guided plan "
                                        "with a proven gap on large ones), milp or heuristic.")] = "auto",
    max_spokes: Annotated[int | None, typer.Option("--max-spokes", help="At most this many spokes open.")] = None,
    max_hubs: Annotated[int | None, typer.Option("--max-hubs", help="At most this many hubs open.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Fixed costs of opened sites within this "
                                                 "budget [USD per period].")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output (solver messages on stderr).")] = False,
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario TOML: without --demand (or its "
                                                  "network_demand) the demand follows its forecast.")] = None,
    year: Annotated[int | None, typer.Option("--year", help="Forecast year of the demand with --scenario "
                                             "[year] (default: next year).")] = None,
) -> None:
    """Cheapest rule-compliant network: opened sites, flows by damage state, trucks per week; greedy alongside."""
    import datetime as dt

    from circulith.planning.network_milp import NetworkOptions
    from circulith.planning.readers import read_csv_table, read_scenario
    from circulith.services.planning import network_plan as plan_service
    from circulith.services.planning import scenario_network

    if scenario is None and (sites is None) != (demand is None):
        raise InvalidInput(Problem(None, "--sites" if sites is None else "--demand", "give both --sites and --demand"))
    opts = NetworkOptions(time_limit_s=time_limit, mip_rel_gap=gap, k_nearest=k_nearest,
                          integer_trucks=not continuous_trucks, method=method, max_open_spokes=max_spokes,
                          max_open_hubs=max_hubs, budget_usd=budget)  # fmt: skip
    if scenario is not None:
        given = {"network_sites": sites, "network_demand": demand, "network_costs": costs}
        sc = read_scenario(scenario)
        sc = sc.model_copy(update={k: str(v) for k, v in given.items() if v is not None})
        plan, _note = scenario_network(calculation_principal(), sc, year=year or dt.datetime.now(dt.UTC).year + 1,
                                       options=opts, engine=_registry_engine() if sc.registry_fleet else None)
    else:
        plan = plan_service(
            calculation_principal(), sites=read_csv_table(sites) if sites else None,
            demand=read_csv_table(demand) if demand else None, costs=read_csv_table(costs) if costs else None,
            options=opts, inputs=f"{sites.name}, {demand.name}" if sites and demand else "",
        )
    if json_out:
        emit_json(plan)
        return
    def usd(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.0f} USD"

    console.print(f"status {plan.status} (solver: {plan.solver_status}); inputs: {plan.inputs}")
    console.print(f"cost {usd(plan.objective_usd)} per period, proven bound {usd(plan.dual_bound_usd)}, gap "
                  f"{'n/a' if plan.mip_gap is None else f'{plan.mip_gap:.2%}'}; greedy baseline "
                  f"{usd(plan.greedy_cost_usd)}"
                  f"{'' if plan.greedy_gap is None else f' ({plan.greedy_gap:+.1%} against the plan)'}")  # fmt: skip
    console.print(f"{plan.trucks_per_week:,.1f} trucks per week ({plan.period_weeks:g}-week period), "
                  f"{plan.emissions_t_co2e:,.1f} t CO2e; opened: " + ", ".join(plan.opened_sites))  # fmt: skip
    table = Table("from", "to", "state", "tonnes", "trucks", "trucks/week", "km", "regime")
    for f in plan.flows:
        table.add_row(f.from_id, f.to_id, f.damage_state, f"{f.tonnes:,.1f}", str(f.trucks),
                      f"{f.trucks_per_week:,.2f}", f"{f.distance_km:,.0f}", f.regime)  # fmt: skip
    console.print(table)
    for line in plan.diagnosis:
        console.print(f"[red]binding:[/] {line}")


@network_app.command("route")
def network_route(
    inventory: Annotated[Path, typer.Option("--inventory", help="Inventory CSV: battery_id, site_id, mass_kg, grade, "
                                            "damage_state, chemistry.")],
    sites: Annotated[Path, typer.Option("--sites", help="Sites CSV (network format; origins included).")],
    jurisdiction: Annotated[str, typer.Option(help="ADR (Europe) or US (49 CFR).")] = "ADR",
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Weekly lot routing: each battery to a permitted destination and a truck, under the transport rules."""
    from circulith.planning.lot_routing import route_lots
    from circulith.planning.readers import read_csv_table

    r = route_lots(read_csv_table(inventory), read_csv_table(sites), jurisdiction=jurisdiction)
    if json_out:
        emit_json(r.to_dict())
        return
    s = r.summary
    console.print(f"{s['shipped']} of {s['batteries']} batteries shipped in {s['trucks']} trucks "
                  f"({s['full_adr_trucks']} under full ADR), transport {s['transport_cost_usd']:,.0f} USD, "
                  f"{s['emissions_t_co2e']:.2f} t CO2e; {s['held']} held")
    if len(r.trucks):
        console.print(r.trucks.drop(columns="regime").to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    for row in r.held.itertuples(index=False):
        console.print(f"[yellow]held[/] {row.battery_id} at {row.site_id}: {row.reason}")


@forecast_app.command("capacity")
def forecast_capacity(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario TOML file (defaults if omitted).")] = None,
    capacity: Annotated[Path | None, typer.Option("--capacity", help="Capacity CSV (default: shipped plants).")] = None,
    stage: Annotated[str, typer.Option(help="Plant stage compared: pretreatment or refining.")] = "pretreatment",
    installed_only: Annotated[bool, typer.Option("--installed-only", help="Ignore planned plants.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output (same as the API).")] = False,
) -> None:
    """Recycling capacity against forecast feedstock: utilisation, gap, surplus or deficit per year and region."""
    from circulith.planning.readers import read_csv_table, read_scenario
    from circulith.services.planning import capacity as capacity_service

    r = capacity_service(calculation_principal(), scenario=read_scenario(_toml(scenario)) if scenario else None,
                         capacity_table=read_csv_table(capacity) if capacity else None, stage=stage,
                         include_planned=not installed_only)  # fmt: skip
    if json_out:
        emit_json(r)
        return
    console.print(f"scenario {r.scenario}: feedstock (median) against {stage} capacity"
                  f"{'' if installed_only else ' incl. planned'} [t/yr]")
    table = Table("year", "region", "feedstock_t", "capacity_t", "gap_t", "position")
    for row in r.rows:
        table.add_row(str(row.year), row.region, *(f"{v:,.0f}" if v is not None else "n/a"
                                                   for v in (row.feedstock_t, row.capacity_t, row.gap_t)),
                      row.position or "")  # fmt: skip
    console.print(table)
    for s in r.summary:
        console.print(f"{s.region}: first deficit {s.first_deficit_year}, largest deficit "
                      f"{s.largest_deficit_t:,.0f} t in {s.largest_deficit_year}")


@forecast_app.command("backtest")
def forecast_backtest(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario TOML file (defaults if omitted).")] = None,
    mode: Annotated[str, typer.Option(help="Vehicle mode whose lifetime law is tested.")] = "Cars",
    region: Annotated[list[str] | None, typer.Option("--region", help="Region (repeatable); default all countries.")] = None,
    first_origin: Annotated[int, typer.Option(help="First origin year.")] = 2015,
    last_origin: Annotated[int, typer.Option(help="Last origin year.")] = 2020,
    horizon: Annotated[int, typer.Option(help="Years per forecast window.")] = 3,
    lookback: Annotated[int, typer.Option(help="Years behind the naive constant-share baseline.")] = 3,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rolling-origin backtest against observed fleet exits (IEA), with a naive constant-share baseline."""
    from circulith.planning.readers import read_scenario
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_backtest
    from circulith.services.planning import forecast_calibration

    sc = read_scenario(_toml(scenario)) if scenario else scenario_from_mapping({})
    r = run_backtest(sc, mode=mode, regions=region or None, origins=list(range(first_origin, last_origin + 1)),
                     horizon=horizon, lookback=lookback)  # fmt: skip
    if json_out:
        emit_json(r.to_dict())
        return
    s = r.scores

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    console.print(f"{s['n_windows']} windows ({s['n_mape_windows']} with positive observed exits)")
    console.print(f"model:    MAPE {fmt(s['model']['mape'])}  WAPE {fmt(s['model']['wape'])}  "
                  f"bias {fmt(s['model']['bias'])}  interval coverage {fmt(s['model']['coverage'])}")
    console.print(f"baseline: MAPE {fmt(s['baseline']['mape'])}  WAPE {fmt(s['baseline']['wape'])}  "
                  f"bias {fmt(s['baseline']['bias'])}")
    cal = forecast_calibration(calculation_principal(), scenario=sc)
    console.print(f"calibrated band: coverage {fmt(cal.coverage_calibrated)} on {cal.n_calibrated_windows} "
                  f"rolling-origin windows (parameter-only {fmt(cal.coverage_parameter_only)}); {cal.message}")


@forecast_app.command("lifetimes")
def forecast_lifetimes(
    source: Annotated[str | None, typer.Option("--source", help="sqlite:/// URL or Parquet export directory "
                                               "(default: the --db registry).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="duckdb (embedded) or spark.")] = "duckdb",
    by: Annotated[list[str] | None, typer.Option("--by", help="Group the fit (repeatable), e.g. chemistry.")] = None,
    n_boot: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the parameter intervals.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """First-life lifetimes fitted from the registry's own retirements (Weibull, right-censored in-service packs)."""
    from circulith.analytics.lifetimes import registry_lifetimes_report
    from circulith.cli.common import state

    report = registry_lifetimes_report(source or state.database_url(), backend=backend, by=by or None, n_boot=n_boot)
    if json_out:
        emit_json(report)
        return
    console.print_json(data=report)


national_app = typer.Typer(help="The national view of an authority (journey 6).", no_args_is_help=True)


@national_app.command("view")
def national_view_cmd(
    region: Annotated[str | None, typer.Option(help="Only this region (within the jurisdiction).")] = None,
    table: Annotated[str | None, typer.Option(help="Print one table as CSV: inventory, flows, retirements, "
                                               "throughput, late_reporters.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output (same as the API).")] = False,
) -> None:
    """Inventory by status x chemistry, flows between regions, retirements against forecast, late reporters.

    Acts as circulith --as ORG (an authority, the Commission or the registry operator): its role and jurisdiction apply.
    """
    import csv
    import sys

    from circulith.services.national import national_table, national_view

    view = call_service(national_view, _registry_engine(), region=region)
    if json_out:
        emit_json(view)
        return
    if table:
        cols, rows = national_table(view, table)
        writer = csv.writer(sys.stdout)
        writer.writerow(cols)
        writer.writerows(rows)
        return
    console.print(f"national view of {view.org_id}: {view.scope}")
    inv = Table("region", "status", "chemistry", "packs", "mass_kg")
    for r in view.inventory:
        inv.add_row(r.region or "", r.status or "", r.chemistry or "", str(r.units), f"{r.mass_kg:,.0f}")
    console.print(inv)
    fl = Table("from region", "to region", "packs", "mass_kg")
    for f in view.flows:
        fl.add_row(f.from_region or "unknown", f.to_region or "unknown", str(f.units), f"{f.mass_kg:,.0f}")
    console.print(fl)
    ret = Table("year", "observed", "forecast median", "forecast range")
    for y in view.retirements:
        rng = "" if y.forecast_lower is None else f"{y.forecast_lower:,.1f}-{y.forecast_upper:,.1f}"
        ret.add_row(str(y.year), str(y.observed), "" if y.forecast_median is None else f"{y.forecast_median:,.1f}", rng)
    console.print(ret)
    tp = Table("plant", "operator", "year", "input_t", "capacity_t", "utilisation")
    for p in view.throughput:
        tp.add_row(p.plant_id, p.org_id, str(p.year), f"{p.input_t:,.1f}",
                   "n/a" if p.capacity_t is None else f"{p.capacity_t:,.0f}",
                   "n/a" if p.utilisation is None else f"{p.utilisation:.1%}")  # fmt: skip
    console.print(tp)
    late = view.late_reporters
    console.print(f"late reporters: {', '.join(late.operators) or 'none'} ({late.note})")
    lt = Table("operator", "events due", "reported on time", "reported late", "overdue")
    for o in late.records:
        lt.add_row(o.org_id, str(o.events_due), str(o.submitted_on_time), str(o.submitted_late), str(o.overdue))
    console.print(lt)


@national_app.command("jurisdiction")
def national_jurisdiction(
    org: Annotated[str, typer.Option("--org", help="Organisation (an authority).")],
    region: Annotated[list[str] | None, typer.Option("--region", help="Region it supervises (repeatable; none: "
                                                     "back to its own country).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Configure the jurisdiction of an authority (as the registry operator, the default principal)."""
    from circulith.services.national import configure_jurisdiction

    out = call_service(configure_jurisdiction, org, region or [])
    if json_out:
        emit_json(out)
        return
    console.print(f"{out.org_id} ({out.role}) supervises {', '.join(out.regions) or 'nothing'}")
