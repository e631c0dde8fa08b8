"""Data: a source gives arrays or a stream of examples, a pipeline turns them into tf.data
datasets and a Spec. Importing this package does not import TensorFlow: `build_data` (the
pipelines) loads it when first asked for, so the run-folder and prediction tools can read
files through `tftrain.data.files` without TensorFlow's start-up."""

from typing import Any

from tftrain.data.forms import Data
from tftrain.data.spec import Feature, Spec, Target

__all__ = ["Data", "Feature", "Spec", "Target", "build_data"]


def __getattr__(name: str) -> Any:
    if name == "build_data":
        from tftrain.data.pipeline import build_data

        return build_data
    raise AttributeError(f"module 'tftrain.data' has no attribute {name!r}")
