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


# The built-in passes (docs/passes.md), declared cheaply: (module in tfjsconv.passes, class, name, level,
# after, before). Registration order is the table order (FIRST, REQUIRED, OPTIMIZATION); after/before
# name the passes each must follow or precede (tfjsconv.passes.ordering). A pass's module is imported
# only when a conversion runs it; LazyPass checks the declaration against the class on load.
#: the TF-semantics normalizations that run once functions are inlined and einsum is lowered
_NORMALIZATIONS = ("batch_matmul_broadcast", "empty_reductions", "float_floor_division", "one_hot", "select_rows",
                   "shape_n", "strided_slice", "switch_n", "tensor_scatter_update", "tfjs_pass_through",
                   "truncating_division")
#: lowerings of NHWC ops TF.js lacks (after channels-last)
_NHWC_LOWERINGS = ("conv3d_transpose", "cumulative_axis", "dilated_transposed_conv", "grouped_conv", "lookup_shape",
                   "pool_3d")
#: lowerings whose input the ones above may produce
_SHAPE_LOWERINGS = ("batchnorm_global", "pad_rank")
#: runs before anything else reads the graph
FIRST_PASSES = (
    ("strip_debug_ops", "StripDebugOps", "strip_debug_ops", 0, (), ("lower_control_flow",)),
)
#: rewrites TF graphs need so that TF.js computes what TF computes (they run at every level)
REQUIRED_PASSES = (
    ("lower_control_flow", "LowerControlFlow", "lower_control_flow", 0, (), ()),
    ("inline_functions", "InlineFunctions", "inline_functions", 0, ("lower_control_flow",), ()),
    ("einsum", "LowerEinsum", "lower_einsum", 0, ("inline_functions",), ()),
    # float64 comparisons with a constant float32 cannot hold, on float32-exact bounds (before folding and retyping)
    ("float64_comparisons", "Float64Comparisons", "float64_comparisons", 0, ("lower_einsum",), ("narrow_ints",)),
    # dtypes TF.js cannot name, and 8/16-bit wrap-around (before Mean becomes a Sum, which TF would wrap)
    ("narrow_ints", "NarrowIntegers", "narrow_ints", 0, ("lower_einsum",), _NORMALIZATIONS),
    ("batch_matmul_broadcast", "BroadcastBatchMatMul", "batch_matmul_broadcast", 0, ("lower_einsum",), ()),
    ("empty_reductions", "EmptyReductions", "empty_reductions", 0, ("lower_einsum",), ()),
    ("float_floor_division", "FloatFloorDivision", "float_floor_division", 0, ("lower_einsum",), ()),
    # int32 Pow as TF's repeated squaring wrapped modulo 2^32 (TF.js's goes through a float power)
    ("int32_power", "Int32Power", "int32_power", 0, ("lower_einsum",), ()),
    ("one_hot", "NormalizeOneHot", "one_hot", 0, ("lower_einsum",), ()),
    # run-time paddings through a GatherV2 that raises on a negative one (TF.js's Pad would crop silently)
    ("pad_guard", "PadGuard", "pad_guard", 0, ("lower_einsum",), ()),
    # a rounded bilinear resize as TF's float32 kernel (TF.js's sums differ by a rounding error: ties round apart)
    ("rounded_bilinear", "RoundedBilinearAsTF", "rounded_bilinear", 0, ("lower_einsum",), ()),
    # run-time scatter indices through a GatherV2 that raises on one outside the tensor (wasm would write there)
    ("scatter_index_guard", "ScatterIndexGuard", "scatter_index_guard", 0, ("lower_einsum",), ()),
    ("select_rows", "SelectRowsToSelectV2", "select_rows", 0, ("lower_einsum",), ()),
    ("shape_n", "ShapeNToShapes", "shape_n", 0, ("lower_einsum",), ()),
    ("strided_slice", "NormalizeStridedSlice", "strided_slice", 0, ("lower_einsum",), ()),
    ("switch_n", "SwitchNToSwitches", "switch_n", 0, ("lower_einsum",), ()),
    ("tensor_scatter_update", "TensorScatterUpdateAsSelect", "tensor_scatter_update", 0, ("lower_einsum",), ()),
    ("tfjs_pass_through", "TfjsPassThrough", "tfjs_pass_through", 0, ("lower_einsum",), ()),
    ("truncating_division", "TruncatingDivision", "truncating_division", 0, ("lower_einsum",), ()),
    # session 23 (h9): TF.js ops computed wrongly on some backend, spelled out as TF computes them
    # TF.js's band part keeps elements outside the band: a SelectV2 over a band mask (in its slot before the rank
    # lowerings, which bring the select to the ranks each backend runs)
    ("band_part", "BandPartAsSelect", "band_part", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # wasm reverses bools wrongly: reversed as int32, read back as != 0
    ("bool_reverse", "BoolReverseAsInt32", "bool_reverse", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 28 (h1): TF.js has no complex64 Pad/Slice/Tile/... kernel and its Complex does not broadcast: part by part
    ("complex_parts", "ComplexParts", "complex_parts", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # webgl's DivNoNan is a select that stops at rank 4: y == 0 ? 0 : x / y spelled out (select_rank then lowers it)
    ("div_no_nan", "DivNoNanAsSelect", "div_no_nan", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 29 (h6): TF.js cpu/webgl's Erf is ~1e-9 at 0 (Abramowitz-Stegun): its Taylor series below 1/4
    ("erf_small", "SmallErfAsTaylor", "erf_small", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 27 (h11): TF.js drops RFFT/IRFFT's fft_length: the input cropped as TF does (refused where it cannot)
    ("fft_length", "FftLength", "fft_length", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 28 (h9): wasm and webgl compute Log1p as log(1 + x) (0 for |x| < 6e-8): the compensated form
    ("log1p", "Log1pAsLog", "log1p", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 30 (h3): cpu/webgl's float32 Mean rounds each element's share x/n before summing: TF's Sum / n
    # (its slot is after empty_reductions', whose NaN select guards a run-time count of 0: webgl's 0/0 is 1)
    ("mean_as_sum", "MeanAsSumOverCount", "mean_as_sum", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 29: wasm's Maximum/Minimum drop a NaN: a model's own NaN constant spelled out as TF's NaN (x + NaN)
    ("nan_constant_pairs", "NanConstantPairs", "nan_constant_pairs", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # wasm's OneHot writes float/bool on/off values as int32 bits: an int32 one-hot selecting on/off (its slot is
    # after one_hot's, whose axis -1 it needs; an OneHot it meets first is left, and refused)
    ("one_hot_values", "OneHotValuesAsSelect", "one_hot_values", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 30 (h5): wasm's float Sign is 0 for |x| <= 1.2e-7: two selects of comparisons, TF's values
    ("sign_comparisons", "SignByComparisons", "sign_comparisons", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 28 (h9): wasm's Sin of a negative x adds 2π in float32 (sin(-1e-10) = +1.7e-7): the sine of |x|
    ("sin_symmetry", "SinOfMagnitude", "sin_symmetry", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    # session 29 (h2b): TF.js's SplitV counts a -1 first in its sum (every such split fails): sizes without a -1
    ("split_sizes", "ResolvedSplitSizes", "split_sizes", 0, ("lower_einsum",), ("nchw_to_nhwc",)),
    ("nchw_to_nhwc", "ChannelsLast", "nchw_to_nhwc", 0, _NORMALIZATIONS, ()),
    ("conv3d_transpose", "Conv3DTransposeAsConv3D", "conv3d_transpose", 0, ("nchw_to_nhwc",), ()),
    ("cumulative_axis", "NonNegativeCumulativeAxis", "cumulative_axis", 0, ("nchw_to_nhwc",), ()),
    ("dilated_transposed_conv", "UndilateTransposedConv", "dilated_transposed_conv", 0, ("nchw_to_nhwc",), ()),
    ("grouped_conv", "LowerGroupedConv", "grouped_conv", 0, ("nchw_to_nhwc",), ()),
    ("lookup_shape", "RestoreLookupShape", "lookup_shape", 0, ("nchw_to_nhwc",), ()),
    ("pool_3d", "SplitPool3D", "pool_3d", 0, ("nchw_to_nhwc",), ()),
    ("batchnorm_global", "BatchNormGlobalToFused", "batchnorm_global", 0, _NHWC_LOWERINGS, ()),
    ("pad_rank", "LowerPadRank", "pad_rank", 0, _NHWC_LOWERINGS, ()),
    ("binary_rank", "LowerBinaryRank", "binary_rank", 0, _SHAPE_LOWERINGS, ()),
    # opt-in (--exact_special_values): TF's NaN/Inf results on deviating backends
    ("special_values", "ExactSpecialValues", "exact_special_values", 0, _SHAPE_LOWERINGS, ()),
    # webgl's select stops at rank 4, wasm's is wrong on bools: after the rewrites that make selects (special values)
    ("select_rank", "LowerSelectRank", "select_rank", 0, (*_SHAPE_LOWERINGS, "binary_rank", "exact_special_values"),
     ()),
    # session 29 (h6): TF.js's where keeps an operand's 1 that meets an output's 0 (shape [1] for [0]): broadcast first
    # (after select_rank: its Fill/LogicalOr at rank >= 5 webgl refuses for bools)
    ("select_shape", "BroadcastEmptySelect", "select_shape", 0,
     (*_SHAPE_LOWERINGS, "binary_rank", "exact_special_values", "select_rank"), ("cast_to_bool",)),
    ("strided_gather", "StridedSliceAsGather", "strided_gather", 0, _SHAPE_LOWERINGS, ()),
    ("transpose_rank", "LowerTransposeRank", "transpose_rank", 0, _SHAPE_LOWERINGS, ()),
    # wasm's Cast to bool copies bytes (2 stays 2): x != 0, after the rewrites that make casts (select_rank's)
    ("cast_to_bool", "CastToBoolAsNotEqual", "cast_to_bool", 0,
     (*_NHWC_LOWERINGS, *_SHAPE_LOWERINGS, "binary_rank", "exact_special_values", "select_rank", "strided_gather",
      "transpose_rank"), ("same_padding",)),
    ("same_padding", "ExplicitSamePadding", "same_padding", 0,
     (*_NHWC_LOWERINGS, *_SHAPE_LOWERINGS, "binary_rank", "exact_special_values", "strided_gather", "transpose_rank"),
     ()),
    ("lookup_keys", "NonEmptyLookupKeys", "nonempty_lookup_keys", 0, (), ()),
)
#: optimizations (levels 1-2) and the dead-code sweep
OPTIMIZATION_PASSES = (
    ("identity", "RemoveIdentities", "remove_identity", 1, (), ()),
    ("constant_folding", "FoldConstants", "constant_folding", 1, (), ()),
    ("shape_folding", "FoldShapes", "shape_folding", 1, ("constant_folding",), ()),
    ("cse", "EliminateCommonSubexpressions", "cse", 1, (), ()),
    ("transpose_chains", "SimplifyTransposes", "transpose_chains", 1, (), ()),
    ("reshape_chains", "SimplifyReshapes", "reshape_chains", 1, (), ()),
    ("concat_chains", "FlattenConcats", "concat_chains", 1, (), ()),
    ("prelu", "FusePrelu", "prelu", 1, (), ()),
    ("bias_add", "AddToBiasAdd", "bias_add", 1, (), ()),
    ("fold_batchnorm", "FoldBatchNorm", "fold_batchnorm", 1, (), ()),
    ("batchnorm_to_mul_add", "BatchNormToMulAdd", "batchnorm_to_mul_add", 1, ("fold_batchnorm",), ()),
    ("pad_into_conv", "FoldPadIntoConv", "pad_into_conv", 2, (), ()),
    ("fuse_ops", "FuseOps", "fuse_ops", 2, ("pad_into_conv",), ()),
    ("dead_code", "RemoveDeadNodes", "dead_code", 0, (), ()),
)
#: passes that a conversion option switches off: not even imported then
PASS_GATES = {"strip_debug_ops": option_is_set("strip_debug_ops", default=True),
              "exact_special_values": option_is_set("exact_special_values")}


@hookimpl
def register_passes(register: Callable) -> None:
    """The built-in passes; a plugin registers its own through the same hook (a Pass or a LazyPass)."""
    for module, cls, name, level, after, before in FIRST_PASSES + REQUIRED_PASSES + OPTIMIZATION_PASSES:
        register(LazyPass(name, f"tfjsconv.passes.{module}:{cls}", level=level, after=after, before=before,
                          enabled_when=PASS_GATES.get(name)))
