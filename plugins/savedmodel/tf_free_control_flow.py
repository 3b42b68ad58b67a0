"""Functional control flow (``While``/``If``/``Case``) on the TF-free SavedModel path, without Grappler.

The TF path lets Grappler lower ``tf.while_loop``/``tf.cond``/``tf.switch_case`` to v1 frames while
freezing. Here the bodies stay IR graphs in ``graph.functions`` until the core pass
``lower_control_flow`` builds the frames (:func:`lower`). Before that, each body must look like the
main graph would at that point:

- calls inside a body are expanded (:func:`keep_bodies`), so lowering copies plain ops;
- a variable captured by a loop or branch reaches the body as a resource argument; TF.js has no
  resources, so the node gets the variable's value instead and the body's ``ReadVariableOp`` of it
  becomes an ``Identity`` (:func:`pass_variable_values`), as freezing does on the TF path;
- each body gets the same rewrites as the main graph (the frontend passes), *before* lowering:
  ``drop_control_edges`` would remove the anchors the lowering places.

After lowering, two clean-ups bring the graph to Grappler's size or below (:func:`freeze_dead_loop_variables`,
:func:`drop_redundant_branch_anchors`), and loop-invariant ``Enter`` nodes are bypassed as on the TF path.
Whatever this cannot do exactly raises ``NotTfFree("control_flow", why)``: the caller refuses it,
naming ``--loader=tensorflow``, never a wrong model. With ``--control_flow_v2`` the prepared bodies are written into the
model's ``library`` instead of lowered (:func:`lower_or_keep_control_flow`, :mod:`.tf_free_library`). A
variable write the signature reaches is refused, naming every one (:func:`refuse_variable_writes`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.errors import TfjsconvError, UnsupportedOpsError
from tfjsconv.ir import Graph, Node, Value

from .graphdef_ir import NotTfFree

#: Pass-through ops a variable handle may flow through inside a body.
_HANDLE_FORWARDING = frozenset({"Identity", "Snapshot"})


def _functional(graph: Graph) -> list[Node]:
    from tfjsconv.passes.lower_control_flow import functional_nodes

    return functional_nodes(graph)


def _bodies_of(node: Node) -> list[tuple[str, str]]:
    from tfjsconv.passes.lower_control_flow import _func_names

    return _func_names(node)


def keep_bodies(graph: Graph, expand: Callable[[Graph], None]) -> None:
    """Keep in ``graph.functions`` only the ``While``/``If``/``Case`` bodies the graph reaches, each with
    its calls expanded by ``expand`` (which sees every library body as ``graph.functions``)."""
    from tfjsconv.passes.lower_control_flow import referenced_functions

    library = dict(graph.functions)
    kept: dict[str, Graph] = {}
    pending = referenced_functions(graph, library)
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        body = library[name]
        body.functions = library
        try:
            expand(body)
        finally:
            body.functions = {}
        kept[name] = body
        pending.extend(n for n in referenced_functions(body, library) if n not in kept)
    graph.functions = kept


def _handle_source(value: Value) -> Node | None:
    """The ``VarHandleOp`` a handle comes from (through Identities), if any."""
    for _ in range(1000):
        producer = value.producer
        if producer.op == "VarHandleOp":
            return producer
        if producer.op not in _HANDLE_FORWARDING or not producer.inputs:
            return None
        value = producer.inputs[0]
    return None


def _is_table_handle(value: Value) -> bool:
    """Whether ``value`` is a hash table's handle (the resource Placeholder :mod:`.tf_free_tables` makes of a
    ``HashTableV2``), through Identities. An ``If``/``Case`` branch may read it: lowered, the handle passes
    a ``Switch`` to the branch's lookups, which TF.js follows (:data:`.tables.HANDLE_FORWARDING`), as on
    the TF path; the bodies' own handle checks (core ``lower_control_flow``) allow only table reads."""
    for _ in range(1000):
        producer = value.producer
        if producer.op == "Placeholder":
            return value.dtype is DType.RESOURCE
        if producer.op not in _HANDLE_FORWARDING or not producer.inputs:
            return False
        value = producer.inputs[0]
    return False


def _arguments_offset(node: Node) -> int:
    """How many leading inputs of a functional node are not body arguments (If/Case: the selector)."""
    from tfjsconv.passes.lower_control_flow import WHILE_OPS

    return 0 if node.op in WHILE_OPS else 1


