"""Event imports through the compiled kernel (:mod:`circulith.store.native_import`), where it is certain.

Both event imports (:func:`circulith.services.registry.import_events` and
:func:`circulith.services.event_import.import_events`, with its write checks) first try the compiled kernel, in a transaction
of its own. It takes a JSON Lines file whose every record the Python path would take without a word
and writes exactly what the Python path would write; at the first record it is not certain of, that
transaction rolls back and the caller imports the file through the Python path, which names each
refused row, field and reason. Either way the caller's report says which path recorded the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.services.import_report import ImportReport
from circulith.store.database import transaction
from circulith.store.ledger_store import paused_gc
from circulith.store.native_import import CompiledImport, NotCertain, WriteChecks, import_file, unavailable

Progress = Callable[[int], None]


def compiled_import(engine: Engine, path: Path, fmt: str | None, *, chunk_size: int, progress: Progress | None,
                    passport_ids: bool = False, units_follow_receipts: bool = False, checks: WriteChecks | None = None,
                    check: Callable[[Session, CompiledImport], None] | None = None) -> CompiledImport | str:
    """Import ``path`` with the compiled kernel in one transaction; what it did, or why it did not.

    Parameters
    ----------
    chunk_size : int
        Records per block (the Python path's chunk, so that both read the ledger at the same points).
    progress : callable or None
        Told the records of each block written; told minus all of them if the import falls back.
    passport_ids, units_follow_receipts, checks
        As :func:`circulith.store.native_import.import_file`.
    check : callable or None
        Run in the transaction after the kernel: raises :class:`NotCertain` to fall back (for checks
        the kernel does not make, such as the actors' registration).

    Returns
    -------
    CompiledImport or str
        What was recorded, committed; or the reason nothing was and the Python path must import the file.
    """
    why = unavailable(path, fmt)
    if why is not None:
        return why
    counted = 0

    def count(n: int) -> None:
        nonlocal counted
        counted += n
        if progress:
            progress(n)

    try:
        with transaction(engine) as session, paused_gc():
            done = import_file(session, path, passport_ids=passport_ids, units_follow_receipts=units_follow_receipts,
                               checks=checks, progress=count, block_lines=chunk_size)
            if check is not None:
                check(session, done)
    except NotCertain as exc:
        if progress and counted:
            progress(-counted)
        return str(exc)
    return done


def compiled_report(path: Path, done: CompiledImport) -> ImportReport:
    """The import's report for a file the compiled kernel recorded (it refuses nothing: no rejects)."""
    return ImportReport(source=str(path), records=done.records, written=done.appended, unchanged=done.unchanged,
                        importer="compiled")
