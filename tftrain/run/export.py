"""Exports of a trained model, each verified in its own runtime: what `tftrain-export` and
the training key `export=` run (one code path; they differ in where the model and the data
come from).

Each format asked for is first checked to be able to carry the model (string lookups,
TensorFlow ops) before anything is converted; each file is then written whole (a temporary
name, renamed into place) into the run's `export/` folder, with tftrain's record inside
(export_formats), run on the test split in its own runtime beside Keras (export_check), and
the figures written to `export/report.json` and `export/report.md` and printed as one
table. A float32 export whose outputs differ from Keras' by more than 1e-4, or a quantized
one that loses more than `tolerance=` points of the metric, fails the command: its file is
kept for inspection and the report says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain import artifacts
from tftrain.config import exports
from tftrain.config.exports import FORMATS, Request, file_name
from tftrain.errors import TftrainError, WriteFailed, raised_in_tftrain, said
from tftrain.run import export_check, export_formats
from tftrain.run.export_report import report
from tftrain.run.export_formats import CALIBRATION_EXAMPLES, carried, identifier, inference_model

FOLDER = "export"
CONVERTERS = ("tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")


class ExportFailed(TftrainError):
    """An export was written but does not predict what the model does (beyond the
    tolerance), or the export a completed run asked for could not be made: not bad input
    found before anything ran, so not exit status 2."""

    exit_code = 1


@dataclass
class Examples:
    """The split an export is verified on: inputs as the run names them, labels."""

    name: str
    x: Any
    y: Any

    @property
    def samples(self) -> int:
        return export_check.count(self.x)


def examples(name: str, dataset: tf.data.Dataset, limit: int | None = None) -> Examples:
    """A dataset's batches ((x, y), (x, y, weights) or eval's (x, y, ids)) as whole arrays."""
    xs, ys, seen = [], [], 0
    for batch in dataset:
        xs.append(tf.nest.map_structure(np.asarray, batch[0]))
        ys.append(tf.nest.map_structure(np.asarray, batch[1]))
        seen += export_check.count(xs[-1])
        if limit is not None and seen >= limit:
            break
    joined = [tf.nest.map_structure(lambda *parts: np.concatenate(parts), *part) for part in (xs, ys)]
    return Examples(name, *joined)


def export_run(value: Any, model: Any, data: Any, summary: dict[str, Any], run_dir: Path) -> None:
    """The training key `export=` at the end of a run: its test split (as the run scored
    it; its validation split where it has none), int8 calibrated on its training split."""
    from omegaconf import OmegaConf

    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    request = exports.from_config(value)
    if request is None:
        return
    try:  # not exit status 2, here and below: that says nothing was trained
        exportable(model, run_dir)
    except TftrainError as error:
        raise ExportFailed(f"export={value}: {error} The run itself completed and its folder "
                           "is whole.") from None
    split = "test" if data.test is not None else "val"
    held_out = data.test if data.test is not None else data.val
    if held_out is None:
        raise ExportFailed(f"export={value}: the run kept no test or validation split to "
                           "verify the exports on; train it with one (its dataset's "
                           "test_split, such as 0.2). The run itself completed and its folder "
                           "is whole.")
    test = examples(split, held_out)
    train = (lambda: examples("train", data.train, CALIBRATION_EXAMPLES)) \
        if "int8" in request.quantize and "litert" in request.formats else None
    try:
        export(request, model, test, train, record_of(summary, run_dir), run_dir / FOLDER)
    except WriteFailed:
        raise
    except TftrainError as error:
        raise ExportFailed(f"{error} The run itself completed and its folder is whole: "
                           f"tftrain-export {run_dir} format=... exports it.") from None


def exportable(model: Any, run: Path | str) -> None:
    """Refuse a model an export cannot be verified for, before any data is read."""
    from tftrain.callbacks.samples import generates

    if generates(model):
        raise TftrainError(f"{run} is a GAN run: its model generates samples from noise and "
                           "predicts nothing from inputs, which is what an export is verified "
                           f"on. tftrain-predict {run} n=16 draws samples.")


def record_of(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """What travels inside every artifact: where it came from, what its inputs and outputs
    mean, the versions that made it and the fingerprints that identify weights and data."""
    data = summary.get("data", {})
    inputs = {name: {**spec, "argument": identifier(name)}
              for name, spec in data.get("inputs", {}).items()}
    return {"run": str(run_dir), "task": data.get("task"), "inputs": inputs,
            "targets": data.get("targets", {}), "class_names": data.get("class_names", []),
            "reading": data.get("reading", {}),
            "versions": {**summary.get("versions", {}), **converter_versions()},
            "weights_fingerprint": summary.get("weights_fingerprint"),
            "data_fingerprint": data.get("fingerprint"),
            "source_fingerprint": data.get("source_fingerprint")}


def converter_versions() -> dict[str, str]:
    found = {}
    for package in CONVERTERS:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def export(request: Request, model: Any, test: Examples, train: Callable[[], Examples] | None,
           record: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Write and verify every artifact asked for; the report's rows. The converters give
    the root logger a handler (logging.basicConfig), which would print tftrain's own
    messages twice: taken away again afterwards."""
    handlers = list(logging.root.handlers)
    try:
        return verified(request, model, test, train, record, folder)
    finally:
        logging.root.handlers[:] = handlers


