"""Model builders. A model config's `_target_` names a builder function or a keras.Model class.

The data's `Spec` adapts every model: builders take `spec` and add the input and the output
head; a class gets whichever of `spec`, `num_outputs`, `num_classes`, `output_activation`
and `input_shape` its constructor declares. Nobody types a shape or a class count twice.
"""

import warnings

import keras

from tftrain.models import layers, metrics, zoo  # noqa: F401  (registers tftrain's serializable classes)
from tftrain.models.build import build
from tftrain.models.functional import functional
from tftrain.models.inputs import keyed_by_column_names
from tftrain.models.sequential import sequential
from tftrain.models.transfer import transfer


def load_model(path: str, inference: bool = False) -> keras.Model:
    """Load a tftrain model.keras in Keras' safe mode, tftrain's own layers registered.

    `inference`: the model will only evaluate or predict, so its optimizer's saved state is
    of no use, and Keras' warning that it skipped it (a mixed_float16 run's loss-scaling
    optimizer has more variables than the one rebuilt under float32) would only alarm.
    """
    with keyed_by_column_names(), warnings.catch_warnings():
        if inference:
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return keras.models.load_model(path, safe_mode=True)


__all__ = ["build", "functional", "load_model", "sequential", "transfer"]