class _Retyper:
    """Turns resource arguments of bodies into value arguments, following the handle into nested bodies."""

    def __init__(self, functions: Mapping[str, Graph]) -> None:
        self.functions = functions
        self.done: dict[tuple[str, int], tuple[DType, Any]] = {}

    def node_input(self, graph: Graph, node: Node, index: int, dtype: DType, shape: Any) -> None:
        """Input ``index`` of functional ``node`` now carries a value of ``dtype``/``shape``."""
        from tfjsconv.passes.lower_control_flow import WHILE_OPS

        position = index - _arguments_offset(node)
        if position < 0:
            raise NotTfFree("control_flow", f"{node.op} {node.name} selects its branch with a variable handle")
        for _, name in _bodies_of(node):
            if name not in self.functions:
                raise NotTfFree("control_flow", f"{node.op} {node.name} runs {name or '?'}, which has no body")
            self.argument(self.functions[name], position, dtype, shape)
        if node.op in WHILE_OPS and index < len(node.outputs):
            node.outputs[index].dtype, node.outputs[index].shape = dtype, shape

    def argument(self, body: Graph, position: int, dtype: DType, shape: Any) -> None:
        key = (body.name, position)
        if key in self.done:
            if self.done[key][0] is not dtype:
                raise NotTfFree("control_flow", f"{body.name} takes variables of different types as argument {position}")
            return
        self.done[key] = (dtype, shape)
        arguments = list(body.inputs.values())
        if position >= len(arguments):
            raise NotTfFree("control_flow", f"{body.name} has no argument {position}")
        argument = arguments[position]
        if argument.dtype is not DType.RESOURCE:
            raise NotTfFree("control_flow", f"{body.name} argument {position} is a {argument.dtype}, not a handle")
        argument.dtype, argument.shape = dtype, shape
        argument.producer.attrs["dtype"] = dtype
        consumers = body.consumers()
        stack = [argument]
        while stack:
            value = stack.pop()
            for reader in consumers.get(value, []):
                if reader.op == "ReadVariableOp":
                    reader.op, reader.attrs = "Identity", {"T": dtype}
                    reader.outputs[0].dtype, reader.outputs[0].shape = dtype, shape
                elif reader.op in _HANDLE_FORWARDING:
                    reader.attrs["T"] = dtype
                    reader.outputs[0].dtype, reader.outputs[0].shape = dtype, shape
                    stack.append(reader.outputs[0])
                elif reader in _functional(body):
                    for index, x in enumerate(reader.inputs):
                        if x is value:
                            self.node_input(body, reader, index, dtype, shape)
                else:
                    raise NotTfFree("control_flow", f"{reader.op} {reader.name} in {body.name} uses a variable handle")


def pass_variable_values(graph: Graph, values: Mapping[str, Any]) -> int:
    """Give each ``While``/``If``/``Case`` the value of the variables it takes as handles (see the module
    doc); ``values`` maps ``VarHandleOp`` names to checkpoint tensors. Returns how many inputs changed."""
    from tfjsconv.passes.lower_control_flow import WHILE_OPS

    retyper = _Retyper(graph.functions)
    changed = 0
    tables: set[tuple[str, int]] = set()  # (body, argument) that hold a table handle
    problems: list[str] = []
    for node in _functional(graph):
        for index, x in enumerate(list(node.inputs)):
            if x.dtype is not DType.RESOURCE:
                continue
            if _is_table_handle(x) and node.op not in WHILE_OPS and index >= _arguments_offset(node):
                tables.update((name, index - 1) for _, name in _bodies_of(node))  # see _is_table_handle
                continue
            source = _handle_source(x)
            if source is None or source.name not in values:
                problems.append(f"{node.op} {node.name} takes a resource that is not a variable")
                continue
            tensor = values[source.name]
            dtype, shape = DType.from_any(tensor.dtype), tuple(tensor.shape)
            read = graph.add_node("ReadVariableOp", [x], {"dtype": dtype}, name=f"{node.name}/read_{index}")
            read.outputs[0].dtype, read.outputs[0].shape = dtype, shape
            node.inputs[index] = read.outputs[0]
            try:
                retyper.node_input(graph, node, index, dtype, shape)
            except NotTfFree as why:
                problems.append(why.detail)
            changed += 1
    handles = _table_handles(graph, tables)
    left = sorted(f"{name}/{n.name}" for name, body in graph.functions.items() for n in body
                  if any(v.dtype is DType.RESOURCE and v not in handles for v in n.outputs))
    if left:
        more = f" ... and {len(left) - 5} more" if len(left) > 5 else ""
        problems.append(f"resources left in loop or branch bodies: {', '.join(left[:5])}{more}")
    if problems:  # every node named at once, not the first one met
        raise NotTfFree("control_flow", "; ".join(dict.fromkeys(problems)))
    return changed


