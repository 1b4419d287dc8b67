"""Synthetic network instances for tests, examples and benchmarks (random, reproducible, not real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_network(
    n_sources: int, n_spokes: int, n_hubs: int = 3, *, n_reuse: int = 0, seed: int = 0,
    damaged_share: float = 0.1, capacity_slack: float = 2.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random sources and candidate sites in a 1,000 km x 1,000 km box around (50 N, 10 E).

    Parameters
    ----------
    n_sources, n_spokes, n_hubs, n_reuse : int
        Numbers of demand points and candidate sites.
    seed : int
        Random seed.
    damaged_share : float
        Mean damaged share of each source's tonnes [-].
    capacity_slack : float
        Total spoke capacity / total demand [-].

    Returns
    -------
    (sites, demand) : tuple of pandas.DataFrame
        In the file formats of :mod:`circulith.planning.network`.
    """
    rng = np.random.default_rng(seed)
    lat0, lon0 = 50.0, 10.0
    dlat, dlon = 4.5, 7.0  # ~1,000 km boxes at 50 N

    def pts(n: int) -> tuple[np.ndarray, np.ndarray]:
        return lat0 + rng.uniform(-dlat, dlat, n), lon0 + rng.uniform(-dlon, dlon, n)

    lat, lon = pts(n_sources)
    tonnes = np.round(rng.gamma(2.0, 25.0, n_sources), 1) + 1.0
    dmg = np.clip(rng.normal(damaged_share, damaged_share / 2, n_sources), 0, 0.9)
    demand = pd.DataFrame({
        "source_id": [f"S{i:05d}" for i in range(n_sources)], "lat": lat, "lon": lon, "tonnes": tonnes,
        "damaged_share": np.round(dmg, 3), "chemistry": rng.choice(["NMC811", "LFP", "NMC622"], n_sources),
        "critical_share": np.round(dmg * 0.2, 3), "reusable_share": 0.2 if n_reuse else 0.0,
    })
    total = tonnes.sum()
    slat, slon = pts(n_spokes)
    cap = np.round(total * capacity_slack / n_spokes * rng.uniform(0.6, 1.4, n_spokes), 0) + 1
    spokes = pd.DataFrame({
        "site_id": [f"SP{j:03d}" for j in range(n_spokes)], "kind": "spoke", "lat": slat, "lon": slon,
        "capacity_t": cap, "fixed_cost_usd": np.round(rng.uniform(2e5, 6e5, n_spokes), -3),
        "variable_cost_usd_per_t": np.round(rng.uniform(80, 160, n_spokes), 0),
        "accepts_damaged": rng.uniform(size=n_spokes) < 0.6, "chemistries": "*",
    })
    spokes.loc[0, "accepts_damaged"] = True
    hlat, hlon = pts(n_hubs)
    hubs = pd.DataFrame({
        "site_id": [f"HUB{h:02d}" for h in range(n_hubs)], "kind": "hub", "lat": hlat, "lon": hlon,
        "capacity_t": np.round(total * 1.5 / max(n_hubs, 1)) + 1, "fixed_cost_usd": 2.0e6,
        "variable_cost_usd_per_t": 300.0, "accepts_damaged": False, "chemistries": "*",
    })
    frames = [spokes, hubs]
    if n_reuse:
        rlat, rlon = pts(n_reuse)
        frames.append(pd.DataFrame({
            "site_id": [f"RU{k:02d}" for k in range(n_reuse)], "kind": "reuse", "lat": rlat, "lon": rlon,
            "capacity_t": np.round(total * 0.3), "fixed_cost_usd": 1.0e5, "variable_cost_usd_per_t": 50.0,
            "accepts_damaged": False, "chemistries": "LFP;NMC811;NMC622",
        }))
    return pd.concat(frames, ignore_index=True), demand
