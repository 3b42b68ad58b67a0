"""Layers that TF.js 4.22 cannot build over sizes its own shape inference leaves unknown.

TF.js builds every layer of a layers model while loading it, from the static shapes its layers'
``computeOutputShape`` carry from the ``InputLayer`` batch shapes; a layer whose weights or checks need a size
that is ``null`` there throws, so the model fails only at load time, in the user's browser. Keras knows more
sizes than TF.js does: a ``Reshape`` with ``-1`` is always ``null`` in TF.js (its batch axis is unknown, so it
never solves the ``-1``), and Keras's ``Flatten`` of unknown sizes is a valid output where TF.js's throws.

This walk replays TF.js's shape rules (checked against tfjs-layers 4.22 in Node, session 32) with three kinds
of size: an ``int``, ``None`` (``null`` in TF.js) and :data:`KNOWN` (a size TF.js knows whose value is not
computed here). Only ``None`` refuses, a layer the rules do not cover leaves its outputs unknown (no check
after it), and a shared layer is checked on its first call only (TF.js builds it there), so a refusal follows
TF.js's own rules; it is not a proof that every model converted here loads (a nested model is built over its
own Inputs, then each call replays its layers' shapes over the call's shapes, as TF.js's
``Container.computeOutputShape`` does, where a ``Flatten`` of an unknown size throws, and the layers after the
call are built over the output shapes the replay gives). A ``Reshape`` whose ``-1`` Keras solves from known sizes
gets the solved size written into the TF.js config (``write_solved_reshapes``), so it is known here too.
"""
from __future__ import annotations

import math
from typing import Any

from .configs import entry_name, is_layer_entry, is_model, top_level_layers
from .model_graph import _layer_refs
from .shape_flow import NodeOutputs, declared_input_shape, output_shapes, walk_nodes
from .tfjs_support import CLASS_RENAMES


class _Known:
    """A size TF.js knows (a number) that the walk does not compute."""

    def __repr__(self) -> str:
        return "known"


class _MaybeNegative(_Known):
    """A number TF.js computed from null in JavaScript (``null - crop`` is negative): its merges make it null."""

    def __repr__(self) -> str:
        return "negative"


KNOWN = _Known()
MAYBE_NEGATIVE = _MaybeNegative()
Dim = int | None | _Known
TShape = tuple[Dim, ...]
Flow = TShape | None  # None: the walk cannot tell this tensor's TF.js shape (no checks on it)

_SAME_SHAPE = frozenset("""
Activation ActivityRegularization AlphaDropout BatchNormalization Dropout ELU GaussianDropout GaussianNoise
LayerNormalization LeakyReLU Masking PReLU ReLU Rescaling Softmax SpatialDropout1D SpatialDropout2D
SpatialDropout3D ThresholdedReLU
""".split())
#: Layers that keep the rank, map an unknown spatial size to an unknown one (and a known one to a known one).
_SPATIAL = frozenset("""
Conv1D Conv2D Conv3D Conv2DTranspose Conv3DTranspose DepthwiseConv2D SeparableConv1D SeparableConv2D
AveragePooling1D AveragePooling2D AveragePooling3D MaxPooling1D MaxPooling2D MaxPooling3D UpSampling1D UpSampling2D
UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
""".split())
#: TF.js computes ``null - crop`` in JavaScript: a negative number, not null (no refusal follows from it).
_CROPPING = frozenset("Cropping1D Cropping2D Cropping3D".split())
#: Convolutions whose build needs the channel axis (``The channel dimension of the input should be defined``).
_CHANNEL_BUILDS = frozenset("""
Conv1D Conv2D Conv3D Conv2DTranspose Conv3DTranspose DepthwiseConv2D SeparableConv1D SeparableConv2D ConvLSTM2D
""".split())
#: Layers whose weights are sized by the last axis (``Tensor must have a shape comprised of positive integers``).
_LAST_AXIS_BUILDS = frozenset("Dense LSTM GRU SimpleRNN RNN".split())
_GLOBAL_POOLING = frozenset("""
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalMaxPooling3D
""".split())
_ELEMENTWISE = frozenset("Add Subtract Multiply Average Maximum Minimum".split())
_RNNS = frozenset("LSTM GRU SimpleRNN RNN".split())


_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError)


def unknown_size_problems(model_config: dict[str, Any]) -> list[str]:
    """One line per layer TF.js 4.22 would fail to build (so to load) over a size its shapes leave unknown."""
    try:
        walk = _settled_walk(model_config)
    except _MALFORMED:
        return []  # malformed: the graph check names the problem
    return list(dict.fromkeys(walk.problems))


