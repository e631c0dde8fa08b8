"""tftrain: train TensorFlow/Keras models from composable YAML configs.

Importing this package must stay cheap: TensorFlow is imported only when a run starts.
"""

__version__ = "0.1.0"
