"""Every job a command line asks for, composed and checked before anything runs: the
composition door's first step (`tftrain.config.compose` explains what it refuses).

Hydra would find the same errors once it runs, but reports them tersely, and one job at a
time; composing first (a few milliseconds per job, no TensorFlow) lets each error name the
valid choices, and refuses a sweep before its first job. The configs are those the command
line names (`--config-dir`, `--config-name`, `--config-path`: `tftrain.config.sources`),
searched as the run will search them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from tftrain.config.compose import command_overrides, compose, composed, group_options
from tftrain.config.sources import source_of, used
from tftrain.errors import TftrainError

MODES = ("--run", "-r", "--multirun", "-m", "--cfg", "-c", "--info", "-i", "--shell-completion",
         "-sc")


def preflight(argv: list[str],
              check_hydra: Callable[[DictConfig, list[str], bool], None] | None = None) -> str | None:
    """Compose every job a command line asks for, from the configs it names; return the
    first error, explained. `check_hydra(node, overrides, multirun)` checks Hydra's own node
    (the sweeper) of the first job: the sweeps package gives it, so that composing imports
    nothing above the config."""
    modes = [flag for flag in MODES if flag in argv]
    if len(modes) > 1:
        return (f"{' and '.join(modes)} cannot be combined: each asks for something else (run, "
                "sweep, print the config, describe it); give one.")
    try:
        with used(source_of(argv)):
            check_jobs(*command_overrides(argv), check_hydra)
    except TftrainError as error:
        return str(error)
    return None


def check_jobs(override_list: list[str], multirun: bool,
               check_hydra: Callable[[DictConfig, list[str], bool], None] | None) -> None:
    """Each override read, then each job composed and checked: the first job, then each
    other value of each swept key in it (every value is composed once, with every other key
    at a value it really takes)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in override_list:
        unreadable(parser, override)
    parsed = parser.parse_overrides(override_list)
    hydra_sweeps = [o.input_line for o in parsed
                    if o.is_sweep_override() and o.get_key_element().startswith("hydra.")]
    if hydra_sweeps:
        key, _, value = hydra_sweeps[0].partition("=")
        name = key.removeprefix("hydra.sweeper.params.")
        raise TftrainError(f"{hydra_sweeps[0]!r}: Hydra's own keys take no sweep. Give the "
                           f"search dimension as the key itself: '{name}={value}'.")
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise TftrainError(not_a_sweep(sweeps[0], fixed))
    swept = [(o.get_key_element(), list(o.sweep_string_iterator())) for o in parsed
             if multirun and o.is_sweep_override() and o.is_discrete_sweep()]
    first = {key: f"{key}={values[0]}" for key, values in swept}
    variants = [fixed + list(first.values())]
    variants += [fixed + [*{**first, key: f"{key}={value}"}.values()]
                 for key, values in swept for value in values[1:]]
    for variant in variants:
        composed(variant)
    if check_hydra is not None:  # a plain run too: a sweeper that needs -m is refused
        check_hydra(compose(variants[0], hydra=True).hydra, override_list, multirun)


def unreadable(parser: Any, override: str) -> None:
    """An override Hydra cannot read (a sweep's values too: range(1, 5, 0)), refused."""
    try:
        for each in parser.parse_overrides([override]):
            if each.is_discrete_sweep() and not list(each.sweep_string_iterator()):
                raise ValueError("it sweeps no value: an empty range")
    except Exception as error:
        said = " ".join(str(error).split()).split(" See https://")[0]
        raise TftrainError(
            f"cannot read the override {override!r} ({said}). A value holding characters such "
            "as ; , = [ ] { } ( ) or spaces must be quoted for Hydra, and the whole argument "
            f"for the shell: \"{override.split('=', 1)[0]}='...'\".") from None


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
