"""Pulse -> SOH model chosen for formats it was not fitted to (the "transfer" model).

Why a second model
------------------
The bank of :mod:`circulith.triage.pulse_model` is the most accurate inside the formats it was fitted
on, but each sub-model is tied to one format (nominal capacity) and reads raw voltages, whose scale
changes with the cell design; it also leans on *which* SOC levels a cell has, because the dataset's
protocol stops at SOC <= SOH - 5 %. This model is built to move:

- **Features**: per (SOC, width) condition of a fixed protocol (default SOC 5-50 % in 5 % steps,
  pulse widths 100 and 1000 ms, i.e. levels every cell of the dataset has), the capacity-normalised
  resistances of the 0.5C and 1C pulses (:data:`circulith.triage.domain.ROW_FEATURES`: ohmic step,
  polarisation growth, end-of-pulse jump and relaxation, divided by the C-rate, so in V per C =
  ohm x Ah / h) and the rest voltage. Only ``U1..U17`` are needed.
- **Estimator**: ridge (alpha by exact leave-one-out) or partial least squares with 1-3 components
  (NIPALS, Wold et al. 2001, "PLS-regression: a basic tool of chemometrics", Chemom. Intell. Lab.
  Syst. 58, 109-130), on the features as they are or on the logarithm of the resistances
  (``_log``: a format that scales every resistance by one factor shifts them all by one constant),
  either one model over all conditions or one per condition averaged (``c`` prefix: each condition
  votes with its own small model, so no condition's scale dominates). Chosen by
  **leave-one-format-out** validation against a plain multi-SOC ridge on the raw voltages over the
  same cells (:func:`choose_estimator`), with the within-format cross-validation (by cell) recorded.
- **Interval**: split-conformal on absolute residuals, one half-width for formats in the training
  data (out-of-fold within-format residuals) and a wider one for unseen formats (residuals of the
  held-out formats), given up to the :data:`UNSEEN_RATIO_QUANTILE` quantile of the held-out cells'
  domain ratios; see :mod:`circulith.triage.domain_estimate` for when each applies.

Everything is plain JSON (coefficients, domain statistics); nothing executable is loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.domain import ROW_FEATURES, ConditionDomain, cell_ratios, fit_domain, row_features
from circulith.triage.pulse_model import read_model_json

TRANSFER_FORMAT = "circulith.pulse_soh_transfer"
TRANSFER_VERSION = "1.1"  # 1.1: feature_transform (files of 1.0 read as 'none')
PROTOCOL_SOC_PCT: tuple[float, ...] = tuple(float(s) for s in range(5, 55, 5))
PROTOCOL_WIDTHS_MS: tuple[float, ...] = (100.0, 1000.0)
CANDIDATES: tuple[str, ...] = ("ridge", "pls1", "pls2", "pls3", "ridge_log", "pls2_log", "cpls1_log", "cpls2_log",
                               "cpls3_log")
"""Estimators tried by :func:`fit_transfer` (see :func:`_fit_linear` for the names)."""
LOG_FLOOR_V_PER_C = 1e-4
"""Floor of a resistance feature before its logarithm [V/C]: below every training value (the smallest,
a relaxation at 1C, is 2.8e-3 V/C on the retired-LFP cells), so it only guards against a zero."""
MIN_CROSS_COVERAGE = 0.8
"""Least coverage of the 90 % unseen-format interval on each held-out format, calibrated on the other
held-out formats only, for an estimator to be chosen [-] (the issue's 80 % floor)."""
_ALPHAS = np.logspace(-2, 4, 13)
UNSEEN_RATIO_QUANTILE = 0.9
"""Quantile of the held-out formats' domain ratios up to which the widened interval is given [-]: beyond
it too few held-out cells validate the width (coverage fell to 81 % in the top fifth, RESULTS.md)."""


@dataclass
class TransferModel:
    """A fitted transfer model (plain data; see :func:`transfer_to_dict`)."""

    chemistries: list[str]
    formats_ah: list[float]
    conditions: list[tuple[float, float]]
    estimator: str
    x_mean: list[float]
    x_scale: list[float]
    coef: list[float]
    intercept: float
    coverage: float
    half_width_by_format: dict[str, float]
    half_width_unseen_pct: float | None
    ratio_unseen_max: float | None
    domain: list[ConditionDomain]
    min_condition_share: float = 0.7
    metadata: dict[str, Any] = field(default_factory=dict)
    feature_transform: str = "none"  # 'none' or 'log_resistance' (see transform_features)


def format_key(qn_ah: float) -> str:
    """Key of a cell format in model files, e.g. ``'20Ah'``."""
    return f"{float(qn_ah):g}Ah"


# --------------------------------------------------------------------------- features per cell
def cell_matrix(table: pd.DataFrame, conditions: list[tuple[float, float]]) -> tuple[pd.Index, np.ndarray]:
    """One feature vector per cell: the row features of each protocol condition side by side.

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table (``cell_id``, ``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..U17`` [V]).
    conditions : list of (float, float)
        Protocol conditions (SOC [%], width [ms]); a row matches within 2.5 % SOC and 10 % width.

    Returns
    -------
    cells : pandas.Index
        Cell ids (sorted).
    x : numpy.ndarray
        Shape (n_cells, len(conditions) * len(ROW_FEATURES)); NaN where a condition is missing.
    """
    feats, ok = row_features(table)
    cells_all = table["cell_id"].astype(str).to_numpy()
    cells = pd.Index(np.unique(cells_all))
    pos = cells.get_indexer(cells_all)
    nf = len(ROW_FEATURES)
    x = np.full((len(cells), len(conditions) * nf), np.nan)
    soc = table["SOC"].to_numpy(dtype=float)
    width = table["pulse_width_ms"].to_numpy(dtype=float)
    for j, (s, w) in enumerate(conditions):
        m = ok & (np.abs(soc - s) <= 2.5) & (np.abs(width - w) <= 0.1 * w)
        x[pos[m], j * nf:(j + 1) * nf] = feats[m]
    return cells, x


def present_conditions(table: pd.DataFrame, conditions: list[tuple[float, float]],
                       min_share: float = 0.9) -> list[tuple[float, float]]:
    """The protocol conditions that at least ``min_share`` of the table's cells have (a model fitted on
    conditions its training cells lack could never be applied).

    Raises
    ------
    InvalidInput
        No protocol condition is common enough.
    """
    cells, x = cell_matrix(table, conditions)
    nf = len(ROW_FEATURES)
    share = np.isfinite(x.reshape(len(x), len(conditions), nf)).all(axis=2).mean(axis=0)
    keep = [c for c, sh in zip(conditions, share, strict=True) if sh >= min_share]
    if not keep:
        raise InvalidInput(f"no protocol condition (SOC [%], width [ms]) of {conditions} is present in "
                           f"{100 * min_share:.0f} % of the {len(cells)} cells", source="pulse table")
    return keep


def condition_share(x: np.ndarray, n_conditions: int) -> np.ndarray:
    """Share of protocol conditions present per cell [-]."""
    nf = len(ROW_FEATURES)
    present = np.isfinite(x.reshape(len(x), n_conditions, nf)).all(axis=2)
    return present.mean(axis=1)


def transform_features(x: np.ndarray, transform: str) -> np.ndarray:
    """Apply a model's feature transform to a cell matrix of :func:`cell_matrix`.

    ``'log_resistance'``: natural logarithm of every resistance feature (floored at
    :data:`LOG_FLOOR_V_PER_C`), the rest voltage unchanged; ``'none'``: unchanged.
    """
    if transform == "none":
        return x
    if transform != "log_resistance":
        raise InvalidInput(f"unknown feature transform {transform!r}", source="model file")
    nf = len(ROW_FEATURES)
    res = np.array([ROW_FEATURES[k % nf] != "ocv_v" for k in range(x.shape[1])])
    out = x.copy()
    with np.errstate(invalid="ignore"):
        out[:, res] = np.log(np.maximum(x[:, res], LOG_FLOOR_V_PER_C))
    out[:, res] = np.where(np.isfinite(x[:, res]), out[:, res], np.nan)
    return out


def estimator_transform(estimator: str) -> str:
    """Feature transform an estimator name implies (``..._log``: ``'log_resistance'``)."""
    return "log_resistance" if estimator.endswith("_log") else "none"


# --------------------------------------------------------------------------- estimators
def _ridge(z: np.ndarray, y: np.ndarray, alphas: np.ndarray = _ALPHAS) -> np.ndarray:
    """Ridge coefficients on standardised z, alpha by exact leave-one-out (one row per cell)."""
    ym = y - y.mean()
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    uty = u.T @ ym
    best: tuple[float, np.ndarray] = (np.inf, np.zeros(z.shape[1]))
    for alpha in alphas:
        coef = vt.T @ (s / (s**2 + alpha) * uty)
        h = (u**2 * (s**2 / (s**2 + alpha))).sum(axis=1) + 1.0 / len(y)
        mse = float(np.mean(((ym - z @ coef) / np.clip(1.0 - h, 1e-9, None)) ** 2))
        if mse < best[0]:
            best = (mse, coef)
    return best[1]


def _pls(z: np.ndarray, y: np.ndarray, n_components: int) -> np.ndarray:
    """PLS1 regression coefficients (NIPALS) on centred, standardised z."""
    xk = z.copy()
    yk = y - y.mean()
    w_list, p_list, q_list = [], [], []
    for _ in range(n_components):
        w = xk.T @ yk
        norm = np.linalg.norm(w)
        if norm == 0:
            break
        w /= norm
        t = xk @ w
        tt = float(t @ t)
        p = xk.T @ t / tt
        q = float(yk @ t) / tt
        xk = xk - np.outer(t, p)
        yk = yk - q * t
        w_list.append(w)
        p_list.append(p)
        q_list.append(q)
    if not w_list:
        return np.zeros(z.shape[1])
    w_m, p_m = np.column_stack(w_list), np.column_stack(p_list)
    return w_m @ np.linalg.solve(p_m.T @ w_m, np.asarray(q_list))


@dataclass(frozen=True)
class _Linear:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    transform: str = "none"

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = transform_features(x, self.transform)
        z = np.nan_to_num((x - self.mean) / self.scale, nan=0.0)  # missing condition -> training mean
        return z @ self.coef + self.intercept


def _fit_linear(x: np.ndarray, y: np.ndarray, estimator: str) -> _Linear:
    """Fit one estimator on a cell matrix (untransformed).

    Names: ``ridge`` or ``pls<k>``, optionally prefixed ``c`` (one model per protocol condition,
    predictions averaged: still one linear model, the per-condition coefficients divided by the
    number of conditions) and suffixed ``_log`` (:func:`transform_features`, ``'log_resistance'``).
    """
    transform = estimator_transform(estimator)
    x = transform_features(x, transform)
    base = estimator.removesuffix("_log")
    if base.startswith("c"):
        nf = len(ROW_FEATURES)
        parts = [_fit_one(x[:, j:j + nf], y, base[1:]) for j in range(0, x.shape[1], nf)]
        k = len(parts)
        return _Linear(np.concatenate([p.mean for p in parts]), np.concatenate([p.scale for p in parts]),
                       np.concatenate([p.coef for p in parts]) / k, float(np.mean([p.intercept for p in parts])),
                       transform)
    return replace(_fit_one(x, y, base), transform=transform)


def _fit_one(x: np.ndarray, y: np.ndarray, estimator: str) -> _Linear:
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    z = z - z.mean(axis=0)
    coef = _ridge(z, y) if estimator == "ridge" else _pls(z, y, int(estimator[3:]))
    intercept = float(y.mean() - (np.nan_to_num((x - mean) / scale, nan=0.0).mean(axis=0) @ coef))
    return _Linear(mean, scale, coef, intercept)


def _folds(cells: pd.Index, qn: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Fold of each cell: by cell, stratified per format (as :func:`pulse_model.cross_validate`)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(cells), dtype=int)
    for q in np.unique(qn):
        idx = np.flatnonzero(qn == q)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % n_splits
    return fold


def _quantile(abs_resid: np.ndarray, coverage: float) -> float:
    """Finite-sample split-conformal quantile of absolute residuals [SOH %]."""
    n = len(abs_resid)
    level = min(1.0, math.ceil((n + 1) * coverage) / n)
    return float(np.quantile(abs_resid, level))


# --------------------------------------------------------------------------- fitting
def _cell_labels(table: pd.DataFrame, cells: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    per = table.assign(cell_id=table["cell_id"].astype(str)).groupby("cell_id").agg(
        soh=("SOH", "first"), qn=("Qn", "first"))
    per = per.loc[cells]
    return per["soh"].to_numpy(dtype=float) * 100.0, per["qn"].to_numpy(dtype=float)


def validate_estimators(table: pd.DataFrame, *, conditions: list[tuple[float, float]] | None = None,
                        candidates: tuple[str, ...] = CANDIDATES, n_splits: int = 5,
                        seed: int = 0) -> dict[str, pd.DataFrame]:
    """Out-of-fold predictions of each candidate: within-format CV by cell, and leave-one-format-out.

    Parameters
    ----------
    table : pandas.DataFrame
        Labelled pulse table (``cell_id, Qn`` [Ah], ``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..U17``
        [V], ``SOH`` [-]).
    conditions : list of (float, float), optional
        Protocol conditions (default: SOC 5-50 % x widths 100, 1000 ms).
    candidates : tuple of str
        Estimators: ``'ridge'`` or ``'pls<k>'``.
    n_splits : int
        Folds of the within-format cross-validation (by cell, stratified per format).
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    dict of str to pandas.DataFrame
        Per candidate, one row per cell: ``cell_id, qn_ah, soh_true_pct, soh_cv_pct, soh_lofo_pct``
        (``soh_lofo_pct`` NaN when the table has a single format).
    """
    conds = present_conditions(table, conditions or [(s, w) for s in PROTOCOL_SOC_PCT for w in PROTOCOL_WIDTHS_MS])
    cells, x = cell_matrix(table, conds)
    y, qn = _cell_labels(table, cells)
    fold = _folds(cells, qn, n_splits, seed)
    out: dict[str, pd.DataFrame] = {}
    for est in candidates:
        cv = np.full(len(cells), np.nan)
        for f in range(n_splits):
            te = fold == f
            if te.any() and (~te).sum() > 2:
                cv[te] = _fit_linear(x[~te], y[~te], est).predict(x[te])
        lofo = np.full(len(cells), np.nan)
        formats = np.unique(qn)
        if len(formats) > 1:
            for q in formats:
                te = qn == q
                lofo[te] = _fit_linear(x[~te], y[~te], est).predict(x[te])
        out[est] = pd.DataFrame({"cell_id": cells, "qn_ah": qn, "soh_true_pct": y, "soh_cv_pct": cv,
                                 "soh_lofo_pct": lofo})
    return out


def _rmse(err: pd.Series | np.ndarray) -> float:
    e = np.asarray(err, dtype=float)
    e = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(e**2))) if len(e) else float("nan")


