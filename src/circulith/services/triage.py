"""Grading in the registry: whatever the caller holds → grades at every level → recorded on every passport.

The sequence the CLI (``circulith triage grade``), the API and the demo share. Units are chosen by
consignment, by identifiers or by filter (custodian, chemistry), from any state where grading makes
sense (:data:`~circulith.store.triage_queries.GRADABLE_STATES`); by default the packs awaiting
evaluation. Their BMS summaries come from the registry's own events
(:func:`~circulith.store.triage_queries.grading_frame`, also exported by ``triage export-bms``);
inspection records and pulse tables attach to the units they name. The recovery engine values each
unit's recycling route (the value seam of the grading rules), every unit is graded, the levels are
reconciled (:func:`circulith.triage.grading.reconcile_levels`: the JSON says which rule decided at
each level), and ``tested`` + ``graded`` events are recorded on the pack **and its modules and
cells**, updating their passports' SOH, resistance growth and state. A module or cell that was
only tracked through its pack is first ``collected`` with it. The output rows
(:class:`UnitGrade`, one schema for JSON and CSV) feed ``triage regroup``, ``recovery price`` and
``passport successor`` directly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Role
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.recovery.pricing import price_fleet
from circulith.services.intake import require_role
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import append_events
from circulith.store.registry import get_battery
from circulith.store.triage_queries import (
    GRADABLE_STATES,
    consignment_battery_ids,
    grading_frame,
    select_pack_ids,
)
from circulith.triage.grading import aggregate_parents, grade_frame, reconcile_levels
from circulith.triage.regroup import regroup
from circulith.triage.rules import load_rules

AWAITING_EVALUATION = ("removed", "collected")
TRIAGE_ROLES = frozenset({Role.OPERATOR, Role.RECYCLER, Role.DISMANTLER, Role.REUSE_INTEGRATOR})
"""Who grades the registry: the operator (every pack), and the holders of the packs (their custody)."""
NOT_GRADABLE = ("second_life", "shredded", "recycled", "dismantled")
HELD_BEFORE_COLLECTION = ("manufactured", "on_market", "in_service")
"""States of a pack named for grading (by consignment or identifier) that its holder has not recorded as
collected: grading records ``collected`` first (the holder has it out of service, for evaluation)."""
"""Units skipped inside a graded pack: repurposed into a successor, or no longer a unit."""


class UnitGrade(BaseModel):
    """One graded unit: the grade-output schema (JSON and CSV), the input of regroup, price and successor."""

    battery_id: str
    identifier: str = Field(description="Same as battery_id (the column ``recovery price`` reads).")
    level: str
    form: str = Field(description="cell, module or pack (the column ``recovery price`` reads).")
    parent_battery_id: str | None = None
    pack_battery_id: str | None = None
    chemistry: str
    mass_kg: float | None = None
    rated_capacity_ah: float | None = None
    rated_energy_kwh: float | None = None
    nominal_voltage_v: float | None = None
    grade: str
    application: str | None = None
    rule_id: str
    clause: str | None = None
    rules_fired: str = Field("", description="Every rule that fired, ';'-separated.")
    own_grade: str
    own_rule_id: str
    decided_by: str = Field(description="Rule that decided at this level (U-own-rules, P1-P4, C1).")
    decision: str
    weakest_child_id: str | None = None
    soh_pct: float
    soh_low_pct: float
    soh_high_pct: float
    soh_source: str = "bms"
    resistance_growth_pct: float | None = None
    further_test: str | None = None
    straddles_boundary: bool = False
    next_test: str | None = Field(None, description="Cheapest next test expected to settle the grade (None: none).")
    next_test_reason: str | None = Field(None, description="Why that test, or why none (settled, and how).")
    settled_by: str | None = Field(None, description="measurement, unsafe, value of information, rule; None: open.")
    expected_gain_usd: float | None = Field(None, description="Expected value of a full capacity test [USD].")
    full_test_cost_usd: float | None = Field(None, description="Cost of a full capacity test [USD].")
    pulse_status: str | None = Field(None, description="Pulse estimate: estimated, widened or refused.")
    pulse_reason: str | None = Field(None, description="Model used for the pulse estimate and the domain decision.")
    rul_years: float | None = None
    custodian_org_id: str | None = None
    lifecycle_state: str | None = None
    explanation: str


GRADE_COLUMNS: tuple[str, ...] = tuple(UnitGrade.model_fields)
"""Column order of the grade CSV."""


class RegroupSummary(BaseModel):
    """Second-life packs that the fit modules of one chemistry and application would make."""

    groups: int
    usable_energy_kwh: float
    leftovers: int


class ParentDecision(BaseModel):
    """A parent named by graded units but not graded itself (a file of modules): its decision from them."""

    battery_id: str
    n_children: int
    grade: str
    soh_pct: float
    soh_low_pct: float
    soh_high_pct: float
    weakest_child_id: str
    worst_child_id: str
    worst_rule_id: str
    decision: str
    explanation: str


class StagingSummary(BaseModel):
    """How the units whose grade their SOH decides were settled, and how many need a full capacity test."""

    units: int = Field(description="Units graded on their SOH (not decided by a safety or history rule).")
    settled_by_measurement: int = Field(description="Interval clear of every decision boundary.")
    settled_conservatively: int = Field(description="Straddling, graded at the lower bound's grade: a full test "
                                                    "would not pay (value of information).")
    cheaper_test_advised: int = Field(description="A pulse step of the ladder is expected to settle the grade.")
    full_test_advised: int
    full_test_share: float = Field(description="full_test_advised / units [-].")


class GradingResult(BaseModel):
    """What grading did."""

    recorded: bool
    scope: str
    rules_version: str
    graded_packs: int
    graded_units: int
    counts: dict[str, dict[str, int]]
    events_written: int
    packs: list[UnitGrade]
    units: list[UnitGrade]
    parents: list[ParentDecision] = Field(default_factory=list)
    regroup: dict[str, RegroupSummary]
    staging: StagingSummary | None = None


def recycling_value_per_kwh(frame: pd.DataFrame, as_of: dt.date | None = None) -> np.ndarray:
    """Net value of the best recycling route per kWh of rated energy [USD/kWh] for each row."""
    priced = price_fleet(pd.DataFrame({
        "battery_id": frame["battery_id"].to_numpy(), "chemistry": frame["chemistry"].to_numpy(),
        "form": frame["level"].to_numpy(), "mass_kg": frame["mass_kg"].to_numpy(dtype=float),
    }), as_of=as_of, detail=False)
    net = priced["revenue_usd"].to_numpy(dtype=float) - priced["processing_cost_usd"].to_numpy(dtype=float)
    return net / frame["rated_energy_kwh"].to_numpy(dtype=float)


def _classify(path: Path) -> str:
    from circulith.triage.readers.read_records import table_kind

    return table_kind(path)


def _attach_capacity(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Measured capacities replace the SOH of the units they name (``soh_source = 'capacity_test'``)."""
    from circulith.triage.readers.read_records import read_capacity_tests

    tests = read_capacity_tests(path)
    unknown = sorted(set(tests["battery_id"].astype(str)) - set(frame["battery_id"].astype(str)))
    if unknown:
        raise InvalidInput([Problem(None, "battery_id", "capacity test of a unit not being graded", b)
                            for b in unknown[:20]], source=str(path))
    unc = float(load_rules()["defaults"]["capacity_test_uncertainty_pct"])
    rated = frame.set_index("battery_id")["rated_capacity_ah"]
    t = tests.set_index(tests["battery_id"].astype(str))
    soh = 100.0 * t["capacity_ah"].astype(float) / rated.reindex(t.index).astype(float)
    low = (100.0 * t["capacity_low_ah"].astype(float) / rated.reindex(t.index)) if "capacity_low_ah" in t \
        else soh - unc
    high = (100.0 * t["capacity_high_ah"].astype(float) / rated.reindex(t.index)) if "capacity_high_ah" in t \
        else soh + unc
    hit = frame["battery_id"].astype(str).isin(t.index)
    ids = frame.loc[hit, "battery_id"].astype(str)
    for col, values in (("soh_pct", soh), ("soh_low_pct", low), ("soh_high_pct", high)):
        if col not in frame:
            frame[col] = np.nan
        frame.loc[hit, col] = values.loc[ids].to_numpy()
    if "soh_source" not in frame:
        frame["soh_source"] = "bms"
    frame["soh_source"] = frame["soh_source"].fillna("bms").astype(object)
    frame.loc[hit, "soh_source"] = "capacity_test"
    return frame


