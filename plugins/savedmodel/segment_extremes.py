"""``SegmentMax``/``Min`` and ``UnsortedSegmentMax``/``Min`` (TF.js has none of them) as masked reductions, exactly
TF's (a rule of :mod:`.op_rewrites`).

TF folds each segment's rows in index order, ``dest = v < dest ? dest : v`` for max (``dest < v ? dest : v`` for
min), from ``-Inf`` (sorted: the same as from the first row) or ``lowest()`` (unsorted; ``highest()`` for min): a
later row wins every tie and every NaN, so (measured, TF 2.x cpu) a NaN is the result only when it is the segment's
last row, a NaN earlier is forgotten by the next row, and ``-0``/``+0`` is the sign of the last zero among the rows
after the last NaN. An unsorted fold that starts from ``lowest()`` keeps it over ``-Inf`` rows (but not after a NaN,
which the next row replaces). Empty segments: sorted 0, unsorted ``lowest()``/``highest()`` (set after the
reduction: webgl's reduce starts from ∓1e20). TF's sorted kernel on x86-64 wheels differs in the first
``8 * floor(columns / 8)`` columns of a segment of 2+ rows (Eigen packets, :func:`packet_extreme`), reproduced too.

Built on ``[segments, rows + 1, columns]`` masks (the extra row has id -1, so no reduction is over an empty axis):
each segment's last row, last NaN, and last zero and last -0 after it are ``Max`` of row positions; the extreme of
the rows after the last NaN is a ``Max``/``Min`` where the others are filled with ``∓Inf`` (unsorted, no NaN:
``lowest``/``highest``); then the zero's sign, the NaN and the empty segments are set. Memory: segments × rows ×
columns. Sorted ids are checked (and the segment count taken) by TF.js's ``SparseSegmentSum``, which throws where TF
raises (unsorted or negative ids); an unsorted id ``>= num_segments`` (TF raises) fails the run through a checked
``GatherV2``. float32, int32 and float16 (through float32); ranks must be known.
"""
from __future__ import annotations

import logging

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import OpProblemsError
from tfjsconv.ir import Graph, Node, Value

log = logging.getLogger(__name__)

#: Mask elements (segments × (rows + 1) × columns) from which a conversion is refused: a typed array holds at most
#: 2^31 - 1 elements, and 6.4e10 (1e4 × 1e5 × 64) gave no answer in 600 s on TF.js cpu (session 33, h6's probe).
MASK_ELEMENT_LIMIT = 2**31
#: Known mask elements from which the conversion warns by name about the cost (a tenth of it per segment where the
#: segment count is unknown; other run-time sizes are listed in one notice):
#: 1.4e7 take ~25 s per op on TF.js cpu (review r6 of session 32: 300 × 3000 × 16, 6 ops, 151 s), TF well under 1 s.
MASK_ELEMENT_WARNING = 10**7

#: A first position where there is none: past every row position, and a power of two, so webgl's float32 textures
#: hold it exactly (INT32_MAX would make the conversion name "int32 constants (webgl)" for the rewrite's own constant).
FIRST_POSITION_NONE = 2**30

_I32 = DType.INT32
_F32 = DType.FLOAT32
_F16 = DType.FLOAT16


