"""Simplify reshapes: ``Reshape(Reshape(x, s1), s2)`` → ``Reshape(x, s2)``, and drop reshapes
(and ``Squeeze``/``ExpandDims``) whose static output shape equals their static input shape.

A reshape keeps the element order, so only the last target shape matters; with ``-1`` in ``s2``
the size is still determined by the (unchanged) element count.

Two Keras patterns too (EfficientNet's squeeze-and-excitation blocks have both):

* ``Reshape(x, Pack(Shape(x)[0], c1, …, ck))`` (a Keras ``Reshape`` layer keeping the batch size)
  → ``Reshape(x, [-1, c1, …, ck])``: the element count fixes ``-1`` to the batch size;
* ``Reshape(Mean(y, axes, keep_dims=False), s)`` where ``s`` puts the reduced axes back as 1s
  → ``Mean(y, axes, keep_dims=True)`` (likewise Sum, Max, Min, Prod).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Value
from . import Pass
from .graph_edit import Uses, const_array, is_const, make_const
from .shapes import infer_shapes, is_static

SHAPE_ONLY = frozenset({"Reshape", "Squeeze", "ExpandDims"})
REDUCTIONS = frozenset({"Mean", "Sum", "Max", "Min", "Prod"})


def _is_batch_size_of(value: Value, source: Value) -> bool:
    """``value`` is ``Shape(source)[0]`` as a scalar (``StridedSlice`` with shrink_axis_mask=1)."""
    node = value.producer
    if node.op != "StridedSlice" or value.index != 0 or len(node.inputs) != 4:
        return False
    if any(node.attrs.get(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask")):
        return False
    if node.attrs.get("shrink_axis_mask", 0) != 1:
        return False
    begin, end, strides = (const_array(v) for v in node.inputs[1:])
    if begin is None or end is None or strides is None:
        return False
    if [begin.ravel().tolist(), end.ravel().tolist(), strides.ravel().tolist()] != [[0], [1], [1]]:
        return False
    shape = node.inputs[0].producer
    return shape.op == "Shape" and node.inputs[0].index == 0 and shape.inputs[0] is source


def batch_preserving_target(graph: Graph, node: Node, uses: Uses) -> bool:
    """``Reshape(x, Pack(Shape(x)[0], c1, …))`` → ``Reshape(x, [-1, c1, …])`` (all ``c`` > 0)."""
    pack = node.inputs[1].producer
    if pack.op != "Pack" or pack.attrs.get("axis", 0) != 0 or len(pack.inputs) < 2:
        return False
    if not _is_batch_size_of(pack.inputs[0], node.inputs[0]):
        return False
    rest = [const_array(v) for v in pack.inputs[1:]]
    if any(c is None or c.shape != () or int(c) <= 0 for c in rest):
        return False
    dtype = node.inputs[1].dtype.numpy if node.inputs[1].dtype is not None else np.int32
    target = np.asarray([-1, *(int(c) for c in rest)], dtype=dtype)
    uses.drop_reader(node.inputs[1], node)
    node.inputs[1] = make_const(graph, target, f"{node.name}/shape")
    uses.readers.setdefault(node.inputs[1], []).append(node)
    return True


def reduction_keeping_dims(node: Node, uses: Uses, shapes: dict) -> bool:
    """``Reshape(Reduce(y, axes, keep_dims=False), s)`` → ``Reduce(y, axes, keep_dims=True)`` when
    ``s`` is exactly the keep-dims shape (at most one unknown dim, given as -1 in ``s``)."""
    source = node.inputs[0]
    inner = source.producer
    if inner.op not in REDUCTIONS or inner.attrs.get("keep_dims") or inner.control_inputs:
        return False
    if uses.only_reader(source) is not node:
        return False
    target, axes, shape = const_array(node.inputs[1]), const_array(inner.inputs[1]), shapes.get(inner.inputs[0])
    if target is None or axes is None or shape is None or sum(d is None for d in shape) > 1:
        return False
    rank = len(shape)
    reduced = {int(a) % rank for a in np.asarray(axes).ravel()} if rank else set()
    kept = [1 if i in reduced else (-1 if d is None else int(d)) for i, d in enumerate(shape)]
    if [int(t) for t in np.asarray(target).ravel()] != kept:
        return False
    node.op = inner.op
    node.inputs = list(inner.inputs)
    node.attrs = {**inner.attrs, "keep_dims": True}
    uses.drop_reader(source, node)
    return True


class SimplifyReshapes(Pass):
    name = "reshape_chains"
    level = 1
    order = 45

    def run(self, graph: Graph) -> int:
        candidates = [n for n in graph if n.op in SHAPE_ONLY]
        if not candidates:
            return 0
        uses = Uses(graph)
        changed = 0
        for node in graph.topological_order():
            if node.op != "Reshape" or node.control_inputs or len(node.inputs) != 2:
                continue
            source = node.inputs[0]
            inner = source.producer
            if (inner.op in SHAPE_ONLY and source.index == 0 and not inner.control_inputs
                    and is_const(node.inputs[1])):
                uses.drop_reader(source, node)
                node.inputs[0] = inner.inputs[0]
                uses.readers.setdefault(inner.inputs[0], []).append(node)
                changed += 1
        for node in graph.topological_order():
            if node.op == "Reshape" and not node.control_inputs and len(node.inputs) == 2:
                changed += batch_preserving_target(graph, node, uses)
        shapes = infer_shapes(graph)
        for node in graph.topological_order():
            if node.op == "Reshape" and not node.control_inputs and len(node.inputs) == 2:
                changed += reduction_keeping_dims(node, uses, shapes)
        for node in graph.topological_order():
            if node.op not in SHAPE_ONLY or node.control_inputs or node in uses.control_anchors:
                continue
            source, out = node.inputs[0], node.output(0)
            if not (is_static(shapes.get(source)) and shapes.get(source) == shapes.get(out)):
                continue
            if out in uses.outputs:
                continue  # keeps the output's tensor name
            uses.replace(graph, out, source)
            for value in node.inputs:
                uses.drop_reader(value, node)
            changed += 1
        return changed

