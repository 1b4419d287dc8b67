"""The Annex XIII access lattice, the attribute table and audience views."""

from __future__ import annotations

import re
import warnings

import pytest

from circulith.errors import InvalidInput
from circulith.passport import (
    AccessPoint,
    Audience,
    entitled,
    example_passport,
    field_paths,
    parse_audience,
    read_passport_attributes,
    view,
    withheld,
)
from circulith.passport.access import sees_at_most


def test_entitlements_follow_article_77_2():
    P, LI, LIC, A = (
        AccessPoint.PUBLIC,
        AccessPoint.LEGITIMATE_INTEREST,
        AccessPoint.LEGITIMATE_INTEREST_AND_COMMISSION,
        AccessPoint.AUTHORITIES,
    )
    assert entitled("public") == {P}
    assert entitled("legitimate") == {P, LI, LIC}  # Art. 77(2)(c): Annex XIII points 2 and 4
    assert entitled("commission") == {P, LIC, A}  # Art. 77(2)(b): points 2 and 3
    assert entitled("authority") == {P, LIC, A}


def test_it_is_a_lattice_not_a_ladder():
    assert sees_at_most("public", "legitimate") and sees_at_most("public", "authority")
    assert not sees_at_most("legitimate", "commission")
    assert not sees_at_most("commission", "legitimate")
    # every audience sees public data; no audience sees everything
    for a in Audience:
        assert AccessPoint.PUBLIC in entitled(a)
        assert entitled(a) != set(AccessPoint)


def test_parse_audience():
    assert parse_audience("Legitimate") is Audience.LEGITIMATE
    assert parse_audience("notified-body") is Audience.AUTHORITY
    with pytest.raises(InvalidInput, match="unknown access level"):
        parse_audience("admin")


def test_every_model_field_has_an_attribute_row_and_no_row_is_stale():
    paths = field_paths()
    rows = read_passport_attributes()
    assert set(paths) == set(rows), (set(paths) - set(rows), set(rows) - set(paths))
    for r in rows.values():
        assert r.source and r.unit and r.regulation_reference, r.field
        assert r.kind in ("static", "dynamic")
        if r.longlist_no is None:
            assert r.source.startswith("circulith:"), r.field


def _longlist_access(batterypass_dir):
    openpyxl = pytest.importorskip("openpyxl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(
            batterypass_dir / "Battery_Passport_Data_Attributes_V1.2.xlsx", read_only=True
        )
    ws = wb["Data attribute longlist_v1.2"]
    names = {
        "public": AccessPoint.PUBLIC,
        "persons with a legitimate interest": AccessPoint.LEGITIMATE_INTEREST,
        "persons with a legitimate interest and the commission": AccessPoint.LEGITIMATE_INTEREST_AND_COMMISSION,
        "notified bodies, market surveillance authorities and the commission": AccessPoint.AUTHORITIES,
    }
    out = {}
    for row in ws.iter_rows(min_row=7, values_only=True, max_col=18):
        if isinstance(row[1], int):
            out[row[1]] = names[re.sub(r"\s+", " ", str(row[16])).strip().lower()]
    return out


def test_attribute_access_matches_the_longlist(batterypass_dir):
    longlist = _longlist_access(batterypass_dir)
    assert len(longlist) == 93
    for r in read_passport_attributes().values():
        if r.longlist_no is not None:
            assert r.access == longlist[r.longlist_no], f"{r.field}: #{r.longlist_no}"


def test_public_view_shows_nothing_the_longlist_reserves(batterypass_dir):
    longlist = _longlist_access(batterypass_dir)
    rows = read_passport_attributes()
    public = view(example_passport(), "public")

    def leaves(d, prefix=""):
        for k, v in d.items():
            path = f"{prefix}{k}"
            if isinstance(v, dict) and path not in rows:
                yield from leaves(v, f"{path}.")
            else:
                yield path

    shown = list(leaves(public))
    assert shown
    for path in shown:
        r = rows[path]
        assert r.access is AccessPoint.PUBLIC, path
        if r.longlist_no is not None:
            assert longlist[r.longlist_no] is AccessPoint.PUBLIC, path
    for hidden in ("status", "dynamic", "test_report_url", "dismantling", "expected_lifetime_years"):
        assert hidden not in public
    assert "cobalt_kg" not in public["materials"]
    assert public["materials"]["critical_raw_materials"]


def test_views_differ_along_the_lattice():
    p = example_passport()
    leg, com, auth = view(p, "legitimate"), view(p, "commission"), view(p, "authority")
    assert leg["dynamic"]["soh_pct"]["value"] == 94.5 and leg["status"] == "original"
    assert "test_report_url" not in leg
    assert com["test_report_url"] == p.test_report_url and "dynamic" not in com and "status" not in com
    assert com == auth
    assert leg["dismantling"]["manual_urls"] == com["dismantling"]["manual_urls"]
    assert leg["materials"]["cobalt_kg"] == p.materials.cobalt_kg
    # identity keys are always there
    for v in (view(p, "public"), leg, com):
        assert v["battery_id"] == p.battery_id and v["passport_id"] == p.passport_id
    assert set(withheld("public")) >= {"status", "test_report_url", "dynamic.soh_pct"}


def test_view_of_absent_submodel_is_none():
    p = example_passport(carbon_footprint=None)
    assert view(p, "public")["carbon_footprint"] is None
