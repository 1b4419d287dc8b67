"""Physics oracle for triage: age simulated cells with PyBaMM, run circulith's short tests, compare to truth.

What it does
------------
For an NMC811/graphite cell (PyBaMM parameter set ``OKane2022``: Chen2020 LG M50 plus SEI and
lithium-plating parameters) and an LFP/graphite cell (``Prada2013`` A123 cell, scaled to the 20 Ah
format of the retired-LFP pulse dataset, with the SEI and plating parameters of ``OKane2022`` for its
graphite negative electrode), both in the SPMe model with solvent-diffusion-limited SEI growth (SEI
film resistance included) and irreversible lithium plating:

1. **Ageing**: a few 1C CC-CV cycles with the SEI solvent diffusivity and the plating rate constant
   multiplied by scale factors, chosen so that the states span roughly 60-95 % SOH in seconds of
   compute instead of years of cycling.
2. **Truth** on the aged state, with the ageing switched off (scale 1e-6) so the diagnostics do not
   age the cell: capacity from a C/20 discharge after a CC-CV charge (SOH = Q / Q_fresh), the 1C
   discharge capacity (the label definition of the pulse dataset), and the 10 s DC resistance
   ``R10 = (V_rest - V(10 s)) / I`` of a 1C discharge pulse at 50 % SOC (sampled at 0.1 s; also the
   instantaneous ``R0`` at the first sample).
3. **circulith's short tests** on the same aged state, sampled at 1 Hz like a cycler:
   (a) a partial coulomb count from 80 % to 30 % SOC at C/3 with 1 h rests, through
   ``triage.capacity.capacity_soh`` with its OCV-based partial-range correction, once with the
   shipped generic OCV-SOC table and once with the fresh cell's own OCV table (what the rules file
   recommends); (b) the 10 s pulse through ``triage.resistance.dc_resistance``.
   Both are evaluated noise-free and with sensor noise (voltage sigma 1 mV, current sigma 0.1 %,
   seed 0; assumption: typical cycler channel accuracy).
4. **Pulse -> SOH model on LFP**: the multi-rate pulse protocol of the retired-LFP dataset
   (Tao et al.; PulseBat description in terencetaothucb/Pulse-Voltage-Response-Generation README:
   SOC set by 1C charge in 3-minute steps from empty, 10 min rest, then +/-0.5...2.5C pulses of
   width t1 with rest 15 t1, voltage protection 2.45/3.7 V) at SOC 5, 20, 50 and 70 % (only levels at
   least 5 points below the cell's SOH, as in the dataset's SOC-range rule) and widths 100, 1000 and 5000 ms; the U1...U41
   rows go through the shipped model ``pulse_soh_lfp_v1.json``. The simulated cell is not one of the
   dataset's cells: this measures domain shift, not the model's in-domain accuracy.

Requires PyBaMM (not a circulith dependency): ``.venv/bin/pip install pybamm``. Runtime: a few
minutes on 2 cores. Writes ``benchmarks/results/triage_pybamm_oracle.json`` and prints the tables.

Run: ``.venv/bin/python benchmarks/triage_pybamm_oracle.py [--out PATH] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
try:
    import pybamm
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("pybamm is not installed; it is an optional benchmark tool: .venv/bin/pip install pybamm")

from circulith.errors import InvalidInput
from circulith.triage.capacity import capacity_soh
from circulith.triage.pulse_model import U_COLUMNS, default_model, estimate
from circulith.triage.resistance import dc_resistance
from circulith.triage.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "triage_pybamm_oracle.json"
DEFAULT_PULSE_ROWS = REPO / "benchmarks" / "results" / "triage_pybamm_lfp_pulses.csv"
OPTIONS = {"SEI": "solvent-diffusion limited", "lithium plating": "irreversible",
           "SEI film resistance": "distributed", "SEI porosity change": "false"}
SEI_KEY = "SEI solvent diffusivity [m2.s-1]"
PLATING_KEY = "Lithium plating kinetic rate constant [m.s-1]"
NOISE_V = 0.001  # [V] assumption: cycler voltage channel noise
NOISE_I_REL = 0.001  # [-] assumption: current channel noise relative to reading
SEI_RESISTIVITY_SCALE = 0.2
LFP_QN_AH = 20.0
LFP_SIZE_FACTOR = 1.2  # assumption, see parameter_values
PULSE_RATES_C = (0.5, 1.0, 1.5, 2.0, 2.5)
PULSE_SOCS_PCT = [5, 20, 50, 70]  # SOC levels of the simulated pulse test [%] (--pulse-socs)
PULSE_WIDTHS_MS = [100.0, 1000.0, 5000.0]  # pulse widths [ms] (--pulse-widths)


@dataclass(frozen=True)
class Chemistry:
    """One simulated cell design."""

    key: str
    code: str  # circulith chemistry code
    v_min: float  # [V]
    v_max: float  # [V]
    states: tuple[tuple[str, float, float, int], ...]  # (label, SEI scale, plating scale, cycles)


CHEMISTRIES = {
    "NMC": Chemistry("NMC", "NMC811", 2.5, 4.2, (
        ("fresh", 1.0, 0.0, 0),
        ("sei-mild", 3e3, 0.0, 10),
        ("sei-a", 3e4, 0.0, 10),
        ("sei-b", 2e5, 0.0, 10),
        ("plating-a", 1.0, 0.5, 10),
        ("sei+plating", 1e5, 1.0, 10),
    )),
    "LFP": Chemistry("LFP", "LFP", 2.5, 3.6, (
        ("fresh", 1.0, 0.0, 0),
        ("sei-mild", 3e3, 0.0, 10),
        ("sei-a", 3e4, 0.0, 10),
        ("sei-b", 2e5, 0.0, 10),
        ("plating-a", 1.0, 0.5, 10),
        ("sei+plating", 1e5, 1.0, 10),
    )),
}


# ----------------------------------------------------------------------------- PyBaMM set-up
def parameter_values(chem: Chemistry) -> pybamm.ParameterValues:
    """Parameter set of a chemistry, with cut-offs wide enough that the experiment's limits act first."""
    okane = pybamm.ParameterValues("OKane2022")
    if chem.key == "NMC":
        p = okane
        p.update({"Lower voltage cut-off [V]": 2.4, "Upper voltage cut-off [V]": 4.3})
    else:
        p = pybamm.ParameterValues("Prada2013")
        missing = sorted(set(okane.keys()).difference(p.keys()))
        p.update({k: okane[k] for k in missing}, check_already_exists=False)
        # sized so that the fresh 1C discharge capacity is about the 20 Ah nominal (the pulse dataset's
        # label is SOH = Q_1C / Qn; Prada2013's A123 cell delivers ~82 % of its C/20 capacity at 1C)
        scale = LFP_QN_AH / p["Nominal cell capacity [A.h]"] * LFP_SIZE_FACTOR
        p.update({"Electrode height [m]": p["Electrode height [m]"] * scale,
                  "Nominal cell capacity [A.h]": LFP_QN_AH, "Current function [A]": LFP_QN_AH,
                  "Lower voltage cut-off [V]": 2.4, "Upper voltage cut-off [V]": 3.75})
    # assumption: SEI resistivity / 5 so that the film resistance of the (time-compressed) SEI grows
    # by tens of percent at 80 % SOH, as in aged EV cells, rather than by several hundred percent
    p.update({"SEI resistivity [Ohm.m]": p["SEI resistivity [Ohm.m]"] * SEI_RESISTIVITY_SCALE})
    return p


