"""Triage input files: a numeric cell with a unit or text is refused by row and column (never read as
missing), Excel BMS summaries read like CSV, a workbook under a .csv name and a wrong header are named."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from circulith.cli.main import run
from circulith.errors import InvalidInput
from circulith.io.number_cells import number_problem
from circulith.triage.readers.read_pulse_tables import U_COLUMNS, read_pulse_table
from circulith.triage.readers.read_records import read_capacity_tests, read_inspection, table_kind

from .fleet import make_fleet


@pytest.mark.parametrize(("value", "unit", "reason"), [
    ("3.3 V", "V", "unit in value: write 3.3, the column is in V"),
    ("3.3V", "V", "unit in value: write 3.3, the column is in V"),
    ("85 %", "%", "unit in value: write 85, the column is in %"),
    ("3300 mV", "V", "unit in value: write 3.3, the column is in V (3300 mV = 3.3 V)"),
    ("3,3", "V", "decimal comma in value: write 3.3"),
    ("1,234", "-", "thousands separator in value: write 1234 (a point for decimals, no separators)"),
    ("3 events", "-", "text in value ('events'): write 3 alone, the column is a plain number"),
    ("n/a", "Ah", "not a number: 'n/a' (the column is in Ah)"),
])
def test_a_cell_that_is_not_a_number_says_what_to_write(value: str, unit: str, reason: str) -> None:
    assert number_problem(value, unit) == reason


@pytest.mark.parametrize("value", ["3.3", " 3.3 ", "-1e-3", ".5", 3.3, 7, None, ""])
def test_numbers_and_empty_cells_are_not_problems(value: object) -> None:
    assert number_problem(value, "V") is None


def _pulse_table(path: Path, cells: int = 3) -> pd.DataFrame:
    rows = [{"cell_id": f"C{k}", "pulse_width_ms": 100, "Qn": 20, "SOC": 50,
             **{u: 3.2 + 0.001 * i for i, u in enumerate(U_COLUMNS)}} for k in range(cells)]
    frame = pd.DataFrame(rows).astype(dict.fromkeys(U_COLUMNS, object))
    frame.to_csv(path, index=False)
    return frame


def test_a_unit_in_a_pulse_cell_is_refused_naming_row_field_and_reason(tmp_path: Path, capsys) -> None:
    path = tmp_path / "pulses.csv"
    frame = _pulse_table(path)
    frame.loc[1, "U5"] = "3.3 V"
    frame.to_csv(path, index=False)
    assert run(["triage", "estimate", str(path), "--chemistry", "LFP"]) == 2
    err = capsys.readouterr().err
    assert "row 2 (C1), field 'U5': unit in value: write 3.3, the column is in V" in " ".join(err.split())
    assert "Traceback" not in err


def test_empty_high_rate_pulse_cells_stay_allowed_but_text_in_them_does_not(tmp_path: Path) -> None:
    path = tmp_path / "pulses.csv"
    frame = _pulse_table(path)
    frame.loc[0, "U40"] = None  # the cycler stopped early: empty, read as missing
    frame.to_csv(path, index=False)
    table = read_pulse_table(path)
    assert pd.isna(table.loc[0, "U40"]) and table["U1"].dtype == float
    frame.loc[2, "U40"] = "--"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidInput) as info:
        read_pulse_table(path)
    p = info.value.problems[0]
    assert (p.row, p.field, p.record_id) == (3, "U40", "C2") and p.reason.startswith("not a number: '--'")


def test_a_pulse_table_that_is_a_workbook_under_a_csv_name_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pulses.csv"
    Workbook().save(path)
    with pytest.raises(InvalidInput, match="Excel workbook.*not CSV"):
        read_pulse_table(path)


def test_a_unit_in_a_pulse_workbook_names_the_sheet_and_its_row(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "SOC50"
    ws.append(["Qn", "Q", "SOH", "SOC", *U_COLUMNS])
    for k in range(3):
        ws.append([20, 18.0 + k, (18.0 + k) / 20, 50, *[3.2] * len(U_COLUMNS)])
    ws["I3"] = "3.3 V"  # U5 of the second cell
    path = tmp_path / "LFP_20Ah_W_100.xlsx"
    wb.save(path)
    with pytest.raises(InvalidInput) as info:
        read_pulse_table(path)
    p = info.value.problems[0]
    assert (p.row, p.field, p.reason) == (2, "U5", "sheet SOC50: unit in value: write 3.3, the column is in V")
    ws["I3"] = 3.3
    ws["B4"] = "20 Ah"
    wb.save(path)
    with pytest.raises(InvalidInput, match="row 3, field 'Q': sheet SOC50: unit in value: write 20, the column is in Ah"):
        read_pulse_table(path)
    ws["B4"] = 20.0
    wb.save(path)
    table = read_pulse_table(path)
    assert len(table) == 3 and "_sheet" not in table and table["U5"].dtype == float


def _bms(tmp_path: Path, name: str = "bms.csv", n: int = 12) -> tuple[pd.DataFrame, Path]:
    fleet = make_fleet(n, seed=3)
    path = tmp_path / name
    fleet.to_csv(path, index=False)
    return fleet, path


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("soh_pct", "85 %", "unit in value: write 85, the column is in %"),
    ("full_cycles", "1,234", "thousands separator in value: write 1234"),
    ("resistance_growth_pct", "12 %", "unit in value: write 12, the column is in %"),  # optional: was read as empty
    ("thermal_accident", "maybe", "'maybe' is not true or false"),
    ("manufacturing_date", "last spring", "'last spring' is not a date (write YYYY-MM-DD)"),
])
def test_a_bad_bms_cell_is_refused_by_row_and_field(tmp_path: Path, capsys, column: str, value: str,
                                                    reason: str) -> None:
    fleet, path = _bms(tmp_path)
    fleet[column] = fleet[column].astype(object)
    fleet.loc[3, column] = value
    fleet.to_csv(path, index=False)
    assert run(["triage", "grade", str(path), "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert f"row 4 ({fleet.battery_id[3]}), field '{column}': {reason}" in " ".join(out.err.split())


def _save_xlsx(frame: pd.DataFrame, path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row])
    wb.save(path)


def test_an_excel_bms_summary_grades_as_the_same_sheet_saved_as_csv(tmp_path: Path, capsys) -> None:
    fleet, csv_path = _bms(tmp_path, n=24)
    xlsx_path = tmp_path / "bms.xlsx"
    _save_xlsx(fleet, xlsx_path)
    assert table_kind(xlsx_path) == "bms"
    assert run(["triage", "grade", str(csv_path), "--as-of", "2026-01-01", "--json"]) == 0
    from_csv = json.loads(capsys.readouterr().out)
    assert run(["triage", "grade", str(xlsx_path), "--as-of", "2026-01-01", "--json"]) == 0
    from_xlsx = json.loads(capsys.readouterr().out)
    assert len(from_xlsx["units"]) == 24
    assert from_xlsx["counts"] == from_csv["counts"]
    for x, c in zip(from_xlsx["units"], from_csv["units"], strict=True):  # openpyxl keeps 15-16 digits of a float
        assert {k: v for k, v in x.items() if not isinstance(v, float)} == \
            {k: v for k, v in c.items() if not isinstance(v, float)}
        assert {k: v for k, v in x.items() if isinstance(v, float)} == \
            pytest.approx({k: v for k, v in c.items() if isinstance(v, float)}, rel=1e-12)


def test_an_excel_bms_summary_under_a_csv_name_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    fleet, _ = _bms(tmp_path)
    path = tmp_path / "bms_xl.csv"
    _save_xlsx(fleet, path)
    assert run(["triage", "grade", str(path)]) == 2
    err = capsys.readouterr().err
    assert "an Excel workbook" in err and "not CSV" in err
    assert "codec" not in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3  # one line, wrapped


def test_a_wrong_bms_header_names_the_missing_column_and_the_nearest_header(tmp_path: Path, capsys) -> None:
    fleet, path = _bms(tmp_path)
    fleet.rename(columns={"soh_pct": "state_of_health", "full_cycles": "full_cycle"}).to_csv(path, index=False)
    assert run(["triage", "grade", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("field 'soh_pct, full_cycles': required columns missing; the header has 'state_of_health': did you "
            "mean soh_pct?, 'full_cycle': did you mean full_cycles?") in err
    fleet.rename(columns={"soh_pct": "SOH %"}).to_csv(path, index=False)
    assert run(["triage", "grade", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "field 'soh_pct': required column missing; the header has 'SOH %': did you mean soh_pct?" in err
    fleet.drop(columns=["soh_pct", "chemistry"]).assign(notes="x").to_csv(path, index=False)
    assert run(["triage", "grade", str(path)]) == 2
    assert "field 'chemistry, soh_pct': required columns missing" in " ".join(capsys.readouterr().err.split())


def test_capacity_and_inspection_cells_that_are_not_numbers_are_refused(tmp_path: Path) -> None:
    cap = tmp_path / "cap.csv"
    pd.DataFrame({"battery_id": ["A", "B"], "capacity_ah": ["95.2", "95 Ah"]}).to_csv(cap, index=False)
    with pytest.raises(InvalidInput) as info:
        read_capacity_tests(cap)
    assert str(info.value.problems[0]) == "row 2 (B), field 'capacity_ah': unit in value: write 95, the column is in Ah"
    pd.DataFrame({"battery_id": ["A", "B"], "capacity_ah": [95.2, -1.0]}).to_csv(cap, index=False)
    with pytest.raises(InvalidInput, match="row 2 .B., field 'capacity_ah': -1.0 Ah: must be positive"):
        read_capacity_tests(cap)
    insp = tmp_path / "insp.csv"
    pd.DataFrame({"battery_id": ["A", "B"], "ocv_start_v": ["3.30", "3.31"], "ocv_end_v": ["3.2", "3.2"],
                  "rest_days": ["7", "7,5"], "leakage": ["no", "yes"]}).to_csv(insp, index=False)
    with pytest.raises(InvalidInput) as info:
        read_inspection(insp)
    assert str(info.value.problems[0]) == "row 2 (B), field 'rest_days': decimal comma in value: write 7.5"
    pd.DataFrame({"battery_id": ["A"], "ocv_start_v": [3.30], "ocv_end_v": [3.2],
                  "rest_days": [5.0]}).to_csv(insp, index=False)
    assert read_inspection(insp)["self_discharge_mv_per_day"].iloc[0] == pytest.approx(20.0)  # 100 mV / 5 days


def test_a_bms_summary_among_measurement_files_is_refused_not_ignored(tmp_path: Path) -> None:
    from circulith.services.triage import attach_measurements

    fleet, _ = _bms(tmp_path)
    xlsx = tmp_path / "bms.xlsx"
    _save_xlsx(fleet, xlsx)
    with pytest.raises(InvalidInput, match="give a BMS-summary file or --from-registry, not both"):
        attach_measurements(fleet, [xlsx])
