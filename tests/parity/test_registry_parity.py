"""The CLI and the API give the same answer: passport per audience, lineage, history, fleet, ledger.

Each case acts as one organisation through both doors on the same database; the audiences come from the
Annex XIII lattice: the battery's maker (legitimate interest), a chain actor with no link to it (public),
a market surveillance authority (authority) and the Commission.
"""

from __future__ import annotations

import pytest

from .harness import Case, assert_parity, check, cli_json, dashboard_csv

UNRELATED = "REF-SALTWORKS"
AUTHORITY = "MSA-DE"
COMMISSION = "EC"
OPERATOR = "ORG-REGISTRY"


CASES = [
    *(c for org, audience in (("{maker}", "legitimate"), (UNRELATED, "public"), (AUTHORITY, "authority"),
                              (COMMISSION, "commission"), (OPERATOR, "public"))
      for c in (Case(f"passport show as {org} ({audience})", org, ["passport", "show", "{own}"],
                     "/api/v1/passports/{own}"),
                Case(f"lineage as {org} ({audience})", org, ["passport", "lineage", "{own}"],
                     "/api/v1/passports/{own}/lineage"))),
    Case("history as the maker", "{maker}", ["passport", "history", "{own}"], "/api/v1/passports/{own}/events"),
    Case("history as the operator", OPERATOR, ["passport", "history", "{own}"], "/api/v1/passports/{own}/events"),
    Case("fleet summary as a maker (own scope)", "{maker}", ["fleet", "summary"], "/api/v1/fleet/summary"),
    Case("fleet summary of modules as an authority", AUTHORITY, ["fleet", "summary", "--level", "module"],
         "/api/v1/fleet/summary?level=module"),
    Case("ledger head", "{maker}", ["ledger", "status"], "/api/v1/ledger/head"),
    Case("ledger verification", AUTHORITY, ["ledger", "status", "--verify"], "/api/v1/ledger/verify"),
    Case("reference tables", "{maker}", ["reference", "list"], "/api/v1/reference"),
    Case("passport search as a maker", "{maker}", ["passport", "search", "--level", "pack", "--limit", "20"],
         "/api/v1/passports?level=pack&limit=20"),
    Case("passport search on restricted columns as an authority", AUTHORITY,
         ["passport", "search", "--state", "collected", "--limit", "20"],
         "/api/v1/passports?lifecycle_state=collected&limit=20"),
]


def _bound(case: Case, scenario) -> Case:
    return case.bind(own=scenario.own, maker=scenario.maker)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cli_and_api_agree(case: Case, scenario, db_url, clients) -> None:
    cli_doc, _ = check(_bound(case, scenario), db_url, clients)
    assert cli_doc  # a document, not an empty answer


def test_the_audience_differs_by_principal_and_both_doors_agree_on_it(scenario, db_url, clients) -> None:
    seen = {}
    for case in CASES:
        if case.cli[:2] == ["passport", "show"]:
            bound = _bound(case, scenario)
            seen[bound.org] = check(bound, db_url, clients)[0]["audience"]
    assert seen[scenario.maker] == "legitimate"
    assert seen[UNRELATED] == "public"
    assert seen[AUTHORITY] == "authority"
    assert seen[COMMISSION] == "commission"


@pytest.mark.parametrize("org", ["{maker}", AUTHORITY])
def test_the_dashboard_tables_match_the_fleet_summary_of_both_doors(org: str, scenario, db_url, clients) -> None:
    org = org.format(maker=scenario.maker)
    summary = cli_json(db_url, org, ["fleet", "summary"])
    for table, key in (("chemistry", "by_chemistry"), ("region", "by_region"), ("status", "by_status"),
                       ("lifecycle_state", "by_lifecycle_state"), ("events_by_kind", "events_by_kind")):
        assert dashboard_csv(clients[org], table) == summary[key], (org, table)


def test_the_harness_reports_where_the_doors_differ() -> None:
    case = Case("demo", "X", [], "")
    with pytest.raises(AssertionError, match=r"passport\.chemistry: CLI 'LFP' != API 'NMC811'"):
        assert_parity(case, {"passport": {"chemistry": "LFP"}}, {"passport": {"chemistry": "NMC811"}})
    with pytest.raises(AssertionError, match="only in the API"):
        assert_parity(case, {"a": 1}, {"a": 1, "b": 2})
    assert_parity(Case("ignored", "X", [], "", ignore=("at",)), {"at": 1, "v": 2}, {"at": 3, "v": 2})
