"""Hash tables of a SavedModel read from its files, without TensorFlow, into TF.js's ``modelInitializer``.

The TF path (:mod:`.tables`) exports each live table the signature reads. Here nothing runs:

1. each ``HashTableV2`` of the MetaGraph becomes a resource Placeholder of the same name
   (:attr:`TableSource.graph_def`), as :mod:`.freeze_v1` does, so the signature's closure, the
   inliner and the passes see what the TF path's frozen graph has;
2. the tables' contents come from what the SavedModel's init op runs (the ``__saved_model_init_op``
   signature; the ``saved_model_main_op``, ``legacy_init_op`` and ``table_initializer`` collections),
   followed into the functions it calls (TF2's ``_initialize``): ``LookupTableImportV2`` /
   ``InitializeTableV2`` of constants, ``InitializeTableFromTextFileV2`` of an asset file, which must
   lie inside the SavedModel's ``assets/`` folder (:mod:`.text_file_table` reads it as TF does);
3. :func:`.tables.attach_hash_tables`, the TF path's own, builds ``modelInitializer`` from them.

A table whose initializer computes its keys or values (anything but constants, ``Identity`` and the
asset variable) raises :class:`NotTfFree` (``hash_table``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph

from .graphdef_ir import NotTfFree, dtype_from_enum, tensor_from_proto
from .tables import TableContents, attach_hash_tables
from .text_file_table import as_arrays, text_file_contents

#: Tables TF.js can hold (its only table op is HashTableV2).
STATIC_TABLES = frozenset({"HashTableV2"})
#: Ops that fill a table from a keys and a values tensor.
FROM_TENSORS = frozenset({"LookupTableImportV2", "InitializeTableV2"})
FROM_TEXT_FILE = "InitializeTableFromTextFileV2"
#: Where a MetaGraph names the ops the loader (or a TF1 hub module) runs after restoring.
INIT_SIGNATURE = "__saved_model_init_op"
INIT_COLLECTIONS = ("saved_model_main_op", "legacy_init_op", "main_op", "table_initializer")
CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
#: Integer ops on constants a table initializer may apply to its values, computed exactly here.
INDEX_OPS = frozenset({"Range", "Cast", "Size"})
MAX_CALLS = 10_000  # function calls followed from the init op (a guard against call trees that explode)
DT_RESOURCE = 20


@dataclasses.dataclass
class _Scope:
    """The outer graph (``caller`` None) or one call of a function, its arguments bound to the caller's inputs."""

    nodes: dict[str, Any]
    name: str
    caller: _Scope | None = None
    args: dict[str, str] = dataclasses.field(default_factory=dict)
    chain: tuple[str, ...] = ()  # the functions being called, outermost first


@dataclasses.dataclass(frozen=True)
class _Table:
    name: str


@dataclasses.dataclass(frozen=True)
class _Asset:
    filename: str


def _node_name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def _as_placeholder(node_def: Any) -> Any:
    """A resource Placeholder named like ``node_def`` (a table), as the TF path's frozen graph has."""
    placeholder = type(node_def)()
    placeholder.name, placeholder.op = node_def.name, "Placeholder"
    placeholder.attr["dtype"].type = DT_RESOURCE
    placeholder.attr["shape"].shape.SetInParent()
    return placeholder


class _Nodes:
    """The outer graph as :func:`.tf_free.signature_nodes` reads it: only ``node``."""

    def __init__(self, node: list[Any]) -> None:
        self.node = node


