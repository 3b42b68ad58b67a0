"""The TF ops TF.js lacks, rewritten into exact equivalents it has: one frontend pass, one rule per op.

Only exact rewrites live here; anything else is left for the op check, which names every op TF.js
cannot run. ``--verbose`` reports the rewrites by op (the rule's key in :data:`REWRITES`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import OpProblemsError
from tfjsconv.ir import Graph, Node, Value
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


def _read_outputs(graph: Graph, node: Node) -> list[int]:
    """The indices of ``node``'s outputs past the first that a node or a graph output reads."""
    readers = graph.consumers()
    return [i for i, v in enumerate(node.outputs) if i and (readers.get(v) or v in graph.outputs.values())]


#: What the batch-norm refusals of this pass say (one message for all of them).
_BATCH_NORM_REFUSED = "batch norm outputs TF.js cannot give as TensorFlow does"


def _refuse_kernel_scratch(node: Node, read: list[int]) -> None:
    """The reserve spaces are the kernel's scratch, so there is no one value to give: refused by name.
    ``reserve_space_3`` (V3's output 5): TF's oneDNN kernel gives shape [0], its Eigen kernel a scalar 0.
    Inference ``reserve_space_1/2``: oneDNN on 4-D input gives the mean/variance inputs; 5-D input and the Eigen
    kernel (``TF_ENABLE_ONEDNN_OPTS=0``, builds without oneDNN) leave them uninitialised (measured)."""
    problems = []
    if node.op == "FusedBatchNormV3" and 5 in read:
        problems.append("reserve_space_3 read: TF's kernels give it different shapes, oneDNN [0] and Eigen a scalar")
    scratch = [f"reserve_space_{i - 2}" for i in read if i in (3, 4)]
    if scratch and not node.attrs.get("is_training"):
        problems.append(f"{'/'.join(scratch)} read in inference mode: TF's oneDNN kernel gives the mean/variance "
                        "inputs for 4-D x only, 5-D x and its Eigen kernel leave them uninitialised")
    if problems:
        raise OpProblemsError({node.op: [f"{node.name} ({'; '.join(problems)})"]},
                              _BATCH_NORM_REFUSED)


def _batch_norm(graph: Graph, node: Node) -> bool:
    """A FusedBatchNorm TF.js would get wrong: its ``is_training=True`` form (TF.js normalises with the empty mean and
    variance inputs: NaN), and any read of outputs 1-4 (TF.js's FusedBatchNorm has one output: "reading 'kept'")."""
    if len(node.inputs) < 5:
        return False
    read = _read_outputs(graph, node)
    _refuse_kernel_scratch(node, read)
    if node.attrs.get("is_training"):
        return _training_batch_norm(graph, node, read)
    for i in read:  # inference: batch_mean is the mean given, batch_variance the variance
        graph.replace_all_uses(node.outputs[i], node.inputs[3 if i == 1 else 4])
    return bool(read)


def _training_batch_norm(graph: Graph, node: Node, read: list[int]) -> bool:
    """A FusedBatchNorm with ``is_training=True`` normalises with the batch's own moments: lowered
    to ``Mean``/``SquaredDifference``/``Rsqrt``, as TF computes it. TF.js ignores ``is_training``
    and divides by the (empty) mean/variance inputs: NaN. tf_keras ``LayerNormalization`` is one
    (a reshape to NCHW and a training-mode batch norm over each row). The moments read as outputs are TF's
    (:func:`_training_moments`); a float16 ``x`` with moments read is left to the refusal (TF sums in float32)."""
    x, scale, offset = node.inputs[:3]
    layout = node.attrs.get("data_format", "NHWC")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    rank = len(x.shape) if x.shape is not None else len(layout)
    dtype = node.attrs.get("T")
    if rank != len(layout) or layout not in ("NHWC", "NCHW", "NDHWC", "NCDHW") or \
            (read and dtype not in (None, DType.FLOAT32)):
        _refuse_moments(node, read, f"a {layout} layout on a rank-{rank} input" if dtype in (None, DType.FLOAT32)
                        else f"T={getattr(dtype, 'short_name', dtype)}")
        return False
    channel = layout.index("C")
    t = {"T": dtype} if dtype is not None else {}
    name = node.name
    axes = graph.const(np.asarray([a for a in range(rank) if a != channel], np.int32), name=f"{name}/axes")
    mean = graph.add_op("Mean", [x, axes], {**t, "Tidx": DType.INT32, "keep_dims": True}, name=f"{name}/mean",
                        dtype=x.dtype)
    centered = graph.add_op("Sub", [x, mean], t, name=f"{name}/centered", dtype=x.dtype, shape=x.shape)
    squares = graph.add_op("SquaredDifference", [x, mean], t, name=f"{name}/squares", dtype=x.dtype, shape=x.shape)
    variance = graph.add_op("Mean", [squares, axes], {**t, "Tidx": DType.INT32, "keep_dims": True},
                            name=f"{name}/variance", dtype=x.dtype)
    if read:
        _training_moments(graph, node, read, mean, variance, channel)
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


