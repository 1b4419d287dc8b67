"""The passport registry: registering batteries, resolving identifiers, reading passports.

Registration is idempotent: registering the same passport again changes nothing, registering
a different passport under a known identifier is refused, and an identifier once issued is
never given to another battery. Each new battery gets a ``registered`` event carrying the
SHA-256 of its passport document, which chains it into the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.chain import ChainBuilder
from circulith.ledger.events import EventKind, LedgerEvent, format_timestamp
from circulith.ledger.hashing import canonical_json
from circulith.ledger.state_machine import LifecycleState
from circulith.passport.model import Passport
from circulith.store.ledger_store import chunks, insert_event_rows, lock_head, write_head
from circulith.store.models import Battery, Identifier

_LEVEL_RANK = {"pack": 0, "module": 1, "cell": 2}


@dataclass
class RegisterResult:
    """What a registration did."""

    created: int = 0
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)


def passport_document(passport: Passport) -> str:
    """Canonical JSON of a whole passport (what registration compares and hashes)."""
    return canonical_json(passport.model_dump(mode="json", exclude_none=True))


def split_document(passport: Passport) -> tuple[str, str]:
    """The stored parts of a passport: static document (no status, no dynamic values) and dynamic values."""
    doc = passport.model_dump(mode="json", exclude_none=True)
    dynamic = doc.pop("dynamic", {})
    doc.pop("status", None)
    return canonical_json(doc), canonical_json(dynamic)


def _integral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _numbers(document: str) -> str:
    """A canonical passport document with integral numbers written alike (``0.0`` and ``0`` are one value)."""
    return canonical_json(_integral(json.loads(document)))


def _current_document(session: Session, battery_id: str, cache: dict[str, str]) -> str:
    """The battery's passport as it stands now (status and dynamic values from events), normalised.

    A passport exported after its registration and imported again unchanged equals this, not the
    registered document: both sides pass through :func:`passport_document` and :func:`_numbers`, so
    the comparison is of the same normalised form (a stored ``0`` read back as ``0.0`` is the same).
    """
    if battery_id not in cache:
        battery = session.get(Battery, battery_id)
        cache[battery_id] = _numbers(passport_document(stored_passport(battery))) if battery is not None else ""
    return cache[battery_id]


def stored_passport(battery: Battery) -> Passport:
    """The current passport of a stored battery: static document, status and dynamic values.

    Dynamic values that fail today's checks (recorded before them) are left out rather than fatal.
    """
    from circulith.passport.model import readable_dynamic

    doc = json.loads(battery.document)
    doc["status"] = battery.status
    doc["dynamic"] = readable_dynamic(json.loads(battery.dynamic_json))[0]
    return Passport.model_validate(doc)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _scheme(identifier: str) -> str:
    from circulith.passport.identifiers import parse_identifier

    try:
        return parse_identifier(identifier).scheme
    except Exception:
        return "other"


def register_passports(
    session: Session,
    passports: Sequence[Passport],
    *,
    actor_org_id: str,
    rows: Sequence[int] | None = None,
    skip_invalid: bool = False,
    now: datetime | None = None,
) -> RegisterResult:
    """Register passports in the caller's transaction.

    Parameters
    ----------
    session : Session
        Open session inside a transaction.
    passports : sequence of Passport
        Validated passports. Packs may come in the same batch as their modules and cells.
    actor_org_id : str
        Organisation recording the registration (the ``registered`` events' actor).
    rows : sequence of int or None
        Source row number of each passport, for messages.
    skip_invalid : bool
        Register the valid ones and return the rejected instead of raising.
    now : datetime or None
        Registration time (default: the clock).

    Raises
    ------
    InvalidInput
        Unless ``skip_invalid``: a known battery ID with different content, an identifier already
        issued to another battery, an unknown parent or predecessor.
    """
    rows = list(rows) if rows is not None else list(range(1, len(passports) + 1))
    at = format_timestamp(now or datetime.now(UTC))
    result = RegisterResult()
    problems: list[Problem] = []

    all_ids = [i for p in passports for i in p.all_identifiers()]
    owners: dict[str, str] = {}
    for part in chunks(list(dict.fromkeys(all_ids))):
        found = session.execute(
            select(Identifier.identifier, Identifier.battery_id).where(Identifier.identifier.in_(part))
        )
        owners.update((ident, bid) for ident, bid in found)
    known: dict[str, tuple[str, str]] = {}
    for part in chunks(list(dict.fromkeys(p.battery_id for p in passports))):
        for bid, sha, pid in session.execute(
            select(Battery.battery_id, Battery.registered_sha256, Battery.passport_id).where(Battery.battery_id.in_(part))
        ):
            known[bid] = (sha, pid)
    current: dict[str, str] = {}  # canonical current document of a known battery, read when needed
    refs = [p.parent_battery_id for p in passports if p.parent_battery_id]
    existing_parents: set[str] = set()
    for part in chunks(list(dict.fromkeys(refs))):
        existing_parents.update(session.execute(select(Battery.battery_id).where(Battery.battery_id.in_(part))).scalars())
    preds = [p.predecessor_passport_id for p in passports if p.predecessor_passport_id]
    existing_preds: set[str] = set()
    for part in chunks(list(dict.fromkeys(preds))):
        existing_preds.update(session.execute(select(Battery.passport_id).where(Battery.passport_id.in_(part))).scalars())
    passport_ids_taken: set[str] = set()
    for part in chunks(list(dict.fromkeys(p.passport_id for p in passports))):
        passport_ids_taken.update(session.execute(select(Battery.passport_id).where(Battery.passport_id.in_(part))).scalars())

    order = sorted(range(len(passports)), key=lambda i: _LEVEL_RANK[passports[i].level])
    batch_ids: dict[str, str] = {}  # identifier -> battery in this batch
    batch_docs: dict[str, str] = {}
    accepted: list[tuple[Passport, str, str]] = []
    for i in order:
        p, rowno = passports[i], rows[i]
        doc = passport_document(p)
        sha = _sha(doc)
        bad: list[Problem] = []
        if p.battery_id in known:
            if known[p.battery_id][0] == sha or _current_document(session, p.battery_id, current) == _numbers(doc):
                result.unchanged += 1
            else:
                bad.append(Problem(rowno, "battery_id", "already registered with different content "
                                   "(a registered passport changes only through ledger events)", p.battery_id))
        elif p.battery_id in batch_docs:
            if batch_docs[p.battery_id] == sha:
                result.unchanged += 1
            else:
                bad.append(Problem(rowno, "battery_id", "appears twice in this input with different content", p.battery_id))
        else:
            for ident in p.all_identifiers():
                owner = owners.get(ident) or batch_ids.get(ident)
                if owner is not None and owner != p.battery_id:
                    bad.append(Problem(rowno, "identifiers", f"identifier '{ident}' is already issued to battery "
                                       f"{owner} (identifiers are never reused)", p.battery_id))
            if p.passport_id in passport_ids_taken:
                bad.append(Problem(rowno, "passport_id", f"passport ID '{p.passport_id}' is already in use", p.battery_id))
            if p.parent_battery_id and p.parent_battery_id not in existing_parents and p.parent_battery_id not in batch_docs:
                bad.append(Problem(rowno, "parent_battery_id", f"unknown parent battery '{p.parent_battery_id}' "
                                   "(register the pack before its modules)", p.battery_id))
            if p.predecessor_passport_id and p.predecessor_passport_id not in existing_preds:
                bad.append(Problem(rowno, "predecessor_passport_id",
                                   f"unknown predecessor passport '{p.predecessor_passport_id}'", p.battery_id))
            if not bad:
                for ident in p.all_identifiers():
                    batch_ids[ident] = p.battery_id
                batch_docs[p.battery_id] = sha
                passport_ids_taken.add(p.passport_id)
                accepted.append((p, doc, sha))
        problems.extend(bad)

    if problems and not skip_invalid:
        raise InvalidInput(problems, source="passports")
    result.rejected = problems
    if not accepted:
        return result

    gseq, gsha = lock_head(session)
    builder = ChainBuilder(gseq, gsha, {})
    battery_rows: list[dict[str, Any]] = []
    ident_rows: list[dict[str, Any]] = []
    event_rows = []
    for p, _full_doc, sha in accepted:
        static_doc, dynamic_doc = split_document(p)
        # The registered event binds the stored static document, the initial status and the initial
        # dynamic values, so that verification detects an edit of any (circulith.ledger.replay).
        ev = LedgerEvent(
            battery_id=p.battery_id, kind=EventKind.REGISTERED, occurred_at=datetime.fromisoformat(at),
            actor_org_id=actor_org_id,
            payload={"passport_id": p.passport_id, "passport_sha256": sha, "level": p.level,
                     "parent_battery_id": p.parent_battery_id, "document_sha256": _sha(static_doc),
                     "status": p.status, "dynamic": json.loads(dynamic_doc)},
        ).with_derived_id()
        row = builder.append(ev)
        event_rows.append(row)
        soh = p.dynamic.soh_pct.value if p.dynamic.soh_pct is not None else None
        battery_rows.append({
            "battery_id": p.battery_id, "passport_id": p.passport_id, "level": p.level,
            "parent_battery_id": p.parent_battery_id, "predecessor_passport_id": p.predecessor_passport_id,
            "category": p.category, "chemistry": p.chemistry, "model": p.model,
            "manufacturer_id": p.manufacturer.id, "manufacturing_date": p.manufacturing_date,
            "status": p.status, "lifecycle_state": LifecycleState.MANUFACTURED.value, "region": None,
            "custodian_org_id": actor_org_id, "custody_site_id": None, "mass_kg": p.mass_kg,
            "rated_energy_kwh": p.rated_energy_kwh, "soh_pct": float(soh) if soh is not None else None,
            "document": static_doc, "dynamic_json": dynamic_doc, "document_sha256": _sha(static_doc),
            "registered_sha256": sha, "registered_at": at,
            "updated_at": at, "last_seq": 1, "last_chain_sha256": row.battery_chain_sha256,
            # The battery's time line starts at manufacture, not at (possibly later) registration, so a
            # history can be back-filled after the passport is registered.
            "last_occurred_at": f"{p.manufacturing_date}-01T00:00:00.000000Z",
        })
        ident_rows.extend({"identifier": i, "battery_id": p.battery_id, "scheme": _scheme(i)} for i in p.all_identifiers())
    session.execute(insert(Battery), battery_rows)
    session.execute(insert(Identifier), ident_rows)
    insert_event_rows(session, event_rows)
    write_head(session, builder.global_seq, builder.global_sha256, read=(gseq, gsha))
    result.created = len(accepted)
    return result


def ensure_organisations(session: Session, organisations: Sequence[dict[str, Any]]) -> int:
    """Insert the organisations not yet known (``org_id``, ``name``, ``role``, ``country``); returns how many."""
    from circulith.store.models import Organisation

    known = set(session.execute(select(Organisation.org_id)).scalars())
    new = [o for o in organisations if o["org_id"] not in known]
    if new:
        session.execute(insert(Organisation), [
            {"org_id": o["org_id"], "name": o["name"], "role": o["role"], "country": o.get("country")} for o in new
        ])
    return len(new)


def resolve(session: Session, identifier: str) -> str:
    """The battery ID behind any accepted identifier (GS1 Digital Link, IEC 61406, GB/T 34014, URN).

    Raises
    ------
    InvalidInput
        If the identifier fails its scheme's check.
    NotFound
        If no battery carries it.
    """
    from circulith.passport.identifiers import canonical

    key = canonical(identifier)  # raises InvalidInput naming the failed rule
    bid = session.execute(select(Identifier.battery_id).where(Identifier.identifier == key)).scalar_one_or_none()
    if bid is None:
        bid = session.execute(select(Battery.battery_id).where(Battery.passport_id == key)).scalar_one_or_none()
    if bid is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    return bid


def get_battery(session: Session, identifier: str) -> Battery:
    """The stored battery behind any identifier."""
    bid = resolve(session, identifier)
    return session.get_one(Battery, bid)


def get_passport(session: Session, identifier: str) -> Passport:
    """The current passport (with its dynamic values) of the battery behind ``identifier``."""
    return stored_passport(get_battery(session, identifier))


def fleet_summary(session: Session) -> dict[str, Any]:
    """Counts of batteries by level, chemistry, lifecycle state, status and region, and energy totals."""
    def counts(col: ColumnElement[Any] | InstrumentedAttribute[Any], *, level: str | None = "pack") -> dict[str, int]:
        stmt = select(col, func.count()).group_by(col).order_by(col)
        if level:
            stmt = stmt.where(Battery.level == level)
        return {("unknown" if k is None else str(k)): int(v) for k, v in session.execute(stmt)}  # as fleet_counts

    energy = session.execute(
        select(func.coalesce(func.sum(Battery.rated_energy_kwh), 0.0), func.coalesce(func.sum(Battery.mass_kg), 0.0))
        .where(Battery.level == "pack")
    ).one()
    from circulith.store.models import Event

    return {
        "batteries_by_level": counts(Battery.level, level=None),
        "packs_by_chemistry": counts(Battery.chemistry),
        "packs_by_lifecycle_state": counts(Battery.lifecycle_state),
        "packs_by_status": counts(Battery.status),
        "packs_by_region": counts(Battery.region),
        "pack_energy_mwh": round(float(energy[0]) / 1000.0, 3),
        "pack_mass_t": round(float(energy[1]) / 1000.0, 3),
        "events": int(session.execute(select(func.count()).select_from(Event)).scalar_one()),
    }
