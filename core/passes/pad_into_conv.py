"""Fold an explicit zero ``Pad`` of the spatial axes into the padding of the convolution reading it.

``Conv(Pad(x, p))`` → ``Conv(x)`` with ``padding="EXPLICIT"`` and ``explicit_paddings`` = p plus
whatever the conv padded itself (``SAME`` needs a static input size to be turned into numbers).
Exact: the conv sees the same zeros. The result is normalised back to ``VALID`` (no padding) or
``SAME`` (when the numbers are what TF's SAME rule gives) so TF.js takes its usual paths.
Only zero padding of H and W qualifies (``Pad``, or ``PadV2`` with a zero constant; not ``MirrorPad``).
"""
from __future__ import annotations


from ..interpreter.nn_kernels import same_padding
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses, attr_text, const_array
from .same_padding import same_is_safe
from .shapes import infer_shapes

CONVS = frozenset({"Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"})


def spatial_zero_pads(pad: Node) -> list[int] | None:
    """[top, bottom, left, right] of a zero Pad touching only H and W, else None."""
    if pad.op not in ("Pad", "PadV2") or pad.control_inputs:
        return None
    paddings = const_array(pad.inputs[1])
    if paddings is None or paddings.shape != (4, 2):
        return None
    if pad.op == "PadV2":
        value = const_array(pad.inputs[2])
        if value is None or value.size != 1 or value.reshape(-1)[0] != 0:
            return None
    p = [int(v) for v in paddings.reshape(-1)]
    if p[0] or p[1] or p[6] or p[7] or min(p) < 0:
        return None
    return p[2:6]


def conv_pads(conv: Node, in_hw: tuple, window: tuple) -> list[int] | None:
    """The conv's own [top, bottom, left, right], or None if unknown (SAME with a dynamic size)."""
    padding = attr_text(conv, "padding", "VALID").upper()
    if padding == "VALID":
        return [0, 0, 0, 0]
    if padding == "EXPLICIT":
        e = [int(v) for v in conv.attrs.get("explicit_paddings", [])]
        return e[2:6] if len(e) == 8 else None
    if padding == "SAME":
        return same_pads(conv, in_hw, window)
    return None


def same_pads(conv: Node, in_hw: tuple, window: tuple) -> list[int] | None:
    """What TF's SAME rule pads for this conv on an ``in_hw`` input (None if the size is dynamic)."""
    if None in in_hw:
        return None
    strides = [int(s) for s in conv.attrs.get("strides", [1, 1, 1, 1])]
    dilations = [int(d) for d in conv.attrs.get("dilations", [1, 1, 1, 1])] or [1, 1, 1, 1]
    top, bottom = same_padding(in_hw[0], window[0], strides[1], dilations[1])
    left, right = same_padding(in_hw[1], window[1], strides[2], dilations[2])
    return [top, bottom, left, right]


def set_padding(conv: Node, pads: list[int], in_hw: tuple, window: tuple) -> None:
    attrs = dict(conv.attrs)
    attrs.pop("explicit_paddings", None)
    if not any(pads):
        attrs["padding"] = "VALID"
    else:
        if same_pads(conv, in_hw, window) == pads and same_is_safe(conv, in_hw, window):  # else wasm's SAME is wrong
            attrs["padding"] = "SAME"
        else:
            attrs["padding"] = "EXPLICIT"
            attrs["explicit_paddings"] = [0, 0, pads[0], pads[1], pads[2], pads[3], 0, 0]
    conv.attrs = attrs


class FoldPadIntoConv(Pass):
    name = "pad_into_conv"
    level = 2

    def run(self, graph: Graph) -> PassResult:
        candidates = [n for n in graph if n.op in CONVS and n.inputs and n.inputs[0].producer.op in ("Pad", "PadV2")]
        if not candidates:
            return PassResult(0)
        shapes = infer_shapes(graph)
        uses = Uses(graph)
        folded = 0
        for conv in candidates:
            if attr_text(conv, "data_format", "NHWC") != "NHWC":
                continue
            pad_node = conv.inputs[0].producer
            extra = spatial_zero_pads(pad_node)
            weight_shape = shapes.get(conv.inputs[1])
            if extra is None or weight_shape is None or len(weight_shape) != 4:
                continue
            window = (weight_shape[0], weight_shape[1])
            padded = shapes.get(conv.inputs[0])
            padded_hw = (padded[1], padded[2]) if padded is not None and len(padded) == 4 else (None, None)
            own = conv_pads(conv, padded_hw, window)
            if own is None:
                continue
            x = pad_node.inputs[0]
            original = shapes.get(x)
            original_hw = (original[1], original[2]) if original is not None and len(original) == 4 else (None, None)
            total = [a + b for a, b in zip(own, extra)]
            uses.drop_reader(conv.inputs[0], conv)
            conv.inputs[0] = x
            set_padding(conv, total, original_hw, window)
            folded += 1
        return PassResult(folded)
