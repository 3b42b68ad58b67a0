"""A TF v1 while loop (Enter, Merge, LoopCond, Switch, Exit, NextIteration) built into an IR graph.

Frontends that lower a loop over a length known only at run time (ONNX's RNNs, Keras's RNN layers) build
it with :class:`WhileLoop`; TF.js runs such a graph with ``executeAsync``. One rule the builder cannot
enforce: TF.js's ``executeAsync`` schedules a node when its last input arrives, in that input's frame, so
everything the loop starts from must be computed from the tensors the body reads from outside (weights
aside), else a body node whose outside input arrives after the loop's own is never run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .dtypes import DType
from .ir import Graph, Node, Value


class OpMaker(Protocol):
    """Adds one single-output node the frontend's way (its naming, its dtype and ``T`` defaults)."""

    def __call__(self, op: str, inputs: list[Value], attrs: dict[str, Any] | None = None, *,
                 label: str | None = None, dtype: DType | None = None) -> Value: ...


class WhileLoop:
    """One while loop: :meth:`start` (Enter, Merge), :meth:`body` (LoopCond, Switch, Exit), :meth:`close`
    (NextIteration back into each Merge: the one cycle the IR allows).

    ``make_op`` adds the loop's single-output nodes, ``node_name`` turns a label into a full node name (for
    the two-output Merge and Switch, added to ``graph`` directly); ``label`` prefixes every node's label and
    names the loop's frame. Loop values keep the static shape of their initial value.
    """

    def __init__(self, graph: Graph, make_op: OpMaker, node_name: Callable[[str], str], label: str) -> None:
        self.graph, self.make_op, self.node_name, self.label = graph, make_op, node_name, label
        self.frame = _unique_frame(graph, graph.unique_name(node_name(label)))
        self._merges: dict[str, Node] = {}
        self._exits: dict[str, Value] = {}

    def _node(self, op: str, inputs: list[Value], attrs: dict, name: str, num_outputs: int) -> Node:
        return self.graph.add_node(op, inputs, attrs, name=self.node_name(f"{self.label}/{name}"),
                                   num_outputs=num_outputs)

    def _op(self, op: str, value: Value, attrs: dict, label: str, like: Value | None = None) -> Value:
        out = self.make_op(op, [value], {"T": value.dtype, **attrs}, label=f"{self.label}/{label}",
                           dtype=value.dtype)
        out.shape = (like or value).shape
        return out

    def start(self, inits: dict[str, Value]) -> dict[str, Value]:
        """Each loop variable entered into the frame and merged with its (later) next value."""
        merged = {}
        for name, init in inits.items():
            entered = self._op("Enter", init, {"frame_name": self.frame, "is_constant": False,
                                               "parallel_iterations": 1}, f"{name}_enter")
            node = self._node("Merge", [entered, entered], {"T": init.dtype, "N": 2}, f"{name}_merge", 2)
            node.output(0).dtype, node.output(1).dtype = init.dtype, DType.INT32
            node.output(0).shape = init.shape
            self._merges[name] = node
            merged[name] = node.output(0)
        return merged

    def body(self, predicate: Value) -> dict[str, Value]:
        """The loop variables inside the body; their values leave through Exit once ``predicate`` is false."""
        cond = self.make_op("LoopCond", [predicate], label=f"{self.label}/cond", dtype=DType.BOOL)
        inside = {}
        for name, merge in self._merges.items():
            value = merge.output(0)
            switch = self._node("Switch", [value, cond], {"T": value.dtype}, f"{name}_switch", 2)
            for out in (switch.output(0), switch.output(1)):
                out.dtype, out.shape = value.dtype, value.shape
            self._exits[name] = self._op("Exit", switch.output(0), {}, f"{name}_exit")
            inside[name] = self._op("Identity", switch.output(1), {}, f"{name}_body")
        return inside

    def close(self, updates: dict[str, Value]) -> dict[str, Value]:
        """Each variable's next value back into its Merge; returns the values after the loop."""
        for name, value in updates.items():
            nxt = self._op("NextIteration", value, {}, f"{name}_next")
            self._merges[name].inputs[1] = nxt
        return dict(self._exits)


def _unique_frame(graph: Graph, base: str) -> str:
    """``base``, or ``base_1``… when another loop's frame has that name (a shared Keras layer called twice)."""
    taken = {node.attrs.get("frame_name") for node in graph if node.op == "Enter"}
    frame, k = base, 0
    while frame in taken:
        k += 1
        frame = f"{base}_{k}"
    return frame


def reserve_outputs(make_op: OpMaker, element_shape: Value, count: Value, label: str) -> Value:
    """A TensorList (float32) for a loop's per-step outputs: a loop variable each iteration writes its step into
    with :func:`write_output`, read after the loop by :func:`gathered_outputs`. Appending each step with
    ``ConcatV2`` instead copies everything so far, quadratic in the length; a list write keeps the step's tensor
    (TF.js ``keep``s it, so the loop does not dispose it) and the read copies each once.

    ``element_shape`` is an int32 vector (``-1`` for a size known only at run time), ``count`` the int32 length."""
    handle = make_op("TensorListReserve", [element_shape, count], {"element_dtype": DType.FLOAT32,
                                                                   "shape_type": DType.INT32},
                     label=label, dtype=DType.VARIANT)
    handle.shape = ()
    return handle


def write_output(make_op: OpMaker, handle: Value, index: Value, item: Value, label: str) -> Value:
    """``handle[index] = item`` inside the loop; returns the list's next value (for its NextIteration)."""
    out = make_op("TensorListSetItem", [handle, index, item], {"element_dtype": item.dtype}, label=label,
                  dtype=DType.VARIANT)
    out.shape = ()
    return out


def gathered_outputs(make_op: OpMaker, handle: Value, indices: Value, element_shape: Value, label: str,
                     shape: tuple[int | None, ...]) -> Value:
    """Items ``indices`` of the list after the loop stacked along a new first axis (``shape``). With every size of
    ``element_shape`` known at run time, TF.js also reads an empty list (zero indices) as ``[0, *element]``; its
    ``TensorListStack`` fails on one."""
    out = make_op("TensorListGather", [handle, indices, element_shape], {"element_dtype": DType.FLOAT32},
                  label=label, dtype=DType.FLOAT32)
    out.shape = shape
    return out
