"""What a layer lowering sees: the layer's config, its input Values, its weights, and IR-building helpers.

Values carry static shapes (batch dimension ``None``) that each lowering sets on its output, so the
next layer knows its input rank without running anything. Every node is named ``<layer>/<op>``.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, LazyArray, Shape, Value, materialize
from tfjsconv.ops.special_values import GUARDED_SUFFIX

from ..tfjs_support import CLASS_RENAMES
from .lazy import Float32Array, ReshapedArray
from .registry import Unsupported

F32 = DType.FLOAT32
#: The Keras dtype of integers that went through a layer whose result dtype the walk does not follow (an
#: AveragePooling2D, a sigmoid Activation): layers whose result depends on it refuse (:meth:`LayerContext.integer_dtype`).
UNTRACKED = "untracked"


@functools.cache
def _has_t_attr(op: str) -> bool:
    from tfjsconv.ops import OpRegistry

    registry = OpRegistry.builtin()
    return op in registry and any(a.tf_name == "T" for a in registry.get(op).attrs)


class LayerContext:
    """One call of one layer: ``inputs`` are its input tensors, ``weights`` its arrays in Keras's order."""

    def __init__(self, graph: Graph, name: str, class_name: str, config: dict[str, Any],
                 inputs: Sequence[Value], weights: Sequence[np.ndarray | LazyArray], source: str, *, keras3: bool,
                 weight_consts: dict[tuple[str, int], Value] | None = None,
                 call_kwargs: dict[str, Any] | None = None) -> None:
        self.graph = graph
        self.name = name
        self.class_name = class_name
        self.config = config
        self.inputs = list(inputs)
        self.weights = list(weights)
        self.source = source
        #: tf_keras and Keras 3 differ in a few formulas (``hard_sigmoid``).
        self.keras3 = keras3
        #: The layer's weight Consts by (label, array), shared by all calls of a shared layer.
        self.weight_consts = {} if weight_consts is None else weight_consts
        #: The call's keyword arguments (``use_causal_mask``; tensors the lowering declared as Values); the walk
        #: refuses the call if one the lowering never looked at would change the result (:func:`check_kwargs_read`).
        self.call_kwargs = CallKwargs(call_kwargs or {})
        #: The bool ``[batch, steps]`` Keras mask of the input, for the layers that read one (see ``.masking``).
        self.mask: Value | None = None
        #: Each positional input's Keras mask (None where it has none), for the layers that take several.
        self.masks: list[Value | None] = [None] * len(self.inputs)
        #: The Keras masks of the tensors given as keyword arguments (tf_keras's ``value=``), by keyword.
        self.keyword_masks: dict[str, Value | None] = {}
        #: Whether the saved call records a ``mask`` argument (Keras 3 records the mask the layer computes with).
        self.mask_recorded = False
        #: The integer dtype Keras gives each input (None: a float), set by the walk, which hands every float layer
        #: its integers cast to float32 (Keras layers that only move values keep the integers' dtype, Resizing's
        #: result depends on it): see :meth:`integer_dtype`.
        self.keras_dtypes: list[DType | str | None] = [None] * len(self.inputs)
        #: What the lowering returned (set by the walk, which then builds the output's mask beside it).
        self.outputs: Value | list[Value] | None = None
        #: The 8/16-bit integer dtype Keras gives the output that the lowering computed as int32 (a cast to uint8),
        #: set by the lowering for the walk to track (a later sum wraps in it).
        self.output_keras_dtype: DType | None = None

    # -- facts --------------------------------------------------------------------------------------------
    @property
    def x(self) -> Value:
        """The single input of a one-input layer."""
        if len(self.inputs) != 1:
            raise self.error(f"expects one input, got {len(self.inputs)}")
        return self.inputs[0]

    def shape(self, value: Value | None = None) -> tuple[int | None, ...]:
        shape = (value or self.x).shape
        if shape is None:
            raise Unsupported(f"layer {self.name!r} ({self.class_name}): input rank unknown")
        return tuple(shape)

    def integer_dtype(self, index: int = 0) -> DType | None:
        """The integer dtype Keras gives input ``index`` (its Value here may be float32, cast by the walk); None for
        a float. Refused where integers went through a layer whose Keras result dtype the walk does not follow."""
        dtype = self.keras_dtypes[index] if index < len(self.keras_dtypes) else None
        if dtype == UNTRACKED:
            raise Unsupported(f"layer {self.name!r} ({self.class_name}) on integers that went through a layer whose "
                              "Keras result dtype the lowering does not follow (this layer's result depends on it)")
        return dtype if isinstance(dtype, DType) else None

    def error(self, message: str) -> InputError:
        return InputError(f"{self.source}: layer {self.name!r} ({self.class_name}) {message}",
                          hint="the file is corrupt or was edited; save the model again with Keras")

    def expect_weights(self, *names: str) -> list[np.ndarray | LazyArray]:
        """The layer's weights, checked to be exactly ``names`` in count (a layer whose weights do not fit)."""
        if len(self.weights) != len(names):
            raise self.error(f"has {len(self.weights)} weights, but its config needs {len(names)} "
                             f"({', '.join(names) or 'none'})")
        return [w if np.dtype(w.dtype) == np.float32 else Float32Array(w) for w in self.weights]

    def check_shape(self, array: np.ndarray | LazyArray, shape: Sequence[int | None], what: str) -> None:
        if len(array.shape) != len(shape) or any(s is not None and a != s for a, s in zip(array.shape, shape)):
            raise self.error(f"has a {what} of shape {list(array.shape)}, expected {list(shape)}")

    # -- building -----------------------------------------------------------------------------------------
    def op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
           shape: Shape = None, dtype: DType | None = None, label: str | None = None) -> Value:
        attrs = dict(attrs or {})
        dtype = dtype or (inputs[0].dtype if inputs else F32)
        if "T" not in attrs and _has_t_attr(op):
            attrs["T"] = inputs[0].dtype if inputs else dtype
        name = f"{self.name}/{label or op}"
        return self.graph.add_op(op, inputs, attrs, name=name, dtype=dtype, shape=shape)

    def exact_cast(self, x: Value, dtype: DType, label: str) -> Value:
        """A Cast of values the lowering knows every backend casts as TensorFlow does (whole numbers within the
        target's range, or guarded by a SelectV2 after it): named as a guarded node (``…/exact_special_values``) so
        the conversion's special-values line does not name the contract's Cast deviations (out-of-range floats,
        cpu's unrounded int32) for it."""
        return self.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape,
                       label=f"{label}{GUARDED_SUFFIX}")

    def const(self, array: np.ndarray | LazyArray, label: str) -> Value:
        return self.graph.const(array, name=f"{self.name}/{label}")

    def weight(self, array: np.ndarray | LazyArray, label: str) -> Value:
        """The Const of one of the layer's weights; a shared layer's calls all read the same one."""
        key = (label, id(_unwrapped(array)))
        if key not in self.weight_consts:
            self.weight_consts[key] = self.const(array, label)
        return self.weight_consts[key]

    def floats(self, values: Any, label: str) -> Value:
        return self.const(np.asarray(values, dtype=np.float32), label)

    def ints(self, values: Any, label: str) -> Value:
        return self.const(np.asarray(values, dtype=np.int32), label)

    def small(self, array: np.ndarray | LazyArray) -> np.ndarray:
        """A small weight (a norm's statistics) read now, as float64 for exact folding."""
        return materialize(array).astype(np.float64)

    # -- common ops ---------------------------------------------------------------------------------------
    def reshape(self, x: Value, dims: Sequence[int | None], label: str = "Reshape") -> Value:
        """Reshape to ``dims`` (one ``None``, the batch, becomes -1)."""
        target = [-1 if d is None else int(d) for d in dims]
        if target.count(-1) > 1:
            raise Unsupported(f"layer {self.name!r} ({self.class_name}): reshape to {list(dims)} needs static sizes")
        if -1 in target and 0 in target:  # TF.js cannot infer the -1 over 0 elements ("Cannot infer the missing size")
            raise Unsupported(f"layer {self.name!r} ({self.class_name}): reshape to {list(dims)} over an axis of "
                              "size 0 (TF.js cannot infer the batch's -1 over 0 elements)")
        return self.op("Reshape", [x, self.ints(target, f"{label}_shape")], {"Tshape": DType.INT32},
                       shape=tuple(dims), label=label)

    def transpose(self, x: Value, perm: Sequence[int], label: str = "Transpose") -> Value:
        shape = self.shape(x)
        return self.op("Transpose", [x, self.ints(list(perm), f"{label}_perm")], {"Tperm": DType.INT32},
                       shape=tuple(shape[p] for p in perm), label=label)

    def binary(self, op: str, a: Value, b: Value, label: str | None = None) -> Value:
        return self.op(op, [a, b], shape=broadcast_shape(a.shape, b.shape), label=label)

    def scalar_op(self, op: str, x: Value, scalar: float, label: str) -> Value:
        return self.op(op, [x, self.floats(scalar, f"{label}_value")], shape=x.shape, label=label)

    def unary(self, op: str, x: Value, attrs: dict[str, Any] | None = None, label: str | None = None) -> Value:
        return self.op(op, [x], attrs, shape=x.shape, label=label)

    def expand_dims(self, x: Value, axis: int, label: str) -> Value:
        shape = list(self.shape(x))
        shape.insert(axis, 1)
        return self.op("ExpandDims", [x, self.ints(axis, f"{label}_axis")], {"Tdim": DType.INT32},
                       shape=tuple(shape), label=label)

    def squeeze(self, x: Value, axis: int, label: str) -> Value:
        shape = list(self.shape(x))
        del shape[axis]
        return self.op("Squeeze", [x], {"squeeze_dims": [axis]}, shape=tuple(shape), label=label)


