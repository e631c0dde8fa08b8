"""Each export run in its own runtime (`tf.saved_model.load`, onnxruntime, the LiteRT
interpreter) on the test split, and compared with Keras: the largest difference of the
outputs, the share of equal top-1 predictions, the metric, and the latency at batch 1 and
32 after warm-up. A file that converts but predicts otherwise than the model is worse than
no file: this is what tells them apart.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain.run.export_formats import identifier, quiet

CHUNK = 256  # examples per call when predicting the test split
WARM_UP, TIMED = 3, {1: 50, 32: 20}  # calls before timing; timed calls per batch size
Predict = Callable[[Any], list[np.ndarray]]  # inputs (as the run names them) -> flat outputs


@dataclass
class Checked:
    """What one export did on the test split, beside Keras."""

    max_abs_diff: float
    top1_agreement: float | None  # None for a regression run
    metric: float
    keras_metric: float
    latency_ms: dict[str, float]  # p50/p95 at batch 1 and 32


def runtime_of(name: str, path: Path) -> Predict:
    """A function predicting with the artifact at `path` in the runtime its users run it in."""
    return {"saved_model": saved_model, "onnx": onnx_runtime, "litert": litert}[name](path)


def saved_model(path: Path) -> Predict:
    loaded = tf.saved_model.load(str(path))

    def predict(x: Any) -> list[np.ndarray]:
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
        return [np.asarray(o) for o in tf.nest.flatten(loaded.serve(x))]

    return predict


def onnx_runtime(path: Path) -> Predict:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if not any(":" in name for name in outputs):  # a dict's outputs, by name: as tf.nest orders them
        outputs = sorted(outputs)

    def predict(x: Any) -> list[np.ndarray]:
        return session.run(outputs, fed(x, names))

    return predict


def litert(path: Path) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    names, calls = list(runner.get_input_details()), []

    def predict(x: Any) -> list[np.ndarray]:
        with quiet() if not calls else contextlib.nullcontext():  # the first call's C++ says
            outputs = runner(**fed(x, names))  # it made an XNNPACK delegate, on stderr
        calls.append(1)
        return [outputs[k] for k in in_order(outputs)]

    return predict


def in_order(outputs: dict[str, Any]) -> list[str]:
    """A LiteRT signature's output names in the order tf.nest flattens the model's outputs:
    output_0, output_1, ... for a list, the names sorted for a dict."""
    numbered = all(re.fullmatch(r"output_\d+", k) for k in outputs)
    return sorted(outputs, key=lambda k: int(k[len("output_"):])) if numbered else sorted(outputs)


def fed(x: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The inputs by the artifact's names (a column `fixed acidity` is `fixed_acidity`)."""
    if isinstance(x, dict):
        return {identifier(k): v.astype(np.float32) if v.dtype == np.float64 else v
                for k, v in x.items()}
    return {names[0]: x}


def keras_runtime(model: Any) -> Predict:
    """Keras itself, as the reference and the table's first row."""
    def predict(x: Any) -> list[np.ndarray]:
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
        return [np.asarray(o) for o in tf.nest.flatten(model(x, training=False))]

    return predict


def rows(x: Any, start: int, stop: int) -> Any:
    return tf.nest.map_structure(lambda a: a[start:stop], x)


def count(x: Any) -> int:
    return len(tf.nest.flatten(x)[0])


def predicted(predict: Predict, x: Any) -> list[np.ndarray]:
    """The whole split's outputs, CHUNK examples a call (LiteRT resizes to each)."""
    parts = [predict(rows(x, i, i + CHUNK)) for i in range(0, count(x), CHUNK)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def metric(outputs: np.ndarray, y: np.ndarray, classifies: bool) -> float:
    """Accuracy for a classifier (sigmoid at 0.5, softmax by argmax), else mean absolute
    error: the figure a user reads to see what the export costs."""
    if classifies:
        return float(np.mean(top1(outputs) == np.asarray(y).reshape(-1).astype(np.int64)))
    count_ = len(outputs)
    return float(np.mean(np.abs(outputs.reshape(count_, -1) - np.asarray(y).reshape(count_, -1))))


def top1(outputs: np.ndarray) -> np.ndarray:
    flat = outputs.reshape(len(outputs), -1)
    return (flat[:, 0] > 0.5).astype(np.int64) if flat.shape[1] == 1 else flat.argmax(axis=1)


def compared(outputs: list[np.ndarray], reference: list[np.ndarray], y: Any,
             classifies: bool) -> tuple[float, float | None, float, float]:
    """(largest absolute difference over every output, share of equal top-1 predictions of
    the first output, its metric, Keras' metric)."""
    diff = max(float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64)), initial=0.0))
               for o, r in zip(outputs, reference))
    first, keras_first, labels = outputs[0], reference[0], tf.nest.flatten(y)[0]
    agree = float(np.mean(top1(first) == top1(keras_first))) if classifies else None
    return diff, agree, metric(first, labels, classifies), metric(keras_first, labels, classifies)


def latency(predict: Predict, x: Any) -> dict[str, float]:
    """Milliseconds per call, p50 and p95, at batch 1 and 32 (the first examples, repeated
    where the split holds fewer), after WARM_UP calls."""
    timings = {}
    for batch, calls in TIMED.items():
        index = np.resize(np.arange(count(x)), batch)
        sample = tf.nest.map_structure(lambda a: a[index], x)
        for _ in range(WARM_UP):
            predict(sample)
        seconds = []
        for _ in range(calls):
            start = time.perf_counter()
            predict(sample)
            seconds.append((time.perf_counter() - start) * 1000)
        timings[f"b{batch}_p50"], timings[f"b{batch}_p95"] = (
            float(np.percentile(seconds, 50)), float(np.percentile(seconds, 95)))
    return timings


def check(predict: Predict, x: Any, y: Any, reference: list[np.ndarray],
          classifies: bool) -> Checked:
    diff, agree, score, keras_score = compared(predicted(predict, x), reference, y, classifies)
    return Checked(diff, agree, score, keras_score, latency(predict, x))
