"""The state of the callbacks that decide, kept with the backup so that a resumed run decides
as an uninterrupted one would.

Keras' BackupAndRestore keeps weights, optimizer and epoch; early stopping's patience count,
its best value and the best weights it will restore, the best checkpoint's best value and a
plateau schedule's counters start afresh in a new process. A run resumed after epoch k would
then stop later, keep other weights and overwrite best.keras with a worse epoch. Here those
attributes (Keras' own names) are saved beside the backup and set back after the callbacks'
own `on_train_begin` has reset them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import keras
import numpy as np

# The attributes by which each Keras callback decides, as Keras names them.
DECIDING = {
    keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
    keras.callbacks.ModelCheckpoint: ("best",),
    keras.callbacks.ReduceLROnPlateau: ("wait", "cooldown_counter", "best"),
}


def deciding(callbacks: list[keras.callbacks.Callback]) -> list[tuple[keras.callbacks.Callback, tuple[str, ...]]]:
    """The callbacks whose state is kept, in list order, with the attributes kept."""
    return [(c, names) for c in callbacks for kind, names in DECIDING.items() if isinstance(c, kind)]


def plain(value: Any) -> Any:
    """A float (inf and nan included), an int or None: what JSON keeps of a Keras attribute."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return float(np.asarray(value))


def saved(callbacks: list[keras.callbacks.Callback]) -> bytes:
    """An .npz of the deciding callbacks' state: `state` (JSON, one entry per callback with
    its class) and, for early stopping that restores, the best weights it holds."""
    entries, arrays = [], {}
    for index, (callback, names) in enumerate(deciding(callbacks)):
        entries.append({"class": type(callback).__name__,
                        **{name: plain(getattr(callback, name, None)) for name in names}})
        for number, weights in enumerate(getattr(callback, "best_weights", None) or []):
            arrays[f"c{index}_w{number}"] = weights
    buffer = io.BytesIO()
    np.savez(buffer, state=np.array(json.dumps(entries)), **arrays)
    return buffer.getvalue()


def restore(callbacks: list[keras.callbacks.Callback], data: Any) -> None:
    """Set the state `saved` kept back, callback by callback (matched by position and class:
    a callback the resumed run lists differently starts afresh)."""
    entries = json.loads(str(data["state"]))
    for index, ((callback, names), entry) in enumerate(zip(deciding(callbacks), entries)):
        if entry.get("class") != type(callback).__name__:
            continue
        for name in names:
            setattr(callback, name, entry.get(name))
        weights = sorted((k for k in data.files if k.startswith(f"c{index}_w")),
                         key=lambda k: int(k.rsplit("w", 1)[1]))
        if weights:
            callback.best_weights = [data[k] for k in weights]
