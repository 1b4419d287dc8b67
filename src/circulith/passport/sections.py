"""Static sections of the battery passport: composition, carbon footprint, recycled content,
dismantling, end-of-life information, labels, and a document received in a foreign format.

Part of :mod:`circulith.passport.model` (which re-exports every name here); kept apart so that each
module stays short. Field names are plain and unit-suffixed; every field maps to a row of
``reference/data/passport_attributes.csv``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CarbonFootprint",
    "Dismantling",
    "EndOfLifeInfo",
    "HazardousSubstance",
    "Label",
    "Materials",
    "PartNumber",
    "ReceivedDocument",
    "RecycledContent",
    "SparePartSource",
    "Strict",
    "cas_check_digit_ok",
]

_CAS = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")


class Strict(BaseModel):
    """Base of every passport model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


def cas_check_digit_ok(cas: str) -> bool:
    """Whether a CAS Registry Number has a valid check digit.

    The check digit is the sum of each digit times its position counted from the right
    (excluding the check digit), modulo 10 (CAS, "Check Digit Verification of CAS Registry
    Numbers"). Example: water 7732-18-5.
    """
    m = _CAS.match(cas.strip())
    if not m:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    total = sum((i + 1) * int(d) for i, d in enumerate(digits))
    return total % 10 == int(m.group(3))


class HazardousSubstance(Strict):
    """A hazardous substance in the battery (Annex VI Part A(8); longlist #34, #35).

    Parameters
    ----------
    name : str
        Substance name.
    cas_number : str
        CAS Registry Number; its check digit is verified.
    hazard_class : str
        Hazard class under Regulation (EC) No 1272/2008 (e.g. ``AcuteToxicity``).
    concentration_pct : float
        Concentration in the battery [% w/w].
    location : str
        Component holding it (e.g. ``Electrolyte``).
    impacts : list of str
        Impact on environment, human health, safety.
    """

    name: str = Field(min_length=1)
    cas_number: str
    hazard_class: str
    concentration_pct: float = Field(ge=0.0, le=100.0)
    location: str = "Battery"
    impacts: list[str] = Field(default_factory=list)

    @field_validator("cas_number")
    @classmethod
    def _cas(cls, v: str) -> str:
        v = v.strip()
        if not cas_check_digit_ok(v):
            raise ValueError(f"{v!r} is not a CAS Registry Number with a valid check digit")
        return v


class Materials(Strict):
    """Material composition (Annex XIII (1)(b) and (2)(a); longlist #32-#34).

    Masses [kg] are per battery. ``critical_raw_materials`` names the critical raw materials present
    above 0.1 % w/w (public); the masses and the cathode/anode/electrolyte materials are the
    "detailed composition" of Annex XIII (2)(a).
    """

    cobalt_kg: float | None = Field(default=None, ge=0.0)
    lithium_kg: float | None = Field(default=None, ge=0.0)
    nickel_kg: float | None = Field(default=None, ge=0.0)
    manganese_kg: float | None = Field(default=None, ge=0.0)
    natural_graphite_kg: float | None = Field(default=None, ge=0.0)
    lead_kg: float | None = Field(default=None, ge=0.0)
    critical_raw_materials: list[str] = Field(default_factory=list)
    cathode_materials: list[str] = Field(default_factory=list)
    anode_materials: list[str] = Field(default_factory=list)
    electrolyte_materials: list[str] = Field(default_factory=list)
    hazardous_substances: list[HazardousSubstance] = Field(default_factory=list)

    def element_masses_kg(self) -> dict[str, float]:
        """The element masses that are set, field name -> mass [kg]."""
        names = ("cobalt_kg", "lithium_kg", "nickel_kg", "manganese_kg", "natural_graphite_kg", "lead_kg")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class CarbonFootprint(Strict):
    """Carbon footprint declaration (Art. 7; Annex XIII (1)(c); longlist #19-#25, #27).

    Per-stage values are contributions per functional unit [kg CO2e/kWh of total energy over the
    service life]; the four stages of Annex II point 3 (use stage excluded) must add up to the total
    within 1 % when all four are given. ``end_of_life`` may be negative (recycling credit).
    """

    total_kg_co2e_per_kwh: float = Field(gt=0.0)
    raw_materials_kg_co2e_per_kwh: float | None = Field(default=None, ge=0.0)
    production_kg_co2e_per_kwh: float | None = Field(default=None, ge=0.0)
    distribution_kg_co2e_per_kwh: float | None = Field(default=None, ge=0.0)
    end_of_life_kg_co2e_per_kwh: float | None = None
    performance_class: str | None = None
    study_url: str | None = None
    absolute_t_co2e: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _stages_add_up(self) -> CarbonFootprint:
        stages = [
            self.raw_materials_kg_co2e_per_kwh,
            self.production_kg_co2e_per_kwh,
            self.distribution_kg_co2e_per_kwh,
            self.end_of_life_kg_co2e_per_kwh,
        ]
        if all(s is not None for s in stages):
            total = sum(s for s in stages if s is not None)
            if abs(total - self.total_kg_co2e_per_kwh) > 0.01 * self.total_kg_co2e_per_kwh + 1e-9:
                raise ValueError(
                    f"life-cycle stages add up to {total:.3f} kg CO2e/kWh but the total is "
                    f"{self.total_kg_co2e_per_kwh:.3f} (Annex II point 3: the four stages make the total)"
                )
        return self


