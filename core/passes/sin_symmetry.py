"""``Sin(x)`` as ``x < 0 ? -Sin(|x|) : (x == 0 ? x : Sin(|x|))`` when wasm is a target.

TF.js 4.22's wasm ``Sin`` of a negative argument behaves as if 2π were added in float32, losing the low bits of
``x``: ``sin(-1e-10)`` is +1.7484555e-7 (exactly ``-sin`` of float32 2π: the wrong sign), ``sin(-1e-3)`` is off by 2.3e-7, so an
input in ``[-1e-3, 0)`` is 2.4e-4 of its output range off (the bound is 1e-5), and ``sin(-0)`` is +0 (session 28,
h9's sweep). Positive arguments from 2^-12 up to 5000 are right within
~1e-7, as is cpu's ``Math.sin``. ``sin`` is odd, so the rewrite computes it on ``|x|`` and puts the sign back; below
2^-12 in magnitude (where float32's sine is ``x``; wasm gives 0 for ``sin(1e-16)``, R8) ``x`` itself (``±0`` with
its sign, NaN too); ±Inf give NaN (``Sin`` of ±Inf). cpu gives the same values as its
own kernel (``Math.sin`` is symmetric). Made only when wasm is a target.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite
from .log1p import float32_or_64  # (float16 is left: wasm keeps its wrong sign for a tiny negative one, R8)

#: The backends whose ``Sin`` of a negative argument loses its low bits.
NAIVE_NEGATIVE_SIN_BACKENDS = frozenset({"wasm"})


class SinOfMagnitude(BackendGatedPass):
    """A float ``Sin`` on a wasm target → the sine of ``|x|`` with ``x``'s sign (see the module docstring)."""

    name = "sin_symmetry"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        if not NAIVE_NEGATIVE_SIN_BACKENDS & set(self.targets or DEFAULT_TARGET_BACKENDS):
            return PassResult(0)
        nodes = [n for n in graph.nodes if n.op == "Sin" and len(n.inputs) == 1 and float32_or_64(n) is not None
                 and n.inputs[0].producer.op != "Abs"]  # an argument never negative (the rewrite's own too)
        for node in nodes:
            _signed_sine(graph, node, float32_or_64(node))
        return PassResult(len(nodes))


#: Below this magnitude float32's ``sin(x)`` is ``x`` rounded (``x³/6 < 2^-25·x``); wasm's kernel is not there
#: (``sin(1e-16)`` = 0, ``sin(1e-15)`` = 8.9e-16: R8), so ``x`` itself is the answer.
SINE_IS_X_BELOW = 2.0 ** -12


def _signed_sine(graph: Graph, node: Node, dtype: DType) -> None:
    """Turn ``node`` into ``SelectV2(x < -t, -Sin(|x|), SelectV2(x > t, Sin(x), x))``, ``t`` =
    :data:`SINE_IS_X_BELOW` (``±0``, tiny ``x`` and NaN are ``x``; ±Inf give NaN through ``Sin``)."""
    x, name, shape = node.inputs[0], node.name, node.outputs[0].shape

    def op(kind: str, inputs: list[Value], label: str, out: DType | None = None) -> Value:
        attrs = {"T": dtype, **({"incompatible_shape_error": True} if kind == "Equal" else {})}
        return graph.add_op(kind, inputs, attrs, name=f"{name}/sin_symmetry/{label}", dtype=out or dtype, shape=shape)

    tiny = graph.const(np.asarray(SINE_IS_X_BELOW, dtype.numpy), name=f"{name}/sin_symmetry/tiny", dtype=dtype)
    minus_tiny = graph.const(np.asarray(-SINE_IS_X_BELOW, dtype.numpy), name=f"{name}/sin_symmetry/minus_tiny",
                             dtype=dtype)
    sine = op("Sin", [op("Abs", [x], "magnitude")], "sine_of_magnitude")
    positive = op("SelectV2", [op("Greater", [x, tiny], "is_positive", DType.BOOL), sine, x], "positive_or_x")
    rewrite(node, "SelectV2", [op("Less", [x, minus_tiny], "is_negative", DType.BOOL), op("Neg", [sine], "negated"),
                               positive], {"T": dtype})
