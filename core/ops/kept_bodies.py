"""The backend contract's facts for the nodes of FunctionDefs kept by ``--control_flow_v2``, and the guards for them.

Why a module of its own: with ``--control_flow_v2`` a While/If body is written verbatim as a FunctionDef
(``Graph.library``, GraphDef JSON), which holds no IR Values. The contract's rows need input dtypes, small constants
and shapes there too, and the core passes that rewrite or guard a TF.js-vs-TF difference walk only the main graph.
This module works those facts out from the FunctionDefs alone (TF's OpDefs, ``library_weights``, ``argAttr`` shapes
and what the callers pass) and names what such a pass would have fixed, so that ``backends.BackendContract`` refuses
it (docs/backends.md, docs/passes.md "Functions kept by ``--control_flow_v2``"). Imports stay light: numpy, the
standard library and the core.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import NodeFacts, _attr_text, _json_attr, _output_dtype, _spatial, _value_shape, tfjs_dtype

if TYPE_CHECKING:
    from ..ir import Graph


def graph_library_facts(graph: Graph) -> Iterator[tuple[str, NodeFacts]]:
    """(``function/node``, facts) for the library functions of an IR graph (the conversion's check)."""
    return function_facts(graph.library, graph.library_weights, _caller_arg_shapes(graph))


def topology_library_facts(topology: Mapping[str, Any]) -> Iterator[tuple[str, NodeFacts]]:
    """(``function/node``, facts) for a model.json ``modelTopology``'s library (``inspect``: no weights read)."""
    return function_facts(topology.get("library") or {}, None, _topology_caller_shapes(topology))


# -- the library walk: argument shapes, constants ---------------------------------------------------------------------
#: Functional nodes of the main graph: op -> (the func attrs naming their functions, the first input they pass).
_CALLERS = {"While": (("body", "cond"), 0), "StatelessWhile": (("body", "cond"), 0),
            "If": (("then_branch", "else_branch"), 1), "StatelessIf": (("then_branch", "else_branch"), 1)}
#: Ops whose output 0 has input 0's shape (what the library walk carries a known argument shape through).
_SAME_SHAPE = frozenset({"Identity", "Snapshot", "StopGradient", "Cast", "Neg", "Abs", "Sign", "Floor", "Ceil",
                         "Round", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Tanh", "Sigmoid", "Relu",
                         "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu", "Erf", "Sin", "Cos", "LogicalNot",
                         "Softmax", "LogSoftmax", "Softsign", "BiasAdd", "ZerosLike", "OnesLike", "IsNan", "IsInf",
                         "IsFinite", "Expm1", "Log1p", "ClipByValue", "Inv", "Invert"})
#: Elementwise binary ops whose output 0 has their operands' broadcast shape.
_BROADCAST = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "Maximum", "Minimum",
                        "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                        "LogicalAnd", "LogicalOr", "FloorDiv", "FloorMod", "Mod", "Pow", "TruncateDiv",
                        "TruncateMod", "Atan2", "BitwiseAnd", "BitwiseOr", "BitwiseXor"})
