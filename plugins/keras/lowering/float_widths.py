"""Layers and model inputs Keras computes in float64 or float16, which TF.js has neither of: lowered in float32.

- float64 (``Dense(dtype="float64")``, ``keras.Input(dtype="float64")``, a global ``float64`` policy): computed in
  float32, as the TF-traced path computes them (it writes TF's graph with DT_DOUBLE read as float32). A float32
  input cast up is exact, so results differ from Keras's by float32's rounding of each step (about 1e-7 of their
  range), more after a cancellation (the variance of values far from zero): named in a warning
  (:class:`WidthNotices`). The signature says float32, the dtype TF.js returns.
- float16 (``float16`` and ``mixed_float16`` policies): TF's float16 arithmetic emulated in float32. A layer's float
  inputs are rounded to float16 as Keras's autocast rounds them (:func:`rounds_inputs`), its float weights as
  ``mixed_float16``'s variables are cast when read (:func:`half_weights`), and each op's float result as TF rounds
  a float16 op's (:func:`round_each_op`); normalizations that compute in float32 and cast the result at the end
  (:func:`rounds_outputs`) get only that cast, the moments TF computes in float32 (``tf.nn.moments``) only their
  mean's and variance's (:func:`_moments_squares`). Roundings are TF's Cast to float16, exact in float32 ops
  (:func:`tfjsconv.passes.half_rounding.round_cast_to_half`). TF accumulates sums (MatMul, Conv2D) in float32
  before their one rounding, so Dense, Conv and BatchNormalization layers give Keras's values but where a sum's
  other float32 order lands on the other side of a float16 rounding point; layers whose TF kernels round in other
  steps than the lowering's ops (LSTM, MultiHeadAttention, Softmax, tf_keras's LayerNormalization) differ by about
  float16's precision, as the traced path (which computes float16 arithmetic in float32) does: named in a warning.
- a float16 model Input: Keras casts what it is given to float16, so the placeholder's values are rounded first.
- a layer in a TimeDistributed or Bidirectional: computed under the policy Keras computes it in, the wrapper's or its
  own (:func:`width_view`).

bfloat16 policies stay gaps, named by :mod:`.layer_gaps` (TF rounds to 8 significant bits).
"""
from __future__ import annotations

import logging
import weakref
from typing import Any

import numpy as np
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node, Value

from ..configs import dtype_name, is_model
from ..op_calls import is_op_layer

log = logging.getLogger(__name__)

#: Layer dtype policies lowered in float32 (beside None and float32).
FLOAT32_COMPUTED_POLICIES = frozenset({"float64", "float16", "mixed_float16"})
#: The policies whose layers Keras computes in float16.
HALF_POLICIES = frozenset({"float16", "mixed_float16"})
#: Layers whose float16 policies stay gaps (none since session 23: Keras 3's STFTSpectrogram convolves with its
#: kernels in float16, each op rounded as any layer's; its MelSpectrogram computes in float32, the result rounded).
HALF_GAPS: frozenset[str] = frozenset()


def lowered_in_float32(cls: str, config: dict[str, Any]) -> bool:
    """Whether a layer of a float64 or float16 policy is lowered (in float32, as this module says)."""
    dtype = dtype_name(config.get("dtype"))
    return dtype in FLOAT32_COMPUTED_POLICIES and not (dtype in HALF_POLICIES and cls in HALF_GAPS)


#: Layers whose weights Keras reads in float32 under a float16 policy (created with ``autocast=False``, tf_keras's
#: ``experimental_autocast=False``; Keras 3's Embedding does not autocast at all), and float32 layers in a float16
#: wrapper (:data:`FLOAT32_INNER`).
FLOAT32_WEIGHTS = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "Embedding",
                             "float32 layers of a float16 wrapper"})
