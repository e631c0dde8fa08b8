"""The instantiation door: every `_target_` node of a config becomes an object here.

`check(cfg)` locates every `_target_` of a run's config before anything is built, so a
misspelt class (`keras.layers.Dence`) is refused at once, naming the key path and the
closest existing names. `instantiate(node, where)` is Hydra's instantiate with its failures
named: an argument the class does not take (with its valid arguments, read from the
signature), a required one missing, a value the class refused. An exception raised in
tftrain's own code is a bug and keeps its traceback (`tftrain.errors.door`).
"""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType
from typing import Any

import hydra.utils
from omegaconf import DictConfig, OmegaConf

from tftrain.config import checks
from tftrain.config.checks import targets
from tftrain.config.tree import with_targets
from tftrain.errors import TftrainError, did_you_mean, door, origin, said

REQUIRED = re.compile(r"missing \d+ required (?:positional |keyword-only )?arguments?: (.+)")
# Arguments Keras looks up by name (activation="relu", kernel_initializer="he_normal"), by
# how the argument's name ends, and the `keras` module whose `get` reads them.
NAMED_BY = {"activation": "activations", "initializer": "initializers",
            "regularizer": "regularizers", "constraint": "constraints"}


def check(cfg: DictConfig) -> None:
    """Every `_target_` in the config names something that exists (before anything is built)."""
    for where, target in targets(cfg):
        locate(target, where)


def locate(target: str, where: str) -> Any:
    """The object a dotted `_target_` names, importing modules on the way.

    Misspelt parts get the closest names that exist where they were looked for; a user's
    module that fails to import says why (a syntax error in their file, a missing package).
    """
    parts = target.split(".")
    found: Any = import_part(parts[0], target, where)
    for index, part in enumerate(parts[1:], start=1):
        if hasattr(found, part):
            found = getattr(found, part)
            continue
        prefix = ".".join(parts[:index])
        if isinstance(found, ModuleType):
            module = import_part(f"{prefix}.{part}", target, where, missing_ok=True)
            if module is not None:
                found = module
                continue
        names = [n for n in dir(found) if not n.startswith("_")]
        raise TftrainError(f"{where}={target!r}: there is no '{part}' in {prefix}."
                           f"{did_you_mean(part, names, prefix=prefix + '.')}")
    if not callable(found):
        raise TftrainError(f"{where}={target!r} names a {type(found).__name__}, not a class or "
                           "function; `_target_` must name something to call.")
    return found


def import_part(name: str, target: str, where: str, missing_ok: bool = False) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name and not name.startswith(f"{error.name}."):
            raise TftrainError(f"{where}={target!r}: importing {name} failed: {said(error)}.") from None
        if missing_ok:
            return None
        raise TftrainError(f"{where}={target!r}: there is no module '{name}' (not in the working "
                           "folder, nor installed).") from None
    except Exception:  # the user's own module raised while importing
        # a module that does not compile is refused, naming its file and line; one whose own
        # code fails as it runs is the user's code failing: its traceback is shown
        with door(where, explain=lambda e: f"{where}={target!r}: importing {name} failed: "
                                           f"{said(e)}{location(e)}.", refused=(SyntaxError, ImportError)):
            raise


def location(error: BaseException) -> str:
    """' (file.py, line N)': where in a user's file an error was raised."""
    traceback = origin(error).__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({error.filename}, line {error.lineno})"
    return "" if traceback is None else \
        f" ({traceback.tb_frame.f_code.co_filename}, line {traceback.tb_lineno})"


def instantiate(node: Any, where: str, **options: Any) -> Any:
    """`hydra.utils.instantiate(node, **options)`; a failure names the node's key path
    (`where`, e.g. model.layers.1), the class, and what it accepts."""
    with door(where, explain=lambda error: explain(error, node, where)):
        # The ranges checked at composition, again on values only now resolved
        # (${epochs_to_steps:N}, ${optimizer.learning_rate}).
        checks.check_limits(OmegaConf.to_container(node, resolve=True)
                            if isinstance(node, DictConfig) else node, where)
        return hydra.utils.instantiate(node, **options)


