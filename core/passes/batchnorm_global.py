"""``BatchNormWithGlobalNormalization`` (TF1's batch norm, absent from TF.js) → ``FusedBatchNormV3``.

``(t − m) / sqrt(v + ε) · γ + β`` (``γ`` only with ``scale_after_normalization``) is exactly an
inference-mode FusedBatchNormV3 with scale ``γ`` (or ones), offset ``β``, mean ``m``, variance ``v``.
``fold_batchnorm`` and ``batchnorm_to_mul_add`` then fold or lower it like any other batch norm.
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph
from . import Pass, PassResult
from .graph_edit import rewrite


class BatchNormGlobalToFused(Pass):
    name = "batchnorm_global"
    level = 0
    after = ("conv3d_transpose", "cumulative_axis", "dilated_transposed_conv", "grouped_conv", "lookup_shape",
             "pool_3d")

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in graph.nodes:
            if node.op != "BatchNormWithGlobalNormalization" or len(node.inputs) != 5:
                continue
            t, mean, variance, beta, gamma = node.inputs
            dtype = node.attrs.get("T", t.dtype)
            if not node.attrs.get("scale_after_normalization", False):
                gamma = graph.add_op("OnesLike", [beta], {"T": beta.dtype}, name=f"{node.name}/unit_scale",
                                     dtype=beta.dtype, shape=beta.shape)
            rewrite(node, "FusedBatchNormV3", [t, gamma, beta, mean, variance],
                    {"T": dtype, "U": DType.FLOAT32, "epsilon": float(node.attrs.get("variance_epsilon", 0.001)),
                     "data_format": "NHWC", "is_training": False, "exponential_avg_factor": 1.0})
            count += 1
        return PassResult(count)
