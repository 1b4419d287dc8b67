"""Plant lots and chain of custody (pure part): input, shred/black-mass and product lots.

The storage layer records these as ledger events: every model has ``to_payload()`` (a JSON-safe dict
with a ``lot_type`` discriminator) and ``from_payload()``; :func:`lot_from_payload` rebuilds any lot.

* :class:`InputLot` — which batteries (ids, chemistry, form, mass) entered a plant.
* :class:`IntermediateLot` — a shred or black-mass lot made from input lots, with its assay.
* :class:`ProductLot` — a product or by-product lot (salt, alloy, foil, cathode...) made from lots.
* :func:`check_assay` — an intermediate lot's assay against its input lots (clear error if inconsistent).
* :func:`lot_yields` — element yields, energy and emissions of a set of lots.
* :func:`allocate_recycled_content` — mass-balance allocation of recycled Co, Li, Ni to new batteries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from circulith.errors import InvalidInput, Problem
from circulith.recovery.black_mass import form_composition_table
from circulith.recovery.composition import DECLARED_METALS, check_chemistry
from circulith.recovery.species import ELEMENT_CONTENT, ELEMENTS, mass_fractions

_EL = {e: i for i, e in enumerate(ELEMENTS)}
#: Elements that a recycler's product lots can carry from the batteries.
BATTERY_ELEMENTS = ("Li", "Ni", "Co", "Mn", "Al", "Fe", "P", "Ti", "Na", "Cu", "C")
#: Product formulae known by commodity name (their element content is computed, not declared).
PRODUCT_FORMULAE = {
    "Li2CO3": "Li2CO3", "LiOH.H2O": "LiOH.H2O", "NiSO4.6H2O": "NiSO4.6H2O", "CoSO4.7H2O": "CoSO4.7H2O",
    "MnSO4.H2O": "MnSO4.H2O", "Ni": "Ni", "Co": "Co", "Mn": "Mn", "Cu": "Cu", "Al": "Al", "graphite": "C",
}


class _Lot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lot_id: str = Field(min_length=1)
    plant_id: str = Field(min_length=1)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for a ledger event (includes ``lot_type``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> _Lot:
        """Rebuild the lot from :meth:`to_payload`'s output; invalid payloads raise :class:`InvalidInput`."""
        try:
            return cls.model_validate(dict(payload))
        except ValidationError as e:
            raise _invalid(e, payload) from None


def _invalid(e: ValidationError, payload: Mapping[str, Any]) -> InvalidInput:
    rid = str(payload.get("lot_id")) if isinstance(payload, Mapping) and payload.get("lot_id") else None
    return InvalidInput([Problem(None, ".".join(str(p) for p in err["loc"]), err["msg"], rid) for err in e.errors()])


