"""Identifier parsing, validation, canonical forms and minting."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulith.errors import InvalidInput
from circulith.passport import (
    canonical,
    gtin_check_digit,
    mint_gbt34014,
    mint_gs1_digital_link,
    mint_passport_id,
    parse_identifier,
)


def test_gtin_check_digit_published_examples():
    # GS1 General Specifications worked example GTIN-13 9506000134352 and GTIN-12 614141000036
    assert gtin_check_digit("950600013435") == 2
    assert gtin_check_digit("61414100003") == 6


def test_gs1_digital_link_canonicalisation():
    a = parse_identifier("HTTPS://brand.example.com/some/prefix/01/09506000134352/21/AB%2F1?linkType=all")
    assert a.scheme == "gs1"
    assert a.parts == {"gtin": "09506000134352", "serial": "AB/1"}
    assert a.canonical == "https://id.gs1.org/01/09506000134352/21/AB%2F1"
    assert canonical("https://id.gs1.org/01/09506000134352/21/AB%2f1") == a.canonical
    # a zero-suppressed GTIN-13 inside a Digital Link URI is refused (AI 01 is N14) unless the legacy
    # option is given, as in GS1's reference parser
    legacy = "HTTPS://brand.example.com/some/prefix/01/9506000134352/21/AB%2F1"
    with pytest.raises(InvalidInput, match="14 digits"):
        parse_identifier(legacy)
    assert parse_identifier(legacy, permit_zero_suppressed_gtin=True).canonical == a.canonical


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("https://id.gs1.org/01/09506000134353/21/1", "check digit"),
        ("https://id.gs1.org/01/950600013435/21/1", "14 digits"),
        ("https://id.gs1.org/01/12345/21/1", "14 digits"),
        ("https://id.gs1.org/01/09506000134352/21/" + "A" * 21, "too long"),
        ("https://id.gs1.org/01/09506000134352/21/A%20B", "character set 82"),
        ("https://id.gs1.org/01/09506000134352/21/1/10/L", "order"),
        ("https://id.gs1.org/01/09506000134352/99/1", "key qualifier"),
        ("http://example.com/x", "https"),
        ("https://user@example.com/x", "user information"),
        ("https://example.com/" + "a" * 300, "255"),
        ("https://example.com/a b", "ILS-7"),
        ("https://example.com/a%0Ab", "ILS-9"),
        ("https://example.com/", "bare host"),
        ("05APEA10000001P4H000000", "not a recognised"),
        ("05AXEA10000001P4H0000001", "product type"),
        ("05APEA10000001PDH0000001", "month code"),
        ("05APEA10000001P2U0000001", "does not exist"),  # 30 February
        ("05APEA10000001P4H0000000", "serial"),
        ("urn:a:b", "namespace identifier"),
        ("urn:uuid:not-a-uuid", "UUID"),
        ("urn:isbn:", "empty"),
        ("", "empty"),
    ],
)
def test_invalid_identifiers_name_the_rule(text, needle):
    with pytest.raises(InvalidInput) as exc:
        parse_identifier(text)
    assert needle in str(exc.value)


def test_iec61406_canonical_lowercases_host_only():
    a = parse_identifier("HTTPS://Rating.Example.COM:443/ID/AbC?sn=X1")
    assert a.scheme == "iec61406"
    assert a.canonical == "https://rating.example.com/ID/AbC?sn=X1"
    assert canonical("https://rating.example.com/ID/abc?sn=X1") != a.canonical  # ILS-8: case matters


def test_urn_lexical_equivalence_rfc8141():
    # RFC 8141 section 3.1 examples: "urn" and NID are case-insensitive, percent-encoding hex too
    assert canonical("URN:EXAMPLE:a123,z456") == canonical("urn:example:a123,z456")
    assert canonical("urn:example:a123%2cz456") == canonical("urn:example:a123%2Cz456")
    assert canonical("urn:example:a123,z456?+abc") == "urn:example:a123,z456"
    assert canonical("urn:example:A123,z456") != canonical("urn:example:a123,z456")
    assert (
        canonical("urn:UUID:6E8BC430-9C3A-11D9-9669-0800200C9A66")
        == "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"
    )


def test_gbt34014_decodes_structure():
    code = mint_gbt34014("05A", "M", "B", "A1", "TRACE01", dt.date(2024, 11, 30), 1234)
    ident = parse_identifier(code.lower())
    assert ident.scheme == "gbt34014"
    assert ident.canonical == code and len(code) == 24
    assert ident.parts["level"] == "module"
    assert ident.parts["production_date"] == "2024-11-30"
    assert ident.parts["serial"] == "0001234"


@given(
    gtin_body=st.from_regex(r"\A[0-9]{12}\Z"),
    serial=st.text(alphabet="ABCXYZ0123456789-._/!", min_size=1, max_size=20),
)
def test_minted_gs1_links_parse_to_themselves(gtin_body, serial):
    url = mint_gs1_digital_link(gtin_body + str(gtin_check_digit(gtin_body)), serial)
    ident = parse_identifier(url)
    assert ident.canonical == url
    assert ident.parts["serial"] == serial
    assert canonical(ident.canonical) == ident.canonical  # idempotent


@given(
    day=st.dates(min_value=dt.date(2010, 1, 1), max_value=dt.date(2039, 12, 31)),
    serial=st.integers(1, 9_999_999),
    mfr=st.text(alphabet="ABC0123456789", min_size=3, max_size=3),
)
def test_minted_gbt34014_codes_round_trip(day, serial, mfr):
    code = mint_gbt34014(mfr, "C", "E", "Z9", "0000000", day, serial)
    ident = parse_identifier(code)
    assert ident.parts["production_date"] == day.isoformat()
    assert int(ident.parts["serial"]) == serial


def test_passport_ids_are_reproducible_uuid4_urns():
    a = mint_passport_id(random.Random(7))
    assert a == mint_passport_id(random.Random(7))
    assert parse_identifier(a).canonical == a
    assert a[len("urn:uuid:") :][14] == "4"  # version nibble
