"""Looking at a trained run: the layer table a run keeps (model.txt) and the report
`tftrain-eval` writes beside its record (report.html, report.md, report.json), whose
figures are scikit-learn's on the same predictions."""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, RunFolder, assert_refused, in_process
from tftrain import artifacts


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> RunFolder:
    """One real digits run (smoke size), shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("digits")
    result = in_process("debug=smoke", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def test_a_run_keeps_its_layer_table_and_says_where(digits):
    table = (digits.path / "model.txt").read_text()
    summary = digits.summary
    assert "Layer (type)" in table and "Output Shape" in table and "Param #" in table
    assert "(None, 10)" in table  # the head's output: one per class
    assert "Total params" in table
    log = (digits.path / "train.log").read_text()
    assert f"layers, output shapes and parameters: {digits.path / 'model.txt'}" in log
    assert summary["status"] == "completed"


# --- tftrain-eval's report: its figures are scikit-learn's on the predictions file's rows ---

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
REPORT = ("report.html", "report.json", "report.md")


def evaluated(run: Path, *args: str) -> tuple[str, Path]:
    """tftrain-eval RUN predictions=true ARGS: its output and the record written."""
    result = in_process(str(run), "predictions=true", *args, cwd=run.parent, tool="tftrain-eval")
    assert result.returncode == 0, result.output
    return result.output, Path(re.search(r"written to (\S+\.json)", result.output).group(1))


def beside(record: Path, kind: str) -> Path:
    return record.with_name(record.name.removesuffix(".json") + f".{kind}")


def rows_of(record: Path) -> list[dict[str, str]]:
    with open(beside(record, "predictions.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def flat(report: dict) -> dict[str, float]:
    """classification_report's nested dict as one level (pytest.approx compares one)."""
    return {f"{k}/{m}": v for k, row in report.items() for m, v in
            (row.items() if isinstance(row, dict) else [("", row)])}


def assert_classifier(section: dict, rows: list[dict[str, str]], prefix: str = "") -> None:
    """The section's numbers are scikit-learn's on the predictions file's labels and
    probabilities (written to 6 digits: the curves' areas to 1e-3)."""
    from sklearn.metrics import (accuracy_score, average_precision_score, classification_report,
                                 confusion_matrix, f1_score, roc_auc_score)

    classes = section["classes"]
    y = [r[f"{prefix}label"] for r in rows]
    predicted = [r[f"{prefix}predicted"] for r in rows]
    expected = classification_report(y, predicted, labels=classes, output_dict=True,
                                     zero_division=0)
    assert flat(section["classification_report"]) == pytest.approx(flat(expected))
    assert section["confusion_matrix"]["counts"] == confusion_matrix(y, predicted,
                                                                     labels=classes).tolist()
    headline = section["headline"]
    assert headline["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert headline["macro F1"] == pytest.approx(f1_score(y, predicted, average="macro",
                                                          labels=classes, zero_division=0))
    assert headline["weighted F1"] == pytest.approx(f1_score(y, predicted, average="weighted",
                                                             labels=classes, zero_division=0))
    p = np.array([[float(r[f"{prefix}p_{c}"]) for c in classes] for r in rows])
    for k, c in enumerate(classes[1:] if len(classes) == 2 else classes, start=len(classes) == 2):
        truth = np.array(y) == c
        assert section["roc"][c]["auc"] == pytest.approx(roc_auc_score(truth, p[:, k]), abs=1e-3)
        assert section["precision_recall"][c]["average_precision"] == pytest.approx(
            average_precision_score(truth, p[:, k]), abs=1e-3)
    areas = [section["roc"][c]["auc"] for c in section["roc"]]
    name = "ROC AUC" if len(classes) == 2 else "ROC AUC (macro)"  # macro: scikit-learn's ovr mean
    assert headline[name] == pytest.approx(np.mean(areas))
    majority = max(set(y), key=y.count)
    assert section["baseline"]["accuracy"] == pytest.approx(y.count(majority) / len(y))
    assert_mistakes(section["mistakes"], rows, prefix)


