"""Grouped ``Conv2D``/``Conv3D`` (filter in-channels < input channels) → ``DepthwiseConv2dNative`` or Split/conv/Concat.

TF's ``Conv2D``/``Conv3D`` take ``groups = C / filter_in`` implicitly; TF.js's conv2d asserts the channels
match, and its conv3d computes something else (Keras's grouped Conv3D traced: wrong numbers, session 16). One channel per group is a depthwise conv with channel multiplier ``O / C`` (filter
``(kh, kw, 1, O)`` reshaped to ``(kh, kw, C, O / C)``: output ``c·M + m`` reads input channel c in
both); otherwise the input and filter are split into the groups, convolved, and concatenated.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import attr_text, const_array, make_const, rewrite
from .shapes import infer_shapes

CONV_ATTRS = ("T", "strides", "padding", "explicit_paddings", "dilations", "data_format")


#: The grouped convolutions lowered, by their rank (NHWC / NDHWC: channels last).
RANKS = {"Conv2D": 4, "Conv3D": 5}


def groups_of(node: Node, shapes: dict) -> tuple[int, tuple[int, ...]] | None:
    """(groups, filter shape) of a channels-last Conv2D/Conv3D whose filter covers only part of the input channels."""
    rank = RANKS.get(node.op)
    if rank is None or attr_text(node, "data_format", "NHWC" if rank == 4 else "NDHWC") not in ("NHWC", "NDHWC"):
        return None
    x, w = node.inputs[:2]
    x_shape, w_shape = shapes.get(x, x.shape), shapes.get(w, w.shape)
    if x_shape is None or len(x_shape) != rank or w_shape is None or len(w_shape) != rank or None in w_shape:
        return None
    channels, per_group, out = x_shape[-1], w_shape[-2], w_shape[-1]
    if not channels or per_group in (0, channels) or channels % per_group:  # 0 channels (a corrupt shape): 0 groups
        return None
    groups = channels // per_group
    return (groups, tuple(int(d) for d in w_shape)) if out % groups == 0 else None


def _reshaped_filter(graph: Graph, node: Node, w: Value, shape: tuple[int, ...]) -> Value:
    array = const_array(w)
    if array is not None:
        return make_const(graph, array.reshape(shape), f"{node.name}/depthwise_filter")
    target = graph.const(np.asarray(shape, np.int32), name=f"{node.name}/depthwise_filter_shape")
    return graph.add_op("Reshape", [w, target], {"T": w.dtype, "Tshape": DType.INT32},
                        name=f"{node.name}/depthwise_filter", dtype=w.dtype, shape=shape)


def _split(graph: Graph, value: Value, dtype: DType, groups: int, name: str, axis: int) -> list[Value]:
    axis = graph.const(np.int32(axis), name=f"{name}/axis")
    split = graph.add_node("Split", [axis, value], {"T": dtype, "num_split": groups}, name=name,
                           num_outputs=groups)
    for out in split.outputs:
        out.dtype = dtype
    return split.outputs


def lower_grouped_conv(graph: Graph, node: Node, groups: int, w_shape: tuple[int, ...]) -> None:
    x, w = node.inputs[:2]
    attrs = {k: node.attrs[k] for k in CONV_ATTRS if k in node.attrs}
    strides = attrs.get("strides", [1, 1, 1, 1])
    channels, last = w_shape[-2] * groups, len(w_shape) - 1
    if node.op == "Conv2D" and w_shape[2] == 1 and strides[1] == strides[2]:
        depthwise = (w_shape[0], w_shape[1], channels, w_shape[3] // channels)
        rewrite(node, "DepthwiseConv2dNative", [x, _reshaped_filter(graph, node, w, depthwise)], attrs)
        return
    dtype = attrs.get("T") or x.dtype or DType.FLOAT32
    xs = _split(graph, x, dtype, groups, f"{node.name}/split_input", last)
    array = const_array(w)
    per_out = w_shape[-1] // groups
    if array is not None:
        ws = [make_const(graph, array[..., g * per_out:(g + 1) * per_out], f"{node.name}/filter_{g}")
              for g in range(groups)]
    else:
        ws = _split(graph, w, dtype, groups, f"{node.name}/split_filter", last)
    convs = [graph.add_op(node.op, [xg, wg], dict(attrs), name=f"{node.name}/group_{g}", dtype=dtype)
             for g, (xg, wg) in enumerate(zip(xs, ws))]
    axis = graph.const(np.int32(last), name=f"{node.name}/concat_axis")
    rewrite(node, "ConcatV2", [*convs, axis], {"T": dtype, "N": groups, "Tidx": DType.INT32})


class LowerGroupedConv(Pass):
    """Conv2D/Conv3D with ``groups > 1`` → DepthwiseConv2dNative (2-D, one channel per group) or Split/conv/ConcatV2."""

    name = "grouped_conv"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        convs = [n for n in graph.nodes if n.op in RANKS]
        if not convs:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node in convs:
            found = groups_of(node, shapes)
            if found is not None:
                lower_grouped_conv(graph, node, *found)
                count += 1
        return PassResult(count)
