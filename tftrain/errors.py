"""The ways a run ends other than completing, and how a failure is told apart from a bug.

User input enters tftrain at a few doors, each a module of its own:

    composing the config        tftrain.config.compose      (Hydra + schema; no TensorFlow)
    instantiating `_target_`s   tftrain.config.instantiate
    reading the user's data     tftrain.data.files   (and each source behind it)
    reading a run folder        tftrain.run.folder   (eval, predict, resume, report)
    signals                     tftrain.run.signals      (Ctrl-C, SIGTERM, in any phase)

Each door turns whatever goes wrong behind it into one `TftrainError` naming the input and
what would be valid (exit status 2, no traceback). `door` below is the shared mechanism:
it decides by *where* an exception was raised whether the input is to blame (raised in a
library reading it: numpy, Keras, Hydra, the user's own code) or tftrain is (raised in
tftrain's own code: a bug, which keeps its traceback).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


class TftrainError(Exception):
    """Bad input a user can fix: the message names the value and what would be valid.

    The CLI prints it as one paragraph and exits with status 2, no traceback.
    """

    exit_code = 2


class WriteFailed(TftrainError):
    """A file could not be written (a full disk, a file-size limit, a read-only folder): not
    bad input, and not a bug. One paragraph naming the path and the system's reason, after
    whatever was computed has been shown; exit status 74 (sysexits' EX_IOERR). What was
    written before stays whole (every file lands under a temporary name first), so a run
    folder resumes once it can be written again."""

    exit_code = 74

    def __init__(self, path: Path | str, error: OSError, then: str = "") -> None:
        reason = error.strerror or str(error)
        code = f" ({errno.errorcode[error.errno]})" if error.errno in errno.errorcode else ""
        super().__init__(f"could not write {path}: {reason}{code}." + (f" {then}" if then else ""))
        self.path, self.reason = Path(path), reason


class Diverged(Exception):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3

    def __init__(self, epoch: int, steps: int, value: float) -> None:
        super().__init__(f"the training loss became {value} in epoch {epoch + 1} by step "
                         f"{steps}; stopped before it reached any checkpoint. A loss that "
                         "diverges most often means a learning rate too high "
                         "(optimizer.learning_rate, lr_schedule) or inputs on very different "
                         "scales (dataset.normalize=true).")
        self.epoch, self.steps = epoch, steps


class Pruned(Exception):
    """An Optuna search's pruner stopped this trial: its objective trailed the others' at
    this epoch (tftrain.sweeps.trial). Not a failure: the trial is recorded as pruned."""

    exit_code = 0

    def __init__(self, epoch: int, metric: str, value: float) -> None:
        super().__init__(f"pruned after epoch {epoch + 1}: {metric} {value:.4f} trailed the "
                         "search's other trials")
        self.epoch = epoch


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that
    no library's `except Exception` (Hydra's instantiate, a data reader) swallows or wraps it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by {signal_name(signal_number)}")
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number


def signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def user_error(error: BaseException | None) -> TftrainError | None:
    """The TftrainError behind an exception, if any: resolvers and Hydra's instantiate wrap
    the errors they meet in their own exceptions."""
    while error is not None and not isinstance(error, TftrainError):
        error = error.__cause__ or error.__context__
    return error


def origin(error: BaseException) -> BaseException:
    """The first exception of an explicit chain (`raise ... from error`): what went wrong,
    under the wrappers that Hydra and OmegaConf put around it."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def raised_in_tftrain(error: BaseException) -> bool:
    """Whether the innermost frame that raised `error` (under its wrappers) is tftrain's own
    code: then the fault is ours, whatever the input was."""
    traceback, last = origin(error).__traceback__, None
    while traceback is not None:
        last, traceback = traceback, traceback.tb_next
    return last is not None and Path(last.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def said(error: BaseException, limit: int = 400) -> str:
    """What a library said about an input, on one line: `Type: message` (TensorFlow's
    messages without the graph nodes and function names they carry)."""
    error = origin(error)
    text = str(getattr(error, "message", None) or error)
    text = re.sub(r"\{\{function_node [^}]*\}\}|\[\[\{\{node [^\]]*\]\]|\[Op:[^\]]*\]( name: \S*)?",
                  "", text.split("\n\t [[")[0]).replace("\\'", "'")
    text = re.sub(r"Error in user-defined function passed to .*? with iterator: \S+: ", "", text)
    text = re.sub(r"\s*Label values:[\d ]+", "", text)  # a batch's labels, one by one
    text = " ".join(text.split()) or "(no message)"
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return f"{type(error).__name__}: {text}"


@contextlib.contextmanager
def door(name: str, expected: str = "",
         explain: Callable[[Exception], str] | None = None) -> Iterator[None]:
    """Where an input enters: any failure raised outside tftrain's code becomes a
    TftrainError naming `name` (the key, file or folder), what was found, and `expected`
    (or the paragraph `explain` makes of the exception).

    A TftrainError passes as it is (also one wrapped by Hydra or OmegaConf); an exception
    raised in tftrain's own code is a bug and passes too (its traceback is shown); signals
    are not exceptions and are never caught.
    """
    try:
        yield
    except TftrainError:
        raise
    except Exception as error:
        if user_error(error) is not None:
            raise user_error(error) from None
        if raised_in_tftrain(error):
            raise
        message = explain(error) if explain else \
            f"{name}: {said(error)}" + (f". Expected {expected}." if expected else ".")
        raise TftrainError(message) from error


# Words people type for a key that is spelt otherwise (suggested only where that key exists).
SYNONYMS = {"size": "num_samples", "samples": "num_samples", "n": "num_samples",
            "rows": "num_samples", "classes": "num_classes", "lr": "learning_rate",
            "rate": "learning_rate", "bs": "batch_size", "batch": "batch_size",
            "epoch": "epochs", "n_epochs": "epochs", "num_epochs": "epochs", "target": "label",
            "labels": "label", "file": "path", "filename": "path", "dir": "path",
            "folder": "path", "decay": "weight_decay"}


def closest(name: str, options: Iterable[str], count: int = 3) -> list[str]:
    """The valid names nearest to a misspelt one (case-insensitive), nearest first: one
    typing slip away (a letter added, dropped, changed or two swapped: `acuracy` is
    `accuracy` before it is `binary_accuracy`), then by a synonym people use, by spelling,
    or as part of a longer name."""
    options = list(dict.fromkeys(str(o) for o in options))
    lowered = {o.lower(): o for o in options}
    typed = name.lower()
    near = [typed] if typed in lowered else []  # only the case differs
    near += [o for o in lowered if len(typed) >= 3 and one_slip(typed, o)]
    near += [SYNONYMS[typed]] if SYNONYMS.get(typed) in lowered else []
    near += difflib.get_close_matches(typed, list(lowered), n=count, cutoff=0.6)
    # A name that is part of a valid one, or the reverse ("size" -> "image_size"), is near too.
    near += [o.lower() for o in options if len(name) >= 3 and (typed in o.lower()
             or (len(o) >= 3 and o.lower() in typed))]
    return [lowered[n] for n in dict.fromkeys(near)][:count]


def one_slip(typed: str, valid: str) -> bool:
    """Whether `typed` is `valid` with one letter added, dropped or changed, or two
    neighbours swapped (Damerau edit distance 1)."""
    if typed == valid or abs(len(typed) - len(valid)) > 1:
        return False
    start = next((i for i, (a, b) in enumerate(zip(typed, valid)) if a != b),
                 min(len(typed), len(valid)))
    a, b = typed[start:], valid[start:]
    return (a[1:] == b[1:] or a[1:] == b or a == b[1:]
            or (len(a) >= 2 and a[0] == b[1:2] and a[1] == b[0] and a[2:] == b[2:]))


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """" Did you mean X?" (or "X or Y?"), or "" when nothing valid is near."""
    near = [f"'{prefix}{o}'" for o in closest(name, options)]
    if not near:
        return ""
    return f" Did you mean {near[0]}?" if len(near) == 1 else \
        f" Did you mean {', '.join(near[:-1])} or {near[-1]}?"
