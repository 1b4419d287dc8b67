"""Lifetime distributions for first-life retirement: Weibull laws, competing risks, censored fits.

A battery leaves its first life at the first of three competing events (independent latent times):

* the battery reaches its retirement state of health (SOH ~70-80 %): Weibull(shape, scale);
* the vehicle is scrapped for another reason: Weibull(shape, scale);
* the vehicle is written off in a crash: a constant hazard (exponential law) [1/year].

The joint survival is the product of the three survivals. Ages are in years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from circulith.errors import InvalidInput, Problem

# Sane bounds for user-given lifetime parameters (outside them a scenario is refused).
SHAPE_BOUNDS = (0.3, 15.0)
SCALE_BOUNDS_YEARS = (0.5, 60.0)
CRASH_HAZARD_BOUNDS_PER_YEAR = (0.0, 0.2)


def weibull_survival(age_years: ArrayLike, shape: ArrayLike, scale_years: ArrayLike) -> NDArray[np.float64]:
    """Weibull survival function ``S(t) = exp(-(t/scale)**shape)``.

    Parameters
    ----------
    age_years : array_like
        Age [year]; negative ages count as 0.
    shape : array_like
        Weibull shape k [-].
    scale_years : array_like
        Weibull scale lambda [year].

    Returns
    -------
    numpy.ndarray
        Probability of still being in first life at that age [-], broadcast over the inputs.
    """
    t = np.maximum(np.asarray(age_years, dtype=float), 0.0)
    return np.exp(-np.power(t / np.asarray(scale_years, dtype=float), np.asarray(shape, dtype=float)))


def weibull_cdf(age_years: ArrayLike, shape: ArrayLike, scale_years: ArrayLike) -> NDArray[np.float64]:
    """Weibull cumulative distribution ``F(t) = 1 - S(t)`` [-]; see :func:`weibull_survival`."""
    return 1.0 - weibull_survival(age_years, shape, scale_years)


def weibull_cumulative_hazard(
    age_years: ArrayLike, shape: ArrayLike, scale_years: ArrayLike
) -> NDArray[np.float64]:
    """Weibull cumulative hazard ``H(t) = (t/scale)**shape`` [-]."""
    t = np.maximum(np.asarray(age_years, dtype=float), 0.0)
    return np.power(t / np.asarray(scale_years, dtype=float), np.asarray(shape, dtype=float))


@dataclass(frozen=True)
class CompetingRisks:
    """Parameters of the three competing first-life exits (scalars or arrays of ensemble members).

    Attributes
    ----------
    battery_shape, battery_scale_years : float or ndarray
        Weibull law of the time to the retirement SOH [-], [year].
    vehicle_shape, vehicle_scale_years : float or ndarray
        Weibull law of the time to vehicle scrapping [-], [year].
    crash_hazard_per_year : float or ndarray
        Constant hazard of a total-loss crash [1/year].
    """

    battery_shape: float | NDArray[np.float64]
    battery_scale_years: float | NDArray[np.float64]
    vehicle_shape: float | NDArray[np.float64]
    vehicle_scale_years: float | NDArray[np.float64]
    crash_hazard_per_year: float | NDArray[np.float64]

    def validate(self, where: str = "lifetime") -> None:
        """Raise :class:`InvalidInput` if any parameter is outside the sane bounds."""
        problems: list[Problem] = []
        checks = [
            ("battery_shape", self.battery_shape, SHAPE_BOUNDS),
            ("battery_scale_years", self.battery_scale_years, SCALE_BOUNDS_YEARS),
            ("vehicle_shape", self.vehicle_shape, SHAPE_BOUNDS),
            ("vehicle_scale_years", self.vehicle_scale_years, SCALE_BOUNDS_YEARS),
            ("crash_hazard_per_year", self.crash_hazard_per_year, CRASH_HAZARD_BOUNDS_PER_YEAR),
        ]
        for name, value, (lo, hi) in checks:
            arr = np.asarray(value, dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr < lo) or np.any(arr > hi):
                problems.append(
                    Problem(None, f"{where}.{name}", f"must lie in [{lo}, {hi}], got {np.round(arr, 4).tolist()}")
                )
        if problems:
            raise InvalidInput(problems, source="lifetime parameters")

    def cumulative_hazards(self, age_years: ArrayLike) -> tuple[NDArray[np.float64], ...]:
        """Cumulative hazards (battery, vehicle, crash) at ``age_years`` [-].

        Member parameters (arrays of shape ``(m,)``) broadcast against ages as ``(m, n_ages)``.
        """
        t = np.maximum(np.asarray(age_years, dtype=float), 0.0)

        def col(x: float | NDArray[np.float64]) -> NDArray[np.float64]:
            a = np.asarray(x, dtype=float)
            return a[..., None] if a.ndim else a

        h_b = weibull_cumulative_hazard(t, col(self.battery_shape), col(self.battery_scale_years))
        h_v = weibull_cumulative_hazard(t, col(self.vehicle_shape), col(self.vehicle_scale_years))
        h_c = col(self.crash_hazard_per_year) * t
        return h_b, h_v, np.broadcast_to(h_c, np.broadcast_shapes(h_b.shape, h_c.shape)).copy()

    def survival(self, age_years: ArrayLike) -> NDArray[np.float64]:
        """Probability of still being in first life at ``age_years`` [-]."""
        h_b, h_v, h_c = self.cumulative_hazards(age_years)
        return np.exp(-(h_b + h_v + h_c))


def retirement_kernel(
    risks: CompetingRisks, n_years: int, *, substeps: int = 8
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Share of a sales cohort leaving first life in each calendar year after sale, split by cause.

    Sales are assumed spread uniformly over the sale year, so calendar year ``y0 + a`` covers the ages
    ``(a - 1/2, a + 1/2]`` (the first year only ``[0, 1/2]``). Within each age bin the cause-specific
    incidences are integrated numerically with ``substeps`` sub-intervals (hazard ratio at each sub-step).

    Parameters
    ----------
    risks : CompetingRisks
        Scalars, or arrays of shape ``(m,)`` for an ensemble.
    n_years : int
        Number of calendar years after sale to cover (``a = 0 .. n_years-1``).
    substeps : int
        Sub-intervals per year for the cause split.

    Returns
    -------
    (battery, vehicle, crash) : tuple of ndarray
        Each of shape ``(m, n_years)`` (``(1, n_years)`` for scalars) [share of cohort units]. Their sum
        over causes equals the exact drop of the joint survival over each bin.
    """
    edges = np.concatenate([[0.0], np.arange(n_years, dtype=float) + 0.5])
    fine = np.linspace(0.0, edges[-1], int(n_years * substeps) + 1)
    fine = np.unique(np.concatenate([fine, edges]))
    h_b, h_v, h_c = (np.atleast_2d(h) for h in risks.cumulative_hazards(fine))
    total = h_b + h_v + h_c
    surv = np.exp(-total)
    d_total = np.diff(total, axis=-1)
    d_surv = -np.diff(surv, axis=-1)  # exact drop of joint survival per sub-interval
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_b = np.where(d_total > 0, np.diff(h_b, axis=-1) / d_total, 0.0)
        frac_v = np.where(d_total > 0, np.diff(h_v, axis=-1) / d_total, 0.0)
    frac_c = np.where(d_total > 0, 1.0 - frac_b - frac_v, 0.0)
    bin_of = np.searchsorted(edges, fine[1:], side="left") - 1  # sub-interval -> calendar-year bin
    bin_of = np.clip(bin_of, 0, n_years - 1)
    m = d_surv.shape[0]
    out = []
    for frac in (frac_b, frac_v, frac_c):
        acc = np.zeros((m, n_years))
        np.add.at(acc, (slice(None), bin_of), d_surv * frac)  # type: ignore[arg-type]  # numpy stubs: index tuple
        out.append(acc)
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class WeibullFit:
    """Result of a censored Weibull maximum-likelihood fit.

    Attributes
    ----------
    shape : float
        Weibull shape k [-].
    scale_years : float
        Weibull scale lambda [same unit as the durations].
    log_likelihood : float
        Maximised log-likelihood [-].
    n_observed, n_censored : int
        Number of exact (retired) and right-censored (still in use) durations.
    converged : bool
        Whether the optimiser reported success.
    """

    shape: float
    scale_years: float
    log_likelihood: float
    n_observed: int
    n_censored: int
    converged: bool


