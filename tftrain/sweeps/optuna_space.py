"""An Optuna search's space: Hydra's sweep syntax read as Optuna distributions, and checked.

The same code reads the space when the command is checked (tftrain.sweeps.trial.check_sweeper,
before any folder exists) and when the search runs (tftrain.sweeps.optuna_study), so a dimension Optuna would
refuse (a log scale from 0, an interval whose ends are swapped, a step of 0, a misspelt
tag) or a key the config does not have is refused once, before the first trial, in one
paragraph naming the dimension. Underscored, so Hydra's plugin scan does not import Optuna.
"""

from __future__ import annotations

from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from omegaconf import DictConfig, OmegaConf

from tftrain.errors import TftrainError, did_you_mean

TAGS = ("log",)
FORMS = ("Search dimensions are choice(a, b, ...), range(start, stop, step) with step > 0 and "
         "start < stop, interval(low, high) with low < high, each optionally tag(log, ...) "
         "where low > 0.")


def search_space(params: dict[str, Any], arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The distributions to search (from `hydra.sweeper.params` and the command line, which
    wins) and the overrides every trial gets as they are."""
    lines = {**{k: f"{k}={v}" for k, v in params.items()},
             **{a.split("=", 1)[0].lstrip("+~"): a for a in arguments}}
    space, fixed = {}, []
    for override in OverridesParser.create().parse_overrides(list(lines.values())):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed


def distribution(override: Override) -> optuna.distributions.BaseDistribution:
    """The dimension as Optuna takes it; whatever Optuna refuses in it is named with the
    override it came from."""
    tags = set(getattr(override.value(), "tags", set()))
    for tag in tags - set(TAGS):
        raise TftrainError(f"search dimension {override.input_line!r}: unknown tag {tag!r}."
                           f"{did_you_mean(tag, TAGS)} {FORMS}")
    try:
        return optuna_distribution(override, "log" in tags)
    except (ValueError, ArithmeticError) as error:
        raise TftrainError(f"search dimension {override.input_line!r} cannot be searched: "
                           f"{error} {FORMS}") from None


def optuna_distribution(override: Override, log: bool) -> optuna.distributions.BaseDistribution:
    """choice(...) -> categorical; range(a, b, step) -> ints (or floats) on a grid;
    interval(a, b) -> a float (or int) range; tag(log, ...) searches on a log scale."""
    value = override.value()
    if override.is_choice_sweep():
        return optuna.distributions.CategoricalDistribution(
            list(override.sweep_iterator(transformer=Transformer.encode)))
    if isinstance(value, RangeSweep):
        numbers = [value.start, value.stop, value.step]
        if all(isinstance(n, int) for n in numbers):
            last = value.start + value.step * ((value.stop - value.start - 1) // value.step)
            return optuna.distributions.IntDistribution(value.start, last, log=log,
                                                        step=1 if log else value.step)
        return optuna.distributions.FloatDistribution(value.start, value.stop - value.step,
                                                      step=None if log else value.step, log=log)
    if isinstance(value, IntervalSweep):
        if isinstance(value.start, int) and isinstance(value.end, int):
            return optuna.distributions.IntDistribution(value.start, value.end, log=log)
        return optuna.distributions.FloatDistribution(value.start, value.end, log=log)
    raise ValueError("it is not a dimension Optuna can search.")


def grid(space: dict[str, Any]) -> dict[str, list[Any]]:
    """The grid sampler's search space: every parameter must be a list of choices."""
    values = {}
    for name, dist in space.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            values[name] = list(dist.choices)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            values[name] = list(range(dist.low, dist.high + 1, dist.step))
        else:
            raise TftrainError(f"hydra/sweeper/sampler=grid searches a grid: '{name}' is a "
                               "continuous interval; give it as choice(...) or range(...).")
    return values


def encode(value: Any) -> str:
    """A parameter as an override's value."""
    return repr(value) if isinstance(value, float) else str(value)


def ends(dist: optuna.distributions.BaseDistribution) -> list[Any]:
    """The values of a dimension that stand for all of it when composing: every choice, or
    both ends of a range."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return list(dist.choices)
    return [dist.low, dist.high]


def check_space(node: DictConfig, arguments: list[str]) -> None:
    """Read the search space as the search will, and compose a run at each end of each
    dimension: a misspelt key or a value the config refuses is named with its dimension."""
    from tftrain.config.compose import composed

    params = OmegaConf.to_container(node.params, resolve=True) if node.get("params") else {}
    space, fixed = search_space(params, arguments)
    sampler = node.get("sampler") or {}
    if str(sampler.get("_target_", "")).endswith("GridSampler"):
        grid(space)
    for key, dist in space.items():
        for value in ends(dist):
            try:
                composed([*fixed, f"{key}={encode(value)}"])
            except TftrainError as error:
                raise TftrainError(f"search dimension '{key}' (a trial would get {key}="
                                   f"{encode(value)}): {error}") from None
