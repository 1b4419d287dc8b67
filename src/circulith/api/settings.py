"""Server settings from the environment, refused when unsafe for production.

=========================  ==============================================================
variable                   meaning
=========================  ==============================================================
CIRCULITH_DATABASE_URL     SQLAlchemy URL of the registry (default ``sqlite:///circulith.db``)
CIRCULITH_SECRET_KEY       signs session cookies and CSRF tokens (>= 32 characters in production)
CIRCULITH_ALLOWED_HOSTS    comma-separated host names the server answers to (required in production;
                           development default: 127.0.0.1, localhost, testserver)
CIRCULITH_ENV              ``development`` (default), ``test`` or ``production``
CIRCULITH_MAX_BODY_BYTES   largest accepted request body [bytes] (default 2 MiB)
CIRCULITH_PUBLIC_BASE_URL  the registry's public address, used in QR codes and permanent links of the
                           public passport pages (required in production, https; development default:
                           http://127.0.0.1:8000, the address ``circulith serve`` listens on)
CIRCULITH_TRUSTED_PROXIES  comma-separated addresses or networks of the reverse proxies in front of the
                           server (``10.0.0.5``, ``10.0.0.0/8``, ``::1``); only from these peers is
                           ``X-Forwarded-For`` believed for the login limits (default: none, the header
                           is ignored and the TCP peer is the client)
=========================  ==============================================================
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from circulith.auth.ratelimit import trusted_networks
from circulith.errors import CirculithError

DEV_SECRET_KEY = "circulith-development-secret-key-do-not-use-in-production"
MIN_SECRET_KEY_LENGTH = 32
"""Shortest secret key accepted in production [characters] (256 bits as hex or 192+ as base64)."""
ENVIRONMENTS = ("development", "test", "production")
DEV_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
"""The public base URL outside production: the address ``circulith serve`` listens on by default."""


@dataclass(frozen=True)
class Settings:
    """What the server needs to run."""

    database_url: str = "sqlite:///circulith.db"
    secret_key: str = DEV_SECRET_KEY
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "testserver")
    env: str = "development"
    max_body_bytes: int = 2 * 1024 * 1024
    login_max_failures: int = 5
    login_window_s: float = 300.0
    session_cookie: str = "circulith_session"
    public_base_url: str = DEV_PUBLIC_BASE_URL
    trusted_proxies: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        """Whether the production checks apply."""
        return self.env == "production"

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted proxies as networks (:func:`circulith.auth.ratelimit.trusted_networks`)."""
        return trusted_networks(self.trusted_proxies)

    @property
    def cookie_secure(self) -> bool:
        """Send the session cookie over HTTPS only (production)."""
        return self.production

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment and check them (:meth:`check`)."""
        env = os.environ if environ is None else environ
        hosts = tuple(h.strip() for h in env.get("CIRCULITH_ALLOWED_HOSTS", "").split(",") if h.strip())
        try:
            max_body = int(env.get("CIRCULITH_MAX_BODY_BYTES", str(cls.max_body_bytes)))
        except ValueError:
            raise CirculithError("CIRCULITH_MAX_BODY_BYTES must be an integer number of bytes") from None
        mode = (env.get("CIRCULITH_ENV") or "development").strip().lower()
        if not hosts and mode != "production":
            hosts = cls.allowed_hosts  # the loopback defaults are for development and tests only
        settings = cls(
            database_url=env.get("CIRCULITH_DATABASE_URL") or cls.database_url,
            secret_key=env.get("CIRCULITH_SECRET_KEY") or DEV_SECRET_KEY,
            allowed_hosts=hosts,
            env=mode,
            max_body_bytes=max_body,
            public_base_url=(env.get("CIRCULITH_PUBLIC_BASE_URL") or "").strip().rstrip("/") or DEV_PUBLIC_BASE_URL,
            trusted_proxies=tuple(p.strip() for p in env.get("CIRCULITH_TRUSTED_PROXIES", "").split(",") if p.strip()),
        )
        settings.check()
        return settings

    def problems(self) -> list[str]:
        """What is unsafe or wrong in these settings (production rules apply when ``env`` is production)."""
        out: list[str] = []
        if self.env not in ENVIRONMENTS:
            out.append(f"CIRCULITH_ENV must be one of {', '.join(ENVIRONMENTS)}, got '{self.env}'")
        if self.max_body_bytes < 1024:
            out.append("CIRCULITH_MAX_BODY_BYTES must be at least 1024")
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            out.append(f"CIRCULITH_DATABASE_URL '{self.database_url}' is not a database URL")
            url = None
        for proxy in self.trusted_proxies:
            try:
                trusted_networks([proxy])
            except ValueError:
                out.append(f"CIRCULITH_TRUSTED_PROXIES: '{proxy}' is neither an IP address nor a network "
                           "(e.g. 10.0.0.5 or 10.0.0.0/8)")
        base = urlsplit(self.public_base_url)
        if base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment:
            out.append(f"CIRCULITH_PUBLIC_BASE_URL '{self.public_base_url}' is not an http(s) address such as "
                       "https://passports.example.org")
        if not self.production:
            return out
        if self.public_base_url == DEV_PUBLIC_BASE_URL:
            out.append("CIRCULITH_PUBLIC_BASE_URL is not set: give the registry's public address (e.g. "
                       "https://passports.example.org); QR codes on battery labels encode it")
        elif base.scheme != "https":
            out.append("CIRCULITH_PUBLIC_BASE_URL must be an https address in production")
        if self.secret_key == DEV_SECRET_KEY:
            out.append("CIRCULITH_SECRET_KEY is not set (the development key is public)")
        elif len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            out.append(f"CIRCULITH_SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters")
        elif len(set(self.secret_key)) < 8:
            out.append("CIRCULITH_SECRET_KEY has too few distinct characters to be random")
        if not self.allowed_hosts:
            out.append("CIRCULITH_ALLOWED_HOSTS is not set: list the host names this server answers to, "
                       "comma-separated (e.g. CIRCULITH_ALLOWED_HOSTS=passports.example.org,www.example.org); "
                       "requests for any other Host header are refused")
        elif set(self.allowed_hosts) == set(Settings.allowed_hosts):
            out.append("CIRCULITH_ALLOWED_HOSTS holds only the development defaults (127.0.0.1, localhost, "
                       "testserver): set it to the public host names of this server")
        elif any(h == "*" or h.startswith("*") for h in self.allowed_hosts):
            out.append("CIRCULITH_ALLOWED_HOSTS must name the hosts; wildcards are refused in production")
        elif "testserver" in self.allowed_hosts:
            out.append("CIRCULITH_ALLOWED_HOSTS must not contain 'testserver' in production")
        if url is not None and url.get_backend_name() == "sqlite":
            db = url.database or ""
            if not db or db == ":memory:":
                out.append("an in-memory SQLite database loses every record at restart")
            elif db.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")):
                out.append(f"the SQLite database {db} lies in a temporary directory")
        return out

    def check(self) -> None:
        """Raise :class:`CirculithError` listing every problem, if any."""
        found = self.problems()
        if found:
            raise CirculithError("unsafe or invalid server settings: " + "; ".join(found))


def random_secret_key() -> str:
    """A fresh secret key (for ``CIRCULITH_SECRET_KEY``)."""
    return secrets.token_urlsafe(48)
