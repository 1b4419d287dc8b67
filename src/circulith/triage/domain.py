"""Training domain of a pulse -> SOH model, and how far a new cell lies from it.

A model is only trusted on inputs like those it was fitted and validated on. The domain recorded
in a model file is:

- the chemistry and the nominal capacities (cell formats) of the training cells;
- the pulse protocol: the (SOC [%], pulse width [ms]) conditions and the voltage columns used;
- per condition, the mean and a shrunk covariance of the row features of
  :func:`row_features` (capacity-normalised resistances of the 0.5C and 1C pulses and the rest
  voltage), and the 99th percentile of the training rows' squared Mahalanobis distance.

A cell's **domain ratio** is the median over its rows of ``sqrt(d2 / d2_99)``: 1.0 is the edge of
the training rows of those conditions; a cell of a format the model knows scores about 0.5-1.
Shrinkage (Ledoit & Wolf 2004, "A well-conditioned estimator for large-dimensional covariance
matrices", J. Multivar. Anal. 88, 365-411; here a fixed weight toward the diagonal) keeps the
covariance invertible with 50-100 rows per condition and 17 features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from circulith.triage.pulse_features import FEATURE_NAMES, pulse_features

#: Pulse rates whose features the domain and the transfer model use (U1...U17: OCV, 0.5C and 1C).
DOMAIN_RATES = ("0.5C", "1C")
ROW_FEATURES: list[str] = [f for f in FEATURE_NAMES if f.rsplit("_", 1)[-1] in DOMAIN_RATES] + ["ocv_v"]
#: Voltage columns the row features need (OCV and the 0.5C and 1C blocks of the protocol).
NEEDED_U_COLUMNS: list[str] = [f"U{i}" for i in range(1, 18)]
_ALL_U = [f"U{i}" for i in range(1, 42)]
_IDX = [FEATURE_NAMES.index(f) for f in ROW_FEATURES]
SHRINKAGE = 0.2  # weight of the diagonal target in the shrunk covariance [-]
COVERAGE_LIMIT = 0.99  # training-row quantile that defines the domain edge [-]


def row_features(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row features used by the domain check and the transfer model.

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table with ``SOC`` [%], ``pulse_width_ms`` [ms] and at least ``U1..U17`` [V];
        ``U18..U41`` may be absent or empty (cells and chemistries tested at 0.5C and 1C only).

    Returns
    -------
    features : numpy.ndarray
        Shape (n, len(ROW_FEATURES)) [V/C, V].
    usable : numpy.ndarray
        Boolean (n,): every needed column present and finite.
    """
    u = np.full((len(table), 41), np.nan)
    for k, col in enumerate(_ALL_U[:17]):
        if col in table:
            u[:, k] = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
    feats, _ = pulse_features(u, table["SOC"].to_numpy(dtype=float), table["pulse_width_ms"].to_numpy(dtype=float))
    out = feats[:, _IDX]
    # no imputation across rates here: a row lacking any of U1..U17 is not usable
    return out, np.isfinite(u[:, :17]).all(axis=1) & np.isfinite(out).all(axis=1)


def missing_columns(table: pd.DataFrame) -> list[str]:
    """The voltage columns the row features need that the table lacks or leaves entirely empty."""
    return [c for c in NEEDED_U_COLUMNS
            if c not in table or not np.isfinite(pd.to_numeric(table[c], errors="coerce")).any()]


@dataclass(frozen=True)
class ConditionDomain:
    """Feature distribution of the training rows at one (SOC, width) condition."""

    soc_pct: float
    pulse_width_ms: float
    mean: list[float]
    cov: list[list[float]]
    d2_limit: float
    n_rows: int


def _shrunk_cov(x: np.ndarray) -> np.ndarray:
    """Covariance shrunk toward its diagonal; fully diagonal below two rows per feature."""
    n, d = x.shape
    cov = np.cov(x, rowvar=False) if n > 1 else np.zeros((d, d))
    diag = np.diag(np.diag(cov))
    weight = max(SHRINKAGE, min(1.0, 2.0 * d / max(n, 1)))
    floor = np.eye(d) * max(1e-12, 1e-6 * float(np.mean(np.diag(cov))) if n > 1 else 1e-12)
    return (1.0 - weight) * cov + weight * diag + floor


def _limit(d2: np.ndarray, n_features: int) -> float:
    """Domain edge in squared distance: the 99th percentile of the training rows, and with fewer than
    five rows per feature at least the chi-square 99 % point for ``n_features`` degrees of freedom
    (Wilson-Hilferty approximation), since a small sample's own quantile is too tight."""
    q = float(np.quantile(d2, COVERAGE_LIMIT))
    if len(d2) >= 5 * n_features:
        return q
    z = 2.3263  # standard normal 99 % quantile
    k = float(n_features)
    chi2 = k * (1.0 - 2.0 / (9.0 * k) + z * math.sqrt(2.0 / (9.0 * k))) ** 3
    return max(q, chi2)


def fit_domain(table: pd.DataFrame, *, min_rows: int = 8) -> list[ConditionDomain]:
    """Per-condition feature domain of labelled or unlabelled training rows.

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table (``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..U17`` [V]).
    min_rows : int
        Conditions with fewer usable rows get no domain entry (rows there count as outside).

    Returns
    -------
    list of ConditionDomain
    """
    feats, ok = row_features(table)
    keys = table[["SOC", "pulse_width_ms"]].to_numpy(dtype=float)
    out: list[ConditionDomain] = []
    for soc, width in np.unique(keys[ok], axis=0):
        m = ok & (keys[:, 0] == soc) & (keys[:, 1] == width)
        x = feats[m]
        if len(x) < min_rows:
            continue
        mu = x.mean(axis=0)
        cov = _shrunk_cov(x)
        d2 = _mahalanobis2(x, mu, cov)
        out.append(ConditionDomain(float(soc), float(width), mu.tolist(), cov.tolist(),
                                   _limit(d2, x.shape[1]), int(len(x))))
    return out


def _mahalanobis2(x: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = x - mu
    sol = np.linalg.solve(cov, diff.T).T
    return np.einsum("ij,ij->i", diff, sol)


def row_ratios(table: pd.DataFrame, domain: list[ConditionDomain]) -> np.ndarray:
    """Per row, ``sqrt(d2 / d2_limit)`` against its condition's training rows (inf: no such condition).

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table (``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..U17`` [V]).
    domain : list of ConditionDomain

    Returns
    -------
    numpy.ndarray
        Shape (n,) [-]; NaN for rows without the needed voltages.
    """
    feats, ok = row_features(table)
    soc = table["SOC"].to_numpy(dtype=float)
    width = table["pulse_width_ms"].to_numpy(dtype=float)
    ratio = np.full(len(table), np.inf)
    ratio[~ok] = np.nan
    for cond in domain:
        m = ok & (np.abs(soc - cond.soc_pct) <= 2.5) & (np.abs(width - cond.pulse_width_ms) <= 0.1 * cond.pulse_width_ms)
        if m.any():
            d2 = _mahalanobis2(feats[m], np.asarray(cond.mean), np.asarray(cond.cov))
            ratio[m] = np.sqrt(d2 / cond.d2_limit)
    return ratio


def cell_ratios(table: pd.DataFrame, domain: list[ConditionDomain]) -> pd.Series:
    """Domain ratio per ``cell_id``: the median over its usable rows of :func:`row_ratios` [-].

    A cell none of whose rows is usable gets NaN; one whose rows all fall in unknown conditions, inf.
    """
    r = pd.Series(row_ratios(table, domain), index=table.index)
    cells = table["cell_id"].astype(str)
    return r.groupby(cells).median()
