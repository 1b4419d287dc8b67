"""Safety flags beyond the rule file: sibling outliers (robust z-score) and lithium-plating signature.

- Outliers against siblings: modified z-score ``0.6745 (x - median) / MAD`` within each parent
  (module or pack), flagged above 3.5 (Iglewicz & Hoaglin 1993). Applied to voltage, resistance and
  self-discharge of cells that share a parent; a group of fewer than 4 siblings is not judged.
- Lithium plating: what is detected is the **coulombic-efficiency signature**: per cycle, discharge
  charge / preceding charge charge; plated lithium that does not strip back lowers it. A median CE
  below 0.995 over at least 2 complete cycles is flagged (assumption: healthy Li-ion cells run at
  CE > 0.999 at moderate rates; 0.995 leaves room for sensor error). The voltage-relaxation plateau
  (stripping bump after a cold fast charge) needs high-rate, low-temperature test data and is not
  detected here.
"""

from __future__ import annotations

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