def verified(request: Request, model: Any, test: Examples, train: Callable[[], Examples] | None,
             record: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    record = {**record, "weights_fingerprint": artifacts.weights_fingerprint(model)}  # the run's
    model = inference_model(model)
    for name in request.formats:  # before anything is converted
        carried(model, name)
    classifies = first_task(record) == "classification"
    keras = export_check.keras_runtime(model)
    reference = export_check.predicted(keras, test.x)
    limit = float32_limit(reference)
    keras_score = export_check.metric(reference[0], tf.nest.flatten(test.y)[0], classifies)
    rows = [{"format": "keras", "quantize": "none", "file": artifacts.MODEL,
             "size_bytes": size(folder.parent / artifacts.MODEL), "max_abs_diff": 0.0,
             "top1_agreement": 1.0 if classifies else None, "metric": keras_score,
             "keras_metric": keras_score, "latency_ms": export_check.latency(keras, test.x),
             "metric_drop_points": None, "verdict": "reference", "why": None}]
    calibration = calibrating(train, model) if train is not None else None
    for name, quantize in request.artifacts():
        path = folder / file_name(name, quantize)
        stamped = {**record, "format": name, "quantize": quantize,
                   "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        written(name, quantize, model, path, stamped, request, calibration)
        try:
            checked = export_check.check(export_check.runtime_of(name, path), test.x, test.y,
                                         reference, classifies)
        except Exception as error:  # the runtime refusing the file (a bug of ours keeps its traceback)
            if raised_in_tftrain(error):
                raise
            rows.append(unrunnable(name, quantize, path, error, request.flex))
            continue
        rows.append(row(name, quantize, path, checked, (request.tolerance, limit), classifies))
    report(rows, request.tolerance, (test.name, test.samples), record, folder, classifies)
    failed = [r for r in rows if r["why"]]
    if failed:
        raise ExportFailed("; ".join(f"{r['file']} {r['why']}" for r in failed)
                           + f". The files are kept for inspection; {folder / 'report.md'} has "
                           "every figure.")
    return rows


def first_task(record: dict[str, Any]) -> str | None:
    """The task of the output the metric is of: the first as tf.nest flattens them (a
    multi-output model's by name)."""
    targets = record.get("targets") or {}
    return targets[sorted(targets)[0]].get("task") if targets else record.get("task")


def calibrating(train: Callable[[], Examples], model: Any) -> Callable[[], Iterator[Any]]:
    """The int8 converter's representative dataset: the run's own training examples, one
    at a time, by the signature's argument names."""
    examples_ = train()

    def representative() -> Iterator[Any]:
        for i in range(min(examples_.samples, CALIBRATION_EXAMPLES)):
            one = export_check.rows(examples_.x, i, i + 1)
            if isinstance(one, dict):
                yield {identifier(k): v.astype(np.float32) if v.dtype == np.float64 else v
                       for k, v in one.items()}
            else:
                yield [one.astype(np.float32)]

    return representative


def written(name: str, quantize: str, model: Any, path: Path, record: dict[str, Any],
            request: Request, calibration: Callable[[], Iterator[Any]] | None) -> None:
    """One artifact, whole or not at all."""
    if name == "saved_model":
        artifacts.folder_in_place(
            path, lambda tmp: export_formats.write_saved_model(model, tmp, record))
    elif name == "onnx":
        artifacts.in_place(
            path, lambda tmp: export_formats.write_onnx(model, tmp, record, request.opset),
            suffix=".onnx")
    else:
        artifacts.in_place(path, lambda tmp: export_formats.write_litert(
            model, tmp, record, quantize, request.flex, calibration), suffix=".tflite")


def size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.is_file() else 0


def row(name: str, quantize: str, path: Path, checked: export_check.Checked,
        limits: tuple[float, float], classifies: bool) -> dict[str, Any]:
    """A file's figures and verdict; `limits`: the points a quantized export may lose, the
    difference a float32 one may have."""
    drop = None if quantize == "none" else metric_drop(checked, classifies)
    why = failure(checked.max_abs_diff, drop, limits, classifies)
    return {"format": name, "quantize": quantize, "file": path.name, "size_bytes": size(path),
            **asdict(checked), "metric_drop_points": drop,
            "verdict": "FAILED" if why else "ok", "why": why}


def float32_limit(reference: list[np.ndarray]) -> float:
    """The difference from Keras a float32 export may have: FLOAT32_TOLERANCE for outputs
    up to 1 (probabilities), relative to the largest output beyond (a regressor's house
    prices differ by float32's rounding, 1e-7 of their size, and predict the same)."""
    largest = max(float(np.max(np.abs(r), initial=0.0)) for r in reference)
    return exports.FLOAT32_TOLERANCE * max(1.0, largest)


def unrunnable(name: str, quantize: str, path: Path, error: Exception, flex: bool) -> dict[str, Any]:
    """A file its runtime would not load or run: failed, saying what the runtime said. A
    flex=true file using TensorFlow ops is the exception: the Python LiteRT interpreter has
    no Flex delegate to run it, so it is said to be unverified, not failed."""
    found = {"format": name, "quantize": quantize, "file": path.name, "size_bytes": size(path),
             "max_abs_diff": None, "top1_agreement": None, "metric": None, "keras_metric": None,
             "latency_ms": None, "metric_drop_points": None}
    if flex and "Select TensorFlow op" in str(error):
        return {**found, "verdict": "unverified", "why": None, "note": "uses TensorFlow ops "
                "(flex=true), which the Python LiteRT interpreter cannot run (no Flex delegate): "
                "not verified here; an app linking the Flex delegate runs it"}
    runtime = FORMATS[name].runtime
    return {**found, "verdict": "FAILED", "why": f"cannot be run by {runtime}: {said(error)}"}


def failure(diff: float, drop: float | None, limits: tuple[float, float],
            classifies: bool) -> str | None:
    """Why an export fails, or None. float32 (no drop): within its limit of Keras' outputs;
    quantized: the metric's drop (accuracy points; for an error, per cent of Keras' error)
    within the tolerance."""
    tolerance, limit = limits
    if drop is None:
        return None if diff <= limit else \
            f"differs from Keras by up to {diff:.2g}, over the {limit:.2g} a float32 export may"
    if drop <= tolerance:
        return None
    return (f"loses {drop:.2f} points of {'accuracy' if classifies else 'mean absolute error'}, "
            f"over tolerance={tolerance:g}")


def metric_drop(checked: export_check.Checked, classifies: bool) -> float:
    if classifies:
        return (checked.keras_metric - checked.metric) * 100
    return (checked.metric - checked.keras_metric) / max(abs(checked.keras_metric), 1e-12) * 100
