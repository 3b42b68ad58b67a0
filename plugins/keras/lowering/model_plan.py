"""The layer calls of one model config, in the order they can run: what the walk lowers, and gaps read.

A Functional config lists each layer once with its calls (``inbound_nodes``); other calls refer to a
call's outputs as ``(layer, node, tensor)``. The plan orders the calls (Kahn's algorithm: no recursion,
so a chain of thousands of layers is fine; a cycle or a reference to nothing is an :class:`InputError`)
and keeps only the calls the outputs need: Keras 3 records the ops that compute masks (``NotEqual``,
``Any``) as layers whose outputs only reach ``mask`` keyword arguments; the walk tracks masks itself
(:mod:`.masking`), so those calls are left out.

Node numbering: in Keras 2's list form a model used as a layer counts its building node first, so its
``inbound_nodes[k]`` is node ``k + 1``; Keras 3's dict form numbers calls from 0, except in
``output_layers``, where a nested Functional counts its building node too.
"""
from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable
from typing import Any

from tfjsconv.errors import InputError

from ..configs import LAYER_LISTS, dtype_name, entry_name, is_model, top_level_layers
from ..op_calls import CALLS_KEY
from .masking import returns_its_input
from .registry import Unsupported

Ref = tuple[str, int, int]
#: How deep models may nest inside one another (Keras applications nest one or two levels).
MAX_NESTING = 32
#: The keyword argument under which Keras 3 records a call's mask (tracked by the walk, not read).
MASK_KEYWORD = "mask"


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of one layer: ``key`` is the node index other calls use to read its outputs."""

    entry: dict[str, Any]
    key: int
    node: Any  # the inbound node as saved (None in a Sequential model)

    @property
    def name(self) -> str:
        return entry_name(self.entry)

    @property
    def class_name(self) -> str:
        return str(self.entry["class_name"])

    @property
    def recorded_masks(self) -> list[Ref]:
        """The mask tensors Keras 3 passed this call (``kwargs.mask``), or tf_keras an explicit ``mask=``."""
        if isinstance(self.node, list):  # Keras 2 records only a mask given in the call, as [layer, node, tensor]
            kwargs = self.node[0][3] if self.node and len(self.node[0]) > 3 and isinstance(self.node[0][3], dict) \
                else {}
            stack, refs = [kwargs.get(MASK_KEYWORD)], []
            while stack:
                item = stack.pop()
                if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str):
                    refs.append((item[0], int(item[1]), int(item[2])))
                elif isinstance(item, list):
                    stack += reversed(item)
            return refs
        if not isinstance(self.node, dict):
            return []
        found: list[Ref] = []
        tensor_refs((self.node.get("kwargs") or {}).get(MASK_KEYWORD), found)
        return found


@dataclasses.dataclass
class ModelPlan:
    """A model's inputs (InputLayer names and configs), its calls in run order, and its outputs."""

    sequential: bool
    inputs: list[tuple[Ref, dict[str, Any]]]
    calls: list[LayerCall]
    outputs: list[Ref]
    #: Every call by ``(layer, node)``, the ones the outputs do not need too (Keras 3's mask ops).
    producers: dict[tuple[str, int], LayerCall] = dataclasses.field(default_factory=dict)
    #: The outputs in Keras 3's ``tree.flatten`` order (a dict's keys sorted), where Keras starts its graph walk.
    flat_outputs: list[Ref] | None = None

    @property
    def caller_outputs(self) -> list[Ref]:
        """The outputs in the order a caller's ``[model, node, tensor]`` counts them: ``model.outputs``, flattened
        with a dict's keys sorted (tf_keras's ``tf.nest.flatten``, Keras 3's ``tree.flatten``); a nested model's dict
        outputs in saved order were swapped until session 27."""
        return self.flat_outputs if self.flat_outputs is not None else self.outputs

    def in_caller_order(self, values: list[Any]) -> list[Any]:
        """``values``, one per :attr:`outputs`, in :attr:`caller_outputs` order."""
        return [values[self.outputs.index(ref)] for ref in self.caller_outputs]

    def output_names(self) -> list[str]:
        """Keras's output names, one per :attr:`outputs`: the output layers' names made unique in Keras's order
        (:attr:`caller_outputs`, ``model.outputs``) as tf_keras does (``x_1``); made unique in saved order, a nested
        model's dict outputs were each named as the other until session 27."""
        flat = unique_names([layer for layer, _, _ in self.caller_outputs])
        unused = list(range(len(flat)))
        names = []
        for ref in self.outputs:  # one ref twice is one tensor twice: either name fits it
            index = next(i for i in unused if self.caller_outputs[i] == ref)
            unused.remove(index)
            names.append(flat[index])
        return names


def unique_names(layers: list[str]) -> list[str]:
    """Repeats made unique as tf_keras's ``_set_output_names`` does (``b``, ``b_1``, ``b_2``)."""
    names: list[str] = []
    counts: dict[str, int] = {}
    for layer in layers:
        proposal = layer
        while proposal in names:
            count = counts.get(layer, 1)
            proposal, counts[layer] = f"{layer}_{count}", count + 1
        names.append(proposal)
    return names


def is_functional(model: dict[str, Any]) -> bool:
    layers = top_level_layers(model)
    return model.get("class_name") != "Sequential" and any("inbound_nodes" in e for e in layers)


def model_plan(model: dict[str, Any], *, source: str) -> ModelPlan:
    """The plan of a Functional or Sequential config (nested models stay single calls)."""
    layers = top_level_layers(model)
    if not is_functional(model):
        first = layers[0] if layers else None
        calls = [LayerCall(e, 0, None) for e in layers if e is not first or e["class_name"] != "InputLayer"]
        inputs = [((entry_name(first), 0, 0), first.get("config") or {})] if first is not None and \
            first["class_name"] == "InputLayer" else []
        return ModelPlan(True, inputs, calls, [(entry_name(calls[-1].entry), 0, 0)] if calls else [])
    config = model.get("config") or {}
    by_name = {entry_name(e): e for e in layers}
    inputs = []
    for ref in layer_refs(config.get("input_layers")):
        entry = by_name.get(ref[0])
        if entry is None:
            raise InputError(f"{source}: input_layers refers to layer {ref[0]!r}, which the model does not have")
        inputs.append((ref, entry.get("config") or {}))
    producers: dict[tuple[str, int], LayerCall] = {}
    for entry in layers:
        if entry["class_name"] == "InputLayer":
            continue
        nodes = entry.get("inbound_nodes") or []
        for index, node in enumerate(nodes):
            node = in_input_order(entry, node, source)  # a tf_keras dict call becomes a list (numbered so, below)
            shift = 1 if is_model(entry) and isinstance(node, list) else 0
            call = LayerCall(entry, index + shift, node)
            producers[(call.name, call.key)] = call
    outputs = [_output_ref(ref, by_name) for ref in layer_refs(config.get("output_layers"))]
    flat_outputs = [_output_ref(ref, by_name) for ref in layer_refs(config.get("output_layers"), sort_keys=True)]
    return ModelPlan(False, inputs, _ordered(producers, {(r[0], r[1]) for r, _ in inputs}, outputs, source), outputs,
                     producers, flat_outputs)


