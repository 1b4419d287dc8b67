"""Plant lots in the registry: recording them in the ledger, tracing, verifying, compliance from them.

The sequence the CLI (``circulith recovery lot ...``, ``circulith compliance ...``) and the API share.

Recording a lot (:func:`record_lots`, all-or-nothing in one transaction):

* an **input lot** names batteries (any identifier; resolved to registry IDs, which the stored document
  carries). Each must be registered, held by the recording organisation, and in a state that may be
  shredded (removed, collected, evaluated or dismantled). Each battery gets ``discharged`` (unless already
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
  closed is refused.

The lot's plant must belong to the recording organisation: ``plant_id`` is the organisation's ID or
``ORG:site``. ``lot_sha256`` is the SHA-256 of the canonical JSON of the stored lot document, so
:func:`verify_lots` detects a stored lot altered after recording.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from circulith.errors import Conflict, InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent, format_timestamp
from circulith.ledger.hashing import canonical_json
from circulith.recovery.compliance import (
    ComplianceReport,
    CountingRules,
    compliance_report,
    recycled_content_checks,
)
from circulith.recovery.lots import (
    AnyLot,
    InputLot,
    IntermediateLot,
    LotItem,
    NewBattery,
    ProductLot,
    allocate_recycled_content,
    check_assay,
    lot_yields,
)
from circulith.recovery.species import ELEMENTS
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import append_events
from circulith.store.lot_repo import (
    StoredLot,
    batteries_of,
    downstream,
    get_lots,
    input_lots_of_batteries,
    insert_lot,
    iter_lot_rows,
    kinds_recorded,
    lot_event_payloads,
    lot_events,
    lot_period,
    plant_lots,
    upstream,
)
from circulith.store.models import Battery, Event, Organisation
from circulith.store.registry import resolve, stored_passport

#: Cathode metals whose presence in product lots closes a battery (``recycled``) automatically.
CLOSING_ELEMENTS = ("Li", "Ni", "Co", "Mn")
SHREDDABLE_STATES = ("removed", "collected", "evaluated", "dismantled")
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
_EL = {e: i for i, e in enumerate(ELEMENTS)}


def lot_document(lot: AnyLot) -> tuple[str, str]:
    """Canonical JSON of a lot's payload and its SHA-256 (hex)."""
    doc = canonical_json(lot.to_payload())
    return doc, hashlib.sha256(doc.encode()).hexdigest()


@dataclass
class LotRecordResult:
    """What recording one lot did."""

    lot_id: str
    lot_type: str
    status: str  # "created" or "unchanged"
    lot_sha256: str
    batteries: int = 0
    events_written: int = 0
    closed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"lot_id": self.lot_id, "lot_type": self.lot_type, "status": self.status, "lot_sha256": self.lot_sha256,
                "batteries": self.batteries, "events_written": self.events_written, "closed": self.closed}


@dataclass
class RecordReport:
    """What a call of :func:`record_lots` did: each lot, and the batteries it closed (``recycled``)."""

    lots: list[LotRecordResult]
    closed: list[str]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"lots": [r.as_dict() for r in self.lots], "closed": self.closed,
                "created": sum(r.status == "created" for r in self.lots),
                "unchanged": sum(r.status == "unchanged" for r in self.lots),
                "events_written": sum(r.events_written for r in self.lots) + len(self.closed)}


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
    last: dict[str, str] = {}
    for part in _chunks(battery_ids):
        last.update(session.execute(select(Battery.battery_id, Battery.last_occurred_at)
                                    .where(Battery.battery_id.in_(part))).all())
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


def _chunks(items: Sequence[str], size: int = 900) -> Iterable[Sequence[str]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _check_owner(session: Session, lot: AnyLot, actor_org_id: str) -> None:
    if session.get(Organisation, actor_org_id) is None:
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
        b = session.get_one(Battery, bid)
        if b.custodian_org_id != actor_org_id:
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is held by '{b.custodian_org_id}', not by "
                                    f"'{actor_org_id}' (record its receipt first)", lot.lot_id))
        if b.lifecycle_state in ("shredded", "recycled"):
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is already {b.lifecycle_state}", lot.lot_id))
        elif b.lifecycle_state not in SHREDDABLE_STATES:
            problems.append(Problem(n, "items.battery_id", f"battery {bid} is '{b.lifecycle_state}': only removed, "
                                    "collected, evaluated or dismantled batteries may be shredded", lot.lot_id))
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


