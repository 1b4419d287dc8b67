"""Bad input and abuse: a clear 4xx naming the field, nothing written, nothing leaked, no stack trace."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from circulith.api.settings import Settings
from circulith.auth.tokens import mint_session_token
from circulith.errors import CirculithError
from circulith.server import create_app

INJECTIONS = ["' OR '1'='1", "x'); DROP TABLE batteries;--", "<script>alert(1)</script>", "../../etc/passwd",
              "%00%27"]


def _counts(engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return tuple(c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("batteries", "events", "access_grants"))


def _no_trace(r) -> None:
    assert "Traceback" not in r.text and 'File "' not in r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]


def test_malformed_json_wrong_types_unknown_fields(clients, registry, scenario) -> None:
    c = clients[scenario.maker]
    before = _counts(registry[1])
    r = c.post("/api/v1/events", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["error"]["message"]
    _no_trace(r)
    r = c.post("/api/v1/events", json={"battery_id": scenario.own, "kind": "removed", "occurred_at": 12})
    assert r.status_code == 422
    r = c.post("/api/v1/events", json={"battery_id": scenario.own, "kind": "removed", "occurred_at": "2026-01-01T00:00:00Z",
                                       "actor_org_id": "EC"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "actor_org_id"
    assert r.json()["error"]["problems"][0]["reason"] == "unknown field"
    r = c.patch(f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"soh_pct": "high"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "values.soh_pct"
    r = c.patch(f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"document": 1}})
    assert r.status_code == 422
    r = c.get("/api/v1/passports", params={"limit": "many"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    r = c.get("/api/v1/passports", params={"cursor": "!!!not-a-cursor"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"
    assert _counts(registry[1]) == before


def test_oversize_body(clients, registry, scenario) -> None:
    c = clients[scenario.maker]
    before = _counts(registry[1])
    big = {"battery_id": scenario.own, "kind": "bms_snapshot", "occurred_at": "2026-01-01T00:00:00Z",
           "payload": {"blob": "x" * (3 * 1024 * 1024)}}
    r = c.post("/api/v1/events", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert _counts(registry[1]) == before


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_text_fields(clients, registry, scenario, payload) -> None:
    c = clients["DIS-RECUP"]
    before = _counts(registry[1])
    for r in (
        c.get(f"/api/v1/passports/{payload}"),
        c.get("/api/v1/resolve", params={"identifier": payload}),
        c.post("/api/v1/events", json={"battery_id": payload, "kind": "tested", "occurred_at": "2026-01-01T00:00:00Z"}),
        c.post("/api/v1/grants", json={"battery_id": payload, "purpose": "recycling", "justification": payload * 3}),
    ):
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        if r.status_code != 200:
            _no_trace(r)
        assert "<script>" not in r.text or r.headers["content-type"].startswith("application/json")
    # Search with injected filter values matches nothing, rather than everything.
    assert c.get("/api/v1/passports", params={"chemistry": payload, "model": payload}).json()["items"] == []
    page = clients[None].get(f"/p/{payload}")
    assert page.status_code in (404, 422) and "<script>alert" not in page.text
    assert _counts(registry[1]) == before


def test_injection_stored_is_escaped_on_pages(clients, scenario) -> None:
    c = clients["DIS-RECUP"]
    r = c.post("/api/v1/grants", json={"battery_id": scenario.custody, "purpose": "recycling",
                                       "justification": "<script>alert('x')</script> please"})
    assert r.status_code == 201
    page = clients["ORG-REGISTRY"].get("/dashboard/access")
    assert "<script>alert('x')</script>" not in page.text


def test_bad_keys_and_forged_sessions(clients, registry, scenario) -> None:
    app = registry[0]
    anon = TestClient(app)
    r = anon.get("/api/v1/passports", headers={"Authorization": "Bearer clk_000000000000_forged"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    _no_trace(r)
    assert anon.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    # A forged cookie (signed with another key) and a well-signed cookie for no session.
    forged, _ = mint_session_token("not-the-server-key-" * 3)
    assert anon.get("/api/v1/fleet/summary", cookies={"circulith_session": forged}).status_code == 401
    unknown, _ = mint_session_token(app.state.settings.secret_key)
    assert anon.get("/api/v1/fleet/summary", cookies={"circulith_session": unknown}).status_code == 401
    # Revoked and expired keys.
    owner = clients[scenario.maker]
    key = owner.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["read"]}).json()
    auth = {"Authorization": f"Bearer {key['secret']}"}
    assert anon.get("/api/v1/fleet/summary", headers=auth).status_code == 200
    # A read-only key cannot write.
    r = anon.post("/api/v1/events", headers=auth, json={"battery_id": scenario.own, "kind": "removed",
                                                         "occurred_at": "2026-11-01T00:00:00Z"})
    assert r.status_code == 403
    # Another organisation cannot revoke it; the owner can.
    assert clients["DIS-RECUP"].delete(f"/api/v1/api-keys/{key['key_id']}").status_code == 404
    assert owner.delete(f"/api/v1/api-keys/{key['key_id']}").status_code == 200
    r = anon.get("/api/v1/fleet/summary", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    key2 = owner.post("/api/v1/api-keys", json={"name": "old", "scopes": ["read"]}).json()
    with registry[1].begin() as conn:
        conn.execute(text("UPDATE api_keys SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE key_id = :k"),
                     {"k": key2["key_id"]})
    r = anon.get("/api/v1/fleet/summary", headers={"Authorization": f"Bearer {key2['secret']}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    # The key list never shows secrets.
    assert all(k["secret"] is None for k in owner.get("/api/v1/api-keys").json())


def test_csrf_required_for_session_writes(clients, scenario) -> None:
    c = clients[scenario.maker]
    r = c.http.patch(f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"soh_pct": 80.0}})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = c.http.patch(f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"soh_pct": 80.0}},
                     headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403


def test_brute_force_login_is_rate_limited(registry) -> None:
    app = create_app(registry[0].state.settings, engine=registry[1])  # its own limiter
    c = TestClient(app)
    codes = [c.post("/api/v1/auth/login", json={"email": "ec@demo.circulith", "password": f"guess{i}"}).status_code
             for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    r = c.post("/api/v1/auth/login", json={"email": "ec@demo.circulith", "password": "circulith-demo-2026"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right password waits
    # Unknown and known e-mails get the same answer (no user enumeration).
    c2 = TestClient(create_app(registry[0].state.settings, engine=registry[1]))
    a = c2.post("/api/v1/auth/login", json={"email": "nobody@demo.circulith", "password": "x"}).json()
    b = c2.post("/api/v1/auth/login", json={"email": "ec@demo.circulith", "password": "x"}).json()
    assert a == b


def test_other_orgs_ids(clients, scenario) -> None:
    # Another organisation's grant cannot be decided or seen; unknown IDs are 404 with the common shape.
    r = clients["ORG-REGISTRY"].post("/api/v1/grants/00000000-0000-0000-0000-000000000000/decision",
                                     json={"decision": "approve"})
    assert r.status_code == 404
    _no_trace(r)
    r = clients[None].get("/api/v1/passports/urn:uuid:00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_unsafe_production_settings_refused() -> None:
    with pytest.raises(CirculithError, match="SECRET_KEY is not set"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_ALLOWED_HOSTS": "passports.example.org",
                           "CIRCULITH_DATABASE_URL": "postgresql://db/circulith"})
    with pytest.raises(CirculithError, match="shorter than 32"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "short",
                           "CIRCULITH_ALLOWED_HOSTS": "passports.example.org"})
    with pytest.raises(CirculithError, match="wildcards"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "k9" * 30 + "abcdefgh",
                           "CIRCULITH_ALLOWED_HOSTS": "*", "CIRCULITH_DATABASE_URL": "postgresql://db/c"})
    with pytest.raises(CirculithError, match="temporary directory"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "Zq8" * 20 + "abcdefgh",
                           "CIRCULITH_ALLOWED_HOSTS": "passports.example.org",
                           "CIRCULITH_DATABASE_URL": "sqlite:////tmp/circulith.db"})
    with pytest.raises(CirculithError, match="CIRCULITH_PUBLIC_BASE_URL is not set"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "Zq8" * 20 + "abcdefgh",
                           "CIRCULITH_ALLOWED_HOSTS": "passports.example.org",
                           "CIRCULITH_DATABASE_URL": "postgresql://db/circulith"})
    with pytest.raises(CirculithError, match="must be an https address"):
        Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "Zq8" * 20 + "abcdefgh",
                           "CIRCULITH_ALLOWED_HOSTS": "passports.example.org",
                           "CIRCULITH_PUBLIC_BASE_URL": "http://passports.example.org",
                           "CIRCULITH_DATABASE_URL": "postgresql://db/circulith"})
    with pytest.raises(CirculithError, match="is not an http"):
        Settings.from_env({"CIRCULITH_PUBLIC_BASE_URL": "passports.example.org"})
    ok = Settings.from_env({"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "c2Vj-cmV0_LWtleS1mb3ItdGVzdHMtb25seS0x",
                            "CIRCULITH_ALLOWED_HOSTS": "passports.example.org",
                            "CIRCULITH_PUBLIC_BASE_URL": "https://passports.example.org/",
                            "CIRCULITH_DATABASE_URL": "postgresql://db/circulith"})
    assert ok.production and ok.cookie_secure
    assert ok.public_base_url == "https://passports.example.org"


def test_production_without_allowed_hosts_says_what_to_set() -> None:
    env = {"CIRCULITH_ENV": "production", "CIRCULITH_SECRET_KEY": "c2Vj-cmV0_LWtleS1mb3ItdGVzdHMtb25seS0x",
           "CIRCULITH_DATABASE_URL": "postgresql://db/circulith"}
    with pytest.raises(CirculithError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert "CIRCULITH_ALLOWED_HOSTS is not set" in message and "comma-separated" in message
    assert "testserver" not in message  # not the confusing complaint about a default the user never set
    with pytest.raises(CirculithError, match="only the development defaults"):
        Settings.from_env(env | {"CIRCULITH_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver"})
    # development keeps working without it
    assert "testserver" in Settings.from_env({}).allowed_hosts


def test_untrusted_host_refused(registry) -> None:
    r = TestClient(registry[0], base_url="http://evil.example").get("/api/v1/auth/me")
    assert r.status_code == 400
