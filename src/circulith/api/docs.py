"""Interactive API documentation served from vendored Swagger UI assets (no CDN, no network).

FastAPI's default ``/api/docs`` page loads Swagger UI from a CDN with an inline script; the app's
Content-Security-Policy (``script-src 'self'``) blocks both, and a registry may run with no internet.
This page loads ``swagger-ui-dist`` (Apache-2.0, see ``static/swagger-ui/SOURCE.md``) from the package.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"


def docs_page(openapi_url: str, title: str) -> str:
    """The HTML of the documentation page (assets and start-up script from :data:`ASSETS_PATH`)."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{escape(title)} - API documentation</title>
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head>
<body data-openapi-url="{escape(openapi_url)}">
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS_PATH}/circulith-docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve the documentation page at :data:`DOCS_PATH` and its assets under :data:`ASSETS_PATH`."""
    assets = files("circulith.api") / "static" / "swagger-ui"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="api-docs-assets")
    page = docs_page(app.openapi_url or "/api/openapi.json", app.title)

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
