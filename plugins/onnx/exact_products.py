"""onnxruntime's references for 8-bit integer products, made exact on every x86 CPU.

On x86 CPUs without VNNI (AVX2 only: many AMD ones), onnxruntime multiplies a uint8 operand by an int8 one with
``vpmaddubsw``, which adds each pair of adjacent products in int16 and saturates: ``MatMulInteger`` of 254s by
125s gives 28.9 M where ONNX defines 38.1 M, and the ``QLinearConv`` it fuses out of a static QDQ model is off by
a percent. Its uint8·uint8 and int8·int8 kernels are exact. So the reference hands onnxruntime an equivalent
model: every int8 operand of an integer product whose other operand is uint8 becomes uint8, ``value + 128``, and
its zero point ``zero point + 128`` (an absent one is 0, so 128), which leaves ``value - zero point``, and the
product, unchanged. Weights (initializers) are shifted in place; an int8 tensor computed by the graph goes
through ``Cast`` to int32, ``Add`` 128 and ``Cast`` to uint8. ``DequantizeLinear`` of an int8 weight is
shifted the same way, since onnxruntime fuses it with the float op after it into those kernels.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: (domain, op) -> (operand, its zero point, its scale or None) input positions; the two operands are multiplied.
INTEGER_PRODUCTS: dict[tuple[str, str], tuple[tuple[int, int, int | None], ...]] = {
    ("", "MatMulInteger"): ((0, 2, None), (1, 3, None)),
    ("", "ConvInteger"): ((0, 2, None), (1, 3, None)),
    ("", "QLinearConv"): ((0, 2, 1), (3, 5, 4)),
    ("", "QLinearMatMul"): ((0, 2, 1), (3, 5, 4)),
    ("com.microsoft", "MatMulIntegerToFloat"): ((0, 4, 2), (1, 5, 3)),
}
#: Ops that quantize their float activations to uint8 inside and multiply them by an int8 weight, and the
#: dequantizer onnxruntime fuses with the float op after it: (domain, op) -> (weight, zero point, scale).
INT8_WEIGHTS: dict[tuple[str, str], tuple[tuple[int, int, int | None], ...]] = {
    ("com.microsoft", "DynamicQuantizeMatMul"): ((1, 3, 2),),
    ("com.microsoft", "DynamicQuantizeLSTM"): ((1, 9, 8), (2, 11, 10)),
    ("", "DequantizeLinear"): ((0, 2, 1),),
}
_INT8, _UINT8, _INT32 = 3, 2, 6  # TensorProto element types


def exact_integer_products(model: Any, base_dir: str = "") -> bool:
    """Rewrite ``model`` (a ModelProto, main graph) in place as above; whether anything changed. ``base_dir``:
    the folder of its external data files (checked by the caller to lie inside it)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    types = _elem_types(model)
    shifted: dict[str, str] = {}  # int8 tensor -> its uint8 twin
    nodes: list[Any] = []

    def constant(name: str, array: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(array, name))
        inits[name] = graph.initializer[-1]
        return name

    def as_uint8(name: str) -> str:
        if name not in shifted:
            twin = f"{name}__as_uint8"
            if name in inits:
                weight = numpy_helper.to_array(inits[name], base_dir=base_dir)
                constant(twin, (weight.astype(np.int16) + 128).astype(np.uint8))
            else:  # computed by the graph, before this node
                nodes.extend([helper.make_node("Cast", [name], [f"{twin}_int32"], to=_INT32),
                              helper.make_node("Add", [f"{twin}_int32", constant(f"{twin}_128", np.array(128, np.int32))],
                                               [f"{twin}_plus128"]),
                              helper.make_node("Cast", [f"{twin}_plus128"], [twin], to=_UINT8)])
            shifted[name] = twin
        return shifted[name]

    def zero_point(node: Any, position: int, scale: int | None) -> None:
        while len(node.input) <= position:
            node.input.append("")
        if not node.input[position]:  # absent: 0, shaped as the scale where there is one
            like = inits.get(node.input[scale]) if scale is not None and scale < len(node.input) else None
            shape = tuple(like.dims) if like is not None else ()
            node.input[position] = constant(f"{node.output[0]}__zero_point{position}", np.zeros(shape, np.int8))
            types[node.input[position]] = _INT8
        node.input[position] = as_uint8(node.input[position])

    changed = False
    for node in list(graph.node):
        key = (node.domain if node.domain != "ai.onnx" else "", node.op_type)
        targets: list[tuple[int, int, int | None]] = []
        if key in INTEGER_PRODUCTS:
            pairs = INTEGER_PRODUCTS[key]
            kinds = [types.get(node.input[p[0]]) if p[0] < len(node.input) else None for p in pairs]
            if set(kinds) == {_INT8, _UINT8}:  # uint8·uint8 and int8·int8 are exact
                targets = [pair for pair, kind in zip(pairs, kinds) if kind == _INT8]
        elif key in INT8_WEIGHTS:
            targets = [t for t in INT8_WEIGHTS[key] if t[0] < len(node.input) and node.input[t[0]] in inits
                       and types.get(node.input[t[0]]) == _INT8]
        for operand, zp, scale in targets:
            node.input[operand] = as_uint8(node.input[operand])
            zero_point(node, zp, scale)
            changed = True
        nodes.append(node)
    if changed:
        del graph.node[:]
        graph.node.extend(nodes)
    return changed


def _elem_types(model: Any) -> dict[str, int]:
    """Element types of the main graph's tensors: inputs, initializers, value_info, and onnx's inference."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # contrib ops onnx does not know: what the file declares is enough for weights
        inferred = model
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.value_info, *graph.output)
             if v.type.HasField("tensor_type")}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    for node in model.graph.node:  # quantizers say their output type by their zero point
        if node.op_type in ("QuantizeLinear", "DynamicQuantizeLinear") and node.output:
            zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
            types.setdefault(node.output[0], types.get(zp, _UINT8) if zp else _UINT8)
    return types