def explain(error: Exception, node: Any, where: str) -> str:
    """One paragraph: which node failed, and the argument it did not take, lacked or refused."""
    path, failed = failing_node(error, node, where)
    target = str(failed.get("_target_")) if isinstance(failed, (dict, DictConfig)) else None
    if target is None:
        return f"{path}: {said(error)}"
    problem = str(origin(error))
    given = [str(k) for k in failed if not str(k).startswith("_")]
    accepted = parameters(locate(target, f"{path}._target_"))
    unknown = unknown_argument(target, [k for k in given if k in problem], accepted, path)
    if unknown:
        return unknown
    required = REQUIRED.search(problem)
    if required:
        names = re.findall(r"'(\w+)'", required.group(1))
        return (f"{path}: {target} needs {' and '.join(map(repr, names))}: add "
                f"{' '.join(f'{path}.{n}=...' for n in names)} (or set it in the config file).")
    shown = ", ".join(f"{k}={failed[k]!r}" for k in given)
    return unknown_name(failed, path) or f"{path}: {target}({shown}) was refused: {said(error)}"


def unknown_name(node: Any, path: str) -> str | None:
    """The message for an argument given a name Keras looks up and does not know
    (activation=relu6x), with the names it knows, if the node has one."""
    import keras

    for key, value in node.items():
        kind = next((kind for end, kind in NAMED_BY.items() if str(key).endswith(end)), None)
        if kind is None or not isinstance(value, str):
            continue
        registry = getattr(keras, kind)
        try:
            registry.get(value)
        except (ValueError, TypeError):
            known = keras_names(registry)
            return (f"{path}.{key}={value!r} is not a Keras {kind[:-1]} name."
                    f"{did_you_mean(value, known)} Keras knows: {', '.join(known)}.")
    return None


def keras_names(registry: ModuleType) -> list[str]:
    """The names a Keras module's `get` resolves (keras.activations, .losses, .metrics, ...),
    short aliases (mse, acc) included: read from the table `get` itself reads, else the
    module's public functions."""
    table = getattr(importlib.import_module(registry.get.__module__), "ALL_OBJECTS_DICT", None) \
        or vars(registry)
    return sorted(n for n in table if n[:1].islower() and not n.startswith("_")
                  and n not in ("get", "serialize", "deserialize"))


def unknown_argument(target: str, given: list[str], accepted: list[str] | None,
                     path: str) -> str | None:
    """The message for the first argument in `given` that `target` does not take, if any."""
    unknown = [k for k in given if accepted is not None and k not in accepted]
    if not unknown:
        return None
    return (f"{path}: {target} takes no argument '{unknown[0]}'."
            f"{did_you_mean(unknown[0], accepted)} Its arguments: {', '.join(accepted)}.")


def call(function: Any, where: str, options: dict[str, Any], **extra: Any) -> Any:
    """`function(**options, **extra)` for a node tftrain calls itself (a data source, whose
    config also holds the pipeline's keys): an argument it does not take is refused as
    `instantiate` refuses it; `extra` goes only where the function takes it."""
    accepted = parameters(function)
    name = f"{function.__module__}.{function.__qualname__}"
    problem = unknown_argument(name, list(options), accepted, where)
    if problem:
        raise TftrainError(problem)
    if accepted is not None:
        extra = {k: v for k, v in extra.items() if k in accepted}
    return function(**options, **extra)


def failing_node(error: Exception, node: Any, where: str) -> tuple[str, Any]:
    """The node (and its key path) Hydra names in its error (`full_key: model.layers1`, its
    list indices unmarked), else the node given."""
    nodes = dict(target_nodes(node, where))
    named = re.search(r"full_key: (\S+)", str(error))
    if named:
        wanted = squash(named.group(1))
        for path, candidate in nodes.items():
            if squash(path) == wanted or squash(path).endswith(wanted):
                return path, candidate
    return where, node


def squash(path: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "", path)


def target_nodes(node: Any, path: str) -> list[tuple[str, Any]]:
    """Every node with a `_target_` at or under `node`, with its key path (override style:
    list items by index, `model.layers.1`)."""
    return list(with_targets(node, path))


def parameters(target: Any) -> list[str] | None:
    """The keyword arguments a class or function takes, following `**kwargs` up a class's
    bases (a Keras layer takes its own and Layer's); None when there is no telling."""
    try:
        if not inspect.isclass(target):
            own, more = names(inspect.signature(target))
            return None if more else own
        found: list[str] = []
        for cls in target.__mro__:
            if "__init__" not in vars(cls) or cls is object:
                continue
            own, more = names(inspect.signature(vars(cls)["__init__"]))
            found += [n for n in own if n not in found]
            if not more:
                break
        return found or None
    except (TypeError, ValueError):  # builtins and C extensions without a signature
        return None


def names(signature: inspect.Signature) -> tuple[list[str], bool]:
    """The keyword-capable parameter names, and whether `**kwargs` takes more."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = signature.parameters.values()
    return ([p.name for p in params if p.kind in kinds and p.name not in ("self", "cls")],
            any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params))
