"""What the data tells the model: named inputs with their encodings, the task, the classes.

A Spec is plain data (no TensorFlow): the pipeline fits it on the training split, the model
builders read it. Statistics travel in it (normalisation moments, vocabularies, the fill
value for missing numbers), so the model can carry its own preprocessing and a saved model
predicts from raw inputs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tftrain.errors import TftrainError, param

KINDS = ("raw", "numeric", "categorical", "text")
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Feature:
    """One model input. `kind` says how the model encodes it:
    raw (as is, optionally normalised), numeric (fill missing, normalise),
    categorical (string lookup, one-hot), text (TextVectorization)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str = "raw"
    stats: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Target:
    """One thing the model predicts: a class (with its names) or a value (with the moments
    the head uses to predict in the target's units)."""

    name: str
    task: str
    class_names: tuple[str, ...] | None = None
    moments: tuple[float, float] | None = None  # regression: (mean, std) of the target

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names else None

    @property
    def units(self) -> int:
        return self.num_classes if self.task == "classification" else 1

    @property
    def activation(self) -> str | None:
        return "softmax" if self.task == "classification" else None

    def describe(self) -> str:
        classes = f" with {self.num_classes} classes" if self.num_classes else ""
        return f"{self.task} task{classes}"


def learnable(target: Target) -> Target:
    """The target, checked to be learnable: a classifier needs two classes at least (with
    one, a softmax over one unit trains to nothing and reports perfect accuracy)."""
    if target.task == "classification" and target.class_names is not None \
            and len(target.class_names) < 2:
        which = "the label" if target.name == "output" else f"the target '{target.name}'"
        found = f"a single class, {target.class_names[0]!r}" if target.class_names else "no class"
        raise TftrainError(f"{which} holds {found}: a classifier needs at least two classes. "
                           f"Check that {param('label')} names the column you mean, or set "
                           f"{param('task')}=regression for a numeric target.")
    return target


@dataclass(frozen=True)
class Spec:
    """What a model needs to know about the data, so nobody types a shape twice.

    Most data has one target: the model has one output, and the properties below describe
    it. Data with several named targets (a CSV with several label columns, synthetic
    `targets`) asks for a model with one named output per target.
    """

    inputs: tuple[Feature, ...]
    targets: tuple[Target, ...]
    augment: tuple[Any, ...] = ()  # augmentation layers the model applies in training
    # How the source read its data (a CSV's decimal mark and encoding, an image folder's size
    # and colour mode): recorded so that eval and predict read new data the same way.
    reading: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def single(self) -> Feature | None:
        return self.inputs[0] if len(self.inputs) == 1 else None

    @property
    def multi_output(self) -> bool:
        return len(self.targets) > 1

    @property
    def input_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        return self.single.shape if self.single else {f.name: f.shape for f in self.inputs}

    @property
    def task(self) -> str:
        return self.targets[0].task

    @property
    def num_classes(self) -> int | None:
        return self.targets[0].num_classes

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return self.targets[0].class_names

    @property
    def target_moments(self) -> tuple[float, float] | None:
        return self.targets[0].moments

    @property
    def num_outputs(self) -> int:
        return self.targets[0].units

    @property
    def output_activation(self) -> str | None:
        return self.targets[0].activation

    def describe(self) -> str:
        """One line: each input (the first and last few of many), then the target(s)."""
        shown = [f"{f.name} {f.shape} {f.dtype}" + ("" if f.kind == "raw" else f" {f.kind}")
                 for f in self.inputs]
        if len(shown) > 12:
            kinds = Counter(f.kind for f in self.inputs)
            shown = [*shown[:3], "...", *shown[-2:],
                     f"{len(shown)} in all: " + ", ".join(f"{n} {k}" for k, n in kinds.items())]
        inputs = ", ".join(shown)
        if self.multi_output:
            targets = "; ".join(f"{t.name}: {t.describe()}" for t in self.targets)
            return f"inputs [{inputs}] and targets [{targets}]"
        return f"inputs [{inputs}] for a {self.targets[0].describe()}"
