"""Importing passports and events, reading passports and histories, verifying the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import MAKER_ROLES, Principal, Scope
from circulith.errors import InvalidInput, Problem, TransitionRefused
from circulith.io.records import iter_records
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.verify import VerificationReport
from circulith.passport.access import Audience
from circulith.passport.model import Passport, parse_passport
from circulith.services.access_rules import audiences, require_scope
from circulith.services.compiled_event_import import compiled_import, compiled_report
from circulith.services.event_import import ParsedRecord, parsed_batches
from circulith.services.import_report import ImportReport, finish_report
from circulith.store.access_log_store import AccessLogReport
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import (
    append_events,
    battery_history,
    flush_states,
    paused_gc,
    resolve_battery_ids,
    verify_ledger,
)
from circulith.store.registry import get_battery, register_passports, stored_passport

Progress = Callable[[int], None]
"""Called with the number of records just processed (for a progress bar)."""

REGISTRY_ORG = "ORG-REGISTRY"
EVENT_FIELDS = ("event_id", "battery_id", "kind", "occurred_at", "actor_org_id", "site_id", "payload")


def _may_register(principal: Principal, passports: list[Passport], rows: list[int]) -> None:
    """The rules of :func:`circulith.services.passports.create_passports`: makers their own batteries, the operator any.

    Raises
    ------
    AccessDenied
        For callers that may not register passports, naming each foreign battery's row.
    """
    require_scope(principal, Scope.WRITE)
    if principal.is_operator:
        return
    if principal.role not in MAKER_ROLES:
        raise AccessDenied("only battery makers, OEMs and the registry operator register passports")
    foreign = [Problem(row, "manufacturer.id", f"'{p.manufacturer.id}' is not your organisation ({principal.org_id}):"
                       " register only batteries you make", p.battery_id)
               for p, row in zip(passports, rows, strict=True) if p.manufacturer.id != principal.org_id]
    if foreign:
        raise AccessDenied(str(InvalidInput(foreign, source="passports")))


def import_passports(
    engine: Engine,
    principal: Principal,
    path: Path,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate and register every passport in a file as ``principal``'s organisation, atomically.

    A file with any invalid record registers nothing (every problem is reported) unless
    ``skip_invalid``, which registers the valid records and writes the rejects to a file.
    Re-importing a file changes nothing. Makers register their own batteries only, the operator any.

    Raises
    ------
    AccessDenied
        If the principal may not register one of the passports (nothing is written).
    """
    require_schema(engine)
    path = Path(path)
    report = ImportReport(source=str(path))
    passports: list[Passport] = []
    rows: list[int] = []
    records: dict[int, dict[str, Any]] = {}
    problems: list[Problem] = []
    rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]] = []
    for row, record in iter_records(path, fmt):
        report.records += 1
        try:
            passports.append(parse_passport(record, row=row))
            rows.append(row)
            records[row] = record
        except InvalidInput as exc:
            problems.extend(exc.problems)
            rejects.append((row, record, exc.problems))
        if progress:
            progress(1)
    if problems and not skip_invalid:
        raise InvalidInput(problems, source=str(path))
    _may_register(principal, passports, rows)
    with transaction(engine) as session:
        result = register_passports(session, passports, actor_org_id=principal.org_id or REGISTRY_ORG, rows=rows,
                                    skip_invalid=skip_invalid)
    for p in result.rejected:
        problems.append(p)
        rejects.append((p.row or 0, records.get(p.row or 0), [p]))
    report.written, report.unchanged = result.created, result.unchanged
    finish_report(report, rejects, problems, skip_invalid, rejects_path, path)
    return report


def import_events(
    engine: Engine,
    path: Path,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    chunk_size: int = 20_000,
) -> ImportReport:
    """Validate, check against each battery's state, chain and store every event in a file, atomically.

    All-or-nothing unless ``skip_invalid`` (as :func:`import_passports`). Events carry an
    ``event_id`` or get one derived from their content, so re-importing a file changes nothing.
    A JSON Lines file is first tried through the compiled kernel
    (:mod:`circulith.services.compiled_event_import`), which records the same rows or leaves the file
    to the Python path below; ``report.importer`` says which recorded it.
    """
    require_schema(engine)
    path = Path(path)
    problems: list[Problem] = []
    rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]] = []
    done = compiled_import(engine, path, fmt, chunk_size=chunk_size, progress=progress)
    if not isinstance(done, str):
        return compiled_report(path, done)
    report = ImportReport(source=str(path), fallback_reason=done)
    with transaction(engine) as session, paused_gc():
        states: dict = {}  # battery states across chunks, written once at the end

        def flush(batch: list[ParsedRecord]) -> None:
            ids = resolve_battery_ids(session, [e.battery_id for _, _, e, _ in batch])
            events, rows, recs, texts = [], [], {}, []
            for row, rec, ev, text in batch:
                bid = ids.get(ev.battery_id)
                if bid is None:
                    p = Problem(row, "battery_id", f"unknown battery '{ev.battery_id}' (register its passport first)",
                                ev.event_id or None)
                    problems.append(p)
                    rejects.append((row, rec, [p]))
                    continue
                events.append(ev if bid == ev.battery_id else ev.model_copy(update={"battery_id": bid}))
                rows.append(row)
                recs[row] = rec
                texts.append(text)
            result = append_events(session, events, rows=rows, skip_invalid=True, cache=states, payload_texts=texts)
            for p in result.rejected:
                problems.append(p)
                rejects.append((p.row or 0, recs.get(p.row or 0), [p]))
            report.written += result.appended
            report.unchanged += result.unchanged
            if progress:
                progress(len(batch))

        for batch in parsed_batches(path, fmt, chunk_size, report, problems, rejects):
            flush(batch)
        if problems and not skip_invalid:
            raise InvalidInput(problems, source=str(path))  # rolls the whole import back
        flush_states(session, states)
    finish_report(report, rejects, problems, skip_invalid, rejects_path, path)
    return report


