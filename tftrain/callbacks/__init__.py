"""tftrain's own Keras callbacks: what Keras has no object for.

Both trainers drive one `keras.callbacks.CallbackList` (tftrain.config.callbacks makes it from
`cfg.callbacks`); tftrain adds the per-epoch record behind metrics.csv and summary.json
(`record`), the guards every run gets (`guards`: divergence, interrupts, per-epoch random
streams), the backup a run resumes from exactly (`backup`), fine-tuning's unfreezing
(`fine_tuning`), the progress display (`progress`) and experiment trackers (`loggers`).
"""


def step_decay(epoch: int, lr: float, every: int = 10, factor: float = 0.5) -> float:
    """For keras.callbacks.LearningRateScheduler: multiply the rate by `factor` every `every` epochs."""
    return lr * factor if epoch > 0 and epoch % every == 0 else lr
