"""The public passport pages ``/p/{identifier}`` and their QR codes (no login; readable on a phone).

QR codes and permanent links use the registry's configured public base URL
(:attr:`circulith.api.settings.Settings.public_base_url`, ``CIRCULITH_PUBLIC_BASE_URL``), never the Host
header of the request: a code printed on a battery label must name the registry, whoever served the page.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from circulith.api.deps import engine_of, run_read, settings_of
from circulith.auth.policy import Principal
from circulith.errors import InvalidInput, NotFound
from circulith.passport.attributes import read_passport_attributes
from circulith.services.passport_seal import passport_seal
from circulith.services.passports import public_passport, resolve_identifier
from circulith.web.templating import templates

router = APIRouter(include_in_schema=False)


def public_url(base_url: str, identifier: str) -> str:
    """The permanent URL of a battery's public page (what its QR code encodes) under ``base_url``."""
    return f"{base_url.rstrip('/')}/p/{quote(identifier, safe='')}"


_DL_PATH = re.compile(r"^\d{2,4}/[^/]+(/\d{2,4}/[^/]+)*/?$")


def digital_link_of_path(path: str) -> str:
    """A GS1 Digital Link given as this registry's own path (``/p/01/<GTIN>/21/<serial>``, unencoded, as a
    phone's scanner may open it) as the canonical ``https://id.gs1.org/...`` URI; anything else unchanged.

    In the GS1 Digital Link Standard: URI Syntax (release 1.2, 2020) the primary key and its key qualifiers,
    not the domain name, identify the item, so the path alone names the battery.
    """
    return f"https://id.gs1.org/{path.rstrip('/')}" if _DL_PATH.match(path) else path


@lru_cache(maxsize=2048)
def qr_image(url: str, kind: str) -> bytes:
    """The QR code of ``url`` as SVG or PNG bytes (a pure function of its arguments: cached)."""
    buf = io.BytesIO()
    code = segno.make(url, error="m")
    if kind == "svg":
        code.save(buf, kind="svg", scale=4, border=2, xmldecl=False)
    else:
        code.save(buf, kind="png", scale=6, border=2)
    return buf.getvalue()


def recycled_content_lines(passport: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines of the recycled and renewable content shares, labelled from the attribute table.

    Shares are stored as fractions [0..1] and shown in per cent; unset shares are left out.
    """
    attrs = read_passport_attributes()
    content = passport.get("recycled_content") or {}
    lines = []
    for key, value in content.items():
        if value is None:
            continue
        attr = attrs.get(f"recycled_content.{key}")
        label = attr.attribute if attr else key.replace("_", " ")
        lines.append((label, f"{100.0 * float(value):.1f} %"))
    return lines


def _qr(request: Request, identifier: str, kind: str) -> bytes:
    b = run_read(request, resolve_identifier, digital_link_of_path(identifier))
    return qr_image(public_url(settings_of(request).public_base_url, b.battery_id), kind)


@router.get("/p/{identifier:path}/qr.svg")
def qr_svg(request: Request, identifier: str) -> Response:
    """QR code (SVG) of the battery's public page."""
    return Response(_qr(request, identifier, "svg"), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/p/{identifier:path}/qr.png")
def qr_png(request: Request, identifier: str) -> Response:
    """QR code (PNG) of the battery's public page."""
    return Response(_qr(request, identifier, "png"), media_type="image/png",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/p/{identifier:path}", response_class=HTMLResponse)
def public_page(request: Request, identifier: str) -> Response:
    """The public passport page: public attributes only, no login, readable on a phone.

    It says whether what it shows verifies from its organisations' signatures
    (:func:`~circulith.services.passport_seal.passport_seal`).
    """
    identifier = digital_link_of_path(identifier)
    try:
        data = run_read(request, public_passport, identifier)
    except (NotFound, InvalidInput) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        return templates.TemplateResponse(request, "error.html", {
            "request": request, "principal": Principal(), "pages": (), "status": status, "message": str(exc),
        }, status_code=status)
    quoted = quote(data.battery_id, safe="")
    seal = passport_seal(engine_of(request), Principal(), data.battery_id)
    return templates.TemplateResponse(request, "passport.html", {
        "request": request, "p": data.passport, "data": data, "lineage": data.lineage, "quoted": quoted, "seal": seal,
        "public_url": public_url(settings_of(request).public_base_url, data.battery_id),
        "recycled_lines": recycled_content_lines(data.passport), "quote": lambda s: quote(s, safe=""),
    }, headers={"Cache-Control": "public, max-age=60"})
