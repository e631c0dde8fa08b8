"""The signals door: Ctrl-C (SIGINT) and SIGTERM in any phase of a run.

For the whole run, both signals raise `Interrupted` (a BaseException) the moment they
arrive, wherever the run is (loading data, building the model, evaluating), except inside
a `protected` section: training, where the callbacks stop at the next batch boundary
(`check`), and writing checkpoints and the model, which must not be cut short. There the
signal is noted and raised when the section ends. A second signal always stops at once.
The runner turns `Interrupted` into a resumable run folder; the CLI into exit 128 + signal.

Outside a run, while the command composes a job's config or a sweep goes from one job to
the next, a signal is `Held`: a KeyboardInterrupt raised inside OmegaConf's updates of a
node leaves the tree half-made, and a `finally` there then fails on it with an
AttributeError that replaces the interruption (exit 1, "'NoneType' object has no attribute
'_invalidate_flags_cache'"). A held signal is delivered where the next run starts (its
`Signals`) or when the command ends; a second one stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import os
import sys
import threading
from types import FrameType, TracebackType
from typing import Any, Iterator

from tftrain.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Signals:
    """Installed with `with Signals() as signals:` (on the main thread; elsewhere, as in a
    joblib worker thread, Python allows no handlers and this does nothing)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._protected = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._arrived) for number in SIGNALS}
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            held = [getattr(h, "__self__", None) for h in self._previous.values()]
            pending = next((h.take() for h in held if isinstance(h, Held) and h.received), None)
            if pending is not None:  # arrived before this run: it stops before it begins
                self.__exit__(None, None, None)
                raise Interrupted(pending)
        return self

    def __exit__(self, kind: type | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
            sys.unraisablehook = self._hook
        self._previous = {}

    def _unraisable(self, unraisable: Any) -> None:
        """A signal raised inside a finalizer (a __del__, a weakref callback) cannot leave it:
        Python would print a traceback and go on. Deliver it again in a moment, outside it."""
        if not isinstance(unraisable.exc_value, Interrupted):
            return self._hook(unraisable)
        self.received = None
        threading.Timer(0.01, os.kill, (os.getpid(), unraisable.exc_value.signal_number)).start()

    def _arrived(self, number: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = number
        if not first or not self._protected:
            raise Interrupted(number)

    @contextlib.contextmanager
    def protected(self) -> Iterator[None]:
        """A section a signal must not cut: the signal is raised when it ends."""
        self._protected += 1
        try:
            yield
        finally:
            self._protected -= 1
        if not self._protected:
            self.check()

    def check(self) -> None:
        """Raise `Interrupted` if a signal arrived (at a safe point, such as a batch's end)."""
        if self.received is not None:
            raise Interrupted(self.received)


class Held:
    """Signals noted, not raised, outside a run (`with Held() as held:` on the main thread;
    `held.received` is the signal that arrived, if any). A second signal raises
    KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Held:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._arrived) for number in SIGNALS}
        return self

    def __exit__(self, kind: type | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _arrived(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = number

    def take(self) -> int | None:
        """The signal held, handed over to a run that starts (and no longer held here)."""
        number, self.received = self.received, None
        return number