#: The RNN call argument with the states to start from (tensors, or Keras 3's saved ``__numpy__`` constants).
STATE_KEYWORD = "initial_state"
#: Keyword tensors a layer takes only optionally (an RNN's initial_state, CategoryEncoding's count_weights): never
#: given inside a Pipeline or a TimeDistributed, which hand one tensor on, so those may wrap such a layer.
OPTIONAL_KEYWORDS = frozenset({STATE_KEYWORD, "count_weights"})

#: Call keyword arguments that change nothing at inference when they have these values.
NEUTRAL_KWARGS = {"training": (None, False), "return_attention_scores": (None, False),
                  "use_causal_mask": (None, False)}


#: The config value of a noise layer whose call in training returns its input when it is 0: tf_keras's Dropout and
#: SpatialDropout return ``tf.identity(x)`` for ``rate == 0`` whatever ``training`` says, its GaussianDropout and
#: AlphaDropout act only for ``0 < rate < 1``, GaussianNoise adds ``0 · noise`` (an input -0.0 comes out +0.0);
#: Keras 3's act only for ``rate > 0`` / ``stddev > 0``.
NOISE_AMOUNTS = {"Dropout": "rate", "SpatialDropout1D": "rate", "SpatialDropout2D": "rate", "SpatialDropout3D": "rate",
                 "GaussianNoise": "stddev", "GaussianDropout": "rate", "AlphaDropout": "rate"}
