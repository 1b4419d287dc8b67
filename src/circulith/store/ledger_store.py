"""Appending lifecycle events to the stored ledger, reading histories and verifying the chains.

Appends run inside the caller's transaction: the ledger head row is locked before anything else is
read (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite the unit of work holds the write lock from its
``BEGIN IMMEDIATE``, see :func:`circulith.store.database.transaction`), every event is checked against
the battery's state and time line, chained, and written in bulk with the batteries' new state. The head
moves only when events were appended, by a guarded update (``WHERE global_seq = :read_seq``): a writer
that lost a race gets :class:`~circulith.store.database.WriteConflict` (retried by the caller), never a
head moved backwards. Any problem raises :class:`~circulith.errors.InvalidInput` naming every
offending event, and the caller's transaction rolls everything back.
"""

from __future__ import annotations

import gc
import hashlib
import json
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from circulith.errors import InvalidInput, NotFound, Problem, TransitionRefused
from circulith.ledger.chain import BatteryHead, ChainBuilder, event_uuid5
from circulith.ledger.events import EventKind, LedgerEvent, format_timestamp
from circulith.ledger.hashing import canonical_json, content_text, with_event_id
from circulith.ledger.replay import StateReplay, StoredState
from circulith.ledger.state_machine import CUSTODY_TAKING, STATUS_AFTER, LifecycleState, check_transition
from circulith.ledger.verify import StoredEvent, VerificationReport, verify_chains
from circulith.passport.model import DynamicCondition, DynamicValue
from circulith.store.database import WriteConflict
from circulith.store.models import EVENT_COLUMNS, Battery, Event, Identifier, LedgerHead
from circulith.store.native_verify import CompiledPass, compiled_pass

CHUNK = 900  # bound for IN (...) lists (SQLite allows 32766 variables; keep statements small)
CLOCK_SKEW = timedelta(minutes=5)

# Payload keys of BMS snapshots, tests and grades that update the passport's dynamic condition: every
# dynamic value of the passport model (one source).
DYNAMIC_KEYS = tuple(
    name for name, f in DynamicCondition.model_fields.items() if DynamicValue in typing.get_args(f.annotation)
)
DYNAMIC_EVENT_KINDS = frozenset({EventKind.BMS_SNAPSHOT, EventKind.TESTED, EventKind.GRADED})
"""Kinds whose payload's dynamic values (and ``accident``) update the passport's dynamic condition."""
OUT_OF_ORDER_OK = frozenset({EventKind.BMS_SNAPSHOT})
"""Kinds that may be recorded with a time before the battery's last event (late BMS uploads)."""


@dataclass
class BatteryState:
    """A battery's row as an append reads, checks and writes it back (the Python and the compiled import)."""

    battery_id: str
    state: LifecycleState
    status: str
    manufactured_from: str  # earliest admissible timestamp (first instant of the manufacturing month)
    last_occurred_at: str
    custodian_org_id: str | None
    custody_site_id: str | None
    region: str | None
    soh_pct: float | None
    dynamic_json: str
    head: BatteryHead
    dirty: bool = False
    doc_obj: dict[str, Any] | None = None  # parsed dynamic values, once changed


@dataclass
class AppendResult:
    """What an append did."""

    appended: int = 0
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)
    head_global_seq: int = 0
    head_sha256: str = ""


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def in_clauses(session: Session, column: Any, values: Sequence[str]) -> Iterator[Any]:
    """``column IN values`` as few WHERE clauses as the backend takes: chunks of :data:`CHUNK` on SQLite,
    one ``= ANY(array)`` on PostgreSQL (a single parameter, however many values)."""
    unique = list(dict.fromkeys(values))
    if not unique:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam("values", unique, type_=ARRAY(String)))
        return
    for part in chunks(unique):
        yield column.in_(part)


