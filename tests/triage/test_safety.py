"""Lithium-plating detection from the voltage relaxation after a charge (triage.safety).

The signature (Petzl & Danzer 2014, J. Power Sources 254:80-87; relaxation form: Schindler, Bauer,
Petzl & Danzer 2016, J. Power Sources 304:170-180): reversibly plated lithium holds the graphite at
the Li/Li+ mixed potential during the rest, so the voltage decay slows (plateau) and then speeds up
again when the metal is used up: ``-dV/dt`` has a local maximum after having fallen. A normal
relaxation (sum of positive exponential decays) has a strictly falling ``-dV/dt``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from circulith.triage.safety import relaxation_plating_signature

T_S = np.arange(0.0, 3601.0)  # 1 h rest sampled at 1 Hz


def normal_relaxation(t: np.ndarray) -> np.ndarray:
    """Rest voltage after a charge: fast, medium and slow diffusion/RC decays [V]."""
    return 3.40 + 0.03 * np.exp(-t / 60) + 0.02 * np.exp(-t / 900) + 0.01 * np.exp(-t / 5000)


def plated_relaxation(t: np.ndarray, *, plateau_v: float = 0.015, end_s: float = 1200.0,
                      width_s: float = 150.0) -> np.ndarray:
    """Normal relaxation plus a mixed-potential plateau that ends at ``end_s`` [V]."""
    return normal_relaxation(t) + plateau_v / (1 + np.exp((t - end_s) / width_s))


def test_normal_relaxation_is_not_flagged_even_with_sensor_noise():
    rng = np.random.default_rng(1)
    assert not relaxation_plating_signature(T_S, normal_relaxation(T_S))["flag"]
    noisy = np.round(normal_relaxation(T_S) + rng.normal(0, 0.001, len(T_S)), 4)  # 1 mV noise, 0.1 mV steps
    res = relaxation_plating_signature(T_S, noisy)
    assert res["status"] == "evaluated" and not res["flag"]


def test_plateau_bump_is_flagged_near_its_end():
    rng = np.random.default_rng(2)
    v = np.round(plated_relaxation(T_S) + rng.normal(0, 0.001, len(T_S)), 4)
    res = relaxation_plating_signature(T_S, v)
    assert res["flag"]
    assert 800 < res["bump_time_s"] < 1500  # the bump sits at the end of the plateau (1200 s)


def test_small_plateau_below_threshold_is_not_flagged():
    # a 0.5 mV plateau is within what a cycler resolves as noise: no flag
    rng = np.random.default_rng(3)
    v = plated_relaxation(T_S, plateau_v=0.0005) + rng.normal(0, 0.001, len(T_S))
    assert not relaxation_plating_signature(T_S, v)["flag"]


def test_short_rest_is_insufficient_data():
    res = relaxation_plating_signature(T_S[:300], plated_relaxation(T_S[:300]))
    assert not res["flag"] and res["status"].startswith("insufficient data")


@settings(max_examples=30, deadline=None)
@given(amps=st.lists(st.floats(0.001, 0.05), min_size=1, max_size=3),
       taus=st.lists(st.floats(20.0, 20000.0), min_size=3, max_size=3))
def test_any_sum_of_decays_is_never_flagged(amps, taus):
    # law: -dV/dt of sum_i A_i exp(-t/tau_i) with A_i > 0 falls monotonically, so no bump
    v = 3.3 + sum(a * np.exp(-T_S / tau) for a, tau in zip(amps, taus, strict=False))
    assert not relaxation_plating_signature(T_S, v)["flag"]
