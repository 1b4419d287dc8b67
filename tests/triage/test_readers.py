"""Readers of native cycler files (every real sample) and the canonical-frame validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.triage.readers.read_measurements import detect_format, read_canonical, read_measurement
from circulith.triage.timeseries import CANONICAL_COLUMNS, current_sign_flipped, validate_timeseries

# (relative path, format, rows, (vmin, vmax), (imin, imax)) read off the files themselves
SAMPLES = [
    ("arbin/2017-05-09_test-TC-contact_CH33.csv", "arbin", 287, (3.2986, 3.6001), (0.0001, 6.6007)),
    ("arbin/FastCharge_000025_CH8.csv", "arbin", 248, (3.3009, 3.3012), (0.0, 0.0)),
    ("biologic/test_loopsnewoutput_MB_CE1_short10k.csv", "biologic_text", 9999, (2.9999, 4.2803), (-0.3617, 2.4980)),
    ("maccor/PredictionDiagnostics_000151_test.052", "maccor", 333, (3.8625, 3.8683), (-4.8410, -4.8393)),
    ("maccor/maccor_test_file_4267-66-6519.041", "maccor", 74, (3.9080, 3.9118), (0.0, 0.0)),
    ("novonix/test_Nova_Form-CH01-01_short.csv", "novonix", 3942, (0.1371, 3.4275), (0.0, 0.0540)),
]


@pytest.mark.parametrize(("rel", "fmt", "rows", "vr", "ir"), SAMPLES)
def test_every_cycler_sample_reads_to_canonical(cycler_dir, rel, fmt, rows, vr, ir):
    path = cycler_dir / rel
    assert detect_format(path) == fmt
    frame = read_measurement(path)
    assert list(frame.columns[:3]) == ["time_s", "voltage_v", "current_a"]
    assert set(frame.columns) <= set(CANONICAL_COLUMNS)
    assert len(frame) == rows
    assert frame["time_s"].iloc[0] == 0.0 and (np.diff(frame["time_s"]) >= 0).all()
    assert frame["voltage_v"].min() == pytest.approx(vr[0], abs=1e-3)
    assert frame["voltage_v"].max() == pytest.approx(vr[1], abs=1e-3)
    assert frame["current_a"].min() == pytest.approx(ir[0], abs=1e-3)
    assert frame["current_a"].max() == pytest.approx(ir[1], abs=1e-3)
    # sign convention: no file reads as "voltage falls under charge"
    assert not current_sign_flipped(frame.time_s.to_numpy(), frame.voltage_v.to_numpy(), frame.current_a.to_numpy())


def test_units_normalised(cycler_dir):
    # BioLogic I/mA: first charge step is 2493.26 mA in the file -> 2.49326 A
    bio = read_measurement(cycler_dir / "biologic/test_loopsnewoutput_MB_CE1_short10k.csv")
    assert bio["current_a"].iloc[1] == pytest.approx(2.49326220703125)
    # absolute timestamps 15:36:22.757 -> 15:36:45.513 = 22.756 s
    assert bio["time_s"].iloc[1] == pytest.approx(22.756, abs=1e-3)
    # Novonix Run Time (h) 0.0003111 h -> 1.11996 s
    nov = read_measurement(cycler_dir / "novonix/test_Nova_Form-CH01-01_short.csv")
    assert nov["time_s"].iloc[1] == pytest.approx(0.0003111 * 3600)
    # Maccor "0d 00:00:10.0000" -> 10 s; Maccor discharge (State D) is negative
    mac = read_measurement(cycler_dir / "maccor/maccor_test_file_4267-66-6519.041")
    assert mac["time_s"].max() == pytest.approx(10.0)
    diag = read_measurement(cycler_dir / "maccor/PredictionDiagnostics_000151_test.052")
    assert (diag["current_a"] < 0).all()


def test_maccor_procedure_file_is_refused(cycler_dir):
    with pytest.raises(InvalidInput, match="procedure"):
        read_measurement(cycler_dir / "maccor/diagnosticV4.000")


def test_chemistry_window_catches_formation_start(cycler_dir):
    # the Novonix formation file starts at 0.137 V (a fresh cell): outside any NMC window
    nov = read_measurement(cycler_dir / "novonix/test_Nova_Form-CH01-01_short.csv")
    with pytest.raises(InvalidInput, match="outside the NMC811 window"):
        validate_timeseries(nov, chemistry="NMC811")


def _pulse_frame(n: int = 200) -> pd.DataFrame:
    t = np.arange(n, dtype=float)
    i = np.where((t // 20) % 2 == 0, 2.0, -2.0)
    v = 3.3 + np.cumsum(i) * 1e-3
    return pd.DataFrame({"time_s": t, "voltage_v": v, "current_a": i})


def test_valid_frame_passes():
    out = validate_timeseries(_pulse_frame(), chemistry="LFP", rated_capacity_ah=10, min_duration_s=100)
    assert len(out) == 200


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda f: f.drop(columns="current_a"), "current_a.*missing"),
        (lambda f: f.assign(voltage_v=f.voltage_v.where(f.index != 5)), "voltage_v.*missing"),
        (lambda f: f.assign(time_s=f.time_s[::-1].to_numpy()), "backwards"),
        (lambda f: f.assign(current_a=f.current_a * 1000), "mA given"),
        (lambda f: f.assign(voltage_v=f.voltage_v * 1000), "outside the LFP window"),
        (lambda f: f.assign(current_a=-f.current_a), "sign looks flipped"),
        (lambda f: f.iloc[:10], "insufficient data"),
    ],
)
def test_bad_input_named(mutate, match):
    with pytest.raises(InvalidInput, match=match):
        validate_timeseries(mutate(_pulse_frame()), chemistry="LFP", rated_capacity_ah=10, min_duration_s=100)


def test_canonical_csv_with_milliamps(tmp_path):
    f = _pulse_frame()
    path = tmp_path / "t.csv"
    f.rename(columns={"current_a": "current_ma"}).assign(current_ma=f.current_a * 1000).to_csv(path, index=False)
    out = read_canonical(path)
    np.testing.assert_allclose(out["current_a"], f["current_a"])
    assert detect_format(path) == "canonical"


def test_unknown_format(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="unrecognised"):
        read_measurement(p)


def test_stream_summary_matches_in_memory(tmp_path):
    from circulith.triage.capacity import coulomb_count_ah
    from circulith.triage.readers.read_stream import stream_summary

    f = _pulse_frame(1000)
    p = tmp_path / "s.csv"
    f.to_csv(p, index=False)
    s = stream_summary(p, chunksize=97)  # chunk boundaries inside pulses
    q = coulomb_count_ah(f.time_s.to_numpy(), f.current_a.to_numpy())
    assert s.n_samples == 1000 and s.duration_s == 999
    assert s.charge_in_ah - s.charge_out_ah == pytest.approx(q[-1])
    assert s.resistance_ohm == pytest.approx(0.5e-3)  # dV = i_new x 1 mOhm s/A at each +/-2 A flip
    f.assign(time_s=np.where(f.index == 500, 0.0, f.time_s)).to_csv(p, index=False)
    with pytest.raises(InvalidInput, match="row 502.*backwards"):
        stream_summary(p, chunksize=97)
