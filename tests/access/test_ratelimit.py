"""Login lockout per account and per source; X-Forwarded-For only from trusted proxies (issue 14 item 6)."""

from __future__ import annotations

from circulith.auth.ratelimit import LoginLimiter, client_address, trusted_networks


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_stranger_delays_an_account_by_a_bounded_back_off_only() -> None:
    clock = Clock()
    lim = LoginLimiter(5, 300.0, clock, backoff_base_s=5.0, backoff_cap_s=60.0, source_max_failures=1000)
    account = "email:victim@example.org"
    waits = []
    for i in range(40):  # a stranger guesses from ever new addresses, as fast as allowed
        wait = lim.retry_after_s(account, f"client:198.51.100.{i}")
        clock.t += wait
        lim.failed(account, f"client:198.51.100.{i}")
        waits.append(wait)
    assert waits[:5] == [0.0] * 5
    assert waits[5:9] == [5.0, 10.0, 20.0, 40.0]  # exponential
    assert max(waits) == 60.0  # and capped: never locked out
    clock.t += 60.0
    assert lim.retry_after_s(account, "client:203.0.113.7") == 0.0  # the user gets through
    lim.succeeded(account)
    assert lim.retry_after_s(account) == 0.0


def test_a_source_over_its_hard_limit_is_refused_and_no_longer_reaches_accounts() -> None:
    clock = Clock()
    lim = LoginLimiter(5, 300.0, clock, source_max_failures=10, source_window_s=900.0)
    src = "client:192.0.2.9"
    for i in range(10):
        lim.failed(f"email:user{i}@example.org", src)  # spraying one password over many accounts
    assert lim.retry_after_s("email:user99@example.org", src) == 900.0
    assert lim.retry_after_s("email:user0@example.org", "client:192.0.2.10") == 0.0  # others unaffected
    clock.t += 901
    assert lim.retry_after_s(src) == 0.0


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = trusted_networks(["10.0.0.0/8", "::1"])
    assert client_address("203.0.113.5", "1.2.3.4", proxies) == "203.0.113.5"  # untrusted peer: header ignored
    assert client_address("10.1.2.3", "198.51.100.7", proxies) == "198.51.100.7"
    # A client forging a header in front of the proxy chain: the rightmost untrusted hop counts.
    assert client_address("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", proxies) == "198.51.100.7"
    assert client_address("10.1.2.3", "not-an-ip", proxies) == "10.1.2.3"
    assert client_address("10.1.2.3", "198.51.100.7", ()) == "10.1.2.3"  # no proxies configured
    assert client_address(None, None, proxies) == "unknown"
