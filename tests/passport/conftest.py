"""Fixtures for passport tests."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
BATTERYPASS = SHARED / "reference" / "batterypass"


@pytest.fixture
def batterypass_dir() -> Path:
    if not BATTERYPASS.is_dir():
        pytest.skip(
            f"Battery Pass reference folder not found at {BATTERYPASS} (needs the shared data checkout)"
        )
    return BATTERYPASS
