"""Pulse -> SOH model: a bank of ridge regressions, one per (cell format, SOC level, pulse width).

Why this design
---------------
The short pulse test of one cell yields rows at several SOC levels and pulse widths. One pooled
model across all rows is poor on the 35 Ah format (cross-validated by cell: 3.9 SOH points, see
``benchmarks/RESULTS.md``) because the voltage response changes shape with SOC and width.
A *bank* of small ridge models, each trained on the rows of one (format, SOC, width) condition,
is the "one-pulse ridge" baseline of the literature replicated per condition. A cell's estimate
combines every row it has: the ``top_k`` sub-models with the lowest cross-validated error are
averaged with inverse-variance weights ``1 / mse_k`` where ``mse_k`` is each sub-model's own
cross-validated (by cell) mean squared error on its training data. Ridge is chosen over gradient
boosting because, with 56-102 cells per format, the regularised linear model generalises better
(measured: boosting 4.1 on 35 Ah) and its coefficients serialise to plain JSON — nothing is
unpickled when a model file is loaded.

Interval
--------
Normalised split-conformal: each cell gets a scale ``sigma = (sum_k w_k)^(-1/2)`` (independent
errors assumed) and the half-width is ``q * sigma`` where ``q`` is the ``coverage`` quantile of
``|residual| / sigma`` over cells in the cross-validation of :func:`fit` (out-of-fold residuals).
Correlated sub-model errors make ``sigma`` over-shrink for cells with many rows; ``q`` is
calibrated on exactly those (full-table) cells, so intervals from only a few rows are conservative.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem

MODEL_FORMAT = "circulith.pulse_soh_bank"
MODEL_VERSION = "1.0"
U_COLUMNS = [f"U{i}" for i in range(1, 42)]
_ALPHAS = np.logspace(-2, 4, 13)


@dataclass(frozen=True)
class SubModel:
    """Ridge model of one condition; prediction = ((u[cols] - mean) / scale) @ coef + intercept [SOH %]."""

    qn_ah: float
    soc_pct: float
    pulse_width_ms: float
    columns: list[int]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    alpha: float
    cv_mse: float
    n_cells: int

    def predict(self, u_v: np.ndarray) -> np.ndarray:
        """SOH [%] for rows of U1...U41 [V] (NaN where a needed column is missing)."""
        x = (u_v[:, self.columns] - np.asarray(self.mean)) / np.asarray(self.scale)
        return x @ np.asarray(self.coef) + self.intercept


@dataclass
class PulseModel:
    """A fitted pulse -> SOH model (plain data; save with :func:`save_model`, load with :func:`load_model`)."""

    submodels: list[SubModel]
    top_k: int = 20
    conformal_q: float = 1.645
    coverage: float = 0.9
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CellEstimate:
    """SOH estimate of one cell from its pulse rows."""

    cell_id: str
    soh_pct: float
    soh_low_pct: float
    soh_high_pct: float
    coverage: float
    n_rows_used: int
    n_rows: int
    soh_true_pct: float | None = None


# --------------------------------------------------------------------------- fitting
def _ridge_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Ridge with alpha by exact leave-one-out (one row per cell here, so LOO is by cell).

    Returns coef, intercept, alpha, loo_mse on standardised x.
    """
    xm = x - x.mean(axis=0)
    ym = y - y.mean()
    u, s, vt = np.linalg.svd(xm, full_matrices=False)
    uty = u.T @ ym
    best: tuple[float, float, np.ndarray] = (np.inf, 0.0, np.zeros(x.shape[1]))
    for alpha in _ALPHAS:
        d = s / (s**2 + alpha)
        coef = vt.T @ (d * uty)
        h = (u**2 * (s**2 / (s**2 + alpha))).sum(axis=1) + 1.0 / len(y)
        resid = (ym - xm @ coef) / np.clip(1.0 - h, 1e-9, None)
        mse = float(np.mean(resid**2))
        if mse < best[0]:
            best = (mse, float(alpha), coef)
    mse, alpha, coef = best
    intercept = float(y.mean() - x.mean(axis=0) @ coef)
    return coef, intercept, alpha, mse


