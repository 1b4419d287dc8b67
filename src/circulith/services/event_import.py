"""``import events``: lifecycle events from a file, through the same checks as the API.

Every row is parsed strictly (:func:`parse_event`: known fields and kinds, a timestamp with its
timezone, a battery named by any identifier including its passport ID), its text and payload are
checked (:mod:`circulith.ledger.payload_checks`), and its actor's right to record it is checked
(:func:`circulith.auth.write_policy.write_refusal`) against the battery's custody as the file
moves it, row after row. Then the state machine and the chain decide (``append_events``).

Who is checked, the same rules as ``POST /api/v1/events`` (:mod:`circulith.services.events`):

* with ``as_org`` (``--as ORG``), every row is recorded by that registered organisation (a row
  naming another actor is refused) and must be one it may record: custody and role;
* without it, the registry operator imports on behalf of the actors the rows name. Each actor
  must be a registered organisation (an unknown one is refused: register it first with
  ``circulith org add``), and each row is checked with that organisation's role against the
  battery's custody, exactly as if the organisation had posted it;
* ``migration=True`` (``--migration``) is the one documented exception, for the registry operator
  only (no ``--as``, or ``--as`` an organisation with the operator's role): a bulk import of
  histories recorded in another system before they reach this registry (a migration, or a
  restore from another registry's export). The custody and role checks are lifted, because those
  histories name hand-overs this registry never saw; everything else still holds: each actor
  must be a registered organisation of the value chain (an operator, authority or the Commission
  records no lifecycle event), the state machine checks every transition, and the chain records
  who the rows name as actor. The CLI says how many rows were recorded this way.

A refusal names the row, the field (``actor_org_id``) and the reason; nothing of the file is
written (unless ``skip_invalid``). A recorded ``received`` row brings the modules and cells that
travel with the pack (:mod:`circulith.ledger.unit_custody`): their receipts are written with it (the
report counts the file's rows, not them); a refusal of one of them is reported on the pack's row.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.policy import CHAIN_ROLES, Role
from circulith.auth.write_policy import CustodyFacts, after_event, write_refusal
from circulith.errors import InvalidInput, Problem, TransitionRefused
from circulith.io.records import iter_records, loads_strict, record_problems
from circulith.ledger.chain import derived_event_ids
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.hashing import canonical_json
from circulith.ledger.payload_checks import (
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    MAX_SAFE_INTEGER,
    MAX_TEXT_CHARS,
    payload_problems,
    text_field_problems,
)
from circulith.ledger.state_machine import check_transition
from circulith.ledger.unit_custody import Unit, unit_receipts
from circulith.passport.identifiers import canonical
from circulith.passport.model import ACCIDENT_KINDS, DYNAMIC_VALUE_NAMES, dynamic_value_problem
from circulith.services.compiled_event_import import compiled_import, compiled_report
from circulith.services.import_report import ImportReport, finish_report
from circulith.store.custody_repo import custody_facts, organisation_roles
from circulith.store.database import require_schema, snapshot_engine, transaction
from circulith.store.ledger_store import (
    append_events,
    battery_ids_by_passport_id,
    flush_states,
    lock_head,
    paused_gc,
    recorded_event_ids,
    resolve_battery_ids,
)
from circulith.store.native_import import CompiledImport, NotCertain, WriteChecks
from circulith.store.triage_queries import descendants

Progress = Callable[[int], None]
EVENT_FIELDS = ("event_id", "battery_id", "kind", "occurred_at", "actor_org_id", "site_id", "payload")


@lru_cache(maxsize=200_000)
def _canonical_cached(identifier: str) -> str:
    return canonical(identifier)


def _number(value: Any) -> Any:
    """A CSV cell's text as a number where it spells one (dynamic values arrive as text from CSV)."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eEnN") else int(value)
        except ValueError:
            return value
    return value


