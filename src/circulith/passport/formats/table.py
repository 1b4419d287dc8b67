"""A declarative mapping table between a foreign document and a passport, applied in both directions.

A table is a tuple of :class:`Rule`. Each rule ties one place in the foreign document (a dotted path,
list positions as integers) to one place in the passport's JSON form (a dotted field path) through a
:class:`Codec` that converts the value each way. :func:`dump` walks the table to write a document from
a passport; :func:`load` walks the same table to read the passport's data back. Rules that only make
sense one way say so (``direction``): values the document derives from others (a fade from remaining
and rated values) are ``"export"``; fallbacks that a later rule may override are ``"import"``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "IDENTITY",
    "MISSING",
    "Codec",
    "DumpContext",
    "Rule",
    "dump",
    "get_path",
    "doc_path_of",
    "leaf_paths",
    "load",
    "overlay",
    "set_path",
    "split_path",
    "unheld",
    "unwritten",
]


class _Missing:
    """Marker for a path that holds nothing (distinct from a JSON ``null``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def split_path(path: str) -> list[str | int]:
    """Dotted path -> keys, list positions as integers (``"a.0.b"`` -> ``["a", 0, "b"]``)."""
    return [int(p) if p.isdigit() else p for p in path.split(".")] if path else []


def get_path(obj: Any, path: str) -> Any:
    """The value at ``path`` in nested dicts and lists, or :data:`MISSING`."""
    for key in split_path(path):
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return MISSING
        elif not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at ``path``, creating the dicts and lists on the way."""
    keys = split_path(path)
    cur: Any = obj
    for key, nxt in zip(keys[:-1], keys[1:], strict=True):
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(key, int):
            while len(cur) <= key:
                cur.append(None)
            if cur[key] is None:
                cur[key] = empty
        elif cur.get(key) is None:
            cur[key] = empty
        cur = cur[key]
    last = keys[-1]
    if isinstance(last, int):
        while len(cur) <= last:
            cur.append(None)
    cur[last] = value


def leaf_paths(obj: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every scalar (and every empty list or dict) in a JSON value."""
    if isinstance(obj, dict) and obj:
        return [p for k, v in obj.items() for p in leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(obj, list) and obj:
        return [p for i, v in enumerate(obj) for p in leaf_paths(v, f"{prefix}.{i}" if prefix else str(i))]
    return [prefix]


@dataclass
class DumpContext:
    """What a dump collects besides the document: passport fields a required property needed but lacked."""

    missing: list[str] = field(default_factory=list)

    def need(self, value: Any, name: str, placeholder: Any) -> Any:
        """``value``, or ``placeholder`` after noting ``name`` as missing when ``value`` is None."""
        if value is None:
            self.missing.append(name)
            return placeholder
        return value


@dataclass(frozen=True)
class Codec:
    """How a value is written into the document and read back.

    Parameters
    ----------
    dump : callable
        ``(passport value, passport JSON, context) -> document value``; return :data:`MISSING` to
        write nothing.
    load : callable
        ``(document value, whole document) -> passport value``.
    """

    dump: Callable[[Any, dict[str, Any], DumpContext], Any]
    load: Callable[[Any, dict[str, Any]], Any]


IDENTITY = Codec(lambda v, root, ctx: v, lambda v, doc: v)


@dataclass(frozen=True)
class Rule:
    """One row of a mapping table.

    Parameters
    ----------
    doc : str
        Dotted path in the foreign document.
    field : str
        Dotted path in the passport's JSON form ("" for the whole passport, for derived values).
    codec : Codec
        Conversion both ways.
    required : bool
        The format requires a value here: a missing passport value is reported by the strict export.
    placeholder : Any
        Written when the passport holds no value (None: write nothing). For a required value it is a
        stand-in that the strict export refuses; for an optional one it is the format's "none"
        (an empty list).
    direction : {"both", "export", "import"}
        Which of :func:`dump` and :func:`load` use the rule.
    attach : bool
        On import, set the field only when its parent already holds a value (a time stamp joins a
        value read by an earlier rule, and never makes a value of its own).
    merge : bool
        On import the codec returns a dict that is merged into the field's dict rather than replacing it.
    """

    doc: str
    field: str
    codec: Codec = IDENTITY
    required: bool = False
    placeholder: Any = None
    direction: Literal["both", "export", "import"] = "both"
    attach: bool = False
    merge: bool = False


def _missing_name(root: dict[str, Any], field_path: str) -> str:
    """The shortest prefix of ``field_path`` that is empty in ``root`` (what the user must fill in)."""
    keys = field_path.split(".")
    for n in range(1, len(keys) + 1):
        if get_path(root, ".".join(keys[:n])) in (None, MISSING):
            return ".".join(keys[:n])
    return field_path


def dump(table: tuple[Rule, ...], passport_json: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Write a document from a passport's JSON form.

    Returns
    -------
    tuple
        The document and the passport fields that required properties lacked (in table order).
    """
    doc: dict[str, Any] = {}
    ctx = DumpContext()
    for rule in table:
        if rule.direction == "import":
            continue
        value = get_path(passport_json, rule.field) if rule.field else passport_json
        if value is MISSING or value is None:
            if rule.required:
                ctx.missing.append(_missing_name(passport_json, rule.field))
            if rule.placeholder is not None:
                set_path(doc, rule.doc, rule.placeholder)
            continue
        out = rule.codec.dump(value, passport_json, ctx)
        if out is not MISSING:
            set_path(doc, rule.doc, out)
    return doc, list(dict.fromkeys(ctx.missing))


def load(table: tuple[Rule, ...], doc: dict[str, Any]) -> dict[str, Any]:
    """Read a passport's JSON form (untrusted: validate it next) from a document."""
    data: dict[str, Any] = {}
    for rule in table:
        if rule.direction == "export":
            continue
        value = get_path(doc, rule.doc)
        if value is MISSING:
            continue
        if rule.attach:
            parent = rule.field.rpartition(".")[0]
            if get_path(data, parent) in (MISSING, None):
                continue
        out = rule.codec.load(value, doc)
        if out is MISSING:
            continue
        if rule.merge:
            current = get_path(data, rule.field)
            if isinstance(current, dict) and isinstance(out, dict):
                out = {**current, **out}
        set_path(data, rule.field, out)
    return data


def overlay(
    table: tuple[Rule, ...], received: dict[str, Any], now: dict[str, Any], then: dict[str, Any],
    *, own_entry: str | None = None,
) -> dict[str, Any]:
    """A received document with the values the passport has changed since it was read, written anew.

    Parameters
    ----------
    table : tuple of Rule
        The format's mapping table.
    received : dict
        The document as received.
    then : dict
        The table's dump of the passport as it is now, and as it was read from ``received``.
    own_entry : str or None
        Top-level key of circulith's own entry (``circulith``): written only when ``received``
        has one, since a foreign document's own places carry the changed values.

    Returns
    -------
    dict
        ``received`` where every table place whose dump is unchanged keeps the received value (and
        places the received document did not have stay absent), and every changed place holds the
        passport's current value.
    """
    out: dict[str, Any] = json.loads(json.dumps(received))
    for path in dict.fromkeys(r.doc for r in table if r.direction != "import"):
        if own_entry is not None and own_entry not in received and path.split(".")[0] == own_entry:
            continue
        value_now, value_then = get_path(now, path), get_path(then, path)
        if value_now == value_then or value_now is MISSING:
            continue
        set_path(out, path, value_now)
    return out


def unheld(received: dict[str, Any], then: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Leaves of a received document that the passport does not hold exactly.

    Returns
    -------
    list of (path, received value, value the passport writes or MISSING)
        In document order.
    """
    out = []
    for path in leaf_paths(received):
        value, written = get_path(received, path), get_path(then, path)
        if value is None or value == {} or value == []:
            continue  # holds nothing
        if not _same(value, written):
            out.append((path, value, written))
    return out


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) < 20 or value[10:11] not in "Tt ":
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _same(value: Any, written: Any) -> bool:
    """Equal as JSON values: numbers by value, time stamps by instant (the offset is notation)."""
    if isinstance(value, bool) or isinstance(written, bool):
        return value is written
    if isinstance(value, int | float) and isinstance(written, int | float):
        return value == written
    if isinstance(value, str) and isinstance(written, int | float):  # a number serialised as text (AAS)
        try:
            return float(value) == written
        except ValueError:
            return False
    a, b = _instant(value), _instant(written)
    if a is not None and b is not None:
        return a == b
    return type(value) is type(written) and value == written


def doc_path_of(table: tuple[Rule, ...], field_path: str) -> str | None:
    """The document place a passport field is read from (with any list position kept), or None."""
    best: Rule | None = None
    for rule in table:
        if rule.direction == "export" or not rule.field:
            continue
        matches = field_path == rule.field or field_path.startswith(rule.field + ".")
        if matches and (best is None or len(rule.field) > len(best.field)):
            best = rule
    if best is None:
        return None
    rest = field_path[len(best.field):].lstrip(".")
    head = rest.split(".")[0] if rest else ""
    return f"{best.doc}.{head}" if head.isdigit() else best.doc


def unwritten(table: tuple[Rule, ...], passport_json: dict[str, Any]) -> list[str]:
    """Passport fields holding a value that no row of ``table`` writes (what an export leaves out).

    Returns
    -------
    list of str
        Dotted field paths (the shortest path with no row under it), in passport order.
    """
    written = [r.field for r in table if r.direction != "import" and r.field]
    out: list[str] = []

    def covered(path: str) -> bool:
        return any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in written)

    def walk(obj: Any, prefix: str) -> None:
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            if value in (None, [], {}):
                continue
            if not covered(path):
                out.append(path)
            elif isinstance(value, dict) and not any(path == f or path.startswith(f + ".") for f in written):
                walk(value, path)

    walk(passport_json, "")
    return out
