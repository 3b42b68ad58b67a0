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
  (:func:`tfjsconv.passes.half_rounding.round_cast_to_half`). TF's CPU kernels sum MatMul, BatchMatMul and Conv2D
  in float32 before their one rounding, so Dense and BatchNormalization layers give Keras's values and Conv2D's but
  where a sum's other order lands on the other side of a float16 rounding point (measured, session 25 h8b: 0.2% of
  results, by up to 7 float16 steps of a small result after a cancellation); TF's DepthwiseConv2D adds its taps in
  float16, one rounding each, so it lands a few float16 steps off (5e-4 of its largest value); layers whose TF
  kernels round in other steps than the lowering's ops (LSTM, Softmax, tf_keras's LayerNormalization) differ by
  about float16's precision, as the traced path does. A deep stack compounds these steps as float16 itself does: a
  mixed_float16 MobileNetV2 (96x96, alpha 0.35) lands 0.02 of its output range from Keras with BatchNormalization
  statistics from data and 0.18 with random weights, as far as Keras's own output moves when its input moves one
  float16 step (0.02, 0.18) and as the traced path lands. All named in a warning (:data:`HALF_PER_LAYER`). MultiHeadAttention
  rounds where Keras's float16 ops round (:func:`.attention.half_step`), its einsums summed in float32: TF's CPU
  einsums sum in float16 steps, so it differs by more the longer its sums and the larger its logits
  (:func:`mha_half_bound`, stated per layer in the warning).
- a float16 model Input: Keras casts what it is given to float16, so the placeholder's values are rounded first.
- a layer in a TimeDistributed or Bidirectional: computed under the policy Keras computes it in, the wrapper's or its
  own (:func:`width_view`).

bfloat16 policies stay gaps, named by :mod:`.layer_gaps` (TF rounds to 8 significant bits).
"""
from __future__ import annotations

import logging
import math
import weakref
from typing import Any

import numpy as np
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node, Value

from ..configs import dtype_name, is_model
from ..op_calls import CALLS_KEY, KERAS_OP_PREFIX, is_op_layer, parse_call

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
#: Keras 3 layers that keep a float16 input (:data:`KERAS3_NOT_AUTOCAST`), normalize it in float32 and cast the result
#: back to that input's dtype before their own compute dtype (``ops.layer_normalization``; GroupNormalization's
#: ``_apply_normalization``): a float16 tensor into a float32 or float64 one gives float16's values (session 31).
KERAS3_CAST_BACK_TO_INPUT = frozenset({"LayerNormalization", "GroupNormalization"})


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

    - a layer the wrapper calls (``layer(x)``: Bidirectional, tf_keras's TimeDistributed, and Keras 3's RNNs and
      ConvLSTMs, whose cells are called) computes under its own policy; under a float16 wrapper a float32 layer
      computes in float32 on float16 inputs, and Keras 3's Bidirectional casts the result to float16
      (:data:`FLOAT32_INNER`); a float64 one in float64 on them (:data:`WRAPPER_CASTS`; Keras 3's Bidirectional
      casting its result, :data:`WRAPPER_CASTS_OUT`);
    - Keras 3's TimeDistributed runs ``layer.call`` in its own autocast scope: the wrapper's policy (float32 but for
      a float64 layer's float64 weights, which promote the inputs, and the layers whose call casts its float32 result
      to their float16 policy, :data:`KERAS3_FLOAT32_INSIDE`), inputs cast by a float16 wrapper only
      (:data:`WRAPPER_CASTS`); the layers whose call computes in their own dtype (:data:`OWN_DTYPE_CALLS`) under
      their own policy;
    - a wrapper in a TimeDistributed: Keras 3 runs its ``call`` (the outer wrapper's cast and scope), tf_keras calls
      it (its own cast too, :func:`_through_wrapper`)."""
    if cls not in WRAPPERS or is_model(config.get("layer") or {}):
        return cls, config
    if cls == "Bidirectional" and (gap := wrapped_width_gap(cls, config)):  # (TimeDistributed's: its check)
        from .registry import Unsupported

        raise Unsupported(f"layer {config.get('name')!r} (Bidirectional: {gap})")
    inner_cls, inner = _wrapped(config)[0]
    if cls == "TimeDistributed" and inner_cls in WRAPPERS:
        return width_view(*_through_wrapper(config, inner_cls, inner, keras3), keras3)
    outer, own = dtype_name(config.get("dtype")), dtype_name(inner.get("dtype"))
    half_outer = outer in HALF_POLICIES
    if cls == "TimeDistributed" and keras3 and outer == "float16" and (inner_cls in VARIABLES_FIRST or (
            inner_cls == "BatchNormalization" and own in (None, "float32"))):
        governing = own if own in ("float16", "float64") else "float32"  # no autocast scope (review R3's F2)
        return inner_cls, {**inner, "dtype": governing, WRAPPER_CASTS: True}
    if cls == "TimeDistributed" and keras3 and half_outer and own not in HALF_POLICIES and (
            inner_cls in OWN_DTYPE_CALLS or (inner_cls == "Embedding" and outer == "float16")):
        return inner_cls, {**inner, "dtype": own or "float32", WRAPPER_CASTS: True}  # review R4's F1 and F5
    if cls == "TimeDistributed" and keras3 and inner_cls not in FLOAT32_BETWEEN:
        governing = config.get("dtype") if outer in FLOAT32_COMPUTED_POLICIES else inner.get("dtype") if \
            own == "float64" or (own in HALF_POLICIES and inner_cls in KERAS3_FLOAT32_INSIDE) else "float32"
        return inner_cls, {**inner, "dtype": governing, WRAPPER_CASTS: half_outer}
    if own == "float64" and half_outer:  # float64 on the wrapper's float16 inputs (review R3's F4, session 23)
        return inner_cls, {**inner, WRAPPER_CASTS: True, WRAPPER_CASTS_OUT: keras3 and cls == "Bidirectional"}
    if own in FLOAT32_COMPUTED_POLICIES or not half_outer:
        return inner_cls, inner
    if cls == "TimeDistributed" and inner_cls in RECURRENT:  # float32 cells on float16 inputs, the result as computed
        return inner_cls, {**inner, WRAPPER_CASTS: True}
    return FLOAT32_INNER, config


#: A :func:`width_view` config's key saying whether Keras 3's Bidirectional casts the result of a layer that does
#: not compute in float16 (a float64 LSTM) to its own float16 policy.
WRAPPER_CASTS_OUT = "Bidirectional casts the result"
#: Layers whose Keras 3 call first combines its float16 inputs with its float variables (``matmul(x, kernel)``): in a
#: ``float16`` (not mixed) TimeDistributed, which opens no autocast scope, they compute in their variables' dtype,
#: float32 for a float32 or mixed_float16 layer, float64 for a float64 one (layers without variables, in float16).
#: There a float32 BatchNormalization gives its float32 result (measured, session 24: a LayerNormalization's and a
#: GroupNormalization's come rounded to float16, as the wrapper's policy says).
VARIABLES_FIRST = frozenset({"Dense", "EinsumDense"})
#: Keras 3 layers whose call computes in their own compute dtype, whatever their inputs' and their wrapper's
#: (BatchNormalization's float32 arithmetic cast to it, Rescaling's and Normalization's inputs cast to it first;
#: variables created with ``autocast=False`` or not read as such): a float32 or float64 one in a float16
#: TimeDistributed gives float32 or float64 results of float16 inputs (measured, session 24: the wrapper's policy
#: was 1.6e-4..7e-4 off, ±inf past 65504 where Keras is finite). Embedding too in a ``float16`` one, which opens no
#: autocast scope; a ``mixed_float16`` one's scope casts its table to float16 (Keras's rows float16).
OWN_DTYPE_CALLS = frozenset({"BatchNormalization", "Rescaling", "Normalization"})
#: Recurrent layers: their cells are called (``cell(x, states)``), so they compute under their own policy in
#: Keras 3's TimeDistributed too, and a float32 one in a float16 TimeDistributed gives float32 (measured, session 24;
#: the ConvLSTMs, whose ``RNN.inner_loop`` calls their cell too, session 25).
RECURRENT = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def _through_wrapper(config: dict[str, Any], inner_cls: str, inner: dict[str, Any], keras3: bool
                     ) -> tuple[str, dict[str, Any]]:
    """A TimeDistributed around a wrapper as the one wrapper whose view is the same computation. Keras 3 runs the
    inner wrapper's ``call``, not its ``__call__``: a TimeDistributed's is the outer one's fold again, so the outer
    wrapper's policy governs the innermost layer; a Bidirectional's calls its layers (their own policies) on the
    outer wrapper's inputs and casts their results to its own policy: a float32 or float64 layer's inputs rounded
    where the TimeDistributed is float16, its results where the Bidirectional is (a float16 one casts its inputs
    itself). tf_keras calls the inner wrapper, which casts again: the inner wrapper under a float16 policy where
    either is. A nested model under them stays a gap, named."""
    from .registry import Unsupported

    chain = (_nested_widths(inner_cls, inner) | {dtype_name(config.get("dtype"))}) - {None, "float32"}
    if is_model(inner.get("layer") or {}) and chain:
        raise Unsupported(f"layer {config.get('name')!r} (TimeDistributed: a {inner_cls} of a nested model in a "
                          f"TimeDistributed, of dtypes {', '.join(sorted(chain))})")
    outer, own = config.get("dtype"), inner.get("dtype")
    half_outer, half_own = dtype_name(outer) in HALF_POLICIES, dtype_name(own) in HALF_POLICIES
    if not keras3:
        return inner_cls, {**inner, "dtype": outer if half_outer and not half_own else own}
    if inner_cls == "TimeDistributed":
        return "TimeDistributed", {**config, "layer": inner.get("layer")}
    layer_cls, layer = _wrapped(inner)[0]
    if dtype_name(layer.get("dtype")) in HALF_POLICIES or wrapped_width_gap(inner_cls, inner):
        return inner_cls, inner  # float16 RNNs: their own cast, the Bidirectional's a no-op; a gap: named there
    return layer_cls, {**layer, WRAPPER_CASTS: half_outer, WRAPPER_CASTS_OUT: half_own}


