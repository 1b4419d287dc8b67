"""Checks that a file a command reads as text (CSV, JSON, TOML) is text before a reader parses it.

A spreadsheet workbook given where CSV or JSON was expected, or text in another encoding than UTF-8,
is refused in one line naming the file and what to do, instead of failing inside a parser.
"""

from __future__ import annotations

from pathlib import Path

from circulith.errors import InvalidInput, Problem

_WORKBOOKS = ((b"PK\x03\x04", "an Excel workbook (.xlsx, a zip archive)"),
              (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"))


def refuse_workbook(data: bytes, source: str, expected: str = "CSV or JSON text") -> None:
    """Raise :class:`InvalidInput` if ``data`` is a spreadsheet workbook rather than ``expected``."""
    for magic, what in _WORKBOOKS:
        if data.startswith(magic):
            advice = ": save the sheet as CSV (UTF-8)" if "CSV" in expected else ""
            raise InvalidInput(Problem(None, "", f"{what}, not {expected}{advice}"), source=source)


def read_text_file(path: str | Path, expected: str = "CSV or JSON text") -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped).

    Raises
    ------
    InvalidInput
        If the file is missing or unreadable, a spreadsheet workbook, or not UTF-8 (the line is named).
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(Problem(None, "", "file not found"), source=str(p))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidInput(Problem(None, "", f"cannot read the file ({exc.strerror})"), source=str(p)) from None
    refuse_workbook(data, str(p), expected)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInput(Problem(None, "", f"not UTF-8 text (byte {exc.start}, line {line}): save it as UTF-8"),
                           source=str(p)) from None


def require_text_file(path: str | Path, expected: str = "CSV or JSON text") -> Path:
    """``path``, checked to be a readable UTF-8 text file (see :func:`read_text_file`)."""
    read_text_file(path, expected)
    return Path(path)
