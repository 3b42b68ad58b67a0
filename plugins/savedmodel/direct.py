"""A TF2 SavedModel signature straight from its files: no Python objects revived, no weight copies.

``tf.saved_model.load`` rebuilds every object and function of the model and reads every variable
into memory; freezing then copies each weight into a GraphDef, Grappler copies it again, and the
IR makes a fourth copy. For a SavedModel written by ``tf.saved_model.save`` (tf_keras, Keras 3
``model.export()``, TF Hub TF2 modules) none of that is needed:

1. the MetaGraph's ``graph_def`` calls the signature function with the signature's Placeholders and
   one ``VarHandleOp`` per variable;
2. the SavedModel's restore function (``saver_def.restore_op_name``) says which checkpoint key
   fills each ``VarHandleOp``;
3. Grappler inlines the signature function (and lowers While/If) on this weight-free graph;
4. in the IR, each ``VarHandleOp`` becomes a ``Const`` whose value is read from the checkpoint only
   when a pass or the writer needs it (:class:`CheckpointTensor`), and ``ReadVariableOp`` an Identity.

Anything outside that shape (hash tables, TF1 savers, ``--control_flow_v2``, ops that write or
gather through a resource in ways not handled here) raises :class:`NotDirect`, and the caller
falls back to loading the model with TensorFlow (:mod:`.loading` + :mod:`.freeze`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, Node, Value

from .freeze import FrozenFunction, import_graph_def

#: Ops the signature's part of the MetaGraph may hold (everything else goes the slow way).
OUTER_OPS = frozenset({"Placeholder", "VarHandleOp", "StatefulPartitionedCall", "PartitionedCall",
                       "Identity", "IdentityN", "Const"})
#: Ops in the signature's functions that the direct path cannot freeze.
UNSUPPORTED_INNER_OPS = frozenset({
    "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "HashTableV2", "MutableHashTableV2",
    "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2", "VarHandleOp", "VariableV2",
    "ResourceScatterUpdate", "ResourceScatterAdd", "DestroyResourceOp"})
#: Ops that call a function: none may be left after inlining and lowering.
CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall", "While", "StatelessWhile", "If", "StatelessIf",
                      "Case", "StatelessCase"})
#: Ops that forward a resource handle unchanged (their ``T`` becomes the variable's dtype).
FORWARDING_OPS = frozenset({"Identity", "Enter", "Exit", "Switch", "Merge", "NextIteration", "RefEnter"})
#: Grappler on the weight-free graph: inline (and lower control flow), then clean up without fusion.
OPTIMIZERS = ("function", "pruning", "dependency", "constfold", "dependency")


class NotDirect(Exception):
    """This SavedModel needs the TensorFlow loading path; the message (logged at INFO) says why."""


class CheckpointTensor:
    """A variable's value, read from the checkpoint when needed (a :class:`tfjsconv.ir.LazyArray`)."""

    def __init__(self, reader: Any, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.reader, self.key, self.shape, self.dtype = reader, key, shape, dtype

    def load(self) -> np.ndarray:
        try:
            array = np.asarray(self.reader.get_tensor(self.key))
        except InputError as err:  # our reader: corrupt checkpoint (names the variable), missing shard
            raise InputError(f"the SavedModel's variable {self.key} cannot be read: {err.message}",
                             hint=err.hint) from None
        except Exception as err:  # tf.errors.OpError: a corrupt or truncated variables file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise InputError(f"the SavedModel's variable {self.key} cannot be read: {first}",
                             hint="variables/ is corrupt or truncated; copy the whole SavedModel folder again") from None
        return array if array.flags.c_contiguous else np.ascontiguousarray(array)

    def __repr__(self) -> str:
        return f"CheckpointTensor({self.key!r}, shape={self.shape}, dtype={self.dtype})"


def _ref(ref: str) -> tuple[str, int]:
    """A function-body input (``node:out:0``, ``node``, ``arg``) as (node or arg name, output index)."""
    parts = ref.lstrip("^").split(":")
    if len(parts) == 3 and not parts[2].isdigit():  # int() would raise a bare ValueError on a corrupt file
        raise InputError(f"the SavedModel's restore function has a malformed input {ref!r}: the file is corrupt")
    return parts[0], int(parts[-1]) if len(parts) == 3 else 0


def _restore_corrupt(why: str) -> InputError:
    """The restore function cannot fill the variables as written (TF's own restore would fail on it too)."""
    return InputError(f"the SavedModel's restore function is corrupt: {why}")


