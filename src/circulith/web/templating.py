"""The dashboard's package resources: the web directory and the Jinja2 templates every page renders with."""

from __future__ import annotations

from importlib.resources import files

from fastapi.templating import Jinja2Templates

WEB = files("circulith.web")
templates = Jinja2Templates(directory=str(WEB / "templates"))

PAGES = (("fleet", "Fleet and feedstock"), ("retirements", "Retirements"), ("ledger", "Ledger"),
         ("access", "Access"))
EXTRA_PAGES: list[tuple[str, str]] = [("triage", "Triage"), ("recovery", "Recovery and prices"),
                                      ("planning", "Forecast and capacity"), ("network", "Network map"),
                                      ("compare", "Scenario comparison"), ("national", "National view"),
                                      ("jobs", "Jobs")]
"""(slug, title) of pages added by triage, recovery and planning (rendered from ``<slug>.html``)."""
