"""A sliding-window limiter for failed logins (brute-force protection), in memory.

Failures are counted per key (the e-mail address and, separately, the client address); once a key
has ``max_failures`` failures within ``window_s`` seconds, further attempts are refused until the
oldest failure leaves the window. A successful login clears the e-mail's count. One process only:
behind several workers, each keeps its own counts (documented limitation).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    """Counts failures per key within a time window.

    Parameters
    ----------
    max_failures : int
        Failures allowed within the window [-].
    window_s : float
        Window length [s].
    clock : callable
        Monotonic clock [s] (injectable for tests).
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def retry_after_s(self, *keys: str) -> float:
        """Seconds to wait before another attempt is allowed for any of ``keys`` (0 if allowed)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                q = self._trim(key, now)
                if len(q) >= self.max_failures:
                    wait = max(wait, self.window_s - (now - q[0]))
        return wait

    def failed(self, *keys: str) -> None:
        """Record a failed attempt under every key."""
        now = self._clock()
        with self._lock:
            for key in keys:
                self._trim(key, now).append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        with self._lock:
            self._failures.pop(key, None)
