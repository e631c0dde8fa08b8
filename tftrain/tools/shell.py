"""The shape every tftrain command shares (tftrain, tftrain-eval, tftrain-predict,
tftrain-report): the user's own modules import from the working folder, tftrain's config
schemas are registered, bad input is one paragraph with its exit status (its traceback too
with TFTRAIN_FULL_ERROR=1), and Ctrl-C outside a run says that nothing was written (every
file lands whole or not at all)."""

from __future__ import annotations

import os
import sys
from typing import Callable

from omegaconf import OmegaConf

from tftrain.config import schema
from tftrain.console import fail, refuse
from tftrain.errors import Interrupted, TftrainError
from tftrain.run.folder_lock import unique_dir
from tftrain.run.signals import Signals


def prepared() -> None:
    """What every command does first. Like `python -m`: the user's own modules (models,
    losses, steps, data sources) import from the working folder."""
    # TensorFlow's C++ INFO and WARNING lines (read once, as TensorFlow loads; a user's own
    # setting wins)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    schema.register()
    # ${unique_dir:PATH}, in the default hydra.run.dir and hydra.sweep.dir (Hydra's launchers
    # hand their workers the sweep folder resolved)
    OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True, replace=True)


def shell(body: Callable[[], int | None]) -> int:
    """Run a tool's body in the shared shape; returns the exit status."""
    prepared()
    try:
        with Signals():
            return body() or 0
    except TftrainError as error:
        return refuse(error)
    except Interrupted as error:
        fail(f"{error}; nothing was written.")
        return error.exit_code
