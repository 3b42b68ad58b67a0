"""Static input shapes of every layer in a Keras model config, for the checks that need a layer's input rank.

``.keras`` files record each layer's input shape (``build_config``); legacy ``.h5`` files and Keras
SavedModel metadata do not, yet a ``BatchNormalization(axis=1)`` is only wrong in TF.js when axis 1
is not the last one. So shapes are carried from the declared inputs (``InputLayer`` batch shapes,
or a Sequential's first layer) along ``inbound_nodes`` (Functional) or the layer order
(Sequential), with an output rule for each common layer class. Ranks are what matter; dimensions
are kept where cheap, else ``None``. A shape the rules cannot tell is ``None`` (rank unknown), and
the checks treat that conservatively. Pure JSON walking: the config is untrusted, so anything
malformed, cyclic or dangling just leaves shapes unknown (``model_graph`` reports those problems).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .configs import entry_name, is_layer_entry, is_model, top_level_layers
from .model_graph import node_inputs
from .tfjs_support import CLASS_RENAMES

Shape = tuple[int | None, ...]
Flow = Shape | None  # None: not even the rank is known

#: Layers whose output has their (first) input's shape.
_SAME_SHAPE = frozenset("""
Activation ActivityRegularization AlphaDropout BatchNormalization Dropout ELU GaussianDropout GaussianNoise
Identity LayerNormalization LeakyReLU Masking PReLU ReLU Rescaling Softmax SpatialDropout1D SpatialDropout2D
SpatialDropout3D ThresholdedReLU UnitNormalization GroupNormalization Normalization RandomWidth
""".split())
#: Layers that keep the rank and change only spatial sizes and/or the channel count.
_SPATIAL = frozenset("""
Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose DepthwiseConv1D DepthwiseConv2D
SeparableConv1D SeparableConv2D AveragePooling1D AveragePooling2D AveragePooling3D MaxPooling1D MaxPooling2D
MaxPooling3D UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D Cropping1D
Cropping2D Cropping3D Resizing CenterCrop
""".split())
_GLOBAL_POOLING = frozenset("""
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalMaxPooling3D
""".split())
_ELEMENTWISE_MERGE = frozenset("Add Subtract Multiply Average Maximum Minimum".split())
_RNNS = frozenset("LSTM GRU SimpleRNN RNN".split())
_STATES = {"LSTM": 2, "ConvLSTM2D": 2}


def layer_input_shapes(model_config: dict[str, Any]) -> dict[int, Flow]:
    """``id(layer entry)`` -> the shape its calls receive (``None`` when unknown or calls disagree in rank).

    Covers the layers of nested models and those wrapped by ``TimeDistributed`` / ``Bidirectional``.
    """
    walk = _Walk()
    try:
        walk.model(model_config, [])
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError):
        return {}  # malformed: nothing is known (the graph check names the problem)
    return walk.inputs


class _Walk:
    def __init__(self) -> None:
        self.inputs: dict[int, Flow] = {}
        self._model_outputs: dict[int, list[Flow]] = {}

    def record(self, entry: dict[str, Any], shape: Flow) -> None:
        key = id(entry)
        if key not in self.inputs:
            self.inputs[key] = shape
        elif self.inputs[key] is not None and (shape is None or len(shape) != len(self.inputs[key] or ())):
            self.inputs[key] = None  # a shared layer called at several ranks

    # -- models -----------------------------------------------------------------------------------------
    def model(self, entry: dict[str, Any], incoming: list[Flow]) -> list[Flow]:
        """The output shapes of a (nested) model; ``incoming`` feeds a Sequential that declares no input."""
        key = id(entry)
        if key not in self._model_outputs:
            self._model_outputs[key] = [None]  # guards against a model nested in itself
            layers = top_level_layers(entry)
            functional = entry.get("class_name") != "Sequential" and any("inbound_nodes" in e for e in layers)
            self._model_outputs[key] = self._functional(entry, layers) if functional \
                else [self._sequential(layers, incoming[0] if incoming else None)]
        return self._model_outputs[key]

    def _sequential(self, layers: list[dict[str, Any]], shape: Flow) -> Flow:
        for i, entry in enumerate(layers):
            declared = declared_input_shape(entry)
            if i == 0 and declared is not None:
                shape = declared
            if entry.get("class_name") == "InputLayer":
                shape = declared
                continue
            self.record(entry, shape)
            shape = self.call(entry, [shape])[0]
        return shape

    def _functional(self, model: dict[str, Any], layers: list[dict[str, Any]]) -> list[Flow]:
        outputs = walk_nodes(layers, declared_input_shape, self._recorded_call)
        return output_shapes(outputs, (model.get("config") or {}).get("output_layers"))

    def _recorded_call(self, entry: dict[str, Any], inputs: list[Flow]) -> list[Flow]:
        self.record(entry, inputs[0] if inputs else None)
        return self.call(entry, inputs)

    # -- layers -------------------------------------------------------------------------------------------
    def call(self, entry: dict[str, Any], inputs: list[Flow]) -> list[Flow]:
        """The output shape(s) of one call of a layer (several for RNNs returning their states)."""
        if is_model(entry):
            return self.model(entry, inputs)
        cls = CLASS_RENAMES.get(str(entry.get("class_name")), str(entry.get("class_name")))
        config = entry.get("config") or {}
        x = inputs[0] if inputs else None
        if cls == "TimeDistributed" and is_layer_entry(config.get("layer")):
            step: Flow = (x[0], *x[2:]) if x is not None and len(x) >= 2 else None
            self.record(config["layer"], step)
            inner = self.call(config["layer"], [step])[0]
            return [(x[0], x[1], *inner[1:]) if x is not None and len(x) >= 2 and inner is not None else None]
        if cls == "Bidirectional" and is_layer_entry(config.get("layer")):
            return self._bidirectional(config, x)
        outs = [output_shape(cls, config, inputs)]
        wrapped = config.get("cell") if cls == "RNN" and is_layer_entry(config.get("cell")) else None
        if wrapped is not None:
            self.record(wrapped, (x[0], *x[2:]) if x is not None and len(x) >= 2 else None)
        if config.get("return_state") and (cls in _RNNS or cls == "ConvLSTM2D"):
            state = (outs[0][0], *outs[0][-3:]) if cls == "ConvLSTM2D" and outs[0] else \
                (x[0] if x else None, _units(config))
            outs += [state] * _STATES.get(cls, 1)
        return outs

    def _bidirectional(self, config: dict[str, Any], x: Flow) -> list[Flow]:
        layer = config["layer"]
        for key in ("layer", "backward_layer"):
            if is_layer_entry(config.get(key)):
                self.record(config[key], x)
        inner = self.call(layer, [x])
        y = inner[0]
        mode = config.get("merge_mode", "concat")
        if mode is None:
            return [y, y, *inner[1:], *inner[1:]]
        if mode == "concat" and y is not None:
            y = (*y[:-1], 2 * y[-1] if y[-1] is not None else None)
        return [y, *inner[1:], *inner[1:]]


def declared_input_shape(entry: dict[str, Any]) -> Flow:
    """The batch input shape a layer's config declares (``InputLayer``, or a Sequential's first layer)."""
    config = entry.get("config") or {}
    for key in ("batch_shape", "batch_input_shape"):
        shape = _shape(config.get(key))
        if shape is not None:
            return shape
    shape = _shape(config.get("input_shape"))
    if shape is not None:
        return (None, *shape)
    if isinstance(config.get("input_dim"), int) and entry.get("class_name") == "Dense":
        return (None, config["input_dim"])
    return None


def _shape(value: Any) -> Flow:
    if isinstance(value, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in value):
        return tuple(value)
    return None


def _units(config: dict[str, Any]) -> int | None:
    units = config.get("units", config.get("filters"))
    if units is None and is_layer_entry(config.get("cell")):
        units = (config["cell"].get("config") or {}).get("units")
    return units if isinstance(units, int) and not isinstance(units, bool) else None


def _channels_first(config: dict[str, Any]) -> bool:
    return config.get("data_format") == "channels_first"


def output_shape(cls: str, config: dict[str, Any], inputs: list[Flow]) -> Flow:  # noqa: C901 - one rule a class
    """The output shape of one call of a (non-wrapper) layer, or None when the rules cannot tell."""
    x = inputs[0] if inputs else None
    if cls == "InputLayer":
        return x
    if cls in _ELEMENTWISE_MERGE:
        return _broadcast(inputs)
    if cls == "Concatenate":
        return _concatenate(inputs, config.get("axis", -1))
    if cls == "Dot":
        if len(inputs) != 2 or None in inputs:
            return None
        rank = len(inputs[0]) + len(inputs[1]) - 3  # type: ignore[arg-type]
        return (x[0],) + (None,) * (max(rank, 2) - 1)  # type: ignore[index]
    if x is None:
        return None
    batch, rank = x[0] if x else None, len(x)
    if cls in _SAME_SHAPE:
        return x
    if cls == "Dense":
        return (*x[:-1], config.get("units"))
    if cls in _SPATIAL:
        if rank < 3:
            return None
        channel = x[1] if _channels_first(config) else x[-1]
        if "filters" in config:
            channel = config.get("filters")
        elif "depth_multiplier" in config:
            multiplier = config.get("depth_multiplier", 1)
            channel = channel * multiplier if isinstance(channel, int) and isinstance(multiplier, int) else None
        spatial = (None,) * (rank - 2)
        return (batch, channel, *spatial) if _channels_first(config) else (batch, *spatial, channel)
    if cls in _GLOBAL_POOLING:
        channel = x[1] if _channels_first(config) else x[-1]
        if config.get("keepdims"):
            ones = (1,) * (rank - 2)
            return (batch, channel, *ones) if _channels_first(config) else (batch, *ones, channel)
        return (batch, channel)
    if cls == "Flatten":
        rest = x[1:]
        return (batch, math.prod(rest) if rest and None not in rest else None)  # type: ignore[arg-type]
    if cls == "Reshape":
        target = config.get("target_shape")
        return (batch, *(None if d == -1 else d for d in target)) if isinstance(target, list) else None
    if cls == "Permute":
        dims = config.get("dims")
        if not isinstance(dims, list) or sorted(dims) != list(range(1, rank)):
            return None
        return (batch, *(x[d] for d in dims))
    if cls == "RepeatVector":
        return (batch, config.get("n"), x[-1]) if rank == 2 else None
    if cls == "Embedding":
        return (*x, config.get("output_dim"))
    if cls in _RNNS:
        units = _units(config)
        return (batch, x[1] if rank > 1 else None, units) if config.get("return_sequences") else (batch, units)
    if cls == "ConvLSTM2D":
        filters = config.get("filters")
        step: Shape = (None, filters, None, None) if _channels_first(config) else (None, None, None, filters)
        return (batch, x[1] if rank > 1 else None, *step[1:]) if config.get("return_sequences") else (batch, *step[1:])
    return None


def _broadcast(inputs: list[Flow]) -> Flow:
    if not inputs or any(s is None for s in inputs):
        return None
    rank = max(len(s) for s in inputs)  # type: ignore[arg-type]
    padded = [(1,) * (rank - len(s)) + s for s in inputs]  # type: ignore[operator, arg-type]
    return tuple(_merged_dim([s[i] for s in padded]) for i in range(rank))


def _merged_dim(dims: list[int | None]) -> int | None:
    known = {d for d in dims if d is not None and d != 1}
    if len(known) == 1 and None not in dims:
        return known.pop()
    return 1 if all(d == 1 for d in dims) else None


def _concatenate(inputs: list[Flow], axis: Any) -> Flow:
    if not inputs or any(s is None for s in inputs) or len({len(s) for s in inputs}) != 1:  # type: ignore[arg-type]
        return None
    rank = len(inputs[0])  # type: ignore[arg-type]
    if not isinstance(axis, int) or not -rank <= axis < rank:
        return None
    axis %= rank
    dims = []
    for i in range(rank):
        column = [s[i] for s in inputs]  # type: ignore[index]
        if i == axis:
            dims.append(sum(column) if None not in column else None)  # type: ignore[arg-type]
        else:
            dims.append(_merged_dim(column))
    return tuple(dims)


#: Node outputs of a functional model's walk: (layer name, node index) -> that call's output shapes.
NodeOutputs = dict[tuple[str, int], list[Any]]


def walk_nodes(layers: list[dict[str, Any]], source_shape: Callable[[dict[str, Any]], Any],
               call: Callable[[dict[str, Any], list[Any]], list[Any]], *, recorded: bool = True) -> NodeOutputs:
    """Every node's output shapes of a functional model's ``layers``, each node after its producers (a dangling
    reference or a cycle leaves its nodes out): ``source_shape`` gives an Input's, ``call`` a node's from its
    inputs' (``recorded``: see :func:`node_shapes`)."""
    outputs: NodeOutputs = {}
    pending: list[tuple[dict[str, Any], int, Any]] = []
    for entry in layers:
        nodes = entry.get("inbound_nodes") or []
        if entry.get("class_name") == "InputLayer" or not nodes:
            outputs[(entry_name(entry), 0)] = [source_shape(entry)]
            continue
        shift = 1 if is_model(entry) and isinstance(nodes[0], list) else 0  # its building node counts first
        pending += [(entry, index + shift, node) for index, node in enumerate(nodes)]
    while pending:  # layers usually come in order: one pass, and one more to find nothing left
        waiting = []
        for entry, index, node in pending:
            inputs = node_shapes(node, outputs, recorded=recorded)
            if inputs is None:
                waiting.append((entry, index, node))
                continue
            outputs[(entry_name(entry), index)] = call(entry, inputs)
        if len(waiting) == len(pending):
            break  # dangling references or a cycle: those stay unknown
        pending = waiting
    return outputs


