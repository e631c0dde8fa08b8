"""Exports through the real commands (`tftrain-export RUN format=...` and the training key
`export=`): each file is written whole into the run's export/ folder, carries tftrain's
record, and is verified in its own runtime beside Keras; what cannot be exported is refused
in one paragraph before anything is converted.
"""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, RunFolder, assert_refused, in_process


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> RunFolder:
    """One real digits MLP run (smoke size), shared by the tests that export it."""
    root = tmp_path_factory.mktemp("export")
    result = in_process("debug=smoke", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def export(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-export")


def report(run: RunFolder) -> dict:
    return json.loads((run.path / "export" / "report.json").read_text())


def rows(run: RunFolder) -> dict[str, dict]:
    return {r["file"]: r for r in report(run)["exports"]}


def keras_outputs(run: RunFolder, x: np.ndarray) -> np.ndarray:
    from tftrain import models

    return models.load_model(str(run.path / "model.keras"), inference=True).predict(x, verbose=0)


def inputs(count: int = 40) -> np.ndarray:
    return np.random.default_rng(0).random((count, 8, 8, 1), dtype=np.float32) * 16


@pytest.mark.parametrize("args, fragments", [
    (["format=onxx"], ["format=onxx", "'onxx' is no choice", "Did you mean 'onnx'?"]),
    (["format=onnx", "quantize=int8"], ["quantize=int8", "taken by litert only", "format=onnx"]),
    (["format=saved_model", "opset=17"], ["opset=17", "taken by onnx only"]),
    (["format=litert", "quantise=int8"], ["quantise=int8", "no such argument", "'quantize'"]),
    (["format=litert", "quantize=int4"], ["quantize=int4", "float16, dynamic, int8"]),
    (["format=litert", "tolerance=1"], ["tolerance=1", "quantized exports", "quantize=int8"]),
    (["onnx"], ["KEY=VALUE", "format=onnx,litert"]),
    ([], ["needs format=", "saved_model, onnx, litert"]),
])
def test_a_mistake_is_one_paragraph_before_anything_is_converted(digits, args, fragments):
    result = export(str(digits.path), *args, cwd=digits.path.parent)
    assert_refused(result, 2, fragments)
    assert not (digits.path / "export").exists()


def test_a_missing_converter_is_named_with_the_extra_that_brings_it(digits, monkeypatch):
    """What a user without the export extra reads: the package each format lacks, and the
    pip line; refused before the run folder is read."""
    from tftrain.config import exports

    real = exports.importlib.util.find_spec
    fake = types.SimpleNamespace(util=types.SimpleNamespace(
        find_spec=lambda name: None if name in ("onnxruntime", "ai_edge_litert") else real(name)))
    monkeypatch.setattr(exports, "importlib", fake)
    result = export(str(digits.path), "format=all", cwd=digits.path.parent)
    assert_refused(result, 2, ["onnx needs onnxruntime", "litert needs ai-edge-litert",
                               "pip install 'tftrain[export]'", "!saved_model needs"])
    assert not (digits.path / "export").exists()
    trained = in_process("debug=smoke", "export=onnx", f"hydra.run.dir={digits.path.parent / 'x'}",
                         cwd=digits.path.parent)  # refused at composition, before training
    assert_refused(trained, 2, ["onnx needs onnxruntime", "tftrain[export]"])
    assert not (digits.path.parent / "x").exists()


def test_export_key_mistakes_are_refused_before_training(tmp_path):
    result = in_process("debug=smoke", "export=tflight", f"hydra.run.dir={tmp_path / 'run'}",
                        cwd=tmp_path)
    assert_refused(result, 2, ["export=tflight", "Did you mean"])
    result = in_process("debug=smoke", "+export={format: onnx, flex: true}",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_refused(result, 2, ["export.flex=True", "taken by litert only"])
    assert not (tmp_path / "run").exists()


def test_every_format_agrees_with_keras_in_its_runtime_and_predicts_as_the_run(digits, tmp_path):
    result = export(str(digits.path), "format=all", cwd=digits.path.parent)
    assert result.returncode == 0, result.output
    found = rows(digits)
    assert set(found) == {"model.keras", "saved_model", "model.onnx", "model.tflite"}
    for name in ("saved_model", "model.onnx", "model.tflite"):
        assert found[name]["verdict"] == "ok" and found[name]["max_abs_diff"] <= 1e-4
        assert found[name]["top1_agreement"] == 1.0
        assert found[name]["metric"] == pytest.approx(found["model.keras"]["metric"])
        assert set(found[name]["latency_ms"]) == {"b1_p50", "b1_p95", "b32_p50", "b32_p95"}
        assert found[name]["size_bytes"] > 0
    assert report(digits)["samples"] == digits.summary["data"]["sizes"]["test"]  # all of it
    assert "saved_model" in result.stdout and "litert" in result.stdout  # the table
    table = (digits.path / "export" / "report.md").read_text()
    assert "| litert | model.tflite |" in table

    # Each runs outside tftrain as README shows, and predicts what Keras does.
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    x = inputs()
    runner = Interpreter(model_path=str(digits.path / "export" / "model.tflite")).get_signature_runner()
    lite = runner(input=x)["output_0"]
    loaded = tf.saved_model.load(str(digits.path / "export" / "saved_model"))
    served = loaded.serve(x).numpy()
    np.testing.assert_allclose(lite, keras_outputs(digits, x), atol=1e-5)
    np.testing.assert_allclose(served, keras_outputs(digits, x), atol=1e-5)

    # The record travels with each file.
    record = json.loads((digits.path / "export" / "saved_model" / "assets.extra"
                         / "tftrain.json").read_text())
    assert record["class_names"] == [str(i) for i in range(10)]
    assert record["inputs"]["input"]["shape"] == [8, 8, 1]
    assert record["weights_fingerprint"] == digits.summary["weights_fingerprint"]
    assert record["versions"]["ai-edge-litert"] and record["format"] == "saved_model"
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(digits.path / "export" / "model.tflite"))
    entry = next(m for m in flat.metadata if m.name in (b"tftrain", "tftrain"))
    lite_record = json.loads(bytes(flat.buffers[entry.buffer].data).decode())
    assert lite_record["class_names"] == record["class_names"] and lite_record["format"] == "litert"

    # tftrain-predict takes each file in place of the run folder: the same CSV.
    np.save(tmp_path / "x.npy", x)
    predicted = {}
    exported = (digits.path / "export" / n for n in ("model.onnx", "model.tflite", "saved_model"))
    for given in (digits.path, *exported):
        output = tmp_path / f"{given.name}.csv"
        done = in_process(str(given), f"input={tmp_path / 'x.npy'}", f"output={output}",
                          cwd=tmp_path, tool="tftrain-predict")
        assert done.returncode == 0, done.output
        predicted[given.name] = read_table(output)
    for name, table in predicted.items():
        assert table[0] == predicted["run"][0]  # the header: input, predicted, p_0 ... p_9
        assert [r[1] for r in table] == [r[1] for r in predicted["run"]], name
        np.testing.assert_allclose(np.array([r[2:] for r in table[1:]], float),
                                   np.array([r[2:] for r in predicted["run"][1:]], float), atol=1e-5)

    # The same export again replaces the files whole, leaving nothing staged.
    again = export(str(digits.path), "format=litert", cwd=digits.path.parent)
    assert again.returncode == 0, again.output
    assert rows(digits)["model.tflite"]["verdict"] == "ok"
    assert not [p.name for p in (digits.path / "export").iterdir() if p.name.startswith(".")]


def read_table(path: Path) -> list[list[str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_predict_refuses_a_file_tftrain_did_not_export(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.float32))
    result = in_process(str(tmp_path / "other.onnx"), f"input={tmp_path / 'x.npy'}",
                        cwd=tmp_path, tool="tftrain-predict")
    assert_refused(result, 2, ["other.onnx holds no tftrain record", "Give the run folder"])


def test_a_folder_that_refuses_the_write_is_one_paragraph_exit_74(digits, tmp_path):
    """As a read-only folder would (tests run as root, whom permissions do not stop): a
    file where the export folder goes."""
    run = tmp_path / "run"
    shutil.copytree(digits.path, run, ignore=shutil.ignore_patterns("export"))
    (run / "export").write_text("in the way")
    result = export(str(run), "format=litert", cwd=tmp_path)
    assert_refused(result, 74, [f"could not write {run / 'export'}", "File exists"])
    assert (run / "export").read_text() == "in the way"
    assert (run / "model.keras").is_file()


def test_a_float32_export_that_differs_from_keras_fails_and_says_so(digits, tmp_path, monkeypatch):
    """The tolerance is real: with none allowed, ONNX's float rounding (~1e-8) fails it,
    exit 1, the figures kept in the report and the file kept for inspection."""
    from tftrain.config import exports

    monkeypatch.setattr(exports, "FLOAT32_TOLERANCE", 0.0)
    run = tmp_path / "run"
    shutil.copytree(digits.path, run, ignore=shutil.ignore_patterns("export"))
    result = export(str(run), "format=onnx", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "model.onnx differs from Keras by up to" in result.stderr
    assert "Traceback" not in result.output
    found = rows(RunFolder(run))["model.onnx"]
    assert found["verdict"] == "FAILED" and found["max_abs_diff"] > 0
    assert (run / "export" / "model.onnx").is_file()


def test_export_onnx_at_the_end_of_a_training_run(train, tmp_path):
    run = train("debug=smoke", "model=cnn", "export=onnx")
    found = rows(run)
    assert found["model.onnx"]["verdict"] == "ok"
    assert found["model.onnx"]["top1_agreement"] == 1.0
    import onnx
    import onnxruntime

    path = run.path / "export" / "model.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = inputs()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], keras_outputs(run, x), atol=1e-5)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    record = json.loads(props["tftrain"])
    assert record["class_names"] == [str(i) for i in range(10)]
    assert record["weights_fingerprint"] == run.summary["weights_fingerprint"]
    assert run.summary["status"] == "completed"


@pytest.mark.slow
def test_every_format_and_quantization_on_a_cnn(train):
    """format=all quantize=all: float32 files agree with Keras; each quantized one states
    its metric drop (the tolerance is wide: a smoke run's model is barely trained)."""
    run = train("debug=smoke", "model=cnn")
    result = export(str(run.path), "format=all", "quantize=all", "tolerance=100",
                    cwd=run.path.parent)
    assert result.returncode == 0, result.output
    found = rows(run)
    assert set(found) == {"model.keras", "saved_model", "model.onnx", "model.tflite",
                          "model.float16.tflite", "model.dynamic.tflite", "model.int8.tflite"}
    for name in ("saved_model", "model.onnx", "model.tflite"):
        assert found[name]["max_abs_diff"] <= 1e-4 and found[name]["top1_agreement"] == 1.0
    for name in ("model.float16.tflite", "model.dynamic.tflite", "model.int8.tflite"):
        assert found[name]["metric_drop_points"] is not None and found[name]["verdict"] == "ok"
    assert found["model.int8.tflite"]["size_bytes"] < found["model.tflite"]["size_bytes"] / 2


@pytest.mark.slow
def test_a_mixed_precision_run_exports_float32_files(train):
    run = train("debug=smoke", "precision=mixed_float16", "export=all")
    found = rows(run)
    for name in ("saved_model", "model.onnx", "model.tflite"):
        assert found[name]["verdict"] == "ok" and found[name]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
def test_string_lookups_refuse_onnx_naming_the_layer_and_litert_carries_them(train, tmp_path):
    titanic = SHARED_DATA / "titanic.csv"
    if not titanic.is_file():
        pytest.skip(f"{titanic} is not here")
    run = train("dataset=csv", f"dataset.path={titanic}", "dataset.label=survived",
                "dataset.drop=[alive]", "trainer.epochs=2")
    refused = export(str(run.path), "format=all", cwd=tmp_path)
    assert_refused(refused, 2, ["onnx cannot carry", "sex_lookup (StringLookup)",
                                "format=saved_model,litert"])
    assert not (run.path / "export").exists()
    done = export(str(run.path), "format=saved_model,litert", cwd=tmp_path)
    assert done.returncode == 0, done.output
    found = rows(run)
    assert found["saved_model"]["top1_agreement"] == 1.0 and found["model.tflite"]["verdict"] == "ok"
    record = json.loads((run.path / "export" / "saved_model" / "assets.extra"
                         / "tftrain.json").read_text())
    assert record["inputs"]["class"]["argument"] == "class_"  # a keyword, as the signature names it
    rows_ = (titanic.read_text().splitlines())[:21]
    (tmp_path / "new.csv").write_text("\n".join(rows_) + "\n")
    tables = []
    for given in (run.path, run.path / "export" / "model.tflite"):
        output = tmp_path / f"{given.name}.csv"
        done = in_process(str(given), f"input={tmp_path / 'new.csv'}", f"output={output}",
                          cwd=tmp_path, tool="tftrain-predict")
        assert done.returncode == 0, done.output
        tables.append(read_table(output))
    assert [r[:2] for r in tables[0]] == [r[:2] for r in tables[1]]
    np.testing.assert_allclose(np.array([r[2:] for r in tables[0][1:]], float),
                               np.array([r[2:] for r in tables[1][1:]], float), atol=1e-5)


@pytest.mark.slow
def test_tensorflow_ops_are_refused_by_name_unless_flex(train, tmp_path):
    """TextVectorization's string ops are TensorFlow ops: LiteRT refuses them by name by
    default, after the run completed whole; flex=true writes the file, said unverified (no
    Flex delegate in Python)."""
    folder = tmp_path / "text"
    result = in_process("experiment=text_classification", "debug=smoke", "export=litert",
                        f"hydra.run.dir={folder}", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "StringLower" in result.stderr and "input_vectorize (TextVectorization)" in result.stderr
    assert "flex=true" in result.stderr and "Traceback" not in result.output
    assert RunFolder(folder).summary["status"] == "completed"
    assert (folder / ".hydra" / "overrides.yaml").is_file()  # the completed run is whole
    flexed = export(str(folder), "format=litert", "flex=true", cwd=tmp_path)
    assert flexed.returncode == 0, flexed.output
    assert rows(RunFolder(folder))["model.tflite"]["verdict"] == "unverified"


def test_the_float32_limit_is_absolute_for_probabilities_and_relative_for_large_outputs():
    """A regressor predicting house prices (~5e5) differs from Keras by float32's rounding
    (~1e-7 of its size) in any runtime: that is no failure, while 1e-3 on a probability is."""
    from tftrain.run.export import float32_limit

    assert float32_limit([np.array([[0.2, 0.8]], np.float32)]) == pytest.approx(1e-4)
    assert float32_limit([np.array([[5e5], [-1e3]], np.float32)]) == pytest.approx(50.0)


def test_a_gan_run_is_refused_naming_what_it_does_instead(train, tmp_path):
    run = train("experiment=digits_gan", "debug=smoke")
    result = export(str(run.path), "format=onnx", cwd=tmp_path)
    assert_refused(result, 2, ["is a GAN run", "predicts nothing from inputs", "n=16"])
    assert not (run.path / "export").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["experiment=image_augmentation", "model=resnet"])
def test_augmentation_layers_and_subclassed_models_export_as_they_predict(train, model,
                                                                          monkeypatch, tmp_path):
    """Augmentation layers are left out of every file (exported, a SavedModel served
    augmented predictions and ONNX could not carry their random ops); a subclassed model
    (no Keras inputs) exports as a functional one does."""
    run = train("debug=smoke", model, "export=all")
    found = rows(run)
    for name in ("saved_model", "model.onnx", "model.tflite"):
        assert found[name]["verdict"] == "ok" and found[name]["top1_agreement"] == 1.0, found[name]
    record = json.loads((run.path / "export" / "saved_model" / "assets.extra"
                         / "tftrain.json").read_text())
    assert record["weights_fingerprint"] == run.summary["weights_fingerprint"]
    if model == "model=resnet":
        return
    # With the augmentation kept, onnxruntime refuses the file: a failure saying so, exit 1.
    from tftrain.run import export as exporting
    from tftrain.run.export_formats import float32_model

    monkeypatch.setattr(exporting, "inference_model", float32_model)
    result = export(str(run.path), "format=onnx", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "model.onnx cannot be run by onnxruntime" in result.stderr
    assert "StatelessRandomUniform" in result.stderr and "Traceback" not in result.output
    assert rows(run)["model.onnx"]["verdict"] == "FAILED"


def test_a_run_without_a_held_out_split_has_nothing_to_verify_on(tmp_path):
    folder = tmp_path / "run"
    trained = in_process("debug=smoke", "dataset.val_split=0", "dataset.test_split=0",
                         "export=onnx", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert trained.returncode == 1, trained.output
    assert "no test or validation split" in trained.stderr and "Traceback" not in trained.output
    assert RunFolder(folder).summary["status"] == "completed"
    result = export(str(folder), "format=onnx", cwd=tmp_path)
    assert_refused(result, 2, ["no test or validation split", "dataset.test_split=0.2"])
    assert not (folder / "export").exists()
