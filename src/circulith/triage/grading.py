"""Vectorised grade and decision per battery (cell, module or pack) from a BMS-summary frame.

Input schema (:data:`BMS_SUMMARY_COLUMNS`): one row per battery, as the registry supplies it.
Output: one row per battery with ``grade`` (reuse / repurpose / recycle / quarantine), the
``application`` of a repurposed unit, the deciding ``rule_id`` and ``clause`` (from the shipped
rules file), every rule that fired, the SOH interval, whether the interval straddles a grade
boundary and which further test would settle it, RUL under the chosen duty, and a one-line
``explanation`` a safety engineer can read.

Decision order (worst wins): quarantine rules, then recycle gates, then reuse-as-is, then the
first second-life application (chemistry's preference order, or the one asked for) whose entry
limits the unit meets, else recycle. SOH decisions use the **lower** bound of the interval, so an
uncertain unit is never graded up. A value seam lets the recovery engine supply
``recycling_value_usd_per_kwh`` (scalar, array or callable on the frame): a unit otherwise fit for
repurposing is sent to recycling when that value exceeds its second-life value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.io.number_cells import coerce_numeric
from circulith.triage.rul import remaining_useful_life
from circulith.triage.rules import GRADE_RANK, GRADES, chemistry_family, load_rules
from circulith.triage.safety import robust_z
from circulith.triage.staging import (
    FULL_TEST,
    SETTLED_MEASURED,
    SETTLED_UNSAFE,
    SETTLED_VALUE,
    grade_boundaries,
    load_economics,
    load_steps,
    next_tests,
    straddles,
)


@dataclass(frozen=True)
class Column:
    """One column of the BMS-summary schema."""

    name: str
    dtype: str
    unit: str
    required: bool
    description: str


#: The BMS-summary input schema: one row per battery (what the registry gives triage).
BMS_SUMMARY_COLUMNS: list[Column] = [
    Column("battery_id", "str", "-", True, "unique identifier of the battery (cell, module or pack)"),
    Column("level", "str", "-", True, "'cell', 'module' or 'pack'"),
    Column("parent_battery_id", "str", "-", False, "module/pack that contains this unit (series string)"),
    Column("chemistry", "str", "-", True, "chemistry code of chemistries.csv (LFP, NMC811, ...)"),
    Column("rated_capacity_ah", "float", "Ah", True, "rated (nominal) capacity"),
    Column("rated_energy_kwh", "float", "kWh", False, "rated energy (for usable-energy and value figures)"),
    Column("soh_pct", "float", "%", True, "capacity state of health estimate"),
    Column("soh_low_pct", "float", "%", False, "lower bound of the SOH interval (default soh - 3 points)"),
    Column("soh_high_pct", "float", "%", False, "upper bound of the SOH interval (default soh + 3 points)"),
    Column("soh_source", "str", "-", False, "'bms', 'pulse' or 'capacity_test' (default 'bms')"),
    Column("resistance_growth_pct", "float", "%", False, "DC resistance increase over beginning of life"),
    Column("full_cycles", "float", "-", True, "equivalent full cycles so far"),
    Column("deep_discharge_events", "int", "-", True, "BMS-recorded events below minimum cell voltage"),
    Column("overcharge_events", "int", "-", True, "BMS-recorded events above maximum cell voltage"),
    Column("time_above_max_temp_h", "float", "h", True, "time above the maximum operating temperature"),
    Column("accident_count", "int", "-", True, "recorded accidents (crash, immersion)"),
    Column("thermal_accident", "bool", "-", True, "a thermal event (venting, fire, runaway) was recorded"),
    Column("manufacturing_date", "date", "-", True, "date of manufacture"),
    Column("calendar_expiry_date", "date", "-", False, "manufacturer's calendar expiry date (UL 1974)"),
    Column("has_traceability", "bool", "-", True, "full history/traceability available (IEC 63338 gate)"),
    Column("swelling", "bool", "-", False, "inspection: swelling"),
    Column("leakage", "bool", "-", False, "inspection: electrolyte leakage"),
    Column("damage", "bool", "-", False, "inspection: mechanical damage"),
    Column("insulation_resistance_mohm", "float", "MOhm", False, "inspection: insulation resistance"),
    Column("nominal_voltage_v", "float", "V", False, "nominal voltage (insulation limit is per volt)"),
    Column("self_discharge_mv_per_day", "float", "mV/day", False, "OCV drop during a rest"),
    Column("ocv_after_rest_v", "float", "V", False, "inspection: open-circuit voltage after rest"),
    Column("lithium_plating_suspected", "bool", "-", False, "plating signature found (triage.safety)"),
]
_REQUIRED = [c.name for c in BMS_SUMMARY_COLUMNS if c.required]
_BOOL = [c.name for c in BMS_SUMMARY_COLUMNS if c.dtype == "bool"]
_NUM = [c.name for c in BMS_SUMMARY_COLUMNS if c.dtype in {"float", "int"}]
_UNITS = {c.name: c.unit for c in BMS_SUMMARY_COLUMNS}

ValueSeam = float | np.ndarray | Callable[[pd.DataFrame], np.ndarray] | None


def _to_bool(s: pd.Series) -> np.ndarray:
    if s.dtype == bool:
        return s.to_numpy()
    m = s.astype(str).str.strip().str.lower()
    return m.isin(["true", "1", "yes", "y", "t"]).to_numpy()


def prepare_frame(frame: pd.DataFrame, rules: dict, *, as_of: date | None = None) -> pd.DataFrame:
    """Validate a BMS-summary frame and add derived columns; raise InvalidInput naming rows/fields."""
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput([Problem(None, c, "required column missing (see BMS_SUMMARY_COLUMNS)")
                            for c in missing], source="BMS summary")
    df = frame.reset_index(drop=True).copy()
    problems: list[Problem] = []
    ids = df["battery_id"].astype(str)
    for col in _NUM:
        if col in df:
            problems += coerce_numeric(df, col, _UNITS[col], required=col in _REQUIRED, ids=ids)
        else:
            df[col] = np.nan
    for col in _BOOL:
        df[col] = _to_bool(df[col]) if col in df else False
    lvl = df["level"].astype(str).str.lower()
    for r in np.flatnonzero(~lvl.isin(["cell", "module", "pack"]).to_numpy())[:50]:
        problems.append(Problem(int(r) + 1, "level", f"'{df['level'].iloc[r]}' is not cell, module or pack", ids.iloc[r]))
    df["level"] = lvl
    soh = df["soh_pct"].to_numpy(dtype=float)
    bad = np.flatnonzero((soh < 0) | (soh > 130))
    for r in bad[:50]:
        hint = " (fraction given? use percent)" if soh[r] <= 1.3 else ""
        problems.append(Problem(int(r) + 1, "soh_pct", f"{soh[r]} outside 0-130 %{hint}", ids.iloc[r]))
    frac = np.flatnonzero((soh > 0) & (soh <= 1.3))
    for r in frac[:50]:
        problems.append(Problem(int(r) + 1, "soh_pct", f"{soh[r]} looks like a fraction; give percent", ids.iloc[r]))
    for col in ["full_cycles", "deep_discharge_events", "overcharge_events", "time_above_max_temp_h",
                "accident_count"]:
        for r in np.flatnonzero(df[col].to_numpy(dtype=float) < 0)[:50]:
            problems.append(Problem(int(r) + 1, col, "negative", ids.iloc[r]))
    if problems:
        raise InvalidInput(problems, source="BMS summary")
    unc = float(rules["defaults"]["bms_soh_uncertainty_pct"])
    df["soh_low_pct"] = df["soh_low_pct"].fillna(df["soh_pct"] - unc)
    df["soh_high_pct"] = df["soh_high_pct"].fillna(df["soh_pct"] + unc)
    df["soh_source"] = df["soh_source"].fillna("bms").astype(str) if "soh_source" in df else "bms"
    today = pd.Timestamp(as_of or date.today())
    expiry = pd.to_datetime(df["calendar_expiry_date"], errors="coerce") if "calendar_expiry_date" in df \
        else pd.Series(pd.NaT, index=df.index)
    df["past_calendar_expiry"] = (expiry < today).fillna(False).to_numpy(dtype=bool)
    mfg = pd.to_datetime(df["manufacturing_date"], errors="coerce")
    df["age_years"] = ((today - mfg).dt.days / 365.25).to_numpy()
    df["insulation_resistance_ohm_per_v"] = df["insulation_resistance_mohm"] * 1e6 / df["nominal_voltage_v"]
    limit = float(rules["defaults"]["outlier_robust_z"])
    if "parent_battery_id" in df and df["parent_battery_id"].notna().any():
        groups = df["parent_battery_id"].fillna("").astype(str).to_numpy()
        for col, flag in [("ocv_after_rest_v", "sibling_voltage_outlier"),
                          ("self_discharge_mv_per_day", "sibling_self_discharge_outlier"),
                          ("resistance_growth_pct", "sibling_resistance_outlier")]:
            x = df[col].to_numpy(dtype=float)
            z = robust_z(x, groups) if df[col].notna().any() else np.full(len(df), np.nan)
            z = np.where(groups == "", np.nan, z)
            dev = x - pd.Series(x).groupby(groups).transform("median").to_numpy()
            # self-discharge: only the high side is a short suspect; voltage: the low side
            if col == "self_discharge_mv_per_day":
                floor = float(rules["defaults"].get("outlier_min_excess_self_discharge_mv_per_day", 0.0))
                df[flag] = (np.nan_to_num(z) > limit) & (np.nan_to_num(dev) >= floor)
            elif col == "ocv_after_rest_v":
                floor = float(rules["defaults"].get("outlier_min_deficit_ocv_v", 0.0))
                df[flag] = (np.nan_to_num(z) < -limit) & (np.nan_to_num(-dev) >= floor)
            else:
                df[flag] = np.abs(np.nan_to_num(z)) > limit
    else:
        for flag in ["sibling_voltage_outlier", "sibling_self_discharge_outlier", "sibling_resistance_outlier"]:
            df[flag] = False
    return df


def _rule_mask(df: pd.DataFrame, rule: dict) -> np.ndarray:
    test = rule["test"]
    fields = rule["field"].split("|")
    if test == "is_true":
        return df[fields[0]].to_numpy(dtype=bool)
    if test == "is_false":
        return ~df[fields[0]].to_numpy(dtype=bool)
    if test == "any_true":
        return np.logical_or.reduce([df[f].to_numpy(dtype=bool) for f in fields])
    x = df[fields[0]].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        if test == "gt":
            return np.nan_to_num(x, nan=-np.inf) > rule["limit"]
        if test == "lt":
            return np.nan_to_num(x, nan=np.inf) < rule["limit"]
    raise InvalidInput(f"rule {rule['id']}: unknown test '{test}'", source="rules")


def _seam(value: ValueSeam, df: pd.DataFrame) -> np.ndarray | None:
    if value is None:
        return None
    v = value(df) if callable(value) else value
    return np.broadcast_to(np.asarray(v, dtype=float), (len(df),))


def grade_frame(bms_summary: pd.DataFrame, *, application: str | None = None, rules: dict | None = None,
                recycling_value_usd_per_kwh: ValueSeam = None, as_of: date | None = None) -> pd.DataFrame:
    """Grade every battery of a BMS-summary frame (vectorised; see the module docstring).

    Parameters
    ----------
    bms_summary : pandas.DataFrame
        One row per battery, columns per :data:`BMS_SUMMARY_COLUMNS`.
    application : str, optional
        Intended second-life application (``stationary_storage``, ``low_speed_vehicle``, ``ups``);
        default: the chemistry's preference order, first that fits.
    rules : dict, optional
        Loaded rules (default: the shipped ``grading_rules_v1.toml``).
    recycling_value_usd_per_kwh : float, array or callable, optional
        Net recycling value per kWh of rated energy [USD/kWh], supplied by the recovery engine.
    as_of : datetime.date, optional
        Date of the grading (calendar expiry and age) [default: today].

    Returns
    -------
    pandas.DataFrame
        Columns ``battery_id, level, parent_battery_id, chemistry, grade, application, rule_id,
        clause, rules_fired, soh_pct, soh_low_pct, soh_high_pct, straddles_boundary, further_test,
        next_test`` (same as ``further_test``), ``next_test_reason, settled_by`` (``measurement``,
        ``unsafe``, ``value of information``, ``rule`` or '' while open), ``expected_gain_usd,
        full_test_cost_usd`` (value of information of a full test, pulse-estimated units), ``rul_years,
        rul_years_low, rul_years_high, rul_cycles, rul_cycles_low, rul_cycles_high,
        rules_version, explanation``.
    """
    rules = rules or load_rules()
    if application is not None and application not in rules["applications"]:
        raise InvalidInput([Problem(None, "application", f"unknown '{application}'; known: "
                                    f"{', '.join(rules['applications'])}")])
    df = prepare_frame(bms_summary, rules, as_of=as_of)
    n = len(df)
    grade_rank = np.zeros(n, dtype=int)
    rule_id = np.full(n, "", dtype=object)
    clause = np.full(n, "", dtype=object)
    fired = [np.full(n, "", dtype=object)]
    # --- hard rules: worst grade wins, first rule of that grade decides
    for rule in rules["rules"]:
        m = _rule_mask(df, rule)
        rank = GRADE_RANK[rule["grade"]]
        fired.append(np.where(m, rule["id"] + ";", ""))
        take = m & (rank > grade_rank)
        grade_rank[take] = rank
        rule_id[take] = rule["id"]
        clause[take] = rule["clause"]
    acc = np.full(n, "", dtype=object)
    for f in fired:
        acc = acc + f
    rules_fired = np.array([s.rstrip(";") for s in acc], dtype=object)
    soh_lo = df["soh_low_pct"].to_numpy(dtype=float)
    soh = df["soh_pct"].to_numpy(dtype=float)
    soh_hi = df["soh_high_pct"].to_numpy(dtype=float)
    rgrowth = df["resistance_growth_pct"].to_numpy(dtype=float)
    r_unknown = np.isnan(rgrowth)
    rg = np.nan_to_num(rgrowth, nan=0.0)
    open_ = grade_rank == 0
    # --- reuse as is
    reuse_cfg = rules["reuse"]
    reuse = open_ & (soh_lo >= reuse_cfg["min_soh_pct"]) & (rg <= reuse_cfg["max_resistance_growth_pct"])
    rule_id[reuse] = "U1-reuse"
    clause[reuse] = f"SOH lower bound >= {reuse_cfg['min_soh_pct']:g} % ({reuse_cfg['min_soh_source']})"
    # --- repurpose: first fitting application
    app_out = np.full(n, "", dtype=object)
    pending = open_ & ~reuse
    chem_codes = df["chemistry"].astype(str)
    fam = chem_codes.map({c: chemistry_family(c) for c in chem_codes.unique()}).to_numpy()
    for f in np.unique(fam):
        chem = rules["chemistry"].get(f, rules["chemistry"]["default"])
        order = [application] if application else list(chem["preferred"])
        for app in order:
            cfg = rules["applications"][app]
            fits = pending & (fam == f) & (soh_lo >= cfg["min_soh_pct"]) & (rg <= cfg["max_resistance_growth_pct"])
            app_out[fits] = app
            rule_id[fits] = f"A-{app}"
            clause[fits] = (f"SOH lower bound >= {cfg['min_soh_pct']:g} % and resistance growth <= "
                            f"{cfg['max_resistance_growth_pct']:g} % ({app} entry limits)")
            grade_rank[fits] = GRADE_RANK["repurpose"]
            pending &= ~fits
    # units that fit nothing
    grade_rank[pending] = GRADE_RANK["recycle"]
    rule_id[pending] = "A-none"
    clause[pending] = "meets no second-life application's entry limits (SOH lower bound / resistance)"
    # --- value seam
    rec = _seam(recycling_value_usd_per_kwh, df)
    if rec is not None:
        second = rules["economics"]["repurpose_value_usd_per_kwh"] * soh / 100.0
        to_rec = (grade_rank == GRADE_RANK["repurpose"]) & (rec > second)
        grade_rank[to_rec] = GRADE_RANK["recycle"]
        rule_id[to_rec] = "E1-value"
        clause[to_rec] = "recycling value per kWh exceeds the second-life value (recovery engine figure)"
        app_out[to_rec] = ""
    grade = np.asarray(GRADES, dtype=object)[grade_rank]
    # --- boundary straddling and the next test that would settle it (triage.staging)
    soh_decided = np.isin(rule_id, ["U1-reuse", "A-none", "R5-soh-floor"]) | np.char.startswith(
        rule_id.astype(str), "A-")
    src = df["soh_source"].astype(str).str.lower().to_numpy()
    staged = _next_tests(df, fam, soh, soh_lo, soh_hi, soh_decided & (src == "pulse"), rules, application, rec)
    straddle = np.zeros(n, dtype=bool)
    for f in np.unique(fam):
        m = fam == f
        straddle[m] = straddles(soh_lo[m], soh_hi[m], grade_boundaries(rules, str(f), application))
    straddle &= soh_decided
    pulse_next = np.where(staged["next_test"] == FULL_TEST, FULL_TEST + " (GB/T 34015 residual capacity test)",
                          staged["next_test"])
    further = np.where(src == "pulse", pulse_next,
                       np.where(src == "capacity_test", "repeat capacity test at reference conditions",
                                f"{load_steps()[0].name} (triage estimate --stage), then a full capacity test if "
                                "still open"))
    further = np.where(straddle, further, "").astype(object)
    settled_by = np.where(staged["settled_by"] != "", staged["settled_by"],
                          np.where(grade_rank == GRADE_RANK["quarantine"], SETTLED_UNSAFE,
                                   np.where(soh_decided & ~straddle, SETTLED_MEASURED,
                                            np.where(soh_decided, "", "rule"))))
    next_reason = np.where(staged["reason"] != "", staged["reason"],
                           np.where(further != "", "interval straddles a grade boundary", "")).astype(object)
    res_near = soh_decided & ~r_unknown & (grade_rank <= GRADE_RANK["recycle"])
    res_limits = [reuse_cfg["max_resistance_growth_pct"]] + [a["max_resistance_growth_pct"]
                                                            for a in rules["applications"].values()]
    near = np.zeros(n, dtype=bool)
    for lim in res_limits:
        near |= np.abs(rg - lim) <= 0.1 * lim
    res_near &= near
    further = np.where(res_near & (further == ""), "EIS / HPPC resistance test", further)
    # --- RUL under the chosen (or preferred) application
    rul_y = np.full(n, np.nan)
    rul_lo, rul_hi, rul_c, rul_clo, rul_chi = (np.full(n, np.nan) for _ in range(5))
    duty = np.where(app_out != "", app_out, application or "stationary_storage")
    for app in np.unique(duty):
        m = (duty == app) & (grade_rank <= GRADE_RANK["repurpose"])
        if not m.any():
            continue
        r = remaining_useful_life(soh[m], soh_lo[m], soh_hi[m], df["chemistry"].to_numpy()[m], str(app), rules)
        rul_y[m], rul_lo[m], rul_hi[m] = r.years, r.years_low, r.years_high
        rul_c[m], rul_clo[m], rul_chi[m] = r.cycles, r.cycles_low, r.cycles_high
    out = pd.DataFrame({
        "battery_id": df["battery_id"].astype(str).to_numpy(),
        "level": df["level"].astype(str).to_numpy(),
        "parent_battery_id": (df["parent_battery_id"].astype(object).where(df["parent_battery_id"].notna(), None)
                              .to_numpy() if "parent_battery_id" in df else None),
        "chemistry": df["chemistry"].astype(str).to_numpy(),
        "grade": grade, "application": app_out, "rule_id": rule_id, "clause": clause,
        "rules_fired": rules_fired, "soh_pct": soh, "soh_low_pct": soh_lo, "soh_high_pct": soh_hi,
        "resistance_growth_pct": rgrowth, "straddles_boundary": straddle, "further_test": further,
        "next_test": further, "next_test_reason": np.where(
            further == "EIS / HPPC resistance test",
            np.where(staged["reason"] != "", "resistance growth within 10 % of a grade limit; SOH: " + staged["reason"],
                     "resistance growth within 10 % of a grade limit"),
            np.where(further != "", next_reason, staged["reason"])),
        "settled_by": settled_by, "expected_gain_usd": staged["expected_gain_usd"],
        "full_test_cost_usd": staged["full_test_cost_usd"],
        "rul_years": rul_y, "rul_years_low": rul_lo, "rul_years_high": rul_hi,
        "rul_cycles": rul_c, "rul_cycles_low": rul_clo, "rul_cycles_high": rul_chi,
        "rules_version": str(rules["version"]),
    })
    app_txt = np.where(app_out != "", " for " + app_out.astype(str), "")
    out["explanation"] = (
        out["grade"] + app_txt + ": rule " + out["rule_id"] + " (" + out["clause"] + "); SOH "
        + out["soh_pct"].round(1).astype(str) + " % [" + out["soh_low_pct"].round(1).astype(str) + ", "
        + out["soh_high_pct"].round(1).astype(str) + "] (" + df["soh_source"].astype(str) + "), cycles "
        + df["full_cycles"].round(0).astype(int).astype(str)
        + np.where(r_unknown, ", resistance not measured", ", resistance growth " + np.round(rg, 1).astype(str) + " %")
        + np.where(out["rules_fired"] != "", "; rules fired: " + out["rules_fired"], "")
        + np.where(df["sibling_resistance_outlier"].to_numpy(bool), "; resistance outlier among siblings", "")
        + np.where(straddle & (further != ""), "; interval straddles a grade boundary: settle with " + further, "")
        + np.where(straddle & (settled_by == SETTLED_VALUE), "; interval straddles a grade boundary: "
                   + staged["reason"], "")
    )
    return out


def unit_energy_kwh(df: pd.DataFrame) -> np.ndarray:
    """Rated energy per unit [kWh]: ``rated_energy_kwh``, else rated capacity x nominal voltage, else NaN."""
    energy = df["rated_energy_kwh"].to_numpy(dtype=float) if "rated_energy_kwh" in df else np.full(len(df), np.nan)
    derived = df["rated_capacity_ah"].to_numpy(dtype=float) * df["nominal_voltage_v"].to_numpy(dtype=float) / 1000.0
    return np.where(np.isfinite(energy), energy, derived)


def _next_tests(df: pd.DataFrame, fam: np.ndarray, soh: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                staged: np.ndarray, rules: dict, application: str | None,
                recycle_usd_per_kwh: np.ndarray | None) -> dict[str, np.ndarray]:
    """Next test of the pulse-estimated units whose grade the SOH decides (:func:`staging.next_tests`, with
    the value of information); empty strings / NaN elsewhere."""
    n = len(df)
    out = {"next_test": np.full(n, "", dtype=object), "reason": np.full(n, "", dtype=object),
           "settled_by": np.full(n, "", dtype=object), "expected_gain_usd": np.full(n, np.nan),
           "full_test_cost_usd": np.full(n, np.nan)}
    if not staged.any():
        return out
    steps, econ = load_steps(), load_economics()
    done = (pd.to_numeric(df["pulse_step_done"], errors="coerce").fillna(-1).to_numpy(dtype=int)
            if "pulse_step_done" in df else np.full(n, -1))
    energy = unit_energy_kwh(df)
    rec = None if recycle_usd_per_kwh is None else np.asarray(recycle_usd_per_kwh, dtype=float)
    for f in np.unique(fam[staged]):
        m = staged & (fam == f)
        dec = next_tests(soh[m], lo[m], hi[m], unsafe=np.zeros(int(m.sum()), dtype=bool), done=done[m], steps=steps,
                         boundaries_pct=grade_boundaries(rules, str(f), application), economics=econ,
                         energy_kwh=energy[m], reuse_pct=float(rules["reuse"]["min_soh_pct"]),
                         recycle_usd_per_kwh=None if rec is None else rec[m])
        for key, col in (("next_test", "next_test"), ("reason", "reason"), ("settled_by", "settled_by"),
                         ("expected_gain_usd", "expected_gain_usd"), ("full_test_cost_usd", "full_test_cost_usd")):
            out[key][m] = dec[col].to_numpy()
    return out


def aggregate_parents(results: pd.DataFrame) -> pd.DataFrame:
    """Grade each module/pack from its children: limited by its weakest series string.

    The parent's SOH is the minimum child SOH (series strings carry the weakest unit's capacity), its
    grade the worst child grade; a parent with any quarantined child is quarantined as a whole
    (disassembly under damaged-battery rules), and a parent whose children disagree is marked for
    disassembly so the good units can be regrouped.

    Returns
    -------
    pandas.DataFrame
        One row per ``parent_battery_id``: ``battery_id, n_children, grade, soh_pct, soh_low_pct,
        soh_high_pct, weakest_child_id, worst_child_id, worst_rule_id, decision, explanation``.
    """
    child = results[results["parent_battery_id"].notna() & (results["parent_battery_id"].astype(str) != "")]
    if child.empty:
        return pd.DataFrame(columns=["battery_id", "n_children", "grade", "soh_pct", "soh_low_pct", "soh_high_pct",
                                     "weakest_child_id", "worst_child_id", "worst_rule_id", "decision",
                                     "explanation"])
    c = child.assign(_rank=child["grade"].map(GRADE_RANK))
    g = c.groupby("parent_battery_id", sort=True)
    weakest = c.loc[g["soh_low_pct"].idxmin(), ["parent_battery_id", "battery_id"]].set_index("parent_battery_id")
    agg = g.agg(n_children=("battery_id", "size"), _rank=("_rank", "max"), _min_rank=("_rank", "min"),
                soh_pct=("soh_pct", "min"), soh_low_pct=("soh_low_pct", "min"), soh_high_pct=("soh_high_pct", "min"))
    agg["grade"] = np.asarray(GRADES, dtype=object)[agg["_rank"].to_numpy()]
    agg["weakest_child_id"] = weakest["battery_id"]
    worst = c.loc[g["_rank"].idxmax(), ["parent_battery_id", "battery_id", "rule_id"]].set_index("parent_battery_id")
    agg["worst_child_id"] = worst["battery_id"]
    agg["worst_rule_id"] = worst["rule_id"]
    agg["decision"] = np.where(agg["_rank"] == GRADE_RANK["quarantine"], "quarantine whole unit; discharge and "
                               "dismantle under damaged-battery rules",
                               np.where(agg["_rank"] == agg["_min_rank"], "grade as a whole",
                                        "disassemble: children graded individually, regroup the good ones"))
    agg["explanation"] = (agg["grade"] + ": worst child " + agg["worst_child_id"].astype(str) + " (rule "
                          + agg["worst_rule_id"].astype(str) + "); limited by weakest series string " + agg["weakest_child_id"].astype(str)
                          + " (SOH " + agg["soh_pct"].round(1).astype(str) + " %, lower bound "
                          + agg["soh_low_pct"].round(1).astype(str) + " %); " + agg["decision"])
    out = agg.reset_index().rename(columns={"parent_battery_id": "battery_id"})
    return out[["battery_id", "n_children", "grade", "soh_pct", "soh_low_pct", "soh_high_pct", "weakest_child_id",
                "worst_child_id", "worst_rule_id", "decision", "explanation"]]


LEVEL_ORDER = ("cell", "module", "pack")


def reconcile_levels(results: pd.DataFrame) -> pd.DataFrame:
    """One consistent decision per unit: each parent's follows from its children's and its own.

    Applied bottom-up (cells, then modules, then packs), on the output of :func:`grade_frame`:

    - ``P1-own-quarantine``: a parent whose own history or inspection quarantines it is quarantined
      as a whole, whatever its children's grades, and every unit inside it is quarantined too
      (``C1-inside-quarantined``: held until the parent is dismantled under the damaged-battery rules
      and the unit inspected on its own);
    - ``P2-child-quarantine``: a parent with a quarantined child is quarantined as a whole;
    - ``P3-uniform``: children of one grade, no worse than the parent's own: graded as a whole, with
      the worse of its own and its children's grade;
    - ``P4-mixed``: children disagree: the parent takes its worst child's grade and is marked for
      disassembly, so the good children can be regrouped.

    Returns
    -------
    pandas.DataFrame
        ``results`` with ``grade`` / ``rule_id`` of parents and quarantined descendants updated, and
        ``own_grade``, ``own_rule_id``, ``decided_by`` (rule of this level: U, P1-P4 or C1),
        ``decision`` (what to do with the unit) and ``weakest_child_id`` added.
    """
    df = results.reset_index(drop=True).copy()
    df["own_grade"] = df["grade"]
    df["own_rule_id"] = df["rule_id"]
    df["decided_by"] = "U-own-rules"
    df["decision"] = np.where(df["grade"] == "quarantine", "quarantine: handle under the damaged-battery rules",
                              "grade as a unit")
    df["weakest_child_id"] = None
    parent = df["parent_battery_id"].astype(object).where(df["parent_battery_id"].notna(), None).to_numpy()
    index = {b: k for k, b in enumerate(df["battery_id"])}
    children: dict[str, list[int]] = {}
    for k, p in enumerate(parent):
        if p is not None and p in index:
            children.setdefault(str(p), []).append(k)
    grade = df["grade"].to_numpy(dtype=object, copy=True)
    rule = df["rule_id"].to_numpy(dtype=object, copy=True)
    decided = df["decided_by"].to_numpy(dtype=object, copy=True)
    decision = df["decision"].to_numpy(dtype=object, copy=True)
    weakest = df["weakest_child_id"].to_numpy(dtype=object, copy=True)
    soh_lo = df["soh_low_pct"].to_numpy(dtype=float)
    ids = df["battery_id"].to_numpy(dtype=object)
    levels = df["level"].to_numpy(dtype=object)
    order = sorted(children, key=lambda b: LEVEL_ORDER.index(levels[index[b]]) if levels[index[b]] in LEVEL_ORDER else 9)
    q = GRADE_RANK["quarantine"]
    for pid in order:
        k = index[pid]
        kids = children[pid]
        ranks = [GRADE_RANK[grade[c]] for c in kids]
        worst = kids[int(np.argmax(ranks))]
        weakest[k] = ids[kids[int(np.nanargmin(soh_lo[kids]))]] if np.isfinite(soh_lo[kids]).any() else None
        own = GRADE_RANK[grade[k]]
        if own == q:
            decided[k], decision[k] = "P1-own-quarantine", ("quarantine whole unit (own rule " + str(rule[k]) +
                                                             "); discharge and dismantle under damaged-battery rules")
        elif max(ranks) == q:
            grade[k], decided[k] = "quarantine", "P2-child-quarantine"
            decision[k] = (f"quarantine whole unit: child {ids[worst]} quarantined (rule {rule[worst]}); discharge "
                           "and dismantle under damaged-battery rules")
            rule[k] = rule[worst]
        elif min(ranks) == max(ranks):
            if max(ranks) > own:
                grade[k], rule[k] = grade[worst], rule[worst]
            decided[k], decision[k] = "P3-uniform", "grade as a whole"
        else:
            if max(ranks) > own:
                grade[k], rule[k] = grade[worst], rule[worst]
            decided[k] = "P4-mixed"
            decision[k] = "disassemble: children graded individually, regroup the good ones"
    # quarantine reaches everything inside a quarantined unit (top-down)
    for pid in reversed(order):
        k = index[pid]
        if grade[k] != "quarantine":
            continue
        for c in children[pid]:
            if grade[c] != "quarantine":
                grade[c], rule[c], decided[c] = "quarantine", "C1-inside-quarantined", "C1-inside-quarantined"
                decision[c] = f"quarantined inside {pid}: inspect on its own once dismantled"
    df["grade"], df["rule_id"], df["decided_by"], df["decision"] = grade, rule, decided, decision
    df["weakest_child_id"] = weakest
    changed = df["grade"] != df["own_grade"]
    df.loc[changed, "application"] = ""
    df.loc[changed, "explanation"] = (df.loc[changed, "grade"] + ": " + df.loc[changed, "decided_by"] + " ("
                                      + df.loc[changed, "decision"] + "); own grading: "
                                      + df.loc[changed, "explanation"])
    return df