def parse_timestamp(value: Any, row: int, record_id: str | None) -> datetime:
    """An ISO 8601 timestamp with its timezone; naive timestamps are refused, never taken as UTC."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(Problem(row, "occurred_at", f"'{value[:40]}' is not an ISO 8601 timestamp",
                                       record_id)) from None
    else:
        raise InvalidInput(Problem(row, "occurred_at", "give an ISO 8601 timestamp with its timezone", record_id))
    if at.tzinfo is None:
        raise InvalidInput(Problem(row, "occurred_at", f"'{value}' has no timezone: add Z or +hh:mm (naive "
                                   "timestamps are refused, not assumed to be UTC)", record_id))
    return at


def parse_event(record: dict[str, Any], row: int) -> LedgerEvent:
    """Build a :class:`LedgerEvent` from an import record (battery by any identifier, payload checked)."""
    rec = dict(record)
    record_id = str(rec.get("event_id") or rec.get("battery_id") or "")[:80] or None
    unknown = sorted(set(rec) - set(EVENT_FIELDS))
    if unknown:
        raise InvalidInput(Problem(row, unknown[0], f"unknown field (expected {', '.join(EVENT_FIELDS)})", record_id))
    kind = rec.get("kind")
    if kind == EventKind.REGISTERED.value:
        raise InvalidInput(Problem(row, "kind", "'registered' is written by the registry; import the passport instead",
                                   record_id))
    if not isinstance(kind, str) or kind not in EventKind.__members__.values():
        known = ", ".join(k.value for k in EventKind if k is not EventKind.REGISTERED)
        raise InvalidInput(Problem(row, "kind", f"unknown event kind '{str(kind)[:40]}' (known: {known})", record_id))
    texts = {k: rec.get(k) if isinstance(rec.get(k), str) or rec.get(k) is None else str(rec.get(k))
             for k in ("event_id", "battery_id", "actor_org_id", "site_id")}
    problems = text_field_problems(texts, row=row, record_id=record_id)
    if problems:
        raise InvalidInput(problems)
    payload = rec.get("payload", {})
    if isinstance(payload, str):
        from circulith.io.records import loads_strict

        try:
            payload = loads_strict(payload)
        except json.JSONDecodeError as exc:
            raise InvalidInput(Problem(row, "payload", f"not valid JSON: {exc.msg}", record_id)) from None
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(Problem(row, "payload", f"JSON that cannot be stored: {exc}", record_id)) from None
    if not isinstance(payload, dict):
        raise InvalidInput(Problem(row, "payload", "must be a JSON object", record_id))
    payload = {k: _number(v) if k in DYNAMIC_VALUE_NAMES else v for k, v in payload.items()}
    problems = payload_problems(payload, row=row, record_id=record_id)
    if problems:
        raise InvalidInput(problems)
    rec["payload"] = payload
    if "battery_id" in rec:
        try:
            rec["battery_id"] = _canonical_cached(str(rec["battery_id"]))
        except InvalidInput as exc:
            raise InvalidInput(Problem(row, "battery_id", exc.problems[0].reason, record_id)) from None
    rec["occurred_at"] = parse_timestamp(rec.get("occurred_at"), row, record_id)
    try:
        return LedgerEvent.model_validate(rec)
    except ValidationError as exc:
        from circulith.passport.model import validation_problems

        raise InvalidInput(validation_problems(exc, row=row, record_id=record_id)) from None


# -- The hot path of large imports: same records, same events, same messages, less work per row. ------------------

_LONG_DIGITS = re.compile(r"[0-9]{16}")
_DIGITS_AS_0 = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # ASCII digits to "0", other bytes to " "
_SIXTEEN_DIGITS = b"0" * 16
_BLOCK_CHARS = 1 << 22  # lines read at a time by the fast JSON Lines reader [characters, about]
_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)
_IMPORTED_KINDS = {k.value: k for k in EventKind if k is not EventKind.REGISTERED}


def _max_length(name: str) -> int:
    """The ``max_length`` the event model sets on one of its text fields."""
    return min(int(m.max_length) for m in LedgerEvent.model_fields[name].metadata if hasattr(m, "max_length"))


_BATTERY_MAX, _ACTOR_MAX, _SITE_MAX = (_max_length(n) for n in ("battery_id", "actor_org_id", "site_id"))
_REPR_SAFE_MIN, _REPR_SAFE_MAX = 1e-4, 1e16
"""Floats whose absolute value lies in [1e-4, 1e16) (or zero) are written alike by ``repr`` (hence ``json``) and
orjson; outside, the exponent spelling differs (``1e+16`` and ``1e16``), so such payloads take ``json``."""


def _checked_line(line: str, row: int) -> dict[str, Any] | None:
    """A line that may hold NUL or an integer beyond 2**53, parsed and checked as the standard reader does."""
    try:
        obj = loads_strict(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or record_problems(obj, row):
        return None
    return obj


def _jsonl_lines(lines: list[str], first_row: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(row, record)`` for a block of JSON Lines lines; the record is None where the fast reader is not certain.

    orjson refuses what the standard reader refuses too (NaN, infinities, lone surrogates, control
    characters) but takes NUL (``\\u0000``) and reads integers beyond 2**64 as floats; lines that might
    hold either (an escaped NUL, 16 digits in a row: searched once per block) are parsed by ``json`` and
    checked with :func:`circulith.io.records.record_problems`, as the standard reader does.
    """
    block = "".join(lines)
    suspect = "\\u0000" in block or _SIXTEEN_DIGITS in block.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_0)
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for row, line in enumerate(lines, start=first_row):
        if not line.strip():
            continue
        if suspect and ("\\u0000" in line or _LONG_DIGITS.search(line)):
            yield row, _checked_line(line, row)
            continue
        try:
            obj = loads(line)
        except decode_error:
            obj = None
        yield row, obj if type(obj) is dict else None


