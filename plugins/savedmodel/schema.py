"""The TensorFlow protobuf messages we read, declared here so that reading them needs no TensorFlow.

Importing ``tensorflow.core.*_pb2`` imports all of TensorFlow (seconds, gigabytes). These messages
are built from descriptors written in code (no ``.proto`` files, no ``protoc``), holding only the
fields we use, under TensorFlow's own field numbers and full names (``tensorflow.NodeDef``, ...)
so that code written against TF's classes reads ours unchanged. They live in a private descriptor
pool, so they never clash with TensorFlow's when both are loaded. Fields we do not declare are kept
as unknown fields by the protobuf runtime (they survive a parse/serialize round trip); they are
never an error.

Use ``schema.SavedModel()``, ``schema.GraphDef()``, ... like the ``*_pb2`` classes.
"""
from __future__ import annotations

from tfjsconv.protoschema import (
    BOOL, BYTES, DOUBLE, FIXED32, FLOAT, INT32, INT64, MANY, MAP, ONE, STRING, UINT32, UINT64, Schema)

#: ``types.proto`` DataType numbers (the ``_REF`` variants are these plus 100).
DATA_TYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
    "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11, "DT_QUINT8": 12,
    "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18,
    "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
    "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25, "DT_FLOAT8_E4M3FNUZ": 26, "DT_FLOAT8_E4M3B11FNUZ": 27,
    "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29, "DT_UINT4": 30, "DT_INT2": 31, "DT_UINT2": 32, "DT_FLOAT4_E2M1FN": 33,
}
DATA_TYPES.update({f"{name}_REF": number + 100 for name, number in list(DATA_TYPES.items()) if number})

ENUMS = {
    "DataType": DATA_TYPES,
    "SaverDef.CheckpointFormatVersion": {"LEGACY": 0, "V1": 1, "V2": 2},
    "BundleHeaderProto.Endianness": {"LITTLE": 0, "BIG": 1},
}

