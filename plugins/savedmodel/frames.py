"""Keep v1 loop frames intact for TF.js once control edges are gone.

TF places a node in a loop frame through its inputs, control edges included: a constant inside a
loop body is a ``Const`` with a control edge from the loop's pivot (``Identity(Switch:1)``).
TF.js does not work that way. Its ``executeAsync`` runs a node when the last of its inputs is
produced, in the frame and iteration of that input, and it runs every ``Const`` once, in the root
frame. So once the frontend pass ``drop_control_edges`` (:mod:`.frontend_passes`) has removed the
pivot edges, the ``Enter`` of an inner loop whose initial value is such a constant (a loop counter starting at 0) runs once in
the root frame instead of once per iteration of the outer loop: the inner loop gets two frames
and TF.js fails (``Cannot read properties of undefined (reading 'id')``). Constant folding and CSE
can turn any loop-invariant body value into a root ``Const`` later, with the same effect.

The fix: every ``Enter`` and ``NextIteration`` that runs inside a loop body, and every op there
that creates a mutable TF.js object (a TensorList or TensorArray), keeps the control edge TF had
placing it (or the constant it reads) in that body, or gets one from the body's pivot. TF.js reads
``^pivot`` as an input it waits for (kernels ignore it), so the node runs once per iteration, in
that iteration's frame (and only when its ``tf.cond`` branch there is taken), whatever its data
input became.
"""
from __future__ import annotations

from tfjsconv.ir import Graph, Node

#: A frame is the path of loop frame names from the root: () is the root frame.
Frame = tuple[str, ...]

ENTER_OPS = frozenset({"Enter", "RefEnter"})
EXIT_OPS = frozenset({"Exit", "RefExit"})
#: Ops that must run once per iteration of the loop body they sit in, not once in the root frame.
PER_ITERATION_OPS = frozenset({"NextIteration", "RefNextIteration", "TensorListReserve", "EmptyTensorList",
                               "TensorArrayV3", "TensorArrayV2", "TensorArray"})


def _frame_name(node: Node) -> str:
    name = node.attrs.get("frame_name", "")
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def loop_frames(graph: Graph) -> dict[Node, Frame]:
    """The loop frame each node runs in, by TF's rules (data and control edges both count).

    An ``Enter`` runs in a child (its ``frame_name``) of the innermost frame among its inputs, an
    ``Exit`` in the parent of its input's frame, any other node in the innermost frame among its
    inputs (``Merge`` ignores its ``NextIteration`` back edge, which
    :meth:`Graph.topological_order` leaves out).
    """
    frames: dict[Node, Frame] = {}
    for node in graph.topological_order():
        sources = [v.producer for v in node.inputs] + list(node.control_inputs)
        known = [frames[s] for s in sources if s in frames]
        if node.op in ENTER_OPS:
            frames[node] = (*max(known, key=len, default=()), _frame_name(node))
        elif node.op in EXIT_OPS:
            base = frames.get(node.inputs[0].producer, ()) if node.inputs else ()
            frames[node] = base[:-1]
        else:
            frames[node] = max(known, key=len, default=())
    return frames


def control_gates(graph: Graph) -> dict[Node, list[Node]]:
    """What TF waits for before running each node: its control inputs and those of the constants it
    reads (a body constant's control edge is what puts it in the body, or in a ``tf.cond`` branch
    there). Read before ``drop_control_edges`` drops them."""
    gates: dict[Node, list[Node]] = {}
    for node in graph:
        found = list(node.control_inputs)
        for value in node.inputs:
            producer = value.producer
            if not producer.inputs:
                found.extend(g for g in producer.control_inputs if g not in found)
        if found:
            gates[node] = found
    return gates


def _run_frame(node: Node, frames: dict[Node, Frame]) -> Frame:
    """The frame a node executes in: an ``Enter`` runs in the frame around the one it enters."""
    frame = frames.get(node, ())
    return frame[:-1] if node.op in ENTER_OPS else frame


def _is_pivot(node: Node) -> bool:
    """``Identity(Switch:k)``: produced exactly when that side of a loop or ``tf.cond`` runs. Other
    gates TF had may be loop-invariant in TF.js (a variable read becomes a root ``Const``)."""
    return node.op == "Identity" and len(node.inputs) == 1 and node.inputs[0].producer.op == "Switch"


def _pivots(graph: Graph, frames: dict[Node, Frame]) -> dict[Frame, Node]:
    """Per loop frame, a node produced exactly when that loop's body runs: ``Identity(Switch:1)``.

    The Switch is one of the loop's own (its predicate is the ``LoopCond``); an Identity reading
    its output 1 is reused (Grappler leaves one, ``loop_body_control``), else one is added.
    """
    consumers = graph.consumers()
    pivots: dict[Frame, Node] = {}
    for node in graph.topological_order():
        frame = frames.get(node, ())
        if (node.op != "Switch" or not frame or frame in pivots or len(node.inputs) != 2
                or node.inputs[1].producer.op != "LoopCond"):
            continue
        body = node.output(1)
        existing = [r for r in consumers.get(body, []) if r.op == "Identity" and r.inputs == [body]]
        if existing:
            pivots[frame] = existing[0]
        else:
            pivot = graph.add_op("Identity", [body], {"T": node.attrs.get("T")}, name=f"{node.name}/frame_pivot",
                                 dtype=body.dtype, shape=body.shape).producer
            frames[pivot] = frame
            pivots[frame] = pivot
    return pivots


def anchor_loop_bodies(graph: Graph, frames: dict[Node, Frame], gates: dict[Node, list[Node]]) -> int:
    """Give each frame-sensitive node inside a loop body a control input that is produced once per
    iteration of that body: the pivot TF gated it on in the same frame (a ``tf.cond`` branch pivot
    keeps an inner loop in its branch), else the body's pivot.

    ``frames`` and ``gates`` are :func:`loop_frames` and :func:`control_gates` of the graph *before*
    its control edges were dropped. Returns how many nodes were anchored.
    """
    candidates = [n for n in graph if (n.op in ENTER_OPS or n.op in PER_ITERATION_OPS) and _run_frame(n, frames)]
    if not candidates:
        return 0
    pivots = _pivots(graph, frames)
    count = 0
    for node in candidates:
        run_frame = _run_frame(node, frames)
        anchors = [g for g in gates.get(node, []) if _is_pivot(g) and frames.get(g) == run_frame
                   and g.name in graph and graph.node(g.name) is g]
        if not anchors and run_frame in pivots:
            anchors = [pivots[run_frame]]
        added = [a for a in anchors if a is not node and a not in node.control_inputs]
        node.control_inputs.extend(added)
        count += bool(added)
    return count