def attach_measurements(frame: pd.DataFrame, paths: list[Path], *, model_path: Path | None = None) -> pd.DataFrame:
    """Attach inspection records, capacity-test results and pulse-table SOH estimates to the units they name.

    Capacity-test results (``battery_id, capacity_ah`` [Ah], optional ``capacity_low_ah`` /
    ``capacity_high_ah``) give SOH = capacity / rated capacity (``soh_source = 'capacity_test'``,
    interval from the rules file's ``capacity_test_uncertainty_pct`` unless bounds are given).

    Pulse estimates (domain-checked: the bank in its formats, the transfer model with a wider interval
    outside, or refused with the reason) replace ``soh_pct`` and its interval of the unit whose
    ``battery_id`` equals the table's ``cell_id`` (``soh_source = 'pulse'``, ``pulse_step_done`` the
    test-ladder rung the rows amount to); a measurement naming a unit not in the frame is refused, and
    so is a table whose every cell the models refuse.
    """
    from circulith.triage.readers.read_pulse_tables import read_pulse_tables
    from circulith.triage.readers.read_records import merge_inspection, read_inspection

    kinds = {p: _classify(p) for p in paths}
    if "bms" in kinds.values():
        raise InvalidInput("give a BMS-summary file or --from-registry, not both (measurement files may be added)",
                           source=str(next(p for p, k in kinds.items() if k == "bms")))
    for p, k in kinds.items():
        if k == "inspection":
            frame = merge_inspection(frame, read_inspection(p))
        elif k == "capacity":
            frame = _attach_capacity(frame, p)
    pulse_paths: list[str | Path] = [p for p, k in kinds.items() if k == "pulse"]
    if pulse_paths:
        frame = _attach_pulses(frame, read_pulse_tables(pulse_paths), model_path)
    return frame