def wrapped_width_gap(cls: str, config: dict[str, Any]) -> str | None:
    """Why a wrapper's layers' dtype policies are not lowered: one outside float32/float64/float16 (bfloat16, a
    quantized one), a Bidirectional's two layers of different policies, or a float32 layer of those computed in
    float32 between rounded inputs (:data:`FLOAT32_BETWEEN`) but an RNN or ConvLSTM (:data:`RECURRENT`) in a float16
    TimeDistributed (a float32/float64 attention layer cannot be wrapped alone: a TimeDistributed takes one input,
    and one in a nested model computes under its own policy, the walk's). Wrappers and nested models inside a
    TimeDistributed: :func:`width_view`, :func:`_through_wrapper` and the walk (a float16 TimeDistributed's cast of
    a nested model's input)."""
    outer = dtype_name(config.get("dtype"))
    policies = []
    for inner_cls, inner in _wrapped(config):
        own = dtype_name(inner.get("dtype"))
        if own not in (None, "float32") and not lowered_in_float32(inner_cls, inner):
            return f"a wrapped {inner_cls} of dtype {own}"
        if cls == "TimeDistributed" and inner_cls in FLOAT32_BETWEEN - RECURRENT - WRAPPERS and \
                outer in HALF_POLICIES and own not in HALF_POLICIES:
            return f"a wrapped {inner_cls} of dtype {own or 'float32'} in a {outer} TimeDistributed"
        policies.append(own or "float32")
    return f"forward and backward layers of dtypes {' and '.join(policies)}" if len(set(policies)) > 1 else None


def wrapper_rounds(config: dict[str, Any], key: str) -> bool:
    """Whether a layer that does not compute in float16 (its :func:`width_view` config) has its float inputs
    (``key`` :data:`WRAPPER_CASTS`) or results (:data:`WRAPPER_CASTS_OUT`) rounded by its wrapper's float16 cast."""
    return config.get(key) is True


