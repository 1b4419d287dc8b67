"""The compiled event import (``circulith.store._ledger_native.ImportKernel``) and the storage around it.

An import of JSON Lines spends its time on per-event steps in Python: parsing and checking each
record, serialising its payload, deriving its ID, the battery's state machine and time line, the
three SHA-256 digests of the chains. The compiled kernel does those steps in C. This module reads the
database for it (identifier resolution, the batteries' stored state, the events recorded before, the
ledger head), writes what it returns (rows by the same bulk insert, the batteries' new state, the head)
and keeps both in the caller's transaction, exactly as :func:`circulith.store.ledger_store.append_events`.

The Python path (:mod:`circulith.services.event_import` and ``append_events``) is the reference: tests
import the same files through both and require the same rows, batteries and head. The kernel takes only
what it is certain the Python path takes without a word; at the first record it is not certain of (any
record the Python path would refuse, a timestamp in one of ISO 8601's rarer spellings, a string where a
dynamic value's number belongs, an identifier that does not resolve ...) it raises
:class:`NotCertain`, the caller's transaction rolls back, and the Python path imports the file and
names the row, field and reason. It is used when the extension is built, the file is JSON Lines, and
``CIRCULITH_COMPILED_IMPORT`` is not ``0``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from circulith.auth.policy import CHAIN_ROLES, Role
from circulith.auth.write_policy import WRITE_RULES, CustodyFacts, Party
from circulith.errors import InvalidInput
from circulith.ledger.events import EVENT_ID_NAMESPACE, EventKind, LedgerEvent, format_timestamp
from circulith.ledger.payload_checks import MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS
from circulith.ledger.state_machine import CUSTODY_TAKING, STATUS_AFTER, LifecycleState
from circulith.passport.identifiers import canonical
from circulith.passport.model import ACCIDENT_KINDS, DYNAMIC_VALUE_BOUNDS
from circulith.store.custody_repo import batteries_with_units, custody_facts, organisation_roles
from circulith.store.ledger_store import (
    CLOCK_SKEW,
    DYNAMIC_EVENT_KINDS,
    DYNAMIC_KEYS,
    OUT_OF_ORDER_OK,
    BatteryState,
    battery_ids_by_passport_id,
    existing_events,
    flush_states,
    insert_event_rows,
    load_states,
    lock_head,
    resolve_battery_ids,
    write_head,
)
from circulith.store.native_verify import native, transition_table

BLOCK_LINES = 20_000
"""Lines handed to the kernel at a time (its texts for them are held until they are written)."""
_KINDS = tuple(EventKind)
_STATES = tuple(LifecycleState)
_FLAGS = {"custody": 1, "receipt": 2, "removal": 4, "shipped": 8, "installed": 16, "dynamic": 32, "imported": 64,
          "any_order": 128}  # native/import_kernel.h K_*
_BOM = b"\xef\xbb\xbf"


class NotCertain(Exception):
    """The compiled import is not certain to read the file as the Python path does (the reason)."""


@dataclass
class CompiledImport:
    """What a compiled import did: records read, events appended, events already recorded (of them, those
    recorded before the block that holds them was read), and every actor the records name."""

    records: int = 0
    appended: int = 0
    unchanged: int = 0
    recorded_before: int = 0
    actors: list[str] = field(default_factory=list)


def _max_length(name: str) -> int:
    return min(int(m.max_length) for m in LedgerEvent.model_fields[name].metadata if hasattr(m, "max_length"))


@lru_cache(maxsize=1)
def _tables() -> tuple[Any, ...]:
    """The kernel's rules, from the ledger's and passport's own (computed once a process)."""
    flags = bytearray()
    for kind in _KINDS:
        f = _FLAGS["custody"] if kind in CUSTODY_TAKING else 0
        f |= _FLAGS["shipped"] if kind is EventKind.SHIPPED else 0
        f |= _FLAGS["installed"] if kind is EventKind.INSTALLED else 0
        f |= _FLAGS["dynamic"] if kind in DYNAMIC_EVENT_KINDS else 0
        f |= _FLAGS["imported"] if kind is not EventKind.REGISTERED else 0
        f |= _FLAGS["any_order"] if kind in OUT_OF_ORDER_OK else 0
        f |= _FLAGS["receipt"] if kind is EventKind.RECEIVED else 0
        f |= _FLAGS["removal"] if kind is EventKind.REMOVED else 0
        flags.append(f)
    checked = tuple((name, float(lo), float(hi), bool(integer)) for name, (lo, hi, integer)
               in DYNAMIC_VALUE_BOUNDS.items())
    limits = (MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS, _max_length("actor_org_id"), _max_length("site_id"))
    return (tuple(k.value for k in _KINDS), transition_table(), bytes(flags),
            tuple(STATUS_AFTER.get(k) for k in _KINDS), checked, DYNAMIC_KEYS, ACCIDENT_KINDS, limits)


