"""The numbers of `tftrain-eval`'s report, from one pass's predictions (eval_examples): per
target, scikit-learn's figures on the same predictions the `.predictions.csv` file holds,
beside a baseline that learnt nothing (the majority class, the mean), so a reader sees
whether the model learnt anything.

A classifier: scikit-learn's `classification_report` (per class precision, recall, F1 and
support, macro and weighted averages, accuracy) as it gives them, the confusion matrix
(counts and row-normalised) and its largest off-diagonal cells, one-vs-rest ROC and
precision-recall curves with their areas, and a reliability diagram of the top class's
probability (scikit-learn's `calibration_curve`) with its expected calibration error, which
scikit-learn lacks. A regressor: MAE, RMSE, R², the points of predicted against actual,
the error by decile of the actual value. Both: the examples most worth a look.

scikit-learn is optional (the `plots` extra) and imported only here and in eval_figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tftrain.tools.eval_examples import Predicted, probabilities

BINS = 10  # the reliability diagram's bins of confidence, and the deciles of a regressor
POINTS = 1000  # the most points a scatter plots (and the report keeps): a seeded sample
CURVE_CLASSES = 20  # more classes than this: no ROC, PR or confusion figures, tables only
CONFUSIONS = 10  # the confusion matrix's largest off-diagonal cells, listed


def available() -> bool:
    """Whether the report's libraries are installed."""
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def sections(predicted: Predicted, targets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The report's numbers, one section per target (per column of a regression target of
    several values)."""
    out: dict[str, dict[str, Any]] = {}
    for target, spec in targets.items():
        y, outputs = predicted.labels[target], predicted.outputs[target]
        shown = predicted.shown.get(target, [])
        if spec.get("task") == "classification":
            out[target] = classification(y.ravel().astype(int),
                                         probabilities(outputs, predicted.logits),
                                         spec.get("class_names") or [], shown, predicted.ids)
            continue
        actual = np.asarray(y, np.float64).reshape(len(y), -1)
        values = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
        for column in range(values.shape[1]):
            name = target if values.shape[1] == 1 else f"{target}[{column}]"
            out[name] = regression(actual[:, min(column, actual.shape[1] - 1)],
                                   values[:, column], shown, predicted.ids)
    return out


def classification(y: np.ndarray, p: np.ndarray, names: list[str], shown: list[int],
                   ids: list[str]) -> dict[str, Any]:
    """A classifier's section: y the true class ids, p one probability per class."""
    from sklearn.metrics import classification_report, confusion_matrix, f1_score

    classes = [str(c) for c in names] or [str(i) for i in range(p.shape[1])]
    labels, predicted = list(range(len(classes))), p.argmax(axis=1)
    report = classification_report(y, predicted, labels=labels, target_names=classes,
                                   output_dict=True, zero_division=0)
    counts = confusion_matrix(y, predicted, labels=labels)
    majority = int(np.bincount(y, minlength=len(classes)).argmax())
    constant = np.full_like(y, majority)
    curves = one_vs_rest(y, p, classes)
    reliability = calibration(y, p)
    areas = [c["auc"] for c in curves["roc"].values() if c["auc"] is not None]
    auc_name = "ROC AUC" if len(classes) == 2 else "ROC AUC (macro)"
    return {
        "task": "classification", "classes": classes, "samples": len(y),
        "headline": {"accuracy": report["accuracy"],
                     "macro F1": report["macro avg"]["f1-score"],
                     "weighted F1": report["weighted avg"]["f1-score"],
                     auc_name: float(np.mean(areas)) if areas else None,
                     "expected calibration error": reliability["ece"]},
        "baseline": {"strategy": "always the majority class of these examples, "
                                 + classes[majority],
                     "accuracy": float(np.mean(constant == y)),
                     "macro F1": float(f1_score(y, constant, labels=labels, average="macro",
                                                zero_division=0)),
                     "weighted F1": float(f1_score(y, constant, labels=labels,
                                                   average="weighted", zero_division=0)),
                     auc_name: 0.5 if areas else None},
        "classification_report": report,
        "confusion_matrix": {"labels": classes, "counts": counts.tolist(),
                             "normalized": row_normalised(counts).tolist()},
        "top_confusions": top_confusions(counts, classes),
        **curves, "reliability": reliability,
        "mistakes": [{"index": i, "input": ids[i], "label": classes[y[i]],
                      "predicted": classes[predicted[i]], "confidence": float(p[i].max())}
                     for i in shown],
    }


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each true class's row as shares of its examples (a class absent from the data: zeros)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def top_confusions(counts: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: which class is taken for which, how often."""
    off = counts.astype(float)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:CONFUSIONS]
    cells = [np.unravel_index(i, counts.shape) for i in order]
    return [{"true": classes[t], "predicted": classes[q], "count": int(counts[t, q]),
             "share of true": float(counts[t, q] / counts[t].sum())}
            for t, q in cells if off[t, q] > 0]


