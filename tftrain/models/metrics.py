"""Metrics for imbalanced classes, on sparse labels: `metrics=[accuracy,balanced_accuracy,macro_f1]`.

Accuracy rewards a model that predicts the majority class: 90% on data that is 90% one class,
learning nothing. Balanced accuracy (the mean of each class's recall) and macro F1 (the mean
of each class's F1) weigh every class alike. Keras has neither for class-index labels (its
F1Score takes one-hot labels), so both are here, computed as scikit-learn's
`balanced_accuracy_score` and `f1_score(average="macro")` compute them, from one confusion
matrix accumulated over the epoch (a mean of per-batch values would not be either). Classes
absent from both the labels and the predictions so far are left out of the mean, as
scikit-learn leaves them out. Registered, so a model.keras compiled with them loads back.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class ConfusionMetric(keras.metrics.Metric):
    """A confusion matrix (rows: true class, columns: predicted) over the epoch so far;
    subclasses say what number it makes. Predictions are probabilities: the highest class,
    or for a binary head (one sigmoid unit) the second class above 0.5."""

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.matrix = self.add_variable(shape=(self.num_classes, self.num_classes),
                                        initializer="zeros", name="confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        if y_pred.shape[-1] == 1:
            predicted = ops.cast(ops.reshape(y_pred, (-1,)) > 0.5, "int32")
        else:
            predicted = ops.argmax(ops.reshape(y_pred, (-1, y_pred.shape[-1])), axis=-1)
        truth = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        rows = ops.one_hot(truth, self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            rows = rows * ops.cast(ops.reshape(sample_weight, (-1, 1)), self.dtype)
        columns = ops.one_hot(ops.cast(predicted, "int32"), self.num_classes, dtype=self.dtype)
        self.matrix.assign_add(ops.matmul(ops.transpose(rows), columns))

    def reset_state(self) -> None:
        self.matrix.assign(ops.zeros_like(self.matrix))

    def per_class(self) -> tuple[Any, Any, Any]:
        """True positives, each class's true count (support) and predicted count."""
        matrix = ops.convert_to_tensor(self.matrix)
        return ops.diagonal(matrix), ops.sum(matrix, axis=1), ops.sum(matrix, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


def mean_where(values: Any, present: Any) -> Any:
    """The mean of `values` over the classes `present`; 0 before any example is seen."""
    present = ops.cast(present, values.dtype)
    return ops.sum(values * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="tftrain")
class BalancedAccuracy(ConfusionMetric):
    """The mean of each class's recall, over the classes the labels hold."""

    def __init__(self, num_classes: int, name: str = "balanced_accuracy", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        hits, support, _ = self.per_class()
        return mean_where(hits / ops.maximum(support, 1e-12), support > 0)


@keras.saving.register_keras_serializable(package="tftrain")
class MacroF1(ConfusionMetric):
    """The mean of each class's F1 (2 TP / (2 TP + FP + FN)), over the classes found in the
    labels or the predictions; a class never predicted right scores 0."""

    def __init__(self, num_classes: int, name: str = "macro_f1", dtype: Any = None) -> None:
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self) -> Any:
        hits, support, predicted = self.per_class()
        seen = support + predicted
        return mean_where(2 * hits / ops.maximum(seen, 1e-12), seen > 0)


# What `metrics` may name beyond Keras' own names: for class-index labels, one per target.
CLASS_METRICS = {"balanced_accuracy": BalancedAccuracy, "macro_f1": MacroF1}
