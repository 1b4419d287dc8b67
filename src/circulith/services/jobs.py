"""A small in-process job runner: long work (grading the registry, importing a file) in a background thread.

The dashboard starts a job, gets its ID at once, and polls :meth:`JobRunner.get` (through htmx) to
draw a progress bar. Work functions receive a ``progress(done, total, stage)`` callback.

Design choices
--------------
* **In-memory registry, not a jobs table.** A job's record lives in the process that runs it: the
  thread doing the work and the record it updates share memory, so progress costs no database
  writes (no extra write traffic competing for SQLite's single writer lock), and a crashed process
  leaves no "running" rows behind. The price: jobs are forgotten at restart, and with several
  server worker processes a poll must reach the process that started the job (run the dashboard
  with one worker, or sticky sessions). What a job *did* is never lost: its effects are ledger
  events and passports, written in their own transactions.
* **One worker thread by default** (``max_workers=1``): jobs run one after another, so two jobs
  never write at once. With SQLite this keeps to one background writer next to the request
  handlers, each transaction short (a job commits batch by batch), within the engine's
  ``busy_timeout``. Every job opens its own sessions from the engine (SQLAlchemy sessions are not
  shared across threads); the engine's pool hands each thread its own connection.
* **Bounded memory**: the newest ``keep`` finished jobs are kept; older ones are dropped.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from circulith.errors import CirculithError, InvalidInput

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""Progress callback: (done, total, stage)."""
Work = Callable[[Progress], dict[str, Any]]
"""A job's work: takes the progress callback, returns a JSON-ready result."""

STATES = ("queued", "running", "done", "failed")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Job:
    """A snapshot of one job (the runner keeps the live record; callers get copies)."""

    job_id: str
    kind: str
    title: str
    owner_org_id: str
    status: str = "queued"
    done: int = 0
    total: int = 0
    stage: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (done or failed)."""
        return self.status in ("done", "failed")

    @property
    def percent(self) -> float:
        """Progress [%]: 100 when done; 0 while the total is unknown."""
        if self.status == "done":
            return 100.0
        if self.total <= 0:
            return 0.0
        return round(min(100.0, 100.0 * self.done / self.total), 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (with ``percent``)."""
        return asdict(self) | {"percent": self.percent}


class JobRunner:
    """Runs jobs in background threads and keeps their progress in memory.

    Parameters
    ----------
    max_workers : int
        Threads running jobs at once (default 1: jobs run one after another).
    keep : int
        How many finished jobs to remember.
    """

    def __init__(self, max_workers: int = 1, keep: int = 200) -> None:
        if max_workers < 1 or keep < 1:
            raise InvalidInput("max_workers and keep must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="circulith-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def submit(self, kind: str, owner_org_id: str, work: Work, *, title: str = "") -> Job:
        """Queue ``work``; returns the new job at once."""
        job = Job(job_id=uuid.uuid4().hex, kind=kind, title=title or kind, owner_org_id=owner_org_id)
        with self._lock:
            self._jobs[job.job_id] = job
            self._trim()
        self._pool.submit(self._run, job.job_id, work)
        return job

    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job, or None if unknown (or forgotten)."""
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, owner_org_id: str | None = None) -> list[Job]:
        """Jobs, newest first (of one organisation if given)."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if owner_org_id is None or j.owner_org_id == owner_org_id]

    def wait(self, job_id: str, timeout_s: float = 30.0) -> Job | None:
        """Block until the job ends or ``timeout_s`` passes (tests, CLI); returns its snapshot."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.get(job_id)
            if job is None or job.finished:
                return job
            time.sleep(0.02)
        return self.get(job_id)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let running ones finish."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # ------------------------------------------------------------ internals

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished]
        for k in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[k]

    def _run(self, job_id: str, work: Work) -> None:
        self._update(job_id, status="running", started_at=_now())

        def progress(done: int, total: int, stage: str = "") -> None:
            self._update(job_id, done=max(0, int(done)), total=max(0, int(total)), stage=stage)

        try:
            result = work(progress)
        except CirculithError as exc:
            self._update(job_id, status="failed", error=str(exc), finished_at=_now())
        except Exception:
            log.exception("job %s failed", job_id)
            self._update(job_id, status="failed", error="internal error (logged)", finished_at=_now())
        else:
            self._update(job_id, status="done", result=result, finished_at=_now())
