"""Rewrite the TF ops TF.js lacks into exact equivalents it has, and drop inference-time no-ops.

Only exact rewrites live here; anything else is left for the op check, which names every op TF.js
cannot run. Fusion and folding are the core passes' job (``tfjsconv.passes``), not this module's.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node

from .frames import anchor_loop_bodies, control_gates, loop_frames

#: Ops of v1 control flow: Identities next to them carry frame semantics and are kept.
CONTROL_FLOW_OPS = frozenset({"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefEnter",
                              "RefSwitch", "RefMerge", "RefExit", "RefNextIteration"})


def _rename_op(new_op: str, drop: tuple[str, ...] = ()) -> Callable[[Graph, Node], bool]:
    def rewrite(graph: Graph, node: Node) -> bool:
        node.op = new_op
        for key in drop:
            node.attrs.pop(key, None)
        return True
    return rewrite


def _batch_matmul_v3(graph: Graph, node: Node) -> bool:
    """BatchMatMulV3 with one element type is BatchMatMulV2 (V3 only adds mixed input types)."""
    ta, tb, tout = node.attrs.get("Ta"), node.attrs.get("Tb"), node.attrs.get("Tout")
    if not (ta == tb == tout):
        return False
    node.op = "BatchMatMulV2"
    for key in ("Ta", "Tb", "Tout", "grad_x", "grad_y"):
        node.attrs.pop(key, None)
    node.attrs["T"] = ta
    return True


def _softsign(graph: Graph, node: Node) -> bool:
    """softsign(x) = x / (1 + |x|)."""
    x = node.inputs[0]
    dtype = node.attrs.get("T")
    if dtype is None or x.dtype is None:
        return False
    one = graph.const(np.asarray(1, dtype=dtype.numpy), name=f"{node.name}/one")
    absx = graph.add_op("Abs", [x], {"T": dtype}, name=f"{node.name}/abs", dtype=dtype, shape=x.shape)
    denom = graph.add_op("AddV2", [one, absx], {"T": dtype}, name=f"{node.name}/denominator", dtype=dtype, shape=x.shape)
    node.op = "RealDiv"
    node.inputs = [x, denom]
    return True


def _max_pool_v2(graph: Graph, node: Node) -> bool:
    """MaxPoolV2 with constant ksize/strides is MaxPool."""
    ksize, strides = node.inputs[1].producer, node.inputs[2].producer
    if ksize.op != "Const" or strides.op != "Const":
        return False
    node.op = "MaxPool"
    node.attrs["ksize"] = [int(v) for v in np.asarray(ksize.value).ravel()]
    node.attrs["strides"] = [int(v) for v in np.asarray(strides.value).ravel()]
    node.inputs = node.inputs[:1]
    return True


def _erfc(graph: Graph, node: Node) -> bool:
    """erfc(x) = 1 - erf(x) (exact in real arithmetic; in float32 the absolute error stays below 1e-7,
    which is what the exact-GELU activation, its usual source, needs)."""
    x = node.inputs[0]
    dtype = node.attrs.get("T")
    if dtype is None:
        return False
    one = graph.const(np.asarray(1, dtype=dtype.numpy), name=f"{node.name}/one")
    erf = graph.add_op("Erf", [x], {"T": dtype}, name=f"{node.name}/erf", dtype=dtype, shape=x.shape)
    node.op = "Sub"
    node.inputs = [one, erf]
    return True


def _training_batch_norm(graph: Graph, node: Node) -> bool:
    """A FusedBatchNorm with ``is_training=True`` normalises with the batch's own moments: lowered
    to ``Mean``/``SquaredDifference``/``Rsqrt``, as TF computes it. TF.js ignores ``is_training``
    and divides by the (empty) mean/variance inputs: NaN. tf_keras ``LayerNormalization`` is one
    (a reshape to NCHW and a training-mode batch norm over each row). Only ``y`` may be read."""
    if not node.attrs.get("is_training") or len(node.inputs) < 3:
        return False
    readers = graph.consumers()
    if any(readers.get(v) or v in graph.outputs.values() for v in node.outputs[1:]):
        return False
    x, scale, offset = node.inputs[:3]
    layout = node.attrs.get("data_format", "NHWC")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    rank = len(x.shape) if x.shape is not None else len(layout)
    if rank != len(layout) or layout not in ("NHWC", "NCHW", "NDHWC", "NCDHW"):
        return False
    channel = layout.index("C")
    dtype = node.attrs.get("T")
    t = {"T": dtype} if dtype is not None else {}
    name = node.name
    axes = graph.const(np.asarray([a for a in range(rank) if a != channel], np.int32), name=f"{name}/axes")
    mean = graph.add_op("Mean", [x, axes], {**t, "Tidx": DType.INT32, "keep_dims": True}, name=f"{name}/mean",
                        dtype=x.dtype)
    centered = graph.add_op("Sub", [x, mean], t, name=f"{name}/centered", dtype=x.dtype, shape=x.shape)
    squares = graph.add_op("SquaredDifference", [x, mean], t, name=f"{name}/squares", dtype=x.dtype, shape=x.shape)
    variance = graph.add_op("Mean", [squares, axes], {**t, "Tidx": DType.INT32, "keep_dims": True},
                            name=f"{name}/variance", dtype=x.dtype)
    eps = graph.const(np.asarray(node.attrs.get("epsilon", 1e-4), np.float32), name=f"{name}/epsilon")
    inv = graph.add_op("Rsqrt", [graph.add_op("AddV2", [variance, eps], t, name=f"{name}/variance_eps",
                                              dtype=x.dtype)], t, name=f"{name}/rsqrt", dtype=x.dtype)
    if channel != rank - 1:  # per-channel vectors broadcast along the channel axis
        shape = graph.const(np.asarray([-1] + [1] * (rank - 1 - channel), np.int32), name=f"{name}/channel_shape")
        scale, offset = (graph.add_op("Reshape", [v, shape], {**t, "Tshape": DType.INT32}, name=f"{name}/{label}",
                                      dtype=v.dtype) for v, label in ((scale, "scale"), (offset, "offset")))
    factor = graph.add_op("Mul", [inv, scale], t, name=f"{name}/factor", dtype=x.dtype)
    scaled = graph.add_op("Mul", [centered, factor], t, name=f"{name}/scaled", dtype=x.dtype, shape=x.shape)
    node.op, node.inputs, node.attrs = "AddV2", [scaled, offset], dict(t)
    del node.outputs[1:]
    return True


REWRITES: dict[str, Callable[[Graph, Node], bool]] = {
    "BatchMatMulV3": _batch_matmul_v3,
    "Softsign": _softsign,
    "Erfc": _erfc,
    "MaxPoolV2": _max_pool_v2,
    "FusedBatchNorm": _training_batch_norm,
    "FusedBatchNormV2": _training_batch_norm,
    "FusedBatchNormV3": _training_batch_norm,
    "CheckNumericsV2": _rename_op("CheckNumerics"),
    "PreventGradient": _rename_op("Identity", drop=("message",)),
    "Rint": _rename_op("Round"),
}


def remove_no_ops(graph: Graph) -> int:
    """Drop NoOp nodes; whoever waited on one now waits on what the NoOp waited on."""
    no_ops = [n for n in graph if n.op == "NoOp"]
    if not no_ops:
        return 0
    doomed = set(no_ops)

    def expand(deps: list[Node], seen: set[Node]) -> list[Node]:
        out: list[Node] = []
        for dep in deps:
            if dep in doomed:
                if dep not in seen:
                    seen.add(dep)
                    out.extend(expand(dep.control_inputs, seen))
            elif dep not in out:
                out.append(dep)
        return out

    for node in graph:
        if node not in doomed and any(d in doomed for d in node.control_inputs):
            node.control_inputs = expand(node.control_inputs, set())
    for node in no_ops:
        node.control_inputs = []
    graph.remove_nodes(no_ops)
    return len(no_ops)


def bypass_identities(graph: Graph) -> int:
    """Readers of a plain ``Identity`` read its input instead (freezing leaves one per variable read).

    Kept: Identities that are graph outputs (their names are the signature), that carry or receive
    control edges, or that sit next to v1 control flow (where they mark branches).
    """
    from tfjsconv.passes.graph_edit import Uses

    controlled = {dep for node in graph for dep in node.control_inputs}
    outputs = {v.producer for v in graph.outputs.values()}
    uses = Uses(graph)  # kept up to date, so that a chain of 10^5 Identities is bypassed in linear time
    bypassed = []
    for node in graph:
        if node.op != "Identity" or node in controlled or node in outputs or node.control_inputs:
            continue
        source = node.inputs[0]
        if source.producer.op in CONTROL_FLOW_OPS:
            continue
        readers = uses.readers.get(node.output(0), [])
        if any(r.op in CONTROL_FLOW_OPS for r in readers):
            continue
        uses.replace(graph, node.output(0), source)
        uses.drop_reader(source, node)
        bypassed.append(node)
    graph.remove_nodes(bypassed)
    return len(bypassed)


def drop_control_edges(graph: Graph) -> int:
    """Remove every control input: a frozen inference graph has no side effects left to order.

    TF.js reads ``^x`` as an ordinary input, so a control edge from a v1 Switch makes the reader
    wait for a branch that may be dead; TF's own frames need them, TF.js does not. The one job they
    did that TF.js needs, placing nodes in a loop body, is redone by :func:`.frames.anchor_loop_bodies`.
    """
    count = 0
    for node in graph:
        count += len(node.control_inputs)
        node.control_inputs = []
    return count


def bypass_constant_enters(graph: Graph) -> int:
    """Loop-invariant ``Enter`` (``is_constant``): its readers read the value from outside the loop.

    TF.js ignores ``is_constant``: it keeps the Enter's output in the loop's first iteration only,
    so a body node reading it in the second iteration waits forever ("cannot compute the
    outputs"). A tensor from an enclosing frame is visible in every iteration, which is what
    ``is_constant`` means. Grappler's loop-invariant Enters of variables hit this.
    """
    consumers = graph.consumers()
    count = 0
    for node in graph:
        if node.op not in ("Enter", "RefEnter") or not node.attrs.get("is_constant"):
            continue
        readers = consumers.get(node.output(0), [])
        if any(r.op in CONTROL_FLOW_OPS for r in readers) or node.output(0) in graph.outputs.values():
            continue
        source = node.inputs[0]
        for reader in readers:
            reader.inputs = [source if v is node.output(0) else v for v in reader.inputs]
        count += 1
    return count


def unwrap_output_identity_n(graph: Graph) -> int:
    """Outputs read from an ``IdentityN`` (what Grappler leaves of an inlined call) read its inputs.

    Kept when the input is a graph input or already another output: the IdentityN then gives it
    its own name. Once no output reads it, the IdentityN is dead and the passes remove it.
    """
    count = 0
    taken = set(graph.outputs.values())
    inputs = set(graph.inputs.values())
    for key, value in list(graph.outputs.items()):
        node = value.producer
        if node.op != "IdentityN" or node.control_inputs:
            continue
        source = node.inputs[value.index]
        if source in inputs or source in taken:
            continue
        graph.outputs[key] = source
        taken.add(source)
        count += 1
    return count


def rewrite_for_tfjs(graph: Graph) -> dict[str, int]:
    """Apply every rewrite; return how many nodes each changed (for reports and tests)."""
    frames, gates = loop_frames(graph), control_gates(graph)  # before the control edges that place body nodes go
    counts: dict[str, int] = {"control edges": drop_control_edges(graph)}
    for node in graph:
        rewrite = REWRITES.get(node.op)
        if rewrite is not None:
            op = node.op
            if rewrite(graph, node):
                counts[op] = counts.get(op, 0) + 1
    counts["NoOp"] = remove_no_ops(graph)
    counts["loop body anchor"] = anchor_loop_bodies(graph, frames, gates)
    counts["constant Enter"] = bypass_constant_enters(graph)
    counts["Identity"] = bypass_identities(graph)
    counts["IdentityN output"] = unwrap_output_identity_n(graph)
    return {k: v for k, v in counts.items() if v}
