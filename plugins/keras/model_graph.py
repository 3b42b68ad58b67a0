"""Check the layer graph a model config describes before anything is built from it.

``inbound_nodes`` are untrusted JSON: a reference to a layer that does not exist, a node or tensor
index past the end, or a cycle would make TF.js (or Keras) fail at load time, loop, or build a
different model. Every Functional model in the config (nested ones too) is checked, in any of the
three forms tfjsconv reads: Keras 2 / TF.js lists ``[[layer, node, tensor, kwargs], ...]`` and
Keras 3 ``{"args": [<__keras_tensor__>], "kwargs": {...}}`` nodes. Every problem is reported at once.

Node numbering: call ``k`` of a layer is ``inbound_nodes[k]``, except that in the list form a model
used as a layer counts its own building node first (``inbound_nodes[k - 1]``, see translate).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tfjsconv.errors import InputError

from .configs import entry_name, is_layer_entry, is_model, iter_layers, top_level_layers
from .op_calls import TF_OP_LAYERS, call_refs
from .tfjs_support import CLASS_RENAMES, TFJS_LAYER_CLASSES

_SHOWN = 10
Ref = tuple[str, int, int]


@contextmanager
def malformed_config(source: str, *, lowering: bool = False) -> Iterator[None]:
    """Untrusted JSON of the wrong type anywhere (a list where a dict belongs ...) becomes one InputError.

    ``lowering``: the error came from lowering the config to TF ops, where the same exception may also be a bug of
    the lowering on a valid file; the message says so rather than blaming the file alone."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError, ArithmeticError) as err:
        what = f"{type(err).__name__}: {str(err)[:200]}"
        if lowering:
            raise InputError(f"{source}: the model config is malformed, or the lowering failed on it ({what})",
                             hint="if Keras loads this file, this is a tfjsconv bug (please report it); "
                                  "--loader=tensorflow converts it through Keras and TensorFlow") from None
        raise InputError(f"{source}: the model config is malformed ({what})",
                         hint="the file is corrupt or was edited by hand") from None


def check_model_graph(model_config: dict[str, Any], *, source: str) -> None:
    """Raise :class:`InputError` naming every dangling reference and cycle in the model's layer graph."""
    problems: list[str] = []
    with malformed_config(source):
        for layer in iter_layers(model_config):
            entry = layer.entry
            if is_model(entry) and layer.class_name != "Sequential":
                where = f"model {layer.qualified_name!r}: " if layer.path or entry is not model_config else ""
                problems += [where + p for p in _model_problems(entry)]
    if problems:
        shown = problems[:_SHOWN] + ([f"... and {len(problems) - _SHOWN} more"] if len(problems) > _SHOWN else [])
        raise InputError(f"{source}: the model's layer graph is invalid: {'; '.join(shown)}",
                         hint="the file is corrupt or was edited by hand; save the model again with Keras")


def _model_problems(model: dict[str, Any]) -> list[str]:
    layers = top_level_layers(model)
    names = [entry_name(e) for e in layers]
    problems = [f"several layers are named {n!r}" for n in sorted({n for n in names if names.count(n) > 1})
                ] if len(set(names)) != len(names) else []
    by_name = {entry_name(e): e for e in layers}
    deps: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for entry in layers:
        name = entry_name(entry)
        nodes = entry.get("inbound_nodes")
        if nodes is None:
            continue
        if not isinstance(nodes, list):
            problems.append(f"layer {name!r} has inbound_nodes that are not a list")
            continue
        shift = 1 if is_model(entry) and nodes and isinstance(nodes[0], list) else 0
        for index, node in enumerate(nodes):
            refs = _op_call_refs(node) if entry.get("class_name") in TF_OP_LAYERS else _node_refs(node)
            if refs is None:
                problems.append(f"layer {name!r} has an unreadable inbound node {str(node)[:80]!r}")
                continue
            deps[(name, index + shift)] = [(r[0], r[1]) for r in refs]
            problems += [f"layer {name!r} {p}" for r in refs if (p := _ref_problem(r, by_name))]
    for key in ("input_layers", "output_layers"):
        refs = _layer_refs((model.get("config") or {}).get(key))
        if refs is None:
            problems.append(f"{key} is unreadable")
            continue
        if not refs and key == "output_layers" and layers:
            problems.append("output_layers is empty")
        problems += [f"{key} {p}" for r in refs if (p := _ref_problem(r, by_name, counts_building_node=True))]
    if not problems:
        problems += [f"layers {' -> '.join(cycle)} form a cycle" for cycle in _cycles(deps)[:1]]
    return problems


def _op_call_refs(node: Any) -> list[Ref] | None:
    """The tensors a tf_keras op layer's recorded call reads (its kwargs hold tensors too)."""
    try:
        return call_refs(node)
    except ValueError:
        return None


