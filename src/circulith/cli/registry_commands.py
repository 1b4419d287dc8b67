"""Registry commands: database, import, passport, ledger, demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