def assert_mistakes(mistakes: list[dict], rows: list[dict[str, str]], prefix: str) -> None:
    """The mistakes shown are the predictions file's wrong rows of highest confidence, each
    by the identity it has there (its input column), its label and prediction."""
    by_input = {r["input"]: r for r in rows}
    wrong = [r for r in rows if r[f"{prefix}predicted"] != r[f"{prefix}label"]]
    confidence = lambda r: max(float(v) for k, v in r.items() if k.startswith(f"{prefix}p_"))  # noqa: E731
    assert len(mistakes) == min(12, len(wrong))
    for m in mistakes:
        row = by_input[m["input"]]
        assert (row[f"{prefix}label"], row[f"{prefix}predicted"]) == (m["label"], m["predicted"])
        assert m["confidence"] == pytest.approx(confidence(row), abs=1e-5)
    shown = {m["input"] for m in mistakes}
    unshown = [confidence(r) for r in wrong if r["input"] not in shown]
    assert not unshown or min(m["confidence"] for m in mistakes) >= max(unshown) - 1e-5
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes),
                                                         reverse=True)


def assert_regressor(section: dict, rows: list[dict[str, str]], prefix: str = "") -> None:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    actual = np.array([float(r[f"{prefix}label"]) for r in rows])
    values = np.array([float(r[f"{prefix}prediction"]) for r in rows])
    close = lambda x: pytest.approx(x, rel=1e-4, abs=1e-5)  # noqa: E731  (6 digits in the file)
    assert section["headline"]["MAE"] == close(mean_absolute_error(actual, values))
    assert section["headline"]["RMSE"] == close(root_mean_squared_error(actual, values))
    assert section["headline"]["R²"] == close(r2_score(actual, values))
    assert section["baseline"]["RMSE"] == close(actual.std())  # the mean's error is the spread
    assert sum(d["count"] for d in section["deciles"]) == len(rows)
    errors = np.abs(values - actual)
    worst = section["worst"]
    assert len(worst) == 12 and {w["input"] for w in worst} <= {r["input"] for r in rows}
    assert abs(worst[0]["error"]) == close(errors.max())


def assert_self_contained(html: str) -> None:
    """report.html opens offline: every image is embedded, nothing is fetched."""
    assert "data:image/png;base64," in html
    assert not re.findall(r"(?:src|href)\s*=\s*[\"'](?!data:)", html)
    assert "http://" not in html and "https://" not in html


@pytest.fixture(scope="module")
def digits_report(digits) -> tuple[str, Path]:
    return evaluated(digits.path)


def test_digits_report_is_scikit_learns_figures_on_the_same_predictions(digits_report):
    output, record = digits_report
    report = json.loads(beside(record, "report.json").read_text())
    section = report["targets"]["output"]
    assert section["classes"] == [str(i) for i in range(10)]
    assert_classifier(section, rows_of(record))
    assert 0.0 <= section["headline"]["expected calibration error"] <= 1.0
    kept = json.loads(record.read_text())
    assert kept["report"] == beside(record, "report.html").name
    # printed: the headline against the baseline, and where the report is
    assert "baseline" in output and "macro F1" in output and "always" not in output
    assert f"report: {beside(record, 'report.html')}" in output


def test_the_report_is_one_offline_page_with_markdown_and_numbers_beside_it(digits_report):
    _, record = digits_report
    html = beside(record, "report.html").read_text()
    assert_self_contained(html)
    kept = json.loads(record.read_text())
    for text in (html, beside(record, "report.md").read_text()):
        # what was evaluated, traceable: data and weights fingerprints, the baseline row
        assert kept["data"]["fingerprint"] in text and kept["data"]["source_fingerprint"] in text
        assert kept["weights_fingerprint"] in text
        assert "always the majority class" in text and "most confident mistakes" in text
    # every figure drawn: confusion matrix, curves, reliability; and a thumbnail per mistake
    assert html.count("<img") == 3 + len(json.loads(beside(
        record, "report.json").read_text())["targets"]["output"]["mistakes"])


def test_a_multi_output_run_has_a_section_per_target(train):
    run = train("experiment=multi_output", "debug=smoke")
    output, record = evaluated(run.path)
    report = json.loads(beside(record, "report.json").read_text())
    assert list(report["targets"]) == ["kind", "score"]
    rows = rows_of(record)
    assert_classifier(report["targets"]["kind"], rows, "kind_")
    assert_regressor(report["targets"]["score"], rows, "score_")
    assert "always the mean" in beside(record, "report.md").read_text()
    assert "kind" in output and "score" in output and "R²" in output


