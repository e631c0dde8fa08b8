"""Data: a source gives arrays, the pipeline turns them into tf.data datasets and a Spec."""

from tftrain.data.pipeline import Data, Spec, build_data

__all__ = ["Data", "Spec", "build_data"]
