"""GraphDef and FunctionDef nodes (our :mod:`.schema` messages) straight into the IR, without TensorFlow.

TF's ``import_graph_def`` gives every tensor a dtype and shape from the op registry; here they come
from the nodes themselves: dtypes from the op's type attrs (:mod:`.op_outputs`), shapes from the
``_output_shapes`` attr that ``tf.saved_model.save`` writes on every node (and the Placeholders'
``shape``); the core passes infer the rest. A FunctionDef body's ``node:out_arg:i`` references are
mapped to flat output indices through the op's output-arg layout.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, Node, TensorShapeAttr, Value

from . import op_outputs, schema
from .op_defaults import check_attr_kinds, check_signatures, fill_defaults
from .translate import node_attrs, shape_from_proto


class NotTfFree(Exception):
    """This graph needs a feature the TF-free reader lacks; ``feature`` names it (one word), the
    message says where. The caller refuses with :meth:`refusal`: TensorFlow is never loaded unasked."""

    def __init__(self, feature: str, detail: str) -> None:
        super().__init__(f"{feature}: {detail}")
        self.feature, self.detail = feature, detail

    def refusal(self, path: Any) -> InputError:
        """The one-line error for ``path``, with the way out: ``--loader=tensorflow`` (and, when TensorFlow
        is not installed, the extra that installs it)."""
        import importlib.util

        try:
            installed = importlib.util.find_spec("tensorflow") is not None
        except (ImportError, ValueError):  # a broken install (or one blocked by an import hook) is no way out
            installed = False
        hint = ("convert with --loader=tensorflow, which loads the model with TensorFlow" if installed else
                "convert with --loader=tensorflow after pip install 'tfjsconv[tensorflow]' (it loads the model "
                "with TensorFlow)")
        return InputError(f"{getattr(path, 'name', path) or path}: the TF-free reader does not cover "
                          f"{self.feature.replace('_', ' ')} ({self.detail})", hint=hint)


def dtype_from_enum(number: int) -> DType | None:
    """A DataType number as a DType; None for types the IR does not know (quantized, refs)."""
    name = schema.data_type_name(number)
    try:
        return DType(name) if name else None
    except ValueError:
        return None


_FIELDS = {  # numpy dtype name -> the repeated TensorProto field holding its values
    "float32": "float_val", "float64": "double_val", "int32": "int_val", "int16": "int_val", "int8": "int_val",
    "uint8": "int_val", "uint16": "int_val", "int64": "int64_val", "bool": "bool_val", "uint32": "uint32_val",
    "uint64": "uint64_val", "float16": "half_val", "bfloat16": "half_val", "complex64": "scomplex_val",
    "complex128": "dcomplex_val",
}


def tensor_from_proto(proto: Any) -> np.ndarray:
    """A TensorProto as a C-contiguous array (strings as an object array of bytes).

    Values come from ``tensor_content`` (raw little-endian bytes) or the repeated field of the
    dtype; fewer stored values than elements repeat the last one (none stored: zeros), as in TF.
    """
    from .tensor_bundle import numpy_dtype

    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise InputError(f"a constant has an unknown dimension {list(shape)}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    dtype = numpy_dtype(proto.dtype)
    if dtype is None:
        raise NotTfFree("constant_dtype", f"constants of {schema.data_type_name(proto.dtype) or proto.dtype}")
    if dtype == object:
        values = list(proto.string_val)
        return _fill(np.array(values + [b""] * (not values), dtype=object), count).reshape(shape)
    if proto.tensor_content:
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise InputError(f"a constant stores {len(proto.tensor_content)} bytes, its shape {list(shape)} of "
                             f"{dtype.name} needs {count * dtype.itemsize}")
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape).copy()
    field = _FIELDS.get(dtype.name)
    if field is None:
        raise NotTfFree("constant_dtype", f"constants of {dtype.name} stored as values")
    raw = getattr(proto, field)
    if field == "half_val":
        stored = np.asarray(raw, dtype=np.uint16).view(dtype)
    elif field in ("scomplex_val", "dcomplex_val"):
        pairs = np.asarray(raw, dtype=np.float32 if field == "scomplex_val" else np.float64)
        stored = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    else:
        stored = np.asarray(raw).astype(dtype) if len(raw) else np.zeros(0, dtype)
    if stored.size > count:
        raise InputError(f"a constant stores {stored.size} values for a shape {list(shape)} of {count}")
    return _fill(stored if stored.size else np.zeros(1, dtype), count).reshape(shape)


def _fill(stored: np.ndarray, count: int) -> np.ndarray:
    """``stored`` padded to ``count`` elements with its last value."""
    if stored.size == count:
        return np.ascontiguousarray(stored)
    out = np.empty(count, dtype=stored.dtype)
    out[:stored.size] = stored[:count]
    out[stored.size:] = stored[-1]
    return out


def declared_shapes(node_def: Any) -> list[tuple[int | None, ...] | None] | None:
    """The node's ``_output_shapes`` attr, if it has one."""
    if "_output_shapes" not in node_def.attr:
        return None
    return [shape_from_proto(s) for s in node_def.attr["_output_shapes"].list.shape]


