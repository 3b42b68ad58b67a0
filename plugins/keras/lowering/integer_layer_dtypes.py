"""Keras 3 layers saved with an integer dtype (``Identity(dtype="int32")``): what Keras computes, lowered.

Keras 3's ``Layer.__call__`` converts each input to the layer's compute dtype with ``DTypePolicy.convert_input``,
which casts floats only: a layer whose dtype is int32 or int64 gets its float inputs truncated toward zero as TF's
CPU cast gives them (NaN, infinities and magnitudes past the dtype's range: its minimum), its integer inputs as they
are. It then computes as on integers of that dtype, which the walk already follows: the moving layers and merges keep
them (merges add and multiply in int32, wrapping), Activation relu/linear keeps them and others take floats again;
Rescaling also casts its integer inputs, scale and offset to the dtype (:func:`integer_rescaling`; the constants
from the saved config values as TF converts them, :func:`saved_tensor`). int64 is held as its low 32 bits, as TF.js
holds every int64, so only layers whose results depend on those alone lower with it, and only on integer inputs: a
float from 2^31 on cast to int64 would be read by later comparisons, ids and float layers as its low bits
(:data:`INT64_FROM_FLOATS`, refused). A float truncated to int32 is Keras's where it is a float32 input moved or
picked; where float layers computed it (or it is a float64 input, fed as float32), a value within a rounding of a
whole number may truncate to the other side: the layer is named in a warning (:func:`warn_truncation`). tf_keras
autocasts floats to float dtypes only: its integer-dtype layers stay gaps, and so do the other integer dtypes (bool,
8/16-bit).
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.narrow_ints import int32_product

from ..configs import dtype_name
from .context import UNTRACKED, LayerContext, broadcast_shape
from .integer_dtypes import KERAS3_RAW_AT_INFERENCE, WIDE_INTEGER_MERGES, WIDE_INTEGER_MOVING_LAYERS
from .registry import Unsupported

#: The layer dtypes lowered, and the DType each computes in.
INTEGER_LAYER_DTYPES = {"int32": DType.INT32, "int64": DType.INT64}
#: Layers lowered with an integer dtype: after Keras's cast of their float inputs, the walk's lowering of them on
#: integers is Keras's (not the image layers Keras 3 returns as given: some of them cast to the compute dtype).
INTEGER_DTYPE_LAYERS = frozenset({*(WIDE_INTEGER_MOVING_LAYERS - set(KERAS3_RAW_AT_INFERENCE)), *WIDE_INTEGER_MERGES,
                                  "Activation", "Rescaling"})
#: Of those, the ones lowered with dtype int64 too: their results depend only on the low 32 bits TF.js holds of each
#: int64 (moves, sums, products, Rescaling). Comparisons (Maximum, Minimum, GlobalMaxPooling, relu) and floats made of
#: int64 values past int32's range would differ from Keras's: those stay gaps with dtype int64.
INT64_DTYPE_LAYERS = INTEGER_DTYPE_LAYERS - {"Maximum", "Minimum", "Activation", "GlobalMaxPooling1D",
                                             "GlobalMaxPooling2D", "GlobalMaxPooling3D"}
#: The activations Keras 3 computes on int32 (others fail in TensorFlow) whose lowering on int32 gives Keras's values
#: and dtype: relu and linear keep int32, tanh, leaky_relu and exponential give float32 (relu6 keeps int32 in Keras,
#: float32 in the lowering: a gap).
INTEGER_ACTIVATIONS = frozenset({"linear", "relu", "tanh", "leaky_relu", "exponential"})
#: Layers whose lowering itself produces an integer-dtype output (``_convert_input_args = False``: no autocast).
INTEGER_RESULT_LAYERS = frozenset({"CategoryEncoding"})


def integer_layer_dtype(cls: str, config: dict[str, Any], keras3: bool | None) -> DType | None:
    """The integer dtype a Keras 3 layer of :data:`INTEGER_DTYPE_LAYERS` or :data:`INTEGER_RESULT_LAYERS` computes in
    (its saved dtype, int32 or int64), else None."""
    if keras3 is not True or cls not in INTEGER_DTYPE_LAYERS | INTEGER_RESULT_LAYERS:
        return None
    if cls == "Activation" and config.get("activation") not in INTEGER_ACTIVATIONS:
        return None
    dtype = INTEGER_LAYER_DTYPES.get(dtype_name(config.get("dtype")))
    return None if dtype == DType.INT64 and cls in INTEGER_DTYPE_LAYERS - INT64_DTYPE_LAYERS else dtype


def autocast_inputs(graph: Graph, layer: str, cls: str, source: str, inputs: list[Value],
                    keras_dtypes: list[DType | str | None], dtype: DType) -> list[tuple[Value, DType | None]]:
    """Each input as Keras hands it to an integer-``dtype`` layer, with the Keras dtype to track for a new Value: a
    float truncated as TF's cast gives it, an integer as it is. A tensor whose Keras dtype the walk does not follow
    (float or integer) is refused by name."""
    from .op_layers import float_to_int32

    ctx = LayerContext(graph, f"{layer}/autocast", cls, {}, inputs, [], source, keras3=True)
    out: list[tuple[Value, DType | None]] = []
    for i, (value, held) in enumerate(zip(inputs, keras_dtypes)):
        if held == UNTRACKED:
            raise Unsupported(f"layer {layer!r} ({cls}: dtype {dtype.name.lower()}) on a tensor whose Keras dtype the "
                              "lowering does not follow (Keras casts it to the layer's dtype only if it is a float)")
        if held is not None:
            out.append((value, None))
        elif value.dtype != DType.FLOAT32:
            raise Unsupported(f"layer {layer!r} ({cls}: dtype {dtype.name.lower()}) on a "
                              f"{value.dtype.name.lower()} tensor")
        elif dtype == DType.INT32:
            warn_truncation(ctx, f"layer {layer!r} ({cls}: dtype int32)", value)
            out.append((float_to_int32(ctx, value, f"to_int32_{i}"), None))
        else:
            raise Unsupported(INT64_FROM_FLOATS.format(what=f"layer {layer!r} ({cls}: dtype int64) on floats"))
    return out


#: The refusal of floats cast to int64 (``{what}``: the layer): from 2^31 on TF.js holds only an int64's low 32 bits,
#: which later comparisons, ids and float layers read as other numbers than Keras's (session 22's review, F1).
INT64_FROM_FLOATS = (
    "{what}: Keras casts floats to int64 there, and from 2^31 on TF.js holds only an int64's low 32 bits, which a "
    "later comparison, id or float layer would read as another number (lowered for integer inputs)")


#: The note for int64 values a layer makes that may reach 2^31 (``{what}``: the layer and how): TF.js holds each int64
#: as its low 32 bits (the documented convention), which only later moves, sums and products read as Keras does.
INT64_LOW_BITS_NOTE = (
    "{what}: from 2^31 on TF.js holds an int64 only as its low 32 bits, so where such a value arises a later "
    "comparison, id, float layer or model output reads another number than Keras's")


def warn_int64_low_bits(ctx: LayerContext, what: str) -> None:
    """Name ``what`` (a layer making int64 values that may pass int32's range) in a warning (session 22's F6)."""
    from .core import warn_once

    warn_once(ctx, INT64_LOW_BITS_NOTE.format(what=what))


#: Per graph, the notes of floats cast to int64 that wait for the end of the walk: ``(the int64 Value, note)``
#: (:func:`defer_int64_cast_note`).
_PENDING_INT64: weakref.WeakKeyDictionary[Graph, list[tuple[Value, str]]] = weakref.WeakKeyDictionary()


def defer_int64_cast_note(ctx: LayerContext, value: Value, what: str) -> None:
    """Name ``what`` (a layer casting floats to the int64 ``value``) once the walk is over, unless Embedding-style
    lookups alone read ``value`` (:func:`give_int64_cast_notes`)."""
    _PENDING_INT64.setdefault(ctx.graph, []).append((value, INT64_LOW_BITS_NOTE.format(what=what)))


def give_int64_cast_notes(graph: Graph) -> None:
    """The deferred notes of :func:`defer_int64_cast_note`, for the casts read by more than an Embedding's lookup
    (:func:`_looked_up_only`). The walk calls it once every layer is lowered and the outputs are set."""
    from .core import log

    pending = _PENDING_INT64.pop(graph, [])
    if not pending:
        return
    uses = graph.consumers()
    outputs = {id(v) for v in graph.outputs.values()}
    for value, text in pending:
        if (id(value) in outputs or not _looked_up_only(value, uses, outputs)) and text not in graph.notes:
            log.warning("%s", text)  # as :func:`.core.warn_once` names a layer
            graph.notes.append(text)


def _looked_up_only(value: Value, uses: dict[Value, list[Any]], outputs: set[int]) -> bool:
    """Whether int64 ``value`` is read only as an Embedding (or a gather) reads its ids: cast to int32 (its low 32
    bits), then (Keras 3) ``where(ids < 0, ids + rows, ids)``, then a ``GatherV2``'s indices. TensorFlow's gather
    refuses an id out of the table (Keras 3: out of ``[-rows, rows)``), and an id inside it is its own low bits, so
    TF.js reads Keras's rows wherever Keras gives any (session 23's review, F7)."""
    readers = uses.get(value, [])
    return all(r.op == "Cast" and r.attrs.get("DstT") == DType.INT32 and
               _gathered(r.output(0), uses, outputs, wrapped=False) for r in readers)


def _gathered(ids: Value, uses: dict[Value, list[Any]], outputs: set[int], *, wrapped: bool) -> bool:
    """Whether int32 ``ids`` only index ``GatherV2`` nodes (not a model output), directly or (once) through Keras 3's
    negative-id wrap (``core._wrap_negative_ids``: ``SelectV2(Less(ids, 0), AddV2(ids, rows), ids)``)."""
    readers = uses.get(ids, [])
    if not readers or id(ids) in outputs:
        return False
    if all(r.op == "GatherV2" and r.inputs[1] is ids and r.inputs[0] is not ids for r in readers):
        return True
    select = next((r for r in readers if r.op == "SelectV2"), None)
    if wrapped or select is None or len(readers) != 3 or len(select.inputs) != 3:
        return False
    negative, shifted, kept = select.inputs
    test, shift = negative.producer, shifted.producer
    zero = test.inputs[1].producer if test.op == "Less" and len(test.inputs) == 2 else None
    return (zero is not None and kept is ids and test.inputs[0] is ids and zero.op == "Const" and
            not np.any(np.asarray(zero.attrs.get("value"))) and shift.op == "AddV2" and ids in shift.inputs and
            {id(r) for r in readers} == {id(select), id(test), id(shift)} and
            uses.get(negative) == [select] and uses.get(shifted) == [select] and
            _gathered(select.output(0), uses, outputs, wrapped=True))


#: Ops whose float results are values of their operands (moves, picks, extrema, exact roundings, signs): a float
#: reached only through them from model inputs and constants is truncated as Keras truncates it.
EXACT_FLOAT_OPS = frozenset({
    "Placeholder", "Const", "Identity", "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConcatV2", "Pack", "Unpack",
    "Split", "SplitV", "Slice", "StridedSlice", "GatherV2", "GatherNd", "Tile", "Pad", "PadV2", "MirrorPad", "Select",
    "SelectV2", "Maximum", "Minimum", "Max", "Min", "Relu", "Relu6", "ClipByValue", "Fill", "ZerosLike", "OnesLike",
    "BroadcastTo", "ReverseV2", "Sign", "Neg", "Abs", "DepthToSpace", "SpaceToDepth", "BatchToSpaceND",
    "SpaceToBatchND", "ResizeNearestNeighbor", "MaxPool", "MaxPool3D", "Round", "Floor", "Ceil"})
#: The conversion's note for a float truncated to integers (``{what}``: the layer): Keras truncates its own float32
#: (or float64) value, TF.js its float32 one, and a value within a rounding of a whole number truncates to either side
#: (session 22's review: a Dense's 4.9999995 gave 5 on wasm).
TRUNCATION_NOTE = (
    "{what}: Keras truncates a float computed by the layers before it to integers, so a value within a float32 "
    "rounding of a whole number (or, computed in float64 by Keras, within float64's) may come out one unit off in "
    "TF.js")
#: The note for a float64 model input truncated to integers: TF.js is fed float32 (``{what}``: the layer).
FLOAT64_INPUT_NOTE = (
    "{what}: Keras truncates a float64 model input to integers; TF.js is fed float32, so a float64 value that is no "
    "float32 (0.99999999999, 2147483647.0) is rounded before the truncation (to 1, to INT32_MIN past 2^31) where Keras "
    "keeps it (0, 2147483647); values fed as float32 give Keras's")


def warn_truncation(ctx: LayerContext, what: str, value: Value) -> None:
    """Name ``what`` (a layer truncating float ``value`` to integers) in a warning where its result may differ from
    Keras's: ``value`` computed by float ops (:data:`TRUNCATION_NOTE`) or a float64 model input
    (:data:`FLOAT64_INPUT_NOTE`). A float32 input moved or picked only is truncated exactly: no warning."""
    from .core import warn_once
    from .float_widths import float64_inputs

    origin = float_origin(value, float64_inputs(ctx.graph))
    if origin is not None:
        warn_once(ctx, (TRUNCATION_NOTE if origin == "computed" else FLOAT64_INPUT_NOTE).format(what=what))


def float_origin(value: Value, wide_inputs: set[str]) -> str | None:
    """``"computed"`` where float ops (not :data:`EXACT_FLOAT_OPS`) made ``value``, else ``"float64"`` where it moves
    a float64 model input (``wide_inputs``: their Placeholders' names), else None (float32 inputs and constants
    moved or picked, and small whole numbers counted from bools, :func:`whole_number_bound`: exact). Walked
    iteratively."""
    seen: set[int] = set()
    stack, origin = [value], None
    bounds: dict[int, float | None] = {}
    while stack:
        held = stack.pop()
        node = held.producer
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op not in EXACT_FLOAT_OPS:
            if whole_number_bound(held, bounds) is not None:
                continue  # Keras's float32 and TF.js's are the same whole number: truncated alike
            return "computed"
        if node.op == "Placeholder" and node.name in wide_inputs:
            origin = "float64"
        stack += [v for v in node.inputs if v.dtype == DType.FLOAT32]
    return origin


#: The largest whole number float32 arithmetic reaches exactly from smaller ones: every partial sum or product of
#: whole numbers up to it is a float32, so Keras and TF.js get the same value in any order of summation.
EXACT_WHOLE_LIMIT = float(2**24)
#: Ops that move or pick their float inputs' values (a subset of :data:`EXACT_FLOAT_OPS`): whole numbers stay
#: whole and within the largest bound of their inputs (not ``OnesLike``: 1 from zeros).
_WHOLE_MOVES = EXACT_FLOAT_OPS - {"Placeholder", "Const", "Fill", "ZerosLike", "OnesLike"}
#: Steps on whole numbers whose bound follows from their operands' (sums, differences, products).
_WHOLE_STEPS = {"AddV2": lambda a, b: a + b, "Add": lambda a, b: a + b, "Sub": lambda a, b: a + b,
                "Mul": lambda a, b: a * b}


def whole_number_bound(value: Value, memo: dict[int, float | None] | None = None) -> float | None:
    """A bound on the magnitude of float32 ``value`` where it is provably a whole number that float32 holds and
    computes exactly (at most :data:`EXACT_WHOLE_LIMIT`), else None: bools cast to float (0 or 1), whole constants,
    their moves and picks, sums over axes of sizes known here (``reduce_sum(cast(mask, float32))``, a sequence
    length), and sums, differences and products of such values. Keras's float32 and TF.js's are then the same whole
    number, which a cast to an integer truncates alike (session 23's review, F7: false alarms). Walked
    iteratively, each value once."""
    memo = {} if memo is None else memo
    stack = [value]
    while stack:
        top = stack[-1]
        if id(top) in memo:
            stack.pop()
            continue
        node = top.producer
        steps = node is not None and (node.op in _WHOLE_MOVES or node.op in _WHOLE_STEPS or node.op == "Sum")
        floats = [v for v in node.inputs if v.dtype == DType.FLOAT32] if steps else []
        missing = [v for v in floats if id(v) not in memo]
        if missing:
            stack += missing
            continue
        stack.pop()
        memo[id(top)] = _whole_bound_of(node, [memo[id(v)] for v in floats]) if node is not None else None
    return memo[id(value)]


def _whole_bound_of(node: Any, bounds: list[float | None]) -> float | None:
    """One step of :func:`whole_number_bound`: ``node``'s output bound from its float inputs' ``bounds``."""
    if node.op == "Cast":
        return 1.0 if node.attrs.get("SrcT") == DType.BOOL else None
    if node.op == "Const":
        array = node.attrs.get("value")
        array = np.asarray(array.load() if hasattr(array, "load") else array, np.float64)
        whole = array.size == 0 or (np.all(np.isfinite(array)) and np.all(array == np.round(array)))
        bound = float(np.abs(array).max(initial=0.0)) if whole else None
        return bound if bound is not None and bound <= EXACT_WHOLE_LIMIT else None
    if not bounds or any(b is None for b in bounds):
        return None
    if node.op in _WHOLE_MOVES:
        bound = max(bounds)
    elif node.op in _WHOLE_STEPS and len(bounds) == 2:
        bound = _WHOLE_STEPS[node.op](*bounds)
    elif node.op == "Sum" and len(bounds) == 1:
        count = _summed_count(node)
        bound = None if count is None else count * bounds[0]
    else:
        return None
    return bound if bound is not None and bound <= EXACT_WHOLE_LIMIT else None


def _summed_count(node: Any) -> int | None:
    """How many values each output of a ``Sum`` node adds: the product of the summed axes' sizes, where the axes
    are a constant and those sizes known (else None)."""
    shape, axes = node.inputs[0].shape, node.inputs[1].producer
    if shape is None or axes is None or axes.op != "Const":
        return None
    picked = np.asarray(axes.attrs.get("value")).reshape(-1)
    sizes = [shape[int(a)] for a in picked] if all(-len(shape) <= int(a) < len(shape) for a in picked) else [None]
    return None if any(size is None for size in sizes) else int(np.prod(sizes, dtype=np.int64))


def constants_within_int32(value: Value) -> bool:
    """Whether float ``value`` moves or picks only float32 constants inside int32's range (an Embedding's rows): its
    cast to int64 then keeps int32's values, which TF.js holds exactly. False where a model input or a computing op
    feeds it (:func:`float_origin`). Walked iteratively."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        node = stack.pop().producer
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op not in EXACT_FLOAT_OPS or node.op == "Placeholder":
            return False
        array = node.attrs.get("value") if node.op == "Const" else None
        array = np.asarray(array.load() if hasattr(array, "load") else array) if array is not None else None
        if array is not None and array.dtype.kind == "f" and \
                not np.all(np.abs(array.astype(np.float64)) < 2.0**31):  # NaN and ±Inf fail too
            return False
        stack += [v for v in node.inputs if v.dtype == DType.FLOAT32]
    return True


