"""What the data tells the model: named inputs with their encodings, the task, the classes.

A Spec is plain data (no TensorFlow): the pipeline fits it on the training split, the model
builders read it. Statistics travel in it (normalisation moments, vocabularies, the fill
value for missing numbers), so the model can carry its own preprocessing and a saved model
predicts from raw inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("raw", "numeric", "categorical", "text")


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
class Spec:
    """What a model needs to know about the data, so nobody types a shape twice."""

    inputs: tuple[Feature, ...]
    task: str
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    target_moments: tuple[float, float] | None = None  # regression: (mean, std) of the target
    augment: tuple[Any, ...] = ()  # augmentation layer configs the model applies in training

    @property
    def single(self) -> Feature | None:
        return self.inputs[0] if len(self.inputs) == 1 else None

    @property
    def input_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        return self.single.shape if self.single else {f.name: f.shape for f in self.inputs}

    @property
    def num_outputs(self) -> int:
        return self.num_classes if self.task == "classification" else 1

    @property
    def output_activation(self) -> str | None:
        return "softmax" if self.task == "classification" else None

    def describe(self) -> str:
        inputs = ", ".join(f"{f.name} {f.shape} {f.dtype}" + ("" if f.kind == "raw" else f" {f.kind}")
                           for f in self.inputs)
        classes = f" with {self.num_classes} classes" if self.num_classes else ""
        return f"inputs [{inputs}] for a {self.task} task{classes}"