def in_input_order(entry: dict[str, Any], node: Any, source: str) -> Any:
    """A Keras 3 call of a nested Functional on a dict, the dict given as a list in the order of the model's inputs
    (``plan.inputs``), paired as ``Functional._standardize_inputs`` pairs it: a model built on a list of Inputs takes
    the value under each Input's name (other keys unread), one built on a dict the value under each of its keys (both
    flattened with their keys sorted). Keras flattens the ``mask`` dict with its keys sorted and pairs it with the
    inputs by position: kept so. tf_keras calls: :func:`keras2_in_input_order`. Every other node as saved (the walk
    pairs a list by position)."""
    if is_model(entry) and entry.get("class_name") != "Sequential" and (
            isinstance(node, list) or _keras2_dict_node(node)):
        return keras2_in_input_order(entry, node, source)
    args = node.get("args") if isinstance(node, dict) else None
    if not is_model(entry) or entry.get("class_name") == "Sequential" or not isinstance(args, list) or not args:
        return node
    if not isinstance(args[0], dict) or args[0].get("class_name") == "__keras_tensor__":
        return _keras3_masks_in_input_order(entry, _keras3_list_in_input_order(entry, node))
    given, struct = args[0], (entry.get("config") or {}).get("input_layers")
    keys = list(struct) if isinstance(struct, dict) else [ref[0] for ref in layer_refs(struct)]
    missing = [key for key in keys if key not in given]
    if missing:
        raise InputError(f"{source}: model {entry_name(entry)!r} is called with a dict of keys {sorted(given)}, "
                         f"which do not match its inputs {keys}", hint="the file is corrupt or was edited by hand")
    if isinstance(struct, dict):
        _keys_read_by_position(entry_name(entry), sorted(given), sorted(keys))
    kwargs = dict(node.get("kwargs") or {})
    mask = kwargs.get(MASK_KEYWORD)
    ordered = {**node, "args": [[given[key] for key in keys], *args[1:]], "kwargs": kwargs}
    if isinstance(mask, dict) and mask.get("class_name") != "__keras_tensor__":
        # Keras's flat inputs (a dict model's sorted) meet the mask's sorted values
        flat = sorted(keys) if isinstance(struct, dict) else keys
        paired = dict(zip(flat, sorted(mask)))
        kwargs[MASK_KEYWORD] = [mask[paired[key]] if key in paired else None for key in keys]
        return ordered
    return _keras3_masks_in_input_order(entry, ordered)


def _keras3_list_in_input_order(entry: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 nested call on a list (dicts inside it too, ``[{"a": x, "b": y}, w]``), as the flat list of its
    tensors in the order of the model's saved inputs: ``Functional.call`` pairs ``tree.flatten`` of the list (a
    dict's keys sorted) with the inputs in ``tree.flatten`` order; the walk pairs the args with the saved inputs by
    position, a dict's values in saved order. Left as saved when a value is no tensor or the count differs (the walk
    names the model)."""
    struct = (entry.get("config") or {}).get("input_layers")
    flat, saved = layer_refs(struct, sort_keys=True), layer_refs(struct)
    args = node["args"]
    given = _nest_flatten(args[0], leaf=_is_keras3_tensor) if isinstance(args[0], list) else None
    if given is None or len(given) != len(flat):
        return node
    by_ref = dict(zip(flat, given))
    return {**node, "args": [[by_ref[ref] for ref in saved], *args[1:]]}


def _keras3_masks_in_input_order(entry: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 nested call's ``mask`` list or single tensor in the order of the model's saved inputs.
    ``Functional.call`` zips ``tree.flatten(mask)`` (a dict's keys sorted) with the inputs in ``tree.flatten``
    order, so ``inner({"b": y, "a": x}, mask=[m, None])`` on a model built on ``{"b": .., "a": ..}`` masks ``a``,
    and a single ``m`` masks the first input in that order; the walk pairs a list with the saved inputs by
    position. A mask dict is paired by the caller; on a model whose inputs are in that order already, a single
    tensor or a flat list is left as it is. A list longer than the inputs loses its last entries: ``zip`` stops at
    the inputs, so Keras reads none of them (``inner(x, mask=[m1, m2])`` masks ``x`` by ``m1``; refused until session
    30)."""
    struct = (entry.get("config") or {}).get("input_layers")
    flat, saved = layer_refs(struct, sort_keys=True), layer_refs(struct)
    kwargs = node.get("kwargs")
    mask = kwargs.get(MASK_KEYWORD) if isinstance(kwargs, dict) else None
    if mask is None or isinstance(mask, dict) and not _is_keras3_tensor(mask):
        return node
    masks = _nest_flatten(mask, leaf=lambda v: v is None or _is_keras3_tensor(v))
    if masks is None or not flat:
        return node
    masks = masks[:len(flat)]
    if flat == saved and (not isinstance(mask, list) or masks == mask):
        return node
    by_ref = dict(zip(flat, masks))
    return {**node, "kwargs": {**kwargs, MASK_KEYWORD: [by_ref.get(ref) for ref in saved]}}


def _is_keras3_tensor(value: Any) -> bool:
    """A Keras 3 config's tensor, ``{"class_name": "__keras_tensor__", ...}``."""
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _keys_read_by_position(name: str, given: list[str], keys: list[str]) -> None:
    """A Keras 3 model built on a dict, called with a dict holding a key more (``given``, sorted): Keras warns that
    the structures differ and pairs the dict's values, sorted by key, with the inputs (``keys``, sorted) by position
    (``tree.flatten``; 3.15). A key sorting after every input's is so not read, as by key; one sorting before some
    shifts the inputs (``{"_w": w, "a": x, "b": y}`` gives ``a = w, b = x``): a gap naming it, as that reading
    is Keras's position rule, not its keys'."""
    if given[:len(keys)] == keys:
        return
    extra = next(key for key in given if key not in keys)
    raise Unsupported(f"nested model {name!r} called with a dict whose key {extra!r} names no input and sorts before "
                      f"the input keys {keys}: Keras 3 pairs the dict's values by sorted position, not by key, so the "
                      f"inputs read the values of {given[:len(keys)]}")


def _keras2_dict_node(node: Any) -> bool:
    """A tf_keras call on a dict: its inbound node is that dict, each value a ``[layer, node, tensor, kwargs]`` item
    (a Keras 3 node is ``{"args": [...], "kwargs": {...}}``)."""
    return isinstance(node, dict) and bool(node) and not isinstance(node.get("kwargs"), dict) and all(
        isinstance(v, list) for v in node.values())


def keras2_in_input_order(entry: dict[str, Any], node: Any, source: str) -> Any:
    """A tf_keras call of a nested Functional, as the list of its items in the order of the model's inputs
    (``plan.inputs``, ``input_layers`` as saved), paired as tf_keras pairs them: ``_flatten_to_reference_inputs``
    takes a dict's value under each of the model's sorted dict keys, or each Input's name for a model built on a
    list (other keys unread; a name missing makes ``model(x)``'s input check raise, so it is refused here), a dict
    in the sorted order of its keys by position for a model built on a nested structure, and a list (dicts inside
    it too, ``[{"a": x, "b": y}, x]``) flattened by position; ``model.inputs`` are ``tf.nest.flatten`` of the
    structure (a dict's keys sorted). A given ``mask`` is paired by the same function (:func:`_keras2_masks`)."""
    struct = (entry.get("config") or {}).get("input_layers")
    flat, saved = layer_refs(struct, sort_keys=True), layer_refs(struct)
    name = entry_name(entry)
    plain = isinstance(struct, dict) and all(_is_ref(v) for v in struct.values()) or \
        isinstance(struct, list) and (_is_ref(struct) or all(_is_ref(v) for v in struct))
    names = sorted(struct, key=str) if isinstance(struct, dict) else [ref[0] for ref in saved]  # (when plain)
    if isinstance(node, list):
        items = _nest_flatten(node)
        if items is None or len(items) != len(flat):
            return node  # (a count that differs or an unreadable item: the walk names the model)
        kwargs = _keras2_kwargs(items)
        if flat == saved and items == node and _flat_mask(kwargs.get(MASK_KEYWORD), len(flat)):
            return node  # in order already
        given = items
    else:
        values = list(node.values())
        if not all(_is_item(v) for v in values):
            raise Unsupported(f"nested model {name!r} called with a dict of nested values")
        kwargs = _keras2_kwargs(values)
        if plain:
            missing = [key for key in names if key not in node]
            if missing:
                raise InputError(f"{source}: model {name!r} is called with a dict of keys {sorted(node)}, which do "
                                 f"not match its inputs {names}: tf_keras's model(x) raises (Missing data for input "
                                 f"{missing[0]!r})",
                                 hint="call the nested model with a dict keyed by its inputs' names")
            given = [node[key] for key in names]
        else:  # a nested structure: tf_keras flattens the dict and pairs by position
            given = [node[key] for key in sorted(node)]
            if len(given) != len(flat):
                raise Unsupported(f"nested model {name!r} of {len(flat)} inputs called with a dict of {len(given)}")
    by_ref = dict(zip(flat, given))
    ordered = [by_ref[ref] for ref in saved]
    if kwargs.get(MASK_KEYWORD) is None:  # (an explicit mask=None: kept so, a gap where an input is masked)
        return ordered
    masks = _keras2_masks(name, kwargs[MASK_KEYWORD], names if plain else None, flat)
    mask_by_ref = dict(zip(flat, masks))
    with_masks = {**kwargs, MASK_KEYWORD: [mask_by_ref[ref] for ref in saved]}
    return [[*item[:3], with_masks] for item in ordered]


