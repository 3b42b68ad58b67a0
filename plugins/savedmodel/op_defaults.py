"""Default attr values of common TF ops, restored where a SavedModel stripped them.

``tf.saved_model.save`` writes MetaGraphs with ``stripped_default_attrs``: an attr equal to its
op's default is left out (``MatMul`` without ``transpose_a``, ``MaxPool`` without ``T``). TF's
``import_graph_def`` puts them back from its op registry; without TF they come from this table,
written from TensorFlow's documented op signatures (facts, not code). The TF path and this one then
give the IR (and ``model.json``) the same attrs, and the dtype rules of :mod:`.op_outputs` see the
type attrs they need. Attrs of ops not listed stay absent, as TF.js's own defaults then apply.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from tfjsconv.dtypes import DType

F32, I32, I64 = DType.FLOAT32, DType.INT32, DType.INT64
_CONV = {"use_cudnn_on_gpu": True, "explicit_paddings": [], "data_format": "NHWC", "dilations": [1, 1, 1, 1]}
_POOL = {"T": F32, "explicit_paddings": [], "data_format": "NHWC"}
_REDUCE = {"keep_dims": False, "Tidx": I32}
_BATCH_NORM = {"epsilon": 0.0001, "exponential_avg_factor": 1.0, "data_format": "NHWC", "is_training": True}

DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv2D": _CONV,
    "DepthwiseConv2dNative": {"explicit_paddings": [], "data_format": "NHWC", "dilations": [1, 1, 1, 1]},
    "Conv2DBackpropInput": _CONV,
    "Conv3D": {"data_format": "NDHWC", "dilations": [1, 1, 1, 1, 1]},
    "MaxPool": _POOL,
    "AvgPool": {"data_format": "NHWC"},
    "MaxPool3D": {"data_format": "NDHWC"},
    "AvgPool3D": {"data_format": "NDHWC"},
    "BiasAdd": {"data_format": "NHWC"},
    "MatMul": {"transpose_a": False, "transpose_b": False, "grad_a": False, "grad_b": False},
    "BatchMatMul": {"adj_x": False, "adj_y": False},
    "BatchMatMulV2": {"adj_x": False, "adj_y": False},
    "BatchMatMulV3": {"adj_x": False, "adj_y": False, "grad_x": False, "grad_y": False},
    "FusedBatchNorm": _BATCH_NORM,
    "FusedBatchNormV2": _BATCH_NORM,
    "FusedBatchNormV3": _BATCH_NORM,
    **dict.fromkeys(("Sum", "Mean", "Max", "Min", "Prod", "Any", "All", "EuclideanNorm"), _REDUCE),
    "ConcatV2": {"Tidx": I32},
    "Pack": {"axis": 0},
    "Unpack": {"axis": 0},
    "Reshape": {"Tshape": I32},
    "Squeeze": {"squeeze_dims": []},
    "ExpandDims": {"Tdim": I32},
    "Transpose": {"Tperm": I32},
    "Tile": {"Tmultiples": I32},
    "Pad": {"Tpaddings": I32},
    "PadV2": {"Tpaddings": I32},
    "MirrorPad": {"Tpaddings": I32},
    "LeakyRelu": {"alpha": 0.2, "T": F32},
    "Shape": {"out_type": I32},
    "ShapeN": {"out_type": I32},
    "Size": {"out_type": I32},
    "GatherV2": {"batch_dims": 0},
    "StridedSlice": {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                     "shrink_axis_mask": 0},
    "Cast": {"Truncate": False},
    "ArgMax": {"Tidx": I32, "output_type": I64},
    "ArgMin": {"Tidx": I32, "output_type": I64},
    "Cumsum": {"exclusive": False, "reverse": False, "Tidx": I32},
    "Cumprod": {"exclusive": False, "reverse": False, "Tidx": I32},
    "Fill": {"index_type": I32},
    "Range": {"Tidx": I32},
    "OneHot": {"axis": -1, "TI": I64},
    "ResizeBilinear": {"align_corners": False, "half_pixel_centers": False},
    "ResizeNearestNeighbor": {"align_corners": False, "half_pixel_centers": False},
    "TopKV2": {"sorted": True, "index_type": I32},
    "SplitV": {"Tlen": I64},
    "Unique": {"out_idx": I32},
    "Where": {"T": DType.BOOL},
    "DepthToSpace": {"data_format": "NHWC"},
    "SpaceToDepth": {"data_format": "NHWC"},
    "Conv2DBackpropInputV2": _CONV,
}


def fill_defaults(op: str, attrs: MutableMapping[str, Any]) -> None:
    """Add the op's default attrs that ``attrs`` lacks (copies of mutable values)."""
    for key, value in DEFAULTS.get(op, {}).items():
        if key not in attrs:
            attrs[key] = list(value) if isinstance(value, list) else value
