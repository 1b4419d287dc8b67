"""SOH from pulses with a domain check: the bank inside its formats, the transfer model outside, or a refusal.

Decision per cell (``ratio`` is the domain ratio of :mod:`circulith.triage.domain`, 1.0 = the edge of
the training rows of the cell's conditions; ``ratio_max`` the 90th percentile of the held-out formats'
cells' ratios in the transfer model's leave-one-format-out validation):

1. no usable row (``U1..U17`` missing or empty) -> **refused**, naming the missing columns;
2. stated chemistry outside the model's chemistries -> **refused**, naming the command that fits one;
3. format the bank knows and ``ratio <= 1`` -> bank estimate and its calibrated interval (**estimated**);
4. format recalibrated into the transfer model and ``ratio <= 1`` -> transfer estimate with that
   format's interval (**estimated**);
5. otherwise, ``ratio <= ratio_max`` and the cell has the protocol conditions -> transfer estimate
   with the half-width measured on held-out formats (**widened**);
6. otherwise -> **refused** with the reason (distance, or the missing SOC levels / widths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from circulith.triage.domain import cell_ratios, missing_columns
from circulith.triage.pulse_model import PulseModel, combine_rows
from circulith.triage.pulse_transfer import TransferModel, format_key, predict_transfer
from circulith.triage.rules import chemistry_family

FIT_HINT = ("fit one from a few labelled cells (full capacity tests): circulith triage fit LABELLED.csv "
            "--base shipped --chemistry <chemistry> --out MODEL.json, then triage estimate --transfer-model MODEL.json")
_ALL_U = [f"U{i}" for i in range(1, 42)]


def _span(cols: list[str]) -> str:
    """``U1..U21`` for a run of U columns (gaps listed), 'none' when empty."""
    nums = sorted(int(c[1:]) for c in cols)
    if not nums:
        return "none"
    runs: list[list[int]] = [[nums[0], nums[0]]]
    for v in nums[1:]:
        if v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(f"U{a}" if a == b else f"U{a}..U{b}" for a, b in runs)


def input_summary(rows: pd.DataFrame, bank: PulseModel, transfer: TransferModel, missing_conditions: str) -> str:
    """What a cell's rows hold and what each model needs that they lack (columns, SOC levels, widths).

    Parameters
    ----------
    rows : pandas.DataFrame
        The cell's pulse rows.
    bank, transfer
        The models.
    missing_conditions : str
        The transfer model's protocol conditions the cell lacks (``''``: none).
    """
    have = [c for c in _ALL_U if c in rows and np.isfinite(pd.to_numeric(rows[c], errors="coerce")).any()]
    socs = ", ".join(f"{v:g}" for v in sorted(rows["SOC"].astype(float).unique()))
    widths = ", ".join(f"{v:g}" for v in sorted(rows["pulse_width_ms"].astype(float).unique()))
    bank_cols = sorted({c for sm in bank.submodels for c in sm.columns})
    bank_missing = [_ALL_U[c] for c in bank_cols if _ALL_U[c] not in have]
    trans_missing = [c for c in _ALL_U[:17] if c not in have]
    formats = _fmt_formats(sorted({sm.qn_ah for sm in bank.submodels}))
    bank_txt = f"the bank (formats {formats}) " + (f"needs {_span(bank_missing)}" if bank_missing else "has its columns")
    trans_txt = ("the transfer model (" + ", ".join(transfer.chemistries) + ", any format) needs "
                 + (_span(trans_missing) if trans_missing else "U1..U17 only (present)")
                 + (f" and pulses at {missing_conditions}" if missing_conditions else ""))
    return f"input has {_span(have)} at SOC {socs} %, widths {widths} ms; {bank_txt}; {trans_txt}"


@dataclass(frozen=True)
class DomainEstimate:
    """SOH of one cell with the model used and the domain decision."""

    cell_id: str
    status: str  # 'estimated', 'widened' or 'refused'
    model: str  # 'bank', 'transfer' or '' when refused
    soh_pct: float | None
    soh_low_pct: float | None
    soh_high_pct: float | None
    coverage: float
    domain_ratio: float | None
    reason: str
    n_rows: int
    soh_true_pct: float | None = None


def _fmt_formats(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(values)) + " Ah"


def estimate_in_domain(table: pd.DataFrame, bank: PulseModel, transfer: TransferModel, *,
                       chemistry: str | None = None) -> list[DomainEstimate]:
    """Estimate SOH per ``cell_id`` or refuse, with the reason.

    Parameters
    ----------
    table : pandas.DataFrame
        Pulse table (``cell_id, Qn`` [Ah], ``SOC`` [%], ``pulse_width_ms`` [ms], ``U1..`` [V]); an
        optional ``chemistry`` column overrides ``chemistry``; labels (``SOH`` [-]) are echoed.
    bank : PulseModel
        In-format model (:func:`circulith.triage.pulse_model.default_model`).
    transfer : TransferModel
        Model for unseen formats, carrying the training domain.
    chemistry : str, optional
        Chemistry of every cell (e.g. ``'LFP'``); None: not checked (said in the reason).

    Returns
    -------
    list of DomainEstimate
        One per cell, sorted by ``cell_id``.
    """
    cells = table["cell_id"].astype(str)
    tab = table.assign(cell_id=cells)
    ratios = cell_ratios(tab, transfer.domain)
    bank_est = combine_rows(tab, bank).set_index("cell_id")
    trans = predict_transfer(tab, transfer).set_index("cell_id")
    per = tab.groupby("cell_id").agg(qn=("Qn", "first"), n_rows=("Qn", "size"))
    chem = (tab.groupby("cell_id")["chemistry"].first().astype(str) if "chemistry" in tab
            else pd.Series(chemistry, index=per.index, dtype=object))
    truth = tab.groupby("cell_id")["SOH"].first() * 100.0 if "SOH" in tab else None
    bank_formats = sorted({s.qn_ah for s in bank.submodels})
    known_chem = {c.upper() for c in transfer.chemistries}
    known_fam = {chemistry_family(c) for c in transfer.chemistries}
    out = []
    for cid, row in per.iterrows():
        cid = str(cid)
        qn = float(row["qn"])
        fmt = format_key(qn)
        ratio = float(ratios.get(cid, np.nan))
        true_v = None if truth is None else float(truth[cid])
        dom_ratio = None if not math.isfinite(ratio) else ratio
        n_rows = int(row["n_rows"])

        def make(status: str, model: str, soh: float | None, half: float, reason: str, cid: str = cid,
                 dom_ratio: float | None = dom_ratio, n_rows: int = n_rows,
                 true_v: float | None = true_v) -> DomainEstimate:
            lo = None if soh is None else soh - half
            hi = None if soh is None else soh + half
            return DomainEstimate(cid, status, model, soh, lo, hi, transfer.coverage, dom_ratio, reason, n_rows,
                                  true_v)

        def refuse(reason: str, cid: str = cid) -> DomainEstimate:
            miss = str(trans.loc[cid, "missing_conditions"]) if cid in trans.index else ""
            summary = input_summary(tab[tab["cell_id"] == cid], bank, transfer, miss)
            return make("refused", "", None, 0.0, f"{reason} [{summary}]")

        if math.isnan(ratio):
            miss = missing_columns(tab[tab["cell_id"] == cid])
            out.append(refuse("insufficient data: the models need U1..U17 (rest voltage, 0.5C and 1C pulses); "
                              f"the input lacks or leaves empty {', '.join(miss) or 'some of them on every row'}"))
            continue
        c = chem.get(cid)
        stated = c is not None and str(c) not in {"", "None", "nan"}
        if stated and str(c).upper() not in known_chem and not (
                chemistry_family(str(c)) != "default" and chemistry_family(str(c)) in known_fam):
            out.append(refuse(f"chemistry {c} outside the model's domain ({', '.join(transfer.chemistries)}): no "
                              f"shipped model applies; " + FIT_HINT.replace("<chemistry>", str(c))))
            continue
        note = "" if stated else f"; chemistry not stated, model covers {', '.join(transfer.chemistries)}"
        if qn in bank_formats and ratio <= 1.0 and cid in bank_est.index and bank_est.loc[cid, "n_rows_used"] > 0:
            b = bank_est.loc[cid]
            half = bank.conformal_q * float(b["sigma_pct"])
            soh = float(b["soh_pct"])
            out.append(make("estimated", "bank", soh, half, f"format {fmt} in training, "
                            f"features within the training rows (ratio {ratio:.2f}){note}"))
            continue
        t = trans.loc[cid]
        t_soh = float(t["soh_pct"])
        if fmt in transfer.half_width_by_format and ratio <= 1.0 and math.isfinite(t_soh):
            half = transfer.half_width_by_format[fmt]
            out.append(make("estimated", "transfer", t_soh, half, f"format {fmt} in the transfer model's "
                            f"training (ratio {ratio:.2f}){note}"))
            continue
        r_max = transfer.ratio_unseen_max
        half_unseen = transfer.half_width_unseen_pct
        if r_max is None or half_unseen is None or ratio > r_max:
            limit = "no held-out format was validated" if r_max is None else (
                f"the widened interval is validated on held-out formats up to {r_max:.1f}")
            out.append(refuse(f"pulse response outside the training domain: distance {ratio:.1f} x the edge of the "
                              f"training rows ({limit}); " + FIT_HINT))
            continue
        if not math.isfinite(t_soh):
            why_not_bank = (f"format {fmt} not in the bank ({_fmt_formats(bank_formats)})" if qn not in bank_formats
                            else f"features beyond the bank's training rows (ratio {ratio:.1f} > 1)")
            out.append(refuse(f"insufficient data: {why_not_bank}, and the transfer model (validated on held-out "
                              f"formats up to ratio {r_max:.1f}) needs pulses at {t['missing_conditions']} "
                              f"(it has {100 * float(t['condition_share']):.0f} % of its protocol, needs "
                              f"{100 * transfer.min_condition_share:.0f} %)"))
            continue
        why = (f"format {fmt} not in training ({_fmt_formats(transfer.formats_ah)})" if qn not in bank_formats
               else f"features beyond the training rows (ratio {ratio:.2f} > 1)")
        out.append(make("widened", "transfer", t_soh, half_unseen,
                        f"{why}: interval widened to the error on held-out formats{note}"))
    return sorted(out, key=lambda e: e.cell_id)
