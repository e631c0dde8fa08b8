"""history.png: training against validation curves for the loss and each metric.

matplotlib is optional (the `plots` extra: `pip install "tftrain[plots]"`) and imported only
here, when a plot is drawn, with the headless Agg backend. A run without it says in one line
(console and train.log) that history.png was skipped and how to get it, and writes everything
else. The plot is drawn from the same rows as metrics.csv.
"""

from __future__ import annotations

from pathlib import Path

from tftrain import artifacts
from tftrain.console import echo

INSTALL = 'pip install "tftrain[plots]"'


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (files only, no display), or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_history(rows: list[dict[str, float]], path: Path) -> bool:
    """Draw one panel per metric (train and val_ curves); False when matplotlib is missing."""
    plt = pyplot()
    if plt is None:
        echo(f"note: {path.name} skipped: plots need matplotlib, which is not installed "
             f"({INSTALL} adds it); metrics.csv has the same numbers.")
        return False
    from matplotlib.ticker import MaxNLocator

    names = [k for k in rows[0] if k not in ("epoch", "lr", "epoch_time_s") and not k.startswith("val_")] \
        if rows else []
    if not names:
        return False
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for axis, name in zip(axes[0], names):
        axis.plot(epochs, [r.get(name) for r in rows], marker=".", label="train")
        validated = [(r["epoch"], r[f"val_{name}"]) for r in rows if f"val_{name}" in r]
        if validated:
            axis.plot(*zip(*validated), marker=".", label="validation")
        axis.set(title=name, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    save_figure(figure, path)
    return True


def save_figure(figure, path: Path, **options) -> None:
    """A PNG written whole or not at all (tftrain.artifacts), and the figure's memory freed
    whatever happens (pyplot keeps every open figure)."""
    try:
        artifacts.in_place(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png", **options))
    finally:
        pyplot().close(figure)
