"""The graph IR: nodes in TensorFlow.js's own op vocabulary, edges as :class:`Value` objects.

Every frontend lowers into this; passes rewrite it; the graph-model writer serialises it as a
GraphDef in protobuf JSON. Names follow GraphDef: a node's outputs are ``name`` (index 0) and
``name:1``, ``name:2`` … Weights live on ``Const`` nodes as numpy arrays or :class:`LazyArray`s,
so a frontend never has to hold the whole model in memory before it is written.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .dtypes import DType
from .errors import GraphError

Shape = tuple[int | None, ...] | None
"""A partial shape: ``None`` is unknown rank; a ``None`` dimension is unknown size."""


@runtime_checkable
class LazyArray(Protocol):
    """A weight that is read from its source only when the writer needs it."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def load(self) -> np.ndarray: ...


def materialize(array: np.ndarray | LazyArray) -> np.ndarray:
    """The numpy value of an eager or lazy weight."""
    if isinstance(array, np.ndarray):
        return array
    return np.asarray(array.load())


@dataclasses.dataclass(frozen=True)
class TensorShapeAttr:
    """A ``shape`` attr value (distinct from a list of ints, which is ``list.i``)."""

    dims: Shape


@dataclasses.dataclass(frozen=True)
class FuncAttr:
    """A ``func`` attr value: a reference to a function in the graph's library."""

    name: str
    attr: dict[str, Any] = dataclasses.field(default_factory=dict)


class Value:
    """One output of a node: an edge of the graph."""

    __slots__ = ("producer", "index", "dtype", "shape")

    def __init__(self, producer: Node, index: int, dtype: DType | None = None, shape: Shape = None) -> None:
        self.producer = producer
        self.index = index
        self.dtype = dtype
        self.shape = shape

    @property
    def name(self) -> str:
        """GraphDef input reference: ``node`` for output 0, ``node:i`` otherwise."""
        return self.producer.name if self.index == 0 else f"{self.producer.name}:{self.index}"

    @property
    def tensor_name(self) -> str:
        """Signature tensor name, always with the index: ``node:0``."""
        return f"{self.producer.name}:{self.index}"

    def __repr__(self) -> str:
        dtype = self.dtype.short_name if self.dtype else "?"
        return f"Value({self.name}, {dtype}, {self.shape})"


class Node:
    """An op instance. ``inputs`` are Values; ``attrs`` map attr name -> python value.

    Attr values: ``int``/``float``/``bool``/``str``/``bytes`` scalars, :class:`DType`,
    :class:`TensorShapeAttr`, :class:`FuncAttr`, lists of those, or a numpy array / LazyArray
    (a ``tensor`` attr, e.g. the ``value`` of a ``Const``).
    """

    def __init__(
        self,
        graph: Graph,
        name: str,
        op: str,
        inputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        control_inputs: Sequence[Node] = (),
    ) -> None:
        self.graph = graph
        self.name = name
        self.op = op
        self.inputs: list[Value] = list(inputs)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.control_inputs: list[Node] = list(control_inputs)
        self.outputs: list[Value] = []
        #: Names of the source nodes this node was translated from (see :mod:`tfjsconv.provenance`).
        self.provenance: tuple[str, ...] = ()

    def output(self, index: int = 0) -> Value:
        """The ``index``-th output, created on demand (ops such as Split have attr-dependent arity)."""
        while len(self.outputs) <= index:
            self.outputs.append(Value(self, len(self.outputs)))
        return self.outputs[index]

    @property
    def value(self) -> np.ndarray | LazyArray:
        """The weight of a Const node."""
        if self.op != "Const":
            raise AttributeError(f"{self.name} is a {self.op}, not a Const")
        return self.attrs["value"]

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.op}({', '.join(v.name for v in self.inputs)}))"