def _attach_pulses(frame: pd.DataFrame, table: pd.DataFrame, model_path: Path | None) -> pd.DataFrame:
    """Domain-checked pulse estimates (:func:`circulith.triage.pulse_assessment.assess_pulses`) replace the
    SOH of the units they name; a refused cell keeps its previous SOH, with the refusal in ``pulse_reason``."""
    from circulith.triage import pulse_model
    from circulith.triage.grading import unit_energy_kwh
    from circulith.triage.pulse_assessment import all_refused, assess_pulses

    unknown = set(table["cell_id"].astype(str)) - set(frame["battery_id"].astype(str))
    if unknown:
        raise InvalidInput([Problem(None, "cell_id", "pulse estimate for a unit not being graded", c)
                            for c in sorted(unknown)[:20]])
    by_id = frame.assign(battery_id=frame["battery_id"].astype(str)).drop_duplicates("battery_id").set_index("battery_id")
    cells = table.assign(cell_id=table["cell_id"].astype(str))
    if "chemistry" not in cells and "chemistry" in by_id:
        cells["chemistry"] = cells["cell_id"].map(by_id["chemistry"].astype(str))
    energy = pd.Series(unit_energy_kwh(by_id.reindex(columns=["rated_energy_kwh", "rated_capacity_ah",
                                                              "nominal_voltage_v"])), index=by_id.index)
    bank = pulse_model.load_model(model_path) if model_path else pulse_model.default_model()
    rows = assess_pulses(cells, bank=bank, energy_kwh=energy.dropna().to_dict())
    err = all_refused(rows)
    if err is not None:
        raise err
    est = pd.DataFrame(rows).set_index("cell_id")
    for col in ["soh_pct", "soh_low_pct", "soh_high_pct"]:
        if col not in frame:
            frame[col] = np.nan
    if "soh_source" not in frame:
        frame["soh_source"] = "bms"
    frame["soh_source"] = frame["soh_source"].fillna("bms").astype(object)
    for col in ("pulse_status", "pulse_reason"):
        frame[col] = frame[col].astype(object) if col in frame else None
    frame["pulse_step_done"] = pd.to_numeric(frame["pulse_step_done"], errors="coerce") if "pulse_step_done" in frame \
        else np.nan
    ids = frame["battery_id"].astype(str)
    named = ids.isin(est.index)
    frame.loc[named, "pulse_status"] = est.loc[ids[named], "status"].to_numpy()
    frame.loc[named, "pulse_reason"] = (est.loc[ids[named], "model"] + ": " + est.loc[ids[named], "reason"]).to_numpy()
    ok = named & ids.map(est["status"]).ne("refused")
    for col in ["soh_pct", "soh_low_pct", "soh_high_pct"]:
        frame.loc[ok, col] = est.loc[ids[ok], col].astype(float).to_numpy()
    frame.loc[ok, "pulse_step_done"] = est.loc[ids[ok], "step_done"].astype(float).to_numpy()
    frame.loc[ok, "soh_source"] = "pulse"
    return frame


