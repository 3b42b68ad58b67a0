"""TF1 SavedModels and TF1 Hub modules straight into the IR, with no TensorFlow (issue 15).

A TF1 SavedModel (``tf.compat.v1.saved_model.Builder``, ``simple_save``, a ``tfhub_module.pb`` folder)
has no object graph and no restore *function*: its MetaGraph is one flat graph holding the model, its
variables (``VariableV2``/``Variable`` ref variables or ``VarHandleOp`` resource variables) and the
Saver's ops. The SaverDef's ``restore_op_name`` (``save/restore_all``) waits on one ``Assign`` (or
``AssignVariableOp``) per variable whose value is ``RestoreV2(prefix, tensor_names, shape_and_slices)[i]``;
``tensor_names[i]`` is the checkpoint key and ``shape_and_slices[i]`` the part of it the variable holds
(a partition of a ``PartitionedVariable``: ``"16 5 0,8:0,5"``). So, without TF:

1. :func:`saved_slots` reads variable -> (key, slice) from the restore op's constants; without a SaverDef
   (a TF1 hub module), :func:`default_saver_slots` gives what TF's default ``Saver()`` restores;
2. the signature's part of the graph (data and control edges: v1 loops place body constants with
   ``^pivot`` edges) becomes an IR graph, ``Ref*`` forwarding ops renamed to their plain forms;
3. each variable becomes a Const read lazily from the checkpoint (a slice of it for a partition), and
   a ``ConcatV2`` of every partition of one variable, in order, the whole variable (:func:`join_partitions`);
4. functional ``While``/``If`` (``tf.compat.v1`` graphs built with TF2 behaviour) are inlined and lowered
   as on the TF2 path (:mod:`.tf_free`, :mod:`.tf_free_control_flow`); static hash tables go to the
   ``modelInitializer`` through :class:`.tf_free_tables.TableSource`, as on the TF2 path;
5. the Identities Grappler removes on the TF path go too (:func:`match_grappler_identities`), so both
   paths give the same graph.

What this cannot do exactly raises ``NotTfFree`` naming the feature (``hash_table``, ``variable_write``,
``tf1_saver``); a checkpoint that lacks a key the saver restores is an InputError.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .direct import CheckpointTensor, NotDirect, bind_variables
from .graphdef_ir import NotTfFree

#: Variables of a TF1 graph: ref variables (bound here) and resource variables (``direct.bind_variables``).
REF_VARIABLE_OPS = frozenset({"VariableV2", "Variable"})
VARIABLE_OPS = REF_VARIABLE_OPS | {"VarHandleOp"}
#: Ref forwarding ops: once the variable is a constant they forward a plain value.
REF_FORWARDING = {"RefSwitch": "Switch", "RefEnter": "Enter", "RefExit": "Exit", "RefMerge": "Merge",
                  "RefNextIteration": "NextIteration", "RefIdentity": "Identity"}
#: Ops that write a variable: a signature that runs one cannot become constants.
WRITE_OPS = frozenset({"Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
                       "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMul",
                       "ScatterDiv", "ResourceScatterUpdate", "ResourceScatterAdd", "CountUpTo",
                       "ResourceCountUpTo", "DestroyResourceOp"})
#: Tables that stay tables once :class:`.tf_free_tables.TableSource` has made each static ``HashTableV2`` a
#: resource Placeholder (TF.js holds only those), and ops that fill a table while the signature runs.
TABLE_OPS = frozenset({"HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2",
                       "MutableHashTableOfTensors", "MutableHashTableOfTensorsV2", "MutableDenseHashTable",
                       "MutableDenseHashTableV2", "InitializeTable", "InitializeTableV2",
                       "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "LookupTableImportV2",
                       "LookupTableInsertV2", "LookupTableFind", "LookupTableSize"})
#: The V1 checkpoint format's restore ops (our reader reads TensorBundles, the V2 format).
V1_RESTORE_OPS = frozenset({"Restore", "RestoreSlice"})


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where a variable's value is in the checkpoint: a key and, for a partition, the slice of it."""

    key: str
    spec: str = ""  # RestoreV2's shape_and_slice: "" (the whole tensor) or "<full shape> <start,len|->:..."


def is_tf1(meta_graph: Any) -> bool:
    """A TF1 MetaGraph: no object graph (TF2 ``tf.saved_model.save`` always writes one)."""
    return not len(meta_graph.object_graph_def.nodes)


def _name(ref: str) -> tuple[str, int]:
    """A graph input (``node:1``, ``node``, ``^node``) as (node name, output index)."""
    name, _, index = ref.lstrip("^").partition(":")
    return name, int(index) if index.isdigit() else 0


def _strings(node: Any, what: str) -> list[str]:
    if node is None or node.op != "Const":
        raise NotTfFree("tf1_saver", f"RestoreV2's {what} are not a constant")
    return [s.decode("utf-8") for s in node.attr["value"].tensor.string_val]


