"""Plant lots in the registry: recording them in the ledger and closing their batteries.

The sequence the CLI (``circulith recovery lot record|close``) and the API share; reports on recorded
lots are in :mod:`circulith.services.lot_reports`, compliance in :mod:`circulith.services.compliance`.

Recording a lot (:func:`record_lots`, all-or-nothing in one transaction):

* an **input lot** names batteries (any identifier; resolved to registry IDs, which the stored document
  carries). Each must be registered, held by the recording organisation, and in a state that may be
  shredded (:data:`SHREDDABLE_STATES`, from the state machine). Each battery gets ``discharged`` (unless already
  recorded) and ``shredded`` with ``{lot_id, lot_sha256}``;
* an **intermediate lot** (shred or black mass) must come from recorded lots; its assay is checked against
  the input lots upstream (:func:`circulith.recovery.lots.check_assay`). Every battery traced to it gets
  ``black_mass_lot_created`` with ``{lot_id, lot_sha256, kind}``;
* a **product lot** must come from recorded lots; every battery traced to it gets ``material_output``
  with ``{lot_id, commodity, lot_sha256}``. A battery is closed (``recycled``) when the product lots traced
  to it have, as their principal element, every cathode metal its input contained (Li, Ni, Co, Mn —
  :data:`CLOSING_ELEMENTS`; traces in a foil or residue do not count), checked
  at the end of each call, or when the caller closes the lot explicitly (``close=True`` or
  :func:`close_lot`). A closed battery takes no further lot events; a lot all of whose batteries are
  closed is refused. ``recycled`` is a terminal state: only a recycler holding the battery records it
  (:mod:`circulith.auth.write_policy`). A refiner whose product lots complete a battery's recovery
  leaves it to its holder (``awaiting_close`` names them; the holder runs :func:`close_lot` on its lot).

Every processed lot must be made from lots its organisation holds (recorded by it, or shipped to it and
received: :mod:`circulith.services.lot_custody`), and must conserve what its sources hold: with the lots already made from each source, it
may carry no more of any element than the source holds (within the source's stated assay uncertainty),
and the intermediate lots made from a source weigh no more than it
(:func:`circulith.recovery.conservation.check_conservation`). A violating lot is refused, nothing written.

The lot's plant must belong to the recording organisation: ``plant_id`` is the organisation's ID or
``ORG:site``. ``lot_sha256`` is the SHA-256 of the canonical JSON of the stored lot document, so
:func:`circulith.services.lot_reports.verify_lots` detects a stored lot altered after recording.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, computed_field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Scope
from circulith.auth.write_policy import write_refusal
from circulith.errors import Conflict, InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent, format_timestamp
from circulith.ledger.hashing import canonical_json
from circulith.ledger.state_machine import TRANSITIONS
from circulith.recovery.conservation import check_conservation
from circulith.recovery.lots import AnyLot, InputLot, IntermediateLot, LotItem, ProductLot, check_assay
from circulith.recovery.plan import plan_lots
from circulith.recovery.species import ELEMENTS
from circulith.services.access_rules import require_scope
from circulith.services.lot_custody import require_held
from circulith.store.custody_repo import custody_facts, organisation_roles
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import append_events
from circulith.store.lot_repo import (
    StoredLot,
    batteries_of,
    battery_states,
    consumers_of,
    get_battery,
    get_lots,
    input_lots_of_batteries,
    insert_lot,
    kinds_recorded,
    lot_event_payloads,
    lot_period,
    organisation_role,
    upstream,
)
from circulith.store.registry import resolve

__all__ = ["CLOSING_ELEMENTS", "SHREDDABLE_STATES", "LotRecordResult", "RecordReport", "close_lot", "close_lot_as",
           "lot_document", "plan_lots", "record_lot", "record_lots", "record_lots_as", "stored_lot",
           "trace_in_session", "traced_batteries"]

#: Cathode metals whose presence in product lots closes a battery (``recycled``) automatically.
CLOSING_ELEMENTS = ("Li", "Ni", "Co", "Mn")
#: Lifecycle states a battery may be shredded from: those the state machine allows a ``shredded`` event in.
SHREDDABLE_STATES: tuple[str, ...] = tuple(sorted(st.value for st in TRANSITIONS[EventKind.SHREDDED][0]))
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
_EL = {e: i for i, e in enumerate(ELEMENTS)}


def lot_document(lot: AnyLot) -> tuple[str, str]:
    """Canonical JSON of a lot's payload and its SHA-256 (hex)."""
    doc = canonical_json(lot.to_payload())
    return doc, hashlib.sha256(doc.encode()).hexdigest()


