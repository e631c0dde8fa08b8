"""Console output that also lands in the run folder's train.log.

Everything a run prints goes through `echo`, so train.log holds what the console showed;
Hydra's logging config routes the `tftrain` logger to that file only.
"""

from __future__ import annotations

import io
import logging
import sys
import traceback
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from rich.console import Console

from tftrain.errors import as_keyed, full_error, rendered

log = logging.getLogger("tftrain")
log.addHandler(logging.NullHandler())  # outside a run (no train.log yet) log nothing
# Set in a launcher's worker when jobs of a sweep run in parallel on one terminal.
JOB_LABEL: ContextVar[str | None] = ContextVar("job_label", default=None)


def label_lines(label: str | None) -> None:
    """Parallel jobs share the terminal: each console line names its job, and no job draws a
    live display (two would overwrite each other). train.log stays unlabelled: it is per job.
    None: lines are not labelled."""
    JOB_LABEL.set(label or None)


@lru_cache(maxsize=None)
def console() -> Console:
    """One Console for the process: a live display and plain prints must share it."""
    return Console(highlight=False, soft_wrap=True)


@lru_cache(maxsize=None)
def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def echo(message: str) -> None:
    """One line to the console and train.log; a parameter a component names in it (`param`)
    reads as the boundaries around it key it (`keyed`)."""
    message = as_keyed(message)
    label = JOB_LABEL.get()
    console().print(f"[{label}] {message}" if label else message, markup=False)
    log.info(message)


def show(renderable: Any) -> None:
    """A table (or other rich renderable) on the console, and as plain text in train.log."""
    console().print(renderable)
    plain = Console(width=120, file=io.StringIO(), color_system=None, highlight=False)
    plain.print(renderable)
    log.info("\n" + plain.file.getvalue().rstrip())


def number(value: float | None) -> str:
    """A metric for people, in a cell of fixed width: 0.9888, 12.3457, and 4.59e+09 or
    1.2e-05 where four decimals would be too long or would show nothing."""
    if value is None:
        return ""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value != 0 and not 1e-4 <= abs(value) < 1e6:
        return f"{value:.3g}"
    return f"{value:.4f}"


def fail(message: str) -> None:
    """Print one paragraph of error to stderr (and the log, when a run folder exists); a
    parameter no boundary keyed reads as its bare name."""
    message = rendered(message)
    error_console().print(f"tftrain: error: {message}", markup=False, style="red")
    log.error(message)


def refuse(error: BaseException) -> int:
    """Bad input (a TftrainError) as one paragraph, its traceback above it with
    TFTRAIN_FULL_ERROR=1; returns its exit status."""
    if full_error():
        print("".join(traceback.format_exception(error)), file=sys.stderr, end="")
    fail(str(error))
    return getattr(error, "exit_code", 2)


def interactive() -> bool:
    return JOB_LABEL.get() is None and console().is_terminal and sys.stdout.isatty()


def detach_log_file() -> None:
    """Stop writing a run folder's train.log from this process: a non-chief worker, or a
    new command (what it says before its own run starts belongs to no earlier run's log)."""
    for logger in (log, logging.getLogger()):
        for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(handler)
            handler.close()
