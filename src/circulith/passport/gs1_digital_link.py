"""GS1 Digital Link URIs: parse and validate as the GS1 standard defines them.

Rules, from the GS1 Digital Link Standard: URI Syntax (release 1.4) and the GS1 General
Specifications (section 3.2, the Application Identifier table shipped in
``reference/data/gs1_application_identifiers.csv``):

* Any ``http``/``https`` host and any path stem; the identifier is the **rightmost** primary key in
  the path (``/01/{GTIN}``, ``/00/{SSCC}``, ``/8004/{GIAI}``, ...) followed only by its key
  qualifiers, each at most once, in the standard's order. For a GTIN the qualifiers are
  ``/22/{CPV}``, ``/10/{lot}``, ``/21/{serial}`` (in that order, each optional) **or** ``/235/{TPX}``,
  never both (DL URI syntax, section 4.5; the syntax dictionary's ``dlpkey=22,10,21|235``).
* The path may not end in ``/``; a fragment is ignored.
* The query string carries data attributes ``{AI}={value}``: each is validated by its AI's format;
  empty values, unknown numeric AIs, a repeated AI, the primary key again, or a key qualifier that
  belongs in the path are refused. Non-numeric parameters (``linkType=all``) and bare tokens are
  not GS1 data and are ignored; empty ``&`` separators are skipped.
* Values are percent-decoded; ``+`` is a literal plus in the path and a space in the query; a
  percent-encoded NUL is refused.
* A GTIN in a Digital Link URI is 14 digits (AI 01 is ``N14``). Zero-suppressed GTIN-8, -12 and -13
  are refused unless the caller permits them (``permit_zero_suppressed_gtin``), the legacy
  behaviour GS1's own reference parser offers as an option; they are then padded to 14 digits.

Each refusal raises :class:`circulith.errors.InvalidInput` naming the GS1 rule. The behaviour is
tested against the examples of the standard and of GS1's reference Barcode Syntax Engine.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import quote, urlsplit

from circulith.errors import InvalidInput, Problem
from circulith.reference.loader import read_text

__all__ = [
    "ApplicationIdentifier",
    "DigitalLink",
    "application_identifiers",
    "canonical_url",
    "gtin_check_digit",
    "looks_like_digital_link",
    "parse_digital_link",
]

#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
GS1_CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
GS1_CANONICAL_HOST = "id.gs1.org"
_COMPONENT = re.compile(r"^(?P<opt>\[)?(?P<kind>[NX])(?P<range>\.\.)?(?P<len>\d+)(?::(?P<lint>\w+))?\]?$")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class _Component:
    kind: str  # "N" digits or "X" character set 82
    max_len: int
    fixed: bool
    optional: bool
    lint: str | None


@dataclass(frozen=True)
class ApplicationIdentifier:
    """One GS1 Application Identifier from the shipped table.

    Parameters
    ----------
    ai : str
        The AI digits.
    title : str
        GS1 data title.
    components : tuple
        Data field components (numeric or character set 82, fixed or variable length).
    check_digit : bool
        Whether the first component ends in a GS1 mod-10 check digit.
    primary_key : bool
        Whether the AI is a GS1 Digital Link primary key.
    qualifier_sequences : tuple of tuple of str
        Alternative ordered sequences of key qualifiers (primary keys only).
    """

    ai: str
    title: str
    components: tuple[_Component, ...]
    check_digit: bool
    primary_key: bool
    qualifier_sequences: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class DigitalLink:
    """A parsed GS1 Digital Link URI.

    Parameters
    ----------
    primary_ai, primary_value : str
        The primary key (AI and value; a GTIN is given as GTIN-14).
    qualifiers : tuple of (str, str)
        Key qualifiers in path order.
    attributes : dict of str to str
        Data attributes from the query string, by AI.
    """

    primary_ai: str
    primary_value: str
    qualifiers: tuple[tuple[str, str], ...]
    attributes: dict[str, str] = field(default_factory=dict)


def _fail(text: str, reason: str) -> InvalidInput:
    return InvalidInput(Problem(None, "identifier", f"{text!r}: {reason}"))


def _components(spec: str) -> tuple[_Component, ...]:
    out = []
    for part in spec.split("+"):
        m = _COMPONENT.match(part)
        if m is None:
            raise ValueError(f"bad AI format {spec!r} in the shipped GS1 table")
        out.append(_Component(m["kind"], int(m["len"]), m["range"] is None, bool(m["opt"]), m["lint"]))
    return tuple(out)


@cache
def application_identifiers() -> dict[str, ApplicationIdentifier]:
    """The shipped GS1 Application Identifier table, by AI."""
    text, _info = read_text("gs1_application_identifiers.csv")
    table: dict[str, ApplicationIdentifier] = {}
    with io.StringIO(text, newline="") as fh:
        for row in csv.DictReader(fh):
            quals = tuple(tuple(s.split(",")) for s in row["dl_key_qualifiers"].split("|") if s)
            table[row["ai"]] = ApplicationIdentifier(
                row["ai"], row["title"], _components(row["format"]), row["check_digit"] == "yes",
                row["dl_primary_key"] == "yes", quals)
    return table


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before the check digit.

    Weights 3 and 1 alternate from the rightmost digit of ``body`` (GS1 General Specifications,
    section 7.9.1). Example: ``950600013435`` -> ``2`` (GTIN-13 9506000134352, the GS1 example).
    """
    if not body.isdigit():
        raise ValueError(f"GTIN body must be digits, got {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _validate_value(text: str, ai: ApplicationIdentifier, value: str) -> None:
    """Check ``value`` against the AI's format (GS1 General Specifications, section 3.2)."""
    name = f"GS1 AI ({ai.ai}) {ai.title}"
    if "\x00" in value:
        raise _fail(text, f"{name}: a NUL character is not allowed")
    if not value:
        raise _fail(text, f"{name}: empty value")
    rest = value
    for i, comp in enumerate(ai.components):
        if not rest:
            if comp.optional:
                break
            raise _fail(text, f"{name}: value {value!r} is too short")
        if comp.kind == "N":
            m = re.match(r"\d+", rest)
            run = m.group(0) if m else ""
        else:
            run = rest
        take = run[: comp.max_len]
        if comp.fixed and len(take) < comp.max_len:
            raise _fail(text, f"{name}: component {i + 1} must be {comp.max_len} digits in {value!r}")
        if not take:
            raise _fail(text, f"{name}: component {i + 1} must be digits in {value!r}")
        if comp.kind == "X":
            bad = sorted(set(take) - GS1_CSET82)
            if bad:
                raise _fail(text, f"{name}: characters outside GS1 character set 82: {''.join(bad)!r}")
        if comp.lint == "date":
            month, day = int(take[2:4]), int(take[4:6])
            if not 1 <= month <= 12 or day > 31:
                raise _fail(text, f"{name}: {take!r} is not a YYMMDD date")
        if i == 0 and ai.check_digit:
            expected = gtin_check_digit(take[:-1])
            if int(take[-1]) != expected:
                raise _fail(text, f"{name}: {take} fails the GS1 mod-10 check digit "
                                  f"(expected {expected}, got {take[-1]})")
        rest = rest[len(take):]
    if rest:
        raise _fail(text, f"{name}: value {value!r} is too long or malformed for format "
                          f"{'+'.join(c.kind + ('' if c.fixed else '..') + str(c.max_len) for c in ai.components)}")


def _unescape(text: str, raw: str, *, query: bool) -> str:
    if query:
        raw = raw.replace("+", " ")
    for hx in _PCT.findall(raw):
        if int(hx, 16) == 0:
            raise _fail(text, "a percent-encoded NUL (%00) is not allowed in a GS1 Digital Link URI")
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), raw)