def iter_event_records(path: Path, fmt: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`circulith.io.records.iter_records`, with JSON Lines parsed by orjson: the same records.

    At the first line the fast reader does not certainly take as the standard reader would, the file
    is handed to :func:`iter_records` from its start (the rows already given are skipped), so every
    refusal is the reader's own, with its row and message.
    """
    path = Path(path)
    if (fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else None)) != "jsonl" or not path.is_file():
        yield from iter_records(path, fmt)
        return
    done = 0
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = 1
            while lines := fh.readlines(_BLOCK_CHARS):
                for row, obj in _jsonl_lines(lines, first):
                    if obj is None:
                        raise _NotCertain
                    yield row, obj
                    done = row
                first += len(lines)
            return
    except (UnicodeDecodeError, _NotCertain):
        pass
    for row, record in iter_records(path, fmt):
        if row > done:
            yield row, record


class _NotCertain(Exception):
    """A line the fast reader leaves to the standard one."""


def _clean_text(value: object, limit: int) -> bool:
    """True when ``value`` is text that every check takes: no NUL, no lone surrogate, at most ``limit`` characters."""
    if type(value) is not str or len(value) > limit or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_payload(value: Any, depth: int) -> int:
    """0 when :func:`payload_problems` finds nothing to say about ``value`` (before its size and dynamic
    checks), 1 when it does not but ``value`` holds a float that orjson spells differently, -1 otherwise."""
    if depth > MAX_PAYLOAD_DEPTH:
        return -1
    t = type(value)
    if t is str:
        return 0 if _clean_text(value, len(value)) else -1
    if t is int:
        return 0 if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else -1
    if t is float:
        if value != value or value in (math.inf, -math.inf):
            return -1
        magnitude = abs(value)
        return 0 if magnitude == 0.0 or _REPR_SAFE_MIN <= magnitude < _REPR_SAFE_MAX else 1
    if value is None or t is bool:
        return 0
    worst = 0
    if t is dict:
        for key, item in value.items():
            if not _clean_text(key, len(key) if type(key) is str else -1):
                return -1
            got = _clean_payload(item, depth + 1)
            if got < 0:
                return -1
            worst |= got
        return worst
    if t is list:
        for item in value:
            got = _clean_payload(item, depth + 1)
            if got < 0:
                return -1
            worst |= got
        return worst
    return -1


def _payload_text(payload: dict[str, Any]) -> str | None:
    """The canonical JSON of a payload :func:`payload_problems` takes, or None where it may object."""
    verdict = 0
    for key, value in payload.items():  # the top level inline (most payloads are flat), deeper levels recursively
        t = type(value)
        if t is float:
            if not -math.inf < value < math.inf:
                return None
            magnitude = abs(value)
            if magnitude and not _REPR_SAFE_MIN <= magnitude < _REPR_SAFE_MAX:
                verdict = 1
        elif t is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return None
        elif t is str:
            if not _clean_text(value, len(value)):
                return None
        elif value is not None and t is not bool:
            got = _clean_payload(value, 2)
            if got < 0:
                return None
            verdict |= got
        if type(key) is not str or not _clean_text(key, len(key)):
            return None
    text = canonical_json(payload) if verdict else orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    if len(text) * 4 > MAX_PAYLOAD_BYTES and len(text.encode()) > MAX_PAYLOAD_BYTES:  # (at most 4 bytes a character)
        return None
    for key in DYNAMIC_VALUE_NAMES.intersection(payload):
        value = payload[key]
        if value is not None and dynamic_value_problem(key, value) is not None:
            return None
    accident = payload.get("accident")
    if accident is not None and not (isinstance(accident, dict) and accident.get("kind", "other") in ACCIDENT_KINDS
                                     and isinstance(accident.get("description", ""), str)):
        return None
    return text


def parse_event_text(record: dict[str, Any], row: int) -> tuple[LedgerEvent, str]:
    """:func:`parse_event`, with the event's canonical payload text: one pass for the records it takes.

    Records that every check takes are validated once, by hand, and their payload serialised once
    (the text the chain hashes and the ledger stores); any other record goes through
    :func:`parse_event`, so each refusal keeps its row, field and message.
    """
    get = record.get
    kind_value = get("kind")
    kind = _IMPORTED_KINDS.get(kind_value) if type(kind_value) is str else None
    payload = get("payload", {})
    battery = get("battery_id")
    event_id = get("event_id", "")
    actor = get("actor_org_id")
    site = get("site_id")
    if (kind is None or type(payload) is not dict or not _EVENT_FIELD_SET.issuperset(record)
            or not _clean_text(battery, MAX_TEXT_CHARS) or not _clean_text(event_id, MAX_TEXT_CHARS)
            or not actor or not _clean_text(actor, _ACTOR_MAX) or (site is not None and not _clean_text(site, _SITE_MAX))):
        return _slow_event(record, row)
    if any(type(payload[k]) is str for k in DYNAMIC_VALUE_NAMES.intersection(payload)):
        payload = {k: _number(v) if k in DYNAMIC_VALUE_NAMES else v for k, v in payload.items()}
    text = _payload_text(payload)
    if text is None:
        return _slow_event(record, row)
    try:
        canonical_id = _canonical_cached(battery)
    except InvalidInput:
        return _slow_event(record, row)
    if not 1 <= len(canonical_id) <= _BATTERY_MAX:
        return _slow_event(record, row)
    at = parse_timestamp(get("occurred_at"), row, str(event_id or battery)[:80] or None)
    fields: dict[str, Any] = {"battery_id": canonical_id, "kind": kind, "occurred_at": at, "actor_org_id": actor,
                              "payload": payload}
    if "event_id" in record:
        fields["event_id"] = event_id
    if "site_id" in record:
        fields["site_id"] = site
    try:
        return LedgerEvent.model_validate(fields), text
    except ValidationError:
        return _slow_event(record, row)


def _slow_event(record: dict[str, Any], row: int) -> tuple[LedgerEvent, str]:
    event = parse_event(record, row)
    return event, canonical_json(event.payload)


ParsedRecord = tuple[int, dict[str, Any], LedgerEvent, str]
"""A file row: its number, the record as read, the event parsed from it and its payload's canonical text."""


def parsed_batches(path: Path, fmt: str | None, chunk_size: int, report: ImportReport, problems: list[Problem],
                   rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]]) -> Iterator[list[ParsedRecord]]:
    """The file's events parsed, in chunks of at most ``chunk_size`` rows (both import paths read this way).

    Each record read is counted in ``report.records``; one that does not parse adds its problems to
    ``problems`` and ``rejects`` (row, field and reason) and is left out of the chunks.
    """
    batch: list[ParsedRecord] = []
    for row, record in iter_event_records(path, fmt):
        report.records += 1
        try:
            batch.append((row, record, *parse_event_text(record, row)))
        except InvalidInput as exc:
            problems.extend(exc.problems)
            rejects.append((row, record, exc.problems))
        if len(batch) >= chunk_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _resolve(session: Session, identifiers: list[str]) -> dict[str, str]:
    """Battery IDs of canonical identifiers, including passport IDs (``urn:uuid:...``)."""
    ids = resolve_battery_ids(session, identifiers)
    missing = [i for i in dict.fromkeys(identifiers) if i not in ids]
    if missing:
        ids.update(battery_ids_by_passport_id(session, missing))
    return ids


