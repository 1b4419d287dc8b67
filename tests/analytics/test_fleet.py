"""Registry analytics (Ibis on DuckDB) against a plain pandas computation on the same rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from circulith import analytics as A
from circulith.errors import InvalidInput, NotFound
from circulith.planning.lifetime import fit_weibull_censored

from .conftest import AS_OF

pytestmark = [pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The 'future.infer_string' option")]  # third-party noise


@pytest.fixture(scope="module")
def con(registry):
    return A.connect(registry.url)


def _packs(registry) -> pd.DataFrame:
    return registry.batteries[registry.batteries["level"] == "pack"].copy()


def _same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    got = got.sort_values(keys, na_position="first").reset_index(drop=True)
    want = want.sort_values(keys, na_position="first").reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in got.columns:
        g, w = got[c].to_numpy(), want[c].to_numpy()
        if np.issubdtype(np.asarray(w).dtype, np.number) and not np.issubdtype(np.asarray(w).dtype, np.bool_):
            np.testing.assert_allclose(g.astype(float), w.astype(float), rtol=1e-9, err_msg=c)
        else:
            assert [None if pd.isna(v) else v for v in g] == [None if pd.isna(v) else v for v in w], c


def test_cohorts_match_pandas(con, registry):
    p = _packs(registry)
    p["production_year"] = p["manufacturing_date"].str[:4].astype(int)
    want = p.groupby(["production_year", "region", "chemistry"], dropna=False).agg(
        units=("battery_id", "size"), energy_kwh=("rated_energy_kwh", "sum"), mass_kg=("mass_kg", "sum")
    ).reset_index()
    got = A.cohorts(con)
    _same(got, want, ["production_year", "region", "chemistry"])
    assert got["units"].sum() == len(p)  # modules never counted


def test_national_totals_match_pandas(con, registry):
    keys = ["region", "status", "lifecycle_state", "chemistry"]
    want = _packs(registry).groupby(keys, dropna=False).agg(
        units=("battery_id", "size"), energy_kwh=("rated_energy_kwh", "sum"), mass_kg=("mass_kg", "sum")
    ).reset_index()
    _same(A.national_totals(con), want, keys)


def _oracle_retirements(registry, as_of: str) -> pd.DataFrame:
    ev = registry.events.copy()
    ev["day"] = pd.to_datetime(ev["occurred_at"].str[:10])
    inst = ev[ev.kind == "installed"].groupby("battery_id")["day"].min().rename("installed")
    ret = ev[ev.kind.isin(["removed", "collected"])].groupby("battery_id")["day"].min().rename("retired")
    p = _packs(registry).set_index("battery_id").join(inst, how="inner").join(ret)
    cut = pd.Timestamp(as_of)
    p["observed"] = p["retired"].notna() & (p["retired"] <= cut)
    end = p["retired"].where(p["observed"], cut)
    p["duration_years"] = (end - p["installed"]).dt.days / 365.25
    return p


def test_observed_retirements_censoring_matches_pandas(con, registry):
    want = _oracle_retirements(registry, AS_OF)
    got = A.observed_retirements(con, as_of=AS_OF).set_index("battery_id").loc[want.index]
    assert got["observed"].tolist() == want["observed"].tolist()
    np.testing.assert_allclose(got["duration_years"], want["duration_years"], rtol=1e-12)
    # retirements after the cut-off are censored at it, never counted as observed
    late = want["retired"].notna() & ~want["observed"]
    assert late.any() and got.loc[late[late].index, "retired_on"].isna().all()
    # packs never installed are not at risk
    never = set(_packs(registry)["battery_id"]) - set(want.index)
    assert never and not never & set(got.index)


def test_retirement_events_per_year_match_pandas(con, registry):
    ev = registry.events[registry.events.kind.isin(["removed", "collected"])]
    j = ev.merge(_packs(registry)[["battery_id", "region", "chemistry", "rated_energy_kwh"]], on="battery_id")
    j["year"] = j["occurred_at"].str[:4].astype(int)
    keys = ["year", "region", "chemistry", "kind"]
    want = j.groupby(keys, dropna=False).agg(events=("battery_id", "size"),
                                             energy_kwh=("rated_energy_kwh", "sum")).reset_index()
    _same(A.retirement_events_per_year(con), want, keys)


def test_inventory_grade_and_damage_match_pandas(con, registry):
    p = _packs(registry)
    p = p[p.lifecycle_state.isin(["removed", "collected", "evaluated"])].set_index("battery_id")
    ev = registry.events.sort_values(["battery_id", "battery_seq"])
    last = lambda kind: ev[ev.kind == kind].groupby("battery_id")["payload_json"].last().map(json.loads)  # noqa: E731
    grade = last("graded").map(lambda d: d["grade"])
    damaged = last("collected").map(lambda d: d["damaged"])
    reason = last("removed").map(lambda d: d["reason"])
    want_grade = grade.reindex(p.index).fillna("ungraded")
    crit = reason.reindex(p.index).eq("thermal_event")
    dmg = damaged.reindex(p.index)
    want_damage = np.where(crit, "critical", np.where(dmg.isna(), "unknown", np.where(dmg == True, "damaged", "intact")))  # noqa: E712
    got = A.inventory(con, per_battery=True).set_index("battery_id").loc[p.index]
    assert got["grade"].tolist() == want_grade.tolist()
    assert got["damage_state"].tolist() == list(want_damage)
    assert {"critical", "damaged", "intact", "unknown"} <= set(got["damage_state"])
    agg = A.inventory(con)
    assert agg["units"].sum() == len(p)
    assert agg["mass_kg"].sum() == pytest.approx(p["mass_kg"].sum())


def test_forecast_cohorts_have_no_gaps_and_validate(con):
    from circulith.planning.forecast import validate_cohorts

    fc = A.forecast_cohorts(con)
    validate_cohorts(fc)  # refuses gaps, negative units
    assert fc["region"].notna().all() and (fc["segment"] == "Cars").all()


def test_registry_lifetime_fit_equals_direct_fit(con, registry):
    want = _oracle_retirements(registry, AS_OF)
    direct = fit_weibull_censored(want["duration_years"], want["observed"])
    (fit,) = A.fit_registry_lifetimes(con, as_of=AS_OF)
    assert fit.fit.shape == pytest.approx(direct.shape, rel=1e-9)
    assert fit.fit.scale_years == pytest.approx(direct.scale_years, rel=1e-9)
    assert fit.fit.n_censored > 0 and fit.as_of == AS_OF
    # the synthetic lives are Weibull(2.5, 7 y): the censored fit recovers them roughly
    assert 1.7 < fit.fit.shape < 3.5 and 5.5 < fit.fit.scale_years < 9.0


def test_service_report_and_bad_input(registry, tmp_path):
    rep = A.registry_lifetimes_report(registry.url, by=["chemistry"], as_of=AS_OF, n_boot=20)
    assert rep["backend"] == "duckdb" and len(rep["fits"]) == 3
    json.dumps(rep)
    f = rep["fits"][0]
    assert f["shape_interval"][0] <= f["fit"]["shape"] <= f["shape_interval"][1]
    with pytest.raises(InvalidInput):
        A.connect(registry.url, backend="oracle")
    with pytest.raises(NotFound, match="cannot read the registry database"):
        A.connect("postgresql+psycopg://nobody@127.0.0.1:1/none")  # PostgreSQL is read through the store
    with pytest.raises(NotFound):
        A.connect(tmp_path)  # no Parquet export there
    with pytest.raises(InvalidInput):
        A.fit_registry_lifetimes(A.connect(registry.url), by=["colour"])


def test_parquet_export_gives_the_same_answers(con, registry, tmp_path):
    A.export_parquet(registry.url, tmp_path)
    pcon = A.connect(tmp_path)
    pd.testing.assert_frame_equal(A.national_totals(pcon), A.national_totals(con))
    pd.testing.assert_frame_equal(A.observed_retirements(pcon, as_of=AS_OF), A.observed_retirements(con, as_of=AS_OF))
