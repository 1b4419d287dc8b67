"""Safety flags beyond the rule file: sibling outliers (robust z-score) and lithium-plating signature.

- Outliers against siblings: modified z-score ``0.6745 (x - median) / MAD`` within each parent
  (module or pack), flagged above 3.5 (Iglewicz & Hoaglin 1993). Applied to voltage, resistance and
  self-discharge of cells that share a parent; a group of fewer than 4 siblings is not judged.
- Lithium plating: what is detected is the **coulombic-efficiency signature**: per cycle, discharge
  charge / preceding charge charge; plated lithium that does not strip back lowers it. A median CE
  below 0.995 over at least 2 complete cycles is flagged (assumption: healthy Li-ion cells run at
  CE > 0.999 at moderate rates; 0.995 leaves room for sensor error).
- Lithium plating, **voltage-relaxation signature** (:func:`relaxation_plating_signature`): after a
  charge that plated lithium, the reversibly plated metal keeps the graphite electrode at the Li/Li+
  mixed potential while it re-intercalates, so the rest voltage decays slowly (a plateau) and then
  faster again once the metal is used up; the decay rate ``-dV/dt`` shows a local maximum ("bump")
  after having fallen, where a normal relaxation (sum of diffusion / RC decays) has a monotonically
  falling ``-dV/dt``. Mixed potential and stripping plateau: Petzl & Danzer (2014), "Nondestructive
  detection, characterization, and quantification of lithium plating in commercial lithium-ion
  batteries", J. Power Sources 254:80-87 (they show it in the stripping discharge, dV/dQ); the
  relaxation form with the differential ``dV/dt``: Schindler, Bauer, Petzl & Danzer (2016),
  "Voltage relaxation and impedance spectroscopy as in-operando methods for the detection of
  lithium plating on graphitic anodes in commercial lithium-ion cells", J. Power Sources
  304:170-180. Detection threshold (a rise of ``-dV/dt`` by more than 25 % over its preceding
  minimum, after 30 s) is an assumption of this project, checked on synthetic curves and PyBaMM
  simulations (``benchmarks/triage_pybamm_oracle.py``); the signature needs a rest right after a
  charge that was fast and/or cold enough to plate, so its absence clears nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MODIFIED_Z_LIMIT = 3.5
CE_PLATING_LIMIT = 0.995


def robust_z(values: np.ndarray, groups: np.ndarray, *, min_group: int = 4) -> np.ndarray:
    """Modified z-score of each value within its group (NaN for small groups or zero MAD)."""
    df = pd.DataFrame({"x": np.asarray(values, dtype=float), "g": np.asarray(groups)})
    med = df.groupby("g")["x"].transform("median")
    mad = (df["x"] - med).abs().groupby(df["g"]).transform("median")
    size = df.groupby("g")["x"].transform("count")
    z = 0.6745 * (df["x"] - med) / mad.replace(0, np.nan)
    return np.where(size >= min_group, z, np.nan)


def sibling_outliers(frame: pd.DataFrame, columns: list[str], *, group: str = "parent_battery_id",
                     limit: float = MODIFIED_Z_LIMIT) -> pd.DataFrame:
    """Boolean flags ``<column>_outlier`` and the z-scores ``<column>_z`` for each listed column."""
    out = pd.DataFrame(index=frame.index)
    for col in columns:
        z = robust_z(frame[col].to_numpy(dtype=float), frame[group].to_numpy())
        out[f"{col}_z"] = z
        out[f"{col}_outlier"] = np.abs(np.nan_to_num(z)) > limit
    return out


def coulombic_efficiency(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-cycle coulombic efficiency (discharge Ah / charge Ah) from a canonical frame with ``cycle``."""
    t = frame["time_s"].to_numpy(float)
    i = frame["current_a"].to_numpy(float)
    dt = np.diff(t, prepend=t[0])
    cyc = frame["cycle"].to_numpy() if "cycle" in frame else np.zeros(len(t))
    d = pd.DataFrame({"cycle": cyc, "chg": np.clip(i, 0, None) * dt / 3600, "dis": np.clip(-i, 0, None) * dt / 3600})
    g = d.groupby("cycle").sum()
    g["ce"] = g["dis"] / g["chg"].replace(0, np.nan)
    return g