class LotRecordResult(BaseModel):
    """What recording one lot did."""

    lot_id: str
    lot_type: str
    status: str = Field(description="'created' or 'unchanged'")
    lot_sha256: str
    batteries: int = 0
    events_written: int = 0
    closed: list[str] = Field(default_factory=list)


class RecordReport(BaseModel):
    """What a call of :func:`record_lots` did: each lot, and the batteries it closed (``recycled``)."""

    lots: list[LotRecordResult]
    closed: list[str]
    awaiting_close: dict[str, list[str]] = Field(
        default_factory=dict, description="Holder → batteries whose recovery these lots completed but which only "
                                          "their holder (a recycler) may close as recycled (recovery lot close).")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created(self) -> int:
        """Lots recorded by this call."""
        return sum(r.status == "created" for r in self.lots)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unchanged(self) -> int:
        """Lots already recorded with the same content."""
        return sum(r.status == "unchanged" for r in self.lots)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def events_written(self) -> int:
        """Ledger events appended (lot events and closures)."""
        return sum(r.events_written for r in self.lots) + len(self.closed)


def _plant_owned(plant_id: str, org_id: str) -> bool:
    return plant_id == org_id or plant_id.startswith(org_id + ":")


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _TS).replace(tzinfo=dt.UTC)


def _event_times(session: Session, lot: AnyLot, battery_ids: Sequence[str], now: dt.datetime,
                 problems: list[Problem]) -> dict[str, dt.datetime]:
    """When the lot's events happen on each battery: the lot's date, after the battery's last event that day.

    A lot dated before a battery's last recorded day, or in the future, is a problem.
    """
    day = lot_period(lot)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    if day > now.date():
        problems.append(Problem(None, "received_on" if isinstance(lot, InputLot) else "produced_on",
                                f"{day} is in the future", lot.lot_id))
        return {}
    last = {b: t for b, (_, t) in battery_states(session, battery_ids).items()}
    out: dict[str, dt.datetime] = {}
    for bid in battery_ids:
        t_last = _parse_ts(last[bid])
        if t_last.date() > day:
            problems.append(Problem(None, "received_on" if isinstance(lot, InputLot) else "produced_on",
                                    f"lot dated {day} but battery {bid}'s last recorded event is on {t_last.date()}",
                                    lot.lot_id))
            continue
        out[bid] = min(max(start, t_last), now)
    return out


def _check_owner(session: Session, lot: AnyLot, actor_org_id: str) -> None:
    if organisation_role(session, actor_org_id) is None:
        raise NotFound(f"unknown organisation '{actor_org_id}'")
    if not _plant_owned(lot.plant_id, actor_org_id):
        raise InvalidInput(Problem(None, "plant_id", f"plant '{lot.plant_id}' does not belong to organisation "
                                   f"'{actor_org_id}' (use '{actor_org_id}' or '{actor_org_id}:<site>')", lot.lot_id))