def resolve_battery_ids(session: Session, identifiers: Sequence[str]) -> dict[str, str]:
    """Map canonical identifiers (any scheme) to battery IDs; unknown ones are absent."""
    out: dict[str, str] = {}
    for where in in_clauses(session, Identifier.identifier, identifiers):
        for ident, bat in session.execute(select(Identifier.identifier, Identifier.battery_id).where(where)):
            out[ident] = bat
    return out


def battery_ids_by_passport_id(session: Session, passport_ids: Sequence[str]) -> dict[str, str]:
    """Map passport IDs (``urn:uuid:...``) to battery IDs; unknown ones are absent."""
    out: dict[str, str] = {}
    for part in chunks(list(dict.fromkeys(passport_ids))):
        for pid, bid in session.execute(select(Battery.passport_id, Battery.battery_id)
                                        .where(Battery.passport_id.in_(part))):
            out[str(pid)] = str(bid)
    return out


def lock_head(session: Session) -> tuple[int, str]:
    """Lock and return the global chain head (sequence number, digest)."""
    stmt = select(LedgerHead.global_seq, LedgerHead.global_chain_sha256).where(LedgerHead.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound("the ledger head is missing: run 'circulith db upgrade'")
    return int(row[0]), str(row[1])


def write_head(session: Session, seq: int, sha: str, *, read: tuple[int, str]) -> None:
    """Move the global chain head from ``read`` (as :func:`lock_head` returned it) to ``(seq, sha)``.

    Does nothing when nothing was appended. The update is guarded by the head that was read, so a
    head moved meanwhile by another writer is never overwritten.

    Raises
    ------
    WriteConflict
        If the head is no longer the one read.
    """
    if (seq, sha) == read:
        return
    if seq <= read[0]:
        raise ValueError(f"the ledger head can only move forward (from #{read[0]} to #{seq})")
    moved = session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1, LedgerHead.global_seq == read[0], LedgerHead.global_chain_sha256 == read[1])
        .values(global_seq=seq, global_chain_sha256=sha)
    ).rowcount  # type: ignore[attr-defined]
    if moved != 1:
        raise WriteConflict(f"the ledger head moved past #{read[0]} during this write: nothing was written, retry")


@contextmanager
def _driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (as its own statements do), for work on the driver's cursor:
    :func:`circulith.store.database.transaction` tells lost races from them."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def insert_event_rows(session: Session, rows: Sequence) -> None:
    """Bulk-insert chained rows (:class:`~circulith.ledger.verify.StoredEvent`, or tuples in its field order)."""
    if not rows:
        return
    conn = session.connection()
    tuples = [astuple_event(row) if isinstance(row, StoredEvent) else row for row in rows]
    if conn.dialect.name == "postgresql":  # COPY: one stream instead of a statement per row
        statement = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        cursor = conn.connection.cursor()
        try:
            with _driver_errors(conn, statement), cursor.copy(statement) as copy:
                for row in tuples:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    mark = "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"
    conn.exec_driver_sql(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join([mark] * len(EVENT_COLUMNS))})", tuples)


def astuple_event(row: StoredEvent) -> tuple:
    """A chained row as a tuple in :data:`EVENT_COLUMNS` order."""
    return (row.global_seq, row.battery_id, row.battery_seq, row.event_id, row.kind, row.occurred_at, row.actor_org_id,
            row.site_id, row.payload_json, row.content_sha256, row.battery_prev_sha256, row.battery_chain_sha256,
            row.global_prev_sha256, row.global_chain_sha256)


_STATES_SQL = ("SELECT battery_id, lifecycle_state, status, manufacturing_date, last_occurred_at, custodian_org_id, "
               "custody_site_id, region, soh_pct, dynamic_json, last_seq, last_chain_sha256 FROM batteries "
               "WHERE battery_id IN (SELECT value FROM json_each(?))")


