"""``SAME`` convolutions whose window is smaller than their stride on an axis: TF's pads written out.

TF's SAME pads ``max(raw, 0)`` on each spatial axis, ``raw = (ceil(n/s) - 1)·s + (k - 1)·d + 1 - n``. Where ``raw`` is
negative on an axis (the window skips input there), TF.js 4.22's wasm ``Conv2D``/``DepthwiseConv2dNative`` (and their
fused forms) compute SAME wrongly, silently: found in session 16 by a probe of Keras conv options (kernel (1, 3),
strides (2, 1) on an even height: ~1 off on outputs of scale 10); a grid of kernels, strides and sizes
(``tests/test_same_padding.py``) showed every wrong case has a negative ``raw``, and 1×1 kernels right. ``EXPLICIT``
padding with TF's numbers is the same convolution and right on cpu, wasm and webgl, so:

* sizes known: ``padding="EXPLICIT"`` with TF's pads (all zero: ``VALID``);
* an unknown size on an axis where the pad does not depend on it (stride 1: ``k_eff - 1``; ``k_eff = 1``: 0) too;
* else a ``Pad`` computed from ``Shape`` at run time (TF's rule in int32), then the conv ``VALID``.

Only convolutions that can have a negative ``raw`` (``k_eff < s`` on some axis) are touched; NHWC only (wasm refuses
NCHW convolutions anyway). ``pad_into_conv`` keeps the result (:func:`same_is_safe`).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..interpreter.nn_kernels import same_padding
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import attr_text
from .shapes import infer_shapes

CONVS = frozenset({"Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"})


def _axes(conv: Node, window: tuple[int, int]) -> list[tuple[int, int]]:
    """(effective window, stride) of H and W."""
    strides = [int(s) for s in conv.attrs.get("strides", [1, 1, 1, 1])]
    dilations = [int(d) for d in conv.attrs.get("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]]
    return [((window[i] - 1) * dilations[i + 1] + 1, strides[i + 1]) for i in range(2)]


def same_is_safe(conv: Node, in_hw: tuple, window: tuple[int, int]) -> bool:
    """Whether TF.js may run this conv as ``SAME``: no axis where the window can be smaller than the stride's reach
    (``raw`` < 0), judged on the known size or, unknown, on whether it could be."""
    for (effective, stride), size in zip(_axes(conv, window), in_hw):
        if effective >= stride:
            continue
        if size is None or (-(-size // stride) - 1) * stride + effective - size < 0:
            return False
    return True


class ExplicitSamePadding(Pass):
    """Write TF's SAME pads out where TF.js's wasm would compute them wrongly (see the module docstring)."""

    name = "same_padding"
    level = 0
    # last of the required rewrites: after channels-last and the lowerings that make convolutions (grouped, dilated
    # transposed, 3-D), before pad_into_conv and fusion
    after = ("conv3d_transpose", "cumulative_axis", "dilated_transposed_conv", "grouped_conv", "lookup_shape",
             "pool_3d", "batchnorm_global", "pad_rank", "binary_rank", "exact_special_values", "strided_gather",
             "transpose_rank")

    def run(self, graph: Graph) -> PassResult:
        candidates = [n for n in graph.nodes if n.op in CONVS and attr_text(n, "padding", "VALID").upper() == "SAME"
                      and attr_text(n, "data_format", "NHWC") == "NHWC" and len(n.inputs) >= 2]
        if not candidates:
            return PassResult(0)
        shapes = infer_shapes(graph)
        count = 0
        for conv in candidates:
            weights = shapes.get(conv.inputs[1])
            x_shape = shapes.get(conv.inputs[0])
            if weights is None or len(weights) != 4 or None in weights[:2]:
                continue
            window = (int(weights[0]), int(weights[1]))
            in_hw = (x_shape[1], x_shape[2]) if x_shape is not None and len(x_shape) == 4 else (None, None)
            if same_is_safe(conv, in_hw, window):
                continue
            pads = _static_pads(conv, in_hw, window)
            if pads is not None:
                _set_explicit(conv, pads)
            else:
                _pad_at_run_time(graph, conv, window)
            count += 1
        return PassResult(count)


def _static_pads(conv: Node, in_hw: tuple, window: tuple[int, int]) -> list[int] | None:
    """[top, bottom, left, right] as TF's SAME gives them, where no unknown size changes them, else None."""
    pads: list[int] = []
    for (effective, stride), size in zip(_axes(conv, window), in_hw):
        if size is not None:
            pads += same_padding(int(size), effective, stride, 1)
        elif stride == 1:
            pads += [(effective - 1) // 2, effective - 1 - (effective - 1) // 2]
        elif effective == 1:
            pads += [0, 0]
        else:
            return None
    return pads


def _set_explicit(conv: Node, pads: list[int]) -> None:
    attrs = dict(conv.attrs)
    attrs.pop("explicit_paddings", None)
    if any(pads):
        attrs["padding"] = "EXPLICIT"
        attrs["explicit_paddings"] = [0, 0, *pads, 0, 0]
    else:
        attrs["padding"] = "VALID"
    conv.attrs = attrs


def _pad_at_run_time(graph: Graph, conv: Node, window: tuple[int, int]) -> None:
    """``Pad(x, TF's SAME pads from Shape(x))``, then the conv ``VALID``: ``out = ceil(n/s)``, ``total = max((out - 1)·s
    + k_eff - n, 0)``, before ``total // 2``, in int32."""
    x = conv.inputs[0]
    name = conv.name

    def const(value: list[int] | int, label: str) -> Value:
        return graph.const(np.asarray(value, np.int32), name=f"{name}/same_padding/{label}", dtype=DType.INT32)

    def op(kind: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
        return graph.add_op(kind, inputs, {"T": DType.INT32, **(attrs or {})}, name=f"{name}/same_padding/{label}",
                            dtype=DType.INT32)

    shape = graph.add_op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, name=f"{name}/same_padding/shape",
                         dtype=DType.INT32, shape=(4,))
    rows = [const([[0, 0]], "batch")]
    for axis, (effective, stride) in zip((1, 2), _axes(conv, window)):
        size = op("GatherV2", [shape, const([axis], f"axis_{axis}"), const(0, f"gather_axis_{axis}")],
                  f"size_{axis}", {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32,
                                   "batch_dims": 0})
        out = op("FloorDiv", [op("AddV2", [size, const(stride - 1, f"round_up_{axis}")], f"plus_{axis}"),
                              const(stride, f"stride_{axis}")], f"out_{axis}")
        reach = op("AddV2", [op("Mul", [op("Sub", [out, const(1, f"one_{axis}")], f"out_less_one_{axis}"),
                                        const(stride, f"stride_again_{axis}")], f"steps_{axis}"),
                             const(effective, f"window_{axis}")], f"reach_{axis}")
        total = op("Maximum", [op("Sub", [reach, size], f"raw_{axis}"), const(0, f"zero_{axis}")], f"total_{axis}")
        before = op("FloorDiv", [total, const(2, f"two_{axis}")], f"before_{axis}")
        after = op("Sub", [total, before], f"after_{axis}")
        rows.append(op("ConcatV2", [before, after, const(0, f"concat_axis_{axis}")], f"pads_{axis}",
                       {"N": 2, "Tidx": DType.INT32}))
    rows.append(const([[0, 0]], "channels"))
    flat = [graph.add_op("Reshape", [row, const([1, 2], f"row_shape_{i}")], {"T": DType.INT32, "Tshape": DType.INT32},
                         name=f"{name}/same_padding/row_{i}", dtype=DType.INT32, shape=(1, 2))
            if i in (1, 2) else row for i, row in enumerate(rows)]
    paddings = op("ConcatV2", [*flat, const(0, "rows_axis")], "paddings", {"N": 4, "Tidx": DType.INT32})
    padded = graph.add_op("Pad", [x, paddings], {"T": x.dtype, "Tpaddings": DType.INT32},
                          name=f"{name}/same_padding/padded", dtype=x.dtype)
    conv.inputs[0] = padded
    _set_explicit(conv, [0, 0, 0, 0])