def grade_units(frame: pd.DataFrame, *, application: str | None = None, as_of: dt.date | None = None,
                rules_path: Path | None = None, value_seam: bool = True) -> tuple[list[UnitGrade], str]:
    """Grade a BMS-summary frame (registry or file) and reconcile the levels; no recording."""
    rules = load_rules(rules_path)
    seam = (lambda df: recycling_value_per_kwh(frame, as_of)) if value_seam and "mass_kg" in frame \
        and frame["mass_kg"].notna().all() and "rated_energy_kwh" in frame else None
    results = reconcile_levels(grade_frame(frame, application=application, rules=rules, as_of=as_of,
                                           recycling_value_usd_per_kwh=seam))
    extra = [c for c in ("mass_kg", "rated_capacity_ah", "rated_energy_kwh", "nominal_voltage_v", "custodian_org_id",
                         "lifecycle_state", "pack_battery_id", "soh_source", "pulse_status", "pulse_reason")
             if c in frame]
    merged = results.merge(frame[["battery_id", *[c for c in extra if c not in results]]].drop_duplicates("battery_id"),
                           on="battery_id", how="left")
    n = len(merged)
    merged["identifier"] = merged["battery_id"]
    merged["form"] = merged["level"]
    for col in ("application", "further_test", "next_test", "next_test_reason", "settled_by"):
        merged[col] = merged[col].where(merged[col].astype(bool), None)
    if "soh_source" not in merged:
        merged["soh_source"] = "bms"
    columns: dict[str, list[object]] = {}
    for c in GRADE_COLUMNS:
        if c not in merged:
            columns[c] = [None] * n
            continue
        col = merged[c]
        values = col.tolist() if col.dtype.kind in "biu" else col.astype(object).where(col.notna(), None).tolist()
        columns[c] = values
    columns["soh_source"] = [v or "bms" for v in columns["soh_source"]]
    keys = list(columns)
    units = [UnitGrade.model_validate(dict(zip(keys, row, strict=True))) for row in zip(*columns.values(), strict=True)]
    return units, str(rules["version"])


def _selection(engine: Engine, principal: Principal, *, consignment_id: str | None, identifiers: list[str] | None,
               chemistry: str | None, custodian_org_id: str | None, limit: int | None) -> tuple[list[str], str | None]:
    scope = None if principal.is_operator else principal.org_id
    if scope and custodian_org_id and custodian_org_id != scope:
        raise InvalidInput(Problem(None, "custodian", "you may grade only the batteries in your custody"))
    custodian = scope or custodian_org_id
    with transaction(engine) as session:
        if consignment_id or identifiers:
            wanted: list[str] = []
            if consignment_id:
                wanted = consignment_battery_ids(session, consignment_id)
                if not wanted:
                    raise InvalidInput(Problem(None, "consignment", f"no consignment '{consignment_id}' was received"))
            for k, ident in enumerate(identifiers or [], start=1):
                try:
                    wanted.append(get_battery(session, ident).battery_id)
                except InvalidInput as exc:
                    raise InvalidInput(Problem(k, "identifier", exc.problems[0].reason, ident)) from None
            ids = select_pack_ids(session, states=GRADABLE_STATES + HELD_BEFORE_COLLECTION, custodian_org_id=custodian,
                                  chemistry=chemistry, battery_ids=list(dict.fromkeys(wanted)), limit=limit)
            if identifiers and not ids:
                raise InvalidInput(Problem(None, "identifiers", "none of these is a pack you hold in a gradable state "
                                           f"({', '.join(GRADABLE_STATES)})"))
        else:
            ids = select_pack_ids(session, states=AWAITING_EVALUATION + ("quarantined",), custodian_org_id=custodian,
                                  chemistry=chemistry, limit=limit, awaiting_only=True)
    return ids, custodian


