"""Process-level state for a run: TensorFlow's import, seeds, determinism, a clean session."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's C++ runtime prints to fd 2 while it loads.

    Those lines (oneDNN notices, "could not find cuda drivers", cuInit failures) are
    written before absl logging starts, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Set TFTRAIN_TF_LOGS=1 to see them.
    """
    if os.environ.get("TFTRAIN_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with native_stderr_silenced():
    import tensorflow as tf

    tf.config.list_physical_devices()  # device discovery prints too; do it while silenced
import keras  # noqa: E402


def setup(seed: int, deterministic: bool) -> None:
    """Start each run (each job of a sweep) from the same clean, seeded state."""
    keras.backend.clear_session(free_memory=True)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
