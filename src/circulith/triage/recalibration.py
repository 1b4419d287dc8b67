"""Adapt a transfer model to a new format or chemistry from a handful of labelled cells.

Method: the base model's estimate ``p`` is kept as the only feature and mapped to the user's labels
by ``y = a + b p``: the offset ``a`` always, the slope ``b`` shrunk towards 1 with the weight of
``N0_SLOPE`` pseudo-cells (with fewer than ``MIN_SLOPE_CELLS`` labels the correction is an offset only; assumption:
a new format mostly shifts the base model's level, as seen on the held-out format of the shipped
model). The new format enters the model's domain from the labelled cells' own rows, and its interval
half-width is the split-conformal quantile of the leave-one-out residuals of the correction (at least
the base model's widest in-format half-width when fewer than 10 labels).

The expected error against the number of labels is measured by repeated random sub-sampling of the
labelled cells (fit on ``n``, test on the rest) and recorded in the model's provenance.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.domain import fit_domain
from circulith.triage.pulse_transfer import TransferModel, format_key, predict_transfer

N0_SLOPE = 10.0  # pseudo-cells of prior weight on slope 1 [-] (assumption)
MIN_SLOPE_CELLS = 8  # labels below which only the offset is corrected [-] (assumption)


@dataclass(frozen=True)
class LabelCurvePoint:
    """Expected error of a recalibration from ``n_labels`` labelled cells."""

    n_labels: int
    rmse_soh_pct: float
    n_draws: int


def _map(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Offset a and slope b of ``y = a + b p``: offset only below MIN_SLOPE_CELLS labels, else the
    least-squares slope shrunk towards 1 with the weight of N0_SLOPE pseudo-cells."""
    pm, ym = float(p.mean()), float(y.mean())
    if len(p) < MIN_SLOPE_CELLS:
        return ym - pm, 1.0
    sxx = float(((p - pm) ** 2).sum())
    sxy = float(((p - pm) * (y - ym)).sum())
    lam = N0_SLOPE * sxx / len(p)
    b = (sxy + lam) / (sxx + lam) if sxx > 0 else 1.0
    return ym - b * pm, b


def _labelled(table: pd.DataFrame, model: TransferModel) -> pd.DataFrame:
    for col in ["cell_id", "Qn", "SOC", "pulse_width_ms", "SOH"]:
        if col not in table:
            raise InvalidInput([Problem(None, col, "required for recalibration")], source="pulse table")
    pred = predict_transfer(table, model)
    truth = table.assign(cell_id=table["cell_id"].astype(str)).groupby("cell_id").agg(
        soh=("SOH", "first"), qn=("Qn", "first"))
    frame = pred.merge(truth, left_on="cell_id", right_index=True)
    bad = frame[~np.isfinite(frame["soh_pct"])]
    if len(bad):
        raise InvalidInput([Problem(None, "", f"cannot use for recalibration: needs pulses at {m}", str(c))
                            for c, m in zip(bad["cell_id"], bad["missing_conditions"], strict=True)][:20],
                           source="pulse table")
    frame["soh_true_pct"] = frame["soh"].to_numpy(dtype=float) * 100.0
    return frame


def label_curve(p: np.ndarray, y: np.ndarray, *, n_values: list[int] | None = None, draws: int = 200,
                seed: int = 0) -> list[LabelCurvePoint]:
    """RMSE on the held-back cells after recalibrating on ``n`` random labelled cells [SOH points].

    Parameters
    ----------
    p : numpy.ndarray
        Base model estimates of the labelled cells [%].
    y : numpy.ndarray
        Their labels [%].
    n_values : list of int, optional
        Label counts to evaluate (default 0, 1, 2, 3, 5, 8, 12, 20 below the number of cells);
        ``0`` is the base model without recalibration.
    draws : int
        Random draws per count.
    seed : int
        Seed of the draws.

    Returns
    -------
    list of LabelCurvePoint
    """
    rng = np.random.default_rng(seed)
    n = len(p)
    counts = n_values or [k for k in (0, 1, 2, 3, 5, 8, 12, 20) if k < n]
    out = []
    for k in counts:
        if k == 0:
            out.append(LabelCurvePoint(0, float(np.sqrt(np.mean((p - y) ** 2))), 1))
            continue
        errs = []
        for _ in range(draws):
            idx = rng.permutation(n)
            tr, te = idx[:k], idx[k:]
            a, b = _map(p[tr], y[tr])
            errs.append(np.mean((a + b * p[te] - y[te]) ** 2))
        out.append(LabelCurvePoint(k, float(np.sqrt(np.mean(errs))), draws))
    return out


def recalibrate(model: TransferModel, table: pd.DataFrame, *, chemistry: str | None = None,
                sources: list[str] | None = None, draws: int = 200, seed: int = 0) -> TransferModel:
    """Transfer model adapted to the labelled cells' format (and chemistry).

    Parameters
    ----------
    model : TransferModel
        Base model (e.g. the shipped ``pulse_soh_lfp_transfer_v1.json``).
    table : pandas.DataFrame
        Labelled pulse rows of the new cells (one format); at least 2 cells.
    chemistry : str, optional
        Chemistry of the new cells, added to the model's domain.
    sources : list of str, optional
        File names for the provenance.
    draws, seed : int
        Of the expected-error curve (:func:`label_curve`).

    Returns
    -------
    TransferModel
        A new model; the base is not changed.
    """
    frame = _labelled(table, model)
    formats = sorted(set(frame["qn"].astype(float)))
    if len(formats) != 1:
        raise InvalidInput(f"recalibrate one format at a time (got {', '.join(f'{q:g}' for q in formats)} Ah)",
                           source="pulse table")
    if len(frame) < 2:
        raise InvalidInput("recalibration needs at least 2 labelled cells", source="pulse table")
    p = frame["soh_pct"].to_numpy(dtype=float)
    y = frame["soh_true_pct"].to_numpy(dtype=float)
    a, b = _map(p, y)
    loo = np.empty(len(p))
    for i in range(len(p)):
        m = np.arange(len(p)) != i
        ai, bi = _map(p[m], y[m])
        loo[i] = ai + bi * p[i] - y[i]
    n = len(loo)
    level = min(1.0, math.ceil((n + 1) * model.coverage) / n)
    half = float(np.quantile(np.abs(loo), level))
    if n < 10:
        half = max(half, max(model.half_width_by_format.values(), default=half))
    new = copy.deepcopy(model)
    new.coef = (b * np.asarray(model.coef)).tolist()
    new.intercept = a + b * model.intercept
    fmt = format_key(formats[0])
    new.half_width_by_format = {fmt: half}  # the base formats' calibration no longer holds after the remap
    new.formats_ah = [formats[0]]
    if chemistry:
        new.chemistries = [chemistry]
    new.domain = fit_domain(table, min_rows=2)
    curve = label_curve(p, y, draws=draws, seed=seed)
    step = {"step": "recalibrate", "utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_created_utc": model.metadata.get("created_utc"), "format": fmt,
            "chemistry": chemistry or ", ".join(model.chemistries), "n_cells": n,
            "offset_pct": a, "slope": b, "loo_rmse_soh_pct": float(np.sqrt(np.mean(loo**2))),
            "half_width_pct": half, "sources": sources or [],
            "expected_rmse_vs_labels": [p_.__dict__ for p_ in curve],
            "method": f"y = a + b * base estimate, slope shrunk to 1 with {N0_SLOPE:g} pseudo-cells; "
                      "curve: random sub-samples of the labelled cells, rest held back"}
    new.metadata = {**model.metadata, "provenance": [*model.metadata.get("provenance", []), step]}
    return new
