"""GS1 Digital Link parsing against the standard's examples and GS1's reference parser.

The URIs and verdicts are the examples of the GS1 Digital Link Standard: URI Syntax (release 1.4,
sections 4.4-4.6) as exercised by GS1's own reference implementation, the GS1 Barcode Syntax Engine
(``gs1encoders``, ``src/c-lib/dl.c``, ``test_dl_parseDLuri``). The expected element string is
written here as (primary AI, value, qualifiers, attributes).
"""

from __future__ import annotations

import pytest

from circulith.errors import InvalidInput
from circulith.passport import parse_identifier
from circulith.passport.gs1_digital_link import canonical_url, parse_digital_link

ACCEPTED = [
    # examples of the Digital Link standard
    ("https://id.gs1.org/01/09520123456788", ("01", "09520123456788", (), {})),
    ("https://id.gs1.org/01/09520123456788/22/2A", ("01", "09520123456788", (("22", "2A"),), {})),
    ("https://id.gs1.org/01/09520123456788/10/ABC123", ("01", "09520123456788", (("10", "ABC123"),), {})),
    ("https://id.gs1.org/01/09520123456788/21/12345", ("01", "09520123456788", (("21", "12345"),), {})),
    ("https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426",
     ("01", "09520123456788", (("10", "ABC1"), ("21", "12345")), {"17": "180426"})),
    ("https://id.gs1.org/01/09520123456788?3103=000195", ("01", "09520123456788", (), {"3103": "000195"})),
    ("https://example.com/01/09520123456788?3103=000195&3922=0299&17=201225",
     ("01", "09520123456788", (), {"3103": "000195", "3922": "0299", "17": "201225"})),
    ("https://id.gs1.org/00/952012345678912345", ("00", "952012345678912345", (), {})),
    ("https://id.gs1.org/00/952012345678912345?02=09520123456788&37=25&10=ABC123",
     ("00", "952012345678912345", (), {"02": "09520123456788", "37": "25", "10": "ABC123"})),
    ("https://id.gs1.org/414/9520123456788", ("414", "9520123456788", (), {})),
    ("https://id.gs1.org/414/9520123456788/254/32a%2Fb", ("414", "9520123456788", (("254", "32a/b"),), {})),
    ("https://example.com/8004/9520614141234567?01=9520123456788",
     ("8004", "9520614141234567", (), {"01": "09520123456788"})),
    ("https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123",
     ("01", "09520123456788", (("235", "XYZ"),), {"10": "ABC123"})),
    # reference parser cases
    ("https://a/01/12312312312333/22/TEST/10/ABC/21/XYZ",
     ("01", "12312312312333", (("22", "TEST"), ("10", "ABC"), ("21", "XYZ")), {})),
    ("https://a/01/12312312312333/235/TEST", ("01", "12312312312333", (("235", "TEST"),), {})),
    ("https://a/stem/00/006141411234567890", ("00", "006141411234567890", (), {})),
    ("https://a/00/faux/00/006141411234567890", ("00", "006141411234567890", (), {})),  # rightmost key
    ("https://a/stem/00/006141411234567890?", ("00", "006141411234567890", (), {})),
    ("https://a/01/12312312312333?&&&99=ABC&&&&&&98=XYZ&&&", ("01", "12312312312333", (), {"99": "ABC", "98": "XYZ"})),
    ("https://a/01/12312312312333?unknown1=555&99=ABC&singleton&98=XYZ&unknown3=777",
     ("01", "12312312312333", (), {"99": "ABC", "98": "XYZ"})),
    ("https://a/01/12312312312333/22/ABC%2d123?99=ABC&98=XYZ%2f987",
     ("01", "12312312312333", (("22", "ABC-123"),), {"99": "ABC", "98": "XYZ/987"})),
    ("https://a/01/12312312312333/22/ABC+123?99=ABC", ("01", "12312312312333", (("22", "ABC+123"),), {"99": "ABC"})),
    ("https://a/01/12312312312333/22/test/10/abc/21/xyz#fragment",
     ("01", "12312312312333", (("22", "test"), ("10", "abc"), ("21", "xyz")), {})),
    ("https://a/253/1231231231232TEST5678901234567", ("253", "1231231231232TEST5678901234567", (), {})),
]

REFUSED = [
    ("https://a/01/2112345678900", "14 digits"),  # zero-suppressed GTIN-13
    ("https://a/01/416000336108", "14 digits"),  # GTIN-12
    ("https://a/01/02345673", "14 digits"),  # GTIN-8
    ("https://a/stem/00/006141411234567890/", "end in '/'"),
    ("https://a/01/12312312312333?99=", "empty value"),
    ("https://a/01/12312312312333?99=ABC&999=faux", "not a GS1 Application Identifier"),
    ("https://a/01/12312312312333/22/ABC%2d123?99=ABC&98=XYZ+987", "character set 82"),  # '+' is a space
    ("https://a/253/1231231231232TEST56789012345678", "too long"),
    ("https://example.com/01/09520123456788?10=ABC123", "belongs in the path"),
    ("https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&01=09520123456788", "more than once"),
    ("https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&10=ABC123", "more than once"),
    ("https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&99=XYZ789", "more than once"),
    ("https://example.com/01/09520123456788/89/ABC123?99=XYZ", "not a key qualifier"),
    ("https://example.com/01/09520123456788?99=XYZ&89=ABC123", "not a GS1 Application Identifier"),
    ("https://a/01/12312312312333/22/A/235/B", "alternatives exclusive"),
    ("https://a/01/12312312312333/21/A/10/B", "order"),
    ("https://a/01/12312312312333?17=201399", "YYMMDD"),
    ("https://a/01/12312312312333/21/A%00B", "NUL"),
    ("https://a/01/12312312312334", "check digit"),
]


@pytest.mark.parametrize(("uri", "expected"), ACCEPTED)
def test_accepted_like_the_reference_parser(uri: str, expected: tuple) -> None:
    link = parse_digital_link(uri)
    assert (link.primary_ai, link.primary_value, link.qualifiers, link.attributes) == expected


@pytest.mark.parametrize(("uri", "needle"), REFUSED)
def test_refused_like_the_reference_parser(uri: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        parse_digital_link(uri)


def test_zero_suppressed_gtin_accepted_only_with_the_legacy_option() -> None:
    # the standard's own example https://brand.example.com/01/9520123456788 is a legacy form
    link = parse_digital_link("https://brand.example.com/some-extra/pathinfo/01/9520123456788",
                              permit_zero_suppressed_gtin=True)
    assert link.primary_value == "09520123456788"
    assert canonical_url(link) == "https://id.gs1.org/01/09520123456788"


def test_battery_identifier_keeps_attributes_but_not_in_its_canonical_form() -> None:
    ident = parse_identifier("https://brand.example/01/09520123456788/21/PACK-1?11=240115&linkType=all")
    assert ident.canonical == "https://id.gs1.org/01/09520123456788/21/PACK-1"
    assert ident.parts["serial"] == "PACK-1"
    assert ident.parts["ai11"] == "240115"


def test_gs1_shaped_uri_with_a_bad_character_names_the_gs1_rule() -> None:
    with pytest.raises(InvalidInput, match="GS1 AI"):
        parse_identifier("https://id.gs1.org/01/0952012345678 8/21/X")


def test_battery_identifier_must_be_gtin_keyed() -> None:
    with pytest.raises(InvalidInput, match="keyed by a GTIN"):
        parse_identifier("https://id.gs1.org/00/952012345678912345")