class Builder:
    """Adds the rewrite's nodes under the rewritten node's name."""

    def __init__(self, graph: Graph, name: str) -> None:
        self.graph, self.name = graph, name

    def op(self, op: str, inputs: list[Value], attrs: dict, label: str, dtype: DType, shape: tuple | None = None
           ) -> Value:
        return self.graph.add_op(op, inputs, attrs, name=f"{self.name}/{label}", dtype=dtype, shape=shape)

    def const(self, value: np.ndarray, label: str) -> Value:
        return self.graph.const(value, name=f"{self.name}/{label}")

    def ints(self, op: str, inputs: list[Value], label: str, shape: tuple | None = None) -> Value:
        return self.op(op, inputs, {"T": _I32}, label, _I32, shape)

    def reshape(self, value: Value, shape: Value, label: str, dtype: DType) -> Value:
        return self.op("Reshape", [value, shape], {"T": dtype, "Tshape": _I32}, label, dtype)

    def compare(self, op: str, left: Value, right: Value, label: str) -> Value:
        return self.op(op, [left, right], {"T": left.dtype}, label, DType.BOOL)

    def both(self, left: Value, right: Value, label: str) -> Value:
        return self.op("LogicalAnd", [left, right], {}, label, DType.BOOL)

    def select(self, condition: Value, then: Value, otherwise: Value, label: str) -> Value:
        return self.op("SelectV2", [condition, then, otherwise], {"T": then.dtype}, label, then.dtype)

    def reduce(self, op: str, value: Value, label: str) -> Value:
        """``op`` over axis 1 (the rows) of a ``[segments, rows + 1, columns]`` value."""
        return self.op(op, [value, self.const(np.int32(1), f"{label}_axis")],
                       {"T": value.dtype, "Tidx": _I32, "keep_dims": False}, label, value.dtype)

    def last_position(self, where: Value, positions: Value, label: str) -> Value:
        """The last row position where ``where`` holds, per segment and column; -1 where it never does."""
        return self.reduce("Max", self.select(where, positions, self.const(np.int32(-1), f"{label}_none"),
                                              f"{label}_positions"), label)

    def first_position(self, where: Value, positions: Value, label: str) -> Value:
        """The first row position where ``where`` holds, per segment and column; :data:`FIRST_POSITION_NONE` where it
        never does."""
        return self.reduce("Min", self.select(where, positions, self.const(np.int32(FIRST_POSITION_NONE),
                                                                            f"{label}_none"),
                                              f"{label}_positions"), label)

    def as_int(self, value: Value, label: str) -> Value:
        return self.op("Cast", [value], {"SrcT": value.dtype, "DstT": _I32, "Truncate": False}, label, _I32)

    def shape_part(self, value: Value, begin: int, size: int, label: str) -> Value:
        """``Shape(value)[begin:begin + size]`` (size -1: to the end)."""
        shape = self.op("Shape", [value], {"T": value.dtype, "out_type": _I32}, f"{label}_shape", _I32)
        return self.op("Slice", [shape, self.const(np.int32([begin]), f"{label}_begin"),
                                 self.const(np.int32([size]), f"{label}_size")],
                       {"T": _I32, "Index": _I32}, label, _I32)

    def concat(self, values: list[Value], label: str, dtype: DType = _I32) -> Value:
        return self.op("ConcatV2", [*values, self.const(np.int32(0), f"{label}_axis")],
                       {"N": len(values), "T": dtype, "Tidx": _I32}, label, dtype)


def as_int32(b: Builder, value: Value, dtype: DType | None, label: str) -> Value | None:
    if dtype == _I32:
        return value
    if dtype != DType.INT64:
        return None
    return b.op("Cast", [value], {"SrcT": DType.INT64, "DstT": _I32, "Truncate": False}, label, _I32, value.shape)


def _sorted_segment_count(b: Builder, ids: Value) -> Value:
    """The last id + 1, as a ``[1]`` vector: the rows of a ``SparseSegmentSum`` of ones over the ids, which throws
    on unsorted or negative ids as TF raises."""
    ones = b.op("OnesLike", [b.op("Cast", [ids], {"SrcT": _I32, "DstT": _F32, "Truncate": False}, "ids_float", _F32)],
                {"T": _F32}, "ones", _F32)
    count = b.ints("Size", [ids], "ids_size", ())
    every_id = b.op("Range", [b.const(np.int32(0), "ids_start"), count, b.const(np.int32(1), "ids_delta")],
                    {"Tidx": _I32}, "every_id", _I32, (None,))
    counts = b.op("SparseSegmentSum", [ones, every_id, ids], {"T": _F32, "Tidx": _I32, "Tsegmentids": _I32},
                  "id_check_counts", _F32, (None,))
    return b.shape_part(counts, 0, 1, "segments")


