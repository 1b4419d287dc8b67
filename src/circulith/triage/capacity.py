"""Capacity SOH by coulomb counting, from a full or partial capacity test.

Full test: the charge moved in one discharge (or charge) segment between the voltage limits is the
capacity. Partial test: a segment that covers only part of the SOC range is scaled by the fraction
of SOC it spans, ``Q = dQ / (SOC_end - SOC_start)``, where the SOC at both ends comes from the rest
voltage (OCV) through the chemistry's OCV-SOC curve (``[ocv_soc.*]`` of the rules file). The
interval propagates an OCV uncertainty (default +/-5 mV, assumption: rest not fully relaxed) through
the local slope of the curve, so a partial test on LFP's flat plateau gets an honestly wide
interval or is refused as insufficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.rules import chemistry_family, load_rules


@dataclass(frozen=True)
class CapacityEstimate:
    """Capacity SOH with interval."""

    capacity_ah: float
    soh_pct: float
    soh_low_pct: float
    soh_high_pct: float
    method: str
    soc_span_pct: float


def coulomb_count_ah(time_s: np.ndarray, current_a: np.ndarray) -> np.ndarray:
    """Cumulative charge [Ah] by trapezoidal integration (positive = charged in)."""
    dt = np.diff(time_s)
    inc = 0.5 * (current_a[1:] + current_a[:-1]) * dt / 3600.0
    return np.concatenate([[0.0], np.cumsum(inc)])


def soc_from_ocv(ocv_v: float | np.ndarray, chemistry: str, rules: dict | None = None) -> np.ndarray:
    """SOC [%] from a rest voltage [V] through the chemistry's OCV-SOC table (monotone interpolation)."""
    rules = rules or load_rules()
    fam = chemistry_family(chemistry)
    if fam not in rules.get("ocv_soc", {}):
        raise InvalidInput([Problem(None, "chemistry", f"no OCV-SOC curve for {chemistry}; partial test not supported")])
    tab = rules["ocv_soc"][fam]
    return np.interp(ocv_v, tab["ocv_v"], tab["soc_pct"])


def capacity_soh(frame: pd.DataFrame, rated_capacity_ah: float, *, chemistry: str = "LFP",
                 ocv_start_v: float | None = None, ocv_end_v: float | None = None,
                 ocv_uncertainty_v: float = 0.005, current_uncertainty_rel: float = 0.005,
                 min_soc_span_pct: float = 20.0, rules: dict | None = None) -> CapacityEstimate:
    """Capacity SOH from the longest discharge segment of a validated canonical frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical frame (``time_s, voltage_v, current_a``), already validated.
    rated_capacity_ah : float
        Rated capacity [Ah].
    chemistry : str
        Chemistry code (OCV-SOC curve for the partial correction).
    ocv_start_v, ocv_end_v : float, optional
        Rest voltages before and after the segment [V]; give both for a partial test. Without
        them the segment is taken as a full test (limit to limit).
    ocv_uncertainty_v : float
        Uncertainty of each rest voltage [V].
    current_uncertainty_rel : float
        Relative accuracy of the current sensor [-] (assumption: 0.5 % of reading).
    min_soc_span_pct : float
        Smallest SOC span accepted for a partial test [%].

    Returns
    -------
    CapacityEstimate

    Raises
    ------
    InvalidInput
        No discharge segment, or a partial span too small / too uncertain.
    """
    t = frame["time_s"].to_numpy(dtype=float)
    i = frame["current_a"].to_numpy(dtype=float)
    dis = i < -1e-3 * max(np.abs(i).max(), 1e-9)
    if not dis.any():
        raise InvalidInput([Problem(None, "current_a", "insufficient data: no discharge segment")])
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dis.astype(int), [0]])))
    starts, ends = edges[::2], edges[1::2]
    q = coulomb_count_ah(t, i)
    charge = np.array([q[s] - q[e - 1] for s, e in zip(starts, ends, strict=True)])
    k = int(np.argmax(charge))
    dq = float(charge[k])
    if ocv_start_v is None or ocv_end_v is None:
        cap = dq
        rel = current_uncertainty_rel
        soh = 100 * cap / rated_capacity_ah
        return CapacityEstimate(cap, soh, soh * (1 - 1.96 * rel), soh * (1 + 1.96 * rel), "full", 100.0)
    rules = rules or load_rules()
    s0 = float(soc_from_ocv(ocv_start_v, chemistry, rules))
    s1 = float(soc_from_ocv(ocv_end_v, chemistry, rules))
    span = s0 - s1
    if span < min_soc_span_pct:
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: partial test spans {span:.1f} % SOC "
                                    f"(< {min_soc_span_pct:g} %); run a longer or full capacity test")])
    # SOC uncertainty from the local OCV slope
    ds = [abs(float(soc_from_ocv(v + ocv_uncertainty_v, chemistry, rules) - soc_from_ocv(v - ocv_uncertainty_v,
                                                                                          chemistry, rules))) / 2
          for v in (ocv_start_v, ocv_end_v)]
    span_sd = float(np.hypot(*ds))
    cap = dq / (span / 100.0)
    rel = float(np.hypot(span_sd / span, current_uncertainty_rel))
    if rel > 0.25:
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: partial test SOC span {span:.0f} +/- "
                                    f"{span_sd:.0f} % (flat OCV region of {chemistry}); run a full capacity test")])
    soh = 100 * cap / rated_capacity_ah
    return CapacityEstimate(cap, soh, soh * (1 - 1.96 * rel), soh * (1 + 1.96 * rel), "partial", span)