#: message -> fields as (name, number, ONE|MANY|MAP, type[, oneof]); a type is a scalar constant, a
#: message or enum name (relative to ``tensorflow.``), or for MAP a (key type, value type) pair.
MESSAGES: dict[str, list[tuple]] = {
    # tensor_shape.proto, tensor.proto, tensor_slice.proto
    "TensorShapeProto": [("dim", 2, MANY, "TensorShapeProto.Dim"), ("unknown_rank", 3, ONE, BOOL)],
    "TensorShapeProto.Dim": [("size", 1, ONE, INT64), ("name", 2, ONE, STRING)],
    "TensorProto": [
        ("dtype", 1, ONE, "DataType"), ("tensor_shape", 2, ONE, "TensorShapeProto"),
        ("version_number", 3, ONE, INT32), ("tensor_content", 4, ONE, BYTES),
        ("half_val", 13, MANY, INT32), ("float_val", 5, MANY, FLOAT), ("double_val", 6, MANY, DOUBLE),
        ("int_val", 7, MANY, INT32), ("string_val", 8, MANY, BYTES), ("scomplex_val", 9, MANY, FLOAT),
        ("int64_val", 10, MANY, INT64), ("bool_val", 11, MANY, BOOL), ("dcomplex_val", 12, MANY, DOUBLE),
        ("uint32_val", 16, MANY, UINT32), ("uint64_val", 17, MANY, UINT64)],
    "TensorSliceProto": [("extent", 1, MANY, "TensorSliceProto.Extent")],
    "TensorSliceProto.Extent": [("start", 1, ONE, INT64), ("length", 2, ONE, INT64, "has_length_hack")],
    # attr_value.proto
    "AttrValue": [
        ("list", 1, ONE, "AttrValue.ListValue", "value"), ("s", 2, ONE, BYTES, "value"),
        ("i", 3, ONE, INT64, "value"), ("f", 4, ONE, FLOAT, "value"), ("b", 5, ONE, BOOL, "value"),
        ("type", 6, ONE, "DataType", "value"), ("shape", 7, ONE, "TensorShapeProto", "value"),
        ("tensor", 8, ONE, "TensorProto", "value"), ("placeholder", 9, ONE, STRING, "value"),
        ("func", 10, ONE, "NameAttrList", "value")],
    "AttrValue.ListValue": [
        ("s", 2, MANY, BYTES), ("i", 3, MANY, INT64), ("f", 4, MANY, FLOAT), ("b", 5, MANY, BOOL),
        ("type", 6, MANY, "DataType"), ("shape", 7, MANY, "TensorShapeProto"), ("tensor", 8, MANY, "TensorProto"),
        ("func", 9, MANY, "NameAttrList")],
    "NameAttrList": [("name", 1, ONE, STRING), ("attr", 2, MAP, (STRING, "AttrValue"))],
    # node_def.proto, graph.proto, versions.proto
    "NodeDef": [("name", 1, ONE, STRING), ("op", 2, ONE, STRING), ("input", 3, MANY, STRING),
                ("device", 4, ONE, STRING), ("attr", 5, MAP, (STRING, "AttrValue"))],
    "VersionDef": [("producer", 1, ONE, INT32), ("min_consumer", 2, ONE, INT32), ("bad_consumers", 3, MANY, INT32)],
    "GraphDef": [("node", 1, MANY, "NodeDef"), ("versions", 4, ONE, "VersionDef"), ("version", 3, ONE, INT32),
                 ("library", 2, ONE, "FunctionDefLibrary")],
    # function.proto, op_def.proto
    "FunctionDefLibrary": [("function", 1, MANY, "FunctionDef"), ("gradient", 2, MANY, "GradientDef")],
    "GradientDef": [("function_name", 1, ONE, STRING), ("gradient_func", 2, ONE, STRING)],
    "FunctionDef": [
        ("signature", 1, ONE, "OpDef"), ("attr", 5, MAP, (STRING, "AttrValue")),
        ("arg_attr", 7, MAP, (UINT32, "FunctionDef.ArgAttrs")), ("resource_arg_unique_id", 8, MAP, (UINT32, UINT32)),
        ("node_def", 3, MANY, "NodeDef"), ("ret", 4, MAP, (STRING, STRING)),
        ("control_ret", 6, MAP, (STRING, STRING))],
    "FunctionDef.ArgAttrs": [("attr", 1, MAP, (STRING, "AttrValue"))],
    "OpDef": [
        ("name", 1, ONE, STRING), ("input_arg", 2, MANY, "OpDef.ArgDef"), ("output_arg", 3, MANY, "OpDef.ArgDef"),
        ("control_output", 20, MANY, STRING), ("attr", 4, MANY, "OpDef.AttrDef"), ("summary", 5, ONE, STRING),
        ("description", 6, ONE, STRING), ("is_commutative", 18, ONE, BOOL), ("is_aggregate", 16, ONE, BOOL),
        ("is_stateful", 17, ONE, BOOL), ("allows_uninitialized_input", 19, ONE, BOOL),
        ("is_distributed_communication", 21, ONE, BOOL)],
    "OpDef.ArgDef": [
        ("name", 1, ONE, STRING), ("description", 2, ONE, STRING), ("type", 3, ONE, "DataType"),
        ("type_attr", 4, ONE, STRING), ("number_attr", 5, ONE, STRING), ("type_list_attr", 6, ONE, STRING),
        ("is_ref", 16, ONE, BOOL)],
    "OpDef.AttrDef": [
        ("name", 1, ONE, STRING), ("type", 2, ONE, STRING), ("default_value", 3, ONE, "AttrValue"),
        ("description", 4, ONE, STRING), ("has_minimum", 5, ONE, BOOL), ("minimum", 6, ONE, INT64),
        ("allowed_values", 7, ONE, "AttrValue")],
    "OpList": [("op", 1, MANY, "OpDef")],
    # meta_graph.proto, saver.proto, saved_model.proto
    "SavedModel": [("saved_model_schema_version", 1, ONE, INT64), ("meta_graphs", 2, MANY, "MetaGraphDef")],
    "MetaGraphDef": [
        ("meta_info_def", 1, ONE, "MetaGraphDef.MetaInfoDef"), ("graph_def", 2, ONE, "GraphDef"),
        ("saver_def", 3, ONE, "SaverDef"), ("collection_def", 4, MAP, (STRING, "CollectionDef")),
        ("signature_def", 5, MAP, (STRING, "SignatureDef")), ("asset_file_def", 6, MANY, "AssetFileDef"),
        ("object_graph_def", 7, ONE, "SavedObjectGraph")],
    "MetaGraphDef.MetaInfoDef": [
        ("meta_graph_version", 1, ONE, STRING), ("stripped_op_list", 2, ONE, "OpList"), ("tags", 4, MANY, STRING),
        ("tensorflow_version", 5, ONE, STRING), ("tensorflow_git_version", 6, ONE, STRING),
        ("stripped_default_attrs", 7, ONE, BOOL), ("function_aliases", 8, MAP, (STRING, STRING))],
    "CollectionDef": [
        ("node_list", 1, ONE, "CollectionDef.NodeList", "kind"),
        ("bytes_list", 2, ONE, "CollectionDef.BytesList", "kind"),
        ("int64_list", 3, ONE, "CollectionDef.Int64List", "kind"),
        ("float_list", 4, ONE, "CollectionDef.FloatList", "kind")],
    "CollectionDef.NodeList": [("value", 1, MANY, STRING)],
    "CollectionDef.BytesList": [("value", 1, MANY, BYTES)],
    "CollectionDef.Int64List": [("value", 1, MANY, INT64)],
    "CollectionDef.FloatList": [("value", 1, MANY, FLOAT)],
    "TensorInfo": [
        ("name", 1, ONE, STRING, "encoding"), ("coo_sparse", 4, ONE, "TensorInfo.CooSparse", "encoding"),
        ("dtype", 2, ONE, "DataType"), ("tensor_shape", 3, ONE, "TensorShapeProto")],
    "TensorInfo.CooSparse": [("values_tensor_name", 1, ONE, STRING), ("indices_tensor_name", 2, ONE, STRING),
                             ("dense_shape_tensor_name", 3, ONE, STRING)],
    "SignatureDef": [
        ("inputs", 1, MAP, (STRING, "TensorInfo")), ("outputs", 2, MAP, (STRING, "TensorInfo")),
        ("method_name", 3, ONE, STRING), ("defaults", 4, MAP, (STRING, "TensorProto"))],
    "AssetFileDef": [("tensor_info", 1, ONE, "TensorInfo"), ("filename", 2, ONE, STRING)],
    "SaverDef": [
        ("filename_tensor_name", 1, ONE, STRING), ("save_tensor_name", 2, ONE, STRING),
        ("restore_op_name", 3, ONE, STRING), ("max_to_keep", 4, ONE, INT32), ("sharded", 5, ONE, BOOL),
        ("keep_checkpoint_every_n_hours", 6, ONE, FLOAT), ("version", 7, ONE, "SaverDef.CheckpointFormatVersion")],
    # saved_object_graph.proto: what the frontend reads of it
    "SavedObjectGraph": [("nodes", 1, MANY, "SavedObject"),
                         ("concrete_functions", 2, MAP, (STRING, "SavedConcreteFunction"))],
    "SavedObject": [
        ("children", 1, MANY, "TrackableObjectGraph.TrackableObject.ObjectReference"),
        ("dependencies", 15, MANY, "TrackableObjectGraph.TrackableObject.ObjectReference"),
        ("slot_variables", 3, MANY, "TrackableObjectGraph.TrackableObject.SlotVariableReference"),
        ("user_object", 4, ONE, "SavedUserObject", "kind"), ("asset", 5, ONE, "SavedAsset", "kind"),
        ("function", 6, ONE, "SavedFunction", "kind"), ("variable", 7, ONE, "SavedVariable", "kind"),
        ("bare_concrete_function", 8, ONE, "SavedBareConcreteFunction", "kind"),
        ("constant", 9, ONE, "SavedConstant", "kind"), ("resource", 10, ONE, "SavedResource", "kind"),
        ("captured_tensor", 12, ONE, "CapturedTensor", "kind"),
        ("saveable_objects", 11, MAP, (STRING, "SaveableObject")), ("registered_name", 13, ONE, STRING),
        ("registered_saver", 16, ONE, STRING)],
    "SavedUserObject": [("identifier", 1, ONE, STRING), ("version", 2, ONE, "VersionDef"),
                        ("metadata", 3, ONE, STRING)],
    "SavedAsset": [("asset_file_def_index", 1, ONE, INT32)],
    "SavedFunction": [("concrete_functions", 1, MANY, STRING)],
    "SavedConcreteFunction": [("bound_inputs", 2, MANY, INT32)],
    "SavedBareConcreteFunction": [("concrete_function_name", 1, ONE, STRING),
                                  ("argument_keywords", 2, MANY, STRING),
                                  ("allowed_positional_arguments", 3, ONE, INT64)],
    "SavedConstant": [("operation", 1, ONE, STRING)],
    "SavedVariable": [
        ("dtype", 1, ONE, "DataType"), ("shape", 2, ONE, "TensorShapeProto"), ("trainable", 3, ONE, BOOL),
        ("name", 6, ONE, STRING), ("device", 7, ONE, STRING)],
    "SavedResource": [("device", 1, ONE, STRING)],
    "CapturedTensor": [("name", 1, ONE, STRING), ("concrete_function", 2, ONE, STRING)],
    "SaveableObject": [("save_function", 2, ONE, INT32), ("restore_function", 3, ONE, INT32)],
    # trackable_object_graph.proto (the checkpoint's object graph)
    "TrackableObjectGraph": [("nodes", 1, MANY, "TrackableObjectGraph.TrackableObject")],
    "TrackableObjectGraph.TrackableObject": [
        ("children", 1, MANY, "TrackableObjectGraph.TrackableObject.ObjectReference"),
        ("attributes", 2, MANY, "TrackableObjectGraph.TrackableObject.SerializedTensor"),
        ("slot_variables", 3, MANY, "TrackableObjectGraph.TrackableObject.SlotVariableReference")],
    "TrackableObjectGraph.TrackableObject.ObjectReference": [("node_id", 1, ONE, INT32),
                                                             ("local_name", 2, ONE, STRING)],
    "TrackableObjectGraph.TrackableObject.SerializedTensor": [
        ("name", 1, ONE, STRING), ("full_name", 2, ONE, STRING), ("checkpoint_key", 3, ONE, STRING)],
    "TrackableObjectGraph.TrackableObject.SlotVariableReference": [
        ("original_variable_node_id", 1, ONE, INT32), ("slot_name", 2, ONE, STRING),
        ("slot_variable_node_id", 3, ONE, INT32)],
    # variable.proto (a TF1 MetaGraph's "variables" collection: what TF's default Saver restores)
    "VariableDef": [("variable_name", 1, ONE, STRING), ("save_slice_info_def", 4, ONE, "SaveSliceInfoDef"),
                    ("is_resource", 5, ONE, BOOL)],
    "SaveSliceInfoDef": [("full_name", 1, ONE, STRING), ("full_shape", 2, MANY, INT64),
                         ("var_offset", 3, MANY, INT64), ("var_shape", 4, MANY, INT64)],
    # tensor_bundle.proto (the variables.index values)
    "BundleHeaderProto": [("num_shards", 1, ONE, INT32), ("endianness", 2, ONE, "BundleHeaderProto.Endianness"),
                          ("version", 3, ONE, "VersionDef")],
    "BundleEntryProto": [
        ("dtype", 1, ONE, "DataType"), ("shape", 2, ONE, "TensorShapeProto"), ("shard_id", 3, ONE, INT32),
        ("offset", 4, ONE, INT64), ("size", 5, ONE, INT64), ("crc32c", 6, ONE, FIXED32),
        ("slices", 7, MANY, "TensorSliceProto")],
}