def rows_by_keys(session: Session, sql: str, keys: Sequence[str]) -> Any:
    """Rows of ``sql`` (``... IN (SELECT value FROM json_each(?))``) for ``keys``, in one statement: a JSON
    array on SQLite, an array (``= ANY(%b)``, sent in binary: no escaping) on PostgreSQL."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql(sql.replace("IN (SELECT value FROM json_each(?))", "= ANY(%b)"), (list(keys),))
    return conn.exec_driver_sql(sql, (json.dumps(list(keys)),))


def load_states(session: Session, battery_ids: Sequence[str]) -> dict[str, BatteryState]:
    """The stored state of each of ``battery_ids`` that exists, by battery id, in one statement."""
    if not battery_ids:
        return {}
    return {r[0]: BatteryState(
        battery_id=r[0], state=LifecycleState(r[1]), status=r[2], manufactured_from=f"{r[3]}-01T00:00:00.000000Z",
        last_occurred_at=r[4], custodian_org_id=r[5], custody_site_id=r[6], region=r[7], soh_pct=r[8],
        dynamic_json=r[9], head=BatteryHead(r[10], r[11]),
    ) for r in rows_by_keys(session, _STATES_SQL, battery_ids)}


_EXISTING_SQL = ("SELECT event_id, battery_id, kind, occurred_at, actor_org_id, site_id, payload_json FROM events "
                 "WHERE event_id IN (SELECT value FROM json_each(?))")


def existing_events(session: Session, event_ids: Sequence[str]) -> dict[str, tuple]:
    """The recorded events among ``event_ids``: ``{event_id: (event_id, battery_id, kind, occurred_at,
    actor_org_id, site_id, payload_json)}``, in one statement (a JSON array on SQLite, an array on PostgreSQL)."""
    if not event_ids:
        return {}
    return {r[0]: tuple(r) for r in rows_by_keys(session, _EXISTING_SQL, event_ids)}


_DYNAMIC_KEY_SET = frozenset(DYNAMIC_KEYS)
_TRANSITIONS: dict[tuple[LifecycleState, EventKind], LifecycleState] = {}


def _utc_text(value: datetime) -> str:
    """:func:`circulith.ledger.events.format_timestamp`, without a copy of the datetime when it is in UTC already."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"  # (drops "+00:00")
    return format_timestamp(value)


def _transition(battery_id: str, state: LifecycleState, kind: EventKind) -> LifecycleState:
    """:func:`check_transition`, with the allowed (state, kind) pairs remembered (refusals are not)."""
    after = _TRANSITIONS.get((state, kind))
    if after is None:
        after = _TRANSITIONS[(state, kind)] = check_transition(battery_id, state, kind)
    return after


def recorded_event_ids(session: Session, event_ids: Sequence[str]) -> set[str]:
    """Those of ``event_ids`` the ledger already holds."""
    return set(existing_events(session, [e for e in event_ids if e]))