#: Keras 3 layers whose call computes otherwise in training whatever their config (a random augmentation
#: layer transforms its input; SpectralNormalization runs one more power iteration on its kernel).
_TRAINING_LAYERS = frozenset({"SpectralNormalization", "RandomFlip", "RandomRotation", "RandomTranslation",
                              "RandomZoom", "RandomContrast", "RandomBrightness", "RandomCrop", "RandomHeight",
                              "RandomWidth", "Solarization", "CutMix", "MixUp", "AugMix", "RandAugment"})


def same_in_training(class_name: str, config: dict[str, Any]) -> bool:
    """A noise layer of amount 0 (:data:`NOISE_AMOUNTS`): its call with ``training=True`` is its inference call, so a
    call site's ``training=True`` is neutral for it."""
    key = NOISE_AMOUNTS.get(class_name)
    amount = config.get(key) if key else None
    return isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount == 0


def differs_in_training(class_name: str, config: dict[str, Any], depth: int = 0) -> bool:
    """Whether a Keras 3 or tf_keras layer (or a nested model, through its layers) computes otherwise when called
    with ``training=True``: a noise layer of nonzero amount, a trainable BatchNormalization (batch statistics; Keras
    3's ``training and self.trainable``, tf_keras sets ``training = False`` for a frozen one), a layer with
    ``dropout``/``recurrent_dropout`` above 0 (RNNs, ConvLSTM, attention), or one of :data:`_TRAINING_LAYERS`;
    wrappers and RNNs through the layers or cells they hold. tf_keras's layers whose call reads ``training`` are
    these and Lambda (whose function may read it: not listed here, callers check it)."""
    if class_name in NOISE_AMOUNTS:
        return not same_in_training(class_name, config)
    if class_name == "BatchNormalizationV1":  # TF 1's class: batch statistics in training even when frozen
        return True
    class_name = CLASS_RENAMES.get(class_name, class_name)  # BatchNormalizationV2, UnifiedLSTM: today's names
    if class_name == "BatchNormalization":
        return config.get("trainable", True) is not False
    if class_name in _TRAINING_LAYERS or class_name.startswith("Random"):
        return True
    if any(isinstance(config.get(k), (int, float)) and config.get(k) > 0 for k in ("dropout", "recurrent_dropout")):
        return True
    wrapped = ("layer", "forward_layer", "backward_layer", "cell")  # wrappers' layers, an RNN's cell
    inner = [config.get(k) for k in wrapped if isinstance(config.get(k), dict)]
    inner += [e for e in config.get("layers") or [] if isinstance(e, dict) and not called_at_inference(e)]
    inner += [e for e in config.get("cells") or [] if isinstance(e, dict)]  # RNN(StackedRNNCells([...]))
    return depth < 64 and any(differs_in_training(str(e.get("class_name")), e.get("config") or {}, depth + 1)
                              for e in inner)


