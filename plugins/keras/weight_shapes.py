"""Check every weight's shape against what its layer's config implies, before anything is written.

A hand-made or corrupt file can declare ``Dense(units=10**9)`` next to a (4, 3) kernel, or store a
kernel transposed: Keras would refuse to load it, but the shapes pass straight into model.json and
TF.js fails (or, for square kernels, computes something else) only in the user's browser. Here each
known layer class has a rule giving its weights' shapes from its config and its input's feature
size; that size is taken along the graph (the last axis of the input shape :mod:`.shape_flow` carries)
where the config says it,
else from the layer's own kernel, so the weights are at least consistent with each other and with
the config. Layers without a rule must still agree with their declared ``units`` / ``filters``.
Works on the TF.js (Keras 2 style) config every layers frontend produces, with lazy weights (shapes
only; nothing is read).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfjsconv.errors import InputError

from .configs import entry_name, is_layer_entry, is_model, top_level_layers
from .model_graph import malformed_config
from .shape_flow import layer_input_shapes
from .tfjs_support import CLASS_RENAMES

_SHOWN = 10
Shape = tuple[int | None, ...]
_CONV_RANK = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
              "DepthwiseConv2D": 2, "DepthwiseConv1D": 1, "SeparableConv2D": 2, "SeparableConv1D": 1,
              "ConvLSTM2D": 2, "ConvLSTM2DCell": 2}
_GATES = {"LSTM": 4, "LSTMCell": 4, "GRU": 3, "GRUCell": 3, "SimpleRNN": 1, "SimpleRNNCell": 1}
WeightGroups = list[list[tuple[str, Any]]]


def check_weight_shapes(model_config: dict[str, Any], weight_groups: WeightGroups, *, source: str) -> None:
    """Raise :class:`InputError` naming every weight whose shape its layer's config contradicts."""
    with malformed_config(source):
        problems = _problems(model_config, weight_groups)
    if problems:
        shown = problems[:_SHOWN] + ([f"... and {len(problems) - _SHOWN} more"] if len(problems) > _SHOWN else [])
        raise InputError(f"{source}: weight shapes do not match the model config: {'; '.join(shown)}",
                         hint="the file is corrupt or was edited by hand; save the model again with Keras")


def _problems(model_config: dict[str, Any], weight_groups: WeightGroups) -> list[str]:
    layers: dict[str, dict[str, Any]] = {}
    inputs: dict[str, int | None] = {}
    ambiguous: set[str] = set()
    _index(model_config, layers, inputs, ambiguous)
    for name in ambiguous:  # two leaf layers share a name (in different nested models): cannot tell whose weight
        layers.pop(name, None)
    weights: dict[str, dict[str, list[tuple[str, Shape]]]] = {}  # layer -> sub-layer ('' or direction) -> weights
    for group in weight_groups:
        for name, array in group:
            parts = str(name).split("/")
            if len(parts) < 2 or parts[0] not in layers:
                continue
            sub = next((p for p in parts[1:-1] if p.startswith(("forward_", "backward_"))), "")
            shape = tuple(int(d) for d in getattr(array, "shape", ()))
            weights.setdefault(parts[0], {}).setdefault(sub, []).append((parts[-1], shape))
    problems: list[str] = []
    for name, subs in weights.items():
        entry = layers[name]
        for sub, found in subs.items():
            where = f"layer {name!r} ({entry['class_name']})" + (f" {sub}" if sub else "")
            problems += [f"{where}: {p}" for p in _layer_problems(entry, dict(found), inputs.get(name))]
    return problems


