"""The ways a run ends other than completing, and the one rule that tells bad input from a bug.

User input enters tftrain at a few doors: composing the config (tftrain.config.compose),
instantiating `_target_`s (tftrain.config.instantiate), reading the user's data
(tftrain.data.files and each source), reading a run folder (tftrain.run.folder), writing
(tftrain.artifacts.writing) and signals (tftrain.run.signals).

The rule: a component that checks an input raises `TftrainError` where it checks it, naming
its *parameter* (`param("path")`); the boundary that turned the user's config or arguments
into that call renders the parameter as the key the user typed (`keyed("dataset")`:
dataset.path). A door around a library call (Keras building a layer, NumPy reading a file)
also takes the library's own refusal of an input: an exception of the kinds that library
raises for a bad argument or file (`REFUSED`, `UNREADABLE`), raised inside the library. Any
other exception keeps its traceback: raised in the user's own code (their model, loss,
step), it is said to be theirs; raised in tftrain, or of another kind, it is a bug of ours.
Keras' and TensorFlow's traceback filtering stays on except inside a door, where the frames
decide; TFTRAIN_FULL_ERROR=1 turns it off and shows the traceback of any error.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import errno
import os
import re
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FULL_ERROR = "TFTRAIN_FULL_ERROR"
# What libraries raise when they refuse an argument or a value (Keras' layers and losses,
# NumPy, Hydra's instantiate), and, reading a file, when they cannot read it.
REFUSED: tuple[type[BaseException], ...] = (ValueError, TypeError)
UNREADABLE: tuple[type[BaseException], ...] = (*REFUSED, OSError, EOFError, KeyError,
                                               zipfile.BadZipFile)
# Where libraries live: a frame in none of these, and not in tftrain, is the user's own code.
LIBRARIES = tuple(Path(p).resolve() for p in {sysconfig.get_paths()["stdlib"],
                                              sysconfig.get_paths()["purelib"],
                                              sysconfig.get_paths()["platlib"]})
OPEN, CLOSE = "\u27e8", "\u27e9"  # a parameter's name in a message, for its boundary to key
# How a check inside a TensorFlow graph (a tf.data function) marks its message as a refusal
# of the input: TensorFlow raises it as InvalidArgumentError, as it raises a bug's.
GRAPH_REFUSAL = "tftrain refuses the input: "
# The keys of the boundaries the code now runs inside (`keyed`), outermost first: what a
# component says (console.echo) names its parameters as the user's keys, as what it refuses.
BOUNDARIES: contextvars.ContextVar[tuple[str | Mapping[str, str], ...]] = \
    contextvars.ContextVar("tftrain_boundaries", default=())


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
        # kept here, not only as __cause__, which Keras' traceback filtering sets to None
        self.path, self.reason, self.error = Path(path), reason, error


class Diverged(Exception):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3

    def __init__(self, epoch: int, steps: int, value: float) -> None:
        super().__init__(f"the training loss became {value} in epoch {epoch + 1} by step "
                         f"{steps}; stopped before it reached any checkpoint.")
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
        self.kept = False  # whether the run kept what it made and said how to continue it


def signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def user_error(error: BaseException | None) -> TftrainError | None:
    """The TftrainError behind an exception, if any: resolvers and Hydra's instantiate wrap
    the errors they meet in their own exceptions, and TensorFlow raises a check's refusal
    made inside a graph (GRAPH_REFUSAL) as its own."""
    found = error
    while found is not None and not isinstance(found, TftrainError):
        found = found.__cause__ or found.__context__
    if found is None and error is not None and graph_refusal(error) is not None:
        return TftrainError(graph_refusal(error))
    return found


def origin(error: BaseException) -> BaseException:
    """The first exception of an explicit chain (`raise ... from error`): what went wrong,
    under the wrappers that Hydra and OmegaConf put around it."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def raiser(error: BaseException) -> Path | None:
    """The file of the innermost frame that raised `error` (under its wrappers)."""
    traceback, last = origin(error).__traceback__, None
    while traceback is not None:
        last, traceback = traceback, traceback.tb_next
    return Path(last.tb_frame.f_code.co_filename).resolve() if last is not None else None


def raised_in_tftrain(error: BaseException) -> bool:
    """Whether tftrain's own code raised `error`: then the fault is ours, whatever the input."""
    where = raiser(error)
    return where is not None and where.is_relative_to(PACKAGE)


def raised_in_users_code(error: BaseException) -> Path | None:
    """The user's own file that raised `error` (their model, loss, step, data source), if
    it was raised in neither tftrain nor a library."""
    where = raiser(error)
    if where is None or where.is_relative_to(PACKAGE) or not where.is_file():
        return None
    return None if any(where.is_relative_to(library) for library in LIBRARIES) else where


def full_error() -> bool:
    """TFTRAIN_FULL_ERROR=1: every error with its whole traceback (as HYDRA_FULL_ERROR)."""
    return os.environ.get(FULL_ERROR) == "1"