def _resolve_items(session: Session, lot: InputLot) -> InputLot:
    """The input lot with its batteries' registry IDs (any identifier scheme accepted); unknown ones are problems."""
    problems: list[Problem] = []
    items: list[LotItem] = []
    seen: set[str] = set()
    for n, it in enumerate(lot.items, start=1):
        try:
            bid = resolve(session, it.battery_id)
        except (InvalidInput, NotFound) as e:
            problems.append(Problem(n, "items.battery_id", f"'{it.battery_id}': {e}", lot.lot_id))
            continue
        if bid in seen:
            problems.append(Problem(n, "items.battery_id", f"'{it.battery_id}' is battery {bid}, already in the lot",
                                    lot.lot_id))
            continue
        seen.add(bid)
        items.append(it.model_copy(update={"battery_id": bid}))
    if problems:
        raise InvalidInput(problems, source=f"input lot {lot.lot_id}")
    return lot.model_copy(update={"items": items})


def _check_input_batteries(session: Session, lot: InputLot, actor_org_id: str) -> list[str]:
    """Every battery held by the recording organisation and ready for shredding; returns their IDs."""
    problems: list[Problem] = []
    for n, it in enumerate(lot.items, start=1):
        bid = it.battery_id
        b = get_battery(session, bid)
        if b.custodian_org_id != actor_org_id:
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is held by '{b.custodian_org_id}', not by "
                                    f"'{actor_org_id}' (record its receipt first)", lot.lot_id))
        if b.lifecycle_state in ("shredded", "recycled"):
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is already {b.lifecycle_state}", lot.lot_id))
        elif b.lifecycle_state not in SHREDDABLE_STATES:
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is '{b.lifecycle_state}': only "
                                    f"{', '.join(SHREDDABLE_STATES)} batteries may be shredded", lot.lot_id))
        if b.chemistry != it.chemistry:
            problems.append(Problem(n, "items.chemistry", f"the lot says {it.chemistry} but battery {bid}'s passport "
                                    f"says {b.chemistry}", lot.lot_id))
    if problems:
        raise InvalidInput(problems, source=f"input lot {lot.lot_id}")
    return [it.battery_id for it in lot.items]


def _upstream_inputs(session: Session, lot: IntermediateLot | ProductLot) -> tuple[dict[str, StoredLot], list[InputLot]]:
    """The stored source lots and every input lot upstream of them; unknown sources are a problem."""
    sources = get_lots(session, lot.source_lot_ids)
    missing = [s for s in lot.source_lot_ids if s not in sources]
    if missing:
        raise InvalidInput([Problem(None, "source_lot_ids", f"source lot '{s}' is not recorded (record it first)",
                                    lot.lot_id) for s in missing], source=f"lot {lot.lot_id}")
    if lot.lot_id in upstream(session, lot.source_lot_ids):
        raise InvalidInput(Problem(None, "source_lot_ids", "the lot would be its own source", lot.lot_id))
    up = get_lots(session, upstream(session, lot.source_lot_ids))
    return sources, [s.lot for s in up.values() if isinstance(s.lot, InputLot)]


def traced_batteries(session: Session, inputs: Sequence[InputLot]) -> list[str]:
    """Registry battery IDs recorded in the input lots ``inputs`` (sorted, each once)."""
    by_lot = batteries_of(session, [i.lot_id for i in inputs])
    return sorted({b for bs in by_lot.values() for b in bs})


def _open_batteries(session: Session, lot: AnyLot, battery_ids: Sequence[str]) -> list[str]:
    states = battery_states(session, battery_ids)
    open_ = [b for b in battery_ids if states.get(b, ("", ""))[0] != "recycled"]
    if battery_ids and not open_:
        raise InvalidInput(Problem(None, "source_lot_ids", f"every battery traced to the lot ({len(battery_ids)}) is "
                                   "already closed as recycled: record outputs before closing", lot.lot_id))
    return open_