def _node_refs(node: Any) -> list[Ref] | None:
    """The ``(layer, node_index, tensor_index)`` references of one inbound node, or None if unreadable."""
    refs: list[Ref] = []
    if isinstance(node, list):  # Keras 2 / TF.js: [[name, node, tensor, kwargs?], ...]
        for item in _flat_items(node):
            ref = _ref(item)
            if ref is None:
                return None
            refs.append(ref)
        return refs
    if isinstance(node, dict):  # Keras 3: tensors anywhere in args / kwargs
        _collect(node.get("args"), refs)
        _collect(node.get("kwargs"), refs)
        return None if any(r is None for r in refs) else refs
    return None


def node_inputs(node: Any) -> list[tuple[Ref | None, tuple[int | None, ...] | None]]:
    """Each input tensor of one inbound node: its reference (None if unreadable) and, in Keras 3 nodes,
    the shape Keras recorded for it (else None)."""
    if isinstance(node, list):
        return [(_ref(item), None) for item in _flat_items(node)]
    if not isinstance(node, dict):
        return []
    tensors: list[Any] = []
    _collect(node.get("args"), tensors, whole=True)
    _collect(node.get("kwargs"), tensors, whole=True)
    found = []
    for tensor in tensors:
        config = tensor.get("config") or {}
        shape = config.get("shape")
        valid = isinstance(shape, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool))
                                                for d in shape)
        found.append((_ref(config.get("keras_history")), tuple(shape) if valid else None))
    return found


def _collect(value: Any, refs: list[Any], *, whole: bool = False) -> None:
    """Keras 3 tensors anywhere in ``value``: their ``keras_history`` refs, or (``whole``) the tensors."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            refs.append(value if whole else _ref((value.get("config") or {}).get("keras_history")))
            return
        for item in value.values():
            _collect(item, refs, whole=whole)
    elif isinstance(value, list):
        for item in value:
            _collect(item, refs, whole=whole)


def _flat_items(node: list[Any]) -> list[Any]:
    """A list-form node's items in order, with tf_keras's nested groups (a stacked RNN's ``initial_state=[[h, c],
    g]``, a nested model's ``[{"a": x, "b": y}, x]``: a dict's values by its sorted keys) flattened; iterative, as
    the nesting is untrusted."""
    items, stack = [], list(reversed(node))
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and item:
            stack += [item[key] for key in sorted(item, key=str, reverse=True)]
        elif isinstance(item, list) and item and isinstance(item[0], (list, dict)):
            stack += reversed(item)
        else:
            items.append(item)
    return items


def _ref(item: Any) -> Ref | None:
    if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in item[1:3]):
        return None
    return item[0], item[1], item[2]


def _layer_refs(value: Any) -> list[Ref] | None:
    """``input_layers`` / ``output_layers``: one ref, a list of refs, or lists / dicts of them (Keras 3)."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return None
    if value and isinstance(value[0], str):
        ref = _ref(value)
        return None if ref is None else [ref]
    refs: list[Ref] = []
    for item in value:
        inner = _layer_refs(item) if isinstance(item, (list, dict)) else None
        if inner is None:
            return None
        refs += inner
    return refs


def _ref_problem(ref: Ref, by_name: dict[str, dict[str, Any]], *, counts_building_node: bool = False) -> str | None:
    name, node_index, tensor_index = ref
    target = by_name.get(name)
    if target is None:
        return f"refers to layer {name!r}, which the model does not have"
    nodes = target.get("inbound_nodes") or []
    count = max(1, len(nodes) if isinstance(nodes, list) else 0)
    if is_model(target):
        count = len(nodes) + 1 if isinstance(nodes, list) else 1  # the building node (list form, output_layers)
    if not 0 <= node_index < count:
        return f"refers to node {node_index} of layer {name!r}, which has {count}"
    outputs = _output_count(target)
    if tensor_index < 0 or (outputs is not None and tensor_index >= outputs):
        return f"refers to output {tensor_index} of layer {name!r}, which has {outputs}"
    return None


def _output_count(entry: dict[str, Any]) -> int | None:
    """How many tensors a layer's call returns, when the config alone says so."""
    config = entry.get("config") or {}
    if is_model(entry):
        refs = _layer_refs(config.get("output_layers"))
        return len(refs) if refs else None
    wrapped = [config] + [(config.get(k) or {}).get("config") or {} for k in ("layer", "backward_layer")
                          if isinstance(config.get(k), dict)]
    if any(c.get("return_state") for c in wrapped if isinstance(c, dict)) or not is_layer_entry(entry):
        return None  # RNNs (also inside Bidirectional) that return their states have several outputs
    if entry["class_name"] == "Bidirectional" and "merge_mode" in config and config["merge_mode"] is None:
        return 2  # the forward and the backward outputs, unmerged
    cls = CLASS_RENAMES.get(entry["class_name"], entry["class_name"])
    return 1 if cls in TFJS_LAYER_CLASSES else None


def _cycles(deps: dict[tuple[str, int], list[tuple[str, int]]]) -> list[list[str]]:
    """One cycle of layer calls (as layer names), if any; iterative, so long chains cannot overflow the stack."""
    state: dict[tuple[str, int], int] = {}  # 1: on the current path, 2: done
    for start in deps:
        if state.get(start):
            continue
        path = [start]
        stack = [iter(deps.get(start, ()))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):] + [nxt]
                return [[n for n, _ in loop]]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(deps.get(nxt, ())))
    return []