def _flat_mask(mask: Any, count: int) -> bool:
    """A tf_keras ``mask=`` the walk pairs as saved: None, one tensor, or a flat list of at most ``count`` entries
    (``[[None, m]]`` is flattened by :func:`_keras2_masks`, a dict paired by it, a longer list trimmed by it)."""
    return mask is None or _is_ref(mask) or isinstance(mask, list) and len(mask) <= count and all(
        v is None or _is_ref(v) for v in mask)


def _keras2_kwargs(items: list[list[Any]]) -> dict[str, Any]:
    """The keyword arguments of a tf_keras call, which every inbound item repeats (``{}`` when none has them)."""
    return next((v[3] for v in items if len(v) > 3 and isinstance(v[3], dict)), {})


def _keras2_masks(name: str, mask: Any, names: list[str] | None, flat: list[Ref]) -> list[Any]:
    """The ``mask=`` of a tf_keras nested model call, one entry (``[layer, node, tensor]`` or None) per input in
    ``model.inputs`` order (``flat``): ``_run_internal_graph`` pairs it by ``_flatten_to_reference_inputs``, as the
    inputs (a dict by the model's sorted keys or Input ``names`` when it holds every one, else by its sorted keys'
    position; a list flattened). One entry per input, or a gap (tf_keras would leave an input the caller's mask);
    entries past the inputs are dropped, as ``zip(inputs, masks)`` never reads them (``inner(x, mask=[m1, m2])``
    masks ``x`` by ``m1``)."""
    if mask is None:
        return [None] * len(flat)
    if isinstance(mask, dict) and names is not None and all(key in mask for key in names):
        values: list[Any] | None = [mask[key] for key in names]
    else:
        values = _nest_flatten(mask, leaf=lambda v: v is None or _is_ref(v))
        values = values if values is None else values[:len(flat)]
    if values is None or len(values) != len(flat) or not all(v is None or _is_ref(v) for v in values):
        raise Unsupported(f"nested model {name!r} of {len(flat)} inputs given a mask of another structure")
    return [None if v is None else list(v) for v in values]


def _nest_flatten(value: Any, leaf: Callable[[Any], bool] = lambda v: _is_item(v)) -> list[Any] | None:
    """``tf.nest.flatten`` of a saved structure (lists in order, a dict's values by its sorted keys) down to the
    values ``leaf`` accepts; None when another value is met. Iterative: the nesting is untrusted."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if leaf(item):
            found.append(item)
        elif isinstance(item, dict):
            stack += [item[key] for key in sorted(item, key=str, reverse=True)]
        elif isinstance(item, list):
            stack += reversed(item)
        else:
            return None
    return found


def _is_ref(value: Any) -> bool:
    """``[layer, node, tensor]`` as ``input_layers`` saves it."""
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _is_item(value: Any) -> bool:
    """One tf_keras inbound item ``[layer, node, tensor(, kwargs)]``."""
    return isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and \
        all(isinstance(i, int) for i in value[1:3])


def _output_ref(ref: Ref, by_name: dict[str, dict[str, Any]]) -> Ref:
    """An ``output_layers`` ref in the numbering of inbound refs: Keras 3 counts a nested Functional's
    building node there (and only there), like Keras 2 does everywhere (see the module docstring)."""
    entry = by_name.get(ref[0])
    nodes = (entry or {}).get("inbound_nodes") or []
    if entry is not None and is_model(entry) and entry.get("class_name") != "Sequential" and nodes and \
            isinstance(nodes[0], dict) and not _keras2_dict_node(nodes[0]):  # (tf_keras's counts it everywhere)
        return ref[0], ref[1] - 1, ref[2]
    return ref


def _ordered(producers: dict[tuple[str, int], LayerCall], given: set[tuple[str, int]], outputs: list[Ref],
             source: str) -> list[LayerCall]:
    """The calls the outputs need, each after the calls it reads (Kahn's algorithm, no recursion)."""
    deps: dict[tuple[str, int], list[tuple[str, int]]] = {}
    needed: list[tuple[str, int]] = []
    todo = [(r[0], r[1]) for r in outputs]
    while todo:
        key = todo.pop()
        if key in deps or key in given:
            continue
        call = producers.get(key)
        if call is None:
            raise InputError(f"{source}: the model reads node {key[1]} of layer {key[0]!r}, which no layer call "
                             "produces", hint="the file is corrupt or was edited by hand")
        deps[key] = [(r[0], r[1]) for r in call_inputs(call.node)]
        needed.append(key)
        todo += deps[key]
    outputs_need = set(needed)
    _add_mask_chains(producers, given, deps, needed)
    waiting = {key: sum(d not in given for d in deps[key]) for key in needed}
    readers: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for key in needed:
        for dep in deps[key]:
            if dep not in given:
                readers.setdefault(dep, []).append(key)
    position = {key: i for i, key in enumerate(producers)}  # ties run in config order
    ready = [(position[key], key) for key in needed if waiting[key] == 0]
    heapq.heapify(ready)
    order: list[LayerCall] = []
    while ready:
        key = heapq.heappop(ready)[1]
        order.append(producers[key])
        for reader in readers.get(key, ()):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, (position[reader], reader))
    if len(order) != len(needed):
        loop = _one_cycle({k for k in needed if waiting[k] > 0}, deps)
        raise InputError(f"{source}: the model's layer calls form a cycle ({' -> '.join(repr(k[0]) for k in loop)})",
                         hint="the file is corrupt or was edited by hand; save the model again with Keras")
    return [call for call in order if (call.name, call.key) in outputs_need]


def _add_mask_chains(producers: dict[tuple[str, int], LayerCall], given: set[tuple[str, int]],
                     deps: dict[tuple[str, int], list[tuple[str, int]]], needed: list[tuple[str, int]]) -> None:
    """Order each call after the calls that compute the masks it was given (``LSTM(x, mask=ops.not_equal(ids, 0))``,
    and Keras 3's recorded mask ops): those calls are not in the plan (the walk lowers one only where a call reads
    its mask, :meth:`.model_walk.ModelLowering._given_values`), but the calls they read run first."""
    todo = list(needed)
    while todo:
        key = todo.pop()
        call = producers[key]
        extra = [(r[0], r[1]) for r in call.recorded_masks if (r[0], r[1]) in producers and (r[0], r[1]) not in given]
        if key not in deps:
            deps[key] = [(r[0], r[1]) for r in call_inputs(call.node)
                         if (r[0], r[1]) in producers or (r[0], r[1]) in given]
            needed.append(key)
            todo += [d for d in deps[key] if d not in given]
        deps[key] = list(dict.fromkeys(deps[key] + extra))
        todo += [d for d in extra if d not in deps]


