"""Forecast benchmark: 50 regions x 8 chemistries x 30 cohorts x 30 years, 200-member ensemble (< 5 s target)."""

import time

import numpy as np
import pandas as pd

from circulith.planning.forecast import forecast_flows, sample_lifetime_ensemble
from circulith.planning.lifetime import CompetingRisks
from circulith.planning.reference_data import (
    default_prices_usd_per_kg,
    load_contained_metals_fallback,
    load_pack_specific_energy_wh_per_kg,
)

CHEMS = ["NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO", "NaIon"]
rng = np.random.default_rng(0)
rows = [(y, f"R{r:02d}", "Cars", c, float(rng.integers(1_000, 100_000)), 60.0)
        for r in range(50) for c in CHEMS for y in range(2000, 2030)]
cohorts = pd.DataFrame(rows, columns=["year", "region", "segment", "chemistry", "units", "pack_kwh"])
members = sample_lifetime_ensemble({"Cars": CompetingRisks(3.5, 15.0, 4.0, 16.0, 0.004)}, 200, relative_sd=0.12, seed=1)
kw = {"contained_kg_per_kwh": load_contained_metals_fallback(), "prices_usd_per_kg": default_prices_usd_per_kg(),
          "pack_wh_per_kg": load_pack_specific_energy_wh_per_kg(), "scrap_share_by_year": {2020: 0.1},
      "second_life_share": 0.15, "second_life_years": 7}
# baseline in the same run: a single-member forecast of the same cohorts
t0 = time.perf_counter()
forecast_flows(cohorts, {"Cars": CompetingRisks(3.5, 15.0, 4.0, 16.0, 0.004)}, end_year=2059, **kw)
t1 = time.perf_counter()
r = forecast_flows(cohorts, members, end_year=2059, **kw)
t2 = time.perf_counter()
print(f"cohort rows: {len(cohorts)}, forecast years: {r.years.size}, members: {r.n_members}")
print(f"single member: {t1 - t0:.2f} s; 200-member ensemble: {t2 - t1:.2f} s "
      f"(ratio {(t2 - t1) / (t1 - t0):.1f}x); target < 5 s")
