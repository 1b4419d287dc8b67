"""The outcome of a bulk import (passports or events), shared by every import path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circulith.errors import Problem
from circulith.io.records import write_rejects


@dataclass
class ImportReport:
    """Outcome of an import."""

    source: str
    records: int = 0
    written: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    problems: list[str] = field(default_factory=list)
    importer: str = "python"
    """Which path recorded the file: "compiled" (:mod:`circulith.services.compiled_event_import`) or "python"."""
    fallback_reason: str | None = None
    """Why the compiled kernel left an event file to the Python path ("not JSON Lines", "a battery that is
    not registered", ...); None where the kernel recorded it or an import has no kernel (passports)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {
            "source": self.source, "records": self.records, "written": self.written, "unchanged": self.unchanged,
            "rejected": self.rejected, "rejects_path": self.rejects_path, "problems": self.problems[:100],
            "importer": self.importer, "fallback_reason": self.fallback_reason,
        }


def finish_report(report: ImportReport, rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]],
                  problems: list[Problem], skip_invalid: bool, rejects_path: Path | None, path: Path) -> None:
    """Fill ``report``'s refusals; with ``skip_invalid``, write the refused rows beside the input (or to
    ``rejects_path``) as JSON Lines with their reasons, and name that file."""
    report.rejected = len(rejects)
    report.problems = [str(p) for p in problems]
    if rejects and skip_invalid:
        target = rejects_path or path.with_name(path.name + ".rejects.jsonl")
        write_rejects(target, rejects)
        report.rejects_path = str(target)
