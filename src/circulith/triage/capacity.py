"""Capacity SOH by coulomb counting, from a full or partial capacity test.

Full test: the charge moved in one discharge (or charge) segment between the voltage limits is the
capacity. Partial test: a segment that covers only part of the SOC range is scaled by the fraction
of SOC it spans, ``Q = dQ / (SOC_end - SOC_start)``, where the SOC at both ends comes from the rest
voltage (OCV) through an OCV-SOC curve: the cell's own table when the caller has one (measured on
that cell design), else the chemistry's generic curve (``[ocv_soc.*]`` of the rules file).

The interval propagates the OCV uncertainty through the local slope of the curve: the rest-voltage
uncertainty (default +/-5 mV, assumption: rest not fully relaxed) and, with the generic curve, the
curve's own error for a given cell (default +/-50 mV). That second term is measured, not assumed: in
the PyBaMM oracle (``benchmarks/triage_pybamm_oracle.py``, RESULTS.md) the generic curve put a
partial test 17 SOH points off on a fresh NMC811 cell and up to 104 points off on LFP, whose plateau
maps tens of mV to tens of % SOC. With it, a partial test read through the generic curve on LFP is
refused as insufficient data and on NMC gets an honestly wide interval; a cell-specific table
narrows it. Results above :data:`MAX_PLAUSIBLE_SOH_PCT` are refused as implausible (wrong rated
capacity, units, or curve) instead of being reported.

A fixed OCV-SOC table (even the cell's own fresh one) under-reads aged cells' SOC span; the
ageing-aware alternative for a partial discharge with several rests is
:func:`circulith.triage.ocv_alignment.fit_alignment`, which fits the electrode alignment per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.rules import chemistry_family, load_rules

MAX_PLAUSIBLE_SOH_PCT = 115.0
"""Capacity SOH above which a result is refused [%] (assumption: new cells test at most a few % above rated)."""

GENERIC_CURVE_ERROR_V = 0.05
"""Error of a chemistry's generic OCV-SOC curve for a given cell [V] (from the PyBaMM oracle, see module notes)."""


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


def soc_from_ocv(ocv_v: float | np.ndarray, chemistry: str, rules: dict | None = None,
                 ocv_table: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """SOC [%] from a rest voltage [V] through an OCV-SOC table (monotone interpolation).

    ``ocv_table`` = (OCV [V], SOC [%]) of the cell itself, ascending; default: the chemistry's generic curve.
    """
    if ocv_table is not None:
        return np.interp(ocv_v, np.asarray(ocv_table[0], dtype=float), np.asarray(ocv_table[1], dtype=float))
    rules = rules or load_rules()
    fam = chemistry_family(chemistry)
    if fam not in rules.get("ocv_soc", {}):
        raise InvalidInput([Problem(None, "chemistry", f"no OCV-SOC curve for {chemistry}; partial test not supported")])
    tab = rules["ocv_soc"][fam]
    return np.interp(ocv_v, tab["ocv_v"], tab["soc_pct"])


def capacity_soh(frame: pd.DataFrame, rated_capacity_ah: float, *, chemistry: str = "LFP",
                 ocv_start_v: float | None = None, ocv_end_v: float | None = None,
                 ocv_uncertainty_v: float = 0.005, current_uncertainty_rel: float = 0.005,
                 min_soc_span_pct: float = 20.0, rules: dict | None = None,
                 ocv_table: tuple[np.ndarray, np.ndarray] | None = None,
                 generic_curve_error_v: float = GENERIC_CURVE_ERROR_V) -> CapacityEstimate:
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
    ocv_table : (array, array), optional
        The cell's own OCV-SOC table (OCV [V] ascending, SOC [%]); default: the generic curve.
    generic_curve_error_v : float
        Error of the generic curve for a given cell [V], added to the rest-voltage uncertainty when
        no ``ocv_table`` is given.

    Returns
    -------
    CapacityEstimate

    Raises
    ------
    InvalidInput
        No discharge segment, a partial span too small or too uncertain, or an implausible result.
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
        _check_plausible(soh)
        return CapacityEstimate(cap, soh, soh * (1 - 1.96 * rel), soh * (1 + 1.96 * rel), "full", 100.0)
    rules = rules or load_rules()

    def soc(v: float) -> float:
        return float(soc_from_ocv(v, chemistry, rules, ocv_table))

    s0, s1 = soc(ocv_start_v), soc(ocv_end_v)
    span = s0 - s1
    if span < min_soc_span_pct:
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: partial test spans {span:.1f} % SOC "
                                    f"(< {min_soc_span_pct:g} %); run a longer or full capacity test")])
    # SOC uncertainty from the local OCV slope
    dv = ocv_uncertainty_v if ocv_table is not None else float(np.hypot(ocv_uncertainty_v, generic_curve_error_v))
    ds = [abs(soc(v + dv) - soc(v - dv)) / 2 for v in (ocv_start_v, ocv_end_v)]
    span_sd = float(np.hypot(ds[0], ds[1]))
    cap = dq / (span / 100.0)
    rel = float(np.hypot(span_sd / span, current_uncertainty_rel))
    if rel > 0.25:
        curve = "the cell's OCV table" if ocv_table is not None else f"the generic {chemistry} OCV curve"
        raise InvalidInput([Problem(None, "ocv", f"insufficient data: partial test SOC span {span:.0f} +/- "
                                    f"{span_sd:.0f} % read through {curve}; give the cell's own OCV table or run "
                                    "a full capacity test")])
    soh = 100 * cap / rated_capacity_ah
    _check_plausible(soh)
    return CapacityEstimate(cap, soh, soh * (1 - 1.96 * rel), soh * (1 + 1.96 * rel), "partial", span)


def _check_plausible(soh_pct: float) -> None:
    if soh_pct > MAX_PLAUSIBLE_SOH_PCT:
        raise InvalidInput([Problem(None, "rated_capacity_ah", f"implausible capacity SOH {soh_pct:.0f} % "
                                    f"(> {MAX_PLAUSIBLE_SOH_PCT:g} %): check the rated capacity, the units (mAh vs "
                                    "Ah) and the OCV table")])
