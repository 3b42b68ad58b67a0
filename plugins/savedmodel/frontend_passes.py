"""The TensorFlow frontends' structural clean-ups of a frozen graph (and of each loop or branch body),
as frontend passes (``tfjsconv.passes.frontend``): run once, before control flow is lowered.

Order: ``drop_control_edges`` → ``tf_op_rewrites`` (:mod:`.op_rewrites`) → ``remove_no_ops`` →
``bypass_constant_enters`` → ``unwrap_output_identity_n`` (registered in ``__init__.FRONTEND_PASSES``).
Plain ``Identity`` nodes are left to the one identity remover, the core pass ``remove_identity``.
"""
from __future__ import annotations

from tfjsconv.ir import Graph, Node
from tfjsconv.passes import Pass, PassResult

from .frames import anchor_loop_bodies, control_gates, loop_frames


class DropControlEdges(Pass):
    """Remove every control input: a frozen inference graph has no side effects left to order.

    TF.js reads ``^x`` as an ordinary input, so a control edge from a v1 Switch makes the reader
    wait for a branch that may be dead; TF's own frames need them, TF.js does not. The one job they
    did that TF.js needs, placing nodes in a loop body, is redone here by :func:`.frames.anchor_loop_bodies`
    (from the frames read before the edges go). The other, making a ``tf.cond`` branch's constant dead
    when the branch is not taken, by :func:`gate_branch_constants`. Required: with the edges left,
    TF.js may wait forever.
    """

    name = "drop_control_edges"
    level = 0
    stage = "frontend"
    required = True

    def run(self, graph: Graph) -> PassResult:
        frames, gates = loop_frames(graph), control_gates(graph)
        branch_constants = _branch_constants(graph)
        dropped = 0
        for node in graph:
            dropped += len(node.control_inputs)
            node.control_inputs = []
        return PassResult.from_counts(dropped=dropped, loop_body_anchors=anchor_loop_bodies(graph, frames, gates),
                                      branch_constant_gates=gate_branch_constants(graph, branch_constants))


def _is_cond_pivot(node: Node) -> bool:
    """``Identity(Switch:k)`` of a v1 ``tf.cond`` (not of a loop, whose predicate is a ``LoopCond``)."""
    if node.op != "Identity" or len(node.inputs) != 1 or node.inputs[0].producer.op not in ("Switch", "RefSwitch"):
        return False
    switch = node.inputs[0].producer
    return len(switch.inputs) == 2 and switch.inputs[1].producer.op != "LoopCond"


def _branch_constants(graph: Graph) -> list[tuple[Node, Node]]:
    """(Const, pivot) for each constant a v1 ``tf.cond`` branch places by a control edge from its pivot."""
    found = []
    for node in graph:
        if node.op == "Const" and not node.inputs:
            pivot = next((g for g in node.control_inputs if _is_cond_pivot(g)), None)
            if pivot is not None:
                found.append((node, pivot))
    return found


def gate_branch_constants(graph: Graph, branch_constants: list[tuple[Node, Node]]) -> int:
    """Readers of a branch constant read ``Identity(const, ^pivot)`` instead.

    TF.js holds every ``Const`` from the start, so without its control edge a constant of the branch
    not taken is alive: ``Merge`` forwards the first live input and ``tf.cond(p, lambda: 1., lambda: 2.)``
    gives 1. whatever ``p``. An ``Identity`` waiting on the pivot is dead exactly when TF's constant was.
    """
    from tfjsconv.provenance import adopt

    consumers = graph.consumers()  # one map, not a graph walk per constant: models with many branches
    count = 0
    for const, pivot in branch_constants:
        value = const.output(0)
        readers = list(dict.fromkeys(consumers.get(value, [])))
        outputs = [key for key, v in graph.outputs.items() if v is value]
        if not readers and not outputs:
            continue
        gate = graph.add_op("Identity", [value], {"T": const.attrs.get("dtype")}, name=f"{const.name}/branch_gate",
                            dtype=value.dtype, shape=value.shape)
        adopt(gate, value)
        for reader in readers:
            reader.inputs = [gate if v is value else v for v in reader.inputs]
        for key in outputs:
            graph.outputs[key] = gate
        gate.producer.control_inputs = [pivot]
        count += 1
    return count


class RemoveNoOps(Pass):
    """Drop NoOp nodes; whoever waited on one now waits on what the NoOp waited on."""

    name = "remove_no_ops"
    level = 0
    stage = "frontend"
    after = ("tf_op_rewrites",)

    def run(self, graph: Graph) -> PassResult:
        no_ops = [n for n in graph if n.op == "NoOp"]
        if not no_ops:
            return PassResult()
        doomed = set(no_ops)

        def expand(deps: list[Node], seen: set[Node]) -> list[Node]:
            out: list[Node] = []
            for dep in deps:
                if dep in doomed:
                    if dep not in seen:
                        seen.add(dep)
                        out.extend(expand(dep.control_inputs, seen))
                elif dep not in out:
                    out.append(dep)
            return out

        for node in graph:
            if node not in doomed and any(d in doomed for d in node.control_inputs):
                node.control_inputs = expand(node.control_inputs, set())
        for node in no_ops:
            node.control_inputs = []
        graph.remove_nodes(no_ops)
        return PassResult(len(no_ops))


class BypassConstantEnters(Pass):
    """Loop-invariant ``Enter`` (``is_constant``): its readers read the value from outside the loop.

    TF.js ignores ``is_constant``: it keeps the Enter's output in the loop's first iteration only,
    so a body node reading it in the second iteration waits forever ("cannot compute the
    outputs"). A tensor from an enclosing frame is visible in every iteration, which is what
    ``is_constant`` means. Grappler's loop-invariant Enters of variables hit this. Required, for
    that reason; the core ``lower_control_flow`` does the same (:func:`bypass_constant_enters`) after lowering.
    """

    name = "bypass_constant_enters"
    level = 0
    stage = "frontend"
    required = True
    after = ("remove_no_ops",)

    def run(self, graph: Graph) -> PassResult:
        from tfjsconv.passes.lower_control_flow import bypass_constant_enters

        return PassResult(bypass_constant_enters(graph))


class UnwrapOutputIdentityN(Pass):
    """Outputs read from an ``IdentityN`` (what Grappler leaves of an inlined call) read its inputs.

    Kept when the input is a graph input or already another output: the IdentityN then gives it
    its own name. Once no output reads it, the IdentityN is dead and the passes remove it.
    """

    name = "unwrap_output_identity_n"
    level = 0
    stage = "frontend"
    after = ("bypass_constant_enters",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        taken = set(graph.outputs.values())
        inputs = set(graph.inputs.values())
        for key, value in list(graph.outputs.items()):
            node = value.producer
            if node.op != "IdentityN" or node.control_inputs:
                continue
            source = node.inputs[value.index]
            if source in inputs or source in taken:
                continue
            graph.outputs[key] = source
            taken.add(source)
            count += 1
        return PassResult(count)