def node_shapes(node: Any, outputs: NodeOutputs, *, recorded: bool = True) -> list[Any] | None:
    """The shapes a node feeds its layer, or None while one of its producers is not done; ``recorded=False``
    ignores the shapes Keras 3 writes into the node (a walk that replays another framework's shape rules)."""
    shapes: list[Any] = []
    for ref, recorded_shape in node_inputs(node):
        if ref is None:
            shapes.append(None)
            continue
        name, index, tensor = ref
        if recorded and recorded_shape is not None:  # Keras 3 writes each input tensor's shape into the node
            shapes.append(recorded_shape)
            continue
        if (name, index) not in outputs:
            return None
        found = outputs[(name, index)]
        shapes.append(found[tensor] if 0 <= tensor < len(found) else None)
    return shapes


def output_shapes(outputs: NodeOutputs, output_layers: Any) -> list[Any]:
    """The shapes of a functional model's ``output_layers`` (None for one the walk did not reach)."""
    shapes = []
    for name, index, tensor in _output_refs(output_layers):
        found = outputs.get((name, index)) or []
        shapes.append(found[tensor] if 0 <= tensor < len(found) else None)
    return shapes


def _output_refs(value: Any) -> list[tuple[str, int, int]]:
    """``output_layers``: one ``[name, node, tensor]``, a list of them, or a dict of them (Keras 3)."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return []
    if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) and isinstance(value[2], int):
        return [(value[0], value[1], value[2])]
    return [ref for item in value for ref in _output_refs(item)]
