"""Graph plumbing and shape/array ops: Const, Identity, Reshape, slicing, gathering, padding …"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..errors import GraphError
from ..ir import Node, materialize
from .registry import attr_list, attr_str, ints, kernel, unsupported


@kernel("Const")
def _const(node: Node, _: list[np.ndarray]) -> list[np.ndarray]:
    return [materialize(node.attrs["value"])]


@kernel("Identity", "StopGradient", "Snapshot", "CheckNumerics", "Print", "PreventGradient", "EnsureShape")
def _identity(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0]]


@kernel("IdentityN")
def _identity_n(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return list(xs)


@kernel("Placeholder")
def _placeholder(node: Node, _: list[np.ndarray]) -> list[np.ndarray]:
    raise GraphError(f"placeholder {node.name} was not fed")


def _out_int(node: Node, key: str = "out_type") -> np.dtype:
    return DType.from_any(node.attrs.get(key, DType.INT32)).numpy


@kernel("Shape")
def _shape(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(xs[0].shape, dtype=_out_int(node))]


@kernel("ShapeN")
def _shape_n(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(x.shape, dtype=_out_int(node)) for x in xs]


@kernel("Size")
def _size(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(xs[0].size, dtype=_out_int(node))]


@kernel("Rank")
def _rank(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(xs[0].ndim, dtype=np.int32)]


@kernel("Reshape")
def _reshape(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0].reshape(tuple(ints(xs[1])))]


@kernel("Transpose")
def _transpose(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(xs[0], tuple(ints(xs[1])))]


@kernel("Squeeze")
def _squeeze(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    axes = attr_list(node, "squeeze_dims") or attr_list(node, "axis")
    if not axes:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(int(a) % x.ndim for a in axes))]


@kernel("ExpandDims")
def _expand_dims(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    axis = ints(xs[1])[0]
    return [np.expand_dims(x, axis if axis >= 0 else axis + x.ndim + 1)]


@kernel("ConcatV2")
def _concat_v2(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    *parts, axis = xs
    return [np.concatenate(parts, axis=ints(axis)[0])]


@kernel("Concat")
def _concat(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    axis, *parts = xs
    return [np.concatenate(parts, axis=ints(axis)[0])]


@kernel("Pack")
def _pack(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.stack(xs, axis=int(node.attrs.get("axis", 0)))]


@kernel("Unpack")
def _unpack(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    axis = int(node.attrs.get("axis", 0)) % x.ndim
    return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]


@kernel("Slice")
def _slice(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, begin, size = xs[0], ints(xs[1]), ints(xs[2])
    index = tuple(slice(b, x.shape[i] if s == -1 else b + s) for i, (b, s) in enumerate(zip(begin, size)))
    return [x[index]]


def strided_slice_index(rank: int, begin: list[int], end: list[int], strides: list[int],
                        masks: dict[str, int]) -> tuple:
    """The numpy index equivalent to TF's StridedSlice with its five bit masks."""
    def bit(name: str, i: int) -> bool:
        return bool(masks.get(name, 0) >> i & 1)

    spec = len(begin)
    index: list = []
    dim = 0
    for i in range(spec):
        if bit("ellipsis_mask", i):
            later = sum(1 for j in range(i + 1, spec) if not bit("new_axis_mask", j))
            count = rank - dim - later
            index.extend([slice(None)] * count)
            dim += count
        elif bit("new_axis_mask", i):
            index.append(None)
        elif bit("shrink_axis_mask", i):
            index.append(begin[i])
            dim += 1
        else:
            b = None if bit("begin_mask", i) else begin[i]
            e = None if bit("end_mask", i) else end[i]
            index.append(slice(b, e, strides[i]))
            dim += 1
    return tuple(index)


@kernel("StridedSlice")
def _strided_slice(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    masks = {k: int(node.attrs.get(k, 0)) for k in
             ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    index = strided_slice_index(x.ndim, ints(xs[1]), ints(xs[2]), ints(xs[3]), masks)
    return [np.asarray(x[index])]


@kernel("GatherV2", "Gather")
def _gather(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, indices = xs[0], xs[1]
    axis = ints(xs[2])[0] if len(xs) > 2 else 0
    axis = axis % max(x.ndim, 1)
    batch_dims = int(node.attrs.get("batch_dims", 0))
    batch_dims = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    if np.any(indices < 0) or np.any(indices >= x.shape[axis]):
        raise unsupported(node, "indices out of range")
    if not batch_dims:
        return [np.take(x, indices, axis=axis)]
    if batch_dims > axis or x.shape[:batch_dims] != indices.shape[:batch_dims] or not x.size:
        raise unsupported(node, f"batch_dims {batch_dims} with axis {axis}")
    # one gather per batch element: out[b…, i…, rest] = x[b…, …, indices[b…, i…], …]
    flat_x = x.reshape((-1,) + x.shape[batch_dims:])
    flat_i = indices.reshape((-1,) + indices.shape[batch_dims:])
    out = np.stack([np.take(flat_x[k], flat_i[k], axis=axis - batch_dims) for k in range(flat_x.shape[0])])
    return [out.reshape(x.shape[:batch_dims] + out.shape[1:])]


@kernel("Pad", "PadV2", "MirrorPad")
def _pad(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, paddings = xs[0], np.asarray(xs[1]).reshape(-1, 2)
    pads = [(int(a), int(b)) for a, b in paddings]
    if node.op == "MirrorPad":
        mode = attr_str(node, "mode", "REFLECT").upper()
        return [np.pad(x, pads, mode="reflect" if mode == "REFLECT" else "symmetric")]
    value = xs[2].item() if node.op == "PadV2" else 0
    return [np.pad(x, pads, constant_values=value)]


@kernel("Fill")
def _fill(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.full(tuple(ints(xs[0])), xs[1], dtype=xs[1].dtype)]


@kernel("Range")
def _range(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    start, limit, delta = (np.asarray(x).item() for x in xs)
    return [np.arange(start, limit, delta).astype(xs[0].dtype)]


@kernel("Tile")
def _tile(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.tile(xs[0], tuple(ints(xs[1])))]


@kernel("BroadcastTo")
def _broadcast_to(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(np.broadcast_to(xs[0], tuple(ints(xs[1]))))]


@kernel("Split")
def _split(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    axis, x = ints(xs[0])[0], xs[1]
    return list(np.split(x, int(node.attrs.get("num_split", 1)), axis=axis))


@kernel("SplitV")
def _split_v(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, sizes, axis = xs[0], ints(xs[1]), ints(xs[2])[0]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("OneHot")
def _one_hot(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    indices, depth, on, off = xs
    axis = int(node.attrs.get("axis", -1))
    hot = np.arange(int(depth)) == indices[..., None]
    out = np.where(hot, on, off)
    return [np.moveaxis(out, -1, axis) if axis != -1 else out]
