"""``Erf(x)`` as its Taylor series where ``|x| < 1/4``, when cpu or webgl is a target.

TF.js 4.22's cpu ``Erf`` (and webgl's shader, and webgl's CPU forwarding of small tensors) is Abramowitz and
Stegun's 7.1.26, ``1 - (a1·t + … + a5·t^5)·exp(-x²)``, whose absolute error is ~1e-9 at 0 and up to 1.7e-7 further
out: ``erf(1e-38)`` is 1e-9 (TF 1.1e-38), inputs below 1e-4 are more than 1e-5 of their output range off, and up to
0.1 its relative error reaches 7e-6 (session 28 h9's sweep; session 29 h6: wasm's kernel is within 6.3e-8 relative
everywhere). Past 1/4 it stays within 5e-7 of ``erf(x)``. Below that the rewrite computes ``erf`` by its series,
``x·(c0 + z·(c1 + z·(c2 + z·(c3 + z·c4))))``, ``z = x²``, ``c_n = 2/√π · (-1)^n / (n!·(2n + 1))``: the first left
term is below 1e-9 of ``erf(x)``, so the float32 rounding of the five steps is what is left (about an ulp).
``±0`` keeps its sign, subnormals are ``c0·x``; NaN and ±Inf fail ``z < 1/16`` and take the kernel's value. The
kernel kept for the other arguments is named with ``special_values.PRECISE_SUFFIX``, so the contract's "less
precise" row for ``Erf`` names only the nodes left (float16, ``--skip_passes erf_small``). Made only when cpu or
webgl is a target: wasm's own kernel is exact enough.
"""
from __future__ import annotations

import math

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .flat_form import ElementwiseNodes, flatten, rewrite_as_select
from .log1p import float32_or_64

#: The backends whose ``Erf`` is Abramowitz and Stegun's approximation (webgl's shader and its CPU forwarding).
APPROXIMATE_ERF_BACKENDS = frozenset({"cpu", "webgl"})
#: Below this magnitude the series (five terms) replaces the kernel; at and above it the kernel is within 5e-7.
SERIES_BELOW = 0.25
#: The series' coefficients ``c_n`` (float64; cast to the node's dtype).
SERIES = tuple(2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(5))
#: The name part of this pass's nodes and constants.
MARK = "erf_small"


class SmallErfAsTaylor(BackendGatedPass):
    """A float ``Erf`` on a cpu or webgl target → its series below 1/4, the kernel above (module docstring)."""

    name = "erf_small"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS
        from ..ops.special_values import PRECISE_SUFFIX

        if not APPROXIMATE_ERF_BACKENDS & set(self.targets or DEFAULT_TARGET_BACKENDS):
            return PassResult(0)
        nodes = [n for n in graph.nodes if n.op == "Erf" and len(n.inputs) == 1 and float32_or_64(n) is not None
                 and not n.name.endswith(PRECISE_SUFFIX)]
        ranks = None
        if nodes and "webgl" in set(self.targets or DEFAULT_TARGET_BACKENDS):
            from ..shape_rank import infer_ranks

            ranks = infer_ranks(graph)
        for node in nodes:
            flat = ranks is not None and ranks.get(node.inputs[0]) is None
            _series_below_a_quarter(graph, node, float32_or_64(node), PRECISE_SUFFIX, flat)
        return PassResult(len(nodes))


def _series_below_a_quarter(graph: Graph, node: Node, dtype: DType, precise_suffix: str, flat: bool) -> None:
    """Turn ``node`` into ``SelectV2(x² < 1/16, series(x), Erf(x))`` (the kept Erf named with ``precise_suffix``).
    ``flat``: over ``x`` reshaped to one axis and back (webgl's ``where`` throws from rank 5, and select_rank cannot
    lower a select whose rank is unknown)."""
    x, name, shape = node.inputs[0], node.name, node.outputs[0].shape
    whole = x if flat else None
    if flat:
        x, shape = flatten(graph, whole, dtype, f"{name}/{MARK}"), None
    nodes = ElementwiseNodes(graph, dtype, f"{name}/{MARK}", shape)
    square = nodes.op("Square", [x], "square")
    series = nodes.const(SERIES[-1], f"c{len(SERIES) - 1}")
    for n in range(len(SERIES) - 2, -1, -1):
        series = nodes.op("AddV2", [nodes.op("Mul", [series, square], f"times_square{n}"),
                                    nodes.const(SERIES[n], f"c{n}")], f"sum{n}")
    small = nodes.op("Less", [square, nodes.const(SERIES_BELOW ** 2, "bound")], "is_small", out=DType.BOOL)
    kernel = graph.add_op("Erf", [x], {"T": dtype}, name=f"{name}{precise_suffix}", dtype=dtype, shape=shape)
    rewrite_as_select(graph, node, [small, nodes.op("Mul", [series, x], "series"), kernel], dtype, whole,
                      f"{name}/{MARK}")

