"""The whole OpenAPI fuzzed with hostile JSON: NaN, infinities, NUL, lone surrogates, deep nesting, huge numbers.

Each operation's body is generated from the spec by schemathesis' strategies (as in
tests/api/test_schemathesis.py), then every top-level field in turn is replaced by a hostile
value, written as raw JSON text (Python's reader accepts ``NaN`` and ``1e999``; the server must
not). Every answer must be below 500, and the keep-alive connection must keep answering.
"""

from __future__ import annotations

import json
import warnings
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient

HOSTILE = {
    "nan": "NaN", "infinity": "Infinity", "minus_infinity": "-Infinity", "overflow": "1e999",
    "huge_int": "9" * 5000, "nul": json.dumps("a\x00b"), "surrogate": '"\\ud800"',
    "deep": "[" * 3000 + "]" * 3000, "deep_object": '{"a": ' * 300 + "1" + "}" * 300,
}
MAX_FIELDS = 3
AT = "2026-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def writer_key(clients, scenario) -> str:
    r = clients[scenario.maker].post("/api/v1/api-keys", json={"name": "hostile", "scopes": ["read", "write"]})
    assert r.status_code == 201, r.text
    return r.json()["secret"]


def _cases(app):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for result in schema.get_all_operations():
            op = result.ok()
            if op.body:
                out.append((op, op.as_strategy().example()))
    return out


def _seeded(op, case, scenario):
    """Path and body that reach the write checks (a real battery the key's organisation holds)."""
    own = quote(scenario.own, safe="")
    if op.path.endswith("/dynamic"):
        return f"/api/v1/passports/{own}/dynamic", {"values": {"soh_pct": 90.0}}
    if op.path == "/api/v1/events":
        return op.path, {"battery_id": scenario.own, "kind": "bms_snapshot", "occurred_at": AT, "payload": {"v": 1}}
    if op.path == "/api/v1/grants":
        return op.path, {"battery_ids": [scenario.custody], "purpose": "repair", "justification": "a hostile probe"}
    return case.formatted_path, case.body if isinstance(case.body, dict) else {"x": 1}


def test_hostile_bodies_never_answer_5xx(registry, writer_key, scenario) -> None:
    app = registry[0]
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {writer_key}", "Content-Type": "application/json"}
    failures: list[str] = []
    cases = _cases(app)
    assert len(cases) >= 8, "the spec's operations with a JSON body"
    for op, case in cases:
        path, body = _seeded(op, case, scenario)
        fields = list(body)[:MAX_FIELDS] or ["x"]
        variants = [(key, body | {key: "__HOSTILE__"}) for key in fields]
        variants += [(f"{k}.*", body | {k: dict.fromkeys(v, "__HOSTILE__") or {"v": "__HOSTILE__"}})
                     for k, v in body.items() if isinstance(v, dict)]
        for name, raw in HOSTILE.items():
            for key, mutated in variants:
                text = json.dumps(mutated).replace('"__HOSTILE__"', raw)
                r = client.request(op.method.upper(), path, content=text, headers=headers,
                                   params=case.query or None)
                if r.status_code >= 500:
                    failures.append(f"{op.label} {key}={name}: {r.status_code} {r.text[:200]}")
                elif r.status_code >= 400:
                    assert r.json()["error"]["message"], (op.label, key, name)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200  # still answering
    assert not failures, "\n".join(failures[:30])
