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
============== ================================ ===================================================

galvani is used for ``.mpr`` because the binary format is undocumented and galvani is the maintained
open reader (also used by BEEP and cellpy); text formats are parsed here with pandas, which is
simpler than a dependency per vendor.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

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


def read_canonical(path: str | Path) -> pd.DataFrame:
    """Read a canonical CSV or Parquet (``time_s, voltage_v, current_a`` [+ optional]).

    ``current_ma`` is accepted instead of ``current_a`` and converted (mA -> A); ``time_ms`` likewise.
    """
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    if "current_a" not in frame and "current_ma" in frame:
        frame["current_a"] = frame["current_ma"] / 1000.0
    if "time_s" not in frame and "time_ms" in frame:
        frame["time_s"] = frame["time_ms"] / 1000.0
    missing = [c for c in ["time_s", "voltage_v", "current_a"] if c not in frame]
    if missing:
        raise InvalidInput([Problem(None, c, "required channel missing") for c in missing], source=str(path))
    return _finish(frame, str(path))


def read_arbin(path: str | Path) -> pd.DataFrame:
    """Read an Arbin CSV export (``Test_Time`` [s], ``Current`` [A], ``Voltage`` [V])."""
    path = Path(path)
    frame = pd.read_csv(path)
    need = ["Test_Time", "Current", "Voltage"]
    missing = [c for c in need if c not in frame]
    if missing:
        raise InvalidInput([Problem(None, c, "Arbin column missing") for c in missing], source=str(path))
    out = pd.DataFrame({"time_s": frame["Test_Time"], "voltage_v": frame["Voltage"], "current_a": frame["Current"]})
    for src, dst in [("Temperature", "temperature_c"), ("Step_Index", "step"), ("Cycle_Index", "cycle")]:
        if src in frame:
            out[dst] = frame[src]
    return _finish(out, str(path))


def _parse_maccor_time(col: pd.Series) -> pd.Series:
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all():
        return num
    parts = col.astype(str).str.extract(r"(?:(\d+)d\s+)?(\d+):(\d+):([\d.]+)")
    days = pd.to_numeric(parts[0], errors="coerce").fillna(0)
    return days * 86400 + parts[1].astype(float) * 3600 + parts[2].astype(float) * 60 + parts[3].astype(float)


def read_maccor(path: str | Path) -> pd.DataFrame:
    """Read a Maccor text export (line 1 metadata, line 2 tab-separated header starting ``Rec#``).

    The current sign is set from ``State``: C charge (+), D discharge (-), other states keep the sign
    written (rest: zero). A Maccor *procedure* file (XML) is refused with a clear message.
    """
    path = Path(path)
    head = path.read_text(encoding="latin-1", errors="replace")[:4096]
    if head.lstrip().startswith("<?xml") or "<MaccorTestProcedure" in head:
        raise InvalidInput("this is a Maccor test procedure (XML), not a data export", source=str(path))
    lines = head.splitlines()
    hdr = next((k for k, line in enumerate(lines[:5]) if line.startswith("Rec#")), None)
    if hdr is None:
        raise InvalidInput([Problem(None, "Rec#", "Maccor header line not found in the first 5 lines")],
                           source=str(path))
    frame = pd.read_csv(path, sep="\t", skiprows=hdr, encoding="latin-1", index_col=False)
    frame.columns = [c.strip() for c in frame.columns]
    tcol = next((c for c in ["Test (Sec)", "TestTime", "Test Time"] if c in frame), None)
    missing = [n for n, c in [("Test (Sec)/TestTime", tcol), ("Amps", "Amps" in frame or None),
                              ("Volts", "Volts" in frame or None)] if c is None]
    if missing:
        raise InvalidInput([Problem(None, c, "Maccor column missing") for c in missing], source=str(path))
    amps = pd.to_numeric(frame["Amps"], errors="coerce")
    if "State" in frame:
        state = frame["State"].astype(str).str.strip().str.upper()
        amps = np.where(state == "C", amps.abs(), np.where(state == "D", -amps.abs(), amps))
    out = pd.DataFrame({"time_s": _parse_maccor_time(frame[tcol]), "voltage_v": frame["Volts"], "current_a": amps})
    for src, dst in [("Step", "step"), ("Cyc#", "cycle"), ("Temp 1", "temperature_c")]:
        if src in frame:
            out[dst] = frame[src]
    return _finish(out, str(path))


