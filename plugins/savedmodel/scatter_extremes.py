"""float32/int32 ``TensorScatterMax``/``Min`` (TF.js has neither) on the masks of :mod:`.segment_extremes`, exactly
TF's (a rule of :mod:`.op_rewrites`).

TF's cpu kernel applies the updates to a copy of the tensor one by one, in order, with ``cwiseMax``/``cwiseMin``:
``out = out < u ? u : out`` (min: ``u < out``), so (measured, TF 2.x cpu) a NaN update is dropped, a NaN in the
tensor stays, and a tie keeps what is there: a zero result has the sign of the first zero among the tensor's value
and the updates after it. That is the extreme of each cell's non-NaN updates from ``∓Inf`` with the first zero's sign
(``_packet_extreme``, TF's sorted kernel's packet rule), taken only where it beats the tensor's value:
``SelectV2(u > t, u, t)``. Every index component outside the tensor's shape (TF raises) fails the run through a
checked ``GatherV2``. Memory: cells × updates × the slice size (the masks). float16/64 and other types stay refused
by the op check.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node, Value

from .segment_extremes import _as_int32, _Builder, _columns, _int_extreme, _Masks, _known_product, _packet_extreme, \
    check_mask_size, rows_with_extra_row

_I32 = DType.INT32


def _known_strides(tensor: Value, depth: int) -> np.ndarray | None:
    """Row-major strides of the first ``depth`` axes (they need axes 1..depth-1 known), or None."""
    inner = tensor.shape[1:depth]
    if any(d is None for d in inner):
        return None
    return np.asarray([int(np.prod(inner[k:], dtype=np.int64)) for k in range(depth)], np.int32)


def _out_of_range_check(b: _Builder, indices: Value, dims: Value) -> Value:
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


def _cells(b: _Builder, tensor: Value, indices: Value, depth: int, strides: np.ndarray) -> tuple[Value, Value]:
    """Each update's flat cell (``[updates]``) and the cell count plus the range check (``[1]``)."""
    dims = b.shape_part(tensor, 0, depth, "indexed_dims")
    flat = b.op("Sum", [b.ints("Mul", [indices, b.const(strides.reshape(1, -1), "strides")], "scaled_indices"),
                        b.const(np.int32(1), "cell_axis")], {"T": _I32, "Tidx": _I32, "keep_dims": False}, "cells",
                _I32, (None,))
    count = b.op("Prod", [dims, b.const(np.int32(0), "cell_count_axis")], {"T": _I32, "Tidx": _I32, "keep_dims": True},
                 "cell_count", _I32, (1,))
    return flat, b.ints("AddV2", [count, _out_of_range_check(b, indices, dims)], "checked_cell_count", (1,))


def tensor_scatter_extreme(graph: Graph, node: Node, kind: str) -> bool:
    """The rewrite of ``TensorScatter{kind}`` (module docstring); False (left to the op check) where it does not
    apply: other types, unknown ranks or index depth, unknown sizes of the indexed axes past the first."""
    dtype, index = node.attrs.get("T"), node.attrs.get("Tindices")
    if dtype not in (DType.FLOAT32, _I32) or len(node.inputs) != 3:
        return False
    tensor, indices, updates = node.inputs
    if tensor.shape is None or indices.shape is None or not indices.shape or indices.shape[-1] is None:
        return False
    depth = int(indices.shape[-1])
    strides = _known_strides(tensor, depth) if 1 <= depth <= len(tensor.shape) else None
    if strides is None:
        return False
    check_mask_size(node, _known_product(tuple(tensor.shape[:depth])), tuple(indices.shape[:-1]),
                    tuple(tensor.shape[depth:]))
    b = _Builder(graph, node.name)
    indices = _as_int32(b, indices, index or indices.dtype, "indices_int32")
    if indices is None:
        return False
    indices = b.reshape(indices, b.const(np.int32([-1, depth]), "index_rows_shape"), "index_rows", _I32)
    cells, count = _cells(b, tensor, indices, depth, strides)
    columns = _columns(b, tensor, depth)
    masks = _Masks(b, cells, count)
    rows = rows_with_extra_row(b, updates, cells, columns, dtype)
    extreme = _int_extreme(b, rows, masks, kind) if dtype == _I32 else _packet_extreme(b, rows, masks, kind)
    shape = b.op("Shape", [tensor], {"T": dtype, "out_type": _I32}, "tensor_shape", _I32)
    extreme = b.reshape(extreme, shape, "updates_extreme", dtype)
    beats = b.compare("Greater" if kind == "Max" else "Less", extreme, tensor, "update_wins")
    node.op, node.attrs, node.inputs = "SelectV2", {"T": dtype}, [beats, extreme, tensor]
    return True