def tf_integer_constant(values: np.ndarray, dtype: DType) -> np.ndarray:
    """``values`` (floats of their own width, integers or bools) cast as TF's CPU kernel casts them to ``dtype``, as
    the int32 TF.js holds (int64: its low 32 bits): floats truncated toward zero (NaN, infinities and magnitudes past
    the range: the dtype's minimum), integers wrapped to their low 32 bits (TF's cast of int64 to int32), bools 0/1."""
    values = np.asarray(values)
    if values.dtype.kind in "biu":
        low = np.array([int(v) & 0xFFFFFFFF for v in values.reshape(-1)], np.uint64).reshape(values.shape)
        return low.astype(np.uint32).view(np.int32)
    values = values.astype(np.float64)
    limit = 2.0**31 if dtype == DType.INT32 else 2.0**63
    inside = np.isfinite(values) & (np.abs(values) < limit)
    whole = np.where(inside, np.trunc(np.where(inside, values, 0.0)), 0.0)
    if dtype == DType.INT32:
        return np.where(inside, whole, -2.0**31).astype(np.int64).astype(np.int32)
    # int64: INT64_MIN's low 32 bits are 0; other values wrap into int32 as their low bits
    return np.where(inside, tf_integer_constant(whole.astype(np.int64), dtype), 0).astype(np.int32)


