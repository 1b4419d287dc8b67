"""Read BMS-summary and inspection CSV/Parquet files into frames (schemas in ``triage.grading``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem

#: Inspection record columns [unit]: battery_id, swelling, leakage, damage (bool),
#: insulation_resistance_mohm [MOhm], ocv_after_rest_v [V], self_discharge_mv_per_day [mV/day] or
#: (ocv_start_v [V], ocv_end_v [V], rest_days [day]), calendar_expiry_date (ISO date), inspection_date.
INSPECTION_COLUMNS = ["battery_id", "swelling", "leakage", "damage", "insulation_resistance_mohm",
                      "ocv_after_rest_v", "self_discharge_mv_per_day", "calendar_expiry_date"]


def _read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read table: {exc}", source=str(path)) from exc


def read_bms_summary(path: str | Path) -> pd.DataFrame:
    """Read a BMS-summary CSV/Parquet (columns: ``triage.grading.BMS_SUMMARY_COLUMNS``)."""
    frame = _read_table(path)
    if "battery_id" not in frame:
        raise InvalidInput([Problem(None, "battery_id", "required column missing")], source=str(path))
    frame["battery_id"] = frame["battery_id"].astype(str)
    return frame


def read_inspection(path: str | Path) -> pd.DataFrame:
    """Read inspection records; derive ``self_discharge_mv_per_day`` from a rest period if given.

    A rest period is ``ocv_start_v``, ``ocv_end_v`` [V] and ``rest_days`` [day]:
    self-discharge = 1000 x (start - end) / days [mV/day].
    """
    frame = _read_table(path)
    if "battery_id" not in frame:
        raise InvalidInput([Problem(None, "battery_id", "required column missing")], source=str(path))
    frame["battery_id"] = frame["battery_id"].astype(str)
    problems: list[Problem] = []
    if {"ocv_start_v", "ocv_end_v", "rest_days"} <= set(frame.columns):
        days = pd.to_numeric(frame["rest_days"], errors="coerce")
        for r in np.flatnonzero((days <= 0).to_numpy()):
            problems.append(Problem(int(r) + 2, "rest_days", "must be > 0", frame["battery_id"].iloc[r]))
        derived = 1000 * (pd.to_numeric(frame["ocv_start_v"], errors="coerce")
                          - pd.to_numeric(frame["ocv_end_v"], errors="coerce")) / days
        if "self_discharge_mv_per_day" in frame:
            frame["self_discharge_mv_per_day"] = frame["self_discharge_mv_per_day"].fillna(derived)
        else:
            frame["self_discharge_mv_per_day"] = derived
    if "insulation_resistance_mohm" in frame:
        ins = pd.to_numeric(frame["insulation_resistance_mohm"], errors="coerce")
        for r in np.flatnonzero((ins < 0).to_numpy()):
            problems.append(Problem(int(r) + 2, "insulation_resistance_mohm", "negative", frame["battery_id"].iloc[r]))
    if problems:
        raise InvalidInput(problems, source=str(path))
    return frame


def merge_inspection(bms: pd.DataFrame, inspection: pd.DataFrame) -> pd.DataFrame:
    """Add inspection columns to a BMS-summary frame (inspection values win where both exist)."""
    cols = [c for c in inspection.columns if c != "battery_id"]
    merged = bms.drop(columns=[c for c in cols if c in bms.columns]).merge(
        inspection[["battery_id", *cols]], on="battery_id", how="left")
    unknown = set(inspection["battery_id"]) - set(bms["battery_id"])
    if unknown:
        raise InvalidInput([Problem(None, "battery_id", "inspection record for an unknown battery", b)
                            for b in sorted(unknown)[:20]], source="inspection")
    for col in ["swelling", "leakage", "damage"]:
        if col in merged:
            merged[col] = merged[col].fillna(False)
    return merged
