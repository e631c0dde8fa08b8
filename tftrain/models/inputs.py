"""The model's inputs and preprocessing, built from the data's Spec.

Every builder starts here: one `keras.Input` per named input, then the encoding the data
fitted on its training split (missing-value fill and normalisation for numbers, a string
lookup for categories, TextVectorization for text, rescaling of uint8 pixels), then the
configured augmentation layers (active in training only). The preprocessing lives in the
model, so `model.keras` predicts from raw inputs.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import Iterator

import keras

from tftrain.data import Feature, Spec
from tftrain.models.layers import FillMissing

WIDE = 16  # numeric columns beyond which a model encodes them as one block


def layer_name(feature: Feature, suffix: str = "") -> str:
    """Keras names allow no spaces: 'fixed acidity' becomes fixed_acidity (data keys stay)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", feature.name) + suffix


@contextlib.contextmanager
def keyed_by_column_names() -> Iterator[None]:
    """Build or load a model whose input dict is keyed by the data's own names.

    A CSV column 'fixed acidity' is the key `predict` takes, while its Input tensor must be
    named fixed_acidity; Keras warns about the difference at every build and load. It is
    by design here, so that warning (and only it) is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict, all keys "
                                "in the dict must match the names", category=UserWarning)
        yield


def normalization(mean: list[float], variance: list[float], name: str) -> keras.layers.Normalization:
    """Standardisation with the training split's moments. A column constant there (a blank
    image border, a flag never set) keeps its scale, as scikit-learn's StandardScaler does:
    dividing by its zero spread would turn any other value met later into ~1e7."""
    return keras.layers.Normalization(mean=mean, variance=[v if v > 1e-12 else 1.0 for v in variance],
                                      name=name)


def numeric_block(columns: list[Feature], raw: dict[str, keras.KerasTensor]) -> keras.KerasTensor:
    """Many numeric columns encoded as one vector: one fill and one normalisation for all,
    the same arithmetic as per column, in a few ops instead of a few per column (a CSV
    of 784 pixels traces and trains several times faster)."""
    tensor = keras.layers.Concatenate(name="numeric")([raw[f.name] for f in columns])
    tensor = FillMissing([f.stats["fill"][0] for f in columns], name="numeric_fill")(tensor)
    return normalization([f.stats["mean"][0] for f in columns],
                         [f.stats["variance"][0] for f in columns], "numeric_norm")(tensor)


def encode(feature: Feature, tensor):
    stats, kind = feature.stats, feature.kind
    if kind == "numeric":
        tensor = FillMissing(stats["fill"], name=layer_name(feature, "_fill"))(tensor)
        return normalization(stats["mean"], stats["variance"], layer_name(feature, "_norm"))(tensor)
    if kind == "categorical":
        return keras.layers.StringLookup(vocabulary=stats["vocabulary"], output_mode="one_hot",
                                         name=layer_name(feature, "_lookup"))(tensor)
    if kind == "text":
        vectorize = keras.layers.TextVectorization(
            max_tokens=stats["max_tokens"], output_mode=stats["output_mode"],
            output_sequence_length=stats.get("sequence_length"), vocabulary=stats["vocabulary"],
            name=layer_name(feature, "_vectorize"))
        return vectorize(keras.layers.Reshape((), name=layer_name(feature, "_flat"))(tensor)
                         if feature.shape == (1,) else tensor)
    if "scale" in stats:
        tensor = keras.layers.Rescaling(stats["scale"], name=layer_name(feature, "_rescale"))(tensor)
    if "mean" in stats:
        tensor = normalization(stats["mean"], stats["variance"], layer_name(feature, "_norm"))(tensor)
    return tensor


def needs_preprocessing(spec: Spec) -> bool:
    """Whether the model is more than a plain stack on one float input."""
    single = spec.single
    return (single is None or single.kind != "raw" or bool(single.stats)
            or not single.dtype.startswith("float") or bool(spec.augment))


def model_inputs(spec: Spec, by_name: bool = False
                 ) -> tuple[keras.KerasTensor | dict, dict[str, keras.KerasTensor]]:
    """(the model's inputs, `input`: all of them encoded and joined, and with `by_name` each
    encoded input by its name, for graphs that take some of them apart). Without it, more
    than WIDE numeric columns are encoded as one block."""
    raw = {f.name: keras.Input(shape=f.shape, dtype=f.dtype, name=layer_name(f)) for f in spec.inputs}
    numbers = [f for f in spec.inputs if f.kind == "numeric" and f.shape == (1,)]
    numbers = numbers if not by_name and len(numbers) > WIDE else []
    in_block = {f.name for f in numbers}
    encoded = {f.name: encode(f, raw[f.name]) for f in spec.inputs if f.name not in in_block}
    if spec.augment:
        augment = keras.Sequential(list(spec.augment), name="augment")
        encoded = {name: augment(t) for name, t in encoded.items()}
    if spec.single:
        joined = encoded[spec.single.name]
    else:
        flat = [keras.layers.Flatten(name=layer_name(f, "_flatten"))(encoded[f.name])
                if len(encoded[f.name].shape) > 2 else encoded[f.name]
                for f in spec.inputs if f.name in encoded]
        flat = [numeric_block(numbers, raw), *flat] if numbers else flat
        joined = keras.layers.Concatenate(name="features")(flat) if len(flat) > 1 else flat[0]
    inputs = raw[spec.single.name] if spec.single else raw
    return inputs, {**encoded, "input": joined}
