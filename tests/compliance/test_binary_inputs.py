"""A workbook (or any binary file) given where a recovery or compliance command expects text: one line, exit 2.

The user's usual mistake (an .xlsx saved under a .json or .csv name, or a Latin-1 CSV) must give a clear
one-line error naming the file and what it is, never a traceback, and write nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from circulith.cli.main import run as cli


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("binary")
    wb = Workbook()
    wb.active.append(["lot_id", "plant_id", "mass_kg"])
    wb.active.append(["L1", "REC-A:plant", 400.0])
    xlsx = d / "lots.xlsx"
    wb.save(xlsx)
    out = {}
    for name in ("lots.json", "lots.csv", "prices.csv", "plant.toml", "events.txt", "new.json"):
        (d / name).write_bytes(xlsx.read_bytes())
        out[name] = d / name
    out["latin1.csv"] = d / "latin1.csv"
    out["latin1.csv"].write_bytes("battery_id,chemistry,mass_kg\nBatterie-Ä,NMC622,400\n".encode("latin-1"))
    return out


def _commands(f: dict[str, Path]) -> list[list[str]]:
    return [
        ["recovery", "lot", "record", str(f["lots.json"])],
        ["recovery", "price", str(f["lots.json"])],
        ["recovery", "price", str(f["lots.csv"])],
        ["recovery", "price", str(f["latin1.csv"])],
        ["recovery", "compliance", "--lots", str(f["lots.json"]), "--plant", "P", "--year", "2026"],
        ["recovery", "run", "--chemistry", "NMC622", "--route", "hydro", "--prices", str(f["prices.csv"])],
        ["recovery", "run", "--chemistry", "NMC622", "--route", "hydro", "--plant-params", str(f["plant.toml"])],
        ["--as", "REC-A", "compliance", "traceability-submit", "--on", "2026-01-05", "--events",
         f"@{f['events.txt']}"],
        ["compliance", "recycled-content", "--lots", "L1", "--new-batteries", str(f["new.json"])],
    ]


def test_binary_files_are_one_line_errors(files: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    for args in _commands(files):
        rc = cli(["--db", db, *args])
        out = capsys.readouterr()
        lines = [ln for ln in out.err.splitlines() if ln.strip()]
        assert rc == 2, (args, out.out, out.err)
        assert "Traceback" not in out.err and len(lines) == 1, (args, out.err)
        assert ("Excel workbook" in lines[0] or "not UTF-8" in lines[0]), (args, lines[0])