def _split_path(text: str, segments: list[str], table: dict[str, ApplicationIdentifier]
                ) -> tuple[int, tuple[str, ...] | None]:
    """Index of the rightmost primary key followed only by valid qualifiers, and the sequence used."""
    for start in range(len(segments) - 2, -1, -1):
        ai = table.get(segments[start])
        if ai is None or not ai.primary_key or (len(segments) - start) % 2:
            continue
        quals = [segments[j] for j in range(start + 2, len(segments), 2)]
        if not quals:
            return start, None
        for seq in ai.qualifier_sequences:
            pos = -1
            ok = True
            for q in quals:
                if q not in seq or seq.index(q) <= pos:
                    ok = False
                    break
                pos = seq.index(q)
            if ok:
                return start, seq
    return -1, None


def looks_like_digital_link(text: str) -> bool:
    """Whether an http(s) URI has a GS1 primary key segment followed by a value (``/01/...``)."""
    segments = urlsplit(text).path.split("/")
    table = application_identifiers()
    return any(table.get(s) is not None and table[s].primary_key and i + 1 < len(segments)
               for i, s in enumerate(segments))


def parse_digital_link(text: str, *, permit_zero_suppressed_gtin: bool = False) -> DigitalLink:
    """Parse and validate a GS1 Digital Link URI (see the module notes for the rules).

    Parameters
    ----------
    text : str
        The URI.
    permit_zero_suppressed_gtin : bool
        Accept GTIN-8, -12 and -13 in the ``/01/`` path segment (legacy), padding them to GTIN-14.

    Raises
    ------
    InvalidInput
        Naming the GS1 rule the URI breaks.
    """
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise _fail(text, "a GS1 Digital Link URI must use http or https (DL URI syntax 4.1)")
    if not parts.hostname:
        raise _fail(text, "a GS1 Digital Link URI needs a host (DL URI syntax 4.1)")
    if parts.path.endswith("/"):
        raise _fail(text, "a GS1 Digital Link URI path may not end in '/' (DL URI syntax 4.3)")
    table = application_identifiers()
    segments = parts.path.split("/")[1:]
    start, _seq = _split_path(text, segments, table)
    if start < 0:
        return _explain_path(text, segments, table)
    key = table[segments[start]]
    value = _unescape(text, segments[start + 1], query=False)
    if key.ai == "01" and value.isdigit() and len(value) in (8, 12, 13):
        if not permit_zero_suppressed_gtin:
            raise _fail(text, f"GS1 AI (01) GTIN in a Digital Link URI must have 14 digits, got the "
                              f"zero-suppressed GTIN-{len(value)} {value!r} (DL URI syntax 4.5; pad it "
                              f"with leading zeros)")
        _validate_value(text, key, value.zfill(14))
        value = value.zfill(14)
    else:
        _validate_value(text, key, value)
    seen = {key.ai}
    qualifiers = []
    for j in range(start + 2, len(segments), 2):
        q = table[segments[j]]
        v = _unescape(text, segments[j + 1], query=False)
        _validate_value(text, q, v)
        qualifiers.append((q.ai, v))
        seen.add(q.ai)
    attributes = _query_attributes(text, parts.query, key, seen, table)
    return DigitalLink(key.ai, value, tuple(qualifiers), attributes)


