"""Fixtures for triage tests: the shared real datasets (skipped with a message when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
CYCLERS = SHARED / "data" / "cycler_samples"
PULSES = SHARED / "data" / "pulse_lfp_retired"


@pytest.fixture(scope="session")
def cycler_dir() -> Path:
    if not CYCLERS.is_dir():
        pytest.skip(f"shared cycler samples not found at {CYCLERS}")
    return CYCLERS


@pytest.fixture(scope="session")
def pulse_dir() -> Path:
    if not PULSES.is_dir():
        pytest.skip(f"shared pulse dataset not found at {PULSES}")
    return PULSES


@pytest.fixture(scope="session")
def pulse_20ah_two_widths(pulse_dir: Path):
    from circulith.triage.readers.read_pulse_tables import read_pulse_tables

    return read_pulse_tables([pulse_dir / "20Ah" / "LFP_20Ah_W_1000.xlsx", pulse_dir / "20Ah" / "LFP_20Ah_W_100.xlsx"])
