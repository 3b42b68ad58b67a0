"""A Keras Functional or Sequential model config -> an IR graph, one registered lowering per layer call.

Reads Keras 2 (``[[layer, node, tensor, kwargs]]``) and Keras 3 (``{"args": [<__keras_tensor__>]}``)
inbound nodes alike. Layer calls are lowered in the order :mod:`.model_plan` gives (no recursion over
layers, so long chains cannot overflow the stack; cycles and dangling refs are InputErrors). Nested
models are lowered inline (at most ``MAX_NESTING`` levels), masks travel beside the values
(:mod:`.masking`). The signature uses Keras's names: input layer names, and output layer names.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from tfjsconv import provenance
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.narrow_ints import NARROW_INTS, is_narrow, wrapped

from tfjsconv.errors import InputError

from ..configs import LAYER_LISTS, MODEL_CLASSES, dtype_name, entry_name, is_model, plain, top_level_layers
from ..op_calls import CALLS_KEY, KERAS_OP_PREFIX, OP_ARGUMENTS_KEY, is_op_layer
from .context import STATE_KEYWORD, UNTRACKED, LayerContext, check_kwargs_read
from .keras_names import is_keras_layer_class, unknown_activations
from .mask_origins import MaskOrigin, is_recorded_mask
from .masking import (ELEMENTWISE_MERGES, EXPLICIT_MASK_LAYERS, GIVEN_MASK_READERS, GLOBAL_AVERAGE_1D, QUERY_MASKED,
                      STEP_MASK_READERS,
                      explicit_masks, make_mask, mask_gap, masked_global_average_1d, makes_mask, masked_outputs,
                      merged_mask, output_origin, passes_mask, drops_mask, returns_its_input,
                      time_distributed_makes_mask)
from .model_plan import (MASK_KEYWORD, MAX_NESTING, LayerCall, MaskDeletions, ModelPlan, attended_inputs, call_inputs,
                         canonical_path, keras2_items, mask_chain, model_plan, refuse_renumbered, shared_paths)
from .pipeline import first_layer_reads_given_mask
from .recurrent import wraps_conv_lstm
from .registry import UncoveredLayers, Unsupported, loaded_lowerings
from .weights import LayerWeights, _weight_owners, wrapped_model
from .wrappers import time_distributed_mask, time_distributed_model, time_distributed_out_mask

Ref = tuple[str, int, int]
#: The value of a tensor a gap left uncomputed: calls that read it are skipped (one gap is named once, not again
#: for every layer downstream of it).
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()
FLOAT_DTYPES = (None, "float32", "mixed_float16", "mixed_bfloat16")
#: Layers that read their inputs as they are (ids, strings); every other layer gets integers cast to float32.
#: Keras 3 image augmentation layers whose inference returns the images as given, integers too (the others cast them to
#: float32 first).
KERAS3_RAW_AT_INFERENCE = ("RandomInvert", "RandomColorJitter", "RandomCrop", "RandomGrayscale", "RandomHue",
                           "RandomSaturation", "RandomPosterization", "RandomColorDegeneration", "MixUp")
INTEGER_INPUT_LAYERS = frozenset({"Embedding", "ReversibleEmbedding", "StringLookup", "Hashing", "TextVectorization",
                                  "Pipeline"})  # Pipeline: per inner layer
#: Layers whose saved ``dtype`` is their (integer) output's, which their lowerings produce as int32.
INTEGER_OUTPUT_LAYERS = frozenset({"StringLookup", "IntegerLookup", "Hashing", "TextVectorization"})
#: Model input dtypes a placeholder can carry (TF.js narrows the wide integers to int32 on write).
INPUT_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int16", "int8", "uint8", "uint16", "bool", "string")
#: Layers that only move, pick or drop values: on integers Keras (3 and tf_keras) returns them in their dtype, which
#: the walk tracks beside the float32 Values it hands on (a Resizing after them casts its result back to it).
INTEGER_KEEPING_LAYERS = frozenset({
    "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Reshape", "Permute",
    "Flatten", "RepeatVector", "UpSampling1D", "UpSampling3D", "Concatenate", "Maximum", "Minimum", "Add", "Subtract",
    "Multiply", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "Masking",
    *KERAS3_RAW_AT_INFERENCE})
#: Value-moving layers whose lowerings build only dtype-free ops (Reshape, Transpose, slices, Pad with zeros, Tile):
#: they get int32/int64 tensors as they are, not as float32, which holds integers exactly only up to 2^24.
WIDE_INTEGER_MOVING_LAYERS = frozenset({
    "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Reshape", "Permute",
    "Flatten", "RepeatVector", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "UpSampling1D", "UpSampling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",  # the last: a Max reduction (exact on int32)
    *KERAS3_RAW_AT_INFERENCE})
#: Merges whose lowerings build ConcatV2 / Maximum / Minimum / AddV2 / Sub / Mul, exact on int32 in TF.js (cpu and
#: wasm; int32 sums and products wrap as TF's do): they get int32/int64 tensors as they are when every input is an
#: integer and one at least int32/int64 (:func:`_wide_integer_merge`; Keras 3's masked Multiply / Maximum / Minimum
#: then select with int32 constants, .merging).
WIDE_INTEGER_MERGES = frozenset({"Concatenate", "Maximum", "Minimum", "Add", "Subtract", "Multiply"})
#: Layers whose lowerings compute on int32 tensors as Keras does on int32/int64 ones (int64 ones reach them as int32,
#: as TF.js holds them): MaxPooling1D/2D (a max over the window's slices: TF.js's MaxPool takes float32 only), Keras
#: 3's Masking (it compares in float32, then selects the integers), a ReLU without a negative slope and Activation
#: linear/relu (``Maximum(x, 0)``, a threshold, a clip), tf_keras's global average pools (an exact truncated mean):
#: see :func:`_wide_integer_layer`. Not MaxPooling3D: Keras itself fails on integers.
WIDE_INTEGER_COMPUTING_LAYERS = frozenset({"MaxPooling1D", "MaxPooling2D", "Masking", "ReLU", "Activation"})
#: Layers that keep integers in Keras, or may, in ways the walk does not follow (averages, activations):
#: their integer results are UNTRACKED, and a layer whose result depends on the dtype refuses them.
INTEGER_UNTRACKED_LAYERS = frozenset({
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"})
#: Comparisons: exact on the float32 Values of integers (held exactly), and their bools are Keras's.
COMPARISON_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual")),
    *(prefix + name for prefix in ("", "math.") for name in ("equal", "not_equal", "greater", "greater_equal", "less",
                                                             "less_equal"))})
#: Keras 3 operations that cast integers to float32 before computing (tf_keras's tf.math.divide gives float64,
#: tf.reduce_mean truncated integers: not these).
FLOAT_COMPUTING_OPS = frozenset(KERAS_OP_PREFIX + name for name in (
    "Divide", "TrueDivide", "Mean", "DivideNoNan", "Tan", "Arcsin", "Arccos", "Arctan", "Arctan2", "Sinh", "Cosh",
    "Arcsinh", "Arccosh", "Arctanh"))
#: Op layers that compute on 8- and 16-bit integers in their promoted dtype, lowered in int32 and wrapped back into
#: it after (TF wraps around: uint8 200 + 100 is 44), or whose result stays in range (the extrema, joins).
NARROW_WRAPPED_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Add", "Subtract", "Multiply", "Negative", "Absolute", "Square")),
    "__operators__.add", "math.add", "math.add_v2", "math.subtract", "__operators__.sub", "math.multiply",
    "__operators__.mul", "math.negative", "math.abs", "math.square"})
NARROW_IN_RANGE_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Maximum", "Minimum", "Max", "Min", "Concatenate", "Stack", "Clip", "Where",
                                          "OnesLike", "ZerosLike", "Sort")),
    "math.maximum", "math.minimum", "math.reduce_max", "math.reduce_min", "concat", "stack", "clip_by_value", "where",
    "ones_like", "zeros_like", "sort"})
#: Op layers whose int32 result indexes 8/16-bit integers (their order), not a value of their dtype.
NARROW_INDEX_OPS = frozenset({KERAS_OP_PREFIX + "Argsort", "argsort"})
#: Op layers whose first operand is a condition (bool), not a value of the result.
CONDITION_OPS = frozenset({KERAS_OP_PREFIX + "Where", "where"})
#: Op layers not lowered on 8- and 16-bit integers: their results may leave the range (wrapping in TF), or take
#: another dtype in Keras 3 (``sum``'s uint32, ``image.resize`` rounded back): refused on them by name, from a model
#: input too. Other op layers on them keep their lowering (comparisons, casts, where, clip to constants...).
NARROW_REFUSED_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Power", "FloorDivide", "Mod", "Matmul", "Einsum", "Resize")),
    "math.reduce_sum", "reduce_sum", "math.pow", "linalg.matmul", "matmul", "math.squared_difference", "nn.bias_add",
    "math.floordiv", "floordiv", "compat.v1.floor_div", "math.floormod", "floormod", "math.mod", "mod",
    "math.reduce_mean", "reduce_mean"})
#: Keras 3's ``sum``/``prod`` of int8/int16 compute in int32 (jax's rule); of uint8/uint16 in uint32: the sum lowered
#: in int32 where it provably stays below 2^24 (:func:`.op_layers._keras_sum`; its result then untracked), else
#: refused, the product refused (:func:`.op_layers._prod`).
NARROW_TO_INT32_OPS = frozenset({KERAS_OP_PREFIX + "Sum", KERAS_OP_PREFIX + "Prod"})
#: Op layers on 8/16-bit integers whose lowering wraps into their dtype itself, step by step (the products and
#: running sums Keras computes in that dtype, :func:`.op_layers._narrow_cumulative`, :func:`.op_layers._prod`).
NARROW_STEPWISE_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Cumsum", "Cumprod")), "math.reduce_prod", "reduce_prod", "math.cumsum",
    "cumsum", "math.cumprod", "cumprod"})
#: The op layers that get 8/16-bit integers back as int32 (the others refuse them where the walk holds them as float32).
NARROW_COMPUTED_OPS = NARROW_WRAPPED_OPS | NARROW_IN_RANGE_OPS | NARROW_TO_INT32_OPS | NARROW_INDEX_OPS | \
    NARROW_STEPWISE_OPS
#: Op layers that compute on integers in their integer dtype, in Keras 3 and tf_keras, as the op lowering does on a
#: model input of that dtype: they get the tracked integers back (:data:`OP_REINTEGER_DTYPES`); any other op layer
#: on tracked integers is refused (``ops.mean`` gives floats in Keras 3 but truncated integers in ``tf.reduce_mean``).
INTEGER_COMPUTING_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in (
        "Add", "Subtract", "Multiply", "Where", "Maximum", "Minimum", "Clip", "Absolute", "Negative", "Square", "Sum",
        "Min", "Max", "Concatenate", "Stack", "OnesLike", "ZerosLike", "LogicalAnd", "LogicalOr", "LogicalNot",
        "LogicalXor", "Any", "All", "FloorDivide", "Mod", "Sort", "Argsort")),
    "__operators__.add", "math.add", "math.subtract", "math.multiply", "where", "math.maximum", "math.minimum",
    "clip_by_value", "math.abs", "math.negative", "math.square", "math.reduce_sum", "math.reduce_min",
    "math.reduce_max", "concat", "stack", "ones_like", "zeros_like", "math.logical_and", "math.logical_or",
    "math.logical_not", "math.reduce_any", "math.reduce_all", "math.floordiv", "floordiv", "compat.v1.floor_div",
    "math.floormod", "floormod", "math.mod", "mod", "sort", "argsort", *NARROW_WRAPPED_OPS, *NARROW_IN_RANGE_OPS,
    *NARROW_INDEX_OPS})
#: The op layers that compute the same on an integer tensor's float32 Value as Keras on the integers: casts (to
#: float32, int32 or bool, the ones :mod:`.op_layers` lowers, all exact on these values).
DTYPE_FREE_OPS = frozenset({"keras.ops.Cast", "cast", "dtypes.cast", "shape", "compat.v1.shape",
                            *COMPARISON_OPS, *FLOAT_COMPUTING_OPS})
#: The tracked integer dtypes an op layer gets back (a Cast of the float32 Value, exact): TF.js computes these as
#: Keras does (as on a model input of that dtype); 8- and 16-bit ones wrap around in Keras, not in TF.js's int32.
OP_REINTEGER_DTYPES = (DType.INT32, DType.INT64, DType.BOOL)
#: The op layers that only move values of one tensor: their result keeps its integer dtype in Keras.
INTEGER_KEEPING_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Tile")),
    "reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
    "__operators__.getitem", "tile"})


def layer_gaps(model_config: dict[str, Any], source: str | None = None, *, keras3: bool | None = None) -> list[str]:
    """Every layer (as ``'name' (Class: why)``) the lowering does not cover; empty when it covers the model.

    Nested models are looked into (their layers named ``outer/inner``); a mask that reaches a layer
    which does not take masks is a gap (``mask into X``). Models nested too deeply, and layer classes or
    activation functions Keras does not have, are an InputError (no path could load them).
    """
    cls = model_config.get("class_name")
    if cls not in MODEL_CLASSES:
        return [f"a {cls} model"]
    return _Gaps(loaded_lowerings(), keras3).of(plain(model_config), source)


class _Gaps:
    """The gaps of a model and of the models nested in it, with the masks each model's outputs carry."""

    def __init__(self, lowerings: dict[str, Any], keras3: bool | None = None) -> None:
        self.lowerings = lowerings
        #: The Keras flavour that saved the model (merge masks differ); None: unknown, masks counted for either.
        self.keras3 = keras3
        self.gaps: list[str] = []
        #: Names Keras itself does not have: no path can load them, so they are refused, not left to TensorFlow.
        self.unknown: list[str] = []
        self._masked_outputs: dict[tuple[int, tuple[bool, ...]], list[bool]] = {}

    def of(self, model: dict[str, Any], source: str | None) -> list[str]:
        self.source = source or "the model config"
        if self.keras3 is None:
            self.keras3 = _saved_by_keras3(model)
        _check_nesting(model, source or "the model")
        self._model(model, "")
        if self.unknown:
            raise InputError(f"{source + ': ' if source else ''}{'; '.join(dict.fromkeys(self.unknown))}",
                             hint="the file is corrupt or was edited by hand; save the model again with Keras")
        return list(dict.fromkeys(self.gaps))

    def _model(self, model: dict[str, Any], prefix: str, in_masked: tuple[bool, ...] = ()) -> list[bool]:
        """Gaps of ``model`` (layers named with ``prefix``) whose inputs carry masks where ``in_masked`` says;
        returns which of its outputs carry a mask."""
        key = (id(model), in_masked)
        if key in self._masked_outputs:
            return self._masked_outputs[key]
        plan = model_plan(model, source=self.source)
        for _, config in plan.inputs:
            dtype = dtype_name(config.get("dtype"))
            if dtype not in INPUT_DTYPES or config.get("sparse") or config.get("ragged"):
                self.gaps.append(f"{prefix}{config.get('name')!r} (InputLayer: a {dtype} input)")
        masked: dict[Ref, MaskOrigin | None] = {}  # the mask each tensor carries, by where it was made
        if any(in_masked):  # masks from the calling model (never one that a call inside recorded)
            refs_in = [("", 0, 0)] if plan.sequential else [ref for ref, _ in plan.inputs]
            masked.update({ref: ("outer", prefix) for ref, flag in zip(refs_in, in_masked) if flag})
        deletions = MaskDeletions(plan) if self.keras3 and not plan.sequential else None
        for call in plan.calls:
            name, cls, config = f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {}
            refs = [("", 0, 0)] if plan.sequential else call_inputs(call.node)
            if _takes_states(self.lowerings, cls):
                refs = refs[:1]  # an RNN reads the sequence's mask; its initial states' are not used
            origins = [masked[r] for r in refs if masked.get(r) is not None]
            # a nested model or Pipeline reading an unseen mask runs on its input unmasked (walked so below), and
            # its outputs' masks are the run-time ones: Keras 3 records none for them, so later calls read those
            unseen = deletions.unseen(call, [r for r in refs if masked.get(r) is not None]) if deletions else set()
            if deletions and is_model(call.entry) and call.recorded_masks and \
                    not deletions.sets_again_in_order(call) and (  # followed by MaskDeletions.unseen otherwise
                    again := [r for r in refs if masked.get(r) is not None and deletions.deleted_before(call, r)
                              and _mask_read_later(plan, deletions, call, r, bool(prefix))]):
                self.gaps.append(f"{name!r} ({cls}: Keras sets its recorded mask on {again[0][0]!r} again, after "
                                 "Keras 3's MultiHeadAttention deleted it, for the readers that run later)")
            if deletions and not call.recorded_masks and (changed := [r for r in refs if r in deletions.divergent]):
                self.gaps.append(f"{name!r} ({cls}: reads the mask of {changed[0][0]!r}, which is another one at run "
                                 "time: Keras 3's MultiHeadAttention deleted one it was made of)")
            if origins and self.keras3 is not True and _given_no_mask(call):
                self.gaps.append(f"{name!r} ({cls}: mask=None given explicitly, which drops the mask its input "
                                 "carries in tf_keras)")
            if _runs_layers(call.entry) and _masks_differ_on_one_tensor(refs, _explicit_list(call.node)):
                self.gaps.append(f"{name!r} ({cls}: one tensor given as several inputs with a mask list; Keras sets "
                                 "the masks on that tensor in turn)")
            if _runs_layers(call.entry):
                given_use: bool | str = True  # a nested model reads mask=m on its inputs
                if cls in LAYER_LISTS:  # a Pipeline: its own check; its layers are walked as a Sequential model's
                    self._layer(name, cls, config)
                    if call.recorded_masks and not origins:  # Keras hands mask=m to the first inner layer only
                        given_use = first_layer_reads_given_mask(config)
                        if given_use is not True and given_use is not False:
                            self.gaps.append(f"{name!r} ({cls}: {given_use})")
                given_in = _given_per_input(plan, call, len(refs)) if call.recorded_masks and not origins \
                    and given_use is True else None  # inner(x, mask=m): Keras sets m on the inner model's inputs
                beside = _given_beside_tracked(plan, call, len(refs)) if origins and is_model(call.entry) \
                    else None  # inner([x, y], mask=[m, None]) or mask=[None, None], y masked
                if beside is not None:  # Keras 3 keeps y's mask for None; tf_keras sets None on y (the caller's)
                    given_in = [g if g is not None or not self.keras3 else (r if masked.get(r) else None)
                                for g, r in zip(beside, refs)]
                    self._shared_given_inputs(plan, name, call, [r for r, g in zip(refs, beside) if g is not None or (
                        not self.keras3 and masked.get(r) is not None)])
                elif given_in is not None:
                    self._shared_given_inputs(plan, name, call, [r for r, g in zip(refs, given_in) if g is not None])
                    self._mask_chain_gaps(plan, prefix, [g for g in given_in if g is not None], masked)
                elif given_use is True and call.recorded_masks and not (
                        len(call.recorded_masks) == len(origins) and all(
                            is_recorded_mask(plan, [r], o) for r, o in zip(call.recorded_masks, origins))):
                    self.gaps.append(f"{name!r} ({cls}: a mask the lowering does not track)")
                in_flags = tuple(given_in[i] is not None if given_in is not None else
                                 masked.get(r) is not None and r not in unseen for i, r in enumerate(refs))
                in_flags = self._nested_cast_flags(plan, name, call, refs, in_flags)
                outputs: list[MaskOrigin | None] = [("nested", name) if flag else None
                                                    for flag in self._model(call.entry, f"{name}/", in_flags)]
            else:
                self._layer(name, cls, config)
                wrapped = wrapped_model(call.entry)  # TimeDistributed(Sequential / Functional)
                wrapped_flags = self._time_distributed_model(name, wrapped, bool(origins)) if wrapped else None
                in_origins = [masked.get(r) for r in refs]
                explicit = self._explicit_masks(plan, prefix, name, cls, call, masked, not origins) \
                    if cls in EXPLICIT_MASK_LAYERS else None
                if explicit is not None:  # mask=[...] replaces the inputs' masks
                    in_origins = [None if r is None else ("input", r) for r in explicit[:len(refs)]]
                    in_origins += [None] * (len(refs) - len(in_origins))
                given = _given_mask(plan, call, not origins) if cls in GIVEN_MASK_READERS and len(refs) == 1 \
                    else None
                if given is not None:  # mask=m (a bool model input, or computed) replaces the input's mask
                    self._mask_chain_gaps(plan, prefix, [given], masked)
                    in_origins = [("input", given)]
                its_input = _returns_its_input(plan, call, self.keras3)  # tf_keras's tf.cast(x, x.dtype)
                if origins and (held := _cast_dtype_unsure(plan, call, self.keras3)) is not None:
                    self.gaps.append(f"{name!r} ({cls}: a cast to {_cast_dtypes(plan, call)[0]} of a masked {held} "
                                     "tensor whose saved config tells another dtype: whether TensorFlow hands the "
                                     "tensor itself on, its mask with it, is not known)")
                flags = masked_outputs(cls, config, [o is not None for o in in_origins], self.keras3,
                                       its_input=its_input)
                if wrapped_flags is not None:
                    flags = wrapped_flags
                if cls == "Softmax" and given is None and origins:  # a propagated [batch, steps] mask does not
                    # broadcast to Softmax's input (Keras fails); only a mask= the call was given is lowered
                    flags = None
                if flags is None:
                    self.gaps.append(mask_gap(name, cls, config))
                    flags = set()
                if origins and is_op_layer(cls) and _may_return_its_input(plan, call) and not its_input and \
                        not returns_its_input(cls, config):  # surely its input: the mask rides on (masked_outputs)
                    self.gaps.append(f"{name!r} ({cls}: TensorFlow returns the masked input tensor itself"
                                     f"{_its_input_why(call)})")
                elif explicit is None and given is None and call.recorded_masks and not (
                        len(origins) == 1 and is_recorded_mask(plan, call.recorded_masks, origins[0])):
                    self.gaps.append(f"{name!r} ({cls}: a mask the lowering does not track)")
                if origins and cls == "MultiHeadAttention" and self.keras3 is not False:
                    self._cleared_masks(plan, name, call, [r for r in refs if r not in unseen], masked, deletions,
                                        bool(prefix))
                origin = output_origin(cls, config, refs, in_origins, plan.sequential) if flags else None
                outputs = [origin if i in flags else None for i in range(max(flags, default=0) + 1)]
                if unseen and deletions is not None:
                    self._unseen_outputs(plan, prefix, call, refs, in_origins, unseen, origin, flags, deletions)
            if plan.sequential:
                masked[("", 0, 0)] = outputs[0] if outputs else None
            else:
                for tensor, origin in enumerate(outputs):
                    masked[(call.name, call.key, tensor)] = origin
        result = [masked.get(r) is not None for r in ([("", 0, 0)] if plan.sequential else plan.outputs)]
        self._masked_outputs[key] = result
        return result

    def _nested_cast_flags(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref],
                           in_flags: tuple[bool, ...]) -> tuple[bool, ...]:
        """The masks a tf_keras nested model's layers read: none for a masked tensor tf_keras casts to its Input's
        other dtype (a new tensor, :func:`_nested_input_casts`). A masked tensor whose dtype the lowering tracks
        otherwise than the saved config tells (:func:`_config_dtype_unsure`) is a gap, as the lowering names it."""
        casts = _nested_input_casts(plan, call, self.keras3)
        wanted = _nested_input_dtypes(call) if self.keras3 is False and is_model(call.entry) else []
        for ref, flag, dtype in zip(refs, in_flags, wanted):
            held = _config_dtype_unsure(plan, ref) if flag else None
            # (to a third dtype: a new tensor either way)
            if held is not None and dtype in (held, dtype_name(_saved_output_dtype(plan, ref))):
                self.gaps.append(f"{name!r} ({call.class_name}: called on a masked {held} tensor whose saved config "
                                 "tells another dtype: whether tf_keras casts it to its input's dtype, a new tensor "
                                 "without the mask, is not known)")
        return tuple(flag and (i >= len(casts) or casts[i] is not True) for i, flag in enumerate(in_flags))

    def _time_distributed_model(self, name: str, wrapped: dict[str, Any], masked: bool) -> set[int]:
        """The gaps of TimeDistributed(model), and which of its outputs carry a mask: the wrapped model's layers
        (named ``wrapper/layer``, walked unmasked: no mask reaches them as lowered), and the masks the lowering does
        not follow. A mask into it: Keras 3 hands each step's mask to the model's call and the input's mask on (its
        default ``compute_mask``), tf_keras hands the folded mask to the model and reshapes the mask the model gives
        back: lowered when no layer inside reads it (Keras 3: none reads it in its call; tf_keras: each hands it on,
        so the output's mask is the input's), else a gap. Without one, tf_keras's output carries the mask the model's
        output carries (its ``compute_mask`` asks the model): a gap when one does (an ``Embedding(mask_zero=True)``
        whose mask a pooling or RNN inside reads and drops leaves none: lowered, as Keras 3's, which keeps no mask)."""
        carried = self._model(wrapped, f"{name}/")
        inner_cls = wrapped.get("class_name")
        leaves = [leaf for leaf in _weight_owners(wrapped) if leaf.get("class_name") != "InputLayer"]
        if masked:
            reader = next((leaf for leaf in leaves if not _ignores_mask(leaf, self.keras3)), None)
            if reader is not None:
                flavour = {True: "Keras 3 hands each step's mask", False: "tf_keras hands the mask"}.get(
                    self.keras3, "Keras hands the mask")
                self.gaps.append(f"{name!r} (mask into TimeDistributed({inner_cls}): {flavour} to the wrapped model, "
                                 f"whose {entry_name(reader)!r} ({reader.get('class_name')}) does not just hand it "
                                 "on)")
            return {0}
        if self.keras3 is not True and any(carried):
            maker = next((leaf for leaf in leaves if makes_mask(str(leaf.get("class_name")), leaf.get("config") or {})
                          or time_distributed_makes_mask(leaf.get("config") or {}, False)), None)
            made = f"wrapped model's {entry_name(maker)!r} ({maker.get('class_name')}) makes" if maker is not None \
                else "wrapped model's output carries"
            self.gaps.append(f"{name!r} (TimeDistributed({inner_cls}): tf_keras gives its output the mask the {made})")
        return set()

    def _explicit_masks(self, plan: ModelPlan, prefix: str, name: str, cls: str, call: LayerCall,
                        masked: dict[Ref, MaskOrigin | None], unmasked: bool) -> list[Ref | None] | None:
        """An Attention call's ``mask=[...]``: each entry None, a bool model input, or, when the call's inputs carry
        no tracked mask (``unmasked``), a tensor layers computed (``ops.not_equal(ids, 0)``, checked to be bool
        when lowered); else a gap."""
        try:
            refs = explicit_masks(call.node)
        except ValueError as err:
            self.gaps.append(f"{name!r} ({cls}: {err})")
            return None
        inputs = {ref: config for ref, config in plan.inputs}
        for ref in refs or []:
            if ref is None or dtype_name((inputs.get(ref) or {}).get("dtype")) == "bool":
                continue
            if ref not in inputs and unmasked and not plan.sequential and (ref[0], ref[1]) in plan.producers:
                self._mask_chain_gaps(plan, prefix, [ref], masked)
            else:
                self.gaps.append(f"{name!r} ({cls}: a mask argument that is no bool model input"
                                 f"{', beside a mask its inputs carry' if not unmasked else ''})")
        return refs

    def _mask_chain_gaps(self, plan: ModelPlan, prefix: str, given: list[Ref],
                         masked: dict[Ref, MaskOrigin | None] | None = None) -> None:
        """The gaps of the layers outside the plan that compute masks a call was given (``ops.not_equal(ids, 0)``)."""
        planned = {(c.name, c.key) for c in plan.calls}
        for ref in given:
            for call in mask_chain(plan, ref, planned):
                if is_model(call.entry):  # a nested model computing the mask, walked with its inputs' masks
                    self._model(call.entry, f"{prefix}{call.name}/",
                                tuple((masked or {}).get(r) is not None for r in call_inputs(call.node)))
                else:
                    self._layer(f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {})

    def _shared_given_inputs(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref]) -> None:
        """Keras sets a mask given to a nested model on the caller's own input tensors (``set_keras_mask(x, m)``,
        tf_keras ``x._keras_mask = m``): another reader of such a tensor would see it or not depending on Keras's
        run order, so that is a gap."""
        for ref in dict.fromkeys(refs):
            readers = [c for c in plan.calls if c is not call and ref in call_inputs(c.node)]
            if readers:
                self.gaps.append(f"{name!r} ({call.class_name}: Keras sets the mask it is given on {ref[0]!r}, "
                                 f"which {readers[0].name!r} reads too)")

    def _cleared_masks(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref],
                       masked: dict[Ref, MaskOrigin | None], deletions: MaskDeletions | None,
                       nested: bool = False) -> None:
        """Keras 3's MultiHeadAttention deletes its inputs' masks (``set_keras_mask(x, None)``) when it runs
        (:class:`.model_plan.MaskDeletions`): the calls Keras runs after it see none. A reader the run order cannot
        place is a gap, and so is a deleted mask of a nested model's input or output (Keras deletes it on the
        caller's tensor, which the caller's later readers would miss)."""
        attended = set(attended_inputs(call.node)) if deletions is not None else set()
        for ref in [r for r in dict.fromkeys(refs) if masked.get(r) is not None]:
            if deletions is None:  # the flavour is unknown: any other reader is a gap
                readers = [c for c in plan.calls if c is not call and not c.recorded_masks and ref in
                           ([("", 0, 0)] if plan.sequential else call_inputs(c.node))]
            elif ref not in attended:  # attention_mask: its own mask is not deleted
                continue
            elif (masked.get(ref) or ("",))[0] == "outer" or nested and any(
                    deletions.same_tensor(r) == deletions.same_tensor(ref) for r in plan.outputs):
                self.gaps.append(f"{name!r} (MultiHeadAttention: Keras 3 deletes the mask of {ref[0]!r}, which the "
                                 "calling model reads too)")
                continue
            else:
                readers = deletions.unordered_readers(call, ref)
            if readers:
                self.gaps.append(f"{name!r} (MultiHeadAttention: Keras 3 deletes the mask of {ref[0]!r}, "
                                 f"which {readers[0].name!r} reads too)")

    def _unseen_outputs(self, plan: ModelPlan, prefix: str, call: LayerCall, refs: list[Ref],
                        in_origins: list[MaskOrigin | None], unseen: set[Ref], origin: MaskOrigin | None,
                        flags: set[int], deletions: MaskDeletions) -> None:
        """A call that runs after a MultiHeadAttention deleted masks it reads (``unseen``): it is lowered with
        Keras's run-time masks (none for those), and each output whose run-time mask is then None where the walk
        tracks one is cleared (later calls with a recorded mask read the tracked one, the others none). A run-time
        mask that is another one than the tracked one is a gap."""
        name, cls, config = f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {}
        seen = [None if r in unseen else o for r, o in zip(refs, in_origins)]
        run_flags = masked_outputs(cls, config, [o is not None for o in seen], self.keras3)
        run_origin = output_origin(cls, config, refs, seen, plan.sequential) if run_flags else None
        if run_flags is None or not run_flags <= flags:
            self.gaps.append(f"{name!r} ({cls}: reads the masks of {sorted({r[0] for r in unseen})} after Keras 3's "
                             "MultiHeadAttention deleted them, which changes its output's mask)")
            return
        changed = (flags - run_flags) | (run_flags if run_origin != origin else set())
        deletions.cleared.update((call.name, call.key, i) for i in flags - run_flags)
        if run_flags and run_origin != origin:  # read on by calls with a recorded mask only (else a gap there)
            deletions.divergent.update((call.name, call.key, i) for i in run_flags)
        if prefix and any((call.name, call.key, i) in plan.outputs for i in changed):
            self.gaps.append(f"{name!r} ({cls}: an output of a nested model whose mask Keras 3 deleted)")

    def _layer(self, name: str, cls: str, config: dict[str, Any]) -> None:
        if not is_keras_layer_class(cls, self.lowerings):
            self.unknown.append(f"layer {name!r} has class {cls!r}, which Keras does not have")
        self.unknown += [f"layer {name!r} ({cls}) has {what}, which is no Keras activation function"
                         for what in unknown_activations(config)]
        if cls not in self.lowerings:
            self.gaps.append(f"{name!r} ({cls})")
        elif dtype_name(config.get("dtype")) not in FLOAT_DTYPES[:2] and not (
                cls in INTEGER_OUTPUT_LAYERS and dtype_name(config.get("dtype")) in ("int32", "int64")
                or cls == "TextVectorization" and dtype_name(config.get("dtype")) == "string"):  # tf_keras's
            self.gaps.append(f"{name!r} ({cls}: dtype {dtype_name(config.get('dtype'))})")
        elif config.get("lora_rank") and (why := _lora_gap(cls, config, self.source, self.keras3)):
            self.gaps.append(f"{name!r} ({cls}: {why})")
        else:
            check = self.lowerings[cls].check
            why = check(config) if check else None
            if why:
                self.gaps.append(f"{name!r} ({cls}: {why})")


