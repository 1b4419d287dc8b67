"""API routes of background jobs (``/api/v1/jobs``): start a grading job, list jobs, poll one.

Routes parse and format; :mod:`circulith.services.background` decides who sees which job.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from circulith.api import schemas as s
from circulith.api.deps import CurrentPrincipal, engine_of
from circulith.api.errors import ERROR_RESPONSES
from circulith.services import background
from circulith.services import triage_views as svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.post("/jobs/grade", response_model=s.JobOut, status_code=202, tags=["jobs"])
def grade_job(request: Request, principal: CurrentPrincipal, body: s.GradeJobIn) -> s.JobOut:
    """Grade the registry in the background; poll ``/jobs/{job_id}`` for progress."""
    work = svc.triage_grade_work(engine_of(request), principal, chemistry=body.chemistry,
                                 application=body.application)
    return background.submit_job(request.app.state.jobs, principal, "grade", work, "Grade the registry")


@router.get("/jobs", response_model=list[s.JobOut], tags=["jobs"])
def jobs(request: Request, principal: CurrentPrincipal) -> list[s.JobOut]:
    """Your organisation's background jobs, newest first."""
    return background.list_jobs(request.app.state.jobs, principal)


@router.get("/jobs/{job_id}", response_model=s.JobOut, tags=["jobs"])
def job(request: Request, principal: CurrentPrincipal, job_id: str) -> s.JobOut:
    """One background job and its progress."""
    return background.job_status(request.app.state.jobs, principal, job_id[:64])
