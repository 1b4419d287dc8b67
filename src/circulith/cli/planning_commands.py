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
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Cheapest rule-compliant network: opened sites, flows by damage state, trucks; greedy baseline alongside."""
    from circulith.planning.network_milp import plan_network
    from circulith.planning.readers import read_csv_table

    plan = plan_network(
        read_csv_table(sites), read_csv_table(demand), time_limit_s=time_limit, mip_rel_gap=gap,
        k_nearest=k_nearest, integer_trucks=not continuous_trucks,
    )
    if json_out:
        emit_json(plan.to_dict())
        return
    console.print(f"status {plan.status} (solver: {plan.solver_status}), objective {plan.objective_usd}, "
                  f"gap {plan.mip_gap}, greedy {plan.greedy_cost_usd}")
    console.print("opened: " + ", ".join(plan.opened_sites))
    for line in plan.diagnosis:
        console.print(f"[red]binding:[/] {line}")
