"""Grappler's swap of a max/min reduction and a monotonic function, as TF's graph runs do it.

When TensorFlow runs a SavedModel signature, a loaded function or a frozen GraphDef in a session, Grappler's
arithmetic optimizer (stage ``OptimizeMaxOrMinOfMonotonic``) rewrites ``Max(f(x))`` to ``f(Max(x))`` and
``ArgMax(f(x))`` to ``ArgMax(x)`` for an elementwise monotonic ``f`` (Max and Min swapped when ``f`` does not
increase). Eager TF does not, and the results differ where ``f`` makes ties (``argmax(relu([-2, -1, -0.5]))`` is 2
in the graph run, 0 eagerly), NaN or a signed zero. The reference of these formats is the graph run users deploy,
so their frontends apply the same rewrite under the same conditions; the Keras paths (reference: eager
``model(x)``) do not call this.
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from tfjsconv.ir import Graph, Node, Value
from tfjsconv.passes.cse import node_key

#: Grappler's ``IsElementWiseMonotonic`` (op_types.cc): True for non-decreasing, False for non-increasing ops.
MONOTONIC: dict[str, bool] = {
    **dict.fromkeys(("Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Elu", "Erf", "Exp", "Expm1", "Floor", "Log",
                     "Log1p", "Relu", "Relu6", "Rint", "Selu", "Sigmoid", "Sign", "Sinh", "Softsign", "Softplus",
                     "Sqrt", "Tanh"), True),
    **dict.fromkeys(("Acos", "Erfc", "Neg", "Rsqrt"), False),
}
#: Reductions whose index result is kept and whose input becomes ``x`` (``f`` turns into an Identity).
ARG_REDUCTIONS = frozenset({"ArgMax", "ArgMin"})
#: Reductions that end up before ``f`` (``f(reduce(x))``). Grappler's list (``IsAnyMax``/``IsAnyMin``) names the
#: segment reductions too, but TF 2.21's signature run does not swap them (an empty segment of
#: ``UnsortedSegmentMax(Sigmoid(x))`` stays the lowest float): left as they are.
VALUE_REDUCTIONS = frozenset({"Max", "Min"})
#: Poolings (no MinPool exists: only a non-decreasing ``f`` would be swapped). Not swapped here: a swap could not be
#: seen in TF's results (the values agree but for NaN, which TF's MaxPool skips), so eager semantics are kept.
POOLINGS: frozenset[str] = frozenset()
#: Producers whose Relu/Relu6 Grappler leaves for its remapper to fuse (``can_be_fused_by_remapper``).
_FUSABLE_INTO_RELU = frozenset({"BiasAdd", "BiasAddV1", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
#: The reader class of a graph output.
_FETCH = -(1 << 62)


def _same_computation(graph: Graph) -> dict[Node, int]:
    """A class per node, equal for nodes Grappler's common subgraph elimination merges (same op, attrs and
    inputs' classes) before the arithmetic optimizer runs: two ``Relu(x)`` read once each are one Relu read twice."""
    classes: dict[Node, int] = {}
    keys: dict[Hashable, int] = {}
    for node in graph.topological_order():
        key = node_key(node)
        if key is not None:
            key = (node.op, tuple((classes.get(v.producer, -1), v.index) for v in node.inputs), key[2], key[3])
        classes[node] = keys.setdefault(key, len(keys)) if key is not None else -1 - len(classes)
    return classes


def _reader_classes(graph: Graph, classes: dict[Node, int], cls: int) -> set[int]:
    """The classes of the nodes reading any node of class ``cls``, by data or control edge; a graph output
    counts as a reader of its own (a fetch is in Grappler's preserve set)."""
    readers = {classes[n] for n in graph
               if any(classes[v.producer] == cls for v in n.inputs) or any(classes[c] == cls for c in n.control_inputs)}
    if any(classes[v.producer] == cls for v in graph.outputs.values()):
        readers.add(_FETCH)
    return readers


def _swappable(graph: Graph, classes: dict[Node, int], reduction: Node, fetches_kept: bool) -> Node | None:
    """The monotonic ``f`` that ``reduction`` reads as its input 0, when Grappler would swap them; else None.
    ``fetches_kept``: a session's fetch is in Grappler's preserve set; a function's result is not (a ``_Retval``
    reads it), though it still counts as a second reader of ``f``."""
    if reduction.op not in ARG_REDUCTIONS | VALUE_REDUCTIONS | POOLINGS or not reduction.inputs:
        return None
    inner = reduction.inputs[0].producer
    if inner.op not in MONOTONIC or not inner.inputs or reduction.inputs[0].index != 0:
        return None
    if reduction.op in POOLINGS and not MONOTONIC[inner.op]:
        return None
    if inner.op in ("Relu", "Relu6") and inner.inputs[0].producer.op in _FUSABLE_INTO_RELU:
        return None
    if fetches_kept and _FETCH in _reader_classes(graph, classes, classes[reduction]):
        return None
    return inner if _reader_classes(graph, classes, classes[inner]) == {classes[reduction]} else None


