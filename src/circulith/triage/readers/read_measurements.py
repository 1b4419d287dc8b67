"""Read measurement time series into the canonical frame (see :mod:`circulith.triage.timeseries`).

Formats and what is normalised:

============== ================================ ===================================================
format         file                             mapping
============== ================================ ===================================================
canonical      CSV / Parquet                    columns as named; ``current_ma`` or ``current_a``
Arbin          CSV export (``Test_Time``,...)   s, A, V as written; Arbin sign: + = charge
Maccor         text export (``Rec#`` header)    ``Test (Sec)`` or ``TestTime`` "Nd hh:mm:ss";
                                                sign from ``State`` (C +, D -), A, V
BioLogic       EC-Lab text ``.mpt`` / ``;`` CSV ``time/s`` (s or absolute date), ``I/mA`` -> A,
                                                ``Ecell/V`` or ``Ewe/V``; + = oxidation = charge
BioLogic       binary ``.mpr``                  via galvani (BSD-licensed, maintained reader)
Novonix        CSV with ``[Data]`` section      ``Run Time (h)`` -> s, ``Current (A)``, ``Potential (V)``
BDF            Battery Data Format CSV          ``Test Time / s``, ``Voltage / V``, ``Current / A``
============== ================================ ===================================================

Text formats are described by a :class:`TextLayout` (how pandas reads the file, and how a block of
native rows maps onto canonical columns), so that the same mapping serves a whole-file read and a
chunked pass with flat memory (:func:`circulith.triage.readers.read_chunked.stream_figures`).

galvani is used for ``.mpr`` because the binary format is undocumented and galvani is the maintained
open reader (also used by BEEP and cellpy); text formats are parsed here with pandas, which is
simpler than a dependency per vendor.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.timeseries import CANONICAL_COLUMNS


def _finish(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    cols = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    out = frame[cols].reset_index(drop=True)
    for c in cols:
        out[c] = pd.to_numeric(out[c], errors="coerce")
    if len(out) == 0:
        raise InvalidInput("file holds no data rows", source=source)
    out["time_s"] = out["time_s"] - out["time_s"].iloc[0]
    out.attrs["source"] = source
    return out


def _first_bytes(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file (without reading the rest)."""
    with path.open("rb") as fh:
        return fh.read(n)


@dataclass(frozen=True)
class TextLayout:
    """How to read a text measurement file.

    Parameters
    ----------
    kwargs : dict
        Keyword arguments for :func:`pandas.read_csv` (the file path included).
    mapper : callable
        Maps a block of native rows onto canonical columns (times not yet rebased to zero); may add a
        ``dq_ah`` column, the instrument's own charge increment per row [Ah].
    """

    kwargs: dict[str, Any]
    mapper: Callable[[pd.DataFrame], pd.DataFrame]
    attrs: dict[str, Any] = field(default_factory=dict)


