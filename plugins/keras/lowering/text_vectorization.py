"""TextVectorization: Keras's standardization, whitespace split, n-grams and StringLookup, in TF.js string ops.

Keras's layer is ``_preprocess`` (standardize, split, n-grams) followed by a StringLookup with ``mask_token=""``,
one OOV index (``[UNK]``) and the layer's vocabulary, idf weights, ``max_tokens`` and output mode; in ``int``
mode ``output_sequence_length`` trims and zero-pads the last axis. The lookup is :func:`.lookup_tables.index_lookup`
on a lookup config made from the layer's (:func:`lookup_config`), so vocabularies from the config, an archive's
assets and vocabulary files read as they are for StringLookup.

What TF.js runs exactly:
- ``strip_punctuation`` is Keras's own ``StaticRegexReplace`` (its pattern is one class of ASCII characters,
  which RE2 and a JavaScript ``RegExp`` read alike and which no byte of a multi-byte UTF-8 character matches);
  ``lower`` is TensorFlow's ``StringLower`` without an encoding, which lower-cases ASCII letters only: 26
  ``StaticRegexReplace`` (``\\x41`` -> ``a`` ...). TF.js has no wasm kernel for it, so such models convert for
  ``--target_backends`` without wasm (the backend check says so), as ``strip_punctuation`` does through TensorFlow;
- ``split=None`` on ``[batch, n]``: n-grams are ``StringNGrams`` over the rows, as ``tf.strings.ngrams`` builds
  them (no padding, short rows give none), reshaped back to ``[batch, count]``; on ``[batch]`` only the plain
  ``int`` lookup (Keras reads a rank-1 batch as one sequence for n-grams, encodings and lengths);
- ``split='whitespace'``: ``StringSplit`` (v1) at TensorFlow's six ASCII whitespace bytes, empty tokens skipped;
  n-grams are ``StringNGrams`` over each sample's tokens; the ragged rows become dense with ``ScatterNd``
  (``[sample, position]`` ids, or ``[sample, id]`` counts), tokens past ``output_sequence_length`` (and mask
  tokens in the counts) sent to one more column that is sliced off, as Keras's ``to_tensor`` drops them.

Left to TensorFlow (named by the check): ``split='character'`` (``UnicodeDecode``), n-grams of split text,
custom standardize/split functions (code), ``ragged``/``sparse`` outputs. Through TensorFlow only ``split=None``
without ``lower`` converts today, and only without wasm (Keras's ``Equal`` on strings).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext, check_call_kwargs
from .registry import Unsupported, lowers

#: Keras's ``strip_punctuation`` pattern (Keras 3 and tf_keras alike), replaced by "" everywhere.
PUNCTUATION_PATTERN = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
#: Keras's ``tf.strings.lower`` has no encoding: TensorFlow lower-cases ASCII letters only. Each is one
#: ``StaticRegexReplace`` whose pattern is a hex escape (RE2 and JavaScript read ``\x41`` alike, and TF.js's
#: lower-casing of string attrs leaves it as it is), its rewrite the lower-case letter.
LOWER_CASE = tuple((f"\\x{ord(c):02x}", c.lower()) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: The replacements of each ``standardize`` option, in Keras's order (lower first).
STANDARDIZE = {None: (), "strip_punctuation": ((PUNCTUATION_PATTERN, ""),), "lower": LOWER_CASE,
               "lower_and_strip_punctuation": (*LOWER_CASE, (PUNCTUATION_PATTERN, ""))}
OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
INT32_MAX = (1 << 31) - 1
#: More n-gram widths than this (``ngrams=k`` is ``1..k``) are refused: a hostile ``ngrams=10**12`` would have
#: the converter list a trillion widths.
MAX_NGRAM_WIDTHS = 64
#: The StringLookup Keras builds inside the layer: these options are fixed by TextVectorization.
_LOOKUP_FIXED = {"mask_token": "", "oov_token": "[UNK]", "num_oov_indices": 1, "invert": False}
#: The layer's options its StringLookup takes as they are.
_LOOKUP_COPIED = ("vocabulary", "idf_weights", "max_tokens", "pad_to_max_tokens", "output_mode", "sparse")


def lookup_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config of the StringLookup Keras builds inside a TextVectorization (extra keys, such as a vocabulary
    file's refusal, are kept)."""
    lookup = {k: v for k, v in config.items() if k not in ("standardize", "split", "ngrams", "ragged",
                                                              "output_sequence_length", "dtype")}
    lookup.update({key: config.get(key) for key in _LOOKUP_COPIED})
    lookup["output_mode"] = config.get("output_mode", "int")
    lookup.update(_LOOKUP_FIXED)
    return lookup