def write_solved_reshapes(tfjs_model_config: dict[str, Any]) -> None:
    """Write into each ``Reshape``'s ``target_shape`` the ``-1`` Keras solves and TF.js cannot (its batch is
    unknown, so it leaves the ``-1`` null and the next layer fails to build): only where every call's input sizes
    are known numbers, so the solved size is the same for every input TF.js may feed (the checks assume it)."""
    try:
        walk = _settled_walk(tfjs_model_config)
    except _MALFORMED:
        return
    for entry, target in walk.solved.values():
        if target is not None:
            entry["config"]["target_shape"] = list(target)


def _settled_walk(model_config: dict[str, Any]) -> _Walk:
    """A walk whose solved ``-1`` agree over all calls of each Reshape (a shared one solved two ways keeps it)."""
    unsolved: set[str] = set()
    for _ in range(8):
        walk = _Walk(unsolved)
        walk.model(model_config, "")
        if walk.conflicting <= unsolved:
            break
        unsolved |= walk.conflicting
    return walk


def _show(shape: TShape) -> str:
    return "[" + ", ".join("null" if d is None else str(d) for d in shape) + "]"


class _Walk:
    def __init__(self, unsolved: set[str] | None = None) -> None:
        self.unsolved = unsolved or set()  # Reshapes whose -1 stays as saved
        self.solved: dict[str, tuple[dict[str, Any], tuple[int, ...] | None]] = {}  # name -> (entry, target)
        self.conflicting: set[str] = set()
        self.problems: list[str] = []
        self._seen: set[int] = set()
        self._built: set[str] = set()  # TF.js builds a layer on its first call only (a shared one's later calls pass)
        self._replaying = False  # inside a nested model's call: TF.js only computes shapes there, it builds nothing

    # -- models -----------------------------------------------------------------------------------------
    def model(self, entry: dict[str, Any], prefix: str) -> None:
        """Check a (nested) model over its own declared Inputs, as TF.js builds it when loading."""
        if id(entry) in self._seen:
            return
        self._seen.add(id(entry))
        layers = top_level_layers(entry)
        functional = entry.get("class_name") != "Sequential" and any("inbound_nodes" in e for e in layers)
        if functional:
            self._functional(layers, prefix)
        else:
            self._sequential(layers, prefix)

    def replay(self, entry: dict[str, Any], inputs: list[Flow], prefix: str) -> list[Flow]:
        """A nested model's output shapes over one call's input shapes: TF.js's symbolic ``apply`` runs
        ``Container.computeOutputShape`` on every call, which runs each inner layer's ``computeOutputShape`` and
        gives the shapes of its output layers (so the layers after the call are built over them)."""
        layers = top_level_layers(entry)
        functional = entry.get("class_name") != "Sequential" and any("inbound_nodes" in e for e in layers)
        was, self._replaying = self._replaying, True
        try:
            if not functional:
                return [self._sequential(layers, prefix, inputs[0] if inputs else None)]
            config = entry.get("config") or {}
            names = [ref[0] for ref in _layer_refs(config.get("input_layers")) or []]
            outputs = self._functional(layers, prefix, dict(zip(names, inputs, strict=False)))
            return output_shapes(outputs, config.get("output_layers"))
        finally:
            self._replaying = was

    def _sequential(self, layers: list[dict[str, Any]], prefix: str, called_on: Flow = None) -> Flow:
        """The Sequential's output shape (None where the walk cannot tell)."""
        shape: Flow = called_on if self._replaying else None
        for i, entry in enumerate(layers):
            declared = declared_input_shape(entry)
            if entry.get("class_name") == "InputLayer" or (i == 0 and declared is not None):
                shape = called_on if self._replaying else declared
                if entry.get("class_name") == "InputLayer":
                    continue
            shape = self.call(entry, [shape], prefix)[0]
        return shape

    def _functional(self, layers: list[dict[str, Any]], prefix: str,
                    called_on: dict[str, Flow] | None = None) -> NodeOutputs:
        """Each node's output shapes (TF.js's, never Keras 3's recorded ones), over the call's shapes if given."""
        def source_shape(entry: dict[str, Any]) -> Flow:
            return called_on.get(entry_name(entry)) if called_on is not None else declared_input_shape(entry)

        return walk_nodes(layers, source_shape, lambda entry, inputs: self.call(entry, inputs, prefix), recorded=False)

    # -- layers -------------------------------------------------------------------------------------------
    def call(self, entry: dict[str, Any], inputs: list[Flow], prefix: str) -> list[Flow]:
        """Check one call of a layer and give TF.js's output shape(s) (None where the rules cannot tell)."""
        name = prefix + entry_name(entry)
        if is_model(entry):
            self.model(entry, name + "/")
            return self.replay(entry, inputs, name + "/")
        cls = CLASS_RENAMES.get(str(entry.get("class_name")), str(entry.get("class_name")))
        config = entry.get("config") or {}
        x = inputs[0] if inputs else None
        if cls == "TimeDistributed" and is_layer_entry(config.get("layer")):
            step: Flow = (x[0], *x[2:]) if x is not None and len(x) >= 2 else None
            inner = self.call(config["layer"], [step], name + "/")[0]
            return [(x[0], x[1], *inner[1:]) if x is not None and len(x) >= 2 and inner is not None else None]
        if cls == "Bidirectional" and is_layer_entry(config.get("layer")):
            return self._bidirectional(config, x, name)
        if self._replaying:
            problem = shape_problem(cls, x) if x is not None else None
            if problem:
                self.problems.append(f"layer {name!r} ({cls}) in a call of its model: {problem}")
        elif name not in self._built:
            self._built.add(name)
            problem = build_problem(cls, config, x) if x is not None else None
            if problem:
                self.problems.append(f"layer {name!r} ({cls}): {problem}")
        if cls == "Reshape":
            return [self._reshape(entry, name, x)]
        outs = [output_shape(cls, config, inputs)]
        if config.get("return_state") and cls in _RNNS and x is not None:
            outs += [(x[0], config.get("units"))] * (2 if cls == "LSTM" else 1)
        return outs

    def _reshape(self, entry: dict[str, Any], name: str, x: Flow) -> Flow:
        """TF.js's output of a Reshape whose solvable ``-1`` is written into its config (``write_solved_reshapes``)."""
        target = (entry.get("config") or {}).get("target_shape")
        if self._replaying:  # TF.js reads the target the walk over the model's own Inputs wrote
            written = self.solved.get(name, (entry, None))[1]
            if written is not None and x is not None:
                return (x[0], *written)
            return output_shape("Reshape", entry.get("config") or {}, [x])
        solved = None if name in self.unsolved or x is None else solved_target(x, target)
        if name in self.solved and self.solved[name][1] != solved:
            self.conflicting.add(name)
        self.solved.setdefault(name, (entry, solved))
        if solved is not None:
            return (x[0], *solved)  # type: ignore[index]
        return output_shape("Reshape", entry.get("config") or {}, [x])

    def _bidirectional(self, config: dict[str, Any], x: Flow, name: str) -> list[Flow]:
        y = self.call(config["layer"], [x], name + "/")[0]
        if config.get("return_state"):
            return [None] * 8
        mode = config.get("merge_mode", "concat")
        if mode is None:
            return [y, y]
        if mode == "concat" and y is not None:
            last = y[-1]
            y = (*y[:-1], 2 * last if isinstance(last, int) else last)
        return [y]


