"""Simplify reshapes: ``Reshape(Reshape(x, s1), s2)`` → ``Reshape(x, s2)``, and drop reshapes
(and ``Squeeze``/``ExpandDims``) whose static output shape equals their static input shape, or
whose constant target is the input's shape with its one unknown dim as ``-1`` (a dynamic batch:
torch's ``GroupNorm`` export reshapes back to ``Shape(x)``, which the ONNX frontend resolves to
``[-1, C, H, W]``; dropping it lets the Transpose pair around it cancel).

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
from . import Pass, PassResult
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


def keeps_shape(node: Node, shapes: dict) -> bool:
    """``Reshape(x, t)`` with a constant ``t`` that is ``x``'s shape, its one unknown dim as ``-1``
    (a dynamic batch): the element count fixes ``-1`` to that dim, so the output is ``x`` itself.
    Not when the known dims multiply to 0 (``-1`` is then undetermined)."""
    shape, target = shapes.get(node.inputs[0]), const_array(node.inputs[1])
    if shape is None or target is None or np.asarray(target).ndim != 1 or len(target) != len(shape):
        return False
    known = [d for d in shape if d is not None]
    if len(shape) - len(known) != 1 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in known):
        return False
    return [int(t) for t in target] == [-1 if d is None else d for d in shape]


def _shape_of(value: Value, shapes: dict) -> tuple[Value, tuple[int, ...]] | None:
    """``(w, p)`` with ``shape(value) == shape(w)[p]`` provably: a ``Reshape`` to a run-time shape
    read from ``w`` (see :func:`_target_of`), a ``Transpose`` by a constant permutation of such a
    value, else ``value`` itself (identity ``p``; its rank must be known)."""
    node = value.producer
    if node.op == "Reshape" and value.index == 0 and len(node.inputs) == 2:
        found = _target_of(node.inputs[1], shapes)
        if found is not None:
            return found
    if node.op == "Transpose" and value.index == 0 and len(node.inputs) == 2:
        perm, inner = const_array(node.inputs[1]), _shape_of(node.inputs[0], shapes)
        if perm is not None and inner is not None and sorted(np.ravel(perm).tolist()) == list(range(len(inner[1]))):
            return inner[0], tuple(inner[1][int(a)] for a in np.ravel(perm))
    shape = shapes.get(value)
    return None if shape is None else (value, tuple(range(len(shape))))


def _target_of(target: Value, shapes: dict) -> tuple[Value, tuple[int, ...]] | None:
    """``(w, p)`` when the shape vector ``target`` is ``Shape(w)``, or that gathered by constant
    indices (an NHWC value's dims put in ONNX's order), so that ``target == shape(w)[p]``."""
    node = target.producer
    if node.op == "Shape" and target.index == 0 and len(node.inputs) == 1:
        return _shape_of(node.inputs[0], shapes)
    if node.op == "GatherV2" and target.index == 0 and len(node.inputs) == 3 and not node.attrs.get("batch_dims", 0):
        indices, axis = const_array(node.inputs[1]), const_array(node.inputs[2])
        inner = _target_of(node.inputs[0], shapes)
        if indices is None or axis is None or int(axis) != 0 or np.ndim(indices) != 1 or inner is None:
            return None
        rank = len(inner[1])
        if any(not 0 <= int(i) < rank for i in indices):
            return None
        return inner[0], tuple(inner[1][int(i)] for i in indices)
    return None


def reshaped_to_own_shape(node: Node, shapes: dict) -> Value | None:
    """For ``Reshape(x, t)`` with a run-time ``t``: a value ``v`` that ``x`` is a reshape chain of
    (``x`` itself included) whose shape is provably ``t``, so the Reshape gives ``v`` (torch's
    ``GroupNorm`` export reshapes back to ``Shape(input)`` with a dynamic batch and image size)."""
    found = _target_of(node.inputs[1], shapes)
    return None if found is None else reshape_source_shaped(node.inputs[0], *found, shapes)


def reshape_source_shaped(value: Value, w: Value, perm: tuple[int, ...], shapes: dict) -> Value | None:
    """``value`` or a value it is a chain of Reshape/Squeeze/ExpandDims of (same elements, same
    order) whose shape is provably ``shape(w)[perm]``; None if there is none. ``shapes`` needs
    at least ``w``'s rank."""
    while True:
        if _shape_of(value, shapes) == (w, tuple(perm)):
            return value
        inner = value.producer
        if inner.op not in SHAPE_ONLY or value.index != 0 or inner.control_inputs:
            return None
        value = inner.inputs[0]


class SimplifyReshapes(Pass):
    name = "reshape_chains"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        candidates = [n for n in graph if n.op in SHAPE_ONLY]
        if not candidates:
            return PassResult(0)
        uses = Uses(graph)
        chains = batch_targets = keep_dims = removed = 0
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
                chains += 1
        for node in graph.topological_order():
            if node.op == "Reshape" and not node.control_inputs and len(node.inputs) == 2:
                batch_targets += batch_preserving_target(graph, node, uses)
        shapes = infer_shapes(graph)
        for node in graph.topological_order():
            if node.op == "Reshape" and not node.control_inputs and len(node.inputs) == 2:
                keep_dims += reduction_keeping_dims(node, uses, shapes)
        for node in graph.topological_order():
            if node.op not in SHAPE_ONLY or node.control_inputs or node in uses.control_anchors:
                continue
            source, out = node.inputs[0], node.output(0)
            same = is_static(shapes.get(source)) and shapes.get(source) == shapes.get(out)
            reshape = node.op == "Reshape" and len(node.inputs) == 2
            if not (same or (reshape and keeps_shape(node, shapes))):
                source = reshaped_to_own_shape(node, shapes) if reshape and not is_const(node.inputs[1]) else None
                if source is None:
                    continue
            if out in uses.outputs:
                continue  # keeps the output's tensor name
            uses.replace(graph, out, source)
            for value in node.inputs:
                uses.drop_reader(value, node)
            removed += 1
        return PassResult.from_counts(merged_chains=chains, batch_preserving_targets=batch_targets,
                                      reductions_keeping_dims=keep_dims, removed_no_ops=removed)

