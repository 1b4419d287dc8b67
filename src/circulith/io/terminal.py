"""Text from records made safe to print on a terminal.

Stored strings (site IDs, notes, organisation names) come from other parties; printed raw, an
escape sequence in one (``ESC [ 2 J``, an OSC 8 link, a title change) would act on the reader's
terminal. :func:`printable` shows every C0 and C1 control character, DEL and the bidirectional
overrides as a visible escape (``\\x1b``, ``\\u202e``) instead; :func:`printable_json` does the
same for a JSON document, with JSON's own ``\\uXXXX`` escapes, so the document keeps its values.
"""

from __future__ import annotations

import re

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with control characters (except tab and newline) shown as visible escapes."""
    return _CONTROLS.sub(_escape, str(text))


_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What :func:`json.dumps` with ``ensure_ascii=False`` leaves raw (it escapes C0 controls itself)."""


def printable_json(document: str) -> str:
    """A JSON text with DEL, C1 controls and bidirectional overrides written as ``\\uXXXX`` escapes.

    These characters can occur only inside JSON strings, where ``\\uXXXX`` denotes the same
    character (RFC 8259 section 7): the parsed document is unchanged, and printing it sends no
    control sequence to a terminal.
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", document)