def _flipped(op: str) -> str:
    """Max <-> Min in the op name: ``ArgMax(Neg(x))`` is ``ArgMin(x)``."""
    return op.replace("Max", "Min") if "Max" in op else op.replace("Min", "Max")


def _apply_after(graph: Graph, reduction: Node, inner: Node) -> None:
    """Readers of the reduction read ``inner``'s op applied to it (``Max(f(x))`` -> ``f(Max(x))``)."""
    reduced: Value = reduction.output(0)
    moved = graph.add_op(inner.op, (), dict(inner.attrs), name=f"{inner.name}/after_{reduction.name}",
                         dtype=reduced.dtype, shape=reduced.shape)
    moved.producer.provenance = inner.provenance
    graph.replace_all_uses(reduced, moved)
    moved.producer.inputs = [reduced]


def _swap(graph: Graph, reduction: Node, inner: Node) -> None:
    """Grappler's rewrite of one pair: the reduction reads ``f``'s input, flipped for a non-increasing ``f``."""
    reduction.inputs[0] = inner.inputs[0]
    if not MONOTONIC[inner.op]:
        reduction.op = _flipped(reduction.op)
    if reduction.op not in ARG_REDUCTIONS:
        _apply_after(graph, reduction, inner)


def _refuse_other_port(reduction: Node, inner: Node) -> None:
    """Grappler rewires the reduction to the *node* ``f`` reads (``inner_input->name()``), i.e. its output 0: TF's
    run of ``ArgMax(Relu(split:1))`` reduces ``split:0`` (seen in TF 2.21). Neither eager TF nor the converted
    graph computes that: refused by name rather than converted to another number than TF's."""
    from tfjsconv.errors import OpProblemsError

    source = inner.inputs[0]
    if source.index != 0:
        raise OpProblemsError({reduction.op: [f"{reduction.name} (of {inner.op} {inner.name} of {source.name})"]},
                              "TF's graph run (Grappler's arithmetic optimizer) reduces output 0 of the node instead "
                              f"of output {source.index} here",
                              hint="insert an Identity between the two ops, or read the value another way")


def _has_candidates(graph: Graph) -> bool:
    reductions = ARG_REDUCTIONS | VALUE_REDUCTIONS | POOLINGS
    return any(n.op in reductions and n.inputs and n.inputs[0].producer.op in MONOTONIC for n in graph)


def match_grappler_monotonic(graph: Graph, *, fetches_kept: bool = False) -> int:
    """Swap every pair Grappler swaps, until none is left (a chain ``ArgMax(f(g(x)))`` becomes ``ArgMax(x)``, as
    Grappler re-queues the reduction); returns the number of swaps. ``fetches_kept`` for a frozen GraphDef run by a
    session (its outputs are fetches), not for a SavedModel signature or a body (functions)."""
    swaps = 0
    changed = True
    while changed and _has_candidates(graph):  # most graphs have none: no class computed then
        changed = False
        classes = _same_computation(graph)
        for node in graph.topological_order():
            inner = _swappable(graph, classes, node, fetches_kept)
            if inner is not None:
                _refuse_other_port(node, inner)
                _swap(graph, node, inner)
                graph.remove_nodes([inner])  # nothing reads it now
                swaps += 1
                changed = True
                break  # the classes changed: Grappler re-queues the reduction, which the next round sees
    return swaps


def swappable_pairs(graph: Graph) -> dict[str, list[str]]:
    """Reduction op -> ``node (of f)`` for each pair Grappler would swap now, without changing ``graph``."""
    classes = _same_computation(graph)
    found: dict[str, list[str]] = {}
    for node in graph:
        inner = _swappable(graph, classes, node, False)
        if inner is not None:
            found.setdefault(node.op, []).append(f"{node.name} (of {inner.op} {inner.name})")
    return found


def refuse_library_swaps(library: Any) -> None:
    """``--loader=tensorflow --control_flow_v2`` writes the FunctionDefs as they are, where this rewrite cannot
    reach: a body with a pair TF's graph run swaps is refused by name (the default lowering converts it)."""
    from tfjsconv.errors import OpProblemsError

    from .functions import function_body

    problems: dict[str, list[str]] = {}
    reductions = ARG_REDUCTIONS | VALUE_REDUCTIONS | POOLINGS
    for fdef in library.function:
        ops = {node.op for node in fdef.node_def}
        if not (ops & reductions and ops & MONOTONIC.keys()):
            continue  # nothing to swap: no body built
        for op, entries in swappable_pairs(function_body(fdef, library)).items():
            problems.setdefault(op, []).extend(f"{fdef.signature.name}/{entry}" for entry in entries)
    if problems:
        raise OpProblemsError(problems, "TF's graph run swaps these reductions and monotonic functions (Grappler's "
                              "arithmetic optimizer) in functions kept by --control_flow_v2",
                              hint="convert without --control_flow_v2 (or without --loader=tensorflow)")