class Graph:
    """A dataflow graph with named inputs (Placeholders) and outputs.

    Node names are unique; :meth:`unique_name` hands out fresh ones. ``inputs`` and ``outputs``
    carry the model's signature: their keys are what users see (``signature`` in model.json).
    """

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}
        self.inputs: dict[str, Value] = {}
        self.outputs: dict[str, Value] = {}
        #: Free-form facts frontends want written to model.json's userDefinedMetadata.
        self.metadata: dict[str, Any] = {}
        #: ``generatedBy`` in model.json: the source framework and version, e.g. ``"2.21.0"``.
        self.generated_by: str | None = None
        #: GraphDef ``versions`` (``producer``, ``minConsumer``) from the source, when it has them.
        self.versions: dict[str, int] = {}
        #: Already-serialised FunctionDefs (control flow v2), written verbatim into ``library``.
        self.library: list[dict[str, Any]] = []
        #: Weights of the Consts inside ``library`` functions (stripped from the FunctionDefs), keyed
        #: ``<function>/<node>`` as TF.js looks them up; written after the graph's own weights.
        self.library_weights: dict[str, np.ndarray | LazyArray] = {}
        #: IR bodies of the functions that call nodes (``PartitionedCall`` …) still reference, by name;
        #: inputs/outputs in argument order. The ``inline_functions`` pass expands the calls.
        self.functions: dict[str, Graph] = {}
        #: A graph TF.js runs once at load time to create resources (hash tables): ``modelInitializer``.
        #: Its outputs are the resource handles; each is matched to a main-graph input by resource id.
        self.initializer: Graph | None = None
        #: Signature key (of ``inputs``, or of an initializer's ``outputs``) -> ``resourceId`` in model.json.
        self.resource_ids: dict[str, int] = {}
        #: One-line facts about how the frontend built the graph (which loader, and why); ``--verbose`` prints them.
        self.notes: list[str] = []
        #: Lines the conversion result's ``notices`` carry (what a caller should read, as the special-values line).
        self.notices: list[str] = []
        #: Sources every node added now records: a frontend sets it per source node (``provenance.scope``).
        self.provenance_scope: tuple[str, ...] = ()
        #: Source node name -> the framework module that made it (PyTorch module paths from the ONNX export).
        self.source_modules: dict[str, str] = {}
        #: Source node name -> per output, the permutation from the source's layout to the IR's (ONNX's
        #: NHWC-inside translation), or None when the same; ``verify --trace`` pairs values with it.
        self.source_layouts: dict[str, list[list[int] | None]] = {}
        #: Weights the source stores quantized (``tfjsconv.weights.int8.QuantizedWeight``): the graph-model
        #: writer keeps them at one byte each after every pass (``tfjsconv.writers.quantized_weights``).
        self.quantized_weights: list[Any] = []
        self._counter = itertools.count()

    # -- building -----------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """``base`` if free, else ``base_1``, ``base_2`` …"""
        if base not in self._nodes:
            return base
        while True:
            candidate = f"{base}_{next(self._counter)}"
            if candidate not in self._nodes:
                return candidate

    def add_node(
        self,
        op: str,
        inputs: Sequence[Value] = (),
        attrs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        num_outputs: int = 1,
        control_inputs: Sequence[Node] = (),
        exact_name: bool = False,
    ) -> Node:
        """Add a node; with ``exact_name`` a taken name is an error instead of being uniquified."""
        name = name or op
        if exact_name and name in self._nodes:
            raise GraphError(f"duplicate node name {name!r}")
        name = name if exact_name else self.unique_name(name)
        for value in inputs:
            if not isinstance(value, Value):
                raise TypeError(f"input of {name} must be a Value, got {type(value).__name__}")
        node = Node(self, name, op, inputs, attrs, control_inputs)
        node.provenance = self.provenance_scope
        for index in range(num_outputs):
            node.output(index)
        self._nodes[name] = node
        return node

    def add_op(self, op: str, inputs: Sequence[Value] = (), attrs: dict[str, Any] | None = None, *,
               name: str | None = None, dtype: DType | None = None, shape: Shape = None) -> Value:
        """Add a single-output node and return its output, optionally annotated."""
        node = self.add_node(op, inputs, attrs, name=name)
        out = node.output(0)
        out.dtype, out.shape = dtype, shape
        return out

    def placeholder(self, name: str, dtype: DType | str, shape: Shape, *, key: str | None = None) -> Value:
        """Add a model input and register it in the signature under ``key`` (default: ``name``)."""
        dtype = DType.from_any(dtype)
        node = self.add_node("Placeholder", (), {"dtype": dtype, "shape": TensorShapeAttr(shape)},
                             name=name, exact_name=True)
        node.provenance = node.provenance or (name,)
        value = node.output(0)
        value.dtype, value.shape = dtype, shape
        self.inputs[key or name] = value
        return value

    def const(self, value: np.ndarray | LazyArray | Any, *, name: str = "Const",
              dtype: DType | str | None = None) -> Value:
        """Add a Const holding a weight. Python scalars and lists become numpy arrays."""
        if not isinstance(value, (np.ndarray, LazyArray)):
            value = np.asarray(value, dtype=DType.from_any(dtype).numpy if dtype else None)
        resolved = DType.from_any(dtype or value.dtype)
        node = self.add_node("Const", (), {"dtype": resolved, "value": value}, name=name)
        out = node.output(0)
        out.dtype, out.shape = resolved, tuple(int(d) for d in value.shape)
        return out

    def set_output(self, key: str, value: Value) -> None:
        self.outputs[key] = value

    # -- reading ------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """All nodes in insertion order (use :meth:`topological_order` for a dataflow order)."""
        return list(self._nodes.values())

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes.values()))

    def consumers(self) -> dict[Value, list[Node]]:
        """Map each used Value to the nodes reading it (one entry per use)."""
        uses: dict[Value, list[Node]] = {}
        for node in self._nodes.values():
            for value in node.inputs:
                uses.setdefault(value, []).append(node)
        return uses

    def op_histogram(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self._nodes.values():
            counts[node.op] = counts.get(node.op, 0) + 1
        return dict(sorted(counts.items()))

    def weights(self) -> Iterator[tuple[str, np.ndarray | LazyArray]]:
        """``(name, array)`` for every Const, in topological order: the order weights are written."""
        for node in self.topological_order():
            if node.op == "Const":
                yield node.name, node.attrs["value"]

    # -- editing ------------------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> int:
        """Point every reader of ``old`` (nodes and graph outputs) at ``new``; return the count."""
        from .provenance import adopt

        adopt(new, old)
        count = 0
        for node in self._nodes.values():
            for i, value in enumerate(node.inputs):
                if value is old:
                    node.inputs[i] = new
                    count += 1
        for key, value in self.outputs.items():
            if value is old:
                self.outputs[key] = new
                count += 1
        return count

    def remove_node(self, node: Node) -> None:
        """Remove one node; it is an error if something still reads it."""
        for other in self._nodes.values():
            if other is node:
                continue
            if any(v.producer is node for v in other.inputs) or node in other.control_inputs:
                raise GraphError(f"cannot remove {node.name}: {other.name} still uses it")
        if any(v.producer is node for v in self.outputs.values()):
            raise GraphError(f"cannot remove {node.name}: it is a graph output")
        del self._nodes[node.name]
        for key in [k for k, v in self.inputs.items() if v.producer is node]:
            del self.inputs[key]

    def remove_nodes(self, nodes: Iterable[Node]) -> None:
        """Remove several nodes in one pass over the graph (linear, where a loop of
        :meth:`remove_node` is quadratic); it is an error if a node that stays still uses one."""
        doomed = {node for node in nodes if self._nodes.get(node.name) is node}
        if not doomed:
            return
        for other in self._nodes.values():
            if other in doomed:
                continue
            for used in [v.producer for v in other.inputs] + list(other.control_inputs):
                if used in doomed:
                    raise GraphError(f"cannot remove {used.name}: {other.name} still uses it")
        for value in self.outputs.values():
            if value.producer in doomed:
                raise GraphError(f"cannot remove {value.producer.name}: it is a graph output")
        for node in doomed:
            del self._nodes[node.name]
        for key in [k for k, v in self.inputs.items() if v.producer in doomed]:
            del self.inputs[key]

    def rename_node(self, node: Node, new_name: str) -> None:
        if new_name in self._nodes and self._nodes[new_name] is not node:
            raise GraphError(f"cannot rename {node.name} to {new_name!r}: name taken")
        del self._nodes[node.name]
        node.name = new_name
        self._nodes[new_name] = node

    def live_nodes(self) -> set[Node]:
        """Nodes that an output depends on (through data or control edges); inputs are always live."""
        live: set[Node] = set()
        stack = [v.producer for v in self.outputs.values()] + [v.producer for v in self.inputs.values()]
        while stack:
            node = stack.pop()
            if node in live:
                continue
            live.add(node)
            stack.extend(v.producer for v in node.inputs)
            stack.extend(node.control_inputs)
        return live

    def remove_dead_nodes(self) -> list[str]:
        """Drop every node no output depends on; return their names (sorted)."""
        live = self.live_nodes()
        dead = sorted(name for name, node in self._nodes.items() if node not in live)
        for name in dead:
            del self._nodes[name]
        return dead

    def topological_order(self) -> list[Node]:
        """Producers before consumers; ties broken by insertion order, so the result is stable.

        Raises :class:`GraphError` naming the nodes on a cycle.
        """
        order_index = {node: i for i, node in enumerate(self._nodes.values())}
        pending = {node: 0 for node in self._nodes.values()}
        readers: dict[Node, list[Node]] = {node: [] for node in self._nodes.values()}
        for node in self._nodes.values():
            deps = {v.producer for v in node.inputs if not is_loop_back_edge(node, v)} | set(node.control_inputs)
            for dep in deps:
                if dep in readers:
                    readers[dep].append(node)
                    pending[node] += 1
        ready = [(order_index[n], n.name) for n, count in pending.items() if count == 0]
        heapq.heapify(ready)
        result: list[Node] = []
        while ready:
            _, name = heapq.heappop(ready)
            node = self._nodes[name]
            result.append(node)
            for reader in readers[node]:
                pending[reader] -= 1
                if pending[reader] == 0:
                    heapq.heappush(ready, (order_index[reader], reader.name))
        if len(result) != len(self._nodes):
            stuck = sorted(n.name for n, count in pending.items() if count > 0)
            raise GraphError(f"the graph has a cycle through: {', '.join(stuck)}")
        return result

    def copy(self) -> "Graph":
        """A structural copy that shares weight arrays (they are never mutated in place)."""
        clone = Graph(self.name)
        mapping: dict[Node, Node] = {}
        for node in self._nodes.values():
            new = Node(clone, node.name, node.op, [], node.attrs, [])
            new.provenance = node.provenance
            for value in node.outputs:
                copied = new.output(value.index)
                copied.dtype, copied.shape = value.dtype, value.shape
            clone._nodes[new.name] = new
            mapping[node] = new
        # Wired in a second sweep: v1 loops (NextIteration -> Merge) have no producer-first order.
        for node, new in mapping.items():
            new.inputs = [mapping[v.producer].output(v.index) for v in node.inputs]
            new.control_inputs = [mapping[d] for d in node.control_inputs]
        clone.inputs = {k: mapping[v.producer].output(v.index) for k, v in self.inputs.items()}
        clone.outputs = {k: mapping[v.producer].output(v.index) for k, v in self.outputs.items()}
        clone.metadata = dict(self.metadata)
        clone.library = list(self.library)
        clone.library_weights = dict(self.library_weights)
        clone.functions = dict(self.functions)
        clone.initializer = self.initializer.copy() if self.initializer is not None else None
        clone.resource_ids = dict(self.resource_ids)
        clone.notes = list(self.notes)
        clone.notices = list(self.notices)
        clone.source_modules = dict(self.source_modules)
        clone.source_layouts = dict(self.source_layouts)
        clone.quantized_weights = list(self.quantized_weights)
        clone.generated_by = self.generated_by
        clone.versions = dict(self.versions)
        return clone

    def validate(self) -> None:
        """Raise one :class:`GraphError` listing every dangling input, cycle and bad output."""
        validate_graph(self)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self._nodes)} nodes)"


