"""Secrets: API keys, browser-session tokens and CSRF tokens.

* API keys look like ``clk_<key_id>_<secret>``: ``key_id`` (12 hex) is stored in clear to find
  the key, the whole key only as its SHA-256 (a 256-bit random secret needs no slow hash).
* Session tokens are 256-bit random strings, signed with the server secret (HMAC-SHA256) so that
  a forged cookie is refused before any database look-up; the store keeps only their SHA-256.
* The CSRF token of a session is HMAC(secret, "csrf:" + session token): the page embeds it and
  every unsafe request made with the session cookie must send it back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

API_KEY_PREFIX = "clk_"


def sha256_hex(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8) as hex."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    """A freshly minted API key: show ``secret`` once, store ``key_id`` and ``key_sha256``."""

    key_id: str
    secret: str
    key_sha256: str


def mint_api_key() -> NewApiKey:
    """A new random API key."""
    key_id = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key_id=key_id, secret=secret, key_sha256=sha256_hex(secret))


def parse_api_key(secret: str) -> str | None:
    """The ``key_id`` of a well-formed API key, or None."""
    if not secret.startswith(API_KEY_PREFIX):
        return None
    body = secret[len(API_KEY_PREFIX):]
    key_id, sep, rest = body.partition("_")
    if not sep or len(key_id) != 12 or not rest or len(secret) > 200:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id


def api_key_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time comparison of a presented key with the stored digest."""
    return hmac.compare_digest(sha256_hex(secret), stored_sha256)


def _sign(secret_key: str, message: str) -> str:
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def mint_session_token(secret_key: str) -> tuple[str, str]:
    """A new session: (cookie value ``token.signature``, token digest to store)."""
    token = secrets.token_urlsafe(32)
    return f"{token}.{_sign(secret_key, 'session:' + token)}", sha256_hex(token)


def open_session_cookie(secret_key: str, cookie: str) -> str | None:
    """The stored digest of a session cookie whose signature is valid, else None (forged/garbled)."""
    token, sep, sig = cookie.rpartition(".")
    if not sep or not token or len(cookie) > 300:
        return None
    if not hmac.compare_digest(_sign(secret_key, "session:" + token), sig):
        return None
    return sha256_hex(token)


def csrf_token(secret_key: str, session_digest: str) -> str:
    """The CSRF token bound to a session (by its stored digest)."""
    return _sign(secret_key, "csrf:" + session_digest)


def csrf_ok(secret_key: str, session_digest: str, presented: str | None) -> bool:
    """Whether ``presented`` is the session's CSRF token."""
    return bool(presented) and hmac.compare_digest(csrf_token(secret_key, session_digest), presented or "")
