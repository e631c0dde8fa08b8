"""What each training example weighs in the loss: its class's weight (`class_weight`) times
its own (a column of weights, or a source's `weights`), travelling with the batches as
Keras' sample weights.

Keras' `fit(class_weight=...)` does the same arithmetic (a class's weight becomes each of its
examples' sample weight, the loss averaged over the batch), but only in `fit`, only for one
output, and in a per-batch map over the dataset. Here the weights are gathered with the
batch from the training split's arrays, so the custom loop gets the very same numbers as
`fit`, a model with several outputs weighs each classification target by its own classes,
and the pipeline adds no stage. Validation and test examples are not weighted: their loss
and metrics stay comparable with an unweighted run's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.forms import Source
from tftrain.data.spec import Target
from tftrain.errors import TftrainError, did_you_mean, param

# The training split's largest class has more than this many times the rows of its smallest:
# said on the console, with the setting that weighs the classes.
IMBALANCED = 3.0
BALANCED = "balanced"


def sample_weights(setting: Any, targets: tuple[Target, ...], y: Any,
                   rows: np.ndarray | None) -> Any:
    """The training split's sample weights (an array, or a dict by target for several
    targets), or None when nothing is weighted. `setting`: `balanced`, {class: weight}, or
    for several targets {target: balanced or {class: weight}}; `rows`: the examples' own
    weights (a column of the data), or None. The classes' counts are said when they are
    imbalanced, and the weights whenever they are set."""
    labels = y if isinstance(y, dict) else {targets[0].name: y}
    chosen = per_target(setting, targets)
    by_class = {}
    for target in (t for t in targets if t.task == "classification"):
        counts = np.bincount(labels[target.name].astype(np.int64).ravel(),
                             minlength=target.num_classes or 0)
        if target.name in chosen:
            by_class[target.name] = class_weights(chosen[target.name], target, counts)
        say(target, counts, chosen.get(target.name), by_class.get(target.name), len(targets) > 1)
    if not by_class and rows is None:
        return None
    own = np.ones(len(next(iter(labels.values()))), np.float32) if rows is None else rows
    weights = {t.name: (own * by_class[t.name][labels[t.name].astype(np.int64).ravel()]
                        if t.name in by_class else own).astype(np.float32) for t in targets}
    return weights if isinstance(y, dict) else weights[targets[0].name]


def per_target(setting: Any, targets: tuple[Target, ...]) -> dict[str, Any]:
    """The setting of each classification target it weighs."""
    if setting is None:
        return {}
    classifiers = [t for t in targets if t.task == "classification"]
    names = [t.name for t in targets]
    if len(targets) > 1 and isinstance(setting, dict):
        unknown = sorted(set(map(str, setting)) - set(names))
        if unknown:
            owner = next((t for t in classifiers if unknown[0] in (t.class_names or ())), None)
            example = f"{{{owner.name}: {{{unknown[0]}: {written(setting[unknown[0]])}}}}}" \
                if owner else f"{{{(classifiers or targets)[0].name}: {BALANCED}}}"
            raise TftrainError(f"{param('class_weight')} names {unknown}, which are not targets of "
                               f"the data ({', '.join(names)}).{did_you_mean(unknown[0], names)} "
                               f"With several targets give {param('class_weight')}={BALANCED} "
                               "(each classification target weighs its classes alike), or a "
                               f"weighting per target: {example}.")
        chosen = {str(name): value for name, value in setting.items() if value is not None}
    else:
        chosen = {t.name: setting for t in classifiers}
    regression = [t for t in targets if t.name in chosen and t.task != "classification"]
    if regression or not classifiers:
        which = describe(regression[0]) if regression else "the label"
        raise TftrainError(f"{param('class_weight')}={written(setting)} weighs classes, and "
                           f"{which} is a regression target, which has none; leave it unset "
                           "(null), or weigh examples by a column of the data "
                           f"({param('sample_weight')}=COLUMN for a CSV).")
    return chosen


def class_weights(setting: Any, target: Target, counts: np.ndarray) -> np.ndarray:
    """Each class's weight. `balanced`: rows / (classes x the class's rows) over the classes
    the training split holds (scikit-learn's compute_class_weight("balanced")), so every
    class weighs as much in all; {class: weight}: those, 1 for a class not named (as in
    Keras' class_weight)."""
    names = class_names(target, counts)
    if setting == BALANCED:
        present = counts > 0
        return np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 1.0)
    if not isinstance(setting, dict):
        near = did_you_mean(setting, [BALANCED]) if isinstance(setting, str) else ""
        raise TftrainError(f"{param('class_weight')}={setting!r} is not a weighting.{near} Give "
                           f"{BALANCED} (each class weighs alike in all), or a weight per class: "
                           f"{{{names[0]}: 1.0, {names[-1]}: 5.0}}.")
    weights = np.ones(len(names))
    for name, value in setting.items():
        if str(name) not in names:
            raise TftrainError(f"{param('class_weight')} names the class {str(name)!r}, which "
                               f"{describe(target)} does not have.{did_you_mean(str(name), names)} "
                               f"Its classes are {', '.join(names[:20])}"
                               f"{' ...' if len(names) > 20 else ''}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not np.isfinite(value):
            raise TftrainError(f"{param('class_weight')}: the class {str(name)!r} is given "
                               f"{value!r}; a class's weight is a number > 0 (1: as unweighted, "
                               "5: five times as much). To leave a class out, remove its rows "
                               "from the data.")
        weights[names.index(str(name))] = float(value)
    return weights


def class_names(target: Target, counts: np.ndarray) -> list[str]:
    """A target's class names; its class ids as text where the data names none."""
    return list(target.class_names) if target.class_names else [str(i) for i in range(len(counts))]


def written(setting: Any) -> str:
    """A setting as the command line writes it: {3: 10, 8: 5.0}."""
    if isinstance(setting, dict):
        return "{" + ", ".join(f"{k}: {written(v)}" for k, v in setting.items()) + "}"
    return str(setting)


def describe(target: Target) -> str:
    return "the label" if target.name == "output" else f"the target '{target.name}'"


def say(target: Target, counts: np.ndarray, setting: Any, weights: np.ndarray | None,
        multi: bool) -> None:
    """The training split's class counts when they are imbalanced, and the weights set."""
    names = class_names(target, counts)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        return
    large, small = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
    ratio = counts[large] / counts[small]
    where = f" of '{target.name}'" if multi else ""
    if weights is not None:
        shown = ", ".join(f"{names[i]}: {weights[i]:.3g} ({counts[i]:,} rows)"
                          for i in np.argsort(-counts, kind="stable")[:8])
        echo(f"data: class weights{where} ({param('class_weight')}={written(setting)}) in the "
             f"training split: {shown}{' ...' if len(names) > 8 else ''}")
    elif ratio > IMBALANCED:
        scores = "[accuracy,balanced_accuracy,macro_f1]"
        echo(f"data: imbalanced classes{where}: in the training split {names[large]!r} has "
             f"{counts[large]:,} rows, {names[small]!r} {counts[small]:,} ({ratio:.1f}x, more "
             f"than {IMBALANCED:g}x); accuracy can then be high while the small classes are "
             f"missed: {param('class_weight')}={per(target, BALANCED, multi)} weighs each class "
             f"alike in the loss, and {param('metrics')}={per(target, scores, multi)} scores "
             "them alike")


def per(target: Target, value: str, multi: bool) -> str:
    """A setting as written for this target: for one of several, keyed by its name."""
    return f"{{{target.name}: {value}}}" if multi else value


def with_row_weights(source: Source, column: str | None) -> Source:
    """The source with the column `column` of its inputs taken out as each row's weight
    (`Source.weights`), which is then checked; unchanged when neither is given."""
    if column is not None:
        source = replace(source, x=without(source.x, column), test=None if source.test is None
                         else (without(source.test[0], column), source.test[1]),
                         kinds={k: v for k, v in source.kinds.items() if k != column},
                         weights=weight_column(source, column))
    if source.weights is None:
        return source
    return replace(source, weights=checked(np.asarray(source.weights), column))


def weight_column(source: Source, column: str) -> np.ndarray:
    """The values of the input column `column`: numbers, one per row."""
    columns = list(source.x) if isinstance(source.x, dict) else []
    if column not in columns:
        labels = [name for name, _, _ in source.targets()]
        found = "the label" if column in labels or (column == "output" and len(labels) == 1) \
            else "not a column the data read"
        raise TftrainError(f"{param('sample_weight')}={column}: {found}."
                           f"{did_you_mean(column, columns)} A column of weights is one of the file's columns, neither the label "
                           f"nor in {param('drop')}; its columns read as inputs are "
                           f"{', '.join(columns[:20]) or 'none'}{' ...' if len(columns) > 20 else ''}.")
    values = np.asarray(source.x[column])
    if values.dtype.kind not in "biuf":
        sample = next((str(v) for v in values.ravel() if str(v)), "")
        raise TftrainError(f"{param('sample_weight')}={column}: the column holds text ({sample!r}), "
                           "not numbers; a column of weights holds a number >= 0 in every row.")
    return values.reshape(len(values), -1)[:, 0].astype(np.float64)


def without(x: Any, column: str) -> Any:
    return {k: v for k, v in x.items() if k != column}


def checked(values: np.ndarray, column: str | None) -> np.ndarray:
    """Per-example weights: finite numbers >= 0, none missing, not all 0."""
    named = f"{param('sample_weight')}={column}" if column else "the data's sample weights"
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise TftrainError(f"{named}: data row {bad[0] + 1} holds "
                           f"{'nothing' if np.isnan(values[bad[0]]) else repr(float(values[bad[0]]))}"
                           f" ({bad.size} such row{'s' if bad.size > 1 else ''}); a weight is a "
                           "number >= 0 (0 leaves the row out of the loss), and every row needs one.")
    if not values.any():
        raise TftrainError(f"{named}: every row weighs 0, which leaves nothing to learn from.")
    return values.astype(np.float32)
