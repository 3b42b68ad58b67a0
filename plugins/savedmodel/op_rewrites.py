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
from tfjsconv.passes.graph_edit import const_array

from .scatter_extremes import tensor_scatter_extreme
from .segment_extremes import segment_extreme


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


#: The float types whose ``Xlogy``/``Xdivy`` the rewrite spells out (bfloat16 and complex stay refused).
_REAL_FLOATS = (DType.FLOAT16, DType.FLOAT32, DType.FLOAT64)


def _x_or(graph: Graph, node: Node, then: str) -> bool:
    """``Xlogy``/``Xdivy``: TF gives 0 where ``x == 0``, even where ``y`` is 0, ±Inf or NaN (measured with
    ``tf.raw_ops``), else ``x * log(y)`` / ``x / y``. Spelled ``SelectV2(x == 0, x, ...)``, which broadcasts as
    the op does; its zero keeps ``x``'s sign, which TF's keeps only inside its 8-wide vector blocks (+0 for the
    leftover elements and broadcasts: a sign no comparison reads, session 30 review r6)."""
    dtype = node.attrs.get("T")
    if dtype not in _REAL_FLOATS or len(node.inputs) != 2:
        return False
    x, y = node.inputs
    t, name = {"T": dtype}, node.name
    zero = graph.const(np.zeros((), dtype.numpy), name=f"{name}/zero", dtype=dtype)
    is_zero = graph.add_op("Equal", [x, zero], {**t, "incompatible_shape_error": True}, name=f"{name}/x_is_zero",
                           dtype=DType.BOOL, shape=x.shape)
    if then == "Log":
        other = graph.add_op("Mul", [x, graph.add_op("Log", [y], t, name=f"{name}/log_y", dtype=dtype, shape=y.shape)],
                             t, name=f"{name}/product", dtype=dtype, shape=node.outputs[0].shape)
    else:
        other = graph.add_op("RealDiv", [x, y], t, name=f"{name}/quotient", dtype=dtype, shape=node.outputs[0].shape)
    node.op, node.inputs, node.attrs = "SelectV2", [is_zero, x, other], dict(t)
    return True


