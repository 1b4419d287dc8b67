"""Greedy nearest-feasible-site baseline of the network plan, costed with the MILP's own cost function."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from circulith.planning.network import DAMAGE_STATES, NetworkParams, validate_demand, validate_sites
from circulith.planning.network_model import NetworkInstance, NetworkModel, make_instance


@dataclass
class GreedyPlan:
    cost_usd: float
    unmet_t: float
    x1: list[tuple[int, int, int, float]]  # (source, spoke, state, tonnes)
    xr: list[tuple[int, int, float]]  # (source, reuse site, tonnes)
    y: list[tuple[int, int, float]]  # (spoke, hub, tonnes)


def greedy_assign(inst: NetworkInstance) -> GreedyPlan:
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
                cost += q * (var1[j] + inst.tariff1[i, j])
                cost += math.ceil(q / params.payload_t[st] - 1e-9) * inst.haul1[i, j] * params.truck_cost_per_km(st) * mult[i]
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
                cost += q * (float(reuse["variable_cost_usd_per_t"][k]) + inst.tariff_r[i, k])
                cost += math.ceil(q / params.payload_t["intact"] - 1e-9) * inst.haul_r[i, k] * params.truck_cost_per_km("intact") * mult[i]
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
                cost += q * (float(second["variable_cost_usd_per_t"][h]) + inst.tariff2[j, h])
                cost += math.ceil(q / params.payload_t["processed"] - 1e-9) * inst.haul2[j, h] * params.truck_cost_per_km("processed")
            unmet += max(left, 0.0)
    elif inflow.sum() > 0:
        unmet += float(inflow.sum())
    return GreedyPlan(float(cost), float(unmet), x1, xr, ys)


def start_vector(model: NetworkModel, inst: NetworkInstance, g: GreedyPlan) -> NDArray[np.float64] | None:
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
        ii, kk, xr, nr = model.r_arcs
        pos_r = {(int(a), int(c)): k for k, (a, c) in enumerate(zip(ii, kk, strict=True))}
        for i, k_site, q in g.xr:
            k = pos_r.get((i, k_site))
            if k is None:
                return None
            v[xr[k]] += q
            v[nr[k]] = math.ceil(v[xr[k]] / params.payload_t["intact"] - 1e-9)
            v[model.o_r[k_site]] = 1.0
    return v


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
    plan_inst = make_instance(s_df, d_df, params, output_ratio)
    g = greedy_assign(plan_inst)
    return g.cost_usd, g.unmet_t
