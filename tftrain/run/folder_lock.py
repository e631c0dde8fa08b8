"""Which folder a command writes into, and holding it while it does.

A run or a sweep writes into a folder of its own (`hydra.run.dir`, `hydra.sweep.dir`, or a
new dated one). Pointed at a folder that holds another run, or files that are no run's, a
command is refused before Hydra writes there. A command holds the folder it names from the
moment it claims it, made or not (`tftrain.run.lock`), before Hydra writes anything: a
second command into it, or into a folder inside it or around it, is refused naming the
holder, whatever the timing. What Hydra rewrites when a run starts in an existing folder
(`resume=`, a run started again where it was interrupted) is kept, so that a run refused at
a door leaves the folder as it was.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from pathlib import Path

import yaml

from tftrain.config.resume import train_longer
from tftrain.errors import TftrainError
from tftrain.artifacts import CONFIG, OVERRIDES
from tftrain.run.folder import status_of
from tftrain.run.lock import LOCK, FolderInUse, Hold, claim, holder_of, in_use, release


def reuse_problem(overrides: list[str], multirun: bool) -> str | None:
    """Why a command may not write into the folder it names (`hydra.run.dir`,
    `hydra.sweep.dir`), if it may not; checked before Hydra writes anything there.

    A run or a sweep writes into a folder of its own. Running the same command again into
    its folder continues it (a sweep runs the jobs it lacks, an interrupted run resumes);
    another command would write its files over those of the run there and mix two runs'
    records, and a folder that holds no run is not tftrain's to fill.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    parsed = OverridesParser.create().parse_overrides(overrides)
    if any(o.get_key_element() == "resume" for o in parsed):
        return None  # resume= names the folder it continues
    given = named_folder(overrides, key)
    if given is None or not Path(given).expanduser().exists():
        return None
    path = Path(given).expanduser()
    if path.is_file():
        return f"{key}={given} is a file; give a folder (a new one, or one this command wrote)."
    if not any(p.name != LOCK for p in path.iterdir()):
        return None
    task = sorted(o.input_line for o in parsed if not o.get_key_element().startswith("hydra"))
    what = "sweep" if multirun else "run"
    previous = earlier_overrides(path, multirun)
    previous = None if previous is None else [o for o in previous if not o.startswith("resume=")]
    if previous is None:
        return (f"{key}={given} already holds files, and no tftrain {what}: a {what} writes into "
                f"a folder of its own. Give a new folder, or leave {key} out (a dated folder "
                "under outputs/).")
    if sorted(previous) != task:
        return (f"{key}={given} holds another {what}, made with {previous or 'no overrides'} "
                f"(this command: {task or 'no overrides'}); writing into it would mix the two "
                f"{what}s' files. Give a new folder"
                + (f", or continue that run: tftrain resume={given}." if not multirun else
                   "; running that same command again continues that sweep."))
    if not multirun and status_of(path) == "completed":
        return (f"{key}={given} holds this very run, completed. To train it longer: "
                f"{train_longer(given)}; for a new run, give a new folder.")
    return None


def earlier_overrides(path: Path, multirun: bool) -> list[str] | None:
    """The overrides the run (or sweep) in `path` was made with; None if it holds none."""
    file = path / ("multirun.yaml" if multirun else OVERRIDES)
    try:
        saved = yaml.safe_load(file.read_text())
        saved = saved["hydra"]["overrides"]["task"] if multirun else saved
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return None
    return [str(o) for o in saved] if isinstance(saved, list) else None


