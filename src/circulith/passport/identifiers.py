"""Battery and passport identifiers: parse, validate, canonicalise, mint.

Four schemes are accepted (Art. 77(3) asks for a unique identifier; the Regulation names no scheme):

``gs1``
    GS1 Digital Link URI keyed by a GTIN (GS1 Digital Link standard: URI syntax, release 1.4; see
    :mod:`circulith.passport.gs1_digital_link` for every rule): ``/01/{GTIN-14}`` on any host and
    stem, optionally followed by the key qualifiers ``/22/{CPV}``, ``/10/{lot}``, ``/21/{serial}`` in
    that order, or ``/235/{TPX}``; data attributes in the query string validated by AI. Zero-suppressed
    GTINs are refused unless ``permit_zero_suppressed_gtin`` is given. Canonical form:
    ``https://id.gs1.org/01/{GTIN-14}[/22/..][/10/..][/21/..]``, values percent-encoded except
    RFC 3986 unreserved characters, no query or fragment (GS1 canonical Digital Link URI).
``iec61406``
    IEC 61406-1:2022 Identification Link: a URL (ILS-6) of at most 255 characters (ILS-5), https,
    only RFC 3986 characters (ILS-7), case preserved in path and query (ILS-8), no percent-encoded
    control characters or spaces (ILS-9), no user-info in the authority. The clause numbers are from
    the standard's table of contents; the 255-character limit and the https requirement are our
    reading of it (the normative text was not at hand). Canonical form: scheme and host lower-cased,
    default port dropped; everything else exactly as given (ILS-4, no altering).
``gbt34014``
    GB/T 34014-2017 traction battery code: 24 characters, digits and upper-case Latin letters:
    manufacturer code (3), product type (1: P pack, M module, C cell), battery type (1), specification
    code (2), traceability code (7), production date (3: year, month, day), serial number (7 digits,
    1..9999999). Structure as summarised from the standard (wenxiaobai/Sohu summary of GB/T 34014;
    China Automotive Technology & Research Center code filing notice, 2020). *Assumption* (standard
    text not at hand): month code 1-9, A-C; day code 1-9, A-V; year code the ISO 3779 (VIN) year
    letters. Canonical form: upper case, no spaces.
``urn``
    RFC 8141 URN, ``urn:{NID}:{NSS}``. Canonical form (RFC 8141 section 3, lexical equivalence):
    ``urn`` and the NID lower-cased, percent-encodings upper-cased, r/q/f-components dropped;
    ``urn:uuid`` (RFC 9562) NSS must be a UUID and is lower-cased.

:func:`parse_identifier` returns an :class:`Identifier`; :func:`canonical` just its canonical text.
Any failed check raises :class:`circulith.errors.InvalidInput` naming the rule.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
import uuid
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from circulith.errors import InvalidInput, Problem
from circulith.passport.gs1_digital_link import (
    GS1_CANONICAL_HOST,
    GS1_CSET82,
    DigitalLink,
    canonical_url,
    gtin_check_digit,
    looks_like_digital_link,
    parse_digital_link,
)

__all__ = [
    "Identifier",
    "Scheme",
    "canonical",
    "gtin_check_digit",
    "mint_gbt34014",
    "mint_gs1_digital_link",
    "mint_passport_id",
    "parse_identifier",
]

Scheme = Literal["gs1", "iec61406", "gbt34014", "urn"]


@dataclass(frozen=True)
class Identifier:
    """A validated identifier.

    Parameters
    ----------
    scheme : {"gs1", "iec61406", "gbt34014", "urn"}
        The identification scheme.
    canonical : str
        Canonical text: equal identifiers have equal canonical text.
    text : str
        The text as given.
    parts : dict of str to str
        Scheme-specific components (``gtin``, ``serial``, ``nid``, ``manufacturer_code``, ...).
    """

    scheme: Scheme
    canonical: str
    text: str
    parts: dict[str, str] = field(default_factory=dict)


def _fail(text: str, reason: str) -> InvalidInput:
    return InvalidInput(Problem(None, "identifier", f"{text!r}: {reason}"))


# ---------------------------------------------------------------------------------------------
# GS1
# ---------------------------------------------------------------------------------------------

__all__ += ["GS1_CANONICAL_HOST", "GS1_CSET82"]
_GS1_NAMES = {"22": "cpv", "10": "lot", "21": "serial", "235": "tpx"}


def _gs1_url(gtin14: str, qualifiers: dict[str, str]) -> str:
    order = [ai for ai in ("22", "10", "21", "235") if ai in qualifiers]
    return canonical_url(DigitalLink("01", gtin14, tuple((ai, qualifiers[ai]) for ai in order)))


def _parse_gs1(text: str, *, permit_zero_suppressed_gtin: bool = False) -> Identifier:
    link = parse_digital_link(text, permit_zero_suppressed_gtin=permit_zero_suppressed_gtin)
    if link.primary_ai != "01":
        raise _fail(text, f"a battery identifier as GS1 Digital Link is keyed by a GTIN (/01/), "
                          f"not GS1 AI ({link.primary_ai})")
    out = {"gtin": link.primary_value, **{_GS1_NAMES[ai]: v for ai, v in link.qualifiers}}
    out.update({f"ai{ai}": v for ai, v in link.attributes.items()})
    return Identifier("gs1", canonical_url(link), text, out)


def mint_gs1_digital_link(gtin: str, serial: str) -> str:
    """Canonical GS1 Digital Link URI of a serialised item (SGTIN).

    Parameters
    ----------
    gtin : str
        GTIN-8/12/13/14 including its check digit, or 13 digits without it (the check digit is then
        appended to make a GTIN-14).
    serial : str
        Serial number (AI 21), 1-20 characters of GS1 character set 82.
    """
    if gtin.isdigit() and len(gtin) == 13 and int(gtin[-1]) != gtin_check_digit(gtin[:-1]):
        gtin = gtin + str(gtin_check_digit(gtin))
    if not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        raise _fail(gtin, f"GTIN must be 8, 12, 13 or 14 digits (GS1 AI 01), got {gtin!r}")
    url = _gs1_url(gtin.zfill(14), {"21": serial})
    return _parse_gs1(url).canonical


# ---------------------------------------------------------------------------------------------
# IEC 61406-1
# ---------------------------------------------------------------------------------------------

IEC61406_MAX_LENGTH = 255
_RFC3986_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def _parse_iec61406(text: str) -> Identifier:
    if len(text) > IEC61406_MAX_LENGTH:
        raise _fail(text, f"IEC 61406-1 ILS-5: longer than {IEC61406_MAX_LENGTH} characters ({len(text)})")
    bad = sorted(set(text) - _RFC3986_CHARS)
    if bad:
        raise _fail(
            text, f"IEC 61406-1 ILS-7: characters not allowed in an identification link: {''.join(bad)!r}"
        )
    if "%" in text:
        if len(_PCT.findall(text)) != text.count("%"):
            raise _fail(text, "IEC 61406-1 ILS-6: '%' not followed by two hex digits")
        for hx in _PCT.findall(text):
            if int(hx, 16) <= 0x20 or int(hx, 16) == 0x7F:
                raise _fail(text, f"IEC 61406-1 ILS-9: percent-encoded control character or space %{hx}")
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise _fail(text, "IEC 61406-1 identification link must use https")
    if "@" in parts.netloc:
        raise _fail(text, "IEC 61406-1 ILS-6: user information in the authority is not allowed")
    host = (parts.hostname or "").lower()
    if not _HOST.match(host):
        raise _fail(text, f"IEC 61406-1 ILS-6: {host!r} is not a valid DNS host name")
    try:
        port = parts.port
    except ValueError:
        raise _fail(text, "IEC 61406-1 ILS-6: invalid port") from None
    netloc = host if port in (None, 443) else f"{host}:{port}"
    path = parts.path or "/"
    if path == "/" and not parts.query:
        raise _fail(text, "IEC 61406-1 ILS-1: a bare host cannot identify an individual object")
    canon = f"https://{netloc}{path}"
    if parts.query:
        canon += f"?{parts.query}"
    if parts.fragment:
        canon += f"#{parts.fragment}"
    return Identifier("iec61406", canon, text, {"host": host, "path": path, "query": parts.query})


# ---------------------------------------------------------------------------------------------
# GB/T 34014-2017
# ---------------------------------------------------------------------------------------------

GBT34014_LENGTH = 24
GBT34014_PRODUCT_TYPES = {"P": "pack", "M": "module", "C": "cell"}
#: battery type codes confirmed in our source (others are accepted but not decoded)
GBT34014_BATTERY_TYPES = {"B": "lithium iron phosphate", "E": "ternary (NCM/NCA)"}
_MONTH_CODES = "123456789ABC"
_DAY_CODES = "123456789ABCDEFGHIJKLMNOPQRSTUV"
#: ISO 3779 model-year letters (no I, O, Q, U, Z; 0 unused) -- assumption for GB/T 34014 year code
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
_YEAR_BASE = 2010
_GBT_CHARS = frozenset(string.ascii_uppercase + string.digits)


def _parse_gbt34014(text: str) -> Identifier:
    code = text.replace(" ", "").upper()
    if len(code) != GBT34014_LENGTH:
        raise _fail(text, f"GB/T 34014 code must have 24 characters, got {len(code)}")
    bad = sorted(set(code) - _GBT_CHARS)
    if bad:
        raise _fail(text, f"GB/T 34014 code allows digits and Latin letters only, got {''.join(bad)!r}")
    parts = {
        "manufacturer_code": code[0:3],
        "product_type": code[3],
        "battery_type": code[4],
        "spec_code": code[5:7],
        "traceability_code": code[7:14],
        "year_code": code[14],
        "month_code": code[15],
        "day_code": code[16],
        "serial": code[17:24],
    }
    if parts["product_type"] not in GBT34014_PRODUCT_TYPES:
        raise _fail(
            text, f"GB/T 34014 position 4 (product type) must be P, M or C, got {parts['product_type']!r}"
        )
    if not parts["battery_type"].isalpha():
        raise _fail(
            text, f"GB/T 34014 position 5 (battery type) must be a letter, got {parts['battery_type']!r}"
        )
    if parts["year_code"] not in _YEAR_CODES:
        raise _fail(
            text, f"GB/T 34014 position 15 (year code) {parts['year_code']!r} is not a year letter/digit"
        )
    if parts["month_code"] not in _MONTH_CODES:
        raise _fail(
            text, f"GB/T 34014 position 16 (month code) must be 1-9 or A-C, got {parts['month_code']!r}"
        )
    if parts["day_code"] not in _DAY_CODES:
        raise _fail(text, f"GB/T 34014 position 17 (day code) must be 1-9 or A-V, got {parts['day_code']!r}")
    if not parts["serial"].isdigit() or int(parts["serial"]) == 0:
        raise _fail(
            text, f"GB/T 34014 positions 18-24 (serial) must be 0000001-9999999, got {parts['serial']!r}"
        )
    year = _YEAR_BASE + _YEAR_CODES.index(parts["year_code"])
    month = _MONTH_CODES.index(parts["month_code"]) + 1
    day = _DAY_CODES.index(parts["day_code"]) + 1
    try:
        produced = dt.date(year, month, day)
    except ValueError:
        raise _fail(text, f"GB/T 34014 production date {year}-{month:02d}-{day:02d} does not exist") from None
    parts["production_date"] = produced.isoformat()
    parts["level"] = GBT34014_PRODUCT_TYPES[parts["product_type"]]
    return Identifier("gbt34014", code, text, parts)


def mint_gbt34014(
    manufacturer_code: str,
    product_type: Literal["P", "M", "C"],
    battery_type: str,
    spec_code: str,
    traceability_code: str,
    production_date: dt.date,
    serial: int,
) -> str:
    """Compose a valid GB/T 34014-2017 24-character code (see the module notes on assumptions).

    Parameters
    ----------
    manufacturer_code : str
        3 characters (assigned by the national filing system).
    product_type : {"P", "M", "C"}
        Pack, module or cell.
    battery_type : str
        1 letter (``B`` LFP, ``E`` ternary, ...).
    spec_code : str
        2 characters.
    traceability_code : str
        7 characters.
    production_date : date
        Production day (2010-2039).
    serial : int
        1..9999999.
    """
    year_idx = production_date.year - _YEAR_BASE
    if not 0 <= year_idx < len(_YEAR_CODES):
        raise _fail(str(production_date), "GB/T 34014 year code covers 2010-2039 only")
    if not 1 <= serial <= 9_999_999:
        raise _fail(str(serial), "GB/T 34014 serial must be 1..9999999")
    code = (
        manufacturer_code
        + product_type
        + battery_type
        + spec_code
        + traceability_code
        + _YEAR_CODES[year_idx]
        + _MONTH_CODES[production_date.month - 1]
        + _DAY_CODES[production_date.day - 1]
        + f"{serial:07d}"
    )
    return _parse_gbt34014(code).canonical


# ---------------------------------------------------------------------------------------------
# URN
# ---------------------------------------------------------------------------------------------

_NID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]$")
_NSS_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%")


def _parse_urn(text: str) -> Identifier:
    body = text[4:]
    nss_full = body.split(":", 1)
    if len(nss_full) != 2:
        raise _fail(text, "a URN is urn:{NID}:{NSS} (RFC 8141)")
    nid, rest = nss_full
    if not _NID.match(nid):
        raise _fail(text, f"URN namespace identifier {nid!r} must be 2-32 letters, digits or '-' (RFC 8141)")
    if nid.lower().startswith("urn-"):
        raise _fail(text, "URN namespace 'urn-N' is reserved for informal namespaces we do not accept")
    nss = re.split(r"\?\+|\?=|#", rest, maxsplit=1)[0]
    if not nss:
        raise _fail(text, "URN namespace-specific string is empty (RFC 8141)")
    if nss.startswith("/"):
        raise _fail(text, "URN namespace-specific string may not start with '/' (RFC 8141)")
    bad = sorted(set(nss) - _NSS_CHARS)
    if bad:
        raise _fail(
            text, f"URN namespace-specific string has characters not allowed by RFC 8141: {''.join(bad)!r}"
        )
    if len(_PCT.findall(nss)) != nss.count("%"):
        raise _fail(text, "URN: '%' not followed by two hex digits")
    nss = _PCT.sub(lambda m: "%" + m.group(1).upper(), nss)
    nid = nid.lower()
    if nid == "uuid":
        try:
            u = uuid.UUID(nss)
        except ValueError:
            raise _fail(text, f"urn:uuid needs a UUID (RFC 9562), got {nss!r}") from None
        if str(u) != nss.lower():
            raise _fail(text, "urn:uuid needs the hyphenated 8-4-4-4-12 form (RFC 9562)")
        nss = str(u)
    return Identifier("urn", f"urn:{nid}:{nss}", text, {"nid": nid, "nss": nss})


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------


def parse_identifier(text: str, *, permit_zero_suppressed_gtin: bool = False) -> Identifier:
    """Recognise, validate and canonicalise an identifier.

    Parameters
    ----------
    text : str
        The identifier as given.
    permit_zero_suppressed_gtin : bool
        Legacy option: accept GTIN-8, -12 and -13 inside a GS1 Digital Link URI (padded to 14 digits).

    Raises
    ------
    InvalidInput
        When the text matches no scheme or fails the rules of its scheme (the reason names the rule).
    """
    if not isinstance(text, str):
        raise _fail(repr(text), "an identifier must be text")
    t = text.strip()
    if not t:
        raise _fail(text, "empty identifier")
    low = t.lower()
    if low.startswith("urn:"):
        return _parse_urn(t)
    if low.startswith(("http://", "https://")):
        if looks_like_digital_link(t):
            return _parse_gs1(t, permit_zero_suppressed_gtin=permit_zero_suppressed_gtin)
        return _parse_iec61406(t)
    compact = t.replace(" ", "")
    if len(compact) == GBT34014_LENGTH and compact.isalnum():
        return _parse_gbt34014(t)
    raise _fail(
        text,
        "not a recognised identifier: expected a GS1 Digital Link or IEC 61406 https URL, "
        "a 24-character GB/T 34014 code, or a URN",
    )


def canonical(text: str) -> str:
    """Canonical text of an identifier (the key the store resolves by)."""
    return parse_identifier(text).canonical


def mint_passport_id(rng: random.Random | None = None) -> str:
    """A new ``urn:uuid:`` passport identifier (random UUID, version 4).

    Parameters
    ----------
    rng : random.Random or None
        Source of randomness for reproducible demo fleets; the OS generator when None.
    """
    if rng is None:
        return f"urn:uuid:{uuid.uuid4()}"
    return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