def _refuse_moments(node: Node, read: list[int], why: str) -> None:
    if read:
        raise OpProblemsError({node.op: [f"{node.name} (batch moments read as outputs {read}, with {why})"]},
                              _BATCH_NORM_REFUSED)


def _training_moments(graph: Graph, node: Node, read: list[int], mean: Value, variance: Value, channel: int) -> None:
    """Rewire the read moments of a training batch norm to TF's values (float32): ``reserve_space_1/2`` the batch
    mean and biased variance; ``batch_mean`` the mean, ``batch_variance`` the variance times ``n/max(n-1, 1)``
    (``n`` values per channel, read at run time), each mixed as ``(1-f)·running + f·batch`` when
    ``exponential_avg_factor`` ``f`` is not 1 (the running ones are inputs 3 and 4)."""
    x, name, f32 = node.inputs[0], f"{node.name}/moments", {"T": DType.FLOAT32}
    flat = graph.const(np.asarray([-1], np.int32), name=f"{name}/flat")

    def op(kind: str, inputs: list[Value], label: str, attrs: dict | None = None, dtype: DType = DType.FLOAT32):
        return graph.add_op(kind, inputs, f32 if attrs is None else attrs, name=f"{name}/{label}", dtype=dtype)

    batch_mean, biased = (op("Reshape", [v, flat], label, {**f32, "Tshape": DType.INT32})
                          for v, label in ((mean, "mean"), (variance, "biased_variance")))
    i32 = {"T": DType.FLOAT32, "out_type": DType.INT32}
    size = op("Cast", [op("Size", [x], "size", i32, DType.INT32)], "size_float",
              {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False})
    channels = op("Cast", [op("GatherV2", [op("Shape", [x], "shape", i32, DType.INT32),
                                           graph.const(np.int32(channel), name=f"{name}/channel"),
                                           graph.const(np.int32(0), name=f"{name}/gather_axis")], "channels",
                              {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                              DType.INT32)], "channels_float", {"SrcT": DType.INT32, "DstT": DType.FLOAT32,
                                                                "Truncate": False})
    count = op("RealDiv", [size, channels], "count")
    one = graph.const(np.float32(1), name=f"{name}/one")
    adjust = op("RealDiv", [count, op("Maximum", [op("Sub", [count, one], "count_less_one"), one], "divisor")],
                "adjust")
    unbiased = op("Mul", [biased, adjust], "unbiased_variance")
    factor = float(node.attrs.get("exponential_avg_factor", 1.0))
    values = {1: batch_mean, 2: unbiased, 3: batch_mean, 4: biased}
    if factor != 1.0:
        keep, take = (graph.const(np.float32(v), name=f"{name}/{label}")
                      for v, label in ((1.0 - factor, "keep"), (factor, "take")))
        for i, running in ((1, node.inputs[3]), (2, node.inputs[4])):
            values[i] = op("AddV2", [op("Mul", [running, keep], f"running_{i}"),
                                     op("Mul", [values[i], take], f"batch_{i}")], f"mixed_{i}")
    for i in read:
        graph.replace_all_uses(node.outputs[i], values[i])


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
    "FusedBatchNorm": _batch_norm,
    "FusedBatchNormV2": _batch_norm,
    "FusedBatchNormV3": _batch_norm,
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
        refused: list[OpProblemsError] = []  # every refused node is named, not only the first
        for node in list(graph):
            rule = REWRITES.get(node.op)
            if rule is not None:
                op = node.op
                try:
                    if rule(graph, node):
                        counts[op] = counts.get(op, 0) + 1
                except OpProblemsError as err:
                    refused.append(err)
        if refused:
            problems: dict[str, list[str]] = {}
            for err in refused:
                for op, entries in err.ops.items():
                    problems.setdefault(op, []).extend(entries)
            raise OpProblemsError(problems, _BATCH_NORM_REFUSED)
        return PassResult.from_counts(**counts)