def unavailable(path: Path, fmt: str | None) -> str | None:
    """Why the compiled import does not apply to this file, or None when it does."""
    if native is None or not hasattr(native, "ImportKernel"):
        return "not built"
    if os.environ.get("CIRCULITH_COMPILED_IMPORT", "1") == "0":
        return "turned off (CIRCULITH_COMPILED_IMPORT=0)"
    if (fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else None)) != "jsonl":
        return "not JSON Lines"
    if not path.is_file():
        return "not a file"
    return None


@lru_cache(maxsize=200_000)
def _canonical(identifier: str) -> str | None:
    try:
        return canonical(identifier)
    except InvalidInput:
        return None


_BATTERY_MAX = _max_length("battery_id")


def _state_tuple(st: BatteryState) -> tuple[Any, ...]:
    return (_STATES.index(st.state), st.status, st.manufactured_from, st.last_occurred_at, st.custodian_org_id,
            st.custody_site_id, st.head.seq, st.head.chain_sha256, st.dynamic_json)


@dataclass(frozen=True)
class WriteChecks:
    """The write checks of ``circulith import events`` (custody and role, :mod:`circulith.auth.write_policy`),
    made by the kernel as :class:`circulith.services.event_import._Authoriser` makes them without a migration.

    Parameters
    ----------
    as_org : str or None
        The organisation every row must name (``--as``), or None: the actors the rows name.
    """

    as_org: str | None = None


_PARTIES = {Party.HOLDER: 1, Party.MANUFACTURER: 2, Party.CONSIGNEE: 4, Party.REMOVER: 8,
            Party.DISMANTLER_FROM_FIRST_LIFE: 16}  # native/import_chain.h P_*
_ROLES = tuple(Role)


def _bits(roles: frozenset[Role] | None) -> int:
    return sum(1 << _ROLES.index(r) for r in roles or ())


def _authorisation(checks: WriteChecks) -> tuple[Any, ...]:
    rules = [WRITE_RULES.get(k) for k in _KINDS]
    parties = bytes(sum(_PARTIES[p] for p in r.parties) if r else 0 for r in rules)
    return (parties, tuple(_bits(r.roles) if r else 0 for r in rules), _bits(CHAIN_ROLES), _ROLES.index(Role.DISMANTLER),
            _STATES.index(LifecycleState.RECYCLED), _STATES.index(LifecycleState.REMOVED), checks.as_org)