def _apply_dynamic(st: BatteryState, payload: dict[str, Any], at: str) -> None:
    values = {k: v for k, v in payload.items() if k in _DYNAMIC_KEY_SET and v is not None}
    accident = payload.get("accident")
    if not values and not isinstance(accident, dict):
        return
    dyn = st.doc_obj if st.doc_obj is not None else json.loads(st.dynamic_json)
    st.doc_obj = dyn
    if isinstance(accident, dict):
        dyn.setdefault("accidents", []).append({
            "date": at[:10], "kind": accident.get("kind", "other"), "description": accident.get("description", ""),
        })
    for key, value in values.items():
        current = dyn.get(key)
        if isinstance(current, dict) and current.get("updated_at") and current["updated_at"] > at:
            continue  # a later reading is already recorded
        dyn[key] = {"value": value, "updated_at": at}
        if key == "soh_pct":
            st.soh_pct = float(value)
    st.dirty = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step (the previous setting comes back after).

    A bulk import allocates hundreds of thousands of long-lived containers (records, events, rows)
    and no reference cycles; each collection would traverse all of them again, which cost more than
    half the time of parsing. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def append_events(
    session: Session,
    events: Sequence[LedgerEvent],
    *,
    skip_invalid: bool = False,
    rows: Sequence[int] | None = None,
    now: datetime | None = None,
    cache: dict[str, BatteryState] | None = None,
    payload_texts: Sequence[str] | None = None,
    event_ids: Sequence[str] | None = None,
) -> AppendResult:
    """Check, chain and store lifecycle events in the caller's transaction.

    Parameters
    ----------
    session : Session
        Open session inside a transaction (see :func:`circulith.store.database.transaction`).
    events : sequence of LedgerEvent
        Events whose ``battery_id`` is already canonical, in the order they are to be chained.
    skip_invalid : bool
        Record the valid events and return the rejected ones instead of raising.
    rows : sequence of int or None
        Source row number of each event, for error messages (default: 1-based position).
    now : datetime or None
        Current time, for the "not in the future" check (default: the clock).
    cache : dict or None
        Battery states kept across calls within one transaction (bulk imports in chunks): states are
        read once, and written only by :func:`flush_states`, which the caller must call before commit.
    payload_texts : sequence of str or None
        The canonical JSON of each event's payload (:func:`circulith.ledger.hashing.canonical_json`),
        when the caller has it already (bulk imports serialise each payload once).
    event_ids : sequence of str or None
        Each event's ID as :func:`circulith.ledger.chain.derived_event_ids` gives it, when the caller has
        derived them already (the CLI import does, to find events recorded before).

    Raises
    ------
    InvalidInput
        Unless ``skip_invalid``: every event that names an unknown battery, conflicts with an
        event already recorded under its ID, predates the battery's manufacture, lies in the
        future, goes back in time, or is an impossible transition.
    """
    with paused_gc():
        return _append_events(session, events, skip_invalid=skip_invalid, rows=rows, now=now, cache=cache,
                              payload_texts=payload_texts, event_ids=event_ids)


