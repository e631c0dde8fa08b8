"""The composition door: `conf/` plus the command line's overrides, composed by Hydra and
validated by the schemas (`tftrain.schema`), before TensorFlow is imported.

Whatever Hydra or OmegaConf refuses (an unknown option or key, a value of the wrong type, a
malformed override, a required value left as ???) becomes one paragraph naming the
override, what is valid there and the closest valid names. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tftrain import checks
from tftrain.errors import TftrainError, did_you_mean
from tftrain.search import check_sweeper

CONFIG_NAME = "train"
# Hydra flags that take a value: their value is no override.
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
                "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
                "--shell-completion", "-sc"}


def config_dir() -> Path:
    """The packaged configs (wheel install) or the repository's conf/ (editable install)."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf"


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


def explain(error: Exception, override_list: list[str]) -> str:
    """Turn a Hydra/OmegaConf composition error into one paragraph a user can act on."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    if isinstance(error, MissingConfigException) and error.options is not None:
        group = (error.missing_cfg_file or "").rsplit("/", 1)[0]
        bad = (error.missing_cfg_file or "").rsplit("/", 1)[-1]
        return (f"unknown option '{bad}' for config group '{group}'.{did_you_mean(bad, error.options)} "
                f"Choose one of: {', '.join(sorted(error.options))}.")
    cause = error.__cause__ or error
    key = getattr(cause, "full_key", None)
    given = next((o for o in override_list if key and o.lstrip("+~").split("=")[0] == key), None)
    if isinstance(cause, ValidationError) and key:
        message = str(cause).splitlines()[0]
        return f"bad value in '{given or key}': {message} (key '{key}')."
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
        parent, _, name = key.rpartition(".")
        valid = valid_keys(parent, [o for o in override_list if o != given])
        where = f"under '{parent}'" if parent else "at the top level"
        hint = (f"{did_you_mean(name, valid, prefix=f'{parent}.' if parent else '')} "
                f"Valid keys {where}: {', '.join(valid)}.") if valid else ""
        elsewhere = options_with(parent, name) if parent else []
        if elsewhere:
            hint += (f" '{name}' is a key of {parent}={', '.join(elsewhere)}: choose one, e.g. "
                     f"'{parent}={elsewhere[0]} {given or key}'.")
        return (f"unknown key '{key}' in override '{given or key}'.{hint} "
                f"To add a new key on purpose, write '+{given or key}'.")
    return " ".join(str(error).split())


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


def preflight(argv: list[str]) -> str | None:
    """Compose every job a command line asks for; return the first error, explained.

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
        # a plain run too: tftrain's Optuna sweeper without -m is refused (it needs a sweep)
        check_sweeper(compose(variants[0], hydra=True).hydra.sweeper, override_list, multirun)
    except TftrainError as error:
        return str(error)
    return None
