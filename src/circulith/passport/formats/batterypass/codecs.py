"""Value conversions between circulith's passport and the Battery Pass data model v1.2.

Each :class:`~circulith.passport.formats.table.Codec` here converts one kind of value both ways;
:mod:`.mapping` ties them to places in the document. See :mod:`circulith.passport.formats.batterypass`
for the defects of the published model these conversions work around.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from circulith.passport.formats.batterypass.vocabulary import chemistry_code, element_materials
from circulith.passport.formats.table import MISSING, Codec, DumpContext

#: State of charge [%] at which the passport's original and remaining power are declared
#: (Annex IV Part B(4) names 80 % and 20 %; circulith holds the 80 % value).
POWER_SOC_PCT = 80.0
#: The pattern of ``batteryPassportIdentifier`` in the v1.2 GeneralProductInformation schema.
BP_ID_PATTERN = re.compile(r"^urn:[a-z0-9]+:[a-z0-9]+$")

STAGES: dict[str, str] = {
    "raw_materials_kg_co2e_per_kwh": "RawMaterialExtraction",
    "production_kg_co2e_per_kwh": "MainProduction",
    "distribution_kg_co2e_per_kwh": "Distribution",
    "end_of_life_kg_co2e_per_kwh": "Recycling",
}
LABEL_SUBJECTS: dict[str, str] = {
    "separate_collection": "SeparateCollection",
    "cadmium_lead": "HazardousMaterial",
    "carbon_footprint": "CarbonFootPrint",
    "extinguishing_agent": "ExtinguishingAgent",
}
_SUBJECT_FIELDS: dict[str, str] = {v: k for k, v in LABEL_SUBJECTS.items()}
METALS: dict[str, str] = {"nickel": "Nickel", "cobalt": "Cobalt", "lithium": "Lithium", "lead": "Lead"}
ACCIDENT_KINDS = ("thermal", "crash", "water", "mechanical", "electrical", "other")


def ts(value: Any) -> str:
    """An ISO 8601 time as RFC 3339 in UTC with ``Z``."""
    t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _codec_map(forward: dict[str, str]) -> Codec:
    back = {v: k for k, v in forward.items()}
    return Codec(lambda v, root, ctx: forward.get(v, v), lambda v, doc: back.get(v, v))


TIME = Codec(lambda v, root, ctx: ts(v), lambda v, doc: v)
BLANK_IS_NONE = Codec(lambda v, root, ctx: v, lambda v, doc: None if v == "" else v)
YEAR_MONTH = Codec(lambda v, root, ctx: f"{v}-01T00:00:00Z", lambda v, doc: str(v)[:7])
CATEGORY = _codec_map({"EV": "ev", "LMT": "lmt", "industrial": "industrial", "stationary": "stationary"})
STATUS = Codec(lambda v, root, ctx: str(v).capitalize(), lambda v, doc: str(v).lower())
MINUTES = Codec(lambda v, root, ctx: 60.0 * v, lambda v, doc: v / 60.0 if isinstance(v, int | float) else v)
PERCENT = Codec(lambda v, root, ctx: 100.0 * v, lambda v, doc: v / 100.0 if isinstance(v, int | float) else v)
WHOLE = Codec(lambda v, root, ctx: v, lambda v, doc: int(v) if isinstance(v, float) and v.is_integer() else v)
CHEMISTRY = Codec(lambda v, root, ctx: v, lambda v, doc: chemistry_code(str(v)) or v)


def _address_dump(v: Any, root: dict[str, Any], ctx: DumpContext) -> dict[str, str]:
    return {"streetAddress": v or "", "postalCode": "", "addressCountry": ""}


def address_text(addr: Any) -> Any:
    """A Battery Pass postal address as one line (street, postal code, country)."""
    if not isinstance(addr, dict):
        return addr
    parts = [addr.get("streetAddress") or "", addr.get("postalCode") or "", addr.get("addressCountry") or ""]
    return ", ".join(str(x) for x in parts if x) or None


ADDRESS = Codec(_address_dump, lambda v, doc: address_text(v))
ADDRESS_OR_BLANK = Codec(lambda v, root, ctx: _address_dump(v, root, ctx), lambda v, doc: address_text(v) or "")


def _bp_id(passport_id: str) -> str:
    m = re.match(r"^urn:uuid:([0-9a-fA-F-]{36})$", passport_id)
    if m:
        return "urn:uuid:" + m.group(1).replace("-", "").lower()
    if BP_ID_PATTERN.match(passport_id):
        return passport_id
    return "urn:circulith:" + hashlib.sha256(passport_id.encode("utf-8")).hexdigest()[:32]


def tolerated_bp_id(bp_id: Any) -> Any:
    """A ``batteryPassportIdentifier`` as the published pattern accepts it, where only that pattern refuses it.

    The pattern ``^urn:[a-z0-9]+:[a-z0-9]+$`` rejects the hyphenated ``urn:uuid`` form of RFC 9562
    (and upper-case hex), which is a passport ID the registry accepts: such an identifier is read
    as the 32-digit form the export writes (the same UUID); anything else is left for the schema
    check to refuse.
    """
    if isinstance(bp_id, str) and re.match(r"^urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$", bp_id):
        return _bp_id(bp_id)
    return bp_id


def bp_id_is_reversible(passport_id: str) -> bool:
    """Whether the Battery Pass identifier written for ``passport_id`` reads back as it."""
    return _passport_id(_bp_id(passport_id)) == passport_id


def _passport_id(bp_id: Any) -> Any:
    m = re.match(r"^urn:uuid:([0-9a-f]{32})$", str(bp_id))
    if m:
        h = m.group(1)
        return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return bp_id


PASSPORT_ID = Codec(lambda v, root, ctx: _bp_id(v), lambda v, doc: _passport_id(v))
ONLY_IF_IRREVERSIBLE = Codec(lambda v, root, ctx: MISSING if bp_id_is_reversible(v) else v, lambda v, doc: v)


def _stamped_dump(key: str) -> Codec:
    return Codec(
        lambda v, root, ctx: {key: v["value"], "lastUpdate": ts(v["updated_at"])},
        lambda v, doc: {"value": v.get(key), "updated_at": v.get("lastUpdate")} if isinstance(v, dict) else v,
    )


def stamped(key: str) -> Codec:
    """A dynamic value as ``{key: value, "lastUpdate": time}``."""
    return _stamped_dump(key)


def _elements_dump(materials: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    return [
        {
            "batteryMaterialLocation": {"componentName": e.component},
            "batteryMaterialIdentifier": e.cas_number,
            "batteryMaterialName": e.name,
            "batteryMaterialMass": materials[e.field],
            "isCriticalRawMaterial": e.critical_raw_material,
        }
        for e in element_materials()
        if materials.get(e.field) is not None
    ]


def material_field(entry: Any) -> str | None:
    """The passport mass field of a Battery Pass material (by CAS number, else by name), or None."""
    if not isinstance(entry, dict):
        return None
    cas = str(entry.get("batteryMaterialIdentifier") or "").strip()
    name = str(entry.get("batteryMaterialName") or "").strip().casefold()
    for e in element_materials():
        if cas == e.cas_number or (not cas and name == e.name.casefold()):
            return e.field
    return None


def _elements_load(entries: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(entries, list):
        return entries
    out: dict[str, Any] = {}
    for entry in entries:
        field = material_field(entry)
        mass = entry.get("batteryMaterialMass") if isinstance(entry, dict) else None
        if field is None or not isinstance(mass, int | float):
            continue
        out[field] = out.get(field, 0.0) + mass  # an element listed twice: the battery holds both masses
    return out


ELEMENTS = Codec(_elements_dump, _elements_load)


def _stages_dump(cf: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    return [
        {"lifecycleStage": stage, "carbonFootprint": cf[field]}
        for field, stage in STAGES.items()
        if cf.get(field) is not None
    ]


def _stages_load(entries: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(entries, list):
        return MISSING
    fields = {v: k for k, v in STAGES.items()}
    out: dict[str, Any] = {}
    for e in entries:
        if isinstance(e, dict) and e.get("lifecycleStage") in fields:
            out[fields[e["lifecycleStage"]]] = e.get("carbonFootprint")
    return out


STAGES_CODEC = Codec(_stages_dump, _stages_load)


def _recycled_dump(rc: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    out = []
    for metal, name in METALS.items():
        pre, post = rc.get(f"{metal}_pre_consumer_fraction"), rc.get(f"{metal}_post_consumer_fraction")
        if pre is None and post is None:
            continue
        out.append({"recycledMaterial": name, "preConsumerShare": 100.0 * (pre or 0.0),
                    "postConsumerShare": 100.0 * (post or 0.0)})
    return out


def _recycled_load(entries: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(entries, list):
        return MISSING
    names = {v: k for k, v in METALS.items()}
    out: dict[str, Any] = {}
    for r in entries:
        metal = names.get(str(r.get("recycledMaterial"))) if isinstance(r, dict) else None
        if metal is None:
            continue
        for share, key in (("pre", "preConsumerShare"), ("post", "postConsumerShare")):
            v = r.get(key)
            out[f"{metal}_{share}_consumer_fraction"] = v / 100.0 if isinstance(v, int | float) else v
    return out


RECYCLED = Codec(_recycled_dump, _recycled_load)


def _mime(url: str) -> str:
    return "application/pdf" if url.lower().split("?")[0].endswith(".pdf") else "text/html"


MANUALS = Codec(
    lambda urls, root, ctx: [{"documentType": "DismantlingManual", "mimeType": _mime(u), "documentURL": u} for u in urls],
    lambda docs, doc: [d.get("documentURL") for d in docs if isinstance(d, dict)] if isinstance(docs, list) else docs,
)


def _sources_dump(sources: list[dict[str, Any]], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    parts = {pn["part_number"]: pn["part_name"] for pn in (root.get("dismantling") or {}).get("part_numbers", [])}
    where = "dismantling.spare_part_sources[{}].{}"
    return [
        {
            "nameOfSupplier": s["name"],
            "addressOfSupplier": _address_dump(s.get("address"), root, ctx),
            "emailAddressOfSupplier": ctx.need(s.get("email"), where.format(s["name"], "email"), ""),
            "supplierWebAddress": ctx.need(s.get("url"), where.format(s["name"], "url"), ""),
            "components": [{"partName": parts.get(n, ""), "partNumber": n} for n in s.get("part_numbers", [])],
        }
        for s in sources
    ]


def _sources_load(sources: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(sources, list):
        return sources
    return [
        {
            "name": s.get("nameOfSupplier"),
            "address": address_text(s.get("addressOfSupplier")),
            "email": s.get("emailAddressOfSupplier") or None,
            "url": s.get("supplierWebAddress") or None,
            "part_numbers": [c.get("partNumber") for c in s.get("components") or [] if isinstance(c, dict)],
        }
        if isinstance(s, dict) else s
        for s in sources
    ]


def _parts_load(sources: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(sources, list):
        return MISSING
    out: dict[Any, dict[str, Any]] = {}
    for s in sources:
        for c in (s.get("components") or []) if isinstance(s, dict) else []:
            if isinstance(c, dict) and c.get("partNumber") not in out:
                out[c.get("partNumber")] = {"part_name": c.get("partName"), "part_number": c.get("partNumber")}
    return list(out.values())


SOURCES = Codec(_sources_dump, _sources_load)
PARTS_FROM_SOURCES = Codec(lambda v, root, ctx: MISSING, _parts_load)

LABELS = Codec(
    lambda labels, root, ctx: [
        {"labelingSubject": LABEL_SUBJECTS.get(x["subject"], x["subject"]), "labelingSymbol": x["symbol_url"],
         "labelingMeaning": {"en": x.get("meaning", "")}}
        for x in labels
    ],
    lambda labels, doc: [
        {"subject": _SUBJECT_FIELDS.get(str(x.get("labelingSubject")), x.get("labelingSubject")),
         "symbol_url": x.get("labelingSymbol"),
         "meaning": (x.get("labelingMeaning") or {}).get("en", "")}
        if isinstance(x, dict) else x
        for x in labels
    ] if isinstance(labels, list) else labels,
)


def _hazard_dump(subs: list[dict[str, Any]], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    return [
        {"hazardousSubstanceClass": h["hazard_class"], "hazardousSubstanceName": h["name"],
         "hazardousSubstanceConcentration": h["concentration_pct"], "hazardousSubstanceImpact": list(h["impacts"]),
         "hazardousSubstanceLocation": {"componentName": h["location"]},
         "hazardousSubstanceIdentifier": h["cas_number"]}
        for h in subs
    ]


def _hazard_load(subs: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(subs, list):
        return subs
    return [
        {"name": h.get("hazardousSubstanceName"), "cas_number": h.get("hazardousSubstanceIdentifier"),
         "hazard_class": h.get("hazardousSubstanceClass"),
         "concentration_pct": h.get("hazardousSubstanceConcentration"),
         "location": (h.get("hazardousSubstanceLocation") or {}).get("componentName", "Battery"),
         "impacts": h.get("hazardousSubstanceImpact") or []}
        if isinstance(h, dict) else h
        for h in subs
    ]


HAZARDS = Codec(_hazard_dump, _hazard_load)


def _accident_load(events: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(events, list):
        return events
    out = []
    for ev in events:
        if not isinstance(ev, dict):
            out.append(ev)
            continue
        text = str(ev.get("negativeEvent", ""))
        kind, _, desc = text.partition(": ")
        if kind not in ACCIDENT_KINDS:
            kind, desc = "other", text
        out.append({"date": str(ev.get("lastUpdate", ""))[:10], "kind": kind, "description": desc})
    return out


ACCIDENTS = Codec(
    lambda acc, root, ctx: [
        {"negativeEvent": f"{a['kind']}: {a.get('description', '')}", "lastUpdate": f"{a['date']}T00:00:00Z"}
        for a in acc
    ],
    _accident_load,
)


def _first(entries: Any, key: str) -> Any:
    return entries[0].get(key, MISSING) if isinstance(entries, list) and entries and isinstance(entries[0], dict) else MISSING


REMAINING_POWER = Codec(
    lambda v, root, ctx: [{
        "remainingPowerCapabilityValue": {"atSoC": POWER_SOC_PCT, "powerCapabilityAt": v["value"],
                                          "rPCLastUpdated": ts(v["updated_at"])},
        "lastUpdate": ts(v["updated_at"]),
    }] if v.get("value") is not None else [],
    lambda v, doc: MISSING if _first(v, "remainingPowerCapabilityValue") is MISSING else {
        "value": (_first(v, "remainingPowerCapabilityValue") or {}).get("powerCapabilityAt"),
        "updated_at": _first(v, "lastUpdate"),
    },
)
RESISTANCE_INCREASE = Codec(
    lambda v, root, ctx: [{"internalResistanceIncreaseValue": v["value"], "batteryComponent": root["level"],
                           "lastUpdate": ts(v["updated_at"])}] if v.get("value") is not None else [],
    lambda v, doc: MISSING if _first(v, "internalResistanceIncreaseValue") is MISSING else {
        "value": _first(v, "internalResistanceIncreaseValue"), "updated_at": _first(v, "lastUpdate"),
    },
)
