"""`model=cnn` and any layer graph: a keras.Model built with the Functional API.

Each node is `{name, layer, inputs}`; `inputs` names earlier nodes, the data's named
inputs (encoded), or `input` (all inputs joined); several
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
from tftrain.models.inputs import model_inputs


def functional(spec: Spec, nodes: list[dict[str, Any]], name: str = "functional",
               logits: bool = False) -> keras.Model:
    inputs, tensors = model_inputs(spec)
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
    outputs = tensors[previous]
    for layer in head(spec, logits):
        outputs = layer(outputs)
    return keras.Model(inputs, outputs, name=name)