#: Keras 3 layers that compute in float32 and cast the result to float16 at the end (its normalizations cast their
#: float16 inputs up first; Embedding gathers float32 rows; MelSpectrogram casts its inputs to float32 for TF's
#: FFT), float32 layers in a float16 wrapper (:data:`FLOAT32_INNER`); tf_keras's BatchNormalization (TF's fused
#: kernel computes float16 in float32) and Embedding too.
KERAS3_FLOAT32_INSIDE = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "Embedding",
                                   "MelSpectrogram", "float32 layers of a float16 wrapper"})
#: tf_keras's LayerNormalization under ``mixed_float16`` (float32 variables) normalizes in float32: fused
#: (FusedBatchNormV3, float32 inside, then ``* gamma`` and ``+ beta`` in float16) or its inputs cast to float32 (an
#: epsilon below 1.001e-5); under ``float16`` it computes in float16 but its moments (:data:`MOMENTS`).
TF_KERAS_FLOAT32_INSIDE = frozenset({"BatchNormalization", "Embedding", "LayerNormalization"})
KERAS3_NOT_AUTOCAST = frozenset({"LayerNormalization", "GroupNormalization", "Embedding"})


#: A :func:`width_view` config's key saying whether the float inputs of a layer in Keras 3's TimeDistributed are cast
#: to float16: by a float16 wrapper (even for a layer that does not autocast itself, a LayerNormalization), never by
#: a float32 one (it runs ``layer.call``, bypassing the layer's autocast).
WRAPPER_CASTS = "TimeDistributed casts the inputs"


def rounds_inputs(cls: str, keras3: bool, config: dict[str, Any] | None = None) -> bool:
    """Whether Keras casts a float16-policy layer's float inputs to float16 (its autocast, or its wrapper's:
    :data:`WRAPPER_CASTS`; op layers compute in their inputs' dtype, :func:`op_layer_in_half`)."""
    casts = (config or {}).get(WRAPPER_CASTS)
    return (not (keras3 and cls in KERAS3_NOT_AUTOCAST) if casts is None else casts) and not is_op_layer(cls)


def rounds_outputs(cls: str, keras3: bool, config: dict[str, Any] | None = None) -> bool:
    """Whether a float16-policy layer's result is a cast of its float32 one to float16 (rounded exactly, as the
    traced path rounds casts); other layers' float16 arithmetic is computed in float32. tf_keras's
    LayerNormalization: per policy where ``config`` is given (``float16``: each op rounded, :data:`MOMENTS`), else as
    under ``mixed_float16``, the policy mixed precision uses."""
    if not keras3 and cls == "LayerNormalization" and dtype_name((config or {}).get("dtype")) == "float16":
        return False
    return cls in (KERAS3_FLOAT32_INSIDE if keras3 else TF_KERAS_FLOAT32_INSIDE)


#: Layers whose lowerings compute otherwise than Keras's float16 ops (inputs projected for all steps at once, gates and
#: heads fused or split): their intermediate values are not Keras's, so rounding them gains nothing measurable and
#: costs about ten times the nodes; computed in float32 between their rounded inputs and weights, as the traced path
#: computes float16 arithmetic.
FLOAT32_BETWEEN = frozenset({
    "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention",
    "float32 layers of a float16 wrapper"})


#: The view class of a float16 wrapper around float32 layers (:func:`width_view`): Keras casts the inputs to float16,
#: the layers compute in float32 on them (their own autocast scope, float32 weights), and Keras 3's Bidirectional
#: casts each direction's result to float16 (:data:`KERAS3_FLOAT32_INSIDE`; tf_keras's wrappers do not).
FLOAT32_INNER = "float32 layers of a float16 wrapper"
WRAPPERS = frozenset({"TimeDistributed", "Bidirectional"})


