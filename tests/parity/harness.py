"""Door parity: the CLI's ``--json`` output and the API's response for one use case, principal and database.

A :class:`Case` names the CLI arguments and the API path of one use case; :func:`cli_json` runs the CLI
in-process as an organisation (``--as``) on a database URL, :func:`api_json` calls the API as that
organisation's logged-in demo user, and :func:`assert_parity` compares the two documents and reports the
first paths where they differ. To cover another use case, add a ``Case`` (with ``{placeholders}`` bound
from the scenario at run time) to a test module next to ``test_registry_parity.py``, as its ``CASES`` do.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from circulith.cli.main import run


@dataclass(frozen=True)
class Case:
    """One use case reachable through two doors.

    Parameters
    ----------
    name : str
        Test ID.
    org : str
        The organisation both doors act as (``--as`` / the demo user's login).
    cli : list of str
        CLI arguments after the global options, without ``--json``.
    api : str
        API path with its query string.
    ignore : tuple of str
        Dotted paths that may differ (e.g. a time stamp taken at the call); empty for most cases.
    """

    name: str
    org: str
    cli: list[str]
    api: str
    ignore: tuple[str, ...] = field(default=())

    def bind(self, **values: str) -> Case:
        """The case with ``{placeholders}`` in ``org``, ``cli`` and ``api`` filled in (``api`` URL-quoted)."""
        quoted = {k: quote(v, safe="") for k, v in values.items()}
        return Case(self.name, self.org.format(**values), [a.format(**values) for a in self.cli],
                    self.api.format(**quoted), self.ignore)


def cli_json(db_url: str, org: str, argv: list[str]) -> Any:
    """The JSON document ``circulith --db URL --as ORG ARGV --json`` prints (asserts exit code 0)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["--db", db_url, "--as", org, *argv, "--json"])
    assert code == 0, f"circulith {' '.join(argv)} as {org} exited {code}: {err.getvalue() or out.getvalue()}"
    return json.loads(out.getvalue())


def api_json(client: Any, path: str) -> Any:
    """The JSON body of ``GET path`` for a logged-in test client (asserts status 200)."""
    r = client.get(path)
    assert r.status_code == 200, f"GET {path} as {client.org_id}: {r.status_code} {r.text[:300]}"
    return r.json()


def dashboard_csv(client: Any, table: str) -> dict[str, int]:
    """A dashboard count table (``/dashboard/csv/TABLE.csv``) as {label: count}, for the third door."""
    r = client.get(f"/dashboard/csv/{table}.csv")
    assert r.status_code == 200, f"dashboard table {table} as {client.org_id}: {r.status_code}"
    rows = list(csv.reader(io.StringIO(r.text)))
    return {label: int(count) for label, count in rows[1:]}


def _diffs(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                yield f"{p}: only in {'the CLI' if k in a else 'the API'}"
            else:
                yield from _diffs(a[k], b[k], p)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items in the CLI, {len(b)} in the API"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _diffs(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: CLI {a!r} != API {b!r}"


def assert_parity(case: Case, cli_doc: Any, api_doc: Any) -> None:
    """Assert both documents are equal outside ``case.ignore``; name up to ten differing paths."""
    diffs = [d for d in _diffs(cli_doc, api_doc) if not any(d.startswith(i) for i in case.ignore)]
    assert not diffs, f"{case.name}: the CLI and the API differ:\n  " + "\n  ".join(diffs[:10])


def check(case: Case, db_url: str, clients: dict[str | None, Any]) -> tuple[Any, Any]:
    """Run ``case`` through both doors, assert parity, and return (CLI document, API document)."""
    cli_doc = cli_json(db_url, case.org, case.cli)
    api_doc = api_json(clients[case.org], case.api)
    assert_parity(case, cli_doc, api_doc)
    return cli_doc, api_doc