class TableSource:
    """The MetaGraph's static hash tables: the outer graph with them as Placeholders, and their contents."""

    def __init__(self, path: Path, meta_graph: Any) -> None:
        graph_def = meta_graph.graph_def
        self.path, self.meta_graph = path, meta_graph
        self.tables = {n.name: n for n in graph_def.node if n.op in STATIC_TABLES}
        self.graph_def = graph_def if not self.tables else _Nodes(
            [_as_placeholder(n) if n.name in self.tables else n for n in graph_def.node])
        self._outer = _Scope({n.name: n for n in graph_def.node}, "the MetaGraph")
        self._functions = {f.signature.name: f for f in graph_def.library.function}
        self._assets = {_node_name(a.tensor_info.name): a.filename for a in meta_graph.asset_file_def}
        self._calls = 0

    def attach(self, graph: Graph) -> int:
        """Move the tables ``graph`` reads into its ``modelInitializer``; how many there were."""
        used = [n.name for n in graph if n.op == "Placeholder" and n.name in self.tables
                and n.attrs.get("dtype") is DType.RESOURCE]
        if not used:
            return 0
        writes = self._initializers()
        return attach_hash_tables(graph, {name: self._contents(name, writes.get(name, [])) for name in used})

    def check(self, roots: list[Any], refusals: Any) -> None:
        """Read the contents of every table ``roots`` (the signature's outer NodeDefs) use; what the reader
        cannot fill is kept in ``refusals`` (:class:`.refusals.Refusals`), every table checked."""
        used = [n.name for n in roots if n.op == "Placeholder" and n.name in self.tables]
        writes = refusals.check(self._initializers) if used else None
        for name in used if writes is not None else []:
            refusals.check(self._contents, name, writes.get(name, []))

    # -- finding what fills each table ---------------------------------------------------------------
    def _init_roots(self) -> list[str]:
        names = []
        signatures = self.meta_graph.signature_def
        if INIT_SIGNATURE in signatures:
            names += [t.name for t in signatures[INIT_SIGNATURE].outputs.values()]
        for key in INIT_COLLECTIONS:
            if key in self.meta_graph.collection_def:
                names += list(self.meta_graph.collection_def[key].node_list.value)
        return [_node_name(n) for n in names]

    def _initializers(self) -> dict[str, list[tuple[_Scope, Any]]]:
        """Table name -> the ops (with their scope) that the init ops run to fill it."""
        writes: dict[str, list[tuple[_Scope, Any]]] = {}
        self._calls = 0
        pending, seen = self._init_roots(), set()
        while pending:
            name = pending.pop()
            node = self._outer.nodes.get(name)
            if name in seen or node is None:
                continue
            seen.add(name)
            self._visit(self._outer, node, writes)
            pending.extend(_node_name(ref) for ref in node.input)
        return writes

    def _visit(self, scope: _Scope, node: Any, writes: dict[str, list[tuple[_Scope, Any]]]) -> None:
        if node.op in FROM_TENSORS or node.op == FROM_TEXT_FILE:
            try:
                table = self._resolve(scope, node.input[0])
            except NotTfFree:
                return  # fills something other than a table of the outer graph
            if isinstance(table, _Table):
                writes.setdefault(table.name, []).append((scope, node))
            return
        callee = node.attr["f"].func.name if node.op in CALLS else node.op
        fdef = self._functions.get(callee)
        if fdef is None:
            return
        if callee in scope.chain:
            raise InputError(f"function {callee} of the SavedModel's init op is recursive (it calls itself "
                             f"through {' -> '.join(scope.chain[scope.chain.index(callee):])})",
                             hint="saved_model.pb is corrupt or hand-made")
        self._calls += 1
        if self._calls > MAX_CALLS:
            raise NotTfFree("hash_table", f"the init op makes more than {MAX_CALLS} function calls")
        inputs = [ref for ref in node.input if not ref.startswith("^")]
        body = _Scope({n.name: n for n in fdef.node_def}, f"function {callee}", scope,
                      {arg.name: ref for arg, ref in zip(fdef.signature.input_arg, inputs)}, (*scope.chain, callee))
        for inner in fdef.node_def:
            self._visit(body, inner, writes)

    def _resolve(self, scope: _Scope, ref: str) -> _Table | _Asset | np.ndarray:
        """What an initializer's input is: a table of the outer graph, an asset file or a constant."""
        for _ in range(10_000):  # Identity chains
            name = _node_name(ref)
            if scope.caller is not None and ":" not in ref and name in scope.args:
                scope, ref = scope.caller, scope.args[name]
                continue
            node = scope.nodes.get(name)
            if node is None:
                raise InputError(f"{scope.name} reads {ref!r}, which is not there: the SavedModel is corrupt")
            if scope.caller is None and name in self._assets:
                return _Asset(self._assets[name])
            if scope.caller is None and node.op in STATIC_TABLES:
                return _Table(name)
            if node.op == "Const":
                return tensor_from_proto(node.attr["value"].tensor)
            if node.op in INDEX_OPS:  # index_table_from_tensor: Cast(Range(0, Size(keys), 1))
                return _index_op(node, [self._resolve(scope, r) for r in node.input if not r.startswith("^")],
                                 scope.name)
            if node.op == "Identity":
                ref = node.input[0]
            elif node.op == "ReadVariableOp" and scope.caller is None:
                ref = self._assigned(node.input[0])  # TF2 keeps an asset's path in a variable
            else:
                raise NotTfFree("hash_table", f"a table initializer reads {node.op} ({name}) in {scope.name}; "
                                "only constants and asset files are read without TensorFlow")
        raise InputError("a table initializer reads an endless chain of Identity ops")

    def _assigned(self, handle_ref: str) -> str:
        """The value the outer graph assigns to the variable ``handle_ref`` (exactly one assignment)."""
        handle = _node_name(handle_ref)
        values = [n.input[1] for n in self._outer.nodes.values()
                  if n.op == "AssignVariableOp" and n.input and _node_name(n.input[0]) == handle]
        if len(values) != 1:
            raise NotTfFree("hash_table", f"a table initializer reads variable {handle}, assigned "
                            f"{len(values)} times in the MetaGraph")
        return values[0]

    # -- contents -------------------------------------------------------------------------------------
    def _contents(self, name: str, writes: list[tuple[_Scope, Any]]) -> TableContents:
        if not writes:
            raise NotTfFree("hash_table", f"no initializer of table {name} found in the SavedModel's init op")
        table = self.tables[name]
        key_dtype, value_dtype = (dtype_from_enum(table.attr[a].type) for a in ("key_dtype", "value_dtype"))
        if key_dtype is None or value_dtype is None:
            raise NotTfFree("hash_table", f"table {name} has key or value types the IR lacks")
        results = [self._fill(name, scope, node, key_dtype, value_dtype) for scope, node in writes]
        first = results[0]
        if any(not (_same(first.keys, r.keys) and _same(first.values, r.values)) for r in results[1:]):
            raise NotTfFree("hash_table", f"table {name} is filled by {len(results)} different initializers")
        return first

    def _fill(self, name: str, scope: _Scope, node: Any, key_dtype: DType, value_dtype: DType) -> TableContents:
        where = f"table {name} ({node.op} {node.name} in {scope.name})"
        if node.op == FROM_TEXT_FILE:
            source = self._resolve(scope, node.input[1])
            if not isinstance(source, _Asset):
                raise InputError(f"{where} reads a file that is not one of the SavedModel's assets",
                                 hint="the files a SavedModel reads must be in its assets/ folder")
            attr = node.attr
            keys, values = text_file_contents(
                self._asset_file(source.filename, where), key_dtype=key_dtype, value_dtype=value_dtype,
                key_index=int(attr["key_index"].i), value_index=int(attr["value_index"].i),
                vocab_size=int(attr["vocab_size"].i) if "vocab_size" in attr else -1,
                delimiter=attr["delimiter"].s if "delimiter" in attr else b"\t",
                offset=int(attr["offset"].i) if "offset" in attr else 0, where=where)
            return TableContents(keys, values)
        keys, values = (self._resolve(scope, ref) for ref in node.input[1:3])
        if not isinstance(keys, np.ndarray) or not isinstance(values, np.ndarray):
            raise NotTfFree("hash_table", f"{where} does not read constant keys and values")
        return TableContents(*_unique(keys, values, key_dtype, value_dtype, where))

    def _asset_file(self, filename: str, where: str) -> Path:
        """``assets/<filename>``; a name that leaves that folder (``..``, absolute, a symlink out) is an error."""
        assets = self.path / "assets"
        relative = PurePosixPath(filename)
        outside = InputError(f"{where} reads the asset file {filename!r}, which is outside the SavedModel's "
                             "assets/ folder", hint="a SavedModel may only read files inside its assets/ folder")
        if not filename or relative.is_absolute() or ".." in relative.parts or Path(filename).is_absolute():
            raise outside
        file = assets / filename
        try:
            resolved, root = file.resolve(strict=True), assets.resolve(strict=True)
        except (OSError, RuntimeError):
            raise InputError(f"{where} reads the asset file {filename!r}, which is missing from "
                             f"{assets}", hint="copy the whole SavedModel folder, assets/ included") from None
        if not resolved.is_relative_to(root) or not resolved.is_file():
            raise outside
        if not root.is_relative_to(self.path.resolve()):  # assets/ itself a symlink out of the SavedModel
            raise outside
        return resolved