def _wrapped(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A wrapper's layers: the wrapped one, and a Bidirectional's saved backward one."""
    return [(str(entry.get("class_name")), dict(entry.get("config") or {}))
            for entry in (config.get("layer"), config.get("backward_layer")) if isinstance(entry, dict)]


def width_view(cls: str, config: dict[str, Any], keras3: bool) -> tuple[str, dict[str, Any]]:
    """The class and config whose dtype policy says how a layer computes (its roundings and notice): a
    TimeDistributed's or Bidirectional's wrapped layer, under the policy Keras computes it in. The wrapper casts its
    inputs to its own compute dtype first, then:

    - a layer the wrapper calls (``layer(x)``: Bidirectional, tf_keras's TimeDistributed, and Keras 3's RNNs, whose
      cells are called) computes under its own policy; under a float16 wrapper a float32 layer computes in float32
      on float16 inputs, and Keras 3's Bidirectional casts the result to float16 (:data:`FLOAT32_INNER`);
    - Keras 3's TimeDistributed runs ``layer.call`` in its own autocast scope: the wrapper's policy (float32 but for
      a float64 layer's float64 weights, which promote the inputs, and the layers whose call casts its float32 result
      to their float16 policy, :data:`KERAS3_FLOAT32_INSIDE`), inputs cast by a float16 wrapper only
      (:data:`WRAPPER_CASTS`)."""
    if cls not in WRAPPERS or is_model(config.get("layer") or {}):
        return cls, config
    if cls == "Bidirectional" and (gap := wrapped_width_gap(cls, config)):  # (TimeDistributed's: its check)
        from .registry import Unsupported

        raise Unsupported(f"layer {config.get('name')!r} (Bidirectional: {gap})")
    inner_cls, inner = _wrapped(config)[0]
    outer, own = dtype_name(config.get("dtype")), dtype_name(inner.get("dtype"))
    if cls == "TimeDistributed" and keras3 and inner_cls not in FLOAT32_BETWEEN:
        governing = config.get("dtype") if outer in FLOAT32_COMPUTED_POLICIES else inner.get("dtype") if \
            own == "float64" or (own in HALF_POLICIES and inner_cls in KERAS3_FLOAT32_INSIDE) else "float32"
        return inner_cls, {**inner, "dtype": governing, WRAPPER_CASTS: outer in HALF_POLICIES}
    if own in FLOAT32_COMPUTED_POLICIES or outer not in HALF_POLICIES:
        return inner_cls, inner
    return FLOAT32_INNER, config


def wrapped_width_gap(cls: str, config: dict[str, Any]) -> str | None:
    """Why a wrapper's layers' dtype policies are not lowered: one outside float32/float64/float16 (bfloat16, a
    quantized one), a Bidirectional's two layers of different policies, or a float32 RNN in a float16 TimeDistributed
    (not measured)."""
    outer = dtype_name(config.get("dtype"))
    policies = []
    for inner_cls, inner in _wrapped(config):
        own = dtype_name(inner.get("dtype"))
        # review R3 (session 23): the walk follows a wrapper's policy one level down, onto a layer, not through a
        # nested model or wrapper (F1, F3: 1e-4..3e-4 off, unnamed), nor a float64 layer's own cast (F4)
        if is_model({"class_name": inner_cls, "config": inner}) and outer in FLOAT32_COMPUTED_POLICIES:
            return f"a nested model in a {outer} {cls}"
        if inner_cls in WRAPPERS and (_nested_widths(inner_cls, inner) | {outer}) - {None, "float32"}:
            return f"a {inner_cls} in a {cls} around layers of dtypes other than float32"
        if own == "float64" and outer in HALF_POLICIES:
            return f"a wrapped {inner_cls} of dtype float64 in a {outer} {cls}"
        if own not in (None, "float32") and not lowered_in_float32(inner_cls, inner):
            return f"a wrapped {inner_cls} of dtype {own}"
        if cls == "TimeDistributed" and inner_cls in FLOAT32_BETWEEN and outer in HALF_POLICIES and \
                own not in HALF_POLICIES:
            return f"a wrapped {inner_cls} of dtype {own or 'float32'} in a {outer} TimeDistributed"
        policies.append(own or "float32")
    return f"forward and backward layers of dtypes {' and '.join(policies)}" if len(set(policies)) > 1 else None


def _nested_widths(cls: str, config: dict[str, Any], depth: int = 0) -> set[str | None]:
    """The dtype policies of a wrapper and every layer it wraps, wrappers inside included."""
    found = {dtype_name(config.get("dtype"))}
    for inner_cls, inner in _wrapped(config):
        found |= _nested_widths(inner_cls, inner, depth + 1) if inner_cls in WRAPPERS and depth < 32 else \
            {dtype_name(inner.get("dtype"))}
    return found


def rounds_each_op(cls: str) -> bool:
    """Whether a float16-policy layer's lowered ops each round their result (:func:`round_each_op`)."""
    return cls not in FLOAT32_BETWEEN


def half_weights(arrays: list[Any], cls: str, config: dict[str, Any]) -> list[Any]:
    """A float16-policy layer's weights as its call reads them: float ones rounded to float16 (``mixed_float16``
    keeps float32 variables and casts them when read; a ``float16`` policy's are float16 already), but for the
    layers that read theirs in float32 (:data:`FLOAT32_WEIGHTS`)."""
    if cls in FLOAT32_WEIGHTS and not (cls == "GroupNormalization" and _tf_keras_mixed(config)):
        return arrays
    return [_half_array(a) if np.dtype(getattr(a, "dtype", "O")).kind == "f" else a for a in arrays]


def _tf_keras_mixed(config: dict[str, Any]) -> bool:
    """Whether the layer is tf_keras's under ``mixed_float16`` (its ``Policy``; Keras 3 saves a ``DTypePolicy``):
    tf_keras's GroupNormalization autocasts its float32 variables to float16 when read."""
    dtype = config.get("dtype")
    return isinstance(dtype, dict) and dtype.get("class_name") == "Policy" and dtype_name(dtype) == "mixed_float16"


def _half_array(array: Any) -> np.ndarray:
    """A float weight (an array or a lazy one, ``load()``) rounded to float16, held in float32."""
    values = array.load() if hasattr(array, "load") else np.asarray(array)
    return np.asarray(values).astype(np.float16).astype(np.float32)


def round_each_op(graph: Graph, before: set[str], outputs: list[Any]) -> list[Any]:
    """Emulate TF's float16 arithmetic in the nodes added since ``before`` (one layer's lowering): each float32
    result of an op that computes (not one of :func:`_exact_on_half`) is rounded to float16 as TF rounds each float16 op's
    result, and each float32 constant is held rounded (a new Const: a cached one may be read by float32 layers too);
    its readers inside the layer and the layer's ``outputs`` read the rounded Values. TF's kernels for products and
    sums accumulate in float32 before their one rounding (a Dense's MatMul then BiasAdd: every value Keras's), so
    only sums whose float32 order differs near a float16 rounding point, and kernels TF computes in several
    float16 steps (Softmax, a fused normalization) differ, by a float16 step."""
    added = [node for node in graph.nodes if node.name not in before]
    read = {id(v) for node in added for v in node.inputs} | {id(v) for v in outputs}  # only the layer reads them
    read -= _moments_squares(added)
    exact = _exact_on_half()
    rounded: dict[Value, Value] = {}
    for node in added:
        for value in node.outputs:
            if value.dtype == DType.FLOAT32 and id(value) in read and (half := _half_kernel(graph, node, rounded) or
                                                                          _rounded(graph, node, value, exact)):
                rounded[value] = half
    for node in added:
        node.inputs = [rounded.get(v, v) for v in node.inputs] if any(v in rounded for v in node.inputs) else \
            node.inputs
    halves = [rounded.get(v, v) if isinstance(v, Value) else v for v in outputs]
    mark_half(graph, halves)  # the layer's float16 results, exact ones (a Reshape) too
    return halves


#: TF's Selu constants, which its float16 kernel holds in float16 (``static_cast<T>``): scale, scale·alpha.
SELU = (1.0507009873554804934193349852946, 1.7580993408473768599402175208123)


def _half_kernel(graph: Graph, node: Node, rounded: dict[Value, Value]) -> Value | None:
    """An Elu or Selu node's result as TF's float16 kernel computes it, or None for other ops: Eigen rounds each step
    of ``x < 0 ? [scale_alpha ·] (exp(x) − 1) : [scale ·] x`` to float16, so ``exp(−2.5e-5)`` is 1 and the result
    0 (the float32 op, rounded once, gave ``x``: R2's finding, session 22). ``rounded``: the layer's rounded Values
    so far (its input's among them)."""
    if node.op not in ("Elu", "Selu") or len(node.inputs) != 1 or node.inputs[0].dtype != DType.FLOAT32:
        return None
    x, name, shape = rounded.get(node.inputs[0], node.inputs[0]), node.name, node.inputs[0].shape

    def step(op: str, inputs: list[Value], label: str) -> Value:
        return rounded_to_half(graph, graph.add_op(op, inputs, {"T": DType.FLOAT32}, name=f"{name}/{label}",
                                                   dtype=DType.FLOAT32, shape=shape), f"{name}/{label}_to_float16")

    def half_const(value: float, label: str) -> Value:
        return graph.const(np.asarray(np.float16(value), np.float32), name=f"{name}/{label}")

    negative = step("Sub", [step("Exp", [x], "exp"), half_const(1.0, "one")], "exp_minus_one")
    positive = x
    if node.op == "Selu":
        negative = step("Mul", [half_const(SELU[1], "scale_alpha"), negative], "scaled_negative")
        positive = step("Mul", [half_const(SELU[0], "scale"), x], "scaled")
    below = graph.add_op("Less", [x, half_const(0.0, "zero")], {"T": DType.FLOAT32}, name=f"{name}/negative",
                         dtype=DType.BOOL, shape=shape)
    return graph.add_op("SelectV2", [below, negative, positive], {"T": DType.FLOAT32}, name=f"{name}/float16",
                        dtype=DType.FLOAT32, shape=shape)


#: The labels of a variance's squares and their Mean in the normalizations' moments (``normalization._moments``).
MOMENTS = ("/squared", "/variance")


def _moments_squares(added: list[Node]) -> set[int]:
    """The squared deviations of a variance (:data:`MOMENTS`), left unrounded: TF's ``tf.nn.moments`` (tf_keras's
    GroupNormalization, its LayerNormalization under ``float16``) computes float16 inputs' mean and variance in
    float32 and casts them to float16 (a square past 65504 is no inf there, a variance past it is)."""
    squares = {id(v): v for node in added if node.op == "Square" and node.name.endswith(MOMENTS[0])
               for v in node.outputs}
    for node in added:
        for value in node.inputs:
            if id(value) in squares and not (node.op == "Mean" and node.name.endswith(MOMENTS[1])):
                squares.pop(id(value))
    return set(squares)


def _rounded(graph: Graph, node: Node, value: Value, exact: frozenset[str]) -> Value | None:
    """``value`` (a float32 output of ``node``) as TF's float16 op gives it, or None where it is one already."""
    if node.op == "Const":
        array = node.attrs.get("value")
        if not isinstance(array, np.ndarray) or _holds_half(array):
            return None  # weights: rounded when read (half_weights)
        return graph.const(array.astype(np.float16).astype(np.float32), name=f"{node.name}/float16")
    return None if node.op in exact else rounded_to_half(graph, value, f"{node.name}/to_float16")


def _exact_on_half() -> frozenset[str]:
    """Ops whose float results are values of their operands (moves, picks, extrema, exact integer roundings):
    float16 operands give float16 results, so they need no rounding (the core's range-keeping ops but Mean)."""
    from tfjsconv.passes.narrow_ints import RANGE_KEEPING_OPS

    return RANGE_KEEPING_OPS - {"Mean"}


def _holds_half(array: np.ndarray) -> bool:
    """Whether every value of a float32 array is a float16 one (NaN counts)."""
    with np.errstate(over="ignore"):
        back = array.astype(np.float16).astype(np.float32)
    return bool(np.all((back == array) | np.isnan(array)))


def computes_in_half(cls: str, config: dict[str, Any] | None) -> bool:
    """Whether a layer of this config computes in float16 (its dtype policy). Not op layers: tf_keras's TFOpLambda
    does not autocast and Keras 3's operations save no policy; both compute in their inputs' dtype, which the
    lowering holds in float32 (float16 results of earlier layers computed on unrounded, within float16's
    precision)."""
    return dtype_name((config or {}).get("dtype")) in HALF_POLICIES and not is_op_layer(cls)


#: Layers whose TF float16 kernels accumulate in float16 (Eigen's AvgPool; tf_keras's GlobalAveragePooling reads
#: ``backend.mean``, TF's float16 Mean): a partial sum past 65504 is inf there, while the lowering sums in float32
#: ([40000, 30000, -10000, 4000] averages to inf in Keras, to 16000 in TF.js). Keras 3's GlobalAveragePooling
#: (``ops.mean``) casts float16 to float32 first.
HALF_SUMS = frozenset({"AveragePooling1D", "AveragePooling2D", "AveragePooling3D"})
TF_KERAS_HALF_SUMS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"})


def sums_in_half(cls: str, config: dict[str, Any]) -> bool:
    """Whether a float16 layer's TF kernel sums in float16 (:data:`HALF_SUMS`); a GlobalAveragePooling unless its
    policy is Keras 3's (``DTypePolicy``): a name-only dtype may be tf_keras's."""
    dtype = config.get("dtype")
    keras3 = isinstance(dtype, dict) and "DTypePolicy" in str(dtype.get("class_name"))  # or FloatDTypePolicy
    return cls in HALF_SUMS or (cls in TF_KERAS_HALF_SUMS and not keras3)


#: The float results of each graph's float16 layers (ids: Values live with their graph), :func:`mark_half`.
_HALF_VALUES: weakref.WeakKeyDictionary[Graph, set[int]] = weakref.WeakKeyDictionary()


def mark_half(graph: Graph, values: list[Any]) -> None:
    """Note ``values`` (a float16 layer's float results, held rounded in float32) as float16 tensors: an op layer
    reading only such tensors computes in float16 (:func:`op_layer_in_half`)."""
    marked = _HALF_VALUES.setdefault(graph, set())
    marked.update(id(v) for v in values if isinstance(v, Value) and v.dtype == DType.FLOAT32)


def op_layer_in_half(graph: Graph, cls: str, inputs: list[Any]) -> bool:
    """Whether an op layer (Keras 3 operation, tf_keras TFOpLambda) computes in float16: they do not autocast but
    compute in their inputs' dtype, float16 when every float tensor they read is a float16 layer's result (Keras 3
    promotes float16 with a Python number to float16, with a float32 tensor to float32). Its lowered ops then each
    round their result (:func:`round_each_op`), so a result past 65504 is ±inf as in Keras."""
    if not is_op_layer(cls):
        return False
    marked = _HALF_VALUES.get(graph, set())
    floats = [v for v in inputs if isinstance(v, Value) and v.dtype == DType.FLOAT32
              and (v.producer is None or v.producer.op != "Const")]
    return bool(floats) and all(id(v) in marked for v in floats)


def rounded_to_half(graph: Graph, value: Value, label: str) -> Value:
    """float32 ``value`` rounded to float16 as TF's Cast rounds, held in float32."""
    from tfjsconv.passes.half_rounding import round_cast_to_half

    cast = graph.add_op("Cast", [value], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT16, "Truncate": False},
                        name=label, dtype=DType.FLOAT16, shape=value.shape)
    half = round_cast_to_half(graph, cast.producer, [], [])
    mark_half(graph, [half])
    return half