def _bidirectional_of(cls: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The config of the Bidirectional a call lowers: its own, or the one a TimeDistributed wraps (Keras 3 runs its
    ``call``, casts and merge included)."""
    for _ in range(32):
        if cls != "TimeDistributed" or not _wrapped(config):
            break
        cls, config = _wrapped(config)[0]
    return config if cls == "Bidirectional" else None


def wrapper_cast_outputs(cls: str, config: dict[str, Any], count: int) -> list[bool]:
    """Which of a call's ``count`` outputs its wrapper's float16 cast rounds: Keras 3's Bidirectional casts its
    directions' sequences (``y``, ``y_rev``), not a ``return_state`` layer's states, which keep their layer's dtype
    (review R4's F3, session 24); other wrappers' outputs all."""
    bi = _bidirectional_of(cls, config)
    if bi is None or not _wrapped(bi)[0][1].get("return_state"):
        return [True] * count
    merged = 2 if bi.get("merge_mode", "concat") is None else 1
    return [i < merged for i in range(count)]


#: Where the Bidirectional lowering's merge of two directions ends (:func:`.recurrent._merged`), per ``merge_mode``:
#: the op reading both directions, and for ``ave`` the halving after it.
MERGE_OPS = {"sum": ("AddV2", "/merged"), "mul": ("Mul", "/merged"), "ave": ("AddV2", "/merged")}


def round_merged_directions(graph: Graph, cls: str, config: dict[str, Any], output: Value) -> None:
    """Keras 3's float16 Bidirectional casts each direction's result to float16 and merges them in float16
    (``bidirectional.py``: ``y + y_rev``, ``(y + y_rev) / 2``, ``y * y_rev``); the lowering's merge of ``output``
    reads the directions rounded, an average its rounded sum; the caller rounds the merged result (review R4's F2,
    session 24: one rounding after the merge was 1e-3 off). Other merges (concat, None) need nothing."""
    from .registry import Unsupported

    bi = _bidirectional_of(cls, config)
    mode = bi.get("merge_mode", "concat") if bi is not None else None
    if mode not in MERGE_OPS:
        return
    node = output.producer
    while node is not None and node.op in ("Reshape", "Identity") and node.inputs:  # a TimeDistributed's unfold
        node = node.inputs[0].producer
    halving = node if mode == "ave" and node is not None and node.name.endswith("/average") else None
    if halving is not None:
        node = halving.inputs[0].producer
    op, suffix = MERGE_OPS[mode]
    if node is None or node.op != op or not node.name.endswith(suffix) or len(node.inputs) != 2 or \
            (mode == "ave" and halving is None):
        raise Unsupported(f"layer {config.get('name')!r} (Bidirectional: a float16 merge_mode={mode!r} whose "
                          "lowered merge was not found)")
    node.inputs = [rounded_to_half(graph, v, f"{node.name}/direction_{i}_to_float16")
                   for i, v in enumerate(node.inputs)]
    if halving is not None:
        halving.inputs = [rounded_to_half(graph, halving.inputs[0], f"{node.name}/to_float16"),
                          *halving.inputs[1:]]


def rounds_model_input(config: dict[str, Any]) -> bool:
    """Whether a TimeDistributed around a nested model rounds the model's float input to float16: a float16 one casts
    its inputs (tf_keras's and Keras 3's ``__call__``); the model then casts them to its Input's dtype and its layers
    compute under their own policies (Keras 3 runs the model's ``call`` in the wrapper's autocast scope, which each
    layer's ``__call__`` sets to its own)."""
    return dtype_name(config.get("dtype")) in HALF_POLICIES


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


def round_each_op(graph: Graph, before: set[str], outputs: list[Any], once: bool = False) -> list[Any]:
    """Emulate TF's float16 arithmetic in the nodes added since ``before`` (one layer's lowering): each float32
    result of an op that computes (not one of :func:`_exact_on_half`) is rounded to float16 as TF rounds each float16
    op's result, and each float32 constant is held rounded (a new Const: a cached one may be read by float32 layers
    too); its readers inside the layer and the layer's ``outputs`` read the rounded Values. TF's kernels for products
    accumulate in float32 before their one rounding (a Dense's MatMul then BiasAdd: every value Keras's), so only
    sums whose float32 order differs near a float16 rounding point, and kernels TF computes in several float16 steps
    (Softmax, a fused normalization) differ, by a float16 step; its Sum and Mean round each partial sum
    (:data:`HALF_SUM_DRIFT`: one by one over other axes than the innermost), by more the longer the sum. ``once``:
    the layer computes in float32 and rounds its results only (Keras 3's :data:`KERAS3_FLOAT32_REDUCTIONS`)."""
    added = [node for node in graph.nodes if node.name not in before]
    _note_half_reductions(added)  # TF sums them in float16 steps: the notice's per-layer bound (:class:`WidthNotices`)
    read = {id(v) for v in outputs} | (set() if once else {id(v) for node in added for v in node.inputs})
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
    float16 operands give float16 results, so they need no rounding (the core's range-keeping ops but Mean, and
    FloorMod: ``fmod(x, y) + y`` where the signs differ, ``mod(-1e-3, 3)``, is 2.999 in float32, 2.99805 in TF's
    float16; unrounded until session 30)."""
    from tfjsconv.passes.narrow_ints import RANGE_KEEPING_OPS

    return RANGE_KEEPING_OPS - {"Mean", "FloorMod"}


def _holds_half(array: np.ndarray) -> bool:
    """Whether every value of a float32 array is a float16 one (NaN counts)."""
    with np.errstate(over="ignore"):
        back = array.astype(np.float16).astype(np.float32)
    return bool(np.all((back == array) | np.isnan(array)))


def computes_in_half(cls: str, config: dict[str, Any] | None) -> bool:
    """Whether a layer of this config computes in float16 (its dtype policy). Not op layers: tf_keras's TFOpLambda
    does not autocast and Keras 3's operations save no policy; both compute in their inputs' dtype (an op layer
    reading float16 tensors alone is rounded as TF rounds it where the walk records them, session 26)."""
    return dtype_name((config or {}).get("dtype")) in HALF_POLICIES and not is_op_layer(cls)


#: Layers whose TF float16 kernels accumulate in float16 (Eigen's AvgPool; tf_keras's GlobalAveragePooling reads
#: ``backend.mean``, TF's float16 Mean; UnitNormalization's Sum of squares, both flavours): a partial sum past 65504
#: is inf there, while the lowering sums in float32 ([40000, 30000, -10000, 4000] averages to inf in Keras, to 16000
#: in TF.js; squares summing to 65513 normalize to 0 in Keras). Keras 3's GlobalAveragePooling (``ops.mean``) casts
#: float16 to float32 first.
HALF_SUMS = frozenset({"AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "UnitNormalization"})
#: What the float16 notice claims of a float16 UnitNormalization (of its largest result). TF sums its float16 squares
#: in float16 steps, the lowering in float32 before one rounding. Over other axes than its input's last ones TF's CPU
#: Sum adds the n squares one by one (review R4's F1): each step rounds by up to 2⁻¹¹ of the partial sum, so the sum
#: is off by a factor within e^(±(n-1)·2⁻¹¹), the norm and the results by up to e^((n-1)·2⁻¹²) - 1, beside
#: :data:`UNIT_NORM_HALF_BOUND` for the other roundings (measured, session 25 H6b: 0.051 at n = 256, 0.15 at 1024,
#: of spiked rows, 1 then squares just over half a float16 step of it). Past :data:`UNIT_NORM_HALF_RUNNING` values
#: nothing is claimed: 2048 equal squares stop the running sum (4096 ones sum to 2048).
UNIT_NORM_HALF_RUNNING = 2048
#: Over its input's last axes (one contiguous block, size-1 axes aside) Eigen sums in a tree of sequential leaves:
#: measured up to 7.2e-3 (spiked rows of 1024 to 32768 values; normal, equal and log-normal rows up to 2.1e-3).
UNIT_NORM_HALF_INNER = 1e-2
#: The other roundings (squares, reciprocal root, product): measured up to 1.5e-3 over 2 to 16 values.
UNIT_NORM_HALF_BOUND = 3e-3


def unit_norm_half_bound(summed: int | None, inner: bool) -> float:
    """The float16 notice's bound on a UnitNormalization's error (of its largest result) summing ``summed`` squares
    (``None``: known at run time) over its input's last axes (``inner``) or others: ``inf`` past what it claims."""
    running = math.inf if summed is None or summed > UNIT_NORM_HALF_RUNNING else \
        min(1.0, UNIT_NORM_HALF_BOUND + math.expm1((summed - 1) * 2.0 ** -12))  # any order of the sum
    return min(running, UNIT_NORM_HALF_INNER) if inner else running


def reduces_innermost(shape: tuple[int | None, ...], axes: list[int]) -> bool:
    """Whether TF reduces ``axes`` of ``shape`` as its innermost block: the reduced axes, size-1 axes dropped (TF's
    reduction helper drops them), are contiguous and last (an unknown size counts as more than 1)."""
    kept = [i for i, d in enumerate(shape) if d != 1]
    reduced = [i for i in kept if i in axes]
    return not reduced or kept[-len(reduced):] == reduced


#: The UnitNormalization layers lowered since the walk last noted a layer (:meth:`WidthNotices.add`, which runs
#: after each layer's lowering and takes them): name -> (the squares each output sums, whether innermost).
_UNIT_NORMS: dict[str, tuple[int | None, bool]] = {}


def note_unit_norm(name: str, shape: tuple[int | None, ...], axes: list[int]) -> None:
    """Note UnitNormalization ``name``'s sums (of any policy): where it computes in float16, its policy or its
    wrapper's, which :meth:`WidthNotices.add` knows, the notice states their bound (:func:`unit_norm_half_bound`)."""
    sizes = [shape[a] for a in axes]
    summed = None if None in sizes else int(np.prod(sizes, dtype=np.int64))
    _UNIT_NORMS[name] = (summed, reduces_innermost(shape, axes))


def _half_unit_norms(name: str) -> dict[str, tuple[int | None, bool]]:
    """The UnitNormalizations lowered as layer ``name`` (itself, or the one a wrapper of that name holds), refused
    by name where no bound is claimed (a sum in float16 steps past :data:`UNIT_NORM_HALF_RUNNING` values, or over a
    count known only at run time: session 28 lowered it, review R7 found it past its bound, F3)."""
    from .registry import Unsupported

    found = {n: sums for n, sums in _UNIT_NORMS.items() if n == name or n.startswith(f"{name}/")}
    for layer, (summed, inner) in found.items():
        if not math.isfinite(unit_norm_half_bound(summed, inner)):
            count = "an unknown number of" if summed is None else f"{summed}"
            raise Unsupported(f"layer {layer!r} (UnitNormalization computed in float16 over {count} values not on "
                              f"its input's last axes: TF sums their float16 squares one by one in float16, past "
                              f"{UNIT_NORM_HALF_RUNNING} of them without a bound on the result)")
    return found


#: The float16 sum of squares below which :func:`unit_norm_half_bound` holds: TF's running float16 sum and the
#: lowering's float32 one may land on different sides of float16's overflow (65520) once the sum nears it, and a
#: result be 0 where Keras's is up to 1 (or the reverse; review R7, F3: 1.0 off at n = 256). Half of 65520: up to
#: n = 2048 the drift the bound allows (e^(2047/4096) - 1 = 0.65 of the sum) keeps both sums below 65520 there.
UNIT_NORM_HALF_SAFE_SUM = 32768


def _unit_norm_bounds(layers: dict[str, tuple[int | None, bool]]) -> str | None:
    """The float16 notice's sentence on the float16 UnitNormalization ``layers``, each with its bound, and the sum
    of squares past which it does not hold (:data:`UNIT_NORM_HALF_SAFE_SUM`)."""
    if not layers:
        return None
    shown = [f"{name} ({'last axes' if inner else f'n = {n}'}: {unit_norm_half_bound(n, inner):.2g})"
             for name, (n, inner) in layers.items()]
    return (f"{len(layers)} float16 UnitNormalization layer(s) sum their squares in float32 before one rounding, "
            "where TF sums them in float16 steps, each off by up to 2⁻¹¹ of the partial sum: results within "
            f"{UNIT_NORM_HALF_BOUND:g} + e^((n-1)/4096) - 1 of their largest value for n squares summed, within "
            f"{UNIT_NORM_HALF_INNER:g} over the input's last axes (summed in a tree), only while a normalized "
            f"slice's sum of squares stays below {UNIT_NORM_HALF_SAFE_SUM} (nearer float16's overflow, 65520, the two "
            f"sums may fall on either side of it: a result 0 where Keras's is up to 1, or the reverse): "
            f"{_shown(shown)}")


#: How far a sum of n float16 terms in TF's steps may land from the exact one, of the terms' summed magnitude (each
#: step rounds by up to 2⁻¹¹ of the partial sum; measured, session 25 H6b, spiked rows: tf_keras's float16
#: GlobalAveragePooling1D over 1024 steps 0.24 of its largest result, 0.40 over 4096 equal values; AveragePooling1D
#: of 64 0.028; AveragePooling2D of 16x16 0.010; over the innermost axis, which Eigen sums in a tree, 0.015).
HALF_SUM_DRIFT = "e^((n-1)/2048) - 1"
TF_KERAS_HALF_SUMS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"})


def sums_in_half(cls: str, config: dict[str, Any]) -> bool:
    """Whether a float16 layer's TF kernel sums in float16 (:data:`HALF_SUMS`); a GlobalAveragePooling unless its
    policy is Keras 3's (``DTypePolicy``): a name-only dtype may be tf_keras's."""
    dtype = config.get("dtype")
    keras3 = isinstance(dtype, dict) and "DTypePolicy" in str(dtype.get("class_name"))  # or FloatDTypePolicy
    return cls in HALF_SUMS or (cls in TF_KERAS_HALF_SUMS and not keras3)


#: What the float16 notice claims of a layer whose TF kernel sums n float16 values in float16 steps where the
#: lowering sums in float32 before one rounding: :data:`~tfjsconv.passes.half_rounding.HALF_SUM_RUNNING` and its
#: neighbours (measured, session 26 h5, /work/notes/probe26/h5/raw.py, layers.py), shared with the traced path's
#: float16 Sum/Mean/AvgPool nodes so both claim the same bound of the same n.
AVERAGE_POOLS = frozenset({"AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
                           "AvgPool3D"})
GLOBAL_AVERAGE_POOLS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                                  "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D"})
#: Keras 3 operations that compute a float16 tensor's reduction in float32 (``mean``, ``var``: ``result_type(x,
#: float32)``) and round once (:func:`round_each_op`'s ``once``), whose Sum/Mean nodes claim no float16 steps
#: (``std`` calls ``tf.math.reduce_std`` on float16: TF's steps, session 26 r4's F3).
KERAS3_FLOAT32_REDUCTIONS = frozenset({"keras.ops.Mean", "keras.ops.Var", "keras.ops.Moments"})


#: The float16 reductions lowered since the walk last noted a layer (:func:`round_each_op` notes them,
#: :meth:`WidthNotices.add` takes them): (op, values each result sums, one by one in TF).
_HALF_REDUCTIONS: list[tuple[str, int | None, bool]] = []


def _note_half_reductions(added: list[Node]) -> None:
    """Note the float32 Sum/Mean/AvgPool nodes of a float16 layer's lowering
    (:data:`~tfjsconv.passes.half_rounding.HALF_REDUCTIONS`; imported here: the layers path loads no pass)."""
    from tfjsconv.passes.half_rounding import half_sum_length

    for node in added:
        x = node.inputs[0] if node.inputs else None
        if isinstance(x, Value) and x.dtype == DType.FLOAT32 and (length := half_sum_length(node)) is not None:
            _HALF_REDUCTIONS.append((node.op, *length))


def _half_layer_sums(name: str, cls: str, config: dict[str, Any], half: bool) -> tuple[int | None, bool] | None:
    """The longest float16 sum in TF's steps of layer ``name`` (its values, one by one), from the reductions its
    lowering noted: AveragePooling's window (its config), GlobalAveragePooling's Mean (tf_keras; Keras 3's ``mean``
    casts to float32) and masked Sums, an op layer's Sum/Mean (Keras 3's ``mean``/``var`` aside); refused by name
    where no bound is claimed."""
    from tfjsconv.passes.half_rounding import HALF_SUM_RUNNING, half_sum_bound, half_sum_refused

    from .registry import Unsupported

    noted, found = list(_HALF_REDUCTIONS), None
    keras3 = isinstance(config.get("dtype"), dict) and "DTypePolicy" in str(config["dtype"].get("class_name"))
    if cls in AVERAGE_POOLS and half:
        pool = config.get("pool_size", 2)
        found = (int(np.prod(pool if isinstance(pool, (list, tuple)) else [pool] * int(cls[-2]))), True)
    elif noted and (cls in GLOBAL_AVERAGE_POOLS or (is_op_layer(cls) and cls not in KERAS3_FLOAT32_REDUCTIONS)):
        kept = [(n, seq and config.get("data_format") != "channels_first") for op, n, seq in noted
                if not (op == "Mean" and cls in GLOBAL_AVERAGE_POOLS and keras3)]
        if kept:
            found = max(kept, key=lambda k: (half_sum_refused(*k), half_sum_bound(*k)))
    if found is not None and half_sum_refused(*found):
        raise Unsupported(f"layer {name!r} ({cls} computed in float16: TF adds {found[0]} float16 values one by one in "
                          f"float16, with no bound past {HALF_SUM_RUNNING} of them: cast to float32 before the sum)")
    return found


def _half_sum_bounds(layers: dict[str, tuple[int | None, bool]]) -> str | None:
    """The float16 notice's sentence on the layers whose TF kernels sum in float16 steps, each with its bound."""
    if not layers:
        return None
    from tfjsconv.passes.half_rounding import HALF_SUM_TERMS, half_sum_bound, half_sum_claim

    shown = [half_sum_claim(name, n, seq) for name, (n, seq) in
             sorted(layers.items(), key=lambda item: -half_sum_bound(*item[1]))]  # every bound, the largest first
    return (f"{len(layers)} float16 layer(s) add up n values where TF rounds each partial sum to float16, off by up "
            f"to 2⁻¹¹ of it, and TF.js adds them in float32 and rounds once: {HALF_SUM_TERMS}: {', '.join(shown)}")


#: The float results of each graph's float16 layers (ids: Values live with their graph), :func:`mark_half`.
_HALF_VALUES: weakref.WeakKeyDictionary[Graph, set[int]] = weakref.WeakKeyDictionary()


def mark_half(graph: Graph, values: list[Any]) -> None:
    """Note ``values`` (a float16 layer's float results, held rounded in float32) as float16 tensors: an op layer
    reading only such tensors computes in float16 (:func:`op_layer_in_half`)."""
    marked = _HALF_VALUES.setdefault(graph, set())
    marked.update(id(v) for v in values if isinstance(v, Value) and v.dtype == DType.FLOAT32)


def is_half(graph: Graph, value: Any) -> bool:
    """Whether ``value`` is a float16 layer's float result (:func:`mark_half`, :func:`mark_half_held`), held in
    float32: Keras's tensor is float16, which a nested model's float32 Input casts to a new tensor."""
    return isinstance(value, Value) and (id(value) in _HALF_VALUES.get(graph, set()) or
                                         id(value) in _HALF_HELD.get(graph, set()))


def mark_half_as(graph: Graph, source: Value, result: Value) -> None:
    """Note ``result``, which holds ``source``'s values or zeros (Keras 3's ``activations.relu`` of a float16 tensor,
    float16 too), as float16 the way ``source`` is: rounded (:func:`mark_half`) or held (:func:`mark_half_held`)."""
    if id(source) in _HALF_VALUES.get(graph, set()):
        mark_half(graph, [result])
    elif is_half(graph, source):
        mark_half_held(graph, [result])


#: The float results of each graph's float16 layers computed in float32 between their rounded inputs
#: (:data:`FLOAT32_BETWEEN`: LSTM, GRU, attention...), not rounded: float16 tensors in Keras, which op layers on them
#: do not round (:func:`op_layer_in_half` reads :data:`_HALF_VALUES` only).
_HALF_HELD: weakref.WeakKeyDictionary[Graph, set[int]] = weakref.WeakKeyDictionary()


def mark_half_held(graph: Graph, values: list[Any]) -> None:
    """Note ``values`` (results of a float16 layer computed in float32, :data:`FLOAT32_BETWEEN`) as float16 tensors
    for the walk's dtype record (:func:`is_half`: a nested model's float32 Input casts them, dropping the mask; H2b's
    refusal, session 25), without making op layers on them round (:func:`mark_half`)."""
    held = _HALF_HELD.setdefault(graph, set())
    held.update(id(v) for v in values if isinstance(v, Value) and v.dtype == DType.FLOAT32)


def casts_back_to_half(cls: str, keras3: bool, inputs: list[Any], keras_dtype: str | None) -> bool:
    """Whether a Keras 3 layer computing outside float16 rounds its result to float16 all the same: a
    :data:`KERAS3_CAST_BACK_TO_INPUT` layer whose input Keras holds as float16 (``keras_dtype``,
    :func:`recorded_input_dtype`; random bench, seed 3112: a float32 GroupNormalization after a float16 one was
    1.2e-3 off). Keras's dtype, not the Value's float16 mark: a nested float32 Input or a float32 ``linear``
    Activation casts the tensor to float32 but lowers to the same Value (review r5's F1)."""
    return keras3 and cls in KERAS3_CAST_BACK_TO_INPUT and keras_dtype == "float16" and bool(inputs) and \
        isinstance(inputs[0], Value) and inputs[0].dtype in (DType.FLOAT16, DType.FLOAT32)


def recorded_input_dtype(node: Any) -> str | None:
    """The dtype a Keras 3 call node records for its first tensor (its ``__keras_tensor__`` config; None: not told,
    a tf_keras node or a Sequential's layer)."""
    args = node.get("args") if isinstance(node, dict) else None
    first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
    dtype = (first.get("config") or {}).get("dtype") if first.get("class_name") == "__keras_tensor__" else None
    return dtype if isinstance(dtype, str) else None


def half_tensor_inputs(graph: Graph, name: str, inputs: list[Any]) -> list[Any]:
    """The first input, a float16 tensor in Keras, on float16's grid: op-layer casts' and held float16 tensors as
    :func:`held_half_inputs` gives them, any other float32 Value rounded (a no-op where it already is)."""
    out = held_half_inputs(graph, name, inputs)
    if out and isinstance(out[0], Value) and out[0].dtype == DType.FLOAT32 and not is_half(graph, out[0]):
        out[0] = rounded_to_half(graph, out[0], f"{name}/input_to_float16")
    return out


def through_half(graph: Graph, name: str, values: list[Any]) -> list[Any]:
    """float32 ``values`` rounded to float16 and cast back (float32 tensors in Keras: not marked float16)."""
    out = []
    for i, value in enumerate(values):
        if isinstance(value, Value) and value.dtype == DType.FLOAT32:
            half = rounded_to_half(graph, value, f"{name}/to_float16_{i}")
            value = graph.add_op("Identity", [half], {"T": DType.FLOAT32}, name=f"{name}/to_float32_{i}",
                                 dtype=DType.FLOAT32, shape=value.shape)
        out.append(value)
    return out


def held_half_inputs(graph: Graph, name: str, inputs: list[Any]) -> list[Any]:
    """An op layer's float16 tensors made by op-layer casts (dtype FLOAT16, float16 values held in float32) as the
    float32 Values the lowering computes on, marked float16 (:func:`mark_half`): the layer computes in float16
    (:func:`op_layer_in_half`), each op rounded as TF rounds it, moves (slices, expand_dims) exact. Held float16
    results (:func:`mark_half_held`, float32 steps) rounded to float16 first, as Keras holds them."""
    out = []
    held = _HALF_HELD.get(graph, set()) - _HALF_VALUES.get(graph, set())
    for i, value in enumerate(inputs):
        if isinstance(value, Value) and value.dtype == DType.FLOAT16:
            value = graph.add_op("Cast", [value], {"SrcT": DType.FLOAT16, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=f"{name}/float16_held_{i}", dtype=DType.FLOAT32, shape=value.shape)
            mark_half(graph, [value])
        elif isinstance(value, Value) and id(value) in held:  # Keras's float16 tensor: on float16's grid
            value = rounded_to_half(graph, value, f"{name}/held_to_float16_{i}")
        out.append(value)
    return out


#: Keras 3 operations whose TF backend converts a Python float operand to a float32 tensor (``convert_to_tensor``
#: without a dtype, then ``result_type`` of both dtypes), where ``add``, ``maximum``, ``where``, ``clip``... keep it
#: weak: a float16 tensor beside it is compared or computed in float32 (H5b, session 29: ``greater_equal(x, 0.1)``
#: of float16(0.1) is False in Keras; compared with float16(0.1) it gave True). A Python int is int32: float16.
KERAS3_STRONG_FLOAT_OPERANDS = frozenset(KERAS_OP_PREFIX + name for name in (
    "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "Isclose", "Mod", "Fmod", "Heaviside",
    "Hypot", "Arctan2", "Logaddexp", "Logaddexp2", "Nextafter", "Dot", "Inner", "Tensordot", "IsIn", "AllClose"))


def _float_operand(cls: str, config: dict[str, Any]) -> bool:
    """Whether a Keras 3 operation of :data:`KERAS3_STRONG_FLOAT_OPERANDS` was given a Python float (or a list of
    them; a numpy float64 scalar is saved as the same number) as ``x1`` or ``x2``: a float32 tensor in Keras."""
    nodes = config.get(CALLS_KEY)
    if cls not in KERAS3_STRONG_FLOAT_OPERANDS or not isinstance(nodes, list) or len(nodes) != 1:
        return False
    try:
        args, kwargs = parse_call(nodes[0])
    except ValueError:
        return False
    stack: list[Any] = [*args[:2], kwargs.get("x1"), kwargs.get("x2")]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, (list, tuple)):
            stack += item
    return False


def held_half_promoted(graph: Graph, name: str, inputs: list[Any]) -> list[Any]:
    """An op layer's held float16 results (an LSTM's, :func:`mark_half_held`: float32 steps, not rounded) rounded to
    float16 where Keras 3 promotes them to float32 beside a float32 operand: it casts its float16 tensor, on
    float16's grid (``greater(h, 0.1)`` compares ``float16(h)`` with ``float32(0.1)``)."""
    held = _HALF_HELD.get(graph, set()) - _HALF_VALUES.get(graph, set())
    return [rounded_to_half(graph, v, f"{name}/held_promoted_{i}") if isinstance(v, Value) and id(v) in held else v
            for i, v in enumerate(inputs)]


def saved_float_constant(cls: str, config: dict[str, Any]) -> bool:
    """Whether a Keras 3 op layer was given a float32 (or float64) array or tensor constant (saved as ``__numpy__`` /
    ``__tensor__``), or a Python float where Keras makes it a float32 tensor (:func:`_float_operand`): only Python
    numbers are weak in Keras 3, and not in every operation, so float16 beside it promotes to float32 (r4's F4,
    session 26: ``h * np.array([300.0], "float32")`` is 90000 in Keras, not inf)."""
    if not cls.startswith(KERAS_OP_PREFIX):
        return False
    if _float_operand(cls, config):
        return True
    stack: list[Any] = [config.get(CALLS_KEY)]
    if cls == KERAS_OP_PREFIX + "Where":  # its condition is cast to bool: only x1/x2 promote (review R8's F1)
        nodes = config.get(CALLS_KEY)
        try:
            args, kwargs = parse_call(nodes[0]) if isinstance(nodes, list) and len(nodes) == 1 else ([], {})
        except ValueError:
            args, kwargs = [], {}
        if args or kwargs:
            stack = [args[1:], {k: v for k, v in kwargs.items() if k != "condition"}]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") in ("__numpy__", "__tensor__"):
                if str((item.get("config") or {}).get("dtype")) in ("float32", "float64"):
                    return True
            elif item.get("class_name") != "__keras_tensor__":
                stack += item.values()
        elif isinstance(item, (list, tuple)):
            stack += item
    return False


def op_layer_in_half(graph: Graph, cls: str, inputs: list[Any], config: dict[str, Any] | None = None) -> bool:
    """Whether an op layer (Keras 3 operation, tf_keras TFOpLambda) computes in float16: they do not autocast but
    compute in their inputs' dtype, float16 when every float tensor they read is a float16 layer's result or an
    op-layer cast's float16 tensor (Keras 3 promotes float16 with a Python number to float16, with a float32 tensor
    to float32). Its lowered ops then each round their result (:func:`round_each_op`), so a result past 65504 is
    ±inf as in Keras. Not a cast (or ``shape``, ``config`` given): its result is of the dtype it names, made exactly
    (a cast to float16 rounded each step of its rounding: NaN, session 26)."""
    if not is_op_layer(cls):
        return False
    if config is not None:
        from .op_layers import names_a_wider_result, reads_held_floats, v1_resize_gives_float32

        if reads_held_floats(cls, config) or names_a_wider_result(cls, config):
            return False
        if v1_resize_gives_float32(config.get("function"), config, _image_height_width(inputs)):
            return False
        if saved_float_constant(cls, config):
            return False
    marked = _HALF_VALUES.get(graph, set()) | _held_read_as_half(graph, cls, config)
    floats = [v for v in inputs if isinstance(v, Value) and v.dtype in (DType.FLOAT32, DType.FLOAT16)
              and (v.producer is None or v.producer.op != "Const")]
    return bool(floats) and all(v.dtype == DType.FLOAT16 or id(v) in marked for v in floats)


def _image_height_width(inputs: list[Any]) -> tuple[Any, Any] | None:
    """The static height and width of an op layer's first tensor, images of rank 3 or 4 (None: not images)."""
    shape = inputs[0].shape if inputs and isinstance(inputs[0], Value) else None
    if shape is None or len(shape) not in (3, 4):
        return None
    return (shape[0], shape[1]) if len(shape) == 3 else (shape[1], shape[2])


def _held_read_as_half(graph: Graph, cls: str, config: dict[str, Any] | None) -> set[int]:
    """The held float16 results (an LSTM's, attention's: :func:`mark_half_held`) an op layer known to give float16
    (:func:`_keeps_half`) computes on in float16, as Keras does: ``(h + 1000.0) - 1000.0`` rounds ``h + 1000`` to
    float16's 0.5 steps (R7's N1, session 28: computed in float32, 0.298 off of an output range of 0.542)."""
    return _HALF_HELD.get(graph, set()) if config is not None and _keeps_half(cls, config) else set()


#: Op layers of float16 tensors (beside Python numbers) whose result is float16 again, checked one by one in TF
#: 2.x/tf_keras and Keras 3 (session 28): arithmetic, value moves, tanh/sigmoid/relu, add_n and the functions that
#: return their one input. Not all do: ``saturate_cast`` and a bilinear ``image.resize`` of float16 give float32.
#: exp/log/sqrt (one rounding of TF's float32 result), flips, rolls, joins and extrema too (H12, session 28; softmax
#: and reductions, float16 in Keras too, are not listed: TF's kernels take several float16 steps).
_HALF_KEEPING_FUNCTIONS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Tanh", "Sigmoid", "Relu", "Exp", "Log", "Sqrt", "Flip", "Roll",
                                          "Concatenate", "Stack", "Maximum", "Clip")),
    "math.tanh", "nn.tanh", "nn.relu", "math.sigmoid", "nn.sigmoid", "math.add_n", "add_n", "math.accumulate_n",
    "nn.dropout", "convert_to_tensor", "convert_to_tensor_v2", "convert_to_tensor_v2_with_dispatch",
    "math.exp", "math.log", "math.sqrt", "reverse", "roll", "concat", "stack", "math.maximum", "clip_by_value"})