def saved_slots(graph_def: Any, restore_op_name: str) -> dict[str, Slot]:
    """Variable node name -> its :class:`Slot`, from the Saver's restore op (see the module doc)."""
    nodes = {n.name: n for n in graph_def.node}
    start = _name(restore_op_name)[0]
    if start not in nodes:
        raise NotTfFree("tf1_saver", f"the SaverDef names a restore op {restore_op_name!r} the graph lacks")
    slots: dict[str, Slot] = {}
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        node = nodes[name]
        if node.op in V1_RESTORE_OPS:
            raise NotTfFree("tf1_saver", f"the Saver writes the V1 checkpoint format ({node.op} {name})")
        if node.op in ("Assign", "AssignVariableOp"):
            slots[_name(node.input[0])[0]] = _restored_slot(nodes, node)
            continue
        stack.extend(_name(ref)[0] for ref in node.input)
    return slots


def default_saver_slots(meta_graph: Any) -> dict[str, Slot]:
    """What TF's default ``Saver()`` restores when the MetaGraph has no SaverDef (a TF1 hub module: the
    hub library saves the variables with a Saver of its own): every variable of the ``variables``
    collection under its own name, a partition (its ``save_slice_info_def``) as a slice of the full one."""
    from . import schema

    collections = meta_graph.collection_def  # (indexing a missing key would add it)
    listed = collections["variables"].bytes_list.value if "variables" in collections else []
    slots: dict[str, Slot] = {}
    for data in listed:
        try:
            variable = schema.VariableDef.FromString(data)
        except Exception as err:  # google.protobuf.message.DecodeError
            raise InputError(f"the MetaGraph's variables collection cannot be read ({err})",
                             hint="saved_model.pb is corrupt") from None
        name = _name(variable.variable_name)[0]
        part = variable.save_slice_info_def
        if not part.full_name:
            slots[name] = Slot(name)
            continue
        extents = ":".join(f"{o},{n}" for o, n in zip(part.var_offset, part.var_shape))
        slots[name] = Slot(part.full_name, f"{' '.join(str(d) for d in part.full_shape)} {extents}")
    return slots


def _restored_slot(nodes: dict[str, Any], assign: Any) -> Slot:
    source, index = _name(assign.input[1])
    for _ in range(100):  # save/Identity_5 = Identity(save/RestoreV2:0)
        node = nodes.get(source)
        if node is None or node.op != "Identity":
            break
        source, index = _name(node.input[0])
    restore = nodes.get(source)
    if restore is None or restore.op != "RestoreV2":
        raise NotTfFree("tf1_saver", f"{assign.name} does not assign a RestoreV2 output")
    names = _strings(nodes.get(_name(restore.input[1])[0]), "tensor names")
    specs = _strings(nodes.get(_name(restore.input[2])[0]), "shape_and_slices")
    if not index < len(names) == len(specs):
        raise InputError(f"the Saver's {restore.name} restores {len(names)} tensors, {assign.name} reads output {index}",
                         hint="saved_model.pb is corrupt")
    return Slot(names[index], specs[index].strip())


def _check_ops(node_defs: list[Any]) -> None:
    """Every table or variable write the signature would run, named at once (both features when both)."""
    from .refusals import RefusedFeatures

    found = {}
    for feature, ops in (("hash_table", TABLE_OPS), ("variable_write", WRITE_OPS)):
        runs = sorted(f"{n.op} ({n.name})" for n in node_defs if n.op in ops)
        if runs:
            found[feature] = f"the signature runs {', '.join(runs[:8])}{f' ... and {len(runs) - 8} more' if len(runs) > 8 else ''}"
    if len(found) == 1:
        (feature, detail), = found.items()
        raise NotTfFree(feature, detail)
    if found:
        raise RefusedFeatures({feature: [detail] for feature, detail in found.items()}, tf_can=True)


def signature_node_defs(graph_def: Any, tensors: list[str]) -> list[Any]:
    """The MetaGraph nodes ``tensors`` depend on through data and control edges, in file order,
    ``Ref*`` forwarding ops renamed (copies: the MetaGraph is left as read)."""
    from . import schema

    nodes = {n.name: n for n in graph_def.node}
    needed: set[str] = set()
    stack = [_name(t)[0] for t in tensors]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        if name not in nodes:
            raise InputError(f"the signature reads {name}, which is not in the graph")
        needed.add(name)
        stack.extend(_name(ref)[0] for ref in nodes[name].input)
    out = []
    for node in graph_def.node:
        if node.name not in needed:
            continue
        if node.op in REF_FORWARDING:
            copy = schema.NodeDef()
            copy.CopyFrom(node)
            copy.op = REF_FORWARDING[node.op]
            node = copy
        out.append(node)
    _check_ops(out)
    return out


