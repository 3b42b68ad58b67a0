"""Helpers shared by the op mappings: elementwise ops in any layout, axis handling, reductions."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..layout import Perm


#: StridedSlice's attrs with every mask off (override the masks a slice needs).
SLICE_ATTRS = {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
               "shrink_axis_mask": 0}


def norm_axis(ctx: NodeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def laid_const(array: np.ndarray, rank: int, perm: Perm) -> np.ndarray:
    """A constant that broadcasts against an ONNX rank-``rank`` tensor, laid out like a tensor of ``perm``."""
    array = np.asarray(array)
    array = array.reshape((1,) * (rank - array.ndim) + array.shape)
    if perm is not None:
        array = array.transpose(perm)
    while array.ndim and array.shape[0] == 1:
        array = array[0]
    return array


def axis_last(ctx: NodeContext, axis: int) -> tuple[Value, Perm]:
    """Input 0 laid out with ONNX ``axis`` last, reusing its current layout when it already is."""
    rank = ctx.rank(0)
    t = ctx.tensor(0)
    current = layout.full(t.perm, rank) if t.value is not None else tuple(range(rank))
    if current[-1] == axis:
        return ctx.input_laid(0)
    perm = layout.normalize([a for a in current if a != axis] + [axis])
    return ctx.input_as(0, perm), perm


def unary(ctx: NodeContext, tf_op: str, attrs: dict | None = None) -> Laid:
    """A layout-agnostic one-input op: the output keeps the input's layout."""
    x, perm = ctx.input_laid(0)
    return ctx.laid(ctx.op(tf_op, [x], attrs), perm)


def common_layout(ctx: NodeContext, indices: Sequence[int]) -> tuple[list[Value], Perm]:
    """The inputs of a broadcasting elementwise op in one layout, and that layout.

    The layout is the inputs' own that costs the fewest Transposes (:func:`choose_layout`);
    constants are transposed in numpy, so ``Add(conv_nhwc, bias[C,1,1])`` needs no Transpose. A
    lower-rank computed input would need a reshape first, so then everything uses ONNX's layout.
    """
    tensors = [ctx.tensor(i) for i in indices]
    ranks = [t.rank for t in tensors]
    target: Perm = None
    if all(r is not None for r in ranks):
        rank = max(ranks)  # type: ignore[type-var]
        if not any(t.const is None and t.rank != rank for t in tensors):
            target = choose_layout(ctx, indices)
    values = []
    for i, t in zip(indices, tensors):
        if target is not None and t.const is not None and t.rank != len(target):
            values.append(ctx.make_const(laid_const(t.const, len(target), target), label=f"input{i}"))
        else:
            values.append(ctx.input_as(i, target))
    return values, target


def choose_layout(ctx: NodeContext, indices: Sequence[int]) -> Perm:
    """The layout among the inputs' own that needs the fewest new Transposes (ties: NHWC for 4-D, else ONNX's)."""
    computed = [i for i in indices if ctx.tensor(i).const is None]
    if not computed:
        return None
    rank = ctx.tensor(computed[0]).rank
    candidates = list(dict.fromkeys([None, *(ctx.tensor(i).perm for i in computed)]))
    preferred = layout.channels_last(4) if rank == 4 else None

    def cost(perm: Perm) -> tuple[int, bool]:
        return sum(ctx.transposes_needed(i, perm) for i in computed), perm != preferred

    return min(candidates, key=cost)


def reshape_laid(ctx: NodeContext, i: int, target: Sequence[int | None] | None,
                 copies: dict[int, int] | None = None) -> Laid:
    """ONNX reshape of input ``i`` to ``target``: in the input's own layout when the merged/split
    axes stay contiguous there (see ``layout.reshape_in_layout``), else after restoring ONNX's order.

    ``copies`` (target dim -> input dim) says which unknown target dims are input dims passed through:
    with several unknown dims the target is then built from the input's run-time shape.
    """
    t = ctx.tensor(i)
    if t.value is not None and t.shape is not None and target is not None:
        plan = layout.reshape_in_layout(t.perm, t.shape, target)
        if plan is not None and static_target(plan[0]) is not None:
            if t.perm is not None:
                return ctx.laid(reshape_to(ctx, t.value, plan[0]), plan[1])
        elif plan is not None and copies:
            shape = _carried_shape(ctx, t.value, t.perm, t.shape, target, copies, plan[1])
            if shape is not None:
                return ctx.laid(ctx.reshape(t.value, shape, label=None), plan[1])
    if static_target(target) is None and copies and t.shape is not None:
        x = ctx.input_for_reshape(i)
        shape = _carried_shape(ctx, x, None, t.shape, target, copies, None)
        if shape is not None:
            return ctx.laid(ctx.reshape(x, shape, label=None), None)
    return ctx.laid(reshape_to(ctx, ctx.input_for_reshape(i), target), None)


