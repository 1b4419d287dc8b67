"""The demo summary and the fleet summary name a missing region the same way ("unknown", never "None")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.passport.examples import example_passport
from circulith.services.fleet import fleet
from circulith.store.database import transaction
from circulith.store.registry import fleet_summary, register_passports


def test_a_pack_without_region_is_unknown_in_both_summaries(sqlite_engine: Engine) -> None:
    with transaction(sqlite_engine) as s:
        register_passports(s, [example_passport("000777")], actor_org_id="EORI:DE0000000000001",
                           now=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    operator = Principal(org_id="ORG-REGISTRY", role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")
    with transaction(sqlite_engine) as s:
        demo = fleet_summary(s)
        whole = fleet(s, operator)
    assert demo["packs_by_region"] == {"unknown": 1}
    assert whole.by_region == demo["packs_by_region"]