def _table_handles(graph: Graph, arguments: set[tuple[str, int]]) -> set[Value]:
    """The values of the bodies that hold a table handle: the ``(body, position)`` arguments, through Identities."""
    found: set[Value] = set()
    for name, position in arguments:
        body = graph.functions.get(name)
        if body is None or position >= len(body.inputs):
            continue
        consumers, stack = body.consumers(), [list(body.inputs.values())[position]]
        while stack:
            value = stack.pop()
            found.add(value)
            stack.extend(r.outputs[0] for r in consumers.get(value, []) if r.op in _HANDLE_FORWARDING)
    return found


def rewrite_bodies(graph: Graph) -> None:
    """The main graph's rewrites (Grappler parity, TF.js rewrites) on every body, before lowering."""
    from .grappler_monotonic import match_grappler_monotonic
    from .grappler_parity import match_grappler_constfold
    from tfjsconv.passes.frontend import run_frontend_passes

    for body in graph.functions.values():
        body.remove_dead_nodes()
        match_grappler_constfold(body)
        match_grappler_monotonic(body)  # Grappler optimizes the bodies a graph run calls too
        run_frontend_passes(body)


def _read(graph: Graph, value: Value, consumers: Mapping[Value, list[Node]]) -> bool:
    return bool(consumers.get(value)) or any(v is value for v in graph.outputs.values())


def _cone(values: list[Value]) -> set[Node]:
    """The nodes ``values`` depend on (data and control edges)."""
    seen: set[Node] = set()
    stack = [v.producer for v in values]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(v.producer for v in node.inputs)
            stack.extend(node.control_inputs)
    return seen


def freeze_dead_loop_variables(graph: Graph) -> int:
    """A loop variable nothing reads (not the ``While`` output, not the cond, no other variable's update;
    mostly the loop counter of ``tf.while_loop``) is returned unchanged by its body, so the lowering
    computes nothing for it. This is what Grappler's loop optimizer does on the TF path. Returns how many."""
    from tfjsconv.passes.lower_control_flow import WHILE_OPS

    graphs = [graph, *graph.functions.values()]
    consumers = {id(g): g.consumers() for g in graphs}
    loops: dict[str, list[tuple[Graph, Node]]] = {}
    other_uses: set[str] = set()
    for g in graphs:
        for node in _functional(g):
            roles = _bodies_of(node)
            for role, name in roles:
                if node.op in WHILE_OPS and role == "body":
                    loops.setdefault(name, []).append((g, node))
                else:
                    other_uses.add(name)
    frozen = 0
    for name, uses in loops.items():
        body = graph.functions.get(name)
        if body is None or name in other_uses:
            continue
        conds = [graph.functions.get(_bodies_of(node)[0][1]) for _, node in uses]
        if any(c is None for c in conds):
            continue
        arguments, keys = list(body.inputs.values()), list(body.outputs)
        if len(keys) != len(arguments):
            continue
        for i, argument in enumerate(arguments):
            returned = body.outputs[keys[i]]
            if returned is argument:
                continue
            if any(_read(g, node.outputs[i], consumers[id(g)]) for g, node in uses if i < len(node.outputs)):
                continue
            if any(_read(c, list(c.inputs.values())[i], c.consumers()) for c in conds if i < len(c.inputs)):
                continue
            if argument.producer in _cone([body.outputs[k] for j, k in enumerate(keys) if j != i]):
                continue
            body.outputs[keys[i]] = argument
            frozen += 1
        body.remove_dead_nodes()
    return frozen


def _branch_side(value: Value) -> tuple[Value, int] | None:
    """``(predicate, port)`` when ``value`` is a Switch output: it exists only on that side of that predicate."""
    node = value.producer
    return (node.inputs[1], value.index) if node.op == "Switch" and len(node.inputs) == 2 else None


