"""``TopKV2`` over a last axis that may be empty at run time: give wasm one element there.

Measured in TF.js 4.22 (``tests/test_runtime_empty_sizes_s33.py``): wasm's ``TopK`` throws "divide by zero" when
the input's last axis is 0 (``(3, 0)``, k = 0: the kernel divides the input's size by that axis), where TF and
onnxruntime return ``(3, 0)`` values and indices; a last axis of 1 with k = 0 and an empty batch ``(0, 5)`` run, and
cpu runs all of them. k is at most the last axis's size (TF refuses more), so it is 0 whenever that axis is: one
element appended along it exactly then (``reduction_padding.pad_axes``: a block of ``1 - min(n, 1)`` zeros, empty
and copy-free otherwise) leaves every result as it was and keeps wasm from dividing by zero.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from .reduction_padding import is_padded, pad_axes

#: Backends whose TopK throws over an empty last axis (webgpu: not probed, assumed so).
THROWS_WHEN_LAST_AXIS_EMPTY = frozenset({"wasm", "webgpu"})


def pad_empty_top_k(graph: Graph, node: Node, shapes: dict, targets: tuple[str, ...]) -> bool:
    """Pad ``node`` (a ``TopKV2``) along its last axis when that axis may be 0 at run time and a target backend
    would throw there; False when it cannot be 0, its rank is unknown (left loud) or it is padded already."""
    if node.op != "TopKV2" or not THROWS_WHEN_LAST_AXIS_EMPTY & set(targets) or is_padded(node):
        return False
    shape = shapes.get(node.inputs[0])
    dtype = node.attrs.get("T") or node.inputs[0].dtype
    if not shape or shape[-1] not in (None, 0) or not isinstance(dtype, DType):
        return False
    pad_axes(graph, node, tuple(shape), [len(shape) - 1], np.zeros((), dtype.numpy), dtype)
    return True