def _input(node: Any, position: int) -> str:
    """``node``'s ``position``-th input; a node of the restore function lacking it is a corrupt file."""
    if position >= len(node.input):
        raise _restore_corrupt(f"{node.op} {node.name} has {len(node.input)} input(s), not {position + 1}")
    return node.input[position]


def _restored_source(nodes: dict[str, Any], ref: str) -> tuple[str, int]:
    """What ``ref`` (an AssignVariableOp's value) reads past its Identity links, which a corrupt file may
    chain into a cycle (followed naively, that never ends)."""
    source, index = _ref(ref)
    seen: set[str] = set()
    while source in nodes and nodes[source].op == "Identity":
        if source in seen:
            raise _restore_corrupt(f"Identity {source} reads itself through a cycle")
        seen.add(source)
        source, index = _ref(_input(nodes[source], 0))
    return source, index


def _graph_ref(ref: str) -> str:
    """A graph input (``node:1``, ``^node``) as the node name."""
    return ref.lstrip("^").split(":")[0]


def variable_keys(meta_graph: Any) -> dict[str, str]:
    """``VarHandleOp`` name -> checkpoint key, read from the SavedModel's restore function.

    The restore function takes the file prefix and one handle per variable, and does
    ``AssignVariableOp(handle, Identity(RestoreV2(prefix, names, ...)[i]))``; ``names[i]`` is the key.
    """
    graph_def = meta_graph.graph_def
    restore_name = meta_graph.saver_def.restore_op_name
    outer = {n.name: n for n in graph_def.node}
    restore = outer.get(restore_name)
    if restore is None or restore.op not in ("StatefulPartitionedCall", "PartitionedCall"):
        raise NotDirect("the SavedModel has no TF2 restore function (a TF1 saver)")
    functions = {f.signature.name: f for f in graph_def.library.function}
    fdef = functions.get(restore.attr["f"].func.name)
    if fdef is None:
        raise NotDirect("the restore function is missing from the library")
    handle_of_arg = {arg.name: _graph_ref(ref)
                     for arg, ref in zip(fdef.signature.input_arg, restore.input) if not ref.startswith("^")}
    nodes = {n.name: n for n in fdef.node_def}
    keys: dict[str, str] = {}
    for node in fdef.node_def:
        if node.op != "AssignVariableOp":
            continue
        source, index = _restored_source(nodes, _input(node, 1))
        restore_node = nodes.get(source)
        if restore_node is None or restore_node.op != "RestoreV2":
            raise NotDirect(f"variable {node.input[0]} is not restored by RestoreV2")
        names_node = nodes.get(_ref(_input(restore_node, 1))[0])
        if names_node is None or names_node.op != "Const":
            raise NotDirect("RestoreV2 tensor names are not a constant")
        names = names_node.attr["value"].tensor.string_val
        handle = handle_of_arg.get(_ref(node.input[0])[0])
        if handle is not None:
            keys[handle] = _checkpoint_key(names, index, restore_node.name)
    return keys


def _checkpoint_key(names: Any, index: int, restore: str) -> str:
    """The ``index``-th tensor name of RestoreV2 ``restore``: a UTF-8 key the checkpoint holds."""
    if index >= len(names):
        raise _restore_corrupt(f"{restore} restores {len(names)} tensor(s), a variable reads output {index}")
    try:
        return names[index].decode("utf-8")
    except UnicodeDecodeError:
        raise _restore_corrupt(f"{restore}'s tensor name {names[index][:60]!r} is not UTF-8") from None


def functions_called(node: Any) -> list[str]:
    """The op and every ``func`` attr of ``node``: the names it may call (filter by the library's names)."""
    names = [node.op]
    for value in node.attr.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            names.append(value.func.name)
        elif kind == "list":
            names.extend(f.name for f in value.list.func)
    return names


