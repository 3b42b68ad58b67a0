"""Default attr values of common TF ops, restored where a SavedModel stripped them.

``tf.saved_model.save`` writes MetaGraphs with ``stripped_default_attrs``: an attr equal to its
op's default is left out (``MatMul`` without ``transpose_a``, ``MaxPool`` without ``T``). TF's
``import_graph_def`` puts them back from its op registry; without TF they come from this table,
written from TensorFlow's documented op signatures (facts, not code). The TF path and this one then
give the IR (and ``model.json``) the same attrs, and the dtype rules of :mod:`.op_outputs` see the
type attrs they need. Attrs of ops not listed stay absent, as TF.js's own defaults then apply.

:func:`check_signatures` then checks every node against TF's full OpDef (``core/ops/data/tf_op_signatures.json``,
generated from TF's registry): required attrs, allowed types, input counts and dtypes.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Node, Value
from tfjsconv.ops.tf_signatures import ArgSpec, OpSignature, signature

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
    # complex parts: a stripped ``Tout`` left ``tf.complex``'s output untyped (a pass's Shape of it then had no ``T``)
    "Complex": {"T": F32, "Tout": DType.COMPLEX64},
    **dict.fromkeys(("Real", "Imag", "ComplexAbs"), {"T": DType.COMPLEX64, "Tout": F32}),
    **dict.fromkeys(("RFFT", "IRFFT"), {"Treal": F32, "Tcomplex": DType.COMPLEX64}),
    **dict.fromkeys(("FFT", "IFFT"), {"Tcomplex": DType.COMPLEX64}),
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


#: A tensor's dtype as the check compares it: a DType, a ``DT_`` name for a type the IR cannot hold, or None
#: (unknown: not checked).
_Want = DType | str | None


def _count(arg: ArgSpec, attrs: Mapping[str, Any]) -> int | None:
    """How many tensors ``arg`` stands for on a node with ``attrs``; None when unknown (a ``placeholder`` attr of a
    polymorphic function body, an attr of the wrong kind)."""
    if arg.list_attr is not None:
        types = attrs.get(arg.list_attr)
        return len(types) if isinstance(types, list) and all(isinstance(t, DType) for t in types) else None
    count = 1 if arg.number_attr is None else attrs.get(arg.number_attr)
    return None if isinstance(count, bool) or not isinstance(count, int) or count < 0 else count


def _arg_dtypes(arg: ArgSpec, attrs: Mapping[str, Any], count: int) -> list[_Want]:
    """The dtypes of the ``count`` (:func:`_count`) tensors ``arg`` stands for (None entries: a type the node leaves
    open)."""
    return list(attrs[arg.list_attr]) if arg.list_attr is not None else [_single(arg, attrs)] * count


def _single(arg: ArgSpec, attrs: Mapping[str, Any]) -> _Want:
    """The dtype of a one-tensor ``arg``: its fixed type or its type attr's value (None if that is no DType)."""
    if arg.fixed is not None:
        return arg.fixed
    value = attrs.get(arg.type_attr)
    return value if isinstance(value, DType) else None


def _dtype_at(args: Sequence[ArgSpec], attrs: Mapping[str, Any], index: int) -> _Want:
    """The dtype of flat tensor ``index`` of ``args`` (None if unknown), without expanding the counts: a crafted
    ``N`` of 2^40 must not allocate."""
    for arg in args:
        count = _count(arg, attrs)
        if count is None:
            return None
        if index < count:
            return _arg_dtypes(arg, attrs, count)[index] if arg.list_attr is not None else _single(arg, attrs)
        index -= count
    return None


