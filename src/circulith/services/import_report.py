"""The outcome of a bulk import (passports or events), shared by every import path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {
            "source": self.source, "records": self.records, "written": self.written, "unchanged": self.unchanged,
            "rejected": self.rejected, "rejects_path": self.rejects_path, "problems": self.problems[:100],
        }
