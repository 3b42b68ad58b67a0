"""Float ``FloorDiv`` and ``FloorMod`` written so that TF.js gives TF's float results.

Measured against ``tf.raw_ops`` (TF op conformance run): TF.js's cpu ``floorDiv`` returns int32 for
float32 inputs; TF.js's ``mod`` is ``(a % b + b) % b`` when the signs differ, NaN for a ±Inf
divisor and -0 where ``a % b + b`` rounds to ``b`` (``mod(1, -1e30)``; TF gives -1e30).
TF computes a float floor division as ``floor(a / b)``, so ``Floor(RealDiv(a, b))`` is exact (±Inf,
NaN, -0 included). TF's ``FloorMod`` is ``t = fmod(a, b)``, plus ``b`` where ``t ≠ 0`` and its sign
differs from b's: TF.js's ``mod`` of a divisor given a's sign is exactly ``fmod`` (JS ``%``), and
the correction compares signs with ``Less``/``Greater`` (a product ``t·b`` could underflow to -0, and
wasm's ``Sign`` is not to be trusted at ±Inf).
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import rewrite

#: The label of the FloorMod this pass keeps inside its rewrite (not rewritten again).
KEPT_LABEL = "tfjs_floor_mod"
FLOATS = frozenset({DType.FLOAT32, DType.FLOAT16, DType.FLOAT64})


def _dtype(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or node.output(0).dtype
    return dtype if isinstance(dtype, DType) else None


def floor_div(graph: Graph, node: Node, dtype: DType) -> None:
    a, b = node.inputs[:2]
    quotient = graph.add_op("RealDiv", [a, b], {"T": dtype}, name=f"{node.name}/quotient", dtype=dtype)
    rewrite(node, "Floor", [quotient], {"T": dtype})


def floor_mod(graph: Graph, node: Node, dtype: DType) -> None:
    a, b = node.inputs[:2]

    def op(name: str, inputs: list[Value], label: str, out: DType = dtype) -> Value:
        typed = inputs[1] if name == "SelectV2" else inputs[0]  # a select's T is its branches' dtype
        return graph.add_op(name, inputs, {"T": typed.dtype or dtype}, name=f"{node.name}/{label}", dtype=out)

    zero = graph.const(0.0, name=f"{node.name}/zero", dtype=dtype)
    magnitude = op("Abs", [b], "abs_divisor")
    # a divisor with a's sign: TF.js's mod is then the plain remainder, C's fmod(a, b)
    divisor = op("SelectV2", [op("GreaterEqual", [a, zero], "dividend_nonneg", DType.BOOL), magnitude,
                              op("Neg", [magnitude], "neg_abs_divisor")], "same_sign_divisor")
    truncated = op("FloorMod", [a, divisor], KEPT_LABEL)
    def both(x: Value, y: Value, label: str) -> Value:
        return graph.add_op("LogicalAnd", [x, y], {}, name=f"{node.name}/{label}", dtype=DType.BOOL)

    below, above = (lambda v, label: op("Less", [v, zero], label, DType.BOOL),
                    lambda v, label: op("Greater", [v, zero], label, DType.BOOL))
    differ = graph.add_op("LogicalOr", [both(below(truncated, "rem_neg"), above(b, "div_pos"), "neg_pos"),
                                        both(above(truncated, "rem_pos"), below(b, "div_neg"), "pos_neg")], {},
                          name=f"{node.name}/signs_differ", dtype=DType.BOOL)
    rewrite(node, "SelectV2", [differ, op("AddV2", [truncated, b], "shifted"), truncated], {"T": dtype})


class FloatFloorDivision(Pass):
    """Float ``FloorDiv`` → ``Floor(RealDiv)``; float ``FloorMod`` made exact for a ±Inf divisor."""

    name = "float_floor_division"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in list(graph.nodes):
            if node.op not in ("FloorDiv", "FloorMod") or len(node.inputs) < 2:
                continue
            dtype = _dtype(node)
            if dtype not in FLOATS or node.name.endswith(f"/{KEPT_LABEL}"):
                continue
            (floor_div if node.op == "FloorDiv" else floor_mod)(graph, node, dtype)
            count += 1
        return PassResult(count)