def _keeps_half(cls: str, config: dict[str, Any]) -> bool:
    """Whether op layer ``cls`` is one known to give float16 for float16 inputs (:data:`_HALF_KEEPING_FUNCTIONS`,
    the arithmetic and value moves of :mod:`.integer_dtypes`)."""
    from .integer_dtypes import INTEGER_KEEPING_OPS, NARROW_WRAPPED_OPS

    op = cls if cls.startswith(KERAS_OP_PREFIX) else config.get("function")
    return op in _HALF_KEEPING_FUNCTIONS or op in NARROW_WRAPPED_OPS or op in INTEGER_KEEPING_OPS


def op_layer_keeps_held_half(graph: Graph, cls: str, inputs: list[Any], config: dict[str, Any]) -> bool:
    """Whether an op layer that does not compute in float16 (:func:`op_layer_in_half`) reads only float16 tensors
    held in float32 (an LSTM's or attention's results, :func:`mark_half_held`) and is one whose result Keras makes
    float16 too (:func:`_keeps_half`: not every TF function keeps its input's dtype), so the walk records its float
    results as float16 (:func:`mark_half_held`): a nested model's float32 Input casts them to a new tensor, dropping
    the mask it was given (session 28: ``inner(h * 2.0, mask=m)`` kept it, NaN where Keras is finite). Not beside a
    float32 array constant (float32 in Keras 3)."""
    if not is_op_layer(cls) or not _keeps_half(cls, config) or saved_float_constant(cls, config):
        return False
    floats = [v for v in inputs if isinstance(v, Value) and v.dtype in (DType.FLOAT32, DType.FLOAT16)
              and (v.producer is None or v.producer.op != "Const")]
    return bool(floats) and all(is_half(graph, v) for v in floats)


