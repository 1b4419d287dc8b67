"""The package's layers, checked on the source with :mod:`ast` (no import is executed).

* no import cycle between modules of ``src/circulith`` (imports inside functions count: a lazy import
  that closes a circle is still a circle; imports under ``if TYPE_CHECKING:`` do not);
* no engine package (``passport``, ``ledger``, ``triage``, ``recovery``, ``planning``) imports
  ``services`` or ``store``;
* nothing in ``api`` imports ``web`` (the composition root, :mod:`circulith.server`, sits above both);
* SQL lives only in ``store``: no other package imports SQLAlchemy's statement builders (``select``,
  ``insert``, ``text`` ...); engines, sessions, URLs, exceptions and type names are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "circulith"
ENGINES = ("passport", "ledger", "triage", "recovery", "planning")
KNOWN_CYCLES: list[list[str]] = [
]
"""Cycles that exist today and are being removed; the test fails on any other, and on an entry that is gone
(delete it from this list then)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Modules of ``circulith`` that ``module`` imports anywhere, except under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m == "circulith" or m.startswith("circulith.")}


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = _imports(tree, name, path.name == "__init__.py")
        # "from pkg import name": a submodule when one exists, else the package itself
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(out)


def _package_imports(package: str) -> list[tuple[str, str]]:
    graph = _graph()
    return sorted((m, t) for m, targets in graph.items() if m.startswith(f"circulith.{package}")
                  for t in targets)


def test_the_checker_sees_lazy_imports_and_skips_type_checking_blocks() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import circulith.a\n"
                     "def f():\n    from circulith.b import c\n    from . import d\n")
    assert _imports(tree, "circulith.x.y", False) == {"circulith.b", "circulith.b.c", "circulith.x",
                                                       "circulith.x.d"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "import cycles: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_import_neither_services_nor_store(engine: str) -> None:
    bad = [(m, t) for m, t in _package_imports(engine)
           if t.startswith(("circulith.services", "circulith.store"))]
    assert not bad, f"engine package '{engine}' reaches the database layer: {bad}"


def test_api_does_not_import_web() -> None:
    bad = [(m, t) for m, t in _package_imports("api") if t.startswith("circulith.web")]
    assert not bad, f"api/ imports web/: {bad}"


SQL_TYPES_ALLOWED = {"Engine", "Session", "Connection", "ColumnElement", "make_url", "ArgumentError",
                     "OperationalError", "IntegrityError", "DBAPIError", "SQLAlchemyError"}
"""Names outside ``store`` may import from SQLAlchemy: handles and types, not statement builders."""


def test_sql_lives_only_in_store() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
                bad += [(str(path.relative_to(SRC)), a.name) for a in node.names if a.name not in SQL_TYPES_ALLOWED]
            elif isinstance(node, ast.Import):
                bad += [(str(path.relative_to(SRC)), a.name) for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
    assert not bad, f"SQL built outside store/: {bad}"


TYPED_SERVICE_MODULES = ("access_rules", "background", "credentials", "demo_users", "fleet", "passports",
                         "reference_tables")
"""Service modules whose public functions return typed models (add each module once all of its public
functions do)."""


@pytest.mark.parametrize("module", TYPED_SERVICE_MODULES)
def test_public_service_functions_return_typed_results(module: str) -> None:
    path = PACKAGE / "services" / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    untyped = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            ret = ast.unparse(node.returns) if node.returns else "<missing>"
            if ret == "<missing>" or "dict[str, Any]" in ret or ret == "Any":
                untyped.append(f"{node.name} -> {ret}")
    assert not untyped, f"services/{module}.py returns untyped data: {untyped}"