def _record_one(session: Session, lot: AnyLot, actor_org_id: str, now: dt.datetime) -> tuple[LotRecordResult, list[str]]:
    """Record one lot in the session; returns the result and the batteries that got a product event."""
    _check_owner(session, lot, actor_org_id)
    if isinstance(lot, InputLot):
        lot = _resolve_items(session, lot)
    doc, sha = lot_document(lot)
    existing = get_lots(session, [lot.lot_id]).get(lot.lot_id)
    if existing is not None:
        if existing.document_sha256 == sha:
            return LotRecordResult(lot_id=lot.lot_id, lot_type=lot.lot_type, status="unchanged", lot_sha256=sha), []
        raise Conflict(f"lot {lot.lot_id} is already recorded with different content (sha256 "
                       f"{existing.document_sha256[:12]}…, this one {sha[:12]}…): a recorded lot never changes; "
                       "give the corrected lot a new lot_id")
    at = format_timestamp(now)
    problems: list[Problem] = []
    events: list[LedgerEvent] = []
    product_batteries: list[str] = []
    if isinstance(lot, InputLot):
        bids = _check_input_batteries(session, lot, actor_org_id)
        times = _event_times(session, lot, bids, now, problems)
        done = kinds_recorded(session, bids, ("discharged",))
        if problems:
            raise InvalidInput(problems, source=f"input lot {lot.lot_id}")
        site = lot.plant_id
        for bid in bids:
            if (bid, "discharged") not in done:
                events.append(LedgerEvent(battery_id=bid, kind=EventKind.DISCHARGED, occurred_at=times[bid],
                                          actor_org_id=actor_org_id, site_id=site, payload={"lot_id": lot.lot_id}))
            events.append(LedgerEvent(battery_id=bid, kind=EventKind.SHREDDED, occurred_at=times[bid],
                                      actor_org_id=actor_org_id, site_id=site,
                                      payload={"lot_id": lot.lot_id, "lot_sha256": sha}))
        insert_lot(session, lot, document=doc, document_sha256=sha, recorded_at=at, actor_org_id=actor_org_id,
                   battery_ids=bids)
        n_bat = len(bids)
    else:
        sources, inputs = _upstream_inputs(session, lot)
        if isinstance(lot, IntermediateLot):
            _check_intermediate(lot, sources, inputs)
        else:
            _check_product(lot, sources, inputs)
        require_held(session, sources, actor_org_id, lot.lot_id)
        bids = _open_batteries(session, lot, traced_batteries(session, inputs))
        _check_conserved(session, lot, sources)
        times = _event_times(session, lot, bids, now, problems)
        if problems:
            raise InvalidInput(problems, source=f"lot {lot.lot_id}")
        for bid in bids:
            if isinstance(lot, IntermediateLot):
                events.append(LedgerEvent(battery_id=bid, kind=EventKind.BLACK_MASS_LOT_CREATED, occurred_at=times[bid],
                                          actor_org_id=actor_org_id, site_id=lot.plant_id,
                                          payload={"lot_id": lot.lot_id, "lot_sha256": sha, "kind": lot.kind}))
            else:
                events.append(LedgerEvent(battery_id=bid, kind=EventKind.MATERIAL_OUTPUT, occurred_at=times[bid],
                                          actor_org_id=actor_org_id, site_id=lot.plant_id,
                                          payload={"lot_id": lot.lot_id, "commodity": lot.commodity, "lot_sha256": sha}))
        insert_lot(session, lot, document=doc, document_sha256=sha, recorded_at=at, actor_org_id=actor_org_id)
        if isinstance(lot, ProductLot):
            product_batteries = bids
        n_bat = len(bids)
    res = append_events(session, events, now=now)
    return LotRecordResult(lot_id=lot.lot_id, lot_type=lot.lot_type, status="created", lot_sha256=sha,
                           batteries=n_bat, events_written=res.appended), product_batteries