def scaled(p: pybamm.ParameterValues, sei: float, plating: float) -> pybamm.ParameterValues:
    """Copy of ``p`` with the SEI and plating rates multiplied."""
    q = p.copy()
    q.update({SEI_KEY: p[SEI_KEY] * sei, PLATING_KEY: p[PLATING_KEY] * plating})
    return q


def solve(model: pybamm.BaseModel, params: pybamm.ParameterValues, steps: list,
          start: pybamm.Solution | None = None, initial_soc: float | None = None) -> pybamm.Solution:
    """Run an experiment, continuing from ``start`` (a solution of the same model structure)."""
    m = model.set_initial_conditions_from(start, inplace=False) if start is not None else model
    sim = pybamm.Simulation(m, parameter_values=params, experiment=pybamm.Experiment(steps))
    return sim.solve(initial_soc=initial_soc) if initial_soc is not None else sim.solve()


def series(sol: pybamm.Solution) -> pd.DataFrame:
    """Canonical frame (positive current = charging) of a PyBaMM solution."""
    return pd.DataFrame({"time_s": sol["Time [s]"].entries, "voltage_v": sol["Voltage [V]"].entries,
                         "current_a": -sol["Current [A]"].entries})


def resample(frame: pd.DataFrame, period_s: float = 1.0) -> pd.DataFrame:
    """Sample a frame on a regular grid like a cycler (sample-and-hold current, interpolated voltage)."""
    t = frame["time_s"].to_numpy()
    grid = np.arange(t[0], t[-1] + 1e-9, period_s)
    idx = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
    return pd.DataFrame({"time_s": grid - grid[0], "voltage_v": np.interp(grid, t, frame["voltage_v"].to_numpy()),
                         "current_a": frame["current_a"].to_numpy()[idx]})


