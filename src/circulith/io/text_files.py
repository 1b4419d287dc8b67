"""Checks that a file a command reads as text (CSV, JSON, TOML) is text before a reader parses it.

A spreadsheet saved under a ``.json`` or ``.csv`` name is the usual mistake: it is named by its file
signature (the first bytes, e.g. ``PK\\x03\\x04`` of the ZIP container of an Office Open XML workbook,
ECMA-376 Part 2; ``D0 CF 11 E0 A1 B1 1A E1`` of an OLE2 compound file such as a legacy ``.xls``) and refused
in one line naming the file and what to do, instead of failing inside a decoder. Text in another encoding
than UTF-8 is refused with the line of the first bad byte. A UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

from pathlib import Path

from circulith.errors import InvalidInput, Problem

#: Leading bytes of binary files users mistake for text, and what they are.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel workbook (.xls) or another OLE2 document"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
)


def refuse_workbook(data: bytes, source: str, expected: str = "CSV or JSON text") -> None:
    """Raise :class:`InvalidInput` if ``data`` is a workbook or another binary file rather than ``expected``."""
    for magic, what in BINARY_SIGNATURES:
        if data.startswith(magic):
            advice = ": save the sheet as CSV (UTF-8)" if "CSV" in expected and "Excel" in what else ""
            raise InvalidInput(Problem(None, "", f"this is {what}, not {expected}{advice}"), source=source)


def read_text_file(path: str | Path, expected: str = "CSV or JSON text", *, kind: str | None = None) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped).

    Parameters
    ----------
    path : str or Path
        The file.
    expected : str
        What the file should be, for the message (e.g. ``"CSV or JSON text"``).
    kind : str, optional
        Shorthand for ``expected = f"{kind} text"`` (``"JSON"``, ``"CSV"``, ``"TOML"``).

    Raises
    ------
    InvalidInput
        If the file is missing or unreadable, a workbook or other binary file, not UTF-8 (the line is
        named), or holds NUL characters.
    """
    if kind is not None:
        expected = f"{kind} text"
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(Problem(None, "", "file not found"), source=str(p))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidInput(Problem(None, "", f"cannot read the file ({exc.strerror})"), source=str(p)) from None
    refuse_workbook(data, str(p), expected)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInput(Problem(None, "", f"not UTF-8 text (byte {exc.start}, line {line}): save it as UTF-8"),
                           source=str(p)) from None
    if "\x00" in text:
        raise InvalidInput(Problem(None, "", f"holds NUL bytes: a binary file, not {expected}"), source=str(p))
    return text


def require_text_file(path: str | Path, expected: str = "CSV or JSON text") -> Path:
    """``path``, checked to be a readable UTF-8 text file (see :func:`read_text_file`)."""
    read_text_file(path, expected)
    return Path(path)