def _checked_segment_count(b: Builder, ids: Value, num: Value) -> Value:
    """``num_segments`` as a ``[1]`` vector, plus ``GatherV2([0], count of ids >= num)``: 0, or a failed run on
    every backend (TF.js checks every gather index) where TF raises."""
    num = b.reshape(num, b.const(np.int32([1]), "num_vector_shape"), "num_vector", _I32)
    past = b.op("Cast", [b.compare("GreaterEqual", ids, num, "ids_past_end")],
                {"SrcT": DType.BOOL, "DstT": _I32, "Truncate": False}, "ids_past_end_int", _I32)
    over = b.op("Sum", [past, b.const(np.int32(0), "past_end_axis")], {"T": _I32, "Tidx": _I32, "keep_dims": False},
                "ids_past_end_count", _I32, ())
    check = b.op("GatherV2", [b.const(np.int32([0]), "ids_check_table"), over, b.const(np.int32(0), "check_axis")],
                 {"Tparams": _I32, "Tindices": _I32, "Taxis": _I32, "batch_dims": 0}, "check_ids_below_num", _I32,
                 ())
    return b.ints("AddV2", [num, check], "segments")


def columns_of(b: Builder, data: Value, id_rank: int) -> Value:
    """The product of ``data``'s dimensions past the ids' (1 when there are none), as a ``[1]`` vector."""
    tail = data.shape[id_rank:]
    if all(d is not None for d in tail):
        return b.const(np.int32([int(np.prod(tail, dtype=np.int64))]), "columns")
    product = b.op("Prod", [b.shape_part(data, id_rank, -1, "row_shape"), b.const(np.int32(0), "columns_axis")],
                   {"T": _I32, "Tidx": _I32, "keep_dims": True}, "columns", _I32, (1,))
    return product


class Masks:
    """The ``[segments, rows + 1, 1]`` membership mask and ``[1, rows + 1, 1]`` row positions (the extra row: id -1)."""

    def __init__(self, b: Builder, ids: Value, segments: Value) -> None:
        ids = b.concat([ids, b.const(np.int32([-1]), "extra_row_id")], "ids_and_extra")
        every = b.op("Range", [b.const(np.int32(0), "segment_start"), b.reshape(segments, b.const(
            np.int32([]), "scalar_shape"), "segment_count", _I32), b.const(np.int32(1), "segment_delta")],
                     {"Tidx": _I32}, "every_segment", _I32, (None,))
        column = b.reshape(every, b.const(np.int32([-1, 1, 1]), "segment_column_shape"), "segment_column", _I32)
        row = b.reshape(ids, b.const(np.int32([1, -1, 1]), "id_row_shape"), "id_row", _I32)
        self.member = b.compare("Equal", column, row, "member")
        size = b.ints("Size", [ids], "rows_and_extra", ())
        positions = b.op("Range", [b.const(np.int32(0), "row_start"), size, b.const(np.int32(1), "row_delta")],
                         {"Tidx": _I32}, "row_positions", _I32, (None,))
        self.positions = b.reshape(positions, b.const(np.int32([1, -1, 1]), "positions_shape"), "positions", _I32)
        self.last_row = b.last_position(self.member, self.positions, "last_row")


