"""A TF1 SavedModel with hash tables, frozen in a TF1 session (as the official converter does).

``tf.saved_model.load`` wraps a TF1 signature in a function that creates its tables itself (by
shared name, filled by the ``main_op``/``legacy_init_op`` the loader ran), and
``convert_variables_to_constants_v2`` cannot freeze that. A TF1 session can: the loader restores
the variables and runs the table initializer; ``convert_variables_to_constants`` freezes what the
signature's outputs read (so a table no output reads is dropped); each table the outputs do read
is exported from the session and its ``HashTableV2`` becomes a resource Placeholder, which
:func:`.tables.attach_hash_tables` moves into ``modelInitializer`` as on the TF2 path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tfjsconv.errors import InputError

from . import grappler
from .freeze import FrozenFunction, import_graph_def
from .tables import TableContents

#: Ops that create a hash table the converter can export (TF.js has HashTableV2 only).
TABLE_OPS = frozenset({"HashTableV2"})
#: Table ops of the TF1 graph whose presence makes the TF2 loader unable to freeze it.
ANY_TABLE_OPS = frozenset({"HashTableV2", "HashTable", "MutableHashTableV2", "MutableHashTable",
                           "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2"})


def is_tf1_with_tables(meta_graph: Any) -> bool:
    """A TF1 MetaGraph (no object graph) whose graph creates a hash table."""
    if len(meta_graph.object_graph_def.nodes):
        return False
    return any(node.op in ANY_TABLE_OPS for node in meta_graph.graph_def.node)


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def freeze_tf1_session(path: Path, tags: list[str], signature_name: str) -> FrozenFunction:
    """Load the SavedModel in a TF1 session and freeze the signature, tables exported."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as session:
        try:
            meta_graph = tf1.saved_model.loader.load(session, tags, str(path))
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise InputError(f"TensorFlow cannot load the TF1 SavedModel {path}: {first}") from None
        signature = meta_graph.signature_def[signature_name]
        inputs = {key: _tensor_name(signature.inputs[key].name) for key in sorted(signature.inputs)}
        outputs = {key: _tensor_name(signature.outputs[key].name) for key in sorted(signature.outputs)}
        output_nodes = sorted({name.split(":")[0] for name in outputs.values()})
        graph_def = graph.as_graph_def()
        needed = tf1.graph_util.extract_sub_graph(graph_def, output_nodes)
        tables = [node for node in needed.node if node.op in ANY_TABLE_OPS]
        unsupported = sorted({f"{n.op} ({n.name})" for n in tables if n.op not in TABLE_OPS})
        if unsupported:
            raise InputError(f"the signature reads tables TF.js cannot hold: {', '.join(unsupported)}",
                             hint="only static hash tables (HashTableV2) can be converted")
        resources = {node.name: _export(session, graph, node.name, _table_initializers(graph)) for node in tables}
        try:
            frozen = tf1.graph_util.convert_variables_to_constants(session, graph_def, output_nodes)
        except Exception as err:
            raise InputError(f"TensorFlow cannot freeze this TF1 signature: {err}") from None
    frozen = _tables_as_placeholders(frozen, set(resources))
    fetches = [*outputs.values(), *inputs.values()]
    optimized = grappler.optimize(frozen, fetches)
    return FrozenFunction(graph=import_graph_def(optimized), inputs=inputs, outputs=outputs,
                          structured_output_keys=list(outputs), resources=resources, library=optimized.library)


def _table_initializers(graph: Any) -> list[Any]:
    """The graph's ``table_initializer`` collection (TF1 hub modules list theirs there, not in a main_op)."""
    import tensorflow as tf

    return list(graph.get_collection(tf.compat.v1.GraphKeys.TABLE_INITIALIZERS))


def _export(session: Any, graph: Any, name: str, initializers: list[Any]) -> TableContents:
    """The (keys, values) of a table in ``session``; the table initializers run if it is still empty."""
    import tensorflow as tf

    op = graph.get_operation_by_name(name)
    key_dtype, value_dtype = op.get_attr("key_dtype"), op.get_attr("value_dtype")
    with graph.as_default():
        keys, values = tf.raw_ops.LookupTableExportV2(table_handle=op.outputs[0], Tkeys=key_dtype,
                                                      Tvalues=value_dtype)
    try:
        key_array, value_array = session.run([keys, values])
    except Exception as err:  # not initialized by a main_op/legacy_init_op: try the collection
        try:
            if not initializers:
                raise err
            session.run(initializers)
            key_array, value_array = session.run([keys, values])
        except Exception as final:
            first = (str(final).strip().splitlines() or [type(final).__name__])[0]
            raise InputError(f"cannot read hash table {name} (no main_op, legacy_init_op or table "
                             f"initializer fills it): {first}") from None
    return TableContents(key_array, value_array)


def _tables_as_placeholders(graph_def: Any, names: set[str]) -> Any:
    """``graph_def`` with each named table op replaced by a resource Placeholder of the same name."""
    from tensorflow.core.framework import graph_pb2, types_pb2

    out = graph_pb2.GraphDef.FromString(graph_def.SerializeToString())  # also from a schema.GraphDef
    for node in out.node:
        if node.name in names:
            node.op = "Placeholder"
            node.ClearField("attr")
            node.ClearField("input")
            node.attr["dtype"].type = types_pb2.DT_RESOURCE
            node.attr["shape"].shape.SetInParent()
    return out