def _carried_shape(ctx: NodeContext, x: Value, perm: Perm, src: Sequence[int | None], dst: Sequence[int | None],
                   copies: dict[int, int], out_perm: Perm) -> Value | None:
    """A run-time Reshape target for ``x`` (laid out as ``perm``) whose unknown dims are input dims
    passed through (``copies``): each is read from ``Shape(x)``, except one left as -1. The result is
    laid out as ``out_perm``. None when an unknown dim is not a plain copy, or the layout would
    merge or split it."""
    non_copies = [b for b, d in enumerate(dst) if d is None and b not in copies]
    if len(non_copies) > 1:  # only one dim can be left to Reshape's -1
        return None
    if out_perm is not None:  # the layout plan must move each copied dim as a whole
        groups = layout.reshape_groups(src, dst)
        if groups is None:
            return None
        for axes, outs in groups:
            for b in outs:
                if b in copies and dst[b] is None and (list(axes) != [copies[b]] or len(outs) != 1):
                    return None
    out_axes = layout.full(out_perm, len(dst))
    unknown = [k for k, b in enumerate(out_axes) if dst[b] is None]
    free = [k for k in unknown if out_axes[k] not in copies] or unknown[-1:]
    shape = ctx.shape_of(x, label="input_shape")
    pieces: list[Value | list[int]] = []
    for k, b in enumerate(out_axes):
        if dst[b] is not None or k == free[0]:
            pieces.append([-1 if dst[b] is None else int(dst[b])])
            continue
        a = layout.ir_axis(perm, copies[b])
        pieces.append(ctx.shape_slice(shape, a, a + 1, label=f"dim{k}"))
    return ctx.concat_shape(pieces, label="target_shape")


def binary(ctx: NodeContext, tf_op: str, *, dtype: DType | None = None) -> Laid:
    values, perm = common_layout(ctx, [0, 1])
    return ctx.laid(ctx.op(tf_op, values, dtype=dtype), perm)


def reduce(ctx: NodeContext, tf_op: str, axes: Sequence[int] | None, keepdims: bool) -> Laid:
    """A reduction over ONNX ``axes`` (None: all), done in the input's layout."""
    rank = ctx.rank(0)
    axes = list(range(rank)) if axes is None else sorted({norm_axis(ctx, int(a), rank) for a in axes})
    x, perm = ctx.input_laid(0)
    ir_axes = sorted(layout.ir_axis(perm, a) for a in axes)
    out = ctx.op(tf_op, [x, ctx.ints(ir_axes, label="axes")], {"keep_dims": bool(keepdims), "Tidx": DType.INT32})
    return ctx.laid(out, perm if keepdims else layout.after_removing(perm, rank, axes))


def static_target(shape: Sequence[int | None] | None) -> list[int] | None:
    """``shape`` as a Reshape target: unknown dims as -1 when at most one is unknown, else None."""
    if shape is None:
        return None
    unknown = [d for d in shape if d is None or d < 0]
    if len(unknown) > 1:
        return None
    return [-1 if d is None or d < 0 else int(d) for d in shape]


def reshape_to(ctx: NodeContext, x: Value, shape: Sequence[int | None] | None, *, label: str | None = None) -> Value:
    """Reshape ``x`` to a (mostly) static ONNX shape, or fail clearly."""
    target = static_target(shape)
    if target is None:
        raise ctx.error(f"the output shape {list(shape) if shape is not None else '?'} has more than one unknown "
                        "dimension; dynamic reshapes are not supported yet",
                        hint="export the model with static input shapes (or only a dynamic batch)")
    return ctx.op("Reshape", [x, ctx.ints(target, label=f"{label or 'reshape'}/shape")], {"Tshape": DType.INT32},
                  label=label, shape=tuple(None if d < 0 else d for d in target))
