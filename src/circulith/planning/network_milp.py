"""Two-echelon capacitated facility location and flow MILP (HiGHS), with a greedy baseline.

Sources (collection points, dealers, dismantlers' yards) send batteries, split by damage state
(``intact``, ``damaged``, ``critical``), to first-echelon sites (spokes: discharge, dismantle, shred) that
forward their processed output to second-echelon sites (hubs / refiners); batteries graded reusable go to
reuse integrators. Every flow carries its damage state; a damaged or critical flow may only enter a site
permitted for it, and only by a mode the transport rules allow (road here: the model moves trucks).

Model (all quantities per planning period; trucks are also reported per week)::

    min  sum fixed_j o_j + sum var_j * inflow_j + sum_arcs trucks_a * km_a * c_state(a) * m_state(source)
         + penalty * unmet
    s.t. sum_j x[i,j,s] + unmet[i,s] = D[i,s]                       (demand, per source and state)
         sum_k r[i,k] + unmet_r[i] = R[i]                           (reusable tonnes to reuse sites)
         sum_{i,s} x[i,j,s] <= cap_j o_j                            (first-echelon capacity)
         x[i,j,s] <= D[i,s] o_j,   x[i,j,s] <= payload_s n[i,j,s]   (linking, integer truckloads)
         sum_h y[j,h] = ratio * sum_{i,s} x[i,j,s]                  (processed output forwarded)
         sum_j y[j,h] <= cap_h o_h, y[j,h] <= payload n[j,h], y[j,h] <= cap_j o_h
         sum_i r[i,k] <= cap_k o_k, r[i,k] <= R[i] o_k, r[i,k] <= payload n[i,k]

plus, when set in :class:`NetworkOptions`, ``sum_j o_j <= N1``, ``sum_h o_h <= N2`` (site counts) and
``sum fixed o <= B`` (opening budget). ``km_a`` is the estimated road distance (great-circle times the road
circuity) unless the planner's cost matrix gives a road distance or a per-tonne tariff for the arc
(:mod:`circulith.planning.network_costs`).

``c_state`` is the truck cost per km times the damage-state multiplier plus the priced emissions.
Unmet demand carries a prohibitive penalty only so that an infeasible instance still solves and can be
diagnosed: any unmet tonne makes the plan status ``infeasible_demand`` with the binding constraint named.

Large instances (``method="auto"`` above ``auto_arc_limit`` arcs, or ``method="heuristic"``) go through the
LP-guided heuristic of :mod:`circulith.planning.network_heuristics`: a proven LP bound over every permitted
arc, a plan from LP rounding, local search and integer trucks on the chosen sites, and the proven gap between
them. ``status`` is ``optimal`` only when that gap is within ``mip_rel_gap``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from circulith.errors import InvalidInput, Problem
from circulith.planning.network import (
    DAMAGE_STATES,
    FIRST_ECHELON,
    NetworkParams,
    permitted_modes,
    transport_regimes,
    validate_demand,
    validate_sites,
)
from circulith.planning.network_costs import apply_cost_matrix
from circulith.planning.network_greedy import GreedyPlan, greedy_assign, start_vector
from circulith.planning.network_heuristics import (
    OBJ_SCALE,
    add_cardinality_rows,
    add_cover_rows,
    lp_guided_plan,
    transfer_start,
)
from circulith.planning.network_model import (
    NetworkInstance,
    NetworkModel,
    build_model,
    diagnose_capacity,
    make_instance,
    reduced_costs,
)
from circulith.planning.reference_data import load_transport_rules

log = logging.getLogger(__name__)
METHODS = ("auto", "milp", "heuristic")


@dataclass(frozen=True)
class NetworkOptions:
    """How :func:`plan_network` solves: limits, screening, solver path and the planner's constraints.

    Attributes
    ----------
    output_ratio : float
        Tonnes forwarded to hubs per tonne received at a spoke [-].
    time_limit_s : float
        Time limit for the whole solve, arc pricing included [s].
    mip_rel_gap : float
        Relative gap at which HiGHS stops and declares optimality [-].
    k_nearest : int, optional
        Arc screening: start from each source's ``k`` nearest permitted first-echelon sites per damage state
        (plus the greedy plan's arcs). With ``price_arcs`` the screened LP is then priced against every
        permitted arc (arcs with a negative reduced cost are added until none is left), which makes the LP
        bound valid for the full problem; after the MILP, reduced-cost fixing tells whether an omitted arc
        could still improve the plan. The result states in ``screening`` and ``notes`` what was proven.
    threads : int, optional
        Solver threads.
    integer_trucks : bool
        True: whole truckloads on every arc (exact, harder). False: truck-km priced continuously
        (``tonnes / payload``), trucks reported rounded up; a relaxation stated in ``notes``.
    warm_start : bool
        Give HiGHS the greedy plan as its first incumbent.
    price_arcs : bool
        With ``k_nearest``: price the omitted arcs (see above).
    solver_options : mapping
        Extra HiGHS options (name -> value), e.g. ``{"mip_heuristic_effort": 0.1}``.
    method : str
        ``milp``: the MILP (with ``k_nearest`` screening if given). ``heuristic``: the LP-guided heuristic of
        :mod:`circulith.planning.network_heuristics` (LP bound over every permitted arc with truck-cover and
        site-count inequalities, LP rounding, local search on the open set, integer trucks on the chosen
        sites), then the full MILP started from that plan for the time left, which may improve plan and
        bound. ``auto`` (default): ``heuristic`` when there are more than ``auto_arc_limit`` permitted
        first-echelon arcs, no ``k_nearest``, integer trucks and no site-count or budget limit, else ``milp``.
    lp_solver : str
        HiGHS ``solver`` for the heuristic's LP relaxation (``ipm``, ``simplex``, ``hipo``, ``choose``).
    auto_arc_limit : int
        Size above which ``auto`` takes the heuristic path [arcs].
    heuristic_share : float
        Share of ``time_limit_s`` given to the heuristic; the full MILP gets the rest [-]. Above
        ``polish_arc_limit`` permitted arcs the full MILP is skipped (its root LP alone outlasts any sensible
        limit) and the heuristic gets the whole time.
    polish_arc_limit : int
        Largest instance on which the heuristic path runs the full MILP after the heuristic [arcs].
    lp_arc_limit : int
        Above this many permitted arcs the heuristic's LP is solved by pricing from the 10 nearest sites
        (its value is still the LP over every arc once no omitted arc has a negative reduced cost) [arcs].
    max_open_spokes : int, optional
        At most this many first-echelon sites (spokes, dismantlers) open [-].
    max_open_hubs : int, optional
        At most this many second-echelon sites (hubs, refiners) open [-].
    budget_usd : float, optional
        Fixed costs of all opened sites within this budget [USD per planning period].
    """

    output_ratio: float = 1.0
    time_limit_s: float = 60.0
    mip_rel_gap: float = 1e-4
    k_nearest: int | None = None
    threads: int | None = None
    integer_trucks: bool = True
    warm_start: bool = True
    price_arcs: bool = True
    solver_options: Mapping[str, Any] = field(default_factory=dict)
    method: str = "auto"
    lp_solver: str = "ipm"
    auto_arc_limit: int = 5000
    heuristic_share: float = 0.7
    polish_arc_limit: int = 5000
    lp_arc_limit: int = 150_000
    max_open_spokes: int | None = None
    max_open_hubs: int | None = None
    budget_usd: float | None = None

    def __post_init__(self) -> None:
        checks = [
            ("output_ratio", 0 < self.output_ratio <= 1, "must lie in (0, 1]"),
            ("k_nearest", self.k_nearest is None or self.k_nearest >= 1, "must be >= 1"),
            ("method", self.method in METHODS, "must be auto, milp or heuristic"),
            ("time_limit_s", self.time_limit_s > 0, "must be > 0"),
            ("mip_rel_gap", 0 <= self.mip_rel_gap < 1, "must lie in [0, 1)"),
            ("max_open_spokes", self.max_open_spokes is None or self.max_open_spokes >= 1, "must be >= 1"),
            ("max_open_hubs", self.max_open_hubs is None or self.max_open_hubs >= 1, "must be >= 1"),
            ("budget_usd", self.budget_usd is None or self.budget_usd >= 0, "must be >= 0"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise InvalidInput(Problem(None, name, f"{why}, got {getattr(self, name)!r}"))

    @property
    def limited(self) -> bool:
        """True when a site-count or budget limit is set."""
        return self.max_open_spokes is not None or self.max_open_hubs is not None or self.budget_usd is not None


@dataclass(frozen=True)
class Flow:
    """One arc of the plan: tonnes of one damage state moved by road in whole trucks."""

    from_id: str
    to_id: str
    tonnes: float
    damage_state: str
    mode: str
    trucks: int
    distance_km: float
    regime: str
    trucks_per_week: float = 0.0
    cost_basis: str = "estimated road distance"


@dataclass
class NetworkPlan:
    """Result of :func:`plan_network`.

    ``status`` is ``optimal`` (proven within the gap tolerance), ``feasible`` (a solution within the time
    limit, gap reported), ``infeasible_demand`` (some tonnes cannot be served: see ``diagnosis``) or
    ``no_solution``. ``solver_status`` is HiGHS' own model status string. ``lp_bound_usd`` is the LP
    relaxation's value over every permitted arc when it was proven (pricing or the heuristic path),
    ``heuristic_cost_usd`` the LP-guided heuristic's own plan cost (heuristic path). Trucks are per planning
    period; ``trucks_per_week`` divides them by ``period_weeks``.
    """

    status: str
    solver_status: str
    objective_usd: float | None
    dual_bound_usd: float | None
    mip_gap: float | None
    greedy_cost_usd: float | None
    greedy_gap: float | None
    opened_sites: list[str]
    flows: list[Flow]
    unmet: list[dict[str, Any]]
    diagnosis: list[str]
    emissions_t_co2e: float
    solve_seconds: float
    n_variables: int
    n_integer: int
    n_constraints: int
    screening: str
    greedy_unmet_t: float = 0.0
    notes: list[str] = field(default_factory=list)
    lp_bound_usd: float | None = None
    heuristic_cost_usd: float | None = None
    period_weeks: float = 0.0
    trucks_per_week: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        d = asdict(self)
        d["flows"] = [asdict(f) for f in self.flows]
        return d


def plan_network(
    sites: pd.DataFrame,
    demand: pd.DataFrame,
    params: NetworkParams | None = None,
    options: NetworkOptions | None = None,
    *,
    rules: pd.DataFrame | None = None,
    costs: pd.DataFrame | None = None,
) -> NetworkPlan:
    """Solve the network plan and the greedy baseline in the same run.

    Parameters
    ----------
    sites, demand : pandas.DataFrame
        As described in :mod:`circulith.planning.network`.
    params : NetworkParams, optional
        Costs, payloads, emissions (default: shipped ``network_defaults.toml``).
    options : NetworkOptions, optional
        Limits, screening, solver path, site-count and budget limits (default: :class:`NetworkOptions`).
    rules : pandas.DataFrame, optional
        Transport rules (default: shipped table); road must be permitted for every state moved.
    costs : pandas.DataFrame, optional
        The planner's cost or distance matrix (``origin_id, destination_id`` and ``distance_km`` and/or
        ``cost_usd_per_t``), see :func:`circulith.planning.network_costs.apply_cost_matrix`.

    Returns
    -------
    NetworkPlan
        ``dual_bound_usd`` and ``mip_gap`` are bounds for the *full* problem: the solver's own when no arc
        was screened out, else the bound proven by pricing and reduced-cost fixing (None if nothing could
        be proven); ``notes`` say what the restricted solve reported.
    """
    opts = options or NetworkOptions()
    output_ratio, time_limit_s, mip_rel_gap, k_nearest = opts.output_ratio, opts.time_limit_s, opts.mip_rel_gap, opts.k_nearest
    threads, integer_trucks, solver_options = opts.threads, opts.integer_trucks, opts.solver_options
    t_start = time.perf_counter()
    params = params or NetworkParams.from_defaults()
    s_df = validate_sites(sites)
    d_df = validate_demand(demand)
    rules = load_transport_rules() if rules is None else rules
    for st in DAMAGE_STATES:
        if "road" not in permitted_modes(rules, st):
            raise InvalidInput(Problem(None, "transport_rules", f"road transport not permitted for {st} batteries"))
    bad_states = sorted(set(d_df["state"]) - {""} - set(params.state_cost_multiplier))
    notes: list[str] = []
    if not integer_trucks:
        notes.append("continuous truck relaxation: truck-km priced as tonnes/payload; reported trucks rounded up")
    if bad_states and params.state_cost_multiplier:
        notes.append(f"no cost multiplier for state(s) {bad_states}: 1.0 used")

    if not s_df["kind"].isin(FIRST_ECHELON).any():
        raise InvalidInput(Problem(None, "kind", "no spoke or dismantler site in the sites file"), source="sites")

    regimes = transport_regimes(rules)
    inst = make_instance(s_df, d_df, params, output_ratio)
    inst.max_open_first, inst.max_open_second, inst.budget_usd = opts.max_open_spokes, opts.max_open_hubs, opts.budget_usd
    if costs is not None:
        notes.append(apply_cost_matrix(inst, costs))
    method = opts.method
    if opts.limited and method != "milp":
        if method == "heuristic":
            notes.append("site-count or budget limit set: the exact MILP is used (the heuristic ignores limits)")
        method = "milp"
    allowed = inst.allowed
    greedy = greedy_assign(inst)
    n_permitted = sum(int(a.sum()) for a in allowed)
    if method == "heuristic" or (method == "auto" and k_nearest is None and integer_trucks
                                 and n_permitted > opts.auto_arc_limit):  # fmt: skip
        if not integer_trucks:
            notes.append("heuristic path: plans move whole trucks whatever integer_trucks says")
        share = opts.heuristic_share if n_permitted <= opts.polish_arc_limit else 1.0
        plan = _plan_heuristic(inst, greedy, s_df, d_df, t_start, opts, share, notes, regimes)
        if plan is not None:
            return plan
        notes.append("LP relaxation infeasible: the MILP below measures and names the shortfall")

    # arc sets: all permitted arcs, or the k nearest plus the greedy plan's arcs
    in_set = [a.copy() for a in allowed]
    screened = k_nearest is not None and any(
        (a.sum(axis=1) > k_nearest).any() for a in allowed
    )
    if screened:
        for s_idx in range(len(DAMAGE_STATES)):
            a = allowed[s_idx]
            d = np.where(a, inst.dist1, np.inf)
            kth = np.sort(d, axis=1)[:, min(k_nearest, d.shape[1]) - 1 : min(k_nearest, d.shape[1])]
            in_set[s_idx] = a & (d <= kth)
        for i, j, s_idx, _q in greedy.x1:
            in_set[s_idx][i, j] = True

    def arcsets() -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        return [tuple(np.nonzero(m)) for m in in_set]  # type: ignore[misc]

    lp_bound: float | None = None
    priced = False
    pricing_rounds = 0
    lp_res: dict[str, Any] | None = None
    lp_model: NetworkModel | None = None
    if screened and opts.price_arcs:
        for _round in range(50):
            pricing_rounds += 1
            lp_model = build_model(inst, arcsets(), integer_trucks=False)
            left = time_limit_s - (time.perf_counter() - t_start)
            lp_res = lp_model.b.solve(max(left, 1.0), mip_rel_gap, threads, relax=True)
            if lp_res["x"] is None or lp_res["status"] != "Optimal":
                notes.append(f"arc pricing stopped: LP status {lp_res['status']}")
                lp_res = None
                break
            added = 0
            for s_idx in range(len(DAMAGE_STATES)):
                ii, jj = np.nonzero(allowed[s_idx] & ~in_set[s_idx])
                if not ii.size:
                    continue
                rc, _pen = reduced_costs(inst, lp_model, lp_res, s_idx, ii, jj)
                neg = rc < -1e-7 * (1.0 + np.abs(rc))
                in_set[s_idx][ii[neg], jj[neg]] = True
                added += int(neg.sum())
            if added == 0:
                priced = True
                lp_bound = float(lp_res["objective"])
                break
            if time.perf_counter() - t_start > 0.5 * time_limit_s:
                notes.append("arc pricing stopped at half the time limit: LP bound not proven for the full problem")
                break

    model = build_model(inst, arcsets(), integer_trucks)
    n_arcs = sum(m.sum() for m in in_set)
    n_allowed = sum(a.sum() for a in allowed)
    start = start_vector(model, inst, greedy) if opts.warm_start else None
    left = max(1.0, time_limit_s - (time.perf_counter() - t_start))
    # Demand as a hard constraint first (slacks fixed to 0); only if infeasible, solve again with the
    # penalised slacks to measure and name the shortfall.
    res = model.b.solve(left, mip_rel_gap, threads, zero_cols=model.slack_cols(), start=start, options=solver_options)
    if res["status"] == "Infeasible":
        left = max(1.0, time_limit_s - (time.perf_counter() - t_start))
        res = model.b.solve(left, mip_rel_gap, threads, options=solver_options)
        res["hard_status"] = "Infeasible"
    if start is not None:
        notes.append("MIP start: greedy plan " + ("accepted" if res.get("user_start") else "refused by HiGHS"))

    screening = "none (all permitted arcs)"
    obj, bound, gap = res["objective"], res["dual_bound"], res["gap"]
    if screened:
        screening = (f"{k_nearest} nearest permitted first-echelon sites per source and damage state plus the "
                     f"greedy plan's arcs; {n_arcs} of {n_allowed} permitted arcs in the MILP")  # fmt: skip
        restricted = f"restricted MILP: solver bound {bound}, gap {gap}"
        bound, gap = None, None
        if priced and lp_res is not None and lp_model is not None and obj is not None:
            screening += f" after {pricing_rounds} pricing round(s): no omitted arc has a negative LP reduced cost"
            pen_min = np.inf
            for s_idx in range(len(DAMAGE_STATES)):
                ii, jj = np.nonzero(allowed[s_idx] & ~in_set[s_idx])
                if ii.size:
                    _rc, pen = reduced_costs(inst, lp_model, lp_res, s_idx, ii, jj)
                    pen_min = min(pen_min, float(pen.min()))
            assert lp_bound is not None
            full_bound = lp_bound
            if integer_trucks and res["dual_bound"] is not None:
                # any plan using an omitted arc costs at least lp_bound + pen_min
                full_bound = max(lp_bound, min(float(res["dual_bound"]), lp_bound + pen_min))
            bound = full_bound
            gap = (obj - bound) / abs(obj) if obj else None
            notes.append(f"LP bound of the full problem (all {n_allowed} permitted arcs, by pricing) {lp_bound:.6g} USD; "
                         f"cheapest use of an omitted arc costs >= {pen_min:.6g} USD more than it; {restricted}")  # fmt: skip
        else:
            notes.append(f"screened arcs not priced: the plan is a heuristic for the full problem; {restricted}")
    proven = res["status"] == "Optimal" and gap is not None and gap <= mip_rel_gap * (1 + 1e-9) + 1e-12
    plan = _assemble_plan(inst, model, res, greedy, s_df, d_df, obj, bound, gap, screening, notes, proven, regimes)
    plan.lp_bound_usd = lp_bound
    return plan


def _plan_heuristic(inst: NetworkInstance, greedy: GreedyPlan, s_df: pd.DataFrame, d_df: pd.DataFrame,
                    t_start: float, opts: NetworkOptions, heuristic_share: float, notes: list[str],
                    regimes: Mapping[str, str]) -> NetworkPlan | None:  # fmt: skip
    """The ``method="heuristic"`` path of :func:`plan_network` (None: relaxation infeasible, diagnose)."""
    time_limit_s, mip_rel_gap, threads, solver_options = opts.time_limit_s, opts.mip_rel_gap, opts.threads, opts.solver_options
    budget = max(1.0, heuristic_share * time_limit_s - (time.perf_counter() - t_start))
    hr = lp_guided_plan(inst, budget, threads=threads, lp_solver=opts.lp_solver, mip_rel_gap=max(mip_rel_gap, 1e-3),
                        lp_arc_limit=opts.lp_arc_limit, seed_arcs=[(i, j, s) for i, j, s, _q in greedy.x1])
    notes.extend(hr.notes)
    if hr.lp_status == "Infeasible":
        return None
    bound = hr.lp_bound_usd
    best: tuple[NetworkModel, dict[str, Any]] | None = (
        (hr.model, hr.res) if hr.model is not None and hr.res is not None else None)
    obj = hr.cost_usd
    heur_cost = hr.cost_usd
    all_arcs = [tuple(np.nonzero(a)) for a in inst.allowed]
    left = time_limit_s - (time.perf_counter() - t_start)
    full: NetworkModel | None = None
    polish = "not run (no time left)" if heuristic_share < 1.0 else "not run (instance too large)"
    if left > 1.0 and heuristic_share < 1.0:
        full = build_model(inst, all_arcs, integer_trucks=True)  # type: ignore[arg-type]
        add_cover_rows(full, inst)
        add_cardinality_rows(full, inst)
        start: NDArray[np.float64] | None
        if best is not None and best[1]["x"] is not None:
            start = transfer_start(best[0], best[1]["x"], full, inst)
        else:
            start = start_vector(full, inst, greedy)
        res = full.b.solve(left, mip_rel_gap, threads, zero_cols=full.slack_cols(), start=start,
                           obj_scale=OBJ_SCALE, options=solver_options)  # fmt: skip
        polish = (f"HiGHS {res['status']} in {res['seconds']:.1f} s, incumbent {res['objective']}, "
                  f"dual bound {res['dual_bound']}, start {'accepted' if res['user_start'] else 'refused'}")  # fmt: skip
        if res["dual_bound"] is not None and np.isfinite(res["dual_bound"]) and res["x"] is not None:
            bound = res["dual_bound"] if bound is None else max(bound, res["dual_bound"])
        if res["x"] is not None and (obj is None or res["objective"] < obj - 1e-6 * abs(obj)):
            best, obj = (full, res), float(res["objective"])
    notes.append(f"full MILP from the heuristic plan (all arcs, integer trucks, cover and site-count rows): {polish}")
    if best is None and greedy.unmet_t <= 1e-6:
        # nothing better than the baseline: report the greedy plan itself
        full = full or build_model(inst, all_arcs, integer_trucks=True)  # type: ignore[arg-type]
        v = start_vector(full, inst, greedy)
        if v is not None:
            best, obj = (full, {"status": "greedy", "x": v, "n_int": 0}), greedy.cost_usd
    if best is None:
        return None
    model, res = best
    if obj is not None and greedy.unmet_t <= 1e-6 and greedy.cost_usd < obj:
        notes.append("greedy baseline cheaper than the heuristic and MILP plans")
    gap = (obj - bound) / abs(obj) if obj and bound is not None else None
    proven = gap is not None and gap <= mip_rel_gap * (1 + 1e-9) + 1e-12
    out_res = dict(res)
    out_res["status"] = (f"heuristic (LP relaxation {hr.lp_status}; plan from "
                         f"{'fixed-site MILP' if model is hr.model else 'full MILP' if res.get('status') != 'greedy' else 'greedy'}"
                         f": {res['status']})")  # fmt: skip
    out_res["seconds"] = time.perf_counter() - t_start
    out_res.setdefault("n_int", 0)
    screening = ("none: LP bound over all permitted arcs; plan from LP rounding and local search on the open "
                 "sites, integer trucks on arcs to the chosen sites")  # fmt: skip
    plan = _assemble_plan(inst, model, out_res, greedy, s_df, d_df, obj, bound, gap, screening, notes, proven,
                          regimes)  # fmt: skip
    plan.lp_bound_usd, plan.heuristic_cost_usd = hr.lp_bound_usd, heur_cost
    return plan


def _assemble_plan(inst: NetworkInstance, model: NetworkModel, res: dict[str, Any], greedy: GreedyPlan, s_df: pd.DataFrame,
                   d_df: pd.DataFrame, obj: float | None, bound: float | None, gap: float | None, screening: str,
                   notes: list[str], proven_optimal: bool, regimes: Mapping[str, str]) -> NetworkPlan:  # fmt: skip
    params, first, second, reuse = inst.params, inst.first, inst.second, inst.reuse
    diagnosis = diagnose_capacity(s_df, d_df, output_ratio=inst.output_ratio)
    src_ids = inst.src_ids
    flows: list[Flow] = []
    unmet: list[dict[str, Any]] = []
    opened: list[str] = []
    emissions_kg = 0.0
    sol = res["x"]
    if sol is not None:
        for ii, jj, s_idx, x, n in model.arcs:
            val = sol[x]
            for k in np.flatnonzero(val > 1e-6):
                trucks = int(math.ceil(sol[n[k]] - 1e-6))
                km = float(inst.dist1[ii[k], jj[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(src_ids[ii[k]]), str(first["site_id"][jj[k]]), float(val[k]),
                                  DAMAGE_STATES[s_idx], "road", trucks, km, regimes[DAMAGE_STATES[s_idx]]))  # fmt: skip
        if model.y_arcs is not None:
            jj, hh, y, n2 = model.y_arcs
            for k in np.flatnonzero(sol[y] > 1e-6):
                trucks = int(math.ceil(sol[n2[k]] - 1e-6))
                km = float(inst.dist2[jj[k], hh[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(first["site_id"][jj[k]]), str(second["site_id"][hh[k]]), float(sol[y[k]]),
                                  "processed", "road", trucks, km, regimes["processed"]))  # fmt: skip
        if model.r_arcs is not None:
            ii, kk, xr, nr = model.r_arcs
            for k in np.flatnonzero(sol[xr] > 1e-6):
                trucks = int(math.ceil(sol[nr[k]] - 1e-6))
                km = float(inst.dist_r[ii[k], kk[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(src_ids[ii[k]]), str(reuse["site_id"][kk[k]]), float(sol[xr[k]]),
                                  "reusable", "road", trucks, km, regimes["reusable"]))  # fmt: skip
        for s_idx, pairs in model.unmet_cols.items():
            for src, col in pairs:
                if sol[col] > 1e-6:
                    unmet.append({"source_id": str(src_ids[src]), "damage_state": DAMAGE_STATES[s_idx],
                                  "tonnes": float(sol[col])})  # fmt: skip
        for src, col in model.u_reuse:
            if sol[col] > 1e-6:
                unmet.append({"source_id": str(src_ids[src]), "damage_state": "reusable", "tonnes": float(sol[col])})
        for df_, o in ((first, model.o1), (second, model.o2), (reuse, model.o_r)):
            opened.extend(str(df_["site_id"][k]) for k in np.flatnonzero(sol[o] > 0.5))
    greedy_cost, greedy_unmet = greedy.cost_usd, greedy.unmet_t
    solver_status = res["status"]
    if sol is None:
        status = "no_solution"
    elif unmet:
        status = "infeasible_demand"
        short = sum(u["tonnes"] for u in unmet)
        by_state: dict[str, float] = {}
        for u in unmet:
            by_state[u["damage_state"]] = by_state.get(u["damage_state"], 0.0) + u["tonnes"]
        diagnosis.insert(0, f"{short:.1f} t cannot be served: " + ", ".join(f"{k} {v:.1f} t" for k, v in by_state.items()))
        if not diagnosis[1:]:
            diagnosis.append("no single aggregate capacity binds: the unserved tonnes have no permitted site "
                             "(damage-state permit or chemistry list) within the screened arcs")  # fmt: skip
        pen = params.unmet_penalty_usd_per_t * short
        obj = obj - pen if obj is not None else None
        bound = None
        gap = None
    elif proven_optimal:
        status = "optimal"
    else:
        status = "feasible"
    greedy_gap = None
    if status in ("optimal", "feasible") and greedy_unmet <= 1e-6 and obj:
        greedy_gap = (greedy_cost - obj) / obj
    limits = {k: float(v) for k, v in (("max_open_spokes", inst.max_open_first), ("max_open_hubs", inst.max_open_second),
                                       ("budget_usd", inst.budget_usd)) if v is not None}  # fmt: skip
    if status == "infeasible_demand" and limits:
        diagnosis.append("limits in force (" + ", ".join(f"{k} {v:g}" for k, v in limits.items()) + "): with them "
                         "the permitted sites cannot take every tonne; relax a limit or add capacity")  # fmt: skip
    if limits:
        notes.append("greedy baseline ignores the site-count and budget limits")
    weeks = params.period_weeks
    flows = [replace(f, trucks_per_week=f.trucks / weeks,
                     cost_basis=inst.cost_basis.get((f.from_id, f.to_id), "estimated road distance")) for f in flows]
    return NetworkPlan(
        status=status,
        solver_status=solver_status,
        objective_usd=obj,
        dual_bound_usd=bound,
        mip_gap=gap,
        greedy_cost_usd=greedy_cost if greedy_unmet <= 1e-6 else None,
        greedy_gap=greedy_gap,
        opened_sites=opened,
        flows=flows,
        unmet=unmet,
        diagnosis=diagnosis if (unmet or status == "no_solution") else [],
        emissions_t_co2e=emissions_kg / 1000.0,
        solve_seconds=res["seconds"],
        n_variables=model.b.n_col,
        n_integer=res["n_int"],
        n_constraints=model.b.n_row,
        screening=screening,
        greedy_unmet_t=greedy_unmet,
        notes=notes,
        period_weeks=weeks,
        trucks_per_week=sum(f.trucks for f in flows) / weeks,
        limits=limits,
    )


