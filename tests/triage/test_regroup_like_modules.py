"""Regrouping puts only like modules in one series string, and a pack that would be invalid is refused before any write.

The mixed-module case is the one found in the demo registry: NMC622 modules of two designs,
32.85 V / 228.31 Ah (9 cells in series) and 43.8 V / 182.65 Ah (12 cells in series), of similar
measured capacity. Matched on measured capacity alone they formed one string, whose pack passport
(rated capacity of the weaker design, state copied from a module of the stronger) failed validation
with a traceback. Like-unit classes (``regroup_matching.toml``) keep the designs apart.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from circulith.api.settings import Settings
from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.errors import InvalidInput
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport_data
from circulith.passport.identifiers import mint_gs1_digital_link
from circulith.passport.model import Party, Passport
from circulith.server import create_app
from circulith.services.demo_users import DEMO_PASSWORD, demo_email, seed_demo_users
from circulith.services.registry import passport_document, verify
from circulith.services.regroup import RegroupedPack, _pack_passport, regroup_modules
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports
from circulith.triage.regroup import like_classes, load_matching, regroup

INTEGRATOR = "REU-TEST"
RHEIN = (9, 228.31)  # cells in series, rated capacity [Ah]: 32.85 V module
NORDVIK = (12, 182.65)  # 43.8 V module
CELL_V = 3.65  # NMC622 cell nominal voltage [V] (chemistries.csv)


def _mixed_table() -> pd.DataFrame:
    """Four modules of each design whose measured capacities all lie within 1.5 %."""
    rows = []
    for k, cap in enumerate([166.1, 165.8, 165.4, 165.0]):
        rows.append({"battery_id": f"R{k}", "chemistry": "NMC622", "level": "module", "capacity_ah": cap,
                     "nominal_voltage_v": 32.85, "rated_capacity_ah": 228.31, "grade": "repurpose"})
    for k, cap in enumerate([166.3, 165.9, 165.6, 164.9]):
        rows.append({"battery_id": f"N{k}", "chemistry": "NMC622", "level": "module", "capacity_ah": cap,
                     "nominal_voltage_v": 43.8, "rated_capacity_ah": 182.65, "grade": "repurpose"})
    return pd.DataFrame(rows)


def test_mixed_designs_are_never_in_one_string() -> None:
    table = _mixed_table()
    res = regroup(table, units_per_group=4)
    assert len(res.groups) == 2 and res.leftovers == []
    for g in res.groups:
        assert {b[0] for b in g["battery_ids"]} in ({"R"}, {"N"})  # one design per string
        assert g["nominal_voltage_v"] in (pytest.approx(4 * 32.85), pytest.approx(4 * 43.8))
    rated = sorted(g["rated_capacity_ah"] for g in res.groups)
    assert rated == [182.65, 228.31]
    # Without the like-unit classes, capacity alone would have mixed them (the defect).
    loose = {"max_nominal_voltage_diff_pct": 100.0, "max_rated_capacity_diff_pct": 100.0}
    mixed = regroup(table, units_per_group=4, matching=loose)
    assert any(len({b[0] for b in g["battery_ids"]}) == 2 for g in mixed.groups)


def test_too_few_like_modules_are_leftovers_with_their_reason() -> None:
    table = _mixed_table().drop(index=[0, 1]).reset_index(drop=True)  # two 32.85 V modules left
    res = regroup(table, units_per_group=4)
    assert [g["battery_ids"] for g in res.groups] == [["N0", "N1", "N2", "N3"]]
    assert sorted(res.leftovers) == ["R2", "R3"]
    assert "only 2 like unit(s) (NMC622 module 32.85 V 228.31 Ah)" in res.reasons["R2"]
    bad = table.assign(grade=["recycle"] + ["repurpose"] * (len(table) - 1))
    assert regroup(bad, units_per_group=4).reasons["R2"].startswith("graded recycle")


def test_like_classes_use_the_shipped_tolerances() -> None:
    cfg = load_matching()
    assert cfg["max_nominal_voltage_diff_pct"] > 0 and "source" in " ".join(cfg)
    near = pd.DataFrame({"nominal_voltage_v": [43.8, 43.8 * (1 + cfg["max_nominal_voltage_diff_pct"] / 200), 32.85],
                         "rated_capacity_ah": [182.65, 182.65 * (1 - cfg["max_rated_capacity_diff_pct"] / 200),
                                               182.65]})
    classes = like_classes(near)
    assert [len(rows) for _, rows in classes] == [2, 1]  # rounding stays in; a 9-cell module is apart
    far = near.assign(rated_capacity_ah=[182.65, 228.31, 182.65])
    assert len(like_classes(far)) == 3


# ------------------------------------------------------------------------------ through the registry
def _module(serial: str, cells: int, rated_ah: float, soh_pct: float) -> Passport:
    data = example_passport_data(serial)
    data["passport_id"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'test-module/' + serial)}"
    volt = round(cells * CELL_V, 3)
    energy = round(volt * rated_ah / 1000.0, 3)
    scale = energy / data["rated_energy_kwh"]
    mats = data["materials"]
    for key in ("cobalt_kg", "lithium_kg", "nickel_kg", "manganese_kg", "natural_graphite_kg"):
        mats[key] = round(mats[key] * scale, 3)
    at = "2026-10-01T08:00:00+00:00"
    data.update(battery_id=mint_gs1_digital_link("9506000134352", f"MOD{serial}"), identifiers=[], level="module",
                model=f"module {cells}s {rated_ah:g} Ah", mass_kg=round(data["mass_kg"] * scale, 2),
                rated_capacity_ah=rated_ah, rated_energy_kwh=energy, nominal_voltage_v=volt,
                min_voltage_v=round(cells * 2.5, 3), max_voltage_v=round(cells * 4.2, 3), original_power_w=None,
                max_permitted_power_w=None, internal_resistance_ohm=None,
                # as in the demo registry: the remaining capacity still says the rated one
                dynamic={"soh_pct": {"value": soh_pct, "updated_at": at},
                         "remaining_capacity_ah": {"value": rated_ah, "updated_at": at}})
    return Passport.model_validate(data)


def _registry(engine: Engine) -> tuple[Principal, pd.DataFrame]:
    """Eight evaluated modules of two designs in the integrator's custody; the grade table naming them."""
    mods = [_module(f"R{k}", *RHEIN, soh_pct=72.8 - 0.2 * k) for k in range(4)]
    mods += [_module(f"N{k}", *NORDVIK, soh_pct=91.0 - 0.2 * k) for k in range(4)]
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": INTEGRATOR, "name": "Test integrator", "role": "reuse_integrator"}])
        register_passports(s, mods, actor_org_id="EORI:DE0000000000001", now=at)
        append_events(s, [LedgerEvent(battery_id=m.battery_id, kind=kind, occurred_at=at + dt.timedelta(hours=h),
                                      actor_org_id=INTEGRATOR, event_id=str(uuid.uuid4()))
                          for m in mods for h, kind in ((1, EventKind.COLLECTED), (2, EventKind.GRADED))])
    who = Principal(org_id=INTEGRATOR, role=Role.REUSE_INTEGRATOR, scopes=ALL_SCOPES, via="cli")
    units = pd.DataFrame([{"battery_id": m.battery_id, "grade": "repurpose",
                           "soh_pct": m.dynamic.soh_pct.value if m.dynamic.soh_pct else None} for m in mods])
    return who, units


