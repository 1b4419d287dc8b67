"""``recovery price`` reads the grade output directly (issue 10, outputs chain): nothing is typed twice.

A truck of retired packs in a small demo registry is graded (``triage grade --json``, and its CSV form
through ``--out``); the JSON document as printed is the input of ``recovery price``. The units routed to
recycling are priced by the same service as ``triage offer`` (chemistry and mass from the passports unless
the file states them), so both commands give the same offer to the cent. A workbook where CSV was expected,
a stated mass the passport contradicts, or an option that makes no sense for grades is refused in one line
naming the row, with exit code 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from circulith.cli.main import run
from circulith.io.grade_output import GRADE_SIGNATURE, GRADE_UNITS_KEY, read_grade_output
from circulith.services.demo import build_demo
from circulith.services.triage import GRADE_COLUMNS
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery

DAY = "2026-11-01"


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo registry whose retired packs were graded: the ``--json`` document and the ``--out`` CSV."""
    tmp = tmp_path_factory.mktemp("price-grades")
    url = f"sqlite:///{tmp / 'registry.db'}"
    engine = create_db_engine(url)
    build_demo(engine, 150, seed=11, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        truck = list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]))
            .order_by(Battery.battery_id)).scalars())
    assert len(truck) >= 10, "the demo registry should hold retired packs to grade"
    csv_out = tmp / "grades.csv"
    code, out, err = _cli("--db", url, "triage", "grade", *[a for b in truck for a in ("--id", b)], "--as-of", DAY,
                          "--out", str(csv_out), "--json")
    assert code == 0, err
    doc = json.loads(out)
    json_out = tmp / "grades.json"
    json_out.write_text(out, encoding="utf-8")  # the document as printed, piped to a file
    return {"url": url, "doc": doc, "json": json_out, "csv": csv_out, "tmp": tmp}


