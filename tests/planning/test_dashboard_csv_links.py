"""Every CSV link of the planning dashboard pages downloads its table."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("page", ["planning", "network", "compare"])
def test_every_csv_link_of_a_planning_page_works(planning_api, relaxed_example_network, page: str) -> None:
    html = planning_api.get(f"/dashboard/{page}")
    assert html.status_code == 200
    links = sorted(set(re.findall(r'href="(/dashboard/csv/[^"?]+\.csv)', html.text)))
    assert links, f"no CSV link on /dashboard/{page}"
    for link in links:
        r = planning_api.get(link)
        assert r.status_code == 200, f"{link}: {r.status_code} {r.text[:80]}"
        assert r.text.count("\n") >= 2, link  # a header and at least one row
    if page == "planning":
        assert "/dashboard/csv/forecast_europe.csv" in links
