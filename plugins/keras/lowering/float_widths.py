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
  (:func:`rounds_outputs`) get only that cast. Roundings are TF's Cast to float16, exact in float32 ops
  (:func:`tfjsconv.passes.half_rounding.round_cast_to_half`). TF accumulates sums (MatMul, Conv2D) in float32
  before their one rounding, so Dense, Conv and BatchNormalization layers give Keras's values but where a sum's
  other float32 order lands on the other side of a float16 rounding point; layers whose TF kernels round in other
  steps than the lowering's ops (LSTM, MultiHeadAttention, Softmax, tf_keras's LayerNormalization) differ by about
  float16's precision, as the traced path (which computes float16 arithmetic in float32) does: named in a warning.
- a float16 model Input: Keras casts what it is given to float16, so the placeholder's values are rounded first.

bfloat16 policies stay gaps, named by :mod:`.layer_gaps` (TF rounds to 8 significant bits).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node, Value

from ..configs import dtype_name
from ..op_calls import is_op_layer

log = logging.getLogger(__name__)

#: Layer dtype policies lowered in float32 (beside None and float32).
FLOAT32_COMPUTED_POLICIES = frozenset({"float64", "float16", "mixed_float16"})
#: The policies whose layers Keras computes in float16.
HALF_POLICIES = frozenset({"float16", "mixed_float16"})
#: Layers whose float16 policies stay gaps: their lowerings compute a DFT as products where Keras runs TF's FFT
#: (whose float16 steps are not ops of the lowering's).
HALF_GAPS = frozenset({"STFTSpectrogram", "MelSpectrogram"})


def lowered_in_float32(cls: str, config: dict[str, Any]) -> bool:
    """Whether a layer of a float64 or float16 policy is lowered (in float32, as this module says)."""
    dtype = dtype_name(config.get("dtype"))
    return dtype in FLOAT32_COMPUTED_POLICIES and not (dtype in HALF_POLICIES and cls in HALF_GAPS)


#: Layers whose weights Keras reads in float32 under a float16 policy (created with ``autocast=False``, tf_keras's
#: ``experimental_autocast=False``; Keras 3's Embedding does not autocast at all).
FLOAT32_WEIGHTS = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "Embedding"})
#: Keras 3 layers that compute in float32 and cast the result to float16 at the end (its normalizations cast their
#: float16 inputs up first; Embedding gathers float32 rows); tf_keras's BatchNormalization (TF's fused kernel computes
#: float16 in float32) and Embedding too.
KERAS3_FLOAT32_INSIDE = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "Embedding"})
TF_KERAS_FLOAT32_INSIDE = frozenset({"BatchNormalization", "Embedding"})
KERAS3_NOT_AUTOCAST = frozenset({"LayerNormalization", "GroupNormalization", "Embedding"})


def rounds_inputs(cls: str, keras3: bool) -> bool:
    """Whether Keras casts a float16-policy layer's float inputs to float16 (its autocast)."""
    return not (keras3 and cls in KERAS3_NOT_AUTOCAST)


def rounds_outputs(cls: str, keras3: bool) -> bool:
    """Whether a float16-policy layer's result is a cast of its float32 one to float16 (rounded exactly, as the
    traced path rounds casts); other layers' float16 arithmetic is computed in float32."""
    return cls in (KERAS3_FLOAT32_INSIDE if keras3 else TF_KERAS_FLOAT32_INSIDE)


#: Layers whose lowerings compute otherwise than Keras's float16 ops (inputs projected for all steps at once, gates and
#: heads fused or split): their intermediate values are not Keras's, so rounding them gains nothing measurable and
#: costs about ten times the nodes; computed in float32 between their rounded inputs and weights, as the traced path
#: computes float16 arithmetic.
FLOAT32_BETWEEN = frozenset({
    "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention"})


def rounds_each_op(cls: str) -> bool:
    """Whether a float16-policy layer's lowered ops each round their result (:func:`round_each_op`)."""
    return cls not in FLOAT32_BETWEEN


def half_weights(arrays: list[Any], cls: str, config: dict[str, Any]) -> list[Any]:
    """A float16-policy layer's weights as its call reads them: float ones rounded to float16 (``mixed_float16``
    keeps float32 variables and casts them when read; a ``float16`` policy's are float16 already), but for the
    layers that read theirs in float32 (:data:`FLOAT32_WEIGHTS`)."""
    if cls in FLOAT32_WEIGHTS:
        return arrays
    return [_half_array(a) if np.dtype(getattr(a, "dtype", "O")).kind == "f" else a for a in arrays]


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
    exact = _exact_on_half()
    rounded: dict[Value, Value] = {}
    for node in added:
        for value in node.outputs:
            if value.dtype == DType.FLOAT32 and id(value) in read and (half := _rounded(graph, node, value, exact)):
                rounded[value] = half
    for node in added:
        node.inputs = [rounded.get(v, v) for v in node.inputs] if any(v in rounded for v in node.inputs) else \
            node.inputs
    return [rounded.get(v, v) if isinstance(v, Value) else v for v in outputs]


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


def rounded_to_half(graph: Graph, value: Value, label: str) -> Value:
    """float32 ``value`` rounded to float16 as TF's Cast rounds, held in float32."""
    from tfjsconv.passes.half_rounding import round_cast_to_half

    cast = graph.add_op("Cast", [value], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT16, "Truncate": False},
                        name=label, dtype=DType.FLOAT16, shape=value.shape)
    return round_cast_to_half(graph, cast.producer, [], [])


def half_rounded(graph: Graph, name: str, values: list[Any], floats: list[bool]) -> list[Any]:
    """``values`` with each float32 one (``floats``: not an integer the walk holds as float32) rounded to float16."""
    return [rounded_to_half(graph, v, f"{name}/to_float16_{i}") if is_float and isinstance(v, Value) and
            v.dtype == DType.FLOAT32 else v for i, (v, is_float) in enumerate(zip(values, floats, strict=True))]


def half_input(graph: Graph, value: Value, dtype: Any) -> Value:
    """A model input of ``dtype`` float16 as Keras reads it: rounded to float16 (others as they are)."""
    if dtype_name(dtype) != "float16" or value.dtype != DType.FLOAT32:
        return value
    return rounded_to_half(graph, value, f"{value.producer.name}/to_float16")


class WidthNotices:
    """The layers Keras computes in float64 or float16 that TF.js computes otherwise: named once per model in a
    warning and in the conversion's notes."""

    def __init__(self) -> None:
        self.wide: list[str] = []
        self.half: list[str] = []

    def add(self, name: str, cls: str, config: dict[str, Any]) -> None:
        wide = dtype_name(config.get("dtype")) == "float64"
        names = self.half if computes_in_half(cls, config) else self.wide if wide else None
        if names is not None and f"{name} ({cls})" not in names:
            names.append(f"{name} ({cls})")

    def notice(self, graph: Graph) -> None:
        texts = []
        if self.wide:
            texts.append(f"{len(self.wide)} layer(s) Keras computes in float64 are computed in float32 by TF.js, "
                         "which has no float64 (within float32's precision of each step, about 1e-7 of the range; "
                         f"more after a cancellation): {_shown(self.wide)}")
        if self.half:
            texts.append(f"{len(self.half)} layer(s) Keras computes in float16 are computed in float32 by TF.js with "
                         "each result rounded to float16 as TF rounds it (results differ where TF rounds in other "
                         "steps or sums in another order, and operations on their results are computed in float32: "
                         f"by about float16's precision, 1e-3): {_shown(self.half)}")
        for text in texts:
            log.warning("%s", text)
            graph.notes.append(text)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