def called_at_inference(entry: dict[str, Any]) -> bool:
    """Whether every call site of a nested model's layer says ``training=False`` (or tf_keras's 0): that value, not
    the model call's ``training=True``, is what the layer gets (tf_keras's and Keras 3's explicit argument wins)."""
    nodes = entry.get("inbound_nodes")
    if not isinstance(nodes, list) or not nodes:
        return False  # a Sequential's layer: the model's value
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": ..., "kwargs": ...}
            values = [(node.get("kwargs") or {}).get("training")] if isinstance(node.get("kwargs"), dict) else [None]
        elif isinstance(node, list):  # tf_keras: [[layer, node, tensor, kwargs], ...]
            values = [item[3].get("training") if len(item) > 3 and isinstance(item[3], dict) else None
                      for item in node if isinstance(item, list)] or [None]
        else:
            return False
        if not all(v is False or (type(v) is int and v == 0) for v in values):
            return False
    return True


#: Layers whose lowering computes a tf_keras call with ``training=True`` as tf_keras does (BatchNormalization's batch
#: statistics, :mod:`.batch_norm_training`): a nested model that hands ``training=True`` to them is walked, the
#: walk giving each inner call that ``training`` (``ModelLowering._inherited_training``).
LOWERED_IN_TRAINING = frozenset({"BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2"})


def layer_differing_in_training(config: dict[str, Any], prefix: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The first layer (name with its nested models' path, class) of a nested model's ``config`` that computes
    otherwise when tf_keras hands the model call's ``training=True`` down to it (:func:`differs_in_training`, or a
    Lambda, whose function may read ``training``) and whose lowering does not compute that
    (:data:`LOWERED_IN_TRAINING`); None when every layer is lowered as tf_keras computes it."""
    for entry in config.get("layers") or []:
        if not isinstance(entry, dict):
            continue
        if called_at_inference(entry):  # its own training=False wins over the one handed down
            continue
        cls, inner = str(entry.get("class_name")), entry.get("config") or {}
        name = prefix + str(inner.get("name", cls))
        if isinstance(inner.get("layers"), list) and depth < 64:  # a nested model inside: name its layer
            found = layer_differing_in_training(inner, f"{name}/", depth + 1)
            if found is not None:
                return found
        elif cls == "Lambda" or differs_in_training(cls, inner) and cls not in LOWERED_IN_TRAINING:
            return name, cls
    return None


class CallKwargs(dict):
    """A call's keyword arguments that remember which ones the lowering read (``get``, ``[]``, ``in``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def check_call_kwargs(ctx: LayerContext, handled: tuple[str, ...]) -> None:
    """Refuse (fall back) on a call keyword argument the lowering does not implement (``mask`` tensors). ``training``
    is left to the walk (``ModelLowering._check_kwargs``), which knows whether the layer computes otherwise in
    training (a tf_keras MultiHeadAttention without dropout does not)."""
    _refuse_kwargs(ctx, [k for k in ctx.call_kwargs if k not in handled and k != "training"])
    ctx.call_kwargs.read.update(k for k in ctx.call_kwargs.keys() if k != "training")


def check_kwargs_read(ctx: LayerContext, walked: tuple[str, ...] = ("mask",)) -> None:
    """After the lowering: refuse a call keyword argument it never read (``initial_state=`` a constant, a
    ``training=True`` Dropout), unless neutral or ``walked`` (the mask, which the walk itself follows)."""
    read = ctx.call_kwargs.read if isinstance(ctx.call_kwargs, CallKwargs) else set(ctx.call_kwargs)
    _refuse_kwargs(ctx, [k for k in ctx.call_kwargs if k not in read and k not in walked])


def _refuse_kwargs(ctx: LayerContext, keys: list[str]) -> None:
    for key in keys:
        value = dict.__getitem__(ctx.call_kwargs, key)
        if any(value is v or (type(value) is type(v) and value == v) for v in NEUTRAL_KWARGS.get(key, (None,))):
            continue
        text = repr(value)
        shown = text if len(text) < 40 else text[:37] + "..."
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {key}={shown}")


def _unwrapped(array: Any) -> Any:
    """The file's array behind the lowering's float32 / reshape views of it."""
    while isinstance(array, (Float32Array, ReshapedArray)):
        array = array.source
    return array


def broadcast_shape(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two partial shapes (None where a size is unknown)."""
    if a is None or b is None:
        return None
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[int | None] = []
    for x, y in zip(a, b):
        out.append(y if x == 1 else x if y == 1 else x if x == y else None if None in (x, y) else max(x, y))
    return tuple(out)