def _one_cycle(stuck: set[tuple[str, int]], deps: dict[tuple[str, int], list[tuple[str, int]]]) -> list:
    """A cycle among the calls Kahn's algorithm could not order (each reads another of them)."""
    key = min(stuck)
    seen: dict[tuple[str, int], int] = {}
    path: list[tuple[str, int]] = []
    while key not in seen:
        seen[key] = len(path)
        path.append(key)
        key = next(d for d in deps[key] if d in stuck)
    return [*path[seen[key]:], key]


def call_inputs(node: Any) -> list[Ref]:
    """Every tensor a call reads (positional and keyword), except the ``mask`` Keras 3 records."""
    if isinstance(node, list):  # Keras 2: keyword tensors (tf_keras's ``value=``) are [layer, node, tensor] too
        kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        keyword = [(v[0], int(v[1]), int(v[2])) for k, v in kwargs.items() if k != MASK_KEYWORD and
                   isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and
                   all(isinstance(i, int) for i in v[1:])]
        return [(item[0], int(item[1]), int(item[2])) for item in keras2_items(node)] + keyword
    if not isinstance(node, dict):
        return []
    refs: list[Ref] = []
    tensor_refs(node.get("args"), refs)
    tensor_refs({k: v for k, v in (node.get("kwargs") or {}).items() if k != MASK_KEYWORD}, refs)
    return refs


def keras2_items(node: list[Any]) -> list[list[Any]]:
    """A Keras 2 inbound node's ``[layer, node, tensor, kwargs]`` items, flat and in order: tf_keras nests the
    items of a structured input (a stacked RNN's ``initial_state=[[h, c], h]``). Iterative: nesting is untrusted."""
    items: list[list[Any]] = []
    stack = list(reversed(node))
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], list):
            stack += reversed(item)
        elif isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            items.append(item)
        else:
            raise InputError(f"an inbound node item {str(item)[:60]!r} is no [layer, node, tensor] reference",
                             hint="the file is corrupt or was edited by hand; save the model again with Keras")
    return items


def layer_refs(value: Any, sort_keys: bool = False) -> list[Ref]:
    """``input_layers`` / ``output_layers``: one ``[name, node, tensor]``, or lists / dicts of them (a dict's
    values in its saved order, or, ``sort_keys``, in Keras 3's ``tree.flatten`` order)."""
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value, key=str)] if sort_keys else list(value.values())
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], str):
        return [(value[0], int(value[1]), int(value[2]))]
    return [ref for item in value for ref in layer_refs(item, sort_keys)]


def tensor_refs(value: Any, refs: list[Ref]) -> None:
    """The ``keras_history`` of every Keras 3 tensor in ``value`` (iterative: nesting depth is untrusted)."""
    stack = [value]
    found: list[Ref] = []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                history = (item.get("config") or {}).get("keras_history")
                found.append((history[0], int(history[1]), int(history[2])))
            else:
                stack += reversed(list(item.values()))
        elif isinstance(item, list):
            stack += reversed(item)
    refs += found


def shared_paths(model_config: dict[str, Any],
                 holds: Callable[[tuple[str, ...]], bool] | None = None) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Paths of a layer object that a Keras 3 config lists again (``shared_object_id``), mapped to its first path.

    A model used both at the top and inside a nested model is listed twice; its weights are saved once, where
    Keras's saving walk (the layers in order, depth first) meets it first. Keras does not put the id on a first
    listing inside a nested model or Pipeline (that config is copied before the id is added), so an entry with an
    unseen id may be a later listing of an earlier one of the same name and class that has no id, or the first
    listing itself beside an unrelated layer of that name (custom names repeat across nested models). ``holds``
    (whether the weights file keeps weights under a path) tells them apart; a name still matching several
    unmarked layers is a gap (:class:`.registry.Unsupported`), never a guess.
    """
    first: dict[Any, tuple[str, ...]] = {}
    unmarked: dict[tuple[str, Any], list[tuple[str, ...]]] = {}  # earlier listings without an id, by name and class
    aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
    # each entry, then the layers inside it (a model's, a Pipeline's), then the entry after it: Keras's order
    stack: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        (entry, (entry_name(entry),)) for entry in reversed(top_level_layers(model_config))]
    while stack:
        entry, here = stack.pop()
        shared = entry.get("shared_object_id")
        named = (entry_name(entry), entry.get("class_name"))
        if shared is not None and shared in first:
            aliases[here] = first[shared]
            continue  # its layers are found under the first path
        candidates = unmarked.get(named, [])
        if shared is not None and candidates and not (holds is not None and holds(here)):
            if holds is not None:  # the unmarked listing the object's weights were saved under
                candidates = [c for c in candidates if holds(c)] or candidates
            if len(candidates) > 1:
                raise Unsupported(f"{'/'.join(here)!r} ({named[1]}: a layer used in several places, whose weights "
                                  f"Keras saved under one of {len(candidates)} layers named {named[0]!r})")
            first[shared] = aliases[here] = candidates[0]
            unmarked[named].remove(candidates[0])
            continue
        if shared is not None:
            first[shared] = here
        else:
            unmarked.setdefault(named, []).append(here)
        if is_model(entry) or entry.get("class_name") in LAYER_LISTS:  # a Pipeline's layers are walked too
            stack += [(child, (*here, entry_name(child))) for child in reversed(top_level_layers(entry))]
    return aliases


#: Layer classes that never hold weights: a shift of their keys moves nothing (a shared Dropout is harmless).
_WEIGHTLESS = frozenset({
    "InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
    "ThresholdedReLU", "Flatten", "Reshape", "Permute", "RepeatVector", "Masking", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "Concatenate", "Dot", "TFOpLambda", "SlicingOpLambda",
    *(f"{kind}{d}D" for kind in ("Cropping", "ZeroPadding", "UpSampling", "MaxPooling", "AveragePooling",
                                  "GlobalMaxPooling", "GlobalAveragePooling") for d in (1, 2, 3))})


def renumbered_by_shared(model_config: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Later listings of a layer object in a tf_keras ``.keras`` archive that shift its weight keys: ``(later, first)``
    paths.

    tf_keras's saving walk skips an object it saved already *before* counting its class (``dense``, ``dense_1``...),
    Keras 3's after; so in a tf_keras archive every later layer of that class in the same model is saved under the key
    the config order gives the one before it (``B/shared_d`` itself has no group, ``B/b_head`` sits under ``dense``).
    tf_keras's own loader does not undo this (it fails on the shapes, or reads the wrong weights), and a later
    listing that no layer of its class follows shifts nothing. A later listing is one whose ``shared_object_id`` was
    seen before in the walk, or whose name and class an earlier listing without an id has (Keras leaves the id off
    a first listing inside a nested model, see :func:`shared_paths`)."""
    first: dict[Any, tuple[str, ...]] = {}
    unmarked: dict[tuple[str, Any], tuple[str, ...]] = {}
    later: dict[tuple[str, ...], tuple[str, ...]] = {}
    containers: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = [((), top_level_layers(model_config))]
    # each entry, then the layers inside it, then the entry after it: Keras's saving order (as in shared_paths)
    stack = [(entry, (entry_name(entry),)) for entry in reversed(top_level_layers(model_config))]
    while stack:
        entry, here = stack.pop()
        shared = entry.get("shared_object_id")
        earlier = None if shared is None else first.get(shared) or unmarked.get((entry_name(entry),
                                                                                 entry.get("class_name")))
        if earlier is not None:
            later[here] = earlier
            continue  # saved once, under its first listing: its layers are not walked again
        if shared is not None:
            first[shared] = here
        else:
            unmarked.setdefault((entry_name(entry), entry.get("class_name")), here)
        wrapped, inside = (entry.get("config") or {}).get("layer"), here
        for _ in range(MAX_NESTING):  # a wrapper saves the layer it wraps there and then (``td/layer``)
            if not isinstance(wrapped, dict) or is_model(wrapped):
                break
            inside = (*inside, entry_name(wrapped))
            if wrapped.get("shared_object_id") is not None:
                first.setdefault(wrapped["shared_object_id"], inside)
            unmarked.setdefault((entry_name(wrapped), wrapped.get("class_name")), inside)
            wrapped = (wrapped.get("config") or {}).get("layer")
        if is_model(entry) or entry.get("class_name") in LAYER_LISTS:
            containers.append((here, top_level_layers(entry)))
            stack += [(child, (*here, entry_name(child))) for child in reversed(top_level_layers(entry))]
    found = []
    for here, layers in containers:
        for index, entry in enumerate(layers):
            path = (*here, entry_name(entry))
            if path in later and entry.get("class_name") not in _WEIGHTLESS and \
                    any(e.get("class_name") == entry.get("class_name") for e in layers[index + 1:]):
                found.append((path, later[path]))
    return found