def ngram_widths(config: dict[str, Any]) -> tuple[int, ...] | None:
    """Keras's n-gram widths: an integer ``k`` is ``1..k``, a list is itself, None is no n-grams."""
    ngrams = config.get("ngrams")
    if ngrams is None:
        return None
    if isinstance(ngrams, int) and not isinstance(ngrams, bool):
        return tuple(range(1, ngrams + 1))
    return tuple(ngrams)


def _check(config: dict[str, Any]) -> str | None:
    standardize = config.get("standardize", "lower_and_strip_punctuation")
    if isinstance(standardize, dict):
        return "a custom standardize function"
    if not isinstance(standardize, (str, type(None))) or standardize not in STANDARDIZE:
        return f"standardize={standardize!r}"
    split = config.get("split", "whitespace")
    if split == "character":
        return "split='character' (UnicodeDecode and RaggedTensorToTensor, which TF.js lacks)"
    if isinstance(split, dict):
        return "a custom split function"
    if split is not None and split != "whitespace":
        return f"split={split!r}"
    for option in ("ragged", "sparse"):
        if config.get(option):
            return f"{option}=True"
    ngrams = config.get("ngrams")
    if ngrams is not None and not (_count(ngrams, MAX_NGRAM_WIDTHS) or (
            isinstance(ngrams, list) and 0 < len(ngrams) <= MAX_NGRAM_WIDTHS
            and all(_count(w, INT32_MAX) for w in ngrams))):
        return f"ngrams={ngrams!r}" if len(repr(ngrams)) < 80 else "ngrams it cannot read"
    mode = config.get("output_mode", "int")
    if mode not in OUTPUT_MODES:
        return f"output_mode={mode!r}"
    length = config.get("output_sequence_length")
    if length is not None and (mode != "int" or not _count(length, INT32_MAX)):
        return f"output_sequence_length={length!r} with output_mode={mode!r}"
    if str(config.get("encoding", "utf-8")).lower().replace("_", "-") not in ("utf-8", "utf8"):
        return f"encoding={config.get('encoding')!r} (TF.js strings are UTF-8)"
    from .lookup_tables import table_lookup_gap

    return table_lookup_gap(lookup_config(config), strings=True)