class _Skipped(Exception):
    """A call that reads a tensor a gap left uncomputed (not a gap itself)."""


def _flat_values(value: Any) -> list[Any]:
    """The Values among keyword arguments (one, or lists of them)."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flat_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _flat_values(item)]
    return [value] if value is UNKNOWN or isinstance(value, Value) else []


#: Op functions that TensorFlow may answer with their input tensor itself (``convert_to_tensor`` to its own dtype;
#: ``real``/``conj``, which always do, hand the mask on: masking.returns_its_input).
_IDENTITY_OPS = frozenset({"keras.ops.ConvertToTensor"})
_IDENTITY_TF_FUNCTIONS = frozenset({"convert_to_tensor", "convert_to_tensor_v2", "convert_to_tensor_v2_with_dispatch"})
#: Casts: the input itself when it already has the target dtype (``tf.cast``, Keras 3's TensorFlow backend).
_TF_CASTS = frozenset({"cast", "dtypes.cast", "math.cast"})


def _may_return_its_input(plan: ModelPlan, call: LayerCall) -> bool:
    """An op call that may give back the very tensor it reads (a cast to the tensor's own dtype, unknown dtypes
    included): Keras's ``_keras_mask`` on that object then reaches later layers at run time although the op drops
    the mask in the symbolic graph Keras saved (Keras 3's ``Cast``, tf_keras's ``tf.cast``)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    function = config.get("function") if cls == "TFOpLambda" else None
    if cls in _IDENTITY_OPS or function in _IDENTITY_TF_FUNCTIONS:
        return True
    if function in _CENTRAL_CROPS | _ROT90S | _V1_RESIZES:  # some arguments: the image itself (session 17)
        return _image_may_return_its_input(call, function, plan)
    if function == "stack":
        return _stacks_one_tensor(call)
    if cls != "keras.ops.Cast" and function not in _TF_CASTS:
        return False
    target, source = _cast_dtypes(plan, call)
    return not isinstance(target, str) or not isinstance(source, str) or source.startswith("mixed") or \
        target == source