def _read_layout(layout: TextLayout, source: str, *, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    if frame is None:
        frame = pd.read_csv(**layout.kwargs)
    out = layout.mapper(frame)
    dq = out["dq_ah"].to_numpy(dtype=float) if "dq_ah" in out else None
    result = _finish(out, source)
    result.attrs.update(layout.attrs)
    if dq is not None:  # the instrument's own coulomb count, the same in .mpr and .mpt
        dq = np.nan_to_num(dq)
        result.attrs["instrument_charge_ah"] = float(dq[dq > 0].sum())
        result.attrs["instrument_discharge_ah"] = float(-dq[dq < 0].sum())
    return result


def _canonical_map(source: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mapper(frame: pd.DataFrame) -> pd.DataFrame:
        if "current_a" not in frame and "current_ma" in frame:
            frame["current_a"] = frame["current_ma"] / 1000.0
        if "time_s" not in frame and "time_ms" in frame:
            frame["time_s"] = frame["time_ms"] / 1000.0
        missing = [c for c in ["time_s", "voltage_v", "current_a"] if c not in frame]
        if missing:
            raise InvalidInput([Problem(None, c, "required channel missing") for c in missing], source=source)
        return frame
    return mapper


def layout_canonical(path: Path) -> TextLayout:
    """Canonical CSV (``time_s, voltage_v, current_a`` [+ optional]; ``current_ma``/``time_ms`` accepted)."""
    return TextLayout({"filepath_or_buffer": path}, _canonical_map(str(path)))


def read_canonical(path: str | Path) -> pd.DataFrame:
    """Read a canonical CSV or Parquet (``time_s, voltage_v, current_a`` [+ optional]).

    ``current_ma`` is accepted instead of ``current_a`` and converted (mA -> A); ``time_ms`` likewise.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return _finish(_canonical_map(str(path))(pd.read_parquet(path)), str(path))
    return _read_layout(layout_canonical(path), str(path))


def _renamed(frame: pd.DataFrame, need: dict[str, str], optional: dict[str, str], what: str,
             source: str) -> pd.DataFrame:
    missing = [c for c in need if c not in frame]
    if missing:
        raise InvalidInput([Problem(None, c, f"{what} column missing") for c in missing], source=source)
    out = pd.DataFrame({dst: frame[src] for src, dst in need.items()})
    for src, dst in optional.items():
        if src in frame:
            out[dst] = frame[src]
    return out


def layout_arbin(path: Path) -> TextLayout:
    """Arbin CSV export (``Test_Time`` [s], ``Current`` [A], ``Voltage`` [V]; Arbin sign: + = charge)."""
    def mapper(frame: pd.DataFrame) -> pd.DataFrame:
        return _renamed(frame, {"Test_Time": "time_s", "Voltage": "voltage_v", "Current": "current_a"},
                        {"Temperature": "temperature_c", "Step_Index": "step", "Cycle_Index": "cycle"},
                        "Arbin", str(path))
    return TextLayout({"filepath_or_buffer": path}, mapper)


def read_arbin(path: str | Path) -> pd.DataFrame:
    """Read an Arbin CSV export (``Test_Time`` [s], ``Current`` [A], ``Voltage`` [V])."""
    return _read_layout(layout_arbin(Path(path)), str(path))


def _parse_maccor_time(col: pd.Series) -> pd.Series:
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all():
        return num
    parts = col.astype(str).str.extract(r"(?:(\d+)d\s+)?(\d+):(\d+):([\d.]+)")
    days = pd.to_numeric(parts[0], errors="coerce").fillna(0)
    return days * 86400 + parts[1].astype(float) * 3600 + parts[2].astype(float) * 60 + parts[3].astype(float)


def layout_maccor(path: Path) -> TextLayout:
    """Maccor text export (line 1 metadata, then a tab-separated header starting ``Rec#``).

    The current sign is set from ``State``: C charge (+), D discharge (-), other states keep the sign
    written (rest: zero). A Maccor *procedure* file (XML) is refused with a clear message.
    """
    head = _first_bytes(path).decode("latin-1", errors="replace")
    if head.lstrip().startswith("<?xml") or "<MaccorTestProcedure" in head:
        raise InvalidInput("this is a Maccor test procedure (XML), not a data export", source=str(path))
    lines = head.splitlines()
    hdr = next((k for k, line in enumerate(lines[:5]) if line.startswith("Rec#")), None)
    if hdr is None:
        raise InvalidInput([Problem(None, "Rec#", "Maccor header line not found in the first 5 lines")],
                           source=str(path))

    def mapper(frame: pd.DataFrame) -> pd.DataFrame:
        frame.columns = [str(c).strip() for c in frame.columns]
        tcol = next((c for c in ["Test (Sec)", "TestTime", "Test Time"] if c in frame), None)
        missing = [n for n, c in [("Test (Sec)/TestTime", tcol), ("Amps", "Amps" in frame or None),
                                  ("Volts", "Volts" in frame or None)] if c is None]
        if missing:
            raise InvalidInput([Problem(None, c, "Maccor column missing") for c in missing], source=str(path))
        amps = pd.to_numeric(frame["Amps"], errors="coerce")
        if "State" in frame:
            state = frame["State"].astype(str).str.strip().str.upper()
            amps = np.where(state == "C", amps.abs(), np.where(state == "D", -amps.abs(), amps))
        out = pd.DataFrame({"time_s": _parse_maccor_time(frame[tcol]), "voltage_v": frame["Volts"],
                            "current_a": amps})
        for src, dst in [("Step", "step"), ("Cyc#", "cycle"), ("Temp 1", "temperature_c")]:
            if src in frame:
                out[dst] = frame[src]
        return out

    return TextLayout({"filepath_or_buffer": path, "sep": "\t", "skiprows": hdr, "encoding": "latin-1",
                       "index_col": False}, mapper)


def read_maccor(path: str | Path) -> pd.DataFrame:
    """Read a Maccor text export (see :func:`layout_maccor`)."""
    return _read_layout(layout_maccor(Path(path)), str(path))


_IMPEDANCE_COLUMNS = ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "Phase(Z)/deg")


def _refuse_impedance(frame: pd.DataFrame, source: str) -> None:
    """Refuse a file whose rows are mostly impedance points (frequency recorded).

    Modulo-bat exports carry the impedance columns empty beside the cycling data; only a file in
    which most rows hold a frequency is an impedance spectrum.
    """
    if "freq/Hz" not in frame:
        return
    freq = pd.to_numeric(frame["freq/Hz"], errors="coerce")
    if len(frame) and float((freq.fillna(0) > 0).mean()) > 0.5:
        found = [c for c in _IMPEDANCE_COLUMNS if c in frame]
        raise InvalidInput(f"this is an impedance spectrum (EIS: {', '.join(found)}), not a time series; "
                           "read it with an impedance tool, not as a cycling measurement", source=source)


def _biologic_map(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Map EC-Lab columns onto canonical columns (plus ``dq_ah`` when the file records it).

    The measured current is ``I/mA`` (or ``<I>/mA``). GCPL files carry no measured current column:
    there the current is derived from the charge increment the instrument recorded per point,
    ``dq/mA.h``, as ``I = dq / dt``. The control set-point (``control/V/mA``, ``control/mA``) is never
    used as a current: it is a voltage during potential holds and the programmed value during rests.
    """
    _refuse_impedance(frame, source)
    tcol = next((c for c in frame.columns if str(c).startswith("time/")), None)
    vcol = next((c for c in ["Ecell/V", "Ewe/V", "<Ewe>/V", "<Ecell>/V"] if c in frame), None)
    icol = next((c for c in ["I/mA", "<I>/mA"] if c in frame), None)
    dqcol = "dq/mA.h" if "dq/mA.h" in frame else None
    missing = [n for n, c in [("time/s", tcol), ("Ecell/V or Ewe/V", vcol), ("I/mA or dq/mA.h", icol or dqcol)]
               if c is None]
    if missing or tcol is None or vcol is None:
        raise InvalidInput([Problem(None, c, "BioLogic column missing") for c in missing], source=source)
    t = pd.to_numeric(frame[tcol], errors="coerce")
    if t.isna().any():  # absolute time format (MM/DD/YYYY hh:mm:ss.fff)
        ts = pd.to_datetime(frame[tcol], format="%m/%d/%Y %H:%M:%S.%f", errors="coerce")
        t = (ts - pd.Timestamp("1970-01-01")).dt.total_seconds()
    dq_ah = pd.to_numeric(frame[dqcol], errors="coerce") / 1000.0 if dqcol else None
    if icol is not None:
        current_a = pd.to_numeric(frame[icol], errors="coerce") / 1000.0
    else:
        assert dq_ah is not None
        dt_s = np.diff(t.to_numpy(dtype=float), prepend=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            cur = np.where(dt_s > 0, dq_ah.to_numpy(dtype=float) * 3600.0 / dt_s, 0.0)
        current_a = pd.Series(cur, index=frame.index)
    out = pd.DataFrame({"time_s": t, "voltage_v": frame[vcol], "current_a": current_a})
    for src, dst in [("Ns", "step"), ("cycle number", "cycle"), ("Temperature/°C", "temperature_c"),
                     ("T/°C", "temperature_c")]:
        if src in frame and dst not in out:
            col = pd.to_numeric(frame[src], errors="coerce")
            if col.notna().any():
                out[dst] = col
    if dq_ah is not None:
        out["dq_ah"] = dq_ah
    return out


def _biologic_attrs(columns: list[str], decimal: str) -> dict[str, Any]:
    basis = "measured" if any(c in columns for c in ("I/mA", "<I>/mA")) else "dq"
    return {"current_basis": basis, "columns": columns, "decimal": decimal}


_DECIMAL_COMMA = re.compile(r"(?:^|\t|;)-?\d+,\d+(?:E[+-]\d+)?(?:\t|;|$)", re.MULTILINE)


def layout_biologic_text(path: Path) -> TextLayout:
    """BioLogic EC-Lab text export: ``.mpt`` (``Nb header lines``) or ``;``-separated CSV.

    Exports written with a decimal comma (EC-Lab on a German or French locale) are recognised from
    the first data line and read with ``,`` as the decimal mark.
    """
    with path.open(encoding="latin-1", errors="replace") as fh:
        head = [line for _, line in zip(range(400), fh, strict=False)]
    skip = 0
    m = re.search(r"Nb header lines\s*:\s*(\d+)", "".join(head[:5]))
    if m:
        skip = int(m.group(1)) - 1
    if skip >= len(head):
        raise InvalidInput("EC-Lab header longer than the file", source=str(path))
    first = head[skip]
    sep = "\t" if first.count("\t") > first.count(";") else ";"
    data_line = head[skip + 1] if len(head) > skip + 1 else ""
    decimal = "," if sep == "\t" and _DECIMAL_COMMA.search(data_line) else "."
    columns = [c.strip() for c in first.rstrip("\r\n").split(sep)]
    source = str(path)

    def mapper(frame: pd.DataFrame) -> pd.DataFrame:
        frame.columns = [str(c).strip() for c in frame.columns]
        return _biologic_map(frame, source)

    return TextLayout({"filepath_or_buffer": path, "sep": sep, "skiprows": skip, "index_col": False,
                       "low_memory": False, "decimal": decimal, "encoding": "latin-1"}, mapper,
                      _biologic_attrs(columns, decimal))


def read_biologic_text(path: str | Path) -> pd.DataFrame:
    """Read a BioLogic EC-Lab text export (see :func:`layout_biologic_text`)."""
    return _read_layout(layout_biologic_text(Path(path)), str(path))


def read_biologic_mpr(path: str | Path) -> pd.DataFrame:
    """Read a BioLogic binary ``.mpr`` with galvani (current per :func:`_biologic_map`)."""
    from galvani import BioLogic  # local import: only this format needs it

    try:
        mpr = BioLogic.MPRfile(str(path))
    except Exception as exc:  # galvani raises ValueError/NotImplementedError on unknown modules
        raise InvalidInput(f"galvani cannot read this .mpr: {exc}", source=str(path)) from exc
    frame = pd.DataFrame(mpr.data)
    columns = [str(c) for c in frame.columns]
    return _read_layout(TextLayout({}, lambda f: _biologic_map(f, str(path)), _biologic_attrs(columns, ".")),
                        str(path), frame=frame)


def layout_battery_data_format(path: Path) -> TextLayout:
    """Battery Data Format CSV (Battery Data Alliance BDF: ``Test Time / s``, ``Voltage / V``,
    ``Current / A`` [+ ``Step Index / 1``, ``Cycle Count / 1``, ``Temperature T1 / degC``]).

    BDF uses positive current for charging, as the canonical frame does.
    """
    def mapper(frame: pd.DataFrame) -> pd.DataFrame:
        frame.columns = [str(c).strip() for c in frame.columns]
        return _renamed(frame, {"Test Time / s": "time_s", "Voltage / V": "voltage_v", "Current / A": "current_a"},
                        {"Step Index / 1": "step", "Cycle Count / 1": "cycle",
                         "Temperature T1 / degC": "temperature_c"}, "Battery Data Format", str(path))
    return TextLayout({"filepath_or_buffer": path}, mapper)


def read_battery_data_format(path: str | Path) -> pd.DataFrame:
    """Read a Battery Data Format CSV (see :func:`layout_battery_data_format`)."""
    return _read_layout(layout_battery_data_format(Path(path)), str(path))


#: Binary formats recognised by their first bytes, refused with the export to use instead.
_BINARY_SIGNATURES: list[tuple[bytes, str, str]] = [
    (b"\x89HDF\r\n\x1a\n", "HDF5 (.h5)",
     "export the channels as CSV (time_s, voltage_v, current_a) or as a Battery Data Format CSV"),
    (b"\x00\x01\x00\x00Standard Jet DB", "Arbin .res (Microsoft Access database)",
     "export it from Arbin MITS Pro / Data Watcher as CSV"),
    (b"\x00\x01\x00\x00Standard ACE DB", "Arbin .res (Microsoft Access database)",
     "export it from Arbin MITS Pro / Data Watcher as CSV"),
    (b"PK\x03\x04", "Neware .ndax (zip archive)", "export it from Neware BTSDA as CSV or Excel"),
    (b"NEWARE", "Neware .nda", "export it from Neware BTSDA as CSV or Excel"),
    (b"SQLite format 3\x00", "SQLite database", "export the channels as CSV"),
]


def read_novonix(path: str | Path) -> pd.DataFrame:
    """Read a Novonix CSV (``[Summary]``...``[Data]`` sections; data lines may be wrapped in quotes)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        start = next(k for k, line in enumerate(lines) if line.strip() == "[Data]") + 1
    except StopIteration:
        raise InvalidInput([Problem(None, "[Data]", "Novonix data section not found")], source=str(path)) from None
    body = "\n".join(line.strip().strip('"') for line in lines[start:] if line.strip())
    frame = pd.read_csv(io.StringIO(body))
    need = ["Run Time (h)", "Current (A)", "Potential (V)"]
    missing = [c for c in need if c not in frame]
    if missing:
        raise InvalidInput([Problem(None, c, "Novonix column missing") for c in missing], source=str(path))
    out = pd.DataFrame({"time_s": frame["Run Time (h)"] * 3600.0, "voltage_v": frame["Potential (V)"],
                        "current_a": frame["Current (A)"]})
    for src, dst in [("Temperature (°C)", "temperature_c"), ("Step Number", "step"), ("Cycle Number", "cycle")]:
        if src in frame:
            out[dst] = frame[src]
    return _finish(out, str(path))


def detect_format(path: str | Path) -> str:
    """Guess the format of a measurement file from its name and first bytes.

    Returns one of ``canonical, arbin, maccor, biologic_text, biologic_mpr, novonix, bdf``. Known
    binary formats without a reader here (HDF5, Arbin ``.res``, Neware ``.nda``/``.ndax``) and
    impedance spectra are refused with a message naming the format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput("file not found", source=str(path))
    raw = _first_bytes(path)
    for magic, name, advice in _BINARY_SIGNATURES:
        if raw.startswith(magic):
            raise InvalidInput(f"{name} is a binary format circulith does not read; {advice}", source=str(path))
    if suffix in (".res", ".nda", ".ndax", ".h5", ".hdf5"):
        raise InvalidInput(f"{suffix} files are not read by circulith; export the run as CSV", source=str(path))
    if suffix == ".mpr" or raw.startswith(b"BIO-LOGIC MODULAR FILE"):
        return "biologic_mpr"
    if suffix == ".parquet" or raw.startswith(b"PAR1"):
        return "canonical"
    if b"\x00" in raw:
        raise InvalidInput("binary file of an unknown measurement format", source=str(path))
    head = raw.decode("latin-1", errors="replace")
    if head.startswith("[Summary]") or "Novonix" in head[:200]:
        return "novonix"
    if "EC-Lab" in head[:100] or "Ecell/V" in head or "Ewe/V" in head:
        return "biologic_text"
    if "freq/Hz" in head or "Re(Z)/Ohm" in head:
        raise InvalidInput("this is an impedance spectrum (EIS), not a time series", source=str(path))
    if "Rec#" in head or "MaccorTestProcedure" in head or re.fullmatch(r"\.\d{3}", suffix):
        return "maccor"
    if "Test Time / s" in head and "Voltage / V" in head:
        return "bdf"
    if "Test_Time" in head and "Voltage" in head:
        return "arbin"
    if "time_s" in head:
        return "canonical"
    raise InvalidInput("unrecognised measurement format (expected canonical CSV/Parquet, Arbin CSV, Maccor "
                       "text, BioLogic .mpt/.mpr, Novonix CSV or Battery Data Format CSV)", source=str(path))


_READERS = {"canonical": read_canonical, "arbin": read_arbin, "maccor": read_maccor,
            "biologic_text": read_biologic_text, "biologic_mpr": read_biologic_mpr, "novonix": read_novonix,
            "bdf": read_battery_data_format}


def read_measurement(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    """Read any supported measurement file into the canonical frame (format detected if not given)."""
    fmt = fmt or detect_format(path)
    if fmt not in _READERS:
        raise InvalidInput(f"unknown format '{fmt}'; known: {', '.join(_READERS)}", source=str(path))
    return _READERS[fmt](path)


#: Text formats whose files can be read block by block (flat memory).
LAYOUTS: dict[str, Callable[[Path], TextLayout]] = {
    "canonical": layout_canonical, "arbin": layout_arbin, "maccor": layout_maccor,
    "biologic_text": layout_biologic_text, "bdf": layout_battery_data_format}


def read_head(path: str | Path, fmt: str, rows: int = 1000) -> pd.DataFrame:
    """The first ``rows`` samples of a text file of format ``fmt`` (a key of ``LAYOUTS``).

    Used for the channel list and attributes of a file too large to hold whole.
    """
    layout = LAYOUTS[fmt](Path(path))
    return _read_layout(layout, str(path), frame=pd.read_csv(**layout.kwargs, nrows=rows))
