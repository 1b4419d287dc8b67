"""Two-echelon capacitated facility location and flow MILP (HiGHS), with a greedy baseline.

Sources (collection points, dealers, dismantlers' yards) send batteries, split by damage state
(``intact``, ``damaged``, ``critical``), to first-echelon sites (spokes: discharge, dismantle, shred) that
forward their processed output to second-echelon sites (hubs / refiners); batteries graded reusable go to
reuse integrators. Every flow carries its damage state; a damaged or critical flow may only enter a site
permitted for it, and only by a mode the transport rules allow (road here: the model moves trucks).

Model (all quantities per planning period)::

    min  sum fixed_j o_j + sum var_j * inflow_j + sum_arcs trucks_a * km_a * c_state(a) * m_state(source)
         + penalty * unmet
    s.t. sum_j x[i,j,s] + unmet[i,s] = D[i,s]                       (demand, per source and state)
         sum_k r[i,k] + unmet_r[i] = R[i]                           (reusable tonnes to reuse sites)
         sum_{i,s} x[i,j,s] <= cap_j o_j                            (first-echelon capacity)
         x[i,j,s] <= D[i,s] o_j,   x[i,j,s] <= payload_s n[i,j,s]   (linking, integer truckloads)
         sum_h y[j,h] = ratio * sum_{i,s} x[i,j,s]                  (processed output forwarded)
         sum_j y[j,h] <= cap_h o_h, y[j,h] <= payload n[j,h], y[j,h] <= cap_j o_h
         sum_i r[i,k] <= cap_k o_k, r[i,k] <= R[i] o_k, r[i,k] <= payload n[i,k]

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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from circulith.errors import InvalidInput, Problem
from circulith.planning.network import (
    DAMAGE_STATES,
    FIRST_ECHELON,
    REUSE,
    SECOND_ECHELON,
    NetworkParams,
    haversine_km,
    permitted_modes,
    site_accepts,
    split_by_state,
    validate_demand,
    validate_sites,
)
from circulith.planning.reference_data import load_transport_rules

log = logging.getLogger(__name__)
REGIME = {
    "intact": "UN3480 SP 377 / P909 (49 CFR 173.185(d) in the US)",
    "damaged": "UN3480 SP 376 / P908-LP904 (49 CFR 173.185(f) in the US)",
    "critical": "UN3480 SP 376 / P911-LP906 (49 CFR 173.185(f) in the US)",
    "reusable": "UN3480 P903 (not waste)",
    "processed": "processed output of the spoke",
}


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


@dataclass
class NetworkPlan:
    """Result of :func:`plan_network`.

    ``status`` is ``optimal`` (proven within the gap tolerance), ``feasible`` (a solution within the time
    limit, gap reported), ``infeasible_demand`` (some tonnes cannot be served: see ``diagnosis``) or
    ``no_solution``. ``solver_status`` is HiGHS' own model status string.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        d = asdict(self)
        d["flows"] = [asdict(f) for f in self.flows]
        return d


def diagnose_capacity(sites: pd.DataFrame, demand: pd.DataFrame, *, output_ratio: float = 1.0) -> list[str]:
    """Name the capacity constraints that cannot hold, and by how much (tonnes), before any solve."""
    out: list[str] = []
    tons = split_by_state(demand)
    first = sites[sites["kind"].isin(FIRST_ECHELON)]
    second = sites[sites["kind"].isin(SECOND_ECHELON)]
    total = float(tons.sum())
    cap1 = float(first["capacity_t"].sum())
    if total > cap1 + 1e-9:
        out.append(f"first-echelon capacity: demand {total:.1f} t exceeds total spoke capacity {cap1:.1f} t "
                   f"(short by {total - cap1:.1f} t)")  # fmt: skip
    for s_idx, state in enumerate(("damaged", "critical")):
        need = float(tons[:, s_idx + 1].sum()) + (float(tons[:, 2].sum()) if state == "damaged" else 0.0)
        if need <= 0:
            continue
        ok = first["accepts_damaged" if state == "damaged" else "accepts_critical"].to_numpy(bool)
        cap = float(first["capacity_t"].to_numpy(float)[ok].sum())
        if need > cap + 1e-9:
            what = "damaged (incl. critical)" if state == "damaged" else "critical"
            out.append(f"capacity for {what} flows: {need:.1f} t to place but only {cap:.1f} t of capacity at "
                       f"spokes permitted for them (short by {need - cap:.1f} t)")  # fmt: skip
    for chem, g in demand.groupby("chemistry"):
        need = float(g["tonnes"].sum())
        ok = np.array([cs is None or chem in cs for cs in first["chem_set"]], dtype=bool)
        cap = float(first["capacity_t"].to_numpy(float)[ok].sum())
        if need > cap + 1e-9:
            out.append(f"chemistry {chem}: {need:.1f} t but only {cap:.1f} t of spoke capacity accepts it "
                       f"(short by {need - cap:.1f} t)")  # fmt: skip
    cap2 = float(second["capacity_t"].sum())
    if len(first) and total * output_ratio > cap2 + 1e-9:
        out.append(f"second-echelon capacity: {total * output_ratio:.1f} t of processed output but hub capacity "
                   f"{cap2:.1f} t (short by {total * output_ratio - cap2:.1f} t)")  # fmt: skip
    if not len(second):
        out.append("no hub or refiner site: processed output has nowhere to go")
    return out