def _check_intermediate(lot: IntermediateLot, sources: Mapping[str, StoredLot], inputs: Sequence[InputLot]) -> None:
    if not inputs:
        raise InvalidInput(Problem(None, "source_lot_ids", "no input lot upstream of this lot", lot.lot_id))
    if any(not isinstance(s.lot, InputLot) for s in sources.values()):
        if any(isinstance(s.lot, ProductLot) for s in sources.values()):
            raise InvalidInput(Problem(None, "source_lot_ids", "an intermediate lot cannot be made from a product lot",
                                       lot.lot_id))
        src_mass = sum(s.lot.mass_kg for s in sources.values())
        if lot.mass_kg > src_mass * (1 + 1e-9):
            raise InvalidInput(Problem(None, "mass_kg", f"{lot.mass_kg:g} kg exceeds its source lots' {src_mass:g} kg",
                                       lot.lot_id), source=f"assay of lot {lot.lot_id}")
    # The assay against the input lots upstream (through any shred lot in between).
    check_assay(lot.model_copy(update={"source_lot_ids": [i.lot_id for i in inputs]}), inputs)


def _check_product(lot: ProductLot, sources: Mapping[str, StoredLot], inputs: Sequence[InputLot]) -> None:
    if not inputs:
        raise InvalidInput(Problem(None, "source_lot_ids", "no input lot upstream of this lot", lot.lot_id))
    el_in = sum((i.element_vector() for i in inputs), np.zeros(len(ELEMENTS)))
    problems = []
    for el, kg in lot.element_kg().items():
        if kg > el_in[_EL[el]] * 1.02 + 1e-9:
            problems.append(Problem(None, f"element_content.{el}", f"{kg:.3g} kg {el} in the product but only "
                                    f"{el_in[_EL[el]]:.3g} kg entered with the input lots upstream", lot.lot_id))
    if problems:
        raise InvalidInput(problems, source=f"product lot {lot.lot_id}")


def _check_conserved(session: Session, lot: IntermediateLot | ProductLot, sources: Mapping[str, StoredLot]) -> None:
    """Refuse a lot that would make its sources' consumers carry more of an element (or mass) than they hold."""
    made = consumers_of(session, sources)
    others = get_lots(session, {c for cs in made.values() for c in cs} - {lot.lot_id})
    co_sources = get_lots(session, {s for o in others.values() for s in getattr(o.lot, "source_lot_ids", [])}
                          - set(sources))
    lots: dict[str, AnyLot] = {k: v.lot for k, v in {**sources, **others, **co_sources}.items()}
    lots[lot.lot_id] = lot
    found = check_conservation(lots, list(sources))
    if found:
        raise InvalidInput([Problem(None, "mass_kg" if v.element == "mass" else f"element_content.{v.element}",
                                    v.message(), lot.lot_id) for v in found],
                           source=f"conservation at lot {lot.lot_id}")


@lru_cache(maxsize=256)
def _closing_elements(chemistry: str, form: str, declared: tuple[tuple[str, float], ...]) -> frozenset[str]:
    item = LotItem(battery_id="x", chemistry=chemistry, form=form, mass_kg=1.0, declared_kg=dict(declared))
    vec = InputLot(lot_id="x", plant_id="x", received_on=dt.date(2000, 1, 1), items=[item]).element_vector()
    return frozenset(e for e in CLOSING_ELEMENTS if vec[_EL[e]] > 1e-9)


def _principal(lot: AnyLot) -> str | None:
    """The element a product lot is mainly made of (Li for Li2CO3, Al for aluminium foil with cathode traces)."""
    content = getattr(lot, "element_content", {})
    return max(content, key=lambda e: content[e]) if content else None


def _closing_refusals(session: Session, battery_ids: Sequence[str], actor_org_id: str) -> dict[str, str]:
    """Battery → why ``actor_org_id`` may not record ``recycled`` on it (absent: it may)."""
    facts = custody_facts(session, battery_ids)
    role = organisation_roles(session, [actor_org_id]).get(actor_org_id)
    out: dict[str, str] = {}
    for bid in battery_ids:
        f = facts.get(bid)
        if f is not None and f.state.value != "recycled":
            why = write_refusal(actor_org_id, role, EventKind.RECYCLED, f)
            if why is not None:
                out[bid] = why
    return out


