"""Several targets, one model output each: from the data (synthetic targets, several CSV
label columns) through both trainers to the saved model, evaluation and predictions."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import SHARED_DATA, in_process

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_multi_output_experiment_trains_each_target_with_both_trainers_identically(sweep, tmp_path):
    fit, loop = sweep("experiment=multi_output", "trainer=fit,custom_loop", "trainer.epochs=4")
    for run in (fit, loop):
        columns = run.metrics[0].keys()
        for name in ("kind_accuracy", "kind_loss", "score_mae", "score_loss",
                     "val_kind_accuracy", "val_score_mae", "loss", "val_loss"):
            assert name in columns, (name, sorted(columns))
        summary = run.summary
        assert summary["data"]["targets"] == {
            "kind": {"task": "classification", "class_names": ["class_0", "class_1", "class_2"]},
            "score": {"task": "regression", "class_names": []}}
        assert summary["objective_metric"] == "val_loss"
        assert summary["test"]["kind_accuracy"] > 0.5  # 3 classes: chance is 1/3
        # The total loss is kind_loss + 0.5 * score_loss (experiment's loss_weights). On
        # training batches only: Keras averages per-output losses per batch, so a smaller
        # last validation batch weighs as much as a full one (the total is exact).
        last = {k: float(v) for k, v in run.metrics[-1].items()}
        assert last["loss"] == pytest.approx(last["kind_loss"] + 0.5 * last["score_loss"], rel=1e-5)
        assert json.loads((run.path / "class_names.json").read_text()) == {
            "class_names": {"kind": ["class_0", "class_1", "class_2"]}}
    assert [r["loss"] for r in fit.metrics] == [r["loss"] for r in loop.metrics]
    assert fit.summary["weights_fingerprint"] == loop.summary["weights_fingerprint"]

    # The saved model takes the named inputs and returns one prediction per target.
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "new.npz", wide_input=rng.normal(size=(5, 10)).astype(np.float32),
             deep_input=rng.normal(size=(5, 5)).astype(np.float32))
    result = in_process(str(fit.path), f"input={tmp_path / 'new.npz'}", cwd=tmp_path,
                        tool="tftrain-predict")
    assert result.returncode == 0, result.output
    with open(fit.path / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    assert list(rows[0]) == ["input", "kind_predicted", "kind_p_class_0", "kind_p_class_1",
                             "kind_p_class_2", "score_prediction"]
    for row in rows:
        probabilities = [float(row[f"kind_p_class_{i}"]) for i in range(3)]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["kind_predicted"] == f"class_{int(np.argmax(probabilities))}"

    result = in_process(str(fit.path), cwd=tmp_path, tool="tftrain-eval")
    assert result.returncode == 0, result.output
    evaluated = json.loads((fit.path / "eval" / "run.test.json").read_text())["metrics"]
    assert evaluated["kind_accuracy"] == pytest.approx(fit.summary["test"]["kind_accuracy"])


@needs_shared
def test_csv_with_two_label_columns_learns_both(train):
    run = train("dataset=csv", f"dataset.path={SHARED_DATA / 'penguins.csv'}",
                "dataset.label=[species,island]", "trainer.epochs=15", "callbacks=none")
    test = run.summary["test"]
    assert set(run.summary["data"]["targets"]) == {"species", "island"}
    assert "species" not in run.summary["data"]["inputs"]
    assert test["species_accuracy"] >= 0.9  # the measurements separate the species well
    assert test["island_accuracy"] >= 0.6   # above the largest island's share (~0.49)


@pytest.mark.parametrize("args, expected", [
    (["dataset=synthetic", "+dataset.targets={a: classification, b: regression}", "model=resmlp"],
     ["'ResidualMLP'", "one unnamed output", "2 targets ['a', 'b']", "functional"]),
    (["experiment=multi_output", "+loss_weights.price=2"],
     ["loss_weights names targets ['price']", "kind, score"]),
    (["experiment=multi_output", "model.heads.score=nope"],
     ["model.heads {'score': 'nope'}: no such node", "deep_2"]),
    (["experiment=multi_output", "+loss.colour=mse"],
     ["loss names targets ['colour']", "kind, score"]),
    (["dataset=synthetic", "+dataset.targets={val: classification, b: regression}"],
     ["targets ['val']", "val_*"]),
    (["dataset=synthetic", "+dataset.targets={a: ranking}"],
     ["dataset.targets.a='ranking'", "classification, regression"]),
], ids=["subclassed", "loss-weights", "heads", "loss", "val-name", "task"])
def test_multi_output_mistakes_are_named_before_training(tmp_path, args, expected):
    result = in_process(*args, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    for part in expected:
        assert part in message, (part, message)
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "model.keras").exists()
