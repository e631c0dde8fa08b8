"""The data `tftrain-eval` scores: read by the data source the run's config (or the
overrides) names, with the readers training used (tftrain.data), conformed to the run's
record (tftrain.tools.conform), and cut to the split asked for, whole.

Eval scores exactly the data it names: the run's own data -> its test split, all of it
(the run's debug limits, `dataset.limit_batches` and so `debug=smoke`, are for training
and never cut what eval scores); other data -> all of it, unless `split=` picks one. Each
example keeps its identity (an image's path in its folder, a row's number), so eval's
per-example predictions line up with tftrain-predict's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from tftrain.data.batches import UNTUNED, rows, split_indices
from tftrain.data.features import as_columns
from tftrain.data.folds import Folds
from tftrain.data.forms import Arrays, Source, Stream, rows_in
from tftrain.config.dataset import options_of, read_grouped
from tftrain.data.pipeline import fingerprint, source_fingerprint, with_channel_axis
from tftrain.errors import UNREADABLE, TftrainError, door, keyed
from tftrain.tools.conform import EvalSet, check_shapes, chosen_split, conformed_inputs, label_recoder
from tftrain.tools.eval_stream import streamed

READ_AS_RUN = ("decimal", "encoding")  # options a new file is read with as the run read its own
Part = tuple[Arrays, Arrays, np.ndarray]  # inputs, labels, identities


def eval_data(cfg: DictConfig, run: dict[str, Any], batch_size: int, seed: int,
              split: str | None, own: bool) -> EvalSet:
    """The split `split` (None: the default for the run's own data, `own`, or other data)
    of the data `cfg` (a dataset config) describes, in the run's encoding; whatever a
    library raises while reading it names the data (the data door)."""
    options, pipeline, name = options_of(cfg)
    reading = run.get("reading", {})
    for key in READ_AS_RUN:  # a new file in the run's encoding and decimal mark, unless set
        if key in options and options[key] is None and reading.get(key) is not None:
            options[key] = reading[key]
    kinds = {n: spec.get("kind", "raw") for n, spec in run["inputs"].items()}
    with keyed("dataset"), keyed({"batch_size": "trainer.batch_size"}), door(name, refused=UNREADABLE):
        # a fold of a run grouped by a column (cv.group): its own data's rows grouped as it cut them
        source = read_grouped(options, pipeline if own else {}, seed, run_kinds=kinds)
        if isinstance(source, Stream):
            return streamed(source, pipeline, run, batch_size, seed, name, split, own)
        return in_memory(source, pipeline, run, batch_size, seed, name, split, own)


def in_memory(source: Source, pipeline: dict[str, Any], run: dict[str, Any], batch_size: int,
              seed: int, name: str, split: str | None, own: bool) -> EvalSet:
    """Arrays in memory: inputs conformed, split as in training, labels in the run's ids."""
    if rows_in(source.y) == 0:
        raise TftrainError(f"{name}: the data holds no examples.")
    source = replace(source, x=conformed_inputs(source, run["inputs"], name))
    if pipeline["channel_axis"]:
        source = with_channel_axis(source)
    check_shapes(as_columns(source.x), run["inputs"], name)
    recode = label_recoder(source.targets(), run["targets"], name)
    parts = split_parts(source, pipeline["val_split"], pipeline["test_split"], seed,
                        pipeline["folds"] if own else None)  # other data is not the run's folds
    sizes = {part: len(ids) for part, (_, _, ids) in parts.items()}
    which = chosen_split(split, sizes, own)
    x, y, ids = parts[which]
    dataset = tf.data.Dataset.from_tensor_slices((x, recode(y), ids)).batch(batch_size)
    return EvalSet(which, dataset.prefetch(tf.data.AUTOTUNE).with_options(UNTUNED), sizes[which],
                   sizes, fingerprint(*parts["train"][:2]), source_fingerprint(source))


def split_parts(source: Source, val: float, test: float, seed: int,
                folds: Folds | None = None) -> dict[str, Part]:
    """Each split's rows as training cuts them (the same seeded draw; `folds`: a fold of
    cross-validation validates), and all of them in the source's order, each row with its
    identity: the source's (a file's path), else its number; a source's own test rows are
    `test:0`, `test:1`, ..."""
    ids = source.ids if source.ids is not None else np.arange(rows_in(source.y)).astype(str)
    parts = {name: (rows(source.x, index), rows(source.y, index), ids[index])
             for name, index in zip(("train", "val", "test"),
                                    split_indices(source, val, test, seed, folds))}
    whole: Part = (source.x, source.y, ids)
    if source.test is not None:
        tx, ty = source.test
        parts["test"] = (tx, ty, np.array([f"test:{i}" for i in range(rows_in(ty))]))
        whole = tf.nest.map_structure(lambda a, b: np.concatenate([a, b]), whole, parts["test"])
    return {**parts, "all": whole}
