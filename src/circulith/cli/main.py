"""The ``circulith`` command."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from circulith.cli.common import err_console, shown, state
from circulith.errors import CirculithError
from circulith.io.terminal import printable

# Typer (0.29) converts a path option's value inside a switch that sets PYDANTIC_DISABLE_PLUGINS and, when
# the variable was unset, deletes it afterwards: two runs on two threads (two imports at once in one
# process) can both delete it, and the second fails with KeyError. Set, even to "" (which disables no
# Pydantic plugin), it is only ever restored.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "")

app = typer.Typer(
    name="circulith",
    help="Passport registry, lifecycle ledger, triage, recovery and planning for EV batteries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: $CIRCULITH_DATABASE_URL or sqlite:///circulith.db)."),
    ] = None,
    acting_as: Annotated[
        str | None,
        typer.Option("--as", help="Organisation to act as (default: $CIRCULITH_AS, else the registry operator).",
                     metavar="ORG"),
    ] = None,
) -> None:
    state.db_url = db
    state.acting_org = acting_as


def _register() -> None:
    """Attach the command groups. Imported lazily so that ``--help`` stays fast."""
    from circulith.cli import (
        compliance_commands,
        intake_commands,
        ledger_commands,
        measurement_commands,
        organisation_commands,
        passport_search_commands,
        planning_commands,
        recovery_commands,
        reference_commands,
        registry_commands,
        serve_commands,
        triage_commands,
    )

    registry_commands.register(app)
    registry_commands.passport_app.command("search")(passport_search_commands.search)
    app.add_typer(organisation_commands.app, name="org")
    ledger_commands.register(app)  # after the registry's: its "ledger" group replaces the older one
    intake_commands.register(app)
    serve_commands.register(app)
    triage_commands.app.command("read")(measurement_commands.read)
    app.add_typer(triage_commands.app, name="triage")
    app.add_typer(recovery_commands.app, name="recovery")
    app.add_typer(compliance_commands.app, name="compliance")
    app.add_typer(planning_commands.forecast_app, name="forecast")
    app.add_typer(planning_commands.network_app, name="network")
    app.add_typer(reference_commands.app, name="reference")
    app.add_typer(planning_commands.national_app, name="national")


_register()


class _PrintableStderr:
    """Standard error that shows control characters as visible escapes (for click's usage errors)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(printable(text))

    def flush(self) -> None:
        sys.stderr.flush()


def _registry_busy(exc: OperationalError) -> bool:
    """Whether the database refused for contention (SQLite's lock, PostgreSQL's lock or serialisation codes)."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text or \
        getattr(exc.orig, "sqlstate", None) in ("40001", "40P01", "55P03")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 success, 2 bad input, 1 unexpected failure."""
    try:
        app(args=argv, standalone_mode=False)
    except CirculithError as exc:
        err_console.print(f"[bold red]error:[/] {shown(exc)}", highlight=False, soft_wrap=True)
        return 2
    except OperationalError as exc:  # a lock not obtained outside a unit of work (before it could retry)
        if not _registry_busy(exc):
            raise
        err_console.print("[bold red]error:[/] the registry is busy with another write: nothing was written, "
                          "retry shortly", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):
            exc.show(file=_PrintableStderr())  # a usage error repeats what was typed: escape it too
            return 2
        raise
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
