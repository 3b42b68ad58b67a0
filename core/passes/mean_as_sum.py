"""A float32 ``Mean`` as ``Sum(x) / n``, TF's order, when cpu or webgl is a target.

TF's float32 ``Mean`` sums in float32 and divides the sum once by the element count (``in.size() / out.size()`` as a
float). TF.js 4.22's cpu kernel divides every element by the count first (a float32 ``x / n``, then a float64 sum of
the quotients), and webgl's first reduction stage multiplies every element by ``1/n`` before its float32 sums, so
each element carries its own rounding: the mean of a constant row of integers, which TF sums exactly, is an ulp
off where ``c / n`` is inexact (114 over 7, 1000 over 15, 1e6 over 49), ``0.1`` over 3 is ``0.10000001`` (TF
``0.1``), and a normalization that subtracts the mean (tf_keras's BatchNormalization with ``training=True``,
LayerNormalization) divides that ulp by ``√ε``: 2e-4 to 5e-4 of the output range off on cpu (session 30, h3). Sums
past ±FLT_MAX were finite there (TF Inf). wasm's kernel already sums first (in order, in float32) and divides once:
left as it is (its in-order sum of long rows is a deviation of its own, docs/backends.md).

The rewrite keeps the node's name and output: ``RealDiv(Sum(x, axes, keep_dims), n)`` with ``n`` a float32 constant
where the reduced sizes are known, else ``Cast(Prod(Gather(Shape(x), axes)))`` at run time (a count of 0 there:
``empty_reductions``, whose slot is before this pass's, already selects TF's NaN; webgl's ``RealDiv`` gives 0/0 = 1).
With webgl a target the sum is of ``x · 2^-k`` and the divisor ``n · 2^-k`` (:func:`_scaled`): float16 textures
overflowed ``Sum(x)`` (review r3). The division is named exact (a finite count); the constants are never quantized
(``passes.exact_constants``; nor folded into weights).
Left as they are: a known count that is a power of two (every share ``x / n`` is exact, so the kernel's sum of them
is the sum divided once; only shares below 2^-126 lose bits, values under ``n``·1.2e-38, and a sum past ±FLT_MAX
stays finite: the special-values row), axes known only at run time, and repeated axes.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..shape_rank import infer_ranks
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes

#: The backends whose float32 ``Mean`` rounds each element's share (cpu: ``x / n``; webgl: ``x · (1/n)``) first.
PER_ELEMENT_MEAN_BACKENDS = frozenset({"cpu", "webgl"})
#: The name part of this pass's nodes and constants.
MARK = "mean_as_sum"


class MeanAsSumOverCount(BackendGatedPass):
    """A float32 ``Mean`` on a cpu or webgl target → ``Sum / count`` (module docstring)."""

    name = "mean_as_sum"
    level = 0
    after = ("lower_einsum",)  # registered after empty_reductions: runs after it (test_pass_ordering pins it)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        if not PER_ELEMENT_MEAN_BACKENDS & set(self.targets or DEFAULT_TARGET_BACKENDS):
            return PassResult(0)
        nodes = [n for n in graph.nodes if _float32_mean(n) and _reduced_axes(n) is not None]
        if not nodes:
            return PassResult(0)
        shapes, ranks, rewritten = infer_shapes(graph), infer_ranks(graph), 0
        scaled = "webgl" in set(self.targets or DEFAULT_TARGET_BACKENDS)
        for node in nodes:
            count = _count(graph, node, shapes.get(node.inputs[0]), ranks.get(node.inputs[0]))
            if count is not None:
                _divide_the_sum(graph, node, _scaled(graph, node, count) if scaled else (node.inputs[0], count))
                rewritten += 1
        return PassResult(rewritten)


def _float32_mean(node: Node) -> bool:
    """A two-input float32 ``Mean`` (float16 is half_rounding's, integers truncating_division's)."""
    if node.op != "Mean" or len(node.inputs) != 2:
        return False
    raw = node.attrs.get("T") or node.inputs[0].dtype
    return raw is None or DType.from_any(raw) == DType.FLOAT32


def _reduced_axes(node: Node) -> np.ndarray | None:
    """The constant axes as a flat int64 array; None when read at run time, empty or repeated (left as they are)."""
    axes = const_array(node.inputs[1])
    if axes is None or axes.size == 0 or not np.issubdtype(axes.dtype, np.integer):
        return None
    flat = axes.reshape(-1).astype(np.int64)
    return flat if len(set(flat.tolist())) == flat.size else None


def _count(graph: Graph, node: Node, shape: tuple | None, rank: int | None) -> Value | None:
    """The reduced element count as float32: a constant where the sizes are known (None for a power of two: each
    share ``x / n`` is exact there, bar subnormal ones), else computed at run time; None for axes outside a known rank
    (TF raises: left to fail)."""
    axes, rank = _reduced_axes(node), len(shape) if shape is not None else rank
    if rank is not None and not all(-rank <= a < rank for a in axes.tolist()):
        return None
    if shape is not None and all(shape[a] is not None and shape[a] >= 0 for a in axes.tolist()):
        count = int(np.prod([shape[a] for a in axes.tolist()]))
        if count & (count - 1) == 0:
            return None
        return graph.const(np.float32(count), name=f"{node.name}/{MARK}/count", dtype=DType.FLOAT32)
    return _run_time_count(graph, node, axes, rank)


def _run_time_count(graph: Graph, node: Node, axes: np.ndarray, rank: int | None) -> Value:
    """``Cast(Prod(GatherV2(Shape(x), axes mod rank)), float32)`` (TF.js's GatherV2 takes no negative index)."""
    x, prefix, int32 = node.inputs[0], f"{node.name}/{MARK}", DType.INT32
    dims = graph.add_op("Shape", [x], {"T": DType.FLOAT32, "out_type": int32}, name=f"{prefix}/dims", dtype=int32,
                        shape=(rank,) if rank is not None else None)
    if rank is not None or (axes >= 0).all():
        where = graph.const((axes % rank if rank is not None else axes).astype(np.int32), name=f"{prefix}/axes",
                            dtype=int32)
    else:
        rank_value = graph.add_op("Rank", [x], {"T": DType.FLOAT32}, name=f"{prefix}/rank", dtype=int32, shape=())
        where = graph.add_op("FloorMod", [graph.const(axes.astype(np.int32), name=f"{prefix}/axes", dtype=int32),
                                          rank_value], {"T": int32}, name=f"{prefix}/axes_mod_rank", dtype=int32,
                             shape=(axes.size,))
    sizes = graph.add_op("GatherV2", [dims, where, graph.const(np.int32(0), name=f"{prefix}/gather_axis")],
                         {"Tparams": int32, "Tindices": int32, "Taxis": int32, "batch_dims": 0},
                         name=f"{prefix}/sizes", dtype=int32, shape=(axes.size,))
    count = graph.add_op("Prod", [sizes, graph.const(np.int32(0), name=f"{prefix}/prod_axis")],
                         {"T": int32, "Tidx": int32, "keep_dims": False}, name=f"{prefix}/count", dtype=int32,
                         shape=())
    return graph.add_op("Cast", [count], {"SrcT": int32, "DstT": DType.FLOAT32, "Truncate": False},
                        name=f"{prefix}/count_float", dtype=DType.FLOAT32, shape=())


def _scaled(graph: Graph, node: Node, count: Value) -> tuple[Value, Value]:
    """``(x · 2^-k, n · 2^-k)`` with ``2^k`` the largest power of two ≤ ``n``: scaling by a power of two is exact, so
    ``Sum(x · 2^-k) / (n · 2^-k)`` is TF's ``Sum(x) / n`` on float32, while every partial sum stays of the size of the
    mean, as in webgl's own kernel: on float16 textures (``--webgl_f16``, phones) ``Sum(x)`` passed 65504 first and
    gave NaN (review r3, session 30). The cost: a sum past ±FLT_MAX stays finite (TF Inf), as before this pass."""
    prefix, int32, f32 = f"{node.name}/{MARK}", DType.INT32, DType.FLOAT32
    source = count.producer
    if source.op == "Const":  # the count Const becomes n · 2^-k in place (its name stays the one quantization skips)
        n = np.float32(source.attrs["value"])
        share = np.float32(2.0 ** -int(np.floor(np.log2(n))))
        scale, divisor = graph.const(share, name=f"{prefix}/scale", dtype=f32), count
        source.attrs["value"] = np.asarray(n * share, np.float32)
    else:  # k = #{j ≥ 1: n ≥ 2^j}, then 2^-k from a table: integer compares and a gather, exact on every backend
        whole = source.inputs[0]  # Cast(Prod(...)): the int32 count
        powers = graph.const((2 ** np.arange(1, 31)).astype(np.int32), name=f"{prefix}/powers", dtype=int32)
        above = graph.add_op("GreaterEqual", [whole, powers], {"T": int32}, name=f"{prefix}/above", dtype=DType.BOOL,
                             shape=(30,))
        flags = graph.add_op("Cast", [above], {"SrcT": DType.BOOL, "DstT": int32, "Truncate": False},
                             name=f"{prefix}/above_flags", dtype=int32, shape=(30,))
        exponent = graph.add_op("Sum", [flags, graph.const(np.int32(0), name=f"{prefix}/flags_axis")],
                                {"T": int32, "Tidx": int32, "keep_dims": False}, name=f"{prefix}/exponent",
                                dtype=int32, shape=())
        table = graph.const((2.0 ** -np.arange(31)).astype(np.float32), name=f"{prefix}/shares", dtype=f32)
        scale = graph.add_op("GatherV2", [table, exponent, graph.const(np.int32(0), name=f"{prefix}/table_axis")],
                             {"Tparams": f32, "Tindices": int32, "Taxis": int32, "batch_dims": 0},
                             name=f"{prefix}/scale", dtype=f32, shape=())
        divisor = graph.add_op("Mul", [count, scale], {"T": f32}, name=f"{prefix}/scaled_count", dtype=f32, shape=())
    x = node.inputs[0]
    shares = graph.add_op("Mul", [x, scale], {"T": f32}, name=f"{prefix}/shares_of_x", dtype=f32, shape=x.shape)
    return shares, divisor


def _divide_the_sum(graph: Graph, node: Node, summed_and_count: tuple[Value, Value]) -> None:
    """Turn ``node`` into ``RealDiv(Sum(x, axes, keep_dims), count)``, keeping its name and output. The division is
    its own node, named exact (``GUARDED_SUFFIX``): its divisor is a finite count (0 is ``empty_reductions``' NaN
    select), so webgl's x / x = 1 for NaN and ±Inf cannot happen; the node keeping the name is its Identity."""
    from ..ops.special_values import GUARDED_SUFFIX

    summed, count = summed_and_count
    keep = bool(node.attrs.get("keep_dims", False))
    tidx = node.attrs.get("Tidx") or node.inputs[1].dtype or DType.INT32
    total = graph.add_op("Sum", [summed, node.inputs[1]], {"T": DType.FLOAT32, "Tidx": tidx, "keep_dims": keep},
                         name=f"{node.name}/{MARK}/sum", dtype=DType.FLOAT32, shape=node.outputs[0].shape)
    quotient = graph.add_op("RealDiv", [total, count], {"T": DType.FLOAT32},
                            name=f"{node.name}/{MARK}/quotient{GUARDED_SUFFIX}", dtype=DType.FLOAT32,
                            shape=node.outputs[0].shape)
    rewrite(node, "Identity", [quotient], {"T": DType.FLOAT32})