class LotItem(BaseModel):
    """One battery in an input lot; declared metals [kg] override the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_id: str = Field(min_length=1)
    chemistry: str
    form: Literal["cell", "module", "pack", "black_mass"] = "pack"
    mass_kg: float = Field(ge=0)
    energy_kwh: float | None = Field(default=None, ge=0)
    declared_kg: dict[str, float] = Field(default_factory=dict)

    @field_validator("chemistry")
    @classmethod
    def _chem(cls, v: str) -> str:
        check_chemistry(v)
        return v

    @field_validator("declared_kg")
    @classmethod
    def _declared(cls, v: dict[str, float]) -> dict[str, float]:
        for el, kg in v.items():
            if el not in DECLARED_METALS:
                raise ValueError(f"declared metals may be {', '.join(DECLARED_METALS)}, not '{el}'")
            if kg < 0:
                raise ValueError(f"declared {el} must not be negative")
        return v


class InputLot(_Lot):
    """Batteries received into a plant as one lot."""

    lot_type: Literal["input"] = "input"
    received_on: dt.date
    items: list[LotItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> InputLot:
        ids = [i.battery_id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("a battery appears twice in the lot")
        return self

    @property
    def mass_kg(self) -> float:
        """Total mass [kg]."""
        return float(sum(i.mass_kg for i in self.items))

    def element_kg(self) -> dict[str, float]:
        """Element masses [kg] in the lot (catalogue compositions, passport-declared metals applied)."""
        return dict(zip(ELEMENTS, self.element_vector(), strict=True))

    def element_vector(self) -> np.ndarray:
        """Element masses [kg] as an array in :data:`ELEMENTS` order."""
        from circulith.recovery.composition import apply_declared_metals

        table, codes = form_composition_table()
        forms = ("cell", "module", "pack", "black_mass")
        total = np.zeros(len(ELEMENTS))
        for it in self.items:
            x = table[codes.index(it.chemistry), forms.index(it.form)] * it.mass_kg
            if it.declared_kg:
                x = apply_declared_metals(x, it.declared_kg, record_id=it.battery_id)
            total += x @ ELEMENT_CONTENT
        return total

    def energy_kwh(self) -> float:
        """Nominal energy [kWh]: declared per item, else mass × specific energy of the chemistry."""
        from circulith.recovery.composition import chemistries

        chems = chemistries()
        total = 0.0
        for it in self.items:
            if it.energy_kwh is not None:
                total += it.energy_kwh
            elif it.form == "cell":
                total += it.mass_kg * chems[it.chemistry].cell_specific_energy_wh_per_kg / 1000
            elif it.form in ("pack", "module"):
                total += it.mass_kg * chems[it.chemistry].pack_specific_energy_wh_per_kg / 1000
        return total


#: Elements a product's formula carries that come from the process reagents, not from the batteries: the
#: carbon of lithium carbonate is the carbonate of the Na2CO3 precipitant (Regulation (EU) 2023/1542, Annex XII
#: Part B counts only the battery materials recovered; Delegated Regulation (EU) 2025/606 excludes substances
#: added in the process from the output). Left out of :meth:`ProductLot.element_kg` and of formula defaults.
REAGENT_ELEMENTS: dict[str, frozenset[str]] = {"Li2CO3": frozenset({"C"})}


class _Processed(_Lot):
    """What intermediate and product lots share: date, sources, mass, utilities, reagents.

    ``assay_uncertainty_rel`` [fraction] is the relative uncertainty of the lot's assay (or declared
    content) as its laboratory states it; conservation checks allow it (default: ``lot_accounting.csv``).
    """

    produced_on: dt.date
    source_lot_ids: list[str] = Field(min_length=1)
    mass_kg: float = Field(ge=0)
    electricity_kwh: float = Field(default=0.0, ge=0)
    natural_gas_mj: float = Field(default=0.0, ge=0)
    water_m3: float = Field(default=0.0, ge=0)
    direct_co2_kg: float = Field(default=0.0, ge=0)
    reagents_kg: dict[str, float] = Field(default_factory=dict)
    assay_uncertainty_rel: float | None = Field(default=None, ge=0, le=0.5)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict (includes ``lot_type``; unstated optional fields are left out, as before they existed)."""
        d = self.model_dump(mode="json")
        if d.get("assay_uncertainty_rel") is None:
            d.pop("assay_uncertainty_rel", None)
        if d.get("output") == "product":
            d.pop("output", None)
        return d


class IntermediateLot(_Processed):
    """A shred or black-mass lot with its laboratory assay [kg element / kg lot]."""

    lot_type: Literal["intermediate"] = "intermediate"
    kind: Literal["shred", "black_mass"] = "black_mass"
    assay: dict[str, float] = Field(default_factory=dict)

    @field_validator("assay")
    @classmethod
    def _assay(cls, v: dict[str, float]) -> dict[str, float]:
        for el, f in v.items():
            if el not in BATTERY_ELEMENTS + ("O", "F"):
                raise ValueError(f"unknown assay element '{el}'")
            if not 0 <= f <= 1:
                raise ValueError(f"assay of {el} must be a mass fraction within 0..1, got {f}")
        if sum(v.values()) > 1 + 1e-6:
            raise ValueError(f"assay fractions sum to {sum(v.values()):.4f} > 1")
        return v

    def element_kg(self) -> dict[str, float]:
        """Assayed element masses [kg]."""
        return {el: f * self.mass_kg for el, f in self.assay.items()}


