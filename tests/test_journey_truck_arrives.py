"""Journey 1 of shared/SCENARIOS.md: a truck arrives at the recycler.

Packs arrive from a dismantler; the analyst scans or types their codes (GS1 Digital Link, GB/T 34014,
passport URN); circulith resolves them, records receipt and custody, flags the packs whose BMS history
shows a thermal event and the one with no traceability data, grades everything in seconds (unsafe
packs to quarantine, none reusable), regroups second-life modules, and prices the rest for recycling
with a line-by-line offer. Nothing is typed twice.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from circulith.cli.main import run
from circulith.errors import InvalidInput
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.recovery.pricing import price_fleet
from circulith.services.demo import build_demo
from circulith.services.intake import principal_for_org, receive
from circulith.services.registry import passport_document, verify
from circulith.services.triage import grade_registry
from circulith.store.database import create_db_engine, transaction
from circulith.store.fleet_queries import bms_summary_frame
from circulith.store.ledger_store import append_events
from circulith.store.registry import register_passports

RECYCLER = "REC-HYDROLUX"


@pytest.fixture
def yard(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'j1.db'}")
    build_demo(engine, 250, seed=21, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        collected = bms_summary_frame(s, lifecycle_states=("collected",), include_modules=False)
    held = collected[collected["custodian_org_id"].str.startswith("DIS-")
                     & ~collected["thermal_accident"] & (collected["accident_count"] == 0)]
    truck = held.head(8)
    assert len(truck) == 8, "the demo fleet should hold collected packs at dismantlers"
    at = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    # Two packs' last BMS readings report a thermal event (venting) before they were sent.
    events = [LedgerEvent(battery_id=bid, kind=EventKind.BMS_SNAPSHOT, occurred_at=at, actor_org_id="DIS-KREIS",
                          payload={"accident": {"kind": "thermal", "description": "cell venting"}})
              for bid in truck["battery_id"].iloc[:2]]
    # One pack comes with a passport and no history at all.
    orphan = example_passport("990001", seed=99)
    with transaction(engine) as s:
        append_events(s, events)
        register_passports(s, [orphan], actor_org_id="OEM-RHEIN")
    with transaction(engine) as s:
        append_events(s, [
            LedgerEvent(battery_id=orphan.battery_id, kind=EventKind.PLACED_ON_MARKET, occurred_at=at,
                        actor_org_id="OEM-RHEIN"),
            LedgerEvent(battery_id=orphan.battery_id, kind=EventKind.COLLECTED, occurred_at=at + dt.timedelta(days=1),
                        actor_org_id="DIS-KREIS"),
        ])
    return engine, truck, orphan


def test_a_truck_is_received_flagged_graded_and_priced(yard, tmp_path, capsys):
    engine, truck, orphan = yard
    # Scanned: GS1 Digital Link for most, the GB/T 34014 code from a damaged label, the passport URN.
    with transaction(engine) as s:
        from circulith.store.registry import get_passport

        passports = [get_passport(s, bid) for bid in truck["battery_id"]]
    codes = [p.battery_id for p in passports[:6]] + [passports[6].identifiers[0], passports[7].passport_id,
                                                     orphan.identifiers[0]]
    report = receive(engine, principal_for_org(engine, RECYCLER), codes, site_id="REC-HYDROLUX:intake")
    assert len(report.received) == 9
    for bid in [*truck["battery_id"], orphan.battery_id]:
        _, state = passport_document(engine, bid)
        assert state["custodian_org_id"] == RECYCLER
    thermal = list(truck["battery_id"].iloc[:2])
    assert all(any("thermal" in r for r in report.flags[b]) for b in thermal)
    assert any("traceability" in r for r in report.flags[orphan.battery_id])
    assert sum(1 for reasons in report.flags.values() if any("thermal" in r for r in reasons)) == 2

    graded = grade_registry(engine, principal_for_org(engine, RECYCLER), custodian_org_id=RECYCLER)
    grades = {p.battery_id: p.model_dump() for p in graded.packs}
    assert {*truck["battery_id"], orphan.battery_id} <= set(grades)  # with the intake already on site
    for bid in thermal:
        assert grades[bid]["grade"] == "quarantine", grades[bid]["explanation"]
    assert grades[orphan.battery_id]["grade"] != "reuse"
    for p in graded.packs:
        assert p.explanation and p.rule_id

    to_recycle = [p.model_dump() for p in graded.packs if p.grade in ("recycle", "quarantine")]
    offers = price_fleet(pd.DataFrame({"battery_id": [p["battery_id"] for p in to_recycle],
                                       "chemistry": [p["chemistry"] for p in to_recycle], "form": "pack",
                                       "energy_kwh": [p["rated_energy_kwh"] for p in to_recycle]}),
                         logistics_usd_per_kg=0.2, margin_fraction=0.1)
    lines = offers.set_index("battery_id")
    for bid in thermal:
        row = lines.loc[bid]
        assert row["offer_usd"] == pytest.approx(row["revenue_usd"] - row["processing_cost_usd"]
                                                 - row["logistics_usd"] - row["margin_usd"], abs=0.01)
    assert verify(engine).ok

    # The same consignment through the CLI: already held now, nothing recorded twice.
    url = str(engine.url)
    assert run(["--db", url, "receive", *codes[:3], "--org", RECYCLER, "--json"]) == 0
    assert '"already_held"' in capsys.readouterr().out


def test_an_unreadable_code_rejects_the_whole_consignment(yard):
    engine, truck, _ = yard
    codes = [truck["battery_id"].iloc[0], "0ABPE0110000000000000000", "https://id.gs1.org/01/04012345000019/21/X"]
    with pytest.raises(InvalidInput) as info:
        receive(engine, principal_for_org(engine, RECYCLER), codes)
    assert {p.row for p in info.value.problems} == {2, 3}
    _, state = passport_document(engine, truck["battery_id"].iloc[0])
    assert state["custodian_org_id"] != RECYCLER