def _called(node_defs: list[Any], functions: dict[str, Any]) -> list[str]:
    from .tf_free import reachable_functions

    return reachable_functions(node_defs, functions) if functions else []


def _parse_spec(spec: str, where: str) -> tuple[tuple[int, ...], tuple[slice, ...]]:
    """``"16 5 0,8:0,5"`` -> ((16, 5), (slice(0, 8), slice(0, 5))); ``-`` is a whole dimension."""
    malformed = InputError(f"{where}: the Saver's slice {spec!r} is malformed", hint="saved_model.pb is corrupt")
    try:
        *dims, extents = spec.split()
        full = tuple(int(d) for d in dims)
        region = []
        for extent, size in zip(extents.split(":"), full, strict=True):
            start, length = (0, size) if extent == "-" else (int(x) for x in extent.split(","))
            if start < 0 or length < 0 or start + length > size:
                raise ValueError(extent)
            region.append(slice(start, start + length))
    except ValueError:
        raise malformed from None
    return full, tuple(region)


class SlicedCheckpointTensor(CheckpointTensor):
    """One partition of a partitioned variable: a region of the (assembled) checkpoint tensor."""

    def __init__(self, reader: Any, key: str, region: tuple[slice, ...], full: tuple[int, ...],
                 dtype: np.dtype) -> None:
        shape = tuple(len(range(*s.indices(n))) for s, n in zip(region, full))
        super().__init__(reader, key, shape, dtype)
        self.region = region

    def load(self) -> np.ndarray:
        return np.ascontiguousarray(super().load()[self.region])


def checkpoint_values(path: Path, slots: dict[str, Slot]) -> dict[str, CheckpointTensor]:
    """Variable node name -> its lazily read value; a key the checkpoint lacks is an InputError."""
    from .tensor_bundle import BundleReader

    reader = BundleReader(path / "variables" / "variables")
    values: dict[str, CheckpointTensor] = {}
    missing = sorted(f"{slot.key} (for {name})" for name, slot in slots.items() if slot.key not in reader.entries)
    if missing:
        raise InputError(f"the checkpoint of {path} lacks the variables {', '.join(missing)}",
                         hint="variables/ does not belong to this saved_model.pb; copy the whole folder again")
    for name, slot in slots.items():
        dtype = reader.dtype(slot.key)
        if dtype is None or dtype == object:
            raise NotTfFree("checkpoint", f"variable {name} holds {reader.dtype_name(slot.key)}")
        shape = reader.shape(slot.key)
        if not slot.spec:
            values[name] = CheckpointTensor(reader, slot.key, shape, dtype)
            continue
        full, region = _parse_spec(slot.spec, f"variable {name}")
        if full != shape:
            raise InputError(f"variable {name} is a slice of {slot.key} shaped {list(full)}, the checkpoint "
                             f"holds {list(shape)}", hint="variables/ does not belong to this saved_model.pb")
        values[name] = SlicedCheckpointTensor(reader, slot.key, region, full, dtype)
    return values


def bind_ref_variables(graph: Graph, values: dict[str, CheckpointTensor]) -> int:
    """Each ``VariableV2``/``Variable`` a Const of its value (its readers already take the plain value)."""
    count = 0
    for node in graph:
        if node.op not in REF_VARIABLE_OPS:
            continue
        value = values[node.name]
        dtype = DType.from_any(value.dtype)
        node.op, node.inputs, node.attrs = "Const", [], {"dtype": dtype, "value": value}
        node.outputs[0].dtype, node.outputs[0].shape = dtype, value.shape
        count += 1
    return count


def _partition_of(value: Any) -> SlicedCheckpointTensor | None:
    """The partition a ConcatV2 input reads (a partition's Const, or one Identity of it)."""
    node = value.producer
    if node.op == "Identity" and len(node.inputs) == 1:
        node = node.inputs[0].producer
    found = node.attrs.get("value") if node.op == "Const" else None
    return found if isinstance(found, SlicedCheckpointTensor) else None


def _tiles(parts: list[SlicedCheckpointTensor], full: tuple[int, ...], axis: int) -> bool:
    """Whether ``parts``, in this order, tile ``full`` along ``axis`` (whole along every other dim)."""
    end = 0
    for part in parts:
        for dim, region in enumerate(part.region):
            start, stop, _ = region.indices(full[dim])
            if dim == axis and start != end or dim != axis and (start, stop) != (0, full[dim]):
                return False
        end = part.region[axis].indices(full[axis])[1]
    return end == full[axis]