def _traced_batteries(session: Session, inputs: Sequence[InputLot]) -> list[str]:
    by_lot = batteries_of(session, [i.lot_id for i in inputs])
    return sorted({b for bs in by_lot.values() for b in bs})


def _open_batteries(session: Session, lot: AnyLot, battery_ids: Sequence[str]) -> list[str]:
    states: dict[str, str] = {}
    for part in _chunks(battery_ids):
        states.update(session.execute(select(Battery.battery_id, Battery.lifecycle_state)
                                      .where(Battery.battery_id.in_(part))).all())
    open_ = [b for b in battery_ids if states.get(b) != "recycled"]
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
            return LotRecordResult(lot.lot_id, lot.lot_type, "unchanged", sha), []
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
        bids = _open_batteries(session, lot, _traced_batteries(session, inputs))
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
    return LotRecordResult(lot.lot_id, lot.lot_type, "created", sha, n_bat, res.appended), product_batteries


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


@lru_cache(maxsize=256)
def _closing_elements(chemistry: str, form: str, declared: tuple[tuple[str, float], ...]) -> frozenset[str]:
    item = LotItem(battery_id="x", chemistry=chemistry, form=form, mass_kg=1.0, declared_kg=dict(declared))  # type: ignore[arg-type]
    vec = InputLot(lot_id="x", plant_id="x", received_on=dt.date(2000, 1, 1), items=[item]).element_vector()
    return frozenset(e for e in CLOSING_ELEMENTS if vec[_EL[e]] > 1e-9)


def _principal(lot: AnyLot) -> str | None:
    """The element a product lot is mainly made of (Li for Li2CO3, Al for aluminium foil with cathode traces)."""
    content = getattr(lot, "element_content", {})
    return max(content, key=content.get) if content else None


def _auto_close(session: Session, battery_ids: Sequence[str], actor_org_id: str, now: dt.datetime) -> list[str]:
    """Close (``recycled``) the batteries whose product lots carry every cathode metal their input held."""
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
        have = {_principal(products[p].lot) for p in product_ids.get(bid, ()) if p in products}
        if need and need <= have:
            to_close.append(bid)
    return _close(session, to_close, actor_org_id, now, reason="every cathode metal recovered in product lots")


def _close(session: Session, battery_ids: Sequence[str], actor_org_id: str, now: dt.datetime, *, reason: str,
           lot_id: str | None = None) -> list[str]:
    states: dict[str, tuple[str, str]] = {}
    for part in _chunks(battery_ids):
        for bid, st, last in session.execute(select(Battery.battery_id, Battery.lifecycle_state,
                                                    Battery.last_occurred_at).where(Battery.battery_id.in_(part))):
            states[bid] = (st, last)
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
        closed = (_close(session, touched, actor_org_id, now, reason="closed by the plant") if close
                  else _auto_close(session, touched, actor_org_id, now))
    return RecordReport(results, sorted(closed))


def record_lot(engine: Engine, lot: AnyLot, actor_org_id: str, *, close: bool = False,
               now: dt.datetime | None = None) -> LotRecordResult:
    """Record one lot (see :func:`record_lots`); ``closed`` lists the batteries it closed."""
    rep = record_lots(engine, [lot], actor_org_id, close=close, now=now)
    res = rep.lots[0]
    res.closed = rep.closed
    return res