def grade_registry(
    engine: Engine,
    principal: Principal,
    *,
    consignment_id: str | None = None,
    identifiers: list[str] | None = None,
    chemistry: str | None = None,
    custodian_org_id: str | None = None,
    limit: int | None = None,
    application: str | None = None,
    as_of: dt.date | None = None,
    measurements: list[Path] | None = None,
    model_path: Path | None = None,
    record: bool = True,
    units_per_group: int = 4,
) -> GradingResult:
    """Grade the packs the caller holds (and their modules and cells); record every grade.

    Parameters
    ----------
    engine : Engine
        The registry.
    principal : Principal
        Who grades (:data:`TRIAGE_ROLES`); everyone but the operator grades only its own custody.
    consignment_id, identifiers : optional
        Grade these (any gradable state, re-grading evaluated packs); default: the packs awaiting
        evaluation (removed, collected, or quarantined and not yet graded).
    chemistry, custodian_org_id, limit : optional
        Filters.
    application : str, optional
        Intended second-life application; default: each chemistry's preference order.
    as_of : date, optional
        Grading date (default today).
    measurements : list of Path, optional
        Inspection records and pulse tables naming graded units.
    record : bool
        Write ``collected`` (components only tracked through their pack), ``tested`` and ``graded``
        events (default); False previews.
    units_per_group : int
        Modules in series per regrouped second-life pack (preview of ``triage regroup``).
    """
    require_role(principal, TRIAGE_ROLES, "grading", write=record)
    require_schema(engine)
    ids, custodian = _selection(engine, principal, consignment_id=consignment_id, identifiers=identifiers,
                                chemistry=chemistry, custodian_org_id=custodian_org_id, limit=limit)
    scope = "every custodian" if custodian is None else custodian
    if not ids:
        return GradingResult(recorded=record, scope=scope, rules_version=str(load_rules()["version"]), graded_packs=0,
                             graded_units=0, counts={}, events_written=0, packs=[], units=[], regroup={})
    with transaction(engine) as session:
        frame = grading_frame(session, ids)
    frame = frame[~frame["lifecycle_state"].isin(NOT_GRADABLE) | (frame["level"] == "pack")].reset_index(drop=True)
    if measurements:
        frame = attach_measurements(frame, measurements, model_path=model_path)
    units, version = grade_units(frame, application=application, as_of=as_of)
    written = record_grades(engine, principal, units) if record else 0
    return _result(units, version, record=record, scope=scope, written=written, units_per_group=units_per_group)


def _result(units: list[UnitGrade], version: str, *, record: bool, scope: str, written: int,
            units_per_group: int) -> GradingResult:
    counts: dict[str, dict[str, int]] = {}
    for u in units:
        counts.setdefault(u.level, {}).setdefault(u.grade, 0)
        counts[u.level][u.grade] += 1
    packs = [u for u in units if u.level == "pack"]
    graded = {u.battery_id for u in units}
    orphans = pd.DataFrame([u.model_dump() for u in units if u.parent_battery_id
                            and u.parent_battery_id not in graded])
    parents = [] if orphans.empty else [ParentDecision.model_validate(r) for r in
                                        aggregate_parents(orphans).to_dict(orient="records")]
    return GradingResult(recorded=record, scope=scope, rules_version=version, graded_packs=len(packs),
                         graded_units=len(units), counts=counts, events_written=written, packs=packs, units=units,
                         parents=parents, regroup=regroup_preview(units, units_per_group),
                         staging=staging_summary(units))


