"""Where a command's configs come from: tftrain's own (conf/), a folder of the user's added to
them (`--config-dir`: its YAML files are more options of tftrain's groups, new groups, or
primary configs of its own), or put in their place (`--config-path`), and the primary config
(`--config-name`). The command line's flags say which, as Hydra reads them; composing before
a run (preflight, the checks and their suggestions) searches the same folders in the same
order as the run itself, so a user's configs pass the same door as the packaged ones.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import yaml

from tftrain.errors import TftrainError, did_you_mean

PRIMARY = "train"
# Hydra's flags that choose the configs, by what they set.
FLAGS = {"--config-dir": "added", "-cd": "added", "--config-path": "primary", "-cp": "primary",
         "--config-name": "name", "-cn": "name"}


def packaged() -> Path:
    """The packaged configs (wheel install) or the repository's conf/ (editable install)."""
    package = Path(__file__).parent.parent  # tftrain/
    conf = package / "conf"
    return conf if conf.is_dir() else package.parent / "conf"


@dataclass(frozen=True)
class Source:
    """The config folders one command composes from, in Hydra's search order, and its
    primary config. `primary`: an absolute folder, or pkg://module; `added`: --config-dir."""

    primary: str
    name: str = PRIMARY
    added: str | None = None

    def folders(self) -> list[Path]:
        """The folders searched, in order (a pkg:// primary is no folder to list)."""
        return [Path(f) for f in (self.primary, self.added) if f and "://" not in f]

    def options(self, group: str) -> list[str]:
        """The options of a config group, over every folder (none for a group that is no folder)."""
        if not group:
            return []
        return sorted({p.stem for folder in self.folders() for p in (folder / group).glob("*.yaml")})

    def groups(self, hidden: set[str]) -> dict[str, list[str]]:
        """Every config group (a folder of YAML options) and its options, but the `hidden` ones."""
        found: dict[str, set[str]] = {}
        for root in self.folders():
            for folder in sorted(p for p in root.rglob("*") if p.is_dir()):
                name = folder.relative_to(root).as_posix()
                options = {f.stem for f in folder.glob("*.yaml")}
                if options and name.split("/")[0] not in hidden:
                    found.setdefault(name, set()).update(options)
        return {name: sorted(options) for name, options in sorted(found.items())}

    def file(self, config: str) -> Path | None:
        """The file a config path names (`model/tiny`, `train`): the first one found."""
        return next((f / f"{config}.yaml" for f in self.folders() if (f / f"{config}.yaml").is_file()),
                    None)

    def primaries(self) -> list[str]:
        """The configs at the top of the folders, which --config-name can name."""
        return sorted({p.stem for folder in self.folders() for p in folder.glob("*.yaml")})

    def users(self) -> list[Path]:
        """The user's own folders among those searched."""
        return [f for f in self.folders() if f != packaged()]

    @contextlib.contextmanager
    def searched(self) -> Iterator[None]:
        """Hydra set up to compose from these folders, as `hydra.main` sets itself up for the
        run (hydra._internal.utils._run_hydra: the primary folder, then --config-dir before
        the structured configs), and as it was afterwards (as hydra.initialize_config_dir)."""
        from hydra import version
        from hydra._internal.hydra import Hydra
        from hydra._internal.utils import create_config_search_path
        from hydra.core.config_search_path import SearchPathQuery
        from hydra.initialize import get_gh_backup, restore_gh_from_backup

        backup = get_gh_backup()
        version.setbase("1.3")
        path = create_config_search_path(self.primary)
        if self.added:
            path.prepend(provider="command-line", path=f"file://{self.added}",
                         anchor=SearchPathQuery(provider="schema"))
        Hydra.create_main_hydra2(task_name="app", config_search_path=path)
        try:
            yield
        finally:
            restore_gh_from_backup(backup)


PACKAGED = Source(str(packaged()))
CURRENT: ContextVar[Source] = ContextVar("config_source", default=PACKAGED)


def current() -> Source:
    """The configs the command being run composes from (tftrain's own unless it said otherwise)."""
    return CURRENT.get()


@contextlib.contextmanager
def used(source: Source) -> Iterator[None]:
    """Compose from `source` inside this block: every composition of the command, the
    checks' and the sweeper's included."""
    token = CURRENT.set(source)
    try:
        yield
    finally:
        CURRENT.reset(token)


def flag_values(argv: list[str]) -> dict[str, str]:
    """The values of the config flags a command line gives (`--config-dir X`, `-cd=X`), by
    what they set; the last one of each counts, as for Hydra."""
    found = {}
    for i, arg in enumerate(argv):
        flag, equals, value = arg.partition("=")
        if flag in FLAGS:
            given = value if equals else (argv[i + 1] if i + 1 < len(argv) else "")
            found[FLAGS[flag]] = given
    return found


def flags_of_run(folder: Path) -> list[str]:
    """The config flags a run was made with, from Hydra's record of its search path
    (.hydra/hydra.yaml), so that resuming it composes from the same folders; none for a run
    of tftrain's own configs, or one whose record does not say."""
    return flags_of(folder / ".hydra" / "hydra.yaml")


def flags_of(record: Path) -> list[str]:
    """The config flags in a Hydra record: a run's .hydra/hydra.yaml, a sweep's multirun.yaml."""
    from omegaconf import OmegaConf

    try:
        hydra = OmegaConf.load(record).hydra
        found = {s.provider: (s.schema, s.path) for s in hydra.runtime.config_sources}
        name = hydra.job.config_name
    except Exception:  # no record, or not Hydra's: the run's own overrides still apply
        return []
    flags = []
    schema, main = found.get("main", ("file", str(packaged())))
    if main != str(packaged()) and (schema == "pkg" or Path(main).is_dir()):
        flags += ["--config-path", f"pkg://{main}" if schema == "pkg" else main]
    if "command-line" in found:
        flags += ["--config-dir", found["command-line"][1]]
    return flags + (["--config-name", name] if name and name != PRIMARY else [])


