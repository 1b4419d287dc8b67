"""Load the shipped, versioned grading rules (``reference/data/grading_rules_v1.toml``)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from circulith.errors import InvalidInput
from circulith.reference.loader import read_toml

GRADES = ["reuse", "repurpose", "recycle", "quarantine"]  # best to worst
GRADE_RANK = {g: k for k, g in enumerate(GRADES)}
APPLICATIONS = ["stationary_storage", "low_speed_vehicle", "ups"]


@lru_cache(maxsize=4)
def _load_default() -> dict[str, Any]:
    return read_toml("grading_rules_v1.toml").data


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """The rules as a dict (default: the shipped file); validated for the keys the engine needs."""
    if path is None:
        rules = _load_default()
    else:
        try:
            with open(path, "rb") as fh:
                rules = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInput(f"cannot read rules: {exc}", source=str(path)) from exc
    missing = [k for k in ["version", "rules", "reuse", "applications", "chemistry"] if k not in rules]
    if missing:
        raise InvalidInput(f"rules file lacks {', '.join(missing)}", source=str(path or "grading_rules_v1.toml"))
    for r in rules["rules"]:
        if r.get("grade") not in GRADES or "source" not in r or "id" not in r:
            raise InvalidInput(f"rule {r.get('id')!r} needs id, a grade in {GRADES} and a source",
                               source=str(path or "grading_rules_v1.toml"))
    return rules


def chemistry_family(code: str) -> str:
    """Rules family of a chemistry code: ``LFP``, ``NMC`` (NMC*, NCA) or ``default``."""
    c = str(code).upper()
    if c == "LFP":
        return "LFP"
    if c.startswith("NMC") or c == "NCA":
        return "NMC"
    return "default"
