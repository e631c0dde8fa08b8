"""Which folder a command writes into, and holding it while it does.

A run or a sweep writes into a folder of its own (`hydra.run.dir`, `hydra.sweep.dir`, or a
new dated one). Pointed at a folder that holds another run, or files that are no run's, a
command is refused before Hydra writes there. A command that rightly starts in an existing
folder (`resume=`, a run started again where it was interrupted) holds it, so that a second
command cannot train into it at the same time, and keeps what Hydra rewrites there when a
run starts, so that a run refused at a door leaves the folder as it was.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import yaml

from tftrain.errors import TftrainError
from tftrain.artifacts import CONFIG, OVERRIDES
from tftrain.run.folder import status_of


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
    if not any(path.iterdir()):
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
        return (f"{key}={given} holds this very run, completed. To train it longer: tftrain "
                f"resume={given} trainer.epochs=N; for a new run, give a new folder.")
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
    """What Hydra rewrites in a run folder as soon as a run starts there (.hydra/ and
    train.log), kept from before a run started in an existing folder (`resume=`, a run
    started again where it was interrupted), so that a run refused at a door leaves that
    folder exactly as it was."""

    FILES = (CONFIG, OVERRIDES, Path(".hydra") / "hydra.yaml", Path("train.log"))

    def __init__(self, folder: Path | None, shared: bool = False) -> None:
        self.saved = {} if folder is None or not folder.is_dir() else \
            {folder / f: (folder / f).read_bytes() if (folder / f).is_file() else None
             for f in self.FILES}
        self.lock = None if not self.saved or shared else hold(folder)

    @classmethod
    def before(cls, overrides: list[str], multirun: bool) -> "Bookkeeping":
        given = None if multirun else named_folder(overrides, "hydra.run.dir")
        # the workers of one multi-worker run, started by hand, may name one folder
        shared = "distribute=multi_worker" in overrides or "TF_CONFIG" in os.environ
        return cls(None if given is None else Path(given).expanduser(), shared)

    def release(self) -> None:
        if self.lock is not None:
            os.close(self.lock)  # closing the descriptor lets go of its lock
            self.lock = None

    def restore(self) -> None:
        """Put back what Hydra rewrote (only ever called by the process that holds the folder)."""
        for path, data in self.saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)


def hold(folder: Path) -> int:
    """An exclusive lock on the folder itself (flock on its directory: no file is left
    behind, and the kernel lets go when the process ends, however it ends)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise TftrainError(f"{folder} is in use: another tftrain process is running in it (a "
                           "resume= or the same command started twice). Let it end, or stop it, "
                           "then run this again.") from None
    return descriptor