_METALS = ("nickel", "cobalt", "lithium", "lead")


class RecycledContent(Strict):
    """Recycled and renewable content (Art. 8; Annex XIII (1)(e)-(f); longlist #40-#48).

    Shares are fractions [0..1] of the metal in active materials recovered from pre-consumer
    (manufacturing) or post-consumer waste; pre + post <= 1 per metal.
    """

    nickel_pre_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    nickel_post_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    cobalt_pre_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    cobalt_post_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    lithium_pre_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    lithium_post_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    lead_pre_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    lead_post_consumer_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    renewable_content_fraction: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _pre_plus_post(self) -> RecycledContent:
        for metal in _METALS:
            pre = getattr(self, f"{metal}_pre_consumer_fraction") or 0.0
            post = getattr(self, f"{metal}_post_consumer_fraction") or 0.0
            if pre + post > 1.0 + 1e-9:
                raise ValueError(f"{metal}: pre-consumer {pre:g} + post-consumer {post:g} exceed 1")
        return self


class PartNumber(Strict):
    """A component and its part number (Annex XIII (2)(b); longlist #37)."""

    part_name: str = Field(min_length=1)
    part_number: str = Field(min_length=1)


class SparePartSource(Strict):
    """A source of spare parts (Annex XIII (2)(b); longlist #38).

    ``part_numbers`` lists the part numbers (of :attr:`Dismantling.part_numbers`) it supplies.
    """

    name: str = Field(min_length=1)
    address: str | None = None
    email: str | None = None
    url: str | None = None
    part_numbers: list[str] = Field(default_factory=list)


class Dismantling(Strict):
    """Dismantling, spare parts and safety (Annex XIII (2)(b)-(d); longlist #36-#39)."""

    manual_urls: list[str] = Field(default_factory=list)
    part_numbers: list[PartNumber] = Field(default_factory=list)
    spare_part_sources: list[SparePartSource] = Field(default_factory=list)
    safety_measures_url: str | None = None


class EndOfLifeInfo(Strict):
    """End-user information on waste prevention and collection (Art. 74(1)(a)-(c); longlist #49-#51)."""

    waste_prevention_url: str | None = None
    separate_collection_url: str | None = None
    collection_info_url: str | None = None


class Label(Strict):
    """A label or symbol on the battery and its meaning (Annex XIII (1)(s); longlist #12-#14, #16)."""

    subject: Literal["separate_collection", "cadmium_lead", "carbon_footprint", "extinguishing_agent"]
    symbol_url: str
    meaning: str = ""


class ReceivedDocument(Strict):
    """A passport document as received in a foreign format, kept so that nothing it held is lost.

    The passport's own fields hold what circulith can represent; this keeps the document as given,
    so that an export in the same format writes back every value the passport has not changed
    (:mod:`circulith.passport.formats`).

    Parameters
    ----------
    format : str
        Format name (``batterypass``, ``catenax``, ``aas``).
    version : str
        Version of the format the document declares or was read as.
    document : dict
        The document as parsed from JSON.
    """

    format: str = Field(min_length=1)
    version: str = ""
    document: dict[str, Any]
