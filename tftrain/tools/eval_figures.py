"""The report's figures, drawn from the numbers eval_report computed (what report.json
keeps) by scikit-learn's displays on matplotlib's headless Agg backend, as PNG bytes for
the HTML to embed; and thumbnails of the image inputs it shows.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np

from tftrain.run.plots import pyplot
from tftrain.tools.eval_report import CURVE_CLASSES

PANEL = (5.0, 4.2)  # inches per panel
THUMBNAIL = 96  # pixels on the longer side, at least: small images are enlarged, not blurred


def figures(section: dict[str, Any]) -> dict[str, bytes]:
    """A section's figures by title: a classifier's curves when some class has one (data
    of one class has none), its matrix and curves only up to CURVE_CLASSES classes."""
    if section["task"] == "classification":
        few = len(section["classes"]) <= CURVE_CLASSES
        curved = few and any(roc["auc"] is not None for roc in section["roc"].values())
        drawn = {"confusion matrix": lambda axes: confusion(axes, section)} if few else {}
        if curved:
            drawn["ROC and precision-recall curves"] = lambda axes: curves(axes, section)
        drawn["reliability diagram"] = lambda axes: reliability(axes, section["reliability"])
        return {title: drawing(draw) for title, draw in drawn.items()}
    return {"predicted against actual, residuals against predicted":
            drawing(lambda axes: prediction_error(axes, section["points"])),
            "error by decile of the actual value":
            drawing(lambda axes: by_decile(axes, section["deciles"]), panels=1)}


def drawing(draw: Callable[[Any], None], panels: int = 2) -> bytes:
    """A figure of `panels` side by side, drawn by `draw(axes)`, as PNG bytes."""
    plt = pyplot()
    figure, axes = plt.subplots(1, panels, figsize=(PANEL[0] * panels, PANEL[1]), squeeze=False)
    try:
        draw(axes[0] if panels > 1 else axes[0][0])
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=90)
        return out.getvalue()
    finally:
        plt.close(figure)


def confusion(axes: Any, section: dict[str, Any]) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    matrix, classes = section["confusion_matrix"], section["classes"]
    rotation = "vertical" if sum(len(c) for c in classes) > 40 else "horizontal"
    size = "medium" if len(classes) <= 5 else "x-small"  # ten cells a row still fit
    for axis, key, title, form in ((axes[0], "counts", "counts", "d"),
                                   (axes[1], "normalized", "share of each true class", ".0%")):
        ConfusionMatrixDisplay(np.array(matrix[key]), display_labels=classes).plot(
            ax=axis, colorbar=False, values_format=form, xticks_rotation=rotation,
            include_values=len(classes) <= 12, text_kw={"fontsize": size})
        axis.set_title(title)


def curves(axes: Any, section: dict[str, Any]) -> None:
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    drawn = [(name, roc) for name, roc in section["roc"].items() if roc["auc"] is not None]
    for n, (name, roc) in enumerate(drawn):
        RocCurveDisplay(fpr=np.array(roc["fpr"]), tpr=np.array(roc["tpr"]),
                        roc_auc=roc["auc"]).plot(ax=axes[0], name=name,
                                                 plot_chance_level=n == len(drawn) - 1)
    for name, pr in section["precision_recall"].items():
        if pr["average_precision"] is not None:
            PrecisionRecallDisplay(np.array(pr["precision"]), np.array(pr["recall"]),
                                   average_precision=pr["average_precision"]).plot(
                ax=axes[1], name=name)
    axes[0].set_title("ROC, one class against the rest")
    axes[1].set_title("precision-recall, one class against the rest")
    for axis in axes:
        axis.legend(fontsize="x-small", loc="lower right" if axis is axes[0] else "lower left")


def reliability(axes: Any, numbers: dict[str, Any]) -> None:
    from sklearn.calibration import CalibrationDisplay

    confidence = np.array(numbers["confidence"])
    CalibrationDisplay(np.array(numbers["accuracy"]), confidence, None).plot(
        ax=axes[0], name="top class")
    axes[0].set(title=f"reliability (expected calibration error {numbers['ece']:.4f})",
                xlabel="confidence in the predicted class", ylabel="share right")
    width = 1.0 / numbers["bins"]
    axes[1].bar(np.array(numbers["bin_from"]) + width / 2, numbers["count"], width=0.9 * width)
    axes[1].set(title="predictions per bin of confidence", xlabel="confidence", xlim=(0, 1),
                ylabel="predictions")


def prediction_error(axes: Any, points: dict[str, Any]) -> None:
    from sklearn.metrics import PredictionErrorDisplay

    display = PredictionErrorDisplay(y_true=np.array(points["actual"]),
                                     y_pred=np.array(points["predicted"]))
    display.plot(ax=axes[0], kind="actual_vs_predicted")
    display.plot(ax=axes[1], kind="residual_vs_predicted")
    shown = len(points["actual"])
    for axis, title in zip(axes, ("predicted against actual", "residuals against predicted")):
        axis.set_title(f"{title} ({shown} points)")


def by_decile(axis: Any, rows: list[dict[str, Any]]) -> None:
    names = [f"{r['decile']}" for r in rows]
    axis.bar(names, [r["MAE"] for r in rows], label="mean absolute error")
    axis.plot(names, [r["mean error"] for r in rows], marker="o", color="C1",
              label="mean error (predicted - actual)")
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set(title="error by decile of the actual value", xlabel="decile (1: lowest values)",
             ylabel="error")
    axis.legend(fontsize="small")


def thumbnail(values: np.ndarray) -> bytes | None:
    """An image input (height, width, channels) as a PNG of the pixels the model took:
    in [0, 1] as they are, on any other scale (0-255, 0-16 for digits, standardised)
    stretched from their lowest to their highest value; None for an input that is no image."""
    if values.ndim != 3 or values.shape[-1] not in (1, 3, 4) or values.dtype.kind not in "fiu":
        return None
    pixels = values.astype(np.float64)
    low, high = pixels.min(), pixels.max()
    if low < 0.0 or high > 1.0:
        pixels = (pixels - low) / max(high - low, 1e-12)
    scale = max(1, -(-THUMBNAIL // max(pixels.shape[:2])))
    pixels = np.clip(pixels.repeat(scale, axis=0).repeat(scale, axis=1), 0.0, 1.0)
    plt = pyplot()
    out = io.BytesIO()
    plt.imsave(out, pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray",
               vmin=0.0, vmax=1.0, format="png")
    return out.getvalue()