class _Authoriser:
    """Checks each event's actor against the custody the file has reached so far.

    Parameters
    ----------
    session : Session
        The import's transaction.
    as_org : str or None
        The organisation every row must be recorded by (None: the actors the rows name).
    migration : bool
        The registry operator's migration import: custody and role are not checked (module docstring).
    """

    def __init__(self, session: Session, as_org: str | None, *, migration: bool = False) -> None:
        self.session = session
        self.as_org = as_org
        self.migration = migration
        self.facts: dict[str, CustodyFacts] = {}
        self.roles: dict[str, Role | None] = {}
        self.unchecked = 0
        """Rows recorded without the custody and role checks (migration imports only)."""

    def load(self, events: list[LedgerEvent]) -> None:
        want = [e.battery_id for e in events if e.battery_id not in self.facts]
        self.facts.update(custody_facts(self.session, want))
        actors = [e.actor_org_id for e in events if e.actor_org_id not in self.roles]
        found = organisation_roles(self.session, actors)
        self.roles.update({a: found.get(a) for a in actors})

    def _actor_refusal(self, ev: LedgerEvent, facts: CustodyFacts) -> str | None:
        role = self.roles.get(ev.actor_org_id)
        if self.as_org is not None and not self.migration and ev.actor_org_id != self.as_org:
            return f"this import records as {self.as_org}, the row names '{ev.actor_org_id}'"
        if role is None:
            return (f"'{ev.actor_org_id}' is not a registered organisation (register it with 'circulith org add' "
                    "before importing its events)")
        if not self.migration:
            return write_refusal(ev.actor_org_id, role, ev.kind, facts)
        if role not in CHAIN_ROLES:
            return f"'{ev.actor_org_id}' is a {role.value}: only organisations of the value chain record events"
        self.unchecked += 1
        return None

    def refusal(self, ev: LedgerEvent) -> str | None:
        facts = self.facts.get(ev.battery_id)
        if facts is None:
            return None  # unknown battery: append_events names it
        why = self._actor_refusal(ev, facts)
        try:
            state = check_transition(ev.battery_id, facts.state, ev.kind)
        except TransitionRefused:
            return why  # the state machine refuses it too: append_events reports that
        if why is None:
            to_org = ev.payload.get("to_org_id")
            self.facts[ev.battery_id] = after_event(facts, ev.kind, ev.actor_org_id,
                                                    to_org if isinstance(to_org, str) else None, state)
        return why