def refuse_renumbered(model_config: dict[str, Any], source: str) -> None:
    """A tf_keras ``.keras`` archive whose weight keys a layer shared by several models shifted
    (:func:`renumbered_by_shared`): an InputError saying so, never weights read from another layer."""
    try:
        shifted = renumbered_by_shared(model_config)
    except (TypeError, AttributeError) as err:  # an unhashable shared_object_id, an entry that is no dict...
        raise InputError(f"{source}: the model config is malformed ({type(err).__name__}: {err})",
                         hint="the file is corrupt or was edited by hand") from None
    if shifted:
        later, earlier = ("/".join(p) for p in shifted[0])
        model = "/".join(shifted[0][0][:-1]) or "the model"
        more = f" (and {len(shifted) - 1} more such layers)" if len(shifted) > 1 else ""
        raise InputError(f"{source}: layer {later!r}{more} is the layer {earlier!r} used again; tf_keras saved its "
                         f"weights once and numbered the layers of its class after it in {model!r} as if it were not "
                         "there, so their weights are filed under the keys of the layers before them (tf_keras "
                         "cannot load this archive back either)",
                         hint="save the model with tf_keras as .h5 (model.save('model.h5')), or with Keras 3, and "
                              "convert that file")


def canonical_path(path: tuple[str, ...], aliases: dict[tuple[str, ...], tuple[str, ...]]) -> tuple[str, ...]:
    """``path`` with its longest listed-again prefix replaced by the first path of that object."""
    for _ in range(len(path) + len(aliases) + 1):  # each step moves to an earlier listing: bounded
        prefix = next((path[:i] for i in range(len(path), 0, -1) if path[:i] in aliases), None)
        if prefix is None:
            return path
        path = (*aliases[prefix], *path[len(prefix):])
    return path


def mask_chain(plan: ModelPlan, ref: Ref, planned: set[tuple[str, int]]) -> list[LayerCall]:
    """The calls outside the plan (not in ``planned``) that compute the mask tensor ``ref``, transitively."""
    found: dict[tuple[str, int], LayerCall] = {}
    todo = [(ref[0], ref[1])]
    while todo:
        key = todo.pop()
        if key in found or key in planned or key not in plan.producers:
            continue
        found[key] = plan.producers[key]
        todo += [(r[0], r[1]) for r in call_inputs(found[key].node)]
    return list(found.values())


def attended_inputs(node: Any) -> list[Ref]:
    """The query, value and key tensors of a Keras 3 MultiHeadAttention call (positional or keyword), whose masks
    its ``call`` deletes; not ``attention_mask``."""
    if not isinstance(node, dict):
        return []
    refs: list[Ref] = []
    for arg in (node.get("args") or [])[:3]:
        tensor_refs(arg, refs)
    kwargs = node.get("kwargs") or {}
    for key in ("query", "value", "key"):
        tensor_refs(kwargs.get(key), refs)
    return list(dict.fromkeys(refs))


def deleted_in_place(call: LayerCall) -> list[Ref]:
    """The tensors a Keras 3 MultiHeadAttention call deletes the mask of on the tensor itself: ``Layer.__call__``
    first casts a float input of another dtype than the layer computes in (a float32 tensor into a mixed_float16
    attention) to a new tensor, the mask copied onto it, and the call deletes that copy's mask only. A dtype the
    config does not tell counts as deleted (as before)."""
    compute = dtype_name((call.entry.get("config") or {}).get("dtype")) or "float32"
    compute = compute.removeprefix("mixed_")
    node = call.node if isinstance(call.node, dict) else {}
    value = [(node.get("args") or [])[:3], [(node.get("kwargs") or {}).get(k) for k in ("query", "value", "key")]]
    refs: list[Ref] = []
    tensor_refs(value, refs)
    dtypes = [config.get("dtype") for config in _tensor_configs(value)]
    if compute not in _FLOAT_NAMES or len(dtypes) != len(refs):
        return attended_inputs(call.node)
    cast = {ref for ref, dtype in zip(refs, dtypes) if dtype in _FLOAT_NAMES and dtype != compute}
    return [ref for ref in attended_inputs(call.node) if ref not in cast]


_FLOAT_NAMES = frozenset({"float16", "bfloat16", "float32", "float64"})


#: Keras 3 layers whose inference ``call`` returns its input tensor itself: a mask deleted on either is deleted on both.
SAME_TENSOR_LAYERS = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity"})