def _float_extreme(b: Builder, rows: Value, masks: Masks, kind: str, unsorted: bool, bounds: np.finfo) -> Value:
    """TF's fold of each segment's float rows (module docstring), ``[segments, columns]``."""
    is_nan = b.op("IsNan", [rows], {"T": _F32}, "is_nan", DType.BOOL)
    last_nan = b.last_position(b.both(masks.member, is_nan, "member_nan"), masks.positions, "last_nan")
    last_nan_rows = b.op("ExpandDims", [last_nan, b.const(np.int32(1), "last_nan_axis")], {"T": _I32, "Tdim": _I32},
                         "last_nan_rows", _I32)
    after = b.both(masks.member, b.compare("Greater", masks.positions, last_nan_rows, "after_nan"), "tail")
    infinity = np.float32(-np.inf if kind == "Max" else np.inf)
    fill = b.const(infinity, "infinity")
    has_nan = b.compare("GreaterEqual", last_nan_rows, b.const(np.int32(0), "zero"), "has_nan")
    if unsorted:
        bound = bounds.min if kind == "Max" else bounds.max
        fill = b.select(has_nan, fill, b.const(np.float32(bound), "start"), "fill")
    extreme = b.reduce(kind, b.select(after, rows, fill, "tail_rows"), "tail_extreme")
    zero = b.const(np.float32(0), "float_zero")
    zeros = b.both(after, b.compare("Equal", rows, zero, "is_zero"), "tail_zeros")
    minus = b.compare("Less", b.op("Reciprocal", [rows], {"T": _F32}, "reciprocal", _F32), zero, "negative_side")
    last_zero = b.last_position(zeros, masks.positions, "last_zero")
    last_minus = b.last_position(b.both(zeros, minus, "tail_minus_zeros"), masks.positions, "last_minus_zero")
    minus_last = b.both(b.compare("Equal", last_zero, last_minus, "last_zero_is_minus"),
                        b.compare("GreaterEqual", last_zero, b.const(np.int32(0), "none"), "has_zero"), "minus_zero")
    signed = b.select(minus_last, b.const(np.float32(-0.0), "minus_zero_value"), zero, "signed_zero")
    result = b.select(b.compare("Equal", extreme, zero, "extreme_is_zero"), signed, extreme, "signed_extreme")
    nan_last = b.both(b.compare("Equal", last_nan, masks.last_row, "nan_is_last_row"),
                      b.compare("GreaterEqual", last_nan, b.const(np.int32(0), "nan_none"), "nan_seen"), "nan_last")
    return b.select(nan_last, _last_row_value(b, rows, masks), result, "with_nan")


def _last_row_value(b: Builder, rows: Value, masks: Masks) -> Value:
    """Each segment's last row (a NaN where it is used): summed from the data, so the graph holds no NaN constant
    (one would be reported as a model weight holding NaN)."""
    last_rows = b.op("ExpandDims", [masks.last_row, b.const(np.int32(1), "last_row_axis")], {"T": _I32, "Tdim": _I32},
                     "last_row_rows", _I32)
    is_last = b.both(masks.member, b.compare("Equal", masks.positions, last_rows, "at_last_row"), "last_member")
    return b.reduce("Sum", b.select(is_last, rows, b.const(np.float32(0), "not_last"), "last_row_only"), "last_value")


def packet_extreme(b: Builder, rows: Value, masks: Masks, kind: str) -> Value:
    """A running max/min from ``∓Inf`` over each segment's (or cell's) rows that keeps its value on NaN rows and on
    ties, so NaN rows are skipped (all NaN, or none: ``∓Inf``; webgl's reduce gives ``∓1e20`` there) and a zero result
    has the sign of the first zero: TF's sorted kernel over a segment of 2+ rows in its 8-wide column blocks (x86-64
    Eigen packets), and TF's tensor scatter max/min over each cell's updates (:mod:`.scatter_extremes`)."""
    kept = b.both(masks.member, b.op("LogicalNot", [b.op("IsNan", [rows], {"T": _F32}, "packet_is_nan", DType.BOOL)],
                                     {}, "packet_not_nan", DType.BOOL), "packet_kept")
    fill = b.const(np.float32(-np.inf if kind == "Max" else np.inf), "packet_infinity")
    extreme = b.reduce(kind, b.select(kept, rows, fill, "packet_rows"), "packet_extreme")
    zero = b.const(np.float32(0), "packet_zero")
    zeros = b.both(kept, b.compare("Equal", rows, zero, "packet_is_zero"), "packet_zeros")
    minus = b.compare("Less", b.op("Reciprocal", [rows], {"T": _F32}, "packet_reciprocal", _F32), zero,
                      "packet_negative_side")
    first_zero = b.first_position(zeros, masks.positions, "first_zero")
    first_minus = b.first_position(b.both(zeros, minus, "packet_minus_zeros"), masks.positions, "first_minus_zero")
    signed = b.select(b.compare("Equal", first_zero, first_minus, "first_zero_is_minus"),
                      b.const(np.float32(-0.0), "packet_minus_zero"), zero, "packet_signed_zero")
    return b.select(b.compare("Equal", extreme, zero, "packet_is_zero_result"), signed, extreme, "packet_result")