def staging_summary(units: list[UnitGrade]) -> StagingSummary:
    """Count how the SOH-graded units were settled (see :class:`StagingSummary`)."""
    from circulith.triage.staging import FULL_TEST, SETTLED_MEASURED, SETTLED_VALUE

    soh = [u for u in units if u.settled_by not in ("rule", "unsafe")]
    open_ = [u for u in soh if u.settled_by is None]
    full = sum(1 for u in open_ if (u.next_test or "").startswith(FULL_TEST))
    cheaper = len(open_) - full
    return StagingSummary(units=len(soh), settled_by_measurement=sum(u.settled_by == SETTLED_MEASURED for u in soh),
                          settled_conservatively=sum(u.settled_by == SETTLED_VALUE for u in soh),
                          cheaper_test_advised=cheaper, full_test_advised=full,
                          full_test_share=full / len(soh) if soh else 0.0)


def grade_file_units(engine: Engine | None, principal: Principal, paths: list[Path], *,
                     application: str | None = None, as_of: dt.date | None = None, model_path: Path | None = None,
                     rules_path: Path | None = None, record: bool = False) -> GradingResult:
    """Grade from files (a BMS summary, plus inspection records and pulse tables); record when in the registry.

    With ``record`` (and ``engine``) the grades are recorded on the registry's passports: every unit
    of the BMS summary must name a battery of the registry, else the unknown ones are refused by row.
    """
    from circulith.triage.readers.read_records import read_bms_summary

    bms = [read_bms_summary(p, complete=True) for p in paths if _classify(p) == "bms"]
    if not bms:
        raise InvalidInput("grade needs at least one BMS-summary file (battery_id, soh_pct, ...) or --from-registry")
    frame = pd.concat(bms, ignore_index=True)
    frame = attach_measurements(frame, [p for p in paths if _classify(p) != "bms"], model_path=model_path)
    units, version = grade_units(frame, application=application, as_of=as_of, rules_path=rules_path)
    written, recorded = 0, False
    if engine is not None and record:
        require_role(principal, TRIAGE_ROLES, "recording grades")
        with transaction(engine) as session:
            known, unknown = [], []
            for k, u in enumerate(units, start=1):
                try:
                    b = get_battery(session, u.battery_id)
                    known.append((u, b.battery_id))
                except (InvalidInput, NotFound) as exc:
                    unknown.append(Problem(k, "battery_id", f"not in the registry ({exc})", u.battery_id))
        if unknown:
            raise InvalidInput(unknown, source="BMS summary")
        if known:
            units = [u.model_copy(update={"battery_id": bid, "identifier": bid}) for u, bid in known]
            written = record_grades(engine, principal, units)
            recorded = True
    return _result(units, version, record=recorded, scope=principal.org_id or "", written=written,
                   units_per_group=4)


