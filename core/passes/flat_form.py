"""An elementwise rewrite run over its input reshaped to one axis and back.

webgl's ``where`` throws from rank 5 and ``select_rank`` lowers only selects whose rank is known, so a pass that
turns an elementwise op of unknown rank into selects (``erf_small``, ``sign_comparisons``) builds them over the
flattened input and reshapes the result to the input's run-time shape.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import rewrite


def flatten(graph: Graph, x: Value, dtype: DType, prefix: str) -> Value:
    """``Reshape(x, [-1])``, named ``<prefix>/flatten``."""
    flat = graph.const(np.asarray([-1], np.int32), name=f"{prefix}/flat", dtype=DType.INT32)
    return graph.add_op("Reshape", [x, flat], {"T": dtype, "Tshape": DType.INT32}, name=f"{prefix}/flatten",
                        dtype=dtype)


def rewrite_as_select(graph: Graph, node: Node, chosen: list[Value], dtype: DType, whole: Value | None,
                      prefix: str) -> None:
    """Turn ``node`` into ``SelectV2(*chosen)``; with ``whole`` (the unflattened input) the select is built over the
    flattened values and ``node`` reshapes it back to ``Shape(whole)``."""
    if whole is None:
        rewrite(node, "SelectV2", chosen, {"T": dtype})
        return
    select = graph.add_op("SelectV2", chosen, {"T": dtype}, name=f"{prefix}/select", dtype=dtype)
    dims = graph.add_op("Shape", [whole], {"T": dtype, "out_type": DType.INT32}, name=f"{prefix}/dims",
                        dtype=DType.INT32)
    rewrite(node, "Reshape", [select, dims], {"T": dtype, "Tshape": DType.INT32})
