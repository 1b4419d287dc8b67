"""Shipped, cited reference tables and their loaders.

Every table under ``data/`` carries a ``source`` column (or a ``source`` key) per row: no
reference number enters a computation without its citation.
"""