def half_rounded(graph: Graph, name: str, values: list[Any], floats: list[bool]) -> list[Any]:
    """``values`` with each float32 one (``floats``: not an integer the walk holds as float32) rounded to float16."""
    return [rounded_to_half(graph, v, f"{name}/to_float16_{i}") if is_float and isinstance(v, Value) and
            v.dtype == DType.FLOAT32 else v for i, (v, is_float) in enumerate(zip(values, floats, strict=True))]


def half_input(graph: Graph, value: Value, dtype: Any) -> Value:
    """A model input of ``dtype`` float16 as Keras reads it: rounded to float16 (others as they are). A float64 one
    is noted (:func:`float64_inputs`): a layer truncating it to integers says TF.js is fed float32."""
    if dtype_name(dtype) == "float64" and value.producer is not None:
        _FLOAT64_INPUTS.setdefault(graph, set()).add(value.producer.name)
    if dtype_name(dtype) != "float16" or value.dtype != DType.FLOAT32:
        return value
    return rounded_to_half(graph, value, f"{value.producer.name}/to_float16")


#: The Placeholders of each graph's float64 model inputs (held as float32), by name.
_FLOAT64_INPUTS: weakref.WeakKeyDictionary[Graph, set[str]] = weakref.WeakKeyDictionary()


