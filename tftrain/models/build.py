"""A model made against the data's Spec; a model that does not fit the data is said so."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import keras

from tftrain.data import Spec
from tftrain.errors import (REFUSED, TftrainError, frames_kept, param, raised_in_tftrain,
                            raised_in_users_code)
from tftrain.models.head import unscale
from tftrain.models.inputs import keyed_by_column_names, model_inputs, needs_preprocessing


def spec_arguments(spec: Spec) -> dict:
    return {"spec": spec, "num_outputs": spec.num_outputs, "num_classes": spec.num_classes,
            "output_activation": spec.output_activation, "input_shape": spec.input_shape}



def build(factory: Any, spec: Spec, name: str, target: str,
          keys: Callable[[], dict[int, str]]) -> keras.Model:
    """The model `factory` (a builder function or model class, its own arguments bound) makes
    against the data: offered whichever of `spec_arguments` it takes, wrapped in the data's
    inputs and encodings when it is a subclassed model, checked to give one output per
    target. A model that does not fit the data is refused naming it (`name`, `target`) and,
    found in `keys()` (a layer object's id -> how the user named it), the layer that refused."""
    accepted = inspect.signature(factory.func).parameters
    offered = {k: v for k, v in spec_arguments(spec).items()
               if k in accepted and k not in factory.keywords}
    try:
        # Keras warns of "unbuilt state" when a model's call() fails on the data; the error
        # says it better, so its warnings are shown only for a model that was built.
        with warnings.catch_warnings(record=True) as said, frames_kept():
            warnings.simplefilter("always")
            with keyed_by_column_names():
                model = factory(**offered)
                if not model.built:  # a subclassed model: wrap it in the data's inputs and encodings
                    model = around(model, spec)
        check_outputs(model, spec, name)
    except TftrainError:
        raise
    except Exception as error:
        # Keras' layers refuse an input they cannot take with ValueError (or TypeError);
        # anything else, or anything raised in tftrain or in the user's own model code, is
        # no model that does not fit: a bug, shown with its traceback.
        if raised_in_tftrain(error) or raised_in_users_code(error) \
                or not isinstance(innermost(error), REFUSED):
            raise
        layer = refusing_layer(error, keys())
        raise TftrainError(
            f"model '{name}' ({target}) does not fit the data: "
            + (f"{layer} refused what reaches it. " if layer else "")
            + f"The data gives {spec.describe()}. Keras said: "
            f"{' '.join(str(innermost(error)).split()).rstrip('.')}. {models_for(spec)}") from error
    for warning in said:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return model


def refusing_layer(error: BaseException, keys: dict[int, str]) -> str | None:
    """The key path of the configured layer that was running when building failed (the
    innermost one on the stack of any exception in the chain), or None."""
    found = None
    while error is not None:
        frame = error.__traceback__
        while frame is not None:
            layer = frame.tb_frame.f_locals.get("self")
            found = keys.get(id(layer), found)
            frame = frame.tb_next
        error = error.__cause__ or error.__context__
    return found


def innermost(error: BaseException) -> BaseException:
    """The exception Keras' wrappers were raised over ("Exception encountered when calling
    X.call() ... Could not automatically infer the output shape"): the layer that refused."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    return error


def models_for(spec: Spec) -> str:
    """Which catalogue models take data of this form."""
    single = spec.single
    if single is not None and len(single.shape) == 3:
        return (f"This data is images {single.shape}: model=cnn, model=resnet, model=mlp and "
                "model=image_augmented take it (model=transfer from 32x32).")
    if any(f.kind == "text" for f in spec.inputs):
        return ("This data has text: model=mlp and model=resmlp take it as the dataset encodes "
                f"it, model=text_classifier as token ids ({param('output_mode')}=int).")
    return ("This data is vectors or table columns: model=mlp, model=resmlp and model=regression "
            "take it; model=cnn, resnet, image_augmented and transfer need images (H, W, C).")


def check_outputs(model: keras.Model, spec: Spec, name: str) -> None:
    """Several targets need one output each, named after its target (Keras matches the
    labels, losses and metrics to the outputs by those names)."""
    if not spec.multi_output:
        return
    wanted = [t.name for t in spec.targets]
    given = list(getattr(model, "output_names", None) or []) if getattr(model, "outputs", None) else []
    if sorted(given) != sorted(wanted):
        raise TftrainError(
            f"model '{name}' has {f'outputs {given}' if given else 'one unnamed output'}, but the data has "
            f"{len(wanted)} targets {wanted}: a model needs one output per target, named after "
            "it. The sequential and functional builders (model=mlp, model=wide_deep, ...) make "
            "one head per target; a subclassed model cannot, so wrap it in a functional model.")


def around(core: keras.Model, spec: Spec) -> keras.Model:
    """A subclassed model on plain inputs is built by one call; on encoded inputs (tabular,
    text, normalised) it becomes the body of a functional model carrying the encodings."""
    if not needs_preprocessing(spec) and spec.target_moments is None:
        core(keras.ops.zeros((1, *spec.single.shape), dtype=spec.single.dtype))
        return core
    inputs, tensors = model_inputs(spec)
    outputs = core(tensors["input"])
    for layer in unscale(spec):
        outputs = layer(outputs)
    return keras.Model(inputs, outputs, name=core.name)
