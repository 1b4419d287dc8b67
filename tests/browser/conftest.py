"""Fixtures of the browser tests: a live server on loopback over the API tests' registry."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from api.conftest import registry, scenario  # noqa: F401 - shared fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(registry) -> Iterator[str]:  # noqa: F811
    """Base URL of the app served by uvicorn on 127.0.0.1 (stopped at the end of the module)."""
    import dataclasses

    import uvicorn

    from circulith.server import create_app

    port = _free_port()
    settings = dataclasses.replace(registry[0].state.settings, allowed_hosts=("127.0.0.1", "localhost"),
                                   public_base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, engine=registry[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
