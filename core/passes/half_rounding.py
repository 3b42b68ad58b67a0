"""Casts to float16 rounded as TensorFlow rounds them, in the float32 TF.js holds float16 values in.

TF.js's graph loader reads DT_HALF as float32, so ``Cast(x, float16)`` kept every bit of ``x``, where TF rounds
to float16 (11 significant bits, round to nearest even, ±inf from 65520 on, subnormals below 2^-14): mixed
precision Keras models (``mixed_float16``) cast every layer's input so. The rounding is done in float32 ops,
exact in IEEE float32 (cpu, wasm): normal values by Veltkamp's split (``c = 8193·x`` as ``8192·x + x``, whose
power-of-two product stays exact even if a later pass folds it; ``(x - c) + c``), subnormal ones by adding and
removing 0.75 (whose float32 ulp is float16's smallest subnormal, 2^-24), overflow by a product past float32's
range, and zeros keep ``x``'s sign. Arithmetic TF computes in float16 (a ``MatMul`` with ``T=half``) is still
computed in float32 in TF.js, closer to the exact value than TF; such nodes are named in a warning, not guessed.
"""
from __future__ import annotations

import logging

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value

log = logging.getLogger(__name__)

_F32 = DType.FLOAT32
#: float16's largest value is 65504; from 65520 (the tie with 65536) on TF rounds to inf.
HALF_OVERFLOW = 65520.0
HALF_SMALLEST_NORMAL = 2.0 ** -14


def is_cast_to_half(node: Node) -> bool:
    """A ``Cast`` whose result is float16 from another dtype (which TF rounds to float16)."""
    if node.op != "Cast" or not node.outputs or not node.inputs:
        return False
    destination = node.attrs.get("DstT", node.outputs[0].dtype)
    source = node.inputs[0].dtype or node.attrs.get("SrcT")
    return destination == DType.FLOAT16 and source != DType.FLOAT16


def round_cast_to_half(graph: Graph, node: Node, readers: list[tuple[Node, int]], outputs: list[str]) -> Value:
    """Make ``node`` (a Cast to float16) a Cast to float32 followed by TF's rounding to float16; its readers
    (``(node, input index)``) and graph ``outputs`` (keys) read the rounded value instead."""
    cast = node.outputs[0]
    node.attrs["DstT"] = _F32
    cast.dtype = _F32
    prefix = f"{node.name}/half"
    # webgl runs no SelectV2 of rank 5 or more: such values (or of unknown rank) are rounded flat
    flat = cast.shape is None or len(cast.shape) > 4
    x = cast
    if flat:
        minus_one = graph.const(np.asarray([-1], np.int32), name=f"{prefix}/flat_shape")
        x = graph.add_op("Reshape", [cast, minus_one], {"T": _F32, "Tshape": DType.INT32}, name=f"{prefix}/flat",
                         dtype=_F32, shape=(None,))

    def scalar(number: float, label: str) -> Value:
        return graph.const(np.asarray(number, np.float32), name=f"{prefix}/{label}")

    def op(kind: str, inputs: list[Value], label: str, dtype: DType = _F32) -> Value:
        return graph.add_op(kind, inputs, {"T": _F32}, name=f"{prefix}/{label}", dtype=dtype, shape=x.shape)

    # normal float16 values: x rounded to 11 significant bits (Veltkamp's split with 2^13 + 1)
    c = op("AddV2", [op("Mul", [x, scalar(8192.0, "split_scale")], "scaled"), x], "split")
    normal = op("AddV2", [c, op("Sub", [x, c], "split_rest")], "normal")
    # subnormal float16 values: x rounded to a multiple of 2^-24
    offset = scalar(0.75, "subnormal_offset")
    subnormal = op("Sub", [op("AddV2", [x, offset], "subnormal_shifted"), offset], "subnormal")
    magnitude = op("Abs", [x], "abs")
    small = op("Less", [magnitude, scalar(HALF_SMALLEST_NORMAL, "smallest_normal")], "is_subnormal", DType.BOOL)
    rounded = op("SelectV2", [small, subnormal, normal], "rounded")
    huge = op("GreaterEqual", [magnitude, scalar(HALF_OVERFLOW, "overflow")], "overflows", DType.BOOL)
    infinite = op("Mul", [x, scalar(2.0 ** 127, "to_infinity")], "infinite")  # ±inf, keeping the sign
    rounded = op("SelectV2", [huge, infinite, rounded], "in_range")
    zero = op("Equal", [rounded, scalar(0.0, "zero")], "is_zero", DType.BOOL)
    signed_zero = op("Mul", [x, scalar(0.0, "signed_zero_scale")], "signed_zero")  # -0 for a negative x
    result = op("SelectV2", [zero, signed_zero, rounded], "rounded_to_half")
    if flat:
        dims = graph.add_op("Shape", [cast], {"T": _F32, "out_type": DType.INT32}, name=f"{prefix}/dims",
                            dtype=DType.INT32, shape=None if cast.shape is None else (len(cast.shape),))
        result = graph.add_op("Reshape", [result, dims], {"T": _F32, "Tshape": DType.INT32},
                              name=f"{prefix}/unflat", dtype=_F32, shape=cast.shape)
    for reader, i in readers:
        reader.inputs[i] = result
    for key in outputs:
        graph.outputs[key] = result
    return result


def computes_in_half(node: Node, dtype: DType | None, exact_ops: frozenset[str]) -> bool:
    """Whether TF computes ``node``'s result in float16 (rounding it), which TF.js computes in float32."""
    return dtype == DType.FLOAT16 and node.op not in exact_ops and node.op != "Cast"


def warn_half_arithmetic(graph: Graph, names: list[str]) -> None:
    """One warning per graph (the pass runs again after later rewrites), naming the float16 nodes."""
    if names and not getattr(graph, "_half_arithmetic_warned", False):
        try:
            graph._half_arithmetic_warned = True  # type: ignore[attr-defined]
        except AttributeError:  # a graph class with slots: warn again rather than never
            pass
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        log.warning("%d node(s) TF computes in float16 are computed in float32 by TF.js (more precise than TF, "
                    "so results differ by about float16's precision, 1e-3): %s", len(names), shown)
