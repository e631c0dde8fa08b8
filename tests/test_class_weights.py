"""Imbalanced classes: `trainer.class_weight`, a CSV's `dataset.sample_weight` column, the data
line's warning, and the metrics that score every class alike (balanced_accuracy, macro_f1),
through the real CLI on real data."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from tftrain.errors import TftrainError

from conftest import SHARED_DATA, RunFolder, assert_refused, in_process

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
METRICS = "metrics=[accuracy,balanced_accuracy,macro_f1]"
SLOW = pytest.mark.slow  # each refusal reads the data (~2.5 s): the default run keeps five


def subset(tmp_path: Path, name: str, label: str, keep: dict[str, int], extra=None) -> Path:
    """A CSV of the shared file `name` with `keep[class]` rows of those classes (a seeded
    draw) and all the rows of the others; `extra(row)`: columns added to each row."""
    with open(SHARED_DATA / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(0)
    kept = [r for r in rows if r[label] not in keep]
    for value, count in keep.items():
        kept += rng.sample([r for r in rows if r[label] == value], count)
    rng.shuffle(kept)
    for row in kept:
        row.update(extra(row) if extra else {})
    path = tmp_path / f"skewed_{name}"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    return path


def untimed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in rows]


def iris(tmp_path: Path, *args: str):
    """A short run on iris (or a variant: args override), as the user's command line."""
    return in_process("dataset=csv", f"dataset.path={SHARED_DATA / 'iris.csv'}",
                      "dataset.label=species", "trainer.epochs=1", *args,
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)


@needs_shared
@pytest.mark.slow  # ~25 s: three runs of 15 epochs
def test_balanced_weights_raise_balanced_accuracy_and_macro_f1_in_both_trainers(tmp_path, sweep,
                                                                                train):
    # Titanic with 30 of its 342 survivors: 18 to 1. Unweighted, the model predicts that
    # nobody survives (accuracy 0.95, balanced accuracy 0.5); weighted, it finds survivors.
    path = subset(tmp_path, "titanic.csv", "survived", {"1": 30})
    args = ("dataset=csv", f"dataset.path={path}", "dataset.label=survived", "dataset.drop=[alive]",
            "dataset.test_split=0.3", "trainer.epochs=15", "seed=2", METRICS)
    plain = train(*args)
    fit, loop = sweep(*args, "trainer=fit,custom_loop", "trainer.class_weight=balanced")
    assert untimed(fit.metrics) == untimed(loop.metrics)
    assert fit.summary["test"] == pytest.approx(loop.summary["test"], rel=1e-6)
    weighted, unweighted = fit.summary["test"], plain.summary["test"]
    assert weighted["balanced_accuracy"] > unweighted["balanced_accuracy"] + 0.1, (weighted, unweighted)
    assert weighted["macro_f1"] > unweighted["macro_f1"] + 0.05, (weighted, unweighted)


@needs_shared
def test_the_data_line_warns_of_imbalanced_classes_and_says_the_weights_set(tmp_path):
    path = subset(tmp_path, "iris.csv", "species", {"virginica": 8})
    common = ("dataset=csv", f"dataset.path={path}", "dataset.label=species",
              "dataset.limit_batches=2", "trainer.epochs=1", "callbacks=none")
    warned = in_process(*common, "hydra.run.dir=a", cwd=tmp_path)
    assert warned.returncode == 0, warned.output
    line = next(l for l in warned.stdout.splitlines() if "imbalanced classes" in l)
    assert "'setosa' has 35 rows, 'virginica' 5 (7.0x, more than 3x)" in line, line
    assert "trainer.class_weight=balanced" in line and "balanced_accuracy" in line, line

    weighted = in_process(*common, "trainer.class_weight=balanced", "hydra.run.dir=b", cwd=tmp_path)
    assert weighted.returncode == 0, weighted.output
    assert "imbalanced classes" not in weighted.stdout
    # scikit-learn's "balanced": rows / (classes x the class's rows) = 75 / (3 x 35), 75 / (3 x 5)
    assert ("class weights (trainer.class_weight=balanced) in the training split: "
            "setosa: 0.714 (35 rows), versicolor: 0.714 (35 rows), virginica: 5 (5 rows)"
            ) in weighted.stdout, weighted.stdout


