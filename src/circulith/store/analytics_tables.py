"""Registry columns for the analytics engines, read through the store's engine (SQLite or PostgreSQL).

Only the columns the analytics read (:data:`REGISTRY_COLUMNS`) are selected, never the passport documents;
the result is Arrow, which DuckDB and Spark take without a copy through Python objects per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from circulith.errors import NotFound
from circulith.store.database import snapshot_engine
from circulith.store.models import Battery, Event

REGISTRY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "batteries": ("battery_id", "level", "parent_battery_id", "chemistry", "manufacturing_date", "status",
                  "lifecycle_state", "region", "custodian_org_id", "custody_site_id", "mass_kg",
                  "rated_energy_kwh", "soh_pct"),
    "events": ("battery_id", "battery_seq", "kind", "occurred_at", "actor_org_id", "site_id", "payload_json"),
}  # fmt: skip
_MODELS = {"batteries": Battery, "events": Event}
_SCHEMAS: Mapping[str, Mapping[str, pa.DataType]] = {
    "batteries": {"mass_kg": pa.float64(), "rated_energy_kwh": pa.float64(), "soh_pct": pa.float64()},
    "events": {"battery_seq": pa.int64()},
}
BATCH_ROWS = 100_000
"""Rows fetched per round trip when reading a table [rows]."""


def _as_text(v: object) -> str | None:
    if v is None:
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def read_registry_tables(engine: Engine, tables: Sequence[str] = ("batteries", "events")) -> dict[str, pa.Table]:
    """The analytics columns of ``batteries`` and ``events`` as Arrow tables (text, float and int columns).

    Dates and timestamps come back as ISO 8601 text whatever the backend, as the analytics expect.
    """
    try:
        return _read(engine, tables)
    except OperationalError as exc:
        raise NotFound(f"cannot read the registry database {engine.url.render_as_string(hide_password=True)}: "
                       f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}") from exc


def _read(engine: Engine, tables: Sequence[str]) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    with snapshot_engine(engine).connect() as conn:  # a reader: never waits for the write lock
        for name in tables:
            model = _MODELS[name]
            cols = REGISTRY_COLUMNS[name]
            stmt = select(*(getattr(model, c) for c in cols)).execution_options(yield_per=BATCH_ROWS)
            data: list[list[object]] = [[] for _ in cols]
            for part in conn.execute(stmt).partitions():
                for row in part:
                    for k, v in enumerate(row):
                        data[k].append(v)
            fields, arrays = [], []
            for col, values in zip(cols, data, strict=True):
                typ = _SCHEMAS[name].get(col, pa.string())
                if typ == pa.string():
                    values = [_as_text(v) for v in values]
                fields.append(pa.field(col, typ))
                arrays.append(pa.array(values, type=typ))
            out[name] = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    return out
