"""Ageing-aware partial capacity test: electrode alignment fitted per cell to rest voltages.

Why
---
Reading a partial test's SOC span through a fixed OCV-SOC table (``triage.capacity``) fails on aged
cells: loss of lithium inventory and of active material shift and stretch the two electrodes against
each other, so the aged cell's OCV curve is no longer the fresh one (PyBaMM oracle: +16 to +23 SOH
points at 68-72 % SOH on NMC, benchmarks/RESULTS.md). Here the cell's OCV is modelled from the two
half-cell potentials (the electrode-alignment / "dV/dQ" model of Dubarry, Truchot & Liaw 2012, J. Power
Sources 219, 204-216, and Birkl et al. 2017, J. Power Sources 341, 373-386):

``OCV(q) = U_p(y0 + q / C_p) - U_n(x0 - q / C_n)``

with ``q`` the charge removed since the first rest [Ah], ``x0, y0`` the negative and positive
stoichiometries at the first rest and ``C_n, C_p`` the electrodes' capacities [Ah]. The four are fitted
per cell (bounded least squares, several starts) to the rest voltages of a partial discharge with
rests; the capacity is the charge between the voltage limits under the fitted alignment.

Refusal
-------
The fit is refused (``InvalidInput``) with the reason when: fewer than 5 rest points; the residual RMS
exceeds ``max_residual_v`` (half-cell curves do not describe the cell); the 1-sigma capacity
uncertainty (from the fit's Jacobian, and the spread of the capacity over the starts that fit as
well within the noise) exceeds ``max_rel_sd`` of the capacity (the rests do not pin down
the alignment, typical on the flat LFP plateau); or the capacity falls outside 20-120 % of rated.

Half-cell curves: ``reference/models/halfcell_ocp.csv`` (Chen et al. 2020 graphite and NMC811; Afshar
et al. 2017 LFP; tabulated from PyBaMM by ``benchmarks/triage_tabulate_ocp.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from circulith.errors import InvalidInput, Problem

#: Half-cell materials per chemistry family: (positive, negative).
CHEMISTRY_MATERIALS = {"LFP": ("lfp_afshar2017", "graphite_lgm50"), "NMC": ("nmc811_lgm50", "graphite_lgm50")}


@dataclass(frozen=True)
class AlignmentEstimate:
    """Capacity from a fitted electrode alignment."""

    capacity_ah: float
    soh_pct: float
    soh_low_pct: float
    soh_high_pct: float
    x0: float
    y0: float
    cn_ah: float
    cp_ah: float
    residual_rms_v: float
    n_points: int


@lru_cache(maxsize=8)
def half_cell(material: str) -> tuple[np.ndarray, np.ndarray]:
    """Stoichiometry [-] (ascending) and potential [V] of a shipped half-cell curve."""
    text = resources.files("circulith.reference").joinpath("models/halfcell_ocp.csv").read_text("utf-8")
    tab = pd.read_csv(io.StringIO(text))
    sub = tab[tab["material"] == material].sort_values("stoichiometry")
    if sub.empty:
        known = ", ".join(sorted(tab["material"].unique()))
        raise InvalidInput(f"no half-cell curve '{material}' (known: {known})", source="halfcell_ocp.csv")
    return sub["stoichiometry"].to_numpy(dtype=float), sub["ocp_v"].to_numpy(dtype=float)


def cell_ocv(q_ah: np.ndarray, params: np.ndarray, positive: str, negative: str) -> np.ndarray:
    """OCV [V] at charge removed ``q_ah`` [Ah] for alignment ``params = (x0, y0, C_n, C_p)``."""
    x0, y0, cn, cp = params
    sp, up = half_cell(positive)
    sn, un = half_cell(negative)
    y = y0 + np.asarray(q_ah) / cp
    x = x0 - np.asarray(q_ah) / cn
    return np.interp(y, sp, up) - np.interp(x, sn, un)


def capacity_between(params: np.ndarray, positive: str, negative: str, v_min: float, v_max: float) -> float:
    """Charge between ``v_max`` and ``v_min`` (or the stoichiometry limits) under an alignment [Ah]."""
    x0, y0, cn, cp = params
    sp, _ = half_cell(positive)
    sn, _ = half_cell(negative)
    q_lo = max((x0 - sn[-1]) * cn, (sp[0] - y0) * cp)  # most charged: x at its top or y at its bottom
    q_hi = min((x0 - sn[0]) * cn, (sp[-1] - y0) * cp)  # most discharged
    if q_hi <= q_lo:
        return 0.0
    q = np.linspace(q_lo, q_hi, 4000)
    v = cell_ocv(q, params, positive, negative)
    inside = (v <= v_max) & (v >= v_min)
    if not inside.any():
        return 0.0
    return float(q[inside][-1] - q[inside][0])


def fit_alignment(q_ah: np.ndarray, ocv_v: np.ndarray, *, chemistry_family: str, rated_capacity_ah: float,
                  v_min: float, v_max: float, voltage_sigma_v: float = 0.002, max_residual_v: float = 0.01,
                  max_rel_sd: float = 0.05) -> AlignmentEstimate:
    """Fit the electrode alignment to rest points and return the capacity with a 95 % interval.

    Parameters
    ----------
    q_ah : numpy.ndarray
        Charge removed at each rest since the first rest [Ah] (first 0, increasing).
    ocv_v : numpy.ndarray
        Rest voltage at each point [V] (relaxed, e.g. after 1 h).
    chemistry_family : str
        ``'LFP'`` or ``'NMC'`` (half-cell curves of :data:`CHEMISTRY_MATERIALS`).
    rated_capacity_ah : float
        Rated capacity [Ah] (SOH denominator and scale of the start values).
    v_min, v_max : float
        Voltage limits that define the capacity [V].
    voltage_sigma_v : float
        Rest-voltage uncertainty [V] (floor of the residual scale; assumption: 2 mV).
    max_residual_v : float
        Residual RMS above which the fit is refused [V] (assumption: 10 mV).
    max_rel_sd : float
        Relative 1-sigma capacity uncertainty above which the fit is refused [-] (assumption: 5 %).

    Returns
    -------
    AlignmentEstimate

    Raises
    ------
    InvalidInput
        The reasons listed in the module docstring.
    """
    q = np.asarray(q_ah, dtype=float)
    v = np.asarray(ocv_v, dtype=float)
    if chemistry_family not in CHEMISTRY_MATERIALS:
        raise InvalidInput([Problem(None, "chemistry", f"no half-cell curves for {chemistry_family}; "
                                    f"known: {', '.join(CHEMISTRY_MATERIALS)}")])
    if len(q) < 5 or len(q) != len(v) or not (np.isfinite(q).all() and np.isfinite(v).all()):
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: {len(q)} rest points; the electrode "
                                    "alignment needs at least 5 relaxed rests spread over the partial test")])
    pos, neg = CHEMISTRY_MATERIALS[chemistry_family]
    qn = float(rated_capacity_ah)

    def resid(p: np.ndarray) -> np.ndarray:
        return cell_ocv(q, p, pos, neg) - v

    lower = np.array([0.0, 0.0, 0.3 * qn, 0.3 * qn])
    upper = np.array([1.0, 1.0, 3.0 * qn, 3.0 * qn])
    sols = []
    for x0 in (0.3, 0.5, 0.7, 0.9):
        for y0 in (0.05, 0.25, 0.45, 0.65):
            for c in (0.8, 1.1, 1.5):
                sols.append(least_squares(resid, np.array([x0, y0, c * qn, c * qn]), bounds=(lower, upper),
                                          x_scale=np.array([0.1, 0.1, 0.1 * qn, 0.1 * qn]), diff_step=1e-4))
    best = min(sols, key=lambda r: r.cost)
    p = best.x
    rms = float(np.sqrt(np.mean(best.fun**2)))
    if rms > max_residual_v:
        raise InvalidInput([Problem(None, "ocv", f"electrode alignment does not fit: residual {1e3 * rms:.1f} mV "
                                    f"(> {1e3 * max_residual_v:.0f} mV); the {chemistry_family} half-cell curves do "
                                    "not describe this cell; run a full capacity test")])
    cap = capacity_between(p, pos, neg, v_min, v_max)
    sigma2 = max(rms, voltage_sigma_v) ** 2
    # alignments that fit as well as the best within the noise (sum of squares within 4 sigma^2, i.e. a
    # change of 4 in chi-square) are equally plausible: their capacity spread is part of the uncertainty
    near = [r.x for r in sols if 2.0 * (r.cost - best.cost) <= 4.0 * sigma2]
    caps = np.array([capacity_between(x, pos, neg, v_min, v_max) for x in near])
    spread = float(caps.max() - caps.min()) / 2.0 if len(caps) else 0.0
    j = best.jac
    jtj = j.T @ j
    if np.linalg.cond(jtj) > 1e12:
        raise InvalidInput([Problem(None, "ocv", "insufficient data: the rest voltages do not determine the "
                                    "electrode alignment (flat OCV between the rests); add rests at the ends "
                                    "of the SOC range or run a full capacity test")])
    cov = sigma2 * np.linalg.inv(jtj)
    grad = np.zeros(4)
    for k in range(4):
        h = 1e-4 * max(abs(p[k]), 1e-3)
        dp = np.zeros(4)
        dp[k] = h
        grad[k] = (capacity_between(p + dp, pos, neg, v_min, v_max)
                   - capacity_between(p - dp, pos, neg, v_min, v_max)) / (2 * h)
    var_cap = float(grad @ cov @ grad)
    sd = float(np.hypot(np.sqrt(max(var_cap, 0.0)), spread))
    # profile check: refit with the capacity held 2 max_rel_sd above and below; if the rests fit as well
    # (within a chi-square change of 4), the capacity is not determined to that precision
    starts = [r.x for r in sorted(sols, key=lambda r: r.cost)[:6]]
    for sign in (-1.0, 1.0):
        target = cap * (1.0 + sign * 2.0 * max_rel_sd)

        def held(x: np.ndarray, target: float = target) -> np.ndarray:
            c = capacity_between(x, pos, neg, v_min, v_max)
            return np.concatenate([resid(x), [(c - target) / (target * 1e-3) * voltage_sigma_v]])

        for x_start in starts:
            r = least_squares(held, x_start, bounds=(lower, upper), x_scale=np.array([0.1, 0.1, 0.1 * qn, 0.1 * qn]),
                              diff_step=1e-3)
            c = capacity_between(r.x, pos, neg, v_min, v_max)
            ss = float(np.sum(resid(r.x) ** 2))
            if abs(c - target) <= 0.01 * target and ss <= 2.0 * best.cost + 4.0 * sigma2:
                raise InvalidInput([Problem(None, "ocv", f"insufficient data: the rests fit equally well with a "
                                            f"capacity {100 * abs(target / cap - 1):.0f} % "
                                            f"{'higher' if sign > 0 else 'lower'} ({c:.2f} vs {cap:.2f} Ah); the "
                                            "electrode alignment is not determined; add rests nearer the ends of "
                                            "the SOC range or run a full capacity test")])
    if cap <= 0 or sd / cap > max_rel_sd:
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: capacity from the electrode alignment "
                                    f"{cap:.2f} +/- {sd:.2f} Ah (> {100 * max_rel_sd:.0f} %); the rests do not pin "
                                    "down the alignment; add rests or run a full capacity test")])
    soh = 100.0 * cap / qn
    if not 20.0 <= soh <= 120.0:
        raise InvalidInput([Problem(None, "ocv", f"implausible capacity {soh:.0f} % of rated from the electrode "
                                    "alignment; check the rated capacity and the rest voltages")])
    half = 1.96 * 100.0 * sd / qn
    return AlignmentEstimate(cap, soh, soh - half, soh + half, float(p[0]), float(p[1]), float(p[2]), float(p[3]),
                             rms, len(q))
