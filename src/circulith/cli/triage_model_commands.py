"""Helpers of ``circulith triage fit`` / ``triage estimate`` for the transfer model, domain checks,
recalibration from few labels and staged testing (the commands live in ``triage_commands``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage import pulse_model, pulse_transfer
from circulith.triage.domain_estimate import DomainEstimate, estimate_in_domain
from circulith.triage.recalibration import recalibrate
from circulith.triage.rules import chemistry_family, load_rules
from circulith.triage.staging import grade_boundaries, load_steps, next_tests


def load_transfer_or_default(path: Path | None) -> pulse_transfer.TransferModel:
    """The transfer model at ``path``, or the shipped one."""
    return pulse_transfer.load_transfer(path) if path else pulse_transfer.default_transfer_model()


def fit_transfer_file(table: pd.DataFrame, out: Path, *, chemistry: str, folds: int,
                      sources: list[str]) -> dict[str, Any]:
    """Fit a transfer model (estimator chosen by leave-one-format-out), write it, return a summary."""
    model = pulse_transfer.fit_transfer(table, chemistry=chemistry, n_splits=max(folds, 2), sources=sources)
    pulse_transfer.save_transfer(model, out)
    return {"model": str(out), "kind": "transfer", "estimator": model.estimator,
            "half_width_by_format": model.half_width_by_format,
            "half_width_unseen_pct": model.half_width_unseen_pct, "selection": model.metadata["selection"]}


def recalibrate_file(table: pd.DataFrame, base: Path | None, out: Path, *, chemistry: str | None,
                     sources: list[str]) -> dict[str, Any]:
    """Recalibrate a transfer model on labelled cells, write it, return the expected-error curve."""
    model = recalibrate(load_transfer_or_default(base), table, chemistry=chemistry, sources=sources)
    pulse_transfer.save_transfer(model, out)
    step = model.metadata["provenance"][-1]
    return {"model": str(out), "kind": "transfer (recalibrated)", "base": str(base) if base else "shipped",
            "format": step["format"], "chemistry": step["chemistry"], "n_cells": step["n_cells"],
            "offset_pct": step["offset_pct"], "slope": step["slope"], "half_width_pct": step["half_width_pct"],
            "expected_rmse_vs_labels": step["expected_rmse_vs_labels"]}


def domain_estimates(table: pd.DataFrame, *, bank_path: Path | None, transfer_path: Path | None,
                     chemistry: str | None, stage: bool) -> list[dict[str, Any]]:
    """Per cell: the domain-checked estimate (and with ``stage`` the cheapest next test)."""
    bank = pulse_model.load_model(bank_path) if bank_path else pulse_model.default_model()
    est: list[DomainEstimate] = estimate_in_domain(table, bank, load_transfer_or_default(transfer_path),
                                                   chemistry=chemistry)
    rows = [asdict(e) for e in est]
    if stage and rows:
        frame = pd.DataFrame(rows)
        rules = load_rules()
        family = chemistry_family(chemistry or "LFP")
        steps = load_steps()
        done = _steps_done(table, [e.cell_id for e in est], steps)
        dec = next_tests(frame["soh_pct"].astype(float).to_numpy(), frame["soh_low_pct"].astype(float).to_numpy(),
                         frame["soh_high_pct"].astype(float).to_numpy(), unsafe=np.zeros(len(frame), dtype=bool),
                         done=done, steps=steps, boundaries_pct=grade_boundaries(rules, family))
        for row, (_, d) in zip(rows, dec.iterrows(), strict=True):
            row["next_test"] = d["next_test"]
            row["next_test_reason"] = d["reason"]
    return rows


def _steps_done(table: pd.DataFrame, cells: list[str], steps: list[Any]) -> np.ndarray:
    """Index of the largest ladder step whose SOC levels and widths a cell already has (-1: none)."""
    have = table.assign(cell_id=table["cell_id"].astype(str)).groupby("cell_id").apply(
        lambda g: set(zip(g["SOC"].astype(float), g["pulse_width_ms"].astype(float), strict=True)),
        include_groups=False)
    out = np.full(len(cells), -1)
    for i, c in enumerate(cells):
        got = have.get(c, set())
        for k, s in enumerate(steps):
            if all((soc, w) in got for soc in s.soc_levels_pct for w in s.widths_ms):
                out[i] = k
    return out


def all_refused(rows: list[dict[str, Any]]) -> InvalidInput | None:
    """An error naming the first reasons when every cell was refused (nothing to report), else None."""
    if rows and all(r["status"] == "refused" for r in rows):
        return InvalidInput([Problem(None, "", r["reason"], r["cell_id"]) for r in rows[:20]], source="pulse table")
    return None