class _Builder:
    """Accumulates columns and rows of a sparse MILP."""

    def __init__(self) -> None:
        self.cost: list[NDArray[np.float64]] = []
        self.ub: list[NDArray[np.float64]] = []
        self.integer: list[NDArray[np.bool_]] = []
        self.n_col = 0
        self.rows: list[NDArray[np.int64]] = []
        self.cols: list[NDArray[np.int64]] = []
        self.vals: list[NDArray[np.float64]] = []
        self.rlo: list[NDArray[np.float64]] = []
        self.rhi: list[NDArray[np.float64]] = []
        self.n_row = 0

    def add_cols(self, cost: NDArray[np.float64], ub: NDArray[np.float64] | float, integer: bool) -> NDArray[np.int64]:
        n = cost.size
        idx = np.arange(self.n_col, self.n_col + n)
        self.cost.append(np.asarray(cost, float))
        self.ub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self.integer.append(np.full(n, integer))
        self.n_col += n
        return idx

    def add_rows(self, n: int, lo: NDArray[np.float64] | float, hi: NDArray[np.float64] | float) -> NDArray[np.int64]:
        idx = np.arange(self.n_row, self.n_row + n)
        self.rlo.append(np.broadcast_to(np.asarray(lo, float), (n,)).copy())
        self.rhi.append(np.broadcast_to(np.asarray(hi, float), (n,)).copy())
        self.n_row += n
        return idx

    def coef(self, rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64] | float) -> None:
        rows, cols = np.asarray(rows), np.asarray(cols)
        self.rows.append(rows.ravel())
        self.cols.append(cols.ravel())
        self.vals.append(np.broadcast_to(np.asarray(vals, float), rows.shape).ravel().copy())

    def matrix(self) -> sparse.csc_matrix:
        """The constraint matrix assembled so far (duplicates summed)."""
        a = sparse.csc_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_row, self.n_col),
        )
        a.sum_duplicates()
        return a

    def highs(self, time_limit_s: float, mip_rel_gap: float, threads: int | None,
              zero_cols: NDArray[np.int64] | None = None, *, relax: bool = False,
              one_cols: NDArray[np.int64] | None = None, obj_scale: float = 1.0,
              options: Mapping[str, Any] | None = None) -> Any:
        """A configured ``highspy.Highs`` holding the model (not yet run).

        ``zero_cols`` get the upper bound 0, ``one_cols`` the lower bound 1 (sites fixed open);
        the objective is multiplied by ``obj_scale`` (e.g. 1e-3: USD -> kUSD) to help the LP's numerics.
        """
        import highspy

        cost = np.concatenate(self.cost) * obj_scale
        ub = np.concatenate(self.ub)
        lb = np.zeros(self.n_col)
        if zero_cols is not None and zero_cols.size:
            ub[zero_cols] = 0.0
        if one_cols is not None and one_cols.size:
            lb[one_cols] = np.minimum(1.0, ub[one_cols])
        integ = np.concatenate(self.integer)
        a = self.matrix()
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_col
        lp.num_row_ = self.n_row
        lp.col_cost_ = cost
        lp.col_lower_ = lb
        lp.col_upper_ = ub
        lp.row_lower_ = np.concatenate(self.rlo)
        lp.row_upper_ = np.concatenate(self.rhi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        if not relax:
            lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                               for i in integ]  # fmt: skip
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.1)))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if threads:
            h.setOptionValue("threads", int(threads))
        for key, value in (options or {}).items():
            h.setOptionValue(key, value)
        h.passModel(lp)
        return h

    def solve(self, time_limit_s: float, mip_rel_gap: float, threads: int | None,
              zero_cols: NDArray[np.int64] | None = None, *, relax: bool = False,
              start: NDArray[np.float64] | None = None,
              options: Mapping[str, Any] | None = None, one_cols: NDArray[np.int64] | None = None,
              obj_scale: float = 1.0) -> dict[str, Any]:
        """Solve with HiGHS; ``relax`` drops integrality (duals returned), ``start`` is a MIP start.

        Objective, bound and duals are returned in the model's own units (``obj_scale`` undone).
        """
        import highspy

        h = self.highs(time_limit_s, mip_rel_gap, threads, zero_cols, relax=relax, one_cols=one_cols,
                       obj_scale=obj_scale, options=options)  # fmt: skip
        user_start = False
        if start is not None and not relax:
            hs = highspy.HighsSolution()
            hs.col_value = np.asarray(start, float).tolist()
            hs.value_valid = True
            user_start = h.setSolution(hs) == highspy.HighsStatus.kOk
        return run_highs(h, self.n_col, relax=relax, obj_scale=obj_scale, user_start=user_start,
                         n_int=0 if relax else int(np.concatenate(self.integer).sum()))  # fmt: skip