def close_lot(engine: Engine, lot_id: str, actor_org_id: str, *, now: dt.datetime | None = None) -> list[str]:
    """Close (``recycled``) every battery traced to a lot that is not closed yet; returns their IDs."""
    require_schema(engine)
    now = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        stored = _get(session, lot_id)
        if not _plant_owned(stored.lot.plant_id, actor_org_id):
            raise InvalidInput(Problem(None, "plant_id", f"lot {lot_id} belongs to plant '{stored.lot.plant_id}', not "
                                       f"to organisation '{actor_org_id}'", lot_id))
        bids = trace_in_session(session, lot_id)
        states = dict(session.execute(select(Battery.battery_id, Battery.lifecycle_state)
                                      .where(Battery.battery_id.in_(bids))).all()) if bids else {}
        bad = [b for b in bids if states.get(b) not in ("shredded", "recycled")]
        if bad:
            raise InvalidInput([Problem(None, "battery_id", f"battery {b} is '{states.get(b)}', not shredded", lot_id)
                                for b in bad])
        return _close(session, bids, actor_org_id, now, reason="closed by the plant", lot_id=lot_id)


def _get(session: Session, lot_id: str) -> StoredLot:
    stored = get_lots(session, [lot_id]).get(lot_id)
    if stored is None:
        raise NotFound(f"no lot '{lot_id}' is recorded")
    return stored


def trace_in_session(session: Session, lot_id: str) -> list[str]:
    """Registry battery IDs that fed a lot (through its shred and black-mass lots)."""
    _get(session, lot_id)
    up = get_lots(session, upstream(session, [lot_id]))
    return _traced_batteries(session, [s.lot for s in up.values() if isinstance(s.lot, InputLot)])


def trace_product(engine: Engine, lot_id: str) -> list[str]:
    """The battery IDs that fed a lot (a product lot, through its black-mass and shred lots), sorted."""
    require_schema(engine)
    with transaction(engine) as session:
        return trace_in_session(session, lot_id)


def mass_balance(inputs: Sequence[InputLot], outputs: Sequence[IntermediateLot | ProductLot], *,
                 rel_tolerance: float = 0.02) -> dict[str, Any]:
    """Element balance of input lots against the product lots made from them [kg].

    Products carry only the batteries' own elements (reagent sulphate, hydrate water and oxygen are not
    counted), so the balance is per element, not per total mass: ``products_kg ≤ in_kg`` for every element
    (within ``rel_tolerance``) and ``unaccounted_kg = in_kg − products_kg`` is what went to residues,
    losses and lots not yet recorded.
    """
    y = lot_yields(inputs, outputs)
    rows = {}
    closes = True
    for el, kg_in in y["element_input_kg"].items():
        out = y["element_output_kg"].get(el, 0.0)
        ok = out <= kg_in * (1 + rel_tolerance) + 1e-9
        closes &= ok
        rows[el] = {"in_kg": kg_in, "products_kg": out, "unaccounted_kg": kg_in - out, "ok": ok}
    for el, out in y["element_output_kg"].items():
        if el not in rows:
            closes = False
            rows[el] = {"in_kg": 0.0, "products_kg": out, "unaccounted_kg": -out, "ok": False}
    return {"closes": closes, "elements": rows}


def lot_report(engine: Engine, lot_id: str) -> dict[str, Any]:
    """A lot, its record, sources, products made from it, the batteries behind it, yields and mass balance.

    For an input lot the yields are those of every processed lot made from it; for a processed lot, its
    own yields, energy, water and emissions against the input lots upstream.
    """
    require_schema(engine)
    with transaction(engine) as session:
        stored = _get(session, lot_id)
        up = get_lots(session, upstream(session, [lot_id]))
        inputs = [s.lot for s in up.values() if isinstance(s.lot, InputLot)]
        down_ids = downstream(session, [i.lot_id for i in inputs])
        family = get_lots(session, down_ids)
        processed_all = [s.lot for s in family.values() if not isinstance(s.lot, InputLot)]
        batteries = _traced_batteries(session, inputs)
        made = sorted(downstream(session, [lot_id]) - {lot_id})
    own = [s.lot for s in family.values() if s.lot_id in made] if isinstance(stored.lot, InputLot) else [stored.lot]
    return {
        **stored.as_dict(),
        "lot_id": lot_id, "lot_type": stored.lot.lot_type,
        "sources": list(getattr(stored.lot, "source_lot_ids", [])),
        "input_lots": sorted(i.lot_id for i in inputs),
        "made_into": made,
        "batteries": batteries,
        "yields": lot_yields(inputs, own),
        "mass_balance": mass_balance(inputs, processed_all),
    }


