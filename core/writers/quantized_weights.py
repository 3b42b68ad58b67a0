"""Weights the source stores quantized (ONNX int8/uint8 behind ``DequantizeLinear`` …) stay one byte each.

The frontend records each such weight's scale and zero point (``Graph.quantized_weights``); the passes
see and fold ordinary float32 weights. Here, after every pass (like ``--quantize_int8``, so no pass can
fold the dequantization back into a float32 constant), each float32 Const that is *exactly*
``float32((q - zp) * scale)`` for a recorded weight (per tensor, or per channel along whichever axis the
passes' layout put the channel) is split back: the Const holds ``q - zp`` (stored as uint8 with
``scale 1, min offset``, exact) and a ``Mul`` by the float32 scale follows it, which TF.js computes
to the very same float32 weight. Integer products (``MatMulInteger``, ``ConvInteger``, ``QLinear*``)
already read ``q - zp``: only the storage changes. A recorded weight a pass changed (BatchNorm folded
into it …) no longer splits exactly and stays float32, with a note.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..dtypes import DType
from ..ir import Graph, materialize
from ..passes.graph_edit import Uses
from ..weights.int8 import QuantizedWeight, RecoveredWeight, recover_quantized
from .int8_kernels import Int8Result


def keep_quantized_weights(graph: Graph) -> Int8Result:
    """Rewrite ``graph``'s recorded quantized weights to 1-byte integers (+ a ``Mul`` by their scale)."""
    result = Int8Result()
    hints: list[QuantizedWeight] = list(graph.quantized_weights)
    if not hints:
        return result
    by_size: dict[int, list[QuantizedWeight]] = defaultdict(list)
    for hint in hints:
        by_size[hint.size].append(hint)
    uses = Uses(graph)
    found: set[int] = set()
    for node in list(graph.nodes):
        if node.op != "Const" or node.attrs.get("dtype") not in (DType.FLOAT32, None):
            continue
        value = node.attrs["value"]
        candidates = by_size.get(int(np.prod(value.shape, dtype=np.int64)))
        if not candidates:
            continue
        array = materialize(value)
        ordered = [h for h in candidates if id(h) not in found] + [h for h in candidates if id(h) in found]
        recovered = next((r for r in (recover_quantized(array, h) for h in ordered) if r is not None), None)
        if recovered is None:
            continue
        found.add(id(recovered.hint))
        _split(graph, uses, node, recovered, result)
    _keep_library_integers(graph, by_size, found, result)
    kept = {h.source for h in hints if id(h) in found}  # a source may have alternative hints (one is enough)
    lost = list(dict.fromkeys(h.source for h in hints if h.source not in kept))
    if lost:
        result.notes.append(f"{len(lost)} quantized weight(s) of the source stay float32 (a pass changed them, "
                            f"e.g. folded a BatchNorm in): {', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}")
    return result


def _keep_library_integers(graph: Graph, by_size: dict[int, list[QuantizedWeight]], found: set[int],
                           result: Int8Result) -> None:
    """Function-library Consts (control flow v2 bodies, written as they are) holding a recorded weight's integers
    keep their integer storage; the dtype TF.js sees is float32 either way, only the bytes change. One whose
    recorded scale is not 1 would need a ``Mul`` inside the function: it stays float32 (exact)."""
    for name, value in graph.library_weights.items():
        if value.dtype != np.float32:
            continue
        candidates = by_size.get(int(np.prod(value.shape, dtype=np.int64)))
        if not candidates:
            continue
        array = materialize(value)
        ordered = sorted(candidates, key=lambda h: h.source != name)  # its own hint first (graph-model input)
        recovered = next((r for r in (recover_quantized(array, h) for h in ordered) if r is not None and r.integer),
                         None)
        if recovered is None:
            continue
        found.add(id(recovered.hint))
        result.errors[name] = (0.0, 0.0)
        result.offsets[name] = recovered.offset
        if recovered.wide:
            result.wide.append(name)


