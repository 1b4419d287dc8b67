"""Electrode-alignment partial capacity test on cells built from the shipped half-cell curves.

The alignment (x0, y0, C_n, C_p) of an aged cell is set by hand (loss of lithium shifts y0 / x0, loss of
active material shrinks C_n or C_p); its rest voltages follow ``OCV = U_p - U_n`` (Dubarry et al. 2012).
The PyBaMM check on simulated ageing is ``benchmarks/triage_ocv_alignment.py`` (RESULTS.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from circulith.errors import InvalidInput
from circulith.triage.ocv_alignment import CHEMISTRY_MATERIALS, capacity_between, cell_ocv, fit_alignment


def _rests(params: np.ndarray, family: str, lo: float, hi: float, n: int, v_min: float, v_max: float,
           noise_v: float = 0.001) -> tuple[np.ndarray, np.ndarray, float]:
    pos, neg = CHEMISTRY_MATERIALS[family]
    cap = capacity_between(params, pos, neg, v_min, v_max)
    # charge removed from the top of charge: locate the top (v_max) first
    q_grid = np.linspace(-2 * cap, 2 * cap, 20001)
    v_grid = cell_ocv(q_grid, params, pos, neg)
    ok = (v_grid <= v_max) & (v_grid >= v_min)
    q_top = q_grid[ok][0]
    q = q_top + np.linspace(lo, hi, n) * cap
    v = cell_ocv(q, params, pos, neg) + np.random.default_rng(0).normal(0, noise_v, n)
    return q - q[0], v, cap


def test_aged_nmc_capacity_from_wide_partial_test():
    # aged NMC811/graphite: lithium inventory lost (y0 high), negative electrode shrunk
    params = np.array([0.85, 0.03, 5.6, 5.2])
    q, v, cap = _rests(params, "NMC", 0.05, 0.95, 10, 2.5, 4.2)
    est = fit_alignment(q, v, chemistry_family="NMC", rated_capacity_ah=5.0, v_min=2.5, v_max=4.2)
    assert est.soh_low_pct <= 100 * cap / 5.0 <= est.soh_high_pct
    assert abs(est.capacity_ah - cap) / cap < 0.02
    assert est.residual_rms_v < 0.003


def test_narrow_window_and_lfp_plateau_are_refused_not_guessed():
    params = np.array([0.85, 0.03, 5.6, 5.2])
    # a 30 % window in the middle: a 10 % lower capacity fits the rests as well
    q, v, _ = _rests(params, "NMC", 0.2, 0.5, 6, 2.5, 4.2)
    with pytest.raises(InvalidInput, match="fit equally well"):
        fit_alignment(q, v, chemistry_family="NMC", rated_capacity_ah=5.0, v_min=2.5, v_max=4.2)
    lfp = np.array([0.8, 0.02, 22.0, 21.0])
    q, v, _ = _rests(lfp, "LFP", 0.05, 0.95, 10, 2.5, 3.6)
    with pytest.raises(InvalidInput, match="insufficient data"):
        fit_alignment(q, v, chemistry_family="LFP", rated_capacity_ah=20.0, v_min=2.5, v_max=3.6)


def test_too_few_rests_and_wrong_curves():
    with pytest.raises(InvalidInput, match="at least 5"):
        fit_alignment(np.array([0.0, 1.0, 2.0]), np.array([4.0, 3.8, 3.6]), chemistry_family="NMC",
                      rated_capacity_ah=5.0, v_min=2.5, v_max=4.2)
    # a cell whose rests no alignment of these half-cells can describe (a straight 0.3 V/Ah line)
    q = np.linspace(0, 4, 8)
    with pytest.raises(InvalidInput, match="does not fit|insufficient data"):
        fit_alignment(q, 4.1 - 0.3 * q + 0.05 * np.sin(5 * q), chemistry_family="NMC", rated_capacity_ah=5.0,
                      v_min=2.5, v_max=4.2)
    with pytest.raises(InvalidInput, match="no half-cell curves"):
        fit_alignment(q, q, chemistry_family="LMO", rated_capacity_ah=5.0, v_min=2.5, v_max=4.2)
