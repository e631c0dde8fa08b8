"""Unit tests of the builders, on configs composed by the real Hydra from conf/."""

from __future__ import annotations

import numpy as np
import pytest

from tftrain.run import runtime
from tftrain.config import schema
from tftrain.config.compose import compose as compose_overrides
from tftrain.config.dataset import build_data
from tftrain.errors import TftrainError
from tftrain.config.model import build_model

schema.register()
keras = runtime.keras


def compose(*overrides: str):
    return compose_overrides(list(overrides))


def test_digits_splits_are_stratified_disjoint_and_seeded():
    cfg = compose()
    data = build_data(cfg.dataset, batch_size=32, seed=0)
    assert data.sizes == {"train": 1259, "val": 179, "test": 359}
    assert sum(data.sizes.values()) == 1797
    assert data.spec.input_shape == (8, 8, 1) and data.spec.num_classes == 10
    assert data.spec.class_names == tuple(str(i) for i in range(10))
    test_labels = np.concatenate([y.numpy() for _, y in data.test])
    assert set(np.bincount(test_labels)) <= {35, 36, 37}  # 20% of ~180 per class
    x, _ = next(iter(data.test))
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    assert build_data(cfg.dataset, 32, seed=0).fingerprint == data.fingerprint
    assert build_data(cfg.dataset, 32, seed=1).fingerprint != data.fingerprint


def test_each_epoch_is_a_new_permutation_that_depends_only_on_seed_and_epoch():
    cfg = compose("dataset.drop_remainder=false")
    data = build_data(cfg.dataset, batch_size=64, seed=3)

    def labels_of_epoch(d, epoch):
        d.set_epoch(epoch)
        return np.concatenate([y.numpy() for _, y in d.train])

    first, second = labels_of_epoch(data, 0), labels_of_epoch(data, 1)
    assert len(first) == data.sizes["train"] and sorted(first) == sorted(second)
    assert not np.array_equal(first, second)
    again = build_data(cfg.dataset, batch_size=64, seed=3)
    assert np.array_equal(labels_of_epoch(again, 1), second)
    assert int(data.train.cardinality()) == data.steps_per_epoch == 20


def test_limit_batches_caps_every_split():
    cfg = compose("debug=smoke")
    data = build_data(cfg.dataset, batch_size=16, seed=0)
    assert data.steps_per_epoch == 4
    assert len(list(data.train)) == 4 and len(list(data.test)) == 4


@pytest.mark.parametrize("shape, classes", [([5], 3), ([12, 12, 2], 6)])
def test_synthetic_data_has_the_configured_shape_and_classes(shape, classes):
    cfg = compose("dataset=synthetic", f"dataset.shape={shape}", f"dataset.num_classes={classes}",
                  "dataset.num_samples=300")
    data = build_data(cfg.dataset, batch_size=8, seed=0)
    assert data.spec.input_shape == tuple(shape) and data.spec.num_classes == classes
    x, y = next(iter(data.train))
    assert x.shape == (8, *shape) and y.shape == (8,)


def test_synthetic_regression_has_one_output():
    cfg = compose("dataset=synthetic", "dataset.task=regression", "model=resmlp")
    data = build_data(cfg.dataset, batch_size=8, seed=0)
    model = build_model(cfg.model, data.spec)
    assert data.spec.task == "regression"
    assert model(np.zeros((2, 16), np.float32)).shape == (2, 1)


@pytest.mark.parametrize("name, kind", [("mlp", keras.Sequential), ("cnn", keras.Model),
                                        ("resmlp", keras.Model)])
def test_models_take_input_and_head_from_the_data(name, kind):
    cfg = compose(f"model={name}", "dataset=synthetic", "dataset.shape=[6,6,1]",
                  "dataset.num_classes=7", "dataset.num_samples=100")
    data = build_data(cfg.dataset, batch_size=4, seed=0)
    model = build_model(cfg.model, data.spec)
    assert isinstance(model, kind)
    probabilities = model(np.zeros((3, 6, 6, 1), np.float32)).numpy()
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_cnn_is_functional_and_resmlp_is_subclassed():
    data = build_data(compose().dataset, batch_size=4, seed=0)
    cnn = build_model(compose("model=cnn").model, data.spec)
    resmlp = build_model(compose("model=resmlp").model, data.spec)
    assert type(cnn).__name__ == "Functional"
    assert [l.name for l in cnn.layers[1:4]] == ["conv1", "conv2", "pool"]
    assert type(resmlp).__name__ == "ResidualMLP"


def test_subclassed_model_saves_and_loads_in_safe_mode(tmp_path):
    data = build_data(compose().dataset, batch_size=4, seed=0)
    model = build_model(compose("model=resmlp").model, data.spec)
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_model_that_does_not_fit_the_data_names_both_shapes():
    cfg = compose("model=cnn", "dataset=synthetic", "dataset.shape=[20]")
    data = build_data(cfg.dataset, batch_size=4, seed=0)
    with pytest.raises(TftrainError, match=r"model 'cnn'.*input \(20,\) float32.*ndim"):
        build_model(cfg.model, data.spec)


def test_functional_graph_rejects_unknown_inputs():
    cfg = compose("model=cnn", "+model.nodes.1.inputs=nowhere")
    data = build_data(compose().dataset, batch_size=4, seed=0)
    with pytest.raises(TftrainError, match="nowhere"):
        build_model(cfg.model, data.spec)


def test_sequential_takes_short_keras_layer_names():
    data = build_data(compose().dataset, batch_size=4, seed=0)
    cfg = compose("model.layers=[Flatten, {Dense: {units: 7, activation: relu}}]")
    model = build_model(cfg.model, data.spec)
    assert [type(l).__name__ for l in model.layers] == ["Flatten", "Dense", "Dense"]
    assert model.layers[1].units == 7
    with pytest.raises(TftrainError, match="Dense2"):
        build_model(compose("model.layers=[Dense2]").model, data.spec)
