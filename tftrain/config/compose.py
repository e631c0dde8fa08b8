"""The composition door: the configs (tftrain's `conf/`, or a user's folder: see
`tftrain.config.sources`) plus the command line's overrides, composed by Hydra and validated
by the schemas (`tftrain.config.schema`), before TensorFlow is imported.

Whatever Hydra or OmegaConf refuses (an unknown option or key, also in a list or a ~
deletion, a list index past the end, a value of the wrong type, a malformed override,
several values without -m, a required value left as ???, a config file that is no valid
YAML or holds an unknown key or a bad value) becomes one paragraph naming the override or
the file and line, what is valid there and the closest valid names. Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tftrain.config import checks
from tftrain.config.schema import TrainConfig
from tftrain.config.tree import mapped
from tftrain.config.sources import (current, line_of, named_in, no_primary, not_found,
                                    schema_keys, shown, yaml_problem)
from tftrain.errors import TftrainError, did_you_mean

# Hydra flags that take a value: their value is no override.
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
                "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
                "--shell-completion", "-sc"}


def compose(override_list: list[str], hydra: bool = False) -> DictConfig:
    """The config these overrides compose from the command's configs (Hydra's errors as
    Hydra raises them); `hydra`: with Hydra's own node (the sweeper, the launcher)."""
    from hydra import compose as hydra_compose

    source = current()
    with source.searched():
        return hydra_compose(source.name, overrides=override_list, return_hydra_config=hydra)


def composed(override_list: list[str]) -> DictConfig:
    """The config these overrides compose, validated; any problem is a TftrainError."""
    try:
        cfg = compose(override_list)
    except Exception as error:
        raise TftrainError(explain(error, override_list)) from None
    lacking = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in cfg]
    if lacking:  # a primary config of the user's own that does not start from tftrain's
        raise TftrainError(
            f"--config-name {current().name} composes a config without tftrain's "
            f"{', '.join(lacking)}. A primary config of your own starts from tftrain's: "
            "'defaults: [train, _self_]' at its top, then its own keys ('- override model: "
            "NAME' in that list picks an option of yours), given with --config-dir, which keeps "
            "tftrain's configs beside yours.")
    checks.validate(cfg)
    return cfg


def resolved_as_far_as_known(cfg: DictConfig) -> Any:
    """The config with every interpolation resolved that can be before a run starts; those
    that need the run (its folder, the data's steps per epoch) stay as written. Hydra's own
    `--cfg job --resolve` fails on the first of them."""
    def value(path: str, written: Any) -> Any:
        try:
            return OmegaConf.select(cfg, path)
        except Exception:  # needs what only a run knows
            return written

    return mapped(cfg, value)


def command_overrides(argv: list[str]) -> tuple[list[str], bool]:
    """The KEY=VALUE overrides of a command line, and whether it asks for a multirun."""
    overrides, skip, multirun = [], False, False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUED_FLAGS:
            skip = True
        elif arg in ("-m", "--multirun"):
            multirun = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides, multirun


def layered(saved: list[str], given: list[str]) -> list[str]:
    """A run's own overrides with those given now on top (`tftrain-eval RUN dataset=digits`,
    `resume=`): a saved override of a key given now is dropped, and a config group chosen
    anew (`dataset=digits`) drops the saved keys of the option it replaces
    (`dataset.num_samples=500` of a synthetic run, which digits has no place for)."""
    # a plain `key=value` given now sets a key the run added (`+key=...`): the addition stays
    replaced = {override_key(o) for o in given if o.startswith(("+", "~"))}
    keys = {override_key(o) for o in given}
    added = {override_key(o) for o in saved if o.startswith("+")}
    groups = {key for key in keys if group_options(key)}
    kept = [o for o in saved
            if (override_key(o) not in keys or (o.startswith("+") and override_key(o) not in replaced))
            and not any(override_key(o).startswith(f"{group}.") for group in groups)]
    # `~key` of a key the run itself added: dropping the addition deletes it
    return kept + [o for o in given if not (o.startswith("~") and override_key(o) in added)]


def explain(error: Exception, override_list: list[str]) -> str:
    """Turn a Hydra/OmegaConf composition error into one paragraph a user can act on."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigIndexError, ConfigKeyError, ValidationError

    if problem := yaml_problem(error):
        return problem
    if isinstance(error, MissingConfigException):
        return (no_primary(error) or unknown_option(error, override_list)
                or not_found(error) or " ".join(str(error).split()))
    merging = re.match(r"In '([^']+)': \w+ raised while composing", str(error))  # a config file
    cause = error.__cause__ or (error.__context__ if merging else None) or error
    key = dotted(getattr(cause, "full_key", None) or "")
    deleted = re.match(r"Could not delete from config\. '(.+)' does not exist", str(error))
    key = deleted.group(1) if deleted else key
    given = next((o for o in override_list if key and (override_key(o) == key
                  or override_key(o).startswith(f"{key}."))), None)
    if merging and given is None and key and (file := current().file(merging.group(1))):
        return in_config_file(file, merging.group(1), key, cause, override_list)
    if isinstance(cause, ConfigIndexError) and key:
        return no_such_entry(key, given or key, override_list)
    if isinstance(cause, ValidationError) and key:
        message = str(cause).splitlines()[0]
        return f"bad value in '{given or key}': {message} (key '{key}')."
    if deleted or isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
        return unknown_key(key, given or key, override_list)
    return " ".join(str(error).split())


def in_config_file(file: Path, config: str, key: str, cause: Exception,
                   override_list: list[str]) -> str:
    """A key or value that a config file (`config`: `trainer/fast`, or a primary config)
    gives, refused: named by file and line, with the valid keys where the key is unknown."""
    from omegaconf.errors import ValidationError

    group = config.rpartition("/")[0].replace("/", ".")
    inside = key.removeprefix(f"{group}.") if group and key.startswith(f"{group}.") else key
    line = line_of(file, inside.split(".")) or line_of(file, key.split("."))
    where = f"{shown(file)}" + (f", line {line}" if line else "")
    if isinstance(cause, ValidationError):
        return f"bad value in {where}: {str(cause).splitlines()[0]} (key '{key}')."
    parent, _, name = key.rpartition(".")
    valid = schema_keys(cause) or valid_keys(parent, [o for o in override_list
                                                      if override_key(o) != group])
    hint = (f"{did_you_mean(name, valid, prefix=f'{parent}.' if parent else '')} Valid keys "
            f"{f'under {parent!r}' if parent else 'at the top level'}: {', '.join(valid)}.") \
        if valid else ""
    return f"unknown key '{key}' in {where}.{hint}"


def dotted(key: str) -> str:
    """A key path as overrides write it: OmegaConf's `model.layers[1].unit` is `model.layers.1.unit`."""
    return re.sub(r"\[(\d+)\]", r".\1", key)


