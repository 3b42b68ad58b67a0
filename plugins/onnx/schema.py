"""The ONNX protobuf messages we read, declared here so that converting a model needs no ``onnx`` package.

``import onnx`` costs about a second. These classes hold only the fields the frontend uses, under
ONNX's documented field numbers and full names (``onnx.ModelProto``, ...), in proto2 like ONNX's
own, so code written against onnx's classes reads ours unchanged and bytes move between the two
with ``SerializeToString``/``FromString`` (done only where a feature needs onnx: shape inference,
folding). Fields not declared here (training info, annotations, ...) are kept as unknown fields.
Enums are declared as int32 (same wire encoding), so a value from a newer ONNX is kept, not dropped.
``tests/test_onnx_schema.py`` checks every number and type against the installed onnx.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.protoschema import (BYTES, FLOAT, INT32, INT64, MANY, ONE, PACKED, STRING, DOUBLE, UINT64,
                                  Schema)

#: TensorProto.DataLocation and AttributeProto.AttributeType values.
EXTERNAL = 1
UNDEFINED, FLOAT_ATTR, INT_ATTR, STRING_ATTR, TENSOR_ATTR, GRAPH_ATTR = 0, 1, 2, 3, 4, 5
FLOATS, INTS, STRINGS, TENSORS, GRAPHS = 6, 7, 8, 9, 10
SPARSE_TENSOR, SPARSE_TENSORS, TYPE_PROTO, TYPE_PROTOS = 11, 12, 13, 14

_PROPS = ("metadata_props", MANY, "StringStringEntryProto")

MESSAGES: dict[str, list[tuple]] = {
    "StringStringEntryProto": [("key", 1, ONE, STRING), ("value", 2, ONE, STRING)],
    "OperatorSetIdProto": [("domain", 1, ONE, STRING), ("version", 2, ONE, INT64)],
    "ModelProto": [
        ("ir_version", 1, ONE, INT64), ("opset_import", 8, MANY, "OperatorSetIdProto"),
        ("producer_name", 2, ONE, STRING), ("producer_version", 3, ONE, STRING), ("domain", 4, ONE, STRING),
        ("model_version", 5, ONE, INT64), ("doc_string", 6, ONE, STRING), ("graph", 7, ONE, "GraphProto"),
        (_PROPS[0], 14, *_PROPS[1:]), ("functions", 25, MANY, "FunctionProto")],
    "GraphProto": [
        ("node", 1, MANY, "NodeProto"), ("name", 2, ONE, STRING), ("initializer", 5, MANY, "TensorProto"),
        ("sparse_initializer", 15, MANY, "SparseTensorProto"), ("doc_string", 10, ONE, STRING),
        ("input", 11, MANY, "ValueInfoProto"), ("output", 12, MANY, "ValueInfoProto"),
        ("value_info", 13, MANY, "ValueInfoProto"), (_PROPS[0], 16, *_PROPS[1:])],
    "NodeProto": [
        ("input", 1, MANY, STRING), ("output", 2, MANY, STRING), ("name", 3, ONE, STRING),
        ("op_type", 4, ONE, STRING), ("domain", 7, ONE, STRING), ("overload", 8, ONE, STRING),
        ("attribute", 5, MANY, "AttributeProto"), ("doc_string", 6, ONE, STRING), (_PROPS[0], 9, *_PROPS[1:])],
    "AttributeProto": [
        ("name", 1, ONE, STRING), ("ref_attr_name", 21, ONE, STRING), ("doc_string", 13, ONE, STRING),
        ("type", 20, ONE, INT32), ("f", 2, ONE, FLOAT), ("i", 3, ONE, INT64), ("s", 4, ONE, BYTES),
        ("t", 5, ONE, "TensorProto"), ("g", 6, ONE, "GraphProto"), ("sparse_tensor", 22, ONE, "SparseTensorProto"),
        ("tp", 14, ONE, "TypeProto"), ("floats", 7, MANY, FLOAT), ("ints", 8, MANY, INT64),
        ("strings", 9, MANY, BYTES), ("tensors", 10, MANY, "TensorProto"), ("graphs", 11, MANY, "GraphProto"),
        ("sparse_tensors", 23, MANY, "SparseTensorProto"), ("type_protos", 15, MANY, "TypeProto")],
    "ValueInfoProto": [("name", 1, ONE, STRING), ("type", 2, ONE, "TypeProto"), ("doc_string", 3, ONE, STRING),
                       (_PROPS[0], 4, *_PROPS[1:])],
    "TypeProto": [
        ("tensor_type", 1, ONE, "TypeProto.Tensor", "value"), ("sequence_type", 4, ONE, "TypeProto.Sequence", "value"),
        ("map_type", 5, ONE, "TypeProto.Map", "value"), ("optional_type", 9, ONE, "TypeProto.Optional", "value"),
        ("sparse_tensor_type", 8, ONE, "TypeProto.SparseTensor", "value"), ("denotation", 6, ONE, STRING)],
    "TypeProto.Tensor": [("elem_type", 1, ONE, INT32), ("shape", 2, ONE, "TensorShapeProto")],
    "TypeProto.Sequence": [("elem_type", 1, ONE, "TypeProto")],
    "TypeProto.Map": [("key_type", 1, ONE, INT32), ("value_type", 2, ONE, "TypeProto")],
    "TypeProto.Optional": [("elem_type", 1, ONE, "TypeProto")],
    "TypeProto.SparseTensor": [("elem_type", 1, ONE, INT32), ("shape", 2, ONE, "TensorShapeProto")],
    "TensorShapeProto": [("dim", 1, MANY, "TensorShapeProto.Dimension")],
    "TensorShapeProto.Dimension": [("dim_value", 1, ONE, INT64, "value"), ("dim_param", 2, ONE, STRING, "value"),
                                   ("denotation", 3, ONE, STRING)],
    "TensorProto": [
        ("dims", 1, MANY, INT64), ("data_type", 2, ONE, INT32), ("segment", 3, ONE, "TensorProto.Segment"),
        ("float_data", 4, PACKED, FLOAT), ("int32_data", 5, PACKED, INT32), ("string_data", 6, MANY, BYTES),
        ("int64_data", 7, PACKED, INT64), ("name", 8, ONE, STRING), ("doc_string", 12, ONE, STRING),
        ("raw_data", 9, ONE, BYTES), ("external_data", 13, MANY, "StringStringEntryProto"),
        ("data_location", 14, ONE, INT32), ("double_data", 10, PACKED, DOUBLE), ("uint64_data", 11, PACKED, UINT64),
        (_PROPS[0], 16, *_PROPS[1:])],
    "TensorProto.Segment": [("begin", 1, ONE, INT64), ("end", 2, ONE, INT64)],
    "SparseTensorProto": [("values", 1, ONE, "TensorProto"), ("indices", 2, ONE, "TensorProto"),
                          ("dims", 3, MANY, INT64)],
    "FunctionProto": [
        ("name", 1, ONE, STRING), ("input", 4, MANY, STRING), ("output", 5, MANY, STRING),
        ("attribute", 6, MANY, STRING), ("attribute_proto", 11, MANY, "AttributeProto"),
        ("node", 7, MANY, "NodeProto"), ("doc_string", 8, ONE, STRING),
        ("opset_import", 9, MANY, "OperatorSetIdProto"), ("domain", 10, ONE, STRING), ("overload", 13, ONE, STRING),
        ("value_info", 12, MANY, "ValueInfoProto"), (_PROPS[0], 14, *_PROPS[1:])],
}

SCHEMA = Schema("tfjsconv/onnx_schema.proto", "onnx", "proto2", MESSAGES)

ModelProto = SCHEMA.message("ModelProto")
GraphProto = SCHEMA.message("GraphProto")
NodeProto = SCHEMA.message("NodeProto")
TensorProto = SCHEMA.message("TensorProto")
ValueInfoProto = SCHEMA.message("ValueInfoProto")


def to_onnx(message: Any) -> Any:
    """``message`` as the onnx package's class of the same name (imports onnx; bytes round trip)."""
    import onnx

    cls = getattr(onnx, type(message).DESCRIPTOR.name)
    return message if isinstance(message, cls) else cls.FromString(message.SerializeToString())


def from_onnx(message: Any, *, like: Any) -> Any:
    """An onnx-package message as the class of ``like`` (ours, or onnx's when ``like`` is one)."""
    cls = type(like)
    return message if isinstance(message, cls) else cls.FromString(message.SerializeToString())
