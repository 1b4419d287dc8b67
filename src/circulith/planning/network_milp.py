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
"""

from __future__ import annotations

import logging
import math
import time
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

    def solve(self, time_limit_s: float, mip_rel_gap: float, threads: int | None,
              zero_cols: NDArray[np.int64] | None = None) -> dict[str, Any]:
        import highspy

        cost = np.concatenate(self.cost)
        ub = np.concatenate(self.ub)
        if zero_cols is not None and zero_cols.size:
            ub[zero_cols] = 0.0
        integ = np.concatenate(self.integer)
        a = sparse.csc_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_row, self.n_col),
        )
        a.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_col
        lp.num_row_ = self.n_row
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(self.n_col)
        lp.col_upper_ = ub
        lp.row_lower_ = np.concatenate(self.rlo)
        lp.row_upper_ = np.concatenate(self.rhi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integ]
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if threads:
            h.setOptionValue("threads", int(threads))
        h.passModel(lp)
        t0 = time.perf_counter()
        h.run()
        secs = time.perf_counter() - t0
        status = h.getModelStatus()
        info = h.getInfo()
        sol = h.getSolution()
        has_sol = bool(getattr(info, "primal_solution_status", 0) >= 2) or len(sol.col_value) == self.n_col
        x = np.asarray(sol.col_value) if has_sol and len(sol.col_value) == self.n_col else None
        return {
            "status": h.modelStatusToString(status),
            "x": x,
            "objective": float(info.objective_function_value) if x is not None else None,
            "dual_bound": float(info.mip_dual_bound),
            "gap": float(info.mip_gap),
            "seconds": secs,
            "n_int": int(integ.sum()),
        }


def _distances(params: NetworkParams, lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> NDArray[np.float64]:
    return haversine_km(np.asarray(lat1, float), np.asarray(lon1, float), np.asarray(lat2, float),
                        np.asarray(lon2, float)) * params.road_circuity  # fmt: skip


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
        Solver time limit [s].
    mip_rel_gap : float
        Relative gap at which HiGHS stops and declares optimality [-].
    k_nearest : int, optional
        Screening: keep only each source's ``k`` nearest permitted first-echelon sites per damage state
        (optimality is then relative to the screened arcs, stated in ``screening``).
    threads : int, optional
        Solver threads.
    rules : pandas.DataFrame, optional
        Transport rules (default: shipped table); road must be permitted for every state moved.
    integer_trucks : bool
        True: whole truckloads on every arc (exact, harder). False: truck-km priced continuously
        (``tonnes / payload``), trucks reported rounded up; a relaxation stated in ``notes``.

    Returns
    -------
    NetworkPlan
    """
    params = params or NetworkParams.from_defaults()
    s_df = validate_sites(sites)
    d_df = validate_demand(demand)
    rules = load_transport_rules() if rules is None else rules
    if not 0 < output_ratio <= 1:
        raise InvalidInput(Problem(None, "output_ratio", f"must lie in (0, 1], got {output_ratio}"))
    for st in DAMAGE_STATES:
        if "road" not in permitted_modes(rules, st):
            raise InvalidInput(Problem(None, "transport_rules", f"road transport not permitted for {st} batteries"))
    bad_states = sorted(set(d_df["state"]) - {""} - set(params.state_cost_multiplier))
    notes: list[str] = []
    if not integer_trucks:
        notes.append("continuous truck relaxation: truck-km priced as tonnes/payload; reported trucks rounded up")
    if bad_states and params.state_cost_multiplier:
        notes.append(f"no cost multiplier for state(s) {bad_states}: 1.0 used")

    first = s_df[s_df["kind"].isin(FIRST_ECHELON)].reset_index(drop=True)
    second = s_df[s_df["kind"].isin(SECOND_ECHELON)].reset_index(drop=True)
    reuse = s_df[s_df["kind"].isin(REUSE)].reset_index(drop=True)
    if first.empty:
        raise InvalidInput(Problem(None, "kind", "no spoke or dismantler site in the sites file"), source="sites")

    tons = split_by_state(d_df)  # (n_i, 3)
    reusable = tons[:, 0] * d_df["reusable_share"].to_numpy(float)
    if reuse.empty:
        reusable = np.zeros_like(reusable)
    tons[:, 0] -= reusable
    n_i = len(d_df)
    state_mult = np.array([params.state_cost_multiplier.get(s, 1.0) for s in d_df["state"]])
    dist1 = _distances(params, d_df["lat"], d_df["lon"], first["lat"], first["lon"])
    dist2 = _distances(params, first["lat"], first["lon"], second["lat"], second["lon"]) if len(second) else np.zeros((len(first), 0))
    dist_r = _distances(params, d_df["lat"], d_df["lon"], reuse["lat"], reuse["lon"]) if len(reuse) else np.zeros((n_i, 0))

    b = _Builder()
    # open binaries
    o1 = b.add_cols(first["fixed_cost_usd"].to_numpy(float), 1.0, True)
    o2 = b.add_cols(second["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(second) else np.zeros(0, int)
    o_r = b.add_cols(reuse["fixed_cost_usd"].to_numpy(float), 1.0, True) if len(reuse) else np.zeros(0, int)

    arcs: list[tuple[NDArray[np.int64], NDArray[np.int64], int, NDArray[np.int64], NDArray[np.int64]]] = []
    cap1_rows = b.add_rows(len(first), -np.inf, 0.0)
    b.coef(cap1_rows, o1, -first["capacity_t"].to_numpy(float))
    var1 = first["variable_cost_usd_per_t"].to_numpy(float)
    chem = d_df["chemistry"].to_numpy()
    screening = "none (all permitted arcs)"
    for s_idx, st in enumerate(DAMAGE_STATES):
        need = tons[:, s_idx]
        ii_list, jj_list = [], []
        for c in np.unique(chem):
            acc = site_accepts(first, st, c)
            srcs = np.flatnonzero((chem == c) & (need > 1e-9))
            if srcs.size == 0 or not acc.any():
                continue
            cand = np.flatnonzero(acc)
            if k_nearest is not None and cand.size > k_nearest:
                near = np.argsort(dist1[np.ix_(srcs, cand)], axis=1)[:, :k_nearest]
                ii_list.append(np.repeat(srcs, k_nearest))
                jj_list.append(cand[near].ravel())
                screening = f"{k_nearest} nearest permitted first-echelon sites per source and damage state"
            else:
                ii_list.append(np.repeat(srcs, cand.size))
                jj_list.append(np.tile(cand, srcs.size))
        ii = np.concatenate(ii_list) if ii_list else np.zeros(0, int)
        jj = np.concatenate(jj_list) if jj_list else np.zeros(0, int)
        pay = params.payload_t[st]
        x = b.add_cols(var1[jj], need[ii], False)
        km = dist1[ii, jj]
        n = b.add_cols(km * params.truck_cost_per_km(st) * state_mult[ii], np.ceil(need[ii] / pay) if ii.size else 0.0, integer_trucks)
        arcs.append((ii, jj, s_idx, x, n))
        # linking and truckloads
        r = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(r, x, 1.0)
        b.coef(r, o1[jj], -need[ii])
        # x <= min(payload, D) * n is valid for integer n and much tighter than x <= payload * n when D < payload
        r = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(r, x, 1.0)
        b.coef(r, n, -np.minimum(pay, need[ii]))
        # no truck to a closed site
        r = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(r, n, 1.0)
        b.coef(r, o1[jj], -np.ceil(need[ii] / pay))
        b.coef(cap1_rows[jj], x, 1.0)
    # demand rows with unmet slack
    unmet_cols: dict[int, NDArray[np.int64]] = {}
    for s_idx in range(len(DAMAGE_STATES)):
        srcs = np.flatnonzero(tons[:, s_idx] > 1e-9)
        u = b.add_cols(np.full(srcs.size, params.unmet_penalty_usd_per_t), tons[srcs, s_idx], False)
        unmet_cols[s_idx] = np.column_stack([srcs, u]) if srcs.size else np.zeros((0, 2), int)
        rows = b.add_rows(srcs.size, tons[srcs, s_idx], tons[srcs, s_idx])
        row_of_src = np.full(n_i, -1)
        row_of_src[srcs] = rows
        b.coef(rows, u, 1.0)
        ii, _, _, x, _ = arcs[s_idx]
        b.coef(row_of_src[ii], x, 1.0)
    # second echelon
    y_arcs = None
    if len(second):
        jj, hh = np.meshgrid(np.arange(len(first)), np.arange(len(second)), indexing="ij")
        jj, hh = jj.ravel(), hh.ravel()
        pay = params.payload_t["processed"]
        cap_first = first["capacity_t"].to_numpy(float)
        y = b.add_cols(second["variable_cost_usd_per_t"].to_numpy(float)[hh], cap_first[jj] * output_ratio, False)
        n2 = b.add_cols(dist2[jj, hh] * params.truck_cost_per_km("processed"),
                        np.ceil(cap_first[jj] * output_ratio / pay), integer_trucks)  # fmt: skip
        y_arcs = (jj, hh, y, n2)
        cons = b.add_rows(len(first), 0.0, 0.0)
        b.coef(cons[jj], y, 1.0)
        for _ii, jj1, _s, x, _n in arcs:
            b.coef(cons[jj1], x, -output_ratio)
        cap2 = b.add_rows(len(second), -np.inf, 0.0)
        b.coef(cap2[hh], y, 1.0)
        b.coef(cap2, o2, -second["capacity_t"].to_numpy(float))
        r = b.add_rows(jj.size, -np.inf, 0.0)
        b.coef(r, y, 1.0)
        b.coef(r, o2[hh], -np.minimum(cap_first[jj] * output_ratio, second["capacity_t"].to_numpy(float)[hh]))
        r = b.add_rows(jj.size, -np.inf, 0.0)
        b.coef(r, y, 1.0)
        b.coef(r, n2, -pay)
    else:
        # no hub: processed output cannot leave; the spoke inflow is forced to 0 by the diagnosis below
        r = b.add_rows(len(first), -np.inf, 0.0)
        for _ii, jj1, _s, x, _n in arcs:
            b.coef(r[jj1], x, 1.0)
    # reuse path
    r_arcs = None
    u_reuse = np.zeros((0, 2), int)
    if len(reuse) and (reusable > 1e-9).any():
        srcs = np.flatnonzero(reusable > 1e-9)
        ii = np.repeat(srcs, len(reuse))
        kk = np.tile(np.arange(len(reuse)), srcs.size)
        pay = params.payload_t["intact"]
        xr = b.add_cols(reuse["variable_cost_usd_per_t"].to_numpy(float)[kk], reusable[ii], False)
        nr = b.add_cols(dist_r[ii, kk] * params.truck_cost_per_km("intact") * state_mult[ii],
                        np.ceil(reusable[ii] / pay), integer_trucks)  # fmt: skip
        r_arcs = (ii, kk, xr, nr)
        u = b.add_cols(np.full(srcs.size, params.unmet_penalty_usd_per_t), reusable[srcs], False)
        u_reuse = np.column_stack([srcs, u])
        rows = b.add_rows(srcs.size, reusable[srcs], reusable[srcs])
        row_of = np.full(n_i, -1)
        row_of[srcs] = rows
        b.coef(rows, u, 1.0)
        b.coef(row_of[ii], xr, 1.0)
        capr = b.add_rows(len(reuse), -np.inf, 0.0)
        b.coef(capr[kk], xr, 1.0)
        b.coef(capr, o_r, -reuse["capacity_t"].to_numpy(float))
        rr = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(rr, xr, 1.0)
        b.coef(rr, o_r[kk], -reusable[ii])
        rr = b.add_rows(ii.size, -np.inf, 0.0)
        b.coef(rr, xr, 1.0)
        b.coef(rr, nr, -np.minimum(pay, reusable[ii]))

    # First solve with demand as a hard constraint (slacks fixed to 0): a cleaner model for the solver.
    # Only if that is infeasible, solve again with the penalised slacks to measure and name the shortfall.
    slack_cols = np.concatenate([p[:, 1] for p in unmet_cols.values()] + [u_reuse[:, 1]]).astype(int)
    t_start = time.perf_counter()
    res = b.solve(time_limit_s, mip_rel_gap, threads, zero_cols=slack_cols)
    if res["status"] == "Infeasible":
        remaining = max(1.0, time_limit_s - (time.perf_counter() - t_start))
        res = b.solve(remaining, mip_rel_gap, threads)
        res["hard_status"] = "Infeasible"
    diagnosis = diagnose_capacity(s_df, d_df, output_ratio=output_ratio)
    src_ids = d_df["source_id"].to_numpy()
    flows: list[Flow] = []
    unmet: list[dict[str, Any]] = []
    opened: list[str] = []
    emissions_kg = 0.0
    sol = res["x"]
    if sol is not None:
        for ii, jj, s_idx, x, n in arcs:
            val = sol[x]
            for k in np.flatnonzero(val > 1e-6):
                trucks = int(math.ceil(sol[n[k]] - 1e-6))
                km = float(dist1[ii[k], jj[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(src_ids[ii[k]]), str(first["site_id"][jj[k]]), float(val[k]),
                                  DAMAGE_STATES[s_idx], "road", trucks, km, REGIME[DAMAGE_STATES[s_idx]]))  # fmt: skip
        if y_arcs is not None:
            jj, hh, y, n2 = y_arcs
            for k in np.flatnonzero(sol[y] > 1e-6):
                trucks = int(math.ceil(sol[n2[k]] - 1e-6))
                km = float(dist2[jj[k], hh[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(first["site_id"][jj[k]]), str(second["site_id"][hh[k]]), float(sol[y[k]]),
                                  "processed", "road", trucks, km, REGIME["processed"]))  # fmt: skip
        if r_arcs is not None:
            ii, kk, xr, nr = r_arcs
            for k in np.flatnonzero(sol[xr] > 1e-6):
                trucks = int(math.ceil(sol[nr[k]] - 1e-6))
                km = float(dist_r[ii[k], kk[k]])
                emissions_kg += trucks * km * params.truck_emissions_kg_co2e_per_km
                flows.append(Flow(str(src_ids[ii[k]]), str(reuse["site_id"][kk[k]]), float(sol[xr[k]]),
                                  "reusable", "road", trucks, km, REGIME["reusable"]))  # fmt: skip
        for s_idx, pairs in unmet_cols.items():
            for src, col in pairs:
                if sol[col] > 1e-6:
                    unmet.append({"source_id": str(src_ids[src]), "damage_state": DAMAGE_STATES[s_idx],
                                  "tonnes": float(sol[col])})  # fmt: skip
        for src, col in u_reuse:
            if sol[col] > 1e-6:
                unmet.append({"source_id": str(src_ids[src]), "damage_state": "reusable", "tonnes": float(sol[col])})
        for df_, o in ((first, o1), (second, o2), (reuse, o_r)):
            opened.extend(str(df_["site_id"][k]) for k in np.flatnonzero(sol[o] > 0.5))
    greedy_cost, greedy_unmet = greedy_plan_cost(s_df, d_df, params, output_ratio=output_ratio)
    solver_status = res["status"]
    obj, bound, gap = res["objective"], res["dual_bound"], res["gap"]
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
        # report costs without the diagnostic penalty
        pen = params.unmet_penalty_usd_per_t * short
        obj = obj - pen if obj is not None else None
        bound = None
        gap = None
    elif solver_status == "Optimal":
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
        n_variables=b.n_col,
        n_integer=res["n_int"],
        n_constraints=b.n_row,
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
    ``ceil(tonnes / payload)`` per arc.

    Returns
    -------
    (cost_usd, unmet_t) : tuple of float
    """
    first = sites[sites["kind"].isin(FIRST_ECHELON)].reset_index(drop=True)
    second = sites[sites["kind"].isin(SECOND_ECHELON)].reset_index(drop=True)
    reuse = sites[sites["kind"].isin(REUSE)].reset_index(drop=True)
    tons = split_by_state(demand)
    reusable = tons[:, 0] * demand["reusable_share"].to_numpy(float)
    if reuse.empty:
        reusable[:] = 0.0
    tons[:, 0] -= reusable
    mult = np.array([params.state_cost_multiplier.get(s, 1.0) for s in demand["state"]])
    d1 = _distances(params, demand["lat"], demand["lon"], first["lat"], first["lon"])
    cost = 0.0
    unmet = 0.0
    resid1 = first["capacity_t"].to_numpy(float).copy()
    open1 = np.zeros(len(first), bool)
    inflow = np.zeros(len(first))
    chem = demand["chemistry"].to_numpy()
    order = np.argsort(-demand["tonnes"].to_numpy(float), kind="stable")
    for i in order:
        for s_idx, st in enumerate(DAMAGE_STATES):
            left = tons[i, s_idx]
            if left <= 1e-9:
                continue
            acc = site_accepts(first, st, str(chem[i]))
            for j in np.argsort(d1[i]):
                if left <= 1e-9:
                    break
                if not acc[j] or resid1[j] <= 1e-9:
                    continue
                q = min(left, resid1[j])
                resid1[j] -= q
                left -= q
                inflow[j] += q
                if not open1[j]:
                    open1[j] = True
                    cost += float(first["fixed_cost_usd"][j])
                cost += q * float(first["variable_cost_usd_per_t"][j])
                cost += math.ceil(q / params.payload_t[st] - 1e-9) * d1[i, j] * params.truck_cost_per_km(st) * mult[i]
            unmet += left
    if len(reuse):
        dr = _distances(params, demand["lat"], demand["lon"], reuse["lat"], reuse["lon"])
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
                cost += q * float(reuse["variable_cost_usd_per_t"][k])
                cost += math.ceil(q / params.payload_t["intact"] - 1e-9) * dr[i, k] * params.truck_cost_per_km("intact") * mult[i]
            unmet += left
    if len(second):
        d2 = _distances(params, first["lat"], first["lon"], second["lat"], second["lon"])
        resid2 = second["capacity_t"].to_numpy(float).copy()
        open2 = np.zeros(len(second), bool)
        for j in np.flatnonzero(inflow > 1e-9):
            left = inflow[j] * output_ratio
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
                cost += q * float(second["variable_cost_usd_per_t"][h])
                cost += math.ceil(q / params.payload_t["processed"] - 1e-9) * d2[j, h] * params.truck_cost_per_km("processed")
            unmet += left
    elif inflow.sum() > 0:
        unmet += float(inflow.sum())
    return float(cost), float(unmet)