def _auto_close(session: Session, battery_ids: Sequence[str], actor_org_id: str, now: dt.datetime,
                awaiting: dict[str, list[str]]) -> list[str]:
    """Close (``recycled``) the batteries whose product lots carry every cathode metal their input held.

    Those the recording organisation may not close (it does not hold them, or is not a recycler) are added
    to ``awaiting`` under their holder instead.
    """
    if not battery_ids:
        return []
    in_lots = input_lots_of_batteries(session, battery_ids)
    stored_inputs = get_lots(session, {lid for ls in in_lots.values() for lid in ls})
    item_of: dict[str, LotItem] = {}
    for s in stored_inputs.values():
        for it in s.lot.items:  # type: ignore[union-attr]
            item_of[it.battery_id] = it
    product_ids: dict[str, set[str]] = {}
    for bid, kind, payload in lot_event_payloads(session, battery_ids):
        if kind == "material_output":
            product_ids.setdefault(bid, set()).add(str(payload.get("lot_id")))
    products = get_lots(session, {p for ps in product_ids.values() for p in ps})
    to_close = []
    for bid in battery_ids:
        it = item_of.get(bid)
        if it is None:
            continue
        need = _closing_elements(it.chemistry, it.form, tuple(sorted(it.declared_kg.items())))
        have = {_principal(products[p].lot) for p in product_ids.get(bid, ())
                if p in products and getattr(products[p].lot, "counts_as_recycling", False)}
        if need and need <= have:
            to_close.append(bid)
    refused = _closing_refusals(session, to_close, actor_org_id)
    holders = custody_facts(session, list(refused))
    for bid in refused:
        awaiting.setdefault(holders[bid].holder or "", []).append(bid)
    return _close(session, [b for b in to_close if b not in refused], actor_org_id, now,
                  reason="every cathode metal recovered in product lots")


def _close(session: Session, battery_ids: Sequence[str], actor_org_id: str, now: dt.datetime, *, reason: str,
           lot_id: str | None = None) -> list[str]:
    refused = _closing_refusals(session, battery_ids, actor_org_id)
    if refused:
        raise InvalidInput([Problem(None, "battery_id", f"battery {b} cannot be closed as recycled by "
                                    f"'{actor_org_id}': {why}", lot_id) for b, why in refused.items()],
                           source="closing")
    states = battery_states(session, battery_ids)
    events = []
    for bid in battery_ids:
        st, last = states[bid]
        if st == "recycled":
            continue
        payload: dict[str, Any] = {"reason": reason}
        if lot_id:
            payload["lot_id"] = lot_id
        events.append(LedgerEvent(battery_id=bid, kind=EventKind.RECYCLED, occurred_at=max(_parse_ts(last), now),
                                  actor_org_id=actor_org_id, payload=payload))
    append_events(session, events, now=now)
    return [e.battery_id for e in events]


