"""Open an analytics engine (DuckDB or Spark, through Ibis) on the registry's tables.

Sources: a SQLAlchemy-style SQLite URL (``sqlite:////path/registry.db``) or a directory of Parquet exports
(``batteries.parquet``, ``events.parquet``, as written by :func:`export_parquet`). Only the columns the
analytics read are loaded (:data:`REGISTRY_COLUMNS`), never the passport documents.

DuckDB reads a SQLite file through its ``sqlite`` extension when that extension is installed; otherwise
(offline machines) the columns are read with Python's ``sqlite3`` into Arrow and handed to DuckDB. Spark
reads Parquet natively; a SQLite source is loaded through Arrow (fine for a test, not for a national
registry: export to Parquet first).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from circulith.errors import InvalidInput, NotFound, Problem

log = logging.getLogger(__name__)

REGISTRY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "batteries": ("battery_id", "level", "parent_battery_id", "chemistry", "manufacturing_date", "status",
                  "lifecycle_state", "region", "custodian_org_id", "custody_site_id", "mass_kg",
                  "rated_energy_kwh", "soh_pct"),
    "events": ("battery_id", "battery_seq", "kind", "occurred_at", "actor_org_id", "site_id", "payload_json"),
}  # fmt: skip
_SCHEMAS: Mapping[str, Mapping[str, pa.DataType]] = {
    "batteries": {"mass_kg": pa.float64(), "rated_energy_kwh": pa.float64(), "soh_pct": pa.float64()},
    "events": {"battery_seq": pa.int64()},
}
BACKENDS = ("duckdb", "spark")


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise InvalidInput(Problem(None, "database_url", f"only sqlite:/// URLs or a Parquet directory are "
                                   f"supported by the analytics connector, got {url.split(':', 1)[0]!r}; "
                                   f"export the registry to Parquet first"))  # fmt: skip
    path = Path(url[len("sqlite:///"):])
    if not path.is_file():
        raise NotFound(f"SQLite registry not found: {path}")
    return path


def read_sqlite_tables(path: str | Path, tables: Sequence[str] = ("batteries", "events")) -> dict[str, pa.Table]:
    """Read the analytics columns of the registry tables from a SQLite file into Arrow tables."""
    out: dict[str, pa.Table] = {}
    con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        for name in tables:
            cols = REGISTRY_COLUMNS[name]
            cur = con.execute(f"SELECT {', '.join(cols)} FROM {name}")
            data = list(zip(*cur.fetchall(), strict=True)) or [() for _ in cols]
            fields = []
            arrays = []
            for col, values in zip(cols, data, strict=True):
                typ = _SCHEMAS[name].get(col, pa.string())
                fields.append(pa.field(col, typ))
                arrays.append(pa.array(list(values), type=typ))
            out[name] = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    finally:
        con.close()
    return out


def export_parquet(database_url: str, out_dir: str | Path) -> dict[str, Path]:
    """Write ``batteries.parquet`` and ``events.parquet`` (analytics columns only) from a SQLite registry.

    Returns
    -------
    dict
        Table name -> written file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table in read_sqlite_tables(_sqlite_path(database_url)).items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        written[name] = path
    return written


def _spark_session() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise InvalidInput(Problem(None, "backend", "Spark backend needs pyspark: pip install 'circulith[spark]'")) from exc
    return (SparkSession.builder.master("local[2]").appName("circulith-analytics")
            .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2").getOrCreate())  # fmt: skip


def connect(source: str | Path, backend: str = "duckdb", *, spark_session: Any = None) -> Any:
    """An Ibis backend with tables ``batteries`` and ``events`` registered.

    Parameters
    ----------
    source : str or Path
        ``sqlite:////path/to/registry.db`` or a directory holding ``batteries.parquet`` and ``events.parquet``.
    backend : {"duckdb", "spark"}
        Engine. ``spark`` needs the ``circulith[spark]`` extra and a Java runtime.
    spark_session : pyspark.sql.SparkSession, optional
        Session to use (default: a local one, 2 cores, UTC).

    Returns
    -------
    ibis.BaseBackend
        Call ``con.table("batteries")`` / ``con.table("events")``, or pass it to the functions of
        :mod:`circulith.analytics.fleet`.
    """
    import ibis

    if backend not in BACKENDS:
        raise InvalidInput(Problem(None, "backend", f"unknown backend {backend!r}; expected one of {BACKENDS}"))
    src = str(source)
    parquet_dir = None if "://" in src or src.startswith("sqlite:") else Path(src)
    if parquet_dir is not None:
        missing = [f"{t}.parquet" for t in REGISTRY_COLUMNS if not (parquet_dir / f"{t}.parquet").exists()]
        if missing:
            raise NotFound(f"Parquet export incomplete in {parquet_dir}: missing {', '.join(missing)}")
    if backend == "duckdb":
        con = ibis.duckdb.connect()
        if parquet_dir is not None:
            for t in REGISTRY_COLUMNS:
                con.read_parquet(parquet_dir / f"{t}.parquet", table_name=t)
            return con
        path = _sqlite_path(src)
        try:
            con.raw_sql("SET autoinstall_known_extensions = false")
            con.raw_sql("LOAD sqlite")
            con.raw_sql(f"ATTACH '{path}' AS registry (TYPE sqlite, READ_ONLY)")
            for t, cols in REGISTRY_COLUMNS.items():
                con.raw_sql(f"CREATE VIEW {t} AS SELECT {', '.join(cols)} FROM registry.{t}")
            log.info("DuckDB reads %s through its sqlite extension", path)
        except Exception:  # the extension is not installed (offline): load the columns through Arrow
            log.info("DuckDB sqlite extension unavailable; loading %s through Arrow", path)
            for t, table in read_sqlite_tables(path).items():
                con.con.register(t, table)
        return con
    session = spark_session or _spark_session()
    con = ibis.pyspark.connect(session)
    if parquet_dir is not None:
        for t in REGISTRY_COLUMNS:
            con.read_parquet(str(parquet_dir / f"{t}.parquet"), table_name=t)
        return con
    for t, table in read_sqlite_tables(_sqlite_path(src)).items():
        session.createDataFrame(table.to_pandas()).createOrReplaceTempView(t)
    return con
