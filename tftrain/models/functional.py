"""`model=cnn` and any layer graph: a keras.Model built with the Functional API.

Each node is `{name, layer, inputs}`; `inputs` names earlier nodes (or `input`), several
names are passed as a list (e.g. to a Concatenate), and a node without `inputs` takes the
node before it. The last node feeds the output head. Each layer is named after its node,
so `model.get_layer("conv1")` finds what the config calls conv1.
"""

from __future__ import annotations

from typing import Any

import keras

from tftrain.data import Spec
from tftrain.errors import TftrainError
from tftrain.models.head import head


def functional(spec: Spec, nodes: list[dict[str, Any]], name: str = "functional") -> keras.Model:
    inputs = keras.Input(shape=spec.input_shape, name="input")
    tensors = {"input": inputs}
    previous = "input"
    for node in nodes:
        wanted = node.get("inputs", previous)
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        missing = [n for n in names if n not in tensors]
        if missing:
            raise TftrainError(
                f"model node '{node['name']}' takes inputs {missing} that no earlier node "
                f"defines; known so far: {', '.join(tensors)}.")
        args = tensors[names[0]] if isinstance(wanted, str) else [tensors[n] for n in names]
        layer = node["layer"]
        layer.name = node["name"]
        tensors[node["name"]] = layer(args)
        previous = node["name"]
    return keras.Model(inputs, head(spec)(tensors[previous]), name=name)
