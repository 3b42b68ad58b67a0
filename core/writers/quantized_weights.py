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
    kept = {h.source for h in hints if id(h) in found}  # a source may have alternative hints (one is enough)
    lost = list(dict.fromkeys(h.source for h in hints if h.source not in kept))
    if lost:
        result.notes.append(f"{len(lost)} quantized weight(s) of the source stay float32 (a pass changed them, "
                            f"e.g. folded a BatchNorm in): {', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}")
    return result


def _split(graph: Graph, uses: Uses, node, recovered: RecoveredWeight, result: Int8Result) -> None:
    node.attrs["value"] = recovered.values
    result.errors[node.name] = (0.0, 0.0)  # exact: the bytes decode to the source's own values
    result.offsets[node.name] = recovered.offset
    if recovered.integer:
        return
    out = node.output(0)
    scale = recovered.scale if recovered.scale.size > 1 else recovered.scale.reshape(())
    scale_value = graph.const(np.ascontiguousarray(scale, dtype=np.float32), name=f"{node.name}/dequant_scale")
    product = graph.add_op("Mul", [out, scale_value], {"T": DType.FLOAT32}, name=f"{node.name}/dequantized",
                           dtype=DType.FLOAT32, shape=out.shape)
    uses.replace(graph, out, product)  # ``uses`` predates the Mul, so the Mul keeps reading ``out``
    result.scales.append(scale_value.producer.name)
