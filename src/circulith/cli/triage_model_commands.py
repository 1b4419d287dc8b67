"""Helpers of ``circulith triage fit`` / ``triage estimate`` for the transfer model, domain checks,
recalibration from few labels and staged testing (the commands live in ``triage_commands``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from circulith.triage import pulse_model, pulse_transfer
from circulith.triage.pulse_assessment import all_refused, assess_pulses, load_transfer_or_default
from circulith.triage.recalibration import recalibrate

__all__ = ["all_refused", "domain_estimates", "fit_transfer_file", "recalibrate_file"]


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
    """Per cell: the domain-checked estimate (and with ``stage`` the cheapest next test); see
    :func:`circulith.triage.pulse_assessment.assess_pulses`."""
    bank = pulse_model.load_model(bank_path) if bank_path else pulse_model.default_model()
    rows = assess_pulses(table, bank=bank, transfer=load_transfer_or_default(transfer_path), chemistry=chemistry,
                         stage=stage)
    if not stage:
        for r in rows:
            r.pop("step_done", None)
    return rows
