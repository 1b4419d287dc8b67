"""One JSON shape for every error: ``{"error": {"code", "message", "field", "problems"}}``.

No stack trace ever reaches a client: unexpected exceptions are logged and answered with a
generic 500 body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from circulith.api.schemas import ErrorBody
from circulith.auth.errors import AccessDenied, NotAuthenticated, TooManyAttempts
from circulith.errors import (
    CirculithError,
    Conflict,
    IntegrityViolation,
    InvalidInput,
    NotFound,
    TransitionRefused,
)
from circulith.store.database import WriteConflict

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
    422: "invalid_input", 429: "too_many_requests", 500: "internal_error",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid credential (or an invalid one was presented)."},
    403: {"model": ErrorBody, "description": "The caller may not do this (role, scope, ownership or CSRF)."},
    404: {"model": ErrorBody, "description": "No such battery, grant or key."},
    422: {"model": ErrorBody, "description": "Invalid input: the field and the reason are named."},
}
"""Declared on every route of the API."""


def error_response(status: int, message: str, *, field: str | None = None, code: str | None = None,
                   problems: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    """A JSON error response in the common shape."""
    body = {"error": {"code": code or _STATUS_CODES.get(status, "error"), "message": message, "field": field,
                      "problems": problems or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _loc_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def _problems(exc: InvalidInput) -> list[dict[str, Any]]:
    return [{"field": p.field or None, "reason": p.reason, "row": p.row, "record_id": p.record_id}
            for p in exc.problems[:100]]


def status_of(exc: CirculithError) -> int:
    """HTTP status of a domain error."""
    if isinstance(exc, NotAuthenticated):
        return 401
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, TooManyAttempts):
        return 429
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | TransitionRefused | IntegrityViolation):
        return 409
    return 422


def domain_error_response(exc: CirculithError) -> JSONResponse:
    """The response for a domain error."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(int(exc.retry_after_s) + 1)}
    if isinstance(exc, WriteConflict):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, InvalidInput):
        probs = _problems(exc)
        field = probs[0]["field"] if probs else None
        return error_response(status, str(exc), field=field, problems=probs, headers=headers)
    return error_response(status, str(exc), headers=headers)


UNPARSEABLE_BODY = "There was an error parsing the body"
"""FastAPI's 400 detail for a body it could not decode (answered here as a 422 naming the body)."""


def _invalid_body(problems: list[dict[str, Any]]) -> JSONResponse:
    first = problems[0] if problems else {"field": "body", "reason": "invalid request"}
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return error_response(422, f"field '{first['field']}': {first['reason']}{more}", field=first["field"],
                          problems=problems)


def _not_json_body(request: Request) -> str:
    content_type = request.headers.get("content-type")
    if not content_type:
        return "expected a JSON object with Content-Type: application/json (no Content-Type was given)"
    if "json" not in content_type.lower():
        return (f"expected a JSON object with Content-Type: application/json, got Content-Type "
                f"'{content_type[:60]}'")
    return "expected a JSON object"


def _unparseable_reason(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 text (byte {cause.start}): send JSON encoded as UTF-8"
    return "the body cannot be parsed as JSON"


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the common JSON shape."""

    @app.exception_handler(CirculithError)
    async def _domain(_request: Request, exc: CirculithError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:100]:
            loc = tuple(err.get("loc", ()))
            field, msg = _loc_field(loc), str(err.get("msg", "invalid"))
            if err.get("type") == "extra_forbidden":
                msg = "unknown field"
            elif err.get("type") == "json_invalid":
                field = "body"  # the location is a character offset, not a field
                msg = f"malformed JSON at character {loc[-1]}: {err.get('ctx', {}).get('error', 'cannot parse')}"
            elif loc == ("body",) and err.get("type") == "model_attributes_type":
                msg = _not_json_body(request)
            problems.append({"field": field, "reason": msg, "row": None, "record_id": None})
        return _invalid_body(problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 400 and exc.detail == UNPARSEABLE_BODY:  # FastAPI's answer to a body it cannot decode
            return _invalid_body([{"field": "body", "reason": _unparseable_reason(exc.__cause__), "row": None,
                                   "record_id": None}])
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error: the server could not complete the request (logged)")
