"""``circulith reference``: the shipped reference tables, their versions and digests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from circulith.cli.common import console, emit_json

app = typer.Typer(help="Shipped reference data: tables, versions and SHA-256 digests.", no_args_is_help=True)


@app.command("list")
def list_tables(json_out: Annotated[bool, typer.Option("--json", help="Write the result as JSON.")] = False) -> None:
    """Every shipped reference table with its version and SHA-256 (as ``GET /api/v1/reference``)."""
    from circulith.auth.policy import ANONYMOUS
    from circulith.services.reference_tables import reference_tables

    tables = reference_tables(ANONYMOUS)  # public data: no database or principal needed
    if json_out:
        emit_json(tables)
        return
    table = Table(title="shipped reference tables")
    for col in ("table", "version", "sha256", "bytes"):
        table.add_column(col)
    for t in tables:
        table.add_row(t.name, t.version, t.sha256, str(t.size_bytes))
    console.print(table)