#: Ops whose output rank is the largest of their data inputs' (elementwise over all inputs, or batched matmuls).
_MAX_RANK = _BROADCAST | frozenset({"AddN", "Select", "SelectV2", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
#: Ops whose output rank is input 0's (shape changes within the rank).
_SAME_RANK = _SAME_SHAPE | frozenset({"Transpose", "Tile", "Pad", "PadV2", "MirrorPad", "Slice", "ReverseV2",
                                      "ConcatV2", "Cumsum", "Cumprod", "GatherNd", "MatrixBandPart", "Roll",
                                      "ResizeBilinear", "ResizeNearestNeighbor", "Conv2D", "DepthwiseConv2dNative",
                                      "MaxPool", "AvgPool", "FusedBatchNormV3", "FusedBatchNorm", "TopKV2"})
_REDUCTIONS = frozenset({"Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "EuclideanNorm"})


#: The rank rows an unknown rank refuses in a kept function: silent wrong numbers (wasm's rank-7 binary ops). A row
#: that throws, or was never probed, at a rank the walk cannot tell is left to run: an error, not a wrong answer, and
#: refusing it would refuse ordinary loops whose ranks come from ops the walk has no rule for.
_UNKNOWN_RANK_REFUSES = frozenset({"wrong"})


def _caller_arg_shapes(graph: Graph) -> dict[str, dict[int, tuple | None]]:
    """Function name -> argument index -> the shape the main graph's While/If nodes pass there (None where the
    callers disagree or do not know): a frozen variable's value reaches a body as an argument TF left unshaped."""
    found: dict[str, dict[int, tuple | None]] = {}
    for node in graph.nodes:
        spec = _CALLERS.get(node.op)
        if spec is None:
            continue
        keys, first = spec
        shapes = [_value_shape(value) for value in node.inputs[first:]]
        if "While" in node.op:
            shapes = _invariant(shapes, [getattr(a, "dims", None) for a in node.attrs.get("output_shapes") or []],
                                _passed_through(graph.library, getattr(node.attrs.get("body"), "name", None)))
        for key in keys:
            name = getattr(node.attrs.get(key), "name", None)
            if name is None:
                continue
            known = found.setdefault(name, {})
            for index, shape in enumerate(shapes):
                known[index] = _agreed(known[index], shape) if index in known else shape
    return found


def library_ref_dims(graph: Graph) -> dict[str, Callable[[str], tuple | None]]:
    """Function name -> ``dims(ref)``: the sizes a reference of that library function reads (unknown ones None;
    None where even its rank is unknown), from the walk the contract's facts use (``select_shape`` in kept bodies).
    Each walk reads the function as it is now: ask before editing it."""
    functions = [f for f in graph.library if isinstance(f, dict)]
    all_shapes = _library_arg_shapes(functions, graph.library_weights, _caller_arg_shapes(graph))
    found: dict[str, Callable[[str], tuple | None]] = {}
    for function in functions:
        fname = function.get("signature", {}).get("name", "function")
        nodes = {n.get("name"): n for n in function.get("nodeDef", []) if isinstance(n, dict)}
        found[fname] = _dims_reader(nodes, graph.library_weights, all_shapes.get(fname, {}))
    return found


def _dims_reader(nodes: Mapping[str, Any], weights: Mapping[str, Any] | None,
                 arg_shapes: Mapping[str, tuple | None]) -> Callable[[str], tuple | None]:
    """``dims(ref)`` over one function's nodes: the shape where the walk knows it, else its rank's unknown sizes."""
    memo: dict[str, tuple | None] = {}
    ranks: dict[str, int | None] = {}

    def dims(ref: str) -> tuple | None:
        shape = _ref_shape(ref, nodes, weights, arg_shapes, memo)
        if shape is not None:
            return shape
        rank = _ref_rank(ref, nodes, weights, arg_shapes, memo, ranks)
        return None if rank is None else (None,) * rank

    return dims


def _agreed(a: tuple | None, b: tuple | None) -> tuple | None:
    """A shape compatible with both ``a`` and ``b`` (sizes they disagree on unknown), None for another rank."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def function_facts(library: Any, weights: Mapping[str, Any] | None = None,
                    caller_shapes: Mapping[str, Mapping[int, tuple | None]] | None = None,
                    ) -> Iterator[tuple[str, NodeFacts]]:
    """(``function/node``, facts) for every node of the library's FunctionDefs (GraphDef JSON): input dtypes from
    the signature's args and TF's OpDefs (:func:`function_input_dtypes`), small constant inputs from ``weights``
    (``graph.library_weights``). A row whose dtype stays unknown there refuses (``refuse_unknown_dtype``), and
    the guards of the passes that do not reach kept bodies apply (:func:`_kept_body_guards`)."""
    functions = library.get("function", []) if isinstance(library, Mapping) else library
    all_shapes = _library_arg_shapes([f for f in functions if isinstance(f, dict)], weights, caller_shapes or {})
    for function in functions:
        if not isinstance(function, dict):
            continue
        fname = function.get("signature", {}).get("name", "function")
        dtypes, arg_shapes, memo = function_input_dtypes(function), all_shapes.get(fname, {}), {}
        ranks: dict[str, int | None] = {}
        nodes = {n.get("name"): n for n in function.get("nodeDef", function.get("node_def", [])) if isinstance(n, dict)}
        returned = [ref for ref in (function.get("ret") or {}).values() if isinstance(ref, str)]
        for node_def in nodes.values():
            if not node_def.get("op"):
                continue
            attrs = {key: _json_attr(value) for key, value in node_def.get("attr", {}).items()}
            refs = [ref for ref in node_def.get("input", []) if not ref.startswith("^")]
            consts = {i: value for i, ref in enumerate(refs) if (value := _library_const(ref, nodes, weights)) is not None}
            shapes = [_ref_shape(ref, nodes, weights, arg_shapes, memo) for ref in refs]
            in_ranks = [_ref_rank(ref, nodes, weights, arg_shapes, memo, ranks) for ref in refs]
            if node_def["op"] == "MatMul":
                in_ranks = [2] * len(refs)  # TF requires matrices
            out_rank = _ref_rank(f"{node_def.get('name')}:0", nodes, weights, arg_shapes, memo, ranks)
            facts = NodeFacts(node_def["op"], attrs, [tfjs_dtype(d) for d in dtypes.get(node_def.get("name"), [])],
                              {i: v for i, v in consts.items() if np.asarray(v).size <= 16}, in_ranks, [out_rank],
                              refuse_unknown_rank=True, input_shapes=shapes)
            facts.float_consts = {i: v for i, v in consts.items() if getattr(v, "dtype", None) is not None
                                  and v.dtype.kind == "f"}
            facts.refuse_unknown_dtype = bool(refs)  # a node without data inputs has no input dtype to miss
            facts.unknown_rank_outcomes = _UNKNOWN_RANK_REFUSES
            facts.guards = _kept_body_guards(node_def, refs, nodes, facts) + _returned_batch_norm_outputs(
                node_def, returned, nodes)
            yield f"{fname}/{node_def.get('name', '?')}", facts


def _arg_shapes(function: Mapping[str, Any]) -> dict[str, tuple | None]:
    """Argument name -> its shape from the FunctionDef's ``argAttr`` ``_output_shapes`` (what TF records, and the
    TF-free writer copies), None sizes unknown; arguments without one are left out."""
    shapes: dict[str, tuple | None] = {}
    args = function.get("signature", {}).get("inputArg", [])
    for index, attrs in (function.get("argAttr") or {}).items():
        listed = (((attrs or {}).get("attr") or {}).get("_output_shapes") or {}).get("list", {}).get("shape")
        if not str(index).isdigit() or int(index) >= len(args) or not listed or listed[0].get("unknownRank"):
            continue
        shapes[args[int(index)].get("name")] = tuple(
            None if int(dim.get("size", -1)) < 0 else int(dim.get("size", 0)) for dim in listed[0].get("dim", []))
    return shapes


def _invariant(passed: Sequence[tuple | None], invariants: Sequence[Any],
               through: frozenset[int] = frozenset()) -> list[tuple | None]:
    """The shapes a While's loop variables hold in every iteration: the caller's where the body returns the variable
    unchanged (``through``: a captured weight), else the loop's recorded invariant (``output_shapes``, which TF
    checks the body against; a variable may change its sizes from one iteration to the next), else unknown."""
    return [shape if index in through else _known_invariant(invariants[index] if index < len(invariants) else None)
            for index, shape in enumerate(passed)]


def _known_invariant(invariant: Any) -> tuple | None:
    """The loop invariant's shape, unknown sizes None: every iteration's shape is compatible with it, the first
    iteration's more specific sizes are not (a ``[2, 16]`` state may be ``[3, 16]`` next)."""
    if invariant is None:
        return None
    return tuple(None if size is None or int(size) < 0 else int(size) for size in invariant)


def _body_name(node: Mapping[str, Any]) -> str | None:
    """A serialized While's body function name."""
    return ((node.get("attr", {}).get("body") or {}).get("func") or {}).get("name")


def _passed_through(functions: Sequence[Any], body: str | None) -> frozenset[int]:
    """The loop-variable indices a While body returns as it got them (its ``ret`` names the argument itself)."""
    function = next((f for f in functions if isinstance(f, dict)
                     and f.get("signature", {}).get("name") == body), None) if body else None
    if function is None:
        return frozenset()
    args = [a.get("name") for a in function.get("signature", {}).get("inputArg", [])]
    outs = [a.get("name") for a in function.get("signature", {}).get("outputArg", [])]
    ret, nodes = function.get("ret") or {}, {n.get("name"): n for n in function.get("nodeDef", []) if isinstance(n, dict)}

    def source(ref: Any, depth: int = 0) -> Any:  # through Identity nodes (TF's bodies return captures so)
        node = nodes.get(str(ref).split(":")[0]) if isinstance(ref, str) else None
        if node is None or node.get("op") not in ("Identity", "Snapshot") or depth > 32:
            return ref
        data = [i for i in node.get("input", []) if not i.startswith("^")]
        return source(data[0], depth + 1) if data else ref

    return frozenset(i for i, (arg, out) in enumerate(zip(args, outs)) if source(ret.get(out)) in (arg, f"{arg}:0"))


def _json_invariants(node: Mapping[str, Any]) -> list[tuple | None]:
    """A serialized While's ``output_shapes`` attr as shape tuples (None sizes unknown; None for unknown rank)."""
    listed = ((node.get("attr", {}).get("output_shapes") or {}).get("list") or {}).get("shape") or []
    return [None if not isinstance(shape, dict) or shape.get("unknownRank") else tuple(
        None if int(dim.get("size", -1)) < 0 else int(dim.get("size", 0)) for dim in shape.get("dim", []))
        for shape in listed]


def _library_arg_shapes(functions: Sequence[Mapping[str, Any]], weights: Mapping[str, Any] | None,
                        main: Mapping[str, Mapping[int, tuple | None]]) -> dict[str, dict[str, tuple | None]]:
    """Function name -> argument name -> shape: TF's ``argAttr``, else what the callers pass (the main graph's
    While/If nodes, then those inside functions, to a fixed point); None where callers disagree."""
    args = {f.get("signature", {}).get("name"): [a.get("name") for a in f.get("signature", {}).get("inputArg", [])]
            for f in functions}
    shapes: dict[str, dict[str, tuple | None]] = {name: {} for name in args}

    recorded = {f.get("signature", {}).get("name"): _arg_shapes(f) for f in functions}

    def offer(name: str, index: int, shape: tuple | None) -> bool:
        if name not in args or index >= len(args[name]) or shape is None:
            return False
        known, key = shapes[name], args[name][index]
        if key in recorded.get(name, {}):
            return False  # TF's own record for the function holds for every caller
        if key in known:
            merged = _agreed(known[key], shape)
            if merged != known[key]:
                known[key] = merged  # two callers, two shapes: the sizes they agree on (None: another rank)
                return True
            return False
        known[key] = shape
        return True

    for name, by_index in main.items():
        for index, shape in by_index.items():
            offer(name, index, shape)
    for name, own in recorded.items():
        shapes[name].update(own)
    for _ in range(len(functions)):
        changed = False
        for function in functions:
            own = shapes[function.get("signature", {}).get("name")]
            nodes = {n.get("name"): n for n in function.get("nodeDef", []) if isinstance(n, dict)}
            memo: dict[str, tuple | None] = {}
            for node in nodes.values():
                spec = _CALLERS.get(str(node.get("op")))
                if spec is None:
                    continue
                refs = [ref for ref in node.get("input", []) if not ref.startswith("^")][spec[1]:]
                passed = [_ref_shape(ref, nodes, weights, own, memo) for ref in refs]
                if "While" in str(node.get("op")):
                    passed = _invariant(passed, _json_invariants(node), _passed_through(functions, _body_name(node)))
                for key in spec[0]:
                    callee = ((node.get("attr", {}).get(key) or {}).get("func") or {}).get("name")
                    changed |= any([offer(callee, i, shape) for i, shape in enumerate(passed)])
        if not changed:
            break
    return shapes


def _ref_shape(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None,
               arg_shapes: Mapping[str, tuple | None], memo: dict[str, tuple | None] | None = None) -> tuple | None:
    """The shape a library-function reference reads: a Const's, else an argument's (through same-shape and
    broadcasting ops); ``memo`` holds what one function's walk already found."""
    shape = _const_shape(ref, nodes, weights)
    return shape if shape is not None else _library_shape(ref, nodes, arg_shapes, weights, memo)


def _const_shape(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None) -> tuple | None:
    """A Const producer's shape: its array in ``weights``, else its ``value`` attr's ``tensorShape`` (a model.json)."""
    value = _library_const(ref, nodes, weights)
    if value is not None:
        return tuple(value.shape)
    producer = nodes.get(ref.split(":")[0]) or {}
    if producer.get("op") != "Const":
        return None
    shape = ((producer.get("attr", {}).get("value") or {}).get("tensor") or {}).get("tensorShape")
    if not isinstance(shape, dict) or shape.get("unknownRank"):
        return None
    sizes = tuple(int(dim.get("size", 0)) for dim in shape.get("dim", []))
    return None if any(size < 0 for size in sizes) else sizes


def _topology_caller_shapes(topology: Mapping[str, Any]) -> dict[str, dict[int, tuple | None]]:
    """:func:`_caller_arg_shapes` for a model.json topology: the shapes of the Consts its While/If nodes pass."""
    nodes = {n.get("name"): n for n in topology.get("node", []) if isinstance(n, dict)}
    found: dict[str, dict[int, tuple | None]] = {}
    for node in nodes.values():
        spec = _CALLERS.get(str(node.get("op")))
        if spec is None:
            continue
        refs = [ref for ref in node.get("input", []) if not ref.startswith("^")][spec[1]:]
        shapes = [_const_shape(ref, nodes, None) for ref in refs]
        if "While" in str(node.get("op")):
            shapes = _invariant(shapes, _json_invariants(node),
                                _passed_through((topology.get("library") or {}).get("function") or [], _body_name(node)))
        for key in spec[0]:
            name = ((node.get("attr", {}).get(key) or {}).get("func") or {}).get("name")
            known = found.setdefault(name, {}) if name else {}
            for index, shape in enumerate(shapes):
                known[index] = shape if known.get(index, shape) == shape else None
    return found


def _library_shape(ref: str, nodes: Mapping[str, Any], arg_shapes: Mapping[str, tuple | None],
                   weights: Mapping[str, Any] | None = None, memo: dict[str, tuple | None] | None = None,
                   ) -> tuple | None:
    """The shape a library-function reference reads: an argument's, carried through :data:`_SAME_SHAPE` ops and
    the broadcasting binary ops of :data:`_BROADCAST` (whose other operand may be a Const)."""
    memo = {} if memo is None else memo
    if ref in arg_shapes:
        return arg_shapes[ref]
    if ref not in memo:
        memo[ref] = None  # a FunctionDef is acyclic; this only stops a malformed one
        memo[ref] = _produced_shape(ref, nodes, arg_shapes, weights, memo)
    return memo[ref]


def _produced_shape(ref: str, nodes: Mapping[str, Any], arg_shapes: Mapping[str, tuple | None],
                    weights: Mapping[str, Any] | None, memo: dict[str, tuple | None]) -> tuple | None:
    producer = nodes.get(ref.split(":")[0])
    if producer is None or ref.split(":")[-1] not in ("0", ref):
        return None
    data = [r for r in producer.get("input", []) if not r.startswith("^")]
    if producer.get("op") in _SAME_SHAPE and data:
        return _library_shape(data[0], nodes, arg_shapes, weights, memo)
    if producer.get("op") in _BROADCAST and len(data) == 2:
        a, b = (_ref_shape(r, nodes, weights, arg_shapes, memo) for r in data)
        return None if a is None or b is None else _broadcast(a, b)
    return None


def _ref_rank(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None,
              arg_shapes: Mapping[str, tuple | None], memo: dict[str, tuple | None],
              ranks: dict[str, int | None]) -> int | None:
    """The rank a library-function reference reads: its shape's length where the shape walk knows it, else from
    the producer's op and its inputs' ranks (a Reshape's shape vector length, ExpandDims +1, a reduction minus its
    axes ...). None where no rule decides: the contract then refuses the rows that depend on it (F1, session 24:
    a rank-7 Reshape in a body gave wrong numbers on wasm)."""
    shape = _ref_shape(ref, nodes, weights, arg_shapes, memo)
    if shape is not None:
        return len(shape)
    if ref in arg_shapes or ref in ranks:
        return ranks.get(ref)
    ranks[ref] = None  # a FunctionDef is acyclic; this only stops a malformed one
    ranks[ref] = _produced_rank(ref, nodes, weights, arg_shapes, memo, ranks)
    return ranks[ref]


def _produced_rank(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None,
                   arg_shapes: Mapping[str, tuple | None], memo: dict[str, tuple | None],
                   ranks: dict[str, int | None]) -> int | None:
    producer = nodes.get(ref.split(":")[0])
    if producer is not None and "output_shapes" in producer.get("attr", {}) \
            and (":" not in ref or ref.split(":")[-1].isdigit()):
        listed = _json_invariants(producer)  # While/If and calls: the shapes TF recorded for each output
        index = int(ref.split(":")[-1]) if ":" in ref else 0
        return None if index >= len(listed) or listed[index] is None else len(listed[index])
    every_output = producer is not None and producer.get("op") in ("Split", "SplitV", "Unpack")  # one rank for all
    if producer is None or (ref.split(":")[-1] not in ("0", ref) and not every_output):
        return None
    op, data = str(producer.get("op")), [r for r in producer.get("input", []) if not r.startswith("^")]
    attrs = producer.get("attr", {})

    def rank(index: int) -> int | None:
        return _ref_rank(data[index], nodes, weights, arg_shapes, memo, ranks) if index < len(data) else None

    def length(index: int) -> int | None:  # the static length of a shape/axes vector input
        if index >= len(data):
            return None
        vector = _ref_shape(data[index], nodes, weights, arg_shapes, memo)
        if vector is not None:
            return vector[0] if len(vector) == 1 else None
        return _packed_length(data[index], nodes, weights, arg_shapes, memo, ranks)

    if op in _SAME_RANK:
        return rank(0)
    if op in _MAX_RANK:
        known = [rank(i) for i in range(len(data))]
        return None if not known or None in known else max(known)
    if op in ("Reshape", "Fill", "BroadcastTo", "Zeros", "Ones"):
        return length(1 if op in ("Reshape", "BroadcastTo") else 0)
    if op in ("ExpandDims", "Pack", "OneHot"):
        inner = rank(0)
        return None if inner is None else inner + 1
    if op == "MatMul":
        return 2
    if op in ("Split", "SplitV"):  # every output has the value's rank (Split's value is input 1)
        return rank(1 if op == "Split" else 0)
    if op == "Unpack":
        inner = rank(0)
        return None if inner is None else inner - 1
    if op == "Squeeze":  # listed axes only: squeezing every 1 depends on sizes
        axes, inner = _json_attr(attrs.get("squeeze_dims", {})), rank(0)
        return None if inner is None or not axes else inner - len({int(a) % max(inner, 1) for a in axes})
    if op in ("Shape", "Range"):
        return 1
    if op == "TensorListGetItem":  # an item has its element_shape's length of axes (a scalar -1: unknown rank)
        element = _library_const(data[2], nodes, weights) if len(data) > 2 else None
        return None if element is None or np.ndim(element) != 1 else int(np.size(element))
    if op in ("Size", "Rank"):
        return 0
    if op in _REDUCTIONS:
        inner, axes = rank(0), length(1) if len(data) > 1 else None
        keep = bool(_json_attr(attrs.get("keep_dims", {"b": False})))
        if inner is None or keep:
            return inner
        const = _library_const(data[1], nodes, weights) if len(data) > 1 else None
        if const is not None:
            return inner - len({int(a) % max(inner, 1) for a in np.asarray(const).reshape(-1)})
        return None if axes is None else (inner - axes if axes <= 1 else None)  # repeated axes: only 0/1 is exact
    if op == "StridedSlice":
        return _sliced_rank(attrs, rank(0), length(1))
    if op == "GatherV2" and int(_json_attr(attrs.get("batch_dims", {"i": 0})) or 0) == 0:
        params, indices = rank(0), rank(1)
        return None if params is None or indices is None else params + indices - 1
    return None


def _packed_length(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None,
                   arg_shapes: Mapping[str, tuple | None], memo: dict[str, tuple | None],
                   ranks: dict[str, int | None]) -> int | None:
    """The length of a vector a ``Pack`` of scalars builds (``x[i]``'s begin, ``tf.stack([n, 3])``), a ``Shape``
    reads (its input's rank) or ``BroadcastArgs`` makes (the longer of its two: ``select_shape``'s output shape in
    a kept body), else None."""
    producer = nodes.get(ref.split(":")[0]) or {}
    data = [r for r in producer.get("input", []) if not r.startswith("^")]
    if producer.get("op") == "Shape" and data:
        return _ref_rank(data[0], nodes, weights, arg_shapes, memo, ranks)
    if producer.get("op") == "BroadcastArgs" and len(data) == 2:
        lengths = [_packed_length(r, nodes, weights, arg_shapes, memo, ranks) for r in data]
        return None if None in lengths else max(lengths)
    if producer.get("op") != "Pack" or int(_json_attr(producer.get("attr", {}).get("axis", {"i": 0})) or 0) != 0:
        return None
    scalars = all(_ref_rank(r, nodes, weights, arg_shapes, memo, ranks) == 0 for r in data)
    return len(data) if data and scalars else None


def _sliced_rank(attrs: Mapping[str, Any], inner: int | None, spec: int | None) -> int | None:
    """A StridedSlice's output rank: its input's, less the shrunk axes among its ``spec`` begin entries (an
    ellipsis or a new axis: unknown here)."""
    masks = {m: int(_json_attr(attrs.get(m, {"i": 0})) or 0) for m in ("shrink_axis_mask", "new_axis_mask",
                                                                         "ellipsis_mask")}
    if inner is None or masks["new_axis_mask"] or masks["ellipsis_mask"]:
        return None
    if not masks["shrink_axis_mask"]:
        return inner
    return None if spec is None else inner - bin(masks["shrink_axis_mask"] & ((1 << spec) - 1)).count("1")


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    """The shape TF's broadcasting gives (None sizes unknown): an unknown size against 1 stays unknown, against any
    other size n it is n (TF fails otherwise); None where the known sizes cannot broadcast."""
    rank = max(len(a), len(b))
    out = []
    for x, y in zip((1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)):
        if x is None or y is None:
            known = y if x is None else x
            out.append(None if known is None or known == 1 else known)
        elif x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def _library_const(ref: str, nodes: Mapping[str, Any], weights: Mapping[str, Any] | None) -> Any:
    """The array a library-function input reference reads when its producer is a Const held in ``weights``."""
    producer = nodes.get(ref.split(":")[0])
    if producer is None or producer.get("op") != "Const" or not weights:
        return None
    value = weights.get(producer.get("name"))
    return value if isinstance(value, np.ndarray) else None


#: Public name: ``kept_selects`` reads a body's constant Tile multiples so.
library_const = _library_const


# -- input dtypes, through TF's OpDefs ---------------------------------------------------------------------------------
def function_input_dtypes(function: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Node name -> the dtype (DType, ``DT_`` name or None) of each data input of a FunctionDef (GraphDef JSON).

    Why: a kept ``--control_flow_v2`` body holds no IR Values, so the rows and passes that depend on dtypes need
    them from somewhere. A node's own type attrs give them through TF's OpDef (``Cast``'s ``x:SrcT``); else its
    producer's output (a signature arg's ``type``, or the producer's OpDef output), walked in order."""
    args = {arg.get("name"): arg.get("type") for arg in function.get("signature", {}).get("inputArg", [])}
    nodes = {n.get("name"): n for n in function.get("nodeDef", function.get("node_def", [])) if isinstance(n, dict)}
    outputs: dict[str, list[tuple[str, Any]]] = {}

    def produced(ref: str) -> Any:
        if ref in args:
            return args[ref]
        name, *rest = ref.split(":")
        if name not in nodes:
            return None
        if name not in outputs:
            outputs[name] = _output_args(nodes[name])
        flat = outputs[name]
        if not rest:
            index = 0
        elif len(rest) == 1 and rest[0].isdigit():
            index = int(rest[0])
        elif len(rest) == 2 and rest[1].isdigit():
            named = [dtype for arg, dtype in flat if arg == rest[0]]
            return named[int(rest[1])] if int(rest[1]) < len(named) else None
        else:
            return None
        return flat[index][1] if index < len(flat) else None

    result = {}
    for name, node in nodes.items():
        refs = [ref for ref in node.get("input", []) if not ref.startswith("^")]
        own = _input_args(node)
        result[name] = [own[i] if i < len(own) and own[i] is not None else produced(ref) for i, ref in enumerate(refs)]
    return result


def _arg_types(node: Mapping[str, Any], specs: Sequence[Any]) -> list[tuple[str, Any]]:
    """(arg name, dtype) per tensor of OpDef args ``specs`` under ``node``'s attrs (None where an attr is missing)."""
    attrs = {key: _json_attr(value) for key, value in node.get("attr", {}).items()}
    flat: list[tuple[str, Any]] = []
    for spec in specs:
        if spec.list_attr is not None:
            types = attrs.get(spec.list_attr)
            if not isinstance(types, list):
                return flat + [(spec.name, None)]  # the count is unknown: later args cannot be placed
            flat += [(spec.name, t) for t in types]
            continue
        dtype = spec.fixed if spec.fixed is not None else attrs.get(spec.type_attr or "")
        count = attrs.get(spec.number_attr, None) if spec.number_attr else 1
        count = int(count) if isinstance(count, (int, str)) and str(count).isdigit() else None
        if count is None:
            return flat + [(spec.name, dtype)]
        flat += [(spec.name, dtype)] * count
    return flat


def _input_args(node: Mapping[str, Any]) -> list[Any]:
    from .tf_signatures import signature

    sig = signature(str(node.get("op")))
    return [] if sig is None else [dtype for _, dtype in _arg_types(node, sig.inputs)]


def _output_args(node: Mapping[str, Any]) -> list[tuple[str, Any]]:
    from .tf_signatures import signature

    sig = signature(str(node.get("op")))
    if sig is not None:
        return _arg_types(node, sig.outputs)
    attrs = {key: _json_attr(value) for key, value in node.get("attr", {}).items()}
    dtype = _output_dtype(str(node.get("op")), attrs)  # an op TF's table lacks: output 0 from its attrs
    return [("output", dtype)]



# -- guards: what the core's rewrite/guard passes do not reach --------------------------------------------------------
#: The hint every guard reason ends with: the default lowering runs the passes on the bodies.
_KEPT = "in a kept --control_flow_v2 function, which the {} pass does not reach: drop --control_flow_v2"
#: Ops TF.js does not run that a core pass rewrites away in the main graph (and in the bodies the default lowering
#: inlines): in a kept body the op registry refuses them before any guard here runs.
REWRITTEN_UNSUPPORTED = {"TruncateDiv": "truncating_division", "TruncateMod": "truncating_division"}


def kept_unsupported_hints(found: Mapping[str, Sequence[str]], kept_nodes: Collection[str]) -> list[str]:
    """The "drop --control_flow_v2" hint for each op of ``found`` (op -> node names) that TF.js lacks, a core pass
    rewrites, and only nodes of kept functions (``kept_nodes``) use: the op registry's refusal names them."""
    return [f"{op} {_KEPT.format(REWRITTEN_UNSUPPORTED[op])}" for op, names in found.items()
            if op in REWRITTEN_UNSUPPORTED and names and all(name in kept_nodes for name in names)]
_NCHW_OPS = frozenset({"Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "BiasAdd", "FusedBatchNorm",
                       "FusedBatchNormV2", "FusedBatchNormV3", "Conv3D", "MaxPool3D", "AvgPool3D",
                       "Conv2DBackpropInput", "Conv3DBackpropInputV2"})
_MATMULS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
#: Run-time arguments TF checks and TF.js does not: op -> (input index, the guarding pass).
_RUN_TIME_ARGS = {"Pad": (1, "pad_guard"), "PadV2": (1, "pad_guard"), "ScatterNd": (0, "scatter_index_guard"),
                  "TensorScatterUpdate": (1, "scatter_index_guard"), "GatherNd": (1, "scatter_index_guard"),
                  "MatrixBandPart": (1, "band_part"), "OneHot": (1, "one_hot"), "Cumsum": (1, "cumulative_axis"),
                  "Cumprod": (1, "cumulative_axis")}


def _kept_body_guards(node: Mapping[str, Any], refs: Sequence[str], nodes: Mapping[str, Any],
                      facts: NodeFacts) -> list[tuple[str, frozenset[str] | None]]:
    """(reason, backends or None for every target) for a node of a kept library function that a core pass would
    have rewritten or guarded in the main graph (docs/passes.md says why each exists). Unknowns refuse."""
    op, attrs = facts.op, facts.attrs
    found: list[tuple[str, frozenset[str] | None]] = []

    def refuse(what: str, pass_name: str, only: frozenset[str] | None = None) -> None:  # only: these backends
        found.append((f"{what} {_KEPT.format(pass_name)}", only))

    def const(index: int) -> Any:
        producer = nodes.get(refs[index].split(":")[0]) if index < len(refs) else None
        return index in facts.const_inputs or (producer is not None and producer.get("op") == "Const")

    dtype = tfjs_dtype(attrs.get("T"))
    if op in ("Mod", "TruncateMod", "TruncateDiv") or (op in ("Div", "RealDiv", "Mean") and dtype in (None, "int32")):
        refuse(f"TF truncates where TF.js floors ({op} of {dtype or 'unknown dtype'})", "truncating_division")
    if op in ("FloorDiv", "FloorMod") and dtype != "int32":
        refuse(f"float {op} differs at ±Inf and tiny quotients", "float_floor_division")
    if op == "Pow" and dtype in (None, "int32"):
        refuse("int32 Pow goes through a float power in TF.js", "int32_power")
    if op in _RUN_TIME_ARGS and not const(_RUN_TIME_ARGS[op][0]):
        index, pass_name = _RUN_TIME_ARGS[op]
        refuse(f"run-time input {index} (TF checks it, TF.js does not)", pass_name)
    if op == "MatrixBandPart" and not const(2):
        refuse("run-time input 2 (TF.js keeps elements outside the band)", "band_part")
    if op == "TensorScatterUpdate":
        refuse("cpu writes the update into its input's buffer", "tensor_scatter_update", frozenset({"cpu"}))
    if op == "SplitV" and _split_sizes_may_fail(facts, const(1)):
        refuse("sizes read at run time or a -1 first (TF.js fails a -1 first, reads a leftover -1 as the rest)",
               "split_sizes")
    if op == "SelectV2" and _select_may_keep_a_one(facts):
        refuse("an operand TF.js may keep at a 1 where the output is 0 (shape [1] for TF's [0])", "select_shape")
    if op == "OneHot":
        depth = facts.const_inputs.get(1)
        if attrs.get("axis", -1) not in (-1, "-1"):
            refuse("an axis other than -1 (TF.js's cpu ignores it)", "one_hot")
        if depth is not None and int(np.asarray(depth).reshape(-1)[0]) < 2:
            refuse("depth below 2 (TF.js throws)", "one_hot")
        if tfjs_dtype(attrs.get("T")) in (None, "float32", "bool"):
            refuse("on/off values wasm reads as int32", "one_hot_values", frozenset({"wasm"}))
    if op == "StridedSlice":
        strides = facts.const_inputs.get(3)
        shrink, new_axis = int(attrs.get("shrink_axis_mask") or 0), int(attrs.get("new_axis_mask") or 0)
        if shrink and (new_axis or strides is None or np.any(np.asarray(strides) < 0)):
            refuse("shrink_axis_mask with new_axis_mask or a negative or run-time stride", "strided_slice")
    if op in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        refuse("batch dims TF.js may broadcast wrongly (shapes unknown)", "batch_matmul_broadcast")
    _empty_guards(op, attrs, refs, nodes, facts, refuse)
    if op == "BroadcastTo" and not _broadcast_keeps_sizes(facts):
        refuse("a target that may turn a size of 1 into 0 (TF.js returns the input unchanged)", "empty_broadcast")
    if op == "GatherV2" and not _known_nonempty(facts, 0) and not const(0):
        from ..passes.empty_gather import WRONG_SHAPE_WHEN_EMPTY

        refuse("params that may be empty at run time (wasm answers another shape)", "empty_gather",
               WRONG_SHAPE_WHEN_EMPTY)
    if op == "Select":
        refuse("a v1 Select whose condition may be a row vector (TF.js throws)", "select_rows")
    if op == "ShapeN":
        refuse("TF.js answers float32 whatever out_type", "shape_n")
    if op == "EnsureShape":
        refuse("TF.js's mapping reads a second input and throws", "tfjs_pass_through")
    if op in ("RFFT", "IRFFT"):
        refuse("an fft_length TF.js ignores (TF crops to it)", "fft_length")
    if op in ("LookupTableFind", "LookupTableFindV2"):
        refuse("TF.js returns the values flat and throws on empty keys", "lookup_shape/nonempty_lookup_keys")
    if op == "Round" and refs and nodes.get(refs[0].split(":")[0], {}).get("op") == "ResizeBilinear":
        refuse("a rounded ResizeBilinear (TF.js rounds ties otherwise)", "rounded_bilinear")
    if op in _NCHW_OPS and str(_attr_text(attrs.get("data_format", "NHWC"))).startswith("NC"):
        refuse("a channels-first data_format TF.js does not read", "nchw_to_nhwc")
    if any(str(ref).startswith("^") for ref in node.get("input", [])) and _reads_a_run_of_inputs(op):
        refuse("a control input TF.js's mapping reads as one more tensor", "list_input_controls")
    if op == "Conv3D":
        refuse("a filter that may be grouped (TF.js's conv3d computes another thing)", "grouped_conv")
    if op.startswith("FusedBatchNorm") and attrs.get("is_training") is True:
        refuse("training mode (NaN in TF.js)", "tf_op_rewrites")
    for ref in refs:  # TF.js's FusedBatchNorm gives y only: a read of another output got y (17 off, silently)
        output = _batch_norm_secondary(ref, nodes)
        if output:
            refuse(f"a read of {ref.partition(':')[0]}'s {output} (TF.js's FusedBatchNorm gives y only)",
                   "tf_op_rewrites")
    if op in ("Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative") \
            and _attr_text(attrs.get("padding")) == "SAME" and _window_may_skip(attrs, facts.float_consts.get(1)):
        refuse("a strided SAME convolution whose window may be smaller than its stride", "same_padding",
               frozenset({"wasm"}))
    return found


def _split_sizes_may_fail(facts: NodeFacts, constant: bool) -> bool:
    """Whether a kept SplitV's sizes may reach TF.js with a -1 it mishandles: a -1 first (the sum check fails) or
    sizes read at run time. A constant -1 elsewhere resolves right; its leftover is -1 only where TF raises (tf_keras's
    GRUCell splits by ``[units, units, -1]``)."""
    sizes = facts.const_inputs.get(1)
    if not constant or sizes is None:
        return True
    flat = np.asarray(sizes).reshape(-1)
    return flat.size > 0 and int(flat[0]) == -1


def _select_may_keep_a_one(facts: NodeFacts) -> bool:
    """Whether select_shape would broadcast an operand of this kept SelectV2 (its shapes or ranks known: the main
    graph's pass leaves unknown ranks alone as well)."""
    from ..passes.select_shape import keeps_a_one

    shapes, ranks = list(facts.input_shapes), list(facts.input_ranks)
    dims = [shapes[i] if i < len(shapes) and shapes[i] is not None
            else ((None,) * ranks[i] if i < len(ranks) and ranks[i] is not None else None) for i in range(3)]
    if any(d is None for d in dims):
        return False
    return any(keeps_a_one(dims, index) for index in range(3))


def _batch_norm_secondary(ref: str, nodes: Mapping[str, Any]) -> str | None:
    """The output a FunctionDef ref (``node:output:index``) takes of a FusedBatchNorm when it is not y, else None."""
    producer, _, output = ref.partition(":")
    if output and not output.startswith("y:") and str(nodes.get(producer, {}).get("op", "")).startswith(
            "FusedBatchNorm"):
        return output.split(":")[0]
    return None


def _returned_batch_norm_outputs(node: Mapping[str, Any], returned: Sequence[str],
                                 nodes: Mapping[str, Any]) -> list[tuple[str, frozenset[str] | None]]:
    """A kept function (If branch, While body) returning a FusedBatchNorm's output other than y through its ``ret``
    map, with no node reading it: TF.js's op gives y only (5.33 off TF, or a crash), refused like a read."""
    name = node.get("name")
    outputs = [out for ref in returned if ref.partition(":")[0] == name and (out := _batch_norm_secondary(ref, nodes))]
    if not outputs:
        return []
    return [(f"{'/'.join(dict.fromkeys(outputs))} returned by the function (TF.js's FusedBatchNorm gives y only) "
             f"{_KEPT.format('tf_op_rewrites')}", None)]


def _empty_guards(op: str, attrs: Mapping[str, Any], refs: Sequence[str], nodes: Mapping[str, Any],
                  facts: NodeFacts, refuse: Any) -> None:
    """empty_reductions: any size in a kept body may be 0 at run time, where the backends the pass's table names
    answer otherwise than TF (a matmul whose operand shape gives a non-zero inner size is safe, and so is a
    reduction whose reduced sizes are known non-zero)."""
    from ..passes.reduction_padding import MATMUL_WRONG_WHEN_EMPTY, WRONG_WHEN_EMPTY

    if op in _MATMULS:
        if tfjs_dtype(attrs.get("Tout" if op == "BatchMatMulV3" else "T")) != "bool" \
                and not _known_inner(op, attrs, refs, nodes, facts):
            refuse("an inner dimension that may be 0 (TF: zeros)", "empty_reductions", MATMUL_WRONG_WHEN_EMPTY)
        return
    dtype = tfjs_dtype(attrs.get("T"))
    floating = op not in ("All", "Any") and dtype != "int32"  # unknown counts as float: Mean's wrong set is larger
    wrong = WRONG_WHEN_EMPTY.get((op, floating))
    if wrong and not _reduces_known_nonempty(facts):
        refuse("a reduction over an axis that may be empty (TF.js answers otherwise there)", "empty_reductions",
               wrong | {"webgpu"})


def _reduces_known_nonempty(facts: NodeFacts) -> bool:
    """Whether every axis a reduction reduces over has a size known non-zero, from its constant axes and its input's
    shape (a Const's, or an argument's that TF recorded or the callers pass): then TF.js answers as TF does, and
    refusing it would only refuse a correct model. A scalar input holds one element: never empty."""
    shape = facts.input_shapes[0] if facts.input_shapes else None
    axes = facts.const_inputs.get(1)
    if shape is None or axes is None:
        return False
    if not shape:
        return True
    reduced = {int(axis) % len(shape) for axis in np.asarray(axes).reshape(-1)}
    return all(shape[axis] is not None and shape[axis] > 0 for axis in reduced)


def _known_nonempty(facts: NodeFacts, index: int) -> bool:
    """Whether input ``index``'s shape is known with every size above 0 (it holds elements at run time)."""
    shape = facts.input_shapes[index] if index < len(facts.input_shapes) else None
    return shape is not None and all(size is not None and size > 0 for size in shape)


def _broadcast_keeps_sizes(facts: NodeFacts) -> bool:
    """Whether a BroadcastTo cannot turn a size of 1 into 0: its target is a constant without a 0, or its input's
    sizes are known and none is 1 (a target of 0 there is an error in TF too)."""
    target = facts.const_inputs.get(1)
    if target is not None:
        return bool(np.all(np.asarray(target) != 0))
    shape = facts.input_shapes[0] if facts.input_shapes else None
    rank = facts.output_ranks[0] if facts.output_ranks else None
    return shape is not None and rank == len(shape) and all(size is not None and size != 1 for size in shape)


def _reads_a_run_of_inputs(op: str) -> bool:
    from ..passes.list_input_controls import LIST_INPUT_OPS

    return op in LIST_INPUT_OPS


def _window_may_skip(attrs: Mapping[str, Any], kernel: np.ndarray | None) -> bool:
    """Whether a SAME convolution's window may be smaller than its stride on a spatial axis (unknown kernel: a
    stride above 1 is enough)."""
    strides = [int(s) for s in _spatial(attrs, "strides") or []]
    if kernel is None or kernel.ndim != len(strides) + 2:
        return any(s > 1 for s in strides)
    dilations = [int(d) for d in _spatial(attrs, "dilations") or [1] * len(strides)]
    return any((k - 1) * d + 1 < s for k, d, s in zip(kernel.shape[:-2], dilations, strides))


def _known_inner(op: str, attrs: Mapping[str, Any], refs: Sequence[str], nodes: Mapping[str, Any],
                 facts: NodeFacts) -> bool:
    """Whether a matmul's inner dimension is known non-zero: an operand's contracted size, from a constant or the
    argument shapes TF records."""
    for index, flip in ((0, "transpose_a" if op == "MatMul" else "adj_x"), (1, "transpose_b" if op == "MatMul" else "adj_y")):
        shape = facts.input_shapes[index] if index < len(facts.input_shapes) else None
        if shape is None or len(shape) < 2:
            continue
        size = shape[(-2 if attrs.get(flip) else -1) if index == 0 else (-1 if attrs.get(flip) else -2)]
        if size is not None:
            return size > 0  # TF requires both operands' inner sizes equal: one known size decides
    return False
