"""Each example's outputs, label and identity, from one pass of the run's model over the data
`tftrain-eval` scores: what `predictions=true` writes and what the report computes its
figures from. The same pass keeps the inputs of the few examples the report shows as they
are (the most confident mistakes of a classifier, the worst rows of a regressor), so that
no second pass reads the data again and no other example's inputs are held in memory.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHOWN = 12  # examples the report shows per target


@dataclass
class Predicted:
    """The pass's result: by target, the model's outputs and the true labels (in the run's
    class ids, or values), in the order scored; each example's identity; whether a
    classifier's outputs are logits (a `logits: true` model has no softmax); and, by
    target, the examples to show (indices, worst first) with the inputs of each."""

    outputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    ids: list[str]
    logits: bool = False
    shown: dict[str, list[int]] = field(default_factory=dict)
    inputs: dict[int, Any] = field(default_factory=dict)


def probabilities(values: np.ndarray, logits: bool = False) -> np.ndarray:
    """A classifier's outputs as one probability per class: a binary head's one column is
    the probability of the second class; logits go through the sigmoid or softmax the
    model left out."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    if logits and values.shape[1] == 1:
        values = 1.0 / (1.0 + np.exp(-values))
    elif logits:
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        values = shifted / shifted.sum(axis=1, keepdims=True)
    return np.concatenate([1 - values, values], axis=1) if values.shape[1] == 1 else values


def badness(task: str, outputs: np.ndarray, labels: np.ndarray, logits: bool) -> np.ndarray:
    """How much each example is worth showing: a classifier's confidence in a wrong class
    (-inf where it is right), a regressor's largest absolute error."""
    if task == "classification":
        p = probabilities(outputs, logits)
        predicted = p.argmax(axis=1)
        return np.where(predicted != labels.ravel().astype(int), p.max(axis=1), -np.inf)
    errors = np.abs(np.asarray(outputs, np.float64).reshape(len(outputs), -1)
                    - np.asarray(labels, np.float64).reshape(len(labels), -1))
    return errors.max(axis=1)


class Shown:
    """The `count` worst examples of each target seen so far, and their inputs."""

    def __init__(self, tasks: dict[str, str], logits: bool, count: int = SHOWN) -> None:
        self.tasks, self.logits, self.count = tasks, logits, count
        self.worst: dict[str, list[tuple[float, int]]] = {t: [] for t in tasks}
        self.inputs: dict[int, Any] = {}

    def offer(self, x: Any, outputs: dict[str, np.ndarray], labels: dict[str, np.ndarray],
              start: int) -> None:
        """A batch's examples, numbered from `start`: keep the worst, and their inputs."""
        import tensorflow as tf

        for target, task in self.tasks.items():
            scores = badness(task, outputs[target], labels[target], self.logits)
            candidates = [(float(s), start + i) for i, s in enumerate(scores) if s > -np.inf]
            # the lowest index wins a tie, as a stable sort of the whole data would rank them
            self.worst[target] = heapq.nsmallest(self.count, self.worst[target] + candidates,
                                                 key=lambda c: (-c[0], c[1]))
        keep = {i for worst in self.worst.values() for _, i in worst}
        for index in keep - self.inputs.keys():
            self.inputs[index] = tf.nest.map_structure(
                lambda t: np.asarray(t[index - start]), x)
        self.inputs = {i: v for i, v in self.inputs.items() if i in keep}


def predicted(model: Any, dataset: Any, targets: dict[str, dict[str, Any]],
              logits: bool = False) -> Predicted:
    """One pass of `model` over (x, y, identity) batches; `logits`: the model's classifier
    heads have no softmax (or sigmoid)."""
    import tensorflow as tf

    names = list(targets)
    shown = Shown({t: targets[t].get("task") or "regression" for t in names}, logits)
    outputs: dict[str, list[np.ndarray]] = {t: [] for t in names}
    labels: dict[str, list[np.ndarray]] = {t: [] for t in names}
    ids: list[str] = []
    for x, y, identity in dataset:
        batch = by_target(model.predict_on_batch(x), names)
        truth = by_target(tf.nest.map_structure(lambda t: t.numpy(), y), names)
        shown.offer(x, batch, truth, len(ids))
        for target in names:
            outputs[target].append(batch[target])
            labels[target].append(truth[target])
        ids += [i.decode() for i in identity.numpy()]
    return Predicted({t: np.concatenate(v) for t, v in outputs.items()},
                     {t: np.concatenate(v) for t, v in labels.items()}, ids, logits,
                     {t: [i for _, i in worst] for t, worst in shown.worst.items()},
                     shown.inputs)


def by_target(values: Any, names: list[str]) -> dict[str, np.ndarray]:
    """A model's outputs (or labels) by target: one array is the only target's."""
    if isinstance(values, dict):
        return {t: np.asarray(values[t]) for t in names}
    if isinstance(values, (list, tuple)):
        return {t: np.asarray(v) for t, v in zip(names, values)}
    return {names[0]: np.asarray(values)}
