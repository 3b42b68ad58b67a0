"""Protobuf message classes built from field tables written in code: no ``.proto`` files, no ``protoc``.

A frontend that reads another framework's protobufs (ONNX's ModelProto, ...) declares only the
fields it uses, under the framework's own field numbers and full names, so its messages are
wire-compatible with the framework's: fields it does not declare are kept as unknown fields (they
survive a parse/serialize round trip) and are never an error. Each schema lives in a private
descriptor pool, so it never clashes with the framework's own classes when both are loaded.

A field is ``(name, number, ONE|MANY|MAP, type[, oneof])``; a type is a scalar constant below, a
message or enum name relative to the package, or for MAP a (key type, value type) pair.
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, BOOL, FLOAT, DOUBLE = _F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_BOOL, _F.TYPE_FLOAT, _F.TYPE_DOUBLE
INT32, INT64, UINT32, UINT64, FIXED32 = _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_FIXED32
ONE, MANY, MAP, PACKED = "optional", "repeated", "map", "packed"
_LABEL = {ONE: _F.LABEL_OPTIONAL, MANY: _F.LABEL_REPEATED, MAP: _F.LABEL_REPEATED, PACKED: _F.LABEL_REPEATED}


class Schema:
    """The messages of one package in a private pool; ``schema.message("GraphProto")`` is a class."""

    def __init__(self, file_name: str, package: str, syntax: str, messages: dict[str, list[tuple]],
                 enums: dict[str, dict[str, int]] | None = None) -> None:
        self.package = package
        self._enums = enums or {}
        self.pool = descriptor_pool.DescriptorPool()
        self.pool.Add(self._file(file_name, syntax, messages))

    def message(self, name: str) -> type:
        """The class of ``<package>.<name>`` (nested names with dots: ``TypeProto.Tensor``)."""
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(f"{self.package}.{name}"))

    def _file(self, file_name: str, syntax: str, messages: dict[str, list[tuple]]) -> descriptor_pb2.FileDescriptorProto:
        file = descriptor_pb2.FileDescriptorProto(name=file_name, package=self.package, syntax=syntax)
        containers: dict[str, descriptor_pb2.DescriptorProto] = {}

        def container(name: str) -> descriptor_pb2.DescriptorProto:
            if name not in containers:
                parent, _, leaf = name.rpartition(".")
                holder = container(parent).nested_type if parent else file.message_type
                containers[name] = holder.add(name=leaf)
            return containers[name]

        for name, fields in messages.items():
            self._add_fields(container(name), name, fields)
        for name, values in self._enums.items():
            parent, _, leaf = name.rpartition(".")
            enum = (container(parent).enum_type if parent else file.enum_type).add(name=leaf)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        return file

    def _set_type(self, field: descriptor_pb2.FieldDescriptorProto, kind: object) -> None:
        if isinstance(kind, int):
            field.type = kind
        elif kind in self._enums:
            field.type, field.type_name = _F.TYPE_ENUM, f".{self.package}.{kind}"
        else:
            field.type, field.type_name = _F.TYPE_MESSAGE, f".{self.package}.{kind}"

    def _add_fields(self, message: descriptor_pb2.DescriptorProto, name: str, fields: list[tuple]) -> None:
        oneofs: list[str] = []
        for spec in fields:
            field_name, number, label, kind = spec[:4]
            field = message.field.add(name=field_name, number=number, label=_LABEL[label])
            if label == MAP:
                entry = message.nested_type.add(name="".join(p.capitalize() for p in field_name.split("_")) + "Entry")
                entry.options.map_entry = True
                for sub_name, sub_number, sub_kind in (("key", 1, kind[0]), ("value", 2, kind[1])):
                    sub = entry.field.add(name=sub_name, number=sub_number, label=_F.LABEL_OPTIONAL)
                    self._set_type(sub, sub_kind)
                field.type, field.type_name = _F.TYPE_MESSAGE, f".{self.package}.{name}.{entry.name}"
            else:
                self._set_type(field, kind)
            if label == PACKED:
                field.options.packed = True
            if len(spec) > 4:
                if spec[4] not in oneofs:
                    oneofs.append(spec[4])
                    message.oneof_decl.add(name=spec[4])
                field.oneof_index = oneofs.index(spec[4])