def op_layer_on_held_in_float32(graph: Graph, cls: str, inputs: list[Any], config: dict[str, Any]) -> bool:
    """Whether an op layer that does not compute in float16 (:func:`op_layer_in_half`: its function is not known to
    keep float16) reads float16 tensors alone, an LSTM's or attention's held results among them
    (:func:`mark_half_held`): Keras computes most such functions in float16, the lowering in float32, so the float16
    notice names it (not casts and ``shape``, which read the tensor as it is)."""
    from .op_layers import reads_held_floats

    if not is_op_layer(cls) or reads_held_floats(cls, config) or saved_float_constant(cls, config):
        return False
    held = _HALF_HELD.get(graph, set())
    floats = [v for v in inputs if isinstance(v, Value) and v.dtype in (DType.FLOAT32, DType.FLOAT16)
              and (v.producer is None or v.producer.op != "Const")]
    return any(id(v) in held for v in floats) and all(is_half(graph, v) or v.dtype == DType.FLOAT16 for v in floats)


#: The float16 notice's example of a cancellation after an op layer computed in float32 (measured, session 28).
HELD_FLOAT32_EXAMPLE = "`(softmax(h) + 1000) - 1000` off by up to 0.25, half of float16's step at 1000"


#: What a caller of :func:`rounded_to_half` may know of its value, sparing the rounding the branches it cannot take
#: (NaN stays NaN in each): ``"unit"``, 0 <= v < 65520 (the exp of a value <= 0, a probability, a sigmoid, the
#: reciprocal of a sum of at least 1): no ±inf and no zero whose sign to keep, 8 ops instead of 17; ``"normal"``,
#: 2^-14 <= v < 65520 (a softmax row's sum of at most 65504 exps, one of them 1): Veltkamp's split alone, 4 ops;
#: ``"any"``: every value.
HALF_RANGES = ("any", "unit", "normal")