def _fit_bank(table: pd.DataFrame, min_cells: int) -> list[SubModel]:
    u_all = table[U_COLUMNS].to_numpy(dtype=float)
    y_all = table["SOH"].to_numpy(dtype=float) * 100.0
    subs: list[SubModel] = []
    keys = table[["Qn", "SOC", "pulse_width_ms"]].to_numpy(dtype=float)
    for qn, soc, width in np.unique(keys, axis=0):
        m = (keys[:, 0] == qn) & (keys[:, 1] == soc) & (keys[:, 2] == width)
        u, y = u_all[m], y_all[m]
        cols = np.flatnonzero(np.isfinite(u).mean(axis=0) >= 0.9)
        rows = np.isfinite(u[:, cols]).all(axis=1) & np.isfinite(y)
        if rows.sum() < min_cells or len(cols) < 2:
            continue
        x = u[rows][:, cols]
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        coef, intercept, alpha, mse = _ridge_fit((x - mean) / scale, y[rows])
        subs.append(SubModel(float(qn), float(soc), float(width), cols.tolist(), mean.tolist(), scale.tolist(),
                             coef.tolist(), intercept, alpha, mse, int(rows.sum())))
    return subs


def _check_training(table: pd.DataFrame) -> None:
    missing = [c for c in ["cell_id", "Qn", "SOC", "pulse_width_ms", "SOH", *U_COLUMNS] if c not in table]
    if missing:
        raise InvalidInput([Problem(None, c, "required for training") for c in missing], source="pulse table")
    bad = np.flatnonzero(~np.isfinite(table["SOH"].to_numpy(dtype=float)))
    if len(bad):
        raise InvalidInput([Problem(int(r) + 1, "SOH", "label missing", str(table["cell_id"].iloc[r]))
                            for r in bad[:20]], source="pulse table")
    # one label per cell
    n_labels = table.groupby("cell_id")["SOH"].nunique()
    if (n_labels > 1).any():
        cid = str(n_labels[n_labels > 1].index[0])
        raise InvalidInput([Problem(None, "SOH", "one cell has several SOH labels", cid)], source="pulse table")


def cross_validate(table: pd.DataFrame, *, n_splits: int = 5, top_k: int = 20, min_cells: int = 20,
                   seed: int = 0) -> pd.DataFrame:
    """Out-of-fold SOH predictions, cross-validated **by cell** (folds stratified per format).

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical pulse table with labels (``SOH`` [-]).
    n_splits : int
        Number of folds; each cell is in exactly one test fold.
    top_k, min_cells : int
        As in :func:`fit`.
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``cell_id, qn_ah, soh_true_pct, soh_pct, sigma_pct, n_rows_used``.
    """
    _check_training(table)
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for _, cells in table.groupby("Qn")["cell_id"]:
        for i, c in enumerate(rng.permutation(np.unique(cells.to_numpy()))):
            fold_of[str(c)] = i % n_splits
    fold = table["cell_id"].map(fold_of).to_numpy()
    parts = []
    for f in range(n_splits):
        train, test = table[fold != f], table[fold == f]
        model = PulseModel(_fit_bank(train, min_cells), top_k=top_k)
        est = _combine(test, model)
        parts.append(est)
    out = pd.concat(parts, ignore_index=True)
    truth = table.groupby("cell_id").agg(qn_ah=("Qn", "first"), soh_true_pct=("SOH", "first"))
    truth["soh_true_pct"] *= 100.0
    return out.merge(truth, left_on="cell_id", right_index=True)


