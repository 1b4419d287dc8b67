"""Per-kg-cell results of every route for NMC622 and LFP cells at a price date (for RESULTS.md).

    .venv/bin/python benchmarks/recovery_route_table.py [YYYY-MM-DD]
"""

from __future__ import annotations

import datetime as dt
import sys

from circulith.recovery.valuation import evaluate


def main() -> None:
    date = dt.date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else dt.date(2023, 12, 31)
    print(f"prices as of {date}; per kg of cells")
    print("| chemistry | route | revenue USD/kg | cost USD/kg | net USD/kg | energy MJ/kg | GHG kg CO2e/kg | water L/kg "
          "| Li | Ni | Co |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for chem in ("NMC622", "LFP"):
        for route in ("pyro", "hydro", "direct", "black_mass"):
            r = evaluate(chem, "cell", 1.0, route, as_of=date)
            rec = r.element_recovery
            print(f"| {chem} | {route} | {r.revenue_usd:.2f} | {r.cost_usd:.2f} | {r.net_usd:.2f} | {r.energy_mj:.1f} | "
                  f"{r.ghg_kg_co2e:.2f} | {r.water_m3 * 1000:.1f} | "
                  + " | ".join(f"{rec[e]:.0%}" if e in rec else "-" for e in ("Li", "Ni", "Co")) + " |")


if __name__ == "__main__":
    main()