def _cast_dtypes(plan: ModelPlan, call: LayerCall) -> tuple[str | None, str | None]:
    """The dtype a cast call names and the dtype of the tensor it reads, as the saved config tells them (None: not
    told)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    refs = call_inputs(call.node)
    if cls == "keras.ops.Cast":
        target = (config.get(OP_ARGUMENTS_KEY) or {}).get("dtype")
        args = node.get("args") if isinstance(node, dict) else None
        first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        source = (first.get("config") or {}).get("dtype")
    else:
        target = _tf_cast_target(call)
        source = _saved_output_dtype(plan, refs[0]) if refs else None
    return dtype_name(target), dtype_name(source)


def _tf_cast_target(call: LayerCall) -> Any:
    """The ``dtype`` a tf_keras ``tf.cast`` call was given, as its saved node records it (None: not told)."""
    return _tf_call_kwargs(call).get("dtype")


def _stacks_one_tensor(call: LayerCall) -> bool:
    """A tf_keras ``tf.stack(x)`` given one tensor, not a list, along axis 0: TF's ``stack`` returns
    ``convert_to_tensor(x)``, ``x`` itself (any other axis raises), so its mask rides on. Its saved node records that
    tensor itself as the first argument (a list is recorded as a list)."""
    config = call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    one = isinstance(node, list) and bool(node) and isinstance(node[0], str) and len(call_inputs(call.node)) == 1
    return one and _tf_call_kwargs(call).get("axis", 0) == 0


def _tf_call_kwargs(call: LayerCall) -> dict[str, Any]:
    """The arguments a tf_keras TFOpLambda call of one tensor was given beside it, by name, as its saved node records
    them (tf_keras names positional ones too: ``tf.cast(x, tf.float32)`` saves ``{"dtype": "float32"}``)."""
    config = call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    items = [node] if isinstance(node, list) and node and isinstance(node[0], str) else []
    return items[0][3] if items and len(items[0]) > 3 and isinstance(items[0][3], dict) else {}


#: ``tf.image`` functions that TensorFlow answers with the image itself for some arguments: ``central_crop`` with
#: ``central_fraction=1.0`` (eagerly and traced alike: its mask handed on, :func:`_returns_its_input`), ``rot90`` with
#: ``k`` a multiple of 4 (eagerly only: Keras's ``model(x)`` keeps the mask, a traced graph's ``case`` makes a new
#: tensor) and v1 ``resize`` to the image's own static size: a masked input to the latter two is a gap.
_CENTRAL_CROPS = frozenset({"image.central_crop", "compat.v1.image.central_crop"})
_ROT90S = frozenset({"image.rot90", "compat.v1.image.rot90"})
_V1_RESIZES = frozenset({"compat.v1.image.resize", "compat.v1.image.resize_images"})


def _its_input_why(call: LayerCall) -> str:
    """The end of the gap for an op call that may hand back its masked input (:func:`_may_return_its_input`): for
    ``rot90`` by a multiple of 4, why it stays a gap (Keras's own two ways of running it disagree)."""
    if (call.entry.get("config") or {}).get("function") in _ROT90S:
        return (" when Keras runs eagerly (model(x) keeps its mask), but a new tensor when traced (model.predict and "
                "the TensorFlow path drop it): Keras's two answers differ")
    return ", so at run time its output keeps the mask that Keras's saved graph says it drops"


def _image_may_return_its_input(call: LayerCall, function: str, plan: ModelPlan | None = None) -> bool:
    """Whether a ``tf.image`` call of :data:`_CENTRAL_CROPS`/:data:`_ROT90S`/:data:`_V1_RESIZES` may hand back its
    input tensor (arguments not told: it may)."""
    kwargs = _tf_call_kwargs(call)
    if function in _CENTRAL_CROPS:
        fraction = kwargs.get("central_fraction")
        return not isinstance(fraction, (int, float)) or fraction == 1.0
    if function in _ROT90S:
        k = kwargs.get("k", 1)
        return not isinstance(k, int) or k % 4 == 0
    return plan is None or _v1_resize_keeps(plan, call) is not False


#: Layers whose output has their one input's shape (walked back to a model Input for a static image size).
_SHAPE_KEEPING_LAYERS = frozenset({
    "Masking", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Identity", "Activation", "ReLU", "LeakyReLU", "ELU", "BatchNormalization"})


def _static_input_shape(plan: ModelPlan, ref: Ref) -> list[Any] | None:
    """The static shape of a tensor as the saved config tells it: a model Input's (``batch_input_shape``), through
    :data:`_SHAPE_KEEPING_LAYERS` and the functions that return their one input; None elsewhere (not read)."""
    inputs = {(r[0], r[1]): cfg for r, cfg in plan.inputs}
    budget = len(plan.producers) + 1
    while budget > 0 and not plan.sequential:
        budget -= 1
        if (ref[0], ref[1]) in inputs:
            config = inputs[(ref[0], ref[1])] or {}
            shape = config.get("batch_input_shape") or config.get("batch_shape")
            return list(shape) if isinstance(shape, list) else None
        producer = plan.producers.get((ref[0], ref[1]))
        refs = call_inputs(producer.node) if producer is not None else []
        function = (producer.entry.get("config") or {}).get("function") if producer is not None else None
        if len(refs) != 1 or ref[2] != 0 or not (producer.class_name in _SHAPE_KEEPING_LAYERS or
                                                 producer.class_name == "TFOpLambda" and
                                                 function in _ITS_ONE_INPUT_TF_FUNCTIONS):
            return None
        ref = refs[0]
    return None


def _v1_resize_keeps(plan: ModelPlan, call: LayerCall) -> bool | None:
    """Whether a tf_keras ``tf.compat.v1.image.resize``/``resize_images`` call hands back its images themselves:
    TF's ``_resize_images_common(skip_resize_if_same=True)`` returns the (rank-4) images when the target size is
    their static height and width (eagerly and traced alike); a rank-3 image is expanded and squeezed, a new tensor,
    as is any other size. None: the config does not tell (the static size not read, the aspect ratio preserved)."""
    kwargs, refs = _tf_call_kwargs(call), call_inputs(call.node)
    size = kwargs.get("size")
    if len(refs) != 1 or kwargs.get("preserve_aspect_ratio") or not isinstance(size, list) or len(size) != 2 or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        return None
    shape = _static_input_shape(plan, refs[0])
    if shape is not None and len(shape) == 3:
        return False
    if shape is None or len(shape) != 4 or not all(isinstance(v, int) for v in shape[1:3]):
        return None
    return list(shape[1:3]) == list(size)


#: tf_keras TF functions that TensorFlow answers with their one input tensor itself: ``add_n``/``accumulate_n`` of a
#: list of one tensor (TFOpLambda drops ``name``, TF's only other reason to make a new one), ``convert_to_tensor``
#: (TF raises on another dtype), ``nn.dropout`` (its lowering takes rate 0 only, where TF returns ``x``).
_ITS_ONE_INPUT_TF_FUNCTIONS = frozenset({"math.add_n", "add_n", "math.accumulate_n", "nn.dropout",
                                         *_IDENTITY_TF_FUNCTIONS})


def _returns_its_input(plan: ModelPlan, call: LayerCall, keras3: bool | None) -> bool:
    """A tf_keras op call that surely gives back the very tensor it reads, so that the mask tf_keras set on that
    object (``_keras_mask``) reaches the later layers at run time, as ``tf.cast``'s ``if x.dtype == dtype: return x``
    does: a cast to the dtype the saved config says its input has (checked again on the lowered dtypes, see
    :meth:`ModelLowering._check_cast_keeps`), or a function of :data:`_ITS_ONE_INPUT_TF_FUNCTIONS` given one tensor.
    A Sequential model's calls name no input tensors: not decided (the walk keeps those a gap)."""
    config = call.entry.get("config") or {}
    if keras3 is not False or plan.sequential or call.class_name != "TFOpLambda":
        return False
    function = config.get("function")
    if function in _TF_CASTS:
        target, source = _cast_dtypes(plan, call)
        return isinstance(target, str) and isinstance(source, str) and not source.startswith("mixed") and \
            target == source
    if function in _CENTRAL_CROPS:  # central_fraction=1.0: ``return image``, eagerly and traced
        fraction = _tf_call_kwargs(call).get("central_fraction")
        return isinstance(fraction, (int, float)) and fraction == 1.0 and len(call_inputs(call.node)) == 1
    if function == "stack":  # ``tf.stack(x)`` of one tensor, not a list: ``convert_to_tensor(x)``, eagerly and traced
        return _stacks_one_tensor(call)
    if function in _V1_RESIZES:  # to the images' own static size: ``return images``, eagerly and traced
        return _v1_resize_keeps(plan, call) is True
    return function in _ITS_ONE_INPUT_TF_FUNCTIONS and len(call_inputs(call.node)) == 1


def _nested_input_casts(plan: ModelPlan, call: LayerCall, keras3: bool | None) -> list[bool | None]:
    """For each tensor a tf_keras nested model is called on: whether tf_keras casts it to another dtype, its Input's
    (``Functional._run_internal_graph`` sets the given masks on the caller's tensors, then
    ``_conform_to_reference_input`` casts each): True, a new tensor without the mask, so the inner layers read none;
    False, the tensor itself (its mask read inside); None, the saved config does not tell (checked again on the
    lowered dtypes, :meth:`ModelLowering._check_nested_input_casts`). Keras 3, or not a model: False each."""
    refs = [("", 0, 0)] if plan.sequential else call_inputs(call.node)
    if keras3 is not False or not is_model(call.entry):
        return [False] * len(refs)
    try:
        inner = model_plan(call.entry, source="a nested model")
    except InputError:
        return [None] * len(refs)
    casts: list[bool | None] = []
    wanted_dtypes = [dtype_name((config or {}).get("dtype")) for _, config in inner.inputs]  # the plan read once
    for i, (ref, wanted) in enumerate(zip(refs, [*wanted_dtypes, *[None] * len(refs)])):
        given = None if plan.sequential else dtype_name(_saved_output_dtype(plan, ref))
        if i < len(inner.inputs) and wanted is None:
            casts.append(False)  # no dtype named: kept as given (as the walk has always read it)
        elif not isinstance(wanted, str) or not isinstance(given, str) or given.startswith("mixed"):
            casts.append(None)
        else:
            casts.append(wanted != given)
    return casts


def _nested_input_dtypes(call: LayerCall) -> list[str | None]:
    """The dtypes a nested model's Inputs name, in order (empty when its config cannot be planned)."""
    try:
        inner = model_plan(call.entry, source="a nested model")
    except InputError:
        return []
    return [dtype_name((config or {}).get("dtype")) for _, config in inner.inputs]


def _keeps_integers_despite_config(call: LayerCall) -> bool:
    """A tf_keras layer that returns integers for integer inputs although its config's dtype says float32: a
    relu/linear Activation, a ReLU without slope, a nearest UpSampling2D (the lowering tracks the integers' dtype)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    return _plain_relu(cls, config) or _integer_relu(cls, config) or \
        cls == "UpSampling2D" and config.get("interpolation", "nearest") == "nearest"


def _held_dtype(plan: ModelPlan, ref: Ref) -> Any:
    """The dtype Keras gives a tensor as far as the config tells it: :func:`_saved_output_dtype`, but through the
    layers of :func:`_keeps_integers_despite_config` (and the integer-keeping ones between) their input's, as the
    lowering tracks it. Where the two differ, a cast's or a nested model's decision on the mask is not known from the
    config (the lowering refuses it by name; :class:`_Gaps` names it so too)."""
    budget = len(plan.producers) + 1
    while budget > 0 and not plan.sequential:
        budget -= 1
        producer = plan.producers.get((ref[0], ref[1]))
        refs = call_inputs(producer.node) if producer is not None and not is_op_layer(producer.class_name) and \
            not is_model(producer.entry) else []
        if len(refs) != 1 or not (producer.class_name in INTEGER_KEEPING_LAYERS or
                                  _keeps_integers_despite_config(producer)):
            break
        ref = refs[0]
    return _saved_output_dtype(plan, ref)


def _config_dtype_unsure(plan: ModelPlan, ref: Ref) -> str | None:
    """The dtype the lowering will track for ``ref`` when the saved config tells another one (:func:`_held_dtype`),
    else None."""
    if plan.sequential:
        return None
    held, saved = dtype_name(_held_dtype(plan, ref)), dtype_name(_saved_output_dtype(plan, ref))
    return held if isinstance(held, str) and isinstance(saved, str) and held != saved else None


def _cast_dtype_unsure(plan: ModelPlan, call: LayerCall, keras3: bool | None) -> str | None:
    """For a tf_keras ``tf.cast`` whose input's dtype the saved config tells otherwise than the lowering tracks it
    (:func:`_config_dtype_unsure`) and the cast's target is one of the two: that tracked dtype (a masked input then is
    a gap, as :meth:`ModelLowering._check_cast_keeps` refuses it); else None (to a third dtype: a new tensor either
    way)."""
    function = (call.entry.get("config") or {}).get("function")
    refs = call_inputs(call.node)
    if keras3 is not False or call.class_name != "TFOpLambda" or function not in _TF_CASTS or not refs:
        return None
    held = _config_dtype_unsure(plan, refs[0])
    target, saved = _cast_dtypes(plan, call)
    return held if held is not None and target in (held, saved) else None


def _lora_gap(cls: str, config: dict[str, Any], source: str | None, keras3: bool | None) -> str | None:
    """Why a LoRA layer (``lora_rank``) is not lowered, or None. Keras 3's ``.keras`` archive saves its kernel merged
    (``kernel + (alpha/rank)·a@b``, in the layer's own variable slots), so its weights read as a plain layer's; its
    ``.h5`` saves the kernel and the two factors apart, merged when read (``lora.merged_lora_weights``) where Keras
    loads them into the numbers the saved model computed (``lora.lora_gap``; a config alone is judged so too). Only
    Keras 3 has LoRA: in a config tf_keras saved (a SavedModel's weights are not merged) it stays a gap."""
    from .lora import lora_gap

    if isinstance(source, str) and source.lower().endswith(".keras"):
        return None
    return lora_gap(cls, config) if keras3 else "lora_rank"


def _saved_output_dtype(plan: ModelPlan, ref: Ref) -> Any:
    """The dtype of a tensor as the saved config tells it (None: not told): a model input's own; through the layers
    that keep their input's dtype (a Masking of int32 ids gives int32, though its config says float32) the input's;
    an op layer's output is not told (its config dtype is the layer's, not the function's result), but for tf_keras's
    ``tf.cast`` (the dtype it names) and the functions that return their one input (:data:`_ITS_ONE_INPUT_TF_FUNCTIONS`:
    that input's); a nested Functional model's output as inside it (tf_keras casts a nested model's inputs to its
    Inputs' dtypes); else the producing layer's dtype. Followed step by step, at most once through each call (the
    chain is untrusted)."""
    inputs = {(r[0], r[1]): cfg for r, cfg in plan.inputs}
    budget = len(plan.producers) + 1
    while budget > 0:
        budget -= 1
        key = (ref[0], ref[1])
        if key in inputs:
            return (inputs[key] or {}).get("dtype")
        producer = plan.producers.get(key)
        function = (producer.entry.get("config") or {}).get("function") if producer is not None and \
            producer.class_name == "TFOpLambda" and ref[2] == 0 else None
        if function in _TF_CASTS:
            return _tf_cast_target(producer)
        if function in _ITS_ONE_INPUT_TF_FUNCTIONS and len(call_inputs(producer.node)) == 1:
            ref = call_inputs(producer.node)[0]
            continue
        if producer is not None and is_model(producer.entry) and producer.class_name != "Sequential":
            try:  # into the nested model (a finite config: each step goes one level deeper)
                plan = model_plan(producer.entry, source="a nested model")
            except InputError:
                return None
            if plan.sequential or not 0 <= ref[2] < len(plan.outputs):
                return None
            ref, inputs = plan.outputs[ref[2]], {(r[0], r[1]): cfg for r, cfg in plan.inputs}
            budget += len(plan.producers) + 1
            continue
        if producer is None or is_op_layer(producer.class_name):
            return None
        if producer.class_name not in INTEGER_KEEPING_LAYERS:
            return (producer.entry.get("config") or {}).get("dtype")
        refs = call_inputs(producer.node)
        if len(refs) != 1:
            return None
        ref = refs[0]
    return None


def _runs_layers(entry: dict[str, Any]) -> bool:
    """A nested model, or a Keras 3 Pipeline: it calls its layers in turn, each with the mask the one before left on
    its output (Keras runs them eagerly), so it is walked as a Sequential model (weights under its path)."""
    return is_model(entry) or entry.get("class_name") in LAYER_LISTS


def _mask_read_later(plan: ModelPlan, deletions: MaskDeletions, call: LayerCall, ref: Ref, nested: bool) -> bool:
    """Whether the run-time mask of ``ref`` (its tensor, through layers that return their input) is read after
    ``call``, a nested model Keras 3 hands its recorded mask (``Functional.call`` sets it on that tensor again, after
    a MultiHeadAttention deleted it): by a later call with no recorded mask (or one the run order cannot place), or
    by the caller of a ``nested`` plan whose output it is. For a setting the walk does not follow
    (:meth:`.model_plan.MaskDeletions.sets_again_in_order`): those stay gaps."""
    tensor, key = deletions.same_tensor(ref), (call.name, call.key)
    if nested and any(deletions.same_tensor(out) == tensor for out in plan.outputs):
        return True
    return any(other is not call and not other.recorded_masks and
               any(deletions.same_tensor(r) == tensor for r in call_inputs(other.node)) and
               not deletions.runs_first((other.name, other.key), key) for other in plan.calls)


def _takes_states(lowerings: dict[str, Any], class_name: str) -> bool:
    """An RNN layer whose lowering reads ``initial_state`` (tensors after the sequence, or a keyword)."""
    lowering = lowerings.get(class_name)
    return lowering is not None and STATE_KEYWORD in lowering.keywords


def _resolved(value: Any, values: dict[Ref, tuple[Value, Value | None]]) -> Any:
    """A keyword argument with its Refs (one, or a list of ``initial_state`` ones) replaced by their Values."""
    if isinstance(value, tuple):
        return values[value][0]
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return [values[v][0] for v in value]
    return value


def _given_mask(plan: ModelPlan, call: LayerCall, unmasked: bool = False) -> Ref | None:
    """The tensor a call was given as ``mask=`` (Keras 3 records it, tf_keras keeps it in kwargs), see
    :func:`_given_masks`; Softmax also takes a float32 model input (a weight, ``> 0.5`` in Keras 3, ``1 - m``
    scaled in tf_keras)."""
    given = _given_masks(plan, call, 1, unmasked)
    return given[0] if given else None


def _given_masks(plan: ModelPlan, call: LayerCall, count: int, unmasked: bool) -> list[Ref] | None:
    """The ``count`` tensors a call was given as ``mask=``, each a bool model input, or, when the call's inputs
    carry no tracked mask (``unmasked``), a tensor a layer computed (``ops.not_equal(ids, 0)``, a TFOpLambda): Keras
    passes exactly that tensor to ``call``, and the walk reads its lowered value (checked to be bool,
    :meth:`ModelLowering._given_values`). A computed mask beside a tracked one stays a gap unless Keras 3 recorded
    the tracked one (:func:`.mask_origins.is_recorded_mask`)."""
    recorded = call.recorded_masks
    inputs = {ref: config for ref, config in plan.inputs}
    dtypes = ("bool", None, "float32") if call.class_name == "Softmax" else ("bool",)
    if len(recorded) != count or not all(
            dtype_name(inputs[r].get("dtype")) in dtypes if r in inputs else
            unmasked and not plan.sequential and (r[0], r[1]) in plan.producers for r in recorded):
        return None
    return list(recorded)


def _given_per_input(plan: ModelPlan, call: LayerCall, count: int) -> list[Ref | None] | None:
    """The mask a nested model call (whose inputs carry no tracked mask) was given for each of its ``count`` inputs:
    ``mask=m`` / ``mask=[m1, m2]`` (:func:`_given_masks`), or a list with None entries, ``mask=[m, None]``: both
    flavours set each tensor on its input and leave a None one's input unmasked (Keras 3 skips it, tf_keras sets
    None; its input carries no mask either way). None when the call was given something else (a gap)."""
    try:
        listed = explicit_masks(call.node)
    except ValueError:  # one tensor, or nested lists
        listed = None
    if listed is None or None not in listed:
        return _given_masks(plan, call, count, True)
    inputs = {ref: config for ref, config in plan.inputs}
    if len(listed) != count or all(r is None for r in listed) or not all(
            r is None or (dtype_name(inputs[r].get("dtype")) == "bool" if r in inputs else
                          not plan.sequential and (r[0], r[1]) in plan.producers) for r in listed):
        return None
    return listed


def _explicit_list(node: Any) -> list[Ref | None] | None:
    """The ``mask=[...]`` list a call was given (None entries kept), None without one or for another value."""
    try:
        return explicit_masks(node)
    except ValueError:
        return None


def _masks_differ_on_one_tensor(refs: list[Ref], listed: list[Ref | None] | None) -> bool:
    """``inner([y, y], mask=[m, None])``: masks set in turn on one tensor, so each input reads the last one (or, in
    Keras 3, the last given one), not its own."""
    seen: dict[Ref, Ref | None] = {}
    for ref, mask in zip(refs, listed or []):
        if ref in seen and seen[ref] != mask:
            return True
        seen[ref] = mask
    return False


def _given_no_mask(call: LayerCall) -> bool:
    """A tf_keras call given ``mask=None`` explicitly (recorded in its kwargs): tf_keras passes None instead of the
    input's mask (a nested model also sets None on its inputs), where Keras 3 fills in the input's mask."""
    node = call.node
    if not isinstance(node, list) or not node or not isinstance(node[0], list) or len(node[0]) <= 3 or \
            not isinstance(node[0][3], dict):
        return False
    return MASK_KEYWORD in node[0][3] and node[0][3][MASK_KEYWORD] is None


def _given_beside_tracked(plan: ModelPlan, call: LayerCall, count: int) -> list[Ref | None] | None:
    """``inner([x, y], mask=[m, None])`` where an input carries a tracked mask: the list (None entries kept) when
    its tensors are bool model inputs, else None. Keras 3 records a mask it fills in itself as the list of the inputs'
    masks, never None for a masked input, and a model input in it is that input's mask either way; so a None entry
    beside a tracked mask was given explicitly: Keras 3 then keeps that input's own mask, tf_keras sets None."""
    try:
        listed = explicit_masks(call.node)
    except ValueError:
        return None
    inputs = {ref: config for ref, config in plan.inputs}
    if listed is None or None not in listed or len(listed) != count or not all(
            r is None or r in inputs and dtype_name(inputs[r].get("dtype")) == "bool" for r in listed):
        return None
    return listed


def _saved_by_keras3(model: dict[str, Any]) -> bool | None:
    """Keras 3 saves inbound nodes as dicts (``args``/``kwargs``), Keras 2 as lists; None when no layer says."""
    for entry in top_level_layers(model):
        nodes = entry.get("inbound_nodes") or []
        if nodes and not is_op_layer(entry.get("class_name")):  # op layers' nodes are made plain lists
            return isinstance(nodes[0], dict)
    return None


def _check_nesting(model: dict[str, Any], what: str) -> None:
    """Refuse models nested more than :data:`MAX_NESTING` levels deep (walked without recursion)."""
    stack = [(model, 0)]
    while stack:
        entry, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(f"{what} nests models more than {MAX_NESTING} levels deep; tfjsconv lowers at most "
                             f"{MAX_NESTING}", hint="the file is corrupt or was edited by hand")
        stack += [(wrapped_model(child) or child, depth + 1) for child in top_level_layers(entry)
                  if is_model(child) or child.get("class_name") in LAYER_LISTS  # Pipelines nest too
                  or wrapped_model(child) is not None]  # and models a TimeDistributed wraps


class ModelLowering:
    """Builds the graph of one model config; ``weights(path)`` gives a layer's arrays in Keras's order.

    Nested models are lowered inline at each call (their layers' nodes named ``outer/inner/...``); a
    layer's weights are read once and its Consts shared by all its calls (shared layers, and nested
    models called several times).
    """

    def __init__(self, model_config: dict[str, Any], weights: LayerWeights, *, keras3: bool, source: str,
                 walk_past_gaps: bool = False) -> None:
        self.config = plain(model_config)
        self.weights = weights
        self.keras3 = keras3
        self.source = source
        self.graph = Graph(str((self.config.get("config") or {}).get("name") or "keras_model"))
        self.lowerings = loaded_lowerings()
        #: Per layer path: its arrays (read once) and the Consts made of them, shared by every call of the layer.
        self._layer_weights: dict[tuple[str, ...], tuple[list[Any], dict[tuple[str, int], Value]]] = {}
        self._plans: dict[int, ModelPlan] = {}
        #: Keras 3 lists a layer used in two models twice; its weights are read where it is listed first (set by
        #: :meth:`lower`, after the config's gaps: an ambiguous listing is a gap too).
        self._aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._saved_config = model_config  # with the ``shared_object_id``s that ``plain`` drops
        #: The gaps found while walking (masks, keyword tensors, shapes...): the walk goes on past each one.
        self._walk_gaps: list[str] = []
        #: Walk a model whose config has gaps too (its calls with a gap skipped), to name the walk's gaps beside
        #: them: the result is always :class:`UncoveredLayers`, never a graph.
        self._walk_past_gaps = walk_past_gaps
        self._config_gaps: list[str] = []
        #: The context of the call lowered last (its outputs read again for the masks a deletion left tracked).
        self._last_ctx: LayerContext | None = None
        #: The integer dtype Keras gives the Values the walk holds as float32 (by id; Values live with the graph).
        self._keras_dtypes: dict[int, DType | str] = {}

    def lower(self) -> Graph:
        gaps = _Gaps(self.lowerings, self.keras3).of(self.config, self.source)  # the same verdict as layer_gaps, always
        if gaps and not self._walk_past_gaps:
            raise UncoveredLayers(gaps)
        self._config_gaps = gaps
        if self.keras3 is False and hasattr(self.weights, "holds"):  # tf_keras's .keras archive (model.weights.h5)
            refuse_renumbered(self._saved_config, self.source)
        self._aliases = shared_paths(self._saved_config, getattr(self.weights, "holds", None))  # where .keras saved
        if self.source.lower().endswith(".keras") and (shared := _shared_through_wrapped_model(self._saved_config)):
            raise Unsupported(shared)
        plan = self._plan(self.config)
        if not plan.calls:
            raise Unsupported("an empty model")
        if plan.sequential and not plan.inputs:
            first = plan.calls[0].entry
            config = first.get("config") or {}
            shape = config.get("batch_input_shape") or ((self.config.get("build_config") or {}).get("input_shape"))
            inputs = [self._placeholder(f"{entry_name(first)}_input", list(shape) if shape else None)]
        else:
            inputs = [self._placeholder(ref[0], config.get("batch_shape") or config.get("batch_input_shape"),
                                        config.get("dtype")) for ref, config in plan.inputs]
        outputs, _ = self._run(plan, (), "", inputs, [None] * len(inputs))
        if self._config_gaps or self._walk_gaps or any(v is UNKNOWN for v in outputs):  # a gap always refuses
            raise UncoveredLayers(list(dict.fromkeys([*self._config_gaps, *self._walk_gaps])) or
                                  ["an output the walk could not compute"])
        for index, (key, value) in enumerate(zip(plan.output_names(), outputs, strict=True)):
            self.graph.set_output(key, self._in_keras_dtype(index, value))
        self.graph.validate()
        return self.graph

    def _plan(self, model: dict[str, Any]) -> ModelPlan:
        if id(model) not in self._plans:
            self._plans[id(model)] = model_plan(model, source=self.source)
        return self._plans[id(model)]

    def _run(self, plan: ModelPlan, path: tuple[str, ...], prefix: str, inputs: list[Value],
             masks: list[Value | None]) -> tuple[list[Value], list[Value | None]]:
        """The outputs (and their masks) of one call of a model, given its input Values."""
        if plan.sequential:
            if len(inputs) != 1:
                raise Unsupported(f"a Sequential model {prefix or ''}called on {len(inputs)} tensors")
            x, mask = inputs[0], masks[0]
            for call in plan.calls:
                if x is UNKNOWN and not _runs_layers(call.entry):
                    continue
                with self._gap_of(call, prefix) as failed:
                    produced, produced_masks = self._lower_call(call, path, prefix, [x], [mask], {})
                    if len(produced) != 1:
                        raise Unsupported(f"layer {prefix + call.name!r} of a Sequential model returns several "
                                          "tensors")
                x, mask = (UNKNOWN, None) if failed else (produced[0], produced_masks[0])
            return [x], [mask]
        if len(inputs) != len(plan.inputs):
            raise Unsupported(f"model {prefix or 'root'} called on {len(inputs)} tensors, "
                              f"but it has {len(plan.inputs)} inputs")
        values: dict[Ref, tuple[Value, Value | None]] = {
            ref: (value, mask) for (ref, _), value, mask in zip(plan.inputs, inputs, masks)}
        skipped: set[tuple[str, int]] = set()  # calls a gap left uncomputed: every output of theirs is UNKNOWN
        # calls with a gap inside (a nested model's, a Pipeline's): their outputs not produced are UNKNOWN too (a
        # Pipeline whose last layer failed returns one UNKNOWN for all its outputs)
        partial: set[tuple[str, int]] = set()

        def unknown(ref: Ref) -> bool:
            return (ref[0], ref[1]) in skipped or ((ref[0], ref[1]) in partial and ref not in values)

        deletions = MaskDeletions(plan) if self.keras3 else None

        for call in plan.calls:
            read = call_inputs(call.node) + call.recorded_masks
            if any(unknown(r) for r in read):  # a gap upstream, already named
                skipped.add((call.name, call.key))
                continue
            with self._gap_of(call, prefix) as failed:
                produced, produced_masks = self._lower_functional_call(plan, call, path, prefix, values, deletions)
            if failed:
                skipped.add((call.name, call.key))
                continue
            for tensor, (value, mask) in enumerate(zip(produced, produced_masks)):
                values[(call.name, call.key, tensor)] = (value, mask)
            if any(value is UNKNOWN for value in produced):
                partial.add((call.name, call.key))
        for ref in plan.outputs:
            if unknown(ref):
                values[ref] = (UNKNOWN, None)
        missing = [ref for ref in plan.outputs if ref not in values]
        if missing:
            raise InputError(f"{self.source}: output {missing[0]} is not produced by any layer call")
        return [values[r][0] for r in plan.outputs], [values[r][1] for r in plan.outputs]

    def _lower_functional_call(self, plan: ModelPlan, call: LayerCall, path: tuple[str, ...], prefix: str,
                               values: dict[Ref, tuple[Value, Value | None]], deletions: MaskDeletions | None = None
                               ) -> tuple[list[Value], list[Value | None]]:
        """One call of a Functional model's layer, its inputs (and keyword tensors, masks) read from ``values``; a
        mask a Keras 3 MultiHeadAttention deleted before it runs is None (``deletions``, as :class:`_Gaps` checks)."""
        self._skip_config_gap(call, prefix)
        lowering = self.lowerings.get(call.class_name)
        keywords = lowering.keywords if lowering else ()
        refs = _node_refs(call.node, call.name, keywords)
        kwargs = _call_kwargs(call.node, keywords, call.name)
        unseen = deletions.unseen(call, [r for r in call_inputs(call.node) if r in values and values[r][1] is not None]) \
            if deletions is not None else set()
        tracked_keyword_masks = {k: values[v][1] for k, v in kwargs.items() if isinstance(v, tuple)}
        keyword_masks = {k: None if kwargs[k] in unseen else m for k, m in tracked_keyword_masks.items()}
        kwargs = {k: _resolved(v, values) for k, v in kwargs.items()}
        explicit = explicit_masks(call.node) if call.class_name in EXPLICIT_MASK_LAYERS else None
        if explicit is not None:  # mask=[...]: model inputs or computed (checked by _Gaps), replacing the inputs'
            found = iter(self._given_values(plan, call, path, prefix, [r for r in explicit if r is not None], values))
            kwargs["mask"] = [None if r is None else next(found) for r in explicit]
        tracked_masks = [values[r][1] for r in refs]
        masks = [None if r in unseen else values[r][1] for r in refs]
        if _takes_states(self.lowerings, call.class_name):
            masks, tracked_masks = masks[:1], tracked_masks[:1]  # initial states follow; Keras uses one mask only
        unmasked = all(m is None for m in masks)
        given = _given_mask(plan, call, unmasked) if call.class_name in GIVEN_MASK_READERS else None
        if given is not None and len(masks) == 1:  # mask=m (a bool model input or a computed one, see _Gaps)
            masks = self._given_values(plan, call, path, prefix, [given], values)
        elif _runs_layers(call.entry) and unmasked and call.recorded_masks and (  # inner(x, mask=m): on its inputs
                is_model(call.entry) or first_layer_reads_given_mask(call.entry.get("config") or {}) is True):
            given = _given_per_input(plan, call, len(refs)) or []
            found = iter(self._given_values(plan, call, path, prefix, [g for g in given if g is not None], values))
            masks = [None if g is None else next(found) for g in given]
        elif is_model(call.entry) and not unmasked and \
                (beside := _given_beside_tracked(plan, call, len(refs))) is not None:  # mask=[m, None], y masked
            masks = [values[g][0] if g is not None else mask if self.keras3 else None
                     for g, mask in zip(beside, masks)]
        inputs = [values[r][0] for r in refs]
        if not _runs_layers(call.entry) and any(v is UNKNOWN for v in [*inputs, *_flat_values(kwargs)]):
            raise _Skipped()  # a tensor a gap inside a nested model left uncomputed: named there already
        its_input = _returns_its_input(plan, call, self.keras3)  # as :class:`_Gaps` decided it
        self._check_cast_keeps(plan, call, prefix, inputs, masks, its_input)
        outputs, out_masks = self._lower_call(call, path, prefix, inputs, masks, kwargs, keyword_masks,
                                              its_input=its_input,
                                              entry_casts=_nested_input_casts(plan, call, self.keras3))
        if unseen and not _runs_layers(call.entry):  # (a nested model's, a Pipeline's: the run-time ones, _Gaps)
            # the outputs' masks as tracked (Keras 3 records those for later calls): where none at run time
            tracked = self._tracked_out_masks(call, prefix, tracked_masks, tracked_keyword_masks)
            for i, (mask, kept) in enumerate(zip(out_masks, tracked)):
                if mask is not kept and kept is not None and deletions is not None:  # cleared, or divergent (then
                    out_masks[i] = kept  # only calls with a recorded mask read it, :meth:`_Gaps._unseen_outputs`)
                    (deletions.cleared if mask is None else deletions.divergent).add((call.name, call.key, i))
        return outputs, out_masks

    def _lower_mask_chain(self, plan: ModelPlan, call: LayerCall, ref: Ref, path: tuple[str, ...], prefix: str,
                          values: dict[Ref, tuple[Value, Value | None]]) -> None:
        """Lower the calls that compute the mask ``ref`` a call was given and that the outputs do not need (so the
        plan left them out, :func:`.model_plan._add_mask_chains`), each after the tensors it reads."""
        planned = {(c.name, c.key) for c in plan.calls}
        chain = mask_chain(plan, ref, planned)
        while chain:
            ready = [c for c in chain if all(r in values for r in call_inputs(c.node))]
            if not ready:
                missing = next(r for c in chain for r in call_inputs(c.node) if r not in values)
                if (missing[0], missing[1]) in planned:
                    raise _Skipped()  # a gap upstream, named already
                raise Unsupported(f"layer {call.name!r} ({call.class_name}) is given a mask computed from "
                                  f"{missing[0]!r}, which the lowering cannot compute")
            for chained in ready:
                produced, produced_masks = self._lower_functional_call(plan, chained, path, prefix, values)
                for tensor, (value, mask) in enumerate(zip(produced, produced_masks)):
                    values[(chained.name, chained.key, tensor)] = (value, mask)
                chain.remove(chained)

    def _given_values(self, plan: ModelPlan, call: LayerCall, path: tuple[str, ...], prefix: str, given: list[Ref],
                      values: dict[Ref, tuple[Value, Value | None]]) -> list[Value]:
        """The values of the masks a call was given (:func:`_given_masks`); a computed one must be a bool tensor
        (Keras would use a float or integer one as it is, which the mask readers here do not express)."""
        inputs = {ref for ref, _ in plan.inputs}
        for ref in given:
            if ref not in values:
                self._lower_mask_chain(plan, call, ref, path, prefix, values)
        masks = [values[r][0] for r in given]
        for ref, mask in zip(given, masks):
            if mask is UNKNOWN:
                raise _Skipped()
            if ref not in inputs and mask.dtype != DType.BOOL:
                raise Unsupported(f"layer {prefix + call.name!r} ({call.class_name}) is given a mask the lowering "
                                  f"computes as {mask.dtype.name.lower()} (it lowers bool masks only)")
        return masks

    @contextlib.contextmanager
    def _gap_of(self, call: LayerCall, prefix: str) -> Iterator[list[bool]]:
        """Run one call; a gap it raises is noted (named with the layer) and the walk goes on past it.

        Yields a list that is ``[True]`` after a gap (the caller then marks the call's outputs UNKNOWN)."""
        failed: list[bool] = []
        try:
            yield failed
        except _Skipped:
            failed.append(True)
        except Unsupported as err:
            name, message = prefix + call.name, str(err)
            if repr(name) not in message and repr(call.name) in message:  # named without its model's path
                message = message.replace(repr(call.name), repr(name), 1)
            if message.startswith(f"layer {name!r}"):  # a gap list names layers: "'x' (...)", not "layer 'x'"
                message = message[len("layer "):]
            self._walk_gaps.append(message if repr(name) in message else f"{name!r} ({call.class_name}: {message})")
            failed.append(True)

    def _skip_config_gap(self, call: LayerCall, prefix: str) -> None:
        """A call the config's gaps name already (``walk_past_gaps``): not lowered, its outputs unknown."""
        if self._config_gaps and any(g.startswith(f"{prefix + call.name!r} (") for g in self._config_gaps):
            raise _Skipped()

    # -- one layer call ---------------------------------------------------------------------------------
    def _lower_call(self, call: LayerCall, path: tuple[str, ...], prefix: str, inputs: list[Value],
                    masks: list[Value | None], kwargs: dict[str, Any],
                    keyword_masks: dict[str, Value | None] | None = None, *, its_input: bool = False,
                    entry_casts: list[bool | None] | None = None) -> tuple[list[Value], list[Value | None]]:
        """One call: its output Values and the mask each carries (``its_input``: an op call TF answers with its
        input tensor itself, :func:`_returns_its_input`: lowered unmasked, its input's mask handed on;
        ``entry_casts``: a nested model's inputs tf_keras casts to a new tensor, :func:`_nested_input_casts`)."""
        self._skip_config_gap(call, prefix)
        name, cls, config = call.name, call.class_name, call.entry.get("config") or {}
        keyword_masks = keyword_masks or {}
        if _runs_layers(call.entry):
            if any(m is not None for m in keyword_masks.values()):
                raise Unsupported(mask_gap(prefix + name, f"nested {cls} model"))
            self._check_kwargs(LayerContext(self.graph, prefix + name, cls, config, inputs, [], self.source,
                                            keras3=self.keras3, call_kwargs=kwargs))  # inner(x, training=True)
            nested_prefix = f"{prefix}{name}/"  # Keras sets the inputs' masks on the inner model's inputs
            inputs, masks = self._check_nested_input_casts(call, prefix, inputs, masks, entry_casts)
            return self._run(self._plan(call.entry), (*path, name), nested_prefix, inputs, list(masks))
        if wrapped_model(call.entry) is not None:
            return self._time_distributed_model(call, path, prefix, inputs, masks, kwargs)
        given = kwargs["mask"] + [None] * (len(masks) - len(kwargs["mask"])) if "mask" in kwargs and \
            cls in EXPLICIT_MASK_LAYERS else [*masks, *keyword_masks.values()]
        flags = masked_outputs(cls, config, [m is not None for m in given], self.keras3, its_input=its_input)
        if flags is None:
            raise Unsupported(mask_gap(prefix + name, cls, config))
        if cls in STEP_MASK_READERS and not wraps_conv_lstm(cls, config) and len(masks) == 1 and masks[0] is not None and \
                (masks[0].shape is None or len(masks[0].shape) != 2):  # Masking of a rank-4 tensor, handed on
            raise Unsupported(f"{prefix + name!r} ({cls}: a mask of shape {masks[0].shape} where Keras reads "
                              "[batch, steps])")
        ctx = self._call(call.entry, (*path, name), prefix + name, inputs, kwargs,
                         [None] * len(masks) if its_input else masks, keyword_masks, bool(call.recorded_masks))
        self._last_ctx = ctx
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        out_masks: list[Value | None] = [None] * len(outputs)
        if flags:
            with provenance.scope(self.graph, prefix + name):
                out_masks[0] = self._out_mask(ctx, given)
            for i in flags - {0}:  # Bidirectional(merge_mode=None): both directions carry the input's mask
                out_masks[i] = out_masks[0]
        return outputs, out_masks

    def _time_distributed_model(self, call: LayerCall, path: tuple[str, ...], prefix: str, inputs: list[Value],
                                masks: list[Value | None], kwargs: dict[str, Any]
                                ) -> tuple[list[Value], list[Value | None]]:
        """TimeDistributed(Sequential / Functional): the wrapped model's layers lowered as a nested model's on the
        folded input (:func:`.wrappers.time_distributed_model`), each with its own weights (path ``(..., wrapper,
        layer)``, :mod:`.weights`). The output's mask: the input's, in both flavours (the masks Keras would change
        are gaps, :meth:`_Gaps._time_distributed_model`)."""
        name, config = prefix + call.name, call.entry.get("config") or {}
        wrapped = wrapped_model(call.entry) or {}
        plan = self._plan(wrapped)
        ctx = LayerContext(self.graph, name, call.class_name, config, inputs, [], self.source, keras3=self.keras3,
                           call_kwargs=kwargs)
        inner: list[Value] = []

        def run(folded: Value) -> Value:
            folded = self._wrapped_model_input(ctx, plan, inputs[0], folded)
            outputs, _ = self._run(plan, (*path, call.name), f"{name}/", [folded], [None])
            if len(outputs) != 1:
                raise Unsupported(f"layer {name!r} (TimeDistributed) wraps a model with {len(outputs)} outputs")
            if outputs[0] is UNKNOWN:
                raise _Skipped()  # a gap inside, named there
            inner.append(outputs[0])
            return outputs[0]

        with provenance.scope(self.graph, name):
            output = time_distributed_model(ctx, run)
        self._check_kwargs(ctx)
        if inner and id(inner[0]) in self._keras_dtypes:  # integers the model returns as float32: unfolded, the same
            self._keras_dtypes[id(output)] = self._keras_dtypes[id(inner[0])]
        return [output], [masks[0] if masks else None]

    def _wrapped_model_input(self, ctx: LayerContext, plan: ModelPlan, value: Value, folded: Value) -> Value:
        """The folded input as the wrapped model's layers get it: both flavours cast it to the dtype of the model's
        Input (Keras 3's ``Functional._standardize_inputs``, tf_keras's ``_conform_to_reference_input``), as
        :meth:`_cast_to_input_dtype` casts; integers into an Input of their own dtype stay them, the walk's tracking
        following into the fold (the inner layers see them as Keras does, an Embedding its ids, a Dense them cast).
        Other casts, and integers into an Input of no saved dtype, are refused by name."""
        actual = self._keras_dtype(value)  # None: a float
        wanted = dtype_name(plan.inputs[0][1].get("dtype")) if plan.inputs else None
        cast = None if actual is not None and wanted is None else self._cast_to_input_dtype(ctx, folded, actual, wanted)
        if cast is None:
            held = getattr(actual, "numpy", actual) if actual is not None else "float"
            raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) of a model whose Input is "
                              f"{wanted or 'of no saved dtype'}, on {held} inputs (Keras casts them to it; not "
                              "lowered)")
        return cast

    def _cast_to_input_dtype(self, ctx: LayerContext, value: Value, actual: DType | None, wanted: str | None
                             ) -> Value | None:
        """``value`` (Keras dtype ``actual``, None for a float) cast as both Keras flavours cast a tensor given to a
        model whose Input's dtype is ``wanted``, or None where the lowering does not make that cast: integers and bools
        into a float Input become float32, rounded as TF's Cast rounds them (int32/int64 past 2^24 by
        :func:`.integer_resize.exact_float32`: TF.js's cpu Cast keeps them unrounded), a new untracked Value; floats
        into an int32 Input are TF's cast (truncated, INT_MIN for NaN, ±Inf and magnitudes from 2^31:
        :func:`.op_layers.float_to_int32`), into a bool Input ``x != 0``; int32 and int64 into each other (TF.js holds
        both as int32) and integers into an Input of their own dtype keep their values, the dtype tracked."""
        from .integer_resize import exact_float32
        from .op_layers import float_to_int32

        floating = actual is None or actual == DType.FLOAT32
        if floating and wanted in FLOAT_DTYPES:
            return value
        if floating and value.dtype == DType.FLOAT32 and wanted in ("int32", "bool"):
            if wanted == "bool":
                return self._as_integer(ctx.name, value, DType.BOOL)
            return float_to_int32(ctx, value, "input_as_int32")
        if not floating and _is_integer(actual) and wanted in FLOAT_DTYPES[1:]:
            if value.dtype in WIDE_INTEGERS:  # rounded past 2^24 as Keras's cast rounds
                as_int32 = self._as_integer(ctx.name, value, DType.INT32) if value.dtype == DType.INT64 else value
                return exact_float32(ctx, as_int32, "input_as_float")
            if _is_integer(value.dtype):
                return self._as_float(ctx.name, ctx.class_name, value)
            return ctx.unary("Identity", value, label="input_as_float32")  # held as float32: now untracked floats
        if not floating and _is_integer(actual) and actual != DType.BOOL and actual.numpy.itemsize < 4 and                 wanted == "int32":  # 8/16-bit integers into an int32 Input: the same numbers
            out = ctx.unary("Identity", value, label="input_as_int32") if value.dtype == DType.INT32 else \
                self._as_integer(ctx.name, value, DType.INT32)
            self._keras_dtypes[id(out)] = DType.INT32
            return out
        try:
            same = not floating and wanted is not None and DType.from_any(wanted) == actual
        except (KeyError, TypeError, ValueError):
            same = False
        if same or actual in WIDE_INTEGERS and wanted in ("int32", "int64"):
            out = ctx.unary("Identity", value, label=f"input_as_{wanted}") if not same else value
            if out.dtype != DType.from_any(wanted) or not same:
                self._keras_dtypes[id(out)] = DType.from_any(wanted)
            return out
        return None

    def _check_nested_input_casts(self, call: LayerCall, prefix: str, inputs: list[Value],
                                  masks: list[Value | None], entry_casts: list[bool | None] | None = None
                                  ) -> tuple[list[Value], list[Value | None]]:
        """The tensors (and masks) a tf_keras nested model's layers read: it sets the masks it is given on the
        caller's tensors, then casts each to its Input's dtype (``Functional._conform_to_reference_input``): a
        tensor of another dtype becomes a new tensor (cast as TF casts, :meth:`_nested_input_cast`) without the
        mask, so the inner layers read none (and the outputs carry the masks they make from none). The mask is
        dropped so where the dtype the lowering tracks and the saved config (``entry_casts``,
        :func:`_nested_input_casts`, as :class:`_Gaps` walked it) agree; where they disagree (or the config does not
        tell and the dtypes differ), which mask Keras reads is not known: a gap, named."""
        if not is_model(call.entry):
            return inputs, masks
        plan = self._plan(call.entry)
        if self.keras3:
            return self._keras3_nested_input_casts(call, prefix, plan, inputs), masks
        casts = list(entry_casts or [])
        casts += [None] * (len(masks) - len(casts))
        values, kept = list(inputs), list(masks)
        for i, ((ref, config), value, mask) in enumerate(zip(plan.inputs, inputs, masks)):
            if not isinstance(value, Value):
                continue
            wanted = dtype_name((config or {}).get("dtype"))
            actual = self._keras_dtype(value) or value.dtype
            same = _has_input_dtype(actual, wanted)
            if mask is not None and (same is None or same == (casts[i] is True) or not same and casts[i] is not True):
                raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: tf_keras casts the masked "
                                  f"{getattr(actual, 'numpy', actual)!s} tensor to the dtype of its input {ref[0]!r}, "
                                  f"{wanted}, whose saved config tells another dtype: whether that is a new tensor "
                                  "without the mask is not known)")
            if same is False:
                values[i], kept[i] = self._nested_input_cast(call, prefix, ref[0], value, actual, wanted), None
        return values, kept

    def _keras3_nested_input_casts(self, call: LayerCall, prefix: str, plan: ModelPlan, inputs: list[Value]
                                   ) -> list[Value]:
        """Keras 3's nested Functional (and Sequential) model converts each tensor to its Input's dtype
        (``Functional._convert_inputs_to_tensors``: a ``tf.cast`` on the TensorFlow backend, floats into an int32
        Input truncated) before its layers run, then sets the masks it was given on the results: the values cast
        (:meth:`_nested_input_cast`), the masks kept. The lowering once handed the tensor in uncast."""
        values = list(inputs)
        for i, ((ref, config), value) in enumerate(zip(plan.inputs, inputs)):
            if not isinstance(value, Value):
                continue
            wanted = dtype_name((config or {}).get("dtype"))
            actual = self._keras_dtype(value) or value.dtype
            if _has_input_dtype(actual, wanted) is False:  # (None: a name the lowering does not know, read as before)
                values[i] = self._nested_input_cast(call, prefix, ref[0], value, actual, wanted)
        return values

    def _nested_input_cast(self, call: LayerCall, prefix: str, input_name: str, value: Value, actual: Any,
                           wanted: str | None) -> Value:
        """A nested model's cast of a tensor to its Input's dtype ``wanted`` (:meth:`_cast_to_input_dtype`); other
        casts are a gap, named (the lowering once read the tensor uncast)."""
        name = f"{prefix}{call.name}/{input_name}_cast"
        ctx = LayerContext(self.graph, name, call.class_name, call.entry.get("config") or {}, [value], [],
                           self.source, keras3=self.keras3)
        with provenance.scope(self.graph, name):
            cast = self._cast_to_input_dtype(ctx, value, actual if actual != DType.FLOAT32 else None, wanted)
        if cast is None:
            flavour = "Keras 3" if self.keras3 else "tf_keras"
            raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: {flavour} casts the "
                              f"{getattr(actual, 'numpy', actual)!s} tensor to the dtype of its input {input_name!r}, "
                              f"{wanted} (a cast the lowering does not make there)")
        return cast

    def _check_cast_keeps(self, plan: ModelPlan, call: LayerCall, prefix: str, inputs: list[Value],
                          masks: list[Value | None], its_input: bool) -> None:
        """tf_keras's ``tf.cast`` of a masked tensor: the walk decided from the saved config's dtypes whether TF hands
        that tensor back (its mask riding on, ``its_input``) or makes a new one (the mask dropped); the dtype the
        lowering tracks for the tensor must say the same (an Activation of int32 ids keeps them int32 though its
        config says float32), else which mask Keras's later layers read is not known: a gap, never a guess."""
        config = call.entry.get("config") or {}
        if not self.keras3 and call.class_name == "TFOpLambda" and config.get("function") in _V1_RESIZES and \
                masks and masks[0] is not None and inputs:  # the walk read the images' size from the config
            shape, kwargs = inputs[0].shape, _tf_call_kwargs(call)
            same = shape is not None and len(shape) == 4 and list(shape[1:3]) == list(kwargs.get("size") or []) \
                and not kwargs.get("preserve_aspect_ratio")
            if same != its_input:
                raise Unsupported(f"{prefix + call.name!r} (TFOpLambda: a resize of masked images of shape "
                                  f"{list(shape or [])} whose saved config tells another size: whether TensorFlow "
                                  "hands the images themselves on, their mask with them, is not known)")
        if self.keras3 or call.class_name != "TFOpLambda" or config.get("function") not in _TF_CASTS or \
                not masks or masks[0] is None or not inputs:
            return
        target, _ = _cast_dtypes(plan, call)
        actual = self._keras_dtype(inputs[0]) or inputs[0].dtype
        try:
            same = isinstance(target, str) and DType.from_any(target) == actual
        except (KeyError, TypeError, ValueError):
            same = False
        if same != its_input:
            raise Unsupported(f"{prefix + call.name!r} (TFOpLambda: a cast to {target} of a masked "
                              f"{getattr(actual, 'numpy', actual)!s} tensor whose saved config tells another dtype: "
                              "whether TensorFlow hands the tensor itself on, its mask with it, is not known)")

    def _tracked_out_masks(self, call: LayerCall, prefix: str, masks: list[Value | None],
                           keyword_masks: dict[str, Value | None]) -> list[Value | None]:
        """The masks of a call's outputs as the walk tracks them (its inputs' masks before a MultiHeadAttention
        deleted some): the call's own ops read the run-time masks; these are for the later calls whose mask Keras 3
        recorded. Made from the call's lowered outputs (its last context)."""
        ctx = self._last_ctx
        assert ctx is not None
        cls, config = call.class_name, call.entry.get("config") or {}
        given = [*masks, *keyword_masks.values()]
        flags = masked_outputs(cls, config, [m is not None for m in given], self.keras3) or set()
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        tracked: list[Value | None] = [None] * len(outputs)
        if flags:
            with provenance.scope(self.graph, prefix + call.name + "/tracked"):
                tracked[0] = self._out_mask(ctx, given, keyword_masks)
            for i in flags - {0}:
                tracked[i] = tracked[0]
        return tracked

    def _out_mask(self, ctx: LayerContext, given: list[Value | None],
                  keyword_masks: dict[str, Value | None] | None = None) -> Value:
        """The mask of a call's first output (see :func:`.masking.masked_outputs` for which calls have one)."""
        if makes_mask(ctx.class_name, ctx.config):
            return make_mask(ctx)
        if ctx.class_name == "TimeDistributed" and time_distributed_makes_mask(ctx.config, self.keras3):
            return time_distributed_mask(ctx)
        if ctx.class_name == "TimeDistributed":
            return time_distributed_out_mask(ctx, next(m for m in given if m is not None))
        if ctx.class_name in ELEMENTWISE_MERGES or ctx.class_name == "Concatenate":
            return merged_mask(ctx, given)
        keyword_masks = ctx.keyword_masks if keyword_masks is None else keyword_masks
        if ctx.class_name in QUERY_MASKED:  # the query's (tf_keras may give the query by keyword)
            return keyword_masks["query"] if "query" in keyword_masks else given[0]
        return next(m for m in given if m is not None)

    def _call(self, entry: dict[str, Any], path: tuple[str, ...], name: str, inputs: list[Value],
              call_kwargs: dict[str, Any], masks: list[Value | None],
              keyword_masks: dict[str, Value | None], mask_recorded: bool = False) -> LayerContext:
        """Lower one call; its output Value(s) are ``ctx.outputs`` of the context returned."""
        cls = entry["class_name"]
        lowering = self.lowerings.get(cls)
        if lowering is None:
            raise Unsupported(f"{name!r} ({cls})")
        path = canonical_path(path, self._aliases)
        if path not in self._layer_weights:
            self._layer_weights[path] = (self.weights(path), {})
        arrays, consts = self._layer_weights[path]
        keras_dtypes = [self._keras_dtype(v) for v in inputs]
        op = cls if cls.startswith(KERAS_OP_PREFIX) else (entry.get("config") or {}).get("function")
        narrow = _narrow_operands(cls, op, keras_dtypes, name)
        if is_op_layer(cls) and op not in DTYPE_FREE_OPS | INTEGER_KEEPING_OPS and any(
                d is not None and (d not in OP_REINTEGER_DTYPES or op not in INTEGER_COMPUTING_OPS) and
                v.dtype == DType.FLOAT32 and not (is_narrow(d) and op in NARROW_COMPUTED_OPS)
                for d, v in zip(keras_dtypes, inputs)):
            raise Unsupported(f"layer {name!r} ({cls}) on integers the lowering holds as float32 (Keras computes "
                              "the operation in their integer dtype)")
        if op in FLOAT_COMPUTING_OPS:  # Keras 3 casts integers to float32 first (a model input's too)
            inputs = [self._as_float(name, cls, v) if _is_integer(v.dtype) else v for v in inputs]
        if is_op_layer(cls) and op in INTEGER_COMPUTING_OPS:  # on the integers Keras gives it (as on a model input)
            inputs = [self._as_integer(name, v, d) if (d in OP_REINTEGER_DTYPES or is_narrow(d)) and v.dtype in (
                DType.FLOAT32, *NARROW_INTS) else v for d, v in zip(keras_dtypes, inputs)]
        if cls not in INTEGER_INPUT_LAYERS and not is_op_layer(cls):  # Keras: float layers on ints in float32
            config = entry.get("config") or {}
            merge = _wide_integer_merge(cls, keras_dtypes, inputs)  # masked too (Keras 3's reads: in int32)
            wide = merge or _wide_integer_layer(cls, config, self.keras3) or (
                _unwrapped_layer(cls, config)[0] in GLOBAL_AVERAGE_1D and len(masks) == 1 and masks[0] is not None
                and keras_dtypes[0] == DType.INT32)  # Keras sums the kept ids in int32, wrapping (.masking), per
            # step too (a TimeDistributed: Keras 3's handed as float32 before S16, other numbers past 2^24)
            if not wide:
                _refuse_wide_integers_through_float(name, cls, config, keras_dtypes, self.keras3)
            if merge and len({v.dtype for v in inputs}) > 1:  # mixed dtypes: all int32, promoted as Keras promotes
                inputs = [v if v.dtype == DType.INT32 else self._as_integer(name, v, DType.INT32) for v in inputs]
            elif wide and not merge and _unwrapped_layer(cls, config)[0] not in WIDE_INTEGER_MOVING_LAYERS:
                inputs = [self._as_integer(name, v, DType.INT32) if v.dtype == DType.INT64 else v for v in inputs]
            inputs = [v if wide and v.dtype in WIDE_INTEGERS else self._as_float(name, cls, v) for v in inputs]
        ctx = LayerContext(self.graph, name, cls, entry.get("config") or {}, inputs, arrays, self.source,
                           keras3=self.keras3, weight_consts=consts, call_kwargs=call_kwargs)
        ctx.keras_dtypes = keras_dtypes
        ctx.masks, ctx.keyword_masks, ctx.mask_recorded = list(masks), dict(keyword_masks), mask_recorded
        ctx.mask = masks[0] if len(masks) == 1 else None
        with provenance.scope(self.graph, name):
            if ctx.mask is not None and cls == "GlobalAveragePooling1D":
                _refuse_masked_integer_mean(name, cls, keras_dtypes[0], self.keras3)
                ctx.outputs = masked_global_average_1d(ctx, ctx.mask)
            else:
                if ctx.mask is not None and _unwrapped_layer(cls, ctx.config)[0] in GLOBAL_AVERAGE_1D:  # per step
                    _refuse_masked_integer_mean(name, cls, keras_dtypes[0], self.keras3)
                ctx.outputs = lowering.lower(ctx)
        if not is_op_layer(cls):  # op layers bind every recorded argument themselves (.op_layers)
            self._check_kwargs(ctx)
        if narrow is not None:  # computed in int32: back into the 8/16-bit dtype Keras computes in
            ctx.outputs = self._narrowed(name, op, ctx.outputs, narrow)
        result = narrow or ctx.output_keras_dtype or _per_step_mean_dtype(cls, ctx, self.keras3) or \
            _keras_result_dtype(op if is_op_layer(cls) else cls, ctx.config, keras_dtypes, self.keras3)
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        if any(self._keras_dtypes.get(id(v), result) != result for v in outputs):  # an input handed on as it is
            outputs = [self._retyped(name, v, i) if self._keras_dtypes.get(id(v), result) != result else v
                       for i, v in enumerate(outputs)]
            ctx.outputs = outputs if isinstance(ctx.outputs, list) else outputs[0]
        if result is not None:
            for value in outputs:
                self._keras_dtypes[id(value)] = result
        return ctx

    def _narrowed(self, layer: str, op: str, value: Any, dtype: DType) -> Value:
        """An op layer's int32 result on 8/16-bit integers, wrapped into ``dtype`` as TF wraps (for the ops whose
        result may leave its range), and tracked as that dtype (a later op or merge wraps in it again)."""
        if not isinstance(value, Value) or value.dtype != DType.INT32:
            raise Unsupported(f"layer {layer!r} ({op}) on {dtype.numpy} integers gave a {getattr(value, 'dtype', '?')}"
                              " result")
        if op in NARROW_WRAPPED_OPS:
            value = wrapped(self.graph, value, dtype, f"{layer}/wrap")
        return value

    def _in_keras_dtype(self, index: int, value: Value) -> Value:
        """A model output the walk holds as float32 whose Keras dtype is an integer (a MaxPooling of uint8 images):
        cast back, so TF.js returns Keras's dtype (exact for 8/16-bit integers and bools; int32 ones never reach here
        as float32: :func:`_refuse_wide_integers_through_float`)."""
        dtype = self._keras_dtypes.get(id(value))
        if not isinstance(dtype, DType) or value.dtype != DType.FLOAT32:
            return value
        return self._as_integer(f"model_output_{index}", value, dtype)

    def _retyped(self, layer: str, value: Value, index: int) -> Value:
        """A new Value of ``value`` for an output whose Keras dtype is not its input's (a same-size CenterCrop of
        integers returns them as they are, in float32): the input keeps its own dtype for its other readers."""
        return self.graph.add_op("Identity", [value], {"T": value.dtype}, name=f"{layer}/as_float_{index}",
                                 dtype=value.dtype, shape=value.shape)

    def _keras_dtype(self, value: Value) -> DType | str | None:
        """The integer dtype Keras gives ``value`` (None: a float): tracked for the Values the walk made float32,
        else the Value's own."""
        if id(value) in self._keras_dtypes:
            return self._keras_dtypes[id(value)]
        return value.dtype if _is_integer(value.dtype) else None

    def _check_kwargs(self, ctx: LayerContext) -> None:
        # Keras 3's model(x, training=False) and predict() override a saved training=True; tf_keras's do not
        check_kwargs_read(ctx, (MASK_KEYWORD, "training") if self.keras3 else (MASK_KEYWORD,))

    def _as_integer(self, layer: str, value: Value, dtype: DType) -> Value:
        """The integers the walk held as float32 (exactly) back in the dtype Keras gives them, for an op layer: int64
        as int32 (TF.js narrows int64 inputs to it too), bools by NotEqual 0 (wasm's Cast to bool is wrong)."""
        if dtype == DType.BOOL:
            zero = self.graph.const(np.zeros((), np.float32), name=f"{layer}/zero")
            return self.graph.add_op("NotEqual", [value, zero], {"T": value.dtype, "incompatible_shape_error": True},
                                     name=f"{layer}/to_bool",
                                     dtype=DType.BOOL, shape=value.shape)
        dtype = DType.INT32
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": dtype, "Truncate": False},
                                 name=f"{layer}/to_int32", dtype=dtype, shape=value.shape)

    def _as_float(self, layer: str, cls: str, value: Value) -> Value:
        if value.dtype == DType.FLOAT32:
            return value
        if value.dtype == DType.STRING:  # TF.js's Cast rejects strings: the model would not run
            raise Unsupported(f"layer {layer!r} ({cls}) on a string input (only StringLookup, Hashing and "
                              "TextVectorization take strings)")
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=f"{layer}/to_float", dtype=DType.FLOAT32, shape=value.shape)

    def _placeholder(self, name: str, shape: Any, dtype: Any = None) -> Value:
        if not isinstance(shape, list) or not shape or any(d is not None and (not isinstance(d, int) or d < 0)
                                                           for d in shape):
            raise Unsupported(f"input {name!r} has no readable shape ({shape!r})")
        dtype = dtype_name(dtype)
        ir_dtype = DType.FLOAT32 if dtype in FLOAT_DTYPES else DType.from_any(dtype)
        return self.graph.placeholder(name, ir_dtype, (None, *shape[1:]))