def rounded_to_half(graph: Graph, value: Value, label: str, within: str = "any") -> Value:
    """float32 ``value`` rounded to float16 as TF's Cast rounds, held in float32; ``within``: what the caller knows
    of ``value`` (:data:`HALF_RANGES`), which spares the rounding's other branches."""
    from tfjsconv.passes.half_rounding import round_cast_to_half

    assert within in HALF_RANGES, within
    if within == "normal" or (within == "unit" and value.shape is not None and len(value.shape) <= 4):
        half = _rounded_in_range(graph, value, label, within)  # (webgl runs no SelectV2 of rank 5 or more)
    else:
        cast = graph.add_op("Cast", [value], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT16, "Truncate": False},
                            name=label, dtype=DType.FLOAT16, shape=value.shape)
        half = round_cast_to_half(graph, cast.producer, [], [])
    mark_half(graph, [half])
    return half


def _rounded_in_range(graph: Graph, x: Value, label: str, within: str) -> Value:
    """The branches of :func:`~tfjsconv.passes.half_rounding.round_cast_to_half` a value ``within`` a range takes:
    Veltkamp's split of normal values, for ``"unit"`` also the subnormal ones (not negative: no Abs)."""
    from tfjsconv.passes.half_rounding import HALF_SMALLEST_NORMAL

    def const(number: float, name: str) -> Value:
        return graph.const(np.asarray(number, np.float32), name=f"{label}/half/{name}")

    def op(kind: str, inputs: list[Value], name: str, dtype: DType = DType.FLOAT32) -> Value:
        return graph.add_op(kind, inputs, {"T": DType.FLOAT32}, name=f"{label}/half/{name}", dtype=dtype,
                            shape=x.shape)

    split = op("AddV2", [op("Mul", [x, const(8192.0, "split_scale")], "scaled"), x], "split")
    normal = op("AddV2", [split, op("Sub", [x, split], "split_rest")], "normal")
    if within == "normal":
        return normal
    offset = const(0.75, "subnormal_offset")
    subnormal = op("Sub", [op("AddV2", [x, offset], "subnormal_shifted"), offset], "subnormal")
    small = op("Less", [x, const(HALF_SMALLEST_NORMAL, "smallest_normal")], "is_subnormal", DType.BOOL)
    return op("SelectV2", [small, subnormal, normal], "rounded_to_half")


