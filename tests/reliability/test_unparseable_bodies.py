"""Bodies the server cannot decode answer 422 naming the body and the reason, never a bare 400 (issue 14)."""

from __future__ import annotations

import pytest

EVENT = b'{"battery_id": "x", "kind": "repaired", "occurred_at": "2026-01-01T00:00:00Z"}'


def _invalid_body(r, reason: str) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err["field"] == "body"
    assert err["problems"][0]["field"] == "body" and reason in err["problems"][0]["reason"], err
    assert reason in err["message"]


@pytest.mark.parametrize("body", [b"{\xff}", b'{"battery_id": "\xc3("}'])
def test_a_body_that_is_not_utf8_is_422(clients, scenario, body) -> None:
    r = clients[scenario.maker].post("/api/v1/events", content=body, headers={"content-type": "application/json"})
    _invalid_body(r, "not UTF-8")


def test_malformed_json_names_the_body_and_the_offset(clients, scenario) -> None:
    r = clients[scenario.maker].post("/api/v1/events", content=b'{"kind": }', headers={"content-type": "application/json"})
    _invalid_body(r, "malformed JSON at character 9")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_wrong_content_type_is_422_saying_what_to_send(clients, scenario, content_type) -> None:
    r = clients[scenario.maker].post("/api/v1/events", content=EVENT, headers={"content-type": content_type})
    _invalid_body(r, "Content-Type: application/json")
    assert content_type in r.json()["error"]["message"]


def test_a_missing_content_type_is_422(clients, scenario) -> None:
    c = clients[scenario.maker]
    r = c.http.post("/api/v1/events", content=EVENT, headers={"X-CSRF-Token": c.csrf})
    _invalid_body(r, "no Content-Type was given")