def _split(graph: Graph, uses: Uses, node, recovered: RecoveredWeight, result: Int8Result) -> None:
    shape = tuple(int(d) for d in node.attrs["value"].shape)
    node.attrs["value"] = recovered.values
    result.errors[node.name] = (0.0, 0.0)  # exact: the bytes decode to the source's own values
    result.offsets[node.name] = recovered.offset
    if recovered.wide:
        result.wide.append(node.name)
    if recovered.integer:
        return
    if recovered.block is not None:
        _apply_blocks(graph, uses, node, shape, recovered, result)
        return
    out = node.output(0)
    scale = recovered.scale if recovered.scale.size > 1 else recovered.scale.reshape(())
    scale_value = graph.const(np.ascontiguousarray(scale, dtype=np.float32), name=f"{node.name}/dequant_scale")
    product = graph.add_op("Mul", [out, scale_value], {"T": DType.FLOAT32}, name=f"{node.name}/dequantized",
                           dtype=DType.FLOAT32, shape=out.shape)
    uses.replace(graph, out, product)  # ``uses`` predates the Mul, so the Mul keeps reading ``out``
    result.scales.append(scale_value.producer.name)


def _apply_blocks(graph: Graph, uses: Uses, node, shape: tuple[int, ...], recovered: RecoveredWeight,
                  result: Int8Result) -> None:
    """Blocked scales, applied without a full-size float constant: the integers (padded to whole blocks)
    reshaped to ``[outer · blocks, block_size, inner]`` (minus the zero point ``[outer · blocks, 1, inner]``
    when the integers are ``q``), times the scale ``[outer · blocks, 1, inner]``,
    reshaped back (and sliced to the weight's size when the last block is short). Rank 3 whatever the
    weight's rank, so no backend's rank limit applies."""
    out = node.output(0)
    padded = tuple(int(d) for d in recovered.values.shape)
    out.shape = padded
    axis, block = recovered.block
    outer = int(np.prod(padded[:axis], dtype=np.int64)) * (padded[axis] // block)
    inner = int(np.prod(padded[axis + 1:], dtype=np.int64))
    name = node.name

    def ints(values, label: str):
        return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

    reshape = {"T": DType.FLOAT32, "Tshape": DType.INT32}
    blocks = graph.add_op("Reshape", [out, ints([outer, block, inner], "blocks_shape")], reshape,
                          name=f"{name}/blocks", dtype=DType.FLOAT32, shape=(outer, block, inner))
    if recovered.zero_point is not None:
        zero_point = graph.const(np.ascontiguousarray(recovered.zero_point, np.float32).reshape(outer, 1, inner),
                                 name=f"{name}/dequant_zero_point")
        blocks = graph.add_op("Sub", [blocks, zero_point], {"T": DType.FLOAT32}, name=f"{name}/centered_blocks",
                              dtype=DType.FLOAT32, shape=(outer, block, inner))
        result.scales.append(zero_point.producer.name)
    scale = np.ascontiguousarray(recovered.scale, dtype=np.float32).reshape(outer, 1, inner)
    scale_value = graph.const(scale, name=f"{name}/dequant_scale")
    product = graph.add_op("Mul", [blocks, scale_value], {"T": DType.FLOAT32}, name=f"{name}/dequantized_blocks",
                           dtype=DType.FLOAT32, shape=(outer, block, inner))
    weight = graph.add_op("Reshape", [product, ints(list(padded), "padded_shape")], reshape,
                          name=f"{name}/dequantized" if padded == shape else f"{name}/dequantized_padded",
                          dtype=DType.FLOAT32, shape=padded)
    if padded != shape:
        weight = graph.add_op("Slice", [weight, ints([0] * len(shape), "begin"), ints(list(shape), "size")],
                              {"T": DType.FLOAT32, "Index": DType.INT32}, name=f"{name}/dequantized",
                              dtype=DType.FLOAT32, shape=shape)
    uses.replace(graph, out, weight)  # ``uses`` predates the new nodes, so the first Reshape keeps reading ``out``
    result.scales.append(scale_value.producer.name)
