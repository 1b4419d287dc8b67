"""PyBaMM oracle for the ageing-aware partial capacity test (``triage.ocv_alignment``).

Cells aged as in ``triage_pybamm_oracle.py`` (SPMe, SEI + plating rate-scaled; NMC811 ``OKane2022``, LFP
``Prada2013`` scaled to 20 Ah). On each aged state, with ageing switched off:

- truth: C/20 discharge capacity after a C/3 CC-CV charge (SOH = Q / Q_fresh);
- partial test: from full, C/3 discharge steps of 10 % of nominal capacity, each followed by a 1 h rest;
  the rests inside a window (``80->30 %``: the oracle's partial window, 6 rests; ``95->15 %``: wide,
  9 rests) go to :func:`circulith.triage.ocv_alignment.fit_alignment`, with 1 mV voltage noise (seed 0).

The half-cell curves of the fit are those of the simulation (tabulated from the same PyBaMM parameter sets),
so this checks that the per-cell alignment tracks ageing and that refusals fire where the rests do not
determine it, not the error of a generic half-cell curve on a real cell.

Requires PyBaMM (benchmark-only). Run: ``.venv/bin/python benchmarks/triage_ocv_alignment.py [--states N | --all-states]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import triage_pybamm_oracle as oracle

from circulith.errors import InvalidInput
from circulith.triage.ocv_alignment import fit_alignment

pybamm = oracle.pybamm
OUT = Path(__file__).resolve().parent / "results" / "triage_ocv_alignment.json"
WINDOWS = {"80->30 %": (0.80, 0.30), "95->15 %": (0.95, 0.15)}


def rests(model: pybamm.BaseModel, chem: oracle.Chemistry, p_diag: pybamm.ParameterValues,
          aged: pybamm.Solution, qn: float) -> tuple[float, np.ndarray, np.ndarray]:
    """C/20 capacity, and (charge removed [Ah], rest voltage [V]) after each 10 % step from full."""
    full = (f"Charge at C/3 until {chem.v_max} V", f"Hold at {chem.v_max} V until C/50")
    a = oracle.solve(model, p_diag, [*full, "Rest for 1 hour",
                                     pybamm.step.string(f"Discharge at C/20 until {chem.v_min} V", period="5 minutes")],
                     start=aged)
    q20 = oracle.step_ah(a.cycles[-1])
    t_step = 0.1 * qn / (qn / 3) * 3600  # 10 % of nominal at C/3 [s]
    steps: list = [*full, pybamm.step.string("Rest for 1 hour", period="5 minutes")]
    for _ in range(9):
        steps += [pybamm.step.string(f"Discharge at C/3 for {t_step:.0f} seconds or until {chem.v_min} V",
                                     period="1 minute"),
                  pybamm.step.string("Rest for 1 hour", period="5 minutes")]
    b = oracle.solve(model, p_diag, steps, start=a)
    cyc = b.cycles
    first_rest = len(cyc) - 19
    q, v, removed = [], [], 0.0
    for k in range(first_rest, len(cyc), 2):
        if k > first_rest:
            removed += oracle.step_ah(cyc[k - 1])
        q.append(removed)
        v.append(float(cyc[k]["Voltage [V]"].entries[-1]))
    return q20, np.asarray(q), np.asarray(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--states", type=int, default=4, help="first N aged states per chemistry (of the oracle's six)")
    ap.add_argument("--all-states", action="store_true", help="all six states")
    args = ap.parse_args()
    pybamm.set_logging_level("ERROR")
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    out = []
    for key in ("NMC", "LFP"):
        chem = oracle.CHEMISTRIES[key]
        p = oracle.parameter_values(chem)
        model = pybamm.lithium_ion.SPMe(oracle.OPTIONS)
        p_diag = oracle.scaled(p, 1e-6, 1e-6)
        qn = float(p["Nominal cell capacity [A.h]"])
        fresh_q = None
        picks = list(chem.states) if args.all_states else list(chem.states[: args.states])
        for label, sei, plating, cycles in picks:
            aged = oracle.age(model, chem, p, sei, plating, cycles)
            q20, q, v = rests(model, chem, p_diag, aged, qn)
            fresh_q = fresh_q or q20
            truth = 100 * q20 / fresh_q
            rec = {"chemistry": key, "state": label, "soh_true_pct": truth, "q_c20_ah": q20}
            vn = v + rng.normal(0, oracle.NOISE_V, len(v))
            for name, (hi, lo) in WINDOWS.items():
                soc_nom = 1.0 - q / qn  # nominal SOC after each step (from full)
                m = (soc_nom <= hi + 1e-6) & (soc_nom >= lo - 1e-6)
                try:
                    e = fit_alignment(q[m] - q[m][0], vn[m], chemistry_family=key, rated_capacity_ah=fresh_q,
                                      v_min=chem.v_min, v_max=chem.v_max)
                    rec[name] = {"soh_pct": e.soh_pct, "low": e.soh_low_pct, "high": e.soh_high_pct,
                                 "err_pts": e.soh_pct - truth, "covered": bool(e.soh_low_pct <= truth <= e.soh_high_pct),
                                 "n_rests": int(m.sum()), "residual_mv": 1e3 * e.residual_rms_v}
                except InvalidInput as exc:
                    rec[name] = {"refused": str(exc), "n_rests": int(m.sum())}
            out.append(rec)
            print(json.dumps(rec)[:400], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    summary = {}
    for name in WINDOWS:
        r = [rec[name] for rec in out]
        ok = [x for x in r if "refused" not in x]
        summary[name] = {"n": len(r), "refused": len(r) - len(ok), "covered": sum(x["covered"] for x in ok),
                         "rmse_pts": float(np.sqrt(np.mean([x["err_pts"] ** 2 for x in ok]))) if ok else None}
    print(json.dumps(summary, indent=1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"pybamm_version": pybamm.__version__, "wall_s": time.perf_counter() - t0,
                               "summary": summary, "cells": out}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
