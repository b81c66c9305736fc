"""The package's import graph (every import statement, lazy ones in functions included): no
cycle, venues import only what they may, and the request path never imports dev tooling."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import ordercancel

ROOT = Path(ordercancel.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


@cache
def imports(name: str) -> frozenset[str]:
    """The ordercancel modules `name` imports (a `from package import submodule` counts as the
    submodule)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules() else base)
    return frozenset(m for m in found if m in modules() and m != name)


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(imports(name)):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(modules()):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def reach(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for dep in imports(todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle()
    assert cycle is None, " -> ".join(cycle or [])


def test_config_knows_no_venue():
    assert not {m for m in reach("ordercancel.config") if m.startswith("ordercancel.venues")}


def test_a_venue_imports_only_the_base_the_error_tree_the_outcomes_and_its_own_files():
    allowed = {
        "ordercancel.venues.base",
        "ordercancel.venues.wire",
        "ordercancel.errors",
        "ordercancel.outcomes",
    }
    for venue in ("zebpay", "ajaib"):
        own = f"ordercancel.venues.{venue}"
        for name in modules():
            if name == own or name.startswith(own + "."):
                strays = {m for m in imports(name) if m not in allowed and not m.startswith(own)}
                assert not strays, f"{name} imports {sorted(strays)}"


def test_the_worker_never_imports_dev_tooling_or_the_simulator():
    for entry in ("ordercancel.worker", "ordercancel.tasks", "ordercancel.client"):
        strays = {
            m for m in reach(entry) if m.startswith(("ordercancel.devtools", "ordercancel.sim"))
        }
        assert not strays, f"{entry} reaches {sorted(strays)}"