def plating_signature(frame: pd.DataFrame, *, limit: float = CE_PLATING_LIMIT) -> dict:
    """Lithium-plating flag from the coulombic-efficiency signature (see module docstring)."""
    ce = coulombic_efficiency(frame)
    full = ce[(ce["chg"] > 0) & (ce["dis"] > 0.5 * ce["chg"])]
    if len(full) < 2:
        return {"flag": False, "status": "insufficient data: fewer than 2 complete cycles", "median_ce": None}
    med = float(full["ce"].median())
    return {"flag": med < limit, "status": "evaluated", "median_ce": med, "n_cycles": len(full)}



RELAXATION_MIN_RISE = 0.25  # [-] assumption: see module docstring


def relaxation_plating_signature(time_s: np.ndarray, voltage_v: np.ndarray, *, min_time_s: float = 30.0,
                                 min_duration_s: float = 600.0, min_rise: float = RELAXATION_MIN_RISE,
                                 bandwidth: float = 0.15, points: int = 120) -> dict:
    """Lithium-plating flag from the voltage relaxation after a charge (see module docstring).

    The decay rate ``-dV/dt`` is estimated at ``points`` log-spaced times by a Gaussian-weighted
    local linear fit of V against ln t (every sample contributes, so long rests average the noise
    out), then compared with its running minimum. A rise counts only when it is larger than
    ``min_rise`` (relative) and than three standard errors of the fitted slope (noise).

    Parameters
    ----------
    time_s : numpy.ndarray
        Time since the end of the charge (current zero throughout) [s].
    voltage_v : numpy.ndarray
        Cell voltage during the rest [V].
    min_time_s : float
        Start of the analysed window [s]; earlier samples carry the ohmic and charge-transfer
        relaxation, not the plateau.
    min_duration_s : float
        Shortest rest that can show the signature [s].
    min_rise : float
        Flag when ``-dV/dt`` rises by more than this fraction over its preceding minimum [-].
    bandwidth : float
        Width of the smoothing kernel in ln t [-].
    points : int
        Number of evaluation times [-].

    Returns
    -------
    dict
        ``flag`` (bool), ``status`` (``evaluated`` or an ``insufficient data: ...`` reason),
        ``rise`` (largest significant relative rise of ``-dV/dt`` [-]), ``bump_time_s`` (time of
        the peak of that rise [s], or None).
    """
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    ok = np.isfinite(t) & np.isfinite(v) & (t >= min_time_s * np.exp(-3 * bandwidth))
    t, v = t[ok], v[ok]
    if len(t) < 20 or t.max() < min_duration_s:
        return {"flag": False, "status": f"insufficient data: rest shorter than {min_duration_s:.0f} s "
                "after the charge, or fewer than 20 samples", "rise": None, "bump_time_s": None}
    x = np.log(t)
    t_eval = np.geomspace(min_time_s, t.max() * np.exp(-2 * bandwidth), points)
    xe = np.log(t_eval)
    w = np.exp(-0.5 * ((x[None, :] - xe[:, None]) / bandwidth) ** 2)  # (points, samples)
    sw = w.sum(axis=1)
    xm = (w @ x) / sw
    vm = (w @ v) / sw
    sxx = (w * (x[None, :] - xm[:, None]) ** 2).sum(axis=1)
    slope = (w * (x[None, :] - xm[:, None]) * (v[None, :] - vm[:, None])).sum(axis=1) / sxx  # dV/dln t
    # noise: robust sd of sample-to-sample differences; slope standard error of the weighted fit
    sigma_v = max(1.4826 * float(np.median(np.abs(np.diff(v) - np.median(np.diff(v))))) / np.sqrt(2), 1e-6)
    se = sigma_v * np.sqrt((w**2 * (x[None, :] - xm[:, None]) ** 2).sum(axis=1)) / sxx
    rate = -slope / t_eval  # -dV/dt [V/s]
    run_min = np.minimum.accumulate(np.maximum(rate, 0.0))
    excess = rate - run_min  # [V/s]
    significant = excess * t_eval > 3 * se
    rise = np.where(significant & (run_min > 0), excess / np.where(run_min > 0, run_min, 1.0), 0.0)
    k = int(np.argmax(rise))
    best = float(rise[k])
    flag = best > min_rise
    return {"flag": bool(flag), "status": "evaluated", "rise": best,
            "bump_time_s": float(t_eval[k]) if flag else None}