def _unique(keys: np.ndarray, values: np.ndarray, key_dtype: DType, value_dtype: DType,
            where: str) -> tuple[np.ndarray, np.ndarray]:
    """The pairs as TF's HashTable inserts them: a repeated key keeps its first value, a different
    value for it is TF's own load error."""
    for role, array, dtype in (("keys", keys, key_dtype), ("values", values, value_dtype)):
        actual = DType.STRING if array.dtype == object else DType.from_any(array.dtype)
        if actual is not dtype:
            raise InputError(f"{where}: its {role} are {actual.name.lower()}, the table holds {dtype.name.lower()}")
    if keys.size != values.size:
        raise InputError(f"{where}: {keys.size} keys but {values.size} values")
    table: dict[object, object] = {}
    for key, value in zip(keys.reshape(-1).tolist(), values.reshape(-1).tolist()):
        if table.setdefault(key, value) is not value and table[key] != value:  # NaN: a first NaN is fine
            raise InputError(f"{where}: key {key!r} has two values ({table[key]!r} and {value!r}); "
                             "TensorFlow refuses to load such a table")
    if len(table) == keys.size:
        return keys.reshape(-1), values.reshape(-1)
    return as_arrays(list(table), list(table.values()), key_dtype, value_dtype)


def _index_op(node: Any, inputs: list, where: str) -> np.ndarray:
    """``Range``, ``Cast`` of integer constants and ``Size`` of a constant, exactly as TF computes them; anything
    else (floats, strings, a value that does not fit) is NotTfFree."""
    if not all(isinstance(v, np.ndarray) and (v.dtype.kind in "iu" or node.op == "Size") for v in inputs):
        raise NotTfFree("hash_table", f"a table initializer applies {node.op} ({node.name}) in {where} to "
                        "something other than integer constants")
    attr = node.attr
    if node.op == "Size":
        out = dtype_from_enum(attr["out_type"].type) if "out_type" in attr else DType.INT32
        return np.asarray(inputs[0].size, dtype=out.numpy)
    if node.op == "Range":
        start, limit, delta = (int(v) for v in inputs)
        if delta == 0:
            raise InputError(f"Range {node.name} in {where} has a zero step")
        return np.arange(start, limit, delta, dtype=inputs[0].dtype)
    target = dtype_from_enum(attr["DstT"].type)
    if target not in (DType.INT32, DType.INT64):
        raise NotTfFree("hash_table", f"a table initializer casts to {target} ({node.name}) in {where}")
    info = np.iinfo(target.numpy)
    if inputs[0].size and not info.min <= int(inputs[0].min()) <= int(inputs[0].max()) <= info.max:
        raise NotTfFree("hash_table", f"a table initializer's cast {node.name} in {where} wraps around")
    return inputs[0].astype(target.numpy)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(a == b))