#: The integer dtypes float32 does not hold exactly (beyond 2^24).
WIDE_INTEGERS = (DType.INT32, DType.INT64)


#: Merges that sum integers in their dtype (Average before dividing; Dot's integer result): refused on int32 ids
#: where :func:`_wide_integer_merge` does not lower them (Dot never: :func:`_wide_integer_layer` hands it them).
SUMMING_MERGES = frozenset({"Average", "Dot"})
#: tf_keras's global average pools of int32 are ``reduce_mean``'s exact mean truncated toward zero, lowered exactly
#: (:func:`.pooling.integer_mean`; Keras 3's cast to float32 first, as the float32 the walk hands them).
TF_KERAS_INTEGER_MEANS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                                    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D"})


def _shared_through_wrapped_model(model_config: dict[str, Any]) -> str | None:
    """A layer inside a model a TimeDistributed wraps that the saved config lists again (its ``shared_object_id``;
    the first listing may have none, so a listed-again layer of its name and class elsewhere counts too), as a gap:
    a ``.keras`` archive saves its weights once, under a listing :func:`.model_plan.shared_paths` does not follow
    through the wrapper. Walked iteratively (nesting is bounded by :func:`_check_nesting`)."""
    inside: list[tuple[str, dict[str, Any]]] = []  # (the outermost wrapper's path, a layer entry in its model)
    shared_outside: set[tuple[str, Any]] = set()
    stack: list[tuple[dict[str, Any], str | None, tuple[str, ...]]] = [
        (entry, None, (entry_name(entry),)) for entry in top_level_layers(model_config)]
    while stack:
        entry, wrapper, here = stack.pop()
        if wrapper is not None:
            inside.append((wrapper, entry))
        elif entry.get("shared_object_id") is not None:
            shared_outside.add((entry_name(entry), entry.get("class_name")))
        wrapped = wrapped_model(entry)
        if wrapped is not None:
            stack.append((wrapped, wrapper or "/".join(here), here))
        elif is_model(entry) or entry.get("class_name") in LAYER_LISTS:
            stack += [(child, wrapper, (*here, entry_name(child))) for child in top_level_layers(entry)]
    for wrapper, entry in inside:
        if entry.get("shared_object_id") is not None or \
                (entry_name(entry), entry.get("class_name")) in shared_outside:
            return (f"{wrapper!r} (TimeDistributed: its {entry_name(entry)!r} ({entry.get('class_name')}) is used in "
                    "other places too, and a .keras archive saves its weights once, where the lowering does not "
                    "follow it through the wrapper)")
    return None


