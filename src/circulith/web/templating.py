"""The dashboard's package resources: the web directory and the Jinja2 templates every page renders with."""

from __future__ import annotations

from importlib.resources import files

from fastapi.templating import Jinja2Templates

WEB = files("circulith.web")
templates = Jinja2Templates(directory=str(WEB / "templates"))
