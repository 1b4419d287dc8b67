"""Consignment lists in every format, the quarantine state, one decision per level, measurement files, offer checks."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from openpyxl import Workbook

from circulith.errors import InvalidInput, TransitionRefused
from circulith.ledger.events import EventKind
from circulith.ledger.state_machine import LifecycleState as S
from circulith.ledger.state_machine import check_transition
from circulith.recovery.handling_costs import handling_lines, load_handling_costs, plausibility_problems
from circulith.services.triage import attach_measurements
from circulith.triage.consignment import parse_consignment
from circulith.triage.grading import reconcile_levels
from circulith.triage.rules import load_rules

CODES = ["https://id.gs1.org/01/04012345000019/21/P1", "urn:uuid:5b0f9a52-3f7e-4c1e-9a57-0c6f2b1d8e11", "P3"]


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("data,name", [
    (("# truck 7\n" + "\n".join(CODES) + "\n\n").encode(), "scan.txt"),
    (("code;note\n" + "\n".join(f"{c};ok" for c in CODES) + "\n").encode(), "list.csv"),
    (json.dumps(CODES).encode(), "list.json"),
    (json.dumps({"identifiers": [{"battery_id": c} for c in CODES]}).encode(), "list.json"),
    (_xlsx([["Identifier", "Shipper"], *[[c, "DIS"] for c in CODES]]), "list.xlsx"),
    (_xlsx([[c] for c in CODES]), "misnamed.csv"),  # an Excel workbook under a .csv name is still read
])
def test_consignment_lists_in_every_format(data: bytes, name: str) -> None:
    assert [c for _, c in parse_consignment(data, name=name)] == CODES


def test_bad_consignment_lists_name_the_row() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_consignment(b'["P1", "P2"', name="cut.json")
    assert "truncated" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        parse_consignment(b"identifier,note\nP1,a\n,b\n", name="gap.csv")
    assert info.value.problems[0].row == 2 and info.value.problems[0].field == "identifier"
    with pytest.raises(InvalidInput) as info:
        parse_consignment(b"serial,note\nP1,a\n", name="x.csv")
    assert "no identifier column" in str(info.value)


def test_quarantine_holds_a_battery_until_recycling() -> None:
    assert check_transition("B", S.COLLECTED, EventKind.QUARANTINED) is S.QUARANTINED
    for kind in (EventKind.RECEIVED, EventKind.TESTED, EventKind.GRADED, EventKind.DISCHARGED):
        assert check_transition("B", S.QUARANTINED, kind) is S.QUARANTINED
    assert check_transition("B", S.QUARANTINED, EventKind.DISMANTLED) is S.DISMANTLED
    assert check_transition("B", S.QUARANTINED, EventKind.SHREDDED) is S.SHREDDED
    for kind in (EventKind.REPURPOSED, EventKind.REUSED, EventKind.INSTALLED):
        with pytest.raises(TransitionRefused):
            check_transition("B", S.QUARANTINED, kind)
    # a module tracked only through its pack is collected with it, then tested
    assert check_transition("M", S.MANUFACTURED, EventKind.COLLECTED) is S.COLLECTED


def _graded(rows: list[tuple[str, str, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"battery_id": b, "level": lvl, "parent_battery_id": p, "grade": g, "rule_id": f"R-{b}",
                          "application": "", "soh_low_pct": 70.0, "explanation": g} for b, lvl, p, g in rows])


def test_one_decision_per_level() -> None:
    out = reconcile_levels(_graded([
        ("P1", "pack", None, "quarantine"), ("M11", "module", "P1", "repurpose"), ("M12", "module", "P1", "repurpose"),
        ("P2", "pack", None, "repurpose"), ("M21", "module", "P2", "quarantine"), ("M22", "module", "P2", "reuse"),
        ("P3", "pack", None, "reuse"), ("M31", "module", "P3", "repurpose"), ("M32", "module", "P3", "repurpose"),
        ("P4", "pack", None, "repurpose"), ("M41", "module", "P4", "recycle"), ("M42", "module", "P4", "repurpose"),
    ])).set_index("battery_id")
    assert out.loc["P1", "decided_by"] == "P1-own-quarantine" and "as a whole" not in out.loc["P1", "decision"]
    assert (out.loc[["M11", "M12"], "grade"] == "quarantine").all()
    assert (out.loc[["M11", "M12"], "decided_by"] == "C1-inside-quarantined").all()
    assert out.loc["P2", "grade"] == "quarantine" and out.loc["P2", "decided_by"] == "P2-child-quarantine"
    assert out.loc["M22", "grade"] == "quarantine"  # inside a quarantined pack
    assert out.loc["P3", "grade"] == "repurpose" and out.loc["P3", "decided_by"] == "P3-uniform"
    assert out.loc["P4", "grade"] == "recycle" and out.loc["P4", "decided_by"] == "P4-mixed"
    assert out.loc["M42", "grade"] == "repurpose"  # a good module of a mixed pack stays regroupable


def test_capacity_test_results_replace_the_bms_soh(tmp_path) -> None:
    frame = pd.DataFrame({"battery_id": ["M1", "M2"], "rated_capacity_ah": [200.0, 200.0], "soh_pct": [90.0, 90.0]})
    path = tmp_path / "capacity.csv"
    path.write_text("battery_id,capacity_ah\nM1,156\n", encoding="utf-8")
    out = attach_measurements(frame, [path]).set_index("battery_id")
    unc = load_rules()["defaults"]["capacity_test_uncertainty_pct"]
    assert out.loc["M1", "soh_pct"] == pytest.approx(78.0) and out.loc["M1", "soh_source"] == "capacity_test"
    assert out.loc["M1", "soh_low_pct"] == pytest.approx(78.0 - unc)
    assert out.loc["M2", "soh_pct"] == 90.0 and out.loc["M2", "soh_source"] == "bms"
    path.write_text("battery_id,capacity_ah\nM9,156\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not being graded"):
        attach_measurements(frame, [path])


def test_handling_lines_and_plausibility() -> None:
    units = pd.DataFrame({"battery_id": ["A", "B"], "mass_kg": [432.0, 432.0], "damage_state": ["critical", "intact"]})
    lines = handling_lines(units)
    assert set(lines["battery_id"]) == {"A"}
    crit = load_handling_costs().query("damage_state == 'critical'")
    per_kg = crit[crit["basis"] == "per_kg"]["cost"].sum()
    per_unit = crit[crit["basis"] == "per_unit"]["cost"].sum()
    assert lines["cost_usd"].sum() == pytest.approx(per_kg * 432.0 + per_unit, abs=0.05)
    assert lines["source"].str.len().min() > 20
    declared = pd.DataFrame({"battery_id": ["A"], "chemistry": ["NMC622"], "mass_kg": [432.0],
                             "rated_energy_kwh": [60.0]})
    ok = plausibility_problems(pd.DataFrame({"battery_id": ["A"], "mass_kg": [440.0]}), declared)
    assert ok == []
    typo = plausibility_problems(pd.DataFrame({"battery_id": ["A"], "mass_kg": [4322.0]}), declared)
    assert typo[0].field == "mass_kg" and "declares 432" in typo[0].reason
    wrong = plausibility_problems(pd.DataFrame({"battery_id": ["A"], "chemistry": ["LFP"]}), declared)
    assert wrong[0].field == "chemistry"
    huge = plausibility_problems(pd.DataFrame({"battery_id": ["Z"], "mass_kg": [1e30]}), declared)
    assert "physical limit" in huge[0].reason


def test_handling_cost_table_says_what_is_sourced_and_derives_the_container_cost() -> None:
    """Each handling cost is sourced, derived from a published figure, or an assumption saying so.

    The P911 container line is derived from the published container value (25,000 EUR in 2022, Handelsblatt,
    August 2022) at the ECB's 2022 annual average rate (fx_rates.csv) over the stated number of uses.
    """
    import datetime as dt
    import re

    from circulith.recovery.prices import usd_per_unit

    costs = load_handling_costs()
    assert set(costs["status"]) <= {"sourced", "derived", "assumption"}
    for row in costs.itertuples():
        assert row.source.startswith("assumption:") == (row.status == "assumption"), row.item
        assert row.unit == {"per_kg": "USD/kg", "per_unit": "USD/unit"}[row.basis], row.item
    (p911,) = costs.query("item == 'sp376_packaging_p911'").itertuples()
    assert p911.status == "derived" and p911.basis == "per_unit" and "Handelsblatt" in p911.source
    eur = float(re.search(r"(\d+) EUR per container \(2022\)", p911.source_figure).group(1))
    uses = float(re.search(r"(\d+) uses per container", p911.source_figure).group(1))
    usd_per_eur = usd_per_unit("EUR", dt.date(2022, 8, 1))  # the ECB's 2022 annual average (fx_rates.csv)
    assert eur == 25000.0 and usd_per_eur == pytest.approx(1.0530)
    assert p911.cost == pytest.approx(eur * usd_per_eur / uses, abs=0.005)
