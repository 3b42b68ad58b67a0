"""StringLookup, Hashing, and the IntegerLookup options the inline lookup does not cover, through hash tables.

TF.js runs ``LookupTableFindV2`` on every backend (tables live in the executor, filled at load time by the
``modelInitializer`` graph: :func:`tfjsconv.plugins.savedmodel.tables.bind_table`), so a vocabulary becomes
a table ``token -> index`` with the OOV index as its default, as Keras's ``StaticHashTable`` does. The mask
token is one more entry of that table (Keras raises when it is inside a vocabulary list; a vocabulary file's
mask-token line keeps its number and its entry gets the mask value), which replaces
Keras's ``where(x == mask_token)``: TF.js's wasm ``Equal`` is wrong on strings. Several OOV buckets hash
strings with ``StringToHashBucketFast`` (FarmHash64, a TF.js kernel on cpu, wasm and webgl) and integers
with ``FloorMod``, as Keras does. ``invert=True`` is the reverse table ``index -> token``.

Hashing: strings hashed by ``StringToHashBucketFast``; its ``mask_value`` is found through a one-entry
table. Left to TensorFlow (named by the checks): a salt (``StringToHashBucketStrong``, SipHash, has no
TF.js kernel), integer or float inputs (Keras hashes their decimal text, ``AsString``, which TF.js lacks),
``oov_method='farmhash'`` on integers (the same), vocabulary files it cannot read exactly (the
reason from :func:`..vocabulary_files.file_vocabulary_gap`), sparse outputs.

Deviation, as in :mod:`.lookups`: with ``num_oov_indices=0`` Keras raises on an unknown token; the model
cannot raise, so the token gets -1 (and counts for nothing in the encoded modes).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from ..configs import dtype_name
from .context import LayerContext, check_call_kwargs
from .lookups import INT32, encode, raw_ids
from .registry import Unsupported, lowers

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
#: The widest encoding lowered (its classes are a constant: a hostile ``max_tokens`` must not allocate gigabytes).
MAX_ENCODED_DEPTH = 1 << 24
#: The value a mask token gets in the encoded modes: outside ``[0, depth)`` so it counts for nothing (Keras
#: uses int64's max), and not -1, which marks an OOV token to hash.
ENCODED_MASK = -2


# -- checks (config only) ------------------------------------------------------------------------------------
def table_lookup_gap(config: dict[str, Any], *, strings: bool) -> str | None:
    """Why a StringLookup / IntegerLookup config cannot be lowered through a table, or None."""
    if config.get("sparse"):
        return "sparse=True"
    mode = config.get("output_mode", "int")
    if mode not in OUTPUT_MODES:
        return f"output_mode={mode!r}"
    if config.get("invert") and mode != "int":
        return f"invert=True with output_mode={mode!r}"
    vocabulary = config.get("vocabulary")
    if isinstance(vocabulary, str):  # a path: read (or not) by ..vocabulary_files before the lowering
        from ..vocabulary_files import file_vocabulary_gap

        return file_vocabulary_gap(config)
    if not isinstance(vocabulary, list) or not vocabulary:
        return "a vocabulary outside its config (adapted or a file)"
    if any(not isinstance(t, str if strings else int) or isinstance(t, bool) for t in vocabulary):
        return "a vocabulary that is not a list of " + ("strings" if strings else "integers")
    oov = config.get("num_oov_indices", 1)
    if not isinstance(oov, int) or oov < 0:
        return f"num_oov_indices={oov!r}"
    if oov > 1 and not strings and config.get("oov_method", "floormod") != "floormod":
        return f"oov_method={config.get('oov_method')!r} on integers (AsString)"
    if oov > 1 and config.get("salt") is not None:
        return "a salt (StringToHashBucketStrong)"
    if mode != "int" and config.get("pad_to_max_tokens") and not isinstance(config.get("max_tokens"), int):
        return "pad_to_max_tokens without max_tokens"
    if mode != "int" and config.get("pad_to_max_tokens") and not 0 < config["max_tokens"] <= MAX_ENCODED_DEPTH:
        return f"pad_to_max_tokens with max_tokens={config['max_tokens']!r} (the lowering encodes at most " \
               f"{MAX_ENCODED_DEPTH} classes)"
    spec = _Spec(config)
    if config.get("mask_token") is not None and config["mask_token"] in spec.tokens and not _from_file(config):
        return f"mask_token={config['mask_token']!r} inside its vocabulary"  # Keras raises on such a list
    if config.get("invert") and config.get("oov_token") in spec.tokens:
        return f"oov_token={config.get('oov_token')!r} inside its vocabulary"
    if len(set(spec.tokens)) != len(spec.tokens):
        return "a vocabulary with repeated tokens"
    if not spec.tokens:
        return "no vocabulary besides its mask and OOV tokens"
    return None


def _from_file(config: dict[str, Any]) -> bool:
    from ..vocabulary_files import FILE_READ_KEY, ReadFromFile

    return config.get(FILE_READ_KEY) is ReadFromFile


def _hashing_check(config: dict[str, Any]) -> str | None:
    if config.get("sparse"):
        return "sparse=True"
    if config.get("output_mode", "int") not in ("int", "one_hot", "multi_hot", "count"):
        return f"output_mode={config.get('output_mode')!r}"
    if config.get("salt") is not None:
        return "a salt (StringToHashBucketStrong, which TF.js lacks)"
    bins = config.get("num_bins")
    if not isinstance(bins, int) or bins < 1:
        return f"num_bins={bins!r}"
    if config.get("mask_value") is not None and not isinstance(config["mask_value"], str):
        return f"mask_value={config['mask_value']!r} (integer inputs are hashed through AsString, which TF.js lacks)"
    return None


def _string_lookup_check(config: dict[str, Any]) -> str | None:
    return table_lookup_gap(config, strings=True)


# -- the lookup -----------------------------------------------------------------------------------------------
class _Spec:
    """Keras's index layout for one lookup config: where the mask, the OOV buckets and the tokens go."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.mode = config.get("output_mode", "int")
        self.invert = bool(config.get("invert"))
        self.mask_token = config.get("mask_token")
        self.oov_token = config.get("oov_token", -1)
        self.num_oov = int(config.get("num_oov_indices", 1))
        self.oov_start = 1 if self.mask_token is not None and self.mode == "int" else 0
        self.token_start = self.oov_start + self.num_oov
        vocabulary = list(config["vocabulary"])
        special = [self.mask_token] * self.oov_start + [self.oov_token] * self.num_oov
        # Keras's set_vocabulary drops exactly this prefix (get_vocabulary() lists it)
        self.found_special = vocabulary[:len(special)] == special
        self.tokens = vocabulary[len(special):] if self.found_special else vocabulary
        self.max_tokens = config.get("max_tokens") if config.get("pad_to_max_tokens") else None
        self.idf = config.get("idf_weights")
        if self.mode != "int" and config.get("pad_to_max_tokens"):
            self.depth = int(config["max_tokens"])
        else:
            self.depth = self.token_start + len(self.tokens)


