"""A message names the input that caused a failure, not a symptom further on: the model key
whose layer refused what reaches it, the member of a .keras archive that is damaged (said
once, as damaged, and never offered as intact in the same breath)."""

from __future__ import annotations

import io
import zipfile

import pytest

from conftest import assert_refused, in_process

REFUSING_LAYERS = {  # overrides, and the key and layer the paragraph names
    "pooling-past-the-image": (["model=cnn", "model.nodes.2.layer.pool_size=16"],
                               ["model.nodes.2.layer (MaxPooling2D 'pool') refused what reaches it",
                                "Computed output size would be zero"]),
    "convolution-on-vectors": (["dataset=synthetic", "dataset.shape=[12]", "model=cnn"],
                               ["model.nodes.0.layer (Conv2D 'conv1') refused what reaches it",
                                "model=mlp, model=resmlp and model=regression take it"]),
    "a-stack-layer": (["model.layers.0._target_=keras.layers.Conv1D", "+model.layers.0.filters=4",
                       "+model.layers.0.kernel_size=3"],
                      ["model.layers.0 (Conv1D", "refused what reaches it"]),
}


@pytest.mark.parametrize("case", REFUSING_LAYERS)
def test_a_model_that_cannot_be_built_names_the_layer_key(tmp_path, case):
    overrides, fragments = REFUSING_LAYERS[case]
    result = in_process(*overrides, "debug=smoke", cwd=tmp_path)
    assert_refused(result, 2, ["does not fit the data", *fragments, "!.."])
    assert not (tmp_path / "outputs").exists()


def test_a_keras_file_whose_weights_were_cut_before_zipping_is_said_damaged_once(tmp_path, train):
    run = train("debug=smoke")
    model = run.path / "model.keras"
    with zipfile.ZipFile(model) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = members["model.weights.h5"]
    members["model.weights.h5"] = weights[:len(weights) // 2]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # a whole zip around a cut member
        for name, data in members.items():
            archive.writestr(name, data)
    model.write_bytes(buffer.getvalue())
    for tool in ("tftrain-eval", "tftrain-predict"):
        args = [str(run.path)] + (["input=x.npy"] if tool == "tftrain-predict" else [])
        result = in_process(*args, cwd=tmp_path, tool=tool)
        message = result.stderr
        assert_refused(result, 2, ["model.keras is damaged",
                                   "the archive member model.weights.h5 is cut short or damaged",
                                   "Intact in the folder: checkpoints/best.keras"])
        assert "model.keras (the final model)" not in message  # never damaged and intact at once
