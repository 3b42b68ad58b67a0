"""Functional control flow (``While``/``If``/``Case``, stateless or not) → TF v1 frames, bodies inlined.

TF.js runs a functional ``While`` by calling its body function once per iteration, which needs the
function library (``--control_flow_v2``). Without it, TF.js's graph executor runs loops as v1
frames, and this pass builds them from the IR bodies in ``graph.functions`` (the same ones
``inline_functions`` expands), so a path without Grappler (the TF-free SavedModel reader) can lower
control flow itself. What TF.js's executor does, and so what the rewrite must give it:

- ``Enter`` pushes a frame named by ``frame_name``; its output lives in that frame's first
  iteration, except with ``is_constant``, when it is stored in the enclosing frame and every
  iteration sees it. Loop variables the body returns unchanged become such constant Enters (no
  ``Merge``/``Switch``/``NextIteration``), and the ``While`` output is then the input itself; not in
  a loop nested in another loop, where such an Enter stalled TF.js (see :meth:`_Lowering.lower_while`).
  The loop's Enters wait (control inputs) for each such value TF.js may compute after the loop has
  started (after a loop, a TensorList op...), since the body reads it from outside the frame
  (:meth:`_Lowering._start_gates`).
- A node runs when all its inputs (``^x`` control inputs included) exist in the frame and iteration
  of the node that produced the last of them, looked up there and in the enclosing frames. Every
  ``Const`` runs once, in the root frame. So an inlined node with no input produced per iteration
  (or per branch) gets a control input from the body's pivot (``Identity(Switch:1)``), else it
  would run once, outside the loop or in both branches; functional nodes nested in a body always
  get it, and pass it on to the ``Enter``/``Switch`` nodes they are lowered into, so an inner loop
  gets one frame per outer iteration. ``NextIteration`` and branch outputs get it too (unless they
  read a ``Switch`` directly), since later passes may fold what they read into a root ``Const``.
- ``Switch`` gives its data on output 1 when the predicate is true, else on output 0; the other
  output is never produced, and neither is anything reading it. ``Merge`` takes whichever input
  exists. A ``Case`` becomes a chain of Switches on ``index == k`` (the last branch also takes an
  index out of range, as in TF) and one ``Merge`` per output.

Frame names are unique per lowered loop; ``parallel_iterations`` is kept on every ``Enter``.
A static table's handle may be an ``If``/``Case`` argument its branches only look up: it goes through the
``Switch`` like any argument (TF.js follows the handle tensor, as in Grappler's lowering).
Refused at once, by node: a body with other resource (variable or table) ops, a resource loop variable or
other branch argument, a body missing from ``graph.functions``, an ``If`` condition that is a string,
a function reaching itself (lowering would never end).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..dtypes import DType
from ..errors import OpProblemsError
from ..ir import FuncAttr, Graph, Node, Shape, Value
from ..provenance import scope
from . import Pass, PassResult
from .list_input_controls import LIST_INPUT_OPS

WHILE_OPS = frozenset({"While", "StatelessWhile"})
IF_OPS = frozenset({"If", "StatelessIf"})
CASE_OPS = frozenset({"Case", "StatelessCase"})
FUNCTIONAL_OPS = WHILE_OPS | IF_OPS | CASE_OPS
#: Ops that read or write state a v1 frame would run at the wrong time (or a resource TF.js lacks in frames).
STATEFUL_RESOURCE_OPS = frozenset({
    "VarHandleOp", "VariableV2", "Variable", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "Assign", "AssignAdd", "AssignSub", "ResourceGather", "ResourceScatterUpdate",
    "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul", "ResourceScatterDiv",
    "ResourceScatterMin", "ResourceScatterMax", "DestroyResourceOp", "VarIsInitializedOp",
    "HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
    "InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableInsertV2", "LookupTableRemoveV2",
    "LookupTableImportV2",
})
#: Hash-table reads a lowered ``If``/``Case`` branch may make of a table handle argument: TF.js follows the
#: handle tensor through the argument's ``Switch`` (as in Grappler's lowering on the TF path).
TABLE_READ_OPS = frozenset({"LookupTableFindV2", "LookupTableFind", "LookupTableSizeV2", "LookupTableSize"})
#: Pass-through ops a body may put between an argument and the same output (still loop-invariant).
_FORWARDING_OPS = frozenset({"Identity", "IdentityN", "Snapshot"})
#: Ops whose TF.js mapping reads a run of inputs (``list_input_controls``): TF.js reads a ``^x`` control input
#: as one more tensor there (``Pack(c, ^pivot)`` stacks the pivot), so their anchor goes on an ``Identity`` of
#: their first input instead. Control flow and Print keep their anchors: an Identity before a Merge's first
#: input breaks the frames of a nested lowered loop on wasm.
_LIST_INPUT_OPS = LIST_INPUT_OPS - {"If", "StatelessIf", "While", "StatelessWhile", "Merge", "Print"}


class ControlFlowLoweringError(OpProblemsError):
    """Functional control flow that cannot become v1 frames; ``ops`` maps op -> ``node (why)`` entries."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__(problems, "cannot lower functional control flow to TF.js v1 frames",
                         hint="keep the functions with --control_flow_v2, or remove the stateful ops "
                              "from the loop/branch bodies")


