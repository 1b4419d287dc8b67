"""LP-guided primal heuristic and LP bound for large network instances.

The full integer-truck MILP of :mod:`circulith.planning.network_milp` is exact but its root LP alone is
slow on thousands of arcs. For large instances :func:`lp_guided_plan` instead

1. solves the LP relaxation over *every* permitted arc (interior point by default, objective in kUSD),
   strengthened by the truck-cover inequalities ``sum_j n[i,j,s] >= ceil(D[i,s] / payload_s)`` (valid for
   every plan that serves all demand: the tonnes of a source and damage state need that many whole trucks
   in total). Its value is a **proven lower bound** on the cost of every integer plan;
2. rounds the site-opening variables (``o_j >= threshold`` for a few thresholds) and keeps the best open
   set, costed by the same LP with the sites fixed (warm-started simplex on the one HiGHS model);
3. improves the open set by local search (close one site, open one site, swap one open site for a closed
   one nearby), each move costed by the warm-started fixed-site LP;
4. rounds every truck count of the fixed-site LP's flows up (a feasible integer plan, checked row by row) and
   hands it as the start to the integer-truck MILP restricted to the chosen sites (arcs to closed sites
   removed): the better plan's cost, set against the bound of step 1, is a **proven gap**.

Everything here is internal to :func:`circulith.planning.network_milp.plan_network` (``method="heuristic"``
or ``"auto"`` on large instances), which reports the bound, the gap and what was proven.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from circulith.planning.network import DAMAGE_STATES
from circulith.planning.network_model import (
    NetworkInstance,
    NetworkModel,
    build_model,
    reduced_costs,
    run_highs,
)

log = logging.getLogger(__name__)
OBJ_SCALE = 1.0e-3  # USD -> kUSD in the solver: fixed costs ~1e3, per-tonne costs ~1e-1 after scaling
ROUNDING_THRESHOLDS = (0.5, 0.3, 0.1, 0.01, 1e-6)


def add_cover_rows(model: NetworkModel, inst: NetworkInstance) -> list[NDArray[np.int64]]:
    """Add ``sum_j n[i,j,s] >= ceil(D[i,s] / payload_s)`` for every source and state with ``D > payload``.

    Valid only when all demand is served (unmet slacks fixed to 0). Returns, per damage state, the row of
    each source (-1: none).
    """
    b = model.b
    n_i = inst.tons.shape[0]
    row_maps: list[NDArray[np.int64]] = []
    for ii, _jj, s_idx, _x, n in model.arcs:
        pay = inst.params.payload_t[DAMAGE_STATES[s_idx]]
        d = inst.tons[:, s_idx]
        srcs = np.flatnonzero(d > pay * (1 + 1e-9))
        row_of = np.full(n_i, -1)
        row_maps.append(row_of)
        if not srcs.size:
            continue
        rows = b.add_rows(srcs.size, np.ceil(d[srcs] / pay - 1e-9), np.inf)
        row_of[srcs] = rows
        keep = row_of[ii] >= 0
        b.coef(row_of[ii[keep]], n[keep], 1.0)
    if model.r_arcs is not None:
        ii, _kk, _xr, nr = model.r_arcs
        pay = inst.params.payload_t["intact"]
        srcs = np.flatnonzero(inst.reusable > pay * (1 + 1e-9))
        if srcs.size:
            rows = b.add_rows(srcs.size, np.ceil(inst.reusable[srcs] / pay - 1e-9), np.inf)
            row_of = np.full(n_i, -1)
            row_of[srcs] = rows
            keep = row_of[ii] >= 0
            b.coef(row_of[ii[keep]], nr[keep], 1.0)
    return row_maps


def _k_min(capacity: NDArray[np.float64], total: float) -> int:
    """Fewest sites whose largest capacities hold ``total`` (0 if nothing to hold)."""
    if total <= 1e-9:
        return 0
    cum = np.cumsum(np.sort(capacity)[::-1])
    return (
        int(np.searchsorted(cum, total * (1 - 1e-12))) + 1
        if cum.size and cum[-1] >= total * (1 - 1e-12)
        else 0
    )


def add_cardinality_rows(model: NetworkModel, inst: NetworkInstance) -> list[str]:
    """Add ``sum o_j >= k_min`` per echelon (and for the spokes permitted for damaged / critical tonnes).

    ``k_min`` is the fewest sites whose largest capacities can hold the tonnes that must pass through them:
    the integer rounding of the aggregate capacity constraint ``sum cap_j o_j >= T``, which the LP
    relaxation meets with fractional openings. Valid when all demand is served. Returns the rows added
    (as text for the notes).
    """
    b = model.b
    added: list[str] = []
    cap1 = inst.first["capacity_t"].to_numpy(float)
    tons = inst.tons
    groups: list[tuple[str, NDArray[np.int64], NDArray[np.float64], float]] = [
        ("first echelon", model.o1, cap1, float(tons.sum())),
    ]
    for col, label, t in (("accepts_damaged", "damaged-permitted spokes", float(tons[:, 1:].sum())),
                          ("accepts_critical", "critical-permitted spokes", float(tons[:, 2].sum()))):  # fmt: skip
        ok = inst.first[col].to_numpy(bool)
        groups.append((label, model.o1[ok], cap1[ok], t))
    if len(inst.second):
        groups.append(("second echelon", model.o2, inst.second["capacity_t"].to_numpy(float),
                       float(tons.sum()) * inst.output_ratio))  # fmt: skip
    if len(inst.reuse) and model.r_arcs is not None:
        groups.append(
            ("reuse", model.o_r, inst.reuse["capacity_t"].to_numpy(float), float(inst.reusable.sum()))
        )
    for label, cols, cap, total in groups:
        k = _k_min(cap, total)
        if k >= 2:
            r = b.add_rows(1, float(k), np.inf)
            b.coef(np.full(cols.size, r[0]), cols, 1.0)
            added.append(f"{label} >= {k}")
    return added


@dataclass
class HeuristicResult:
    """What :func:`lp_guided_plan` found and proved."""

    lp_status: str
    lp_bound_usd: float | None
    lp_seconds: float
    model: NetworkModel | None = None  # the model the plan lives in (arcs to chosen sites only)
    res: dict[str, Any] | None = None  # the solve of ``model`` (as from ``ModelBuilder.solve``)
    cost_usd: float | None = None
    open_sites: NDArray[np.int64] | None = None  # o-columns (of the full model) of the chosen open set
    proxy_evaluations: int = 0
    local_search_moves: int = 0
    notes: list[str] = field(default_factory=list)


def _site_cols(model: NetworkModel) -> NDArray[np.int64]:
    return np.concatenate([model.o1, model.o2, model.o_r]).astype(int)


def lp_guided_plan(inst: NetworkInstance, time_limit_s: float, *, threads: int | None = None,
                   lp_solver: str = "ipm", mip_rel_gap: float = 1e-4,
                   local_search: bool = True, lp_arc_limit: int = 150_000, k_start: int = 10,
                   seed_arcs: Any = None) -> HeuristicResult:  # fmt: skip
    """LP bound, LP rounding, local search on the open set, integer-truck solve on the chosen sites.

    Parameters
    ----------
    inst : NetworkInstance
        The validated instance.
    time_limit_s : float
        Budget for all four steps [s]: the LP up to 60 %, local search half of what is left after rounding, the
        integer-truck solve the rest.
    threads : int, optional
        HiGHS threads.
    lp_solver : str
        HiGHS ``solver`` option for the relaxation (``ipm``, ``simplex``, ``hipo``, ``choose``).
    mip_rel_gap : float
        Gap tolerance of the final fixed-site MILP [-].
    local_search : bool
        Run step 3.
    lp_arc_limit : int
        Above this many permitted arcs the LP starts from each source's ``k_start`` nearest permitted sites
        per damage state (plus ``seed_arcs``) and is priced: omitted arcs with a negative reduced cost
        (cover-row duals included) are added until none is left, so its value is still the LP over every arc.
    k_start : int
        Arcs per source and damage state in the first pricing round.
    seed_arcs : iterable of (source, site, state), optional
        Arcs kept from the start (e.g. the greedy plan's, so that the first restricted LP is feasible).

    Returns
    -------
    HeuristicResult
        ``lp_bound_usd`` is None when the relaxation did not solve to optimality (then nothing is proven);
        ``res`` is None when no plan was found (e.g. the relaxation is infeasible: diagnose with the MILP).
    """

    t0 = time.perf_counter()

    def left() -> float:
        return time_limit_s - (time.perf_counter() - t0)

    allowed = inst.allowed
    n_permitted = sum(int(a.sum()) for a in allowed)
    priced = n_permitted > lp_arc_limit
    if priced:
        in_set = []
        for a in allowed:
            d = np.where(a, inst.dist1, np.inf)
            k = min(k_start, d.shape[1])
            kth = np.partition(d, k - 1, axis=1)[:, k - 1 : k]
            in_set.append(a & (d <= kth))
        for i, j, s_idx in seed_arcs or ():
            in_set[s_idx][i, j] = True
    else:
        in_set = [a.copy() for a in allowed]
    rounds = 0
    lp_secs = 0.0
    while True:
        rounds += 1
        full = build_model(inst, [tuple(np.nonzero(m)) for m in in_set], integer_trucks=False)  # type: ignore[misc]
        cover = add_cover_rows(full, inst)
        card = add_cardinality_rows(full, inst)
        h = full.b.highs(max(left() * 0.6, 1.0), mip_rel_gap, threads, zero_cols=full.slack_cols(), relax=True,
                         obj_scale=OBJ_SCALE, options={"solver": lp_solver})  # fmt: skip
        lp = run_highs(h, full.b.n_col, relax=True, obj_scale=OBJ_SCALE)
        lp_secs += lp["seconds"]
        if not priced or lp["status"] != "Optimal" or lp["x"] is None:
            break
        added = 0
        for s_idx in range(len(DAMAGE_STATES)):
            ii, jj = np.nonzero(allowed[s_idx] & ~in_set[s_idx])
            if ii.size:
                rc = _priced_reduced_cost(inst, full, lp, cover[s_idx], s_idx, ii, jj)
                neg = rc < -1e-7 * (1.0 + np.abs(rc))
                in_set[s_idx][ii[neg], jj[neg]] = True
                added += int(neg.sum())
        log.info("pricing round %d: LP %.6g, %d arcs added", rounds, lp["objective"], added)
        if added == 0:
            break
        if left() < 0.5 * time_limit_s:
            lp = {**lp, "status": "Pricing stopped"}
            break
    n_in = sum(int(m.sum()) for m in in_set)
    out = HeuristicResult(lp_status=lp["status"], lp_bound_usd=None, lp_seconds=lp_secs)
    if lp["status"] != "Optimal" or lp["x"] is None:
        out.notes.append(f"LP relaxation: {lp['status']} after {lp_secs:.1f} s ({rounds} round(s), {n_in} of "
                         f"{n_permitted} arcs); no bound proven")  # fmt: skip
        if lp["status"] == "Infeasible":
            return out
    else:
        out.lp_bound_usd = float(lp["objective"])
        how = (f"{n_in} of {n_permitted} permitted arcs after {rounds} pricing round(s) from the {k_start} nearest "
               f"(no omitted arc has a negative reduced cost, so this is the LP over all arcs)"
               if priced else f"all {n_permitted} permitted arcs")  # fmt: skip
        out.notes.append(f"LP relaxation ({how}; truck-cover inequalities, site-count inequalities "
                         f"{card or 'none'}; HiGHS {lp_solver}) {out.lp_bound_usd:.6g} USD in {lp_secs:.1f} s")  # fmt: skip
    if lp["x"] is None:
        return out
    site_cols = _site_cols(full)
    o_val = lp["x"][site_cols]
    ub0 = np.concatenate(full.b.ub)[site_cols]

    # proxy: the same LP with the open set fixed, warm-started simplex on the one HiGHS object
    h.setOptionValue("solver", "simplex")
    h.setOptionValue("time_limit", 1e9)
    cache: dict[bytes, float] = {}

    def proxy(open_mask: NDArray[np.bool_]) -> float:
        key = np.packbits(open_mask).tobytes()
        if key in cache:
            return cache[key]
        lo = open_mask.astype(float)
        hi = np.where(open_mask, ub0, 0.0)
        h.changeColsBounds(site_cols.size, site_cols, lo, hi)
        # HiGHS' time limit counts the object's whole run time, earlier runs included
        h.setOptionValue("time_limit", float(h.getRunTime() + max(left() * 0.5, 0.5)))
        r = run_highs(h, full.b.n_col, relax=True, obj_scale=OBJ_SCALE)
        val = float(r["objective"]) if r["status"] == "Optimal" and r["objective"] is not None else math.inf
        log.debug("fixed-site LP: %d open, %s, %.1f s", int(open_mask.sum()), r["status"], r["seconds"])
        cache[key] = val
        out.proxy_evaluations += 1
        return val

    best_mask: NDArray[np.bool_] | None = None
    best_val = math.inf
    for theta in ROUNDING_THRESHOLDS:
        mask = o_val >= theta
        v = proxy(mask)
        if v < best_val:
            best_mask, best_val = mask, v
        if best_mask is not None and left() < 0.3 * time_limit_s:
            break
    if best_mask is None:
        out.notes.append("LP rounding found no feasible open set")
        return out
    out.notes.append(
        f"LP rounding: best open set of {int(best_mask.sum())} sites, fixed-site LP {best_val:.6g} USD"
    )

    t_ls = time.perf_counter()
    if local_search:
        budget_end = time.perf_counter() + 0.5 * max(left(), 0.0)
        kinds = _site_coords(inst)
        improved = True
        while improved and time.perf_counter() < budget_end:
            improved = False
            for mask in _neighbours(best_mask, o_val, kinds):
                if time.perf_counter() >= budget_end:
                    break
                v = proxy(mask)
                if v < best_val * (1 - 1e-9):
                    best_mask, best_val = mask, v
                    out.local_search_moves += 1
                    improved = True
                    break
        out.notes.append(f"local search: {out.local_search_moves} improving move(s) in {out.proxy_evaluations} "
                         f"fixed-site LP evaluations ({time.perf_counter() - t_ls:.1f} s); open set of {int(best_mask.sum())} sites, fixed-site LP "
                         f"{best_val:.6g} USD")  # fmt: skip

    # a feasible integer plan at once: the fixed-site LP's flows with every truck count rounded up
    cache.clear()
    proxy(best_mask)  # re-solve: the HiGHS object holds the last neighbour evaluated
    rounded: NDArray[np.float64] | None = None
    rounded_cost = math.inf
    if h.modelStatusToString(h.getModelStatus()) == "Optimal":
        rounded = round_up_trucks(full, inst, np.asarray(h.getSolution().col_value))
        if max_violation(full, rounded, full.slack_cols()) <= 1e-6:
            rounded_cost = float(np.concatenate(full.b.cost) @ rounded)
            out.notes.append(f"fixed-site LP flows with trucks rounded up: {rounded_cost:.6g} USD")
        else:
            rounded = None
    if rounded is None:
        out.notes.append("fixed-site LP flows with trucks rounded up: no feasible point (LP not solved)")

    # integer trucks on the chosen sites only (arcs of the LP), started from the rounded plan
    n_first = len(inst.first)
    open_first = best_mask[:n_first]
    sub_arcs = []
    for a in in_set:
        ii, jj = np.nonzero(a & open_first[None, :])
        sub_arcs.append((ii, jj))
    sub = build_model(inst, sub_arcs, integer_trucks=True)
    add_cover_rows(sub, inst)
    closed = _site_cols(sub)[~best_mask]
    zero = np.concatenate([sub.slack_cols(), closed])
    start = transfer_start(full, rounded, sub, inst) if rounded is not None else None
    res = sub.b.solve(max(left(), 1.0), mip_rel_gap, threads, zero_cols=zero, start=start,
                      obj_scale=OBJ_SCALE)  # fmt: skip
    out.notes.append(f"integer trucks on the chosen sites: HiGHS {res['status']}, {res['seconds']:.1f} s, "
                     f"restricted gap {res['gap']}, rounded start {'accepted' if res['user_start'] else 'refused'}")  # fmt: skip
    if start is not None and (res["x"] is None or res["objective"] > rounded_cost * (1 + 1e-9)):
        res = {**res, "x": start, "objective": float(np.concatenate(sub.b.cost) @ start), "status": "rounded"}
    if res["x"] is not None and max_violation(sub, res["x"], zero) <= 1e-5:
        out.model, out.res, out.cost_usd = sub, res, float(res["objective"])
        out.open_sites = _site_cols(full)[best_mask]
    return out


def max_violation(model: NetworkModel, v: NDArray[np.float64], zero_cols: NDArray[np.int64]) -> float:
    """Largest violation of a row (relative to ``1 + |rhs|``), a bound or integrality of ``model`` by ``v``."""
    b = model.b
    r = b.matrix() @ v
    lo, hi = np.concatenate(b.rlo), np.concatenate(b.rhi)
    rhs = np.maximum(np.abs(np.where(np.isfinite(lo), lo, 0.0)), np.abs(np.where(np.isfinite(hi), hi, 0.0)))
    row = float(np.max((np.maximum(lo - r, 0.0) + np.maximum(r - hi, 0.0)) / (1.0 + rhs), initial=0.0))
    ub = np.concatenate(b.ub).copy()
    ub[zero_cols] = 0.0
    bnd = float(max(np.max(v - ub, initial=0.0), np.max(-v, initial=0.0)))
    integ = np.concatenate(b.integer)
    frac = float(np.max(np.abs(v[integ] - np.round(v[integ])), initial=0.0))
    return max(row, bnd, frac)


def _priced_reduced_cost(inst: NetworkInstance, model: NetworkModel, lp: dict[str, Any], cover_row: NDArray[np.int64],
                         s_idx: int, ii: NDArray[np.int64], jj: NDArray[np.int64]) -> NDArray[np.float64]:  # fmt: skip
    """LP reduced cost of absent first-echelon arcs, truck-cover duals included.

    An absent arc is ``(x, n)`` with rows ``x - m n <= 0`` and ``n - n_max o_j <= 0``. With ``rc_x`` the
    reduced cost of ``x`` on the existing rows and ``rc_n = c_n - v`` that of ``n`` (``v >= 0`` the dual of
    the source's cover row), the extended dual stays feasible (new rows' duals ``-max(0, -rc_x)`` and 0)
    iff ``rc_n >= m max(0, -rc_x)``; the returned ``min(rc_n / m, rc_x + rc_n / m)`` is >= 0 exactly then.
    """

    rc0, _pen = reduced_costs(inst, model, lp, s_idx, ii, jj)
    _c_x, c_n, m = inst.arc_cost(s_idx, ii, jj)
    rc_x = rc0 - c_n / m
    y = lp["row_dual"]
    rows = cover_row[ii]
    v = np.where(rows >= 0, y[np.maximum(rows, 0)], 0.0)
    rc_n = c_n - v
    return np.minimum(rc_n / m, rc_x + rc_n / m)


def round_up_trucks(model: NetworkModel, inst: NetworkInstance, sol: NDArray[np.float64]) -> NDArray[np.float64]:
    """A feasible integer point from an LP point with integral site openings: flows kept, trucks rounded up.

    ``n = ceil(x / m)`` per arc meets ``x <= m n``, ``n <= n_max o`` (as ``x <= D``) and the truck-cover rows
    (a sum of ceilings is at least the ceiling of the sum).
    """
    v = np.asarray(sol, float).copy()
    site_cols = _site_cols(model)
    v[site_cols] = np.round(v[site_cols])
    v[model.slack_cols()] = 0.0
    pay = inst.params.payload_t
    for ii, _jj, s_idx, x, n in model.arcs:
        m = np.minimum(pay[DAMAGE_STATES[s_idx]], inst.tons[ii, s_idx])
        v[x] = np.where(v[x] > 1e-9, v[x], 0.0)
        v[n] = np.ceil(v[x] / m - 1e-9)
    if model.y_arcs is not None:
        _j, _h, y, n2 = model.y_arcs
        v[y] = np.where(v[y] > 1e-9, v[y], 0.0)
        v[n2] = np.ceil(v[y] / pay["processed"] - 1e-9)
    if model.r_arcs is not None:
        ii, _k, xr, nr = model.r_arcs
        m = np.minimum(pay["intact"], inst.reusable[ii])
        v[xr] = np.where(v[xr] > 1e-9, v[xr], 0.0)
        v[nr] = np.ceil(v[xr] / m - 1e-9)
    return v


def _site_coords(inst: NetworkInstance) -> dict[str, Any]:
    """Echelon label and coordinates of every site column, in :func:`_site_cols` order."""
    frames = [inst.first, inst.second, inst.reuse]
    echelon = np.concatenate([np.full(len(f), k) for k, f in enumerate(frames)])
    lat = np.concatenate([f["lat"].to_numpy(float) for f in frames])
    lon = np.concatenate([f["lon"].to_numpy(float) for f in frames])
    return {"echelon": echelon, "lat": lat, "lon": lon}


def _neighbours(mask: NDArray[np.bool_], o_val: NDArray[np.float64], sc: dict[str, Any],
                n_swap: int = 3) -> Any:  # fmt: skip
    """Close one, open one, swap one open site for one of its ``n_swap`` nearest closed sites (same echelon).

    Ordered by promise: close the least used (small LP ``o``), open the most wanted (large LP ``o``).
    """
    opened = np.flatnonzero(mask)
    closed = np.flatnonzero(~mask)
    for j in opened[np.argsort(o_val[opened], kind="stable")]:
        m = mask.copy()
        m[j] = False
        yield m
    for k in closed[np.argsort(-o_val[closed], kind="stable")]:
        m = mask.copy()
        m[k] = True
        yield m
    ech, lat, lon = sc["echelon"], sc["lat"], sc["lon"]
    for j in opened[np.argsort(o_val[opened], kind="stable")]:
        cand = closed[ech[closed] == ech[j]]
        if not cand.size:
            continue
        d = (lat[cand] - lat[j]) ** 2 + ((lon[cand] - lon[j]) * np.cos(np.radians(lat[j]))) ** 2
        for k in cand[np.argsort(d, kind="stable")[:n_swap]]:
            m = mask.copy()
            m[j] = False
            m[k] = True
            yield m


def transfer_start(
    src: NetworkModel, x_src: NDArray[np.float64], dst: NetworkModel, inst: NetworkInstance
) -> NDArray[np.float64]:
    """Map a solution of a model over a subset of first-echelon arcs onto a model over a superset.

    Site, hub-arc, reuse-arc and slack columns have the same layout in every model of one instance; only
    the first-echelon arcs differ and are matched by (source, site, state).
    """
    v = np.zeros(dst.b.n_col)
    for name in ("o1", "o2", "o_r"):
        v[getattr(dst, name)] = x_src[getattr(src, name)]
    if src.y_arcs is not None and dst.y_arcs is not None:
        for a, b in zip(src.y_arcs[2:], dst.y_arcs[2:], strict=True):
            v[b] = x_src[a]
    if src.r_arcs is not None and dst.r_arcs is not None:
        for a, b in zip(src.r_arcs[2:], dst.r_arcs[2:], strict=True):
            v[b] = x_src[a]
    n_first = len(inst.first)
    for (ii_s, jj_s, _s, x_s, n_s), (ii_d, jj_d, _sd, x_d, n_d) in zip(src.arcs, dst.arcs, strict=True):
        pos = np.full((inst.tons.shape[0], n_first), -1)
        pos[ii_d, jj_d] = np.arange(ii_d.size)
        k = pos[ii_s, jj_s]
        ok = k >= 0
        v[x_d[k[ok]]] = x_src[x_s[ok]]
        v[n_d[k[ok]]] = np.round(x_src[n_s[ok]])
    return v