def _append_events(session: Session, events: Sequence[LedgerEvent], *, skip_invalid: bool,
                   rows: Sequence[int] | None, now: datetime | None, cache: dict[str, BatteryState] | None,
                   payload_texts: Sequence[str] | None, event_ids: Sequence[str] | None = None) -> AppendResult:
    rows = list(rows) if rows is not None else list(range(1, len(events) + 1))
    limit = format_timestamp((now or datetime.now(UTC)) + CLOCK_SKEW)
    # Canonical payload text and timestamp once per event; IDs derived from them when missing.
    prepared: list[tuple[LedgerEvent, str, str, str, str]] = []
    texts = payload_texts if payload_texts is not None else [canonical_json(e.payload) for e in events]
    ids = event_ids if event_ids is not None else [""] * len(events)
    for e, payload_json, known_id in zip(events, texts, ids, strict=True):
        at = _utc_text(e.occurred_at)
        text0 = content_text("", e.battery_id, e.kind.value, at, e.actor_org_id, e.site_id, payload_json)
        event_id = known_id or e.event_id or event_uuid5(text0)
        prepared.append((e, event_id, payload_json, at, with_event_id(text0, event_id)))
    result = AppendResult()
    problems: list[Problem] = []

    gseq, gsha = lock_head(session)  # first: everything read below is current until commit
    existing = existing_events(session, [p[1] for p in prepared])
    touched = list(dict.fromkeys(p[0].battery_id for p in prepared))
    states: dict[str, BatteryState] = cache if cache is not None else {}
    states.update(load_states(session, [b for b in touched if b not in states]))
    builder = ChainBuilder(gseq, gsha, {bid: states[bid].head for bid in touched if bid in states})
    link = builder.link
    new_rows = []
    seen_ids: dict[str, tuple] = {}

    for (ev, event_id, payload_json, at, text), rowno in zip(prepared, rows, strict=True):
        bat, kind, actor, site = ev.battery_id, ev.kind, ev.actor_org_id, ev.site_id
        signature = (bat, kind.value, at, actor, site, payload_json)
        if event_id in existing or event_id in seen_ids:
            known = existing[event_id][1:] if event_id in existing else seen_ids[event_id]
            if known == signature:
                result.unchanged += 1
            elif event_id in existing:
                problems.append(Problem(rowno, "event_id", "an event with this ID is already recorded with different "
                                        "content", event_id))
            else:
                problems.append(Problem(rowno, "event_id", "the same event ID appears twice with different content",
                                        event_id))
            continue
        st = states.get(bat)
        why = None
        if st is None:
            problems.append(Problem(rowno, "battery_id", f"unknown battery '{bat}' (register its passport first)",
                                    event_id))
            continue
        if at < st.manufactured_from:
            why = f"{at} is before the battery's manufacture ({st.manufactured_from[:7]})"
        elif at > limit:
            why = f"{at} is in the future"
        elif at < st.last_occurred_at and kind not in OUT_OF_ORDER_OK:
            why = f"{at} is before the battery's last recorded event ({st.last_occurred_at})"
        if why is not None:
            problems.append(Problem(rowno, "occurred_at", why, event_id))
            continue
        try:
            new_state = _transition(bat, st.state, kind)
        except TransitionRefused as exc:
            problems.append(Problem(rowno, "kind", str(exc), event_id))
            continue
        seen_ids[event_id] = signature
        st.state = new_state
        if at > st.last_occurred_at:
            st.last_occurred_at = at
        if problems and not skip_invalid:
            continue  # keep validating the rest for a complete report, but build no more rows
        new_rows.append(link(bat, event_id, kind.value, at, actor, site, payload_json, text))
        if kind in STATUS_AFTER:
            st.status = STATUS_AFTER[kind]
        if kind in CUSTODY_TAKING:
            st.custodian_org_id = actor
            st.custody_site_id = site
        if kind is EventKind.SHIPPED and ev.payload.get("to_org_id"):
            st.custody_site_id = None
        if kind is EventKind.INSTALLED and isinstance(ev.payload.get("region"), str):
            st.region = ev.payload["region"]
        if kind in DYNAMIC_EVENT_KINDS:
            _apply_dynamic(st, ev.payload, at)
        st.dirty = True

    if problems and not skip_invalid:
        raise InvalidInput(problems, source="events")
    result.rejected = problems
    insert_event_rows(session, new_rows)
    if cache is None:
        flush_states(session, states)
    write_head(session, builder.global_seq, builder.global_sha256, read=(gseq, gsha))
    result.appended = len(new_rows)
    result.head_global_seq, result.head_sha256 = builder.global_seq, builder.global_sha256
    return result


def flush_states(session: Session, cache: dict[str, BatteryState]) -> None:
    """Write the batteries whose state changed (lifecycle, custody, dynamic values, chain tip)."""
    dirty = [st for st in cache.values() if st.dirty]
    with paused_gc():
        _write_states(session, dirty)
    for st in dirty:
        st.dirty = False


def _write_states(session: Session, states: Sequence[BatteryState]) -> None:
    if not states:
        return
    from circulith.ledger.hashing import canonical_json as cj

    params = []
    for st in states:
        dynamic_json = cj(st.doc_obj) if st.doc_obj is not None else st.dynamic_json
        params.append({
            "b_id": st.battery_id, "lifecycle_state": st.state.value, "status": st.status,
            "last_occurred_at": st.last_occurred_at, "custodian_org_id": st.custodian_org_id,
            "custody_site_id": st.custody_site_id, "region": st.region, "soh_pct": st.soh_pct,
            "dynamic_json": dynamic_json, "last_seq": st.head.seq,
            "last_chain_sha256": st.head.chain_sha256, "updated_at": st.last_occurred_at,
        })
    if session.get_bind().dialect.name == "postgresql":
        _write_states_postgres(session, params)
        return
    names = [n for n in params[0] if n != "b_id"]
    session.connection().exec_driver_sql(
        f"UPDATE batteries SET {', '.join(f'{n} = ?' for n in names)} WHERE battery_id = ?",
        [tuple(p[n] for n in names) + (p["b_id"],) for p in params],
    )


