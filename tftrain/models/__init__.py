"""Model builders. A model config's `_target_` names a builder function or a keras.Model class.

The data's `Spec` adapts every model: builders take `spec` and add the input and the output
head; a class gets whichever of `spec`, `num_outputs`, `num_classes`, `output_activation`
and `input_shape` its constructor declares. Nobody types a shape or a class count twice.
"""

from tftrain.models.build import build_model
from tftrain.models.functional import functional
from tftrain.models.sequential import sequential

__all__ = ["build_model", "functional", "sequential"]
