"""The compiled ledger verifier (``circulith.store._ledger_native``) and what it hands back.

``ledger verify`` spends its time on per-event steps: reading each row, rebuilding its canonical
content, four SHA-256 digests (content, both chain links, the Merkle leaf) and replaying the battery's
state. The compiled verifier does those steps in C over one read-only snapshot of its own (SQLite or
libpq, without the GIL) and returns per-battery results; this module turns them into the same
:class:`~circulith.ledger.verify.VerificationReport`, :class:`~circulith.ledger.replay.ReplayedState`
and :class:`~circulith.ledger.replay.StoredState` objects as the Python verifier, so that the
comparison with the stored state is one piece of code for both.

The Python verifier (:func:`circulith.ledger.verify.verify_chains` and
:class:`circulith.ledger.replay.StateReplay`) is the reference: tests verify the same ledgers,
intact and tampered in every way the tampering tests know, with both and require the same report.
The compiled one is used when it is built, the registry is a database file or a PostgreSQL server,
and ``CIRCULITH_COMPILED_VERIFY`` is not ``0``; where the data has something it does not read the way
the Python verifier does (a column of an unexpected type, a digest that is not 64 characters, a NULL
the schema does not allow, a deeply nested payload) it says so and the Python verifier runs instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.engine import Connection, Engine

from circulith.errors import TransitionRefused
from circulith.ledger.events import EventKind
from circulith.ledger.replay import (
    DYNAMIC_KINDS,
    NOT_AN_OBJECT,
    ORJSON_EXACT_BELOW,
    PAYLOAD_KINDS,
    ReplayedState,
    StateReplay,
    StoredState,
)
from circulith.ledger.state_machine import CUSTODY_TAKING, STATUS_AFTER, LifecycleState, check_transition
from circulith.ledger.verify import Finding, VerificationReport, close_report, finding_adder

try:
    from circulith.store import _ledger_native as native  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler or headers at install time): the Python verifier runs
    native = None

_KINDS = tuple(EventKind)
_STATES = tuple(LifecycleState)
_FLAGS = {"custody": 1, "payload": 2, "registered": 4, "shipped": 8, "installed": 16, "dynamic": 32}  # native/ledger_state.h F_*
_REFUSED = 255


def transition_table() -> bytes:
    """The state after each kind in each state (row 0: no state yet), 255 where the state machine refuses it."""
    out = bytearray()
    for state in (None, *_STATES):
        for kind in _KINDS:
            try:
                out.append(_STATES.index(check_transition("-", state, kind)))
            except TransitionRefused:
                out.append(_REFUSED)
    return bytes(out)


def _flags() -> bytes:
    out = bytearray()
    for kind in _KINDS:
        f = _FLAGS["custody"] if kind in CUSTODY_TAKING else 0
        if kind in PAYLOAD_KINDS:
            f |= _FLAGS["payload"]
        f |= {EventKind.REGISTERED: _FLAGS["registered"], EventKind.SHIPPED: _FLAGS["shipped"],
              EventKind.INSTALLED: _FLAGS["installed"]}.get(kind, 0)
        if kind.value in DYNAMIC_KINDS:
            f |= _FLAGS["dynamic"]
        out.append(f)
    return bytes(out)


def available() -> bool:
    """True when the compiled verifier is built and not switched off (``CIRCULITH_COMPILED_VERIFY=0``)."""
    return native is not None and os.environ.get("CIRCULITH_COMPILED_VERIFY", "1") != "0"


@dataclass
class CompiledPass:
    """What the compiled verifier found: the chains' report, the replayed and the stored states."""

    report: VerificationReport
    replay: StateReplay
    stored: dict[str, StoredState]
    leaves: list[bytes] | None


def _value(raw: str) -> Any:
    """A JSON value as ``json.loads`` reads it (orjson where that is certainly the same)."""
    if raw[0] == '"' and "\\" not in raw:
        return raw[1:-1]
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
    if type(value) is float and not -ORJSON_EXACT_BELOW < value < ORJSON_EXACT_BELOW or isinstance(value, dict | list):
        return json.loads(raw)
    return value


def _broken(battery_id: str, code: int, kind: str, at: str, state: int) -> str:
    """The words :class:`~circulith.ledger.replay.StateReplay` uses for the event that broke a history."""
    if code == 1:
        try:
            EventKind(kind)
        except ValueError as exc:
            return f"event kind {kind!r} at {at}: {exc}"
    if code == 2:
        try:
            check_transition(battery_id, _STATES[state] if state >= 0 else None, EventKind(kind))
        except TransitionRefused as exc:
            return f"event kind {kind!r} at {at}: {exc}"
    return f"event kind {kind!r} at {at}: {NOT_AN_OBJECT}"