def float64_inputs(graph: Graph) -> set[str]:
    """The names of the Placeholders of ``graph``'s float64 model inputs (:func:`half_input`)."""
    return _FLOAT64_INPUTS.get(graph, set())


class WidthNotices:
    """The layers Keras computes in float64 or float16 that TF.js computes otherwise: named once per model in a
    warning and in the conversion's notes."""

    def __init__(self) -> None:
        self.wide: list[str] = []
        self.half: list[str] = []
        #: float16 layers whose TF kernels sum in float16 (:data:`HALF_SUMS`), which can overflow where TF.js's do not
        self.half_sums: list[str] = []

    def add(self, name: str, cls: str, config: dict[str, Any], shown: str | None = None) -> None:
        """Note a layer of class and config ``cls``/``config`` (a wrapper's :func:`width_view`), shown as ``shown``'s
        (the wrapper, with the wrapped class)."""
        wide = dtype_name(config.get("dtype")) == "float64"
        names = self.half if computes_in_half(cls, config) else self.wide if wide else None
        label = f"{name} ({cls})" if shown in (None, cls) else \
            f"{name} ({shown})" if cls == FLOAT32_INNER else f"{name} ({shown} of {cls})"
        if names is not None and label not in names:
            names.append(label)
        if names is self.half and sums_in_half(cls, config) and label not in self.half_sums:
            self.half_sums.append(label)

    def notice(self, graph: Graph) -> None:
        texts = []
        if self.wide:
            texts.append(f"{len(self.wide)} layer(s) Keras computes in float64 are computed in float32 by TF.js, "
                         "which has no float64 (within float32's precision of each step, about 1e-7 of the range; "
                         f"more after a cancellation): {_shown(self.wide)}")
        if self.half:
            texts.append(f"{len(self.half)} layer(s) Keras computes in float16 are computed in float32 by TF.js with "
                         "each result rounded to float16 as TF rounds it (results differ where TF rounds in other "
                         "steps or sums in another order, by about float16's precision, 1e-3; an operation on the "
                         "result of an LSTM, GRU or attention layer, or on a float32 tensor beside it, is computed in "
                         "float32, so past 65504 it stays finite where Keras may give ±inf): "
                         f"{_shown(self.half)}")
        if self.half_sums:
            texts.append(f"{len(self.half_sums)} float16 layer(s) whose TF kernels add up a window or an axis in "
                         "float16 are summed in float32 by TF.js: where a partial sum passes 65504 Keras gives ±inf "
                         f"and TF.js the mean: {_shown(self.half_sums)}")
        if self.half:
            texts.append("±inf and NaN arise easily in float16 (past 65504): TF.js handles some of them otherwise "
                         "than TF (a NaN through Relu, a pooling window holding NaN) unless converted with "
                         "--exact_special_values")
        for text in texts:
            log.warning("%s", text)
            graph.notes.append(text)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
