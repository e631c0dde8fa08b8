"""Examples of many small tensors, packed into one tensor per dtype while they stream.

A streamed table row is a dict of a dozen (1,)-shaped tensors; tf.data's per-example
stages (unbatch, the shuffle buffer, batch) pay per tensor, and a shuffle of such dicts cost
25 us a row against 6 us for the same values in one float and one string tensor (measured
on 2 cores). So streams pack each example's rank-1 inputs by dtype as they are read, and
unpack whole batches, once per batch, before the model sees them.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


class Packing:
    """How one stream's inputs (a dict of name -> tensor) pack and unpack; inputs that
    are not rank-1 per example (images) travel as they are."""

    def __init__(self, spec: Any, batched: bool = False) -> None:
        """`spec`: the inputs' element spec, of one example, or of a batch (`batched`)."""
        self.names = list(spec) if isinstance(spec, dict) else []
        self.groups: dict[str, list[tuple[str, int]]] = {}
        for name in self.names:
            shape = spec[name].shape[1:] if batched else spec[name].shape
            if shape.rank == 1 and shape[0] is not None:
                self.groups.setdefault(spec[name].dtype.name, []).append((name, shape[0]))
        packed = {name for members in self.groups.values() for name, _ in members}
        self.alone = [name for name in self.names if name not in packed]
        self.active = len(packed) > len(self.groups)  # packing saves tensors

    def pack(self, x: Any, y: tf.Tensor) -> tuple[Any, tf.Tensor]:
        """An example or a batch of examples, its packable inputs concatenated by dtype."""
        if not self.active:
            return x, y
        groups = {dtype: tf.concat([x[name] for name, _ in members], axis=-1)
                  for dtype, members in self.groups.items()}
        return (groups, {name: x[name] for name in self.alone}), y

    def unpack(self, packed: Any, y: tf.Tensor) -> tuple[Any, tf.Tensor]:
        """A batch back into the inputs by name, in their order."""
        if not self.active:
            return packed, y
        groups, alone = packed
        x = dict(alone)
        for dtype, members in self.groups.items():
            parts = tf.split(groups[dtype], [width for _, width in members], axis=-1)
            x.update(zip((name for name, _ in members), parts))
        return {name: x[name] for name in self.names}, y