def _replayed(battery_id: str, t: tuple) -> ReplayedState:
    _seq, _chain, state, status, custodian, site, region, doc, broken, dynamic = t
    return ReplayedState(
        state=_STATES[state] if state >= 0 else None,
        status=None if status is None else _value(status),
        custodian_org_id=custodian, custody_site_id=site,
        region=None if region is None else _value(region),
        document_sha256=None if doc is None else _value(doc),
        dynamic={key: (at, _value(raw)) for key, (at, raw) in dynamic.items()},
        broken=None if broken is None else _broken(battery_id, *broken),
    )


def replay_tables(dynamic_keys: tuple[str, ...]) -> tuple:
    """The replay rules as the compiled verifier takes them (positional arguments after the database):
    event kinds, the state machine's transition table, each kind's flags, the status each kind sets
    (as JSON), the dynamic keys and the lifecycle states."""
    return (tuple(k.value for k in _KINDS), _TRANSITIONS, _KIND_FLAGS,
            tuple(json.dumps(STATUS_AFTER[k]) if k in STATUS_AFTER else None for k in _KINDS), dynamic_keys,
            tuple(s.value for s in _STATES))


def database_target(engine: Engine | Connection) -> tuple[str, str, bool] | None:
    """("sqlite", path, is_uri) or ("postgresql", libpq URI, False); None for an in-memory database."""
    url = engine.engine.url
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or "mode=memory" in path:
            return None
        return "sqlite", path, path.startswith("file:")
    if url.get_backend_name() == "postgresql":
        return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False), False
    return None


def compiled_pass(engine: Engine | Connection, *, max_findings: int, want_leaves: bool, dynamic_keys: tuple[str, ...]
                  ) -> CompiledPass | str:
    """Verify the ledger with the compiled verifier; where the Python verifier must do it, why.

    The head, every event and every battery are read in one read-only snapshot of a connection of
    the verifier's own (on PostgreSQL exported to a second one, which reads the batteries meanwhile),
    so the caller's transaction must not have written anything it expects to be verified. ``stored`` (and ``replay.states``) then hold only the batteries whose stored state the
    compiled pass could not certainly match with their events; the others match.
    """
    if not available():
        return "the compiled verifier is not built" if native is None else "CIRCULITH_COMPILED_VERIFY=0"
    target = database_target(engine)
    if target is None:
        return "an in-memory database"
    tables = replay_tables(dynamic_keys)
    backend, where, is_uri = target
    try:
        if backend == "sqlite":
            out = native.verify_sqlite(where, *tables, max_findings=max_findings, leaves=want_leaves, uri=is_uri)
        else:
            out = native.verify_postgres(where, *tables, max_findings=max_findings, leaves=want_leaves)
    except RuntimeError as exc:  # the database refused it (busy, missing table, connection): Python reports it
        return f"the compiled verifier could not read the registry ({exc})"
    if "fallback" in out:
        return f"the compiled verifier left the data to it: {out['fallback']}"
    report = VerificationReport(events_checked=out["events"], truncated=out["truncated"], verifier="compiled")
    report.findings.extend(Finding(*f) for f in out["findings"])
    # Only the stored tips and batteries the compiled pass is not certain of come back (each with its row):
    # the same comparisons as the Python verifier's then run on them alone, so the findings are the same.
    expected_tips = {str(r[0]): (int(r[1]), str(r[2])) for r in out["tips"]}
    head_seq, head_sha = out["stored_head"]
    close_report(report, out["tip_events"], out["head"], finding_adder(report, max_findings),
                 expected_head=(int(head_seq), str(head_sha)), expected_tips=expected_tips)
    report.batteries_checked = out["batteries_checked"]
    replay = StateReplay(dynamic_keys)
    stored: dict[str, StoredState] = {}
    for r, replayed in out["uncertain"]:
        stored[r[0]] = StoredState(lifecycle_state=r[3], status=r[4], custodian_org_id=r[5], custody_site_id=r[6],
                                   region=r[7], soh_pct=r[8], document_sha256=r[9], document_digest=r[10],
                                   dynamic_json=r[11])
        if replayed is not None:
            replay.states[r[0]] = _replayed(r[0], replayed)
    raw = out["leaves"]
    leaves = [raw[i:i + 32] for i in range(0, len(raw), 32)] if want_leaves else None
    return CompiledPass(report, replay, stored, leaves)


_TRANSITIONS = transition_table()
_KIND_FLAGS = _flags()
