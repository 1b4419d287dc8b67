"""Access errors (mapped by the API to 401 and 403)."""

from __future__ import annotations

from circulith.errors import CirculithError


class NotAuthenticated(CirculithError):
    """No valid credential was presented where one is needed (HTTP 401)."""


class AccessDenied(CirculithError):
    """The caller is known but may not do this (HTTP 403)."""


class TooManyAttempts(CirculithError):
    """Too many failed logins; retry later (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
