"""Cross-validated (BY CELL) accuracy of the pulse -> SOH model on the retired-LFP dataset.

Also measures, in the same run, the one-pulse ridge baseline (scikit-learn RidgeCV on U1..U41 of
one condition: SOC 50 %, width 1000 ms and 100 ms), the interval coverage (split-conformal check
over random halves of the out-of-fold cells) and, with ``--write-default``, writes the shipped
default model to ``src/circulith/reference/models/pulse_soh_lfp_v1.json``.

Run: ``.venv/bin/python benchmarks/triage_pulse_cv.py [--write-default]``
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from circulith.triage import pulse_model as pm
from circulith.triage.readers.read_pulse_tables import read_pulse_tables

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "pulse_lfp_retired"


def baseline(table: pd.DataFrame, soc: float, width: float, folds: dict[str, int]) -> dict[float, float]:
    """One-pulse ridge baseline: RidgeCV on U1..U41 of a single (SOC, width) row per cell."""
    out = {}
    for qn, grp in table[(table["SOC"] == soc) & (table["pulse_width_ms"] == width)].groupby("Qn"):
        grp = grp.dropna(subset=pm.U_COLUMNS)
        x, y = grp[pm.U_COLUMNS].to_numpy(), grp.SOH.to_numpy() * 100
        f = grp.cell_id.map(folds).to_numpy()
        pred = np.empty_like(y)
        for k in np.unique(f):
            m = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
            m.fit(x[f != k], y[f != k])
            pred[f == k] = m.predict(x[f == k])
        out[float(qn)] = float(np.sqrt(np.mean((pred - y) ** 2)))
    return out


def main() -> None:
    files = sorted(DATA.glob("*/*.xlsx"))
    if not files:
        sys.exit(f"dataset not found under {DATA}")
    t0 = time.perf_counter()
    table = read_pulse_tables(files)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    cv = pm.cross_validate(table, n_splits=5)
    t_cv = time.perf_counter() - t0
    # same folds for the baseline
    rng = np.random.default_rng(0)
    folds: dict[str, int] = {}
    for _, cells in table.groupby("Qn")["cell_id"]:
        for i, c in enumerate(rng.permutation(np.unique(cells.to_numpy()))):
            folds[str(c)] = i % 5
    print(f"rows {len(table)}, cells {table.cell_id.nunique()}, read {t_read:.1f} s, 5-fold CV {t_cv:.1f} s")
    print("\nSOH RMSE [points], 5-fold CV by cell (same folds for all):")
    for qn, grp in cv.groupby("qn_ah"):
        err = grp.soh_pct - grp.soh_true_pct
        print(f"  {qn:g} Ah: bank model RMSE {np.sqrt(np.mean(err**2)):.2f}, MAE {np.mean(np.abs(err)):.2f}"
              f"  ({len(grp)} cells, SOH std {grp.soh_true_pct.std():.2f})")
    for soc, width in [(50, 1000), (50, 100)]:
        b = baseline(table, soc, width, folds)
        print(f"  baseline one-pulse ridge SOC {soc} % W {width} ms: "
              + ", ".join(f"{q:g} Ah {r:.2f}" for q, r in b.items()))
    # split-conformal coverage check on the out-of-fold residuals
    score = (np.abs(cv.soh_pct - cv.soh_true_pct) / cv.sigma_pct).to_numpy()
    qn = cv.qn_ah.to_numpy()
    covs: dict[str, list[float]] = {"all": [], "20": [], "35": []}
    widths = []
    r2 = np.random.default_rng(1)
    for _ in range(200):
        perm = r2.permutation(len(score))
        a, b = perm[: len(score) // 2], perm[len(score) // 2:]
        lvl = min(1.0, math.ceil((len(a) + 1) * 0.9) / len(a))
        q = np.quantile(score[a], lvl)
        hit = score[b] <= q
        covs["all"].append(hit.mean())
        covs["20"].append(hit[qn[b] == 20].mean())
        covs["35"].append(hit[qn[b] == 35].mean())
        widths.append(np.mean(2 * q * cv.sigma_pct.to_numpy()[b]))
    print("\n90 % interval, split-conformal check over 200 random halves of the out-of-fold cells:")
    for k, v in covs.items():
        print(f"  coverage {k}: {100 * np.mean(v):.1f} % (5-95 %: {100 * np.quantile(v, 0.05):.0f}-"
              f"{100 * np.quantile(v, 0.95):.0f} %)")
    print(f"  mean interval width {np.mean(widths):.2f} SOH points")
    # single-row estimates (one SOC, one width) with the full-table calibration: how conservative?
    if "--write-default" in sys.argv:
        t0 = time.perf_counter()
        model = pm.fit(table, sources=[f"pulse_lfp_retired/{f.parent.name}/{f.name}" for f in files])
        model.metadata["training"]["dataset"] = (
            "Tao, Xia & Zou (2026), retired LFP pulse features, github.com/terencetaothucb/"
            "pulse-excitation-informativeness-for-battery-capacity-diagnosis @ ea2dde5fa9d2, "
            "raw data doi:10.5281/zenodo.21008092")
        model.metadata["training"]["licence"] = "MIT (c) 2026 Terence (Shengyu) Tao, PhD; see LICENSE-pulse-data"
        out = REPO / "src" / "circulith" / "reference" / "models" / "pulse_soh_lfp_v1.json"
        pm.save_model(model, out)
        print(f"\nwrote {out.relative_to(REPO)} ({out.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - t0:.1f} s;"
              f" conformal q {model.conformal_q:.2f}; CV {model.metadata['cross_validation']}")
        # single-row coverage with the shipped calibration, out-of-fold
        single = []
        for f in range(5):
            test_cells = [c for c, k in folds.items() if k == f]
            train = table[~table.cell_id.isin(test_cells)]
            sub = pm.PulseModel(pm._fit_bank(train, 20), top_k=20, conformal_q=model.conformal_q)
            test = table[table.cell_id.isin(test_cells) & (table.SOC == 50) & (table.pulse_width_ms == 1000)]
            for e in pm.estimate(test, sub):
                single.append(e.soh_low_pct <= e.soh_true_pct <= e.soh_high_pct)
        print(f"  coverage of single-row (SOC 50 %, 1000 ms) estimates with that calibration: "
              f"{100 * np.mean(single):.1f} % of {len(single)} cells (conservative by design)")


if __name__ == "__main__":
    main()
