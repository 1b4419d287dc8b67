"""Calibrated forecast ranges: coverage and width of the 90 % band on the shipped rolling-origin backtest,
before (parameter ensemble only) and after calibration (observation noise from held-out windows).

Usage: python benchmarks/planning_calibration.py   (a few seconds)
"""

from __future__ import annotations

import os
import platform
import time

from circulith.planning.calibration import calibrate
from circulith.planning.reference_data import load_lifetime_defaults
from circulith.planning.scenario import scenario_from_mapping
from circulith.planning.service import run_backtest

cfg = load_lifetime_defaults()["calibration"]
t = time.perf_counter()
bt = run_backtest(scenario_from_mapping({}))
c = calibrate(bt, target_coverage=tuple(cfg["target_coverage"]), min_windows=int(cfg["min_windows"]))
print(f"machine: {platform.machine()}, {os.cpu_count()} cores; backtest + calibration {time.perf_counter() - t:.1f} s")
print(f"windows: {len(bt.windows)} ({bt.settings['observed']}, origins {bt.settings['origins']}, "
      f"horizon {bt.settings['horizon']} y); model WAPE {bt.scores['model']['wape']:.3f}, "
      f"naive WAPE {bt.scores['baseline']['wape']:.3f}")
print(f"before: coverage {c.coverage_parameter_only:.1%} (all windows), median width {c.width_parameter_only:.2f} x median")
print(f"after:  coverage {c.coverage_calibrated:.1%} on {c.n_calibrated_windows} rolling-origin windows, "
      f"median width {c.width_calibrated:.1f} x median; residual quantiles {c.q_lo:.2f} / {c.q_hi:.2f}")
print(f"status: {c.status}: {c.message}")