def test_recorded_packs_hold_like_modules_and_the_weakest_rating(sqlite_engine: Engine) -> None:
    who, units = _registry(sqlite_engine)
    dry = regroup_modules(sqlite_engine, who, units, units_per_group=4)
    assert len(dry.groups) == 2 and not dry.recorded
    res = regroup_modules(sqlite_engine, who, units, units_per_group=4, record=True)
    assert res.recorded and res.passports_registered == 2 + 8
    for g in res.groups:
        pack, _ = passport_document(sqlite_engine, g.successor_battery_id)
        mods = [passport_document(sqlite_engine, b)[0] for b in g.battery_ids]
        assert len({m.nominal_voltage_v for m in mods}) == 1 and len({m.rated_capacity_ah for m in mods}) == 1
        # a series string is as strong as its weakest element
        assert pack.rated_capacity_ah == min(m.rated_capacity_ah for m in mods) == g.rated_capacity_ah
        assert pack.dynamic.remaining_capacity_ah.value == pytest.approx(g.min_capacity_ah, abs=1e-3)
        assert pack.dynamic.remaining_capacity_ah.value <= pack.rated_capacity_ah
        weakest = min(m.rated_capacity_ah * m.dynamic.soh_pct.value / 100 for m in mods)
        assert g.min_capacity_ah == pytest.approx(weakest, abs=1e-3)
    assert verify(sqlite_engine).ok


