"""The composition root: ``create_app(settings)`` wires the REST API, the dashboard and the public pages.

It sits above :mod:`circulith.api` and :mod:`circulith.web` so that neither imports the other's routes:
the API is installed by :func:`circulith.api.app.install_api`, the dashboard by
:func:`circulith.web.routes.install_web`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.middleware.trustedhost import TrustedHostMiddleware

from circulith.api.app import API_DESCRIPTION, install_api
from circulith.api.docs import install_docs
from circulith.api.errors import install_error_handlers
from circulith.api.middleware import BodyLimit, SecurityHeaders
from circulith.api.settings import Settings
from circulith.auth.ratelimit import LoginLimiter
from circulith.store.database import create_db_engine, require_schema

log = logging.getLogger(__name__)

DB_POOL_SIZE = 20
"""PostgreSQL connections a worker keeps open (assumption: at least the requests one worker serves at once
on a few cores; a smaller pool closes and reopens connections, a process fork each, on every burst)."""
DB_POOL_OVERFLOW = 20
"""Extra connections in a burst: with :data:`DB_POOL_SIZE` as many as the 40 threads that run sync routes."""

WORKER_THREADS = 16
"""Threads that run sync routes in one server worker (assumption: a few per core; the default 40 only adds
GIL contention on a small machine). ``CIRCULITH_WORKER_THREADS`` overrides it."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    import anyio.to_thread

    threads = int(os.environ.get("CIRCULITH_WORKER_THREADS", WORKER_THREADS))
    anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, threads)
    yield


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the ASGI application: API, dashboard, public pages, middleware.

    Parameters
    ----------
    settings : Settings or None
        Server settings (default: :meth:`Settings.from_env`); checked, production rules included.
    engine : Engine or None
        An engine to use instead of one made from ``settings.database_url`` (tests).

    Returns
    -------
    FastAPI
        The application.

    Raises
    ------
    CirculithError
        For unsafe settings in production, or a database without the circulith schema.
    """
    settings = settings or Settings.from_env()
    settings.check()
    # PostgreSQL: a pool sized for one server worker (SQLite ignores it).
    engine = engine or create_db_engine(settings.database_url, pool_size=DB_POOL_SIZE, max_overflow=DB_POOL_OVERFLOW)
    require_schema(engine)
    app = FastAPI(title="circulith", version="1", description=API_DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
    install_error_handlers(app)

    from circulith.services.jobs import JobRunner
    from circulith.web.routes import install_web

    app.state.jobs = JobRunner()
    install_api(app)
    if not settings.production:
        install_docs(app)
    install_web(app)
    # the planner's uploads (pages_planning builds on the dashboard's helpers, so it is wired here, above both)
    from circulith.web.pages_planning import router as planning_pages

    app.include_router(planning_pages)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    if settings.env != "test":
        from circulith.services.planning import warm_planning_caches

        threading.Thread(target=warm_planning_caches, name="circulith-warm", daemon=True).start()
    return app