def _packet_cells(b: Builder, masks: Masks, columns: Value) -> Value:
    """``[segments, columns]``: where TF's sorted kernel takes the packet path, i.e. the segment has 2+ rows (one
    row is copied) and the column is below ``8 * floor(columns / 8)`` (the rest go through the scalar fold)."""
    counts = b.reduce("Sum", b.as_int(masks.member, "member_count_int"), "member_counts")
    several = b.compare("GreaterEqual", counts, b.const(np.int32(2), "two_rows"), "several_rows")
    block = b.ints("Sub", [columns, b.ints("FloorMod", [columns, b.const(np.int32(8), "packet_width")],
                                          "columns_past_block")], "block_columns", (1,))
    every = b.op("Range", [b.const(np.int32(0), "column_start"), b.reshape(columns, b.const(
        np.int32([]), "columns_scalar_shape"), "columns_scalar", _I32), b.const(np.int32(1), "column_delta")],
                 {"Tidx": _I32}, "every_column", _I32, (None,))
    index = b.reshape(every, b.const(np.int32([1, -1]), "column_row_shape"), "column_row", _I32)
    return b.both(several, b.compare("Less", index, block, "in_block"), "packet_cells")


def int_extreme(b: Builder, rows: Value, masks: Masks, kind: str) -> Value:
    """The int32 max/min of each segment's rows; empty segments get ``lowest``/``highest`` (sorted: set to 0 later)."""
    info = np.iinfo(np.int32)
    fill = b.const(np.int32(info.min if kind == "Max" else info.max), "start")
    return b.reduce(kind, b.select(masks.member, rows, fill, "member_rows"), "extreme")


def _fewer_columns_than_a_packet(data: Value, id_rank: int) -> bool:
    """Whether the column count is known below 8, where TF's sorted kernel only folds."""
    tail = data.shape[id_rank:]
    return all(d is not None for d in tail) and int(np.prod(tail, dtype=np.int64)) < 8


def _empty_segment_value(dtype: DType, kind: str, unsorted: bool, work: DType) -> np.ndarray:
    """TF's value of an empty segment: sorted 0, unsorted ``lowest()``/``highest()``; set after the reduction even
    where the reduction gives it, as webgl's max/min reduce starts from ∓1e20 (review r6 N2)."""
    if not unsorted:
        return np.zeros((), work.numpy)
    info = np.iinfo(np.int32) if dtype == _I32 else np.finfo(dtype.numpy)
    return np.asarray(info.min if kind == "Max" else info.max, work.numpy)


def known_product(values: tuple) -> int | None:
    return None if any(v is None for v in values) else int(np.prod(values, dtype=np.int64))


def _static_count(value: Value) -> int | None:
    """A constant scalar's value (``num_segments``), or None."""
    producer = value.producer
    if producer is None or producer.op != "Const" or getattr(producer, "value", None) is None:
        return None
    return int(np.asarray(producer.value).reshape(-1)[0]) if np.asarray(producer.value).size == 1 else None


