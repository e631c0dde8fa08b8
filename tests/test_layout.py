"""The code's shape: dependencies run one way, in the whole repository (hydra_plugins/
included), counting imports made inside functions too (a cycle hidden in a function is
still a cycle), and the packages are layered as ARCHITECTURE.md and README's Layout draw them."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

ROOTS = ("tftrain", "hydra_plugins")
# Top to bottom: a box may import the boxes below it, never one above. The base (errors,
# console, artifacts, ...) is below all of them.
LAYERS = [
    {"cli", "__main__", "hydra_plugins"},
    {"sweeps"},
    {"tools"},
    {"run"},
    {"config"},
    {"trainers"},
    {"callbacks", "models"},
    {"data"},
]
# Imports that cross a layer upwards, each with the issue that removes it (none left: data,
# models and trainers receive objects and plain values, config/ turns nodes into calls).
PENDING: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


def modules() -> dict[str, Path]:
    return {module_name(p): p for root in ROOTS for p in (REPO / root).rglob("*.py")}


def imported(path: Path, names: set[str]) -> set[str]:
    """The repository's modules a file imports, anywhere in it (a package counts as its __init__)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(ROOTS):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(ROOTS)}
    return found & names


def graph() -> dict[str, set[str]]:
    files = modules()
    return {name: imported(path, set(files)) - {name} for name, path in files.items()}


def box(module: str) -> str:
    """The package a module belongs to (tftrain.run.prepare -> run), or `base`."""
    parts = module.split(".")
    if parts[0] == "hydra_plugins":
        return "hydra_plugins"
    if len(parts) > 1 and (REPO / "tftrain" / parts[1]).is_dir() or parts[-1] in ("cli", "__main__"):
        return parts[1]
    return "base"


def rank(name: str) -> float:
    """A box's layer, counted from the top; two boxes of one layer may not import each
    other, so the second of them ranks just below the first."""
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i + sorted(layer).index(name) * 0.1 if name != "base" else i
    return len(LAYERS)


def test_no_import_cycles_anywhere():
    edges = graph()
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for nxt in sorted(edges[name]):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join([*trail, nxt])
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


def test_dependencies_point_down_the_layers():
    upward = {}
    for module, targets in graph().items():
        for target in targets:
            here, there = box(module), box(target)
            if here != there and rank(there) < rank(here):  # a box above, or beside in its layer
                upward.setdefault((here, there), []).append(f"{module} -> {target}")
    unexpected = {k: v for k, v in upward.items() if k not in PENDING}
    assert not unexpected, unexpected
    assert set(upward) == PENDING, f"no longer crossed, remove from PENDING: {PENDING - set(upward)}"


def test_the_top_level_is_a_few_packages_and_a_handful_of_modules():
    top = REPO / "tftrain"
    packages = sorted(p.name for p in top.iterdir() if (p / "__init__.py").is_file())
    files = sorted(p.name for p in top.glob("*.py"))
    assert packages == ["callbacks", "config", "data", "models", "run", "sweeps", "tools", "trainers"]
    assert len(files) <= 7, files