def _func_names(node: Node) -> list[tuple[str, str]]:
    """``(role, function name)`` of every function a functional control-flow node runs."""
    if node.op in WHILE_OPS:
        roles = [("cond", node.attrs.get("cond")), ("body", node.attrs.get("body"))]
    elif node.op in IF_OPS:
        roles = [("then", node.attrs.get("then_branch")), ("else", node.attrs.get("else_branch"))]
    else:
        roles = [(f"branch_{i}", f) for i, f in enumerate(node.attrs.get("branches") or [])]
    return [(role, f.name if isinstance(f, FuncAttr) else "") for role, f in roles]


def functional_nodes(graph: Graph) -> list[Node]:
    """The ``While``/``If``/``Case`` nodes of ``graph``, in node order."""
    return [n for n in graph if n.op in FUNCTIONAL_OPS]


def has_functional_control_flow(graph: Graph) -> bool:
    """Whether ``graph`` still has functional control flow whose functions are all in ``graph.functions``."""
    return any(all(name in graph.functions for _, name in _func_names(n)) for n in functional_nodes(graph))


def _referenced(graph: Graph) -> Iterator[str]:
    for node in graph:
        for value in node.attrs.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, FuncAttr):
                    yield item.name


def referenced_functions(graph: Graph, functions: Iterable[str]) -> list[str]:
    """Names among ``functions`` that ``graph``'s nodes name in a ``func`` attr or call as an op, each once."""
    known = set(functions)
    found = [n for n in _referenced(graph) if n in known] + [n.op for n in graph if n.op in known]
    return list(dict.fromkeys(found))


# -- checks -------------------------------------------------------------------------------------
def _reads_table_argument(inner: Node, body: Graph) -> bool:
    """Whether ``inner`` is a table read (or an Identity) of a resource argument of ``body``."""
    if inner.op not in TABLE_READ_OPS and inner.op != "Identity" or not inner.inputs:
        return False
    handle, arguments = inner.inputs[0], set(body.inputs.values())
    while handle not in arguments and handle.producer.op == "Identity" and handle.producer.inputs:
        handle = handle.producer.inputs[0]
    return handle in arguments and handle.dtype is DType.RESOURCE and not any(
        v.dtype is DType.RESOURCE for v in inner.inputs[1:])


def _handles_only_looked_up(node: Node, functions: Mapping[str, Graph]) -> bool:
    """Whether every resource argument of branch node ``node`` is, in each branch, only read by table
    lookups (through Identities) and never returned."""
    for _, name in _func_names(node):
        body = functions.get(name)
        if body is None:
            return False
        if any(v.dtype is DType.RESOURCE for v in body.outputs.values()):
            return False
        consumers = body.consumers()
        for argument in body.inputs.values():
            if argument.dtype is not DType.RESOURCE:
                continue
            stack = [argument]
            while stack:
                value = stack.pop()
                for reader in consumers.get(value, []):
                    if reader.op == "Identity":
                        stack.extend(reader.outputs)
                    elif reader.op not in TABLE_READ_OPS or reader.inputs[0] is not value or value in reader.inputs[1:]:
                        return False
    return True