def is_loop_back_edge(node: Node, value: Value) -> bool:
    """A TF v1 while loop's back edge (``NextIteration`` into ``Merge``): the one cycle a graph may have.

    Topological order ignores it, as TF does, so lowered control flow can be ordered and written.
    """
    return node.op == "Merge" and value.producer.op == "NextIteration"


def validate_graph(graph: Graph) -> None:
    """Check the graph's structure and report every problem at once."""
    problems: list[str] = []
    known = {id(node) for node in graph._nodes.values()}
    seen_names: dict[str, str] = {}
    for key, node in graph._nodes.items():
        if node.name != key:
            problems.append(f"node registered as {key!r} was renamed to {node.name!r} outside rename_node")
        if node.name in seen_names:
            problems.append(f"duplicate node name {node.name!r}")
        seen_names[node.name] = key
        for i, value in enumerate(node.inputs):
            if id(value.producer) not in known:
                problems.append(f"{node.name} ({node.op}) input {i} reads {value.name!r}, which is not in the graph")
        for dep in node.control_inputs:
            if id(dep) not in known:
                problems.append(f"{node.name} ({node.op}) has a control input on {dep.name!r}, which is not in the graph")
    for key, value in itertools.chain(graph.inputs.items(), graph.outputs.items()):
        if id(value.producer) not in known:
            problems.append(f"signature entry {key!r} refers to {value.name!r}, which is not in the graph")
    for key, value in graph.inputs.items():
        if value.producer.op not in ("Placeholder", "PlaceholderWithDefault"):
            problems.append(f"input {key!r} is produced by a {value.producer.op}, not a Placeholder")
    if not graph.outputs:
        problems.append("the graph has no outputs")
    if not problems:
        try:
            graph.topological_order()
        except GraphError as err:
            problems.append(err.message)
    if problems:
        raise GraphError("invalid graph:\n  " + "\n  ".join(problems))