def baseline_ridge(table: pd.DataFrame, conditions: list[tuple[float, float]], *, n_splits: int = 5,
                   seed: int = 0) -> pd.DataFrame:
    """The plain multi-SOC ridge every candidate is compared with, on the same cells and folds.

    Raw voltages ``U1..U41`` of the protocol conditions side by side (one vector per cell; columns
    present in fewer than 95 % of the cells dropped, missing values set to the training mean),
    standardised, ridge with alpha by exact leave-one-out over 1e-3..1e4. Within-format CV is per
    format (as a per-format model would be fitted); leave-one-format-out trains on the other formats.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``cell_id, qn_ah, soh_true_pct, soh_cv_pct, soh_lofo_pct``.
    """
    tab = table.assign(cell_id=table["cell_id"].astype(str))
    soc = tab["SOC"].to_numpy(dtype=float)
    width = tab["pulse_width_ms"].to_numpy(dtype=float)
    u_cols = [c for c in (f"U{i}" for i in range(1, 42)) if c in tab]
    cells = pd.Index(np.unique(tab["cell_id"].to_numpy()))
    pos = cells.get_indexer(tab["cell_id"].to_numpy())
    u = tab[u_cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    x = np.full((len(cells), len(conditions) * len(u_cols)), np.nan)
    for j, (s_, w) in enumerate(conditions):
        m = (np.abs(soc - s_) <= 2.5) & (np.abs(width - w) <= 0.1 * w)
        x[pos[m], j * len(u_cols):(j + 1) * len(u_cols)] = u[m]
    x = x[:, np.isfinite(x).mean(axis=0) >= 0.95]
    y, qn = _cell_labels(tab, cells)
    fold = _folds(cells, qn, n_splits, seed)

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        mean = np.nanmean(x[tr], axis=0)
        scale = np.nanstd(x[tr], axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        z_tr = np.nan_to_num((x[tr] - mean) / scale, nan=0.0)
        z_te = np.nan_to_num((x[te] - mean) / scale, nan=0.0)
        centre = z_tr.mean(axis=0)
        coef = _ridge(z_tr - centre, y[tr], alphas=np.logspace(-3, 4, 15))
        return (z_te - centre) @ coef + y[tr].mean()

    cv = np.full(len(cells), np.nan)
    lofo = np.full(len(cells), np.nan)
    for q in np.unique(qn):
        for f in range(n_splits):
            tr, te = (qn == q) & (fold != f), (qn == q) & (fold == f)
            if te.any() and tr.sum() > 2:
                cv[te] = fit_predict(tr, te)
        if len(np.unique(qn)) > 1:
            lofo[qn == q] = fit_predict(qn != q, qn == q)
    return pd.DataFrame({"cell_id": cells, "qn_ah": qn, "soh_true_pct": y, "soh_cv_pct": cv, "soh_lofo_pct": lofo})


def selection_table(validation: dict[str, pd.DataFrame], baseline: pd.DataFrame | None = None,
                    coverage: float = 0.9) -> list[dict[str, Any]]:
    """Per candidate and format: within-format CV RMSE, held-out-format RMSE [SOH points], the plain
    ridge's held-out RMSE on the same cells, and the cross coverage of the unseen-format interval (its
    half-width calibrated on the other held-out formats only) [-]."""
    base: dict[str, float] = {}
    if baseline is not None:
        for q, grp in baseline.groupby("qn_ah"):
            base[format_key(float(q))] = _rmse(grp["soh_lofo_pct"] - grp["soh_true_pct"])
    rows = []
    for est, frame in validation.items():
        rec: dict[str, Any] = {"estimator": est}
        err = np.abs(frame["soh_lofo_pct"] - frame["soh_true_pct"]).to_numpy(dtype=float)
        qn = frame["qn_ah"].to_numpy(dtype=float)
        for q, grp in frame.groupby("qn_ah"):
            k = format_key(float(q))
            rec[f"cv_rmse_{k}"] = _rmse(grp["soh_cv_pct"] - grp["soh_true_pct"])
            rec[f"lofo_rmse_{k}"] = _rmse(grp["soh_lofo_pct"] - grp["soh_true_pct"])
            other = err[(qn != q) & np.isfinite(err)]
            mine = err[(qn == q) & np.isfinite(err)]
            rec[f"cross_coverage_{k}"] = (float(np.mean(mine <= _quantile(other, coverage)))
                                          if len(other) and len(mine) else float("nan"))
            if k in base:
                rec[f"baseline_lofo_rmse_{k}"] = base[k]
        lofo = [v for k, v in rec.items() if k.startswith("lofo_") and math.isfinite(v)]
        cv = [v for k, v in rec.items() if k.startswith("cv_") and math.isfinite(v)]
        rec["lofo_rmse_worst"] = max(lofo) if lofo else float("nan")
        rec["lofo_rmse_mean"] = float(np.mean(lofo)) if lofo else float("nan")
        rec["cv_rmse_worst"] = max(cv) if cv else float("nan")
        rows.append(rec)
    return rows


def _admissible(rec: dict[str, Any]) -> bool:
    """At least as accurate as the plain ridge on every held-out format, and the cross coverage of the
    unseen-format interval at least :data:`MIN_CROSS_COVERAGE` on every one."""
    fmts = [k.removeprefix("lofo_rmse_") for k in rec if k.startswith("lofo_rmse_") and k[10:] not in {"worst", "mean"}]
    return all(rec[f"lofo_rmse_{k}"] <= rec.get(f"baseline_lofo_rmse_{k}", math.inf)
               and rec.get(f"cross_coverage_{k}", 0.0) >= MIN_CROSS_COVERAGE for k in fmts)


def choose_estimator(rows: list[dict[str, Any]]) -> str:
    """The chosen candidate (rule fixed before the candidates were compared; RESULTS.md, triage transfer).

    With two or more formats: among the candidates that are at least as accurate as the plain ridge
    (:func:`baseline_ridge`) on **every** held-out format and whose unseen-format interval covers at
    least :data:`MIN_CROSS_COVERAGE` of every held-out format when calibrated on the others, the lowest
    worst-format held-out RMSE, then the lowest mean held-out RMSE, then the lowest worst within-format
    CV RMSE (RMSEs compared to 0.01 points). When none qualifies, the lowest worst-format held-out RMSE.
    With one format: the lowest worst within-format CV RMSE.
    """
    if not all(math.isfinite(r["lofo_rmse_worst"]) for r in rows):
        return str(min(rows, key=lambda r: r["cv_rmse_worst"])["estimator"])
    pool = [r for r in rows if _admissible(r)] or rows
    return str(min(pool, key=lambda r: (round(r["lofo_rmse_worst"], 2), round(r["lofo_rmse_mean"], 2),
                                        r["cv_rmse_worst"]))["estimator"])


def fit_transfer(table: pd.DataFrame, *, chemistry: str = "LFP", conditions: list[tuple[float, float]] | None = None,
                 candidates: tuple[str, ...] = CANDIDATES, coverage: float = 0.9, n_splits: int = 5,
                 seed: int = 0, sources: list[str] | None = None) -> TransferModel:
    """Fit the transfer model: choose the estimator, calibrate both intervals, record the domain.

    Parameters
    ----------
    table : pandas.DataFrame
        Labelled pulse table (see :func:`validate_estimators`); all rows (every SOC and width) enter
        the domain record, the protocol conditions enter the regression.
    chemistry : str
        Chemistry of the training cells (recorded in the domain).
    conditions, candidates, n_splits, seed
        As in :func:`validate_estimators`.
    coverage : float
        Nominal coverage of the intervals (0-1).
    sources : list of str, optional
        Training file names for the provenance.

    Returns
    -------
    TransferModel
    """
    for col in ["cell_id", "Qn", "SOC", "pulse_width_ms", "SOH"]:
        if col not in table:
            raise InvalidInput([Problem(None, col, "required for training")], source="pulse table")
    if not np.isfinite(table["SOH"].to_numpy(dtype=float)).all():
        raise InvalidInput([Problem(None, "SOH", "label missing on some rows")], source="pulse table")
    conds = present_conditions(table, conditions or [(s, w) for s in PROTOCOL_SOC_PCT for w in PROTOCOL_WIDTHS_MS])
    validation = validate_estimators(table, conditions=conds, candidates=candidates, n_splits=n_splits, seed=seed)
    baseline = baseline_ridge(table, conds, n_splits=n_splits, seed=seed) if table["Qn"].nunique() > 1 else None
    rows = selection_table(validation, baseline, coverage)
    winner = choose_estimator(rows)
    cells, x = cell_matrix(table, conds)
    y, qn = _cell_labels(table, cells)
    share = condition_share(x, len(conds))
    if (share > 0).sum() < 10:
        raise InvalidInput(f"fewer than 10 labelled cells have rows at the protocol conditions {conds}",
                           source="pulse table")
    lin = _fit_linear(x, y, winner)
    val = validation[winner]
    half_by_format = {}
    for q, grp in val.groupby("qn_ah"):
        r = np.abs(grp["soh_cv_pct"] - grp["soh_true_pct"]).dropna().to_numpy()
        half_by_format[format_key(float(q))] = _quantile(r, coverage)
    half_unseen, ratio_unseen = None, None
    if val["soh_lofo_pct"].notna().any():
        r = np.abs(val["soh_lofo_pct"] - val["soh_true_pct"]).dropna().to_numpy()
        half_unseen = _quantile(r, coverage)
        ratios = []
        for q in np.unique(qn):
            train = table[table["Qn"].to_numpy(dtype=float) != q]
            test = table[table["Qn"].to_numpy(dtype=float) == q]
            ratios.append(cell_ratios(test, fit_domain(train)).replace(np.inf, np.nan).dropna().to_numpy())
        allr = np.concatenate(ratios)
        ratio_unseen = float(np.quantile(allr, UNSEEN_RATIO_QUANTILE)) if len(allr) else None
    model = TransferModel(
        chemistries=[chemistry], formats_ah=sorted(float(q) for q in np.unique(qn)), conditions=conds,
        estimator=winner, x_mean=lin.mean.tolist(), x_scale=lin.scale.tolist(), coef=lin.coef.tolist(),
        intercept=lin.intercept, coverage=coverage, half_width_by_format=half_by_format,
        half_width_unseen_pct=half_unseen, ratio_unseen_max=ratio_unseen, domain=fit_domain(table),
        feature_transform=lin.transform)
    model.metadata = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": (f"per protocol condition (SOC, width): {', '.join(ROW_FEATURES)} "
                     "(capacity-normalised pulse resistances [V/C] and rest voltage [V]; U1..U17); transform "
                     f"{lin.transform}"),
        "selection": {"rule": "at least as accurate as a plain multi-SOC ridge on raw U (same cells) on every "
                              "held-out format, cross coverage of the unseen-format 90 % interval >= "
                              f"{100 * MIN_CROSS_COVERAGE:.0f} % on each; then lowest worst-format, then mean "
                              "leave-one-format-out RMSE; within-format 5-fold CV by cell recorded",
                      "candidates": rows, "chosen": winner,
                      "folds": f"{n_splits} folds by cell, stratified per format, seed {seed}"},
        "training": {"sources": sources or sorted(table.get("source_file", pd.Series(dtype=str)).unique().tolist()),
                     "n_rows": len(table), "n_cells": len(cells), "formats_ah": model.formats_ah,
                     "chemistries": [chemistry]},
        "provenance": [{"step": "fit", "utc": datetime.now(UTC).isoformat(timespec="seconds"),
                        "n_cells": len(cells)}],
    }
    return model