class ProductLot(_Processed):
    """A product or by-product lot leaving the plant.

    ``element_content`` [kg element / kg product] defaults to the formula of known commodities
    (``Li2CO3``, ``NiSO4.6H2O``...); alloys, cathodes and scraps must declare it (their assay).
    ``counts_as_recycling`` is False for lots sent to energy recovery, backfilling or disposal.
    ``output`` says what the lot is: a product or by-product, a residue (slag, filter cake, leach residue,
    off-gas capture) or a declared loss (emissions, dust); residues and losses never count as recycling
    but close the element balance.
    """

    lot_type: Literal["product"] = "product"
    commodity: str
    route: str | None = None
    element_content: dict[str, float] = Field(default_factory=dict)
    counts_as_recycling: bool = True
    output: Literal["product", "by_product", "residue", "loss"] = "product"

    @model_validator(mode="after")
    def _content(self) -> ProductLot:
        if self.output in ("residue", "loss") and self.counts_as_recycling:
            object.__setattr__(self, "counts_as_recycling", False)  # slag, filter cake, off-gas: never recycled
        if not self.element_content:
            formula = PRODUCT_FORMULAE.get(self.commodity)
            if formula is None:
                raise ValueError(f"commodity '{self.commodity}' needs an element_content (assay)")
            reagent = REAGENT_ELEMENTS.get(self.commodity, frozenset())
            object.__setattr__(self, "element_content", {k: v for k, v in mass_fractions(formula).items()
                                                          if k in BATTERY_ELEMENTS and k not in reagent})
        for el, f in self.element_content.items():
            if el not in BATTERY_ELEMENTS:
                raise ValueError(f"element_content may list battery elements only, not '{el}'")
            if not 0 <= f <= 1:
                raise ValueError(f"element_content of {el} must be within 0..1")
        return self

    def element_kg(self) -> dict[str, float]:
        """Battery-origin element masses [kg] in the lot (reagent-derived elements left out)."""
        reagent = REAGENT_ELEMENTS.get(self.commodity, frozenset())
        return {el: f * self.mass_kg for el, f in self.element_content.items() if el not in reagent}


AnyLot = InputLot | IntermediateLot | ProductLot
_LOT_TYPES: dict[str, type[_Lot]] = {"input": InputLot, "intermediate": IntermediateLot, "product": ProductLot}


def lot_from_payload(payload: Mapping[str, Any]) -> AnyLot:
    """Rebuild any lot from its payload (dispatch on ``lot_type``)."""
    cls = _LOT_TYPES.get(str(payload.get("lot_type")))
    if cls is None:
        raise InvalidInput(Problem(None, "lot_type", f"unknown lot_type '{payload.get('lot_type')}'; use "
                                   f"{', '.join(_LOT_TYPES)}", str(payload.get("lot_id") or "") or None))
    return cls.from_payload(payload)  # type: ignore[return-value]


def check_assay(lot: IntermediateLot, inputs: Sequence[InputLot], *, rel_tolerance: float = 0.35,
                abs_tolerance: float = 0.005) -> None:
    """Check an intermediate lot's assay against the input lots it claims to come from.

    Raises :class:`InvalidInput` (one problem per inconsistency) when
    * a source lot is missing from ``inputs``;
    * the lot weighs more than its inputs;
    * it contains more of an element than its inputs did;
    * for black mass, an assayed fraction differs from the fraction expected from the inputs' catalogue
      composition after the default pretreatment by more than ``rel_tolerance`` (relative) and
      ``abs_tolerance`` (absolute) — e.g. an LFP assay on an NMC lot.
    """
    by_id = {i.lot_id: i for i in inputs}
    problems: list[Problem] = []
    missing = [s for s in lot.source_lot_ids if s not in by_id]
    for s in missing:
        problems.append(Problem(None, "source_lot_ids", f"input lot '{s}' not given", lot.lot_id))
    if missing:
        raise InvalidInput(problems)
    srcs = [by_id[s] for s in lot.source_lot_ids]
    mass_in = sum(s.mass_kg for s in srcs)
    el_in = sum((s.element_vector() for s in srcs), np.zeros(len(ELEMENTS)))
    if lot.mass_kg > mass_in * (1 + 1e-9):
        problems.append(Problem(None, "mass_kg", f"{lot.mass_kg:g} kg exceeds its input lots' {mass_in:g} kg",
                                lot.lot_id))
    for el, f in lot.assay.items():
        kg = f * lot.mass_kg
        if kg > el_in[_EL[el]] * 1.02 + 1e-9:
            problems.append(Problem(None, f"assay.{el}", f"{kg:.3g} kg {el} in the lot but only "
                                    f"{el_in[_EL[el]]:.3g} kg entered with its input lots", lot.lot_id))
    if lot.kind == "black_mass" and not problems:
        expected = _expected_black_mass(srcs)
        for el, f in lot.assay.items():
            e = expected[_EL[el]]
            if abs(f - e) > max(rel_tolerance * e, abs_tolerance):
                problems.append(Problem(None, f"assay.{el}", f"assayed {f:.4f} kg/kg but the input lots imply about "
                                        f"{e:.4f} kg/kg of {el} in black mass (tolerance ±{rel_tolerance:.0%})",
                                        lot.lot_id))
    if problems:
        raise InvalidInput(problems, source=f"assay of lot {lot.lot_id}")


