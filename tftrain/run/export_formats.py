"""Each export format written with `keras.Model.export` and the converters' current
releases, what a format cannot carry refused by name, and tftrain's record (class names,
inputs, versions, fingerprints) written inside every artifact: a SavedModel's
`assets.extra/tftrain.json`, an ONNX model's metadata_props, a LiteRT flatbuffer's metadata.

Inputs keep the run's names where the format allows: a SavedModel signature, an ONNX graph
and a LiteRT signature take Python identifiers, so a column named `class` or `fixed
acidity` is the artifact's `class_` or `fixed_acidity` (the record maps each).
"""

from __future__ import annotations

import contextlib
import json
import keyword
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tftrain.errors import TftrainError

RECORD = "tftrain"  # the record's name inside each artifact
SAVED_MODEL_RECORD = Path("assets.extra") / "tftrain.json"
# Layers that read strings through lookup tables, which tf2onnx cannot carry into ONNX
# (its table conversion fails and leaves a graph onnxruntime refuses).
STRING_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization", "Hashing")
CALIBRATION_EXAMPLES = 200  # the int8 converter's representative examples


class Refused(TftrainError):
    """A format cannot carry this model: what in it, and what works instead."""


def identifier(name: str) -> str:
    """An input's name as a signature argument: `fixed acidity` -> fixed_acidity,
    `class` -> class_."""
    name = re.sub(r"\W", "_", name)
    name = f"x_{name}" if not name or name[0].isdigit() else name
    return f"{name}_" if keyword.iskeyword(name) else name


def input_names(model: keras.Model) -> dict[str, str]:
    """The model's inputs by the run's names (a CSV's columns) -> the artifact's names."""
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        return {key: identifier(key) for key in struct}
    if not hasattr(model, "inputs"):  # a subclassed model (model=resnet): one input
        return {"input": "input"}
    return {tensor.name: identifier(tensor.name) for tensor in model.inputs}


def signature(model: keras.Model) -> list[Any]:
    """The input signature to export with: Keras' own, each spec named as a Python
    identifier (a SavedModel signature's arguments and the LiteRT signature are Python
    keywords), the batch dimension free."""
    from keras.src.export.export_utils import get_input_signature

    names = input_names(model)

    def spec(item: Any, name: str) -> tf.TensorSpec:
        return tf.TensorSpec((None, *tuple(item.shape)[1:]), item.dtype, name=identifier(name))

    found = get_input_signature(model)
    if len(found) == 1 and isinstance(found[0], dict):
        return [{key: spec(item, key) for key, item in found[0].items()}]
    return [spec(item, name) for item, name in zip(found, names)]


def inference_model(model: keras.Model) -> keras.Model:
    """The model as it predicts: float32 (float32_model), its augmentation layers (RandomFlip,
    RandomRotation, ..., active in training only) left out. Exported with them, the random
    ops stay in the graph: a SavedModel served augmented predictions, and ONNX could not
    carry them at all."""
    model = float32_model(model)
    if not any(augments(layer) for layer in model.layers):
        return model
    if not hasattr(model, "inputs"):  # subclassed: its layers cannot be swapped from outside
        return model

    def swapped(layer: Any) -> Any:  # the others are the model's own, weights shared
        return keras.layers.Identity(name=layer.name) if augments(layer) else layer

    return keras.models.clone_model(model, clone_function=swapped)


def augments(layer: Any) -> bool:
    """A random augmentation layer (keras.layers.Random*), or a model of nothing else."""
    inner = getattr(layer, "layers", None)
    if inner:
        return all(augments(each) for each in inner)
    return type(layer).__name__.startswith("Random") and type(layer).__module__.startswith("keras")


def float32_model(model: keras.Model) -> keras.Model:
    """The model computing in float32 (itself, unless its layers compute in a mixed
    policy): the same weights, rebuilt from its config under float32, since ONNX and LiteRT
    take float32 graphs and a float16 graph would change what it predicts."""
    if all(layer.dtype_policy.name == "float32" for layer in model._flatten_layers()):
        return model
    config = keras.saving.serialize_keras_object(model)

    def as_float32(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {k: as_float32(v) for k, v in node.items()}
        return [as_float32(v) for v in node] if isinstance(node, list) else node

    from tftrain.models.inputs import keyed_by_column_names

    with keyed_by_column_names(), keras.device("cpu"):
        copy = keras.saving.deserialize_keras_object(as_float32(config), safe_mode=True)
    copy.set_weights(model.get_weights())
    return copy


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """The converters' own output kept off the console (MLIR's diagnostics are written by
    C++ to file descriptor 2, tf2onnx logs every node it fails): collected into the list
    yielded, for a refusal to quote."""
    said: list[str] = []
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl")]
    levels = [logger.level for logger in loggers]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            for logger in loggers:
                logger.setLevel(logging.CRITICAL)
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield said
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            sink.seek(0)
            said.append(sink.read().decode(errors="replace"))


def string_layers(model: keras.Model) -> list[str]:
    """The layers that read strings through lookup tables, as `name (Class)`."""
    return [f"{layer.name} ({type(layer).__name__})" for layer in model._flatten_layers()
            if type(layer).__name__ in STRING_LAYERS]


def carried(model: keras.Model, name: str) -> None:
    """Refuse a format that cannot carry the model, before converting it, naming the
    layers and what works instead."""
    found = string_layers(model)
    if name == "onnx" and found:
        vectorizes = any("TextVectorization" in f for f in found)
        raise Refused(f"onnx cannot carry {', '.join(found)}: tf2onnx converts no lookup "
                      "table, and its ONNX file would fail in onnxruntime. What works instead: "
                      + ("format=saved_model, or litert with flex=true (TextVectorization's "
                         "string ops are TensorFlow ops)" if vectorizes else
                         "format=saved_model,litert (LiteRT's built-in hash tables carry string "
                         "lookups)") + ", or a model that takes numbers (one-hot or index "
                      "columns made before it).")


def write_saved_model(model: keras.Model, path: Path, record: dict[str, Any]) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False,
                 input_signature=signature(model))
    (path / SAVED_MODEL_RECORD).parent.mkdir(parents=True, exist_ok=True)
    (path / SAVED_MODEL_RECORD).write_text(json.dumps(record, indent=2) + "\n")