def fit(table: pd.DataFrame, *, top_k: int = 20, min_cells: int = 20, coverage: float = 0.9,
        n_splits: int = 5, sources: list[str] | None = None) -> PulseModel:
    """Fit the pulse -> SOH model and calibrate its interval by cross-validation by cell.

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical pulse table(s) with labels: ``cell_id, Qn`` [Ah], ``SOC`` [%], ``pulse_width_ms``
        [ms], ``U1..U41`` [V], ``SOH`` [-].
    top_k : int
        Number of best sub-models combined per cell.
    min_cells : int
        Minimum cells for a condition to get its own sub-model.
    coverage : float
        Nominal coverage of the interval (0-1).
    n_splits : int
        Folds of the calibrating cross-validation (by cell); 0 skips it (interval then uses 1.645).
    sources : list of str, optional
        Names of the training files, recorded in the model metadata.

    Returns
    -------
    PulseModel
    """
    _check_training(table)
    subs = _fit_bank(table, min_cells)
    if not subs:
        raise InvalidInput(f"no condition (format, SOC, width) has {min_cells} labelled cells; cannot fit",
                           source="pulse table")
    model = PulseModel(subs, top_k=top_k, coverage=coverage)
    cv_summary: dict[str, Any] = {}
    if n_splits >= 2:
        cv = cross_validate(table, n_splits=n_splits, top_k=top_k, min_cells=min_cells)
        ok = np.isfinite(cv["soh_pct"])
        score = np.abs(cv["soh_pct"] - cv["soh_true_pct"])[ok] / cv["sigma_pct"][ok]
        n = len(score)
        # finite-sample conformal quantile
        level = min(1.0, math.ceil((n + 1) * coverage) / n) if n else coverage
        model.conformal_q = float(np.quantile(score, level)) if n else 1.645
        for qn, grp in cv[ok].groupby("qn_ah"):
            err = grp["soh_pct"] - grp["soh_true_pct"]
            cv_summary[f"{qn:g}Ah"] = {"rmse_soh_pct": float(np.sqrt(np.mean(err**2))),
                                       "mae_soh_pct": float(np.mean(np.abs(err))), "n_cells": len(grp)}
        cv_summary["method"] = f"GroupKFold by cell, {n_splits} folds, stratified per format, seed 0"
    model.metadata = {
        "format": MODEL_FORMAT, "version": MODEL_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": "raw U1..U41 per (Qn, SOC, pulse_width_ms) condition, standardised",
        "training": {"sources": sources or sorted(table.get("source_file", pd.Series(dtype=str)).unique().tolist()),
                     "n_rows": len(table), "n_cells": int(table["cell_id"].nunique()),
                     "formats_ah": sorted(float(q) for q in table["Qn"].unique())},
        "cross_validation": cv_summary,
    }
    return model