def build_problem(cls: str, config: dict[str, Any], x: TShape) -> str | None:
    """Why TF.js 4.22's ``build`` / ``computeOutputShape`` of this layer throws on input shape ``x``, else None."""
    if len(x) < 2:
        return None
    if cls in _CHANNEL_BUILDS:
        axis = _channel_axis(cls, config, x)
        if x[axis] is None:
            return (f"input shape {_show(x)} as TF.js infers it has an unknown channel axis: TF.js fails to load the "
                    "model ('The channel dimension of the input should be defined')")
    if cls in _LAST_AXIS_BUILDS and x[-1] is None:
        return (f"input shape {_show(x)} as TF.js infers it has an unknown last axis, which sizes its weights: "
                "TF.js fails to load the model")
    if cls == "LayerNormalization":
        return _layer_normalization_problem(config, x)
    if cls == "BatchNormalization":
        axis = _single_axis(config.get("axis", -1))
        if axis is not None and -len(x) <= axis < len(x) and x[axis] is None:
            return f"input shape {_show(x)} as TF.js infers it has an unknown axis {axis}: TF.js fails to load the model"
    if cls == "Flatten":
        return shape_problem(cls, x)
    if cls == "PReLU":
        shared = {a % len(x) for a in config.get("shared_axes") or [] if isinstance(a, int)}
        if any(d is None for i, d in enumerate(x) if i > 0 and i not in shared):
            return (f"input shape {_show(x)} as TF.js infers it has an unknown axis that sizes its alpha: TF.js fails "
                    "to load the model")
    return None


