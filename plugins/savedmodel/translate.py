"""A frozen TensorFlow graph (``tf.Graph``) into the IR: nodes, attrs, constants and the signature.

TF and the IR share one vocabulary (TF.js runs TF ops), so this is a faithful copy: ops keep their
names and attrs; Const tensors become numpy arrays; internal attrs (``_class``, ``_output_shapes``,
``_read_only_resource_inputs`` …) and devices are dropped, as TF.js ignores them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import FuncAttr, Graph, Node, TensorShapeAttr, Value


def dtype_from_enum(enum: int) -> DType | None:
    """A ``types_pb2.DataType`` number as a DType; None for types the IR does not know (quantized, refs)."""
    from .graphdef_ir import dtype_from_enum as from_schema  # our own DataType table: no TF import

    return from_schema(enum)


def shape_from_tf(shape: Any) -> tuple[int | None, ...] | None:
    """A ``tf.TensorShape`` as an IR shape (None: unknown rank; None dims: unknown size)."""
    if shape.rank is None:
        return None
    return tuple(None if d is None else int(d) for d in shape.as_list())


def shape_from_proto(proto: Any) -> tuple[int | None, ...] | None:
    if proto.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in proto.dim)


def tensor_from_proto(proto: Any) -> np.ndarray:
    from . import schema

    if proto.DESCRIPTOR.file.pool is schema.POOL:  # read with our own schema: decode without TF
        from .graphdef_ir import tensor_from_proto as from_schema

        return from_schema(proto)
    from tensorflow.python.framework import tensor_util

    array = tensor_util.MakeNdarray(proto)
    # not np.ascontiguousarray: it turns scalars into shape (1,)
    return array if array.flags.c_contiguous else array.copy(order="C")


def _scalar_attr(kind: str, value: Any, where: str) -> Any:
    if kind == "s":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    if kind in ("i",):
        return int(value)
    if kind == "f":
        return float(value)
    if kind == "b":
        return bool(value)
    if kind == "type":
        dtype = dtype_from_enum(value)
        if dtype is None:
            from .schema import data_type_name

            raise InputError(f"{where}: data type {data_type_name(value) or value} is not supported by TF.js")
        return dtype
    if kind == "shape":
        return TensorShapeAttr(shape_from_proto(value))
    if kind == "tensor":
        return tensor_from_proto(value)
    if kind == "func":
        return FuncAttr(value.name, {k: attr_value(v, f"{where} func {value.name}") for k, v in value.attr.items()})
    if kind == "placeholder":
        return str(value)
    raise InputError(f"{where}: unsupported attr kind {kind!r}")


def attr_value(proto: Any, where: str) -> Any:
    """One ``AttrValue`` proto as the python value the IR uses (see :class:`tfjsconv.ir.Node`)."""
    kind = proto.WhichOneof("value")
    if kind is None:
        return []
    if kind != "list":
        return _scalar_attr(kind, getattr(proto, kind), where)
    lst = proto.list
    for field in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
        items = getattr(lst, field)
        if len(items):
            return [_scalar_attr(field, item, where) for item in items]
    return []


def node_attrs(node_def: Any) -> dict[str, Any]:
    where = f"node {node_def.name} ({node_def.op})"
    return {key: attr_value(value, f"{where} attr {key}")
            for key, value in sorted(node_def.attr.items()) if not key.startswith("_")}


def graph_from_tf_graph(tf_graph: Any, inputs: Mapping[str, str], outputs: Mapping[str, str], *,
                        name: str = "graph") -> Graph:
    """Copy every op of ``tf_graph`` into a new IR graph.

    ``inputs``/``outputs`` map signature keys to tensor names (``x:0``); each input must be a
    Placeholder. Nodes are created first and wired second, since v1 loops have back edges.
    """
    graph = Graph(name)
    ops = tf_graph.get_operations()
    nodes: dict[str, Node] = {}
    unheld: list[str] = []  # constants of dtypes TF.js has no kernels for (bfloat16, float8)
    for op in ops:
        attrs = node_attrs(op.node_def)
        node = graph.add_node(op.type, (), attrs, name=op.name, num_outputs=len(op.outputs), exact_name=True)
        node.provenance = (op.name,)
        for tensor, value in zip(op.outputs, node.outputs):
            value.dtype = dtype_from_enum(tensor.dtype.as_datatype_enum)
            value.shape = shape_from_tf(tensor.shape)
        if op.type == "Const":
            value = node.attrs["value"]
            dtype = _const_dtype(value)
            if dtype is None:
                unheld.append(f"{op.name} ({value.dtype})")
                continue
            node.attrs["dtype"] = dtype
            node.outputs[0].shape = tuple(int(d) for d in value.shape)
        nodes[op.name] = node
    if unheld:
        raise InputError(f"{len(unheld)} constant(s) of a dtype TF.js cannot compute in: {', '.join(unheld[:8])}"
                         f"{' ...' if len(unheld) > 8 else ''}",
                         hint="a bfloat16 or float8 graph (a mixed_bfloat16 Keras policy) is not converted; save "
                              "the model in float32 or float16")
    for op in ops:
        node = nodes[op.name]
        node.inputs = [nodes[t.op.name].output(t.value_index) for t in op.inputs]
        node.control_inputs = [nodes[c.name] for c in op.control_inputs]
    for key, tensor_name in inputs.items():
        value = _value(nodes, tensor_name)
        if value.producer.op not in ("Placeholder", "PlaceholderWithDefault"):
            raise InputError(f"input {key!r} ({tensor_name}) is produced by a {value.producer.op}, not a Placeholder")
        graph.inputs[key] = value
    for key, tensor_name in outputs.items():
        graph.set_output(key, _value(nodes, tensor_name))
    return graph


def _value(nodes: Mapping[str, Node], tensor_name: str) -> Value:
    node_name, _, index = tensor_name.partition(":")
    position = int(index) if index.isdigit() else -1 if index else 0
    if node_name not in nodes or not 0 <= position < len(nodes[node_name].outputs):
        raise InputError(f"the graph has no tensor {tensor_name!r}")
    return nodes[node_name].output(position)


def _const_dtype(value: np.ndarray) -> DType | None:
    """A Const's dtype (None: one TF.js has no kernels for, bfloat16 or a float8 from ml_dtypes, which numpy names
    but the IR does not hold)."""
    if value.dtype == object:
        return DType.STRING
    try:
        return DType.from_any(value.dtype)
    except TypeError:
        return None
