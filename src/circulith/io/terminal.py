"""Text from records made safe to print on a terminal.

Stored strings (site IDs, notes, organisation names) come from other parties; printed raw, an
escape sequence in one (``ESC [ 2 J``, an OSC 8 link, a title change) would act on the reader's
terminal. :func:`printable` shows every C0 and C1 control character, DEL and the bidirectional
overrides as a visible escape (``\\x1b``, ``\\u202e``) instead.
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
