"""The code's shape: dependencies inside tftrain run one way (no import cycles, counting
imports made inside functions too: a cycle hidden in a function is still a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "tftrain"


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imported(path: Path, modules: set[str]) -> set[str]:
    """The tftrain modules a file imports, anywhere in it (a package counts as its __init__)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tftrain"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tftrain")}
    return found & modules


def test_tftrain_has_no_import_cycles():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imported(path, set(files)) - {name} for name, path in files.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for nxt in sorted(graph[name]):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join([*trail, nxt])
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
