"""Every transfer-model candidate tried for issue 16, beyond those :func:`pulse_transfer.fit_transfer` ships.

Same cells, features and folds as ``benchmarks/triage_transfer.py`` (retired-LFP pulses, SOC 5-50 % x
100/1000 ms, per-condition capacity-normalised resistances and rest voltage; 5-fold CV by cell, seed 0;
leave-one-format-out). For each candidate: held-out RMSE and bias per format, within-format CV, and the
cross coverage of the 90 % unseen-format interval (half-width calibrated on the other held-out format
only), against the plain multi-SOC ridge on raw U (:func:`pulse_transfer.baseline_ridge`).

The selection rule (fixed before these were compared) is that of :func:`pulse_transfer.choose_estimator`;
this script discloses the candidates that were tried and are not in :data:`pulse_transfer.CANDIDATES`
(ensembles, feature subsets, sign-constrained ridge, per-condition models on raw features), so the
choice can be checked against all of them. Runtime: about 30 s (25 s reading the workbooks).

Run: ``.venv/bin/python benchmarks/triage_transfer_candidates.py``
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from circulith.triage import pulse_transfer as pt
from circulith.triage.domain import ROW_FEATURES
from circulith.triage.readers.read_pulse_tables import read_pulse_tables

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pulse_lfp_retired"
CONDS = [(s, w) for s in pt.PROTOCOL_SOC_PCT for w in pt.PROTOCOL_WIDTHS_MS]
NF = len(ROW_FEATURES)
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def lin(est: str) -> Fit:
    return lambda xtr, ytr, xte: pt._fit_linear(xtr, ytr, est).predict(xte)


def subset(kinds: tuple[str, ...], est: str) -> Fit:
    cols = [ROW_FEATURES.index(f) for f in ROW_FEATURES if f.startswith(kinds) or f.endswith(kinds)]
    idx = np.array([j * NF + c for j in range(len(CONDS)) for c in cols])
    return lambda xtr, ytr, xte: pt._fit_linear(xtr[:, idx], ytr, est).predict(xte[:, idx])


def ensemble(a: Fit, b: Fit, w: float = 0.5) -> Fit:
    return lambda xtr, ytr, xte: w * a(xtr, ytr, xte) + (1 - w) * b(xtr, ytr, xte)


def per_condition(est: str) -> Fit:
    def f(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
        return np.mean([pt._fit_linear(xtr[:, j:j + NF], ytr, est).predict(xte[:, j:j + NF])
                        for j in range(0, xtr.shape[1], NF)], axis=0)
    return f


def log_r(f: Fit) -> Fit:
    return lambda xtr, ytr, xte: f(pt.transform_features(xtr, "log_resistance"), ytr,
                                   pt.transform_features(xte, "log_resistance"))


def monotone_ridge(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
    """Ridge with SOH non-increasing in every resistance feature (NNLS on sign-flipped columns);
    penalty by 5-fold CV over 0.1..1e4."""
    mean, sc = np.nanmean(xtr, 0), np.nanstd(xtr, 0)
    sc[sc == 0] = 1
    ztr, zte = np.nan_to_num((xtr - mean) / sc), np.nan_to_num((xte - mean) / sc)
    res = np.array([ROW_FEATURES[k % NF] != "ocv_v" for k in range(xtr.shape[1])])
    a_tr = np.column_stack([-ztr[:, res], ztr[:, ~res], -ztr[:, ~res]])
    a_te = np.column_stack([-zte[:, res], zte[:, ~res], -zte[:, ~res]])
    yc, centre = ytr - ytr.mean(), a_tr.mean(0)
    am = a_tr - centre
    d = am.shape[1]

    def solve(rows: np.ndarray, alpha: float) -> np.ndarray:
        aa = np.vstack([am[rows], math.sqrt(alpha) * np.eye(d)])
        return nnls(aa, np.concatenate([yc[rows], np.zeros(d)]), maxiter=2000)[0]

    kf = np.arange(len(yc)) % 5
    alphas = np.logspace(-1, 4, 11)
    errs = [sum(float(np.sum((am[kf == k] @ solve(kf != k, a) - yc[kf == k]) ** 2)) for k in range(5)) for a in alphas]
    return (a_te - centre) @ solve(np.ones(len(yc), bool), float(alphas[int(np.argmin(errs))])) + ytr.mean()


EXTRA: dict[str, Fit] = {
    "ensemble 0.5 pls2 + 0.5 ridge": ensemble(lin("pls2"), lin("ridge")),
    "ensemble 0.75 pls2 + 0.25 ridge": ensemble(lin("pls2"), lin("ridge"), 0.75),
    "ensemble 0.5 pls1 + 0.5 pls2": ensemble(lin("pls1"), lin("pls2")),
    "pls2, ohmic steps only": subset(("ohm",), "pls2"),
    "pls1, ohmic steps only": subset(("ohm",), "pls1"),
    "ridge, ohmic steps only": subset(("ohm",), "ridge"),
    "pls2, ohmic steps and jumps": subset(("ohm", "jump"), "pls2"),
    "pls2, 1C features only": subset(("_1C",), "pls2"),
    "per-condition pls1 (raw features)": per_condition("pls1"),
    "per-condition pls2 (raw features)": per_condition("pls2"),
    "monotone (sign-constrained) ridge": monotone_ridge,
    "pls1, log resistances": log_r(lin("pls1")),
    "pls3, log resistances": log_r(lin("pls3")),
    "ensemble pls1 + pls2, log resistances": log_r(ensemble(lin("pls1"), lin("pls2"))),
    "ensemble pls2 + ridge, log resistances": log_r(ensemble(lin("pls2"), lin("ridge"))),
    "pls2, log resistances, 1C only": log_r(subset(("_1C",), "pls2")),
    "pls2, log resistances, ohmic steps and jumps": log_r(subset(("ohm", "jump"), "pls2")),
    "per-condition ridge, log resistances": log_r(per_condition("ridge")),
}


def main() -> None:
    files = sorted(DATA.glob("*/*.xlsx"))
    if not files:
        sys.exit(f"dataset not found under {DATA}")
    table = read_pulse_tables(files)
    cells, x = pt.cell_matrix(table, CONDS)
    y, qn = pt._cell_labels(table, cells)
    fold = pt._folds(cells, qn, 5, 0)
    base = pt.baseline_ridge(table, CONDS)
    frames = {}
    for name, f in {**{f"{e} (shipped candidate)": lin(e) for e in pt.CANDIDATES}, **EXTRA}.items():
        cv, lofo = np.full(len(y), np.nan), np.full(len(y), np.nan)
        for k in range(5):
            cv[fold == k] = f(x[fold != k], y[fold != k], x[fold == k])
        for q in np.unique(qn):
            lofo[qn == q] = f(x[qn != q], y[qn != q], x[qn == q])
        frames[name] = base.assign(soh_cv_pct=cv, soh_lofo_pct=lofo)
    rows = pt.selection_table(frames, base)
    b = rows[0]
    print(f"plain ridge on raw U, held out: 20 Ah {b['baseline_lofo_rmse_20Ah']:.2f}, 35 Ah "
          f"{b['baseline_lofo_rmse_35Ah']:.2f}")
    print("| candidate | held-out 20 Ah | held-out 35 Ah | CV 20 Ah | CV 35 Ah | cross coverage 20 / 35 Ah | "
          "beats ridge on both | admissible |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in zip(frames, rows, strict=True):
        beats = all(r[f"lofo_rmse_{k}"] <= r[f"baseline_lofo_rmse_{k}"] for k in ("20Ah", "35Ah"))
        print(f"| {name} | {r['lofo_rmse_20Ah']:.2f} | {r['lofo_rmse_35Ah']:.2f} | {r['cv_rmse_20Ah']:.2f} | "
              f"{r['cv_rmse_35Ah']:.2f} | {100 * r['cross_coverage_20Ah']:.1f} / {100 * r['cross_coverage_35Ah']:.1f} % "
              f"| {'yes' if beats else 'no'} | {'yes' if pt._admissible(r) else 'no'} |")
    print("chosen by the rule over all of them: "
          + pt.choose_estimator([{**r, "estimator": n} for n, r in zip(frames, rows, strict=True)]))


if __name__ == "__main__":
    main()