# -- which layer, and what feeds it -------------------------------------------------------------------
def _index(model: dict[str, Any], layers: dict[str, dict[str, Any]], inputs: dict[str, int | None],
           ambiguous: set[str], shapes: dict[int, Any] | None = None) -> None:
    """Leaf layers by name (nested models' too, as TF.js names their weights), and each one's input feature size.

    The feature size is the last axis of the input shape :mod:`.shape_flow` carries through the graph.
    """
    shapes = layer_input_shapes(model) if shapes is None else shapes
    for entry in top_level_layers(model):
        name = entry_name(entry)
        if is_model(entry):
            _index(entry, layers, inputs, ambiguous, shapes)
            continue
        if name in layers:
            ambiguous.add(name)
        layers[name] = entry
        shape = shapes.get(id(entry))
        inputs[name] = _dim(shape[-1]) if shape else None


def _dim(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# -- the rules --------------------------------------------------------------------------------------------
def _layer_problems(entry: dict[str, Any], found: dict[str, Shape], feature: int | None) -> list[str]:
    cls, config = entry.get("class_name"), entry.get("config") or {}
    if cls in ("Bidirectional", "TimeDistributed") and is_layer_entry(config.get("layer")):
        return _layer_problems(config["layer"], found, feature)
    if cls == "RNN" and is_layer_entry(config.get("cell")):
        return _layer_problems(config["cell"], found, feature)
    rule = _RULES.get(CLASS_RENAMES.get(str(cls), str(cls)))  # a SyncBatchNormalization's: BN's shapes
    if rule is None:
        return _declared_size_problems(config, found)
    if config.get("data_format") == "channels_first":
        feature = None  # the last axis is not the channels then
    expected = rule(config, feature, found)
    if expected is None:
        return _declared_size_problems(config, found)
    problems = []
    for weight, shape in found.items():
        want = expected.get(weight)
        if want is None:
            continue
        if not _matches(shape, want):
            problems.append(f"weight {weight!r} has shape {list(shape)}, but the config implies {_show(want)}")
    return problems


def _show(want: Any) -> str:
    if want and isinstance(want[0], tuple):
        return " or ".join(_show(w) for w in want)
    return "[" + ", ".join("?" if d is None else str(d) for d in want) + "]"


def _matches(shape: Shape, want: Any) -> bool:
    if want and isinstance(want[0], tuple):  # alternatives
        return any(_matches(shape, w) for w in want)
    return len(shape) == len(want) and all(w is None or w == s for s, w in zip(shape, want, strict=True))


def _declared_size_problems(config: dict[str, Any], found: dict[str, Shape]) -> list[str]:
    """For classes without a rule: a declared units / filters / output_dim must divide some weight dimension."""
    problems = []
    dims = [d for shape in found.values() for d in shape]
    for key in ("units", "filters", "output_dim"):
        size = _dim(config.get(key))
        if size and dims and not any(d >= size and d % size == 0 for d in dims):
            problems.append(f"{key}={size}, but no weight has a dimension of that size "
                            f"(shapes {[list(s) for s in found.values()]})")
    return problems


def _in_size(feature: int | None, found: dict[str, Shape], weight: str, axis: int) -> int | None:
    """The input feature size: from the graph if known, else as the layer's own ``weight`` states it."""
    if feature is not None:
        return feature
    shape = found.get(weight)
    return shape[axis] if shape and -len(shape) <= axis < len(shape) else None


def _kernel_size(config: dict[str, Any], rank: int) -> tuple[int | None, ...]:
    size = config.get("kernel_size")
    if isinstance(size, int):
        return (size,) * rank
    if isinstance(size, list) and len(size) == rank:
        return tuple(_dim(s) for s in size)
    return (None,) * rank


def _dense(config: dict[str, Any], feature: int | None, found: dict[str, Shape]) -> dict[str, Any] | None:
    units, n_in = _dim(config.get("units")), _in_size(feature, found, "kernel", 0)
    return {"kernel": (n_in, units), "bias": (units,)}


def _conv(config: dict[str, Any], feature: int | None, found: dict[str, Shape], cls: str) -> dict[str, Any] | None:
    rank = _CONV_RANK[cls]
    ks, filters = _kernel_size(config, rank), _dim(config.get("filters"))
    if cls.endswith("Transpose"):
        n_in = _in_size(feature, found, "kernel", -1)
        return {"kernel": (*ks, filters, n_in), "bias": (filters,)}
    groups = _dim(config.get("groups", 1)) or 1
    n_in = _in_size(feature, found, "kernel", -2)
    if feature is not None:
        n_in = feature // groups if feature % groups == 0 else -1
    return {"kernel": (*ks, n_in, filters), "bias": (filters,)}


def _depthwise(config: dict[str, Any], feature: int | None, found: dict[str, Shape], cls: str) -> dict[str, Any]:
    rank = _CONV_RANK[cls]
    ks, multiplier = _kernel_size(config, rank), _dim(config.get("depth_multiplier", 1))
    n_in = _in_size(feature, found, "depthwise_kernel", -2)
    mid = n_in * multiplier if n_in is not None and multiplier is not None else None
    shapes: dict[str, Any] = {"depthwise_kernel": (*ks, n_in, multiplier)}
    if cls.startswith("Separable"):
        filters = _dim(config.get("filters"))
        shapes.update(pointwise_kernel=(*(1,) * rank, mid, filters), bias=(filters,))
    else:
        shapes["bias"] = (mid,)
    return shapes


def _rnn(config: dict[str, Any], feature: int | None, found: dict[str, Shape], cls: str) -> dict[str, Any]:
    units, gates = _dim(config.get("units")), _GATES[cls]
    width = units * gates if units is not None else None
    n_in = _in_size(feature, found, "kernel", 0)
    bias: Any = (width,)
    if cls.startswith("GRU"):
        reset_after = config.get("reset_after")
        bias = ((2, width),) if reset_after is True else ((width,),) if reset_after is False else ((width,), (2, width))
    return {"kernel": (n_in, width), "recurrent_kernel": (units, width), "bias": bias}


def _conv_lstm(config: dict[str, Any], feature: int | None, found: dict[str, Shape], cls: str) -> dict[str, Any]:
    ks, filters = _kernel_size(config, 2), _dim(config.get("filters"))
    width = 4 * filters if filters is not None else None
    n_in = _in_size(feature, found, "kernel", -2)
    return {"kernel": (*ks, n_in, width), "recurrent_kernel": (*ks, filters, width), "bias": (width,)}


def _embedding(config: dict[str, Any], feature: int | None, found: dict[str, Shape]) -> dict[str, Any]:
    return {"embeddings": (_dim(config.get("input_dim")), _dim(config.get("output_dim")))}


def _normalization(config: dict[str, Any], feature: int | None, found: dict[str, Shape]) -> dict[str, Any] | None:
    """gamma / beta (/ moving stats) all share one shape: the input's size along ``axis``."""
    axis = config.get("axis", -1)
    shapes = list(found.values())
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if not isinstance(axis, int) or not shapes:
        return None  # several axes: only ask that the shapes agree
    size = feature if axis == -1 and feature is not None else shapes[0][0] if len(shapes[0]) == 1 else None
    return {name: (size,) for name in ("gamma", "beta", "moving_mean", "moving_variance")}


def _with_class(rule: Callable[..., Any], cls: str) -> Callable[..., Any]:
    return lambda config, feature, found: rule(config, feature, found, cls)


_RULES: dict[str, Callable[[dict[str, Any], int | None, dict[str, Shape]], dict[str, Any] | None]] = {
    "Dense": _dense,
    "Embedding": _embedding,
    "BatchNormalization": _normalization,
    "LayerNormalization": _normalization,
    **{cls: _with_class(_conv, cls) for cls in ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose")},
    **{cls: _with_class(_depthwise, cls) for cls in ("DepthwiseConv2D", "DepthwiseConv1D",
                                                      "SeparableConv2D", "SeparableConv1D")},
    **{cls: _with_class(_rnn, cls) for cls in _GATES},
    **{cls: _with_class(_conv_lstm, cls) for cls in ("ConvLSTM2D", "ConvLSTM2DCell")},
}