class MaskDeletions:
    """Which masks a call of a Keras 3 Functional model does not see at run time, because a MultiHeadAttention that
    ran before it deleted them.

    Keras 3's MultiHeadAttention ``call`` deletes its query's, value's and key's masks (``set_keras_mask(x, None)``)
    on the tensors it is given at run time. Building and loading a model do not run ``call`` (its symbolic call is
    ``compute_output_shape``), so the masks Keras records for later calls (``kwargs.mask``) keep them; only a call
    with no recorded mask reads the run-time one, and sees none when it runs after the attention, in the order
    ``Functional._run_through_graph`` runs the calls (:func:`keras3_run_order`). A call that sees no mask where the
    walk tracks one can leave none on its own outputs too (``Add`` of an unmasked and a masked tensor carries none):
    those are :attr:`cleared`; or another mask (``Concatenate``'s all-True part): those are :attr:`divergent`. Layers that return their input itself (``Dropout`` at inference,
    :data:`SAME_TENSOR_LAYERS`) share its mask: a deletion holds for the whole chain (:meth:`same_tensor`). A nested
    model handed its recorded mask sets it on the tensor again when it runs (:attr:`setters`): the calls after it see
    it until the next deletion."""

    def __init__(self, plan: ModelPlan, aliases: dict[Ref, Ref] | None = None) -> None:
        self.plan = plan
        #: Inputs the caller gave the tensor object an earlier Input was given too (:func:`nested_input_aliases`).
        self.aliases = aliases or {}
        #: Outputs whose run-time mask is None where the walk tracks one (Keras 3 records the tracked one).
        self.cleared: set[Ref] = set()
        #: Outputs whose run-time mask is another one than tracked: calls with a recorded mask read the tracked one.
        self.divergent: set[Ref] = set()
        #: The run-time mask of each :attr:`divergent` output, which calls without a recorded mask read (LayerGaps
        #: keeps its origin, the walk its lowered value; None: made of masks deleted, so the call is a gap).
        self.run_masks: dict[Ref, Any] = {}
        self._deleters: dict[Ref, list[tuple[str, int]]] | None = None
        self._setters: dict[Ref, list[tuple[str, int]]] | None = None
        self._order: dict[tuple[str, int], int] | None = None
        self._roots: dict[Ref, Ref] = {}

    @property
    def deleters(self) -> dict[Ref, list[tuple[str, int]]]:
        """Per tensor (the first of its :meth:`same_tensor` chain), the MultiHeadAttention calls that read it."""
        if self._deleters is None:
            self._deleters = {}
            for call in self.plan.calls:
                if call.class_name == "MultiHeadAttention":
                    for ref in deleted_in_place(call):
                        self._deleters.setdefault(self.same_tensor(ref), []).append((call.name, call.key))
                elif is_model(call.entry):  # an attention inside deletes the mask on the caller's tensor itself
                    refs = call_inputs(call.node)
                    for position in sorted(nested_deleted_inputs(call) or ()):
                        self._deleters.setdefault(self.same_tensor(refs[position]), []).append((call.name, call.key))
        return self._deleters

    @property
    def order(self) -> dict[tuple[str, int], int]:
        """Each call's place in Keras 3's run order (empty when the config cannot be read for it)."""
        if self._order is None:
            self._order = keras3_run_order(self.plan) or {}
        return self._order

    @property
    def setters(self) -> dict[Ref, list[tuple[str, int]]]:
        """Per tensor (the first of its :meth:`same_tensor` chain), the nested model calls that set their recorded
        mask on it again when they run (:func:`sets_mask_again`)."""
        if self._setters is None:
            self._setters = {}
            for call in self.plan.calls:
                if sets_mask_again(call):
                    for ref in call_inputs(call.node):
                        self._setters.setdefault(self.same_tensor(ref), []).append((call.name, call.key))
        return self._setters

    def unseen(self, call: LayerCall, refs: list[Ref]) -> set[Ref]:
        """The ``refs`` (each carrying a tracked mask) whose mask ``call`` does not see (none when Keras recorded the
        call's mask): the last of the MultiHeadAttention calls deleting it and the nested models setting it again
        that run before ``call`` is a deletion, or, when none does, a cleared one."""
        if call.recorded_masks or not (self.deleters or self.cleared):
            return set()
        key = (call.name, call.key)
        return {r for r in refs if self._deleted_at(key, r)}

    def _deleted_at(self, key: tuple[str, int], ref: Ref) -> bool:
        """Whether ``ref``'s run-time mask is None when the call ``key`` runs: Keras sets and deletes it on the one
        tensor object in run order, so the last such event before ``key`` decides (a setter sets the recorded mask,
        which the walk checks to be the tracked one)."""
        event = self._last_event(key, ref)
        return event if event is not None else ref in self.cleared

    def _last_event(self, key: tuple[str, int], ref: Ref) -> bool | None:
        """The last deletion (True) or setting (False) of ``ref``'s mask before the call ``key`` runs; None: none.
        A nested model that sets its recorded mask and then, inside, deletes it is both at one place: the deletion,
        which comes last, wins (``True > False``)."""
        root = self.same_tensor(ref)
        events = [(self.order[d], True) for d in self.deleters.get(root, []) if d != key and self.runs_first(d, key)]
        events += [(self.order[s], False) for s in self.setters.get(root, []) if s != key and self.runs_first(s, key)]
        return max(events)[1] if events else None

    def mask_after_run(self, ref: Ref) -> str | None:
        """What ``ref``'s tensor object carries when the model has run: ``Functional.call`` hands the caller that
        object with whatever ``_keras_mask`` the run left on it (a Functional does not support masking, so Keras 3
        neither records nor computes a mask for the caller). ``"deleted"`` (the last deletion or setting on it is a
        deletion), ``"cleared"`` / ``"divergent"`` (made with none or another mask at run time, :attr:`cleared`,
        :attr:`run_masks`), ``"tracked"``; None: an event the run order does not place (a gap)."""
        root = self.same_tensor(ref)
        events = [*((d, True) for d in self.deleters.get(root, [])), *((s, False) for s in self.setters.get(root, []))]
        if any(key not in self.order for key, _ in events):
            return None
        if events:
            return "deleted" if max((self.order[key], deleted) for key, deleted in events)[1] else "tracked"
        return "cleared" if ref in self.cleared else "divergent" if ref in self.divergent else "tracked"

    def diverged(self, call: LayerCall, refs: list[Ref]) -> set[Ref]:
        """The :attr:`divergent` ``refs`` whose run-time mask ``call`` reads (it has no recorded mask, and no
        deletion or setting on the tensor runs between its producer and ``call``): it reads :attr:`run_masks`."""
        if call.recorded_masks or not self.divergent:
            return set()
        key = (call.name, call.key)
        return {r for r in refs if r in self.divergent and self._last_event(key, r) is None}

    def sets_again_in_order(self, call: LayerCall) -> bool:
        """Whether ``call`` sets its recorded masks on its inputs again (:func:`sets_mask_again`) at a place the run
        order knows: then :meth:`unseen` follows it for the calls after it."""
        return sets_mask_again(call) and (call.name, call.key) in self.order

    def runs_first(self, first: tuple[str, int], then: tuple[str, int]) -> bool:
        """Whether Keras 3 runs the call ``first`` before the call ``then``."""
        order = self.order
        return first in order and then in order and order[first] < order[then]

    def unordered_readers(self, attention: LayerCall, ref: Ref) -> list[LayerCall]:
        """The calls reading ``ref`` (or a tensor of its :meth:`same_tensor` chain) with no recorded mask that the
        run order cannot place before or after ``attention`` (a config it cannot read): gaps."""
        key, tensor = (attention.name, attention.key), self.same_tensor(ref)
        return [c for c in self.plan.calls if c is not attention and not c.recorded_masks and
                not self.passes_itself(c) and
                any(self.same_tensor(r) == tensor for r in call_inputs(c.node)) and
                ((c.name, c.key) not in self.order or key not in self.order)]

    @staticmethod
    def passes_itself(call: LayerCall) -> bool:
        """Whether ``call`` returns its input tensor itself: a :meth:`_passing_classes` layer, or a Keras 3 op whose
        TensorFlow backend hands back that object for its saved arguments (``rot90`` by whole turns, ``moveaxis`` that
        moves nothing, ``cast`` to its own dtype: :func:`.masking.returns_its_input`). An attention deleting the
        mask on its output deletes it on the input too (review R5 session 28: 0.29 off, silently)."""
        return call.class_name in MaskDeletions._passing_classes(call) or \
            returns_its_input(call.class_name, call.entry.get("config") or {})

    @staticmethod
    def _passing_classes(call: LayerCall) -> frozenset[str]:
        """The classes that return ``call``'s input tensor itself; none when ``Layer.__call__`` first casts its float
        input to the layer's compute dtype (a mixed_float16 Dropout on a float32 tensor returns that new float16
        copy: a mask deleted on the copy stays on the input). A dtype the node does not save: as before."""
        node = call.node if isinstance(call.node, dict) else {}
        saved = [c.get("dtype") for c in _tensor_configs([node.get("args"), node.get("kwargs")])]
        if any(MaskDeletions._casts(call, dtype) for dtype in saved):
            return frozenset()
        return SAME_TENSOR_LAYERS | ({"Activation"} if _linear(call) else frozenset())

    @staticmethod
    def _casts(call: LayerCall, dtype: Any) -> bool:
        """Whether ``call``'s layer casts a float input of ``dtype`` to another float compute dtype (the rule of
        :func:`deleted_in_place`; the ``mixed_`` policy prefix stripped)."""
        compute = (dtype_name((call.entry.get("config") or {}).get("dtype")) or "float32").removeprefix("mixed_")
        dtype = dtype_name(dtype)
        return compute in _FLOAT_NAMES and dtype in _FLOAT_NAMES and dtype != compute

    def same_tensor(self, ref: Ref) -> Ref:
        """The first tensor of the chain of :data:`SAME_TENSOR_LAYERS` calls (and linear Activations, and nested
        models whose output is their input, :func:`passed_input`) ``ref`` is the output of: Keras passes that one
        tensor object along (iterative; a cycle is not followed)."""
        if ref in self._roots:
            return self._roots[ref]
        start, seen = ref, {ref}
        while True:
            call = self.plan.producers.get((ref[0], ref[1]))
            inputs = call_inputs(call.node) if call is not None else []
            if call is None:  # an Input: the one given the same tensor object first, where the caller gave it twice
                step = self.aliases.get(ref)
            elif is_model(call.entry):  # a converted (not kept) input is a new tensor: its output is not the caller's
                position, kept = passed_input(call.entry, ref[2]), kept_inputs(call)
                step = inputs[position] if position is not None and position < len(inputs) and \
                    (not kept or kept[position]) else None
            else:
                step = inputs[0] if ref[2] == 0 and self.passes_itself(call) and len(inputs) == 1 else None
            if step is None or step in seen:
                break
            ref = step
            seen.add(ref)
        self._roots[start] = ref
        return ref

    def deleted_before(self, call: LayerCall, ref: Ref) -> bool:
        """Whether a MultiHeadAttention deletes the mask of ``ref`` (its :meth:`same_tensor` chain) before ``call``
        runs, or the run order cannot tell."""
        key = (call.name, call.key)
        return any(d != key and (self.runs_first(d, key) or d not in self.order or key not in self.order)
                   for d in self.deleters.get(self.same_tensor(ref), []))

    def none_at_run(self, call: LayerCall, ref: Ref, set_on: list[Ref]) -> bool:
        """Whether the run-time mask of ``ref``, an input a nested model call's mask list leaves as it is (a None
        entry: ``Functional.call`` sets only the others, on ``set_on``), is surely None when the call runs: the last
        event on its tensor before it is a deletion (or it was cleared, with none after), every deletion of that
        tensor is placed by the run order, no entry is set on that tensor object, and it is not divergent. Keras then
        runs that input unmasked, and so does the walk."""
        key, root = (call.name, call.key), self.same_tensor(ref)
        if key not in self.order or ref in self.divergent or \
                any(d not in self.order for d in self.deleters.get(root, [])):
            return False
        return not any(self.same_tensor(r) == root for r in set_on) and self._deleted_at(key, ref)