def saved_tensor(value: Any) -> np.ndarray:
    """A config number, list or saved numpy array as ``tf.convert_to_tensor`` makes it (what Keras 3's
    ``backend.cast`` casts): a ``{"class_name": "__numpy__"}`` array in its saved dtype (float64 kept), Python floats
    (any in a list) as float32, Python ints as int32 or, past its range, int64, bools as bools. Raises ValueError
    where TensorFlow would (ints past int64's range, mixed bools)."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        config = value.get("config") or {}
        return np.asarray(config.get("value"), np.dtype(str(config.get("dtype") or "float32")))
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind != "i":  # object (past int64) or strings
        raise ValueError(f"not numbers TensorFlow converts: {str(value)[:60]}")
    inside = array.size == 0 or (array.min() >= -2**31 and array.max() < 2**31)
    return array.astype(np.int32 if inside else np.int64)


def integer_rescaling(ctx: LayerContext, dtype: DType, scale: Any, offset: Any) -> Value:
    """Keras 3's ``Rescaling.call`` in an integer dtype: ``cast(x, dtype) · cast(scale, dtype) + cast(offset, dtype)``,
    wrapping as TF's int32 Mul and Add (int64 in its low 32 bits, which wrap alike). ``scale`` and ``offset`` are
    the saved config values, cast from what TF makes of them (:func:`saved_tensor`: a Python int 16777217 stays,
    2^40 wraps to 0, a float64 array truncates from float64). The walk hands the input as int32 (floats cast by
    the autocast, int64 as its low bits) or as float32 holding small integers or bools exactly."""
    x = ctx.x
    if x.dtype == DType.FLOAT32:
        x = ctx.exact_cast(x, DType.INT32, "integers")
    if x.dtype != DType.INT32:
        raise Unsupported(f"layer {ctx.name!r} (Rescaling: dtype {dtype.name.lower()}) on a "
                          f"{x.dtype.name.lower()} tensor")
    try:
        factor, shift = (tf_integer_constant(saved_tensor(v), dtype) for v in (scale, offset))
    except (TypeError, ValueError) as err:
        raise ctx.error(f"has a scale or offset TensorFlow does not cast ({err})")
    y = x if factor.size == 1 and factor.item() == 1 else int32_product(
        ctx.graph, x, ctx.ints(factor, "scale"), f"{ctx.name}/scaled", broadcast_shape(x.shape, factor.shape))
    y = ctx.binary("AddV2", y, ctx.ints(shift, "offset"), label="shifted")
    if dtype == DType.INT64:
        ctx.output_keras_dtype = DType.INT64
        if np.abs(factor.astype(np.int64)).max(initial=0) > 1:  # Keras widens first: an int32 id times 2^20 is int64
            warn_int64_low_bits(ctx, f"layer {ctx.name!r} (Rescaling: dtype int64) scales integers by "
                                     f"{_listed(factor)}")
    return y


def _listed(values: np.ndarray) -> str:
    """A scale for a message: the number, or the list of per-channel numbers."""
    return str(values.item()) if values.size == 1 else str(values.tolist())
