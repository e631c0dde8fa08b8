"""Keras' ModelCheckpoint, its file written under a temporary name and renamed into place.

Keras writes best.keras in place: a full disk, a file-size limit or a second Ctrl-C in the
middle of a save leaves a cut file where the best model was. Here the model is saved whole
next to it first (tftrain.artifacts.save_model_atomic), so best.keras is always the last
best model saved whole, and a write that fails is WriteFailed: one paragraph, exit 74.
With `save_best_only`, an epoch that does not log the monitor (between validations,
`trainer.validation_freq` > 1) saves nothing: Keras saves every such epoch, so best.keras
held a later, unranked epoch instead of the best one.
"""

from __future__ import annotations

from pathlib import Path

import keras

from tftrain import artifacts


class ModelCheckpoint(keras.callbacks.ModelCheckpoint):
    def _save_model(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        if self.save_best_only and (logs or {}).get(self.monitor) is None:
            return
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            artifacts.save_model_atomic(self.model, Path(filepath))