def _explain_path(text: str, segments: list[str], table: dict[str, ApplicationIdentifier]) -> DigitalLink:
    keys = [i for i, s in enumerate(segments) if s in table and table[s].primary_key]
    if not keys:
        raise _fail(text, "a GS1 Digital Link URI needs a primary key such as /01/{GTIN} (DL URI syntax 4.3)")
    start = keys[-1]
    key = table[segments[start]]
    rest = segments[start + 1:]
    if not rest or not rest[0]:
        raise _fail(text, f"missing value after /{key.ai}/ (DL URI syntax 4.3)")
    pairs = rest[1:]
    if len(pairs) % 2:
        raise _fail(text, f"key qualifier {pairs[-1]!r} has no value (DL URI syntax 4.3)")
    allowed = " or ".join(", ".join(s) for s in key.qualifier_sequences) or "none"
    names = [pairs[i] for i in range(0, len(pairs), 2)]
    unknown = [n for n in names if not any(n in s for s in key.qualifier_sequences)]
    if unknown:
        raise _fail(text, f"AI {unknown[0]!r} is not a key qualifier of GS1 AI ({key.ai}) "
                          f"(allowed: {allowed}; DL URI syntax 4.5)")
    raise _fail(text, f"key qualifiers of GS1 AI ({key.ai}) must appear once each, in the order {allowed}, "
                      f"alternatives exclusive (DL URI syntax 4.5)")


def _query_attributes(text: str, query: str, key: ApplicationIdentifier, seen: set[str],
                      table: dict[str, ApplicationIdentifier]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    in_path_sequences = [s for s in key.qualifier_sequences if all(q in s for q in seen - {key.ai})]
    for token in query.split("&"):
        if not token or "=" not in token:
            continue
        name, raw = token.split("=", 1)
        if not name.isdigit():
            continue  # not GS1 data (e.g. linkType): ignored, as the standard requires
        ai = table.get(name)
        if ai is None:
            raise _fail(text, f"query parameter {name!r} is not a GS1 Application Identifier "
                              f"(DL URI syntax 4.6)")
        if name in seen:
            raise _fail(text, f"GS1 AI ({name}) appears more than once (DL URI syntax 4.6)")
        if any(name in s for s in in_path_sequences):
            raise _fail(text, f"GS1 AI ({name}) is a key qualifier of ({key.ai}) and belongs in the path, "
                              f"not the query string (DL URI syntax 4.5)")
        value = _unescape(text, raw, query=True)
        if name in ("01", "02") and value.isdigit() and len(value) in (8, 12, 13):
            value = value.zfill(14)  # a GTIN as a data attribute is padded, as GS1's reference parser does
        _validate_value(text, ai, value)
        attributes[name] = value
        seen.add(name)
    return attributes


def canonical_url(link: DigitalLink) -> str:
    """Canonical URI: ``https://id.gs1.org/{key}/{value}[/{qualifier}/{value}...]``.

    Values are percent-encoded except RFC 3986 unreserved characters; the query (data attributes,
    which describe rather than identify the item) and any fragment are dropped.
    """
    path = f"/{link.primary_ai}/{quote(link.primary_value, safe='-._~')}"
    for ai, value in link.qualifiers:
        path += f"/{ai}/{quote(value, safe='-._~')}"
    return f"https://{GS1_CANONICAL_HOST}{path}"
