"""``circulith triage read``: what a cycler file holds, through the readers grading uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from circulith.auth.policy import Principal
from circulith.cli.common import console, emit_json
from circulith.services.measurements import read_measurement_file


def read(file: Annotated[Path, typer.Argument(help="Cycler file: Arbin/Novonix/BDF CSV, Maccor text, "
                                                    "BioLogic .mpt/.mpr, canonical CSV or Parquet.")],
         fmt: Annotated[str | None, typer.Option("--format", help="Reader to use (default: detected).")] = None,
         json_: Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")] = False) -> None:
    """Read a measurement file and print the reader used, rows, duration, charge and discharge."""
    result = read_measurement_file(Principal(), file, fmt=fmt)
    if json_:
        emit_json(result)
        return
    lines = [f"{result.file}: {result.reader} reader, {result.rows} rows, {result.duration_s:.1f} s",
             f"  charge {result.charge_ah:.6g} Ah, discharge {result.discharge_ah:.6g} Ah "
                  f"(current {result.current_basis}, decimal mark '{result.decimal_mark}')",
             f"  voltage {result.voltage_min_v:.4f}-{result.voltage_max_v:.4f} V, "
                  f"steps {result.steps if result.steps is not None else 'n/a'}, "
                  f"cycles {result.cycles if result.cycles is not None else 'n/a'}",
             "  channels: " + ", ".join(f"{c.name} [{c.unit}]" for c in result.columns)]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