def test_balanced_weights_are_scikit_learns_and_each_target_gets_its_own():
    from sklearn.utils.class_weight import compute_class_weight

    from tftrain.data.spec import Target
    from tftrain.data.weights import sample_weights

    rng = np.random.default_rng(0)
    kind = rng.choice(4, size=500, p=[0.7, 0.2, 0.1, 0.0])  # class 3 absent from training
    colour = rng.choice(2, size=500, p=[0.9, 0.1])
    targets = (Target("kind", "classification", ("a", "b", "c", "d")),
               Target("colour", "classification", ("red", "blue")),
               Target("price", "regression", moments=(0.0, 1.0)))
    rows = rng.uniform(0.5, 2.0, size=500).astype(np.float32)
    y = {"kind": kind, "colour": colour, "price": rng.normal(size=500)}
    weights = sample_weights({"kind": "balanced", "colour": {"blue": 3}}, targets, y, rows)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=kind)
    np.testing.assert_allclose(weights["kind"], rows * expected[kind], rtol=1e-6)
    np.testing.assert_allclose(weights["colour"], rows * np.where(colour == 1, 3.0, 1.0), rtol=1e-6)
    np.testing.assert_array_equal(weights["price"], rows)  # a regression target: its rows' own
    assert sample_weights(None, targets, y, None) is None  # nothing asked: no third element
    with pytest.raises(TftrainError, match=r"names \['color'\].* Did you mean 'colour'\?"):
        sample_weights({"color": "balanced"}, targets, y, None)
    with pytest.raises(TftrainError, match=r"per target: \{colour: \{blue: 3\}\}"):
        sample_weights({"blue": 3}, targets, y, None)  # a class, not a target: said whose
    with pytest.raises(TftrainError, match="the target 'price' is a regression target"):
        sample_weights({"price": "balanced"}, targets, y, None)


@needs_shared
@pytest.mark.slow  # 12 s: a sweep of two runs
def test_several_targets_each_weigh_their_own_classes_in_both_trainers(tmp_path, sweep):
    fit, loop = sweep("dataset=csv", f"dataset.path={SHARED_DATA / 'penguins.csv'}",
                      "dataset.label=[species,island]", "trainer.epochs=2",
                      "trainer=fit,custom_loop", "trainer.class_weight={species: balanced}",
                      "metrics={species: [accuracy, macro_f1], island: [balanced_accuracy]}")
    assert untimed(fit.metrics) == untimed(loop.metrics)
    assert {"species_macro_f1", "val_island_balanced_accuracy"} <= set(fit.metrics[0])
    log = (fit.path / "train.log").read_text()
    assert "class weights of 'species' (trainer.class_weight=balanced)" in log, log
    assert "class weights of 'island'" not in log
    assert ("imbalanced classes of 'island': in the training split 'Biscoe' has 115 rows, "
            "'Torgersen' 36 (3.2x, more than 3x)") in log, log
    assert "trainer.class_weight={island: balanced} weighs" in log, log


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # on purpose
def test_balanced_accuracy_and_macro_f1_equal_scikit_learns_over_batches():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from tftrain.models.metrics import BalancedAccuracy, MacroF1

    rng = np.random.default_rng(1)
    truth = rng.choice(5, size=300, p=[0.5, 0.3, 0.15, 0.05, 0.0])  # class 4 never true...
    scores = rng.random((300, 5)).astype(np.float32)
    scores[rng.random(300) < 0.6, :] = 0  # ...and most rows predicted right
    scores[np.arange(300), truth] += 0.5
    predicted = scores.argmax(axis=1)
    for metric, reference in ((BalancedAccuracy(5), balanced_accuracy_score(truth, predicted)),
                              (MacroF1(5), f1_score(truth, predicted, average="macro"))):
        for start in range(0, 300, 64):  # accumulated over batches, as an epoch does
            metric.update_state(truth[start:start + 64], scores[start:start + 64])
        assert float(metric.result()) == pytest.approx(reference, abs=1e-6), type(metric).__name__
    binary = BalancedAccuracy(2)  # one sigmoid unit: the second class above 0.5
    binary.update_state(np.array([0, 0, 0, 1]), np.array([[0.2], [0.7], [0.1], [0.9]]))
    assert float(binary.result()) == pytest.approx((2 / 3 + 1) / 2)