def half_rounded(graph: Graph, name: str, values: list[Any], floats: list[bool], *, entry: bool = False) -> list[Any]:
    """``values`` with each float32 one (``floats``: not an integer the walk holds as float32) rounded to float16;
    ``entry``: a layer's inputs (Keras's autocast), each rounded Value remembering its source (:func:`rounded_from`)."""
    out = [rounded_to_half(graph, v, f"{name}/to_float16_{i}") if is_float and isinstance(v, Value) and
           v.dtype == DType.FLOAT32 else v for i, (v, is_float) in enumerate(zip(values, floats, strict=True))]
    if entry:
        sources = _ROUNDED_FROM.setdefault(graph, {})
        sources.update({id(r): v for r, v in zip(out, values, strict=True) if r is not v})
    return out


#: Per graph, the Value each :func:`half_rounded` result was rounded from (``id -> Value``, kept alive).
_ROUNDED_FROM: weakref.WeakKeyDictionary[Graph, dict[int, Value]] = weakref.WeakKeyDictionary()


def rounded_from(graph: Graph, value: Any) -> Any:
    """The Value a float16 layer's input was before the walk rounded it (Keras's autocast), else ``value``: whether
    Keras's tensor was float16 already (:func:`is_half`) or a new one its cast made (tf_keras: without its mask)."""
    return _ROUNDED_FROM.get(graph, {}).get(id(value), value) if isinstance(value, Value) else value


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


#: Per graph, the float32 Values a nested model's float64 Input made of a float32 tensor (:func:`nested_float_inputs`):
#: ``id -> Value`` (kept alive, so the ids stay theirs).
_FLOAT64_NESTED: weakref.WeakKeyDictionary[Graph, dict[int, Value]] = weakref.WeakKeyDictionary()


def is_float64_input(graph: Graph, value: Any) -> bool:
    """Whether ``value`` is a float64 model input held as float32 (exactly Keras's float64 values): an outer one's
    Placeholder (:func:`half_input`) or a float32 tensor a nested model's float64 Input cast up."""
    if not isinstance(value, Value) or value.dtype != DType.FLOAT32:
        return False
    if id(value) in _FLOAT64_NESTED.get(graph, {}):
        return True
    return value.producer is not None and value.producer.op == "Placeholder" and \
        value.producer.name in float64_inputs(graph)


def nested_float_inputs(graph: Graph, plan: Any, inputs: list[Any]) -> list[Any]:
    """The tensors a nested model's layers read, where Keras casts a float tensor to its Input's other float width
    (both flavours cast to the Input's dtype): a float32 tensor (or a rounded float16 one, exact in float32) into a
    float64 Input becomes float64 (exact; its op layers then compute in float64, :func:`is_float64_input`), a float64
    model input into a float32 Input a new float32 tensor (its op layers compute in float32). The walk once handed
    both in as they were, so float64 rules ran in float32 layers and float32 rules in float64 ones (an argmax of
    ``[-inf, -FLT_MAX]`` 0 for 1). float16 results computed in float32 (:data:`_HALF_HELD`, not Keras's values, the
    float16 notice's) stay float32 there."""
    values = list(inputs)
    for i, ((ref, config), value) in enumerate(zip(plan.inputs, inputs)):
        wanted = dtype_name((config or {}).get("dtype"))
        if not isinstance(value, Value) or value.dtype != DType.FLOAT32 or wanted not in ("float32", "float64"):
            continue
        held_half = id(value) in _HALF_HELD.get(graph, set())  # float16 results not Keras's: as before
        if wanted == "float64" and not is_float64_input(graph, value) and not held_half:
            values[i] = _identity(graph, value, f"{ref[0]}/as_float64")
            _FLOAT64_NESTED.setdefault(graph, {})[id(values[i])] = values[i]
            from .float64_compare import computed_in_float32, mark_float64_computed

            if computed_in_float32(graph, value):  # a float64 layer's result: float64, not held exactly
                mark_float64_computed(graph, values[i])
        elif wanted == "float32" and is_float64_input(graph, value):
            values[i] = _identity(graph, value, f"{ref[0]}/as_float32")
    return values


def _identity(graph: Graph, value: Value, name: str) -> Value:
    return graph.add_op("Identity", [value], {"T": DType.FLOAT32}, name=graph.unique_name(name), dtype=DType.FLOAT32,
                        shape=value.shape)


#: What the float16 notice claims of a MultiHeadAttention (measured, session 24, reviews R2 and H3b): its results
#: within ``a + b·√n`` of their largest magnitude (at most 1) while its logits (``q·k/√key_dim``) stay within
#: ±``small``, ``c + d·√n`` at logits up to ``large``, nothing past: ``((small, (a, b)), (large, (c, d)))``. ``n`` is
#: the longest sum of its float16 einsums (:func:`mha_summed_length`): the lowering rounds where Keras's float16 ops
#: round but sums in float32 (as TF's MatMul and GPU einsums do), TF's CPU einsums in float16 steps, whose error grows
#: as ``√n`` (one einsum: 2.6e-4·√n of its largest value); a logit of 1000 lands 0.2 away. Past logits of 4000 TF's
#: float16 logits overflow inside the sum (NaN rows where TF.js has numbers).
MHA_HALF_BOUNDS = ((10.0, (5e-3, 3e-4)), (4000.0, (0.1, 0.025)))


def mha_half_bound(summed: int, logit: float) -> float:
    """The float16 notice's bound on a MultiHeadAttention's error (of its results' largest magnitude) at ``logit``,
    its longest float16 einsum summing ``summed`` terms (:data:`MHA_HALF_BOUNDS`); ``inf`` past what it claims."""
    (small, near), (large, far) = MHA_HALF_BOUNDS
    if not logit <= large:
        return math.inf
    base, per_root = near if logit <= small else far
    return min(1.0, base + per_root * math.sqrt(summed))


def mha_summed_length(sums: list[int | None]) -> int | None:
    """The longest of a float16 MultiHeadAttention's einsum sums (``None``: a length known only at run time)."""
    return None if None in sums else max(int(n) for n in sums)


#: Each graph's float16 MultiHeadAttention layers: name -> (the sums its einsums take, by what they sum over).
_MHA_SUMS: weakref.WeakKeyDictionary[Graph, dict[str, dict[str, int | None]]] = weakref.WeakKeyDictionary()


def note_mha_sums(graph: Graph, name: str, sums: dict[str, int | None]) -> None:
    """Note the lengths of float16 MultiHeadAttention ``name``'s einsum sums (``None``: known at run time) for the
    bound its float16 notice states (:func:`mha_half_bound`)."""
    _MHA_SUMS.setdefault(graph, {})[name] = sums


def _mha_bounds(graph: Graph) -> str | None:
    """The float16 notice's sentence on the MultiHeadAttention layers of ``graph``, each with its bound."""
    layers = _MHA_SUMS.get(graph, {})
    if not layers:
        return None
    (small, (a, b)), (large, (c, d)) = MHA_HALF_BOUNDS
    shown = []
    for name, sums in layers.items():
        n = mha_summed_length(list(sums.values()))
        if n is None:
            known = [v for v in sums.values() if v is not None]
            longest = f"max({max(known)}, the key's length)" if known else "the key's length"
            shown.append(f"{name} (n = {longest})")
        else:
            shown.append(f"{name} (n = {n}: {mha_half_bound(n, small):.2g}, {mha_half_bound(n, large):.2g})")
    return (f"{len(layers)} float16 MultiHeadAttention layer(s) sum their einsums in float32, as TF's MatMul does, "
            "where TF's CPU einsums sum in float16 steps, whose error grows with the length n of the longest sum "
            "(features, key_dim, heads·value_dim or the attended key length; Keras 3's rank-3 projections are "
            "matmuls), and a logit one float16 step off changes its weight by that step's factor: results within "
            f"{a:g} + {b:g}·√n of their largest value while the logits stay within ±{small:g}, {c:g} + {d:g}·√n (at "
            f"most 1) at logits up to {large:g}; nothing is claimed past logits of {large:g}, where TF's float16 "
            f"logits overflow into NaN rows: {_shown(shown)}")