# --------------------------------------------------------------------------- prediction
def predict_transfer(table: pd.DataFrame, model: TransferModel) -> pd.DataFrame:
    """Point estimate per cell and the share of protocol conditions it has.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell_id, soh_pct, condition_share`` (``soh_pct`` [%] NaN below the model's minimum
        condition share) and ``missing_conditions`` (text).
    """
    cells, x = cell_matrix(table, model.conditions)
    share = condition_share(x, len(model.conditions))
    lin = _Linear(np.asarray(model.x_mean), np.asarray(model.x_scale), np.asarray(model.coef), model.intercept,
                  model.feature_transform)
    pred = lin.predict(x)
    pred = np.where(share >= model.min_condition_share, pred, np.nan)
    nf = len(ROW_FEATURES)
    present = np.isfinite(x.reshape(len(x), len(model.conditions), nf)).all(axis=2)
    missing = [_describe_missing(model.conditions, row) for row in present]
    return pd.DataFrame({"cell_id": cells, "soh_pct": pred, "condition_share": share, "missing_conditions": missing})


def _describe_missing(conditions: list[tuple[float, float]], present: np.ndarray) -> str:
    """'SOC 10, 15 % at 100 and 1000 ms; SOC 20 % at 100 ms' for the conditions a cell lacks."""
    by_widths: dict[tuple[float, ...], list[float]] = {}
    socs = sorted({s for s, _ in conditions})
    for soc in socs:
        widths = tuple(w for (s, w), p in zip(conditions, present, strict=True) if s == soc and not p)
        if widths:
            by_widths.setdefault(widths, []).append(soc)
    return "; ".join(f"SOC {', '.join(f'{s:g}' for s in ss)} % at {' and '.join(f'{w:g}' for w in ws)} ms"
                     for ws, ss in by_widths.items())