def record_lots(engine: Engine, lots: Sequence[AnyLot], actor_org_id: str, *, close: bool = False,
                now: dt.datetime | None = None) -> RecordReport:
    """Record lots in order (sources before the lots made from them), all or nothing in one transaction.

    Parameters
    ----------
    engine : Engine
        The registry.
    lots : sequence of lots
        Input, intermediate and product lots (e.g. from :func:`circulith.recovery.readers.read_lot_records`).
    actor_org_id : str
        The plant's organisation, recording the lots.
    close : bool
        Close (``recycled``) every battery traced to the product lots of this call, whatever they carry.
    now : datetime, optional
        Recording time (default: the clock).

    Raises
    ------
    InvalidInput
        Unknown or foreign batteries, batteries not ready for shredding, unknown source lots, an assay or
        product inconsistent with the input lots upstream, a lot dated before its batteries' last event.
    Conflict
        A lot ID already recorded with other content.
    """
    require_schema(engine)
    now = now or dt.datetime.now(dt.UTC)
    results: list[LotRecordResult] = []
    with transaction(engine) as session:
        touched: list[str] = []
        for lot in lots:
            res, bids = _record_one(session, lot, actor_org_id, now)
            results.append(res)
            touched.extend(bids)
        touched = list(dict.fromkeys(touched))
        awaiting: dict[str, list[str]] = {}
        closed = (_close(session, touched, actor_org_id, now, reason="closed by the plant") if close
                  else _auto_close(session, touched, actor_org_id, now, awaiting))
    return RecordReport(lots=results, closed=sorted(closed),
                        awaiting_close={h: sorted(b) for h, b in sorted(awaiting.items())})


def record_lot(engine: Engine, lot: AnyLot, actor_org_id: str, *, close: bool = False,
               now: dt.datetime | None = None) -> LotRecordResult:
    """Record one lot (see :func:`record_lots`); ``closed`` lists the batteries it closed."""
    rep = record_lots(engine, [lot], actor_org_id, close=close, now=now)
    return rep.lots[0].model_copy(update={"closed": rep.closed})


def close_lot(engine: Engine, lot_id: str, actor_org_id: str, *, now: dt.datetime | None = None) -> list[str]:
    """Close (``recycled``) every battery traced to a lot that is not closed yet; returns their IDs."""
    require_schema(engine)
    now = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        stored = stored_lot(session, lot_id)
        if not _plant_owned(stored.lot.plant_id, actor_org_id):
            raise InvalidInput(Problem(None, "plant_id", f"lot {lot_id} belongs to plant '{stored.lot.plant_id}', not "
                                       f"to organisation '{actor_org_id}'", lot_id))
        bids = trace_in_session(session, lot_id)
        states = {b: st for b, (st, _) in battery_states(session, bids).items()}
        bad = [b for b in bids if states.get(b) not in ("shredded", "recycled")]
        if bad:
            raise InvalidInput([Problem(None, "battery_id", f"battery {b} is '{states.get(b)}', not shredded", lot_id)
                                for b in bad])
        return _close(session, bids, actor_org_id, now, reason="closed by the plant", lot_id=lot_id)


def stored_lot(session: Session, lot_id: str) -> StoredLot:
    """The recorded lot ``lot_id``; NotFound when no such lot is recorded."""
    stored = get_lots(session, [lot_id]).get(lot_id)
    if stored is None:
        raise NotFound(f"no lot '{lot_id}' is recorded")
    return stored


def trace_in_session(session: Session, lot_id: str) -> list[str]:
    """Registry battery IDs that fed a lot (through its shred and black-mass lots)."""
    stored_lot(session, lot_id)
    up = get_lots(session, upstream(session, [lot_id]))
    return traced_batteries(session, [s.lot for s in up.values() if isinstance(s.lot, InputLot)])


# ---------------------------------------------------------------- the same, as a principal


def _recording_org(principal: Principal) -> str:
    require_scope(principal, Scope.WRITE)
    assert principal.org_id is not None  # require_scope checked the login
    return principal.org_id


def record_lots_as(engine: Engine, principal: Principal, lots: Sequence[AnyLot], *, close: bool = False,
                   now: dt.datetime | None = None) -> RecordReport:
    """Record lots as ``principal``'s organisation (write scope): :func:`record_lots`, all or nothing."""
    return record_lots(engine, lots, _recording_org(principal), close=close, now=now)


def close_lot_as(engine: Engine, principal: Principal, lot_id: str, *, now: dt.datetime | None = None) -> list[str]:
    """Close a lot as ``principal``'s organisation (write scope): :func:`close_lot`."""
    return close_lot(engine, lot_id, _recording_org(principal), now=now)
