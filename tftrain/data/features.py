"""Fit each input's encoding on the training split only (never on validation or test data).

Numbers get a fill value for missing entries and normalisation moments, strings a
vocabulary, text a TextVectorization vocabulary. The statistics go into the Spec, and the
model builds its preprocessing layers from them (tftrain.models.inputs), so the saved model
carries them and predicts from raw inputs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.spec import Feature
from tftrain.errors import TftrainError, param

Columns = dict[str, np.ndarray]


def as_columns(x: np.ndarray | Columns) -> Columns:
    return x if isinstance(x, dict) else {"input": x}


def dtype_name(values: np.ndarray) -> str:
    return "string" if values.dtype.kind in "OUS" else str(values.dtype)


def fit_features(train: Columns, kinds: dict[str, str], normalize: bool,
                 text: dict[str, Any]) -> tuple[Feature, ...]:
    if not normalize:
        for name, values in train.items():
            if kinds.get(name, "raw") == "raw":  # numeric columns are standardised anyway
                scales_hint(name, values)
    features = tuple(Feature(name, tuple(values.shape[1:]), dtype_name(values),
                             kinds.get(name, "raw"),
                             fit_stats(values, kinds.get(name, "raw"), normalize, text))
                     for name, values in train.items())
    for feature in features:
        check_vocabulary(feature, len(next(iter(train.values()))))
    return features


def check_vocabulary(feature: Feature, rows: int) -> None:
    """A categorical or text input with no value in the training split (a CSV column left
    empty, texts that are all blank) has nothing to learn from, and Keras' lookup layers
    refuse an empty vocabulary: said here, naming the input, not when the model is built."""
    if feature.kind not in ("categorical", "text") or feature.stats.get("vocabulary"):
        return
    what = "value" if feature.kind == "categorical" else "word"
    raise TftrainError(
        f"input '{feature.name}' ({feature.kind}) holds no {what} in the training split's "
        f"{rows:,} rows: every one is empty, so it has nothing to learn from. Leave it out (a "
        f"CSV column: {param('drop')}=[{feature.name}]) or give data that fills it.")


def scales_hint(name: str, values: np.ndarray) -> None:
    """Say when raw feature columns spread on very different scales (Keras' boston_housing:
    0.1 to 170): unstandardised, such data trains poorly (test MAE 10.9 against 2.2)."""
    if values.dtype.kind != "f" or values.ndim != 2 or len(values) < 2:
        return
    spread = values.std(axis=0)
    spread = spread[spread > 0]
    if spread.size > 1 and spread.max() / spread.min() > 100:
        echo(f"data: the columns of '{name}' spread on very different scales ({spread.min():.3g} "
             f"to {spread.max():.3g}); {param('normalize')}=true standardises them inside the model")


def fit_stats(values: np.ndarray, kind: str, normalize: bool, text: dict[str, Any]) -> dict[str, Any]:
    if kind == "numeric":  # per column (last axis): a median fill, then mean and variance
        values = values.astype(np.float32)
        axes = tuple(range(values.ndim - 1))
        finite = np.where(np.isfinite(values), values, np.nan)
        fill = np.nan_to_num(np.nanmedian(finite, axis=axes)) if finite.size else np.zeros(values.shape[-1])
        filled = np.where(np.isfinite(values), values, fill)
        return {"fill": fill.tolist(), "mean": filled.mean(axis=axes).tolist(),
                "variance": filled.var(axis=axes).tolist()}
    if kind == "categorical":
        counts = Counter(v for v in values.ravel().tolist() if v != "")
        return {"vocabulary": [v for v, _ in counts.most_common()]}
    if kind == "text":
        return {"vocabulary": text_vocabulary(values, text["max_tokens"]), **text}
    stats: dict[str, Any] = {}
    if values.dtype.kind in "iu" and values.dtype.itemsize == 1:  # uint8 pixels stay small in memory
        stats["scale"] = 1.0 / 255.0
    if normalize:
        axes = tuple(range(values.ndim - 1))
        scaled = values.astype(np.float32) * stats.get("scale", 1.0)
        stats.update(mean=scaled.mean(axis=axes).tolist(), variance=scaled.var(axis=axes).tolist())
    return stats


def text_vocabulary(values: np.ndarray, max_tokens: int) -> list[str]:
    """The same vocabulary TextVectorization.adapt would build, from the training texts only."""
    import keras

    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens)
    vectorizer.adapt(values.ravel())
    return [token for token in vectorizer.get_vocabulary() if token not in ("", "[UNK]")]
