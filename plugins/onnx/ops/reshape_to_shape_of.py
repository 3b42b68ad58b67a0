"""``Reshape(x, Shape(t))`` where ``x`` is provably ``t``-shaped data reshaped: that data, in ``t``'s layout.

torch's ``GroupNorm`` export reshapes the normalized [N, G, L] tensor back with ``Shape(input)``
read at run time when the image size (or batch) is dynamic. The group norm itself is computed
channels-last (``normalization._torch_group_norm``), so the data already exists in the input's
NHWC layout: giving it back in that layout spares a Transpose pair and keeps the elementwise ops
that follow (affine, activation) channels-last too.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.passes.graph_edit import const_array
from tfjsconv.passes.reshape_chains import reshape_source_shaped

from .. import layout
from ..context import Laid, NodeContext
from ..symbolic import Dim, elements_of


def reshape_to_shape_of(ctx: NodeContext) -> Laid | None:
    """The Reshape's output without a Reshape or Transpose when the proof holds, else None."""
    elements = elements_of(ctx.tensor(1))
    name = next((e.tensor for e in elements or () if isinstance(e, Dim)), None)
    t = ctx.tensor_named(name) if name is not None else None
    if t is None or t.value is None or t.shape is None or ctx.node.input[0] == name or len(elements) != len(t.shape):
        return None
    # each element is t's dim at its position: read at run time, or the number it is known to be
    if not all(e == Dim(name, a) or (isinstance(e, (int, np.integer)) and e == t.shape[a]) for a, e in enumerate(elements)):
        return None
    x = ctx.tensor(0)
    if x.value is None or x.perm is not None:
        return None
    perm = layout.full(t.perm, len(t.shape))
    onnx_order = tuple(layout.inverse(perm))  # ONNX dim j of t is dim onnx_order[j] of t.value
    source = reshape_source_shaped(x.value, t.value, onnx_order, {t.value: (None,) * len(t.shape)})
    if source is None:
        return None
    node = source.producer
    if t.perm is not None and node.op == "Transpose" and source.index == 0 and len(node.inputs) == 2:
        applied = const_array(node.inputs[1])
        if applied is not None and tuple(int(a) for a in applied.reshape(-1)) == onnx_order:
            return ctx.laid(node.inputs[0], perm)  # the data before it was put in ONNX's order
    return ctx.laid(source, None)
