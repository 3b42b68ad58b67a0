"""Node references renumbered in the order TF.js 4.22's layers-model loader makes a shared layer's calls.

Keras numbers a layer's calls (nodes) in the order of its ``inbound_nodes`` list, and every
``[layer, node_index, tensor_index]`` reference (inbound nodes, ``input_layers``, ``output_layers``) counts that
way. TF.js's ``Container.fromConfig`` (tfjs-layers ``engine/container.js``) first queues every layer's nodes in
list order, then sweeps the layer list until the queue is empty: each layer's queued nodes are taken out and
applied in queue order, and a node whose input node does not exist yet goes back to the end of that layer's queue
while *the layer's next nodes are still applied*. So a shared layer whose call ``k`` waits for a layer listed after
it gets its call ``k + 1`` first, its TF.js node indices differ from Keras's, and every reference to it points at
another call (0.7 .. 2.25 off, silently, session 31 r4). The sweep is replayed here on the written config, following
each call by what it is (the layer and its Keras index), and each reference gets the TF.js index of that call.

The replay is exact: with the references renumbered, "node ``p`` of the layer exists" in TF.js holds exactly when
the call replayed at position ``p`` was made, so TF.js takes the same steps as the replay.
"""
from __future__ import annotations

from typing import Any

from .configs import entry_name, is_layer_entry, is_model, iter_layers

#: A call of a layer: its name and its index in Keras's numbering.
Call = tuple[str, int]


def renumber_nodes_in_tfjs_order(model_config: dict[str, Any]) -> None:
    """Renumber, in place, the node references of every functional model in ``model_config`` (the outer one and
    nested ones: TF.js loads each with its own ``fromConfig``). Sequential models have no node references."""
    for layer in iter_layers(model_config):
        if is_model(layer.entry) and layer.class_name != "Sequential":
            _renumber_model(layer.entry.get("config") or {})


def _renumber_model(config: dict[str, Any]) -> None:
    layers = [entry for entry in config.get("layers") or [] if is_layer_entry(entry)]
    position = _tfjs_positions(layers)
    if position is None:
        return  # a call waits for a node that never comes: TF.js never finishes loading it in any numbering
    for entry in layers:
        for node in entry.get("inbound_nodes") or []:
            if isinstance(node, list):
                node[:] = [_renumbered(ref, position) for ref in node]
    for key in ("input_layers", "output_layers"):
        if isinstance(config.get(key), list):
            config[key] = [_renumbered(ref, position) for ref in config[key]]


def _renumbered(ref: Any, position: dict[Call, int]) -> Any:
    if not (isinstance(ref, list) and len(ref) >= 3 and isinstance(ref[1], int)):
        return ref
    return [ref[0], position.get((str(ref[0]), ref[1]), ref[1]), *ref[2:]]


def _nodes_at_creation(entry: dict[str, Any]) -> int:
    """Nodes a layer has before any call: an InputLayer's own node, a nested model's building node (Keras 2 and
    TF.js number them 0; Keras's serialized ``inbound_nodes`` of the layer start after them)."""
    return 1 if entry.get("class_name") == "InputLayer" or is_model(entry) else 0


def _tfjs_positions(layers: list[dict[str, Any]]) -> dict[Call, int] | None:
    """Keras call -> TF.js node index, by replaying ``Container.fromConfig``'s sweep; None if it never ends."""
    names = [entry_name(entry) for entry in layers]
    nodes = {name: (entry.get("inbound_nodes") or []) for name, entry in zip(names, layers)}
    first = {name: _nodes_at_creation(entry) for name, entry in zip(names, layers)}
    made = dict(first)
    position: dict[Call, int] = {(name, k): k for name, count in first.items() for k in range(count)}
    queue: dict[str, list[int]] = {name: list(range(len(nodes[name]))) for name in names if nodes[name]}
    while queue:
        progressed = False
        for name in names:
            for i in queue.pop(name, []):
                node = nodes[name][i]
                if not _ready(node, position):
                    queue.setdefault(name, []).append(i)
                    continue
                progressed = True
                if node:  # TF.js applies the layer only on a node with inputs
                    position[(name, first[name] + i)] = made[name]
                    made[name] += 1
        if not progressed:
            return None
    return position


def _ready(node: Any, position: dict[Call, int]) -> bool:
    """Every input of the call exists (TF.js: the inbound layer has more nodes than the referenced index)."""
    refs = node if isinstance(node, list) else []
    return all(isinstance(ref, list) and len(ref) >= 3 and (str(ref[0]), ref[1]) in position for ref in refs)
