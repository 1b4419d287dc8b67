"""Checks at write that keep every stored event readable, forever (the ledger is append-only).

An event payload is refused, naming the field, when it

- nests deeper than :data:`MAX_PAYLOAD_DEPTH` levels or its canonical JSON exceeds
  :data:`MAX_PAYLOAD_BYTES` (a history must stay renderable and a row small);
- holds a number that is not finite (NaN, infinities: not JSON, RFC 8259 section 6) or an integer
  outside the exactly representable range of :data:`MAX_SAFE_INTEGER` (RFC 7493, I-JSON, section 2.2);
- holds a string (key or value) with a NUL character (PostgreSQL text refuses it) or a lone
  surrogate code point (not Unicode text; RFC 7493 section 2.1);
- states a dynamic value (``soh_pct``, counts, durations ...) that the passport's dynamic condition
  would refuse (:func:`circulith.passport.model.dynamic_value_problem`: finite numbers in their
  physical range), or an ``accident`` that is not an object with a known kind.

Pure functions: they return problems, the caller raises.
"""

from __future__ import annotations

import math
from typing import Any

from circulith.errors import Problem
from circulith.passport.model import ACCIDENT_KINDS, DYNAMIC_VALUE_NAMES, dynamic_value_problem

MAX_PAYLOAD_DEPTH = 16
"""Deepest nesting of objects and arrays in a payload [levels] (assumption: the deepest payload the
platform writes, a graded pack with modules and their cells, nests 4 levels)."""
MAX_PAYLOAD_BYTES = 65_536
"""Largest canonical JSON text of a payload [bytes] (assumption: a graded pack with a few hundred
modules stays below 64 KiB; bulky documents belong in files referenced by URL)."""
MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer every JSON reader represents exactly (IEEE 754 binary64; RFC 7493 section 2.2)."""
MAX_TEXT_CHARS = 300
"""Longest identifier-like text (battery, event, site and organisation IDs) [characters]."""


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"contains a lone surrogate (U+{ord(ch):04X}): not Unicode text"
    return None


def _walk(value: Any, path: str, depth: int, out: list[tuple[str, str]]) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        out.append((path, f"nests deeper than {MAX_PAYLOAD_DEPTH} levels"))
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            out.append((path, f"must be a finite number, got {value!r}"))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            out.append((path, f"integer beyond ±{MAX_SAFE_INTEGER} (not exactly representable in JSON)"))
    elif isinstance(value, str):
        why = text_problem(value)
        if why:
            out.append((path, why))
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append((path, "object keys must be strings"))
                continue
            why = text_problem(key)
            if why:
                out.append((path, f"a key {why}"))
                continue
            _walk(item, f"{path}.{key}", depth + 1, out)
            if len(out) >= 20:
                return
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", depth + 1, out)
            if len(out) >= 20:
                return
    else:
        out.append((path, f"a {type(value).__name__} is not a JSON value"))


def payload_problems(payload: dict[str, Any], *, row: int | None = None, record_id: str | None = None,
                     dynamic_keys: frozenset[str] = DYNAMIC_VALUE_NAMES) -> list[Problem]:
    """Every reason ``payload`` cannot be recorded (empty: it can).

    Parameters
    ----------
    payload : dict
        The event payload as submitted.
    row, record_id : int or str or None
        Where it came from, for the problems.
    dynamic_keys : frozenset of str
        Payload keys that update the passport's dynamic values.
    """
    found: list[tuple[str, str]] = []
    _walk(payload, "payload", 1, found)
    if not found:
        import json

        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > MAX_PAYLOAD_BYTES:
            found.append(("payload", f"{size} bytes of JSON exceed the limit of {MAX_PAYLOAD_BYTES}"))
    for key in sorted(dynamic_keys & set(payload)):
        value = payload[key]
        if value is None:
            continue
        why = dynamic_value_problem(key, value)
        if why:
            found.append((f"payload.{key}", why))
    accident = payload.get("accident")
    if accident is not None:
        if not isinstance(accident, dict):
            found.append(("payload.accident", "must be an object with 'kind' and 'description'"))
        elif accident.get("kind", "other") not in ACCIDENT_KINDS:
            found.append(("payload.accident.kind", f"must be one of {', '.join(ACCIDENT_KINDS)}"))
        elif not isinstance(accident.get("description", ""), str):
            found.append(("payload.accident.description", "must be text"))
    return [Problem(row, fld, reason, record_id) for fld, reason in found]


def text_field_problems(fields: dict[str, str | None], *, row: int | None = None,
                        record_id: str | None = None) -> list[Problem]:
    """Problems of identifier-like text fields (``battery_id``, ``site_id`` ...): NUL, surrogates, length."""
    out = []
    for name, value in fields.items():
        if value is None:
            continue
        why = text_problem(value)
        if why is None and len(value) > MAX_TEXT_CHARS:
            why = f"longer than {MAX_TEXT_CHARS} characters"
        if why:
            out.append(Problem(row, name, why, record_id))
    return out
