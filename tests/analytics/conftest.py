"""A small registry in the real SQLite schema, and the same rows as plain frames for the oracle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, insert

from circulith.store.models import Base, Battery, Event

AS_OF = "2026-06-30"


@dataclass
class Registry:
    url: str
    batteries: pd.DataFrame
    events: pd.DataFrame


def _ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_rows(n_packs: int = 240, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    chems = ["LFP", "NMC811", "NCA"]
    regions = ["DE", "FR", "IT", None]
    bats, evs = [], []
    t0 = datetime(2015, 1, 1, tzinfo=UTC)
    for i in range(n_packs):
        bid = f"urn:test:P{i:05d}"
        made = t0 + timedelta(days=int(rng.integers(0, 9 * 365)))
        chem = str(rng.choice(chems))
        region = regions[int(rng.integers(0, len(regions)))] if i % 37 else None
        seq = 0
        state = "manufactured"
        custodian, site = "OEM-A", "OEM-A:plant"
        rows: list[tuple[str, datetime, dict]] = [("manufactured", made, {})]
        installed = made + timedelta(days=int(rng.integers(10, 200)))
        if i % 11 != 0:  # some packs never installed
            rows.append(("installed", installed, {"region": region}))
            state = "in_service"
            life = timedelta(days=float(rng.weibull(2.5) * 7.0 * 365.25))
            removed = installed + life
            if removed < datetime(2026, 12, 31, tzinfo=UTC):
                reason = "thermal_event" if i % 29 == 0 else str(rng.choice(["end_of_first_life", "crash"]))
                rows.append(("removed", removed, {"reason": reason}))
                state = "removed"
                if rng.uniform() < 0.85:
                    collected = removed + timedelta(days=int(rng.integers(1, 60)))
                    rows.append(("collected", collected, {"damaged": bool(rng.uniform() < 0.2)}))
                    state, custodian, site = "collected", "DIS-X", "DIS-X:yard"
                    if rng.uniform() < 0.7:
                        g1 = str(rng.choice(["reuse", "repurpose", "recycle", "quarantine"]))
                        rows.append(("graded", collected + timedelta(days=5), {"grade": g1, "explanation": "x"}))
                        if rng.uniform() < 0.3:  # re-graded: the latest grade counts
                            g2 = str(rng.choice(["reuse", "recycle"]))
                            rows.append(("graded", collected + timedelta(days=9), {"grade": g2}))
                        state = "evaluated"
        for kind, when, payload in rows:
            seq += 1
            evs.append({"battery_id": bid, "battery_seq": seq, "kind": kind, "occurred_at": _ts(when),
                        "actor_org_id": custodian, "site_id": site, "payload_json": json.dumps(payload)})
        bats.append({"battery_id": bid, "level": "pack", "parent_battery_id": None, "chemistry": chem,
                     "manufacturing_date": made.strftime("%Y-%m"), "status": "original",
                     "lifecycle_state": state, "region": region, "custodian_org_id": custodian,
                     "custody_site_id": site, "mass_kg": round(float(rng.uniform(250, 600)), 1),
                     "rated_energy_kwh": float(rng.choice([40.0, 55.0, 77.0])), "soh_pct": 90.0,
                     "last_seq": seq})
        if i % 5 == 0:  # a module row: never counted
            bats.append({**bats[-1], "battery_id": bid + "-M1", "level": "module", "parent_battery_id": bid,
                         "mass_kg": 30.0, "rated_energy_kwh": 5.0, "last_seq": 0})
    return pd.DataFrame(bats), pd.DataFrame(evs)


def write_registry(path, bats: pd.DataFrame, evs: pd.DataFrame) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    Base.metadata.create_all(engine, tables=[Battery.__table__, Event.__table__])
    now = "2026-06-30T00:00:00.000000Z"
    filler_b = {"passport_id": None, "category": "EV", "model": "m", "manufacturer_id": "OEM-A", "document": "{}",
                "dynamic_json": "{}", "document_sha256": "0" * 64, "registered_sha256": "0" * 64,
                "registered_at": now, "updated_at": now, "last_chain_sha256": "0" * 64, "last_occurred_at": now}
    brows = [{**filler_b, **r, "passport_id": r["battery_id"]} for r in bats.to_dict("records")]
    erows = [{**r, "global_seq": k, "event_id": f"e{k}", "content_sha256": "0" * 64,
              "battery_prev_sha256": "0" * 64, "battery_chain_sha256": "0" * 64, "global_prev_sha256": "0" * 64,
              "global_chain_sha256": "0" * 64} for k, r in enumerate(evs.to_dict("records"))]
    with engine.begin() as c:
        c.execute(insert(Battery.__table__), [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                                               for k, v in r.items()} for r in brows])
        c.execute(insert(Event.__table__), erows)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    bats, evs = build_rows()
    path = tmp_path_factory.mktemp("analytics") / "registry.db"
    return Registry(write_registry(path, bats, evs), bats, evs)