def _top_level(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {u["battery_id"] for u in units}
    return [u for u in units if u.get("parent_battery_id") not in ids]


def _price(graded: dict[str, Any], path: Path, *extra: str) -> dict[str, Any]:
    code, out, err = _cli("--db", graded["url"], "recovery", "price", str(path), "--date", DAY, *extra, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_grade_signature_is_the_grade_schemas() -> None:
    assert set(GRADE_SIGNATURE) <= set(GRADE_COLUMNS)


def test_recovery_price_of_the_grade_json_equals_triage_offer(graded: dict[str, Any]) -> None:
    priced = _price(graded, graded["json"])
    routed = [u for u in _top_level(graded["doc"]["units"]) if u["grade"] in ("recycle", "quarantine")]
    assert routed, "the truck should hold packs graded for recycling"
    assert [line["battery_id"] for line in priced["lines"]] == [u["battery_id"] for u in routed]
    by_id = {u["battery_id"]: u for u in routed}
    for line in priced["lines"]:  # chemistry and mass as the passports declare them (in the grade rows)
        assert line["chemistry"] == by_id[line["battery_id"]]["chemistry"]
        assert line["mass_kg"] == pytest.approx(by_id[line["battery_id"]]["mass_kg"])
        assert line["offer_usd"] == pytest.approx(line["revenue_usd"] - line["processing_cost_usd"]
                                                  - line["logistics_usd"] - line["margin_usd"] - line["handling_usd"],
                                                  abs=0.02)
    code, out, err = _cli("--db", graded["url"], "triage", "offer", str(graded["json"]), "--as-of", DAY, "--json")
    assert code == 0, err
    offer = json.loads(out)
    assert priced == offer
    assert priced["offer_usd_total"] == offer["offer_usd_total"] and priced["offer_usd_total"] > 0
    # the CSV form of the same grade output (one schema) gives the same offer
    assert _price(graded, graded["csv"]) == priced
    # the text form says the same total
    code, out, _ = _cli("--db", graded["url"], "recovery", "price", str(graded["json"]), "--date", DAY)
    assert code == 0 and f"total offer {priced['offer_usd_total']:,.2f} USD" in out


def test_all_units_prices_every_top_level_unit(graded: dict[str, Any]) -> None:
    priced = _price(graded, graded["json"], "--all-units")
    assert {line["battery_id"] for line in priced["lines"]} == {u["battery_id"] for u in _top_level(
        graded["doc"]["units"])}
    routed = _price(graded, graded["json"])
    assert len(priced["lines"]) > len(routed["lines"])
    same = {line["battery_id"]: line for line in priced["lines"]}
    for line in routed["lines"]:  # a unit's price does not depend on what else is priced
        assert same[line["battery_id"]] == line


def test_figures_come_from_the_registry_unless_the_file_states_them(graded: dict[str, Any]) -> None:
    units = graded["doc"]["units"]
    bare = [{k: v for k, v in u.items() if k not in ("chemistry", "mass_kg")} for u in units]
    path = graded["tmp"] / "bare.json"
    path.write_text(json.dumps({GRADE_UNITS_KEY: bare}), encoding="utf-8")
    assert _price(graded, path) == _price(graded, graded["json"])
    # a stated mass within the tolerance overrides the passport's
    k, unit = next((k, u) for k, u in enumerate(units, start=1) if u["grade"] in ("recycle", "quarantine")
                   and u["battery_id"] in {t["battery_id"] for t in _top_level(units)})
    stated = [dict(u) for u in units]
    stated[k - 1]["mass_kg"] = round(unit["mass_kg"] * 1.01, 3)
    path.write_text(json.dumps({GRADE_UNITS_KEY: stated}), encoding="utf-8")
    line = next(x for x in _price(graded, path)["lines"] if x["battery_id"] == unit["battery_id"])
    assert line["mass_kg"] == pytest.approx(unit["mass_kg"] * 1.01, rel=1e-6)
    # a tenfold typo is refused naming the row of the file and the battery; nothing is priced
    stated[k - 1]["mass_kg"] = unit["mass_kg"] * 10
    path.write_text(json.dumps({GRADE_UNITS_KEY: stated}), encoding="utf-8")
    code, out, err = _cli("--db", graded["url"], "recovery", "price", str(path), "--json")
    assert code == 2 and out == ""
    assert f"row {k} ({unit['battery_id']}), field 'mass_kg'" in err and "passport declares" in err
    # a chemistry the passport contradicts
    stated[k - 1]["mass_kg"], stated[k - 1]["chemistry"] = unit["mass_kg"], "LCO" if unit["chemistry"] != "LCO" \
        else "LFP"
    path.write_text(json.dumps({GRADE_UNITS_KEY: stated}), encoding="utf-8")
    code, _, err = _cli("--db", graded["url"], "recovery", "price", str(path))
    assert code == 2 and f"row {k} ({unit['battery_id']}), field 'chemistry'" in err


def test_bad_files_and_options_are_one_line_errors(graded: dict[str, Any]) -> None:
    tmp, url = graded["tmp"], graded["url"]
    wb = Workbook()
    ws = wb.active
    ws.append(list(GRADE_COLUMNS))
    wb.save(tmp / "grades.xlsx")
    (tmp / "grades-excel.csv").write_bytes((tmp / "grades.xlsx").read_bytes())  # an Excel file named .csv
    for name in ("grades.xlsx", "grades-excel.csv"):
        code, _, err = _cli("--db", url, "recovery", "price", str(tmp / name))
        assert code == 2 and "Excel workbook" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    ragged = tmp / "ragged.csv"
    ragged.write_text("battery_id,grade,decided_by\nP1,recycle,U-own-rules\nP2,recycle\n", encoding="utf-8")
    code, _, err = _cli("--db", url, "recovery", "price", str(ragged))
    assert code == 2 and "row 2" in err and "2 fields but the header has 3" in err
    batteries = tmp / "batteries.csv"
    batteries.write_text("battery_id,chemistry,form,mass_kg\nB1,NMC622,pack,400\nB2,NMC622\n,x,y,z,w\n",
                         encoding="utf-8")
    code, _, err = _cli("--db", url, "recovery", "price", str(batteries))
    assert code == 2 and "Traceback" not in err
    code, _, err = _cli("--db", url, "recovery", "price", str(graded["json"]), "--reuse-value-usd-per-kwh", "50")
    assert code == 2 and "--reuse-value-usd-per-kwh" in err
    plain = tmp / "plain.json"
    plain.write_text(json.dumps([{"battery_id": "B1", "chemistry": "NMC622", "form": "pack", "mass_kg": 400}]))
    code, _, err = _cli("--db", url, "recovery", "price", str(plain), "--all-units")
    assert code == 2 and "--all-units" in err
    assert read_grade_output(plain) is None  # a plain battery list is priced as before
    code, out, err = _cli("--db", url, "recovery", "price", str(plain), "--json")
    assert code == 0 and json.loads(out)["batteries"][0]["battery_id"] == "B1"


@pytest.mark.parametrize("args", [
    ("recovery", "compliance", "--lots", "{x}", "--plant", "P", "--year", "2026"),
    ("recovery", "run", "--chemistry", "LFP", "--route", "hydro", "--prices", "{x}"),
    ("recovery", "run", "--chemistry", "LFP", "--route", "hydro", "--plant-params", "{x}"),
    ("recovery", "lot", "record", "{x}"),
    ("compliance", "recycled-content", "--lots", "L", "--new-batteries", "{x}"),
    ("forecast", "run", "--scenario", "{x}"),
])
def test_a_workbook_where_text_was_expected_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    wb = Workbook()
    wb.active.append(["battery_id", "chemistry"])
    wb.save(tmp_path / "book.xlsx")
    (tmp_path / "book.json").write_bytes((tmp_path / "book.xlsx").read_bytes())  # a workbook under a text name
    for name in ("book.xlsx", "book.json"):
        argv = [a.format(x=tmp_path / name) for a in args]
        code, out, err = _cli("--db", f"sqlite:///{tmp_path / 'none.db'}", *argv)
        assert code == 2 and "Excel workbook" in err and len(err.strip().splitlines()) == 1, err
    bad = tmp_path / "latin1.json"
    bad.write_bytes('[{"battery_id": "Müll"}]'.encode("latin-1"))
    code, _, err = _cli("--db", f"sqlite:///{tmp_path / 'none.db'}", *[a.format(x=bad) for a in args])
    assert code == 2 and "not UTF-8" in err and "line 1" in err