def _problems(graph: Graph) -> dict[str, list[str]]:
    """Everything in ``graph``'s functional control flow (nested bodies included) that cannot be lowered."""
    problems: dict[str, list[str]] = {}
    checked: set[str] = set()

    def add(op: str, entry: str) -> None:
        problems.setdefault(op, []).append(entry)

    def check_node(node: Node, where: str) -> None:
        names = _func_names(node)
        for role, name in names:
            if name not in graph.functions:
                add(node.op, f"{where}{node.name} ({role} function {name or '?'} has no IR body)")
        branches = node.op in IF_OPS or node.op in CASE_OPS  # may pass table handles to table reads
        if any(v.dtype is DType.RESOURCE for v in (node.inputs[1:] if branches else node.inputs)):
            what = "a resource input other than a table handle read by lookups" if branches else \
                "a resource input: a variable or table handle"
            if not branches or not _handles_only_looked_up(node, graph.functions):
                add(node.op, f"{where}{node.name} ({what})")
        if branches and node.inputs and node.inputs[0].dtype is DType.RESOURCE:
            add(node.op, f"{where}{node.name} (a resource input: a variable or table handle)")
        if node.op in IF_OPS and node.inputs:
            cond = node.inputs[0]
            if cond.dtype is DType.STRING:  # TF: a scalar string is true when not empty; TF.js has no such test
                add(node.op, f"{where}{node.name} (its condition is a string)")
        if node.op in CASE_OPS and not names:
            add(node.op, f"{where}{node.name} (no branches)")
        bodies = [(role, name) for role, name in names if name in graph.functions]
        for role, name in bodies:
            body = graph.functions[name]
            arity = (len(node.inputs) - (0 if node.op in WHILE_OPS else 1), len(body.inputs))
            if arity[0] != arity[1]:
                add(node.op, f"{where}{node.name} (passes {arity[0]} argument(s) to {name}, which takes {arity[1]})")
            if role == "cond" and len(body.outputs) != 1:
                add(node.op, f"{where}{node.name} (cond {name} returns {len(body.outputs)} value(s), not 1)")
            if node.op not in WHILE_OPS and len(body.outputs) != len(node.outputs):
                add(node.op, f"{where}{node.name} ({name} returns {len(body.outputs)} value(s), not {len(node.outputs)})")
            if node.op in WHILE_OPS and role == "body" and len(body.outputs) != len(node.inputs):
                add(node.op, f"{where}{node.name} (body {name} returns {len(body.outputs)} value(s) for "
                             f"{len(node.inputs)} loop variable(s))")
            if name in checked:
                continue
            checked.add(name)
            for inner in body:
                if branches and _reads_table_argument(inner, body):
                    continue  # checked with the node (_handles_only_looked_up)
                if inner.op in STATEFUL_RESOURCE_OPS or any(v.dtype is DType.RESOURCE for v in inner.inputs):
                    add(inner.op, f"{name}/{inner.name} (a stateful resource op in {node.op} {node.name}'s {role})")
                elif inner.op in FUNCTIONAL_OPS:
                    check_node(inner, f"{name}/")

    for node in functional_nodes(graph):
        check_node(node, "")
    cycle = _function_cycle(graph)
    if cycle:
        add("recursion", f"{' -> '.join(cycle)} (a function that reaches itself cannot be inlined)")
    return problems


