"""The composition door: `conf/` plus the command line's overrides, composed by Hydra and
validated by the schemas (`tftrain.config.schema`), before TensorFlow is imported.

Whatever Hydra or OmegaConf refuses (an unknown option or key, also in a list or a ~
deletion, a list index past the end, a value of the wrong type, a malformed override,
several values without -m, a required value left as ???) becomes one paragraph naming the
override, what is valid there and the closest valid names. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig

from tftrain.config import checks
from tftrain.errors import TftrainError, did_you_mean

CONFIG_NAME = "train"
# Hydra flags that take a value: their value is no override.
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
                "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
                "--shell-completion", "-sc"}


def config_dir() -> Path:
    """The packaged configs (wheel install) or the repository's conf/ (editable install)."""
    package = Path(__file__).parent.parent  # tftrain/
    packaged = package / "conf"
    return packaged if packaged.is_dir() else package.parent / "conf"


def compose(override_list: list[str], hydra: bool = False) -> DictConfig:
    """The config these overrides compose (Hydra's errors as Hydra raises them); `hydra`:
    with Hydra's own node (the sweeper, the launcher)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return hydra_compose(CONFIG_NAME, overrides=override_list, return_hydra_config=hydra)


def composed(override_list: list[str]) -> DictConfig:
    """The config these overrides compose, validated; any problem is a TftrainError."""
    try:
        cfg = compose(override_list)
    except Exception as error:
        raise TftrainError(explain(error, override_list)) from None
    checks.validate(cfg)
    return cfg


def resolved_as_far_as_known(cfg: DictConfig) -> Any:
    """The config with every interpolation resolved that can be before a run starts; those
    that need the run (its folder, the data's steps per epoch) stay as written. Hydra's own
    `--cfg job --resolve` fails on the first of them."""
    from omegaconf import DictConfig as Dict, ListConfig

    def value(node: Any, key: Any) -> Any:
        try:
            found = node[key]
        except Exception:  # needs what only a run knows
            return node._get_node(key)._value()
        return plain(found) if isinstance(found, (Dict, ListConfig)) else found

    def plain(node: Any) -> Any:
        keys = node.keys() if isinstance(node, Dict) else range(len(node))
        items = {key: value(node, key) for key in keys}
        return items if isinstance(node, Dict) else list(items.values())

    return plain(cfg)


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

    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        return unknown_option(error) or " ".join(str(error).split())
    cause = error.__cause__ or error
    key = dotted(getattr(cause, "full_key", None) or "")
    deleted = re.match(r"Could not delete from config\. '(.+)' does not exist", str(error))
    key = deleted.group(1) if deleted else key
    given = next((o for o in override_list if key and (override_key(o) == key
                  or override_key(o).startswith(f"{key}."))), None)
    if isinstance(cause, ConfigIndexError) and key:
        return no_such_entry(key, given or key, override_list)
    if isinstance(cause, ValidationError) and key:
        message = str(cause).splitlines()[0]
        return f"bad value in '{given or key}': {message} (key '{key}')."
    if deleted or isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
        return unknown_key(key, given or key, override_list)
    return " ".join(str(error).split())


def dotted(key: str) -> str:
    """A key path as overrides write it: OmegaConf's `model.layers[1].unit` is `model.layers.1.unit`."""
    return re.sub(r"\[(\d+)\]", r".\1", key)


def override_key(override: str) -> str:
    """The key path an override sets, adds or deletes (`+a.b=1`, `~a.b`: a.b), dotted."""
    return dotted(override.lstrip("+~").split("=", 1)[0])


def unknown_option(error: Exception) -> str | None:
    """An option a config group does not have, with the closest ones and all of them: also
    one inside a list (`callbacks=[default,tensorbord]`, for which Hydra lists none)."""
    group, _, bad = error.missing_cfg_file.rpartition("/")
    options = error.options if error.options is not None else group_options(group)
    if not options:
        return None
    return (f"unknown option '{bad}' for config group '{group}'.{did_you_mean(bad, options)} "
            f"Choose one of: {', '.join(sorted(options))}.")


def group_options(group: str) -> list[str]:
    """The YAML options of a config group of conf/ (none for a group that is no folder there)."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml")) if group else []


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


def not_a_sweep(override: Any, others: list[str]) -> str:
    """Several values for one key without -m: a list whose brackets were forgotten
    (`callbacks=default,tensorboard`), else a sweep, which needs -m."""
    line, key = override.input_line, override.key_or_group
    sweep = f"To run one job per value (a sweep), add -m: tftrain -m {line!r}."
    if override.value_type.name != "SIMPLE_CHOICE_SWEEP":
        return f"{line!r} is a sweep, which needs -m. {sweep}"
    values = list(override.sweep_string_iterator())
    listed = f"{line.split('=', 1)[0]}=[{','.join(values)}]"
    kind = value_kind(key, values, others)
    if kind == "list":
        return (f"{line!r} gives several values, which Hydra reads as a sweep. To use them "
                f"together, write the list with brackets: '{listed}' (quoted in a shell: "
                f"\"{listed}\"). {sweep}")
    other = "" if kind == "one" else \
        f" For one list value write \"{listed}\"; for one text holding a comma, quote it: " \
        f"\"{key}='{','.join(values)}'\"."
    return f"{line!r} gives several values: a sweep, which needs -m. {sweep}{other}"


def value_kind(key: str, values: list[str], others: list[str]) -> str:
    """"list" where `key` takes a list of these values: a key whose value is a list, or a
    config group whose options given here add keys of their own (callbacks, logger); "one"
    where it takes one value only: a number, or a group whose options set the same keys
    (optimizer=adam,sgd); else "other" (a text, or a key that takes anything)."""
    from omegaconf import ListConfig, OmegaConf

    try:
        if group_options(key):
            added = [set(compose([*others, f"{key}={value}"])[key] or {}) for value in values]
            return "list" if all(not a & b for i, a in enumerate(added) for b in added[i + 1:]) \
                else "one"
        value = OmegaConf.select(compose(others), key)
    except Exception:  # a value that does not compose: said once it is given alone
        return "other"
    return "list" if isinstance(value, ListConfig) else \
        "one" if isinstance(value, (int, float)) else "other"


def options_with(group: str, key: str) -> list[str]:
    """The options of a config group whose config has `key` (dataset.path: csv, npz, ...),
    those that require it (`???`) first."""
    from omegaconf import OmegaConf

    folder = config_dir() / group
    if "." in group or not folder.is_dir():
        return []
    found = []
    for option in sorted(p.stem for p in folder.glob("*.yaml")):
        try:
            node = compose([f"{group}={option}"])[group]
        except Exception:  # an option that does not compose on its own
            continue
        if key in node.keys():  # not `key in node`: that skips ??? values
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


def preflight(argv: list[str],
              check_hydra: Callable[[DictConfig, list[str], bool], None] | None = None) -> str | None:
    """Compose every job a command line asks for; return the first error, explained.
    `check_hydra(node, overrides, multirun)` checks Hydra's own node (the sweeper) of the first
    job: the sweeps package gives it, so that composing imports nothing above the config.

    Hydra would find the same errors, but reports them tersely; composing first (a few
    milliseconds per job, no TensorFlow) lets each error name the valid choices.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    modes = [flag for flag in ("--run", "-r", "--multirun", "-m", "--cfg", "-c", "--info", "-i",
                               "--shell-completion", "-sc") if flag in argv]
    if len(modes) > 1:
        return (f"{' and '.join(modes)} cannot be combined: each asks for something else (run, "
                "sweep, print the config, describe it); give one.")
    override_list, multirun = command_overrides(argv)
    parser = OverridesParser.create()
    for override in override_list:
        try:
            for each in parser.parse_overrides([override]):  # a sweep's values too: range(1, 5, 0)
                if each.is_discrete_sweep() and not list(each.sweep_string_iterator()):
                    raise ValueError("it sweeps no value: an empty range")
        except Exception as error:
            said = " ".join(str(error).split()).split(" See https://")[0]
            return (f"cannot read the override {override!r} ({said}). A value holding characters "
                    "such as ; , = [ ] { } ( ) or spaces must be quoted for Hydra, and the "
                    f"whole argument for the shell: \"{override.split('=', 1)[0]}='...'\".")
    parsed = parser.parse_overrides(override_list)
    hydra_sweeps = [o.input_line for o in parsed
                    if o.is_sweep_override() and o.get_key_element().startswith("hydra.")]
    if hydra_sweeps:
        key, _, value = hydra_sweeps[0].partition("=")
        name = key.removeprefix("hydra.sweeper.params.")
        return (f"{hydra_sweeps[0]!r}: Hydra's own keys take no sweep. Give the search "
                f"dimension as the key itself: '{name}={value}'.")
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        return not_a_sweep(sweeps[0], fixed)
    swept = [(o.get_key_element(), list(o.sweep_string_iterator())) for o in parsed
             if multirun and o.is_sweep_override() and o.is_discrete_sweep()]
    # The first job, then each other value of each swept key in it: every value is composed
    # once, with every other key at a value it really takes.
    first = {key: f"{key}={values[0]}" for key, values in swept}
    variants = [fixed + list(first.values())]
    variants += [fixed + [*{**first, key: f"{key}={value}"}.values()]
                 for key, values in swept for value in values[1:]]
    try:
        for variant in variants:
            composed(variant)
        if check_hydra is not None:  # a plain run too: a sweeper that needs -m is refused
            check_hydra(compose(variants[0], hydra=True).hydra, override_list, multirun)
    except TftrainError as error:
        return str(error)
    return None