_STATE_SQL_TYPES = {"b_id": "varchar", "lifecycle_state": "varchar", "status": "varchar", "last_occurred_at": "varchar",
                    "custodian_org_id": "varchar", "custody_site_id": "varchar", "region": "varchar",
                    "soh_pct": "double precision", "dynamic_json": "text", "last_seq": "integer",
                    "last_chain_sha256": "varchar", "updated_at": "varchar"}


def _write_states_postgres(session: Session, params: list[dict[str, Any]]) -> None:
    """The batteries' new state in one ``UPDATE ... FROM unnest(arrays)`` instead of a statement per battery."""
    names = list(_STATE_SQL_TYPES)
    sets = ", ".join(f"{n} = v.{n}" for n in names if n != "b_id")
    arrays = ", ".join(f"%b::{_STATE_SQL_TYPES[n]}[]" for n in names)  # binary: the text form's escaping of
    # 5,000 dynamic documents cost psycopg 0.5 s
    session.connection().exec_driver_sql(
        f"UPDATE batteries SET {sets} FROM unnest({arrays}) AS v ({', '.join(names)}) WHERE batteries.battery_id = v.b_id",
        tuple([p[n] for p in params] for n in names),
    )


def battery_history(session: Session, battery_id: str) -> list[dict[str, Any]]:
    """Every event of a battery in chain order, with its digests."""
    rows = session.execute(
        select(Event).where(Event.battery_id == battery_id).order_by(Event.battery_seq)
    ).scalars()
    return [
        {
            "battery_seq": r.battery_seq, "global_seq": r.global_seq, "event_id": r.event_id, "kind": r.kind,
            "occurred_at": r.occurred_at, "actor_org_id": r.actor_org_id, "site_id": r.site_id,
            "payload": json.loads(r.payload_json), "content_sha256": r.content_sha256,
            "battery_chain_sha256": r.battery_chain_sha256, "global_chain_sha256": r.global_chain_sha256,
        }
        for r in rows
    ]


def stream_event_rows(session: Session, batch: int = 20_000, *, after: int = 0) -> Iterator[tuple]:
    """Event rows in global order (those after global #``after``), as tuples in :class:`StoredEvent` order."""
    cols = ", ".join(EVENT_COLUMNS)
    conn = session.connection()
    statement = f"SELECT {cols} FROM events WHERE global_seq > {int(after)} ORDER BY global_seq"
    cursor = conn.connection.cursor()  # the driver's own cursor: plain tuples, no row objects
    try:
        with _driver_errors(conn, statement):
            cursor.execute(statement)
            part = cursor.fetchmany(batch)
        while part:
            yield from part
            with _driver_errors(conn, statement):
                part = cursor.fetchmany(batch)
    finally:
        cursor.close()


def verify_ledger(session: Session, *, max_findings: int = 1000, leaves: list[bytes] | None = None,
                  compiled: bool = False) -> VerificationReport:
    """Verify every event's digests and both chains against the recorded head and battery tips.

    ``leaves``, when given, receives the Merkle leaf hash of every event (see
    :func:`circulith.ledger.verify.verify_chains`). With ``compiled``, the compiled verifier
    (:mod:`circulith.store.native_verify`) reads a read-only snapshot on a connection of its own, for
    callers whose transaction wrote nothing; it gives the same report as the Python verifier, which
    runs where it is not built or leaves the data to it.
    """
    done: CompiledPass | str = "not asked for"
    if compiled:
        with paused_gc():
            done = compiled_pass(session.get_bind(), max_findings=max_findings, want_leaves=leaves is not None,
                                 dynamic_keys=DYNAMIC_KEYS)
    if isinstance(done, CompiledPass):
        report, replay, stored = done.report, done.replay, done.stored
        if leaves is not None and done.leaves is not None:
            leaves.extend(done.leaves)
    else:
        head = session.execute(select(LedgerHead.global_seq, LedgerHead.global_chain_sha256)).one()
        tips = {str(r[0]): (int(r[1]), str(r[2])) for r in
                session.execute(select(Battery.battery_id, Battery.last_seq, Battery.last_chain_sha256))}
        replay = StateReplay(DYNAMIC_KEYS)

        def rows() -> Iterator[tuple]:
            feed = replay.feed
            for row in stream_event_rows(session):
                feed(row)
                yield row

        with paused_gc():
            report = verify_chains(rows(), expected_head=(int(head[0]), str(head[1])), expected_tips=tips,
                                   max_findings=max_findings, leaves=leaves)
        stored = _stored_states(session)
        if compiled:
            report.verifier = f"python ({done})"
    room = max_findings - len(report.findings)
    state_findings = replay.compare(stored, limit=max(room, 0) + 1)
    if len(state_findings) > room:
        report.truncated = True
    report.findings.extend(state_findings[: max(room, 0)])
    return report


