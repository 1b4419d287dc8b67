"""Lifetime laws: closed forms, competing risks and the censored Weibull fit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circulith.errors import InvalidInput
from circulith.planning.lifetime import (
    CompetingRisks,
    bootstrap_weibull,
    fit_weibull_censored,
    retirement_kernel,
    weibull_cdf,
    weibull_scale_given_shape,
)

NO_VEHICLE = {"vehicle_shape": 1.0, "vehicle_scale_years": 1e12, "crash_hazard_per_year": 0.0}


def test_weibull_cohort_retired_share_matches_closed_form():
    # Battery-only law: cumulative retired share at the end of calendar year a is F(a + 1/2).
    k, lam = 3.0, 12.0
    b, v, c = retirement_kernel(CompetingRisks(k, lam, **NO_VEHICLE), 40)
    cum = np.cumsum(b[0])
    ages = np.arange(40) + 0.5
    np.testing.assert_allclose(cum, 1 - np.exp(-((ages / lam) ** k)), rtol=1e-9, atol=1e-12)
    assert v.sum() < 1e-9 and abs(c.sum()) < 1e-12


def test_exponential_crash_only_matches_closed_form():
    h = 0.05
    r = CompetingRisks(1.0, 1e12, 1.0, 1e12, h)
    _, _, c = retirement_kernel(r, 10)
    assert c[0, 0] == pytest.approx(1 - np.exp(-h * 0.5))
    assert c[0, 3] == pytest.approx(np.exp(-h * 2.5) - np.exp(-h * 3.5))


@settings(max_examples=25, deadline=None)
@given(
    kb=st.floats(1.0, 6.0), lb=st.floats(5.0, 25.0), kv=st.floats(1.0, 6.0), lv=st.floats(5.0, 25.0),
    hc=st.floats(0.0, 0.05),
)
def test_competing_risks_split_conserves_the_joint_law(kb, lb, kv, lv, hc):
    r = CompetingRisks(kb, lb, kv, lv, hc)
    b, v, c = retirement_kernel(r, 60)
    total = b + v + c
    edges = np.concatenate([[0.0], np.arange(60) + 0.5])
    np.testing.assert_allclose(total[0], -np.diff(r.survival(edges)), atol=1e-12)
    assert np.all(b >= -1e-15) and np.all(v >= -1e-15) and np.all(c >= -1e-15)


def test_cause_split_equal_laws_split_in_half():
    # two identical Weibull risks: each cause takes exactly half of every bin
    b, v, _ = retirement_kernel(CompetingRisks(3.0, 12.0, 3.0, 12.0, 0.0), 30)
    np.testing.assert_allclose(b, v, rtol=1e-9, atol=1e-15)


def test_censored_fit_recovers_known_parameters():
    rng = np.random.default_rng(7)
    k, lam, n = 3.0, 12.0, 20000
    t_true = lam * rng.weibull(k, n)
    censor = rng.uniform(0, 20, n)
    observed = t_true <= censor
    fit = fit_weibull_censored(np.minimum(t_true, censor), observed)
    assert fit.converged
    assert fit.shape == pytest.approx(k, rel=0.04)
    assert fit.scale_years == pytest.approx(lam, rel=0.02)
    assert fit.n_censored == int((~observed).sum())


def test_fit_satisfies_profile_closed_form_and_exponential_case():
    rng = np.random.default_rng(3)
    t = rng.uniform(1, 10, 500)
    d = rng.uniform(size=500) < 0.6
    fit = fit_weibull_censored(t, d)
    # at the MLE, lambda = (sum t^k / r)^(1/k) exactly
    assert fit.scale_years == pytest.approx(weibull_scale_given_shape(t, d, fit.shape), rel=1e-9)
    # exponential: lambda = total time on test / number of failures
    assert weibull_scale_given_shape(t, d, 1.0) == pytest.approx(t.sum() / d.sum())
    fixed = fit_weibull_censored(t, d, shape=1.0)
    assert fixed.scale_years == pytest.approx(t.sum() / d.sum())
    assert fixed.log_likelihood <= fit.log_likelihood + 1e-9


def test_fit_refuses_bad_input():
    with pytest.raises(InvalidInput, match="no observed retirement"):
        fit_weibull_censored([1.0, 2.0], [False, False])
    with pytest.raises(InvalidInput, match="duration"):
        fit_weibull_censored([1.0, -2.0], [True, True])


def test_bootstrap_spread_brackets_truth():
    rng = np.random.default_rng(11)
    t_true = 10 * rng.weibull(2.5, 400)
    c = rng.uniform(0, 15, 400)
    boot = bootstrap_weibull(np.minimum(t_true, c), t_true <= c, 60, seed=1)
    lo, hi = np.quantile(boot[:, 1], [0.01, 0.99])
    assert lo < 10 < hi


def test_lifetime_bounds_are_enforced():
    with pytest.raises(InvalidInput, match="battery_shape"):
        CompetingRisks(50.0, 12.0, 3.0, 12.0, 0.0).validate()


def test_weibull_cdf_median():
    # median of Weibull = lambda (ln 2)^(1/k)
    k, lam = 2.0, 10.0
    assert weibull_cdf(lam * np.log(2) ** (1 / k), k, lam) == pytest.approx(0.5)
