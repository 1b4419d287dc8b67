"""``circulith ledger`` checkpoint commands and the ``/api/v1/ledger`` routes end to end (SQLite demo registry)."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from circulith.api.settings import Settings
from circulith.cli.main import run
from circulith.ledger import merkle
from circulith.server import create_app
from circulith.store.database import create_db_engine


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    path = tmp_path / "demo.db"
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CIRCULITH_KEY_DIR", str(tmp_path / "keys"))
    assert run(["--db", url, "demo", "--batteries", "20", "--no-serve", "--json"]) == 0
    return url, path


def test_checkpoint_then_verify_then_truncation_is_named(demo, tmp_path, capsys):
    url, path = demo
    assert run(["--db", url, "ledger", "keygen", "--org", "ORG-REGISTRY"]) == 0
    held = tmp_path / "held.json"
    assert run(["--db", url, "ledger", "checkpoint", "--out", str(held)]) == 0
    cp = json.loads(held.read_text())
    size = cp["tree_head"]["tree_size"]
    assert size > 100 and cp["tree_head"]["jws"].count(".") == 2
    capsys.readouterr()
    assert run(["--db", url, "ledger", "verify", "--checkpoint", str(held)]) == 0
    assert "extends the checkpoint" in capsys.readouterr().out
    assert run(["--db", url, "ledger", "verify", "--checkpoint", str(held), "--only-after"]) == 0
    assert "0 events after the checkpoint" in capsys.readouterr().out
    # An insider deletes the last 3 events and moves the head and the battery tips back consistently.
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER events_no_delete")
    victims = con.execute("SELECT battery_id, battery_seq FROM events ORDER BY global_seq DESC LIMIT 3").fetchall()
    con.execute("DELETE FROM events WHERE global_seq > ?", (size - 3,))
    seq, sha = con.execute("SELECT global_seq, global_chain_sha256 FROM events ORDER BY global_seq DESC "
                           "LIMIT 1").fetchone()
    con.execute("UPDATE ledger_head SET global_seq = ?, global_chain_sha256 = ?", (seq, sha))
    for bat, _ in victims:
        row = con.execute("SELECT battery_seq, battery_chain_sha256 FROM events WHERE battery_id = ? ORDER BY "
                          "battery_seq DESC LIMIT 1", (bat,)).fetchone()
        con.execute("UPDATE batteries SET last_seq = ?, last_chain_sha256 = ? WHERE battery_id = ?", (*row, bat))
    con.commit()
    con.close()
    capsys.readouterr()
    assert run(["--db", url, "ledger", "verify", "--checkpoint", str(held)]) == 2
    out = capsys.readouterr()
    assert f"global #{size - 2}" in out.out and "removed" in out.out
    assert "does not verify against the checkpoint" in out.err


def test_checkpoint_without_a_key_is_a_clear_error(demo, capsys):
    url, _ = demo
    assert run(["--db", url, "ledger", "checkpoint"]) == 2
    assert "no active signing key" in capsys.readouterr().err


def test_api_serves_tree_heads_proofs_and_keys_that_verify(demo, tmp_path):
    url, _ = demo
    assert run(["--db", url, "ledger", "keygen", "--org", "ORG-REGISTRY"]) == 0
    assert run(["--db", url, "ledger", "checkpoint", "--out", str(tmp_path / "a.json")]) == 0
    engine = create_db_engine(url)
    app = create_app(Settings(database_url=url, env="test"), engine=engine)
    http = TestClient(app)
    head = http.get("/api/v1/ledger/tree-head").json()
    size = head["tree_size"]
    assert http.get(f"/api/v1/ledger/tree-head?tree_size={size}").json() == head
    assert http.get(f"/api/v1/ledger/tree-head?tree_size={size + 1}").status_code == 404
    keys = http.get("/api/v1/ledger/keys").json()
    assert [k["key_id"] for k in keys] == [head["key_id"]] and keys[0]["jwk"]["crv"] == "Ed25519"
    first = http.get("/api/v1/ledger/inclusion", params={"event_id": "nope"})
    assert first.status_code == 404
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    event_id = con.execute("SELECT event_id FROM events WHERE global_seq = 17").fetchone()[0]
    con.close()
    inc = http.get("/api/v1/ledger/inclusion", params={"event_id": event_id, "tree_size": size}).json()
    assert inc["leaf_index"] == 16 and inc["root_sha256"] == head["root_sha256"]
    assert merkle.verify_inclusion(bytes.fromhex(inc["leaf_hash"]), 16, size, [bytes.fromhex(p) for p in inc["path"]],
                                   bytes.fromhex(head["root_sha256"]))
    cons = http.get("/api/v1/ledger/consistency", params={"first": 40, "second": size}).json()
    assert merkle.verify_consistency(40, size, bytes.fromhex(cons["first_root_sha256"]),
                                     bytes.fromhex(head["root_sha256"]), [bytes.fromhex(p) for p in cons["proof"]])
    assert http.get("/api/v1/ledger/consistency", params={"first": size + 5}).status_code == 422
    engine.dispose()


def test_signed_passport_round_trip_through_the_cli(demo, tmp_path, capsys):
    url, path = demo
    con = sqlite3.connect(path)
    orgs = [r[0] for r in con.execute("SELECT DISTINCT actor_org_id FROM events")]
    pack = con.execute("SELECT battery_id FROM batteries WHERE level = 'pack' LIMIT 1").fetchone()[0]
    con.close()
    for org in orgs:
        assert run(["--db", url, "ledger", "keygen", "--org", org]) == 0
    assert run(["--db", url, "ledger", "sign-events"]) == 0
    assert run(["--db", url, "ledger", "verify-signatures"]) == 0
    bundle = tmp_path / "passport.json"
    assert run(["--db", url, "ledger", "export-passport", pack, "--out", str(bundle)]) == 0
    capsys.readouterr()
    assert run(["ledger", "verify-passport", str(bundle)]) == 0  # offline: no database named
    engine = create_db_engine(url)
    http = TestClient(create_app(Settings(database_url=url, env="test"), engine=engine))
    from urllib.parse import quote

    status = http.get(f"/api/v1/ledger/passports/{quote(pack, safe='')}/verification").json()
    assert status["verifies"] is True, status
    assert http.get(f"/api/v1/ledger/passports/{quote(pack, safe='')}/signed").status_code in (401, 403)
    engine.dispose()
    assert "verifies" in capsys.readouterr().out
    data = json.loads(bundle.read_text())
    data["status"] = "waste"
    doc = json.loads(data["document"]) | {"model": "forged"}
    data["document"] = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    bundle.write_text(json.dumps(data))
    assert run(["ledger", "verify-passport", str(bundle)]) == 2
    assert "registration recorded" in capsys.readouterr().err
    bundle.write_text("{not json")
    assert run(["ledger", "verify-passport", str(bundle)]) == 2


def _serve(url: str) -> tuple[uvicorn.Server, threading.Thread, str]:

    from tests.conftest import wait_for

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(database_url=url, env="test"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 20)
    return server, thread, f"http://127.0.0.1:{port}"


def test_remote_head_inconsistent_with_a_held_checkpoint_is_warned(demo, tmp_path, capsys):
    url, path = demo
    assert run(["--db", url, "ledger", "keygen", "--org", "ORG-REGISTRY"]) == 0
    held = tmp_path / "held.json"
    assert run(["--db", url, "ledger", "checkpoint", "--out", str(held)]) == 0
    server, thread, base = _serve(url)
    try:
        capsys.readouterr()
        assert run(["--db", url, "ledger", "verify", "--checkpoint", str(held), "--remote", base]) == 0
        assert "consistent with the held checkpoint" in " ".join(capsys.readouterr().out.split())
        seen = tmp_path / "seen.json"
        assert run(["ledger", "watch", "--remote", base, "--held", str(seen)]) == 0  # a participant, no database
        assert run(["ledger", "watch", "--remote", base, "--held", str(seen)]) == 0
        # The registry rewrites its first event consistently and signs a new head over the rewrite.
        con = sqlite3.connect(path)
        con.execute("DROP TRIGGER events_no_update")
        row = con.execute("SELECT event_id, battery_id, battery_seq, global_seq, kind, occurred_at, actor_org_id, "
                          "site_id, payload_json FROM events WHERE global_seq = 1").fetchone()
        con.commit()
        con.close()
        from circulith.ledger.hashing import chain_sha256, content_sha256, content_text

        forged_payload = json.dumps(json.loads(row[8]) | {"forged": True}, sort_keys=True, separators=(",", ":"))
        digest = content_sha256(content_text(row[0], row[1], row[4], row[5], row[6], row[7], forged_payload), row[2],
                                row[3])
        con = sqlite3.connect(path)
        con.execute("UPDATE events SET payload_json = ?, content_sha256 = ? WHERE global_seq = 1", (forged_payload, digest))
        con.commit()
        con.close()
        with sqlite3.connect(path) as con:
            rows = con.execute("SELECT global_seq, battery_id, battery_seq, content_sha256 FROM events "
                               "ORDER BY global_seq").fetchall()
            g_prev, b_prev = "0" * 64, {}
            for gseq, bat, _bseq, c_sha in rows:
                bp = b_prev.get(bat, "0" * 64)
                b_chain, g_chain = chain_sha256(bp, c_sha), chain_sha256(g_prev, c_sha)
                con.execute("UPDATE events SET battery_prev_sha256 = ?, battery_chain_sha256 = ?, global_prev_sha256 = ?, "
                            "global_chain_sha256 = ? WHERE global_seq = ?", (bp, b_chain, g_prev, g_chain, gseq))
                b_prev[bat], g_prev = b_chain, g_chain
            for bat, tip in b_prev.items():
                con.execute("UPDATE batteries SET last_chain_sha256 = ? WHERE battery_id = ?", (tip, bat))
            con.execute("UPDATE ledger_head SET global_chain_sha256 = ?", (g_prev,))
            con.execute("DELETE FROM tree_heads")
        assert run(["--db", url, "ledger", "verify"]) == 0  # the rewrite is consistent: the chains agree
        assert run(["--db", url, "ledger", "checkpoint"]) == 0  # and the operator signs it
        capsys.readouterr()
        assert run(["--db", url, "ledger", "verify", "--checkpoint", str(held), "--remote", base]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "WARNING" in out and "inconsistent with the held checkpoint" in out
        assert "global #1" in out
        assert run(["ledger", "watch", "--remote", base, "--held", str(seen)]) == 2
        assert "rewrote its history" in " ".join(capsys.readouterr().err.split())
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_schedule_keys_and_revocation_through_the_cli(demo, tmp_path, capsys):
    url, _ = demo
    assert run(["--db", url, "ledger", "keygen", "--org", "ORG-REGISTRY"]) == 0
    out_dir = tmp_path / "heads"
    assert run(["--db", url, "ledger", "schedule", "--interval", "1", "--count", "2", "--out-dir", str(out_dir)]) == 0
    files = sorted(out_dir.glob("checkpoint-*.json"))
    assert len(files) == 1  # the ledger did not grow between the two rounds: one file
    assert run(["--db", url, "ledger", "keygen", "--org", "ORG-REGISTRY"]) == 0  # rotation
    capsys.readouterr()
    assert run(["--db", url, "ledger", "keys", "--json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert [k["status"] for k in keys] == ["retired", "active"]
    assert run(["--db", url, "ledger", "revoke-key", keys[1]["key_id"], "--reason", "lost laptop"]) == 0
    assert run(["--db", url, "ledger", "checkpoint"]) == 2  # no active key any more
    assert "no active signing key" in capsys.readouterr().err
    assert run(["--db", url, "ledger", "verify", "--checkpoint", str(files[0])]) == 0  # retired key: still valid
    assert run(["--db", url, "ledger", "revoke-key", "nope", "--reason", "x"]) == 2