def test_figures_that_would_make_an_invalid_pack_are_refused_before_any_write(sqlite_engine: Engine) -> None:
    who, units = _registry(sqlite_engine)
    # stated capacities far above the modules' rating: refused by row, in one line, nothing written
    over = units.assign(capacity_ah=[300.0] * 4 + [250.0] * 4)
    head = verify(sqlite_engine).head_global_seq
    with pytest.raises(InvalidInput) as err:
        regroup_modules(sqlite_engine, who, over, units_per_group=4, record=True)
    msg = str(err.value)
    assert "\n" not in msg and "row 1" in msg and "capacity_ah" in msg and "exceeds the module's rated" in msg
    assert verify(sqlite_engine).head_global_seq == head
    # The same refusal through the API is a 422, never a 500.
    app = create_app(Settings(database_url=str(sqlite_engine.url), env="test"), engine=sqlite_engine)
    seed_demo_users(sqlite_engine)
    with TestClient(app) as http:
        r = http.post("/api/v1/auth/login", json={"email": demo_email(INTEGRATOR), "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        body = {"units": over.to_dict(orient="records"), "units_per_group": 4, "record": True}
        r = http.post("/api/v1/triage/regroup", json=body, headers={"X-CSRF-Token": r.json()["csrf_token"]})
        assert r.status_code == 422, r.text
        assert "exceeds the module's rated" in r.text
    assert verify(sqlite_engine).head_global_seq == head


def test_an_invalid_pack_passport_is_one_line_naming_its_group() -> None:
    # The defect's string: two designs in series, the pack's remaining capacity above its rated one.
    mods = [_module("R0", *RHEIN, soh_pct=99.0), _module("N0", *NORDVIK, soh_pct=90.0)]
    group = RegroupedPack(group="NMC622/stationary_storage/41", chemistry="NMC622", application="stationary_storage",
                          battery_ids=[m.battery_id for m in mods], modules=2, nominal_voltage_v=76.65,
                          min_capacity_ah=226.0, capacity_spread_pct=0.0, usable_energy_kwh=13.9)
    with pytest.raises(InvalidInput) as err:
        _pack_passport(group, mods, Party(id=INTEGRATOR, name=INTEGRATOR), "urn:uuid:" + str(uuid.uuid4()),
                       dt.datetime.now(dt.UTC))
    msg = str(err.value)
    assert "\n" not in msg and "NMC622/stationary_storage/41" in msg and "would be invalid" in msg


def test_only_the_holder_regroups_its_modules(sqlite_engine: Engine) -> None:
    _, units = _registry(sqlite_engine)
    with transaction(sqlite_engine) as s:
        ensure_organisations(s, [{"org_id": "REU-OTHER", "name": "Another integrator", "role": "reuse_integrator"}])
    other = Principal(org_id="REU-OTHER", role=Role.REUSE_INTEGRATOR, scopes=ALL_SCOPES, via="cli")
    head = verify(sqlite_engine).head_global_seq
    # a grade output lists the pack first: the problem names the module's own row of the input (row 2)
    rows = pd.concat([pd.DataFrame([{"battery_id": "P-PACK", "level": "pack"}]), units.assign(level="module")])
    with pytest.raises(InvalidInput) as err:
        regroup_modules(sqlite_engine, other, rows, units_per_group=4, record=True)
    assert f"row 2 ({units['battery_id'][0]}), field 'battery_id': held by '{INTEGRATOR}', not by 'REU-OTHER'" in str(
        err.value)
    assert verify(sqlite_engine).head_global_seq == head