def named_folder(overrides: list[str], key: str) -> str | None:
    """The folder a command line names with `key` (hydra.run.dir, hydra.sweep.dir)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return next((str(o.value()) for o in parsed if o.get_key_element() == key), None)


class Bookkeeping:
    """The folder a command names, held from before Hydra writes there until the command
    ends, and what Hydra rewrites in it as soon as a run starts (.hydra/ and train.log),
    kept from before a run started in an existing folder, so that a run refused at a door
    leaves that folder exactly as it was."""

    FILES = (CONFIG, OVERRIDES, Path(".hydra") / "hydra.yaml", Path("train.log"))

    def __init__(self, hold: Hold | None = None, saved: dict[Path, bytes | None] | None = None) -> None:
        self.hold, self.saved = hold, saved or {}

    @classmethod
    def claim(cls, overrides: list[str], multirun: bool, command: str,
              group: str | None = None) -> Bookkeeping:
        """Hold the folder the command names (`hydra.run.dir`, `hydra.sweep.dir`), or
        refuse the command: another holds it, or what is there is not this command's to
        continue (`reuse_problem`, asked again once no other command can write there).
        `group`: the multi-worker run this process is a worker of."""
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        given = named_folder(overrides, key)
        if given is None or "${" in given:  # known once Hydra resolves it: held by the job
            return cls()
        folder = Path(given).expanduser()
        if group is None:  # a worker may join its group's holding: it checks once it holds it
            refuse_held(folder)  # before anything is made inside another command's folder
            if problem := reuse_problem(overrides, multirun):
                raise TftrainError(problem)
        hold = claim(folder, command, group)
        try:
            if hold is None or hold.joined:  # the first worker of the group checked it
                return cls(hold)
            if problem := reuse_problem(overrides, multirun):
                raise TftrainError(problem)
            refuse_held(folder)
        except BaseException:
            release(hold)
            raise
        saved = {} if multirun else {folder / f: (folder / f).read_bytes() if (folder / f).is_file()
                                     else None for f in cls.FILES}
        return cls(hold, saved)

    def release(self) -> None:
        release(self.hold)
        self.hold = None

    def restore(self) -> None:
        """Put back what Hydra rewrote (only ever called by the process that holds the folder)."""
        for path, data in self.saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)


def refuse_held(folder: Path) -> None:
    """A folder another command holds is refused naming it; so is one inside such a folder
    (a job of a running sweep), or around one (a sweep into the folder of a job resumed on
    its own). Folders this process holds are its own."""
    if folder.exists() and (holder := holder_of(folder)) is not None:
        raise FolderInUse(in_use(folder, holder))
    for outer in folder.resolve().parents:
        if (holder := holder_of(outer)) is not None:
            raise FolderInUse(in_use(folder, holder, f" is inside {outer}, which"))
    for lock in sorted(folder.rglob(LOCK)):
        if lock.parent != folder and (holder := holder_of(lock.parent)) is not None:
            raise FolderInUse(in_use(folder, holder, f" holds {lock.parent}, which"))


def maybe_a_worker() -> bool:
    """Whether this process may be a worker of a multi-worker run: it has a role given by
    hand (TF_CONFIG) or by a scheduler (tftrain.run.cluster)."""
    return any(name in os.environ for name in ("TF_CONFIG", "SLURM_PROCID", "SUBMITIT_EXECUTOR"))


def worker_group(multi_worker: bool) -> str | None:
    """The multi-worker run this process is a worker of (its cluster from TF_CONFIG, or its
    scheduler job), whose workers share one folder; None for a run of its own."""
    if not multi_worker or not maybe_a_worker():
        return None
    if "TF_CONFIG" in os.environ:
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
        except (ValueError, KeyError, TypeError):
            return None  # refused, with what to give, when the run starts its workers
        return "TF_CONFIG " + json.dumps(cluster, sort_keys=True)
    from tftrain.run.cluster import scheduler_environment

    job = scheduler_environment()
    return None if job is None else f"job {job.job_id}"


def unique_dir(path: str) -> str:
    """The `${unique_dir:PATH}` resolver: PATH, or PATH_1, PATH_2... whichever is still free.

    The folder is claimed with an exclusive mkdir, so two runs started in the same second
    (same `${now:...}` name) can never share a folder, even from two processes at once.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(10_000):
        candidate = path if attempt == 0 else f"{path}_{attempt}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        atexit.register(remove_if_empty, candidate)  # claimed but never used (--cfg --resolve)
        return candidate
    raise RuntimeError(f"no free folder name next to {path}")


def remove_if_empty(folder: str) -> None:
    """A folder nothing was written into, and the empty folders above it up to the working
    folder (outputs/multirun/<date>/)."""
    here, path = Path.cwd().resolve(), Path(folder).resolve()
    with contextlib.suppress(OSError):  # not empty: a run or a sweep wrote into it; keep it
        path.rmdir()
        while (path := path.parent) != here and path.is_relative_to(here):
            path.rmdir()