def _ignores_mask(entry: dict[str, Any], keras3: bool | None) -> bool:
    """Whether Keras computes a layer the same with a mask as without, inside a model a TimeDistributed wraps, so
    that the step's mask changes nothing there: Keras 3's hand it on or drop it (never reading it in their call);
    tf_keras's hand it on (the model's output mask is then the input's; one that drops it fails to build, one that
    computes another is not followed). Flavour unknown: none."""
    cls = str(entry.get("class_name"))
    if keras3 is None or cls == "GroupNormalization":  # GroupNormalization: tf_keras's weighs its moments by the mask
        return False
    return passes_mask(cls, keras3) or keras3 and drops_mask(cls, True)


def _unwrapped_layer(cls: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The layer a TimeDistributed wraps (step by step, iterative: the nesting is untrusted), else the layer itself."""
    while cls == "TimeDistributed":
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        cls, config = str(inner.get("class_name")), inner.get("config") if isinstance(inner.get("config"), dict) else {}
    return cls, config


def _plain_relu(cls: str, config: dict[str, Any]) -> bool:
    """Activation linear/relu and a ReLU without options: the integers as they are, or ``max(x, 0)``, which Keras
    computes in their dtype, exactly."""
    return cls == "Activation" and config.get("activation") in ("linear", "relu") or cls == "ReLU" and all(
        config.get(k) in (None, d) for k, d in (("max_value", None), ("negative_slope", 0), ("threshold", 0)))


def _wide_integer_layer(cls: str, config: dict[str, Any], keras3: bool) -> bool:
    """Whether the lowering of a one-input layer (a TimeDistributed: of the layer it wraps) gets int32/int64 tensors as
    they are: the value-moving layers and :data:`WIDE_INTEGER_COMPUTING_LAYERS`, which compute on them exactly as
    Keras (Masking in Keras 3 only, not wrapped: tf_keras's fails on integers, comparing them with a float); nearest
    UpSampling2D (repeated, :func:`.reshaping.upsampling`); Dot (tf_keras's an int32 dot wrapping as TF's, Keras 3's
    a float32 matmul cast back; its lowering refuses the dtypes it does not compute: :func:`.wrappers.dot`); Keras 3's
    bilinear UpSampling2D and Resizing, which round the integers to float32 as Keras's cast does, then resize and
    round back (:mod:`.integer_resize`; tf_keras's return floats)."""
    wrapped = cls == "TimeDistributed"
    cls, config = _unwrapped_layer(cls, config)
    if cls in WIDE_INTEGER_MOVING_LAYERS or cls == "UpSampling2D" and config.get("interpolation", "nearest") == \
            "nearest":
        return True
    if keras3 and (cls == "UpSampling2D" and config.get("interpolation") == "bilinear" or
                   cls == "Resizing" and config.get("interpolation", "bilinear") == "bilinear"):
        return True
    if cls == "Dot":
        return not wrapped
    if cls in TF_KERAS_INTEGER_MEANS:  # tf_keras's exact truncated mean (.pooling.integer_mean), per step too
        return not keras3
    if cls not in WIDE_INTEGER_COMPUTING_LAYERS:
        return False
    if cls == "Masking":  # tf_keras's compares in the integers' dtype: an integer mask_value only (a float fails)
        return (keras3 or _integer_mask_value(config)) and not wrapped
    return cls.startswith("MaxPooling") or _plain_relu(cls, config) or _integer_relu(cls, config)


def _per_step_mean_dtype(cls: str, ctx: LayerContext, keras3: bool) -> DType | None:
    """The integer dtype of tf_keras's TimeDistributed(GlobalAveragePooling) of integers without a mask: each step's
    truncated mean keeps the input's dtype, as :func:`.pooling._tf_keras_integer_mean` tracks the unwrapped pool's
    (a later merge then computes in it, or refuses; with a mask tf_keras divides into floats)."""
    dtype = ctx.keras_dtypes[0] if ctx.keras_dtypes else None
    if keras3 or cls != "TimeDistributed" or ctx.mask is not None or not isinstance(dtype, DType) or \
            dtype.numpy.kind not in "iu" or _unwrapped_layer(cls, ctx.config)[0] not in TF_KERAS_INTEGER_MEANS:
        return None
    return dtype


def _refuse_masked_integer_mean(layer: str, cls: str, dtype: DType | str | None, keras3: bool) -> None:
    """A masked GlobalAveragePooling1D sums the integers in their dtype before dividing (int32/int64 in both flavours,
    wrapping in int32; tf_keras 8/16-bit ones too, wrapping in their dtype, where Keras 3 sums those in int32): the
    masked mean of .masking sums int32 ones in int32 and tf_keras's 8/16-bit ones wrapped into their dtype
    (:func:`.integer_means.narrow_masked_mean`; lowered); int64 ones do not wrap at 2^32 in Keras, where TF.js's
    int32 does, and tf_keras's other integer dtypes are not followed: refused."""
    if isinstance(dtype, DType) and (dtype == DType.INT64 or not keras3 and dtype.numpy.kind in "iu"
                                     and dtype != DType.INT32 and not is_narrow(dtype)):
        raise Unsupported(f"layer {layer!r} ({cls}) with a mask on {dtype.numpy} integers (Keras sums them in "
                          f"{dtype.numpy}, wrapping, before dividing; the masked mean is lowered for floats)")


def _integer_relu(cls: str, config: dict[str, Any]) -> bool:
    """A ReLU without a negative slope: Keras computes it in the integers' dtype, its threshold and max_value cast to
    it, and returns that dtype (:func:`.activations._integer_options_relu`); with a slope it returns float32."""
    return cls == "ReLU" and not config.get("negative_slope")


def _integer_mask_value(config: dict[str, Any]) -> bool:
    """Whether a Masking config's mask_value is an integer (tf_keras then compares int32 ids with it exactly)."""
    value = config.get("mask_value", 0.0)
    return isinstance(value, int) and not isinstance(value, bool)


def _wide_integer_merge(cls: str, dtypes: list[DType | str | None], inputs: list[Value]) -> bool:
    """Whether a merge gets its inputs as int32 tensors: every input an integer (or bool) Keras keeps, one at least
    int32/int64 (held as it is, not as float32). Keras 3 promotes mixed dtypes (int8 with int32 is int32, int32 with
    int64 is int64; tf_keras cannot build such merges), adding left to right in the dtype so far: ``[int8, int8,
    int32]`` adds the int8 ones in int8 first (:func:`.merging._wrapped_arithmetic` wraps those steps)."""
    if cls not in WIDE_INTEGER_MERGES and cls != "Average" or len(inputs) < 2:
        return False
    if not all(isinstance(d, DType) and _is_integer(d) for d in dtypes) or not any(d in WIDE_INTEGERS for d in dtypes):
        return False
    return not any(d in WIDE_INTEGERS and v.dtype not in WIDE_INTEGERS for d, v in zip(dtypes, inputs))  # else
    # a wide integer held as float32 (not exact beyond 2^24): refused


def _refuse_wide_integers_through_float(layer: str, cls: str, config: dict[str, Any],
                                        dtypes: list[DType | str | None], keras3: bool) -> None:
    """Refuses a layer that Keras computes in int32/int64 (MaxPooling, Masking, ReLU, UpSampling2D, TimeDistributed,
    a merge of mixed dtypes... of int32 ids) when the lowering would hand it those integers as float32: exact only up
    to 2^24, so ids beyond it would silently change (TF.js's MaxPool takes float32 only)."""
    wide = next((d for d in dtypes if d in WIDE_INTEGERS), None)
    if wide is not None and (cls in SUMMING_MERGES
                             or _keras_result_dtype(cls, config, dtypes, keras3) in WIDE_INTEGERS):
        # Average: Keras sums the integers in their dtype, wrapping
        raise Unsupported(f"layer {layer!r} ({cls}) on {wide.numpy} integers (Keras keeps them exact; the lowering "
                          "would compute it in float32, exact only up to 2^24)")


def _narrow_operands(cls: str, op: Any, dtypes: list[DType | str | None], layer: str) -> DType | None:
    """The promoted 8/16-bit integer dtype an op layer computes in (None when it does not), for the op layers
    lowered on such integers in int32 (:data:`NARROW_WRAPPED_OPS`, :data:`NARROW_IN_RANGE_OPS`,
    :data:`NARROW_STEPWISE_OPS`); those of :data:`NARROW_REFUSED_OPS` are refused on them by name, and so is any op
    layer but casts, comparisons and moves on integers whose Keras dtype the walk does not follow."""
    if is_op_layer(cls) and UNTRACKED in dtypes and op not in DTYPE_FREE_OPS | INTEGER_KEEPING_OPS:
        # integers whose Keras dtype the walk does not follow (Keras 3's uint32 sums of uint8, held in int32, which
        # wraps otherwise; the results of average poolings and activations, held as float32)
        raise Unsupported(f"layer {layer!r} ({cls}) on integers whose Keras dtype the lowering does not follow "
                          "(Keras computes the operation in that dtype)")
    if not is_op_layer(cls) or not any(is_narrow(d) for d in dtypes):
        return None
    first = next(d for d in dtypes if is_narrow(d))
    if op in NARROW_TO_INT32_OPS | NARROW_INDEX_OPS:
        return None  # the int32 result of the tracked integers back in int32 (the walk's INTEGER_COMPUTING_OPS path)
    if op in NARROW_REFUSED_OPS:
        raise Unsupported(f"layer {layer!r} ({cls}) on {first.numpy} integers (Keras computes in that dtype, "
                          "wrapping around or changing it; not lowered)")
    if op not in NARROW_WRAPPED_OPS | NARROW_IN_RANGE_OPS | NARROW_STEPWISE_OPS:
        return None
    if op in CONDITION_OPS:
        dtypes = dtypes[1:]
    if any(d is None or d == UNTRACKED or d == DType.BOOL for d in dtypes):
        raise Unsupported(f"layer {layer!r} ({cls}) on {first.numpy} integers and a float, bool or untracked tensor")
    promoted = DType.from_any(np.result_type(*(d.numpy for d in dtypes if isinstance(d, DType))))
    if op in NEGATIONS and promoted.numpy.kind == "u":  # TF has no Neg kernel for them: Keras fails
        raise Unsupported(f"layer {layer!r} ({cls}) negates {promoted.numpy} integers (TensorFlow cannot)")
    return promoted if is_narrow(promoted) else None


#: The negations: TensorFlow has no unsigned kernel for them.
NEGATIONS = frozenset({KERAS_OP_PREFIX + "Negative", "math.negative"})


def _has_input_dtype(actual: Any, wanted: str | None) -> bool | None:
    """Whether a tensor of Keras dtype ``actual`` already has a nested model's Input dtype ``wanted`` (no saved dtype:
    it has), so that Keras does not cast it; None for a dtype name the lowering does not know."""
    try:
        return wanted is None or DType.from_any(wanted) == actual
    except (KeyError, TypeError, ValueError):
        return None


def _is_integer(dtype: DType | None) -> bool:
    """Integers and bools: Keras keeps both through the layers that move values (the walk hands on float32)."""
    try:
        return dtype is not None and dtype.numpy.kind in "iub"
    except TypeError:  # string
        return False


def _keras_result_dtype(cls: str, config: dict[str, Any], dtypes: list[DType | str | None],
                        keras3: bool) -> DType | str | None:
    """The integer dtype Keras gives the outputs of a layer (an op layer: its function) called on ``dtypes`` (None:
    floats; an op layer's Values carry their real dtype but for the ones that only move values). Layers that only
    move values keep the integers' (promoted as Keras promotes; a float among them makes floats); Keras 3's Resizing
    and bilinear UpSampling2D cast their result back to it (tf_keras's return floats)."""
    cls, config = _unwrapped_layer(cls, config)  # a TimeDistributed: the wrapped layer's
    if cls in INTEGER_KEEPING_OPS:
        dtypes = dtypes[:1]  # the tensor moved (the others, if any, are sizes or indices)
    elif cls in INTEGER_OUTPUT_LAYERS or cls in DTYPE_FREE_OPS or is_op_layer(cls):
        return None  # these Values carry their real dtype (an op layer's ``cls`` is its function)
    if all(d is None for d in dtypes):
        return None
    keeps = cls in INTEGER_KEEPING_LAYERS | INTEGER_KEEPING_OPS or (cls == "UpSampling2D" and (
        keras3 or config.get("interpolation", "nearest") == "nearest")) or (cls == "Resizing" and keras3)
    if _plain_relu(cls, config) or _integer_relu(cls, config):
        keeps = True  # values as they are (linear), or max(x, 0), exact on integers
    if keeps:
        if any(d is None for d in dtypes):
            return None
        if UNTRACKED in dtypes:
            return UNTRACKED
        return DType.from_any(np.result_type(*(d.numpy for d in dtypes if isinstance(d, DType))))
    return UNTRACKED if cls in INTEGER_UNTRACKED_LAYERS else None


def _node_refs(node: Any, layer: str, keywords: tuple[str, ...] = ()) -> list[Ref]:
    """The input tensors of one call, in order; tensors passed as keyword arguments (masks) are covered only
    where the layer's lowering declares them (``keywords``, read by :func:`_call_kwargs`)."""
    if isinstance(node, list):
        return [(item[0], int(item[1]), int(item[2])) for item in keras2_items(node)]
    refs: list[Ref] = []
    _tensors(node.get("args"), refs)
    extra: list[Ref] = []
    _tensors({k: v for k, v in (node.get("kwargs") or {}).items() if k not in keywords and k != MASK_KEYWORD},
             extra)  # the mask is tracked by the walk (.masking)
    if extra:
        raise Unsupported(f"layer {layer!r} is called with tensors as keyword arguments")
    return refs


def _call_kwargs(node: Any, keywords: tuple[str, ...], layer: str = "") -> dict[str, Any]:
    """A call's keyword arguments: plain values as saved, the ``keywords`` tensors as Refs (tuples)."""
    if isinstance(node, list):  # Keras 2: every inbound item repeats the call's kwargs
        saved = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        return {k: _keras2_ref(v) if k in keywords else v for k, v in saved.items()}
    out: dict[str, Any] = {}
    for key, value in (node.get("kwargs") or {}).items():
        found: list[Ref] = []
        _tensors(value, found)
        if key == STATE_KEYWORD and key in keywords and found:
            if not _only_tensors(value):  # a constant beside the tensors would be lost
                raise Unsupported(f"layer {layer!r} is called with initial_state mixing tensors and constants")
            out[key] = found  # every state, in Keras's flat order
        elif key in keywords and found:
            if len(found) != 1:
                raise Unsupported(f"keyword argument {key!r} holds {len(found)} tensors")
            out[key] = found[0]
        elif not found:
            out[key] = value
    return out


def _only_tensors(value: Any) -> bool:
    """A Keras 3 keyword value that is tensors only (one, or nested lists of them; iterative, depth is untrusted)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack += item
        elif not (isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"):
            return False
    return True


def _keras2_ref(value: Any) -> Any:
    """``[layer, node, tensor]`` (Keras 2's tensor in kwargs) as a Ref; other values as they are."""
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and \
            all(isinstance(v, int) for v in value[1:3]):
        return (value[0], int(value[1]), int(value[2]))
    return value


def _tensors(value: Any, refs: list[Ref]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            refs.append((history[0], int(history[1]), int(history[2])))
            return
        for item in value.values():
            _tensors(item, refs)
    elif isinstance(value, list):
        for item in value:
            _tensors(item, refs)
