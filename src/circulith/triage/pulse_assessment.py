"""Pulse tables -> domain-checked SOH per cell and the next test that would settle its grade.

The one place where the pulse models, the domain check (:mod:`circulith.triage.domain_estimate`) and
staged testing (:mod:`circulith.triage.staging`) meet; ``triage estimate`` and grading (pulse tables
attached to graded units) both call it.

Interval of an in-format bank estimate: when a cell's rows are exactly one rung of the test ladder
(e.g. journey 1's single 1 s pulse at SOC 50 %), the rung's measured half-width (90 % split-conformal
on out-of-fold estimates of the 158 retired-LFP cells from those rows only,
``reference/models/staging_steps_lfp.csv``) replaces the bank's own interval, which is calibrated on
cells with their full tables and is several times wider on a single pulse (RESULTS.md, triage
transfer: 20.1 points wide at 100 % coverage vs 6.0 points at 90 %). Transfer-model and widened
estimates keep their own intervals.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage import pulse_model, pulse_transfer
from circulith.triage.domain_estimate import estimate_in_domain
from circulith.triage.rules import chemistry_family, load_rules
from circulith.triage.staging import TestStep, grade_boundaries, load_economics, load_steps, next_tests


def load_transfer_or_default(path: Path | None) -> pulse_transfer.TransferModel:
    """The transfer model at ``path``, or the shipped one."""
    return pulse_transfer.load_transfer(path) if path else pulse_transfer.default_transfer_model()


def steps_done(table: pd.DataFrame, cells: list[str], steps: list[TestStep]) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: index of the largest ladder step whose SOC levels and widths it has (-1: none), and
    whether its rows are exactly that step's conditions (nothing more)."""
    have = {str(c): set(zip(g["SOC"].astype(float), g["pulse_width_ms"].astype(float), strict=True))
            for c, g in table.groupby(table["cell_id"].astype(str))}
    done = np.full(len(cells), -1)
    exact = np.zeros(len(cells), dtype=bool)
    for i, c in enumerate(cells):
        got = have.get(c, set())
        for k, s in enumerate(steps):
            want = {(soc, w) for soc in s.soc_levels_pct for w in s.widths_ms}
            if want <= got:
                done[i] = k
                exact[i] = want == got
    return done, exact


def assess_pulses(table: pd.DataFrame, *, bank: pulse_model.PulseModel | None = None,
                  transfer: pulse_transfer.TransferModel | None = None, chemistry: str | None = None,
                  stage: bool = True, energy_kwh: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Domain-checked SOH per ``cell_id`` and, with ``stage``, the cheapest next test.

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table (``cell_id, Qn`` [Ah], ``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..`` [V]; optional
        ``chemistry``).
    bank, transfer : optional
        Models (default: the shipped ones).
    chemistry : str, optional
        Chemistry of every cell (a ``chemistry`` column wins).
    stage : bool
        Add ``next_test``, ``next_test_reason``, ``settled_by`` and ``step_done`` per cell.
    energy_kwh : dict of str to float, optional
        Rated energy per cell [kWh]: with it the full test is advised only where it pays
        (:func:`circulith.triage.staging.next_tests`, value of information).

    Returns
    -------
    list of dict
        One per cell: the fields of :class:`~circulith.triage.domain_estimate.DomainEstimate`,
        ``interval_source`` and, with ``stage``, the staging fields.
    """
    bank = bank or pulse_model.default_model()
    transfer = transfer or pulse_transfer.default_transfer_model()
    est = estimate_in_domain(table, bank, transfer, chemistry=chemistry)
    rows = [asdict(e) | {"interval_source": "model" if e.soh_pct is not None else ""} for e in est]
    if not rows:
        return rows
    steps = load_steps()
    done, exact = steps_done(table, [e.cell_id for e in est], steps)
    for row, k, ex in zip(rows, done, exact, strict=True):
        row["step_done"] = int(k)
        if ex and row["status"] == "estimated" and row["model"] == "bank":
            half = steps[int(k)].half_width_pct
            row["soh_low_pct"], row["soh_high_pct"] = row["soh_pct"] - half, row["soh_pct"] + half
            row["interval_source"] = f"measured half-width of the step '{steps[int(k)].name}' ({steps[int(k)].source})"
    if stage:
        rules = load_rules()
        chem = (table.assign(cell_id=table["cell_id"].astype(str)).groupby("cell_id")["chemistry"].first()
                if "chemistry" in table else pd.Series(dtype=object))
        frame = pd.DataFrame(rows)
        fam = [chemistry_family(str(chem.get(r["cell_id"], chemistry or "LFP"))) for r in rows]
        energy = (np.array([energy_kwh.get(r["cell_id"], np.nan) for r in rows], dtype=float)
                  if energy_kwh is not None else None)
        for f in sorted(set(fam)):
            m = np.array([x == f for x in fam])
            dec = next_tests(frame["soh_pct"].astype(float).to_numpy()[m],
                             frame["soh_low_pct"].astype(float).to_numpy()[m],
                             frame["soh_high_pct"].astype(float).to_numpy()[m], unsafe=np.zeros(int(m.sum()), bool),
                             done=done[m], steps=steps, boundaries_pct=grade_boundaries(rules, f),
                             economics=None if energy is None else load_economics(),
                             energy_kwh=None if energy is None else energy[m],
                             reuse_pct=float(rules["reuse"]["min_soh_pct"]))
            for i, (_, d) in zip(np.flatnonzero(m), dec.iterrows(), strict=True):
                refused = rows[i]["status"] == "refused"
                rows[i]["next_test"] = d["next_test"]
                rows[i]["next_test_reason"] = f"pulse estimate refused: {rows[i]['reason']}" if refused else d["reason"]
                rows[i]["settled_by"] = d["settled_by"]
    return rows


def all_refused(rows: list[dict[str, Any]]) -> InvalidInput | None:
    """An error naming the first reasons when every cell was refused (nothing to report), else None."""
    if rows and all(r["status"] == "refused" for r in rows):
        return InvalidInput([Problem(None, "", r["reason"], r["cell_id"]) for r in rows[:20]], source="pulse table")
    return None