def _attr_problems(sig: OpSignature, attrs: Mapping[str, Any]) -> list[str]:
    """Required attrs missing, type attrs outside their allowed types, int/list attrs under their minimum."""
    problems = [f"lacks its {name} attr" for name in sig.required if name not in attrs]
    for name, spec in sig.limited:
        value = attrs.get(name)
        if value is None:
            continue
        if spec.allowed is not None:
            types = value if isinstance(value, list) else [value]
            wrong = [t.short_name for t in types if isinstance(t, DType) and t not in spec.allowed]
            if wrong:
                problems.append(f"{name}={','.join(wrong)}, not a type TF's {name} allows")
        size = value if spec.type == "int" else len(value) if isinstance(value, list) else None
        if spec.minimum is not None and isinstance(size, int) and size < spec.minimum:
            problems.append(f"{name}={size}, under TF's minimum {spec.minimum}")
    return problems


def _produced(value: Value, functions: Mapping[str, Any]) -> _Want:
    """The dtype of ``value`` as TF would give it: from its producer's signature (fixed type, type attr, list attr),
    or a called function's declared output type. None (not checked) for a producer the table lacks: the reader's
    own guess (:mod:`.op_outputs`) can be wrong there (``Bitcast``'s output is its ``type``, not its ``T``), and
    such an op is refused later as unknown to TF.js anyway."""
    node = value.producer
    if node.op in functions:
        return value.dtype
    sig = signature(node.op)
    if sig is None:
        return None
    if sig.simple_outputs:
        return _single(sig.outputs[value.index], node.attrs) if value.index < len(sig.outputs) else None
    return _dtype_at(sig.outputs, node.attrs, value.index)


def _name(dtype: DType | str) -> str:
    return dtype.short_name if isinstance(dtype, DType) else dtype


def _input_problems(node: Node, sig: OpSignature, functions: Mapping[str, Any]) -> list[str]:
    """Inputs whose count or dtype differs from what the signature and the node's attrs say."""
    if sig.simple_inputs:
        expected = [_single(arg, node.attrs) for arg in sig.inputs]
    else:
        counts = [_count(arg, node.attrs) for arg in sig.inputs]
        if None in counts:
            return []
        if sum(counts) != len(node.inputs):  # before expanding: the counts may be huge
            return [f"{len(node.inputs)} inputs where its attrs give {sum(counts)}"]
        expected = [d for arg, count in zip(sig.inputs, counts) for d in _arg_dtypes(arg, node.attrs, count)]
    if len(expected) != len(node.inputs):
        return [f"{len(node.inputs)} inputs where its attrs give {len(expected)}"]
    problems = []
    for index, (want, value) in enumerate(zip(expected, node.inputs)):
        if want is None:
            continue
        got = _produced(value, functions)
        if got is not None and got != want:
            problems.append(f"input {index} is {_name(got)}, expected {_name(want)}")
    return problems


def check_signatures(nodes: Iterable[Node], functions: Mapping[str, Any]) -> None:
    """Refuse, in one error naming every offending node, what TF's importer refuses against the op's OpDef: a
    required attr missing, a type attr outside its allowed types, an int or list attr under its minimum, inputs of
    another count than the attrs give (``ConcatV2`` ``N=3`` with two values) or of another dtype (an ``AddV2``
    ``T=float`` fed an int32, a ``Select`` with a float condition, a float where a resource handle belongs).
    Unchecked, such a node crashes a pass or converts to a model whose dtypes lie. The facts are TF's
    (:mod:`tfjsconv.ops.tf_signatures`); ops the table lacks and function calls are left to later checks (an
    unknown op is refused anyway). Ref args (TF1 variables) are compared by their value type, as the IR has no
    refs; TF's importer also feeds a ref to a value arg."""
    bad = []
    for node in nodes:
        sig = None if node.op in functions else signature(node.op)
        if sig is None:
            continue
        problems = _attr_problems(sig, node.attrs) or _input_problems(node, sig, functions)
        if problems:
            more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            bad.append(f"{node.name} ({node.op}: {'; '.join(problems[:3])}{more})")
    if bad:
        raise InputError(f"node(s) that TensorFlow's op signatures refuse, the graph is corrupt: {', '.join(bad[:10])}"
                         + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))