def _space_to_depth(graph: Graph, node: Node) -> bool:
    """``SpaceToDepth`` (NHWC; TF's cpu kernel raises on NCHW): ``[N·H', b, W', b·C]`` → Transpose ``[0, 2, 1, 3]`` →
    ``[N, H', W', b·b·C]``, each ``b × b`` tile's values row by row becoming channels. Without W and C known, and H or
    N, the shapes are computed at run time (:func:`_space_to_depth_at_run_time`); string values stay refused by the
    op check."""
    layout = node.attrs.get("data_format", "NHWC")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    block, dtype, x = int(node.attrs.get("block_size", 0)), node.attrs.get("T"), node.inputs[0]
    shape = x.shape
    if layout != "NHWC" or block < 2 or dtype in (None, DType.STRING, DType.COMPLEX64, DType.COMPLEX128) or \
            shape is None or len(shape) != 4:
        return False
    n, h, w, c = shape
    if (w is not None and w % block) or (h is not None and h % block):
        return False  # TF raises: left to the op check
    if w is None or c is None or (n is None and h is None):
        return _space_to_depth_at_run_time(graph, node, block)
    name, t = node.name, {"T": dtype, "Tshape": DType.INT32}
    rows = -1 if n is None or h is None else n * h // block
    split = graph.add_op("Reshape", [x, graph.const(np.asarray([rows, block, w // block, block * c], np.int32),
                                                    name=f"{name}/split_shape")], t, name=f"{name}/split",
                         dtype=dtype, shape=(None if rows == -1 else rows, block, w // block, block * c))
    perm = graph.const(np.asarray([0, 2, 1, 3], np.int32), name=f"{name}/perm")
    tiles = graph.add_op("Transpose", [split, perm], {"T": dtype, "Tperm": DType.INT32}, name=f"{name}/tiles",
                         dtype=dtype, shape=(None if rows == -1 else rows, w // block, block, block * c))
    out = [-1 if n is None else n, -1 if h is None else h // block, w // block, block * block * c]
    node.op, node.attrs = "Reshape", t
    node.inputs = [tiles, graph.const(np.asarray(out, np.int32), name=f"{name}/shape")]
    return True


def _depth_to_space(graph: Graph, node: Node) -> bool:
    """A non-float32 ``DepthToSpace`` (NHWC; TF.js's kernel takes float32 only and throws on the rest):
    ``[N·H, W, b, b·C']`` → Transpose ``[0, 2, 1, 3]`` → ``[N, H·b, W·b, C']``, shapes from ``Shape(x)``; C not
    divisible by ``b·b`` (TF raises) fails the run through a checked ``GatherV2``. float32 stays TF.js's own."""
    layout = node.attrs.get("data_format", "NHWC")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    block, dtype, x = int(node.attrs.get("block_size", 0)), node.attrs.get("T"), node.inputs[0]
    if layout != "NHWC" or block < 2 or dtype in (None, DType.FLOAT32, DType.STRING, DType.COMPLEX64,
                                                   DType.COMPLEX128) or x.shape is None or len(x.shape) != 4:
        return False
    name = node.name

    int_op = _scalar_int32_ops(graph, name)
    n, h, w, c = _nhwc_sizes(graph, x, dtype, name)
    b = graph.const(np.int32(block), name=f"{name}/block")
    square = graph.const(np.int32(block * block), name=f"{name}/block_square")
    check = int_op("GatherV2", [graph.const(np.int32([0]), name=f"{name}/divisible_check_table"),
                                int_op("FloorMod", [c, square], "c_rest"),
                                graph.const(np.int32(0), name=f"{name}/check_axis")], "check_c_divides_by_block_square",
                   {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0})
    out_c = int_op("FloorDiv", [c, square], "out_c")
    rows = int_op("AddV2", [int_op("Mul", [n, h], "rows_unchecked"), check], "rows")
    t = {"T": dtype, "Tshape": DType.INT32}
    split = graph.add_op("Reshape", [x, _run_time_shape(graph, [rows, w, b, int_op("Mul", [b, out_c], "wide")],
                                                         f"{name}/split_shape")], t,
                         name=f"{name}/split", dtype=dtype, shape=(None, None, block, None))
    perm = graph.const(np.asarray([0, 2, 1, 3], np.int32), name=f"{name}/perm")
    tiles = graph.add_op("Transpose", [split, perm], {"T": dtype, "Tperm": DType.INT32}, name=f"{name}/tiles",
                         dtype=dtype, shape=(None, block, None, None))
    node.op, node.attrs = "Reshape", t
    node.inputs = [tiles, _run_time_shape(graph, [n, int_op("Mul", [h, b], "out_h"), int_op("Mul", [w, b], "out_w"),
                                                  out_c], f"{name}/shape")]
    return True


def _scalar_int32_ops(graph: Graph, name: str):
    """``int_op(op, inputs, label, attrs=None)``: a scalar int32 op named ``<name>/<label>`` (attrs ``T=int32`` unless
    given), for the run-time shape arithmetic of a rewrite."""
    def int_op(op: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
        return _int32_op(graph, op, inputs, {"T": DType.INT32} if attrs is None else attrs, f"{name}/{label}", ())
    return int_op


def _nhwc_sizes(graph: Graph, x: Value, dtype, name: str) -> tuple[Value, Value, Value, Value]:
    """N, H, W and C of the rank-4 ``x`` as int32 scalars read at run time."""
    shape = graph.add_op("Shape", [x], {"T": dtype, "out_type": DType.INT32}, name=f"{name}/input_shape",
                         dtype=DType.INT32, shape=(4,))
    n, h, w, c = (_shape_scalar(graph, shape, axis, f"{name}/{label}") for axis, label in enumerate("nhwc"))
    return n, h, w, c


def _shape_scalar(graph: Graph, shape: Value, axis: int, name: str) -> Value:
    """``shape[axis]`` as an int32 scalar (a ``StridedSlice`` that shrinks the axis)."""
    bounds = [graph.const(np.asarray([v], np.int32), name=f"{name}_{k}") for k, v in
              (("begin", axis), ("end", axis + 1), ("stride", 1))]
    return graph.add_op("StridedSlice", [shape, *bounds], {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0,
                                                           "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                                                           "shrink_axis_mask": 1},
                        name=name, dtype=DType.INT32, shape=())


def _run_time_shape(graph: Graph, parts: list[Value], name: str) -> Value:
    """The int32 vector ``Pack(parts)`` (a Reshape's shape known only at run time)."""
    return graph.add_op("Pack", parts, {"N": len(parts), "T": DType.INT32, "axis": 0}, name=name, dtype=DType.INT32,
                        shape=(len(parts),))


def _space_to_depth_at_run_time(graph: Graph, node: Node, block: int) -> bool:
    """:func:`_space_to_depth` with W, C or both N and H known only at run time: the same two Reshapes and
    Transpose, their shapes computed from ``Shape(x)``. TF raises unless H and W divide by the block:
    ``GatherV2([0], H % b + W % b)`` adds 0 to the first shape entry, or fails the run on cpu and wasm (TF.js checks
    every gather index), as :func:`_checked_ids` does."""
    x, dtype, name = node.inputs[0], node.attrs["T"], node.name

    int_op = _scalar_int32_ops(graph, name)
    n, h, w, c = _nhwc_sizes(graph, x, dtype, name)
    b = graph.const(np.int32(block), name=f"{name}/block")
    rests = [int_op("FloorMod", [size, b], f"{label}_rest") for size, label in ((h, "h"), (w, "w"))]
    check = int_op("GatherV2", [graph.const(np.int32([0]), name=f"{name}/divisible_check_table"),
                                int_op("AddV2", rests, "rests"), graph.const(np.int32(0), name=f"{name}/check_axis")],
                   "check_h_and_w_divide_by_block",
                   {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0})
    out_h, out_w = (int_op("FloorDiv", [size, b], f"out_{label}") for size, label in ((h, "h"), (w, "w")))
    rows = int_op("AddV2", [int_op("Mul", [n, out_h], "rows_unchecked"), check], "rows")
    wide = int_op("Mul", [b, c], "block_channels")
    t = {"T": dtype, "Tshape": DType.INT32}
    split = graph.add_op("Reshape", [x, _run_time_shape(graph, [rows, b, out_w, wide], f"{name}/split_shape")], t,
                         name=f"{name}/split", dtype=dtype, shape=(None, block, None, None))
    perm = graph.const(np.asarray([0, 2, 1, 3], np.int32), name=f"{name}/perm")
    tiles = graph.add_op("Transpose", [split, perm], {"T": dtype, "Tperm": DType.INT32}, name=f"{name}/tiles",
                         dtype=dtype, shape=(None, None, block, None))
    node.op, node.attrs = "Reshape", t
    node.inputs = [tiles, _run_time_shape(graph, [n, out_h, out_w, int_op("Mul", [b, wide], "out_c")],
                                          f"{name}/shape")]
    return True


def _euclidean_norm_many_axes(graph: Graph, node: Node) -> bool:
    """A float ``EuclideanNorm`` over more than two axes (or axes whose count is known only at run time):
    TF.js's ``euclideanNorm`` goes through ``tf.norm``, which throws "Error in norm: invalid axis" past two axes
    on every backend, where TF computes ``sqrt(Σ x·x)``: spelled ``Sqrt(Sum(Square(x), axes, keep_dims))``, TF's
    own steps (float32 squares, one sum, one root). One or two axes stay as they are (TF.js computes the same);
    integers (TF takes an integer root) are left to the op check."""
    dtype = node.attrs.get("T")
    if dtype not in _REAL_FLOATS or len(node.inputs) != 2:
        return False
    x, axes = node.inputs
    values = const_array(axes)
    if values is not None and np.unique(values.reshape(-1)).size <= 2:
        return False
    if values is None and axes.shape is not None and len(axes.shape) <= 1 and \
            (len(axes.shape) == 0 or (axes.shape[0] is not None and axes.shape[0] <= 2)):
        return False
    t, name = {"T": dtype}, node.name
    squares = graph.add_op("Square", [x], t, name=f"{name}/squares", dtype=dtype, shape=x.shape)
    total = graph.add_op("Sum", [squares, axes], {**t, "Tidx": node.attrs.get("Tidx") or axes.dtype or DType.INT32,
                                                  "keep_dims": bool(node.attrs.get("keep_dims", False))},
                         name=f"{name}/sum_of_squares", dtype=dtype, shape=node.outputs[0].shape)
    node.op, node.inputs, node.attrs = "Sqrt", [total], dict(t)
    return True


def _unsorted_segment_sum(graph: Graph, node: Node) -> bool:
    """``UnsortedSegmentSum`` (float32/int32; TF.js's graph runtime has no such op) as a ``ScatterNd`` into one row
    more than ``num_segments``, its first ``num_segments`` rows kept: ``ScatterNd`` sums duplicate ids, empty
    segments are 0. TF drops a negative id's values: such ids go to the extra row. An id ``>= num_segments``, which
    TF raises on, is moved past the extra row, where ``scatter_index_guard`` fails the run. Ranks must be known."""
    data, ids, num = node.inputs
    dtype, index = node.attrs.get("T"), node.attrs.get("Tindices", ids.dtype)
    if dtype not in (DType.FLOAT32, DType.INT32) or index not in (DType.INT32, DType.INT64) or \
            data.shape is None or ids.shape is None:
        return False
    name, ids_rank, rank = node.name, len(ids.shape), len(data.shape)

    def op(kind: str, inputs: list[Value], attrs: dict, label: str, out: DType | None = None) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=out or index)

    def ints(values: int | list[int], label: str) -> Value:
        return graph.const(np.asarray(values, index.numpy), name=f"{name}/{label}", dtype=index)

    if index == DType.INT64:  # TF.js holds int64 as int32 anyway: the id arithmetic is int32, no int64 notice
        ids = op("Cast", [ids], {"SrcT": index, "DstT": DType.INT32, "Truncate": False}, "ids_int32", DType.INT32)
        index = DType.INT32
    t = {"T": index}
    if node.attrs.get("Tnumsegments", num.dtype) not in (None, index):
        num = op("Cast", [num], {"SrcT": node.attrs.get("Tnumsegments", num.dtype), "DstT": index,
                                 "Truncate": False}, "num_segments")
    past = op("Cast", [op("GreaterEqual", [ids, num], t, "past_end", DType.BOOL)],
              {"SrcT": DType.BOOL, "DstT": index, "Truncate": False}, "past_end_int")
    dropped = op("Less", [ids, ints(0, "zero")], t, "dropped", DType.BOOL)
    moved = op("SelectV2", [dropped, num, op("AddV2", [ids, past], t, "ids_past_end_moved")], t, "ids")
    indices = op("ExpandDims", [moved, graph.const(np.int32(-1), name=f"{name}/last_axis")],
                 {**t, "Tdim": DType.INT32}, "indices")
    rows = op("Reshape", [op("AddV2", [num, ints(1, "one")], t, "rows"), graph.const(
        np.asarray([1], np.int32), name=f"{name}/vector")], {**t, "Tshape": DType.INT32}, "rows_vector")
    tail = op("Slice", [op("Shape", [data], {"T": dtype, "out_type": index}, "data_shape"), ints([ids_rank], "tail_at"),
                        ints([-1], "to_end")], {**t, "Index": index}, "row_shape")
    concat = {"N": 2, "T": index, "Tidx": DType.INT32}
    axis = graph.const(np.int32(0), name=f"{name}/axis")
    shape = op("ConcatV2", [rows, tail, axis], concat, "shape")
    sums = op("ScatterNd", [indices, data, shape], {"T": dtype, "Tindices": index}, "sums", dtype)
    keep = op("ConcatV2", [op("Reshape", [num, graph.const(np.asarray([1], np.int32), name=f"{name}/num_vector")],
                              {**t, "Tshape": DType.INT32}, "num_vector"),
                           ints([-1] * (rank - ids_rank), "rest"), axis], concat, "size")
    node.op, node.attrs = "Slice", {"T": dtype, "Index": index}
    node.inputs = [sums, ints([0] * (rank - ids_rank + 1), "begin"), keep]
    return True


def _int_tensor_scatter(graph: Graph, node: Node, combine: str) -> bool:
    """int32 ``TensorScatterAdd``/``TensorScatterSub`` (TF.js has neither): ``tensor ± ScatterNd(indices, updates,
    Shape(tensor))``, which sums duplicate indices; int32 sums wrap as TF's, in any order, so this is exact.
    float32 stays refused: TF adds the updates one by one into the tensor, and a sum of them first rounds
    otherwise (``(1e30 - 1e30) + 1`` is 1, ``1e30 + (-1e30 + 1)`` 0) and loses -0."""
    dtype, index = node.attrs.get("T"), node.attrs.get("Tindices")
    if dtype != DType.INT32 or index not in (DType.INT32, DType.INT64) or len(node.inputs) != 3:
        return False
    tensor, indices, updates = node.inputs
    name = node.name
    shape = graph.add_op("Shape", [tensor], {"T": dtype, "out_type": index}, name=f"{name}/shape", dtype=index)
    scattered = graph.add_op("ScatterNd", [indices, updates, shape], {"T": dtype, "Tindices": index},
                             name=f"{name}/scattered", dtype=dtype, shape=tensor.shape)
    node.op, node.inputs, node.attrs = combine, [tensor, scattered], {"T": dtype}
    return True


#: The TF.js op each sorted-segment kind is built on. TF.js's ``SparseSegmentSum``/``SparseSegmentMean`` kernels check
#: what TF's check (cpu, wasm): ids sorted and not negative, indices inside ``data``; they throw where TF raises, and
#: give an empty segment 0, as TF does. Only the cpu kernel checks that there are as many indices as ids
#: (:func:`_checked_ids` does, for every backend).
_SPARSE_OP = {"Sum": "SparseSegmentSum", "Mean": "SparseSegmentMean", "SqrtN": "SparseSegmentSum"}


def _as_int32(graph: Graph, value: Value, dtype: DType | None, label: str) -> Value | None:
    """``value`` as int32 (TF.js holds int64 as int32 anyway: no int64 notice); None for other types."""
    if dtype == DType.INT32:
        return value
    if dtype != DType.INT64:
        return None
    return graph.add_op("Cast", [value], {"SrcT": DType.INT64, "DstT": DType.INT32, "Truncate": False},
                        name=label, dtype=DType.INT32, shape=value.shape)


def _every_row(graph: Graph, data: Value, name: str) -> Value:
    """``Range(0, Shape(data)[0])``: the indices that make a ``Segment*`` op a ``SparseSegment*`` one. TF.js checks
    that there are as many of them as ids, which is TF's own check that the ids cover ``data``'s rows."""
    i32 = {"T": data.dtype, "out_type": DType.INT32}
    shape = graph.add_op("Shape", [data], i32, name=f"{name}/data_shape", dtype=DType.INT32)
    rows = graph.add_op("StridedSlice", [shape] + [graph.const(np.asarray([v], np.int32), name=f"{name}/rows_{k}")
                                                    for k, v in (("begin", 0), ("end", 1), ("stride", 1))],
                        {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 1}, name=f"{name}/rows", dtype=DType.INT32, shape=())
    return graph.add_op("Range", [graph.const(np.int32(0), name=f"{name}/range_start"), rows,
                                  graph.const(np.int32(1), name=f"{name}/range_delta")], {"Tidx": DType.INT32},
                        name=f"{name}/every_row", dtype=DType.INT32, shape=(data.shape[0],))


def _int32_op(graph: Graph, op: str, inputs: list[Value], attrs: dict, name: str, shape: tuple | None = None) -> Value:
    """An int32 node (the id checks' arithmetic)."""
    return graph.add_op(op, inputs, attrs, name=name, dtype=DType.INT32, shape=shape)


def _checked_ids(graph: Graph, ids: Value, indices: Value, name: str) -> Value:
    """``ids + GatherV2([0], |Size(ids) - Size(indices)|)``: TF raises unless there are as many ids as indices
    (``Segment*``: rows); TF.js's cpu kernel throws, its wasm one does not (it sums, or reads past the ids). A gather
    index past ``[0]`` fails the run on every backend (TF.js checks every gather index), as in :func:`_pad_rows_to`."""
    sizes = [_int32_op(graph, "Size", [value], {"T": DType.INT32, "out_type": DType.INT32}, f"{name}/{label}", ())
             for value, label in ((ids, "id_count"), (indices, "index_count"))]
    gap = _int32_op(graph, "Abs", [_int32_op(graph, "Sub", sizes, {"T": DType.INT32}, f"{name}/count_gap", ())],
                    {"T": DType.INT32}, f"{name}/count_gap_abs", ())
    check = _int32_op(graph, "GatherV2", [graph.const(np.int32([0]), name=f"{name}/count_check_table"), gap,
                                          graph.const(np.int32(0), name=f"{name}/count_check_axis")],
                      {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                      f"{name}/check_as_many_ids_as_indices", ())
    return _int32_op(graph, "AddV2", [ids, check], {"T": DType.INT32}, f"{name}/checked_ids", ids.shape)


def _row_counts(graph: Graph, ids: Value, rank: int, name: str) -> Value:
    """Each segment's row count, float32, shaped ``[segments, 1, …]`` to broadcast over its rows: a
    ``SparseSegmentSum`` of one 1 per id (from the ids alone: ``data`` may have no columns; exact below 2^24)."""
    t = {"T": DType.FLOAT32}
    as_float = graph.add_op("Cast", [ids], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                            name=f"{name}/ids_float", dtype=DType.FLOAT32, shape=ids.shape)
    ones = graph.add_op("OnesLike", [as_float], t, name=f"{name}/ones", dtype=DType.FLOAT32, shape=ids.shape)
    ones = graph.add_op("Reshape", [ones, graph.const(np.int32([-1] + [1] * (rank - 1)), name=f"{name}/ones_shape")],
                        {**t, "Tshape": DType.INT32}, name=f"{name}/ones_rows", dtype=DType.FLOAT32,
                        shape=(None, *[1] * (rank - 1)))
    count = _int32_op(graph, "Size", [ids], {"T": DType.INT32, "out_type": DType.INT32}, f"{name}/ids_size", ())
    every_id = _int32_op(graph, "Range", [graph.const(np.int32(0), name=f"{name}/ids_start"), count,
                                          graph.const(np.int32(1), name=f"{name}/ids_delta")],
                         {"Tidx": DType.INT32}, f"{name}/every_id", (None,))
    return graph.add_op("SparseSegmentSum", [ones, every_id, ids],
                        {**t, "Tidx": DType.INT32, "Tsegmentids": DType.INT32},
                        name=f"{name}/counts", dtype=DType.FLOAT32, shape=(None, *[1] * (rank - 1)))


def _negative_zero_counts(graph: Graph, data: Value, indices: Value, ids: Value, name: str) -> Value:
    """How many of each segment's rows are -0.0, per element (``x == 0`` and ``1/x < 0``; ``x == 0`` keeps out the
    negative subnormals, whose reciprocal is -Inf too)."""
    t = {"T": DType.FLOAT32}
    zero = graph.const(np.float32(0), name=f"{name}/zero")
    is_zero = graph.add_op("Equal", [data, zero], {**t, "incompatible_shape_error": True}, name=f"{name}/is_zero",
                           dtype=DType.BOOL, shape=data.shape)
    reciprocal = graph.add_op("Reciprocal", [data], t, name=f"{name}/reciprocal", dtype=DType.FLOAT32,
                              shape=data.shape)
    negative = graph.add_op("Less", [reciprocal, zero], t, name=f"{name}/negative_side", dtype=DType.BOOL,
                            shape=data.shape)
    minus_zero = graph.add_op("LogicalAnd", [is_zero, negative], {}, name=f"{name}/is_minus_zero", dtype=DType.BOOL,
                              shape=data.shape)
    as_float = graph.add_op("Cast", [minus_zero], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                            name=f"{name}/minus_zero_float", dtype=DType.FLOAT32, shape=data.shape)
    return graph.add_op("SparseSegmentSum", [as_float, indices, ids],
                        {**t, "Tidx": DType.INT32, "Tsegmentids": DType.INT32}, name=f"{name}/minus_zero_counts",
                        dtype=DType.FLOAT32, shape=(None, *data.shape[1:]))


def _tf_signed_zeros(graph: Graph, total: Value, minus_zeros: Value, counts: Value, sparse: bool, name: str) -> Value:
    """TF's zero signs (r8 measured the rule against TF on 1500 random ±0/±1/±2 cases): TF sums a segment from +0,
    as TF.js does, except that it copies a ``Segment*`` segment of one row (-0.0 stays -0.0) and gives a
    ``SparseSegment*`` segment whose rows are all -0.0 -0.0. Those elements (all rows -0.0: one row for
    ``Segment*``, at least one for ``SparseSegment*``) are set to -0.0; cancelling rows stay +0 as in TF."""
    t = {"T": DType.FLOAT32}
    cmp = {**t, "incompatible_shape_error": True}
    every = graph.add_op("Equal", [minus_zeros, counts], cmp, name=f"{name}/all_minus_zero", dtype=DType.BOOL,
                         shape=total.shape)
    one = graph.const(np.float32(1), name=f"{name}/one_row")
    if sparse:
        rows = graph.add_op("GreaterEqual", [counts, one], t, name=f"{name}/some_rows", dtype=DType.BOOL,
                            shape=counts.shape)
    else:
        rows = graph.add_op("Equal", [counts, one], cmp, name=f"{name}/one_row_copied", dtype=DType.BOOL,
                            shape=counts.shape)
    minus = graph.add_op("LogicalAnd", [every, rows], {}, name=f"{name}/minus_zero", dtype=DType.BOOL,
                         shape=total.shape)
    return graph.add_op("SelectV2", [minus, graph.const(np.float32(-0.0), name=f"{name}/minus_zero_value"), total], t,
                        name=f"{name}/signed_sums", dtype=DType.FLOAT32, shape=total.shape)


def _divide_by_root_count(graph: Graph, total: Value, counts: Value, name: str) -> Value:
    """SqrtN: ``sum / sqrt(n)``, an empty segment's 0 divided by 1. float32 ``sqrt`` of an integer rounds once, as
    TF's double one cast to float does."""
    t = {"T": DType.FLOAT32}
    at_least_one = graph.add_op("Maximum", [counts, graph.const(np.float32(1), name=f"{name}/one")], t,
                                name=f"{name}/counts_at_least_one", dtype=DType.FLOAT32, shape=counts.shape)
    root = graph.add_op("Sqrt", [at_least_one], t, name=f"{name}/root_counts", dtype=DType.FLOAT32,
                        shape=counts.shape)
    return graph.add_op("RealDiv", [total, root], t, name=f"{name}/sqrt_n", dtype=DType.FLOAT32, shape=total.shape)


def _pad_rows_to(graph: Graph, total: Value, num: Value, rank: int, name: str) -> tuple[Value, Value]:
    """The ``Pad`` inputs that give ``total`` (rows: the last id + 1) ``num`` rows of which the new ones are 0. An id
    ``>= num`` (TF raises) makes ``rows - num`` positive: ``GatherV2([0], max(rows - num, 0))`` then fails the run on
    cpu and wasm (TF.js checks every gather index), as ``scatter_index_guard`` does."""
    i32 = {"T": DType.INT32}
    shape = graph.add_op("Shape", [total], {"T": total.dtype, "out_type": DType.INT32}, name=f"{name}/sum_shape",
                         dtype=DType.INT32, shape=(rank,))
    rows = graph.add_op("Slice", [shape, graph.const(np.int32([0]), name=f"{name}/rows_at"),
                                  graph.const(np.int32([1]), name=f"{name}/one_row")],
                        {"T": DType.INT32, "Index": DType.INT32}, name=f"{name}/rows", dtype=DType.INT32, shape=(1,))
    num = graph.add_op("Reshape", [num, graph.const(np.int32([1]), name=f"{name}/vector")],
                       {"T": DType.INT32, "Tshape": DType.INT32}, name=f"{name}/num_vector", dtype=DType.INT32,
                       shape=(1,))
    extra = graph.add_op("Sub", [num, rows], i32, name=f"{name}/extra_rows", dtype=DType.INT32, shape=(1,))
    over = graph.add_op("Maximum", [graph.add_op("Sub", [rows, num], i32, name=f"{name}/rows_over", dtype=DType.INT32,
                                                 shape=(1,)),
                                    graph.const(np.int32(0), name=f"{name}/zero")], i32, name=f"{name}/past_end",
                        dtype=DType.INT32, shape=(1,))
    check = graph.add_op("GatherV2", [graph.const(np.int32([0]), name=f"{name}/check_table"), over,
                                      graph.const(np.int32(0), name=f"{name}/check_axis")],
                         {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                         name=f"{name}/check_ids_below_num", dtype=DType.INT32, shape=(1,))
    checked = graph.add_op("AddV2", [extra, check], i32, name=f"{name}/pad_rows", dtype=DType.INT32, shape=(1,))
    first = graph.add_op("ConcatV2", [graph.const(np.int32([0]), name=f"{name}/before"), checked,
                                      graph.const(np.int32(0), name=f"{name}/axis")],
                         {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, name=f"{name}/first_axis", dtype=DType.INT32,
                         shape=(2,))
    first = graph.add_op("Reshape", [first, graph.const(np.int32([1, 2]), name=f"{name}/pair")],
                         {"T": DType.INT32, "Tshape": DType.INT32}, name=f"{name}/first_axis_pair", dtype=DType.INT32,
                         shape=(1, 2))
    paddings = graph.add_op("ConcatV2", [first, graph.const(np.zeros((rank - 1, 2), np.int32), name=f"{name}/rest"),
                                         graph.const(np.int32(0), name=f"{name}/pair_axis")],
                            {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, name=f"{name}/paddings",
                            dtype=DType.INT32, shape=(rank, 2))
    return total, paddings


def _sorted_segments(graph: Graph, node: Node, kind: str, sparse: bool) -> bool:
    """``Segment{Sum,Mean}``, ``SparseSegment{Sum,Mean,SqrtN}`` and their ``WithNumSegments`` forms (TF.js has only
    ``SparseSegmentSum``/``Mean``, without ``num_segments``): built on those two, which throw on unsorted or negative
    ids and indices outside ``data`` as TF raises (ids and indices of different counts: :func:`_checked_ids`).
    ``Segment*`` reads every row in order; SqrtN divides the sum by the root of each segment's count; ``num_segments``
    pads the rows past the last id with 0 (an id past it fails the run); float zeros get TF's signs
    (:func:`_tf_signed_zeros`). float32 (Sum: int32 too). Rounding (measured): float32 ``SegmentSum`` over 1 to 4
    columns and ``SegmentMean`` are TF's bit for bit (both add in order); over 8 or more columns TF's Eigen reduce
    adds in another order (1.2e-6 of the range on random rows, up to the whole range where rows cancel: TF 216,
    TF.js 0 over 1e8, 1, …, -1e8); TF's ``SparseSegment*`` kernels add in blocks of 8 rows (9.7e-7 of the output
    range at most over 600-row segments, more where rows cancel, as TF.js's own two ops) and its means are not
    ``sum / n`` (1 ulp)."""
    dtype, name = node.attrs.get("T"), node.name
    with_num = len(node.inputs) == (4 if sparse else 3)
    if dtype not in ((DType.FLOAT32, DType.INT32) if kind == "Sum" else (DType.FLOAT32,)) or \
            node.inputs[0].shape is None or not node.inputs[0].shape:
        return False
    data = node.inputs[0]
    ids = _as_int32(graph, node.inputs[2 if sparse else 1], node.attrs.get("Tsegmentids", node.attrs.get("Tindices",
                    node.inputs[2 if sparse else 1].dtype)), f"{name}/ids_int32")
    indices = _as_int32(graph, node.inputs[1], node.attrs.get("Tidx", node.inputs[1].dtype), f"{name}/indices_int32") \
        if sparse else _every_row(graph, data, name)
    num = _as_int32(graph, node.inputs[-1], node.attrs.get("Tnumsegments", node.inputs[-1].dtype),
                    f"{name}/num_int32") if with_num else None
    if ids is None or indices is None or (with_num and num is None):
        return False
    if node.outputs[0].shape is None:  # rows known at run time only; the rank is data's (the backend check needs it)
        node.outputs[0].shape = (None, *data.shape[1:])
    ids = _checked_ids(graph, ids, indices, name)
    total = graph.add_op(_SPARSE_OP[kind], [data, indices, ids],
                         {"T": dtype, "Tidx": DType.INT32, "Tsegmentids": DType.INT32}, name=f"{name}/sums",
                         dtype=dtype, shape=(None, *data.shape[1:]))
    if dtype == DType.FLOAT32:
        counts = _row_counts(graph, ids, len(data.shape), name)
        if kind == "SqrtN":
            total = _divide_by_root_count(graph, total, counts, name)
        total = _tf_signed_zeros(graph, total, _negative_zero_counts(graph, data, indices, ids, name), counts,
                                 sparse, name)
    if not with_num:
        node.op, node.inputs, node.attrs = "Identity", [total], {"T": dtype}
        return True
    node.op, node.attrs = "Pad", {"T": dtype, "Tpaddings": DType.INT32}
    node.inputs = list(_pad_rows_to(graph, total, num, len(data.shape), name))
    return True


def _segment_rules() -> dict[str, Callable[[Graph, Node], bool]]:
    """The sorted-segment ops :func:`_sorted_segments` builds, by TF op name."""
    rules: dict[str, Callable[[Graph, Node], bool]] = {}
    for kind in ("Sum", "Mean", "SqrtN"):
        for suffix in ("", "WithNumSegments"):
            rules[f"SparseSegment{kind}{suffix}"] = \
                lambda graph, node, kind=kind: _sorted_segments(graph, node, kind, sparse=True)
    for kind in ("Sum", "Mean"):
        rules[f"Segment{kind}"] = lambda graph, node, kind=kind: _sorted_segments(graph, node, kind, sparse=False)
    return rules


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
    "Xlogy": lambda graph, node: _x_or(graph, node, "Log"),
    "Xdivy": lambda graph, node: _x_or(graph, node, "RealDiv"),
    "SpaceToDepth": _space_to_depth,
    "DepthToSpace": _depth_to_space,
    "TensorScatterMax": lambda graph, node: tensor_scatter_extreme(graph, node, "Max"),
    "TensorScatterMin": lambda graph, node: tensor_scatter_extreme(graph, node, "Min"),
    "EuclideanNorm": _euclidean_norm_many_axes,
    "UnsortedSegmentSum": _unsorted_segment_sum,
    "TensorScatterAdd": lambda graph, node: _int_tensor_scatter(graph, node, "AddV2"),
    "TensorScatterSub": lambda graph, node: _int_tensor_scatter(graph, node, "Sub"),
    **_segment_rules(),
    **{f"{prefix}Segment{kind}": lambda graph, node, kind=kind, unsorted=bool(prefix): segment_extreme(
        graph, node, kind, unsorted) for prefix in ("", "Unsorted") for kind in ("Max", "Min")},
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
            whats = sorted({str(err).split(":")[0] for err in refused})
            raise OpProblemsError(problems, whats[0] if len(whats) == 1 else "ops TF.js cannot compute as TF does")
        return PassResult.from_counts(**counts)