def _layout(node_def: Any, attrs: Mapping[str, Any], functions: Mapping[str, Any]) -> op_outputs.Layout:
    shapes = declared_shapes(node_def)
    try:
        return op_outputs.layout(node_def.op, attrs, functions, None if shapes is None else len(shapes))
    except op_outputs.UnknownLayout as why:
        raise NotTfFree("op_output_layout", f"node {node_def.name}: {why}") from None


def add_nodes(graph: Graph, node_defs: Sequence[Any], functions: Mapping[str, Any], *,
              args: Mapping[str, Value] | None = None, keep_control: bool = True,
              tf_signatures: bool = True) -> dict[str, Node]:
    """Add ``node_defs`` to ``graph``, wired. ``args`` (a FunctionDef's arguments by name) switches
    references to the function-body form ``node:out_arg:i``; without it they are ``node:i``.
    ``tf_signatures``: check the nodes against TF's OpDefs (:func:`.op_defaults.check_signatures`); off for a
    TF.js graph model, whose converter rewrites dtypes (int64 held as int32) away from TF's signatures."""
    in_body = args is not None
    nodes: dict[str, Node] = {}
    layouts: dict[str, op_outputs.Layout] = {}
    for node_def in node_defs:
        if not node_def.name:  # the IR would name it after its op, and readers of that name would find it
            raise InputError(f"a node ({node_def.op or 'no op'}) has an empty name: the graph is corrupt")
        attrs = node_attrs(node_def)
        fill_defaults(node_def.op, attrs)  # stripped_default_attrs: as TF's import_graph_def would
        check_attr_kinds(node_def.op, attrs, node_def.name)
        node_layout = _layout(node_def, attrs, functions)
        shapes = declared_shapes(node_def) or []
        total = node_layout.total
        if not in_body:  # a GraphDef names outputs flat: an unlisted op may have more than one
            total = max(total, 1 if node_def.op != "NoOp" else 0)
        node = graph.add_node(node_def.op, (), attrs, name=node_def.name, num_outputs=total, exact_name=True)
        node.provenance = (node_def.name,)
        for index, value in enumerate(node.outputs):
            value.dtype = node_layout.dtypes[index] if index < len(node_layout.dtypes) else None
            value.shape = shapes[index] if index < len(shapes) else None
        if node_def.op == "Const":
            array = attrs.get("value")
            if not isinstance(array, np.ndarray):
                raise InputError(f"Const node {node_def.name!r} has no tensor value: the graph is corrupt")
            stored = DType.from_any(array.dtype) if array.dtype != object else DType.STRING
            if isinstance(attrs.get("dtype"), DType) and attrs["dtype"] != stored:  # TF's Const kernel refuses it
                raise InputError(f"Const node {node_def.name!r} holds {stored.short_name} values but its dtype is "
                                 f"{attrs['dtype'].short_name}: the graph is corrupt")
            node.attrs["dtype"] = stored
            node.outputs[0].dtype = node.attrs["dtype"]
            node.outputs[0].shape = tuple(int(d) for d in array.shape)
        elif node_def.op in ("Placeholder", "PlaceholderWithDefault") and isinstance(attrs.get("shape"),
                                                                                   TensorShapeAttr):
            declared = attrs["shape"].dims if hasattr(attrs["shape"], "dims") else None
            if declared is not None and node.outputs[0].shape is None:
                node.outputs[0].shape = declared
        nodes[node_def.name] = node
        layouts[node_def.name] = node_layout
    for node_def in node_defs:
        node = nodes[node_def.name]
        inputs, controls = [], []
        for ref in node_def.input:
            if ref.startswith("^"):
                if in_body and ref[1:] not in nodes and ref[1:] not in args:  # a body is whole: TF refuses it too
                    raise InputError(f"node {node_def.name} has a control input {ref!r}, which is not in the graph")
                if keep_control and ref[1:] in nodes:
                    controls.append(nodes[ref[1:]])
                continue
            inputs.append(_resolve(ref, nodes, layouts, args, node_def.name))
        node.inputs, node.control_inputs = inputs, controls
    _check_input_counts(nodes.values())
    if tf_signatures:
        check_signatures(nodes.values(), functions)
    return nodes


def _check_input_counts(nodes: Iterable[Node]) -> None:
    """Refuse nodes with fewer inputs than their op reads (a corrupt graph: TF refuses it, and TF.js
    would run the kernel on ``undefined``), all named in one error."""
    from tfjsconv.ops import OpRegistry

    registry = OpRegistry.builtin()
    short = [f"{node.name} ({node.op}: {len(node.inputs)} of {registry.get(node.op).min_inputs})"
             for node in nodes if node.op in registry and len(node.inputs) < registry.get(node.op).min_inputs]
    if short:
        raise InputError(f"node(s) with too few inputs, the graph is corrupt: {', '.join(short[:10])}"
                         + (f" and {len(short) - 10} more" if len(short) > 10 else ""))
    _check_index_dtypes(nodes)