# --------------------------------------------------------------------------- persistence
def transfer_to_dict(model: TransferModel) -> dict[str, Any]:
    """Plain-JSON form of a transfer model."""
    data = asdict(model)
    data["conditions"] = [list(c) for c in model.conditions]
    data["domain"] = [asdict(d) for d in model.domain]
    return {"format": TRANSFER_FORMAT, "version": TRANSFER_VERSION, **data}


def transfer_from_dict(data: dict[str, Any]) -> TransferModel:
    """Inverse of :func:`transfer_to_dict`; validates the format tag and version."""
    if data.get("format") != TRANSFER_FORMAT:
        raise InvalidInput(f"not a pulse SOH transfer model (format {data.get('format')!r})", source="model file")
    if str(data.get("version", "")).split(".")[0] != TRANSFER_VERSION.split(".")[0]:
        raise InvalidInput(f"transfer model version {data.get('version')} not supported", source="model file")
    fields = {k: v for k, v in data.items() if k not in {"format", "version"}}
    fields["conditions"] = [(float(s), float(w)) for s, w in fields["conditions"]]
    fields["domain"] = [ConditionDomain(**d) for d in fields["domain"]]
    return TransferModel(**fields)


def save_transfer(model: TransferModel, path: str | Path) -> None:
    """Write a transfer model as JSON."""
    Path(path).write_text(json.dumps(transfer_to_dict(model), indent=1) + "\n", encoding="utf-8")


def load_transfer(path: str | Path) -> TransferModel:
    """Read a model written by :func:`save_transfer` (pure JSON)."""
    return transfer_from_dict(read_model_json(path))


def default_transfer_model() -> TransferModel:
    """The shipped transfer model (``reference/models/pulse_soh_lfp_transfer_v1.json``, see SOURCE.md there)."""
    return load_transfer(Path(__file__).resolve().parents[1] / "reference" / "models" / "pulse_soh_lfp_transfer_v1.json")
