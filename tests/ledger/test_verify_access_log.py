"""`ledger verify` checks the chained access log too: an edited log entry fails verification (issue 14 item 6)."""

from __future__ import annotations

import json
import sqlite3

from circulith.cli.main import run


def test_ledger_verify_names_an_edited_access_log_entry(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run(["--db", db, "demo", "--batteries", "20", "--no-serve", "--json"]) == 0
    capsys.readouterr()
    con = sqlite3.connect(tmp_path / "demo.db")
    maker, battery = con.execute("select manufacturer_id, battery_id from batteries limit 1").fetchone()
    con.close()
    assert run(["--db", db, "--as", maker, "passport", "show", battery, "--level", "legitimate", "--json"]) == 0
    capsys.readouterr()
    assert run(["--db", db, "ledger", "verify", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["access_log"]["ok"] and out["access_log"]["entries_checked"] >= 1
    con = sqlite3.connect(tmp_path / "demo.db")
    con.execute("update access_log set org_id = 'SOMEONE-ELSE' where entry_id = (select max(entry_id) from access_log)")
    con.commit()
    con.close()
    assert run(["--db", db, "ledger", "verify"]) == 2
    assert "access log" in capsys.readouterr().err
