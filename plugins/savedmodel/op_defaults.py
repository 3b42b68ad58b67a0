"""Default attr values of common TF ops, restored where a SavedModel stripped them.

``tf.saved_model.save`` writes MetaGraphs with ``stripped_default_attrs``: an attr equal to its
op's default is left out (``MatMul`` without ``transpose_a``, ``MaxPool`` without ``T``). TF's
``import_graph_def`` puts them back from its op registry; without TF they come from this table,
written from TensorFlow's documented op signatures (facts, not code). The TF path and this one then
give the IR (and ``model.json``) the same attrs, and the dtype rules of :mod:`.op_outputs` see the
type attrs they need. Attrs of ops not listed stay absent, as TF.js's own defaults then apply.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError

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


_WINDOW_4 = {"strides": (list, 4)}
#: Attrs TF's OpDef requires (no default) that the reader's code and the passes read, as (kind, length or None).
REQUIRED: dict[str, dict[str, tuple[type, int | None]]] = {
    **dict.fromkeys(("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput"), _WINDOW_4),
    **dict.fromkeys(("MaxPool", "AvgPool"), {**_WINDOW_4, "ksize": (list, 4)}),
    **dict.fromkeys(("LookupTableFindV2", "LookupTableFind"), {"Tin": (DType, None), "Tout": (DType, None)}),
}


def check_attr_kinds(op: str, attrs: Mapping[str, Any], node: str) -> None:
    """Refuse an attr of another kind than TF's OpDef gives it (a list where an int belongs, a mask of
    ``placeholder`` text), a fixed-length list of another length, or a required attr that is missing: TF's
    importer or kernel refuses such a node, and the passes that read the attr would fail on it unnamed.
    Checked for the attrs this module knows: the defaults above and :data:`REQUIRED`."""
    expected = {key: (type(value), len(value) if isinstance(value, list) and value else None)
                for key, value in DEFAULTS.get(op, {}).items()}
    for key, (kind, length) in {**expected, **REQUIRED.get(op, {})}.items():
        value = attrs.get(key)
        if value is None and key in REQUIRED.get(op, {}):
            raise InputError(f"node {node} ({op}) lacks its {key} attr: the graph is corrupt")
        if value is not None and (type(value) is not kind or (length is not None and len(value) != length)
                                  or value in (DType.RESOURCE, DType.VARIANT)):  # a table of handles: no such kernel
            want = f"a list of {length}" if length is not None else f"a {kind.__name__} of data"
            raise InputError(f"node {node} ({op}) has {key}={str(value)[:40]}, where TF's {op} takes {want}: "
                             "the graph is corrupt")


def fill_defaults(op: str, attrs: MutableMapping[str, Any]) -> None:
    """Add the op's default attrs that ``attrs`` lacks (copies of mutable values)."""
    for key, value in DEFAULTS.get(op, {}).items():
        if key not in attrs:
            attrs[key] = list(value) if isinstance(value, list) else value