def source_of(argv: list[str]) -> Source:
    """The configs a command line composes from; a folder that is not there is refused."""
    given = flag_values(argv)
    primary = str(packaged())
    if "primary" in given:
        primary = primary_folder(given["primary"])
    added = None
    if "added" in given:
        added = os.path.abspath(os.path.expanduser(given["added"]))
        if not Path(added).is_dir():
            raise TftrainError(f"--config-dir {given['added']}: " + (
                "this is a file; give the folder that holds your configs" if Path(added).exists()
                else f"no such folder ({added})") + ". Its subfolders are config groups (model/, "
                "dataset/, ...) and its YAML files their options, used as model=NAME; YAML files "
                "at its top are primary configs, used with --config-name NAME.")
    return Source(primary, given.get("name") or PRIMARY, added)


def primary_folder(given: str) -> str:
    """--config-path as Hydra reads it: an absolute folder, or pkg://module. Hydra reads a
    relative one inside the package that declares the app (tftrain's own), never in the
    working folder, so one is refused with the absolute path to give instead."""
    if given.startswith("pkg://"):
        return given
    path = Path(given).expanduser()
    if not path.is_absolute():
        here = Path.cwd() / path
        raise TftrainError(
            f"--config-path {given}: Hydra reads a relative --config-path inside tftrain's own "
            f"package, not in the working folder. " + (
                f"Give it as an absolute path: --config-path {here}" if here.is_dir() else
                "Give the folder's absolute path") + " (it replaces tftrain's configs: your "
            "primary config then names every group's option itself), or add your configs to "
            f"tftrain's with --config-dir {given}.")
    if not path.is_dir():
        raise TftrainError(f"--config-path {given}: no such folder; give the folder that holds "
                           "your primary config (--config-name NAME reads NAME.yaml there).")
    return str(path)


def yaml_problem(error: BaseException) -> str | None:
    """A config file that is not valid YAML, named with the line and column of the problem
    (PyYAML's and OmegaConf's loader errors, wherever they are in the chain of `error`)."""
    seen = error
    while seen is not None and not isinstance(seen, yaml.MarkedYAMLError):
        seen = seen.__cause__ or seen.__context__
    if seen is None or seen.problem_mark is None:
        return None
    mark = seen.problem_mark
    where = ""
    if seen.context and seen.context_mark is not None:
        where = f" ({seen.context} at line {seen.context_mark.line + 1}, column {seen.context_mark.column + 1})"
    return (f"{shown(Path(mark.name))}, line {mark.line + 1}, column {mark.column + 1}: this config "
            f"file is not valid YAML: {seen.problem}{where}. Fix that line (a tab, an unclosed "
            "bracket or quote, a missing space after ':', or a key given twice are the usual "
            "causes).")


def line_of(file: Path, keys: list[str]) -> int | None:
    """The line of a key in a config file (`keys`: the path to it from the file's top)."""
    try:
        node = yaml.compose(file.read_text())
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        found = [pair for pair in node.value if pair[0].value == key] \
            if isinstance(node, yaml.MappingNode) else []
        if not found:
            return None
        name, node = found[-1]
        line = name.start_mark.line + 1
    return line


def not_found(error: Exception) -> str | None:
    """A config a defaults list names (`- train`) that none of the folders has."""
    missing = re.match(r"In '(.+?)': Could not load '(.+?)'", str(error))
    if not missing:
        return None
    source, (config, name) = current(), missing.groups()
    file = source.file(config)
    there = f"{shown(file)}" if file else f"config '{config}'"
    hint = ""
    if PACKAGED.file(name):
        hint = (f" {name}.yaml is tftrain's own: --config-path puts your folder in place of "
                "tftrain's configs; --config-dir adds it beside them.")
    return (f"{there} names '{name}' in its defaults list, and none of "
            f"{', '.join(shown(f) for f in source.folders())} has {name}.yaml.{hint}")


def no_primary(error: Exception) -> str | None:
    """--config-name naming a config none of the folders has."""
    missing = re.match(r"Cannot find primary config '(.+?)'", str(error))
    if not missing:
        return None
    source, name = current(), missing.group(1)
    there = source.primaries()
    own = "" if source.users() else (" To use one of your own, add its folder: --config-dir "
                                     "DIR --config-name NAME.")
    return (f"--config-name {name}: there is no {name}.yaml in "
            f"{', '.join(shown(f) for f in source.folders())}.{did_you_mean(name, there)} "
            f"Primary configs there: {', '.join(there) or 'none'}.{own}")


def named_in(group: str, option: str) -> str:
    """Where a user's config file names an option in its defaults list (`- override model:
    tinny`): ' (in FILE, line N)', or nothing when none does."""
    pattern = re.compile(rf"^\s*-\s*(override\s+)?/?{re.escape(group)}(@\S+)?\s*:.*\b{re.escape(option)}\b")
    for folder in current().users():
        for file in sorted(folder.rglob("*.yaml")):
            lines = file.read_text(errors="replace").splitlines()
            for number, text in enumerate(lines, 1):
                if pattern.match(text):
                    return f" (in the defaults list of {shown(file)}, line {number})"
    return ""


def schema_keys(cause: Exception) -> list[str]:
    """The keys of the structured config (a dataclass of tftrain.config.schema) that
    refused a key, if a structured config refused it."""
    kind = getattr(cause, "object_type", None)
    return sorted(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else []


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when inside it."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