#: What the float16 notice claims per layer and of a deep stack (measured, session 25 h8b, scripts in
#: /work/notes/probe25/h8b: per_op.py, depthwise.py, chaos.py, tfjs_err.py): TF's CPU float16 MatMul/BatchMatMul
#: give the exact sum rounded once, Conv2D too for 99.8% of results, DepthwiseConv2D rounds each of its taps (bit
#: for bit an emulation doing so). A mixed_float16 MobileNetV2 (96x96, alpha 0.35) on both paths: 0.021 of Keras's
#: output range with BatchNormalization statistics from a forward pass, 0.18 with random weights (chaos.py: Keras's
#: own mixed_float16 output moves 0.022 / 0.18 for a one-float16-step change of its input; float32 vs float64 4e-6 /
#: 4e-3), so the error is float16's, amplified by depth, not a lowering fault. A mixed_float16 GRU/LSTM over 300 steps
#: (session 27 probe H4, /work/notes/probe27/h4/hand/build7.py): 1.4e-3..2.3e-3 of the range, the traced graph 2.2e-3.
HALF_PER_LAYER = (
    "each layer's results equal Keras's or land about one float16 step from them, 1e-3 of their largest value, "
    "where TF rounds in other steps or sums in another order: Dense and BatchNormalization exactly, Conv2D but for "
    "a rare step, DepthwiseConv2D a few steps, as TF adds its taps in float16; a deep stack compounds these steps as "
    "float16 itself does (a mixed_float16 MobileNetV2: 0.02 of its output range with BatchNormalization statistics "
    "from data, 0.18 with random weights, as far as Keras's own output moves when its input moves one float16 step; "
    "a float16 LSTM/GRU compounds its steps over a sequence: 1.4e-3..2.3e-3 of the range over 300 steps, as far as "
    "the traced graph's 2.2e-3)")


class WidthNotices:
    """The layers Keras computes in float64 or float16 that TF.js computes otherwise: named once per model in a
    warning and in the conversion's notes."""

    def __init__(self) -> None:
        self.wide: list[str] = []
        self.half: list[str] = []
        #: float16 layers whose TF kernels sum in float16 (:data:`HALF_SUMS`), which can overflow where TF.js's do not
        self.half_sums: list[str] = []
        #: float16 UnitNormalization layers: name -> (squares summed, over the last axes), :func:`_half_unit_norms`
        self.unit_norms: dict[str, tuple[int | None, bool]] = {}
        #: layers whose TF kernels sum in float16 steps: name -> (values summed, one by one), :func:`_half_layer_sums`
        self.sum_layers: dict[str, tuple[int | None, bool]] = {}
        #: op layers computing in float32 on held float16 results (:func:`op_layer_on_held_in_float32`)
        self.held_float32: list[str] = []
        _UNIT_NORMS.clear()  # (a walk that stopped at a layer's gap left its notes)
        _HALF_REDUCTIONS.clear()

    def add(self, name: str, cls: str, config: dict[str, Any], shown: str | None = None) -> None:
        """Note a layer of class and config ``cls``/``config`` (a wrapper's :func:`width_view`), shown as ``shown``'s
        (the wrapper, with the wrapped class)."""
        wide = dtype_name(config.get("dtype")) == "float64"
        names = self.half if computes_in_half(cls, config) else self.wide if wide else None
        label = f"{name} ({cls})" if shown in (None, cls) else \
            f"{name} ({shown})" if cls == FLOAT32_INNER else f"{name} ({shown} of {cls})"
        if names is not None and label not in names:
            names.append(label)
        if wrapper_rounds(config, WRAPPER_CASTS_OUT) and label not in self.half:  # its float16 result: a rounding
            self.half.append(label)  # of float32 steps may land a float16 step off Keras's float64 ones
        if names is self.half and sums_in_half(cls, config) and label not in self.half_sums:
            self.half_sums.append(label)
        try:
            if names is self.half and cls == "UnitNormalization":
                self.unit_norms.update(_half_unit_norms(name))
            if (sums := _half_layer_sums(name, cls, config, names is self.half)) is not None:
                self.sum_layers[name] = sums
                if label not in self.half_sums:
                    self.half_sums.append(label)
        finally:
            _UNIT_NORMS.clear()  # (this layer's, taken: none is left for a later layer of the same name)
            _HALF_REDUCTIONS.clear()

    def add_held_float32(self, name: str, cls: str) -> None:
        """Note an op layer computing in float32 what Keras may compute in float16
        (:func:`op_layer_on_held_in_float32`)."""
        if (label := f"{name} ({cls})") not in self.held_float32:
            self.held_float32.append(label)

    def add_op_layer(self, name: str, cls: str) -> None:
        """Note an op layer computing in float16 (:func:`op_layer_in_half`; its sums: :meth:`add`): a model whose
        only float16 tensors come from op-layer casts is named too."""
        if (label := f"{name} ({cls})") not in self.half:
            self.half.append(label)

    def notice(self, graph: Graph) -> None:
        texts = []
        if self.wide:
            texts.append(f"{len(self.wide)} layer(s) Keras computes in float64 are computed in float32 by TF.js, "
                         "which has no float64 (within float32's precision of each step, about 1e-7 of the range; "
                         "more after a cancellation; a floor, modulo, threshold or comparison of a result can land on "
                         f"the other side of its jump): {_shown(self.wide)}")
        mha, unit = (_mha_bounds(graph), _unit_norm_bounds(self.unit_norms)) if self.half else (None, None)
        if self.half:
            more = " or ".join(f"a {cls}" for cls, text in (("UnitNormalization", unit), ("MultiHeadAttention", mha))
                               if text is not None)
            texts.append(f"{len(self.half)} layer(s) Keras computes in float16 are computed in float32 by TF.js with "
                         f"each result rounded to float16 as TF rounds it ({HALF_PER_LAYER}"
                         f"{f'; {more} by more, below' if more else ''}; an LSTM's, GRU's or attention layer's "
                         "results are its float32 steps, rounded to float16 where a float16 layer, a float32 or "
                         "float64 Layer- or GroupNormalization (Keras 3 casts its result back to its float16 input's "
                         "dtype) or an operation Keras keeps in float16 (arithmetic, value moves, tanh, sigmoid, relu: "
                         "each result rounded) reads them; other operations on them are computed in float32, so past "
                         f"65504 such a result stays finite where Keras may give ±inf): {_shown(self.half)}")
        texts.extend(text for text in (mha, unit, _half_sum_bounds(self.sum_layers)) if text is not None)
        if self.held_float32:
            texts.append(f"{len(self.held_float32)} operation(s) on the float16 results of an LSTM, GRU or attention "
                         "layer, of functions not known to keep float16, are computed in float32 by TF.js, as are "
                         "the operations after them: Keras computes most such functions in float16, rounding each "
                         "result, so a result lands within float16's precision of Keras's unless a later step "
                         f"cancels ({HELD_FLOAT32_EXAMPLE}) or passes 65504: {_shown(self.held_float32)}")
        if self.half_sums:
            texts.append(f"{len(self.half_sums)} float16 layer(s) whose TF kernels add up a window or an axis in "
                         "float16 are summed in float32 by TF.js: TF rounds each partial sum to float16 (one by one "
                         "over other axes than the innermost: tf_keras's GlobalAveragePooling of channels_last "
                         "inputs, AveragePooling's windows, each layer's bound above), and where a partial sum "
                         "passes 65504 Keras gives ±inf (a UnitNormalization 0) and TF.js the mean (the normalized "
                         f"values): {_shown(self.half_sums)}")
        if self.half:
            texts.append("±inf and NaN arise easily in float16 (past 65504): TF.js handles some of them otherwise "
                         "than TF (a NaN through Relu, a pooling window holding NaN) unless converted with "
                         "--exact_special_values")
        for text in texts:
            log.warning("%s", text)
            graph.notes.append(text)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
