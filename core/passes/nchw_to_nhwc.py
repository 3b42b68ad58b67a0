"""Channels-first convolutions (transposed too), pools, biases, batch norms → channels-last ones between Transposes.

TF.js reads ``data_format`` for a few ops only and not on every backend: an NCHW
``DepthwiseConv2dNative`` in a frozen graph runs as if it were NHWC on cpu and wasm (wrong numbers,
no error). So every op below with a channels-first ``data_format`` becomes its channels-last form
reading ``Transpose(x, to_last)``, and the original node (name and output kept) becomes
``Transpose(new, to_first)``. The 4/5-entry attrs (``strides``, ``ksize``, ``dilations``) and the
8-entry ``explicit_paddings`` are in the data format's order and are permuted too.
``transpose_chains`` then cancels the Transposes between consecutive channels-first ops.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Value
from . import Pass, PassResult
from .graph_edit import Uses, attr_text, const_array, make_const, rewrite
from .shapes import infer_shapes

#: Transposed convolutions: the data is input 2, and input 0 is the output's shape in the data format's order.
BACKPROP_INPUT_OPS = frozenset({"Conv2DBackpropInput", "Conv3DBackpropInputV2"})
OPS = frozenset({"Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "BiasAdd", "FusedBatchNorm",
                 "FusedBatchNormV2", "FusedBatchNormV3", "Conv3D", "MaxPool3D", "AvgPool3D", *BACKPROP_INPUT_OPS})
CHANNELS_FIRST = {"NCHW": "NHWC", "NCDHW": "NDHWC"}
WINDOW_ATTRS = ("strides", "ksize", "dilations")


def to_last(rank: int) -> list[int]:
    """The permutation taking a channels-first tensor of ``rank`` to channels-last."""
    return [0, *range(2, rank), 1]


def to_first(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]


def _transpose(graph: Graph, x: Value, perm: list[int], name: str) -> Value:
    perm_value = graph.const([int(p) for p in perm], name=f"{name}/perm", dtype=DType.INT32)
    t = {"T": x.dtype} if x.dtype is not None else {}
    shape = tuple(x.shape[p] for p in perm) if x.shape is not None and len(x.shape) == len(perm) else None
    return graph.add_op("Transpose", [x, perm_value], {**t, "Tperm": DType.INT32}, name=name, dtype=x.dtype,
                        shape=shape)


def _permuted_shape(graph: Graph, sizes: Value, perm: list[int], name: str) -> Value:
    """A shape vector in the data format's order, reordered by ``perm`` (folded when constant)."""
    array = const_array(sizes)
    if array is not None and array.shape == (len(perm),):
        return make_const(graph, array[perm], name)
    indices = graph.const(np.asarray(perm, np.int32), name=f"{name}/perm")
    axis = graph.const(np.int32(0), name=f"{name}/axis")
    return graph.add_op("GatherV2", [sizes, indices, axis], {"Tparams": sizes.dtype, "Tindices": DType.INT32,
                                                             "Taxis": DType.INT32, "batch_dims": 0},
                        name=name, dtype=sizes.dtype, shape=(len(perm),))


def channels_last_attrs(attrs: dict, layout: str) -> dict:
    """``attrs`` with the layout-ordered lists permuted and ``data_format`` channels-last."""
    rank = len(layout)
    perm = to_last(rank)
    new = dict(attrs, data_format=CHANNELS_FIRST[layout])
    for key in WINDOW_ATTRS:
        value = attrs.get(key)
        if isinstance(value, list) and len(value) == rank:
            new[key] = [value[p] for p in perm]
    pads = attrs.get("explicit_paddings")
    if isinstance(pads, list) and len(pads) == 2 * rank:
        new["explicit_paddings"] = [pads[2 * p + k] for p in perm for k in (0, 1)]
    return new


class ChannelsLast(Pass):
    """NCHW/NCDHW ops → NHWC/NDHWC ops with Transposes around them."""

    name = "nchw_to_nhwc"
    level = 0
    after = ("batch_matmul_broadcast", "empty_reductions", "float_floor_division", "one_hot", "select_rows",
             "shape_n", "strided_slice", "switch_n", "tensor_scatter_update", "tfjs_pass_through",
             "truncating_division")

    def run(self, graph: Graph) -> PassResult:
        todo = [n for n in graph.nodes
                if n.op in OPS and attr_text(n, "data_format", "NHWC") in CHANNELS_FIRST]
        if not todo:
            return PassResult(0)
        uses, shapes, count = Uses(graph), None, 0
        for node in todo:
            layout = attr_text(node, "data_format")
            rank = len(layout)
            data = 2 if node.op in BACKPROP_INPUT_OPS else 0
            x = node.inputs[data]
            if node.op == "BiasAdd":  # any rank >= 2 in NCHW: the channels are dimension 1
                shapes = shapes if shapes is not None else infer_shapes(graph)
                shape = shapes.get(x, x.shape)
                if shape is None:
                    continue
                rank = len(shape)
                if rank < 3:  # (N, C): already channels-last
                    node.attrs["data_format"] = "NHWC"
                    count += 1
                    continue
            moved = _transpose(graph, x, to_last(rank), f"{node.name}/to_channels_last")
            attrs = channels_last_attrs(node.attrs, layout) if rank == len(layout) else dict(node.attrs,
                                                                                              data_format="NHWC")
            inputs = list(node.inputs)
            inputs[data] = moved
            if node.op in BACKPROP_INPUT_OPS:
                inputs[0] = _permuted_shape(graph, inputs[0], to_last(rank), f"{node.name}/channels_last_sizes")
            last = graph.add_node(node.op, inputs, attrs, name=f"{node.name}/channels_last",
                                  num_outputs=len(node.outputs))
            for old, new in zip(node.outputs, last.outputs):
                new.dtype = old.dtype
                if old.index > 0:  # a batch norm's statistics: per channel, the same in either layout
                    new.shape = old.shape
                    uses.replace(graph, old, new)
            del node.outputs[1:]
            rewrite(node, "Transpose", [last.output(0), graph.const(to_first(rank), name=f"{node.name}/perm",
                                                                    dtype=DType.INT32)],
                    {"T": node.attrs.get("T", x.dtype), "Tperm": DType.INT32})
            count += 1
        return PassResult(count)
