"""The planner's own cost or distance matrix for the network plan, in place of great-circle distances.

Cost matrix file (CSV or a frame), one row per arc::

    origin_id, destination_id, distance_km, cost_usd_per_t

``origin_id`` is a source of the demand file (to a spoke, dismantler or reuse site) or a first-echelon site
(to a hub or refiner); ``destination_id`` a site of the sites file. Give ``distance_km`` (road distance, used
as is: no circuity factor), ``cost_usd_per_t`` (a haulier's tariff per tonne, replacing the truck-km cost of
that arc; trucks are still counted for payload and emissions), or both. Arcs absent from the file keep the
estimated road distance (great-circle times the road circuity of ``network_defaults.toml``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.network_model import NetworkInstance

COST_MATRIX_COLUMNS = ("origin_id", "destination_id")
COST_MATRIX_VALUES = ("distance_km", "cost_usd_per_t")


def _value(row: int, field: str, v: object, source: str) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(Problem(row, field, f"not a number: {v!r}"), source=source) from None
    if not math.isfinite(x) or x < 0:
        raise InvalidInput(Problem(row, field, f"must be a finite number >= 0, got {v!r}"), source=source)
    return x


def apply_cost_matrix(inst: NetworkInstance, costs: pd.DataFrame, *, source: str = "costs") -> str:
    """Replace distances and truck costs of the arcs named in ``costs`` (in place); returns a note.

    Parameters
    ----------
    inst : NetworkInstance
        The instance from :func:`circulith.planning.network_model.make_instance`.
    costs : pandas.DataFrame
        Columns ``origin_id, destination_id`` and at least one of ``distance_km`` [km], ``cost_usd_per_t``
        [USD/t].
    source : str
        Name used in error messages.

    Raises
    ------
    InvalidInput
        Missing columns, an unknown origin or destination, an arc the network has no place for (e.g. source to
        hub), a negative or non-numeric value, an arc given twice; the row (1-based data row) is named.
    """
    missing = [c for c in COST_MATRIX_COLUMNS if c not in costs.columns]
    if missing:
        raise InvalidInput(Problem(None, missing[0], "missing column (need origin_id, destination_id)"), source=source)
    if not any(c in costs.columns for c in COST_MATRIX_VALUES):
        raise InvalidInput(Problem(None, "distance_km", "give distance_km and/or cost_usd_per_t"), source=source)
    src = {str(s): i for i, s in enumerate(inst.src_ids)}
    first = {str(s): j for j, s in enumerate(inst.first["site_id"])}
    second = {str(s): h for h, s in enumerate(inst.second["site_id"])}
    reuse = {str(s): k for k, s in enumerate(inst.reuse["site_id"])}
    seen: set[tuple[str, str]] = set()
    n_dist = n_tariff = 0
    for row, rec in enumerate(costs.to_dict(orient="records"), start=1):
        o, d = str(rec["origin_id"]).strip(), str(rec["destination_id"]).strip()
        if (o, d) in seen:
            raise InvalidInput(Problem(row, "destination_id", f"arc {o} -> {d} given twice"), source=source)
        seen.add((o, d))
        km = _value(row, "distance_km", rec.get("distance_km"), source)
        tariff = _value(row, "cost_usd_per_t", rec.get("cost_usd_per_t"), source)
        if km is None and tariff is None:
            raise InvalidInput(Problem(row, "distance_km", "empty: give distance_km or cost_usd_per_t"), source=source)
        if o in src and d in first:
            dist, haul, tar, at = inst.dist1, inst.haul1, inst.tariff1, (src[o], first[d])
        elif o in src and d in reuse:
            dist, haul, tar, at = inst.dist_r, inst.haul_r, inst.tariff_r, (src[o], reuse[d])
        elif o in first and d in second:
            dist, haul, tar, at = inst.dist2, inst.haul2, inst.tariff2, (first[o], second[d])
        else:
            known = o in src or o in first
            what = (f"unknown destination '{d}'" if known and d not in first | second | reuse
                    else f"unknown origin '{o}'" if not known
                    else f"no arc {o} -> {d} in the network (sources feed spokes and reuse sites, spokes feed hubs)")  # fmt: skip
            raise InvalidInput(Problem(row, "origin_id" if not known else "destination_id", what), source=source)
        basis = []
        if km is not None:
            dist[at] = km
            haul[at] = km
            n_dist += 1
            basis.append("road distance from the cost matrix")
        if tariff is not None:
            tar[at] = tariff
            haul[at] = 0.0
            n_tariff += 1
            basis.append("tariff per tonne from the cost matrix")
        inst.cost_basis[(o, d)] = "; ".join(basis)
    n_arcs = int(np.prod(inst.dist1.shape) + np.prod(inst.dist2.shape) + np.prod(inst.dist_r.shape))
    return (f"cost matrix: {len(seen)} of {n_arcs} arcs given ({n_dist} road distances, {n_tariff} per-tonne "
            f"tariffs); other arcs at the estimated road distance")  # fmt: skip