def _count(value: Any, most: int) -> bool:
    """Whether ``value`` is an integer in ``1..most``."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


@lowers("TextVectorization", check=_check)
def text_vectorization(ctx: LayerContext) -> Value:
    check_call_kwargs(ctx, ())
    from .lookup_tables import index_lookup

    x = ctx.x
    if x.dtype != DType.STRING:
        raise Unsupported(f"layer {ctx.name!r} (TextVectorization) on a {x.dtype.name.lower()} input "
                          "(it takes strings)")
    shape = ctx.shape(x)
    config = ctx.config
    if config.get("split", "whitespace") == "whitespace":
        return _split_lowering(ctx, x, shape)
    plain = config.get("output_mode", "int") == "int" and config.get("ngrams") is None and \
        config.get("output_sequence_length") is None
    if len(shape) == 1 and not plain:
        raise Unsupported(f"layer {ctx.name!r} (TextVectorization) with n-grams, output_sequence_length or an "
                          "encoded output on a rank-1 input (Keras reads the whole batch as one sequence)")
    if len(shape) not in (1, 2) or len(shape) == 2 and shape[1] is None:
        raise Unsupported(f"layer {ctx.name!r} (TextVectorization) with split=None on an input of shape "
                          f"{list(shape)} (the lowering takes [batch] or [batch, tokens] with a known token count)")
    tokens = _standardized(ctx, x)
    widths = ngram_widths(config)
    if widths is not None:
        tokens = _ngrams(ctx, tokens, int(shape[1]), widths)
    lookup = copy.copy(ctx)
    lookup.config, lookup.inputs = lookup_config(config), [tokens]
    ids = index_lookup(lookup, strings=True)
    length = config.get("output_sequence_length")
    if config.get("output_mode", "int") != "int" or length is None:
        return ids
    return _to_length(ctx, ids, int(length))


def _standardized(ctx: LayerContext, x: Value) -> Value:
    """The layer's ``standardize``: one ``StaticRegexReplace`` per replacement (global, as Keras's)."""
    for number, (pattern, rewrite) in enumerate(STANDARDIZE[ctx.config.get("standardize",
                                                                           "lower_and_strip_punctuation")]):
        x = ctx.op("StaticRegexReplace", [x], {"pattern": pattern, "rewrite": rewrite, "replace_global": True},
                   dtype=DType.STRING, shape=x.shape, label="strip_punctuation" if not rewrite else f"lower_{number}")
    return x


def _ngrams(ctx: LayerContext, tokens: Value, n: int, widths: tuple[int, ...]) -> Value:
    """``tf.strings.ngrams`` of each row of ``[batch, n]`` tokens: ``StringNGrams`` over the flattened rows (row
    splits ``0, n, 2n, ...``), then ``[batch, count]`` with every row's n-grams, widths in Keras's order."""
    count = sum(max(0, n - w + 1) for w in widths)
    if count == 0:
        raise Unsupported(f"layer {ctx.name!r} (TextVectorization): ngrams={list(widths)} on {n} token(s) a row "
                          "(no n-gram at all)")
    flat = ctx.reshape(tokens, [None], "flat_tokens")
    shape = ctx.op("Shape", [tokens], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(2,), label="tokens_shape")
    batch = ctx.op("StridedSlice", [shape, ctx.ints([0], "batch_begin"), ctx.ints([1], "batch_end"),
                                    ctx.ints([1], "batch_strides")],
                   {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 1}, dtype=DType.INT32, shape=(), label="batch")
    last = ctx.binary("AddV2", ctx.binary("Mul", batch, ctx.ints(n, "row_length"), label="token_count"),
                      ctx.ints(1, "one"), label="splits_end")
    splits = ctx.op("Range", [ctx.ints(0, "zero"), last, ctx.ints(n, "row_step")], {"Tidx": DType.INT32},
                    dtype=DType.INT32, shape=(None,), label="row_splits")
    node = ctx.graph.add_node("StringNGrams", [flat, splits],
                              {"separator": " ", "ngram_widths": list(widths), "left_pad": "", "right_pad": "",
                               "pad_width": 0, "preserve_short_sequences": False, "Tsplits": DType.INT32},
                              name=f"{ctx.name}/ngrams", num_outputs=2)
    grams = node.output(0)
    grams.dtype, grams.shape = DType.STRING, (None,)
    node.output(1).dtype, node.output(1).shape = DType.INT32, (None,)
    return ctx.reshape(grams, [None, count], "ngram_rows")


def _to_length(ctx: LayerContext, ids: Value, length: int) -> Value:
    """Keras's ``output_sequence_length``: the first ``length`` ids of each row, zero-padded at the end."""
    width = ctx.shape(ids)[1]
    if width > length:
        return ctx.op("StridedSlice", [ids, ctx.ints([0, 0], "trim_begin"), ctx.ints([0, length], "trim_end"),
                                       ctx.ints([1, 1], "trim_strides")],
                      {"Index": DType.INT32, "begin_mask": 1, "end_mask": 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                       "shrink_axis_mask": 0}, shape=(ctx.shape(ids)[0], length), label="trimmed")
    if width < length:
        return ctx.op("Pad", [ids, ctx.ints([[0, 0], [0, length - width]], "paddings")], {"Tpaddings": DType.INT32},
                      shape=(ctx.shape(ids)[0], length), label="padded")
    return ids


# -- split='whitespace' ----------------------------------------------------------------------------------------
#: The bytes TensorFlow's whitespace split (``StringSplitV2`` with no separator, C ``isspace``) splits at: ASCII
#: only, so splitting UTF-8 bytes at them (TF.js's ``StringSplit``) never cuts a character.
WHITESPACE = b" \t\n\x0b\x0c\r"


