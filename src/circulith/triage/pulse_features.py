"""Features of a multi-rate pulse test (the U1...U41 voltage points) for the pulse -> SOH model.

Protocol (Tao, Xia & Zou 2026 dataset): U1 open-circuit voltage after rest; for each rate
0.5C, 1C, 1.5C, 2C, 2.5C eight points: start and end of the charge pulse, start and end of the
following rest, start and end of the discharge pulse, start and end of the following rest.

Per rate, divided by the C-rate so that cells of different nominal capacity compare (units V/C,
i.e. ohm x Ah / h, a capacity-normalised resistance):

- ``ohm_chg``: instantaneous rise at the start of the charge pulse, ``U[b] - U1``;
- ``pol_chg``: growth during the charge pulse, ``U[b+1] - U[b]``;
- ``jump_chg``: instantaneous fall at the end of the charge pulse, ``U[b+1] - U[b+2]``;
- ``rel_chg``: relaxation during the rest, ``U[b+2] - U[b+3]``;
- the same four for the discharge pulse (signs such that all are positive for a normal cell).

Rates a cell did not complete (voltage protection) are NaN and are imputed by the mean of the same
feature over the completed rates of that row (resistance is weakly rate-dependent); a row with no
completed rate is not usable and is reported by :func:`pulse_features`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

RATES_C = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
_KINDS = ["ohm_chg", "pol_chg", "jump_chg", "rel_chg", "ohm_dis", "pol_dis", "jump_dis", "rel_dis"]
FEATURE_NAMES: list[str] = (
    [f"{k}_{r:g}C" for r in RATES_C for k in _KINDS]
    + [f"{k}_mean" for k in _KINDS]
    + ["ocv_v", "soc_frac", "log10_width_s"]
)


def pulse_features(u_v: np.ndarray, soc_pct: np.ndarray, pulse_width_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute the feature matrix of pulse-test rows.

    Parameters
    ----------
    u_v : numpy.ndarray
        Voltages U1...U41, shape (n, 41) [V]; NaN where a rate was not completed.
    soc_pct : numpy.ndarray
        State of charge of each row, shape (n,) [%].
    pulse_width_ms : numpy.ndarray
        Pulse width of each row, shape (n,) [ms].

    Returns
    -------
    features : numpy.ndarray
        Shape (n, len(FEATURE_NAMES)), columns named by :data:`FEATURE_NAMES` [V/C, V, -, log10 s].
    usable : numpy.ndarray
        Boolean, shape (n,): False for a row without one completed rate.
    """
    u = np.asarray(u_v, dtype=float)
    n = u.shape[0]
    ocv = u[:, 0]
    blocks = []
    for k, rate in enumerate(RATES_C):
        b = 1 + 8 * k  # zero-based index of U[2 + 8k]
        p = u[:, b:b + 8]
        prev_rest = ocv
        block = np.column_stack([
            p[:, 0] - prev_rest, p[:, 1] - p[:, 0], p[:, 1] - p[:, 2], p[:, 2] - p[:, 3],
            p[:, 3] - p[:, 4], p[:, 4] - p[:, 5], p[:, 6] - p[:, 5], p[:, 7] - p[:, 6],
        ]) / rate
        blocks.append(block)
    stack = np.stack(blocks, axis=1)  # (n, rates, kinds)
    usable = np.isfinite(stack).all(axis=2).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: mean of empty slice
        mean = np.nanmean(stack, axis=1)  # (n, kinds)
    filled = np.where(np.isfinite(stack), stack, mean[:, None, :])
    feats = np.column_stack([
        filled.reshape(n, -1), mean, ocv,
        np.asarray(soc_pct, dtype=float) / 100.0,
        np.log10(np.asarray(pulse_width_ms, dtype=float) / 1000.0),
    ])
    return feats, usable & np.isfinite(ocv)


def pulse_features_frame(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pulse_features` from a canonical pulse table (columns U1...U41, SOC, pulse_width_ms)."""
    u = table[[f"U{i}" for i in range(1, 42)]].to_numpy(dtype=float)
    return pulse_features(u, table["SOC"].to_numpy(dtype=float), table["pulse_width_ms"].to_numpy(dtype=float))
