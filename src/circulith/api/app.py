"""The REST API's routers: :func:`install_api` adds them to an app built by :func:`circulith.server.create_app`.

This module knows nothing of the dashboard; the composition root above both wires them together.
"""

from __future__ import annotations

from fastapi import FastAPI

API_DESCRIPTION = """\
Battery passports (Regulation (EU) 2023/1542), their lifecycle ledger, and access control.

Authenticate with an API key (`Authorization: Bearer clk_...`) or a browser session (cookie from
`POST /api/v1/auth/login`; unsafe requests then need the `X-CSRF-Token` header). Without either,
you are the public: only public attributes (Annex XIII point 1). Every error has the shape
`{"error": {"code", "message", "field", "problems"}}`.
"""


def install_api(app: FastAPI) -> None:
    """Include the API routers in ``app`` (order matters: specific paths before catch-alls)."""
    from circulith.api.routes import router
    from circulith.api.routes_access import router as access_router
    from circulith.api.routes_formats import router as formats_router
    from circulith.api.routes_jobs import router as jobs
    from circulith.api.routes_ledger import router as ledger_router
    from circulith.api.routes_lot_inputs import router as lot_inputs_router
    from circulith.api.routes_planning import router as planning_router
    from circulith.api.routes_recovery import router as recovery_router
    from circulith.api.routes_reference import router as reference
    from circulith.api.routes_triage import router as triage_routes

    app.include_router(jobs)
    app.include_router(reference)
    app.include_router(recovery_router)  # before the catch-all /passports/{id}
    app.include_router(lot_inputs_router)
    app.include_router(triage_routes)
    app.include_router(router)
    app.include_router(formats_router)
    app.include_router(ledger_router)
    app.include_router(access_router)
    app.include_router(planning_router)