def trace_report(engine: Engine, lot_id: str) -> dict[str, Any]:
    """The batteries behind a lot, the lot path, and their passports' chemistry and mass."""
    require_schema(engine)
    with transaction(engine) as session:
        stored = _get(session, lot_id)
        up = get_lots(session, upstream(session, [lot_id]))
        bids = trace_in_session(session, lot_id)
        rows = []
        for part in _chunks(bids):
            rows.extend(session.execute(select(Battery.battery_id, Battery.passport_id, Battery.chemistry,
                                               Battery.mass_kg, Battery.lifecycle_state)
                                        .where(Battery.battery_id.in_(part))).all())
    return {
        "lot_id": lot_id, "lot_type": stored.lot.lot_type, "lot_sha256": stored.document_sha256,
        "path": sorted(({"lot_id": s.lot_id, "lot_type": s.lot.lot_type,
                         "sources": list(getattr(s.lot, "source_lot_ids", []))} for s in up.values()),
                       key=lambda d: d["lot_id"]),
        "battery_ids": bids,
        "batteries": [{"battery_id": r[0], "passport_id": r[1], "chemistry": r[2], "mass_kg": r[3],
                       "lifecycle_state": r[4]} for r in sorted(rows)],
    }


# ---------------------------------------------------------------- verification


@dataclass
class LotVerification:
    """Outcome of :func:`verify_lots`."""

    ok: bool
    lots_checked: int
    events_checked: int
    findings: list[str]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"ok": self.ok, "lots_checked": self.lots_checked, "events_checked": self.events_checked,
                "findings": self.findings}


def verify_lots(engine: Engine, *, max_findings: int = 1000) -> LotVerification:
    """Recompute every stored lot's SHA-256 and compare it with the ledger events that name the lot.

    Findings: a document whose digest differs from its stored digest or from the ``lot_sha256`` of an
    event naming it (the lot was altered after recording), an event naming an unknown lot (a lot was
    deleted), a lot no event names (inserted outside the ledger), and an input lot whose batteries differ
    from those whose ``shredded`` event names it. The ledger's own chains are checked by ``ledger verify``.
    """
    require_schema(engine)
    findings: list[str] = []
    digests: dict[str, str] = {}
    docs: dict[str, str] = {}
    with transaction(engine) as session:
        for lot_id, doc, stored_sha in iter_lot_rows(session):
            sha = hashlib.sha256(doc.encode()).hexdigest()
            digests[lot_id] = sha
            docs[lot_id] = doc
            if sha != stored_sha:
                findings.append(f"lot {lot_id}: document digest {sha[:12]}… differs from the stored digest "
                                f"{stored_sha[:12]}… (altered after recording)")
        anchored: set[str] = set()
        shredded_by: dict[str, set[str]] = {}
        n_events = 0
        for event_id, bid, kind, text in lot_events(session):
            n_events += 1
            payload = json.loads(text)
            lid, lsha = payload.get("lot_id"), payload.get("lot_sha256")
            if lid is None or lsha is None:
                continue
            if lid not in digests:
                findings.append(f"event {event_id} ({kind}, battery {bid}) names lot {lid}, which is not stored "
                                "(deleted?)")
                continue
            anchored.add(lid)
            if lsha != digests[lid]:
                findings.append(f"lot {lid}: its document's SHA-256 {digests[lid][:12]}… differs from the "
                                f"{lsha[:12]}… recorded in event {event_id} ({kind}, battery {bid}): altered after "
                                "recording")
            if kind == "shredded":
                shredded_by.setdefault(lid, set()).add(bid)
        for lid in sorted(set(digests) - anchored):
            findings.append(f"lot {lid}: no ledger event names it (recorded outside the ledger)")
        links = batteries_of(session, digests)
        for lid, doc in docs.items():
            if json.loads(doc).get("lot_type") != "input":
                continue
            linked = set(links.get(lid, []))
            in_doc = {it["battery_id"] for it in json.loads(doc).get("items", [])}
            if linked != shredded_by.get(lid, set()) or (lid in anchored and in_doc != linked):
                findings.append(f"lot {lid}: its batteries ({len(in_doc)} in the document, {len(linked)} linked) differ "
                                f"from the {len(shredded_by.get(lid, set()))} whose 'shredded' event names it")
    findings = list(dict.fromkeys(findings))
    return LotVerification(ok=not findings, lots_checked=len(digests), events_checked=n_events,
                           findings=findings[:max_findings])


