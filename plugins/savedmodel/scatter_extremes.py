"""float32/int32 ``TensorScatterMax``/``Min`` (TF.js has neither) on the masks of :mod:`.segment_extremes`, exactly
TF's (a rule of :mod:`.op_rewrites`).

TF's cpu kernel applies the updates to a copy of the tensor one by one, in order, with ``cwiseMax``/``cwiseMin``:
``out = out < u ? u : out`` (min: ``u < out``), so (measured, TF 2.x cpu) a NaN update is dropped, a NaN in the
tensor stays, and a tie keeps what is there: a zero result has the sign of the first zero among the tensor's value
and the updates after it. That is the extreme of each cell's non-NaN updates from ``∓Inf`` with the first zero's sign
(``packet_extreme``, TF's sorted kernel's packet rule), taken only where it beats the tensor's value:
``SelectV2(u > t, u, t)``. Every index component outside the tensor's shape (TF raises) fails the run through a
checked ``GatherV2``. Memory: cells × updates × the slice size (the masks). float16/64 and other types stay refused
by the op check.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node, Value
from tfjsconv.ops.special_values import GUARDED_SUFFIX

from .segment_extremes import as_int32, Builder, columns_of, int_extreme, Masks, known_product, packet_extreme, \
    check_mask_size, rows_with_extra_row

_I32 = DType.INT32
_F32 = DType.FLOAT32
_F16 = DType.FLOAT16


def _known_strides(tensor: Value, depth: int) -> np.ndarray | None:
    """Row-major strides of the first ``depth`` axes (they need axes 1..depth-1 known), or None."""
    inner = tensor.shape[1:depth]
    if any(d is None for d in inner):
        return None
    return np.asarray([int(np.prod(inner[k:], dtype=np.int64)) for k in range(depth)], np.int32)


def _strides(b: Builder, tensor: Value, depth: int) -> Value:
    """The row-major strides of the first ``depth`` axes as a ``[1, depth]`` row: constants where axes 1..depth-1
    are known, else products of ``Shape(tensor)``'s slices."""
    known = _known_strides(tensor, depth)
    if known is not None:
        return b.const(known.reshape(1, -1), "strides")
    parts = [b.op("Prod", [b.shape_part(tensor, k + 1, depth - k - 1, f"inner_dims_{k}"),
                           b.const(np.int32(0), f"stride_axis_{k}")], {"T": _I32, "Tidx": _I32, "keep_dims": True},
                  _exact(f"stride_{k}"), _I32, (1,)) for k in range(depth - 1)]
    flat = b.concat([*parts, b.const(np.int32([1]), "last_stride")], "run_time_strides")
    return b.reshape(flat, b.const(np.int32([1, -1]), "strides_row_shape"), "strides", _I32)


def _exact(label: str) -> str:
    """``label`` marked exact by construction (not named in the special-values line): the rewrite's int32 products
    are flat cell indices and cell counts of the tensor itself, below 2^31 (and the masks' size limit)."""
    return label + GUARDED_SUFFIX


def _out_of_range_check(b: Builder, indices: Value, dims: Value) -> Value:
    """``GatherV2([0], count of index components < 0 or >= their axis)``: 0, or a failed run where TF raises."""
    outside = b.op("LogicalOr", [b.compare("Less", indices, b.const(np.int32(0), "zero_index"), "below_zero"),
                                 b.compare("GreaterEqual", indices, dims, "past_axis")], {}, "outside", DType.BOOL)
    count = b.op("Sum", [b.op("Cast", [outside], {"SrcT": DType.BOOL, "DstT": _I32, "Truncate": False},
                              "outside_int", _I32), b.const(np.int32([0, 1]), "outside_axes")],
                 {"T": _I32, "Tidx": _I32, "keep_dims": False}, "outside_count", _I32, ())
    return b.op("GatherV2", [b.const(np.int32([0]), "index_check_table"), count,
                             b.const(np.int32(0), "index_check_axis")],
                {"Tparams": _I32, "Tindices": _I32, "Taxis": _I32, "batch_dims": 0}, "check_indices_inside", _I32,
                ())


def _cells(b: Builder, tensor: Value, indices: Value, depth: int, strides: Value) -> tuple[Value, Value]:
    """Each update's flat cell (``[updates]``) and the cell count plus the range check (``[1]``)."""
    dims = b.shape_part(tensor, 0, depth, "indexed_dims")
    flat = b.op("Sum", [b.ints("Mul", [indices, strides], _exact("scaled_indices")),
                        b.const(np.int32(1), "cell_axis")], {"T": _I32, "Tidx": _I32, "keep_dims": False}, _exact("cells"),
                _I32, (None,))
    count = b.op("Prod", [dims, b.const(np.int32(0), "cell_count_axis")], {"T": _I32, "Tidx": _I32, "keep_dims": True},
                 _exact("cell_count"), _I32, (1,))
    return flat, b.ints("AddV2", [count, _out_of_range_check(b, indices, dims)], "checked_cell_count", (1,))