def table(ctx: LayerContext, keys: np.ndarray, values: np.ndarray, key_dtype: DType, value_dtype: DType,
          label: str) -> Value:
    """The handle of a table ``keys -> values`` built at load time; a shared layer's calls share one table."""
    from tfjsconv.plugins.savedmodel.api import bind_table

    cache = (f"table:{label}", 0)
    if cache not in ctx.weight_consts:
        graph = ctx.graph
        handle = graph.placeholder(f"{ctx.name}/{label}", DType.RESOURCE, ())
        used = [*graph.resource_ids.values(), *(graph.initializer.resource_ids.values() if graph.initializer else ())]
        bind_table(graph, handle.producer, keys, values, key_dtype, value_dtype, max(used, default=-1) + 1)
        ctx.weight_consts[cache] = handle
    return ctx.weight_consts[cache]


def find(ctx: LayerContext, handle: Value, keys: Value, default: Any, value_dtype: DType, label: str) -> Value:
    """``table[keys]``, ``default`` where a key is missing."""
    if value_dtype == DType.STRING:
        default_value = ctx.graph.const(np.asarray(str(default).encode("utf-8"), dtype=object),
                                        name=f"{ctx.name}/{label}_default", dtype=DType.STRING)
    else:
        default_value = ctx.ints(default, f"{label}_default")
    return ctx.op("LookupTableFindV2", [handle, keys, default_value], {"Tin": keys.dtype, "Tout": value_dtype},
                  dtype=value_dtype, shape=keys.shape, label=label)


def _strings(values: list[str]) -> np.ndarray:
    return np.asarray([v.encode("utf-8") for v in values], dtype=object)


