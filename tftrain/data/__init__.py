"""Data: a source gives arrays or a stream of examples, a pipeline turns them into tf.data
datasets and a Spec (`tftrain.data.pipeline.assemble`; `tftrain.config.dataset.build_data`
turns a dataset config into that call). Importing this package does not import TensorFlow,
so the run-folder and prediction tools can read files through `tftrain.data.files` without
TensorFlow's start-up."""

from tftrain.data.forms import Data
from tftrain.data.spec import Feature, Spec, Target

__all__ = ["Data", "Feature", "Spec", "Target"]