def write_onnx(model: keras.Model, path: Path, record: dict[str, Any], opset: int | None) -> None:
    import onnx

    with quiet(), warnings.catch_warnings():  # Keras' tf2onnx shim asks NumPy for np.object
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False, input_signature=signature(model),
                     opset_version=opset)
    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    graph.metadata_props.add(key=RECORD, value=json.dumps(record))
    onnx.save(graph, str(path))


def write_litert(model: keras.Model, path: Path, record: dict[str, Any], quantize: str,
                 flex: bool, calibration: Callable[[], Iterator[Any]] | None) -> None:
    """The LiteRT flatbuffer: built-in ops only unless `flex` (Keras adds TensorFlow ops
    by default, which the plain interpreter cannot run), quantized as asked."""
    from tensorflow.lite.python.convert_phase import ConverterError

    ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + ([tf.lite.OpsSet.SELECT_TF_OPS] if flex else [])
    options: dict[str, Any] = {"target_spec": {"supported_ops": ops}}
    if quantize != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    if quantize == "int8":  # int8 kernels where LiteRT has them, float where not; float in and out
        options["representative_dataset"] = calibration
    try:
        with quiet() as said:
            model.export(str(path), format="litert", verbose=False,
                         input_signature=signature(model), **options)
    except ConverterError as error:
        raise flex_refusal(model, error, said) from None
    with_record(path, record)


def flex_refusal(model: keras.Model, error: Exception, said: list[str]) -> TftrainError:
    """The converter's refusal of TensorFlow ops, as which ops, in which layers, and the
    ways out; anything else it refuses is said as it said it."""
    text = f"{error}\n{''.join(said)}"
    ops = re.search(r"TF Select ops: ([^\n]+)", text)
    if ops is None:
        first = next((line for line in text.splitlines() if "error:" in line), str(error))
        return TftrainError(f"litert: the LiteRT converter refused the model: {first.strip()[:400]}")
    paths = set(re.findall(r'"([\w./-]+)/[A-Za-z0-9_]+@__inference', text))
    names = {re.sub(r"_\d+$", "", part) for path in paths for part in path.split("/")}
    layers = [f"{layer.name} ({type(layer).__name__})" for layer in model._flatten_layers()
              if layer.name in names and layer is not model]
    return Refused(f"litert needs TensorFlow ops that LiteRT has no built-in op for: "
                   f"{ops.group(1).strip()}" + (f", in {', '.join(layers)}" if layers else "")
                   + ". The plain LiteRT interpreter could not run such a file. flex=true "
                   "exports them anyway (the app then links the Flex delegate, some 6 MB); "
                   "saved_model carries them as they are.")


def with_record(path: Path, record: dict[str, Any]) -> None:
    """tftrain's record as the flatbuffer's metadata named `tftrain`."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    import numpy as np

    flat = flatbuffer_utils.read_model_from_bytearray(path.read_bytes())
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    flat.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = RECORD, len(flat.buffers) - 1
    flat.metadata = [m for m in (flat.metadata or []) if m.name not in (RECORD, RECORD.encode())]
    flat.metadata.append(entry)
    path.write_bytes(flatbuffer_utils.convert_object_to_bytearray(flat))


def read_record(path: Path) -> dict[str, Any] | None:
    """tftrain's record inside an exported artifact (a SavedModel folder, an ONNX or LiteRT
    file), or None when it holds none."""
    if path.is_dir():
        file = path / SAVED_MODEL_RECORD
        return json.loads(file.read_text()) if file.is_file() else None
    if path.suffix.lower() == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[RECORD]) if RECORD in props else None
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(path))
    entry = next((m for m in flat.metadata or [] if m.name in (RECORD, RECORD.encode())), None)
    return None if entry is None else json.loads(bytes(flat.buffers[entry.buffer].data).decode())
