"""Inference preprocessing on ids and buckets: CategoryEncoding, Discretization and IntegerLookup (inline vocabulary).

All three are exact in int32/bool arithmetic with no hash table: one-hot rows are ``Equal`` against the
class numbers (TF.js's wasm ``OneHot`` is wrong for float values), reduced with ``Max``/``Sum``;
buckets are ``n - Σ [x < boundary]`` (``Bucketize``'s bisect-right, NaN in the last bucket); a lookup is one ``Equal`` per
vocabulary entry reduced to the entry's index. IntegerLookup's other options (several OOV buckets,
``invert``, the non-``int`` output modes), StringLookup and Hashing go through hash tables
(:mod:`.lookup_tables`); vocabularies kept outside the config are put into it before the lowering:
``.keras`` assets (:mod:`.lookup_assets`) and, with ``--allow_unsafe_deserialization``, files
(``..vocabulary_files``).

One deviation: ``multi_hot``/``count`` ids outside ``[0, num_tokens)`` count for nothing. Keras 3 drops
ids ``>= num_tokens`` the same way but raises on negative ids, and tf_keras raises on both; a TF.js
model cannot raise, so such inputs give the zero contribution instead of an error.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext, check_call_kwargs
from .integer_layer_dtypes import INT64_FROM_FLOATS, integer_layer_dtype, warn_truncation
from .registry import Unsupported, lowers

INT32 = np.iinfo(np.int32)


def raw_ids(ctx: LayerContext) -> Value:
    """The layer's input before the walk's float32 cast (which it gives every layer but Embedding), as int32.

    Casting the float back would round ids past 2^24, so the Cast's own input is read instead.
    """
    x = ctx.x
    producer = x.producer
    if producer is not None and producer.op == "Cast" and producer.name.endswith("/to_float") and producer.inputs:
        x = producer.inputs[0]
    if x.dtype == DType.INT32:
        return x
    if x.dtype in (DType.INT64, DType.INT16, DType.INT8, DType.UINT8, DType.UINT16):
        return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                      shape=x.shape, label="ids")
    raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a {x.dtype.name.lower()} input (it takes integer ids)")


def _one_hot(ctx: LayerContext, ids: Value, depth: int, label: str) -> Value:
    """``[id == k]`` for k < depth, as float32 (not TF.js's ``OneHot``, whose wasm kernel is wrong for floats)."""
    shape = ctx.shape(ids)
    hot = ctx.op("Equal", [ctx.expand_dims(ids, len(shape), f"{label}_column"), ctx.ints(np.arange(depth), f"{label}_classes")],
                 {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(*shape, depth), label=f"{label}_match")
    return ctx.op("Cast", [hot], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                  shape=(*shape, depth), label=label)


def encode(ctx: LayerContext, ids: Value, mode: str, depth: int) -> Value:
    """Keras's ``encode_categorical_inputs`` for int32 ids: one_hot, multi_hot or count, as float32."""
    shape = ctx.shape(ids)
    if mode == "one_hot":
        if len(shape) == 2 and shape[1] == 1:
            ids = ctx.squeeze(ids, 1, "squeezed")
        elif len(shape) < 1:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a scalar")
        return _one_hot(ctx, ids, depth, "one_hot")
    if len(shape) != 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) {mode} on a rank-{len(shape)} input")
    hot = _one_hot(ctx, ids, depth, "one_hot")
    op = "Max" if mode == "multi_hot" else "Sum"
    return ctx.op(op, [hot, ctx.ints([1], "ids_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                  shape=(shape[0], depth), label=mode)


def _encoding_check(config: dict[str, Any]) -> str | None:
    if config.get("sparse"):
        return "sparse=True"
    if config.get("output_mode", "multi_hot") not in ("one_hot", "multi_hot", "count"):
        return f"output_mode={config.get('output_mode')!r}"
    return None


@lowers("CategoryEncoding", check=_encoding_check, keywords=("count_weights",))
def category_encoding(ctx: LayerContext) -> Value:
    """Keras's ``encode_categorical_inputs``. Keras 3 also takes float ids (TF's bincount and one_hot cast them to
    integers, truncating), ``count_weights`` (each id's count is its weight's sum, in the layer's dtype) and an int32
    or int64 dtype (the counts as integers; int64 held as int32, as TF.js holds it)."""
    check_call_kwargs(ctx, ("count_weights",))
    mode, depth = ctx.config.get("output_mode", "multi_hot"), int(ctx.config["num_tokens"])
    dtype = integer_layer_dtype(ctx.class_name, ctx.config, ctx.keras3) or DType.FLOAT32
    ids = _keras3_float_ids(ctx) if ctx.keras3 and ctx.integer_dtype() is None else raw_ids(ctx)
    weights = ctx.call_kwargs.get("count_weights")
    if weights is not None:
        return _weighted_counts(ctx, ids, weights, depth, dtype)
    encoded = encode(ctx, ids, mode, depth)
    if dtype == DType.FLOAT32:
        return encoded
    ctx.output_keras_dtype = dtype if dtype == DType.INT64 else None
    return ctx.exact_cast(encoded, DType.INT32, "counts")  # whole numbers up to the row's length


def _keras3_float_ids(ctx: LayerContext) -> Value:
    """Float ids as Keras 3's TF backend reads them: ``bincount`` casts them to int32, ``one_hot`` to int64, both
    truncating toward zero; NaN and magnitudes past int32 fall outside ``[0, num_tokens)`` either way."""
    from .op_layers import float_to_int32

    if ctx.x.dtype != DType.FLOAT32:
        return raw_ids(ctx)
    warn_truncation(ctx, f"layer {ctx.name!r} (CategoryEncoding: float ids)", ctx.x)
    return float_to_int32(ctx, ctx.x, "ids")


def _weighted_counts(ctx: LayerContext, ids: Value, weights: Any, depth: int, dtype: DType) -> Value:
    """``count`` with ``count_weights`` (Keras 3's ``bincount(ids, weights)``): each class's sum of the weights of
    its ids, in the layer's dtype, to which Keras converts the weights first (floats to integers truncated as TF's
    cast). Ids outside ``[0, num_tokens)`` count for nothing, as without weights."""
    from .op_layers import float_to_int32

    if not ctx.keras3 or not isinstance(weights, Value):
        raise Unsupported(f"layer {ctx.name!r} (CategoryEncoding) with count_weights "
                          f"{'of tf_keras' if not ctx.keras3 else 'that are no tensor'}")
    shape, weight_shape = ctx.shape(ids), ctx.shape(weights)
    if len(shape) != 2 or len(weight_shape) != 2 or None not in (shape[1], weight_shape[1]) and \
            shape[1] != weight_shape[1]:
        raise Unsupported(f"layer {ctx.name!r} (CategoryEncoding) count_weights of shape {list(weight_shape)} for "
                          f"ids of shape {list(shape)} (lowered for two equal rank-2 shapes)")
    if dtype == DType.FLOAT32 and weights.dtype != DType.FLOAT32:
        weights = ctx.op("Cast", [weights], {"SrcT": weights.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                         dtype=DType.FLOAT32, shape=weights.shape, label="weights_float")
    elif dtype == DType.INT64 and weights.dtype == DType.FLOAT32:  # their sums past 2^31: read as low bits later
        raise Unsupported(INT64_FROM_FLOATS.format(what=f"layer {ctx.name!r} (CategoryEncoding: dtype int64) on "
                                                        "float count_weights"))
    elif dtype != DType.FLOAT32 and weights.dtype == DType.FLOAT32:
        warn_truncation(ctx, f"layer {ctx.name!r} (CategoryEncoding: dtype int32) count_weights", weights)
        weights = float_to_int32(ctx, weights, "weights_int")
    elif dtype != DType.FLOAT32 and weights.dtype != DType.INT32:
        weights = ctx.op("Cast", [weights], {"SrcT": weights.dtype, "DstT": DType.INT32, "Truncate": False},
                         dtype=DType.INT32, shape=weights.shape, label="weights_int")
    held = weights.dtype
    match = ctx.op("Equal", [ctx.expand_dims(ids, 2, "ids_column"), ctx.ints(np.arange(depth), "classes")],
                   {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(shape[0], shape[1], depth),
                   label="match")
    zero = ctx.const(np.zeros((), held.numpy), "zero")
    picked = ctx.op("SelectV2", [match, ctx.expand_dims(weights, 2, "weights_column"), zero], {"T": held},
                    dtype=held, shape=(shape[0], shape[1], depth), label="weighted")
    if dtype == DType.INT64:
        ctx.output_keras_dtype = DType.INT64
    return ctx.op("Sum", [picked, ctx.ints([1], "ids_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                  dtype=held, shape=(shape[0], depth), label="count")


def _discretization_check(config: dict[str, Any]) -> str | None:
    if config.get("sparse"):
        return "sparse=True"
    if not config.get("bin_boundaries"):
        return "no bin_boundaries in its config"
    if config.get("output_mode", "int") not in ("int", "one_hot", "multi_hot", "count"):
        return f"output_mode={config.get('output_mode')!r}"
    return None


@lowers("Discretization", check=_discretization_check)
def discretization(ctx: LayerContext) -> Value:
    """``Bucketize``: the bucket of ``x`` is the number of boundaries ``<= x``, counted as ``n - Σ [x < b]``.

    Counting ``x < b`` (not ``x >= b``) puts NaN past every boundary, in bucket ``n``, as TF's bisect-right does.
    """
    check_call_kwargs(ctx, ())
    boundaries = np.asarray(ctx.config["bin_boundaries"], dtype=np.float64)
    if boundaries.ndim != 1 or np.any(np.diff(boundaries) < 0) or not np.all(np.isfinite(boundaries)):
        raise ctx.error("has bin_boundaries that are not a sorted list of numbers")
    x = ctx.x
    shape = ctx.shape(x)
    below = ctx.op("Less", [ctx.expand_dims(x, len(shape), "values"),
                            ctx.floats(boundaries, "bin_boundaries")],  # float32, as Bucketize's
                   dtype=DType.BOOL, shape=(*shape, len(boundaries)), label="below")
    counts = ctx.op("Cast", [below], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False},
                    dtype=DType.INT32, shape=ctx.shape(below), label="below_int")
    above = ctx.op("Sum", [counts, ctx.ints([len(shape)], "boundaries_axis")],
                   {"keep_dims": False, "Tidx": DType.INT32}, dtype=DType.INT32, shape=shape, label="boundaries_above")
    buckets = ctx.binary("Sub", ctx.ints(len(boundaries), "boundary_count"), above, label="bucket")
    mode = ctx.config.get("output_mode", "int")
    return buckets if mode == "int" else encode(ctx, buckets, mode, len(boundaries) + 1)


def _lookup_check(config: dict[str, Any]) -> str | None:
    """None when the inline lookup or the hash-table one (:mod:`.lookup_tables`) covers the config."""
    from .lookup_tables import table_lookup_gap

    if _inline_lookup_gap(config) is None:
        return None
    return table_lookup_gap(config, strings=False)


def _inline_lookup_gap(config: dict[str, Any]) -> str | None:
    for option in ("invert", "sparse", "pad_to_max_tokens"):
        if config.get(option):
            return f"{option}=True"
    if config.get("output_mode", "int") != "int":
        return f"output_mode={config.get('output_mode')!r}"
    if int(config.get("num_oov_indices", 1)) != 1:
        return f"num_oov_indices={config.get('num_oov_indices')}"
    vocabulary = config.get("vocabulary")
    if not isinstance(vocabulary, list) or not vocabulary:
        return "a vocabulary outside its config (adapted or a file)"
    tokens = lookup_tokens(config)
    if config.get("mask_token") is not None and config["mask_token"] in tokens:
        return f"mask_token={config['mask_token']!r} inside its vocabulary"
    if not tokens:
        return "no vocabulary besides its mask and OOV tokens"
    return None


def lookup_tokens(config: dict[str, Any]) -> list[Any]:
    """The vocabulary without its leading special tokens, as Keras's ``set_vocabulary`` strips them.

    ``vocabulary=other.get_vocabulary()`` starts with ``[mask_token]`` (when set) and ``[oov_token]``; Keras
    (3 and tf_keras alike, one OOV index) drops that exact prefix and numbers the rest from after the OOV
    index. An OOV token elsewhere is an ordinary token to Keras (its lookup finds it); a mask token
    elsewhere makes Keras raise, so ``_lookup_check`` refuses it.
    """
    vocabulary = list(config["vocabulary"])
    mask_token = config.get("mask_token")
    special = ([mask_token] if mask_token is not None else []) + [config.get("oov_token", -1)]
    return vocabulary[len(special):] if vocabulary[:len(special)] == special else vocabulary


@lowers("IntegerLookup", check=_lookup_check)
def integer_lookup(ctx: LayerContext) -> Value:
    """Index of each id in the vocabulary: ``Σ [id == v_i]·index_i``; unmatched ids get the OOV index.

    Indices follow Keras: the mask token (if any) is 0, the one OOV bucket next, then the vocabulary
    (without the special tokens ``get_vocabulary()`` puts first, see :func:`lookup_tokens`). Other options
    (several OOV buckets, encoded outputs, ``invert``) go through a hash table (:mod:`.lookup_tables`).
    """
    if _inline_lookup_gap(ctx.config) is not None:
        from .lookup_tables import index_lookup

        return index_lookup(ctx, strings=False)
    check_call_kwargs(ctx, ())
    config = ctx.config
    vocabulary = np.asarray(lookup_tokens(config))
    mask_token = config.get("mask_token")
    if vocabulary.ndim != 1 or vocabulary.dtype.kind not in "iu" or len(set(vocabulary.tolist())) != len(vocabulary):
        raise ctx.error("has a vocabulary that is not a list of distinct integers")
    if vocabulary.min() < INT32.min or vocabulary.max() > INT32.max:
        raise Unsupported(f"layer {ctx.name!r} (IntegerLookup): vocabulary ids outside int32 (TF.js's integers)")
    if mask_token is not None and (not isinstance(mask_token, int) or not INT32.min <= mask_token <= INT32.max):
        raise Unsupported(f"layer {ctx.name!r} (IntegerLookup): mask_token={mask_token!r}")
    ids = raw_ids(ctx)
    shape = ctx.shape(ids)
    axis = len(shape)
    masked = mask_token is not None
    oov_index = 1 if masked else 0
    first = oov_index + 1
    matches = ctx.op("Equal", [ctx.expand_dims(ids, axis, "ids_column"), ctx.ints(vocabulary, "vocabulary")],
                     {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(*shape, len(vocabulary)),
                     label="matches")
    hits = ctx.op("Cast", [matches], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False},
                  dtype=DType.INT32, shape=ctx.shape(matches), label="hits")
    positions = ctx.ints(np.arange(first, first + len(vocabulary)), "indices")
    index = ctx.op("Sum", [ctx.binary("Mul", hits, positions, label="hit_indices"), ctx.ints([axis], "vocab_axis")],
                   {"keep_dims": False, "Tidx": DType.INT32}, dtype=DType.INT32, shape=shape, label="index")
    if not masked:  # an unmatched id sums to 0, the OOV index
        return index
    found = ctx.op("Sum", [hits, ctx.ints([axis], "found_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                   dtype=DType.INT32, shape=shape, label="found")
    is_mask = ctx.op("Cast", [ctx.op("Equal", [ids, ctx.ints(mask_token, "mask_token")],
                                     {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=shape,
                                     label="is_mask")],
                     {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32, shape=shape,
                     label="is_mask_int")
    # unmatched and not the mask token: the OOV index 1 (the mask token itself stays 0)
    oov = ctx.binary("Sub", ctx.binary("Sub", ctx.ints(1, "one"), found, label="unmatched"), is_mask, label="oov")
    return ctx.binary("AddV2", index, oov, label="lookup")