def _function_cycle(graph: Graph) -> list[str] | None:
    """A cycle ``f -> g -> f`` among the functions ``graph`` reaches (func attrs and calls), if any."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        if state.get(name) == 2:
            return None
        if state.get(name) == 1:
            return path[path.index(name):] + [name]
        state[name] = 1
        for inner in referenced_functions(graph.functions[name], graph.functions):
            found = visit(inner, path + [name])
            if found:
                return found
        state[name] = 2
        return None

    for name in referenced_functions(graph, graph.functions):
        found = visit(name, [])
        if found:
            return found
    return None


# -- building blocks ----------------------------------------------------------------------------
def _relaxed(*shapes: Shape) -> Shape:
    """The most specific shape all of ``shapes`` have (unknown where they differ)."""
    known = [s for s in shapes if s is not None]
    if len(known) != len(shapes) or len({len(s) for s in known}) != 1:
        return None
    return tuple(dims[0] if len(set(dims)) == 1 else None for dims in zip(*known))


def _op(graph: Graph, op: str, inputs: list[Value], attrs: dict[str, Any], name: str, dtype: DType | None,
        shape: Shape, controls: Iterable[Node] = (), outputs: int = 1) -> Node:
    node = graph.add_node(op, inputs, attrs, name=name, num_outputs=outputs, control_inputs=list(controls))
    for value in node.outputs:
        value.dtype, value.shape = dtype, shape
    return node


def _if_predicate(graph: Graph, cond: Value, name: str) -> Value:
    """TF's ``If`` condition as the scalar bool TF.js's ``Switch`` needs (it reads only the first element).

    TF: a scalar is true when it is true or not 0 (NaN too); a tensor of any other rank is true when
    it has elements, whatever their values. With the rank unknown, both rules are built and chosen
    by ``Rank(cond) == 0``.
    """
    def scalar_truth() -> Value:
        truth = cond
        if cond.dtype not in (DType.BOOL, None):
            zero = graph.const(np.zeros((), cond.dtype.numpy), name=f"{name}/zero")
            truth = _op(graph, "NotEqual", [cond, zero], {"T": cond.dtype}, f"{name}/predicate", DType.BOOL,
                        cond.shape).output(0)
        if cond.shape == ():
            return truth
        flat = graph.const(np.asarray([-1], np.int32), name=f"{name}/flat")
        flat = _op(graph, "Reshape", [truth, flat], {"T": DType.BOOL, "Tshape": DType.INT32}, f"{name}/flat_cond",
                   DType.BOOL, (None,)).output(0)
        axis = graph.const(np.asarray(0, np.int32), name=f"{name}/axis")
        return _op(graph, "Any", [flat, axis], {"keep_dims": False, "Tidx": DType.INT32}, f"{name}/any",
                   DType.BOOL, ()).output(0)

    def has_elements() -> Value:
        size = _op(graph, "Size", [cond], {"T": cond.dtype, "out_type": DType.INT32}, f"{name}/size", DType.INT32,
                   ()).output(0)
        zero = graph.const(np.asarray(0, np.int32), name=f"{name}/no_elements")
        return _op(graph, "Greater", [size, zero], {"T": DType.INT32}, f"{name}/has_elements", DType.BOOL,
                   ()).output(0)

    if cond.shape == ():
        return scalar_truth()
    if cond.shape is not None:
        return has_elements()
    rank = _op(graph, "Rank", [cond], {"T": cond.dtype}, f"{name}/rank", DType.INT32, ()).output(0)
    zero = graph.const(np.asarray(0, np.int32), name=f"{name}/rank_zero")
    is_scalar = _op(graph, "Equal", [rank, zero], {"T": DType.INT32}, f"{name}/is_scalar", DType.BOOL, ()).output(0)
    not_scalar = _op(graph, "LogicalNot", [is_scalar], {}, f"{name}/not_scalar", DType.BOOL, ()).output(0)
    both = [_op(graph, "LogicalAnd", [is_scalar, scalar_truth()], {}, f"{name}/scalar_rule", DType.BOOL, ()),
            _op(graph, "LogicalAnd", [not_scalar, has_elements()], {}, f"{name}/tensor_rule", DType.BOOL, ())]
    return _op(graph, "LogicalOr", [b.output(0) for b in both], {}, f"{name}/truth", DType.BOOL, ()).output(0)


def _forwarded_argument(value: Value, args: Mapping[Value, int]) -> int | None:
    """The argument position ``value`` is, through Identity-like nodes; None if it is computed."""
    seen = 0
    while value not in args and value.producer.op in _FORWARDING_OPS and not value.producer.control_inputs:
        value = value.producer.inputs[value.index if value.producer.op == "IdentityN" else 0]
        seen += 1
        if seen > 1000:
            return None
    return args.get(value)


#: Ops TF.js 4.22 runs asynchronously (its ``control``, ``dynamic`` and ``hash_table`` executors return promises),
#: or that become frames or calls here: their results may arrive after a loop has started.
_LATER_OPS = FUNCTIONAL_OPS | frozenset({
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "RefEnter", "RefExit", "RefMerge", "RefSwitch",
    "RefNextIteration", "EmptyTensorList", "Where", "ListDiff", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
    "NonMaxSuppressionV4", "NonMaxSuppressionV5", "PartitionedCall", "StatefulPartitionedCall"})
_LATER_PREFIXES = ("TensorList", "TensorArray", "LookupTable", "HashTable", "MutableHashTable", "MutableDenseHashTable",
                   "InitializeTable")


def _there_from_the_start(value: Value, functions: Mapping[str, Graph], known: dict[Node, bool]) -> bool:
    """Whether TF.js computes ``value`` before any loop starts: only constants, graph inputs and synchronous
    ops lead to it. TF.js runs every synchronous node a wave of promises makes ready before the next wave, and a
    loop's Enter is itself a promise. A loop need not wait for such a value, and a control edge would stop
    ``constant_folding`` from folding it (an ``Unpack`` of a GRU's bias)."""
    stack = [value.producer]
    while stack:
        node = stack[-1]
        if node in known:
            stack.pop()
            continue
        if node.op in _LATER_OPS or node.op.startswith(_LATER_PREFIXES) or node.op in functions or (
                not node.inputs and node.op not in ("Const", "Placeholder")):
            known[node] = False
            stack.pop()
            continue
        pending = [v.producer for v in node.inputs if v.producer not in known]
        pending += [d for d in node.control_inputs if d not in known]
        if pending:
            stack.extend(pending)
            continue
        known[node] = all(known[v.producer] for v in node.inputs) and all(known[d] for d in node.control_inputs)
        stack.pop()
    return known[value.producer]


def _reads(function: Graph, index: int) -> bool:
    """Whether ``function`` reads its argument ``index`` other than by returning it (through Identity-like nodes):
    a loop variable frozen because nothing reads it (a list an encoder RNN fills) needs no wait, and a control
    edge would keep its producer alive."""
    arguments = list(function.inputs.values())
    if index >= len(arguments):
        return False
    consumers, stack, seen = function.consumers(), [arguments[index]], set()
    while stack:
        value = stack.pop()
        for reader in consumers.get(value, []):
            if reader.op not in _FORWARDING_OPS or reader.control_inputs:
                return True
            if reader not in seen:
                seen.add(reader)
                stack.extend(reader.outputs)
    return False


class _Inliner:
    """Copies function bodies into the graph, anchoring what would run outside its frame or branch."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        #: functional nodes copied into a loop frame (directly, or through If/Case branches there)
        self.in_loop: set[Node] = set()

    def inline(self, body: Graph, args: list[Value], prefix: str, local: set[Value], anchor: Node, *,
               in_loop: bool) -> list[Value]:
        """Copy ``body`` with its arguments bound to ``args``; return its outputs, in order.

        ``local`` holds the values produced once per iteration (or branch): a copied node reading
        none of them gets a control input from ``anchor``; the copies' outputs join ``local``.
        ``in_loop``: the copies run inside a loop frame.
        """
        mapped: dict[Value, Value] = dict(zip(body.inputs.values(), args))
        copies: dict[Node, Node] = {}
        for node in body.topological_order():
            if node.outputs and all(v in mapped for v in node.outputs):
                continue  # an argument
            copy = self.graph.add_node(node.op, (), dict(node.attrs), name=f"{prefix}/{node.name}",
                                       num_outputs=len(node.outputs))
            copy.provenance = copy.provenance or node.provenance
            for value, new in zip(node.outputs, copy.outputs):
                new.dtype, new.shape = value.dtype, value.shape
                mapped[value] = new
            copies[node] = copy
        for node in body.topological_order():
            copy = copies.get(node)
            if copy is None:
                continue
            copy.inputs = [mapped[v] for v in node.inputs]
            copy.control_inputs = [copies[d] for d in node.control_inputs if d in copies]
            if node.op == "Const":
                continue
            in_frame = any(v in local for v in copy.inputs) or any(
                v in local for d in copy.control_inputs for v in d.outputs)
            if node.op in FUNCTIONAL_OPS and in_loop:
                self.in_loop.add(copy)
            if node.op in FUNCTIONAL_OPS or not in_frame:
                self._anchor(copy, anchor)
            local.update(copy.outputs)
        return [mapped[v] for v in body.outputs.values()]

    def _anchor(self, copy: Node, anchor: Node) -> None:
        """Make ``copy`` wait for ``anchor``: a control input, or for :data:`_LIST_INPUT_OPS` one on an
        ``Identity`` of its first input (a data input they read in TF.js)."""
        if copy.op not in _LIST_INPUT_OPS or not copy.inputs:
            if anchor not in copy.control_inputs:
                copy.control_inputs.append(anchor)
            return
        first = copy.inputs[0]
        carrier = _op(self.graph, "Identity", [first], {"T": first.dtype} if first.dtype else {},
                      f"{copy.name}/anchored_input", first.dtype, first.shape, [anchor])
        copy.inputs = [carrier.outputs[0], *copy.inputs[1:]]


def _replace_node(graph: Graph, old: Node, results: list[Value], consumers: dict[Value, list[Node]],
                  control_readers: list[Node], control_targets: list[Node]) -> None:
    """Readers of ``old``'s outputs read ``results``; its control readers wait for ``control_targets``."""
    for index, value in enumerate(old.outputs):
        if index >= len(results):
            continue
        for reader in consumers.get(value, []):
            reader.inputs = [results[index] if v is value else v for v in reader.inputs]
        for key, out in list(graph.outputs.items()):
            if out is value:
                graph.outputs[key] = results[index]
    for reader in control_readers:
        reader.control_inputs = [d for d in reader.control_inputs if d is not old]
        reader.control_inputs.extend(t for t in control_targets if t not in reader.control_inputs)


# -- the lowerings ------------------------------------------------------------------------------
class _Lowering:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.inliner = _Inliner(graph)
        self.frames = {str(n.attrs.get("frame_name", "")) for n in graph if n.op in ("Enter", "RefEnter")}

    def frame_name(self, base: str) -> str:
        name, i = base, 0
        while name in self.frames:
            i += 1
            name = f"{base}_{i}"
        self.frames.add(name)
        return name

    def lower_while(self, node: Node) -> tuple[list[Value], list[Node]]:
        graph, name = self.graph, node.name
        cond, body = (self.graph.functions[f] for _, f in _func_names(node))
        frame = self.frame_name(f"{name}/while_context")
        parallel = int(node.attrs.get("parallel_iterations", 10) or 10)
        placeholders = {v: i for i, v in enumerate(body.inputs.values())}
        returned = [_forwarded_argument(v, placeholders) for v in body.outputs.values()]
        # A constant Enter inside another loop's frame, reading a value of that frame, stalled TF.js 4.22
        # (the loop's Exit never came: measured with a TensorList written in the inner body), so loops
        # nested in a loop carry every variable through Merge/Switch/NextIteration.
        nested = node in self.inliner.in_loop
        variant = [returned[i] != i or nested for i in range(len(node.inputs))]
        if not any(variant):  # a loop that changes nothing: still one Merge for the condition to wait on
            variant = [True] + variant[1:]
        controls = list(node.control_inputs)
        read = [_reads(cond, i) or _reads(body, i) for i in range(len(node.inputs))]
        controls += [g for g in self._start_gates(node, [v or not r for v, r in zip(variant, read)])
                     if g not in controls]
        body_args: list[Value] = []
        cond_args: list[Value] = []
        merges: list[Node | None] = []
        shapes = []
        for i, x in enumerate(node.inputs):
            out = node.outputs[i] if i < len(node.outputs) else None
            shape = _relaxed(list(body.inputs.values())[i].shape, out.shape if out is not None else None)
            shapes.append(shape)
            t = {"T": x.dtype} if x.dtype is not None else {}
            enter = _op(graph, "Enter", [x], {**t, "frame_name": frame, "is_constant": not variant[i],
                                              "parallel_iterations": parallel},
                        f"{name}/enter_{i}", x.dtype, shape if variant[i] else x.shape, controls)
            if variant[i]:
                merge = _op(graph, "Merge", [enter.output(0)], {**t, "N": 2}, f"{name}/merge_{i}", x.dtype, shape,
                            outputs=2)
                merge.outputs[1].dtype, merge.outputs[1].shape = DType.INT32, ()
                merges.append(merge)
                cond_args.append(merge.output(0))
            else:
                merges.append(None)
                cond_args.append(enter.output(0))
        first_merge = next(m for m in merges if m is not None)
        local: set[Value] = {m.output(0) for m in merges if m is not None}
        (predicate,) = self.inliner.inline(cond, cond_args, f"{name}/cond", local, first_merge, in_loop=True)[:1]
        loop_cond = _op(graph, "LoopCond", [predicate], {}, f"{name}/loop_cond", DType.BOOL, ())
        results: list[Value] = []
        pivot: Node | None = None
        exits: list[Node] = []
        switch_outputs: set[Value] = set()
        for i, x in enumerate(node.inputs):
            if not variant[i]:
                body_args.append(cond_args[i])
                results.append(x)
                continue
            t = {"T": x.dtype} if x.dtype is not None else {}
            switch = _op(graph, "Switch", [merges[i].output(0), loop_cond.output(0)], t, f"{name}/switch_{i}",
                         x.dtype, shapes[i], outputs=2)
            exit_ = _op(graph, "Exit", [switch.output(0)], t, f"{name}/exit_{i}", x.dtype, shapes[i])
            ident = _op(graph, "Identity", [switch.output(1)], t, f"{name}/body_input_{i}", x.dtype, shapes[i])
            pivot = pivot or ident
            switch_outputs.add(ident.output(0))
            body_args.append(ident.output(0))
            results.append(exit_.output(0))
            exits.append(exit_)
        assert pivot is not None
        local = set(switch_outputs)
        outputs = self.inliner.inline(body, body_args, f"{name}/body", local, pivot, in_loop=True)
        for i, merge in enumerate(merges):
            if merge is None:
                continue
            value = outputs[i]
            t = {"T": value.dtype or node.inputs[i].dtype}
            anchors = [] if value in switch_outputs else [pivot]
            step = _op(graph, "NextIteration", [value], t, f"{name}/next_iteration_{i}", t["T"], shapes[i], anchors)
            merge.inputs.append(step.output(0))
        return results, exits

    def _start_gates(self, node: Node, skip: list[bool]) -> list[Node]:
        """Nodes the loop's Enters wait for: the producers of its loop-invariant values that the loop reads
        (``skip`` false) and TF.js may compute after the loop has started (:func:`_there_from_the_start`).

        The body reads an invariant value from outside the loop (``bypass_constant_enters`` drops its
        constant Enter, which TF.js holds for one iteration only). TF.js runs a node in the frame of its last
        input, so a body node whose outside input arrives after the loop has started (the list a first RNN's
        output feeds a second one) is never run: "cannot compute the outputs". Waiting for it makes the
        value exist before the frame does. A ``Switch`` output gets an ``Identity``: a ``^switch`` control input is
        read as output 0, which is dead when output 1 is taken.
        """
        gates: list[Node] = []
        known: dict[Node, bool] = {}
        for i, x in enumerate(node.inputs):
            producer = x.producer
            if skip[i] or _there_from_the_start(x, self.graph.functions, known):
                continue
            if producer.op in ("Switch", "RefSwitch") or x.index:
                t = {"T": x.dtype} if x.dtype is not None else {}
                producer = _op(self.graph, "Identity", [x], t, f"{node.name}/invariant_{i}_ready", x.dtype, x.shape)
            if producer not in gates:
                gates.append(producer)
        return gates

    def lower_branches(self, node: Node) -> tuple[list[Value], list[Node]]:
        """``If``/``Case``: a chain of Switches selecting one branch, one Merge per output."""
        graph, name = self.graph, node.name
        functions = [self.graph.functions[f] for _, f in _func_names(node)]
        roles = [role for role, _ in _func_names(node)]
        selector, args = node.inputs[0], node.inputs[1:]
        controls = list(node.control_inputs)
        if node.op in IF_OPS:
            predicates = [_if_predicate(graph, selector, name)]
        else:
            predicates = []
            for k in range(len(functions) - 1):
                index = graph.const(np.asarray(k, selector.dtype.numpy if selector.dtype else np.int32),
                                    name=f"{name}/index_{k}")
                predicates.append(_op(graph, "Equal", [selector, index], {"T": selector.dtype or DType.INT32},
                                      f"{name}/is_branch_{k}", DType.BOOL, ()).output(0))
            if not predicates:  # a Case with one branch: always taken
                predicates.append(graph.const(np.asarray(True), name=f"{name}/always"))
        # gates[k]: produced only when branches 0..k-1 were not taken; its Switch on predicates[k] gives the pivots
        pivots: list[Node] = []
        gate = predicates[0]
        for k, predicate in enumerate(predicates):
            switch = _op(graph, "Switch", [gate, predicate], {"T": gate.dtype}, f"{name}/pivot_switch_{k}",
                         DType.BOOL, (), controls, outputs=2)
            pivots.append(_op(graph, "Identity", [switch.output(1)], {"T": DType.BOOL}, f"{name}/{roles[k]}_pivot",
                              DType.BOOL, ()))
            gate = switch.output(0)
        pivots.append(_op(graph, "Identity", [gate], {"T": DType.BOOL}, f"{name}/{roles[-1]}_pivot", DType.BOOL, ()))
        made: dict[tuple[int, int], Node] = {}

        def argument_switch(i: int, level: int) -> Node:
            """The Switch of argument ``i`` on ``predicates[level]`` (fed by the previous level's false side)."""
            if (i, level) not in made:
                value = args[i] if level == 0 else argument_switch(i, level - 1).output(0)
                t = {"T": value.dtype} if value.dtype is not None else {}
                made[(i, level)] = _op(graph, "Switch", [value, predicates[level]], t, f"{name}/switch_{i}_{level}",
                                       value.dtype, value.shape, controls, outputs=2)
            return made[(i, level)]

        def branch_argument(i: int, k: int) -> Value:
            """Argument ``i`` as branch ``k`` sees it: produced only when branch ``k`` is taken."""
            if k < len(predicates):
                return argument_switch(i, k).output(1)
            return argument_switch(i, len(predicates) - 1).output(0)

        outputs_per_branch: list[list[Value]] = []
        for k, body in enumerate(functions):
            used = [bool(body.consumers().get(p)) or p in body.outputs.values() for p in body.inputs.values()]
            bound = [branch_argument(i, k) if used[i] else args[i] for i in range(len(args))]
            local = {v for v, u in zip(bound, used) if u} | {pivots[k].output(0)}
            outputs = self.inliner.inline(body, bound, f"{name}/{roles[k]}", local, pivots[k],
                                          in_loop=node in self.inliner.in_loop)
            switched = {v for v, u in zip(bound, used) if u}
            anchored = []
            for j, value in enumerate(outputs):
                if value in switched:
                    anchored.append(value)
                    continue
                t = {"T": value.dtype} if value.dtype is not None else {}
                anchored.append(_op(graph, "Identity", [value], t, f"{name}/{roles[k]}_output_{j}", value.dtype,
                                    value.shape, [pivots[k]]).output(0))
            outputs_per_branch.append(anchored)
        results: list[Value] = []
        merges: list[Node] = []
        for j, out in enumerate(node.outputs):
            values = [branch[j] for branch in outputs_per_branch]
            dtype = out.dtype or values[0].dtype
            merge = _op(graph, "Merge", values, {"T": dtype, "N": len(values)}, f"{name}/merge_{j}", dtype,
                        _relaxed(out.shape, *(v.shape for v in values)), outputs=2)
            merge.outputs[1].dtype, merge.outputs[1].shape = DType.INT32, ()
            results.append(merge.output(0))
            merges.append(merge)
        return results, merges or pivots


def lowered_size(graph: Graph) -> int:
    """About how many nodes (at most) ``graph`` has once every functional node is replaced by copies of its
    functions and its frame nodes (nested ones expanded too): a function run at several places is copied at each."""
    sizes: dict[str, int] = {}

    def size(body: Graph, name: str | None) -> int:
        if name is not None and name in sizes:
            return sizes[name]
        total = len(body)
        for node in functional_nodes(body):
            functions = _func_names(node)
            total += sum(size(graph.functions[f], f) for _, f in functions if f in graph.functions)
            if node.op in WHILE_OPS:  # Enter, Merge, Switch, Exit, Identity, NextIteration per variable; LoopCond
                total += 6 * len(node.inputs) + 1
            else:  # Switches per argument and level, pivots, predicates, an Identity per output and branch, Merges
                total += (len(functions) + 1) * (len(node.inputs) + len(node.outputs)) + 4 * len(functions) + 2
        if name is not None:
            sizes[name] = total
        return total

    return size(graph, None)


def lower_control_flow(graph: Graph, *, max_nodes: int | None = None) -> int:
    """Lower every functional ``While``/``If``/``Case`` of ``graph`` (nested ones too) to v1 frames.

    The bodies come from ``graph.functions`` (IR graphs, arguments in order as ``inputs``). Raises
    :class:`ControlFlowLoweringError` naming every node that cannot be lowered before changing
    anything. Library functions (``graph.library``) no node references any more are dropped.
    Returns how many functional nodes were lowered. With ``max_nodes``, a graph that inlining would
    make bigger than that (:func:`lowered_size`) is refused first (``--max_nodes``, exit 2).

    For a frontend (the TF-free SavedModel reader): call it once the graph is final except for calls
    (``inline_functions`` may run after it, and expands calls copied out of the bodies), and *after*
    the frontend passes (``passes.frontend.run_frontend_passes``), whose ``drop_control_edges`` would remove the
    anchors placed here; rewrite each body before (the TF path's ``functions.function_body`` does). Or
    leave the functional nodes and their bodies in ``graph.functions``: the registered pass lowers them.
    """
    if not functional_nodes(graph):
        return 0
    problems = _problems(graph)
    if problems:
        raise ControlFlowLoweringError(problems)
    if max_nodes is not None:  # a function run at many nested places is copied at each: bound the product
        from ..limits import Limits, check_limit

        check_limit("max_nodes", lowered_size(graph), Limits(max_nodes=max_nodes),
                    "the graph with its While/If/Case bodies inlined has too many nodes")
    lowering = _Lowering(graph)
    count = 0
    while True:
        # producers first: a node's readers (and control readers) exist before its outputs are rewired
        pending = [n for n in graph.topological_order() if n.op in FUNCTIONAL_OPS]
        if not pending:
            break
        consumers = graph.consumers()
        control_readers: dict[Node, list[Node]] = {}
        for reader in graph:
            for dep in reader.control_inputs:
                control_readers.setdefault(dep, []).append(reader)
        for node in pending:
            with scope(graph, *node.provenance):
                if node.op in WHILE_OPS:
                    results, finals = lowering.lower_while(node)
                else:
                    results, finals = lowering.lower_branches(node)
            _replace_node(graph, node, results, consumers, control_readers.get(node, []), finals)
            node.inputs, node.control_inputs = [], []
            count += 1
        graph.remove_nodes(pending)
    _drop_unused_functions(graph)
    if bypass_constant_enters(graph):
        graph.remove_dead_nodes()
    return count


#: Ops of v1 control flow: an ``Enter`` read by one of them is not bypassed (it carries the frame).
V1_CONTROL_FLOW_OPS = frozenset({"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefEnter",
                                 "RefSwitch", "RefMerge", "RefExit", "RefNextIteration"})


def bypass_constant_enters(graph: Graph) -> int:
    """Readers of a loop-invariant ``Enter`` (``is_constant``) read its input instead; returns how many Enters.

    TF.js keeps such an Enter's output in the loop's first iteration only (and a node reading nothing else has
    no frame to run in: it never runs, or fails with "Cannot read properties of undefined"), while a tensor of an
    enclosing frame is visible in every iteration, which is what ``is_constant`` means. The inlined readers wait
    for the body's pivot anyway; this also covers the readers later passes add (a reduction's element count, a
    select's Casts). Kept where a control-flow op reads it (it carries the frame) or it is a graph output.
    """
    consumers = graph.consumers()
    count = 0
    for node in graph:
        if node.op not in ("Enter", "RefEnter") or not node.attrs.get("is_constant"):
            continue
        readers = consumers.get(node.output(0), [])
        if any(r.op in V1_CONTROL_FLOW_OPS for r in readers) or node.output(0) in graph.outputs.values():
            continue
        source = node.inputs[0]
        for reader in readers:
            reader.inputs = [source if v is node.output(0) else v for v in reader.inputs]
        count += 1
    return count


def _drop_unused_functions(graph: Graph) -> None:
    """Forget library functions and IR bodies that no remaining node (or kept function) references."""
    used = set(_referenced(graph)) | {n.op for n in graph}
    if graph.library:
        docs = {doc.get("signature", {}).get("name"): doc for doc in graph.library}
        stack, keep = [n for n in used if n in docs], set()
        while stack:
            name = stack.pop()
            if name in keep:
                continue
            keep.add(name)
            stack.extend(n for n in _json_func_names(docs[name]) if n in docs and n not in keep)
        graph.library = [doc for doc in graph.library if doc.get("signature", {}).get("name") in keep]
        graph.library_weights = {k: v for k, v in graph.library_weights.items() if k.split("/", 1)[0] in keep}
        used |= keep
    reachable, stack = set(), [n for n in used if n in graph.functions]
    while stack:
        name = stack.pop()
        if name in reachable:
            continue
        reachable.add(name)
        stack.extend(referenced_functions(graph.functions[name], graph.functions))
    graph.functions = {k: v for k, v in graph.functions.items() if k in reachable}


def _json_func_names(doc: Mapping[str, Any]) -> Iterator[str]:
    for node in doc.get("nodeDef", []):
        for attr in (node.get("attr") or {}).values():
            if not isinstance(attr, dict):
                continue
            funcs = [attr["func"]] if isinstance(attr.get("func"), dict) else (attr.get("list") or {}).get("func") or []
            for func in funcs:
                if isinstance(func, dict) and func.get("name"):
                    yield func["name"]


class LowerControlFlow(Pass):
    """Functional ``While``/``If``/``Case`` with IR bodies → v1 frames, unless ``--control_flow_v2`` keeps them."""

    name = "lower_control_flow"
    level = 0

    def __init__(self, max_nodes: int | None = None) -> None:
        self.max_nodes = max_nodes

    def enabled(self, options: object) -> bool:
        return not getattr(options, "control_flow_v2", False)

    def configured(self, options: object) -> "LowerControlFlow":
        limits = getattr(options, "limits", None)
        return LowerControlFlow(getattr(limits, "max_nodes", None))

    def run(self, graph: Graph) -> PassResult:
        if not has_functional_control_flow(graph):
            return PassResult(0)
        return PassResult(lower_control_flow(graph, max_nodes=self.max_nodes))
