"""Failed-login limits per account and per source, in memory, that a stranger cannot turn against a user.

Two policies, chosen by the key's prefix:

- **account** (``email:...``): after ``max_failures`` failures within ``window_s``, each further
  attempt waits an exponential back-off, ``backoff_base_s * 2**(n - max_failures)``, capped at
  ``backoff_cap_s``. The back-off is short and bounded: whoever causes the failures, the right
  password gets through at most ``backoff_cap_s`` after the last failure, and a success clears
  the account's count. A stranger therefore delays a user by seconds, never locks them out.
- **source** (``client:...``, the client address): a hard limit of ``source_max_failures``
  failures within ``source_window_s``; a source over it is refused until its oldest failure
  leaves the window, and its attempts no longer reach (nor count against) any account.

The client address is the TCP peer, or, only when that peer is a configured trusted proxy, the
first untrusted address of ``X-Forwarded-For`` read from the right (:func:`client_address`):
clients cannot spoof their address, and a proxy does not make every user share one counter.

One process only: behind several workers, each keeps its own counts (documented limitation).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

SOURCE_PREFIX = "client:"
"""Keys with this prefix follow the source policy; all others the account policy."""


class LoginLimiter:
    """Counts failures per account and per source.

    Parameters
    ----------
    max_failures : int
        Failures of one account within ``window_s`` before back-off starts [-].
    window_s : float
        Account window [s]: older failures are forgotten.
    clock : callable
        Monotonic clock [s] (injectable for tests).
    backoff_base_s : float
        First back-off of an account [s] (assumption: 5 s slows guessing to a crawl, not a user).
    backoff_cap_s : float
        Longest back-off of an account [s] (assumption: one minute at most, whoever fails).
    source_max_failures : int
        Failures one client address may make within ``source_window_s`` [-] (assumption: 50 lets an
        office behind one address mistype, stops a guesser).
    source_window_s : float
        Source window [s].
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, *, backoff_base_s: float = 5.0,
                 backoff_cap_s: float = 60.0, source_max_failures: int = 50, source_window_s: float = 900.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.source_max_failures = source_max_failures
        self.source_window_s = source_window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _window(self, key: str) -> float:
        return self.source_window_s if key.startswith(SOURCE_PREFIX) else self.window_s

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        window = self._window(key)
        while q and now - q[0] >= window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
        return q

    def _wait(self, key: str, q: deque[float], now: float) -> float:
        if key.startswith(SOURCE_PREFIX):
            if len(q) >= self.source_max_failures:
                return self.source_window_s - (now - q[-self.source_max_failures])
            return 0.0
        over = len(q) - self.max_failures
        if over < 0:
            return 0.0
        backoff = min(self.backoff_base_s * 2.0 ** over, self.backoff_cap_s)
        return max(0.0, backoff - (now - q[-1]))

    def retry_after_s(self, *keys: str) -> float:
        """Seconds to wait before another attempt is allowed for any of ``keys`` (0 if allowed)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                wait = max(wait, self._wait(key, self._trim(key, now), now))
        return wait

    def failed(self, *keys: str) -> None:
        """Record a failed attempt under every key."""
        now = self._clock()
        with self._lock:
            for key in keys:
                q = self._trim(key, now)
                q.append(now)
                self._failures[key] = q
                cap = max(self.source_max_failures, self.max_failures + 32)
                while len(q) > cap:  # bounded memory per key
                    q.popleft()

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the account, after a correct password)."""
        with self._lock:
            self._failures.pop(key, None)


def _parse(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return None


def trusted_networks(specs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse trusted-proxy addresses or networks (``10.0.0.5``, ``10.0.0.0/8``, ``::1``).

    Raises
    ------
    ValueError
        For an entry that is neither an address nor a network.
    """
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in specs if s.strip())


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The client's address for rate limiting: ``X-Forwarded-For`` is believed only from trusted proxies.

    Parameters
    ----------
    peer : str or None
        The TCP peer's address.
    forwarded_for : str or None
        The ``X-Forwarded-For`` header (comma-separated, the nearest hop last).
    trusted : tuple of networks
        Proxies whose header is believed (:func:`trusted_networks`); empty: the header is ignored.

    Returns
    -------
    str
        The first address, read from the right, that is not a trusted proxy (the peer when the
        peer itself is untrusted or the header is absent or malformed).
    """
    peer = peer or "unknown"

    def is_trusted(addr: str) -> bool:
        ip = _parse(addr)
        return ip is not None and any(ip in net for net in trusted)

    if not trusted or not forwarded_for or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _parse(hop) is None:
            return peer  # a malformed header: fall back to the proxy itself, never to a forged value
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer
