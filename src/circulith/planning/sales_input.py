"""The planner's own sales (or registrations) as forecast cohorts, in place of the shipped IEA series.

Sales file schema (CSV or Parquet; one row per region, chemistry, year and segment)::

    region     text    any region name the planner uses (e.g. "Germany", "Bavaria", "Europe")
    chemistry  text    a chemistry code of the shipped catalogue (chemistries.csv: LFP, NMC811, NCA, ...)
    year       int     sales (first registration) year, 1990-2100
    units      float   vehicles (or packs) sold that year [-], >= 0
    segment    text    optional: Cars, Vans, Buses or Trucks (default Cars): selects the lifetime law
    pack_kwh   float   optional: average pack energy per vehicle [kWh] (default: the scenario's BEV pack
                       energy of the segment, lifetime_defaults.toml [pack_kwh])

Rows are summed per (year, region, segment, chemistry) only if the file gives each key once; a key given
twice is refused, as are unknown chemistries, missing columns and non-numeric, negative or out-of-range values,
each error naming its data row (1-based) and column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from circulith.errors import InvalidInput, Problem

SALES_COLUMNS = ("region", "chemistry", "year", "units")
SALES_OPTIONAL = ("segment", "pack_kwh")
YEAR_RANGE = (1990, 2100)
"""Accepted sales years (inclusive) [year]."""
MAX_ERRORS = 20


def sales_cohorts(sales: pd.DataFrame, *, segments: Iterable[str], chemistries: Iterable[str],
                  pack_kwh: Mapping[str, Mapping[str, float]], source: str = "sales") -> pd.DataFrame:  # fmt: skip
    """Validate a sales table and return forecast cohorts ``year, region, segment, chemistry, units, pack_kwh``.

    Parameters
    ----------
    sales : pandas.DataFrame
        The planner's table (schema in the module docstring).
    segments : iterable of str
        Segments with a lifetime law in the scenario.
    chemistries : iterable of str
        Known chemistry codes.
    pack_kwh : mapping segment -> {powertrain -> kWh}
        The scenario's pack energies; ``BEV`` of the segment is the default pack energy [kWh].
    source : str
        File name for error messages.

    Raises
    ------
    InvalidInput
        Every problem found (up to 20), each with its row and column.
    """
    missing = [c for c in SALES_COLUMNS if c not in sales.columns]
    if missing:
        raise InvalidInput([Problem(None, c, "missing column") for c in missing], source=source)
    if sales.empty:
        raise InvalidInput(Problem(None, "units", "no rows"), source=source)
    segs, chems = set(segments), set(chemistries)
    problems: list[Problem] = []
    rows = []
    seen: set[tuple[int, str, str, str]] = set()
    for n, rec in enumerate(sales.to_dict(orient="records"), start=1):
        region = str(rec["region"]).strip() if isinstance(rec["region"], str) else ""
        chem = str(rec["chemistry"]).strip() if isinstance(rec["chemistry"], str) else ""
        seg = rec.get("segment")
        seg = str(seg).strip() if isinstance(seg, str) and seg.strip() else "Cars"
        if not region:
            problems.append(Problem(n, "region", "empty"))
        if chem not in chems:
            problems.append(Problem(n, "chemistry", f"unknown chemistry {rec['chemistry']!r}"))
        if seg not in segs:
            problems.append(Problem(n, "segment", f"unknown segment {seg!r}; expected one of {sorted(segs)}"))
        year = _number(rec["year"])
        if year is None or year != int(year) or not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
            problems.append(Problem(n, "year", f"must be a whole year in {YEAR_RANGE[0]}-{YEAR_RANGE[1]}, "
                                    f"got {rec['year']!r}"))  # fmt: skip
            year = None
        units = _number(rec["units"])
        if units is None or units < 0:
            problems.append(Problem(n, "units", f"must be a number >= 0, got {rec['units']!r}"))
        kwh_raw = rec.get("pack_kwh")
        kwh = _number(kwh_raw) if kwh_raw is not None and not _blank(kwh_raw) else None
        if kwh_raw is not None and not _blank(kwh_raw) and (kwh is None or not 0 < kwh <= 2000):
            problems.append(Problem(n, "pack_kwh", f"must be a number in (0, 2000] kWh, got {kwh_raw!r}"))
        if kwh is None and seg in pack_kwh and "BEV" in pack_kwh[seg]:
            kwh = float(pack_kwh[seg]["BEV"])
        if year is not None and region and chem:
            key = (int(year), region, seg, chem)
            if key in seen:
                problems.append(Problem(n, "year", f"{region} / {chem} / {seg} / {int(year)} given twice"))
            seen.add(key)
        if len(problems) >= MAX_ERRORS:
            break
        rows.append({"year": int(year) if year is not None else 0, "region": region, "segment": seg,
                     "chemistry": chem, "units": units or 0.0, "pack_kwh": kwh})  # fmt: skip
    if problems:
        raise InvalidInput(problems, source=source)
    return pd.DataFrame(rows).sort_values(["region", "year", "chemistry"]).reset_index(drop=True)


def _blank(v: object) -> bool:
    return (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _number(v: object) -> float | None:
    if isinstance(v, bool) or v is None or _blank(v):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