def override_key(override: str) -> str:
    """The key path an override sets, adds or deletes (`+a.b=1`, `~a.b`: a.b), dotted."""
    return dotted(override.lstrip("+~").split("=", 1)[0])


def unknown_option(error: Exception, override_list: list[str]) -> str | None:
    """An option a config group does not have, with the closest ones and all of them (the
    user's own too): also one inside a list (`callbacks=[default,tensorbord]`, for which
    Hydra lists none), and one a config file's defaults list names."""
    if not error.missing_cfg_file:
        return None
    group, _, bad = error.missing_cfg_file.rpartition("/")
    options = error.options if error.options is not None else group_options(group)
    if not options:
        return None
    typed = any(override_key(o) == group and bad in o.split("=", 1)[-1] for o in override_list)
    named = "" if typed else named_in(group, bad)
    return (f"unknown option '{bad}' for config group '{group}'{named}."
            f"{did_you_mean(bad, options)} Choose one of: {', '.join(sorted(options))}.")


def group_options(group: str) -> list[str]:
    """The YAML options of a config group, in every folder the command composes from (none
    for a group that is no folder there)."""
    return current().options(group)


def unknown_key(key: str, given: str, override_list: list[str]) -> str:
    """A key the config does not have (set, or deleted with ~), with the valid keys beside it."""
    parent, _, name = key.rpartition(".")
    valid = valid_keys(parent, [o for o in override_list if o != given])
    if given.startswith("~") and name in valid:  # Hydra deletes no key whose value is null
        return f"'{given}': {key} is null already, so there is nothing to delete; leave it out."
    where = f"under '{parent}'" if parent else "at the top level"
    hint = (f"{did_you_mean(name, valid, prefix=f'{parent}.' if parent else '')} "
            f"Valid keys {where}: {', '.join(valid)}.") if valid else ""
    elsewhere = options_with(parent, name) if parent and not given.startswith("~") else []
    if elsewhere:
        hint += (f" '{name}' is a key of {parent}={', '.join(elsewhere)}: choose one, e.g. "
                 f"'{parent}={elsewhere[0]} {given}'.")
    if given.startswith("~"):
        return f"unknown key '{key}' in override '{given}': there is nothing to delete.{hint}"
    if given.startswith("+") and group_options(key):  # a group of the user's own
        return (f"'{given}' adds your config group '{key}' at the top level, where tftrain's "
                "schema takes no new node from a file. Start the group's files with '# @package "
                "_global_' to set tftrain's keys from them (then 'trainer: {epochs: 5}' in one "
                "sets trainer.epochs).")
    return (f"unknown key '{key}' in override '{given}'.{hint} To add a new key on purpose, "
            f"write '+{given.lstrip('+')}'.")


def no_such_entry(key: str, given: str, override_list: list[str]) -> str:
    """An index past the end of a list (`model.layers.5.units=3` where there are 4 layers)."""
    from omegaconf import ListConfig, OmegaConf

    path = key.rpartition(".")[0]
    try:
        found = OmegaConf.select(compose([o for o in override_list if o != given]), path)
    except Exception:
        found = None
    if not isinstance(found, ListConfig):
        return f"'{given}': there is no {key}."
    size = len(found)
    entries = f"{size} entries ({path}.0 to {path}.{size - 1})" if size else "no entries"
    return (f"'{given}': {path} has {entries}, so there is no {key}. To change an entry, name "
            f"its index; to add one, give the whole list with it: '{path}=[...]' "
            "(tftrain --cfg job prints the entries it has now; quote the argument in a shell), "
            "or write the longer list in a config file of your own.")


def options_with(group: str, key: str) -> list[str]:
    """The options of a config group whose config has `key` (dataset.path: csv, npz, ...),
    those that require it (`???`) first."""
    from omegaconf import OmegaConf

    if "." in group:
        return []
    found = []
    for option in group_options(group):
        try:
            node = compose([f"{group}={option}"])[group]
        except Exception:  # an option that does not compose on its own
            continue
        if isinstance(node, DictConfig) and key in node.keys():  # not `key in node`: skips ???
            found.append((not OmegaConf.is_missing(node, key), option))
    return [option for _, option in sorted(found)]


def valid_keys(parent: str, override_list: list[str]) -> list[str]:
    from omegaconf import OmegaConf

    try:
        cfg = compose(override_list)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:
        return []
    return sorted(str(k) for k in node.keys()) if isinstance(node, DictConfig) else []


