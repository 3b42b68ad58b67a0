"""Hash tables: the tables a model captured become TF.js's ``modelInitializer`` graph.

A frozen function reads each table through a resource Placeholder. TF.js creates tables once at
load time by running ``modelInitializer``; its outputs (``initializerSignature``) and the
Placeholders (``signature.inputs``) share a ``resourceId``, which is how TF.js feeds one into the
other. The table contents are read back from the live table with the public ``LookupTableExportV2``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, Node
from tfjsconv.tfjs_strings import strings_tfjs_alters

TABLE_READERS = ("LookupTableFindV2", "LookupTableSizeV2", "LookupTableFind", "LookupTableSize")


@dataclasses.dataclass
class TableContents:
    """A table's contents already read (a TF1 session's table, :mod:`.freeze_v1`), not a live handle."""

    keys: Any
    values: Any


#: Ops that hand a table handle on unchanged: TF.js keeps the handle tensor (``tfc.keep``), so its ``Switch``
#: (a lookup inside a lowered ``tf.cond``) passes the same tensor, whose id names the table (checked in TF.js
#: by tests/test_savedmodel_tf_loader_resources.py; a loop's lookup reads the handle with no Enter between).
HANDLE_FORWARDING = frozenset({"Identity", "Switch"})


def _table_dtypes(graph: Graph, placeholder: Node) -> tuple[DType, DType]:
    handles = {placeholder}
    for node in graph.topological_order():  # the handle may pass through Identity and Switch nodes
        if node.op in HANDLE_FORWARDING and node.inputs and node.inputs[0].producer in handles:
            handles.add(node)
    for node in graph:
        if node.op in ("LookupTableFindV2", "LookupTableFind") and node.inputs and node.inputs[0].producer in handles:
            return node.attrs["Tin"], node.attrs["Tout"]
    users = sorted({n.op for n in graph if any(v.producer is placeholder for v in n.inputs)})
    raise InputError(f"resource input {placeholder.name} is used by {', '.join(users) or 'nothing'}, "
                     "not by hash-table lookups (LookupTableFindV2)")


def export_table(handle: Any, key_dtype: DType, value_dtype: DType, name: str) -> tuple[Any, Any]:
    """(keys, values) of a live hash table as numpy arrays."""
    import tensorflow as tf

    try:
        keys, values = tf.raw_ops.LookupTableExportV2(table_handle=handle, Tkeys=tf.as_dtype(key_dtype.numpy
                                                      if key_dtype is not DType.STRING else tf.string),
                                                      Tvalues=tf.as_dtype(value_dtype.numpy
                                                      if value_dtype is not DType.STRING else tf.string))
    except Exception as err:
        raise InputError(f"cannot read the contents of resource {name} (only hash tables can be converted): {err}") from None
    return keys.numpy(), values.numpy()


def attach_hash_tables(graph: Graph, resources: dict[str, Any]) -> int:
    """Move every captured table into ``graph.initializer``; return how many there were."""
    placeholders = [n for n in graph if n.op == "Placeholder" and n.attrs.get("dtype") is DType.RESOURCE
                    and n.outputs[0] not in graph.inputs.values()]
    if not placeholders:
        return 0
    init = graph.initializer or Graph(f"{graph.name}_initializer")
    contents, unbound = {}, []
    for placeholder in placeholders:  # every resource that cannot be bound named in one error
        if placeholder.name not in resources:
            unbound.append(f"{placeholder.name} is not bound to any table or variable")
            continue
        try:
            key_dtype, value_dtype = _table_dtypes(graph, placeholder)
        except InputError as why:
            unbound.append(why.message)
            continue
        resource = resources[placeholder.name]
        if isinstance(resource, TableContents):
            keys, values = resource.keys, resource.values
        else:
            keys, values = export_table(resource, key_dtype, value_dtype, placeholder.name)
        contents[placeholder.name] = (keys, values, key_dtype, value_dtype)
    if unbound:
        more = f"; ... and {len(unbound) - 5} more" if len(unbound) > 5 else ""
        raise InputError(f"{len(unbound)} resource input(s) cannot be converted: {'; '.join(unbound[:5])}{more}",
                         hint="only static hash tables (read by LookupTableFindV2/LookupTableSizeV2) become TF.js "
                              "tables")
    refuse_altered_strings(contents)  # every such table named at once
    for resource_id, placeholder in enumerate(placeholders):
        graph.initializer = init
        bind_table(graph, placeholder, *contents[placeholder.name], resource_id)
    return len(placeholders)


def bind_table(graph: Graph, placeholder: Node, keys: Any, values: Any, key_dtype: DType, value_dtype: DType,
               resource_id: int) -> None:
    """Create a table of ``keys -> values`` in ``graph.initializer`` and feed it to resource ``placeholder``.

    The initializer's output and the placeholder (a signature input) share ``resource_id``, which is how
    TF.js hands the table it built at load time to the model.
    """
    refuse_altered_strings({placeholder.name: (keys, values, key_dtype, value_dtype)})
    init = graph.initializer
    if init is None:
        init = graph.initializer = Graph(f"{graph.name}_initializer")
    base = f"{placeholder.name}_init"
    table = init.add_node("HashTableV2", (), {
        "key_dtype": key_dtype, "value_dtype": value_dtype, "container": "", "shared_name": "",
        "use_node_name_sharing": False}, name=_free(graph, init, f"{base}/table"))
    table.output(0).dtype = DType.RESOURCE
    table.output(0).shape = ()
    key_const = init.const(keys, name=_free(graph, init, f"{base}/keys"), dtype=key_dtype)
    value_const = init.const(values, name=_free(graph, init, f"{base}/values"), dtype=value_dtype)
    load = init.add_node("LookupTableImportV2", (table.output(0), key_const, value_const),
                         {"Tin": key_dtype, "Tout": value_dtype}, name=_free(graph, init, f"{base}/import"),
                         num_outputs=0)
    handle = init.add_op("Identity", (table.output(0),), {"T": DType.RESOURCE},
                         name=_free(graph, init, f"{base}/handle"), dtype=DType.RESOURCE, shape=())
    handle.producer.control_inputs.append(load)
    init.set_output(handle.producer.name, handle)
    init.resource_ids[handle.producer.name] = resource_id
    graph.inputs[placeholder.name] = placeholder.output(0)
    graph.resource_ids[placeholder.name] = resource_id


def refuse_altered_strings(tables: dict[str, tuple[Any, Any, DType, DType]]) -> None:
    """Refuse, naming every table at once, tables (name -> keys, values, key and value dtypes) holding
    strings TF.js would alter: its lookups would answer differently from TensorFlow's."""
    found = []
    for name, (keys, values, key_dtype, value_dtype) in tables.items():
        for role, array, dtype in (("key", keys, key_dtype), ("value", values, value_dtype)):
            altered = strings_tfjs_alters(array) if dtype is DType.STRING else []
            if altered:
                more = f" and {len(altered) - 3} more" if len(altered) > 3 else ""
                found.append(f"table {name}: {len(altered)} {role}(s) ({', '.join(repr(a[:40]) for a in altered[:3])}"
                             f"{more})")
    if found:
        raise InputError(f"TF.js would read these table strings altered (not UTF-8, or starting with a byte-order "
                         f"mark): {'; '.join(found)}",
                         hint="TF.js decodes strings as UTF-8 and drops a leading BOM, so its lookups would differ "
                              "from TensorFlow's; e.g. remove the BOM from the vocabulary file")


def _free(graph: Graph, init: Graph, base: str) -> str:
    """A name free in both graphs: TF.js keeps their weights in one map."""
    name, i = base, 0
    while name in graph or name in init:
        i += 1
        name = f"{base}_{i}"
    return name
