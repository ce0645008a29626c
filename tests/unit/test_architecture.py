"""The rules of docs/architecture.md, checked on the source: what each part may import, no
import circle, small modules, and ``__init__.py`` files that only re-export."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lumen_bridge"
MAX_LINES = 300

# What each part of the bridge may import of the bridge (besides itself). A part is a
# top-level module or package of lumen_bridge; docs/architecture.md draws the same layers.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "clock": set(),
    "group_commit": set(),
    "textfile_exporter": set(),
    "domain": set(),
    "metrics": {"__init__"},
    "config": {"domain"},
    "logs": {"config"},
    "store": {"domain", "config"},
    "migrations": {"config", "store"},
    "pipeline": {"domain", "config", "store", "clock"},
    "ingest": {"pipeline", "store", "config", "domain", "group_commit", "logs", "metrics"},
    "notifiers": {"domain", "config", "clock"},
    "delivery": {"notifiers", "store", "config", "domain", "clock", "metrics", "group_commit"},
    "api": {
        "__init__",
        "lifecycle",
        "domain",
        "config",
        "store",
        "pipeline",
        "ingest",
        "notifiers",
        "metrics",
        "clock",
    },
    "pruner": {"store", "config", "clock", "metrics"},
    "reconcile": {"pipeline", "store", "config", "domain", "clock"},
    "lifecycle": {"pipeline", "store", "config", "domain", "clock", "notifiers", "metrics"},
    "web": {"api", "clock", "config", "domain", "lifecycle", "notifiers", "pipeline", "store"},
    "app": {
        "api",
        "lifecycle",
        "pruner",
        "reconcile",
        "web",
        "clock",
        "config",
        "delivery",
        "ingest",
        "metrics",
        "pipeline",
        "store",
    },
    "cli": {
        "__init__",
        "api",
        "app",
        "config",
        "domain",
        "logs",
        "notifiers",
        "store",
        "textfile_exporter",
    },
    "__main__": {"cli"},
}


def modules() -> list[Path]:
    """Every Python file of the package."""
    found = sorted(PACKAGE.rglob("*.py"))
    assert found, f"no modules under {PACKAGE}"
    return found


def module_name(path: Path) -> str:
    """``lumen_bridge.store.sql.bulk`` for ``lumen_bridge/store/sql/bulk.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part(name: str) -> str:
    """The part of the bridge a module belongs to (``store`` for ``lumen_bridge.store.x``)."""
    rest = name.split(".")[1:]
    return rest[0] if rest else "__init__"


def imported(path: Path) -> Iterator[str]:
    """The bridge modules ``path`` imports, anywhere in it (lazy imports count too)."""
    known = {module_name(p) for p in modules()}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import submodule`` names the submodule, other names the module
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known] or [node.module]
        else:
            continue
        yield from (name for name in names if name in known)


def graph() -> dict[str, set[str]]:
    """Module -> the bridge modules it imports (importing a module runs its packages too)."""
    edges: dict[str, set[str]] = {}
    for path in modules():
        targets = edges.setdefault(module_name(path), set())
        for name in imported(path):
            targets.add(name)
    return edges


def test_every_part_imports_only_what_its_layer_allows() -> None:
    wrong = []
    for path in modules():
        source = module_name(path)
        allowed = ALLOWED[part(source)] | {part(source)}
        wrong += [
            f"{source} imports {target}" for target in imported(path) if part(target) not in allowed
        ]
    assert wrong == []


def test_no_import_circle() -> None:
    edges = graph()
    assert edges
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by what it owns"


def test_init_files_only_re_export() -> None:
    inits = [path for path in modules() if path.name == "__init__.py"]
    assert inits
    logic = []
    for path in inits:
        for node in ast.parse(path.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            imports = isinstance(node, ast.Import | ast.ImportFrom)
            names = isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id in ("__all__", "__version__") for t in node.targets
            )
            if not (docstring or imports or names):
                logic.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert logic == []


def test_every_part_is_listed() -> None:
    parts = {part(module_name(path)) for path in modules()}
    assert parts == set(ALLOWED), "a new part needs its line in ALLOWED and docs/architecture.md"