# --------------------------------------------------------------------------- estimation
def _match(model: PulseModel, qn: np.ndarray, soc: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Index of the sub-model of each row (-1 if none): same Qn, SOC within 2.5 %, width within 10 %."""
    keys = np.array([(s.qn_ah, s.soc_pct, s.pulse_width_ms) for s in model.submodels])
    if len(keys) == 0:
        return np.full(len(qn), -1)
    ok = ((np.abs(qn[:, None] - keys[None, :, 0]) < 1e-6)
          & (np.abs(soc[:, None] - keys[None, :, 1]) <= 2.5)
          & (np.abs(width[:, None] - keys[None, :, 2]) <= 0.1 * keys[None, :, 2]))
    dist = np.abs(soc[:, None] - keys[None, :, 1]) + np.abs(np.log(width[:, None] / keys[None, :, 2]))
    dist = np.where(ok, dist, np.inf)
    idx = np.argmin(dist, axis=1)
    return np.where(np.isfinite(dist[np.arange(len(qn)), idx]), idx, -1)


def _combine(table: pd.DataFrame, model: PulseModel) -> pd.DataFrame:
    u = table[U_COLUMNS].to_numpy(dtype=float)
    sub_idx = _match(model, table["Qn"].to_numpy(dtype=float), table["SOC"].to_numpy(dtype=float),
                     table["pulse_width_ms"].to_numpy(dtype=float))
    pred = np.full(len(table), np.nan)
    mse = np.full(len(table), np.nan)
    for k in np.unique(sub_idx[sub_idx >= 0]):
        rows = sub_idx == k
        s = model.submodels[k]
        pred[rows] = s.predict(u[rows])
        mse[rows] = s.cv_mse
    frame = pd.DataFrame({"cell_id": table["cell_id"].astype(str).to_numpy(), "pred": pred, "mse": mse})
    frame["n_rows"] = 1
    usable = frame[np.isfinite(frame["pred"])].copy()
    usable["rank"] = usable.groupby("cell_id")["mse"].rank(method="first")
    usable = usable[usable["rank"] <= model.top_k]
    usable["w"] = 1.0 / usable["mse"]
    usable["pw"] = usable["pred"] * usable["w"]
    agg = usable.groupby("cell_id").agg(pw=("pw", "sum"), w=("w", "sum"), n_rows_used=("pred", "size"))
    out = frame.groupby("cell_id").agg(n_rows=("n_rows", "sum")).join(agg, how="left")
    out["soh_pct"] = out["pw"] / out["w"]
    out["sigma_pct"] = 1.0 / np.sqrt(out["w"])
    out["n_rows_used"] = out["n_rows_used"].fillna(0).astype(int)
    return out.reset_index()[["cell_id", "soh_pct", "sigma_pct", "n_rows_used", "n_rows"]]


def combine_rows(table: pd.DataFrame, model: PulseModel) -> pd.DataFrame:
    """Per cell, the combined bank prediction without interval or checks.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell_id, soh_pct`` [%], ``sigma_pct`` [%] (scale of the interval), ``n_rows_used, n_rows``;
        ``n_rows_used`` is 0 (and ``soh_pct`` NaN) for a cell no sub-model can read.
    """
    return _combine(table, model)


def _why_unmatched(rows: pd.DataFrame, model: PulseModel) -> str:
    """What a cell without a usable row lacks: format, SOC level, width, or the voltage columns."""
    formats = sorted({s.qn_ah for s in model.submodels})
    qn = float(rows["Qn"].iloc[0])
    hint = ("for another format use the transfer model (circulith triage estimate --domain), or fit one: "
            "circulith triage fit LABELLED.csv --base shipped --out MODEL.json")
    if not any(abs(qn - f) < 1e-6 for f in formats):
        return f"format {qn:g} Ah not in the bank (trained on {', '.join(f'{f:g}' for f in formats)} Ah); {hint}"
    idx = _match(model, rows["Qn"].to_numpy(dtype=float), rows["SOC"].to_numpy(dtype=float),
                 rows["pulse_width_ms"].to_numpy(dtype=float))
    if (idx < 0).all():
        socs = sorted({s.soc_pct for s in model.submodels if abs(s.qn_ah - qn) < 1e-6})
        widths = sorted({s.pulse_width_ms for s in model.submodels if abs(s.qn_ah - qn) < 1e-6})
        return (f"no row at a trained condition of the {qn:g} Ah format: SOC levels "
                f"{', '.join(f'{v:g}' for v in socs)} %, widths {', '.join(f'{v:g}' for v in widths)} ms "
                f"(input has SOC {', '.join(f'{v:g}' for v in sorted(rows['SOC'].unique()))} %, widths "
                f"{', '.join(f'{v:g}' for v in sorted(rows['pulse_width_ms'].unique()))} ms)")
    u = rows[U_COLUMNS].to_numpy(dtype=float)
    need: set[int] = set()
    for r, k in enumerate(idx):
        if k >= 0:
            cols = model.submodels[k].columns
            need |= {c for c in cols if not np.isfinite(u[r, c])}
    missing = [U_COLUMNS[c] for c in sorted(need)]
    return (f"the matching sub-models need voltage columns the input lacks or leaves empty: "
            f"{_span(missing)}; the transfer model needs only U1..U17 (circulith triage estimate --domain; "
            "it is fitted on LFP: for another chemistry fit one from a few labelled cells: circulith triage fit "
            "LABELLED.csv --base shipped --chemistry <chemistry> --out MODEL.json)")


def _span(cols: list[str]) -> str:
    """``U22..U41`` for a contiguous run of U columns, else the list."""
    nums = [int(c[1:]) for c in cols]
    if len(nums) > 2 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"U{nums[0]}..U{nums[-1]}"
    return ", ".join(cols)


def estimate(table: pd.DataFrame, model: PulseModel) -> list[CellEstimate]:
    """Estimate SOH per ``cell_id`` from its pulse rows, with a calibrated interval.

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical pulse table (``cell_id, Qn`` [Ah], ``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..U41``
        [V]); labels, when present, are echoed as ``soh_true_pct``.
    model : PulseModel

    Returns
    -------
    list of CellEstimate
        One per cell, sorted by ``cell_id``.

    Raises
    ------
    InvalidInput
        A cell with no row matching a trained condition (format, SOC, width): the message names the
        cell and the conditions the model knows, i.e. what further pulse test would be needed.
    """
    missing = [c for c in ["cell_id", "Qn", "SOC", "pulse_width_ms", *U_COLUMNS] if c not in table]
    if missing:
        raise InvalidInput([Problem(None, c, "required column missing") for c in missing], source="pulse table")
    combined = _combine(table, model)
    none = combined[combined["n_rows_used"] == 0]
    if len(none):
        ids = table["cell_id"].astype(str)
        raise InvalidInput([Problem(None, "", f"insufficient data: {_why_unmatched(table[ids == c], model)}", str(c))
                            for c in none["cell_id"]], source="pulse table")
    truth = None
    if "SOH" in table:
        truth = table.groupby(table["cell_id"].astype(str))["SOH"].first() * 100.0
    out = []
    for row in combined.itertuples(index=False):
        half = model.conformal_q * row.sigma_pct
        out.append(CellEstimate(str(row.cell_id), float(row.soh_pct), float(row.soh_pct - half),
                                float(row.soh_pct + half), model.coverage, int(row.n_rows_used), int(row.n_rows),
                                None if truth is None else float(truth[row.cell_id])))
    return sorted(out, key=lambda e: e.cell_id)


# --------------------------------------------------------------------------- persistence
def model_to_dict(model: PulseModel) -> dict[str, Any]:
    """Plain-JSON form of a model (coefficients only; nothing executable)."""
    return {**model.metadata, "format": MODEL_FORMAT, "version": MODEL_VERSION, "top_k": model.top_k,
            "conformal_q": model.conformal_q, "coverage": model.coverage,
            "submodels": [s.__dict__ for s in model.submodels]}


def model_from_dict(data: dict[str, Any]) -> PulseModel:
    """Inverse of :func:`model_to_dict`; validates the format tag and version."""
    if data.get("format") != MODEL_FORMAT:
        raise InvalidInput(f"not a pulse SOH model (format {data.get('format')!r})", source="model file")
    if str(data.get("version", "")).split(".")[0] != MODEL_VERSION.split(".")[0]:
        raise InvalidInput(f"model version {data.get('version')} not supported (expected {MODEL_VERSION})",
                           source="model file")
    subs = [SubModel(**s) for s in data["submodels"]]
    meta = {k: v for k, v in data.items() if k not in {"submodels", "top_k", "conformal_q", "coverage"}}
    return PulseModel(subs, top_k=int(data["top_k"]), conformal_q=float(data["conformal_q"]),
                      coverage=float(data["coverage"]), metadata=meta)


def save_model(model: PulseModel, path: str | Path) -> None:
    """Write the model as JSON."""
    Path(path).write_text(json.dumps(model_to_dict(model), indent=1) + "\n", encoding="utf-8")


def read_model_json(path: str | Path) -> dict[str, Any]:
    """The JSON object of a model file (pure JSON: safe to load from anyone), or a one-line error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read model: {exc}", source=str(path)) from exc
    if not isinstance(data, dict):
        raise InvalidInput("cannot read model: not a JSON object", source=str(path))
    return data


def load_model(path: str | Path) -> PulseModel:
    """Read a model written by :func:`save_model`."""
    return model_from_dict(read_model_json(path))


def default_model() -> PulseModel:
    """The shipped model trained on the retired-LFP pulse dataset (see ``reference/models/SOURCE.md``)."""
    return load_model(Path(__file__).resolve().parents[1] / "reference" / "models" / "pulse_soh_lfp_v1.json")