def register_successor(
    engine: Engine,
    principal: Principal,
    identifier: str,
    *,
    status: str,
    new_battery_id: str,
    operator_org_id: str,
    operator_name: str,
    changes: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Passport:
    """Give a repurposed, reused or remanufactured battery its new passport (Art. 77(7)), atomically.

    Records the ``repurposed`` / ``reused`` / ``remanufactured`` event on the original battery (which
    must have been evaluated: tested or graded), sets its passport status, and registers the
    successor passport linked to it by ``predecessor_passport_id``. The successor starts its own
    ledger chain; its later life is recorded under the new identifier. A battery whose latest grade
    is ``recycle`` or ``quarantine`` is refused: the grade recorded in the registry decides.

    The operator may record it for any operator; anyone else only as the new operator itself
    (``operator_org_id`` is the principal's organisation) and for a battery it has legitimate
    interest in (custody, own make or a grant).

    Raises
    ------
    AccessDenied
        If the principal may not record this successor.
    """
    from circulith.passport.lineage import successor_passport
    from circulith.passport.model import Party
    from circulith.store.triage_queries import latest_payload

    at = now or datetime.now(UTC)
    require_scope(principal, Scope.WRITE)
    with transaction(engine) as session:
        bat = get_battery(session, identifier)
        if not principal.is_operator:
            if operator_org_id != principal.org_id:
                raise AccessDenied(f"you act as {principal.org_id}: register a successor with yourself as its "
                                   f"operator, not {operator_org_id}")
            (seen,) = audiences(session, principal, [bat])
            if seen.audience is not Audience.LEGITIMATE:
                raise AccessDenied(f"you may not register a successor of {bat.battery_id}: it is not in your "
                                   "custody, not made by you and you hold no grant for it")
        grade = latest_payload(session, bat.battery_id, "graded")
        if grade and grade.get("grade") in ("recycle", "quarantine"):
            raise TransitionRefused(f"battery {bat.battery_id}: graded '{grade['grade']}' (rule {grade.get('rule_id')})"
                                    ": not fit for a second life, so no successor passport")
        old = stored_passport(bat)
        new = successor_passport(old, status, new_battery_id=new_battery_id,  # type: ignore[arg-type]
                                 operator=Party(id=operator_org_id, name=operator_name), **(changes or {}))
        append_events(session, [LedgerEvent(
            battery_id=bat.battery_id, kind=EventKind(status), occurred_at=at, actor_org_id=operator_org_id,
            payload={"successor_battery_id": new.battery_id, "successor_passport_id": new.passport_id},
        )])
        register_passports(session, [new], actor_org_id=operator_org_id, now=at)
    return new


def passport_document(engine: Engine, identifier: str) -> tuple[Passport, dict[str, Any]]:
    """The passport behind any identifier and its registry state (lifecycle, custody, region)."""
    with transaction(engine, read_only=True) as session:
        bat = get_battery(session, identifier)
        state = {
            "battery_id": bat.battery_id, "lifecycle_state": bat.lifecycle_state, "custodian_org_id": bat.custodian_org_id,
            "custody_site_id": bat.custody_site_id, "region": bat.region, "events": bat.last_seq,
            "document_sha256": bat.document_sha256,
        }
        return stored_passport(bat), state


def history(engine: Engine, identifier: str) -> list[dict[str, Any]]:
    """The ledger history of the battery behind any identifier."""
    with transaction(engine, read_only=True) as session:
        return battery_history(session, get_battery(session, identifier).battery_id)


def verify(engine: Engine) -> VerificationReport:
    """Verify the whole ledger."""
    require_schema(engine)
    with transaction(engine, read_only=True) as session:
        return verify_ledger(session, compiled=True)


def verify_access_log(engine: Engine) -> AccessLogReport:
    """Verify the chained access log: every entry's digest, its link to the one before, and the head."""
    from circulith.store.access_log_store import verify_access_log as verify_log

    require_schema(engine)
    with transaction(engine, read_only=True) as session:
        return verify_log(session)
