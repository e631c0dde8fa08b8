"""The code's shape: dependencies run one way, in the whole repository (hydra_plugins/
included), counting imports made inside functions too (a cycle hidden in a function is
still a cycle), and the packages are layered as ARCHITECTURE.md and README's Layout draw them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

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


# Where config keys may be written in code: config/ turns the user's keys into calls, and the
# CLI and the tools parse their own command lines. Below the config layer a component names
# its parameters (tftrain.errors.param) and the boundary that made the call keys them.
KEYS_ALLOWED = ("config/", "cli.py", "tools/",
                # the command line's Hydra keys: the folder it names (hydra.run.dir), the
                # search it asks for (hydra.sweeper.*) and the command that continues a sweep
                "run/folder_lock.py", "sweeps/")
# Code that still writes keys, each with the issue that removes it (none left).
KEYS_PENDING: set[str] = set()
FILE_SUFFIXES = {"keras", "h5", "npz", "npy", "csv", "json", "yaml", "yml", "png", "log", "txt",
                 "gz", "md"}


def config_key(groups: set[str]) -> re.Pattern:
    """A key of a top-level config group as a user types it (dataset.path, +dataset.columns.x,
    ~callbacks.samples, model.fine_tune.layers; `{}` where an f-string inserts a value)."""
    return re.compile(rf"(?<![\w./-])[+~]?(?:{'|'.join(sorted(groups))})(?:\.(?:[A-Za-z_]\w*|\{{\}}|\d+))+")


def groups() -> set[str]:
    """The config's groups (conf/'s folders) and the root's own sections (objective)."""
    root = yaml.safe_load((REPO / "conf" / "train.yaml").read_text())
    return {p.name for p in (REPO / "conf").iterdir() if p.is_dir()} | \
        {k for k, v in root.items() if isinstance(v, dict) and k != "defaults"}


def code_strings(source: str) -> list[tuple[int, str]]:
    """The strings of a module's code, not its docstrings: each with its line, an f-string's
    inserted values as `{}`."""
    tree = ast.parse(source)
    skipped = {id(node.body[0].value) for node in ast.walk(tree)
               if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
               and node.body and isinstance(node.body[0], ast.Expr)
               and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped |= {id(part) for part in node.values}
            found.append((node.lineno, "".join(part.value if isinstance(part, ast.Constant) else "{}"
                                               for part in node.values)))
    return found + [(node.lineno, node.value) for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in skipped]


def key_literals(source: str, pattern: re.Pattern) -> list[str]:
    """The config keys a module's code strings write (not file names such as model.keras)."""
    return [f"line {line}: {key}" for line, text in code_strings(source)
            for key in (m.group() for m in pattern.finditer(text))
            if key.rsplit(".", 1)[-1] not in FILE_SUFFIXES]


def test_the_pattern_finds_a_key_in_code_and_leaves_docstrings_and_file_names():
    pattern = config_key(groups())
    source = ('def read(path):\n    """Reads dataset.path."""\n'
              '    echo(f"+dataset.columns.{path}=text, model.keras")\n'
              '    raise TftrainError(f"dataset.path={path}; model.fine_tune.layers")\n')
    assert key_literals(source, pattern) == ["line 3: +dataset.columns.{}", "line 4: dataset.path",
                                             "line 4: model.fine_tune.layers"]


def test_no_config_key_is_written_below_the_config_layer():
    pattern, written = config_key(groups()), {}
    for path in sorted((REPO / "tftrain").rglob("*.py")):
        where = path.relative_to(REPO / "tftrain").as_posix()
        if not where.startswith(KEYS_ALLOWED) and (keys := key_literals(path.read_text(), pattern)):
            written[where] = keys
    unexpected = {where: keys for where, keys in written.items()
                  if not where.startswith(tuple(KEYS_PENDING))}
    assert not unexpected, f"name the parameter (tftrain.errors.param) instead: {unexpected}"
    pending = {p for p in KEYS_PENDING if any(where.startswith(p) for where in written)}
    assert pending == KEYS_PENDING, f"no longer written, remove from KEYS_PENDING: {KEYS_PENDING - pending}"
