"""The battery passport: pydantic models for Regulation (EU) 2023/1542, Art. 77 and Annex XIII.

Field names are plain, unit-suffixed and ours (no Battery Pass misspellings). Every field maps to a
row of ``reference/data/passport_attributes.csv`` (longlist number, regulation reference, Annex XIII
access right, unit); :mod:`circulith.passport.attributes` loads that table.

Validation is strict and names the field and the reason. Plausibility limits that are engineering
judgement, not law, are marked *assumption* in :data:`PLAUSIBILITY`.

Use :func:`parse_passport` to build a passport from untrusted data: it turns pydantic's errors into
:class:`circulith.errors.InvalidInput` with one :class:`~circulith.errors.Problem` per fault.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from circulith.errors import InvalidInput, Problem
from circulith.passport.chemistry import read_chemistry_windows
from circulith.passport.sections import (
    CarbonFootprint,
    Dismantling,
    EndOfLifeInfo,
    HazardousSubstance,
    Label,
    Materials,
    PartNumber,
    ReceivedDocument,
    RecycledContent,
    SparePartSource,
    Strict,
    cas_check_digit_ok,
)

__all__ = [
    "PLAUSIBILITY",
    "Accident",
    "CarbonFootprint",
    "Dismantling",
    "DynamicCondition",
    "DynamicValue",
    "EndOfLifeInfo",
    "HazardousSubstance",
    "Label",
    "Materials",
    "Party",
    "Passport",
    "PartNumber",
    "ReceivedDocument",
    "RecycledContent",
    "SparePartSource",
    "battery_key",
    "cas_check_digit_ok",
    "parse_passport",
    "validation_problems",
]

#: Plausibility limits used by validation. All are engineering assumptions (not legal limits),
#: chosen wide enough to pass every real battery we know and narrow enough to catch unit slips
#: (g for kg, Wh for kWh, mV for V).
PLAUSIBILITY: dict[str, float] = {
    # assumption: a single cell weighs at least 1 g; a containerised stationary system at most 60 t
    "mass_min_kg": 0.001,
    "mass_max_kg": 60_000.0,
    # assumption: stated energy per mass may not exceed 1.5x the chemistry's typical *cell* value
    # (packs and modules are always below cell level; the margin covers best-in-class cells)
    "specific_energy_margin": 1.5,
    # assumption: rated energy within +-20 % of rated capacity x nominal voltage
    "energy_consistency_rel": 0.20,
    # assumption: per-cell minimum voltage >= 95 % of the chemistry's cut-off, per-cell maximum
    # <= 103 % of its full-charge voltage, per-cell nominal within +-15 % of the catalogue value
    "cell_min_voltage_rel": 0.95,
    "cell_max_voltage_rel": 1.03,
    "cell_nominal_voltage_rel": 0.15,
    # assumption: a DynamicValue may be stamped at most 1 day ahead of the clock (clock skew)
    "future_skew_h": 24.0,
    # assumption: remaining capacity/energy may exceed the rated value by at most 20 %
    "remaining_over_rated_rel": 0.20,
}

_YEAR_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_year_month(value: str, what: str) -> str:
    m = _YEAR_MONTH.match(value)
    if not m:
        raise ValueError(f"{what} must be year and month 'YYYY-MM' (Annex VI Part A(4)), got {value!r}")
    year, month = int(m.group(1)), int(m.group(2))
    now = _utc_now()
    if year < 1990:
        raise ValueError(f"{what} {value!r} is before 1990: not a lithium-era traction battery")
    if (year, month) > (now.year, now.month):
        raise ValueError(f"{what} {value!r} lies in the future (today is {now:%Y-%m})")
    return value


#: A manufacturer's plain serial number as product identifier (Annex VI Part A(1) asks for an
#: identifier, not for a scheme): letters, digits and ``. _ - / #``, no scheme separator, no space.
_PLAIN_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/#-]{0,127}$")
_GBT_SHAPED = re.compile(r"^[0-9A-Z]{24}$")


def _canonical_or_value_error(text: str, *, plain_serial: bool = False) -> str:
    from circulith.passport.identifiers import canonical

    try:
        return canonical(text)
    except InvalidInput as exc:
        if plain_serial and _PLAIN_SERIAL.match(text) and not _GBT_SHAPED.match(text):
            return text  # kept as given: a plain serial has no canonical form to normalise to
        raise ValueError(exc.problems[0].reason) from None


def battery_key(text: str) -> str:
    """The key a battery identifier is stored and resolved by: its canonical form, or a plain serial as given.

    Raises
    ------
    InvalidInput
        Neither a recognised identifier nor a plain serial number.
    """
    try:
        return _canonical_or_value_error(text, plain_serial=True)
    except ValueError as exc:
        raise InvalidInput(Problem(None, "identifier", f"{text!r}: {exc}")) from None


def plausibility(info: ValidationInfo, findings: list[str], *, foreign: bool) -> list[str]:
    """Plausibility findings to raise now: none when they are warnings.

    The engineering plausibility checks (:data:`PLAUSIBILITY`, all assumptions, not law) refuse a
    circulith record. A passport received in a foreign format (``received`` set) is held to that
    format's schema and the Regulation only, which set no such limits: its findings are warnings,
    appended to ``context["plausibility"]`` when the caller of ``model_validate`` passes a list.
    """
    sink = info.context.get("plausibility") if isinstance(info.context, dict) else None
    if isinstance(sink, list):
        sink.extend(findings)
    return [] if foreign else findings


class _Strict(Strict):
    """Passport models of this module (see :class:`~circulith.passport.sections.Strict`)."""


class Party(_Strict):
    """An economic operator or manufacturer (Annex XIII longlist #3, #4).

    Parameters
    ----------
    id : str
        Identifier of the party (e.g. EORI, LEI, VAT or a GS1 GLN).
    name : str
        Registered name.
    address : str or None
        Postal address, one line.
    contact : str or None
        E-mail address, telephone or web address.
    """

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    address: str | None = None
    contact: str | None = None


class DynamicValue(_Strict):
    """A measured value with the UTC time it was last updated.

    Parameters
    ----------
    value : float or int or None
        The value, in the unit of the field that holds it.
    updated_at : datetime
        When it was measured; must carry a timezone, stored in UTC.
    """

    value: float | int | None
    updated_at: AwareDatetime

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | int | None) -> float | int | None:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"value must be a finite number, got {v!r}")
        return v

    @field_validator("updated_at")
    @classmethod
    def _to_utc(cls, v: dt.datetime) -> dt.datetime:
        v = v.astimezone(dt.UTC)
        if v > _utc_now() + dt.timedelta(hours=PLAUSIBILITY["future_skew_h"]):
            raise ValueError(f"updated_at {v.isoformat()} lies in the future")
        return v


class Accident(_Strict):
    """A negative event in the battery's use (Annex XIII (4)(d); longlist #93).

    Parameters
    ----------
    date : date
        Day of the event.
    kind : {"thermal", "crash", "water", "mechanical", "electrical", "other"}
        Kind of event.
    description : str
        What happened, in words.
    """

    date: dt.date
    kind: Literal["thermal", "crash", "water", "mechanical", "electrical", "other"]
    description: str = ""

    @field_validator("date")
    @classmethod
    def _not_future(cls, v: dt.date) -> dt.date:
        if v > _utc_now().date():
            raise ValueError(f"accident date {v.isoformat()} lies in the future")
        return v


#: DynamicCondition field -> (lower bound, upper bound, integer?) on DynamicValue.value. Bounds are
#: physical (counts and durations are non-negative, SoC is 0..100 %) except the SOH ceiling of
#: 120 % and the resistance-increase floor of -50 % (assumptions: fresh cells can test above rated).
_DYNAMIC_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "soh_pct": (0.0, 120.0, False),
    "remaining_capacity_ah": (0.0, math.inf, False),
    "remaining_energy_kwh": (0.0, math.inf, False),
    "remaining_power_w": (0.0, math.inf, False),
    "full_cycles": (0.0, math.inf, False),
    "energy_throughput_kwh": (0.0, math.inf, False),
    "capacity_throughput_ah": (0.0, math.inf, False),
    "deep_discharge_events": (0.0, math.inf, True),
    "overcharge_events": (0.0, math.inf, True),
    "time_above_max_temp_h": (0.0, math.inf, False),
    "time_below_min_temp_h": (0.0, math.inf, False),
    "time_charging_above_max_temp_h": (0.0, math.inf, False),
    "time_charging_below_min_temp_h": (0.0, math.inf, False),
    "internal_resistance_increase_pct": (-50.0, 10_000.0, False),
    "soc_pct": (0.0, 100.0, False),
    "round_trip_efficiency_pct": (0.0, 100.0, False),
    "self_discharge_pct_per_month": (0.0, 100.0, False),
}


class DynamicCondition(_Strict):
    """State and use of the individual battery (Annex XIII (4); Annex VII Part B).

    Every field is an optional :class:`DynamicValue`; units are in the names (``_pct`` [%],
    ``_ah`` [Ah], ``_kwh`` [kWh], ``_w`` [W], ``_h`` [h]; counts are plain integers).
    ``soh_pct`` is the state of health (for EV batteries the state of certified energy, SOCE).
    """

    soh_pct: DynamicValue | None = None
    remaining_capacity_ah: DynamicValue | None = None
    remaining_energy_kwh: DynamicValue | None = None
    remaining_power_w: DynamicValue | None = None
    full_cycles: DynamicValue | None = None
    energy_throughput_kwh: DynamicValue | None = None
    capacity_throughput_ah: DynamicValue | None = None
    deep_discharge_events: DynamicValue | None = None
    overcharge_events: DynamicValue | None = None
    time_above_max_temp_h: DynamicValue | None = None
    time_below_min_temp_h: DynamicValue | None = None
    time_charging_above_max_temp_h: DynamicValue | None = None
    time_charging_below_min_temp_h: DynamicValue | None = None
    internal_resistance_increase_pct: DynamicValue | None = None
    soc_pct: DynamicValue | None = None
    round_trip_efficiency_pct: DynamicValue | None = None
    self_discharge_pct_per_month: DynamicValue | None = None
    accidents: list[Accident] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounds(self) -> DynamicCondition:
        for name in _DYNAMIC_BOUNDS:
            dv: DynamicValue | None = getattr(self, name)
            if dv is None or dv.value is None:
                continue
            problem = dynamic_value_problem(name, dv.value)
            if problem is not None:
                raise ValueError(f"{name}: {problem}")
        return self


DYNAMIC_VALUE_NAMES: frozenset[str] = frozenset(_DYNAMIC_BOUNDS)
"""Names of the numeric dynamic values (the fields of :class:`DynamicCondition` except ``accidents``)."""
DYNAMIC_VALUE_BOUNDS: Mapping[str, tuple[float, float, bool]] = MappingProxyType(_DYNAMIC_BOUNDS)
"""Each dynamic value's (lower bound, upper bound, integer?), read only (what :func:`dynamic_value_problem` checks)."""
ACCIDENT_KINDS: tuple[str, ...] = ("thermal", "crash", "water", "mechanical", "electrical", "other")
"""Kinds of :class:`Accident`."""


def dynamic_value_problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot be the dynamic value ``name``, or None when it can (the check of every write).

    Parameters
    ----------
    name : str
        A field of :class:`DynamicCondition` (see :data:`_DYNAMIC_BOUNDS` for its range and unit).
    value : object
        The submitted value (in the field's unit).

    Returns
    -------
    str or None
        The reason, naming the range, or None for a valid value.
    """
    lo, hi, integer = _DYNAMIC_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__} {str(value)[:40]!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if integer and float(value) != int(value):
        return f"a count must be a whole number, got {value!r}"
    if not lo <= value <= hi:
        return f"{value!r} is outside the plausible range [{lo:g}, {hi:g}]"
    return None


def readable_dynamic(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Stored dynamic values split into those that validate and the names of those that do not.

    Readers call this before validating a stored passport, so that a value that somehow fails
    validation (recorded before the checks at write existed) is shown as invalid, never fatal.

    Returns
    -------
    (dict, list of str)
        The valid values (a :class:`DynamicCondition` accepts them) and the invalid fields' names.
    """
    valid: dict[str, Any] = {}
    invalid: list[str] = []
    for name, item in raw.items():
        try:
            DynamicCondition.model_validate({name: item})
        except ValidationError:
            invalid.append(name)
            continue
        valid[name] = item
    return valid, sorted(invalid)


class Passport(_Strict):
    """The battery passport of one battery, pack, module or cell (Art. 77; Annex XIII).

    Identity keys (``passport_id``, ``battery_id``, ``identifiers``, ``parent_battery_id``,
    ``predecessor_passport_id``) are stored in canonical form (see
    :func:`circulith.passport.identifiers.canonical`); the store resolves identifiers by it.
    Units are in the field names. See ``reference/data/passport_attributes.csv`` for the longlist
    number, regulation reference and access right of every field.
    """

    passport_id: str
    battery_id: str
    identifiers: list[str] = Field(default_factory=list)
    level: Literal["pack", "module", "cell"]
    parent_battery_id: str | None = None
    predecessor_passport_id: str | None = None
    category: Literal["EV", "LMT", "industrial", "stationary", "SLI", "portable"]
    chemistry: str
    model: str = Field(min_length=1)
    manufacturer: Party
    operator: Party
    manufacturing_place: str = Field(min_length=1)
    manufacturing_date: str
    putting_into_service_date: str | None = None
    status: Literal["original", "repurposed", "reused", "remanufactured", "waste"] = "original"
    mass_kg: float
    rated_capacity_ah: float
    rated_energy_kwh: float
    nominal_voltage_v: float
    min_voltage_v: float
    max_voltage_v: float
    original_power_w: float | None = Field(default=None, gt=0.0)
    max_permitted_power_w: float | None = Field(default=None, gt=0.0)
    internal_resistance_ohm: float | None = Field(default=None, gt=0.0)
    expected_lifetime_years: float | None = Field(default=None, gt=0.0, le=100.0)
    expected_lifetime_cycles: int | None = Field(default=None, gt=0)
    warranty_years: float | None = Field(default=None, ge=0.0, le=100.0)
    cycle_life_reference_test: str | None = None
    c_rate_cycle_life_test: float | None = Field(default=None, gt=0.0)
    capacity_threshold_for_exhaustion_pct: float | None = Field(default=None, gt=0.0, lt=100.0)
    temperature_idle_min_c: float | None = Field(default=None, ge=-100.0, le=150.0)
    temperature_idle_max_c: float | None = Field(default=None, ge=-100.0, le=150.0)
    initial_round_trip_efficiency_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    round_trip_efficiency_at_50pct_cycle_life_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    initial_self_discharge_pct_per_month: float | None = Field(default=None, ge=0.0, le=100.0)
    materials: Materials = Field(default_factory=Materials)
    carbon_footprint: CarbonFootprint | None = None
    recycled_content: RecycledContent | None = None
    dismantling: Dismantling | None = None
    end_of_life: EndOfLifeInfo | None = None
    extinguishing_agent: list[str] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)
    due_diligence_report_url: str | None = None
    declaration_of_conformity_url: str | None = None
    test_report_url: str | None = None
    dynamic: DynamicCondition = Field(default_factory=DynamicCondition)
    received: ReceivedDocument | None = None

    # -- identity keys --------------------------------------------------------------------------
    @field_validator("passport_id", "parent_battery_id", "predecessor_passport_id")
    @classmethod
    def _canonical_id(cls, v: str | None) -> str | None:
        if v is None:
            return None
        return _canonical_or_value_error(v)

    @field_validator("battery_id")
    @classmethod
    def _battery_id(cls, v: str) -> str:
        return _canonical_or_value_error(v, plain_serial=True)

    @field_validator("identifiers")
    @classmethod
    def _canonical_ids(cls, v: list[str]) -> list[str]:
        out = [_canonical_or_value_error(x) for x in v]
        dupes = sorted({x for x in out if out.count(x) > 1})
        if dupes:
            raise ValueError(f"identifiers repeat: {', '.join(dupes)}")
        return out

    @field_validator("chemistry")
    @classmethod
    def _known_chemistry(cls, v: str) -> str:
        windows = read_chemistry_windows()
        if v not in windows:
            raise ValueError(f"unknown chemistry {v!r}; known codes: {', '.join(windows)}")
        return v

    @field_validator("manufacturing_date")
    @classmethod
    def _manufacturing_date(cls, v: str) -> str:
        return _check_year_month(v, "manufacturing_date")

    @field_validator("putting_into_service_date")
    @classmethod
    def _service_date(cls, v: str | None) -> str | None:
        return None if v is None else _check_year_month(v, "putting_into_service_date")

    @field_validator("mass_kg")
    @classmethod
    def _mass(cls, v: float) -> float:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"mass {v!r} kg is outside the plausible range: a mass is a positive finite number")
        return v

    @field_validator(
        "rated_capacity_ah", "rated_energy_kwh", "nominal_voltage_v", "min_voltage_v", "max_voltage_v"
    )
    @classmethod
    def _positive(cls, v: float) -> float:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"must be a positive finite number, got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistency(self, info: ValidationInfo) -> Passport:
        problems: list[str] = []
        ids = {self.battery_id, *self.identifiers}
        if self.battery_id in self.identifiers:
            problems.append("identifiers: repeats battery_id; list only the other identifiers")
        if self.parent_battery_id is not None and self.parent_battery_id in ids:
            problems.append("parent_battery_id: a battery cannot be its own parent")
        if self.level == "pack" and self.parent_battery_id is not None:
            problems.append("parent_battery_id: a pack has no parent battery (modules and cells do)")
        if self.predecessor_passport_id is not None and self.predecessor_passport_id == self.passport_id:
            problems.append("predecessor_passport_id: a passport cannot succeed itself")
        if self.predecessor_passport_id is not None and self.status == "original":
            problems.append(
                "predecessor_passport_id: an 'original' battery has no predecessor passport "
                "(Art. 77(7) applies to repurposed or remanufactured batteries)"
            )
        foreign = self.received is not None
        lo, hi = PLAUSIBILITY["mass_min_kg"], PLAUSIBILITY["mass_max_kg"]
        if not lo <= self.mass_kg <= hi:
            problems += plausibility(
                info, [f"mass_kg: mass {self.mass_kg!r} kg is outside the plausible range [{lo:g}, {hi:g}] kg"],
                foreign=foreign)
        vmin, vnom, vmax = self.min_voltage_v, self.nominal_voltage_v, self.max_voltage_v
        if not vmin < vnom < vmax:
            problems.append(f"voltages: need min < nominal < max, got {vmin:g} V, {vnom:g} V, {vmax:g} V")
        else:
            problems += plausibility(info, self._voltage_problems(), foreign=foreign)
        problems += plausibility(info, self._energy_problems(), foreign=foreign)
        tmin, tmax = self.temperature_idle_min_c, self.temperature_idle_max_c
        if tmin is not None and tmax is not None and tmin >= tmax:
            problems.append("temperature_idle_min_c: must be below temperature_idle_max_c")
        if (
            self.putting_into_service_date is not None
            and self.putting_into_service_date < self.manufacturing_date
        ):
            problems.append("putting_into_service_date: precedes manufacturing_date")
        masses = self.materials.element_masses_kg()
        if sum(masses.values()) > self.mass_kg:
            problems.append(
                f"materials: element masses add up to {sum(masses.values()):.3f} kg, "
                f"more than the battery mass {self.mass_kg:g} kg"
            )
        problems += plausibility(info, self._remaining_over_rated(), foreign=foreign)
        problems += self._accident_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _voltage_problems(self) -> list[str]:
        out: list[str] = []
        vmin, vnom, vmax = self.min_voltage_v, self.nominal_voltage_v, self.max_voltage_v
        w = read_chemistry_windows()[self.chemistry]
        n = max(1, round(vnom / w.cell_nominal_voltage_v))
        per_nom, per_min, per_max = vnom / n, vmin / n, vmax / n
        p = PLAUSIBILITY
        where = f"for {n} {self.chemistry} cell(s) in series"
        if abs(per_nom - w.cell_nominal_voltage_v) > p["cell_nominal_voltage_rel"] * w.cell_nominal_voltage_v:
            out.append(
                f"nominal_voltage_v: {vnom:g} V is {per_nom:.2f} V per cell {where}; "
                f"the chemistry's cell nominal is {w.cell_nominal_voltage_v:g} V"
            )
        if per_min < p["cell_min_voltage_rel"] * w.cell_min_voltage_v:
            out.append(
                f"min_voltage_v: {vmin:g} V is {per_min:.2f} V per cell {where}, below the "
                f"chemistry's cut-off {w.cell_min_voltage_v:g} V"
            )
        if per_max > p["cell_max_voltage_rel"] * w.cell_max_voltage_v:
            out.append(
                f"max_voltage_v: {vmax:g} V is {per_max:.2f} V per cell {where}, above the "
                f"chemistry's full-charge voltage {w.cell_max_voltage_v:g} V"
            )
        return out

    def _energy_problems(self) -> list[str]:
        out: list[str] = []
        w = read_chemistry_windows()[self.chemistry]
        expected_kwh = self.rated_capacity_ah * self.nominal_voltage_v / 1000.0
        rel = PLAUSIBILITY["energy_consistency_rel"]
        if abs(self.rated_energy_kwh - expected_kwh) > rel * expected_kwh:
            out.append(
                f"rated_energy_kwh: {self.rated_energy_kwh:g} kWh disagrees with rated capacity x nominal "
                f"voltage = {expected_kwh:.3f} kWh by more than {rel:.0%}"
            )
        wh_per_kg = self.rated_energy_kwh * 1000.0 / self.mass_kg
        ceiling = PLAUSIBILITY["specific_energy_margin"] * w.cell_specific_energy_wh_per_kg
        if wh_per_kg > ceiling:
            out.append(
                f"mass_kg: {self.rated_energy_kwh:g} kWh in {self.mass_kg:g} kg is {wh_per_kg:.0f} Wh/kg, above "
                f"the plausible {ceiling:.0f} Wh/kg for {self.chemistry} (check the units of mass and energy)"
            )
        return out

    def _remaining_over_rated(self) -> list[str]:
        out: list[str] = []
        margin = 1.0 + PLAUSIBILITY["remaining_over_rated_rel"]
        rc = self.dynamic.remaining_capacity_ah
        if rc is not None and rc.value is not None and rc.value > margin * self.rated_capacity_ah:
            out.append(
                f"dynamic.remaining_capacity_ah: {rc.value:g} Ah exceeds rated {self.rated_capacity_ah:g} Ah"
            )
        re_ = self.dynamic.remaining_energy_kwh
        if re_ is not None and re_.value is not None and re_.value > margin * self.rated_energy_kwh:
            out.append(
                f"dynamic.remaining_energy_kwh: {re_.value:g} kWh exceeds rated {self.rated_energy_kwh:g} kWh"
            )
        return out

    def _accident_problems(self) -> list[str]:
        return [
            f"dynamic.accidents: accident on {acc.date.isoformat()} precedes manufacture"
            for acc in self.dynamic.accidents
            if acc.date.strftime("%Y-%m") < self.manufacturing_date
        ]

    def all_identifiers(self) -> list[str]:
        """The canonical identifiers of this battery: ``battery_id`` first, then the others."""
        return [self.battery_id, *self.identifiers]


def parse_passport(data: dict[str, Any], *, row: int | None = None, source: str | None = None) -> Passport:
    """Build a :class:`Passport` from untrusted data, raising :class:`InvalidInput` on any fault.

    Parameters
    ----------
    data : dict
        Passport fields (as from JSON).
    row : int or None
        1-based record number in the input, for the messages.
    source : str or None
        Name of the input (file name), for the messages.

    Raises
    ------
    InvalidInput
        One :class:`~circulith.errors.Problem` per fault, naming the field (dotted path) and reason.
    """
    try:
        return Passport.model_validate(data)
    except ValidationError as exc:
        record_id = None
        if isinstance(data, dict):
            record_id = data.get("battery_id") or data.get("passport_id")
            record_id = str(record_id) if record_id is not None else None
        raise InvalidInput(validation_problems(exc, row=row, record_id=record_id), source=source) from None


def validation_problems(
    exc: ValidationError, *, row: int | None = None, record_id: str | None = None
) -> list[Problem]:
    """Turn a pydantic :class:`ValidationError` into circulith problems (field = dotted path)."""
    problems: list[Problem] = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        problems.append(Problem(row, field, msg, record_id))
    return problems