def _exists_only_on(value: Value, side: tuple[Value, int]) -> bool:
    """Whether ``value`` reads (by data edges, not through a ``Merge``) the ``side`` of a Switch: then it is
    produced only when that side is taken, in the same frame."""
    seen: set[Node] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        found = _branch_side(current)
        if found is not None and found[0] is side[0] and found[1] == side[1]:
            return True
        node = current.producer
        if node in seen or node.op in ("Merge", "Enter", "Exit", "NextIteration"):
            continue
        seen.add(node)
        stack.extend(node.inputs)
    return False


def drop_redundant_branch_anchors(graph: Graph) -> int:
    """A branch output the lowering wrapped in ``Identity(value, ^pivot)`` while ``value`` already reads that
    branch's side of the Switches exists only in that branch anyway: its readers read ``value`` (as on the
    TF path); pivots and pivot Switches nothing waits for any more go with dead-node removal. Returns how many."""
    dropped = 0
    for node in list(graph):
        if node.op != "Identity" or len(node.inputs) != 1 or len(node.control_inputs) != 1:
            continue
        pivot = node.control_inputs[0]
        if pivot.op != "Identity" or len(pivot.inputs) != 1 or pivot.control_inputs:
            continue
        side = _branch_side(pivot.inputs[0])
        if side is not None and _exists_only_on(node.inputs[0], side):
            graph.replace_all_uses(node.outputs[0], node.inputs[0])
            dropped += 1
    if dropped:
        graph.remove_dead_nodes()
    return dropped


def lower(graph: Graph, max_nodes: int | None) -> int:
    """The functional nodes → v1 frames (:mod:`tfjsconv.passes.lower_control_flow`); returns how many."""
    from tfjsconv.passes.lower_control_flow import ControlFlowLoweringError, lower_control_flow

    from tfjsconv.passes.frontend import run_frontend_passes

    freeze_dead_loop_variables(graph)
    try:
        count = lower_control_flow(graph, max_nodes=max_nodes)
    except ControlFlowLoweringError as why:  # e.g. a stateful op in a body: the TF path may still do it
        raise NotTfFree("control_flow", str(why)) from None
    graph.functions.clear()
    graph.remove_dead_nodes()
    drop_redundant_branch_anchors(graph)
    run_frontend_passes(graph, only=("bypass_constant_enters",))  # as on the TF path: body nodes read the outer value
    graph.remove_dead_nodes()
    return count


def lower_or_keep_control_flow(graph: Graph, options: Any) -> int:
    """Lower the bodies to v1 frames (:func:`lower`), or with ``--control_flow_v2`` keep ``While``/``If``
    functional, their bodies in model.json's ``library`` (:mod:`.tf_free_library`); returns how many."""
    if getattr(options, "control_flow_v2", False):
        from .tf_free_library import keep_functional

        return keep_functional(graph, options.limits.max_nodes)
    return lower(graph, options.limits.max_nodes)


#: Ops that change a variable: a TF.js graph model has no variables, only the values frozen into it.
VARIABLE_WRITE_OPS = frozenset({"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
                                "ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub"})


class VariableWriteError(UnsupportedOpsError):
    """The signature writes variables (in a loop body or not): refused, every write named at once."""

    def __init__(self, writes: dict[str, list[str]]) -> None:
        self.ops = {op: sorted(names) for op, names in sorted(writes.items())}
        where = "; ".join(f"{op} at {', '.join(names)}" for op, names in self.ops.items())
        TfjsconvError.__init__(self, f"the signature writes variables, which a TF.js graph model cannot: {where}",
                               hint="TF.js runs the variables' saved values as constants; export a signature "
                                    "that only reads them (TensorFlow's freezing refuses the writes too)")


def refuse_variable_writes(roots: list[Any], functions: Mapping[str, Any]) -> None:
    """Raise :class:`VariableWriteError` naming every variable write (``function/node``) the signature's
    nodes ``roots`` (NodeDefs) reach through calls, loop bodies and branches; nothing when there is none.

    A write is exact in TF.js only as a value threaded through the graph (the variable as one more loop
    variable), which needs the order of the reads and writes (their control edges): not done yet."""
    from .direct import walk_functions

    writes: dict[str, list[str]] = {}
    for node in roots:
        if node.op in VARIABLE_WRITE_OPS:
            writes.setdefault(node.op, []).append(node.name)
    for name, fdef in walk_functions(roots, functions):
        for node in fdef.node_def:
            if node.op in VARIABLE_WRITE_OPS:
                writes.setdefault(node.op, []).append(f"{name}/{node.name}")
    if writes:
        raise VariableWriteError(writes)
