"""Read and write IDTA 02035 battery passports as AAS v3 environments (JSON; AASX packages on import).

Documents are parsed and verified with aas-core3.0 (the AAS v3.0 meta-model's reference SDK): a
document it cannot deserialise is refused with the JSON path; meta-model constraint violations are
reported as ``conformance`` findings (the published IDTA templates themselves break constraint
AASd-120). Exports are written into the shipped templates, verified with aas-core3.0 and checked
against the templates' semantic IDs.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

import aas_core3.jsonization as aas_json
import aas_core3.verification as aas_verify
from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.aas.environment import element_at, set_value, template_environment, view
from circulith.passport.formats.aas.mapping import TABLE
from circulith.passport.formats.report import Finding, FormatImport, kept_findings
from circulith.passport.formats.table import (
    MISSING,
    doc_path_of,
    dump,
    get_path,
    leaf_paths,
    load,
    overlay,
    unheld,
)
from circulith.passport.model import Passport, validation_problems

__all__ = ["FORMAT", "check_semantic_ids", "export_aas", "read_aas", "read_aasx", "write_aasx"]

FORMAT = "aas"
VERSION = "IDTA 02035 v1.0 (AAS v3.0)"
SOURCE = "AAS environment (IDTA 02035)"


def _deserialise(doc: Any) -> Any:
    try:
        return aas_json.environment_from_jsonable(doc)
    except aas_json.DeserializationException as exc:
        raise InvalidInput(Problem(None, str(exc.path) or "$", exc.cause), source=SOURCE) from None


def conformance(doc: Any) -> list[Finding]:
    """Meta-model constraint violations of an environment (aas-core3.0 verification)."""
    return [Finding(kind="conformance", path=str(e.path), reason=e.cause)
            for e in aas_verify.verify(_deserialise(doc))]


def _passport(data: dict[str, Any], warnings: list[str] | None) -> Passport:
    record_id = data.get("battery_id")
    try:
        return Passport.model_validate(data, context={"plausibility": warnings} if warnings is not None else None)
    except ValidationError as exc:
        problems = []
        for p in validation_problems(exc, record_id=str(record_id) if record_id is not None else None):
            named = p.field or p.reason.partition(": ")[0]
            where = doc_path_of(TABLE, named) if named and " " not in named else None
            problems.append(Problem(None, where or p.field or "$",
                                    f"{p.reason} (passport field {p.field})" if where and p.field else p.reason,
                                    p.record_id))
        raise InvalidInput(problems, source=SOURCE) from None


def _json(passport: Passport) -> dict[str, Any]:
    data = passport.model_dump(mode="json")
    data.pop("received", None)
    return data


def read_aas(doc: dict[str, Any], *, validate: bool = True) -> FormatImport:
    """Read an AAS v3 environment holding IDTA 02035 submodels into a passport.

    Raises
    ------
    InvalidInput
        Not an AAS v3 environment (``validate``), or values that make an invalid passport (each
        naming the view path, ``Submodel.Element...``).
    """
    if not isinstance(doc, dict):
        raise InvalidInput(Problem(None, "$", f"an AAS environment is a JSON object, got {type(doc).__name__}"),
                           source=SOURCE)
    found = conformance(doc) if validate else []
    seen = view(doc)
    warnings: list[str] = []
    passport = _passport({**load(TABLE, seen), "received": {"format": FORMAT, "version": VERSION, "document": doc}},
                         warnings)
    then, _ = dump(TABLE, _json(passport))
    findings = [*kept_findings(unheld(seen, then)), *found,
                *(Finding(kind="plausibility", path=w.partition(":")[0], reason=w) for w in warnings)]
    return FormatImport(format=FORMAT, version=VERSION, passport=passport, findings=findings)


def read_aasx(data: bytes) -> list[dict[str, Any]]:
    """The JSON environments inside an AASX package (an OPC ZIP file).

    Raises
    ------
    InvalidInput
        Not a ZIP file, or no JSON environment inside (XML-only packages are not read).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".json")]
            docs = [json.loads(z.read(n).decode("utf-8-sig")) for n in names]
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(Problem(None, "$", f"not a readable AASX package: {exc}"), source=SOURCE) from None
    envs = [d for d in docs if isinstance(d, dict) and "submodels" in d]
    if not envs:
        raise InvalidInput(Problem(None, "$", "the AASX package holds no JSON AAS environment (XML-only packages "
                                   "are not read: export the package as JSON)"), source=SOURCE)
    return envs