def walk_functions(roots: list[Any], functions: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(name, FunctionDef)`` of every library function ``roots`` (NodeDefs) call, transitively, each
    once, depth first; a body's own calls are followed after the caller has been yielded."""
    seen: set[str] = set()
    stack = [name for node in roots for name in functions_called(node) if name in functions]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        yield name, functions[name]
        stack.extend(n for node in functions[name].node_def for n in functions_called(node)
                     if n in functions and n not in seen)


def reachable_library(graph_def: Any, roots: list[Any]) -> Any:
    """The functions ``roots`` (NodeDefs) call, transitively, with ``api_implements`` dropped.

    ``api_implements`` lets Grappler swap in a device-specific body (the CuDNN LSTM); TF's own
    freezing drops it too so that every call gets inlined.
    """
    from tensorflow.core.framework import function_pb2

    functions = {f.signature.name: f for f in graph_def.library.function}
    seen: list[str] = []
    for name, fdef in walk_functions(roots, functions):
        seen.append(name)
        for node in fdef.node_def:
            if node.op in UNSUPPORTED_INNER_OPS:
                raise NotDirect(f"function {name} uses {node.op}")
    library = function_pb2.FunctionDefLibrary()
    for name in seen:
        fdef = library.function.add()
        fdef.CopyFrom(functions[name])
        if "api_implements" in fdef.attr:
            del fdef.attr["api_implements"]
    names = set(seen)
    library.gradient.extend(g for g in graph_def.library.gradient if g.function_name in names)
    return library


def signature_closure(graph_def: Any, tensors: list[str], keys: dict[str, str],
                      refuse: Callable[[str, str, str], Exception], problems: list[Exception] | None = None) -> set[str]:
    """Names of the MetaGraph nodes ``tensors`` depend on. ``refuse(what, op, message)`` is the error raised
    for a node that is ``"missing"``, not an outer ``"op"``, or an unrestored ``"variable"``: the direct
    and the TF-free readers name these differently. With ``problems``, the errors of ``"op"`` and
    ``"variable"`` nodes are appended to it instead (the walk goes on past them), so all are named."""
    outer = {n.name: n for n in graph_def.node}
    wanted, needed = [_graph_ref(t) for t in tensors], set()
    while wanted:
        name = wanted.pop()
        if name in needed:
            continue
        node = outer.get(name)
        if node is None:
            raise refuse("missing", "", f"the signature reads {name}, which is not in the graph")
        refused = (refuse("op", node.op, f"the signature reads a {node.op} ({name})") if node.op not in OUTER_OPS
                   else refuse("variable", node.op, f"variable {name} is not in the restore function")
                   if node.op == "VarHandleOp" and name not in keys else None)
        if refused is not None:
            if problems is None:
                raise refused
            problems.append(refused)
            needed.add(name)
            continue
        needed.add(name)
        wanted.extend(_graph_ref(ref) for ref in node.input if not ref.startswith("^"))
    return needed


def signature_graph_def(meta_graph: Any, signature: Any, keys: dict[str, str]) -> Any:
    """The part of the MetaGraph the signature reads, with only the functions it calls (no weights)."""
    from tensorflow.core.framework import graph_pb2

    graph_def = meta_graph.graph_def
    tensors = [t.name for t in signature.outputs.values()] + [t.name for t in signature.inputs.values()]
    needed = signature_closure(graph_def, tensors, keys, lambda _what, _op, message: NotDirect(message))
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    roots = []
    for node in graph_def.node:
        if node.name in needed:
            copy = out.node.add()
            copy.CopyFrom(node)
            del copy.input[:]
            copy.input.extend(ref for ref in node.input if not ref.startswith("^"))
            roots.append(copy)
    out.library.CopyFrom(reachable_library(graph_def, roots))
    return out


def inline(graph_def: Any, fetches: list[str]) -> Any:
    """Grappler: inline every call, lower While/If to v1 control flow, prune, fold shapes."""
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, rewriter_config_pb2
    from tensorflow.python.grappler import tf_optimizer

    meta_graph = meta_graph_pb2.MetaGraphDef()
    meta_graph.graph_def.CopyFrom(graph_def)
    meta_graph.collection_def["train_op"].node_list.value.extend(fetches)
    config = config_pb2.ConfigProto()
    rewriter = config.graph_options.rewrite_options
    rewriter.min_graph_nodes = -1
    rewriter.optimizers.extend(OPTIMIZERS)
    rewriter.function_optimization = rewriter_config_pb2.RewriterConfig.AGGRESSIVE
    rewriter.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    return tf_optimizer.OptimizeGraph(config, meta_graph)


def as_tf_protos(meta_graph: Any, signature: Any) -> tuple[Any, Any]:
    """TensorFlow's own message classes for a MetaGraphDef and SignatureDef read with :mod:`.schema`
    (Grappler and ``import_graph_def`` take only those); lossless, as unknown fields are kept."""
    from tensorflow.core.protobuf import meta_graph_pb2

    if isinstance(meta_graph, meta_graph_pb2.MetaGraphDef):
        return meta_graph, signature
    return (meta_graph_pb2.MetaGraphDef.FromString(meta_graph.SerializeToString()),
            meta_graph_pb2.SignatureDef.FromString(signature.SerializeToString()))


def freeze_from_files(path: Path, meta_graph: Any, signature: Any, *, control_flow_v2: bool) -> FrozenFunction:
    """The signature as a weight-free inlined graph plus lazily read variables (see the module doc)."""
    if control_flow_v2:
        raise NotDirect("--control_flow_v2 keeps functions, whose variable reads the direct path cannot bind")
    meta_graph, signature = as_tf_protos(meta_graph, signature)
    keys = variable_keys(meta_graph)
    graph_def = signature_graph_def(meta_graph, signature, keys)
    used = {n.name for n in graph_def.node}
    values = checkpoint_values(path, {k: v for k, v in keys.items() if k in used})
    inputs = {key: signature.inputs[key].name for key in sorted(signature.inputs)}
    outputs = {key: signature.outputs[key].name for key in sorted(signature.outputs)}
    try:
        optimized = inline(graph_def, [*outputs.values(), *inputs.values()])
    except Exception as err:  # Grappler's errors: let TF's own loader have a go
        raise NotDirect(f"Grappler cannot inline the signature: {err}") from None
    functions = {f.signature.name: f for f in optimized.library.function}
    calls = sorted({n.op for n in optimized.node
                    if (n.op in CALL_OPS or n.op in functions) and not inlinable_call(n, functions)})
    if calls:
        raise NotDirect(f"Grappler left function calls in the graph ({', '.join(calls)})")
    try:
        graph = import_graph_def(optimized)
    except ValueError as err:  # e.g. _output_shapes that contradict the graph: let TF's own loader judge
        raise NotDirect(f"TensorFlow cannot import the inlined signature: {err}") from None
    return FrozenFunction(graph=graph, inputs=inputs, outputs=outputs,
                          structured_output_keys=list(outputs), resources={}, library=optimized.library,
                          variables=values)


def inlinable_call(node: Any, functions: dict[str, Any]) -> bool:
    """A call Grappler keeps (a ``jit_compile`` function: tf_keras's grouped Conv2D) that the core pass
    ``inline_functions`` can expand: it and its callees take no resources and hold no other calls."""
    if node.op not in ("PartitionedCall", "StatefulPartitionedCall"):
        return False
    from tensorflow.core.framework import types_pb2

    pending, seen = [node.attr["f"].func.name], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        fdef = functions.get(name)
        if fdef is None or any(arg.type == types_pb2.DT_RESOURCE for arg in fdef.signature.input_arg):
            return False
        for inner in fdef.node_def:
            if inner.op in UNSUPPORTED_INNER_OPS or inner.op in functions or (
                    inner.op in CALL_OPS and inner.op not in ("PartitionedCall", "StatefulPartitionedCall")):
                return False
            if inner.op in ("PartitionedCall", "StatefulPartitionedCall"):
                pending.append(inner.attr["f"].func.name)
    return True


def checkpoint_values(path: Path, keys: dict[str, str]) -> dict[str, CheckpointTensor]:
    """``VarHandleOp`` name -> its lazily read value."""
    import tensorflow as tf

    prefix = str(path / "variables" / "variables")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as err:
        raise NotDirect(f"cannot open the checkpoint: {err}") from None
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    values = {}
    for handle, key in keys.items():
        if key not in shapes:
            raise NotDirect(f"checkpoint key {key} is missing")
        dtype = dtypes[key]
        if dtype == tf.string or dtype == tf.resource:
            raise NotDirect(f"variable {handle} holds {dtype.name}")
        values[handle] = CheckpointTensor(reader, key, tuple(int(d) for d in shapes[key]),
                                          np.dtype(dtype.as_numpy_dtype))
    return values


def checkpoint_values_tf_free(path: Path, keys: dict[str, str]) -> dict[str, CheckpointTensor]:
    """:func:`checkpoint_values` through our TensorBundle reader (:mod:`.tensor_bundle`, no TF).

    What that reader cannot return (partitioned variables, exotic dtypes, an index it cannot open)
    raises :class:`NotDirect`, every variable named at once; a corrupt entry is an InputError when it is
    read. String variables are read (object arrays of bytes).
    """
    from .tensor_bundle import BundleReader

    try:
        reader = BundleReader(path / "variables" / "variables")
    except InputError as err:
        if "corrupt checkpoint" in err.message:
            raise
        raise NotDirect(f"cannot open the checkpoint: {err.message}") from None
    values = {}
    problems: list[str] = []  # every variable the reader cannot return, named at once
    for handle, key in keys.items():
        entry = reader.entries.get(key)
        if entry is None:
            problems.append(f"checkpoint key {key} is missing")
            continue
        dtype = reader.dtype(key)
        if dtype is None:
            problems.append(f"variable {handle} holds {reader.dtype_name(key)}")
        elif entry.slices:
            problems.append(f"variable {handle} is partitioned ({len(entry.slices)} slices)")
        else:
            values[handle] = CheckpointTensor(reader, key, reader.shape(key), dtype)
    if problems:
        raise NotDirect("; ".join(problems))
    return values


def bind_variables(graph: Graph, values: dict[str, CheckpointTensor]) -> int:
    """Each ``VarHandleOp`` a Const of its value; what reads it through the handle reads the value."""
    consumers = graph.consumers()
    count = 0
    problems: list[str] = []  # every unbindable variable and handle use named at once
    for node in list(graph):
        if node.op != "VarHandleOp":
            continue
        if node.name not in values:
            problems.append(f"variable {node.name} has no checkpoint value")
            continue
        value = values[node.name]
        dtype = DType.from_any(value.dtype)
        node.op = "Const"
        node.attrs = {"dtype": dtype, "value": value}
        node.outputs[0].dtype, node.outputs[0].shape = dtype, value.shape
        _retype_readers(graph, node.output(0), dtype, value.shape, consumers, problems)
        count += 1
    if problems:
        raise NotDirect("; ".join(problems))
    return count


def _retype_readers(graph: Graph, handle: Value, dtype: DType, shape: tuple[int, ...],
                    consumers: dict[Value, list[Node]], problems: list[str]) -> None:
    """Follow the handle through forwarding ops; reads become Identities of the value; a use that is
    not a read goes into ``problems``."""
    stack, seen = [handle], {handle}
    while stack:
        value = stack.pop()
        for reader in consumers.get(value, []):
            if reader.op == "ReadVariableOp":
                reader.op, reader.attrs = "Identity", {"T": dtype}
                reader.outputs[0].dtype, reader.outputs[0].shape = dtype, shape
            elif reader.op == "ResourceGather":
                _gather(graph, reader, dtype)
            elif reader.op == "VariableShape":
                _variable_shape(graph, reader, shape)
            elif reader.op in FORWARDING_OPS:
                reader.attrs["T"] = dtype
                for out in reader.outputs[:1] if reader.op != "Switch" else reader.outputs:
                    out.dtype, out.shape = dtype, shape
                    if out not in seen:
                        seen.add(out)
                        stack.append(out)
            else:
                problems.append(f"{reader.op} {reader.name} uses a variable handle")


def _gather(graph: Graph, node: Node, dtype: DType) -> None:
    """``ResourceGather(handle, ids)`` is ``GatherV2(value, ids, axis=batch_dims)``, the axis of the ids'
    dtype as TF's freezing makes it (so it merges with the graph's other constants as on the TF path)."""
    batch_dims, index_dtype = node.attrs.get("batch_dims", 0), node.attrs.get("Tindices")
    if not (isinstance(index_dtype, DType) and index_dtype in (DType.INT32, DType.INT64)) \
            or isinstance(batch_dims, bool) or not isinstance(batch_dims, int):
        # TF's ResourceGather requires Tindices (int32/int64) and an int batch_dims; a missing one was a KeyError
        raise InputError(f"node {node.name} (ResourceGather) has Tindices={str(index_dtype)[:40]}, batch_dims="
                         f"{str(batch_dims)[:40]}, where TF's ResourceGather takes int32 or int64 indices and an int "
                         "batch_dims: the graph is corrupt")
    axis = graph.const(np.asarray(batch_dims, index_dtype.numpy), name=f"{node.name}/axis")
    node.op = "GatherV2"
    node.inputs = [node.inputs[0], node.inputs[1], axis]
    node.attrs = {"Tparams": dtype, "Tindices": index_dtype, "Taxis": index_dtype,
                  "batch_dims": batch_dims}


def _variable_shape(graph: Graph, node: Node, shape: tuple[int, ...]) -> None:
    out_type = node.attrs.get("out_type", DType.INT32)
    node.op = "Const"
    node.inputs = []
    node.attrs = {"dtype": out_type, "value": np.asarray(shape, dtype=out_type.numpy)}
    node.outputs[0].shape = (len(shape),)

