"""The TF ops TF.js lacks, rewritten into exact equivalents it has: one frontend pass, one rule per op.

Only exact rewrites live here; anything else is left for the op check, which names every op TF.js
cannot run. ``--verbose`` reports the rewrites by op (the rule's key in :data:`REWRITES`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Node
from tfjsconv.passes import Pass, PassResult


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


#: The bytes TF's ``StringSplitV2`` splits on when ``sep`` is empty (``absl::ascii_isspace``).
ASCII_WHITESPACE = b" \t\n\x0b\x0c\r"


def _string_split_v2(graph: Graph, node: Node) -> bool:
    """``tf.strings.split(x)`` (``StringSplitV2``, empty ``sep``, a negative ``maxsplit``: no limit) splits on
    runs of ASCII whitespace, dropping empty pieces: that is ``StringSplit`` on each whitespace byte with
    ``skip_empty``, which TF.js has. A non-empty ``sep`` is not rewritten: V2 gives an empty string one empty
    piece, where ``StringSplit`` gives it none, so the op check refuses it by name."""
    if len(node.inputs) != 2 or int(node.attrs.get("maxsplit", -1)) >= 0:
        return False
    sep = node.inputs[1].producer
    if sep.op != "Const" or np.asarray(sep.value).size != 1:
        return False
    value = np.asarray(sep.value).ravel()[0]
    if (value.encode() if isinstance(value, str) else bytes(value)) != b"":
        return False
    whitespace = graph.const(np.asarray(ASCII_WHITESPACE, dtype=object), name=f"{node.name}/whitespace",
                             dtype=DType.STRING)
    node.op, node.attrs = "StringSplit", {"skip_empty": True}
    node.inputs = [node.inputs[0], whitespace]
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
    "StringSplitV2": _string_split_v2,
}


class RewriteTfOps(Pass):
    """Apply the rule of :data:`REWRITES` for each node's op. Required: without it the model has ops
    TF.js lacks (refused by the op check) or a training-mode batch norm TF.js computes as NaN."""

    name = "tf_op_rewrites"
    level = 0
    stage = "frontend"
    required = True
    after = ("drop_control_edges",)

    def run(self, graph: Graph) -> PassResult:
        counts: dict[str, int] = {}
        for node in list(graph):
            rule = REWRITES.get(node.op)
            if rule is not None:
                op = node.op
                if rule(graph, node):
                    counts[op] = counts.get(op, 0) + 1
        return PassResult.from_counts(**counts)