def _write(env: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    for rule in TABLE:
        if rule.direction == "import":
            continue
        value = get_path(values, rule.doc)
        if value is not None and value is not MISSING:
            set_value(env, rule.doc, value)
    return env


def _instance(elements: list[Any]) -> None:
    """Template elements made instance elements: no template qualifiers (AASd-129), no idShort on list
    items (AASd-120)."""
    for e in elements:
        if not isinstance(e, dict):
            continue
        quals = [q for q in e.get("qualifiers") or [] if q.get("kind") != "TemplateQualifier"]
        if quals:
            e["qualifiers"] = quals
        else:
            e.pop("qualifiers", None)
        value = e.get("value")
        children: list[Any] = value if isinstance(value, list) else []
        if e.get("modelType") == "SubmodelElementList":
            for c in children:
                if isinstance(c, dict):
                    c.pop("idShort", None)  # constraint AASd-120
        if e.get("modelType") in ("SubmodelElementList", "SubmodelElementCollection"):
            _instance(children)


def check_semantic_ids(env: dict[str, Any]) -> list[str]:
    """Places whose semantic ID differs from the shipped templates' (empty when the export conforms)."""
    template = view_semantic_ids(template_environment())
    return [f"{path}: {sid!r} is not the template's {template[path]!r}"
            for path, sid in view_semantic_ids(env).items() if path in template and template[path] != sid]


def view_semantic_ids(env: dict[str, Any]) -> dict[str, str]:
    """Submodel and element paths (idShort, list items as ``*``) -> first semantic ID key."""
    out: dict[str, str] = {}

    def walk(elements: list[Any], prefix: str) -> None:
        for e in elements:
            if not isinstance(e, dict):
                continue
            path = f"{prefix}.{e.get('idShort') or '*'}"
            keys = (e.get("semanticId") or {}).get("keys") or [{}]
            out.setdefault(path, str(keys[0].get("value")))
            if isinstance(e.get("value"), list) and e.get("modelType") in (
                    "SubmodelElementList", "SubmodelElementCollection"):
                walk(e["value"], path)

    for sm in env.get("submodels") or []:
        keys = (sm.get("semanticId") or {}).get("keys") or [{}]
        out[sm.get("idShort", "")] = str(keys[0].get("value"))
        walk(sm.get("submodelElements") or [], sm.get("idShort", ""))
    return out


def export_aas(passport: Passport, *, strict: bool = True, validate: bool = True) -> dict[str, Any]:
    """The passport as an AAS v3 environment with IDTA 02035 parts 1, 4, 5 and 6.

    A passport read from an AAS environment is written as that environment with the values the
    passport changed since written anew.

    Raises
    ------
    InvalidInput
        A value an element's ``valueType`` cannot hold, a meta-model violation or a semantic ID that
        differs from the template's (``validate``).
    """
    now, _ = dump(TABLE, _json(passport))
    received = passport.received
    if received is not None and received.format == FORMAT:
        seen = view(received.document)
        then_passport = _passport({**load(TABLE, seen), "received": received.model_dump()}, [])
        then, _ = dump(TABLE, _json(then_passport))
        merged = overlay(TABLE, seen, now, then)
        env = copy.deepcopy(received.document)
        for path in leaf_paths(merged):
            if get_path(merged, path) != get_path(seen, path) and element_at(env, path) is not None:
                set_value(env, path, get_path(merged, path))
        return env
    env = _write(template_environment(), now)
    renamed: dict[str, str] = {}
    for sm in env["submodels"]:
        sm["kind"] = "Instance"
        renamed[sm["id"]] = sm["id"] = f"{passport.passport_id}/{sm['idShort']}"
        _instance(sm.get("submodelElements") or [])
    shell = env["assetAdministrationShells"][0]
    shell["assetInformation"] = {"assetKind": "Instance", "globalAssetId": passport.battery_id}
    shell["submodels"] = [{"type": "ModelReference", "keys": [{"type": "Submodel", "value": sm["id"]}]}
                          for sm in env["submodels"]]
    if validate:
        problems = [Problem(None, f.path, f.reason, passport.battery_id) for f in conformance(env)]
        problems += [Problem(None, "semanticId", m, passport.battery_id) for m in check_semantic_ids(env)]
        if problems:
            raise InvalidInput(problems, source="AAS export")
    return env


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="json" ContentType="application/json"/>
<Override PartName="/aasx/aasx-origin" ContentType="text/plain"/>
</Types>"""
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Type="http://admin-shell.io/aasx/relationships/aasx-origin" Target="/aasx/aasx-origin" Id="r1"/>
</Relationships>"""
_ORIGIN_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Type="http://admin-shell.io/aasx/relationships/aas-spec" Target="/aasx/passport/passport.aas.json" Id="r2"/>
</Relationships>"""


def write_aasx(env: dict[str, Any]) -> bytes:
    """An AASX package (IDTA 01005 Part 5: OPC ZIP with an ``aasx-origin`` and one JSON aas-spec part)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("aasx/aasx-origin", "Intentionally empty.")
        z.writestr("aasx/_rels/aasx-origin.rels", _ORIGIN_RELS)
        z.writestr("aasx/passport/passport.aas.json", json.dumps(env, ensure_ascii=False, indent=1))
    return buffer.getvalue()