def _children(session: Session, parent_ids: list[str], states: dict[str, Any]) -> dict[str, list[Unit]]:
    """The units inside received batteries, with their holder and state as the import has left them."""
    if not parent_ids:
        return {}
    out: dict[str, list[Unit]] = {}
    for parent, cs in descendants(session, parent_ids).items():
        units = []
        for c in cs:
            st = states.get(c.battery_id)
            units.append(Unit(c.battery_id, parent, st.custodian_org_id if st else c.custodian_org_id,
                              str(st.state) if st else c.lifecycle_state))
        out[parent] = units
    return out


def _moved(children: dict[str, list[Unit]], battery_id: str, holder: str) -> None:
    """Record in ``children`` that the unit ``battery_id`` is now held by ``holder``."""
    for parent, units in children.items():
        for k, u in enumerate(units):
            if u.battery_id == battery_id:
                units[k] = Unit(u.battery_id, parent, holder, u.lifecycle_state)
                return


def _check_migration(session: Session, as_org: str | None) -> None:
    """A migration import is the registry operator's: refused for anyone else."""
    if as_org is None:
        return
    role = organisation_roles(session, [as_org]).get(as_org)
    if role is not Role.OPERATOR:
        raise InvalidInput(Problem(None, "--migration", f"a migration import is the registry operator's; "
                                   f"{as_org} is {'a ' + role.value if role else 'not a registered organisation'} "
                                   "(import as the organisation itself, without --migration)"))


def _migration_actors(session: Session, as_org: str | None, done: CompiledImport) -> None:
    """A compiled migration import's checks (as :class:`_Authoriser` makes them with ``migration``): the
    importer is the operator, every actor a registered organisation of the value chain; else the Python
    path imports the file and names each row refused."""
    _check_migration(session, as_org)
    roles = organisation_roles(session, done.actors)
    if any(roles.get(a) not in CHAIN_ROLES for a in done.actors):
        raise NotCertain("an actor that is not a registered organisation of the value chain")