def test_many_classes_give_a_table_of_top_confusions_not_a_matrix():
    from sklearn.metrics import classification_report, confusion_matrix

    from tftrain.tools import eval_figures, eval_report
    from tftrain.tools.eval_examples import Predicted

    rng = np.random.default_rng(0)
    y = rng.integers(0, 30, 600)
    p = rng.dirichlet(np.ones(30), 600)
    p[np.arange(600), y] += 0.5 * (rng.random(600) < 0.6)  # right 60% of the time, or so
    p /= p.sum(axis=1, keepdims=True)
    section = eval_report.sections(Predicted({"output": p}, {"output": y}, list(map(str, range(600)))),
                                   {"output": {"task": "classification"}})["output"]
    predicted = p.argmax(axis=1)
    assert flat(section["classification_report"]) == pytest.approx(flat(classification_report(
        [str(v) for v in y], [str(v) for v in predicted], labels=section["classes"],
        output_dict=True, zero_division=0)))
    counts = confusion_matrix(y, predicted)
    np.fill_diagonal(counts, 0)
    top = section["top_confusions"]
    assert len(top) == 10 and top[0]["count"] == counts.max()
    assert [c["count"] for c in top] == sorted(counts.ravel(), reverse=True)[:10]
    assert list(eval_figures.figures(section)) == ["reliability diagram"]
    three = p[:5, :3] / p[:5, :3].sum(axis=1, keepdims=True)
    one_class = eval_report.sections(Predicted({"output": three}, {"output": np.zeros(5, int)},
                                               list("abcde")),
                                     {"output": {"task": "classification"}})["output"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no curve to draw: no figure of none, no empty legend
        assert list(eval_figures.figures(one_class)) == ["confusion matrix",
                                                         "reliability diagram"]


def test_report_false_writes_none_and_without_its_libraries_the_record_is_kept(digits,
                                                                               monkeypatch):
    for report in ("true", "false"):  # the second replaces the first's record, and its report
        result = in_process(str(digits.path), "split=val", f"report={report}",
                            cwd=digits.path.parent, tool="tftrain-eval")
        assert result.returncode == 0, result.output
        made = sorted(p.name for p in (digits.path / "eval").glob("run.val*"))
        assert made == (["run.val.json", *(f"run.val.{k}" for k in REPORT)] if report == "true"
                        else ["run.val.json"]), made
    assert "baseline" not in result.output
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn fails as if absent
    result = in_process(str(digits.path), "split=train", cwd=digits.path.parent,
                        tool="tftrain-eval")
    assert result.returncode == 0, result.output
    assert [p.name for p in (digits.path / "eval").glob("run.train*")] == ["run.train.json"]
    said = [line for line in result.output.splitlines() if "no report" in line]
    assert len(said) == 1 and "pip install" in said[0], result.output


def test_a_report_that_cannot_be_written_leaves_no_record_and_no_part(digits, tmp_path):
    target = tmp_path / "out" / "kept.json"
    artifacts.staged(beside(target, "report.html")).mkdir(parents=True)  # blocks that write
    result = in_process(str(digits.path), f"output={target}", cwd=tmp_path, tool="tftrain-eval")
    assert_refused(result, 74, ["could not write", "kept.report.html", "output=FILE.json"])
    assert "accuracy" in result.stdout and "baseline" in result.stdout  # shown before
    assert sorted(p.name for p in target.parent.iterdir()) == [
        artifacts.staged(beside(target, "report.html")).name]


@pytest.mark.slow
@needs_shared
def test_titanic_csv_report_keeps_each_rows_number(train):
    run = train("dataset=csv", f"dataset.path={SHARED_DATA / 'titanic.csv'}",
                "dataset.label=survived", "dataset.drop=[alive]", "trainer.epochs=3")
    _, record = evaluated(run.path)
    section = json.loads(beside(record, "report.json").read_text())["targets"]["output"]
    assert_classifier(section, rows_of(record))
    with open(SHARED_DATA / "titanic.csv", newline="") as handle:
        data = list(csv.DictReader(handle))
    md = beside(record, "report.md").read_text()
    for mistake in section["mistakes"]:  # the row's number leads to that passenger's row
        row = data[int(mistake["input"])]
        assert row["survived"] == mistake["label"]
        assert f"`{mistake['input']}` | " in md and f"fare: {float(row['fare']):.6g}" in md
    assert_self_contained(beside(record, "report.html").read_text())


@pytest.mark.slow
@needs_shared
def test_housing_regression_report_is_scikit_learns(train):
    run = train("dataset=csv", f"dataset.path={SHARED_DATA / 'housing.csv'}",
                "dataset.label=median_house_value", "trainer.epochs=2")
    output, record = evaluated(run.path)
    report = json.loads(beside(record, "report.json").read_text())
    section = report["targets"]["output"]
    assert_regressor(section, rows_of(record))
    assert len(section["deciles"]) == 10 and "always the mean" in output + beside(
        record, "report.md").read_text()
    html = beside(record, "report.html").read_text()
    assert_self_contained(html)
    assert html.count("<img") == 2  # predicted against actual and residuals; by decile


@pytest.mark.slow
def test_a_gan_run_gets_no_report(train):
    run = train("experiment=digits_gan", "debug=smoke")
    result = in_process(str(run.path), cwd=run.path.parent, tool="tftrain-eval")
    assert result.returncode == 0, result.output
    said = [line for line in result.output.splitlines() if line.startswith("report")]
    assert said == ["report: none for a GAN run (its model generates samples and predicts no "
                    "label per example)"], result.output
    assert [p.name for p in (run.path / "eval").iterdir()] == ["run.test.json"]


def test_tftrain_report_links_each_runs_eval_report(digits_report, digits, tmp_path):
    _, record = digits_report
    page = beside(record, "report.html")
    markdown = tmp_path / "notes" / "runs.md"
    markdown.parent.mkdir()
    result = in_process(str(digits.path), "--markdown", str(markdown), cwd=tmp_path,
                        tool="tftrain-report")
    assert result.returncode == 0, result.output
    assert "eval report" in result.output and str(page) in result.output.replace("\n", "")
    link = re.search(r"\[run\.test\.report\.html\]\(([^)]+)\)", markdown.read_text()).group(1)
    assert (markdown.parent / link).resolve() == page.resolve()  # opens from where it is


def test_logits_become_the_probabilities_the_model_left_out():
    from tftrain.tools.eval_examples import probabilities

    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    p = probabilities(logits, logits=True)
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0]) and p[1] == pytest.approx([1 / 3] * 3)
    assert p.argmax(axis=1).tolist() == [0, 0]
    binary = probabilities(np.array([[0.0], [3.0]]), logits=True)  # one sigmoid unit
    assert binary[:, 1] == pytest.approx([0.5, 1 / (1 + np.exp(-3.0))])


@pytest.mark.slow
def test_an_image_folders_mistakes_keep_their_paths_and_show_as_thumbnails(train, tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    for k, name in enumerate(("cats", "dogs")):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(30):
            image = rng.random((16, 16, 3)) * 0.6
            image[..., k] += 0.2  # a faint difference: some mistakes to show
            plt.imsave(tmp_path / "pictures" / name / f"{i:02d}.png", np.clip(image, 0, 1))
    run = train("dataset=image_dir", f"dataset.path={tmp_path / 'pictures'}", "trainer.epochs=1")
    _, record = evaluated(run.path)
    section = json.loads(beside(record, "report.json").read_text())["targets"]["output"]
    assert_classifier(section, rows_of(record))
    assert section["mistakes"], "the faint difference left no mistake to show"
    html = beside(record, "report.html").read_text()
    for mistake in section["mistakes"]:  # the file's path in the folder, its class its folder
        assert (tmp_path / "pictures" / mistake["input"]).is_file()
        assert mistake["input"].split("/")[0] == mistake["label"]
        assert f"<code>{mistake['input']}</code>" in html
    assert html.count('class="thumb"') == len(section["mistakes"])
    assert_self_contained(html)