@needs_shared
@pytest.mark.slow  # 12 s: two runs and an evaluation
def test_a_column_of_weights_weighs_the_training_loss_only_and_is_no_input(tmp_path, train):
    # Every row weighs 2 and next to nothing is learnt (learning rate 1e-12): the training
    # loss is twice the unweighted one, validation's is the same (it is never weighted).
    path = subset(tmp_path, "iris.csv", "species", {}, lambda row: {"w": "2"})
    args = ("dataset=csv", f"dataset.path={path}", "dataset.label=species", "trainer.epochs=2",
            "optimizer.learning_rate=1e-12", METRICS, "objective.metric=val_balanced_accuracy")
    weighted = train(*args, "dataset.sample_weight=w")
    plain = in_process(*args, "dataset.drop=[w]", f"hydra.run.dir={tmp_path / 'plain'}", cwd=tmp_path)
    assert plain.returncode == 0 and "imbalanced" not in plain.output, plain.output  # 50/50/50
    assert "w" not in weighted.summary["data"]["inputs"]
    for a, b in zip(weighted.metrics, RunFolder(tmp_path / "plain").metrics):
        assert float(a["loss"]) == pytest.approx(2 * float(b["loss"]), rel=1e-5)
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-6)
    assert weighted.summary["objective_metric"] == "val_balanced_accuracy"
    assert weighted.summary["objective_mode"] == "max"
    # tftrain-eval reloads the model with its metrics and scores the test split unweighted
    result = in_process(str(weighted.path), "report=false", cwd=tmp_path, tool="tftrain-eval")
    assert result.returncode == 0, result.output
    record = json.loads((weighted.path / "eval" / "run.test.json").read_text())["metrics"]
    assert record["macro_f1"] == pytest.approx(weighted.summary["test"]["macro_f1"], rel=1e-6)


def test_a_search_maximises_balanced_accuracy_and_macro_f1():
    from tftrain.config.objective import direction

    for metric in ("val_balanced_accuracy", "val_macro_f1", "species_macro_f1"):
        assert direction(metric, "auto", "classification", False, True) == "max"


@needs_shared
@pytest.mark.parametrize("args, fragments", [
    (["trainer.class_weight={setosa: 2, versicolr: 3}"],
     ["trainer.class_weight names the class 'versicolr'", "Did you mean 'versicolor'?",
      "setosa, versicolor, virginica"]),
    (["trainer.class_weight={setosa: 0}"],
     ["trainer.class_weight: the class 'setosa' is given 0", "a number > 0"]),
    pytest.param(["trainer.class_weight={setosa: -1.5}"], ["given -1.5", "> 0"], marks=SLOW),
    pytest.param(["trainer.class_weight=balance"],
                 ["Did you mean 'balanced'?", "{setosa: 1.0, virginica: 5.0}"], marks=SLOW),
    (["dataset.label=sepal_length", "trainer.class_weight=balanced"],
     ["trainer.class_weight=balanced weighs classes", "regression target",
      "dataset.sample_weight=COLUMN"]),
    (["dataset.sample_weight=petal_widht"],
     ["dataset.sample_weight=petal_widht", "Did you mean 'petal_width'"]),
    pytest.param(["dataset.sample_weight=species"], ["dataset.sample_weight=species is the label"],
                 marks=SLOW),
    (["dataset.in_memory=false", "trainer.class_weight=balanced"],
     ["trainer.class_weight=balanced", "streams from its files", "dataset.in_memory=true"]),
    pytest.param(["dataset.in_memory=false", "dataset.sample_weight=petal_width"],
                 ["dataset.sample_weight=petal_width", "streams from its files"], marks=SLOW),
    pytest.param(["metrics=[accuracy,macro_f]"], ["Did you mean 'macro_f1'?"], marks=SLOW),
    pytest.param(["dataset.label=sepal_length", "metrics=[balanced_accuracy]"],
                 ["metrics.0='balanced_accuracy' scores the classes of a classifier", "regression"],
                 marks=SLOW),
], ids=["unknown-class", "zero", "negative", "misspelt-balanced", "regression", "no-column",
        "label-column", "streamed", "streamed-column", "misspelt-metric", "metric-on-regression"])
def test_weighting_mistakes_are_one_paragraph_before_training(tmp_path, args, fragments):
    result = iris(tmp_path, *args)
    assert_refused(result, 2, fragments)
    assert not (tmp_path / "run" / "model.keras").exists()


@needs_shared
@pytest.mark.slow  # 5 s: two more refusals of a column of weights
def test_weights_that_are_missing_or_text_name_the_row_or_value(tmp_path):
    path = subset(tmp_path, "iris.csv", "species", {},
                  lambda row: {"w": "" if row["petal_width"] == "0.2" else "1", "tag": "x"})
    base = ("dataset=csv", f"dataset.path={path}", "dataset.label=species", "trainer.epochs=1")
    missing = in_process(*base, "dataset.sample_weight=w", "hydra.run.dir=a", cwd=tmp_path)
    assert_refused(missing, 2, ["dataset.sample_weight=w: data row", "holds nothing", "29 such rows",
                                "every row needs one"])
    text = in_process(*base, "dataset.sample_weight=tag", "hydra.run.dir=b", cwd=tmp_path)
    assert_refused(text, 2, ["dataset.sample_weight=tag: the column holds text ('x')"])
