"""Background jobs as the acting principal sees them: submit, poll, list; and the "import a file" job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import MAKER_ROLES, Principal, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.passport.model import Passport
from circulith.services.access_rules import require_login, require_scope
from circulith.services.jobs import Job, JobRunner, Progress, Work
from circulith.services.passports import create_passports
from circulith.store.database import transaction

LEVEL_ORDER = {"pack": 0, "module": 1, "cell": 2}
"""Registration order of levels, so parents are stored before their modules and cells."""


class JobOut(BaseModel):
    """A background job and its progress."""

    job_id: str
    kind: str
    title: str
    owner_org_id: str
    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    percent: float
    stage: str
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None


def job_out(job: Job) -> JobOut:
    """A job as the API shows it."""
    return JobOut(**job.as_dict())


def submit_job(runner: JobRunner, principal: Principal, kind: str, work: Work, title: str) -> JobOut:
    """Queue a job for the caller's organisation (access was checked when ``work`` was built)."""
    require_login(principal)
    return job_out(runner.submit(kind, principal.org_id or "", work, title=title))


def job_status(runner: JobRunner, principal: Principal, job_id: str) -> JobOut:
    """One of the caller's organisation's jobs (others' jobs are unknown to it).

    Raises
    ------
    NotFound
        If the organisation has no such job in this process.
    """
    require_login(principal)
    job = runner.get(job_id)
    if job is None or job.owner_org_id != principal.org_id:
        raise NotFound(f"no job '{job_id}' of your organisation (jobs are kept in memory until the server restarts)")
    return job_out(job)


def list_jobs(runner: JobRunner, principal: Principal) -> list[JobOut]:
    """The caller's organisation's jobs, newest first."""
    require_login(principal)
    return [job_out(j) for j in runner.list(principal.org_id)]


def import_passports_work(engine: Engine, principal: Principal, path: Path, *, chunk: int = 200) -> Work:
    """The background job "import a file" of passports (CSV, JSON, JSON Lines), through :func:`create_passports`.

    Checks access now; the work validates every record first (nothing is written if any is
    invalid), then registers them chunk by chunk with the same rules as the API (makers: their
    own batteries only).

    Raises
    ------
    AccessDenied
        For callers that may not register passports.
    """
    from circulith.io.records import iter_records
    from circulith.passport.model import parse_passport

    require_scope(principal, Scope.WRITE)
    if not principal.is_operator and principal.role not in MAKER_ROLES:
        raise AccessDenied("only battery makers, OEMs and the registry operator register passports")

    def work(progress: Progress) -> dict[str, Any]:
        passports: list[Passport] = []
        problems: list[Problem] = []
        for row, record in iter_records(path):
            try:
                passports.append(parse_passport(record, row=row))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidInput(problems, source="uploaded file")
        total = len(passports)
        progress(0, total, "registering")
        created = unchanged = 0
        passports.sort(key=lambda p: LEVEL_ORDER.get(str(p.level), len(LEVEL_ORDER)))
        for i in range(0, total, chunk):
            with transaction(engine) as session:
                res = create_passports(session, principal, passports[i : i + chunk])
            created += res.created
            unchanged += res.unchanged
            progress(min(i + chunk, total), total, "registering")
        return {"records": total, "created": created, "unchanged": unchanged}

    return work