#: TF's index type attrs: only int32 and int64.
_INDEX_DTYPES = (DType.INT32, DType.INT64)
#: Ops whose ``Tidx`` types one index input, by position (-1: the last): the axes of the reductions, cumulative ops,
#: ReverseV2 and ArgMax/ArgMin, BroadcastTo's shape, ConcatV2's axis, LinSpace's count (Range's ``Tidx`` types all
#: its inputs and may be a float: not listed).
_TIDX_INPUT = {**dict.fromkeys(("Sum", "Mean", "Max", "Min", "Prod", "Any", "All", "EuclideanNorm", "Cumsum", "Cumprod",
                                "CumulativeLogsumexp", "ReverseV2", "ArgMax", "ArgMin", "BroadcastTo"), 1),
               "ConcatV2": -1, "LinSpace": 2}


def _check_index_dtypes(nodes: Iterable[Node]) -> None:
    """Refuse a node of :data:`_TIDX_INPUT` whose ``Tidx`` is no integer type, or whose index input is of another
    dtype than ``Tidx`` says (a string or float axis): TF's importer refuses both, and the passes that read the axes
    would fail on them unnamed."""
    bad = []
    for node in nodes:
        tidx, position = node.attrs.get("Tidx"), _TIDX_INPUT.get(node.op)
        if position is None or not isinstance(tidx, DType) or not node.inputs:
            continue
        given = node.inputs[position].dtype if -len(node.inputs) <= position < len(node.inputs) else None
        if tidx not in _INDEX_DTYPES or (given is not None and given != tidx):
            bad.append(f"{node.name} ({node.op}: Tidx {tidx.short_name}, its index input "
                       f"{given.short_name if given is not None else 'unknown'})")
    if bad:
        raise InputError(f"node(s) whose index input is not of their integer Tidx, the graph is corrupt: "
                         f"{', '.join(bad[:10])}" + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))


def _resolve(ref: str, nodes: Mapping[str, Node], layouts: Mapping[str, op_outputs.Layout],
             args: Mapping[str, Value] | None, reader: str) -> Value:
    parts = ref.split(":")
    if args is not None and len(parts) == 1 and ref in args:
        return args[ref]
    node = nodes.get(parts[0])
    if node is None:
        raise InputError(f"node {reader} reads {ref!r}, which is not in the graph")
    if args is not None and len(parts) == 3:
        try:
            index = layouts[parts[0]].flat_index(parts[1], int(parts[2]))
        except op_outputs.UnknownLayout as why:
            raise NotTfFree("op_output_layout", f"node {reader} reads {ref}: {why}") from None
    elif len(parts) == 2 and args is None:
        index = int(parts[1])
    elif len(parts) == 1:
        index = 0
    else:
        raise InputError(f"node {reader} has a malformed input {ref!r}")
    if index >= len(node.outputs) and args is not None:
        raise NotTfFree("op_output_layout", f"node {reader} reads output {index} of {node.name} ({node.op})")
    return node.output(index)


def function_body(fdef: Any, functions: Mapping[str, Any]) -> Graph:
    """A FunctionDef as an IR graph: arguments as Placeholders, outputs in ``output_arg`` order."""
    name = fdef.signature.name
    body = Graph(name)
    args: dict[str, Value] = {}
    for position, arg in enumerate(fdef.signature.input_arg):
        dtype = dtype_from_enum(arg.type)
        if dtype is None or arg.number_attr or arg.type_list_attr:
            raise NotTfFree("polymorphic_function", f"function {name} argument {arg.name} has no fixed type")
        shape = None
        attrs = fdef.arg_attr[position].attr if position in fdef.arg_attr else {}
        if "_output_shapes" in attrs and attrs["_output_shapes"].list.shape:
            shape = shape_from_proto(attrs["_output_shapes"].list.shape[0])
        node = body.add_node("Placeholder", (), {"dtype": dtype, "shape": TensorShapeAttr(shape)},
                             name=arg.name, exact_name=True)
        node.outputs[0].dtype, node.outputs[0].shape = dtype, shape
        body.inputs[arg.name] = args[arg.name] = node.outputs[0]
    add_nodes(body, list(fdef.node_def), functions, args=args, keep_control=False)
    nodes = {n.name: n for n in body}
    for arg in fdef.signature.output_arg:
        ref = fdef.ret.get(arg.name)
        if ref is None:
            raise InputError(f"function {name} does not return its output {arg.name}")
        layouts = {}
        parts = ref.split(":")
        if len(parts) == 3 and parts[0] in nodes:
            node_def = next((n for n in fdef.node_def if n.name == parts[0]), None)
            if node_def is None:  # an argument named as a node's output
                raise InputError(f"function {name} returns {ref!r}, which names an argument as a node")
            layouts[parts[0]] = _layout(node_def, nodes[parts[0]].attrs, functions)
        body.set_output(arg.name, _resolve(ref, nodes, layouts, args, f"{name} return {arg.name}"))
    return body