def _check_ints(ctx: LayerContext, values: list[int], what: str) -> None:
    if values and (min(values) < INT32.min or max(values) > INT32.max):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): {what} outside int32 (TF.js's integers)")


def index_lookup(ctx: LayerContext, *, strings: bool, encoded: bool = True) -> Value:
    """StringLookup (``strings``) or IntegerLookup through a table, as Keras's ``IndexLookup`` computes it
    (``encoded=False``: the ids in the encoded modes' layout, before :func:`encode`)."""
    check_call_kwargs(ctx, ())
    spec = _Spec(ctx.config)
    key_dtype = DType.STRING if strings else DType.INT32
    if spec.invert:
        return _inverse(ctx, spec, list(range(spec.token_start, spec.token_start + len(spec.tokens))), key_dtype)
    x = ctx.x if strings else raw_ids(ctx)
    if strings and x.dtype != DType.STRING:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a {x.dtype.name.lower()} input (it takes strings)")
    if not strings:
        _check_ints(ctx, spec.tokens, "vocabulary ids")
        if spec.mask_token is not None:
            _check_ints(ctx, [spec.mask_token], "mask_token")
    keys, values = list(spec.tokens), list(range(spec.token_start, spec.token_start + len(spec.tokens)))
    if spec.mask_token is not None:  # Keras: where(x == mask_token, mask value, lookup)
        mask_value = 0 if spec.mode == "int" else ENCODED_MASK
        if spec.mask_token in keys:  # a vocabulary file's line: its number stays taken, the token is masked
            values[keys.index(spec.mask_token)] = mask_value
        else:
            keys.append(spec.mask_token)
            values.append(mask_value)
    handle = table(ctx, _strings(keys) if strings else np.asarray(keys, np.int32), np.asarray(values, np.int32),
                   key_dtype, DType.INT32, "table")
    default = spec.oov_start if spec.num_oov == 1 else -1
    ids = find(ctx, handle, x, default, DType.INT32, "lookup")
    if spec.num_oov > 1:
        ids = _oov_buckets(ctx, x, ids, spec, strings)
    if spec.mode == "int" or not encoded:
        return ids
    return _encoded(ctx, ids, spec)


def _inverse(ctx: LayerContext, spec: _Spec, indices: list[int], token_dtype: DType) -> Value:
    """``invert=True``: index -> token, the OOV token for the rest, the mask token for index 0 when set."""
    keys, values = list(indices), list(spec.tokens)
    if spec.mask_token is not None:
        keys.append(0)
        values.append(spec.mask_token)
    ids = raw_ids(ctx)
    strings = token_dtype == DType.STRING
    if not strings:
        _check_ints(ctx, [*values, spec.oov_token], "tokens")
    handle = table(ctx, np.asarray(keys, np.int32), _strings(values) if strings else np.asarray(values, np.int32),
                   DType.INT32, token_dtype, "inverse_table")
    return find(ctx, handle, ids, spec.oov_token, token_dtype, "inverse_lookup")


def _oov_buckets(ctx: LayerContext, x: Value, ids: Value, spec: _Spec, strings: bool) -> Value:
    """Several OOV buckets: an unknown token (-1) goes to ``oov_start + hash(token) % num_oov``."""
    shape = ctx.shape(x)
    if strings:
        bucket = ctx.op("StringToHashBucketFast", [x], {"num_buckets": spec.num_oov}, dtype=DType.INT32,
                        shape=shape, label="oov_hash")
    else:
        bucket = ctx.op("FloorMod", [x, ctx.ints(spec.num_oov, "num_oov")], dtype=DType.INT32, shape=shape,
                        label="oov_floormod")
    if spec.oov_start:
        bucket = ctx.binary("AddV2", bucket, ctx.ints(spec.oov_start, "oov_start"), label="oov_index")
    unknown = ctx.op("Equal", [ids, ctx.ints(-1, "unknown")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                     shape=shape, label="is_oov")
    return ctx.op("SelectV2", [unknown, bucket, ids], {"T": DType.INT32}, dtype=DType.INT32, shape=shape,
                  label="with_oov")


def lookup_spec(config: dict[str, Any]) -> _Spec:
    """Keras's index layout (mask, OOV buckets, tokens, encoding depth) for a lookup config."""
    return _Spec(config)


def _encoded(ctx: LayerContext, ids: Value, spec: _Spec) -> Value:
    """one_hot / multi_hot / count (tf_idf: count times the layer's ``idf_weights``) in Keras's output dtype."""
    return encoded_output(ctx, encode(ctx, ids, "count" if spec.mode == "tf_idf" else spec.mode, spec.depth), spec)


def encoded_output(ctx: LayerContext, out: Value, spec: _Spec) -> Value:
    """The float32 one_hot / multi_hot / count of the ids (count for tf_idf) as Keras outputs it: tf_idf times
    the layer's ``idf_weights``, the others in Keras's output dtype."""
    mode = spec.mode
    if mode == "tf_idf":
        idf = materialize(ctx.weights[0]).astype(np.float32) if ctx.weights else _padded_idf(ctx, spec)
        ctx.check_shape(idf, [spec.depth], "idf_weights")
        return ctx.binary("Mul", out, ctx.weight(idf, "idf_weights"), label="tf_idf")
    return as_output_dtype(ctx, out, "int64" if ctx.keras3 and ctx.class_name != "Hashing" else None)


def _padded_idf(ctx: LayerContext, spec: _Spec) -> np.ndarray:
    """The idf weights of the config padded as Keras's ``set_vocabulary`` pads them (files without the weight:
    a Keras 3 ``.h5`` does not save it): the OOV (and mask) slots get the average unless the vocabulary listed
    its special tokens, slots up to ``max_tokens`` get 0."""
    if not isinstance(spec.idf, list) or not spec.idf:
        raise ctx.error("has output_mode='tf_idf' but no idf_weights")
    idf = np.asarray(spec.idf, dtype=np.float64)
    front = 0 if spec.found_special else spec.token_start
    back = int(spec.max_tokens) - front - len(idf) if spec.max_tokens is not None else 0
    if idf.ndim != 1 or back < 0:
        raise ctx.error("has idf_weights that do not fit its vocabulary")
    return np.pad(idf, (front, back), "constant", constant_values=(float(np.average(idf)), 0.0)).astype(np.float32)


def as_output_dtype(ctx: LayerContext, encoded: Value, dtype: str | None = None) -> Value:
    """The float32 encoding cast to int32 when Keras outputs integers (its ``dtype``, or ``dtype`` given)."""
    name = dtype or dtype_name(ctx.config.get("dtype"))
    if name is None or not name.startswith(("int", "uint")):
        return encoded
    return ctx.exact_cast(encoded, DType.INT32, "as_int")  # ids, counts: whole numbers below 2^24


@lowers("StringLookup", check=_string_lookup_check)
def string_lookup(ctx: LayerContext) -> Value:
    return index_lookup(ctx, strings=True)


@lowers("Hashing", check=_hashing_check)
def hashing(ctx: LayerContext) -> Value:
    """``StringToHashBucketFast`` into ``num_bins`` (``num_bins - 1`` shifted by one past a mask value, which
    goes to bin 0)."""
    check_call_kwargs(ctx, ())
    x = ctx.x
    if x.dtype != DType.STRING:
        raise Unsupported(f"layer {ctx.name!r} (Hashing) on a {x.dtype.name.lower()} input (Keras hashes its "
                          "decimal text through AsString, which TF.js lacks)")
    config = ctx.config
    bins = int(config["num_bins"])
    mode = config.get("output_mode", "int")
    shape = ctx.shape(x)
    if mode == "one_hot" and len(shape) > 1 and shape[-1] == 1:
        x = ctx.squeeze(x, len(shape) - 1, "squeezed")
        shape = shape[:-1]
    mask_value = config.get("mask_value")
    masked = mask_value is not None and bins > 1
    hashed = ctx.op("StringToHashBucketFast", [x], {"num_buckets": bins - 1 if masked else bins}, dtype=DType.INT32,
                    shape=shape, label="hash")
    if masked:  # (hash + 1) · [x != mask_value], the test read from a one-entry table
        handle = table(ctx, _strings([mask_value]), np.asarray([0], np.int32), DType.STRING, DType.INT32,
                       "mask_table")
        keep = find(ctx, handle, x, 1, DType.INT32, "not_mask")
        hashed = ctx.binary("Mul", ctx.binary("AddV2", hashed, ctx.ints(1, "one"), label="shifted"), keep,
                            label="masked")
    if mode == "int":
        return hashed
    return as_output_dtype(ctx, encode(ctx, hashed, mode, bins))