def import_events(engine: Engine, path: Path, *, fmt: str | None = None, skip_invalid: bool = False,
                  rejects_path: Path | None = None, progress: Progress | None = None, chunk_size: int = 20_000,
                  as_org: str | None = None, migration: bool = False,
                  on_migrated: Callable[[int], None] | None = None) -> ImportReport:
    """Validate, authorise, check against each battery's state, chain and store every event in a file, atomically.

    All-or-nothing unless ``skip_invalid`` (the valid events are recorded, the rejects written to a
    file). Events carry an ``event_id`` or get one derived from their content, so re-importing a
    file changes nothing. Who may record which row: the module docstring (``as_org``, ``migration``).

    Parameters
    ----------
    on_migrated : callable, optional
        Called once with the number of rows recorded without the custody and role checks (migration).

    Raises
    ------
    InvalidInput
        For any refused row (row, field and reason), or a migration asked for by anyone but the operator.
    """
    require_schema(snapshot_engine(engine))  # a plain read: it must not queue for another writer's lock
    path = Path(path)
    problems: list[Problem] = []
    rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]] = []
    done = compiled_import(engine, path, fmt, chunk_size=chunk_size, progress=progress, passport_ids=True,
                           units_follow_receipts=True, checks=None if migration else WriteChecks(as_org),
                           check=(lambda s, d: _migration_actors(s, as_org, d)) if migration else None)
    if not isinstance(done, str):
        if on_migrated is not None and migration:
            on_migrated(done.records - done.recorded_before)
        return compiled_report(path, done)
    report = ImportReport(source=str(path), fallback_reason=done)
    with transaction(engine) as session, paused_gc():
        lock_head(session)  # first: custody read for the authorisation stays current until commit (PostgreSQL)
        states: dict = {}  # battery states across chunks, written once at the end
        if migration:
            _check_migration(session, as_org)
        auth = _Authoriser(session, as_org, migration=migration)

        def reject(row: int, rec: dict[str, Any] | None, p: Problem) -> None:
            problems.append(p)
            rejects.append((row, rec, [p]))

        def flush(batch: list[ParsedRecord]) -> None:
            ids = _resolve(session, [e.battery_id for _, _, e, _ in batch])
            events, rows, recs, texts = [], [], {}, {}
            for row, rec, ev, text in batch:
                bid = ids.get(ev.battery_id)
                if bid is None:
                    reject(row, rec, Problem(row, "battery_id", f"unknown battery '{ev.battery_id}' (register its "
                                             "passport first)", ev.event_id or None))
                    continue
                events.append(ev if bid == ev.battery_id else ev.model_copy(update={"battery_id": bid}))
                rows.append(row)
                recs[row] = rec
                texts[row] = text
            auth.load(events)
            # An event already recorded (same ID, so same content) is counted unchanged by the chain, not
            # authorised again against the custody it has since moved: re-importing a file changes nothing.
            derived = derived_event_ids(events, [texts[r] for r in rows])
            recorded = recorded_event_ids(session, derived)
            allowed, allowed_rows, allowed_ids, holders = [], [], [], {}
            for ev, row, event_id in zip(events, rows, derived, strict=True):
                before = auth.facts.get(ev.battery_id)
                why = None if event_id in recorded else auth.refusal(ev)
                if why is not None:
                    reject(row, recs[row], Problem(row, "actor_org_id", f"may not record '{ev.kind.value}' on "
                                                   f"{ev.battery_id}: {why}", ev.event_id or ev.battery_id))
                    continue
                allowed.append(ev)
                allowed_rows.append(row)
                allowed_ids.append(event_id)
                holders[row] = before.holder if before else None
            result = append_events(session, allowed, rows=allowed_rows, skip_invalid=True, cache=states,
                                   payload_texts=[texts[r] for r in allowed_rows], event_ids=allowed_ids)
            for p in result.rejected:
                reject(p.row or 0, recs.get(p.row or 0), p)
            report.written += result.appended
            report.unchanged += result.unchanged
            # The modules and cells that travel with each recorded receipt, reported on its row.
            refused = {p.row for p in result.rejected}
            received = [(ev, row) for ev, row in zip(allowed, allowed_rows, strict=True)
                        if ev.kind is EventKind.RECEIVED and row not in refused]
            if received:
                kids = _children(session, [ev.battery_id for ev, _ in received], states)
                units, unit_rows = [], []
                for ev, row in received:
                    follow = unit_receipts(ev, holders[row], kids)
                    units += follow
                    unit_rows += [row] * len(follow)
                    for u in follow:  # a later receipt in the file finds them with their new holder
                        _moved(kids, u.battery_id, ev.actor_org_id)
                more = append_events(session, units, rows=unit_rows, skip_invalid=True, cache=states)
                for p in more.rejected:
                    reject(p.row or 0, recs.get(p.row or 0), p)
                # counted with their pack's row: ``written`` and ``unchanged`` count the file's rows
            if progress:
                progress(len(batch))

        for batch in parsed_batches(path, fmt, chunk_size, report, problems, rejects):
            flush(batch)
        if problems and not skip_invalid:
            problems.sort(key=lambda p: p.row or 0)
            raise InvalidInput(problems, source=str(path))  # rolls the whole import back
        flush_states(session, states)
    if on_migrated is not None and migration:
        on_migrated(auth.unchecked)
    finish_report(report, rejects, problems, skip_invalid, rejects_path, path)
    return report