def _biologic_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    tcol = next((c for c in frame.columns if c.startswith("time/")), None)
    vcol = next((c for c in ["Ecell/V", "Ewe/V", "<Ewe>/V", "<Ecell>/V"] if c in frame), None)
    icol = next((c for c in ["I/mA", "<I>/mA", "control/V/mA"] if c in frame), None)
    missing = [n for n, c in [("time/s", tcol), ("Ecell/V or Ewe/V", vcol), ("I/mA", icol)] if c is None]
    if missing:
        raise InvalidInput([Problem(None, c, "BioLogic column missing") for c in missing], source=source)
    t = pd.to_numeric(frame[tcol], errors="coerce")
    if t.isna().any():  # absolute time format (MM/DD/YYYY hh:mm:ss.fff)
        ts = pd.to_datetime(frame[tcol], format="%m/%d/%Y %H:%M:%S.%f", errors="coerce")
        t = (ts - ts.iloc[0]).dt.total_seconds()
    out = pd.DataFrame({"time_s": t, "voltage_v": frame[vcol],
                        "current_a": pd.to_numeric(frame[icol], errors="coerce") / 1000.0})
    for src, dst in [("Ns", "step"), ("cycle number", "cycle"), ("Temperature/°C", "temperature_c"),
                     ("T/°C", "temperature_c")]:
        if src in frame and dst not in out:
            col = pd.to_numeric(frame[src], errors="coerce")
            if col.notna().any():
                out[dst] = col
    return _finish(out, source)


def read_biologic_text(path: str | Path) -> pd.DataFrame:
    """Read a BioLogic EC-Lab text export: ``.mpt`` (``Nb header lines``) or ``;``-separated CSV."""
    path = Path(path)
    text = path.read_text(encoding="latin-1", errors="replace")
    skip = 0
    m = re.search(r"Nb header lines\s*:\s*(\d+)", text[:2000])
    if m:
        skip = int(m.group(1)) - 1
    first = text.split("\n", skip + 1)[skip]
    sep = "\t" if first.count("\t") > first.count(";") else ";"
    frame = pd.read_csv(io.StringIO(text), sep=sep, skiprows=skip, index_col=False, low_memory=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return _biologic_frame(frame, str(path))


def read_biologic_mpr(path: str | Path) -> pd.DataFrame:
    """Read a BioLogic binary ``.mpr`` with galvani."""
    from galvani import BioLogic  # local import: only this format needs it

    try:
        mpr = BioLogic.MPRfile(str(path))
    except Exception as exc:  # galvani raises ValueError/NotImplementedError on unknown modules
        raise InvalidInput(f"galvani cannot read this .mpr: {exc}", source=str(path)) from exc
    frame = pd.DataFrame(mpr.data)
    return _biologic_frame(frame, str(path))


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

    Returns one of ``canonical, arbin, maccor, biologic_text, biologic_mpr, novonix``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mpr":
        return "biologic_mpr"
    if suffix == ".parquet":
        return "canonical"
    head = path.read_bytes()[:4096].decode("latin-1", errors="replace")
    if head.startswith("[Summary]") or "Novonix" in head[:200]:
        return "novonix"
    if "EC-Lab" in head[:100] or "Ecell/V" in head or "Ewe/V" in head:
        return "biologic_text"
    if "Rec#" in head or "MaccorTestProcedure" in head or re.fullmatch(r"\.\d{3}", suffix):
        return "maccor"
    if "Test_Time" in head and "Voltage" in head:
        return "arbin"
    if "time_s" in head:
        return "canonical"
    raise InvalidInput("unrecognised measurement format (expected canonical CSV/Parquet, Arbin, Maccor, "
                       "BioLogic .mpt/.mpr or Novonix)", source=str(path))


_READERS = {"canonical": read_canonical, "arbin": read_arbin, "maccor": read_maccor,
            "biologic_text": read_biologic_text, "biologic_mpr": read_biologic_mpr, "novonix": read_novonix}


def read_measurement(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    """Read any supported measurement file into the canonical frame (format detected if not given)."""
    fmt = fmt or detect_format(path)
    if fmt not in _READERS:
        raise InvalidInput(f"unknown format '{fmt}'; known: {', '.join(_READERS)}", source=str(path))
    return _READERS[fmt](path)