def _expected_black_mass(srcs: Iterable[InputLot]) -> np.ndarray:
    from circulith.recovery.routes import compile_route

    table, codes = form_composition_table()
    forms = ("cell", "module", "pack", "black_mass")
    bm = np.zeros(table.shape[-1])
    for s in srcs:
        for it in s.items:
            x = table[codes.index(it.chemistry), forms.index(it.form)] * it.mass_kg
            if it.form == "black_mass":
                bm += x
                continue
            cr = compile_route("black_mass", it.form)
            bm += cr.stream_coef[cr.stream_index("black_mass_sold")] * x
    el = bm @ ELEMENT_CONTENT
    return el / bm.sum() if bm.sum() > 0 else el


def lot_yields(inputs: Sequence[InputLot], outputs: Sequence[IntermediateLot | ProductLot], *,
               electricity_kg_co2e_per_kwh: float | None = None,
               natural_gas_kg_co2e_per_mj: float | None = None,
               count_intermediates: bool = False) -> dict[str, Any]:
    """Element yields [kg out / kg in], energy [MJ], water [m3], reagents [kg] and GHG [kg CO2e] of a set of lots.

    GHG counts electricity, natural gas, direct CO2 and the reagents' cradle-to-gate factors
    (``recovery_routes.toml`` ``[reagents.*] kg_co2e_per_kg``, each with its source).

    Element output counts product lots, and intermediate lots' assays with ``count_intermediates`` (the
    yield of a black-mass lot itself; off by default so that a black mass and the products made from it
    are not counted twice). Emission factors default to the shipped utilities (``recovery_routes.toml``).
    """
    from circulith.recovery.reference_data import load_toml

    util = load_toml("recovery_routes.toml")["utilities"]
    ef_e = float(util["electricity_kg_co2e_per_kwh"]) if electricity_kg_co2e_per_kwh is None else electricity_kg_co2e_per_kwh
    ef_g = float(util["natural_gas_kg_co2e_per_mj"]) if natural_gas_kg_co2e_per_mj is None else natural_gas_kg_co2e_per_mj
    el_in = sum((i.element_vector() for i in inputs), np.zeros(len(ELEMENTS)))
    el_out = dict.fromkeys(BATTERY_ELEMENTS, 0.0)
    for o in outputs:
        if (isinstance(o, ProductLot) and o.output in ("product", "by_product")) or (
                count_intermediates and isinstance(o, IntermediateLot)):
            for el, kg in o.element_kg().items():
                if el in el_out:
                    el_out[el] += kg
    yields = {el: el_out[el] / el_in[_EL[el]] for el in BATTERY_ELEMENTS if el_in[_EL[el]] > 0}
    elec = sum(o.electricity_kwh for o in outputs)
    gas = sum(o.natural_gas_mj for o in outputs)
    reagents: dict[str, float] = {}
    for o in outputs:
        for rg, kg in o.reagents_kg.items():
            reagents[rg] = reagents.get(rg, 0.0) + kg
    factors = load_toml("recovery_routes.toml")["reagents"]
    reagent_ghg = sum(kg * float(factors[rg]["kg_co2e_per_kg"]) for rg, kg in reagents.items() if rg in factors)
    return {
        "input_mass_kg": float(sum(i.mass_kg for i in inputs)),
        "element_input_kg": {e: float(el_in[_EL[e]]) for e in BATTERY_ELEMENTS if el_in[_EL[e]] > 0},
        "element_output_kg": {e: v for e, v in el_out.items() if v > 0},
        "element_yield": yields,
        "electricity_kwh": elec, "natural_gas_mj": gas, "energy_mj": elec * 3.6 + gas,
        "water_m3": sum(o.water_m3 for o in outputs),
        "reagents_kg": reagents,
        "reagent_ghg_kg_co2e": reagent_ghg,
        "reagents_without_factor": sorted(rg for rg in reagents if rg not in factors),
        "ghg_kg_co2e": elec * ef_e + gas * ef_g + sum(o.direct_co2_kg for o in outputs) + reagent_ghg,
    }


