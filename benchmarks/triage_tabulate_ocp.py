"""Tabulate the half-cell open-circuit potentials used by ``triage.ocv_alignment`` from PyBaMM's parameter sets.

Writes ``src/circulith/reference/models/halfcell_ocp.csv`` (material, stoichiometry [-], ocp_v [V], source):

- ``graphite_lgm50``: ``graphite_LGM50_ocp_Chen2020`` — Chen et al., "Development of experimental techniques
  for parameterization of multi-scale lithium-ion battery models", J. Electrochem. Soc. 167 (2020) 080534.
- ``nmc811_lgm50``: ``nmc_LGM50_ocp_Chen2020`` — same source.
- ``lfp_afshar2017``: ``LFP_ocp_Afshar2017`` (PyBaMM ``Prada2013`` set) — Afshar et al., "A comparison of
  lithium-ion battery models ...", IFAC-PapersOnLine 50 (2017) 11626; Prada et al., J. Electrochem. Soc. 160
  (2013) A616.

PyBaMM is BSD-3-licensed; the curves are fits published in those papers. Requires PyBaMM (benchmark tool).
Run: ``.venv/bin/python benchmarks/triage_tabulate_ocp.py``
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
import pybamm

OUT = Path(__file__).resolve().parents[1] / "src" / "circulith" / "reference" / "models" / "halfcell_ocp.csv"
CURVES = {
    "graphite_lgm50": ("Chen2020", "Negative electrode OCP [V]",
                       "Chen et al. 2020, J. Electrochem. Soc. 167 080534 (PyBaMM graphite_LGM50_ocp_Chen2020)"),
    "nmc811_lgm50": ("Chen2020", "Positive electrode OCP [V]",
                     "Chen et al. 2020, J. Electrochem. Soc. 167 080534 (PyBaMM nmc_LGM50_ocp_Chen2020)"),
    "lfp_afshar2017": ("Prada2013", "Positive electrode OCP [V]",
                       "Afshar et al. 2017, IFAC-PapersOnLine 50 11626; Prada et al. 2013 (PyBaMM LFP_ocp_Afshar2017)"),
}


def main() -> None:
    sto = np.concatenate([np.linspace(0.002, 0.05, 25), np.linspace(0.05, 0.95, 181)[1:-1], np.linspace(0.95, 0.998, 25)])
    rows = []
    for name, (pset, key, source) in CURVES.items():
        fn = pybamm.ParameterValues(pset)[key]
        for s in sto:
            try:
                v = fn(pybamm.Scalar(float(s))).evaluate()
            except TypeError:
                v = fn(pybamm.Scalar(float(s)), pybamm.Scalar(298.15)).evaluate()
            rows.append([name, f"{s:.5f}", f"{float(np.squeeze(v)):.6f}", source])
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["material", "stoichiometry", "ocp_v", "source"])
        w.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
