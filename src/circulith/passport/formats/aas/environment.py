"""An AAS v3 environment as a nested view keyed by idShort, and writing values back into it.

The view of an environment is ``{submodel idShort: {element idShort: value}}``: a Property's value
(text, as serialised), a MultiLanguageProperty's ``{language: text}``, a collection's children by
idShort, a list's items by position, a File's path; ``_shell`` holds the first shell's ``id``. The
mapping table (:mod:`.mapping`) reads and writes this view; :func:`set_value` writes a view value
into the environment's element, formatted for the element's ``valueType``.
"""

from __future__ import annotations

import copy
import json
import math
from functools import cache
from importlib.resources import files
from typing import Any

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.table import split_path

__all__ = ["TEMPLATES", "element_at", "set_value", "template_environment", "view"]

#: Shipped templates (IDTA 02035, without example values), in export order.
TEMPLATES: tuple[str, ...] = (
    "IDTA_02035-1_DBP-Part-1_DigitalNameplate_without_examplevalues.json",
    "IDTA_02035-4_DBP-Part-4_TechnicalData_without_examplevalues.json",
    "IDTA_02035-5_DBP-Part-5_ProductCondition_without_examplevalues.json",
    "IDTA_02035-6_DBP-Part-6_MaterialComposition_without_examplevalues.json",
)
_INTEGER_TYPES = frozenset({"xs:integer", "xs:int", "xs:long", "xs:short", "xs:unsignedInt", "xs:unsignedLong",
                            "xs:unsignedShort", "xs:nonNegativeInteger", "xs:positiveInteger"})


def _value(element: dict[str, Any]) -> Any:
    kind = element.get("modelType")
    if kind == "SubmodelElementCollection":
        return _children(element.get("value") or [])
    if kind == "SubmodelElementList":
        return [_value(e) for e in element.get("value") or [] if isinstance(e, dict)]
    if kind == "MultiLanguageProperty":
        return {t.get("language"): t.get("text") for t in element.get("value") or [] if isinstance(t, dict)}
    return element.get("value")


def _children(elements: list[Any]) -> dict[str, Any]:
    return {e["idShort"]: _value(e) for e in elements if isinstance(e, dict) and e.get("idShort")}


def view(env: dict[str, Any]) -> dict[str, Any]:
    """The environment as a nested dict keyed by idShort (see the module docstring)."""
    out: dict[str, Any] = {}
    shells = env.get("assetAdministrationShells") or []
    if shells and isinstance(shells[0], dict):
        out["_shell"] = {"id": shells[0].get("id")}
    for sm in env.get("submodels") or []:
        if isinstance(sm, dict) and sm.get("idShort"):
            out[sm["idShort"]] = _children(sm.get("submodelElements") or [])
    return out


def element_at(env: dict[str, Any], path: str, *, grow: bool = False) -> dict[str, Any] | None:
    """The element (or submodel, or shell) at a view path; with ``grow``, list items are added by
    copying the list's first item (a template's prototype)."""
    keys = split_path(path)
    if keys[0] == "_shell":
        shells = env.get("assetAdministrationShells") or []
        return shells[0] if shells else None
    node: dict[str, Any] | None = next(
        (s for s in env.get("submodels") or [] if isinstance(s, dict) and s.get("idShort") == keys[0]), None)
    for key in keys[1:]:
        if node is None:
            return None
        children = node.get("submodelElements") if "submodelElements" in node else node.get("value")
        if not isinstance(children, list):
            return None
        if isinstance(key, int):
            while grow and len(children) <= key and children:
                children.append(_blank(copy.deepcopy(children[0])))
            node = children[key] if key < len(children) else None
        else:
            node = next((e for e in children if isinstance(e, dict) and e.get("idShort") == key), None)
    return node


def _blank(element: dict[str, Any]) -> dict[str, Any]:
    if element.get("modelType") in ("SubmodelElementCollection", "SubmodelElementList"):
        element["value"] = [_blank(e) for e in element.get("value") or []]
    elif "value" in element and element.get("modelType") != "MultiLanguageProperty":
        element["value"] = None
    return element


def _text(value: Any, value_type: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if not math.isfinite(float(value)):
            raise ValueError(f"{value!r} is not a finite number")
        if value_type in _INTEGER_TYPES:
            if float(value) != int(value):
                raise ValueError(f"{value!r} is not a whole number ({value_type})")
            return str(int(value))
        return repr(float(value)) if isinstance(value, float) else str(value)
    return str(value)


def set_value(env: dict[str, Any], path: str, value: Any) -> None:
    """Write a view value at ``path`` into the environment (a dict into a collection's children).

    Raises
    ------
    InvalidInput
        No element at ``path``, or a value its ``valueType`` cannot hold.
    """
    if path == "_shell.id":
        shell = element_at(env, path)
        if shell is not None:
            shell["id"] = value
        return
    element = element_at(env, path, grow=True)
    if element is None:
        raise InvalidInput(Problem(None, path, "the AAS template has no element here"), source="AAS export")
    kind = element.get("modelType")
    if isinstance(value, dict) and kind == "SubmodelElementCollection":
        for key, sub in value.items():
            set_value(env, f"{path}.{key}", sub)
    elif isinstance(value, list) and kind == "SubmodelElementList":
        for i, sub in enumerate(value):
            set_value(env, f"{path}.{i}", sub)
        del element["value"][len(value):]
    elif kind == "MultiLanguageProperty":
        element["value"] = [{"language": k, "text": v} for k, v in (value or {}).items()]
    else:
        try:
            element["value"] = None if value is None else _text(value, element.get("valueType"))
        except ValueError as exc:
            raise InvalidInput(Problem(None, path, str(exc)), source="AAS export") from None


@cache
def _template_text() -> str:
    env: dict[str, Any] = {"assetAdministrationShells": [], "submodels": [], "conceptDescriptions": []}
    for name in TEMPLATES:
        part = json.loads(files("circulith.reference").joinpath(f"idta02035/{name}").read_text(encoding="utf-8"))
        for key in env:
            env[key].extend(part.get(key) or [])
    shell = env["assetAdministrationShells"][0]
    shell["submodels"] = [ref for s in env["assetAdministrationShells"] for ref in s.get("submodels") or []]
    env["assetAdministrationShells"] = [shell]
    return json.dumps(env)


def template_environment() -> dict[str, Any]:
    """A fresh copy of the shipped templates merged into one environment (one shell, four submodels)."""
    env: dict[str, Any] = json.loads(_template_text())
    return env