def _validate_durations(durations: ArrayLike, observed: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    t = np.asarray(durations, dtype=float).ravel()
    d = np.asarray(observed).ravel()
    problems: list[Problem] = []
    if t.shape != d.shape:
        raise InvalidInput(f"durations ({t.size}) and observed ({d.size}) differ in length", source="lifetime fit")
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    problems.extend(Problem(int(i) + 1, "duration", f"must be a positive finite number, got {t[i]}") for i in bad[:20])
    if problems:
        raise InvalidInput(problems, source="lifetime fit")
    d = d.astype(bool)
    if not d.any():
        raise InvalidInput("no observed retirement: the Weibull law cannot be fitted from censored data alone",
                           source="lifetime fit")
    return t, d


def weibull_scale_given_shape(durations: ArrayLike, observed: ArrayLike, shape: float) -> float:
    """Closed-form censored MLE of the Weibull scale for a known shape.

    ``lambda = (sum_i t_i**k / r) ** (1/k)`` with ``r`` the number of observed retirements; for
    ``k = 1`` this is the exponential MLE (total time on test / failures).

    Parameters
    ----------
    durations : array_like
        Time in first life, to retirement or to censoring [year].
    observed : array_like of bool
        True where the retirement was observed, False where censored (still in use).
    shape : float
        Known Weibull shape [-].

    Returns
    -------
    float
        Scale [year].
    """
    t, d = _validate_durations(durations, observed)
    return float((np.sum(t**shape) / d.sum()) ** (1.0 / shape))


def fit_weibull_censored(
    durations: ArrayLike, observed: ArrayLike, *, shape: float | None = None
) -> WeibullFit:
    """Fit a Weibull law by maximum likelihood with right-censoring.

    Log-likelihood ``sum_obs [log k - k log lambda + (k-1) log t] - sum_all (t/lambda)**k``, maximised over
    ``(log k, log lambda)`` with L-BFGS-B; the scale is profiled out in closed form, so the search is one
    dimensional in ``k``.

    Parameters
    ----------
    durations : array_like
        Time from entry into service to retirement (observed) or to the censoring date [year].
    observed : array_like of bool
        True for an observed retirement, False for a battery still in use (right-censored).
    shape : float, optional
        Fix the shape and fit only the scale (closed form).

    Returns
    -------
    WeibullFit
    """
    t, d = _validate_durations(durations, observed)
    r = int(d.sum())
    log_t = np.log(t)
    sum_log_t_obs = float(log_t[d].sum())
    t_norm = t / np.exp(log_t.mean())  # scale-free for numerical stability

    def profile_negll(log_k: float) -> float:
        k = float(np.exp(log_k))
        s = float(np.sum(t_norm**k))
        lam_norm_k = s / r
        # log L with lambda^k = lam_norm_k * g^k (g the geometric mean) profiled out
        ll = r * np.log(k) - r * np.log(lam_norm_k) + (k - 1.0) * sum_log_t_obs - k * r * log_t.mean() - r
        return -float(ll)

    if shape is None:
        res = optimize.minimize_scalar(profile_negll, bounds=(np.log(0.05), np.log(50.0)), method="bounded",
                                       options={"xatol": 1e-10})
        k = float(np.exp(res.x))
        converged = bool(res.success)
    else:
        k = float(shape)
        converged = True
    lam = float((np.sum(t**k) / r) ** (1.0 / k))
    z = (t / lam) ** k
    ll = float(np.sum(d * (np.log(k) - np.log(lam) + (k - 1.0) * np.log(t / lam))) - np.sum(z))
    return WeibullFit(k, lam, ll, r, int(t.size - r), converged)


def bootstrap_weibull(
    durations: ArrayLike, observed: ArrayLike, n_boot: int, *, seed: int | None = 0
) -> NDArray[np.float64]:
    """Nonparametric bootstrap of the censored Weibull fit.

    Parameters
    ----------
    durations, observed : array_like
        As for :func:`fit_weibull_censored`.
    n_boot : int
        Number of bootstrap resamples.
    seed : int, optional
        Random seed.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, 2)``: columns shape [-] and scale [year].
    """
    t, d = _validate_durations(durations, observed)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 2))
    for b in range(n_boot):
        idx = rng.integers(0, t.size, t.size)
        if not d[idx].any():
            idx[0] = int(np.flatnonzero(d)[0])
        f = fit_weibull_censored(t[idx], d[idx])
        out[b] = (f.shape, f.scale_years)
    return out