def _split_lowering(ctx: LayerContext, x: Value, shape: tuple[int | None, ...]) -> Value:
    """``split='whitespace'``: each sample's tokens (``StringSplit`` at :data:`WHITESPACE`, empty tokens skipped,
    as ``tf.strings.split`` does), their n-grams, looked up, then the ragged rows made dense by ``ScatterNd``."""
    if len(shape) == 2 and shape[1] == 1:
        x = ctx.squeeze(x, 1, "squeezed")
    elif len(shape) != 1:
        raise Unsupported(f"layer {ctx.name!r} (TextVectorization) with split='whitespace' on an input of shape "
                          f"{list(shape)} (Keras splits [batch] or [batch, 1])")
    config = ctx.config
    x = _standardized(ctx, x)
    delimiters = ctx.graph.const(np.asarray(WHITESPACE, dtype=object), name=f"{ctx.name}/whitespace",
                                 dtype=DType.STRING)
    node = ctx.graph.add_node("StringSplit", [x, delimiters], {"skip_empty": True}, name=f"{ctx.name}/split",
                              num_outputs=3)
    indices, tokens, dense_shape = node.outputs
    indices.dtype, indices.shape = DType.INT32, (None, 2)
    tokens.dtype, tokens.shape = DType.STRING, (None,)
    dense_shape.dtype, dense_shape.shape = DType.INT32, (2,)
    rows, columns = _column(ctx, indices, 0, "rows"), _column(ctx, indices, 1, "columns")
    batch = _column(ctx, dense_shape, 0, "batch")
    longest = None  # the most tokens in a sample, where it is not dense_shape[1]
    widths = ngram_widths(config)
    if widths is not None:
        tokens, rows, columns, longest = _split_ngrams(ctx, tokens, rows, batch, widths)
    # one more token, at a column of the first sample that is sliced off: TF.js's table lookup fails on no keys
    # and a batch without a token would give none
    tokens, rows = (_and_one(ctx, v, extra, label) for v, extra, label in (
        (tokens, ctx.graph.const(np.asarray([b""], dtype=object), name=f"{ctx.name}/extra", dtype=DType.STRING),
         "tokens_and_one"), (rows, ctx.ints([0], "first_row"), "rows_and_one")))
    lookup = copy.copy(ctx)
    lookup.config, lookup.inputs = lookup_config(config), [tokens]
    from .lookup_tables import encoded_output, index_lookup, lookup_spec

    spec = lookup_spec(lookup.config)
    ids = index_lookup(lookup, strings=True, encoded=False)
    if spec.mode == "int":  # ids at [sample, position]; positions past the length go to one more column
        length = config.get("output_sequence_length")
        width = ctx.ints(int(length), "length") if length is not None else \
            longest if longest is not None else _column(ctx, dense_shape, 1, "longest")
        columns = _and_one(ctx, ctx.binary("Minimum", columns, width, label="kept_columns"),
                           ctx.expand_dims(width, 0, "extra_column"), "columns_and_one")
        dense = _scattered(ctx, rows, columns, ids, batch, ctx.binary("AddV2", width, ctx.ints(1, "one_column"),
                                                                      label="width_and_one"), "dense")
        return _first_columns(ctx, dense, width, None if length is None else int(length), "dense_ids")
    # counts at [sample, id]; the mask token (and the extra token) go to one more column, and so do ids past
    # ``max_tokens`` (a tf_keras vocabulary file longer than ``max_tokens`` with ``pad_to_max_tokens``: Keras's
    # bincount drops them, ScatterNd would write outside its rows)
    depth = ctx.ints(spec.depth, "depth")
    classes = ctx.op("SelectV2", [ctx.op("Less", [ids, ctx.ints(0, "zero_id")], dtype=DType.BOOL, shape=(None,),
                                         label="masked"), depth,
                                  ctx.binary("Minimum", ids, depth, label="ids_in_depth")], {"T": DType.INT32},
                     dtype=DType.INT32, shape=(None,), label="classes")
    ones = ctx.op("OnesLike", [_to(ctx, ids, DType.FLOAT32, "ids_float")], dtype=DType.FLOAT32, shape=(None,),
                  label="ones")
    counts = _scattered(ctx, rows, classes, ones, batch, ctx.ints(spec.depth + 1, "depth_and_one"), "scattered")
    counts = _first_columns(ctx, counts, depth, spec.depth, "counts")
    if spec.mode == "multi_hot":
        counts = ctx.binary("Minimum", counts, ctx.floats(1.0, "one_float"), label="multi_hot")
    return encoded_output(lookup, counts, spec)


