"""Walking a config tree: one way, for every check that looks through a whole config.

A config is plain containers (`OmegaConf.to_container(resolve=False)`) or OmegaConf's own;
both are read here without resolving an interpolation (`${epochs_to_steps:10}` answers only
once the data is built, `???` not at all), and every node is named by its key path as an
override names it: `model.layers.1._target_`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig
from omegaconf.nodes import ValueNode


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def children(node: Any) -> list[tuple[Any, Any]]:
    """A container's (key, child) pairs, each child as written (OmegaConf's nodes unresolved,
    a leaf as its raw value); a leaf has none."""
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    if isinstance(node, (DictConfig, ListConfig)):
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        return [(key, raw(node._get_node(key))) for key in keys]
    return []


def raw(node: Any) -> Any:
    """An OmegaConf node's value as written where it is a leaf (a value, or a container that
    is null, ??? or an interpolation: `data_facts: null`); a container stays itself."""
    if isinstance(node, ValueNode):
        return node._value()
    if isinstance(node, (DictConfig, ListConfig)) and (
            node._is_none() or node._is_missing() or node._is_interpolation()):
        return node._value()
    return node


def nodes(tree: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every node of a config tree with its key path, each container before its children."""
    tree = raw(tree)
    yield path, tree
    for key, child in children(tree):
        yield from nodes(child, join(path, key))


def leaves(tree: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value that is no container, with its key path."""
    return ((where, node) for where, node in nodes(tree, path)
            if not isinstance(node, (dict, list, DictConfig, ListConfig)))


def with_targets(tree: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every node that names a `_target_` (a class or function to call), with its key path."""
    return ((where, node) for where, node in nodes(tree, path)
            if isinstance(node, (dict, DictConfig)) and "_target_" in node)


def mapped(tree: Any, leaf: Callable[[str, Any], Any], path: str = "") -> Any:
    """The tree as plain containers, each leaf replaced by `leaf(key path, value)`."""
    tree = raw(tree)
    if isinstance(tree, (dict, DictConfig)):
        return {key: mapped(child, leaf, join(path, key)) for key, child in children(tree)}
    if isinstance(tree, (list, ListConfig)):
        return [mapped(child, leaf, join(path, key)) for key, child in children(tree)]
    return leaf(path, tree)