def shape_problem(cls: str, x: TShape) -> str | None:
    """Why TF.js 4.22's ``computeOutputShape`` of this layer throws on input shape ``x`` (it runs on every call)."""
    if cls == "Flatten" and None in x[1:]:
        return (f"input shape {_show(x)} as TF.js infers it is not fully defined: TF.js's Flatten fails to load the "
                "model ('The shape of the input to \"Flatten\" is not fully defined')")
    return None


def _channel_axis(cls: str, config: dict[str, Any], x: TShape) -> int:
    """The axis TF.js's build reads the channels from: ConvLSTM2D builds its cell on one step (axis 2 of 5-D)."""
    if config.get("data_format") != "channels_first":
        return len(x) - 1
    return 2 if cls == "ConvLSTM2D" and len(x) == 5 else 1


def _layer_normalization_problem(config: dict[str, Any], x: TShape) -> str | None:
    """TF.js sizes gamma and beta by the layer's own axes (``axis.map(a => inputShape[a])``), none without them."""
    if config.get("center") is False and config.get("scale") is False:
        return None
    axes = config.get("axis", -1)
    axes = axes if isinstance(axes, list) else [axes]
    unknown = [a for a in axes if isinstance(a, int) and -len(x) <= a < len(x) and x[a] is None]
    if not unknown:
        return None
    return (f"input shape {_show(x)} as TF.js infers it has an unknown axis {unknown[0]}, which sizes its gamma and "
            "beta: TF.js fails to load the model")


def _single_axis(axis: Any) -> int | None:
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    return axis if isinstance(axis, int) and not isinstance(axis, bool) else None


def output_shape(cls: str, config: dict[str, Any], inputs: list[Flow]) -> Flow:  # noqa: C901 - one rule a class
    """TF.js 4.22's ``computeOutputShape`` of one call, or None where the walk does not replay it."""
    if any(s is None for s in inputs) or not inputs:
        return None
    shapes: list[TShape] = [s for s in inputs if s is not None]
    x = shapes[0]
    if cls in _ELEMENTWISE:
        return _elementwise(shapes)
    if cls == "Concatenate":
        return _concatenate(shapes, config.get("axis", -1))
    if cls == "Dot":
        return _dot(shapes, config.get("axes"))
    batch, rank = x[0], len(x)
    if cls in _SAME_SHAPE or cls == "InputLayer":
        return x
    if cls == "Dense":
        return (*x[:-1], config.get("units"))
    if cls in _SPATIAL or cls in _CROPPING:
        return _spatial(cls, config, x)
    if cls in _GLOBAL_POOLING and rank >= 3:
        return (batch, x[1] if config.get("data_format") == "channels_first" else x[-1])
    if cls == "Flatten":
        rest = x[1:]
        return (batch, math.prod(rest) if all(isinstance(d, int) for d in rest) else KNOWN)  # type: ignore[arg-type]
    if cls == "Reshape":
        return _reshape(x, config.get("target_shape"))
    if cls == "Permute":
        dims = config.get("dims")
        if not isinstance(dims, list) or sorted(dims) != list(range(1, rank)):
            return None
        return (batch, *(x[d] for d in dims))
    if cls == "RepeatVector" and rank == 2:
        return (batch, config.get("n"), x[-1])
    if cls == "Embedding":
        return _embedding(config, x)
    if cls in _RNNS:
        units = _rnn_units(config)
        if units is None:
            return None
        return (batch, x[1], units) if config.get("return_sequences") else (batch, units)
    return None


def _embedding(config: dict[str, Any], x: TShape) -> Flow:
    """TF.js fills the unknown input sizes from tf_keras's ``input_length`` (one length per non-batch axis)."""
    lengths = config.get("input_length")
    if lengths is None:
        return (*x, config.get("output_dim"))
    lengths = lengths if isinstance(lengths, list) else [lengths]
    if len(lengths) != len(x) - 1:
        return None
    filled = tuple(d if length is None else length for d, length in zip(x[1:], lengths, strict=True))
    return (x[0], *filled, config.get("output_dim"))


