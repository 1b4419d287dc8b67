"""One loader for every shipped reference table, returning it with its version and SHA-256 digest.

A report names the data that produced it with :func:`citations` (every table read in this process) or
with the :class:`TableInfo` of the tables it used: the file name, its version and the digest of its bytes
prove which edition of a table a figure came from, the way a citation names an edition of a book.

Version
    The ``version`` key of a TOML document where it declares one (e.g. ``demo_fleet.toml``), the version
    suffix of the file name (``grading_rules_v1.toml`` -> ``v1``), else the circulith release that ships
    the file. The digest identifies the content exactly in every case.

Tables are read once per process and shared: callers must not modify what they get (copy first).
"""

from __future__ import annotations

import hashlib
import io
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from importlib.resources import files
from typing import Any

import pandas as pd

from circulith.errors import NotFound

DATA_DIR = "data"
"""Folder of the shipped tables inside :mod:`circulith.reference`."""
_VERSION_SUFFIX = re.compile(r"_(v\d+(?:\.\d+)*)$")
_used: dict[str, TableInfo] = {}


@dataclass(frozen=True)
class TableInfo:
    """Which shipped table, which version, which bytes.

    Parameters
    ----------
    name : str
        File name under ``reference/data`` (e.g. ``prices.csv``).
    version : str
        Version of the table (see the module docstring).
    sha256 : str
        SHA-256 of the file's bytes (hex).
    size_bytes : int
        Size of the file [bytes].
    """

    name: str
    version: str
    sha256: str
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON reports."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class CsvTable:
    """A shipped CSV table and what identifies it."""

    info: TableInfo
    frame: pd.DataFrame


@dataclass(frozen=True)
class TomlDocument:
    """A shipped TOML document and what identifies it."""

    info: TableInfo
    data: dict[str, Any]


def _release() -> str:
    try:
        return package_version("circulith")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unreleased"


def table_names() -> list[str]:
    """Every shipped table (CSV and TOML files under ``reference/data``), by name."""
    folder = files("circulith.reference").joinpath(DATA_DIR)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".csv", ".toml")))


@cache
def read_bytes(name: str) -> tuple[bytes, TableInfo]:
    """The bytes of the shipped table ``name`` and its :class:`TableInfo` (recorded in :func:`citations`).

    Raises
    ------
    NotFound
        If no such table is shipped.
    """
    path = files("circulith.reference").joinpath(DATA_DIR, name)
    if "/" in name or "\\" in name or not path.is_file():
        raise NotFound(f"no shipped reference table '{name}' (known: {', '.join(table_names())})")
    raw = path.read_bytes()
    version = None
    if name.endswith(".toml"):
        declared = tomllib.loads(raw.decode("utf-8")).get("version")
        version = str(declared) if declared is not None else None
    if version is None:
        m = _VERSION_SUFFIX.search(name.rsplit(".", 1)[0])
        version = m.group(1) if m else _release()
    info = TableInfo(name=name, version=version, sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw))
    _used[name] = info
    return raw, info


def read_csv(name: str) -> CsvTable:
    """The shipped CSV table ``name`` as a frame, with its :class:`TableInfo`."""
    raw, info = read_bytes(name)
    return CsvTable(info, _frame(name, raw))


@cache
def _frame(name: str, raw: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw))


def read_text(name: str) -> tuple[str, TableInfo]:
    """The shipped table ``name`` as UTF-8 text (for readers that parse it themselves), with its info."""
    raw, info = read_bytes(name)
    return raw.decode("utf-8"), info


def read_toml(name: str) -> TomlDocument:
    """The shipped TOML document ``name``, with its :class:`TableInfo`."""
    raw, info = read_bytes(name)
    return TomlDocument(info, tomllib.loads(raw.decode("utf-8")))


def table_info(name: str) -> TableInfo:
    """The :class:`TableInfo` of one shipped table."""
    return read_bytes(name)[1]


def citations() -> list[TableInfo]:
    """Every shipped table read through this loader in this process, by name: what a report should cite."""
    return [_used[k] for k in sorted(_used)]


def catalogue() -> list[TableInfo]:
    """The :class:`TableInfo` of every shipped table."""
    return [table_info(n) for n in table_names()]
