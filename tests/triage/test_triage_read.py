"""``circulith triage read`` on every shared cycler sample and on malformed variants of each format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import shared_path

from circulith.cli.main import run

SAMPLES = [
    ("arbin/2017-05-09_test-TC-contact_CH33.csv", "arbin"),
    ("arbin/FastCharge_000025_CH8.csv", "arbin"),
    ("maccor/PredictionDiagnostics_000151_test.052", "maccor"),
    ("maccor/maccor_test_file_4267-66-6519.041", "maccor"),
    ("biologic/test_loopsnewoutput_MB_CE1_short10k.csv", "biologic_text"),
    ("novonix/test_Nova_Form-CH01-01_short.csv", "novonix"),
    ("biologic_eclab/gcpl.issue_226.CxN.mpr", "biologic_mpr"),
    ("biologic_eclab/gcpl.issue_226.CxN.mpt", "biologic_text"),
    ("biologic_eclab/mb.issue_95.mpr", "biologic_mpr"),
    ("biologic_eclab/mb.issue_95.mpt", "biologic_text"),
    ("biologic_eclab/mb.issue_95.de.mpt", "biologic_text"),
]


def read_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code = run(["triage", "read", str(path), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = run(["triage", "read", str(path)])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    assert "Traceback" not in out.err
    return " ".join(out.err.split())


@pytest.mark.parametrize(("name", "reader"), SAMPLES)
def test_every_shared_sample_reads(name: str, reader: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = read_json(shared_path("data", "cycler_samples", name), capsys)
    assert d["reader"] == reader
    assert d["rows"] > 10 and d["duration_s"] > 0
    assert d["charge_ah"] >= 0 and d["discharge_ah"] >= 0
    assert {c["name"]: c["unit"] for c in d["columns"]}["current_a"] == "A"


@pytest.mark.parametrize("run_name", ["gcpl.issue_226.CxN", "mb.issue_95"])
def test_mpr_and_its_mpt_export_give_the_same_capacities(run_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_path("data", "cycler_samples", "biologic_eclab")
    mpr = read_json(folder / f"{run_name}.mpr", capsys)
    mpt = read_json(folder / f"{run_name}.mpt", capsys)
    assert mpr["rows"] == mpt["rows"]
    assert mpr["duration_s"] == pytest.approx(mpt["duration_s"], rel=1e-6)
    assert mpr["charge_ah"] == pytest.approx(mpt["charge_ah"], rel=1e-6)
    assert mpr["discharge_ah"] == pytest.approx(mpt["discharge_ah"], rel=1e-6)


def test_gcpl_mpr_current_is_measured_charge_not_the_set_point(capsys: pytest.CaptureFixture[str]) -> None:
    from circulith.triage.readers.read_measurements import read_measurement

    folder = shared_path("data", "cycler_samples", "biologic_eclab")
    mpr = read_measurement(folder / "gcpl.issue_226.CxN.mpr")
    mpt = read_measurement(folder / "gcpl.issue_226.CxN.mpt")
    assert mpr.attrs["current_basis"] == "dq"
    # the set-point is +-0.12 mA throughout; the current derived from dq/dt follows the measured <I>/mA
    steady = slice(2, 5)
    assert mpr["current_a"].iloc[steady].to_numpy() == pytest.approx(mpt["current_a"].iloc[steady].to_numpy(),
                                                                       rel=0.02)


def test_decimal_comma_export_reads_like_the_point_export(capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_path("data", "cycler_samples", "biologic_eclab")
    de = read_json(folder / "mb.issue_95.de.mpt", capsys)
    en = read_json(folder / "mb.issue_95.mpt", capsys)
    assert de["decimal_mark"] == "," and en["decimal_mark"] == "."
    for key in ("rows", "duration_s", "charge_ah", "discharge_ah", "voltage_min_v", "voltage_max_v"):
        assert de[key] == pytest.approx(en[key], rel=1e-9), key


def test_maccor_procedure_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    msg = refused(shared_path("data", "cycler_samples", "maccor", "diagnosticV4.000"), capsys)
    assert "test procedure" in msg


@pytest.mark.parametrize(("name", "head", "needle"), [
    ("run.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "HDF5"),
    ("run.res", b"\x00\x01\x00\x00Standard Jet DB\x00" + b"\x00" * 64, "Arbin .res"),
    ("run.ndax", b"PK\x03\x04" + b"\x00" * 64, "Neware .ndax"),
    ("run.nda", b"NEWARE" + b"\x00" * 64, "Neware .nda"),
    ("run.bin", b"\x01\x02\x00\x03" * 16, "binary"),
    ("run.csv", b"a,b,c\n1,2,3\n", "unrecognised"),
])
def test_binary_and_unknown_formats_refused_naming_the_format(tmp_path: Path, name: str, head: bytes,
                                                               needle: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(head)
    assert needle in refused(path, capsys)


def test_impedance_spectrum_refused_as_time_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "peis.mpt"
    rows = "\n".join(f"{1000.0 / (k + 1)}\t{0.01 * k}\t{-0.002 * k}\t{k * 1.0}\t3.7\t0.0" for k in range(20))
    path.write_text("EC-Lab ASCII FILE\nNb header lines : 4\n\n"
                    "freq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm\ttime/s\tEwe/V\tI/mA\n" + rows + "\n", encoding="latin-1")
    assert "impedance spectrum" in refused(path, capsys)


def test_truncated_and_corrupted_variants_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_path("data", "cycler_samples", "biologic_eclab")
    header_only = tmp_path / "header_only.mpt"
    text = (folder / "mb.issue_95.mpt").read_text(encoding="latin-1")
    header_only.write_text("\n".join(text.splitlines()[:93]) + "\n", encoding="latin-1")
    assert "no data rows" in refused(header_only, capsys)
    cut = tmp_path / "cut.mpr"
    cut.write_bytes((folder / "mb.issue_95.mpr").read_bytes()[:600])
    assert "mpr" in refused(cut, capsys)
    no_current = tmp_path / "arbin.csv"
    no_current.write_text("Test_Time,Voltage\n0,3.7\n1,3.7\n", encoding="utf-8")
    assert "Current" in refused(no_current, capsys)


def test_battery_data_format_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bdf.csv"
    lines = ["Test Time / s,Voltage / V,Current / A,Step Index / 1"]
    lines += [f"{t},{3.6 - 0.001 * t},-2.0,1" for t in range(0, 3601, 60)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = read_json(path, capsys)
    assert d["reader"] == "bdf"
    assert d["discharge_ah"] == pytest.approx(2.0, rel=1e-9)  # 2 A for one hour


def test_canonical_copy_of_a_sample_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = shared_path("data", "cycler_samples", "novonix", "test_Nova_Form-CH01-01_short.csv")
    shutil.copy(src, tmp_path / "x.csv")
    assert read_json(tmp_path / "x.csv", capsys)["reader"] == "novonix"


@pytest.mark.parametrize(("name", "reader"), [s for s in SAMPLES if not s[0].endswith(".mpr")
                                              and not s[0].startswith("novonix")])
def test_block_by_block_totals_equal_the_whole_file_read(name: str, reader: str) -> None:
    from circulith.triage.readers.read_chunked import stream_figures
    from circulith.triage.readers.read_measurements import read_measurement
    from circulith.triage.readers.summary import measurement_figures

    path = shared_path("data", "cycler_samples", name)
    whole = measurement_figures(read_measurement(path, fmt=reader))
    blocks = stream_figures(path, reader, chunk_rows=7)
    assert blocks.rows == whole.rows and blocks.steps == whole.steps and blocks.cycles == whole.cycles
    assert blocks.duration_s == pytest.approx(whole.duration_s, rel=1e-12)
    assert blocks.charge_ah == pytest.approx(whole.charge_ah, rel=1e-9, abs=1e-15)
    assert blocks.discharge_ah == pytest.approx(whole.discharge_ah, rel=1e-9, abs=1e-15)
    assert (blocks.voltage_min_v, blocks.voltage_max_v) == (whole.voltage_min_v, whole.voltage_max_v)


def test_large_files_are_totalled_in_blocks(tmp_path: Path) -> None:
    from circulith.auth.policy import Principal
    from circulith.services.measurements import read_measurement_file

    path = tmp_path / "big.csv"
    t = range(7201)
    path.write_text("time_s,voltage_v,current_a\n" + "\n".join(f"{k},3.7,{-1.0 if k < 3600 else 1.0}" for k in t))
    streamed = read_measurement_file(Principal(), path, stream_above_bytes=0)
    whole = read_measurement_file(Principal(), path)
    assert streamed.model_dump() == whole.model_dump()
    assert streamed.discharge_ah == pytest.approx(1.0, abs=1e-3)