def noisy(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Frame with Gaussian sensor noise (see NOISE_V, NOISE_I_REL)."""
    out = frame.copy()
    out["voltage_v"] += rng.normal(0, NOISE_V, len(out))
    out["current_a"] *= 1 + rng.normal(0, NOISE_I_REL, len(out))
    return out


def step_ah(step: pybamm.Solution) -> float:
    """Charge moved out of the cell in one step [Ah] (positive = discharged)."""
    q = step["Discharge capacity [A.h]"].entries
    return float(q[-1] - q[0])


# ----------------------------------------------------------------------------- one aged state
def age(model: pybamm.BaseModel, chem: Chemistry, p: pybamm.ParameterValues, sei: float, plating: float,
        cycles: int) -> pybamm.Solution:
    """Accelerated ageing: ``cycles`` 1C CC-CV cycles with scaled SEI and plating rates; ends full."""
    if cycles == 0:
        return solve(model, p, ["Rest for 1 minute"], initial_soc=1.0)
    cycle = (f"Discharge at 1C until {chem.v_min} V", "Rest for 10 minutes", f"Charge at 1C until {chem.v_max} V",
             f"Hold at {chem.v_max} V until C/20", "Rest for 10 minutes")
    return solve(model, scaled(p, sei, plating), [cycle] * cycles, initial_soc=1.0)


def diagnose(model: pybamm.BaseModel, chem: Chemistry, p_diag: pybamm.ParameterValues,
             aged: pybamm.Solution, qn_ah: float) -> dict:
    """Truth (C/20 and 1C capacity, R0/R10 at 50 % SOC) and the raw frames of the short tests."""
    vmin, vmax = chem.v_min, chem.v_max
    full = (f"Charge at C/3 until {vmax} V", f"Hold at {vmax} V until C/50")
    a = solve(model, p_diag, [*full, "Rest for 1 hour", pybamm.step.string(f"Discharge at C/20 until {vmin} V",
                                                                             period="5 minutes"),
                              "Rest for 1 hour"], start=aged)
    # index from the end: the charge steps are skipped when the cell is already full
    q20 = step_ah(a.cycles[-2])
    dis = a.cycles[-2]
    ocv_table = {"soc_pct": (100 * (1 - (dis["Discharge capacity [A.h]"].entries
                                         - dis["Discharge capacity [A.h]"].entries[0]) / q20)).tolist(),
                 "ocv_v": dis["Bulk open-circuit voltage [V]"].entries.tolist()}
    b = solve(model, p_diag, [*full, "Rest for 20 minutes", f"Discharge at 1C until {vmin} V",
                              "Rest for 20 minutes"], start=a)
    q1c = step_ah(b.cycles[-2])
    # pulse at 50 % SOC (from empty), 1C for 10 s
    t_half = 0.5 * q20 / (qn_ah / 3) * 3600
    c = solve(model, p_diag, [pybamm.step.string(f"Charge at C/3 for {t_half:.0f} seconds", period="1 minute"),
                              pybamm.step.string("Rest for 1 hour", period="10 seconds"),
                              pybamm.step.string("Discharge at 1C for 10 seconds", period="0.1 seconds"),
                              pybamm.step.string("Rest for 10 minutes", period="1 second")], start=b)
    rest, pulse = c.cycles[-3], c.cycles[-2]
    v_rest = float(rest["Voltage [V]"].entries[-1])
    vp, ip = pulse["Voltage [V]"].entries, pulse["Current [A]"].entries
    r0 = float((v_rest - vp[0]) / ip[0])
    r10 = float((v_rest - vp[-1]) / ip[-1])
    pulse_frame = pd.concat([series(rest).iloc[-7:], series(pulse), series(c.cycles[-1]).iloc[:60]])
    pulse_frame = pulse_frame.drop_duplicates("time_s").sort_values("time_s")
    # partial coulomb count 80 % -> 30 % SOC at C/3
    t20 = 0.2 * q20 / (qn_ah / 3) * 3600
    t50 = 0.5 * q20 / (qn_ah / 3) * 3600
    d = solve(model, p_diag, [*full, "Rest for 1 hour",
                              pybamm.step.string(f"Discharge at C/3 for {t20:.0f} seconds", period="1 minute"),
                              pybamm.step.string("Rest for 1 hour", period="10 seconds"),
                              pybamm.step.string(f"Discharge at C/3 for {t50:.0f} seconds or until {vmin} V",
                                                 period="10 seconds"),
                              pybamm.step.string("Rest for 1 hour", period="10 seconds")], start=c)
    partial = pd.concat([series(d.cycles[k]) for k in (-3, -2, -1)]).drop_duplicates("time_s")
    return {"q_c20_ah": q20, "q_1c_ah": q1c, "r0_ohm": r0, "r10_ohm": r10, "ocv_table": ocv_table,
            "pulse_frame": pulse_frame, "partial_frame": partial,
            "ocv_start_v": float(d.cycles[-3]["Voltage [V]"].entries[-1]),
            "ocv_end_v": float(d.cycles[-1]["Voltage [V]"].entries[-1]), "end": b}


def lfp_pulse_rows(model: pybamm.BaseModel, p_diag: pybamm.ParameterValues, empty: pybamm.Solution,
                   soh_pct: float, widths_ms: tuple[float, ...], cell_id: str) -> pd.DataFrame:
    """U1..U41 rows of the retired-LFP dataset's pulse protocol on a simulated cell (starts empty)."""
    # the dataset's SOC range ends at least 5 points below the cell's SOH (Tao et al. protocol)
    socs = [s for s in PULSE_SOCS_PCT if s <= soh_pct - 5]
    rows, prev, state = [], 0, empty
    for soc in socs:
        steps: list = [f"Charge at 1C for {3 * (soc - prev) // 5} minutes or until 3.7 V", "Rest for 10 minutes"]
        for w in widths_ms:
            t1, t2 = w / 1000, 15 * w / 1000
            for rate in PULSE_RATES_C:
                steps += [pybamm.step.string(f"Charge at {rate}C for {t1} seconds or until 3.7 V", period=t1 / 5),
                          pybamm.step.string(f"Rest for {t2} seconds", period=t2 / 5),
                          pybamm.step.string(f"Discharge at {rate}C for {t1} seconds or until 2.45 V", period=t1 / 5),
                          pybamm.step.string(f"Rest for {t2} seconds", period=t2 / 5)]
        state = solve(model, p_diag, steps, start=state)
        cyc = state.cycles
        if len(cyc) != len(steps):  # a pulse hit the protection limit at its start: no row, as in the dataset
            prev = soc
            continue
        k = 2
        u_prev = float(cyc[1]["Voltage [V]"].entries[-1])
        for w in widths_ms:
            u = [u_prev]
            for _ in PULSE_RATES_C:
                for j in range(4):
                    v = cyc[k + j]["Voltage [V]"].entries
                    u += [float(v[0]), float(v[-1])]
                k += 4
            u_prev = u[-1]
            rows.append({"cell_id": cell_id, "Qn": LFP_QN_AH, "SOC": float(soc), "pulse_width_ms": float(w),
                         "SOH": soh_pct / 100, **dict(zip(U_COLUMNS, u, strict=True))})
        prev = soc
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- circulith side
def circulith_capacity(diag: dict, chem: Chemistry, rated_ah: float, rules: dict, frame: pd.DataFrame,
                       ocv_start: float, ocv_end: float) -> dict:
    """SOH from the partial test (or the reason it was refused)."""
    try:
        est = capacity_soh(frame, rated_ah, chemistry=chem.code, ocv_start_v=ocv_start, ocv_end_v=ocv_end,
                           rules=rules)
    except InvalidInput as exc:
        return {"soh_pct": None, "refused": str(exc)}
    return {"soh_pct": est.soh_pct, "soh_low_pct": est.soh_low_pct, "soh_high_pct": est.soh_high_pct,
            "soc_span_pct": est.soc_span_pct}


def rules_with_ocv(rules: dict, chem: Chemistry, table: dict) -> dict:
    """Rules with the chemistry family's OCV-SOC table replaced by the cell's own (monotone, ascending)."""
    soc = np.asarray(table["soc_pct"])
    ocv = np.asarray(table["ocv_v"])
    order = np.argsort(ocv)
    ocv, soc = ocv[order], soc[order]
    keep = np.concatenate([[True], np.diff(ocv) > 0])
    fam = "LFP" if chem.code == "LFP" else "NMC"
    out = dict(rules)
    out["ocv_soc"] = {**rules["ocv_soc"], fam: {"soc_pct": np.clip(soc[keep], 0, 100).tolist(),
                                                "ocv_v": ocv[keep].tolist(), "source": "simulated fresh cell"}}
    return out


def run_chemistry(chem: Chemistry, *, quick: bool, rng: np.random.Generator, log) -> dict:
    p = parameter_values(chem)
    model = pybamm.lithium_ion.SPMe(OPTIONS)
    p_diag = scaled(p, 1e-6, 1e-6)
    qn = p["Nominal cell capacity [A.h]"]
    rules = load_rules()
    states = chem.states[:3] if quick else chem.states
    out, fresh, pulse_tables = [], None, []
    for label, sei, plating, cycles in states:
        t0 = time.perf_counter()
        aged = age(model, chem, p, sei, plating, cycles)
        t_age = time.perf_counter() - t0
        diag = diagnose(model, chem, p_diag, aged, qn)
        if fresh is None:
            fresh = diag
            own_rules = rules_with_ocv(rules, chem, diag["ocv_table"])
        truth_soh = 100 * diag["q_c20_ah"] / fresh["q_c20_ah"]
        rec = {"state": label, "sei_scale": sei, "plating_scale": plating, "ageing_cycles": cycles,
               "truth": {"q_c20_ah": diag["q_c20_ah"], "soh_pct": truth_soh, "q_1c_ah": diag["q_1c_ah"],
                         "r0_mohm": 1e3 * diag["r0_ohm"], "r10_mohm": 1e3 * diag["r10_ohm"],
                         "r10_growth_pct": 100 * (diag["r10_ohm"] / fresh["r10_ohm"] - 1)}}
        for tag, noise in (("clean", False), ("noisy", True)):
            pf = resample(diag["pulse_frame"])
            cf = resample(diag["partial_frame"])
            o0, o1 = diag["ocv_start_v"], diag["ocv_end_v"]
            if noise:
                pf, cf = noisy(pf, rng), noisy(cf, rng)
                o0, o1 = o0 + rng.normal(0, NOISE_V), o1 + rng.normal(0, NOISE_V)
            res = dc_resistance(pf)
            est = {"r_mohm": 1e3 * res.resistance_ohm,
                   "r_err_vs_r10_pct": 100 * (res.resistance_ohm / diag["r10_ohm"] - 1),
                   "r_err_vs_r0_pct": 100 * (res.resistance_ohm / diag["r0_ohm"] - 1)}
            for otag, rr in (("generic_ocv", rules), ("own_ocv", own_rules)):
                cap = circulith_capacity(diag, chem, fresh["q_c20_ah"], rr, cf, o0, o1)
                if cap["soh_pct"] is not None:
                    cap["soh_err_pts"] = cap["soh_pct"] - truth_soh
                est[f"capacity_{otag}"] = cap
            rec[tag] = est
        out.append(rec)
        if chem.key == "LFP":
            pulse_tables.append(lfp_pulse_rows(model, p_diag, diag["end"], 100 * diag["q_1c_ah"] / LFP_QN_AH,
                                               tuple(PULSE_WIDTHS_MS), f"sim-{label}"))
        log(f"{chem.key} {label}: age {t_age:.1f} s, SOH {truth_soh:.1f} %, R10 {1e3 * diag['r10_ohm']:.2f} mOhm "
            f"({time.perf_counter() - t0:.1f} s)")
    # resistance growth as circulith would report it (fresh measurement as beginning of life)
    for tag in ("clean", "noisy"):
        r_bol = out[0][tag]["r_mohm"]
        for rec in out:
            growth = 100 * (rec[tag]["r_mohm"] / r_bol - 1)
            rec[tag]["r_growth_pct"] = growth
            rec[tag]["r_growth_err_pts"] = growth - rec["truth"]["r10_growth_pct"]
    result = {"chemistry": chem.key, "circulith_code": chem.code, "nominal_ah": qn,
              "fresh_q_c20_ah": fresh["q_c20_ah"], "states": out}
    if pulse_tables:
        table = pd.concat(pulse_tables, ignore_index=True)
        result["_pulse_table"] = table
        try:
            ests = estimate(table, default_model())
            result["pulse_model"] = [{"cell_id": e.cell_id, "soh_true_1c_pct": e.soh_true_pct, "soh_pct": e.soh_pct,
                                      "soh_low_pct": e.soh_low_pct, "soh_high_pct": e.soh_high_pct,
                                      "err_pts": e.soh_pct - e.soh_true_pct, "n_rows_used": e.n_rows_used}
                                     for e in ests]
        except InvalidInput as exc:
            result["pulse_model"] = {"refused": str(exc)}
    return result


def plating_relaxation_check() -> dict:
    """Relaxation after a cold CC-CV charge with reversible plating (DFN, OKane2022, -5 degC) vs a 25 degC control.

    Records whether ``triage.safety.relaxation_plating_signature`` flags the plated case.
    """
    from circulith.triage.safety import relaxation_plating_signature

    out = {}
    for label, plating, temp_k in (("plated_-5C", "reversible", 268.15), ("control_25C", None, 298.15)):
        model = pybamm.lithium_ion.DFN({"lithium plating": plating} if plating else {})
        p = pybamm.ParameterValues("OKane2022")
        p.update({"Ambient temperature [K]": temp_k, "Initial temperature [K]": temp_k,
                  "Lower voltage cut-off [V]": 2.4, "Upper voltage cut-off [V]": 4.3})
        exp = pybamm.Experiment([pybamm.step.string("Charge at 1C until 4.2 V", period="10 seconds"),
                                 pybamm.step.string("Hold at 4.2 V until C/10", period="10 seconds"),
                                 pybamm.step.string("Rest for 3 hours", period="2 seconds")])
        sol = pybamm.Simulation(model, parameter_values=p, experiment=exp,
                                var_pts={"x_n": 10, "x_s": 5, "x_p": 10, "r_n": 15, "r_p": 15}).solve(initial_soc=0.1)
        rest = sol.cycles[-1]
        t = rest["Time [s]"].entries - rest["Time [s]"].entries[0]
        v = rest["Voltage [V]"].entries
        rec = {"signature": relaxation_plating_signature(t, v)}
        if plating:
            c = rest["X-averaged negative lithium plating concentration [mol.m-3]"].entries
            rec["plated_mol_per_m3_at_rest_start"] = float(c[0])
            rec["time_90pct_stripped_s"] = float(t[np.argmax(c < 0.1 * c[0])])
        out[label] = rec
    return out


def summarise(results: list[dict]) -> dict:
    """RMSE / max error per chemistry."""
    summary = {}
    for res in results:
        s: dict = {}
        aged = res["states"]
        for tag in ("clean", "noisy"):
            for otag in ("generic_ocv", "own_ocv"):
                errs = [r[tag][f"capacity_{otag}"].get("soh_err_pts") for r in aged]
                ok = [e for e in errs if e is not None]
                s[f"capacity_{otag}_{tag}"] = {
                    "rmse_pts": float(np.sqrt(np.mean(np.square(ok)))) if ok else None,
                    "max_abs_pts": float(np.max(np.abs(ok))) if ok else None, "n_estimated": len(ok),
                    "n_refused": len(errs) - len(ok)}
            r10 = [r[tag]["r_err_vs_r10_pct"] for r in aged]
            r0 = [r[tag]["r_err_vs_r0_pct"] for r in aged]
            g = [r[tag]["r_growth_err_pts"] for r in aged]
            s[f"resistance_{tag}"] = {"mean_err_vs_r10_pct": float(np.mean(r10)),
                                      "max_abs_err_vs_r10_pct": float(np.max(np.abs(r10))),
                                      "mean_err_vs_r0_pct": float(np.mean(r0)),
                                      "max_abs_growth_err_pts": float(np.max(np.abs(g)))}
        if isinstance(res.get("pulse_model"), list):
            e = [p["err_pts"] for p in res["pulse_model"]]
            s["pulse_model"] = {"rmse_pts": float(np.sqrt(np.mean(np.square(e)))), "mean_err_pts": float(np.mean(e))}
        summary[res["chemistry"]] = s
    return summary


def print_tables(results: list[dict]) -> None:
    for res in results:
        print(f"\n{res['chemistry']} ({res['circulith_code']}), fresh C/20 capacity {res['fresh_q_c20_ah']:.2f} Ah")
        print("state        | SOH true | partial generic OCV | partial own OCV | R10 true | R est | R err vs R10 | growth true/est")
        for r in res["states"]:
            c = r["clean"]

            def fmt(cap: dict) -> str:
                return "refused" if cap["soh_pct"] is None else f"{cap['soh_pct']:.1f} ({cap['soh_err_pts']:+.1f})"

            print(f"{r['state']:<12} | {r['truth']['soh_pct']:7.1f}  | {fmt(c['capacity_generic_ocv']):>19} | "
                  f"{fmt(c['capacity_own_ocv']):>15} | {r['truth']['r10_mohm']:7.2f}  | {c['r_mohm']:5.2f} | "
                  f"{c['r_err_vs_r10_pct']:+8.1f} %  | {r['truth']['r10_growth_pct']:+.0f} / {c['r_growth_pct']:+.0f} %")
        if "pulse_model" in res:
            print("pulse model (shipped, trained on real LFP):", json.dumps(res["pulse_model"], indent=None)[:2000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--quick", action="store_true", help="three states per chemistry")
    ap.add_argument("--pulse-rows", type=Path, default=DEFAULT_PULSE_ROWS,
                    help="CSV of the simulated LFP pulse rows (input of benchmarks/triage_transfer.py)")
    ap.add_argument("--chemistry", choices=sorted(CHEMISTRIES), action="append")
    ap.add_argument("--plating-only", action="store_true",
                    help="run only the plating relaxation check and add it to an existing --out file")
    ap.add_argument("--pulse-socs", help="comma-separated SOC levels of the pulse test [%%], e.g. 5,10,...,50")
    ap.add_argument("--pulse-widths", help="comma-separated pulse widths [ms], e.g. 100,1000")
    ap.add_argument("--no-plating", action="store_true", help="skip the plating relaxation check")
    args = ap.parse_args()
    if args.pulse_socs:
        PULSE_SOCS_PCT[:] = [int(v) for v in args.pulse_socs.split(",")]
    if args.pulse_widths:
        PULSE_WIDTHS_MS[:] = [float(v) for v in args.pulse_widths.split(",")]
    pybamm.set_logging_level("ERROR")
    if args.plating_only:
        doc = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        doc["plating_relaxation"] = plating_relaxation_check()
        print(json.dumps(doc["plating_relaxation"], indent=1))
        args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    results = []
    for key in args.chemistry or ["NMC", "LFP"]:
        results.append(run_chemistry(CHEMISTRIES[key], quick=args.quick, rng=rng,
                                     log=lambda s: print(s, flush=True)))
    wall = time.perf_counter() - t0
    for res in results:
        table = res.pop("_pulse_table", None)
        if table is not None:
            args.pulse_rows.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.pulse_rows, index=False)
            print(f"wrote {args.pulse_rows} ({len(table)} pulse rows)")
    print_tables(results)
    summary = summarise(results)
    print("\nsummary:", json.dumps(summary, indent=1))
    doc = {"pybamm_version": pybamm.__version__, "model": "SPMe", "options": OPTIONS,
           "noise": {"voltage_sigma_v": NOISE_V, "current_sigma_rel": NOISE_I_REL, "seed": 0},
           "python": platform.python_version(), "wall_s": wall, "summary": summary, "results": results,
           "plating_relaxation": None if args.no_plating else plating_relaxation_check()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wall {wall:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