@contextlib.contextmanager
def frames_kept() -> Iterator[None]:
    """Keras' and TensorFlow's traceback filtering off inside this block (as it was after):
    filtered, a Keras layer refusing an input inside a model tftrain builds looks raised by
    tftrain, and a door could not tell a refusal from a bug."""
    keras, tf = sys.modules.get("keras"), sys.modules.get("tensorflow")
    before = keras.config.is_traceback_filtering_enabled() if keras is not None else None
    if keras is not None:
        keras.config.disable_traceback_filtering()
        tf.debugging.disable_traceback_filtering()
    try:
        yield
    finally:
        if before and not full_error():
            keras.config.enable_traceback_filtering()
            tf.debugging.enable_traceback_filtering()


def graph_refusal(error: BaseException) -> str | None:
    """The message of a refusal a check inside a TensorFlow graph made (`GRAPH_REFUSAL`), if
    `error` is one."""
    text = str(getattr(origin(error), "message", None) or origin(error))
    if GRAPH_REFUSAL not in text:
        return None
    return said(error).split(GRAPH_REFUSAL, 1)[1].strip()


def param(name: str) -> str:
    """How a component names one of its parameters in what it refuses: the boundary that
    made the call from the user's config renders it as the key they typed (`keyed`), so
    data, models and trainers know no config key."""
    return f"{OPEN}{name}{CLOSE}"


def rendered(text: str, keys: str | Mapping[str, str] = "") -> str:
    """`text` with each parameter as its key: under a prefix (`dataset` makes `path`
    dataset.path), by a mapping (predict's `path` is `input`; one it does not name is left
    for an outer boundary), or bare."""
    def key(found: re.Match) -> str:
        name = found.group(1)
        if isinstance(keys, Mapping):
            return keys.get(name, found.group(0))
        return f"{keys}.{name}" if keys else name

    return re.sub(f"{OPEN}([^{CLOSE}]*){CLOSE}", key, text)


@contextlib.contextmanager
def keyed(keys: str | Mapping[str, str]) -> Iterator[None]:
    """The boundary where a config node (or a tool's argument) became a call: what the call
    refuses, and what it says meanwhile (`as_keyed`), names its parameters as the user's keys."""
    token = BOUNDARIES.set((*BOUNDARIES.get(), keys))
    try:
        yield
    except TftrainError as error:
        error.args = (rendered(str(error), keys), *error.args[1:])
        raise
    finally:
        BOUNDARIES.reset(token)


def as_keyed(text: str) -> str:
    """`text` with each parameter keyed by the boundaries around this point, the innermost
    first; one no boundary keys reads as its bare name."""
    for keys in reversed(BOUNDARIES.get()):
        text = rendered(text, keys)
    return rendered(text)


def tf_text(message: str) -> str:
    """A TensorFlow error's message for people: without the graph nodes, function names,
    op names and iterator chains it carries."""
    text = re.sub(r"\{\{function_node [^}]*\}\}|\[\[\{\{node [^\]]*\]\]|\[Op:[^\]]*\]( name: \S*)?|"
                  r"\{\{.*?\}\}", "", message.split("\n\t [[")[0]).replace("\\'", "'")
    text = re.sub(r"Error in user-defined function passed to .*? with iterator: \S+: |"
                  r"^.*Iterator::\S+: ", "", text)
    return " ".join(text.split())


def said(error: BaseException, limit: int = 400) -> str:
    """What a library said about an input, on one line: `Type: message` (TensorFlow's
    messages for people, `tf_text`)."""
    error = origin(error)
    text = tf_text(str(getattr(error, "message", None) or error))
    text = re.sub(r"\s*Label values:[\d ]+", "", text)  # a batch's labels, one by one
    text = " ".join(text.split()) or "(no message)"
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return f"{type(error).__name__}: {text}"


@contextlib.contextmanager
def door(name: str, expected: str = "", explain: Callable[[Exception], str] | None = None,
         refused: tuple[type[BaseException], ...] = REFUSED) -> Iterator[None]:
    """Where an input enters a library: the library's refusal of it (an exception of the
    `refused` kinds, raised inside the library) becomes a TftrainError naming `name` (the
    key, file or folder), what was found, and `expected` (or the paragraph `explain` makes
    of it). A TftrainError passes as it is (also one wrapped by Hydra or OmegaConf). Anything
    else keeps its traceback: raised in tftrain or of another kind, a bug of ours; raised in
    the user's own code, theirs. Signals are not exceptions and are never caught."""
    with frames_kept():
        try:
            yield
        except TftrainError:
            raise
        except Exception as error:
            if user_error(error) is not None:
                raise user_error(error) from None
            if raised_in_tftrain(error) or raised_in_users_code(error) \
                    or not isinstance(origin(error), refused):
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
