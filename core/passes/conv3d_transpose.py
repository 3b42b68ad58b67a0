"""``Conv3DBackpropInputV2`` (Keras's ``Conv3DTranspose``) → zero-stuffed input, ``Pad``, ``Conv3D``.

TF.js graph models have no ``Conv3DBackpropInputV2`` (tfjs-converter maps no such op), so every
backend needs this rewrite. A transposed convolution is the convolution it is the adjoint of: put
``stride - 1`` zeros after every input element along each strided axis (``ExpandDims`` + ``Pad`` +
``Reshape``), pad by ``k_eff - 1 - pad_before`` in front and up to the output size behind (a
``StridedSlice`` crops where that is negative), then a stride-1 VALID ``Conv3D`` with the filter
flipped in space and its channel axes swapped (``ReverseV2`` + ``Transpose`` unless it is constant)
and TF's dilations. Exact: the zeros add nothing. ``pad_before`` is TF's: 0 for VALID, half (rounded
down) of ``max((I-1)·s + k_eff - O, 0)`` for SAME. The ONNX frontend does the same for its 3-D
``ConvTranspose``. Needs NDHWC, static spatial sizes and channels of the gradient input, and the
output's spatial sizes (constant ``input_sizes``, a ``Pack`` of a run-time batch and constant sizes, as Keras
builds it, or inferred); otherwise the op stays and is refused.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .dilated_transposed_conv import _constant
from .graph_edit import attr_text, make_const, rewrite
from .shapes import infer_shapes

OP = "Conv3DBackpropInputV2"


def _spatial(node: Node, name: str) -> list[int] | None:
    value = node.attrs.get(name, [1] * 5)
    if not isinstance(value, (list, tuple)) or len(value) != 5 or value[0] != 1 or value[4] != 1:
        return None
    return [int(v) for v in value[1:4]]


def _output_sizes(node: Node, shapes: dict) -> list[int] | None:
    sizes = _constant(node.inputs[0])
    if sizes is not None and sizes.shape == (5,):
        return [int(v) for v in sizes[1:4]]
    packed = node.inputs[0].producer
    if packed.op == "Pack" and len(packed.inputs) == 5 and int(packed.attrs.get("axis", 0) or 0) == 0:
        # Keras builds input_sizes as stack([shape(x)[0], d, h, w, c]): the batch is dynamic, the rest constant
        parts = [_constant(v) for v in packed.inputs[1:4]]
        if all(p is not None and np.size(p) == 1 for p in parts):
            return [int(np.reshape(p, ())) for p in parts]
    shape = shapes.get(node.output(0), node.output(0).shape)
    if shape is not None and len(shape) == 5 and all(d is not None for d in shape[1:4]):
        return [int(d) for d in shape[1:4]]
    return None


class Conv3DTransposeAsConv3D(Pass):
    """Conv3DBackpropInputV2 → zero-stuffed, padded input and a flipped-filter stride-1 Conv3D."""

    name = "conv3d_transpose"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op == OP and len(n.inputs) == 3]
        if not nodes:
            return PassResult(0)
        shapes = infer_shapes(graph)
        return PassResult(sum(self._rewrite(graph, node, shapes) for node in nodes))

    def _rewrite(self, graph: Graph, node: Node, shapes: dict) -> bool:
        _, w, x = node.inputs
        strides, dilations = _spatial(node, "strides"), _spatial(node, "dilations")
        padding = attr_text(node, "padding", "VALID")
        x_shape, w_shape = shapes.get(x, x.shape), shapes.get(w, w.shape)
        outs = _output_sizes(node, shapes)
        if (strides is None or dilations is None or padding not in ("SAME", "VALID") or outs is None
                or attr_text(node, "data_format", "NDHWC") != "NDHWC"
                or x_shape is None or len(x_shape) != 5 or any(d is None for d in x_shape[1:])
                or w_shape is None or len(w_shape) != 5 or any(d is None for d in w_shape)):
            return False
        sizes, channels = [int(d) for d in x_shape[1:4]], int(x_shape[4])
        kernel = [(int(k) - 1) * d + 1 for k, d in zip(w_shape[:3], dilations)]
        before = [max((i - 1) * s + k - o, 0) // 2 if padding == "SAME" else 0
                  for i, s, k, o in zip(sizes, strides, kernel, outs)]
        dtype = node.attrs.get("T", DType.FLOAT32)
        name = node.name

        def ints(values, label: str) -> Value:
            return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

        grown = list(sizes)
        for axis, stride in enumerate(strides):
            if stride == 1:
                continue
            at = axis + 2  # a new axis right after spatial axis ``axis``, padded to ``stride`` and merged
            x = graph.add_op("ExpandDims", [x, ints(at, f"stuff{axis}_axis")], {"T": dtype, "Tdim": DType.INT32},
                             name=f"{name}/stuff{axis}_expand", dtype=dtype)
            pads = np.zeros((6, 2), np.int32)
            pads[at, 1] = stride - 1
            x = graph.add_op("Pad", [x, ints(pads, f"stuff{axis}_pads")], {"T": dtype, "Tpaddings": DType.INT32},
                             name=f"{name}/stuff{axis}_pad", dtype=dtype)
            grown[axis] *= stride
            x = graph.add_op("Reshape", [x, ints([-1, *grown, channels], f"stuff{axis}_shape")],
                             {"T": dtype, "Tshape": DType.INT32}, name=f"{name}/stuff{axis}", dtype=dtype)
        lo = [k - 1 - b for k, b in zip(kernel, before)]
        hi = [o + b - g for o, b, g in zip(outs, before, grown)]
        pads = np.array([[0, 0], *[[max(a, 0), max(b, 0)] for a, b in zip(lo, hi)], [0, 0]], np.int32)
        if pads.any():
            x = graph.add_op("Pad", [x, ints(pads, "pads")], {"T": dtype, "Tpaddings": DType.INT32},
                             name=f"{name}/pad", dtype=dtype)
        if any(v < 0 for v in lo + hi):
            begin = [0, *[max(-a, 0) for a in lo], 0]
            end = [0, *[g + max(a, 0) + b for g, a, b in zip(grown, lo, hi)], 0]
            masks = {"begin_mask": 0b10001, "end_mask": 0b10001, "ellipsis_mask": 0, "new_axis_mask": 0,
                     "shrink_axis_mask": 0}
            x = graph.add_op("StridedSlice", [x, ints(begin, "crop_begin"), ints(end, "crop_end"),
                                              ints([1] * 5, "crop_strides")],
                             {"T": dtype, "Index": DType.INT32, **masks}, name=f"{name}/crop", dtype=dtype)
        rewrite(node, "Conv3D", [x, self._flipped(graph, node, w, dtype, w_shape)],
                {"T": dtype, "strides": [1] * 5, "dilations": [1, *dilations, 1], "padding": "VALID",
                 "data_format": "NDHWC"})
        return True

    @staticmethod
    def _flipped(graph: Graph, node: Node, w: Value, dtype: DType, w_shape: tuple) -> Value:
        """``[kd, kh, kw, out, in]`` → flipped in space, ``[kd, kh, kw, in, out]`` (``w_shape``: inferred)."""
        array = _constant(w)
        if array is not None:
            return make_const(graph, array[::-1, ::-1, ::-1].transpose(0, 1, 2, 4, 3), f"{node.name}/filter")
        sizes = list(w_shape or [])[:3]
        if len(sizes) == 3 and all(isinstance(k, int) and k > 0 for k in sizes):
            # A Gather of the reversed positions per spatial axis: webgl has no rank-5 ReverseV2.
            for axis, k in enumerate(sizes):
                w = graph.add_op("GatherV2", [w, graph.const(np.arange(k - 1, -1, -1, dtype=np.int32),
                                                             name=f"{node.name}/flip{axis}_positions"),
                                              graph.const(np.asarray(axis, np.int32), name=f"{node.name}/flip{axis}_axis")],
                                 {"Tparams": dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                                 name=f"{node.name}/flip{axis}", dtype=dtype)
        else:
            axes = graph.const(np.asarray([0, 1, 2], np.int32), name=f"{node.name}/flip_axes")
            w = graph.add_op("ReverseV2", [w, axes], {"T": dtype, "Tidx": DType.INT32}, name=f"{node.name}/flip",
                             dtype=dtype)
        perm = graph.const(np.asarray([0, 1, 2, 4, 3], np.int32), name=f"{node.name}/swap_perm")
        return graph.add_op("Transpose", [w, perm], {"T": dtype, "Tperm": DType.INT32},
                            name=f"{node.name}/filter", dtype=dtype)
