"""Triage from the registry: grades with explanations, ledger events, passport updates, regrouping."""

from __future__ import annotations

import datetime as dt
import json

from circulith.cli.main import run
from circulith.services.demo import build_demo
from circulith.services.intake import principal_for_org
from circulith.services.registry import history, passport_document, verify
from circulith.services.triage import grade_registry
from circulith.store.database import create_db_engine, transaction
from circulith.store.fleet_queries import bms_summary_frame


def test_grading_the_registry_records_explained_grades(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'r.db'}")
    build_demo(engine, 120, seed=5, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        waiting = bms_summary_frame(s, lifecycle_states=("removed", "collected"))
    packs = waiting[waiting["level"] == "pack"]
    assert len(packs) > 0, "the demo fleet should have retired packs awaiting evaluation"

    out = grade_registry(engine, principal_for_org(engine, None))
    assert out.graded_packs == len(packs)
    # tested + graded on every pack and module (modules tracked only through their pack are collected first)
    modules = waiting[waiting["level"] == "module"]
    assert out.events_written >= 2 * (len(packs) + len(modules))
    assert out.graded_units == len(packs) + len(modules)
    grades = {p.battery_id: p for p in out.packs}
    for p in out.packs:
        assert p.grade in {"reuse", "repurpose", "recycle", "quarantine"}
        assert p.rule_id and p.explanation.startswith(p.grade)
        assert p.soh_low_pct <= p.soh_pct <= p.soh_high_pct
    # A thermal or crash history never yields a reusable grade.
    unsafe = waiting[(waiting["level"] == "pack") & (waiting["thermal_accident"] | (waiting["accident_count"] > 0))]
    for bid in unsafe["battery_id"]:
        assert grades[bid].grade in {"quarantine", "recycle"}

    some = next(iter(grades))
    passport, state = passport_document(engine, some)
    assert state["lifecycle_state"] == "evaluated"
    kinds = [e["kind"] for e in history(engine, some)]
    assert kinds[-2:] == ["tested", "graded"]
    graded = history(engine, some)[-1]["payload"]
    assert graded["grade"] == grades[some].grade and graded["rules_version"] == out.rules_version
    assert passport.dynamic.soh_pct.value == round(grades[some].soh_pct, 2)

    again = grade_registry(engine, principal_for_org(engine, None))
    assert again.graded_packs == 0 and again.events_written == 0
    assert verify(engine).ok


def test_triage_grade_from_registry_cli(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    build_demo(create_db_engine(url), 60, seed=9, today=dt.date(2026, 11, 1))
    assert run(["--db", url, "triage", "grade", "--from-registry", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["events_written"] == 0 and out["graded_packs"] >= 1
    # Measurement files (inspection, pulse) may accompany --from-registry; a BMS summary may not.
    bms = tmp_path / "bms.csv"
    bms.write_text("battery_id,soh_pct\nX,80\n", encoding="utf-8")
    assert run(["--db", url, "triage", "grade", "--from-registry", str(bms)]) == 2
    assert "not both" in capsys.readouterr().err


def test_repurposed_battery_gets_a_linked_successor_passport(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = create_db_engine(url)
    build_demo(engine, 80, seed=3, today=dt.date(2026, 11, 1))
    out = grade_registry(engine, principal_for_org(engine, None))
    pack = next(p.model_dump() for p in out.packs if p.grade in ("repurpose", "reuse"))
    new_id = "urn:uuid:5b0f9a52-3f7e-4c1e-9a57-0c6f2b1d8e11"
    args = ["--db", url, "passport", "successor", pack["battery_id"], "--status", "repurposed", "--new-id", new_id,
            "--operator", "REU-SECONDVOLT", "--category", "stationary", "--json"]
    assert run(args) == 0
    made = json.loads(capsys.readouterr().out)
    old_passport, old_state = passport_document(engine, pack["battery_id"])
    new_passport, new_state = passport_document(engine, new_id)
    assert made["predecessor_passport_id"] == old_passport.passport_id
    assert new_passport.predecessor_passport_id == old_passport.passport_id
    assert new_passport.category == "stationary" and new_passport.status == "repurposed"
    assert old_passport.status == "repurposed" and old_state["lifecycle_state"] == "second_life"
    assert new_state["lifecycle_state"] == "manufactured"
    # A second successor from the same original is refused: it is no longer awaiting evaluation.
    assert run(args[:8] + ["urn:uuid:6c1f0b63-4f8e-4d2f-8b68-1d7f3c2e9f22"] + args[9:]) == 2
    assert verify(engine).ok
