"""An inference batch norm that could not be folded into a conv becomes ``Mul`` + ``AddV2``.

``y = x·m + s`` with ``m = scale / sqrt(var + eps)``, ``s = offset − mean·m`` (per channel). Two
elementwise ops are cheaper than ``FusedBatchNormV3`` in TF.js and, unlike Grappler's
``_FusedBatchNormEx``, run everywhere; ``fold_batchnorm`` may still fold the ``Mul`` into a conv
that appears before it later (e.g. after identity removal).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from . import Pass, PassResult
from .fold_batchnorm import BATCH_NORMS, batchnorm_affine, only_main_output_used
from .graph_edit import Uses, attr_text, make_const, rewrite


class BatchNormToMulAdd(Pass):
    name = "batchnorm_to_mul_add"
    level = 1
    after = ("fold_batchnorm",)

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        lowered = 0
        for node in graph.topological_order():
            if node.op not in BATCH_NORMS or node.control_inputs or node in uses.control_anchors:
                continue
            affine = batchnorm_affine(node)
            x = node.inputs[0]
            shape = x.shape
            if affine is None or not only_main_output_used(node, uses):
                continue
            layout = attr_text(node, "data_format", "NHWC")
            if layout == "NCHW":
                if shape is None:
                    continue
                broadcast = (-1,) + (1,) * (len(shape) - 2)
            elif layout == "NHWC":
                broadcast = (-1,)
            else:
                continue
            dtype = x.dtype.numpy if x.dtype is not None else np.float32
            mult, shift = (a.reshape(broadcast).astype(dtype) for a in affine)
            scaled = graph.add_op("Mul", [x, make_const(graph, mult, f"{node.name}/multiplier")],
                                  {"T": x.dtype} if x.dtype else {}, name=f"{node.name}/scaled",
                                  dtype=x.dtype, shape=x.shape)
            rewrite(node, "AddV2", [scaled, make_const(graph, shift, f"{node.name}/shift")],
                    {"T": x.dtype} if x.dtype else {})
            del node.outputs[1:]
            lowered += 1
        return PassResult(lowered)
