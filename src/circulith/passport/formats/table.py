"""A declarative mapping table between a foreign document and a passport, applied in both directions.

A table is a tuple of :class:`Rule`. Each rule ties one place in the foreign document (a dotted path,
list positions as integers) to one place in the passport's JSON form (a dotted field path) through a
:class:`Codec` that converts the value each way. :func:`dump` walks the table to write a document from
a passport; :func:`load` walks the same table to read the passport's data back. Rules that only make
sense one way say so (``direction``): values the document derives from others (a fade from remaining
and rated values) are ``"export"``; fallbacks that a later rule may override are ``"import"``.
"""

from __future__ import annotations

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
    "leaf_paths",
    "load",
    "set_path",
    "split_path",
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
