"""Format detection and decoding: every format by content, UTF-8/UTF-16, arrays of documents, one-line refusals."""

from __future__ import annotations

import codecs
import json

import pytest

from circulith.errors import InvalidInput
from circulith.passport.formats.detect import decode_text, detect_format
from circulith.passport.formats.registry import read_documents, sniff

from .conftest import read_catenax_example, read_example


@pytest.mark.parametrize(
    ("doc", "fmt"),
    [
        ({"GeneralProductInformation": {}}, "batterypass"),
        ({"metadata": {}, "identification": {}}, "catenax"),
        ({"submodels": []}, "aas"),
        ([{"battery_id": "x"}], "circulith"),
        ({"passports": [{"battery_id": "x"}]}, "circulith"),
        ([{"PerformanceAndDurability": {}}], "batterypass"),
    ],
)
def test_detects_each_format_by_content(doc, fmt):
    assert detect_format(doc, source="f") == fmt


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_decodes_utf8_and_utf16_with_or_without_bom(encoding):
    assert decode_text('{"a": "Ü"}'.encode(encoding), source="f") == '{"a": "Ü"}'


def test_utf16_bom_files_are_sniffed():
    data = codecs.BOM_UTF16_LE + json.dumps(read_example()).encode("utf-16-le")
    assert sniff(data, source="f")[0] == "batterypass"


def test_an_array_of_documents_reads_every_one_and_names_the_bad_one():
    good, other = read_example(), read_example()
    other["GeneralProductInformation"]["productIdentifier"] = "SN-2"
    other["GeneralProductInformation"]["batteryPassportIdentifier"] = "urn:bmwk:2"
    results = read_documents(json.dumps([good, other]).encode(), source="many.json")
    assert [r.passport.battery_id for r in results] == ["eOMtThyhVNLWUZNRcBaQKxI", "SN-2"]
    other["GeneralProductInformation"]["batteryMass"] = -1
    with pytest.raises(InvalidInput) as exc:
        read_documents(json.dumps([good, other]).encode(), source="many.json")
    assert str(exc.value).startswith("many.json, document 2: Battery Pass document:")


def test_mixed_and_mismatched_formats_are_refused():
    with pytest.raises(InvalidInput, match="looks like Catena-X"):
        read_documents(json.dumps(read_catenax_example()).encode(), fmt="batterypass", source="cx.json")
    with pytest.raises(InvalidInput, match="not a foreign passport format"):
        read_documents(b'[{"battery_id": "x"}]', source="own.json")


def test_a_single_aspect_payload_is_named_and_refused(tmp_path):
    from .conftest import BATTERYPASS

    path = BATTERYPASS / "payload" / "PerformanceAndDurability.payload.json"
    if not path.is_file():
        pytest.skip("shared Battery Pass reference not found")
    with pytest.raises(InvalidInput, match=r"one Battery Pass aspect payload \(PerformanceAndDurability\)"):
        read_documents(path.read_bytes(), source=path.name)
