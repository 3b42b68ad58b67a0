"""``Log1p(x)`` as ``u == 1 or x == +Inf ? x : Log(u) · (x / (u - 1))``, ``u = 1 + x``, where a target computes it naively.

TF.js 4.22's wasm kernel and webgl's (``log(1.0 + x)`` shader) compute ``log(1 + x)`` in
float32: the rounding of ``1 + x`` loses every bit of ``x`` below 2^-24, so ``log1p(1e-8)`` is 0 (TF 1e-8),
``log1p(-3e-8)`` is -5.96e-8, and inputs of scale 1e-3 are 4.7e-5 of their output range off (session 28, reviewer R1;
h9's sweep: relative error 1 below 6e-8, ~1e-2 at 1e-6). Only cpu (JS ``Math.log1p``) is right.

The rewrite is the classic exact-enough form: ``u - 1`` is the part of ``x`` that ``u`` kept, so ``x / (u - 1)``
corrects ``Log(u)`` by what the rounding lost; where ``u == 1`` nothing was kept and ``log1p(x) = x`` to float32
precision (also ``-0`` and subnormals, kept as they are). ``x = +Inf`` would give ``Inf / Inf``, so it is selected
as ``x`` too (told by ``x > `` the dtype's largest finite value: a constant ``+Inf`` would stop ``--quantize_uint8``,
which refuses non-finite weights, R8); ``x = -1`` gives ``-Inf · 1``, ``x < -1`` and NaN give NaN through ``Log``. Measured on 30 000
values over ``[-1, 1e8]`` (session 28, h9): at most 2.25 ulp from the float64 result on cpu
and wasm alike (TF's own float32 kernel: 3.2 ulp; TF.js cpu's native kernel 0.5 ulp, wasm's 1.7e7 ulp).
On webgl it matches TF where TF.js runs its CPU kernels (small inputs, the default); on the SwiftShader shader it is
better than webgl's own ``log1p`` but not exact (GLSL's ``log`` near 1). Made only when some target is not cpu: a
conversion for cpu alone keeps TF.js cpu's exact kernel.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite

#: The backends whose ``Log1p`` kernel computes ``log1p`` itself (all others compute ``log(1 + x)``).
EXACT_LOG1P_BACKENDS = frozenset({"cpu"})
#: float16 is left: half_rounding would round each step to float16, and its naive error is under a float16 ulp
FLOAT_TYPES = (DType.FLOAT32, DType.FLOAT64)


class Log1pAsLog(BackendGatedPass):
    """A float ``Log1p`` some target computes as ``log(1 + x)`` → the compensated form (see the module docstring)."""

    name = "log1p"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        targets = self.targets or DEFAULT_TARGET_BACKENDS
        if set(targets) <= EXACT_LOG1P_BACKENDS:
            return PassResult(0)
        nodes = [n for n in graph.nodes if n.op == "Log1p" and len(n.inputs) == 1 and float32_or_64(n) is not None]
        for node in nodes:
            _compensate(graph, node, float32_or_64(node))
        return PassResult(len(nodes))


def float32_or_64(node: Node) -> DType | None:
    """The node's float32/float64 dtype (from ``T`` or its input), None for anything else: float16 is left (one
    rounding to it per step would be needed), complex is ``complex_parts``'s. Shared with ``sin_symmetry``."""
    raw = node.attrs.get("T") or node.inputs[0].dtype
    dtype = DType.from_any(raw) if raw is not None else DType.FLOAT32
    return dtype if dtype in FLOAT_TYPES else None


def _compensate(graph: Graph, node: Node, dtype: DType) -> None:
    """Turn ``node`` into ``SelectV2(u == 1 or x == Inf, x, Log(u) · (x / (u - 1)))``."""
    x, name, shape = node.inputs[0], node.name, node.outputs[0].shape

    def scalar(value: float, label: str) -> Value:
        return graph.const(np.asarray(value, dtype.numpy), name=f"{name}/log1p/{label}", dtype=dtype)

    def op(kind: str, inputs: list[Value], label: str, out: DType | None = None) -> Value:
        attrs = {"T": dtype} if kind != "LogicalOr" else {}
        if kind == "Equal":
            attrs["incompatible_shape_error"] = True
        return graph.add_op(kind, inputs, attrs, name=f"{name}/log1p/{label}", dtype=out or dtype, shape=shape)

    one = scalar(1.0, "one")
    u = op("AddV2", [x, one], "one_plus_x")
    kept = op("Sub", [u, one], "kept_of_x")
    correction = op("RealDiv", [x, kept], "correction")
    compensated = op("Mul", [op("Log", [u], "log"), correction], "compensated")
    exact_as_x = op("LogicalOr", [op("Equal", [u, one], "nothing_kept", DType.BOOL),
                                  op("Greater", [x, scalar(np.finfo(dtype.numpy).max, "largest")], "is_inf",
                                     DType.BOOL)],
                    "x_is_the_answer", DType.BOOL)
    rewrite(node, "SelectV2", [exact_as_x, x, compensated], {"T": dtype})
