"""`model=cnn` and any layer graph: a keras.Model built with the Functional API.

Each node is `{name, layer, inputs}`; `inputs` names earlier nodes, the data's named
inputs (encoded), or `input` (all inputs joined); several
names are passed as a list (e.g. to a Concatenate), and a node without `inputs` takes the
node before it. The last node feeds the output head. Each layer is named after its node,
so `model.get_layer("conv1")` finds what the config calls conv1.

Data with several targets gets one head per target, each fed by the last node or by the
node `heads` names for it (`heads: {species: species_branch}`), and the model returns a
dict keyed by target name.
"""

from __future__ import annotations

from typing import Any

import keras

from tftrain.data import Spec
from tftrain.errors import TftrainError, param
from tftrain.models.head import outputs
from tftrain.models.inputs import model_inputs


def functional(spec: Spec, nodes: list[dict[str, Any]], name: str = "functional",
               logits: bool = False, heads: dict[str, str] | None = None,
               binary: bool = False) -> keras.Model:
    inputs, tensors = model_inputs(spec, by_name=True)
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
    return keras.Model(inputs, outputs(spec, head_features(spec, tensors, previous, heads or {}),
                                       logits, binary), name=name)


def head_features(spec: Spec, tensors: dict[str, keras.KerasTensor], last: str,
                  heads: dict[str, str]) -> dict[str, keras.KerasTensor]:
    """The tensor each target's head reads: the node `heads` names, else the last node."""
    names = {t.name for t in spec.targets}
    unknown = sorted(set(heads) - names)
    if unknown:
        raise TftrainError(f"{param('heads')} names targets {unknown} the data does not have; its "
                           f"targets are: {', '.join(sorted(names))}.")
    missing = {t: n for t, n in heads.items() if n not in tensors}
    if missing:
        raise TftrainError(f"{param('heads')} {missing}: no such node; the nodes are: "
                           f"{', '.join(tensors)}.")
    return {t.name: tensors[heads.get(t.name, last)] for t in spec.targets}