# ---------------------------------------------------------------- compliance


def plant_year_lots(engine: Engine, plant_id: str, year: int) -> tuple[list[AnyLot], list[str]]:
    """A plant's lots of a year, with the lots made from its inputs at other plants (scaled to its share).

    Annex XII lets a recycling process run across facilities: a product made at a hub from this plant's
    black mass counts for this plant, in proportion to the input mass upstream that came from this plant.
    Returns the lots (relabelled to ``plant_id``) and notes on what was added.
    """
    require_schema(engine)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    notes: list[str] = []
    with transaction(engine) as session:
        own = plant_lots(session, plant_id, start=start, end=end)
        if not own:
            raise NotFound(f"no lots of plant '{plant_id}' recorded in {year}")
        own_ids = {s.lot_id for s in own}
        inputs_here = [s.lot_id for s in own if isinstance(s.lot, InputLot)]
        extra_ids = downstream(session, inputs_here) - own_ids
        extra = get_lots(session, extra_ids)
        lots: list[AnyLot] = [s.lot for s in own]
        for s in sorted(extra.values(), key=lambda s: s.lot_id):
            lot = s.lot
            if lot.plant_id == plant_id or lot_period(lot).year != year:
                continue
            up = get_lots(session, upstream(session, [lot.lot_id]))
            ins = [u.lot for u in up.values() if isinstance(u.lot, InputLot)]
            total = sum(i.mass_kg for i in ins)
            mine = sum(i.mass_kg for i in ins if i.plant_id == plant_id)
            share = mine / total if total > 0 else 0.0
            if share <= 0:
                continue
            scaled = lot.model_copy(update={
                "plant_id": plant_id, "mass_kg": lot.mass_kg * share,  # type: ignore[union-attr]
                "electricity_kwh": lot.electricity_kwh * share, "natural_gas_mj": lot.natural_gas_mj * share,  # type: ignore[union-attr]
                "water_m3": lot.water_m3 * share, "direct_co2_kg": lot.direct_co2_kg * share,  # type: ignore[union-attr]
                "reagents_kg": {k: v * share for k, v in lot.reagents_kg.items()},  # type: ignore[union-attr]
            })
            lots.append(scaled)
            notes.append(f"lot {lot.lot_id} made at {lot.plant_id} counted at {share:.1%} (share of its upstream "
                         "input mass from this plant)")
    return lots, notes


def compliance_from_registry(engine: Engine, plant_id: str, year: int, *, rules: CountingRules | None = None,
                             hardware_kg: float = 0.0) -> ComplianceReport:
    """The compliance report of a plant and year from the lots recorded in the registry."""
    lots, notes = plant_year_lots(engine, plant_id, year)
    rep = compliance_report(lots, plant_id, year, rules=rules, hardware_kg=hardware_kg)
    rep.notes.extend(notes)
    rep.notes.append("Lots read from the registry; run 'circulith recovery lots verify' to check them against the "
                     "ledger.")
    return rep


# ---------------------------------------------------------------- traceability (China)


@dataclass(frozen=True)
class TraceabilityRule:
    """One reporting obligation: an event by an operator role, and the working days to upload it."""

    role: str
    kind: str
    working_days: int
    obligation: str
    article: str


TRACEABILITY_SOURCE = (
    "MIIT, Interim Provisions on the Traceability Management of Recycling of New Energy Vehicle Power "
    "Batteries (新能源汽车动力蓄电池回收利用溯源管理暂行规定, MIIT announcement 2018 No. 35, in force 2018-08-01), "
    "issued under the Interim Measures for the Management of Recycling of NEV Power Batteries "
    "(工信部联节〔2018〕43号)"
)