def sets_mask_again(call: LayerCall) -> bool:
    """Whether a Keras 3 nested model call sets the mask Keras recorded for each of its inputs on the caller's tensor
    itself when it runs (``Functional.call``: ``set_keras_mask(x, mask)``, a Sequential through its Functional): one
    recorded mask per input, and each input kept as that tensor (:func:`kept_inputs`)."""
    kept = kept_inputs(call)
    return bool(kept) and len(call.recorded_masks) == len(kept) and all(kept)


def kept_inputs(call: LayerCall) -> list[bool]:
    """Per input of a Keras 3 nested model call, whether its layers get the caller's tensor object itself (a mask
    set or deleted on it inside is set or deleted for the caller too): ``_standardize_inputs`` converts to the
    model's input dtype, ``_adjust_input_rank`` squeezes or expands a rank that differs, and either makes a new
    tensor. Empty when the config does not tell."""
    if not is_model(call.entry) or not isinstance(call.node, dict):
        return []
    refs = call_inputs(call.node)
    try:
        plan = model_plan(call.entry, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return []
    specs = _tensor_configs([call.node.get("args"), {k: v for k, v in (call.node.get("kwargs") or {}).items()
                                                     if k != MASK_KEYWORD}])
    if not refs or len(plan.inputs) != len(refs) or len(specs) != len(refs):
        return []
    return [isinstance(spec.get("shape"), list) and isinstance(config.get("batch_shape"), list) and
            len(spec["shape"]) == len(config["batch_shape"]) and spec.get("dtype") == config.get("dtype")
            for spec, (_, config) in zip(specs, plan.inputs)]


def nested_input_aliases(call: LayerCall, caller: MaskDeletions | None) -> dict[Ref, Ref] | None:
    """The Inputs of a Keras 3 nested Functional call given the tensor object an earlier Input is given too (``inner([e,
    e])``, both kept by ``_standardize_inputs``, :func:`kept_inputs`): each mapped to that earlier Input, so a mask
    deleted on one is deleted on both (a dict call is a list in the Inputs' order already, :func:`in_input_order`).
    Nested lists (``inner([[e, e], y])``) are flattened as Keras's ``tree.flatten`` pairs them with the Inputs (depth
    first, session 28). Empty when no object is given twice; None when the call cannot tell (a dict inside the
    structure, a kept input not known, no caller's :class:`MaskDeletions`)."""
    if not is_model(call.entry) or caller is None or not isinstance(call.node, dict):
        return None
    args = call.node.get("args") or []
    refs = call_inputs(call.node)
    if not _lists_of_tensors(args) or len(_tensor_configs(args)) != len(refs):
        return None
    try:
        plan = model_plan(call.entry, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return None
    kept = kept_inputs(call)
    roots = [caller.same_tensor(r) for r in refs]
    if plan.sequential or len(kept) != len(refs) or len(plan.inputs) != len(refs):
        return None if len(set(roots)) < len(roots) else {}
    aliases: dict[Ref, Ref] = {}
    for i in range(len(refs)):
        first = next((j for j in range(i) if kept[i] and kept[j] and roots[j] == roots[i]), None)
        if first is not None:
            aliases[plan.inputs[i][0]] = plan.inputs[first][0]
    return aliases


def _lists_of_tensors(value: Any) -> bool:
    """Whether ``value`` holds Keras 3 tensors in lists only (no dict but the tensors' own; iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack += item
        elif isinstance(item, dict) and item.get("class_name") != "__keras_tensor__":
            return False
    return True


def nested_deleted_inputs(call: LayerCall) -> set[int] | None:
    """The inputs of a Keras 3 nested Functional or Sequential call whose mask a MultiHeadAttention inside (or a model
    nested deeper) deletes on the caller's tensor itself (:func:`kept_inputs`): the last deletion or setting of that
    input's mask in the nested model's run order is a deletion. None: one is deleted where that order, or whether
    Keras keeps the tensor, is not known (a gap)."""
    if not is_model(call.entry):
        return set()
    return _deleted_inputs(call.entry, kept_inputs(call))


def _deleted_inputs(model: dict[str, Any], kept: list[bool]) -> set[int] | None:
    """:func:`nested_deleted_inputs` of ``model`` given whether each input is the caller's tensor object (``kept``;
    empty: not known)."""
    try:
        plan = model_plan(model, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    if plan.sequential:
        return _sequential_deleted(plan, kept)
    inner, deleted = MaskDeletions(plan), set()
    for position, (ref, _) in enumerate(plan.inputs):
        deleters = inner.deleters.get(inner.same_tensor(ref), [])
        if not deleters:
            continue
        setters = inner.setters.get(inner.same_tensor(ref), [])
        if any(k not in inner.order for k in [*deleters, *setters]) or position >= len(kept):
            return None
        last = max([(inner.order[d], True) for d in deleters] + [(inner.order[s], False) for s in setters])
        if last[1] and kept[position]:
            deleted.add(position)
    return deleted


def _sequential_deleted(plan: ModelPlan, kept: list[bool]) -> set[int] | None:
    """Whether a Keras 3 Sequential deletes the mask of the caller's tensor (``{0}``). Its Functional hands each layer
    the one before's output, so the caller's tensor object reaches the layers up to the first that makes a new one:
    through layers that return their input (:data:`SAME_TENSOR_LAYERS`, uncast) and nested models that return it
    (:func:`passed_input`), each nested model getting it where its Input keeps it (dtype and rank, as
    :func:`kept_inputs`). Its Functional records no mask for that tensor (its Input carries none when built), so
    nothing inside sets one on it again: a deletion there is the last event. None: not known (no Input saved)."""
    if not kept or not plan.inputs:  # whether the caller's tensor reaches the layers is not known
        return None if any(is_model(c.entry) and _deleted_inputs(c.entry, []) != set() for c in plan.calls) else set()
    if not kept[0]:
        return set()  # converted to a new tensor: a deletion inside stays inside
    config = plan.inputs[0][1]
    deleted = False
    for call in plan.calls:
        if is_model(call.entry):
            keeps = _input_keeps(call.entry, config)
            inner = _deleted_inputs(call.entry, [keeps])
            if inner is None:
                return None
            deleted = deleted or 0 in inner
            if not keeps or passed_input(call.entry, 0) != 0:
                break
        elif not ((call.class_name in SAME_TENSOR_LAYERS or _linear(call)) and
                  not MaskDeletions._casts(call, config.get("dtype"))):
            break
    return {0} if deleted else set()


def _input_keeps(model: dict[str, Any], given: dict[str, Any]) -> bool:
    """Whether a nested model keeps a tensor of the Input config ``given`` (dtype and rank) as its first Input: the
    rule of :func:`kept_inputs` (``_standardize_inputs``, ``_adjust_input_rank``)."""
    try:
        plan = model_plan(model, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return False
    if len(plan.inputs) != 1:
        return False
    wanted, shape = plan.inputs[0][1], given.get("batch_shape")
    return isinstance(shape, list) and isinstance(wanted.get("batch_shape"), list) and \
        len(shape) == len(wanted["batch_shape"]) and given.get("dtype") == wanted.get("dtype")


def _tensor_configs(value: Any) -> list[dict[str, Any]]:
    """The configs (``shape``, ``dtype``) of the Keras 3 tensors in ``value``, in :func:`tensor_refs` order."""
    stack, found = [value], []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                found.append(item.get("config") or {})
            else:
                stack += reversed(list(item.values()))
        elif isinstance(item, list):
            stack += reversed(item)
    return found


def passed_input(model: dict[str, Any], index: int) -> int | None:
    """Which input of a nested model its output ``index`` is, as one tensor object (the input itself, or through
    layers that return their input: Keras sets a mask on it for the caller too), else None."""
    try:
        plan = model_plan(model, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if plan.sequential:  # nothing casts along the chain, so each layer gets the Input's dtype
        given = plan.inputs[0][1].get("dtype") if plan.inputs else None
        passing = index == 0 and all((c.class_name in SAME_TENSOR_LAYERS or _linear(c)) and
                                     not MaskDeletions._casts(c, given) or (
            is_model(c.entry) and not _converts_input(c.entry, given) and passed_input(c.entry, 0) == 0)
            for c in plan.calls)
        return 0 if passing else None
    if not 0 <= index < len(plan.caller_outputs):
        return None
    root = MaskDeletions(plan).same_tensor(plan.caller_outputs[index])
    refs_in = [ref for ref, _ in plan.inputs]
    return refs_in.index(root) if root in refs_in else None


def _converts_input(model: dict[str, Any], given: Any) -> bool:
    """Whether a nested model converts a float tensor of dtype ``given`` to its first Input's other float dtype: a new
    tensor (review R8's F3: a Sequential holding a float16-Input model was followed as the caller's tensor)."""
    try:
        plan = model_plan(model, source="a nested model")
    except (InputError, ValueError, TypeError, KeyError, AttributeError):
        return True
    wanted = dtype_name(plan.inputs[0][1].get("dtype")) if plan.inputs else None
    given = dtype_name(given)
    return wanted in _FLOAT_NAMES and given in _FLOAT_NAMES and wanted != given


def keras3_run_order(plan: ModelPlan) -> dict[tuple[str, int], int] | None:
    """The order in which Keras 3's ``Functional._run_through_graph`` runs a model's calls: ``map_graph`` sorts the
    nodes by depth (deepest first), each depth's nodes in the order ``nodes_depths`` first met them, walking back
    from the outputs through each node's tensors (``tree.flatten((args, kwargs))``: dict keys sorted), a shared
    layer's nodes at its deepest depth. None when a node cannot be read. Iterative (chains may be long)."""
    nodes: dict[tuple[str, int], list[tuple[str, int]]] = {}  # node -> the nodes of its tensors, in Keras's order

    def parents(key: tuple[str, int]) -> list[tuple[str, int]]:
        if key not in nodes:
            call = plan.producers.get(key)
            node = call.node if call is not None else None
            recorded = ((call.entry.get("config") or {}).get(CALLS_KEY) if call is not None else None)
            if isinstance(recorded, list) and 0 <= key[1] < len(recorded):  # an op layer's call, as Keras saved it
                node = recorded[key[1]]
            if call is None:
                nodes[key] = []  # an input
            elif not isinstance(node, dict):
                raise ValueError(key)
            else:
                nodes[key] = [(r[0], r[1]) for r in _flat_tensors([node.get("args") or [], node.get("kwargs") or {}])]
        return nodes[key]

    try:
        decreasing: list[tuple[str, int]] = []  # _build_map: post-order from the outputs
        finished: set[tuple[str, int]] = set()
        for out in plan.flat_outputs if plan.flat_outputs is not None else plan.outputs:
            start = (out[0], out[1])
            if start in finished:
                continue
            stack = [(start, iter(parents(start)))]
            active = {start}
            while stack:
                key, todo = stack[-1]
                step = next((p for p in todo if p not in finished), None)
                if step is None:
                    stack.pop()
                    active.discard(key)
                    finished.add(key)
                    decreasing.append(key)
                elif step in active:
                    return None  # a cycle (the plan refuses it)
                else:
                    stack.append((step, iter(parents(step))))
                    active.add(step)
    except (ValueError, TypeError, IndexError):
        return None
    in_graph = set(decreasing)
    depths: dict[tuple[str, int], int] = {}
    layer_depths: dict[str, int] = {}
    for key in reversed(decreasing):
        depth = max(depths.setdefault(key, 0), layer_depths.get(key[0], 0))
        layer_depths[key[0]] = depths[key] = depth
        for parent in parents(key):
            if parent in in_graph:
                depths[parent] = max(depth + 1, depths.get(parent, 0))
    ordered = sorted(depths, key=lambda k: -depths[k])  # stable: each depth's nodes in the order first met
    return {key: i for i, key in enumerate(ordered)}


def _flat_tensors(value: Any) -> list[Ref]:
    """The tensors of a Keras 3 call's ``[args, kwargs]`` in ``tree.flatten`` order (dict keys sorted)."""
    found: list[Ref] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                history = (item.get("config") or {}).get("keras_history")
                if not isinstance(history, list) or len(history) < 3 or not isinstance(history[0], str):
                    raise ValueError(history)
                found.append((history[0], int(history[1]), int(history[2])))
            else:
                stack += [item[k] for k in sorted(item, key=str, reverse=True)]
        elif isinstance(item, list):
            stack += reversed(item)
    return found


def _linear(call: LayerCall) -> bool:
    """An Activation whose function is ``linear`` (Keras's ``linear(x)`` returns ``x``)."""
    activation = (call.entry.get("config") or {}).get("activation")
    return call.class_name == "Activation" and activation in ("linear", None)
