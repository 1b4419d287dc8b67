"""Reading a user's text file (JSON, CSV, TOML) whole, refusing binary files with a one-line reason.

A spreadsheet saved under a ``.json`` or ``.csv`` name is the usual mistake: it is named by its file
signature (the first bytes, e.g. ``PK\\x03\\x04`` of the ZIP container of an Office Open XML workbook,
ECMA-376 Part 2; ``D0 CF 11 E0 A1 B1 1A E1`` of an OLE2 compound file such as a legacy ``.xls``) instead
of failing in a decoder. A UTF-8 byte-order mark is accepted.
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


def read_text_file(path: str | Path, *, kind: str) -> str:
    """The whole text of a UTF-8 file, or a one-line :class:`InvalidInput` naming the file and the reason.

    Parameters
    ----------
    path : str or Path
        The file.
    kind : str
        What the file should be (``"JSON"``, ``"CSV"``, ``"TOML"``), for the message.

    Raises
    ------
    InvalidInput
        The file is missing, binary (a workbook, an archive, a PDF...), or not UTF-8 text.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(Problem(None, "", f"file not found: {p}"), source=str(p))
    data = p.read_bytes()
    for signature, what in BINARY_SIGNATURES:
        if data.startswith(signature):
            raise InvalidInput(Problem(None, "", f"this is {what}, not {kind} text: export it as {kind} (UTF-8)"),
                               source=str(p))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(None, "", f"not UTF-8 {kind} text ({exc.reason} at byte {exc.start}): save it as "
                                   f"{kind} in UTF-8"), source=str(p)) from None
    if "\x00" in text:
        raise InvalidInput(Problem(None, "", f"holds NUL bytes: a binary file, not {kind} text"), source=str(p))
    return text
