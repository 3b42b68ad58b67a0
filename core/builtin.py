"""The core's own contributions, registered through the same hooks as any plugin (declared lazily: tfjsconv.lazy)."""
from __future__ import annotations

import sys
from typing import Callable

from .hookspecs import hookimpl
from .lazy import LazyFrontend, LazyPass, LazyWriter, option_is_set


@hookimpl
def register_writers(register: Callable) -> None:
    register(LazyWriter("tfjs_graph_model", "tfjsconv.writers.graph_model:GraphModelWriter",
                        description="TF.js graph model (tf.loadGraphModel)"))
    register(LazyWriter("tfjs_layers_model", "tfjsconv.writers.layers_model:LayersModelWriter",
                        description="TF.js layers model (tf.loadLayersModel)"))


def _is_ir_graph(source: object) -> bool:
    """A Graph built in Python (checked without importing the IR: a Graph implies it is loaded)."""
    ir = sys.modules.get("tfjsconv.ir")
    return ir is not None and isinstance(source, ir.Graph)


@hookimpl
def register_frontends(register: Callable) -> None:
    register(LazyFrontend("ir", "tfjsconv.frontends.ir_frontend:IRFrontend", detect=_is_ir_graph,
                          description="a tfjsconv.ir.Graph built in Python"))


# The built-in passes (docs/passes.md), declared cheaply: (module in tfjsconv.passes, class, name, level, order).
# A pass's module is imported only when a conversion runs it; LazyPass checks the declaration on load.
#: optimizations (levels 1-2) and the dead-code sweep
OPTIMIZATION_PASSES = (
    ("strip_debug_ops", "StripDebugOps", "strip_debug_ops", 0, 0),
    ("identity", "RemoveIdentities", "remove_identity", 1, 10),
    ("constant_folding", "FoldConstants", "constant_folding", 1, 20),
    ("shape_folding", "FoldShapes", "shape_folding", 1, 25),
    ("cse", "EliminateCommonSubexpressions", "cse", 1, 30),
    ("transpose_chains", "SimplifyTransposes", "transpose_chains", 1, 40),
    ("reshape_chains", "SimplifyReshapes", "reshape_chains", 1, 45),
    ("prelu", "FusePrelu", "prelu", 1, 50),
    ("bias_add", "AddToBiasAdd", "bias_add", 1, 55),
    ("fold_batchnorm", "FoldBatchNorm", "fold_batchnorm", 1, 60),
    ("batchnorm_to_mul_add", "BatchNormToMulAdd", "batchnorm_to_mul_add", 1, 65),
    ("pad_into_conv", "FoldPadIntoConv", "pad_into_conv", 2, 70),
    ("fuse_ops", "FuseOps", "fuse_ops", 2, 80),
    ("dead_code", "RemoveDeadNodes", "dead_code", 0, 1000),
)
#: rewrites TF graphs need so that TF.js computes what TF computes (they run at every level)
REQUIRED_PASSES = (
    ("inline_functions", "InlineFunctions", "inline_functions", 0, 2),
    ("einsum", "LowerEinsum", "lower_einsum", 0, 3),
    ("truncating_division", "TruncatingDivision", "truncating_division", 0, 4),
    ("strided_slice", "NormalizeStridedSlice", "strided_slice", 0, 4),
    ("batch_matmul_broadcast", "BroadcastBatchMatMul", "batch_matmul_broadcast", 0, 4),
    ("select_rows", "SelectRowsToSelectV2", "select_rows", 0, 4),
    ("one_hot", "NormalizeOneHot", "one_hot", 0, 4),
    ("float_floor_division", "FloatFloorDivision", "float_floor_division", 0, 4),
    ("tfjs_pass_through", "TfjsPassThrough", "tfjs_pass_through", 0, 4),
    ("empty_reductions", "EmptyReductions", "empty_reductions", 0, 4),
    ("nchw_to_nhwc", "ChannelsLast", "nchw_to_nhwc", 0, 5),
    ("grouped_conv", "LowerGroupedConv", "grouped_conv", 0, 6),
    ("dilated_transposed_conv", "UndilateTransposedConv", "dilated_transposed_conv", 0, 6),
    ("lookup_shape", "RestoreLookupShape", "lookup_shape", 0, 6),
    ("cumulative_axis", "NonNegativeCumulativeAxis", "cumulative_axis", 0, 6),
    ("batchnorm_global", "BatchNormGlobalToFused", "batchnorm_global", 0, 7),
    ("pool_3d", "SplitPool3D", "pool_3d", 0, 6),
    ("conv3d_transpose", "Conv3DTransposeAsConv3D", "conv3d_transpose", 0, 6),
    ("pad_rank", "LowerPadRank", "pad_rank", 0, 7),
    ("binary_rank", "LowerBinaryRank", "binary_rank", 0, 8),
    ("transpose_rank", "LowerTransposeRank", "transpose_rank", 0, 8),
    # opt-in (--exact_special_values): TF's NaN/Inf results on deviating backends
    ("special_values", "ExactSpecialValues", "exact_special_values", 0, 8),
)
#: passes that a conversion option switches off: not even imported then
PASS_GATES = {"strip_debug_ops": option_is_set("strip_debug_ops", default=True),
              "exact_special_values": option_is_set("exact_special_values")}


@hookimpl
def register_passes(register: Callable) -> None:
    """The built-in passes; a plugin registers its own through the same hook (a Pass or a LazyPass)."""
    for module, cls, name, level, order in OPTIMIZATION_PASSES + REQUIRED_PASSES:
        register(LazyPass(name, f"tfjsconv.passes.{module}:{cls}", level=level, order=order,
                          enabled_when=PASS_GATES.get(name)))