def import_file(session: Session, path: Path, *, passport_ids: bool = False, units_follow_receipts: bool = False,
                checks: WriteChecks | None = None, now: datetime | None = None,
                progress: Callable[[int], None] | None = None, block_lines: int = BLOCK_LINES) -> CompiledImport:
    """Import a JSON Lines file of events in the caller's transaction, with the compiled kernel.

    Parameters
    ----------
    session : Session
        Open session inside a transaction; rolled back by the caller when this raises.
    path : Path
        The file (JSON Lines).
    passport_ids : bool
        Also resolve batteries named by their passport ID (what ``circulith import events`` accepts).
    units_follow_receipts : bool
        The caller records the modules and cells travelling with a received pack (``circulith import
        events`` does): a receipt of a battery that has any is left to the Python path.
    checks : WriteChecks or None
        Check each row's right to record it (custody and role), as ``circulith import events`` does.
    now : datetime or None
        Current time, for the "not in the future" check (default: the clock).
    progress : callable or None
        Called with the number of records of each block once it is written.
    block_lines : int
        Lines read, checked against the ledger and written at a time (the Python path's chunk).

    Raises
    ------
    NotCertain
        At the first record the kernel is not certain of; nothing it wrote may be kept.
    """
    read = lock_head(session)  # first: everything read below is current until commit
    kernel = native.ImportKernel(*_tables(), read)
    if checks is not None:
        kernel.authorisation(*_authorisation(checks))
    roles_given = 0
    limit = format_timestamp((now or datetime.now(UTC)) + CLOCK_SKEW)
    states: dict[str, BatteryState] = {}
    done = CompiledImport()
    namespace = EVENT_ID_NAMESPACE.bytes
    with path.open("rb") as fh:
        for block in _blocks(fh, block_lines):
            try:
                records, raws = kernel.parse(block)
                bids = _resolve(session, raws, passport_ids)
                if checks is not None:
                    actors = kernel.actors()[roles_given:]
                    roles = organisation_roles(session, actors)
                    kernel.actor_roles([_ROLES.index(roles[a]) if a in roles else -1 for a in actors])
                    roles_given += len(actors)
                kernel.resolve(bids, _new_states(session, states, bids, units_follow_receipts, checks is not None))
                ids = kernel.ids(namespace)
                rows, unchanged, before = kernel.chain(existing_events(session, ids), limit)
            except native.NotCertain as exc:
                raise NotCertain(str(exc)) from None
            insert_event_rows(session, rows)
            done.records += records
            done.appended += len(rows)
            done.unchanged += unchanged
            done.recorded_before += before
            if progress:
                progress(records)
    try:
        changed = kernel.changed()
    except native.NotCertain as exc:
        raise NotCertain(str(exc)) from None
    for bid, state, status, last_at, custodian, site, region, seq, sha, dynamic_json, soh_pct in changed:
        st = states[bid]
        st.state, st.status, st.last_occurred_at = _STATES[state], status, last_at
        st.custodian_org_id, st.custody_site_id = custodian, site
        if region is not None:
            st.region = json.loads(region)
        st.head.seq, st.head.chain_sha256 = seq, sha
        if dynamic_json is not None:  # merged as ledger_store._apply_dynamic would, event after event
            st.dynamic_json, st.doc_obj = dynamic_json, None
        if soh_pct is not None:
            st.soh_pct = soh_pct
        st.dirty = True
    flush_states(session, states)
    write_head(session, *kernel.head(), read=read)
    done.actors = kernel.actors()
    return done


def _blocks(fh: Any, records: int) -> Iterator[bytes]:
    """The file's whole lines, ``records`` non-blank ones at a time (the Python path's chunks: where both
    read the ledger, recorded events are found and write checks skip them), without a leading BOM."""
    first = True
    while lines := list(itertools.islice(fh, records)):
        if first and lines[0].startswith(_BOM):
            lines[0] = lines[0][len(_BOM):]
        first = False
        count = len(lines) - sum(map(bytes.isspace, lines))
        while count < records and (more := list(itertools.islice(fh, records - count))):
            lines += more
            count += len(more) - sum(map(bytes.isspace, more))
        yield b"".join(lines)


def _resolve(session: Session, raws: list[str], passport_ids: bool) -> list[str]:
    """The battery ID of each raw identifier, as the Python path resolves ``canonical(raw)``.

    Identifiers are stored in canonical form and :func:`canonical` is idempotent, so a raw identifier
    found as it is resolves to what its canonical form would; only the others are parsed.
    """
    ids = resolve_battery_ids(session, raws)
    rest = [r for r in raws if r not in ids]
    canon = {r: _canonical(r) for r in rest}
    if any(c is None or not 1 <= len(c) <= _BATTERY_MAX for c in canon.values()):
        raise NotCertain("a battery identifier that does not parse")
    wanted = [c for c in canon.values() if c is not None]
    found = resolve_battery_ids(session, wanted) if wanted else {}
    missing = [c for c in dict.fromkeys(wanted) if c not in found]
    if missing and passport_ids:
        found.update(battery_ids_by_passport_id(session, missing))
    bids = [ids.get(r) or found.get(canon.get(r) or "") for r in raws]
    if any(b is None for b in bids):
        raise NotCertain("a battery that is not registered")
    return [b for b in bids if b is not None]


def _new_states(session: Session, states: dict[str, BatteryState], bids: list[str], units: bool,
                facts: bool) -> dict[str, tuple[Any, ...]]:
    new = [b for b in dict.fromkeys(bids) if b not in states]
    loaded = load_states(session, new)
    states.update(loaded)
    parents = batteries_with_units(session, new) if units else set()
    custody = custody_facts(session, new) if facts else {}
    return {b: (*_state_tuple(st), b in parents, _facts_tuple(custody[b]) if facts else None)
            for b, st in loaded.items()}


def _facts_tuple(f: CustodyFacts) -> tuple[Any, ...]:
    return (f.manufacturer_id, f.custodian_org_id, f.custodian_is_chain_actor, _STATES.index(f.state),
            f.shipped_to_org_id, f.removed_by_org_id)