#: Upload deadlines of the Interim Provisions (2018), Articles 10, 11, 13, 14 and 15, mapped to our events.
TRACEABILITY_RULES: tuple[TraceabilityRule, ...] = (
    TraceabilityRule("oem", "repaired", 30, "battery repaired: vehicle maker uploads", "Art. 10"),
    TraceabilityRule("oem", "module_replaced", 30, "battery replaced: vehicle maker uploads", "Art. 10"),
    TraceabilityRule("oem", "collected", 30, "waste battery taken into storage by the maker's collection network",
                     "Art. 11"),
    TraceabilityRule("oem", "shipped", 30, "waste battery handed out of storage by the maker's network", "Art. 11"),
    TraceabilityRule("dismantler", "removed", 15, "waste battery removed from a scrapped vehicle", "Art. 13"),
    TraceabilityRule("dismantler", "collected", 15, "scrapped vehicle / battery received by the dismantler",
                     "Art. 13"),
    TraceabilityRule("dismantler", "shipped", 15, "waste battery handed out of storage by the dismantler", "Art. 13"),
    TraceabilityRule("reuse_integrator", "received", 15, "waste battery taken into storage by a cascade-use firm",
                     "Art. 14"),
    TraceabilityRule("reuse_integrator", "repurposed", 15, "cascade-use battery product out of storage", "Art. 14"),
    TraceabilityRule("reuse_integrator", "reused", 15, "cascade-use battery product out of storage", "Art. 14"),
    TraceabilityRule("reuse_integrator", "remanufactured", 15, "cascade-use battery product out of storage",
                     "Art. 14"),
    TraceabilityRule("reuse_integrator", "shipped", 15, "waste battery handed out of storage by a cascade-use firm",
                     "Art. 14"),
    TraceabilityRule("recycler", "received", 30, "waste battery taken into storage by the recycler", "Art. 15"),
    TraceabilityRule("recycler", "recycled", 30, "recycling and final treatment completed", "Art. 15"),
)


