"""The network MILP's data and model: validated instance, sparse model builder, HiGHS runs, reduced costs.

The formulation is stated in :mod:`circulith.planning.network_milp`; this module turns validated sites and
demand into a :class:`NetworkInstance` (solver order, distances or the planner's own cost matrix, permitted
arcs) and a :class:`NetworkModel` (columns and rows of the MILP over chosen first-echelon arcs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from circulith.planning.network import (
    DAMAGE_STATES,
    FIRST_ECHELON,
    REUSE,
    SECOND_ECHELON,
    NetworkParams,
    haversine_km,
    site_accepts,
    split_by_state,
)


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


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send whatever is written to standard output (HiGHS' start-up banner) to standard error instead.

    HiGHS prints its banner on file descriptor 1 when the first solver object is made, which would break
    machine-readable output (``--json | jq``); the descriptor is redirected for that moment only.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real descriptor (e.g. a captured stream): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class ModelBuilder:
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
        with _stdout_to_stderr():
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


def road_distances(params: NetworkParams, lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> NDArray[np.float64]:
    """Estimated road distance: great-circle distance times the road circuity factor [km]."""
    return haversine_km(np.asarray(lat1, float), np.asarray(lon1, float), np.asarray(lat2, float),
                        np.asarray(lon2, float)) * params.road_circuity  # fmt: skip


@dataclass
class NetworkInstance:
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
    # transport priced per truck-km over haul* [km] plus a per-tonne tariff* [USD/t]; by default haul = dist and
    # tariff = 0; a planner's cost matrix (network_costs.apply_cost_matrix) replaces them arc by arc
    haul1: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    haul2: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    haul_r: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    tariff1: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    tariff2: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    tariff_r: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    max_open_first: int | None = None  # at most this many spokes/dismantlers open
    max_open_second: int | None = None  # at most this many hubs/refiners open
    budget_usd: float | None = None  # fixed costs of the opened sites within this budget [USD per period]
    cost_basis: dict[tuple[str, str], str] = field(default_factory=dict)  # (from_id, to_id) -> what priced it

    def __post_init__(self) -> None:
        if self.haul1.shape != self.dist1.shape:
            self.haul1, self.haul2, self.haul_r = self.dist1.copy(), self.dist2.copy(), self.dist_r.copy()
            self.tariff1 = np.zeros_like(self.dist1)
            self.tariff2 = np.zeros_like(self.dist2)
            self.tariff_r = np.zeros_like(self.dist_r)

    def arc_cost(self, s_idx: int, ii: NDArray[np.int64], jj: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """Per-tonne cost, per-truck cost and effective payload ``min(payload, D)`` of first-echelon arcs."""
        st = DAMAGE_STATES[s_idx]
        need = self.tons[ii, s_idx]
        c_x = self.first["variable_cost_usd_per_t"].to_numpy(float)[jj] + self.tariff1[ii, jj]
        c_n = self.haul1[ii, jj] * self.params.truck_cost_per_km(st) * self.state_mult[ii]
        m = np.minimum(self.params.payload_t[st], need)
        return c_x, c_n, m


@dataclass
class NetworkModel:
    b: ModelBuilder
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


def _add_limit_rows(b: ModelBuilder, inst: NetworkInstance, o1: NDArray[np.int64], o2: NDArray[np.int64],
                    o_r: NDArray[np.int64]) -> None:  # fmt: skip
    """Site-count rows (``sum o <= N`` per echelon) and the budget row (``sum fixed o <= B``) when set."""
    if inst.max_open_first is not None:
        b.coef(b.add_rows(1, -np.inf, float(inst.max_open_first)).repeat(o1.size), o1, 1.0)
    if inst.max_open_second is not None and o2.size:
        b.coef(b.add_rows(1, -np.inf, float(inst.max_open_second)).repeat(o2.size), o2, 1.0)
    if inst.budget_usd is not None:
        cols = np.concatenate([o1, o2, o_r]).astype(int)
        fixed = np.concatenate([inst.first["fixed_cost_usd"].to_numpy(float),
                                inst.second["fixed_cost_usd"].to_numpy(float)[: o2.size],
                                inst.reuse["fixed_cost_usd"].to_numpy(float)[: o_r.size]])  # fmt: skip
        b.coef(b.add_rows(1, -np.inf, float(inst.budget_usd)).repeat(cols.size), cols, fixed)


def build_model(inst: NetworkInstance, arcsets: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
                 integer_trucks: bool) -> NetworkModel:  # fmt: skip
    """Assemble the MILP over the given first-echelon arcs (one ``(ii, jj)`` pair of arrays per state).

    Per arc two linking rows: ``x <= min(payload, D) n`` (whole truckloads; as tight as ``x <= D n`` when
    ``D < payload``) and ``n <= ceil(D / payload) o_j`` (no truck to a closed site, hence
    ``x <= payload ceil(D/payload) o_j``, the strong facility-location link).
    """
    params, first, second, reuse = inst.params, inst.first, inst.second, inst.reuse
    n_i = inst.tons.shape[0]
    b = ModelBuilder()
    o1 = b.add_cols(first["fixed_cost_usd"].to_numpy(float), 1.0, True)
    o2 = b.add_cols(second["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(second) else np.zeros(0, int)
    o_r = b.add_cols(reuse["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(reuse) else np.zeros(0, int)
    cap1_rows = b.add_rows(len(first), -np.inf, 0.0)
    b.coef(cap1_rows, o1, -first["capacity_t"].to_numpy(float))
    _add_limit_rows(b, inst, o1, o2, o_r)
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
    y_arcs = None
    if len(second):
        jg, hg = np.meshgrid(np.arange(len(first)), np.arange(len(second)), indexing="ij")
        jj, hh = jg.ravel(), hg.ravel()
        pay = params.payload_t["processed"]
        cap_first = first["capacity_t"].to_numpy(float)
        cap_second = second["capacity_t"].to_numpy(float)
        y = b.add_cols(second["variable_cost_usd_per_t"].to_numpy(float)[hh] + inst.tariff2[jj, hh],
                       cap_first[jj] * inst.output_ratio, False)
        n2 = b.add_cols(inst.haul2[jj, hh] * params.truck_cost_per_km("processed"),
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
        xr = b.add_cols(reuse["variable_cost_usd_per_t"].to_numpy(float)[kk] + inst.tariff_r[ii, kk], rq[ii], False)
        nr = b.add_cols(inst.haul_r[ii, kk] * params.truck_cost_per_km("intact") * inst.state_mult[ii],
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
    return NetworkModel(b, o1, o2, o_r, arcs, dem_rows, cap1_rows, cons_rows, cons_coef, unmet_cols, u_reuse, y_arcs, r_arcs)



def reduced_costs(inst: NetworkInstance, model: NetworkModel, lp: dict[str, Any], s_idx: int,
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


def make_instance(s_df: pd.DataFrame, d_df: pd.DataFrame, params: NetworkParams,
                         output_ratio: float) -> NetworkInstance:  # fmt: skip
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
    return NetworkInstance(
        params=params, first=first, second=second, reuse=reuse, src_ids=d_df["source_id"].to_numpy(),
        tons=tons, reusable=reusable,
        state_mult=np.array([params.state_cost_multiplier.get(s, 1.0) for s in d_df["state"]]),
        dist1=road_distances(params, d_df["lat"], d_df["lon"], first["lat"], first["lon"]),
        dist2=road_distances(params, first["lat"], first["lon"], second["lat"], second["lon"]) if len(second)
        else np.zeros((len(first), 0)),
        dist_r=road_distances(params, d_df["lat"], d_df["lon"], reuse["lat"], reuse["lon"]) if len(reuse)
        else np.zeros((len(d_df), 0)),
        allowed=allowed, output_ratio=output_ratio,
    )  # fmt: skip
