"""Open an analytics engine (DuckDB or Spark, through Ibis) on the registry's tables.

Sources: the registry's database, as a SQLAlchemy engine or URL (SQLite or PostgreSQL: the columns are read
through the store, :func:`circulith.store.analytics_tables.read_registry_tables`), or a directory of Parquet
exports (``batteries.parquet``, ``events.parquet``, as written by :func:`export_parquet`). Only the columns
the analytics read are loaded (:data:`REGISTRY_COLUMNS`), never the passport documents. For a national
registry export to Parquet once and point the engines at the directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine

from circulith.errors import InvalidInput, NotFound, Problem
from circulith.store.analytics_tables import REGISTRY_COLUMNS, read_registry_tables
from circulith.store.database import create_db_engine

log = logging.getLogger(__name__)

BACKENDS = ("duckdb", "spark")
__all__ = ["BACKENDS", "REGISTRY_COLUMNS", "connect", "connect_arrow", "export_parquet", "registry_arrow"]


DUCKDB_THREADS = 1
"""One DuckDB thread: a parallel aggregation adds floats in an order that depends on thread scheduling, so the
same sum could differ in its last digits between two asks; the registry's tables are small enough for one."""

def registry_arrow(source: str | Engine) -> dict[str, Any]:
    """Arrow tables of the analytics columns from a database engine or URL (SQLite or PostgreSQL)."""
    if isinstance(source, Engine):
        return read_registry_tables(source)
    engine = create_db_engine(source)
    try:
        return read_registry_tables(engine)
    finally:
        engine.dispose()


def export_parquet(source: str | Engine, out_dir: str | Path) -> dict[str, Path]:
    """Write ``batteries.parquet`` and ``events.parquet`` (analytics columns only) from the registry.

    Parameters
    ----------
    source : str or sqlalchemy.Engine
        The registry's database URL (SQLite or PostgreSQL) or engine.
    out_dir : str or Path
        Directory to write into (created if absent).

    Returns
    -------
    dict
        Table name -> written file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table in registry_arrow(source).items():
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


def connect(source: str | Path | Engine, backend: str = "duckdb", *, spark_session: Any = None) -> Any:
    """An Ibis backend with tables ``batteries`` and ``events`` registered.

    Parameters
    ----------
    source : str, Path or sqlalchemy.Engine
        The registry's engine, its database URL (``sqlite:///...``, ``postgresql+psycopg://...``), or a
        directory holding ``batteries.parquet`` and ``events.parquet``.
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
    parquet_dir = None
    if not isinstance(source, Engine):
        src = str(source)
        if "://" not in src and not src.startswith(("sqlite:", "postgresql")):
            parquet_dir = Path(src)
            missing = [f"{t}.parquet" for t in REGISTRY_COLUMNS if not (parquet_dir / f"{t}.parquet").exists()]
            if missing:
                raise NotFound(f"Parquet export incomplete in {parquet_dir}: missing {', '.join(missing)}")
        elif src.startswith("sqlite:///") and not Path(src[len("sqlite:///"):]).is_file():
            raise NotFound(f"SQLite registry not found: {src[len('sqlite:///'):]}")
    if backend == "duckdb":
        con = ibis.duckdb.connect(threads=DUCKDB_THREADS)
        if parquet_dir is not None:
            for t in REGISTRY_COLUMNS:
                con.read_parquet(parquet_dir / f"{t}.parquet", table_name=t)
            return con
        for t, table in registry_arrow(source if isinstance(source, Engine) else str(source)).items():
            con.con.register(t, table)
        return con
    session = spark_session or _spark_session()
    con = ibis.pyspark.connect(session)
    if parquet_dir is not None:
        for t in REGISTRY_COLUMNS:
            con.read_parquet(str(parquet_dir / f"{t}.parquet"), table_name=t)
        return con
    for t, table in registry_arrow(source if isinstance(source, Engine) else str(source)).items():
        session.createDataFrame(table.to_pandas()).createOrReplaceTempView(t)
    return con


def connect_arrow(tables: dict[str, Any]) -> Any:
    """A DuckDB Ibis backend on Arrow tables already read (e.g. :func:`registry_arrow`, cached by the caller)."""
    import ibis

    con = ibis.duckdb.connect(threads=DUCKDB_THREADS)
    for t, table in tables.items():
        con.con.register(t, table)
    return con
