"""First-life lifetimes fitted from the registry's own retirements (right-censored Weibull)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from circulith.analytics.fleet import observed_retirements, registry_as_of
from circulith.errors import InvalidInput, Problem
from circulith.planning.lifetime import WeibullFit, bootstrap_weibull, fit_weibull_censored


@dataclass(frozen=True)
class RegistryLifetimeFit:
    """A censored Weibull fit of time in first life, per group of packs.

    Attributes
    ----------
    group : dict
        Group keys (e.g. ``{"chemistry": "LFP"}``; empty for the whole fleet).
    fit : WeibullFit
        Shape [-] and scale [year] by maximum likelihood.
    as_of : str
        Censoring date ``YYYY-MM-DD``.
    shape_interval, scale_interval : tuple of float or None
        Bootstrap percentile interval (5-95 %) when ``n_boot`` > 0.
    dropped_nonpositive : int
        Packs left out because their retirement is dated on or before installation.
    """

    group: dict[str, Any]
    fit: WeibullFit
    as_of: str
    shape_interval: tuple[float, float] | None = None
    scale_interval: tuple[float, float] | None = None
    dropped_nonpositive: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        d = asdict(self)
        d["fit"] = asdict(self.fit)
        return d


def fit_registry_lifetimes(
    con: Any, *, by: list[str] | None = None, as_of: str | None = None, n_boot: int = 0, seed: int = 0,
    min_observed: int = 5,
) -> list[RegistryLifetimeFit]:
    """Fit Weibull laws of time in first life from the registry's retirements, with right-censoring.

    Parameters
    ----------
    con : ibis backend
        From :func:`circulith.analytics.connect`.
    by : list of str, optional
        Group columns of :func:`circulith.analytics.observed_retirements` (``chemistry``, ``region``);
        default: one fit for the whole fleet.
    as_of : str, optional
        Censoring date ``YYYY-MM-DD`` (default: the latest ledger event).
    n_boot : int
        Bootstrap resamples for the parameter intervals (0: none).
    seed : int
        Bootstrap seed.
    min_observed : int
        Groups with fewer observed retirements are refused (listed in the error).

    Returns
    -------
    list of RegistryLifetimeFit
    """
    cutoff = as_of or registry_as_of(con)
    df = observed_retirements(con, as_of=cutoff)
    if df.empty:
        raise InvalidInput(Problem(None, "events", "no installed pack in the registry: nothing to fit"))
    keys = list(by or [])
    unknown = [k for k in keys if k not in df.columns]
    if unknown:
        raise InvalidInput(Problem(None, "by", f"unknown group column(s) {unknown}"))
    groups = df.groupby(keys, dropna=False) if keys else [((), df)]
    out: list[RegistryLifetimeFit] = []
    problems: list[Problem] = []
    for key, g in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        group = dict(zip(keys, key_t, strict=True))
        pos = g["duration_years"].to_numpy(float) > 0
        t = g["duration_years"].to_numpy(float)[pos]
        d = g["observed"].to_numpy(bool)[pos]
        if d.sum() < min_observed:
            problems.append(Problem(None, "observed", f"{int(d.sum())} observed retirements (< {min_observed})",
                                    ",".join(f"{k}={v}" for k, v in group.items()) or "fleet"))  # fmt: skip
            continue
        fit = fit_weibull_censored(t, d)
        shape_iv = scale_iv = None
        if n_boot > 0:
            boot = bootstrap_weibull(t, d, n_boot, seed=seed)
            shape_iv = (float(np.percentile(boot[:, 0], 5)), float(np.percentile(boot[:, 0], 95)))
            scale_iv = (float(np.percentile(boot[:, 1], 5)), float(np.percentile(boot[:, 1], 95)))
        out.append(RegistryLifetimeFit(group, fit, cutoff, shape_iv, scale_iv, int((~pos).sum())))
    if problems and not out:
        raise InvalidInput(problems, source="registry lifetimes")
    return out


def registry_lifetimes_report(
    source: str, *, backend: str = "duckdb", by: list[str] | None = None, as_of: str | None = None,
    n_boot: int = 0, seed: int = 0,
) -> dict[str, Any]:
    """Service function (CLI / API): connect, fit, and return a JSON-ready report.

    Parameters
    ----------
    source : str
        ``sqlite:////path/registry.db`` or a Parquet export directory.
    backend : {"duckdb", "spark"}
        Analytics engine.
    by, as_of, n_boot, seed
        See :func:`fit_registry_lifetimes`.

    Returns
    -------
    dict
        ``fits`` (one per group), ``as_of``, ``backend``, ``n_packs``, ``n_observed``, ``n_censored``.
    """
    from circulith.analytics.connect import connect

    con = connect(source, backend=backend)
    fits = fit_registry_lifetimes(con, by=by, as_of=as_of, n_boot=n_boot, seed=seed)
    return {
        "backend": backend,
        "as_of": fits[0].as_of if fits else as_of,
        "by": by or [],
        "n_observed": sum(f.fit.n_observed for f in fits),
        "n_censored": sum(f.fit.n_censored for f in fits),
        "fits": [f.to_dict() for f in fits],
        "law": "Weibull, time from first 'installed' to first 'removed' or 'collected' event, right-censored",
    }
