"""Use case: read a cycler file and say what was read (the same readers feed grading and capacity)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from circulith.auth.policy import Principal
from circulith.triage.readers.read_chunked import stream_figures
from circulith.triage.readers.read_measurements import LAYOUTS, detect_format, read_head, read_measurement
from circulith.triage.readers.summary import CANONICAL_UNITS, measurement_figures

#: Files above this size are totalled block by block (flat memory) when their format allows it [bytes].
STREAM_ABOVE_BYTES = 64 * 1024 * 1024


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


def read_measurement_file(principal: Principal, path: Path, *, fmt: str | None = None,
                          stream_above_bytes: int = STREAM_ABOVE_BYTES) -> MeasurementRead:
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
    streamable = reader in LAYOUTS and path.suffix.lower() != ".parquet"
    if streamable and path.stat().st_size > stream_above_bytes:
        figures = stream_figures(path, reader)
        head = read_head(path, reader)
    else:
        head = read_measurement(path, fmt=reader)
        figures = measurement_figures(head)
    frame = head
    columns = [ColumnRead(name=c, unit=CANONICAL_UNITS[c]) for c in frame.columns if c in CANONICAL_UNITS]
    return MeasurementRead(
        file=str(path), reader=reader, rows=figures.rows, duration_s=figures.duration_s,
        charge_ah=figures.charge_ah, discharge_ah=figures.discharge_ah, steps=figures.steps,
        cycles=figures.cycles, voltage_min_v=figures.voltage_min_v, voltage_max_v=figures.voltage_max_v,
        current_basis=str(frame.attrs.get("current_basis", "measured")),
        decimal_mark=str(frame.attrs.get("decimal", ".")), columns=columns,
        source_columns=[str(c) for c in frame.attrs.get("columns", [])])