def _mask_words(scatter: bool) -> tuple[str, str]:
    """How the masks' axes are called: ``[segments, rows + 1, columns]``, or for a scatter
    ``[cells, updates + 1, columns]``, and what the first two count."""
    return ("[cells, updates + 1, columns]", "updates/cells") if scatter else \
        ("[segments, rows + 1, columns]", "segments/rows")


def _known_part(segments: int | None, count: int | None, width: int | None) -> int:
    """The product of the masks' known factors (an unknown one counts as 1)."""
    return int(np.prod([v for v in (segments, None if count is None else count + 1, width) if v is not None],
                       dtype=np.int64))


def check_mask_size(graph: Graph, node: Node, segments: int | None, rows: tuple, columns: tuple,
                    scatter: bool = False) -> None:
    """Refuse by name where the masks are known to be past what TF.js can allocate; warn by name where their known
    part is large (or, with the segment count unknown, one segment's part is); list the ops whose rows or columns are
    known only at run time in one line of the result's notices. TF's own output is segments × columns: the masks cost
    rows + 1 times that, so an unknown segment count alone says nothing (review r6 N3)."""
    count, width = known_product(rows), known_product(columns)
    axes, words = _mask_words(scatter)
    shape = " × ".join("?" if v is None else str(v) for v in (segments, None if count is None else count + 1, width))
    known = _known_part(segments, count, width)
    if None not in (segments, count, width) and known >= MASK_ELEMENT_LIMIT:
        raise OpProblemsError({node.op: [f"{node.name} ({axes} masks of {shape} = {known:.2g} elements, past the "
                                         f"{MASK_ELEMENT_LIMIT:.2g} TF.js can hold)"]},
                              f"segment/scatter max/min too large for TF.js's masked rewrite ({words})",
                              hint="split the op into smaller ones, or compute it outside the model")
    per_segment = segments is None and count is not None and width is not None and \
        (count + 1) * width >= MASK_ELEMENT_WARNING // 10
    if known >= MASK_ELEMENT_WARNING or per_segment:
        log.warning("%s %s: TF.js computes it on %s masks (%s here, %.2g elements%s): time and memory grow with "
                    "their product (%s); it may not finish", node.op, node.name, axes, shape, known,
                    (" per cell" if scatter else " per segment") if per_segment else "", MASK_COST)
    elif None in (count, width):  # an unknown segment count alone: the masks stay (rows + 1) × TF's own output
        _note_run_time_size(graph, f"{node.name} ({shape})", axes)


#: What the masks cost on TF.js cpu (measured).
MASK_COST = ("1.4e7 elements took ~25 s per op on TF.js cpu (session 32, review r6); 1e4 × 1e5 × 64 = 6.4e10 gave no "
             "answer in 600 s (session 33, h6)")
#: The notice that lists the ops whose masks' size is known only at run time.
RUN_TIME_NOTICE = ("segment/scatter max/min: TF.js computes {count} op(s) on masks whose size is known only at run "
                   "time, {axes} elements ((rows or updates) + 1 times TF's own output; {cost})"
                   ": {names}")


