"""Validation at write: stored data stays readable (issue 14 item 2), through the API."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from circulith.ledger.payload_checks import MAX_PAYLOAD_DEPTH, payload_problems
from circulith.passport.model import DynamicCondition, readable_dynamic

AT = "2026-11-01T00:00:00Z"


@pytest.mark.parametrize(("payload", "field"), [
    ({"soh_pct": 150.0}, "payload.soh_pct"),
    ({"soh_pct": -5}, "payload.soh_pct"),
    ({"soh_pct": 1e308}, "payload.soh_pct"),
    ({"soh_pct": "NaN"}, "payload.soh_pct"),
    ({"soh_pct": "inf"}, "payload.soh_pct"),
    ({"soh_pct": float("nan")}, "payload.soh_pct"),
    ({"full_cycles": -1}, "payload.full_cycles"),
    ({"deep_discharge_events": 2.5}, "payload.deep_discharge_events"),
    ({"note": float("inf")}, "payload.note"),
    ({"note": "a\x00b"}, "payload.note"),
    ({"note": "\ud800"}, "payload.note"),
    ({"n": 10**40}, "payload.n"),
    ({"accident": {"kind": "meteor"}}, "payload.accident.kind"),
])
def test_payload_refused_naming_the_field(payload: dict, field: str) -> None:
    problems = payload_problems(payload)
    assert problems and problems[0].field == field, problems


def test_depth_and_size_limits() -> None:
    deep: dict = {}
    node = deep
    for _ in range(MAX_PAYLOAD_DEPTH + 1):
        node["x"] = {}
        node = node["x"]
    assert "deeper" in payload_problems(deep)[0].reason
    assert "bytes" in payload_problems({"blob": "x" * 70_000})[0].reason
    assert payload_problems({"soh_pct": 88.5, "module_soh_pct": [88.1, 87.9], "accident": {"kind": "crash"}}) == []


def test_a_stored_invalid_value_is_shown_invalid_not_fatal() -> None:
    raw = {"soh_pct": {"value": 150.0, "updated_at": "2026-01-01T00:00:00Z"},
           "full_cycles": {"value": 900, "updated_at": "2026-01-01T00:00:00Z"}}
    valid, invalid = readable_dynamic(raw)
    assert invalid == ["soh_pct"] and set(valid) == {"full_cycles"}
    DynamicCondition.model_validate(valid)


def _patch(clients, scenario, values):
    return clients[scenario.maker].patch(f"/api/v1/passports/{quote(scenario.own, safe='')}/dynamic",
                                         json={"values": values})


@pytest.mark.parametrize("values", [{"soh_pct": 150}, {"soh_pct": -5}, {"soh_pct": 1e308}, {"full_cycles": -3}])
def test_patch_dynamic_out_of_range_is_422_and_writes_nothing(clients, scenario, values) -> None:
    head = clients["ORG-REGISTRY"].get("/api/v1/ledger/head").json()
    r = _patch(clients, scenario, values)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == f"values.{next(iter(values))}"
    assert clients["ORG-REGISTRY"].get("/api/v1/ledger/head").json() == head
    assert clients[scenario.maker].get(f"/api/v1/passports/{quote(scenario.own, safe='')}").status_code == 200


@pytest.mark.parametrize("raw", [
    '{"soh_pct": NaN}', '{"soh_pct": Infinity}', '{"soh_pct": -Infinity}', '{"soh_pct": 1e999}',
])
def test_non_finite_json_in_dynamic_is_422(clients, scenario, raw) -> None:
    c = clients[scenario.maker]
    r = c.http.patch(f"/api/v1/passports/{quote(scenario.own, safe='')}/dynamic",
                     content='{"values": ' + raw + "}", headers={"X-CSRF-Token": c.csrf,
                                                                 "Content-Type": "application/json"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("payload_text", [
    '{"note": NaN}', '{"note": Infinity}', '{"note": 1e999}', '{"note": "\\ud800"}', '{"note": "a\\u0000b"}',
    '{"n": ' + "9" * 5000 + "}", '{"x": ' + "[" * 300 + "]" * 300 + "}",
])
def test_hostile_event_payloads_are_4xx_and_the_history_stays_readable(clients, scenario, payload_text) -> None:
    c = clients[scenario.maker]
    body = '{"battery_id": ' + json.dumps(scenario.own) + ', "kind": "bms_snapshot", "occurred_at": "' + AT + \
           '", "payload": ' + payload_text + "}"
    r = c.http.post("/api/v1/events", content=body, headers={"X-CSRF-Token": c.csrf,
                                                              "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["code"] in ("invalid_input", "bad_request")
    assert c.get(f"/api/v1/passports/{quote(scenario.own, safe='')}/events").status_code == 200
    assert c.get("/api/v1/auth/me").status_code == 200  # the same connection still answers


def test_naive_timestamps_are_refused(clients, scenario) -> None:
    r = clients[scenario.maker].post("/api/v1/events", json={"battery_id": scenario.own, "kind": "bms_snapshot",
                                                             "occurred_at": "2026-11-01T00:00:00",
                                                             "payload": {"soh_pct": 90.0}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "occurred_at", r.text
