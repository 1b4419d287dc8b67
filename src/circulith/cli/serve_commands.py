"""``circulith serve``: the API, the dashboard and the public passport pages."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Annotated

import typer

from circulith.cli.common import console, state

if TYPE_CHECKING:
    from fastapi import FastAPI


def build_app() -> FastAPI:
    """The app for the database in effect (``--db`` or ``CIRCULITH_DATABASE_URL``), settings from the environment."""
    from circulith.api.settings import Settings
    from circulith.server import create_app

    settings = Settings.from_env()
    if state.db_url:
        settings = dataclasses.replace(settings, database_url=state.db_url)
    return create_app(settings)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (``/api/v1``, docs at ``/api/docs``), the dashboard (``/dashboard``) and ``/p/{identifier}``.

    Raises
    ------
    CirculithError
        For unsafe production settings or a database without the schema.
    """
    import uvicorn

    app = build_app()
    env = os.environ.get("CIRCULITH_ENV", "development")
    console.print(f"serving {state.database_url()} on http://{host}:{port} ({env}); dashboard at /dashboard, "
                  "API docs at /api/docs")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the API, the dashboard and the public passport pages."""
    serve(host, port)


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the root app."""
    app.command("serve")(serve_command)