PACKAGE = "tensorflow"
_SCHEMA = Schema("tfjsconv/savedmodel_schema.proto", PACKAGE, "proto3", MESSAGES, ENUMS)
POOL = _SCHEMA.pool


def message_class(name: str) -> type:
    """The message class of ``tensorflow.<name>`` (nested names with dots: ``OpDef.ArgDef``)."""
    return _SCHEMA.message(name)


DATA_TYPE = POOL.FindEnumTypeByName(f"{PACKAGE}.DataType")

SavedModel = message_class("SavedModel")
MetaGraphDef = message_class("MetaGraphDef")
GraphDef = message_class("GraphDef")
NodeDef = message_class("NodeDef")
AttrValue = message_class("AttrValue")
NameAttrList = message_class("NameAttrList")
TensorProto = message_class("TensorProto")
TensorShapeProto = message_class("TensorShapeProto")
FunctionDefLibrary = message_class("FunctionDefLibrary")
FunctionDef = message_class("FunctionDef")
OpDef = message_class("OpDef")
SignatureDef = message_class("SignatureDef")
TensorInfo = message_class("TensorInfo")
SaverDef = message_class("SaverDef")
SavedObjectGraph = message_class("SavedObjectGraph")
TrackableObjectGraph = message_class("TrackableObjectGraph")
VariableDef = message_class("VariableDef")
BundleHeaderProto = message_class("BundleHeaderProto")
BundleEntryProto = message_class("BundleEntryProto")
TensorSliceProto = message_class("TensorSliceProto")


def data_type_name(number: int) -> str | None:
    """``DT_FLOAT`` for 1; None for a number TensorFlow does not define."""
    value = DATA_TYPE.values_by_number.get(number)
    return value.name if value is not None else None