def _text_digest(document: object) -> str:
    """SHA-256 of a stored document's text [hex]; what a column of another type holds instead, named."""
    if isinstance(document, str):
        return hashlib.sha256(document.encode()).hexdigest()
    return f"(not text but {type(document).__name__})"


def _stored_states(session: Session) -> dict[str, StoredState]:
    cols = (Battery.battery_id, Battery.lifecycle_state, Battery.status, Battery.custodian_org_id,
            Battery.custody_site_id, Battery.region, Battery.soh_pct, Battery.document_sha256, Battery.document,
            Battery.dynamic_json)
    return {
        r[0]: StoredState(lifecycle_state=r[1], status=r[2], custodian_org_id=r[3], custody_site_id=r[4], region=r[5],
                          soh_pct=r[6], document_sha256=r[7], document_digest=_text_digest(r[8]),
                          dynamic_json=r[9])
        for r in session.execute(select(*cols))
    }


_HISTORY_SQL = ("SELECT battery_id, battery_seq, global_seq, battery_chain_sha256 FROM events "
                "WHERE battery_id IN (SELECT value FROM json_each(?))")
_TIPS_SQL = ("SELECT battery_id, last_seq, last_chain_sha256 FROM batteries "
             "WHERE battery_id IN (SELECT value FROM json_each(?))")


def verify_ledger_since(session: Session, size: int, global_chain_sha256: str, *, max_findings: int = 1000,
                        leaves: list[bytes] | None = None) -> VerificationReport:
    """Verify only the events after the first ``size`` (held by a checkpoint whose global digest is given).

    Reads the events after the checkpoint and, for each battery they touch, its chain tip at the
    checkpoint; checks that they chain onto the checkpoint's global digest and onto those tips, every
    digest, the recorded head and the touched batteries' stored tips. The state replay needs whole
    histories and is left to a full verification.
    """
    head = session.execute(select(LedgerHead.global_seq, LedgerHead.global_chain_sha256)).one()
    # The touched batteries first, then their rows by key: written as subqueries, the planners scanned every
    # event for them (SQLite for the DISTINCT, PostgreSQL when the table has no statistics yet).
    after = session.execute(select(Event.battery_id).where(Event.global_seq > size)).scalars()
    touched = sorted({str(b) for b in after})
    tips_at: dict[str, tuple[int, str]] = {}
    for bid, seq, gseq, chain in rows_by_keys(session, _HISTORY_SQL, touched):
        if gseq <= size and (bid not in tips_at or seq > tips_at[bid][0]):
            tips_at[bid] = (int(seq), str(chain))
    stored = {str(r[0]): (int(r[1]), str(r[2])) for r in rows_by_keys(session, _TIPS_SQL, touched)}
    return verify_chains(stream_event_rows(session, after=size), expected_head=(int(head[0]), str(head[1])),
                         expected_tips=stored, max_findings=max_findings, leaves=leaves,
                         start=(size, global_chain_sha256), initial_tips=tips_at)