def one_vs_rest(y: np.ndarray, p: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """ROC and precision-recall curves of each class against the rest (a binary classifier:
    its second class's only), with their areas; a class absent from the data has none."""
    from sklearn.metrics import (auc, average_precision_score, precision_recall_curve,
                                 roc_curve)

    roc, pr = {}, {}
    for k in ([1] if len(classes) == 2 else range(len(classes))):
        positive = y == k
        if positive.all() or not positive.any():  # no curve without both kinds of example
            roc[classes[k]] = {"fpr": [], "tpr": [], "auc": None}
            pr[classes[k]] = {"precision": [], "recall": [], "average_precision": None}
            continue
        fpr, tpr, _ = roc_curve(positive, p[:, k])
        precision, recall, _ = precision_recall_curve(positive, p[:, k], drop_intermediate=True)
        roc[classes[k]] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc(fpr, tpr))}
        pr[classes[k]] = {"precision": precision.tolist(), "recall": recall.tolist(),
                          "average_precision": float(average_precision_score(positive, p[:, k]))}
    return {"roc": roc, "precision_recall": pr}


def calibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The reliability of the top class's probability: per bin of confidence (as
    scikit-learn's `calibration_curve` bins it, uniform), its mean confidence, the share
    of those predictions that are right, and how many; the expected calibration error is
    the mean gap between the two, weighted by the bins' sizes."""
    from sklearn.calibration import calibration_curve

    confidence = np.clip(p.max(axis=1), 0.0, 1.0)
    right = (p.argmax(axis=1) == y).astype(int)
    accuracy, mean_confidence = calibration_curve(right, confidence, n_bins=BINS, pos_label=1)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=BINS)
    filled = counts > 0
    counts = counts[filled]
    ece = float(np.sum(counts / len(y) * np.abs(accuracy - mean_confidence)))
    return {"bins": BINS, "bin_from": edges[:-1][filled].tolist(),
            "confidence": mean_confidence.tolist(), "accuracy": accuracy.tolist(),
            "count": counts.tolist(), "ece": ece}


def regression(actual: np.ndarray, values: np.ndarray, shown: list[int],
               ids: list[str]) -> dict[str, Any]:
    """A regressor's section, for one column of values."""
    error = values - actual
    mean = float(actual.mean())
    sample = np.sort(np.random.default_rng(0).permutation(len(actual))[:POINTS])
    return {
        "task": "regression", "samples": len(actual),
        "headline": fit_of(actual, values),
        "baseline": {"strategy": f"always the mean of these examples, {mean:.6g}",
                     **fit_of(actual, np.full_like(actual, mean))},
        "points": {"index": sample.tolist(), "actual": actual[sample].tolist(),
                   "predicted": values[sample].tolist()},
        "deciles": deciles(actual, error),
        "worst": [{"index": i, "input": ids[i], "actual": float(actual[i]),
                   "predicted": float(values[i]), "error": float(error[i])} for i in shown],
    }


def fit_of(actual: np.ndarray, values: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    return {"MAE": float(mean_absolute_error(actual, values)),
            "RMSE": float(root_mean_squared_error(actual, values)),
            "R²": float(r2_score(actual, values)) if len(actual) > 1 else None}


def deciles(actual: np.ndarray, error: np.ndarray) -> list[dict[str, float]]:
    """The error by tenth of the actual values (lowest first): each decile's range, size,
    mean absolute error and mean error (its bias); tied values keep to one decile."""
    edges = np.quantile(actual, np.linspace(0, 1, BINS + 1))
    which = np.searchsorted(edges[1:-1], actual, side="right")
    rows = []
    for d in range(BINS):
        inside = which == d
        if inside.any():
            rows.append({"decile": d + 1, "from": float(actual[inside].min()),
                         "to": float(actual[inside].max()), "count": int(inside.sum()),
                         "MAE": float(np.abs(error[inside]).mean()),
                         "mean error": float(error[inside].mean())})
    return rows