def run_highs(h: Any, n_col: int, *, relax: bool, obj_scale: float = 1.0, user_start: bool = False,
              n_int: int = 0) -> dict[str, Any]:
    """Run a configured ``highspy.Highs`` and collect status, solution, objective and bound (unscaled)."""
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    status = h.getModelStatus()
    info = h.getInfo()
    sol = h.getSolution()
    has_sol = int(getattr(info, "primal_solution_status", 0)) >= 2 and len(sol.col_value) == n_col
    x = np.asarray(sol.col_value) if has_sol else None
    out: dict[str, Any] = {
        "status": h.modelStatusToString(status),
        "x": x,
        "objective": float(info.objective_function_value) / obj_scale if x is not None else None,
        "dual_bound": float(info.mip_dual_bound) / obj_scale if not relax else None,
        "gap": float(info.mip_gap) if not relax else None,
        "seconds": secs,
        "n_int": n_int,
        "user_start": user_start,
    }
    if relax and x is not None:
        out["row_dual"] = np.asarray(sol.row_dual) / obj_scale
        out["col_dual"] = np.asarray(sol.col_dual) / obj_scale
        out["cost"] = np.asarray(h.getLp().col_cost_) / obj_scale
    return out


def _distances(params: NetworkParams, lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> NDArray[np.float64]:
    return haversine_km(np.asarray(lat1, float), np.asarray(lon1, float), np.asarray(lat2, float),
                        np.asarray(lon2, float)) * params.road_circuity  # fmt: skip


@dataclass
class _Instance:
    """Validated data of one network instance, in solver order."""

    params: NetworkParams
    first: pd.DataFrame
    second: pd.DataFrame
    reuse: pd.DataFrame
    src_ids: NDArray[Any]
    tons: NDArray[np.float64]  # (n_i, 3) tonnes per source and damage state (reusable removed)
    reusable: NDArray[np.float64]  # (n_i,)
    state_mult: NDArray[np.float64]
    dist1: NDArray[np.float64]
    dist2: NDArray[np.float64]
    dist_r: NDArray[np.float64]
    allowed: list[NDArray[np.bool_]]  # per damage state, (n_i, n_first): permitted arc with tonnes to move
    output_ratio: float

    def arc_cost(self, s_idx: int, ii: NDArray[np.int64], jj: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """Per-tonne cost, per-truck cost and effective payload ``min(payload, D)`` of first-echelon arcs."""
        st = DAMAGE_STATES[s_idx]
        need = self.tons[ii, s_idx]
        c_x = self.first["variable_cost_usd_per_t"].to_numpy(float)[jj]
        c_n = self.dist1[ii, jj] * self.params.truck_cost_per_km(st) * self.state_mult[ii]
        m = np.minimum(self.params.payload_t[st], need)
        return c_x, c_n, m


@dataclass
class _Model:
    b: _Builder
    o1: NDArray[np.int64]
    o2: NDArray[np.int64]
    o_r: NDArray[np.int64]
    arcs: list[tuple[NDArray[np.int64], NDArray[np.int64], int, NDArray[np.int64], NDArray[np.int64]]]
    dem_rows: list[NDArray[np.int64]]  # per state: row of each source (-1: none)
    cap1_rows: NDArray[np.int64]
    cons_rows: NDArray[np.int64]
    cons_coef: float
    unmet_cols: dict[int, NDArray[np.int64]]
    u_reuse: NDArray[np.int64]
    y_arcs: tuple[NDArray[np.int64], ...] | None
    r_arcs: tuple[NDArray[np.int64], ...] | None

    def slack_cols(self) -> NDArray[np.int64]:
        return np.concatenate([p[:, 1] for p in self.unmet_cols.values()] + [self.u_reuse[:, 1]]).astype(int)


def _build_model(inst: _Instance, arcsets: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
                 integer_trucks: bool) -> _Model:  # fmt: skip
    """Assemble the MILP over the given first-echelon arcs (one ``(ii, jj)`` pair of arrays per state).

    Per arc two linking rows: ``x <= min(payload, D) n`` (whole truckloads; as tight as ``x <= D n`` when
    ``D < payload``) and ``n <= ceil(D / payload) o_j`` (no truck to a closed site, hence
    ``x <= payload ceil(D/payload) o_j``, the strong facility-location link).
    """
    params, first, second, reuse = inst.params, inst.first, inst.second, inst.reuse
    n_i = inst.tons.shape[0]
    b = _Builder()
    o1 = b.add_cols(first["fixed_cost_usd"].to_numpy(float), 1.0, True)
    o2 = b.add_cols(second["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(second) else np.zeros(0, int)
    o_r = b.add_cols(reuse["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(reuse) else np.zeros(0, int)
    cap1_rows = b.add_rows(len(first), -np.inf, 0.0)
    b.coef(cap1_rows, o1, -first["capacity_t"].to_numpy(float))
    arcs = []
    for s_idx, st in enumerate(DAMAGE_STATES):
        ii, jj = arcsets[s_idx]
        need = inst.tons[ii, s_idx]
        c_x, c_n, m = inst.arc_cost(s_idx, ii, jj)
        n_max = np.ceil(need / params.payload_t[st] - 1e-9)
        x = b.add_cols(c_x, need, False)
        n = b.add_cols(c_n, n_max, integer_trucks)
        arcs.append((ii, jj, s_idx, x, n))
        r = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(r, x, 1.0)
        b.coef(r, n, -m)
        r = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(r, n, 1.0)
        b.coef(r, o1[jj], -n_max)
        b.coef(cap1_rows[jj], x, 1.0)
    unmet_cols: dict[int, NDArray[np.int64]] = {}
    dem_rows: list[NDArray[np.int64]] = []
    for s_idx in range(len(DAMAGE_STATES)):
        srcs = np.flatnonzero(inst.tons[:, s_idx] > 1e-9)
        u = b.add_cols(np.full(srcs.size, params.unmet_penalty_usd_per_t), inst.tons[srcs, s_idx], False)
        unmet_cols[s_idx] = np.column_stack([srcs, u]) if srcs.size else np.zeros((0, 2), int)
        rows = b.add_rows(srcs.size, inst.tons[srcs, s_idx], inst.tons[srcs, s_idx])
        row_of_src = np.full(n_i, -1)
        row_of_src[srcs] = rows
        dem_rows.append(row_of_src)
        b.coef(rows, u, 1.0)
        ii, _, _, x, _ = arcs[s_idx]
        b.coef(row_of_src[ii], x, 1.0)
    y_arcs: tuple[NDArray[np.int64], ...] | None = None
    if len(second):
        jj_grid, hh_grid = np.meshgrid(np.arange(len(first)), np.arange(len(second)), indexing="ij")
        jj, hh = jj_grid.ravel(), hh_grid.ravel()
        pay = params.payload_t["processed"]
        cap_first = first["capacity_t"].to_numpy(float)
        cap_second = second["capacity_t"].to_numpy(float)
        y = b.add_cols(second["variable_cost_usd_per_t"].to_numpy(float)[hh], cap_first[jj] * inst.output_ratio, False)
        n2 = b.add_cols(inst.dist2[jj, hh] * params.truck_cost_per_km("processed"),
                        np.ceil(cap_first[jj] * inst.output_ratio / pay), integer_trucks)  # fmt: skip
        y_arcs = (jj, hh, y, n2)
        cons_rows = b.add_rows(len(first), 0.0, 0.0)
        cons_coef = -inst.output_ratio
        b.coef(cons_rows[jj], y, 1.0)
        cap2 = b.add_rows(len(second), -np.inf, 0.0)
        b.coef(cap2[hh], y, 1.0)
        b.coef(cap2, o2, -cap_second)
        r = b.add_rows(jj.size, -np.inf, 0.0)
        b.coef(r, y, 1.0)
        b.coef(r, o2[hh], -np.minimum(cap_first[jj] * inst.output_ratio, cap_second[hh]))
        r = b.add_rows(jj.size, -np.inf, 0.0)
        b.coef(r, y, 1.0)
        b.coef(r, n2, -pay)
    else:
        # no hub: processed output cannot leave, so spoke inflow is forced to 0 (diagnosed as unmet demand)
        cons_rows = b.add_rows(len(first), -np.inf, 0.0)
        cons_coef = 1.0
    for _ii, jj1, _s, x, _n in arcs:
        b.coef(cons_rows[jj1], x, cons_coef)
    r_arcs = None
    u_reuse = np.zeros((0, 2), int)
    if len(reuse) and (inst.reusable > 1e-9).any():
        srcs = np.flatnonzero(inst.reusable > 1e-9)
        ii = np.repeat(srcs, len(reuse))
        kk = np.tile(np.arange(len(reuse)), srcs.size)
        pay = params.payload_t["intact"]
        rq = inst.reusable
        xr = b.add_cols(reuse["variable_cost_usd_per_t"].to_numpy(float)[kk], rq[ii], False)
        nr = b.add_cols(inst.dist_r[ii, kk] * params.truck_cost_per_km("intact") * inst.state_mult[ii],
                        np.ceil(rq[ii] / pay - 1e-9), integer_trucks)  # fmt: skip
        r_arcs = (ii, kk, xr, nr)
        u = b.add_cols(np.full(srcs.size, params.unmet_penalty_usd_per_t), rq[srcs], False)
        u_reuse = np.column_stack([srcs, u])
        rows = b.add_rows(srcs.size, rq[srcs], rq[srcs])
        row_of = np.full(n_i, -1)
        row_of[srcs] = rows
        b.coef(rows, u, 1.0)
        b.coef(row_of[ii], xr, 1.0)
        capr = b.add_rows(len(reuse), -np.inf, 0.0)
        b.coef(capr[kk], xr, 1.0)
        b.coef(capr, o_r, -reuse["capacity_t"].to_numpy(float))
        rr = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(rr, xr, 1.0)
        b.coef(rr, nr, -np.minimum(pay, rq[ii]))
        rr = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(rr, nr, 1.0)
        b.coef(rr, o_r[kk], -np.ceil(rq[ii] / pay - 1e-9))
    return _Model(b, o1, o2, o_r, arcs, dem_rows, cap1_rows, cons_rows, cons_coef, unmet_cols, u_reuse, y_arcs, r_arcs)


@dataclass
class _Greedy:
    cost_usd: float
    unmet_t: float
    x1: list[tuple[int, int, int, float]]  # (source, spoke, state, tonnes)
    xr: list[tuple[int, int, float]]  # (source, reuse site, tonnes)
    y: list[tuple[int, int, float]]  # (spoke, hub, tonnes)


def _greedy(inst: _Instance) -> _Greedy:
    """Greedy nearest-feasible-site plan (see :func:`greedy_plan_cost`), with its assignments."""
    params, first, second, reuse = inst.params, inst.first, inst.second, inst.reuse
    tons, reusable, mult, d1 = inst.tons, inst.reusable, inst.state_mult, inst.dist1
    cost = 0.0
    unmet = 0.0
    resid1 = first["capacity_t"].to_numpy(float).copy()
    open1 = np.zeros(len(first), bool)
    inflow = np.zeros(len(first))
    fixed1 = first["fixed_cost_usd"].to_numpy(float)
    var1 = first["variable_cost_usd_per_t"].to_numpy(float)
    order = np.argsort(-(tons.sum(axis=1) + reusable), kind="stable")
    x1: list[tuple[int, int, int, float]] = []
    xr: list[tuple[int, int, float]] = []
    ys: list[tuple[int, int, float]] = []
    near = np.argsort(d1, axis=1)
    for i in order:
        for s_idx, st in enumerate(DAMAGE_STATES):
            left = tons[i, s_idx]
            if left <= 1e-9:
                continue
            acc = inst.allowed[s_idx][i]
            for j in near[i]:
                if left <= 1e-9:
                    break
                if not acc[j] or resid1[j] <= 1e-9:
                    continue
                q = left if left <= resid1[j] else resid1[j]
                resid1[j] -= q
                left -= q
                inflow[j] += q
                if not open1[j]:
                    open1[j] = True
                    cost += fixed1[j]
                x1.append((int(i), int(j), s_idx, float(q)))
                cost += q * var1[j]
                cost += math.ceil(q / params.payload_t[st] - 1e-9) * d1[i, j] * params.truck_cost_per_km(st) * mult[i]
            unmet += max(left, 0.0)
    if len(reuse):
        dr = inst.dist_r
        resid = reuse["capacity_t"].to_numpy(float).copy()
        open_r = np.zeros(len(reuse), bool)
        for i in order:
            left = reusable[i]
            for k in np.argsort(dr[i]):
                if left <= 1e-9:
                    break
                if resid[k] <= 1e-9:
                    continue
                q = min(left, resid[k])
                resid[k] -= q
                left -= q
                if not open_r[k]:
                    open_r[k] = True
                    cost += float(reuse["fixed_cost_usd"][k])
                xr.append((int(i), int(k), float(q)))
                cost += q * float(reuse["variable_cost_usd_per_t"][k])
                cost += math.ceil(q / params.payload_t["intact"] - 1e-9) * dr[i, k] * params.truck_cost_per_km("intact") * mult[i]
            unmet += max(left, 0.0)
    if len(second):
        d2 = inst.dist2
        resid2 = second["capacity_t"].to_numpy(float).copy()
        open2 = np.zeros(len(second), bool)
        for j in np.flatnonzero(inflow > 1e-9):
            left = inflow[j] * inst.output_ratio
            for h in np.argsort(d2[j]):
                if left <= 1e-9:
                    break
                if resid2[h] <= 1e-9:
                    continue
                q = min(left, resid2[h])
                resid2[h] -= q
                left -= q
                if not open2[h]:
                    open2[h] = True
                    cost += float(second["fixed_cost_usd"][h])
                ys.append((int(j), int(h), float(q)))
                cost += q * float(second["variable_cost_usd_per_t"][h])
                cost += math.ceil(q / params.payload_t["processed"] - 1e-9) * d2[j, h] * params.truck_cost_per_km("processed")
            unmet += max(left, 0.0)
    elif inflow.sum() > 0:
        unmet += float(inflow.sum())
    return _Greedy(float(cost), float(unmet), x1, xr, ys)


def _start_vector(model: _Model, inst: _Instance, g: _Greedy) -> NDArray[np.float64] | None:
    """The greedy plan as a full column vector of ``model`` (a MIP start), or None if it does not map."""
    if g.unmet_t > 1e-6:
        return None
    params = inst.params
    v = np.zeros(model.b.n_col)
    n_first = len(inst.first)
    pos = []
    for ii, jj, _s, _x, _n in model.arcs:
        p = np.full((inst.tons.shape[0], n_first), -1)
        p[ii, jj] = np.arange(ii.size)
        pos.append(p)
    for i, j, s_idx, q in g.x1:
        k = pos[s_idx][i, j]
        if k < 0:
            return None
        _ii, _jj, _s, x, n = model.arcs[s_idx]
        v[x[k]] += q
        v[n[k]] = math.ceil(v[x[k]] / params.payload_t[DAMAGE_STATES[s_idx]] - 1e-9)
        v[model.o1[j]] = 1.0
    if g.y:
        jj, hh, y, n2 = model.y_arcs  # type: ignore[misc]
        n_second = len(inst.second)
        for j, h, q in g.y:
            k = j * n_second + h
            v[y[k]] += q
            v[n2[k]] = math.ceil(v[y[k]] / params.payload_t["processed"] - 1e-9)
            v[model.o2[h]] = 1.0
    if g.xr:
        if model.r_arcs is None:
            return None
        ii_r, kk, xr, nr = model.r_arcs
        pos_r = {(int(a), int(c)): k for k, (a, c) in enumerate(zip(ii_r, kk, strict=True))}
        for i, k_site, q in g.xr:
            k = pos_r.get((i, k_site))
            if k is None:
                return None
            v[xr[k]] += q
            v[nr[k]] = math.ceil(v[xr[k]] / params.payload_t["intact"] - 1e-9)
            v[model.o_r[k_site]] = 1.0
    return v


def _reduced_costs(inst: _Instance, model: _Model, lp: dict[str, Any], s_idx: int,
                   ii: NDArray[np.int64], jj: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:  # fmt: skip
    """LP reduced cost of first-echelon arcs (absent from ``model``) under the LP duals of ``model``.

    An absent arc is the pair ``(x, n)`` with its two linking rows. Giving the new rows the duals
    ``w1 = max(0, -rc_x)`` and ``0`` keeps the extended dual feasible iff ``rc = rc_x + c_n / m >= 0``
    (``rc_x`` the reduced cost of ``x`` on the existing rows). Returns ``(rc, penalty)``: ``penalty`` is a
    lower bound on the objective increase of any integer plan that uses the arc (``n >= 1`` truck),
    ``c_n + m * min(rc_x, 0)`` [USD], valid once every absent arc has ``rc >= 0``.
    """
    y = lp["row_dual"]
    c_x, c_n, m = inst.arc_cost(s_idx, ii, jj)
    rows = model.dem_rows[s_idx][ii]
    y_dem = np.where(rows >= 0, y[np.maximum(rows, 0)], 0.0)
    rc_x = c_x - y_dem - y[model.cap1_rows[jj]] - model.cons_coef * y[model.cons_rows[jj]]
    rc = rc_x + c_n / m
    penalty = c_n + m * np.minimum(rc_x, 0.0)
    return rc, penalty


def plan_network(
    sites: pd.DataFrame,
    demand: pd.DataFrame,
    params: NetworkParams | None = None,
    *,
    output_ratio: float = 1.0,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-4,
    k_nearest: int | None = None,
    threads: int | None = None,
    rules: pd.DataFrame | None = None,
    integer_trucks: bool = True,
    warm_start: bool = True,
    price_arcs: bool = True,
    solver_options: Mapping[str, Any] | None = None,
    method: str = "auto",
    lp_solver: str = "ipm",
    auto_arc_limit: int = 5000,
    heuristic_share: float = 0.7,
    polish_arc_limit: int = 5000,
    lp_arc_limit: int = 150_000,
) -> NetworkPlan:
    """Solve the network plan and the greedy baseline in the same run.

    Parameters
    ----------
    sites, demand : pandas.DataFrame
        As described in :mod:`circulith.planning.network`.
    params : NetworkParams, optional
        Costs, payloads, emissions (default: shipped defaults).
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
    rules : pandas.DataFrame, optional
        Transport rules (default: shipped table); road must be permitted for every state moved.
    integer_trucks : bool
        True: whole truckloads on every arc (exact, harder). False: truck-km priced continuously
        (``tonnes / payload``), trucks reported rounded up; a relaxation stated in ``notes``.
    warm_start : bool
        Give HiGHS the greedy plan as its first incumbent.
    price_arcs : bool
        With ``k_nearest``: price the omitted arcs (see above).
    solver_options : mapping, optional
        Extra HiGHS options (name -> value), e.g. ``{"mip_heuristic_effort": 0.1}``.
    method : str
        ``milp``: the MILP above (with ``k_nearest`` screening if given). ``heuristic``: the LP-guided
        heuristic of :mod:`circulith.planning.network_heuristics` (LP bound over every permitted arc with
        truck-cover and site-count inequalities, LP rounding, local search on the open set, integer trucks on
        the chosen sites), then the full MILP started from that plan for the time left, which may improve
        plan and bound. ``auto`` (default): ``heuristic`` when there are more than ``auto_arc_limit``
        permitted first-echelon arcs, no ``k_nearest`` and integer trucks, else ``milp``.
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

    Returns
    -------
    NetworkPlan
        ``dual_bound_usd`` and ``mip_gap`` are bounds for the *full* problem: the solver's own when no arc
        was screened out, else the bound proven by pricing and reduced-cost fixing (None if nothing could
        be proven); ``notes`` give the LP bound and what the restricted solve reported.
    """
    t_start = time.perf_counter()
    params = params or NetworkParams.from_defaults()
    s_df = validate_sites(sites)
    d_df = validate_demand(demand)
    rules = load_transport_rules() if rules is None else rules
    if not 0 < output_ratio <= 1:
        raise InvalidInput(Problem(None, "output_ratio", f"must lie in (0, 1], got {output_ratio}"))
    if k_nearest is not None and k_nearest < 1:
        raise InvalidInput(Problem(None, "k_nearest", f"must be >= 1, got {k_nearest}"))
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

    if method not in ("auto", "milp", "heuristic"):
        raise InvalidInput(Problem(None, "method", f"must be auto, milp or heuristic, got {method!r}"))
    inst = _make_instance(s_df, d_df, params, output_ratio)
    allowed = inst.allowed
    greedy = _greedy(inst)
    n_permitted = sum(int(a.sum()) for a in allowed)
    if method == "heuristic" or (method == "auto" and k_nearest is None and integer_trucks
                                 and n_permitted > auto_arc_limit):  # fmt: skip
        if not integer_trucks:
            notes.append("heuristic path: plans move whole trucks whatever integer_trucks says")
        plan = _plan_heuristic(inst, greedy, s_df, d_df, t_start, time_limit_s, mip_rel_gap, threads,
                               lp_solver, heuristic_share if n_permitted <= polish_arc_limit else 1.0,
                               solver_options, notes, lp_arc_limit)  # fmt: skip
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
    lp_model: _Model | None = None
    if screened and price_arcs:
        for _round in range(50):
            pricing_rounds += 1
            lp_model = _build_model(inst, arcsets(), integer_trucks=False)
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
                rc, _pen = _reduced_costs(inst, lp_model, lp_res, s_idx, ii, jj)
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

    model = _build_model(inst, arcsets(), integer_trucks)
    n_arcs = sum(m.sum() for m in in_set)
    n_allowed = sum(a.sum() for a in allowed)
    start = _start_vector(model, inst, greedy) if warm_start else None
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
                    _rc, pen = _reduced_costs(inst, lp_model, lp_res, s_idx, ii, jj)
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
    if lp_bound is not None:
        notes.append(f"lp_bound_usd={lp_bound:.6f}")
    proven = res["status"] == "Optimal" and gap is not None and gap <= mip_rel_gap * (1 + 1e-9) + 1e-12
    return _assemble_plan(inst, model, res, greedy, s_df, d_df, obj, bound, gap, screening, notes, proven)


def _plan_heuristic(inst: _Instance, greedy: _Greedy, s_df: pd.DataFrame, d_df: pd.DataFrame, t_start: float,
                    time_limit_s: float, mip_rel_gap: float, threads: int | None, lp_solver: str,
                    heuristic_share: float, solver_options: Mapping[str, Any] | None,
                    notes: list[str], lp_arc_limit: int) -> NetworkPlan | None:  # fmt: skip
    """The ``method="heuristic"`` path of :func:`plan_network` (None: relaxation infeasible, diagnose)."""
    from circulith.planning.network_heuristics import (
        OBJ_SCALE,
        add_cardinality_rows,
        add_cover_rows,
        lp_guided_plan,
        transfer_start,
    )

    budget = max(1.0, heuristic_share * time_limit_s - (time.perf_counter() - t_start))
    hr = lp_guided_plan(inst, budget, threads=threads, lp_solver=lp_solver, mip_rel_gap=max(mip_rel_gap, 1e-3),
                        lp_arc_limit=lp_arc_limit, seed_arcs=[(i, j, s) for i, j, s, _q in greedy.x1])
    notes.extend(hr.notes)
    if hr.lp_status == "Infeasible":
        return None
    bound = hr.lp_bound_usd
    best: tuple[_Model, dict[str, Any]] | None = (hr.model, hr.res) if hr.model is not None and hr.res is not None else None
    obj = hr.cost_usd
    heur_cost = hr.cost_usd
    all_arcs = [tuple(np.nonzero(a)) for a in inst.allowed]
    left = time_limit_s - (time.perf_counter() - t_start)
    full: _Model | None = None
    polish = "not run (no time left)" if heuristic_share < 1.0 else "not run (instance too large)"
    if left > 1.0 and heuristic_share < 1.0:
        full = _build_model(inst, all_arcs, integer_trucks=True)  # type: ignore[arg-type]
        add_cover_rows(full, inst)
        add_cardinality_rows(full, inst)
        start: NDArray[np.float64] | None
        if best is not None and best[1]["x"] is not None:
            start = transfer_start(best[0], best[1]["x"], full, inst)
        else:
            start = _start_vector(full, inst, greedy)
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
        full = full or _build_model(inst, all_arcs, integer_trucks=True)  # type: ignore[arg-type]
        v = _start_vector(full, inst, greedy)
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
    if heur_cost is not None:
        notes.append(f"heuristic_cost_usd={heur_cost:.6f}")
    if hr.lp_bound_usd is not None:
        notes.append(f"lp_bound_usd={hr.lp_bound_usd:.6f}")
    screening = ("none: LP bound over all permitted arcs; plan from LP rounding and local search on the open "
                 "sites, integer trucks on arcs to the chosen sites")  # fmt: skip
    return _assemble_plan(inst, model, out_res, greedy, s_df, d_df, obj, bound, gap, screening, notes, proven)


def _assemble_plan(inst: _Instance, model: _Model, res: dict[str, Any], greedy: _Greedy, s_df: pd.DataFrame,
                   d_df: pd.DataFrame, obj: float | None, bound: float | None, gap: float | None, screening: str,
                   notes: list[str], proven_optimal: bool) -> NetworkPlan:  # fmt: skip
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
                                  DAMAGE_STATES[s_idx], "road", trucks, km, REGIME[DAMAGE_STATES[s_idx]]))  # fmt: skip
        if model.y_arcs is not None:
            jj, hh, y, n2 = model.y_arcs
            for k in np.flatnonzero(sol[y] > 1e-6):
                trucks = int(math.ceil(sol[n2[k]] - 1e-6))
                km = float(inst.dist2[jj[k], hh[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(first["site_id"][jj[k]]), str(second["site_id"][hh[k]]), float(sol[y[k]]),
                                  "processed", "road", trucks, km, REGIME["processed"]))  # fmt: skip
        if model.r_arcs is not None:
            ii, kk, xr, nr = model.r_arcs
            for k in np.flatnonzero(sol[xr] > 1e-6):
                trucks = int(math.ceil(sol[nr[k]] - 1e-6))
                km = float(inst.dist_r[ii[k], kk[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(src_ids[ii[k]]), str(reuse["site_id"][kk[k]]), float(sol[xr[k]]),
                                  "reusable", "road", trucks, km, REGIME["reusable"]))  # fmt: skip
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
    )


def greedy_plan_cost(
    sites: pd.DataFrame, demand: pd.DataFrame, params: NetworkParams, *, output_ratio: float = 1.0
) -> tuple[float, float]:
    """Greedy nearest-feasible-site baseline, costed with the same cost function as the MILP.

    Sources in decreasing tonnes send each damage state to the nearest permitted first-echelon site with
    spare capacity (opening it if needed, splitting when full); reusable tonnes go to the nearest reuse
    site; each open spoke sends its output to the nearest hub with spare capacity. Trucks are
    ``ceil(tonnes / payload)`` per arc. :func:`plan_network` computes the same plan and gives it to the
    solver as its first incumbent.

    Returns
    -------
    (cost_usd, unmet_t) : tuple of float
    """
    s_df = sites if "chem_set" in sites.columns else validate_sites(sites)
    d_df = demand if "reusable_share" in demand.columns and "state" in demand.columns else validate_demand(demand)
    plan_inst = _make_instance(s_df, d_df, params, output_ratio)
    g = _greedy(plan_inst)
    return g.cost_usd, g.unmet_t


def _make_instance(s_df: pd.DataFrame, d_df: pd.DataFrame, params: NetworkParams,
                         output_ratio: float) -> _Instance:  # fmt: skip
    first = s_df[s_df["kind"].isin(FIRST_ECHELON)].reset_index(drop=True)
    second = s_df[s_df["kind"].isin(SECOND_ECHELON)].reset_index(drop=True)
    reuse = s_df[s_df["kind"].isin(REUSE)].reset_index(drop=True)
    tons = split_by_state(d_df)
    reusable = tons[:, 0] * d_df["reusable_share"].to_numpy(float)
    if reuse.empty:
        reusable = np.zeros_like(reusable)
    tons[:, 0] -= reusable
    chem = d_df["chemistry"].to_numpy()
    allowed = []
    for s_idx, st in enumerate(DAMAGE_STATES):
        a = np.zeros((len(d_df), len(first)), dtype=bool)
        for c in np.unique(chem):
            a[(chem == c) & (tons[:, s_idx] > 1e-9)] = site_accepts(first, st, str(c))[None, :]
        allowed.append(a)
    return _Instance(
        params=params, first=first, second=second, reuse=reuse, src_ids=d_df["source_id"].to_numpy(),
        tons=tons, reusable=reusable,
        state_mult=np.array([params.state_cost_multiplier.get(s, 1.0) for s in d_df["state"]]),
        dist1=_distances(params, d_df["lat"], d_df["lon"], first["lat"], first["lon"]),
        dist2=_distances(params, first["lat"], first["lon"], second["lat"], second["lon"]) if len(second)
        else np.zeros((len(first), 0)),
        dist_r=_distances(params, d_df["lat"], d_df["lon"], reuse["lat"], reuse["lon"]) if len(reuse)
        else np.zeros((len(d_df), 0)),
        allowed=allowed, output_ratio=output_ratio,
    )  # fmt: skip