def _has_update(b: Builder, rows: Value, masks: Masks, dtype: DType) -> Value:
    """``[cells, columns]``: whether the cell has an update the extreme reads (a non-NaN one). Only those may beat the
    tensor: elsewhere the extreme is ``∓Inf`` on cpu/wasm but webgl's max/min reduce gives ``∓1e20``, which would
    replace a tensor's ``∓Inf`` or value past ``±1e20`` (review r6 N2, as segment max/min's empty segments)."""
    if dtype == _I32:
        last = masks.last_row
    else:
        read = b.both(masks.member, b.op("LogicalNot", [b.op("IsNan", [rows], {"T": _F32}, "update_is_nan",
                                                              DType.BOOL)], {}, "update_not_nan", DType.BOOL),
                      "update_read")
        last = b.last_position(read, masks.positions, "last_update")
    return b.compare("GreaterEqual", last, b.const(np.int32(0), "no_update"), "has_update")


def _scattered(graph: Graph, node: Node, kind: str, depth: int, work: DType) -> list[Value]:
    """``SelectV2``'s inputs: each cell's extreme update where it beats the cell's value, else the tensor's
    (``work``: float32 or int32)."""
    tensor, indices, updates = node.inputs
    b = Builder(graph, node.name)
    if work != node.attrs["T"]:
        tensor = b.op("Cast", [tensor], {"SrcT": _F16, "DstT": _F32, "Truncate": False}, "tensor_float32", _F32,
                      tensor.shape)
        updates = b.op("Cast", [updates], {"SrcT": _F16, "DstT": _F32, "Truncate": False}, "updates_float32", _F32,
                       updates.shape)
    indices = as_int32(b, indices, node.attrs.get("Tindices") or indices.dtype, "indices_int32")
    indices = b.reshape(indices, b.const(np.int32([-1, depth]), "index_rows_shape"), "index_rows", _I32)
    cells, count = _cells(b, tensor, indices, depth, _strides(b, tensor, depth))
    columns = columns_of(b, tensor, depth)
    masks = Masks(b, cells, count)
    rows = rows_with_extra_row(b, updates, cells, columns, work)
    extreme = int_extreme(b, rows, masks, kind) if work == _I32 else packet_extreme(b, rows, masks, kind)
    shape = b.op("Shape", [tensor], {"T": work, "out_type": _I32}, "tensor_shape", _I32)
    wins = b.both(b.compare("Greater" if kind == "Max" else "Less", extreme, b.reshape(
        tensor, b.op("Shape", [extreme], {"T": work, "out_type": _I32}, "extreme_shape", _I32), "tensor_cells", work),
        "update_beats"), _has_update(b, rows, masks, work), "update_wins")
    return [b.reshape(wins, shape, "update_wins_cells", DType.BOOL), b.reshape(extreme, shape, "updates_extreme", work),
            tensor]


def tensor_scatter_extreme(graph: Graph, node: Node, kind: str) -> bool:
    """The rewrite of ``TensorScatter{kind}`` (module docstring); False (left to the op check) where it does not
    apply: other types, unknown ranks or index depth, index types other than int32/int64. float16 goes through
    float32 (exact: max/min only pick a value)."""
    dtype, index = node.attrs.get("T"), node.attrs.get("Tindices")
    if dtype not in (_F32, _I32, _F16) or len(node.inputs) != 3 or (index or node.inputs[1].dtype) not in (
            _I32, DType.INT64):
        return False
    tensor, indices, updates = node.inputs
    if tensor.shape is None or indices.shape is None or not indices.shape or indices.shape[-1] is None:
        return False
    depth = int(indices.shape[-1])
    if not 1 <= depth <= len(tensor.shape):
        return False
    check_mask_size(graph, node, known_product(tuple(tensor.shape[:depth])), tuple(indices.shape[:-1]),
                    tuple(tensor.shape[depth:]), scatter=True)
    work = _I32 if dtype == _I32 else _F32
    select = _scattered(graph, node, kind, depth, work)
    if dtype == _F16:
        scattered = Builder(graph, node.name).select(*select, "scattered_float32")
        node.op, node.attrs, node.inputs = "Cast", {"SrcT": _F32, "DstT": _F16, "Truncate": False}, [scattered]
    else:
        node.op, node.attrs, node.inputs = "SelectV2", {"T": dtype}, select
    return True
