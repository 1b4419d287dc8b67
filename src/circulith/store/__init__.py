"""Storage: SQLAlchemy models, repositories and Alembic migrations — the only package that speaks SQL.

SQLite by default (``sqlite:///circulith.db``), PostgreSQL in production
(``postgresql+psycopg://...``). The schema is laid out for a national-scale registry: batteries
keyed by their canonical identifier, events keyed by ``(battery_id, battery_seq)`` so that the
event table can be hash-partitioned by battery, and a single-row ledger head that serialises
appends to the global chain.
"""
