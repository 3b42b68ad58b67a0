"""TF1 ``Select`` with a rank-1 condition on higher-rank branches → ``SelectV2`` on reshaped rows.

TF's ``Select`` (v1) reads a vector condition as choosing whole rows (``cond[i]`` picks ``t[i, …]``
or ``e[i, …]``); TF.js's ``select()`` wants the condition to broadcast like an elementwise op and
throws (TF op conformance run). ``SelectV2`` broadcasts, so the condition reshaped to
``[n, 1, 1, …]`` says the same thing.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from ..shape_rank import infer_ranks
from . import Pass, PassResult
from .graph_edit import rewrite
from .shapes import infer_shapes


class SelectRowsToSelectV2(Pass):
    """``Select(cond[n], t[n, …], e[n, …])`` → ``SelectV2(Reshape(cond, [n, 1, …]), t, e)``."""

    name = "select_rows"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes = ranks = None
        count = 0
        for node in list(graph.nodes):
            if node.op != "Select" or len(node.inputs) != 3:
                continue
            shapes = shapes if shapes is not None else infer_shapes(graph)
            cond, then, other = node.inputs
            cond_shape = shapes.get(cond)
            rank = max((len(s) for s in (shapes.get(then), shapes.get(other)) if s is not None), default=None)
            if cond_shape is None or rank is None:  # inside a v1 loop (Switch/Merge) only the ranks are known
                ranks = ranks if ranks is not None else infer_ranks(graph)
                cond_rank = len(cond_shape) if cond_shape is not None else ranks.get(cond)
                rank = rank if rank is not None else max((r for r in (ranks.get(then), ranks.get(other))
                                                          if r is not None), default=None)
            else:
                cond_rank = len(cond_shape)
            if cond_rank != 1 or rank is None or rank < 2:
                continue
            target = graph.const(np.asarray([-1] + [1] * (rank - 1), np.int32), name=f"{node.name}/row_shape")
            rows = graph.add_op("Reshape", [cond, target], {"T": DType.BOOL, "Tshape": DType.INT32},
                                name=f"{node.name}/rows", dtype=DType.BOOL)
            rewrite(node, "SelectV2", [rows, then, other], {"T": node.attrs.get("T", then.dtype)})
            count += 1
        return PassResult(count)