def join_partitions(graph: Graph) -> int:
    """``ConcatV2`` of every partition of one variable, in order along ``axis``, is the whole variable:
    a Const of the (assembled) checkpoint tensor, as Grappler folds it on the TF path."""
    joined = 0
    for node in list(graph):
        if node.op != "ConcatV2" or len(node.inputs) < 2:
            continue
        axis_node = node.inputs[-1].producer
        axis = axis_node.attrs.get("value") if axis_node.op == "Const" else None
        parts = [_partition_of(v) for v in node.inputs[:-1]]
        if not isinstance(axis, np.ndarray) or axis.size != 1 or any(p is None for p in parts):
            continue
        first = parts[0]
        full = tuple(first.reader.shape(first.key))
        if any(p.key != first.key or p.reader is not first.reader for p in parts) or not _tiles(
                parts, full, int(axis) % len(full)):
            continue
        dtype = DType.from_any(first.dtype)
        node.op, node.inputs = "Const", []
        node.attrs = {"dtype": dtype, "value": CheckpointTensor(first.reader, first.key, full, first.dtype)}
        node.outputs[0].dtype, node.outputs[0].shape = dtype, full
        joined += 1
    if joined:
        graph.remove_dead_nodes()
    return joined


def match_grappler_identities(graph: Graph) -> int:
    """Bypass the ``Identity`` nodes Grappler's dependency optimizer removes on the TF path (the core pass
    ``remove_identity`` keeps every one next to v1 control flow): one without control inputs that is no
    output and that nothing waits on (Grappler keeps those after a ``Switch``: the branch and loop pivots)."""
    waited_on = {dep for node in graph for dep in node.control_inputs}
    outputs = set(graph.outputs.values())
    bypassed = 0
    for node in list(graph):
        if node.op != "Identity" or len(node.inputs) != 1 or node.control_inputs or node.outputs[0] in outputs:
            continue
        if node in waited_on:  # a branch or loop pivot (Grappler keeps those after a Switch)
            continue
        graph.replace_all_uses(node.outputs[0], node.inputs[0])
        bypassed += 1
    if bypassed:
        graph.remove_dead_nodes()
    return bypassed


def _signature_graph(graph_def: Any, node_defs: list[Any], inputs: dict[str, str], outputs: dict[str, str],
                     name: str) -> Graph:
    """The signature's nodes as an IR graph, control edges kept (v1 frames need them), calls expanded."""
    from .tf_free import signature_graph

    functions = {f.signature.name: f for f in graph_def.library.function}
    return signature_graph(name, node_defs, functions, inputs, outputs, lambda: _called(node_defs, functions),
                           keep_control=True, placeholders=("Placeholder", "PlaceholderWithDefault"))


def variable_values(path: Path, meta_graph: Any, graph: Graph) -> dict[str, CheckpointTensor]:
    """The checkpoint value of each variable ``graph`` reads, by node name."""
    variables = sorted(n.name for n in graph if n.op in VARIABLE_OPS)
    if not variables:
        return {}
    restore_op = meta_graph.saver_def.restore_op_name
    slots = saved_slots(meta_graph.graph_def, restore_op) if restore_op else default_saver_slots(meta_graph)
    unrestored = [v for v in variables if v not in slots]
    if unrestored:
        raise NotTfFree("tf1_saver", f"{'the Saver' if restore_op else 'the variables collection'} does not "
                                     f"restore {', '.join(unrestored[:8])}")
    return checkpoint_values(path, {v: slots[v] for v in variables})


def graph_from_tf1_meta_graph(path: Path, meta_graph: Any, signature: Any, options: ConvertOptions, *,
                              name: str) -> Graph:
    """The IR of one signature of a TF1 MetaGraph, variables bound to the checkpoint (see the module doc)."""
    from .tf_free import _record_versions, finish_signature_graph
    from .tf_free_control_flow import pass_variable_values
    from .tf_free_tables import TableSource

    inputs = {key: signature.inputs[key].name for key in sorted(signature.inputs)}
    outputs = {key: signature.outputs[key].name for key in sorted(signature.outputs)}
    tables = TableSource(path, meta_graph)  # its HashTableV2 nodes as resource Placeholders
    node_defs = signature_node_defs(tables.graph_def, [*inputs.values(), *outputs.values()])
    graph = _signature_graph(meta_graph.graph_def, node_defs, inputs, outputs, name)
    values = variable_values(path, meta_graph, graph)
    pass_variable_values(graph, values)  # loops and branches take the values of the variables they read
    bind_ref_variables(graph, values)
    try:
        bind_variables(graph, values)
    except NotDirect as why:
        raise NotTfFree("resource_use", str(why)) from None
    join_partitions(graph)
    _record_versions(graph, meta_graph.graph_def, meta_graph.meta_info_def.tensorflow_version)
    return finish_signature_graph(graph, options, tables, list(outputs), "the TF-free reader, TF1 saver",
                                  grappler_steps=(match_grappler_identities,))