def _note_run_time_size(graph: Graph, entry: str, axes: str) -> None:
    """Add ``entry`` to the one notice (``graph.notices``) naming the ops whose masks' size is known only at run time."""
    entries = graph.__dict__.setdefault("_run_time_masks", {})
    entries.setdefault(axes, []).append(entry)
    names = [name for names in entries.values() for name in names]
    line = RUN_TIME_NOTICE.format(count=len(names), axes=" or ".join(entries), cost=MASK_COST,
                                  names=", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else ""))
    graph.notices[:] = [old for old in graph.notices if not old.startswith(RUN_TIME_NOTICE[:25])] + [line]


def rows_with_extra_row(b: Builder, data: Value, ids: Value, columns: Value, work: DType) -> Value:
    """``data`` as ``[1, rows + 1, columns]``, one row per (flat) id and a last row of zeros (the id -1 of
    :class:`Masks`)."""
    count = b.reshape(b.ints("Size", [ids], "id_count", ()), b.const(np.int32([1]), "id_count_shape"),
                      "id_count_vector", _I32)  # not -1: data may have no columns
    flat = b.reshape(data, b.concat([count, columns], "flat_shape"), "flat", work)
    extra = b.op("Fill", [b.concat([b.const(np.int32([1]), "one_row"), columns], "extra_shape"),
                          b.const(np.zeros((), work.numpy), "extra_value")], {"T": work, "index_type": _I32},
                 "extra_row", work)
    return b.reshape(b.concat([flat, extra], "rows_and_extra_row", work),
                     b.concat([b.const(np.int32([1]), "rows_lead"), b.ints("AddV2", [count, b.const(
                         np.int32([1]), "extra_count")], "rows_with_extra", (1,)), columns], "rows_shape"), "rows", work)


def segment_extreme(graph: Graph, node: Node, kind: str, unsorted: bool) -> bool:
    """The rewrite of ``[Unsorted]Segment{kind}`` (module docstring); False (left to the op check) where it does not
    apply: other types, unknown ranks. float16 goes through float32 (exact: max/min pick a value, TF's float16
    ``lowest()``/``highest()`` kept as float16's)."""
    dtype = node.attrs.get("T")
    data, ids = node.inputs[0], node.inputs[1]
    if dtype not in (_F32, _I32, _F16) or data.shape is None or ids.shape is None or \
            len(node.inputs) != (3 if unsorted else 2) or (not unsorted and len(ids.shape) != 1) or \
            len(ids.shape) > len(data.shape) or not data.shape:
        return False
    b = Builder(graph, node.name)
    ids = as_int32(b, ids, node.attrs.get("Tindices", ids.dtype), "ids_int32")
    if ids is None:
        return False
    id_rank = len(node.inputs[1].shape)
    check_mask_size(graph, node, _static_count(node.inputs[2]) if unsorted else None, tuple(node.inputs[1].shape),
                    tuple(data.shape[id_rank:]))
    ids = b.reshape(ids, b.const(np.int32([-1]), "flat_ids_shape"), "flat_ids", _I32)
    if unsorted:
        num = as_int32(b, node.inputs[2], node.attrs.get("Tnumsegments", node.inputs[2].dtype), "num_int32")
        if num is None:
            return False
        segments = _checked_segment_count(b, ids, num)
    else:
        segments = _sorted_segment_count(b, ids)
    columns = columns_of(b, data, id_rank)
    work = _F32 if dtype == _F16 else dtype
    if dtype == _F16:
        data = b.op("Cast", [data], {"SrcT": _F16, "DstT": _F32, "Truncate": False}, "data_float32", _F32, data.shape)
    rows = rows_with_extra_row(b, data, ids, columns, work)
    masks = Masks(b, ids, segments)
    extreme = int_extreme(b, rows, masks, kind) if work == _I32 else \
        _float_extreme(b, rows, masks, kind, unsorted, np.finfo(dtype.numpy))
    if work == _F32 and not unsorted and not _fewer_columns_than_a_packet(data, id_rank):
        extreme = b.select(_packet_cells(b, masks, columns), packet_extreme(b, rows, masks, kind), extreme,
                           "blocks_and_fold")
    empty = b.compare("Less", masks.last_row, b.const(np.int32(0), "empty_none"), "empty")
    extreme = b.select(empty, b.const(_empty_segment_value(dtype, kind, unsorted, work), "empty_value"), extreme,
                       "empty_set")
    if dtype == _F16:
        extreme = b.op("Cast", [extreme], {"SrcT": _F32, "DstT": _F16, "Truncate": False}, "extreme_float16", _F16)
    out_shape = b.concat([segments, b.shape_part(data, id_rank, -1, "out_tail")], "out_shape")
    node.op, node.attrs, node.inputs = "Reshape", {"T": dtype, "Tshape": _I32}, [extreme, out_shape]
    return True
