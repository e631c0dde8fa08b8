"""A folder held by one command: a lock file in it, locked with flock, that says who holds it.

The kernel lets go of a flock when its holder ends, however it ends (SIGKILL, a crash, a
lost node's NFS lease), so a lock file whose lock is free holds nothing, whatever it says:
the next command takes it over. The file records the holder's PID, host and command line,
which a refused command names. The workers of one multi-worker run share their folder: each
takes a shared lock under its group (their cluster, or their scheduler job), which neither
a lone command (an exclusive lock) nor another group's worker can join.

A claim that finds the lock taken tries again for a moment (`PATIENCE`): another process may
be only looking at it (`holder_of`), or a worker writing its group's record; a command that
holds a folder holds it for longer than that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from tftrain.errors import TftrainError

LOCK = ".tftrain.lock"
PATIENCE = 0.5  # seconds


class FolderInUse(TftrainError):
    """Another command holds the folder: nothing in it is this command's to write, record
    or discard."""


@dataclass(frozen=True)
class Holder:
    """What a lock file says of the command holding it."""

    pid: int
    host: str
    command: str
    group: str | None = None
    since: str = ""

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):  # gone, being written, or not ours
            return None

    def said(self) -> str:
        if not self.pid:
            return "another tftrain command (its lock file does not say which)"
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        since = f", since {self.since}" if self.since else ""
        return f"`{self.command}` (PID {self.pid}{where}{since})"


@dataclass
class Hold:
    """A folder this process holds: the lock file's descriptor, whether it joined its
    group's holding (the first worker decides what the folder may hold), and the folders
    the claim made (innermost first), removed when it ends if nothing was written there."""

    folder: Path
    descriptor: int
    joined: bool = False
    created: list[Path] = field(default_factory=list)


HELD: dict[Path, Hold] = {}  # what this process holds, by resolved folder
UNKNOWN = Holder(0, "", "")  # a holder whose lock file is still being written, or unreadable


def claim(folder: Path, command: str, group: str | None = None) -> Hold | None:
    """Hold `folder` from now until `release` (or until this process ends), creating it if
    need be; None when this process holds it already. Another command holding it: FolderInUse."""
    key = folder.resolve()
    if key in HELD:
        return None
    created = make(folder)
    deadline = time.monotonic() + PATIENCE
    while True:
        hold = attempt(folder, command, group, created)
        if hold is not None:
            HELD[key] = hold
            return hold
        if time.monotonic() > deadline:
            raise FolderInUse(in_use(folder, Holder.read(folder / LOCK) or UNKNOWN))
        time.sleep(0.02)


def attempt(folder: Path, command: str, group: str | None, created: list[Path]) -> Hold | None:
    """One try at the lock: alone (exclusive), or beside the workers of the same group."""
    path = folder / LOCK
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # a holder leaving removed the folder it had made: make it again
        created[:] = make(folder)
        return None
    except OSError as error:
        raise TftrainError(f"cannot hold {folder} for this command: {path}: "
                           f"{error.strerror}. Give a folder you can write into.") from None
    if locked(descriptor, fcntl.LOCK_EX) and same_file(descriptor, path):
        record(descriptor, Holder(os.getpid(), socket.gethostname(), command, group,
                                  datetime.now().strftime("%Y-%m-%d %H:%M:%S")))
        if group is None or locked(descriptor, fcntl.LOCK_SH):  # workers share it from now on
            return Hold(folder, descriptor, created=created)
    elif group is not None and locked(descriptor, fcntl.LOCK_SH) and same_file(descriptor, path):
        holder = Holder.read(path)
        if holder is not None and holder.group == group:
            return Hold(folder, descriptor, joined=True)
    os.close(descriptor)
    return None


def release(hold: Hold | None) -> None:
    """Let go of a folder: the last holder out removes the lock file, and the folders the
    claim made if nothing else was written there."""
    if hold is None or HELD.get(hold.folder.resolve()) is not hold:
        return
    del HELD[hold.folder.resolve()]
    path = hold.folder / LOCK
    try:
        if locked(hold.descriptor, fcntl.LOCK_EX) and same_file(hold.descriptor, path):
            path.unlink()
    finally:
        os.close(hold.descriptor)  # closing the descriptor lets go of its lock
    for made in hold.created:
        try:
            made.rmdir()
        except FileNotFoundError:
            continue  # a run refused at a door removed its folder itself
        except OSError:
            break  # something was written there: kept


def release_all() -> None:
    for hold in list(HELD.values()):
        release(hold)


def holder_of(folder: Path) -> Holder | None:
    """Who holds a folder this process does not, if anyone (a look that takes the lock for
    an instant, and only if it is free)."""
    path = folder / LOCK
    if folder.resolve() in HELD or not path.is_file():
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if locked(descriptor, fcntl.LOCK_EX):
            return None
        return Holder.read(path) or UNKNOWN
    finally:
        os.close(descriptor)


def in_use(folder: Path, holder: Holder, where: str = "") -> str:
    """Why a command is refused a folder another command holds (`where`: the folder it is
    inside of, or holds)."""
    stop = f" (kill {holder.pid})" if holder.pid and holder.host == socket.gethostname() else ""
    return (f"{folder}{where} is in use: {holder.said()} is writing into it, and two commands in one "
            f"folder would mix their records. Let it end, or stop it{stop}, then run this "
            "again; or give this command a folder of its own.")


def make(folder: Path) -> list[Path]:
    """Create `folder` and the folders above it that are missing; those made, innermost first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TftrainError(f"cannot create {folder}: {error.strerror}. Give a folder you can "
                           "write into.") from None
    return missing


def locked(descriptor: int, kind: int) -> bool:
    """Whether this lock (exclusive, shared) was taken; another process holds it if not."""
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:  # some FUSE and network mounts
        raise TftrainError(f"cannot hold a folder on this file system ({error.strerror}): a "
                           "command holds the folder it writes with flock. Give a folder on a "
                           "local disk or NFS.") from None
    return True


def same_file(descriptor: int, path: Path) -> bool:
    """Whether the locked file is still the one at `path` (a holder leaving removes it; a
    lock on the removed file holds nothing)."""
    with contextlib.suppress(FileNotFoundError):
        mine, there = os.fstat(descriptor), os.stat(path)
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
    return False


def record(descriptor: int, holder: Holder) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(asdict(holder)).encode(), 0)
