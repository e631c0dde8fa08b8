"""model=transfer's fine-tuning schedule: the base's top N layers unfreeze after M epochs, at a
lower learning rate, with either trainer, and a resumed run carries on where it stopped.

MobileNetV2 with random weights on 64 synthetic 32x32 colour images (one training step per
epoch) keeps the runs short. With 11 top layers, the weights that unfreeze are the kernels of
block_16_expand, block_16_depthwise, block_16_project and Conv_1 (the other layers in the top
11 are BatchNormalization, kept frozen, and weightless activations).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import RunFolder, in_process

BASE = "mobilenetv2_1.00_32"
FINE_TUNE = ["experiment=transfer_mobilenet", "dataset.num_samples=64",
             "model.fine_tune.after_epoch=2", "model.fine_tune.layers=11"]
SNAPSHOTS = ('+callbacks.snapshot={_target_: keras.callbacks.ModelCheckpoint, '
             'filepath: "${run_dir}/checkpoints/e{epoch}.keras"}')
UNFROZEN = {"block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"}


def base_weights(path) -> dict[str, list[np.ndarray]]:
    """Each base layer's weights (moving statistics included) in a saved model, by name."""
    from tftrain.models import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(str(path))
    # Saved before or after the unfreeze, a checkpoint loads its optimizer state too.
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)], path
    return {layer.name: [w.numpy() for w in layer.weights]
            for layer in model.get_layer(BASE).layers}


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before
            if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))}


def test_out_of_range_values_are_refused_naming_the_value_and_the_range(tmp_path):
    result = in_process(*FINE_TUNE, "model.fine_tune.layers=200", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    message = result.stderr.strip().splitlines()[-1]  # one paragraph, on one line
    assert message.startswith("tftrain: error: model.fine_tune.layers=200 is out of range: "
                              "MobileNetV2, the base, has 154 layers, so give a whole number "
                              "from 1 to 154"), message
    assert not list((tmp_path / "outputs").glob("*/*"))

    from tftrain.config import compose, schema
    from tftrain.config.dataset import build_data
    from tftrain.errors import TftrainError
    from tftrain.config.model import build_model

    schema.register()
    data = build_data(compose.compose(FINE_TUNE).dataset, batch_size=32, seed=0)
    out_of_range = "is out of range: MobileNetV2, the base, has 154 layers, so give a whole number"
    for override, expected in [
        ("model.fine_tune.layers=-3", f"model.fine_tune.layers=-3 {out_of_range} from 1 to 154"),
        ("model.trainable_layers=155", f"model.trainable_layers=155 {out_of_range} from 0 to 154"),
        ("model.trainable_layers=20", f"model.fine_tune.layers=11 {out_of_range} from 21 to 154 "
                                      "(more than model.trainable_layers=20"),
        ("model.fine_tune.after_epoch=-1", "model.fine_tune.after_epoch=-1 is not valid: give how "
                                           "many epochs train the head alone"),
        ("model.fine_tune.learning_rate_factor=0", "model.fine_tune.learning_rate_factor=0 is not "
                                                   "valid: give a number above 0"),
        ("+model.fine_tune.layer=3", "model.fine_tune has no key 'layer'; its keys are "
                                     "after_epoch, layers, learning_rate_factor."),
    ]:
        with pytest.raises(TftrainError) as error:
            build_model(compose.compose([*FINE_TUNE, override]).model, data.spec)
        assert str(error.value).startswith(expected), (override, str(error.value))


@pytest.mark.slow
def test_the_base_unfreezes_after_its_epoch_and_the_console_says_so(tmp_path):
    """The short check, on the custom loop (the trainer that traces its own function); the
    test below checks both trainers over more epochs, and resuming."""
    result = in_process(*FINE_TUNE, "model.fine_tune.after_epoch=1", "trainer=custom_loop",
                        "trainer.epochs=2", SNAPSHOTS, f"hydra.run.dir={tmp_path / 'run'}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.output
    line = ("fine-tuning from epoch 2: the top 11 of MobileNetV2's 154 layers train, "
            "BatchNormalization kept frozen; 879,040 more trainable parameters; "
            "learning rate 0.001 -> 0.0001")
    assert line in result.stdout
    assert line in (tmp_path / "run" / "train.log").read_text()
    assert [float(row["lr"]) for row in RunFolder(tmp_path / "run").metrics] == \
        pytest.approx([1e-3, 1e-4])
    snapshots = tmp_path / "run" / "checkpoints"
    assert changed(base_weights(snapshots / "e1.keras"), base_weights(snapshots / "e2.keras")) \
        == UNFROZEN


def untimed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in rows]


@pytest.mark.slow
def test_both_trainers_train_only_the_scheduled_weights_after_their_epoch_and_resume_so(tmp_path):
    """Four epochs, unfreezing after two: epochs 1-2 leave the base alone, epochs 3-4 change
    exactly the scheduled kernels (BatchNormalization and lower layers never change), at a
    10x lower rate. Three epochs resumed to four then match the four-epoch runs bit for bit:
    the resumed run starts unfrozen, its rate lowered once."""
    runs = tmp_path / "runs"
    result = in_process("-m", *FINE_TUNE, "deterministic=true", "trainer=fit,custom_loop",
                        "trainer.epochs=4", SNAPSHOTS, f"hydra.sweep.dir={runs}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    plan = ("fine-tuning: from epoch 3 (after 2), the top 11 of MobileNetV2's 154 layers train, "
            "BatchNormalization kept frozen, at 0.1x the learning rate")
    unfreeze = ("fine-tuning from epoch 3: the top 11 of MobileNetV2's 154 layers train, "
                "BatchNormalization kept frozen; 879,040 more trainable parameters; "
                "learning rate 0.001 -> 0.0001")
    assert result.stdout.count(plan) == 2 and result.stdout.count(unfreeze) == 2, result.stdout
    for job in ("0", "1"):  # fit, custom_loop
        run = RunFolder(runs / job)
        assert [float(r["lr"]) for r in run.metrics] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
        epochs = [base_weights(run.path / "checkpoints" / f"e{n}.keras") for n in (1, 2, 3, 4)]
        assert changed(epochs[0], epochs[1]) == set(), job
        assert changed(epochs[1], epochs[2]) == UNFROZEN, job
        assert changed(epochs[2], epochs[3]) == UNFROZEN, job
    assert RunFolder(runs / "0").summary["weights_fingerprint"] == \
        RunFolder(runs / "1").summary["weights_fingerprint"]

    stopped = tmp_path / "stopped"
    result = in_process("-m", *FINE_TUNE, "deterministic=true", "trainer=fit,custom_loop",
                        "trainer.epochs=3", f"hydra.sweep.dir={stopped}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    for job in ("0", "1"):
        result = in_process(f"resume={stopped / job}", "trainer.epochs=4", cwd=tmp_path)
        assert result.returncode == 0, result.output
        assert ("fine-tuning from epoch 4: the top 11 of MobileNetV2's 154 layers train, "
                "BatchNormalization kept frozen; 879,040 more trainable parameters; "
                "learning rate 0.0001, lowered since epoch 3") in result.stdout, result.stdout
        assert "Skipping variable loading" not in result.output
        resumed, uninterrupted = RunFolder(stopped / job), RunFolder(runs / job)
        assert resumed.summary["weights_fingerprint"] == \
            uninterrupted.summary["weights_fingerprint"], job
        assert untimed(resumed.metrics) == untimed(uninterrupted.metrics), job