def record_grades(engine: Engine, principal: Principal, units: list[UnitGrade], *,
                  now: dt.datetime | None = None) -> int:
    """Record ``tested`` and ``graded`` on every unit (pack, modules, cells), in one transaction.

    Updates each passport's dynamic SOH and resistance growth; a module or cell still in a state
    before service (tracked only through its pack) is first ``collected`` with its pack, by the
    organisation that holds the pack (custody of a unit follows its pack, whoever records the
    grading: the registry operator grading a recycler's packs does not take their modules).
    """
    at = now or dt.datetime.now(dt.UTC)
    actor = principal.org_id or "ORG-REGISTRY"
    pack_holder = {u.battery_id: actor if u.lifecycle_state in HELD_BEFORE_COLLECTION else
                   (u.custodian_org_id or actor) for u in units if u.level == "pack"}
    by_parent: dict[str, list[UnitGrade]] = {}
    for u in units:
        if u.parent_battery_id:
            by_parent.setdefault(u.parent_battery_id, []).append(u)
    events: list[LedgerEvent] = []
    ms = dt.timedelta(milliseconds=1)
    for u in units:
        if u.lifecycle_state in HELD_BEFORE_COLLECTION:
            why = {"with_parent": u.pack_battery_id} if u.level != "pack" else {"reason": "held for evaluation"}
            by = actor if u.level == "pack" else pack_holder.get(u.pack_battery_id or "", actor)
            events.append(LedgerEvent(battery_id=u.battery_id, kind=EventKind.COLLECTED, occurred_at=at,
                                      actor_org_id=by, payload=why))
        tested = {"method": u.soh_source, "soh_pct": round(u.soh_pct, 2), "soh_low_pct": round(u.soh_low_pct, 2),
                  "soh_high_pct": round(u.soh_high_pct, 2)}
        if u.resistance_growth_pct is not None:
            tested["internal_resistance_increase_pct"] = round(u.resistance_growth_pct, 2)
        events.append(LedgerEvent(battery_id=u.battery_id, kind=EventKind.TESTED, occurred_at=at + ms,
                                  actor_org_id=actor, payload=tested))
        payload: dict[str, object] = {
            "grade": u.grade, "application": u.application, "rule_id": u.rule_id, "clause": u.clause,
            "decided_by": u.decided_by, "decision": u.decision, "own_grade": u.own_grade,
            "rules_version": load_rules()["version"], "soh_interval_pct": [round(u.soh_low_pct, 2),
                                                                           round(u.soh_high_pct, 2)],
            "further_test": u.further_test, "next_test": u.next_test, "next_test_reason": u.next_test_reason,
            "settled_by": u.settled_by, "explanation": u.explanation,
        }
        kids = by_parent.get(u.battery_id)
        if kids is not None:
            payload |= {"pack_decision": u.decision, "weakest_module_id": u.weakest_child_id,
                        "modules": [{"battery_id": k.battery_id, "grade": k.grade, "application": k.application,
                                     "rule_id": k.rule_id, "soh_pct": round(k.soh_pct, 2)} for k in kids]}
        elif u.parent_battery_id:
            payload["parent_battery_id"] = u.parent_battery_id
        events.append(LedgerEvent(battery_id=u.battery_id, kind=EventKind.GRADED, occurred_at=at + 2 * ms,
                                  actor_org_id=actor, payload=payload))
    with transaction(engine) as session:
        return append_events(session, events).appended


def export_bms(engine: Engine, principal: Principal, *, consignment_id: str | None = None,
               identifiers: list[str] | None = None, chemistry: str | None = None,
               custodian_org_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The BMS-summary frame grading would use (the CSV ``triage export-bms`` writes)."""
    require_role(principal, TRIAGE_ROLES, "exporting BMS summaries", write=False)
    ids, _ = _selection(engine, principal, consignment_id=consignment_id, identifiers=identifiers,
                        chemistry=chemistry, custodian_org_id=custodian_org_id, limit=limit)
    with transaction(engine) as session:
        return grading_frame(session, ids)


def write_grades(units: list[UnitGrade], path: Path) -> None:
    """Write grade rows as CSV (``.csv``) or JSON (anything else: ``{"units": [...]}``)."""
    import json

    rows = [u.model_dump(mode="json") for u in units]
    if path.suffix.lower() == ".csv":
        pd.DataFrame(rows, columns=list(GRADE_COLUMNS)).to_csv(path, index=False)
    else:
        path.write_text(json.dumps({"units": rows}, indent=2), encoding="utf-8")


def regroup_preview(units: list[UnitGrade], units_per_group: int) -> dict[str, RegroupSummary]:
    """What regrouping the fit modules would give, per chemistry and application (no recording)."""
    rules = load_rules()
    fit = [u for u in units if u.level == "module" and u.grade in ("reuse", "repurpose")
           and u.nominal_voltage_v and u.rated_capacity_ah]
    out: dict[str, RegroupSummary] = {}
    frame = pd.DataFrame([{"battery_id": u.battery_id, "chemistry": u.chemistry, "grade": u.grade,
                           "application": u.application or "stationary_storage",
                           "capacity_ah": float(u.rated_capacity_ah or 0) * u.soh_pct / 100.0,
                           "nominal_voltage_v": u.nominal_voltage_v, "rated_capacity_ah": u.rated_capacity_ah,
                           "level": u.level} for u in fit])
    if frame.empty:
        return out
    for (chem, app), grp in frame.groupby(["chemistry", "application"]):
        res = regroup(grp, application=str(app), units_per_group=units_per_group, rules=rules)
        out[f"{chem}/{app}"] = RegroupSummary(groups=len(res.groups), usable_energy_kwh=round(res.usable_energy_kwh, 2),
                                              leftovers=len(res.leftovers))
    return out
