"""Unfreezing the layers a model schedules for fine-tuning (model=transfer's `fine_tune`)."""

from __future__ import annotations

import keras

from tftrain.callbacks.record import current_lr
from tftrain.console import echo


class FineTuning(keras.callbacks.Callback):
    """Unfreeze the layers a model schedules for fine-tuning, at the epoch it names.

    A model with a `fine_tuning` schedule (tftrain.models.transfer.FineTune: model=transfer
    with `fine_tune.after_epoch: M`) comes with those layers trainable, so the optimizer is
    built with slots for them (by the trainer, or here when `fit` would build it only at its
    first trace): Keras 3 optimizers refuse variables they were not built with, and a
    checkpoint's optimizer state loads only into the same variables. Here the layers are
    frozen at the start of training and unfrozen when epoch M+1 begins (after M epochs), the
    learning rate multiplied by the schedule's factor. Keras traces which weights train into
    the train function, so `fit` gets a new one (`make_train_function(force=True)`, as Keras'
    docs prescribe) and the custom loop traces anew when it sees the trainable weights change.

    A resumed run (BackupAndRestore) that starts after epoch M unfreezes at its first epoch;
    its constant learning rate comes back lowered with the optimizer's checkpointed variables.
    Without a schedule on the model this callback does nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.schedule = None
        self.unfrozen = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.schedule = getattr(self.model, "fine_tuning", None)
        self.unfrozen = False
        if self.schedule is None:
            return
        optimizer = self.model.optimizer
        if not optimizer.built:  # fit without a tf.distribute strategy builds it when it traces
            with self.model.distribute_strategy.scope():
                optimizer.build(self.model.trainable_variables)  # scheduled layers included
        self.schedule.start(optimizer)
        after, epochs = self.schedule.after_epoch, self.params.get("epochs")
        echo(f"fine-tuning: from epoch {after + 1} (after {after}), {self.schedule.describe()}, "
             f"at {self.schedule.learning_rate_factor:g}x the learning rate"
             + (f"; note: this run has {epochs} epochs, so the base never unfreezes (it "
                f"would with more than {after})" if epochs is not None and after >= epochs
                else ""))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        schedule = self.schedule
        if schedule is None or self.unfrozen or epoch < schedule.after_epoch:
            return
        self.unfrozen = True
        optimizer = self.model.optimizer
        before = current_lr(self.model)
        schedule.unfreeze()
        # Past epoch M with a trained optimizer: the state was restored from a checkpoint
        # written after the unfreeze, its learning rate already lowered.
        steps = int(keras.ops.convert_to_numpy(optimizer.iterations))
        restored = epoch > schedule.after_epoch and steps > 0
        schedule.lower_learning_rate(optimizer, restored)
        self.model.make_train_function(force=True)
        rate = (f"learning rate {current_lr(self.model):.3g}, lowered since epoch "
                f"{schedule.after_epoch + 1}" if restored
                else f"learning rate {before:.3g} -> {current_lr(self.model):.3g}")
        echo(f"fine-tuning from epoch {epoch + 1}: {schedule.describe()}; "
             f"{schedule.parameters:,} more trainable parameters; {rate}")