def _scattered(ctx: LayerContext, rows: Value, columns: Value, values: Value, batch: Value, width: Value,
               label: str) -> Value:
    """``[batch, width]`` zeros plus each value at its ``[row, column]`` (``ScatterNd`` sums repeats)."""
    indices = ctx.op("Pack", [rows, columns], {"N": 2, "axis": 1}, dtype=DType.INT32, shape=(None, 2),
                     label=f"{label}_indices")
    shape = ctx.op("Pack", [batch, width], {"N": 2, "axis": 0}, dtype=DType.INT32, shape=(2,), label=f"{label}_shape")
    return ctx.op("ScatterNd", [indices, values, shape], {"T": values.dtype, "Tindices": DType.INT32},
                  dtype=values.dtype, shape=(None, None), label=label)


def _first_columns(ctx: LayerContext, x: Value, count: Value, static: int | None, label: str) -> Value:
    """``x[:, :count]``."""
    end = ctx.op("Pack", [ctx.ints(0, f"{label}_all_rows"), count], {"N": 2, "axis": 0}, dtype=DType.INT32,
                 shape=(2,), label=f"{label}_end")
    return ctx.op("StridedSlice", [x, ctx.ints([0, 0], f"{label}_begin"), end, ctx.ints([1, 1], f"{label}_strides")],
                  {"Index": DType.INT32, "begin_mask": 3, "end_mask": 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=x.dtype, shape=(None, static), label=label)


def _column(ctx: LayerContext, matrix: Value, index: int, label: str) -> Value:
    """``matrix[:, index]`` of an ``[n, k]`` matrix, or ``vector[index]`` of a vector."""
    if len(ctx.shape(matrix)) == 1:
        return ctx.op("StridedSlice", [matrix, ctx.ints([index], f"{label}_begin"),
                                       ctx.ints([index + 1], f"{label}_end"), ctx.ints([1], f"{label}_strides")],
                      {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                       "shrink_axis_mask": 1}, shape=(), label=label)
    return ctx.op("StridedSlice", [matrix, ctx.ints([0, index], f"{label}_begin"),
                                   ctx.ints([0, index + 1], f"{label}_end"), ctx.ints([1, 1], f"{label}_strides")],
                  {"Index": DType.INT32, "begin_mask": 1, "end_mask": 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 2}, shape=(ctx.shape(matrix)[0],), label=label)


def _to(ctx: LayerContext, x: Value, dtype: DType, label: str) -> Value:
    return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape,
                  label=label)


