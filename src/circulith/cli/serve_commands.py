"""``circulith serve``: the API, the dashboard and the public passport pages."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Annotated

import typer

from circulith.cli.common import console, state

if TYPE_CHECKING:
    from fastapi import FastAPI


def build_app(listen_url: str | None = None) -> FastAPI:
    """The app for the database in effect (``--db`` or ``CIRCULITH_DATABASE_URL``), settings from the environment.

    Outside production, without ``CIRCULITH_PUBLIC_BASE_URL``, QR codes and permanent links use
    ``listen_url`` (the address being served) as the public base URL.
    """
    from circulith.api.settings import Settings
    from circulith.server import create_app

    settings = Settings.from_env()
    if state.db_url:
        settings = dataclasses.replace(settings, database_url=state.db_url)
    if listen_url and not settings.production and not os.environ.get("CIRCULITH_PUBLIC_BASE_URL"):
        settings = dataclasses.replace(settings, public_base_url=listen_url)
    return create_app(settings)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (``/api/v1``, docs at ``/api/docs``), the dashboard (``/dashboard``) and ``/p/{identifier}``.

    Raises
    ------
    CirculithError
        For unsafe production settings or a database without the schema.
    """
    import uvicorn

    app = build_app(f"http://{host}:{port}")
    env = os.environ.get("CIRCULITH_ENV", "development")
    console.print(f"serving {state.database_url()} on http://{host}:{port} ({env}); dashboard at /dashboard, "
                  f"API docs at /api/docs; public pages and QR codes under {app.state.settings.public_base_url}")
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
