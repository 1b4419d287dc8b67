"""Planning commands: ``forecast run`` and ``network plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from circulith.cli.common import console, emit_json

forecast_app = typer.Typer(help="Retirement and feedstock forecast with ranges.", no_args_is_help=True)
network_app = typer.Typer(help="Collection-to-hub network plan (MILP) and greedy baseline.", no_args_is_help=True)


@forecast_app.command("run")
def forecast_run(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario TOML file (defaults if omitted).")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream (e.g. eol, feedstock).")] = None,
    metric: Annotated[str | None, typer.Option(help="Only this metric (e.g. gwh, tonnes, li_t).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Forecast first-life exits, second life, end-of-life flows and production scrap (median and interval)."""
    from circulith.planning.readers import read_scenario
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_forecast

    sc = read_scenario(scenario) if scenario else scenario_from_mapping({})
    result = run_forecast(sc)
    rows = result.summary
    if stream:
        rows = rows[rows["stream"] == stream]
    if metric:
        rows = rows[rows["metric"] == metric]
    if json_out:
        emit_json({
            "scenario": sc.name, "n_members": result.n_members, "interval": list(result.interval),
            "group_by": list(result.group_by), "assumptions": result.assumptions,
            "rows": rows.to_dict(orient="records"),
        })
        return
    shown = rows[(rows["stream"] == (stream or "feedstock")) & (rows["metric"] == (metric or "gwh"))]
    console.print(f"scenario {sc.name}: {result.n_members} members, interval {result.interval}")
    console.print(shown.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


@network_app.command("plan")
def network_plan(
    sites: Annotated[Path, typer.Option("--sites", help="Sites CSV.")],
    demand: Annotated[Path, typer.Option("--demand", help="Demand CSV.")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit [s].")] = 60.0,
    gap: Annotated[float, typer.Option("--gap", help="Relative optimality gap tolerance.")] = 1e-4,
    k_nearest: Annotated[int | None, typer.Option("--k-nearest", help="Screen to k nearest spokes.")] = None,
    continuous_trucks: Annotated[bool, typer.Option("--continuous-trucks", help="Relax truck counts.")] = False,
    method: Annotated[str, typer.Option("--method", help="auto (exact MILP on small instances, LP-guided plan "
                                        "with a proven gap on large ones), milp or heuristic.")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Cheapest rule-compliant network: opened sites, flows by damage state, trucks; greedy baseline alongside."""
    from circulith.planning.network_milp import plan_network
    from circulith.planning.readers import read_csv_table

    plan = plan_network(
        read_csv_table(sites), read_csv_table(demand), time_limit_s=time_limit, mip_rel_gap=gap,
        k_nearest=k_nearest, integer_trucks=not continuous_trucks, method=method,
    )
    if json_out:
        emit_json(plan.to_dict())
        return
    console.print(f"status {plan.status} (solver: {plan.solver_status}), objective {plan.objective_usd}, "
                  f"gap {plan.mip_gap}, greedy {plan.greedy_cost_usd}")
    console.print("opened: " + ", ".join(plan.opened_sites))
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
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recycling capacity against forecast feedstock: utilisation, gap, surplus or deficit per year and region."""
    from circulith.planning.readers import read_csv_table, read_scenario
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_capacity

    sc = read_scenario(scenario) if scenario else scenario_from_mapping({})
    cap = read_csv_table(capacity) if capacity else None
    r = run_capacity(sc, cap, stage=stage, include_planned=not installed_only)
    if json_out:
        emit_json({"scenario": sc.name, "assumptions": r["assumptions"], "summary": r["summary"],
                   "unmatched_plants": r["unmatched_plants"], "rows": r["gap"].to_dict(orient="records")})
        return
    console.print(f"scenario {sc.name}: feedstock (median) against {stage} capacity"
                  f"{'' if installed_only else ' incl. planned'}")
    console.print(r["gap"].to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    for s in r["summary"]:
        console.print(f"{s['region']}: first deficit {s['first_deficit_year']}, largest deficit "
                      f"{s['largest_deficit_t']:,.0f} t in {s['largest_deficit_year']}")


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

    sc = read_scenario(scenario) if scenario else scenario_from_mapping({})
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