# ---------------------------------------------------------------- intake screening

@dataclass(frozen=True)
class IntakeFlag:
    """One reason to handle a received battery apart.

    ``damage_state`` is the ``transport_rules.csv`` damage state that follows: a thermal history is
    liable to react dangerously (ADR SP 376 ``critical``, P911); a crash or abuse is damaged or
    defective (SP 376 ``damaged``, P908); a battery without traceability data cannot be shown to
    conform to its tested type, so it is handled as defective until inspected (assumption,
    conservative); a battery never placed on the market is ``intact``.
    """

    code: str
    reason: str
    quarantine: bool
    damage_state: str


def intake_flags(summary: pd.DataFrame, rules: dict[str, Any]) -> dict[str, list[IntakeFlag]]:
    """Screen received packs' BMS summaries: what must be quarantined or looked at before anything else.

    Parameters
    ----------
    summary : pandas.DataFrame
        Pack rows of the BMS-summary schema, with ``lifecycle_state`` and ``placed_on_market``
        (bool: the battery's history has a ``placed_on_market`` or later in-use event).
    rules : dict
        Grading rules: the abuse limits are the rule file's ``Q4-overcharge`` and
        ``R3-deep-discharge`` limits.

    Returns
    -------
    dict
        battery_id -> flags (only batteries with at least one flag).
    """
    limits = {r["id"]: r.get("limit") for r in rules["rules"]}
    over_lim = float(limits.get("Q4-overcharge") or 0)
    deep_lim = float(limits.get("R3-deep-discharge") or 0)
    out: dict[str, list[IntakeFlag]] = {}
    for row in summary.to_dict(orient="records"):
        flags: list[IntakeFlag] = []
        if row["thermal_accident"]:
            flags.append(IntakeFlag("thermal_event", "thermal event in BMS history: handle as damaged, liable to "
                                    "react dangerously (ADR SP 376), quarantine", True, "critical"))
        elif row["accident_count"] > 0:
            flags.append(IntakeFlag("crash", "accident in history: quarantine until inspected (ADR SP 376 damaged)",
                                    True, "damaged"))
        if row["overcharge_events"] > over_lim or row["deep_discharge_events"] > deep_lim:
            flags.append(IntakeFlag("abuse", f"abuse events recorded by the BMS ({int(row['overcharge_events'])} "
                                    f"overcharge, {int(row['deep_discharge_events'])} deep discharge): quarantine",
                                    True, "damaged"))
        if not row["has_traceability"]:
            flags.append(IntakeFlag("no_traceability", "no traceability data (no BMS history): IEC 63338 forbids "
                                    "cell reuse; quarantine as defective until inspected", True, "damaged"))
        if not row.get("placed_on_market", True):
            flags.append(IntakeFlag("never_on_market", "never placed on the market (no placing-on-market or use "
                                    "event): unsold stock or production scrap, check who bears the EPR obligation",
                                    False, "intact"))
        if flags:
            out[str(row["battery_id"])] = flags
    return out


def worst_damage_state(flags: list[IntakeFlag]) -> str:
    """The most severe damage state among flags (``critical`` > ``damaged`` > ``intact``)."""
    order = ["intact", "damaged", "critical"]
    return max((f.damage_state for f in flags), key=order.index, default="intact")
