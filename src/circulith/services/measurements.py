"""Use case: read a cycler file and say what was read (the same readers feed grading and capacity)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from circulith.auth.policy import Principal
from circulith.triage.readers.read_measurements import detect_format, read_measurement
from circulith.triage.readers.summary import CANONICAL_UNITS, measurement_figures


class ColumnRead(BaseModel):
    """One canonical channel and its unit."""

    name: str
    unit: str


class MeasurementRead(BaseModel):
    """What a reader made of a measurement file (totals over the whole file)."""

    file: str
    reader: str
    rows: int
    duration_s: float
    charge_ah: float
    discharge_ah: float
    steps: int | None
    cycles: int | None
    voltage_min_v: float
    voltage_max_v: float
    current_basis: str
    decimal_mark: str
    columns: list[ColumnRead]
    source_columns: list[str]


def read_measurement_file(principal: Principal, path: Path, *, fmt: str | None = None) -> MeasurementRead:
    """Read ``path`` with the reader for its format (detected unless ``fmt``) and total it.

    The file is local input: nothing in the registry is read or written, so every principal may
    call this.

    Raises
    ------
    InvalidInput
        Unknown, binary-without-reader or impedance files, missing channels, no data rows.
    """
    del principal  # reading a local file touches no registry data
    reader = fmt or detect_format(path)
    frame = read_measurement(path, fmt=reader)
    figures = measurement_figures(frame)
    columns = [ColumnRead(name=c, unit=CANONICAL_UNITS[c]) for c in frame.columns if c in CANONICAL_UNITS]
    return MeasurementRead(
        file=str(path), reader=reader, rows=figures.rows, duration_s=figures.duration_s,
        charge_ah=figures.charge_ah, discharge_ah=figures.discharge_ah, steps=figures.steps,
        cycles=figures.cycles, voltage_min_v=figures.voltage_min_v, voltage_max_v=figures.voltage_max_v,
        current_basis=str(frame.attrs.get("current_basis", "measured")),
        decimal_mark=str(frame.attrs.get("decimal", ".")), columns=columns,
        source_columns=[str(c) for c in frame.attrs.get("columns", [])])
