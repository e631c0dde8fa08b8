"""How a console script's process ends.

Once TensorFlow is loaded, Python's own shutdown spends about 2 s (measured on 2 CPU cores)
tearing down TensorFlow's native state after the last line of tftrain has run: a sixth of
a `debug=smoke` run, paid again by every job of a sweep run one per process. Everything a
run writes is closed by then (files are written atomically, train.log is flushed below), so
`exits_fast` does what that shutdown would do for us and skips the rest: it waits for
non-daemon threads, runs the atexit handlers (logging's flush, Hydra's, tftrain's own),
flushes the standard streams, and ends the process with the same exit status.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
from typing import Callable


def exits_fast(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a console script's `main` (never code that runs inside another program)."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
            status: object = 0
        except SystemExit as stop:
            status = stop.code
        if "tensorflow" not in sys.modules:  # nothing to skip: exit as Python does
            sys.exit(status)
        end_now(status)

    return wrapper


def end_now(status: object) -> None:
    """Python's shutdown, less its finalisation of every module and object."""
    # As Python's own shutdown: the threading atexit calls first (concurrent.futures' and
    # joblib's executors stop their workers there), then every non-daemon thread joined.
    # Joining first waited for ever on joblib's executor thread, which waits for that call.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    if status is not None and not isinstance(status, int):  # sys.exit("message")
        print(status, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()  # noqa: SLF001  (logging.shutdown and every other handler)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status or 0)
