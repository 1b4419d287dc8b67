"""Shared helpers for CLI commands: output in text or JSON, the database URL in effect."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console

DEFAULT_DATABASE_URL = "sqlite:///circulith.db"

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    """Options given before the command (``circulith --db URL ...``)."""

    db_url: str | None = None

    def database_url(self) -> str:
        """The database URL in effect: ``--db``, then ``CIRCULITH_DATABASE_URL``, then the SQLite default."""
        return self.db_url or os.environ.get("CIRCULITH_DATABASE_URL") or DEFAULT_DATABASE_URL


state = CliState()


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON to standard output (one document, UTF-8, stable key order)."""
    sys.stdout.write(json.dumps(obj, default=_default, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