def add_working_days(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` working days, counting Monday to Friday only.

    Chinese public holidays (and the weekend days worked in exchange) are not modelled: around holidays
    the legal deadline is a few days later than this one, so this errs on the early side.
    """
    d = day
    left = n
    while left > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


def traceability_report(engine: Engine, year: int, *, org_id: str | None = None, region: str | None = None,
                        as_of: dt.date | None = None, limit: int = 100_000) -> dict[str, Any]:
    """The year's events that carry a Chinese traceability reporting obligation, with their deadlines.

    Parameters
    ----------
    engine : Engine
        The registry.
    year : int
        Events that occurred in this calendar year (UTC).
    org_id : str, optional
        Only this operator's events.
    region : str, optional
        Only batteries in this region (e.g. ``CN``).
    as_of : date, optional
        For ``days_left`` (default today).
    """
    require_schema(engine)
    as_of = as_of or dt.date.today()
    rules = {(r.role, r.kind): r for r in TRACEABILITY_RULES}
    kinds = sorted({r.kind for r in TRACEABILITY_RULES})
    stmt = (select(Event.event_id, Event.battery_id, Event.kind, Event.occurred_at, Event.actor_org_id,
                   Organisation.role, Battery.region, Battery.passport_id)
            .join(Organisation, Organisation.org_id == Event.actor_org_id)
            .join(Battery, Battery.battery_id == Event.battery_id)
            .where(Event.kind.in_(kinds), Event.occurred_at >= f"{year}-01-01T00:00:00",
                   Event.occurred_at < f"{year + 1}-01-01T00:00:00")
            .order_by(Event.global_seq).limit(limit))
    if org_id:
        stmt = stmt.where(Event.actor_org_id == org_id)
    if region:
        stmt = stmt.where(Battery.region == region)
    rows = []
    with transaction(engine) as session:
        for eid, bid, kind, at, actor, role, reg, pid in session.execute(stmt):
            rule = rules.get((role, kind))
            if rule is None:
                continue
            day = dt.date.fromisoformat(at[:10])
            due = add_working_days(day, rule.working_days)
            rows.append({"event_id": eid, "battery_id": bid, "passport_id": pid, "region": reg, "kind": kind,
                         "occurred_at": at, "actor_org_id": actor, "role": role, "obligation": rule.obligation,
                         "article": rule.article, "working_days": rule.working_days, "deadline": due.isoformat(),
                         "days_left": (due - as_of).days})
    by_org: dict[str, dict[str, int]] = {}
    for r in rows:
        o = by_org.setdefault(r["actor_org_id"], {"events": 0, "past_deadline": 0})
        o["events"] += 1
        o["past_deadline"] += r["days_left"] < 0
    return {
        "year": year, "as_of": as_of.isoformat(), "org_id": org_id, "region": region,
        "deadline_rule": "upload within N working days of the event (Mon-Fri; public holidays not modelled, so "
                         "deadlines shown may be slightly early)",
        "source": TRACEABILITY_SOURCE,
        "rules": [r.__dict__ for r in TRACEABILITY_RULES],
        "by_operator": by_org,
        "events": rows,
        "note": "'past_deadline' compares the deadline with as_of; the registry does not know whether the "
                "operator uploaded to the national platform.",
    }


# ---------------------------------------------------------------- recycled content


def recycled_content_for(engine: Engine, product_lot_ids: Sequence[str], battery_ids: Sequence[str] = (), *,
                         new_batteries: Sequence[NewBattery] = (), primary_kg: Mapping[str, float] | None = None,
                         year: int | None = None) -> dict[str, Any]:
    """Recycled-content shares for new batteries, by mass balance from a plant's product lots.

    Recycled Co, Li and Ni are the battery-origin element masses of the product lots (those that count as
    recycling); ``primary_kg`` is the primary (mined) supply of each in the same period. New batteries are
    registry batteries (their passports' ``cobalt_kg``, ``lithium_kg``, ``nickel_kg``) or
    :class:`NewBattery` records for batteries not yet registered.

    A registered passport's static document is immutable: the shares are returned for the OEM to put in
    the passports it registers (``recycled_content`` fields), not written to existing passports.
    """
    require_schema(engine)
    problems: list[Problem] = []
    recycled = {"Co": 0.0, "Li": 0.0, "Ni": 0.0}
    bats: list[NewBattery] = list(new_batteries)
    with transaction(engine) as session:
        lots = get_lots(session, product_lot_ids)
        for lid in product_lot_ids:
            s = lots.get(lid)
            if s is None:
                problems.append(Problem(None, "lots", f"no lot '{lid}' is recorded", lid))
            elif not isinstance(s.lot, ProductLot):
                problems.append(Problem(None, "lots", f"lot '{lid}' is a {s.lot.lot_type} lot, not a product lot", lid))
            elif s.lot.counts_as_recycling:
                for el, kg in s.lot.element_kg().items():
                    if el in recycled:
                        recycled[el] += kg
        for ident in battery_ids:
            try:
                b = session.get_one(Battery, resolve(session, ident))
            except (InvalidInput, NotFound) as e:
                problems.append(Problem(None, "batteries", str(e), ident))
                continue
            m = stored_passport(b).materials
            if m.cobalt_kg is None and m.lithium_kg is None and m.nickel_kg is None:
                problems.append(Problem(None, "batteries", "the passport declares no cobalt, lithium or nickel mass",
                                        b.battery_id))
                continue
            bats.append(NewBattery(battery_id=b.battery_id, co_kg=m.cobalt_kg or 0.0, li_kg=m.lithium_kg or 0.0,
                                   ni_kg=m.nickel_kg or 0.0))
    if not bats and not problems:
        problems.append(Problem(None, "batteries", "no new batteries given"))
    if problems:
        raise InvalidInput(problems, source="recycled-content allocation")
    primary = {el: float((primary_kg or {}).get(el, 0.0)) for el in ("Co", "Li", "Ni")}
    shares = allocate_recycled_content(recycled, primary, bats)
    out: dict[str, Any] = {
        "method": "mass balance: each element's recycled share is recycled / (recycled + primary) of the supply "
                  "in the period, applied to every new battery alike",
        "product_lots": list(product_lot_ids), "recycled_kg": recycled, "primary_kg": primary,
        "shares": [s.to_payload() for s in shares],
        "note": "A registered passport's static document is immutable: put these shares in the recycled_content "
                "of the passports you register for these batteries (post-consumer fractions).",
    }
    if year is not None:
        out["checks"] = [c.model_dump(mode="json") for c in recycled_content_checks(shares, year)]
    return out


# ---------------------------------------------------------------- the plan for an input lot


def plan_lots(lot: InputLot, *, route: str = "hydro", produced_on: dt.date | None = None,
              prefix: str | None = None) -> list[IntermediateLot | ProductLot]:
    """The black-mass and product lots the recovery engine expects from an input lot (the plan).

    Each battery is run through ``route`` (:func:`circulith.recovery.valuation.evaluate`); the black mass
    gets the catalogue assay, products of the hydrometallurgy (or direct) step come from the black-mass lot
    and the dismantling and pretreatment by-products from the input lot. Utilities, water and direct CO2
    are split between the black-mass lot (pretreatment share) and the product lots by mass. A plant compares
    its recorded lots with this plan; tests and the demo use it to make realistic lots.
    """
    from circulith.recovery.black_mass import element_fractions_in_form as element_fractions
    from circulith.recovery.valuation import evaluate

    day = produced_on or lot.received_on
    pre = prefix or lot.lot_id
    bm_el: dict[str, float] = {}
    bm_kg = 0.0
    streams: dict[str, dict[str, Any]] = {}
    totals = {"electricity_kwh": 0.0, "natural_gas_mj": 0.0, "water_m3": 0.0, "direct_co2_kg": 0.0}
    for it in lot.items:
        r = evaluate(it.chemistry, it.form, it.mass_kg, route)
        bm_kg += r.black_mass_kg
        for el, f in element_fractions(it.chemistry, "black_mass").items():
            bm_el[el] = bm_el.get(el, 0.0) + f * r.black_mass_kg
        for k in totals:
            totals[k] += float(getattr(r, k))
        for p in r.products:
            if p.kind not in ("product", "by_product") or p.mass_kg <= 0:
                continue
            d = streams.setdefault(p.stream, {"mass_kg": 0.0, "element_kg": {}, "commodity": p.commodity or p.stream,
                                              "operation": p.operation})
            d["mass_kg"] += p.mass_kg
            for el, kg in p.element_kg.items():
                if el not in ("O", "F", "other"):
                    d["element_kg"][el] = d["element_kg"].get(el, 0.0) + kg
    bm_id = f"{pre}-BM"
    assay = {el: bm_el[el] / bm_kg for el in ("Li", "Ni", "Co", "Mn", "Cu", "Al", "Fe", "P", "C")
             if bm_kg > 0 and bm_el.get(el, 0.0) > 0}
    pre_share = 0.3  # assumption: share of the route's utilities used by discharge, dismantling and shredding
    out: list[IntermediateLot | ProductLot] = [IntermediateLot(
        lot_id=bm_id, plant_id=lot.plant_id, produced_on=day, source_lot_ids=[lot.lot_id], mass_kg=bm_kg, assay=assay,
        **{k: v * pre_share for k, v in totals.items()})]
    prod_mass = sum(d["mass_kg"] for d in streams.values()) or 1.0
    for stream, d in streams.items():
        w = (1 - pre_share) * d["mass_kg"] / prod_mass
        out.append(ProductLot(
            lot_id=f"{pre}-{stream}", plant_id=lot.plant_id, produced_on=day,
            source_lot_ids=[bm_id if d["operation"] in ("hydrometallurgy", "direct") else lot.lot_id],
            mass_kg=d["mass_kg"], commodity=d["commodity"], route=route,
            element_content={el: kg / d["mass_kg"] for el, kg in d["element_kg"].items()},
            **{k: v * w for k, v in totals.items()}))
    return out