def _split_ngrams(ctx: LayerContext, tokens: Value, rows: Value, batch: Value,
                  widths: tuple[int, ...]) -> tuple[Value, Value, Value, Value]:
    """The n-grams of each sample's tokens as ``tf.strings.ngrams`` builds them from ragged rows: ``StringNGrams``
    over the samples' row splits (``splits[r]``: the tokens of the samples before ``r``); then each n-gram's
    sample (how many rows end at or before it) and position in it, and the most n-grams in a sample. Counted
    with ``ScatterNd`` and ``Cumsum``, linear in the tokens (a ``[tokens, batch]`` comparison is not)."""
    def occurrences(indices: Value, size: Value, label: str) -> Value:  # [Σ indices == i for i in range(size)]
        ones = ctx.op("OnesLike", [indices], dtype=DType.INT32, shape=(None,), label=f"{label}_ones")
        return ctx.op("ScatterNd", [ctx.expand_dims(indices, 1, f"{label}_indices"), ones,
                                    ctx.expand_dims(size, 0, f"{label}_size")],
                      {"T": DType.INT32, "Tindices": DType.INT32}, dtype=DType.INT32, shape=(None,), label=label)

    def cumsum(x: Value, exclusive: bool, label: str) -> Value:
        return ctx.op("Cumsum", [x, ctx.ints(0, f"{label}_axis")], {"exclusive": exclusive, "reverse": False,
                                                                     "T": DType.INT32, "Tidx": DType.INT32},
                      dtype=DType.INT32, shape=(None,), label=label)

    samples = ctx.binary("AddV2", batch, ctx.ints(1, "one_more"), label="bound_count")
    # one more row number, ``batch``, counted after every sample: never an empty scatter (wasm's is garbage)
    rows = _and_one(ctx, rows, ctx.expand_dims(batch, 0, "batch_vector"), "split_rows_and_one")
    splits = cumsum(occurrences(rows, samples, "row_lengths"), True, "row_splits")
    node = ctx.graph.add_node("StringNGrams", [tokens, splits],
                              {"separator": " ", "ngram_widths": list(widths), "left_pad": "", "right_pad": "",
                               "pad_width": 0, "preserve_short_sequences": False, "Tsplits": DType.INT32},
                              name=f"{ctx.name}/ngrams", num_outputs=2)
    grams, gram_splits = node.outputs
    grams.dtype, grams.shape = DType.STRING, (None,)
    gram_splits.dtype, gram_splits.shape = DType.INT32, (None,)
    starts, ends = _part(ctx, gram_splits, 0, -1, "gram_starts"), _part(ctx, gram_splits, 1, None, "gram_ends")
    total = _column(ctx, ctx.op("Shape", [grams], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(1,),
                                label="gram_count"), 0, "grams")
    positions = _range(ctx, total, "gram_positions")
    # a sample ends at ends[r] <= total: the rows ended at or before each position, its sample
    ended = occurrences(ends, ctx.binary("AddV2", total, ctx.ints(1, "one_past"), label="gram_slots"), "row_ends")
    gram_rows = ctx.op("GatherV2", [cumsum(ended, False, "rows_ended"), positions, ctx.ints(0, "rows_axis")],
                       {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                       dtype=DType.INT32, shape=(None,), label="gram_rows")
    gram_columns = ctx.binary("Sub", positions, ctx.op("GatherV2", [starts, gram_rows, ctx.ints(0, "gather_axis")],
                                                        {"Tparams": DType.INT32, "Tindices": DType.INT32,
                                                         "Taxis": DType.INT32, "batch_dims": 0},
                                                        dtype=DType.INT32, shape=(None,), label="row_starts"),
                              label="gram_columns")
    lengths = ctx.op("ConcatV2", [ctx.binary("Sub", ends, starts, label="gram_lengths"), ctx.ints([0], "no_gram"),
                                  ctx.ints(0, "lengths_axis")], {"N": 2, "Tidx": DType.INT32}, dtype=DType.INT32,
                     shape=(None,), label="lengths_or_zero")
    longest = ctx.op("Max", [lengths, ctx.ints([0], "longest_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                     dtype=DType.INT32, shape=(), label="longest")
    return grams, gram_rows, gram_columns, longest


def _range(ctx: LayerContext, limit: Value, label: str) -> Value:
    return ctx.op("Range", [ctx.ints(0, f"{label}_start"), limit, ctx.ints(1, f"{label}_delta")],
                  {"Tidx": DType.INT32}, dtype=DType.INT32, shape=(None,), label=label)


def _part(ctx: LayerContext, vector: Value, begin: int, end: int | None, label: str) -> Value:
    """``vector[begin:end]``."""
    return ctx.op("StridedSlice", [vector, ctx.ints([begin], f"{label}_begin"), ctx.ints([end or 0], f"{label}_end"),
                                   ctx.ints([1], f"{label}_strides")],
                  {"Index": DType.INT32, "begin_mask": 0, "end_mask": 1 if end is None else 0, "ellipsis_mask": 0,
                   "new_axis_mask": 0, "shrink_axis_mask": 0}, dtype=DType.INT32, shape=(None,), label=label)


def _and_one(ctx: LayerContext, vector: Value, one: Value, label: str) -> Value:
    """``vector`` with the one-element ``one`` after it."""
    return ctx.op("ConcatV2", [vector, one, ctx.ints(0, f"{label}_axis")], {"N": 2, "Tidx": DType.INT32},
                  dtype=vector.dtype, shape=(None,), label=label)