def trace_to_batteries(lot_id: str, lots: Sequence[AnyLot]) -> list[str]:
    """Battery ids that fed a lot, following ``source_lot_ids`` back to input lots."""
    by_id = {lot.lot_id: lot for lot in lots}
    seen: set[str] = set()
    out: list[str] = []
    stack = [lot_id]
    while stack:
        lid = stack.pop()
        if lid in seen:
            continue
        seen.add(lid)
        lot = by_id.get(lid)
        if lot is None:
            raise InvalidInput(Problem(None, "source_lot_ids", f"lot '{lid}' is not in the records", lot_id))
        if isinstance(lot, InputLot):
            out.extend(i.battery_id for i in lot.items)
        else:
            stack.extend(lot.source_lot_ids)
    return sorted(set(out))


class NewBattery(BaseModel):
    """A new battery (or battery model batch) and the Co, Li, Ni in its active materials [kg]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_id: str
    co_kg: float = Field(default=0.0, ge=0)
    li_kg: float = Field(default=0.0, ge=0)
    ni_kg: float = Field(default=0.0, ge=0)


class RecycledContentShare(BaseModel):
    """Recycled share of Co, Li, Ni in one new battery under mass-balance allocation."""

    battery_id: str
    co_share: float
    li_share: float
    ni_share: float
    co_kg: float
    li_kg: float
    ni_kg: float
    co_recycled_kg: float
    li_recycled_kg: float
    ni_recycled_kg: float

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for the passport / ledger."""
        return self.model_dump(mode="json")


def allocate_recycled_content(recycled_kg: Mapping[str, float], primary_kg: Mapping[str, float],
                              batteries: Sequence[NewBattery]) -> list[RecycledContentShare]:
    """Mass-balance allocation of recycled Co, Li, Ni to the new batteries made in a period.

    Each element's recycled share is the plant-level ratio recycled / (recycled + primary) of what was
    supplied in the period, applied to every battery alike; the batteries cannot use more of an element
    than was supplied (that raises :class:`InvalidInput`).

    Parameters
    ----------
    recycled_kg, primary_kg : mapping
        Element (``Co``, ``Li``, ``Ni``) → mass supplied [kg] from recycled and primary sources.
    batteries : sequence of NewBattery
        What each new battery contains in its active materials.
    """
    problems: list[Problem] = []
    shares: dict[str, float] = {}
    for el in ("Co", "Li", "Ni"):
        r, p = float(recycled_kg.get(el, 0.0)), float(primary_kg.get(el, 0.0))
        if r < 0 or p < 0:
            problems.append(Problem(None, el, "supplied masses must not be negative"))
            continue
        demand = sum(getattr(b, f"{el.lower()}_kg") for b in batteries)
        if demand > (r + p) * (1 + 1e-9):
            problems.append(Problem(None, el, f"new batteries contain {demand:g} kg {el} but only {r + p:g} kg "
                                    "was supplied"))
        shares[el] = r / (r + p) if r + p > 0 else 0.0
    if problems:
        raise InvalidInput(problems, source="recycled-content allocation")
    return [RecycledContentShare(
        battery_id=b.battery_id, co_share=shares["Co"], li_share=shares["Li"], ni_share=shares["Ni"],
        co_kg=b.co_kg, li_kg=b.li_kg, ni_kg=b.ni_kg,
        co_recycled_kg=b.co_kg * shares["Co"], li_recycled_kg=b.li_kg * shares["Li"], ni_recycled_kg=b.ni_kg * shares["Ni"],
    ) for b in batteries]


__all__ = [
    "AnyLot", "InputLot", "IntermediateLot", "LotItem", "NewBattery", "ProductLot", "RecycledContentShare",
    "allocate_recycled_content", "check_assay", "lot_from_payload", "lot_yields", "trace_to_batteries",
]