def _rnn_units(config: dict[str, Any]) -> int | None:
    """An RNN's output size: its own ``units``, or its cell's (the last cell's for stacked cells)."""
    cell = config.get("cell")
    while is_layer_entry(cell):
        cells = (cell.get("config") or {}).get("cells")
        if isinstance(cells, list) and cells and is_layer_entry(cells[-1]):
            cell = cells[-1]
            continue
        config = cell.get("config") or {}
        break
    units = config.get("units")
    return units if isinstance(units, int) and not isinstance(units, bool) else None


def _spatial(cls: str, config: dict[str, Any], x: TShape) -> Flow:
    if len(x) < 3:
        return None
    first = config.get("data_format") == "channels_first"
    channel = x[1] if first else x[-1]
    if "filters" in config:
        channel = config.get("filters")
    elif cls == "DepthwiseConv2D":
        multiplier = config.get("depth_multiplier", 1)
        channel = channel * multiplier if isinstance(channel, int) and isinstance(multiplier, int) else channel
    sizes = x[2:] if first else x[1:-1]
    spatial = tuple(_spatial_size(cls, d) for d in sizes)
    return (x[0], channel, *spatial) if first else (x[0], *spatial, channel)


def solved_target(x: TShape, target: Any) -> tuple[int, ...] | None:
    """The target shape with its one ``-1`` solved as Keras does, where every non-batch input size is a number."""
    sizes = x[1:]
    if not isinstance(target, list) or not all(_is_int(d) and d > 0 for d in sizes):  # type: ignore[operator]
        return None
    if not all(_is_int(d) and (d > 0 or d == -1) for d in target) or target.count(-1) != 1:
        return None
    rest = math.prod(d for d in target if d > 0)
    total = math.prod(sizes)  # type: ignore[arg-type]
    if total % rest:
        return None
    return tuple(total // rest if d == -1 else d for d in target)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _spatial_size(cls: str, size: Dim) -> Dim:
    """Unknown stays unknown (cropped: a negative number); a negative one may stay negative; others are known."""
    if size is None:
        return MAYBE_NEGATIVE if cls in _CROPPING else None
    return MAYBE_NEGATIVE if size is MAYBE_NEGATIVE else KNOWN


def _reshape(x: TShape, target: Any) -> Flow:
    """TF.js solves a ``-1`` only when every input size, the batch included, is known: else it stays null."""
    if not isinstance(target, list) or not all(isinstance(d, int) or d is None for d in target):
        return None
    if any(d is None for d in x):
        return (x[0], *(None if d is None or d < 0 else d for d in target))
    return (x[0], *(KNOWN if d is None or d < 0 else d for d in target))


def _elementwise(shapes: list[TShape]) -> Flow:
    """TF.js's broadcast rule: an axis unknown in either operand is unknown, even against a 1."""
    out = shapes[0]
    for other in shapes[1:]:
        longer, shorter = (out, other) if len(out) >= len(other) else (other, out)
        head = longer[:len(longer) - len(shorter)]
        tail = tuple(_merged(a, b) for a, b in zip(longer[len(head):], shorter, strict=True))
        out = (*head, *tail)
    return out


def _merged(a: Dim, b: Dim) -> Dim:
    """TF.js's ``computeElementwiseOpOutputShape``: null where either size is null or negative."""
    if a is None or b is None or a is MAYBE_NEGATIVE or b is MAYBE_NEGATIVE:
        return None
    if a == 1:
        return b
    return a


def _dot(shapes: list[TShape], axes: Any) -> Flow:
    """TF.js's Dot: each input without its contracted axis, the second without its batch too (at least rank 2)."""
    axes = axes if isinstance(axes, list) else [axes, axes]
    if len(shapes) != 2 or len(axes) != 2 or not all(_is_int(a) for a in axes):
        return None
    first, second = shapes
    i, j = axes[0] % len(first), axes[1] % len(second)
    if j == 0:
        return None
    out = (*first[:i], *first[i + 1:], *second[1:j], *second[j + 1:])
    return out if len(out) > 1 else (*out, 1)


def _concatenate(shapes: list[TShape], axis: Any) -> Flow:
    """TF.js takes the first input's sizes, the concatenated axis summed (null if any is)."""
    rank = len(shapes[0])
    if len({len(s) for s in shapes}) != 1 or not isinstance(axis, int) or not -rank <= axis < rank:
        return None
    axis %= rank
    column = [s[axis] for s in shapes]
    if None in column:
        total: Dim = None
    elif all(isinstance(d, int) for d in column):
        total = sum(column)  # type: ignore[arg-type]
    else:
        total = KNOWN
    return (*shapes[0][:axis], total, *shapes[0][axis + 1:])
