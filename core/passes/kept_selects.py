"""``select_shape`` inside the While/If functions ``--control_flow_v2`` keeps (``graph.library``, FunctionDef JSON).

A ``SelectV2`` in a kept body meets tfjs-core's ``where`` as one in the main graph does: an operand whose 1 meets
another's 0 is handed on at 1 (session 30: ``where(c, t, e)`` in a while body fed ``c: [0], t: [1], e: [0]`` gave
``[1]``, TF ``[0]``). There is no IR there, so this module reads the sizes from the contract's walk of the function
(``kept_bodies.library_ref_dims``: argument shapes, Consts, ranks), proves an unknown axis shared the way
``dim_sources`` does for the few ops a body shows it through (same-shape and broadcasting ops, MatMul rows and
columns, Split pieces, positive Tiles, TensorList items: ``where(c > 0, acc * 2, acc)`` over a loop-carried ``acc``
stays as it is). A body's arguments take the atoms of what its one main-graph caller passes (``dim_sources``); in a
loop body that holds only if each loop variable a proof read comes back with the same atoms (induction over the
iterations), else the body is proved again without them. So a masked RNN's ``where(mask_t, h_new, h)`` (batch of one
input) stays as it is. The operands it cannot prove are written as ``x * Fill(output shape, 1)`` (bools ``x | Fill(false)``), the output shape ``BroadcastArgs`` of the three
``Shape``s: ``select_shape``'s own form, node for node.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from ..ops.special_values import GUARDED_SUFFIX
from .dim_sources import DimSources

#: This rewrite's name part (a select whose operand carries it was rewritten already).
MARK = "select_shape"
LABELS = ("condition", "t", "e")
#: Ops whose output has input 0's shape, and ops whose output is their data inputs' broadcast.
_SAME = frozenset({"Identity", "Snapshot", "StopGradient", "Cast", "Neg", "Abs", "Sign", "Floor", "Ceil", "Round",
                   "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Tanh", "Sigmoid", "Relu", "Relu6", "Elu",
                   "Selu", "Softplus", "LeakyRelu", "Erf", "Sin", "Cos", "LogicalNot", "Softmax", "LogSoftmax",
                   "Softsign", "BiasAdd", "ZerosLike", "OnesLike", "IsNan", "IsInf", "IsFinite", "Expm1", "Log1p",
                   "ClipByValue"})
_BROADCASTING = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "Maximum", "Minimum",
                           "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                           "LogicalAnd", "LogicalOr", "FloorDiv", "FloorMod", "Pow", "AddN", "SelectV2"})
#: Output argument names of the ops written here (a FunctionDef reference is ``node:output_arg:index``).
_OUTPUT_ARG = {"Shape": "output", "BroadcastArgs": "r0", "Fill": "output", "Mul": "z", "LogicalOr": "z",
               "Const": "output"}

Dims = tuple
Reader = Callable[[str], "tuple | None"]


def broadcast_kept_selects(graph: Graph, main: DimSources | None = None) -> int:
    """Rewrite every kept ``SelectV2`` some operand of which may stay at 1 where the output is 0; the count.
    ``main`` (the main graph's ``dim_sources``) seeds a body's arguments with what its one caller passes."""
    from ..ops.kept_bodies import library_ref_dims

    readers, callers, count = library_ref_dims(graph), _callers(graph), 0
    for index, function in enumerate(graph.library):
        if not isinstance(function, dict):
            continue
        fname = function.get("signature", {}).get("name", "function")
        plans = _plans(function, readers.get(fname), _seed(main, callers.get(fname)), graph.library_weights)
        if plans:
            graph.library[index] = function = copy.deepcopy(function)  # the caller's dicts stay as they were
            for name, exposed, dims, dtype in plans:
                _rewrite(function, fname, name, exposed, dims, dtype, graph.library_weights)
            count += len(plans)
    return count


#: A function's one caller: (the node, the index of its first input the function's arguments read, a loop).
Caller = tuple
_CALLER_KEYS = {"While": (("body", "cond"), 0, True), "StatelessWhile": (("body", "cond"), 0, True),
                "If": (("then_branch", "else_branch"), 1, False),
                "StatelessIf": (("then_branch", "else_branch"), 1, False)}


def _callers(graph: Graph) -> dict[str, Caller | None]:
    """Function name -> its caller in the main graph (None when several call it, or when a kept function calls it
    too: no one seed; review r1: a body inlined at top level and again inside a loop body was seeded from the
    top-level call only and its select left, [1] where TF gives [0])."""
    found: dict[str, Caller | None] = {}
    for node in graph.nodes:
        keys, first, loop = _CALLER_KEYS.get(node.op, ((), 0, False))
        for key, value in node.attrs.items():
            name = getattr(value, "name", None)
            if isinstance(name, str):
                found[name] = None if name in found or key not in keys else (node, first, loop)
    for name in _called_in_library(graph):
        found[name] = None
    return found


def _called_in_library(graph: Graph) -> set[str]:
    """The functions a kept function's own nodes name in a func attr (or a list of them)."""
    names: set[str] = set()

    def visit(value: object) -> None:
        if isinstance(value, dict):
            func = value.get("func")
            for item in func if isinstance(func, list) else [func]:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    names.add(item["name"])
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for function in graph.library:
        visit(function.get("nodeDef", function.get("node_def", [])))
    return names


def _seed(main: DimSources | None, caller: Caller | None) -> Seed | None:
    """``seed(argument, axis)``: the atoms of what the caller passes there (None: unknown), with whether the
    function is a loop body (whose returned values must then keep them: induction over the iterations)."""
    if main is None or caller is None:
        return None
    node, first, loop = caller
    passed = list(node.inputs[first:])
    memo: dict[tuple[int, int], frozenset | None] = {}

    def seed(argument: int, axis: int) -> frozenset | None:
        if (argument, axis) not in memo:
            memo[(argument, axis)] = main.walked(passed[argument], axis) if argument < len(passed) else None
        return memo[(argument, axis)]

    return Seed(seed, loop, len(passed))


class Seed:
    """What a body's arguments hold on entry (see ``_seed``)."""

    def __init__(self, atoms: Callable[[int, int], frozenset | None], loop: bool, count: int) -> None:
        self.atoms, self.loop, self.count = atoms, loop, count


def _data(node: Mapping[str, Any]) -> list[str]:
    return [ref for ref in node.get("input", []) if not str(ref).startswith("^")]


def _plans(function: Mapping[str, Any], dims_of: Reader | None, seed: Seed | None,
           weights: Mapping[str, Any]) -> list[tuple[str, list[int], list[Dims], DType]]:
    """(select name, operands to broadcast, operand dims, branch dtype) for the function's selects that need it.
    A select whose ranks the walk cannot tell is left (the main graph's pass leaves unknown ranks too). A loop
    body's proof from its arguments' seeds stands only if what it returns keeps them (else it is made again without)."""
    if dims_of is None:
        return []
    nodes = {n.get("name"): n for n in function.get("nodeDef", []) if isinstance(n, dict)}
    args = [a.get("name") for a in function.get("signature", {}).get("inputArg", [])]
    if seed is not None and seed.count != len(args):
        seed = None
    sources = _BodySources(nodes, dims_of, args, seed, weights)
    plans = _plans_with(nodes, dims_of, sources)
    if seed is not None and seed.loop and not sources.induction_holds(_returned(function)):
        plans = _plans_with(nodes, dims_of, _BodySources(nodes, dims_of, args, None, weights))
    return plans


def _returned(function: Mapping[str, Any]) -> list[str | None]:
    """What the function returns for each output argument, in order (a loop body: each loop variable's next value)."""
    ret = function.get("ret") or {}
    return [ret.get(a.get("name")) for a in function.get("signature", {}).get("outputArg", [])]


def _plans_with(nodes: Mapping[str, Any], dims_of: Reader,
                sources: _BodySources) -> list[tuple[str, list[int], list[Dims], DType]]:
    from .select_shape import keeps_a_one

    plans = []
    for node in nodes.values():
        refs = _data(node)
        if node.get("op") != "SelectV2" or len(refs) != 3 or any(f"/{MARK}/" in ref for ref in refs):
            continue
        dims = [dims_of(ref) for ref in refs]
        dtype = _branch_dtype(node)
        if any(d is None for d in dims) or dtype is None:
            continue
        covered = _covered_by(sources, refs, dims)
        exposed = [i for i in range(3) if keeps_a_one(dims, i, covered)]
        if exposed:
            plans.append((node["name"], exposed, dims, dtype))
    return plans


def _branch_dtype(node: Mapping[str, Any]) -> DType | None:
    """The select's ``T`` (None for strings and complex values: refused by the contract, as in the main graph)."""
    name = ((node.get("attr") or {}).get("T") or {}).get("type")
    try:
        dtype = DType.from_any(name) if name else None
    except (KeyError, ValueError):
        return None
    return None if dtype in (None, DType.STRING, DType.COMPLEX64, DType.COMPLEX128) else dtype


def _covered_by(sources: _BodySources, refs: Sequence[str], dims: Sequence[Dims]) -> Callable[[int, int, int], bool]:
    """``covered(index, other, axis)`` as ``select_shape``'s: whether operand ``other``'s 0 there makes ``index``'s
    0 too."""
    rank = max(len(d) for d in dims)

    def covered(index: int, other: int, axis: int) -> bool:
        own, theirs = axis - (rank - len(dims[index])), axis - (rank - len(dims[other]))
        return sources.of(refs[other], theirs) <= sources.of(refs[index], own)

    return covered


class _BodySources:
    """``dim_sources``'s atoms over one FunctionDef: an axis is empty exactly when one of its atoms is 0. An argument
    takes its seed's atoms (recorded in ``assumed``), else is an atom of its own."""

    def __init__(self, nodes: Mapping[str, Any], dims_of: Reader, args: Sequence[str], seed: Seed | None,
                 weights: Mapping[str, Any]) -> None:
        self.nodes, self.dims_of, self.seed, self.weights = nodes, dims_of, seed, weights
        self.args = {name: index for index, name in enumerate(args)}
        self.assumed: set[tuple[int, int]] = set()
        self._memo: dict[tuple[str, int], frozenset] = {}

    def of(self, ref: str, axis: int) -> frozenset:
        key = (_canonical(ref), axis)
        if key not in self._memo:
            self._memo[key] = frozenset({key})  # a FunctionDef is acyclic; this only stops a malformed one
            self._memo[key] = self._atoms(ref, axis)
        return self._memo[key]

    def induction_holds(self, returned: Sequence[str | None]) -> bool:
        """Whether each loop variable whose seed a proof used comes back with the same atoms (given the seeds):
        its size is then 0 exactly when the seed's atoms say so, in every iteration."""
        checked: set[tuple[int, int]] = set()
        while todo := self.assumed - checked:
            for argument, axis in sorted(todo):
                checked.add((argument, axis))
                ref = returned[argument] if argument < len(returned) else None
                if ref is None or self.of(ref, axis) != self.seed.atoms(argument, axis):
                    return False
        return True

    def _atoms(self, ref: str, axis: int) -> frozenset:
        dims = self.dims_of(ref)
        if dims is not None and axis < len(dims) and dims[axis] is not None:
            return frozenset({("size", int(dims[axis]))})
        seeded = self._seeded(ref, axis)
        if seeded is not None:
            return seeded
        name, _, rest = ref.partition(":")
        node = self.nodes.get(name)
        every_output = node is not None and node.get("op") in ("Split", "SplitV")  # each piece: the same rule
        first_output = rest in ("", "0") or rest.endswith(":0") or every_output
        found = self._rule(node, dims, axis) if node is not None and first_output else None
        return found if found is not None else frozenset({(_canonical(ref), axis)})

    def _seeded(self, ref: str, axis: int) -> frozenset | None:
        argument = self.args.get(_canonical(ref))
        if argument is None or self.seed is None:
            return None
        atoms = self.seed.atoms(argument, axis)
        if atoms is not None:
            self.assumed.add((argument, axis))
        return atoms

    def _rule(self, node: Mapping[str, Any], dims: tuple | None, axis: int) -> frozenset | None:
        op, data = node.get("op"), _data(node)
        if op in _SAME and data:
            return self.of(data[0], axis)
        if op in _BROADCASTING and dims is not None:
            return self._broadcast(data, axis, len(dims))
        if op == "MatMul" and len(data) == 2 and axis in (0, 1):
            return self._matmul(node, data, axis)
        if op == "TensorListGetItem" and data:  # an item's axes are the list's after the first
            return self.of(data[0], axis + 1)
        if op == "Tile" and len(data) == 2:  # a positive multiple: empty exactly when the input is
            multiples = self._const(data[1])
            return self.of(data[0], axis) if multiples is not None and axis < multiples.size and multiples[axis] > 0 \
                else None
        if op in ("Split", "SplitV") and len(data) >= 2:  # every piece keeps the other axes of what it splits
            value, along = (data[1], data[0]) if op == "Split" else (data[0], data[-1])
            at, rank = self._const(along), self.dims_of(value)
            if at is None or at.size != 1 or rank is None or int(at[0]) % max(len(rank), 1) == axis:
                return None
            return self.of(value, axis)
        return None

    def _const(self, ref: str) -> np.ndarray | None:
        """A Const input's values, flat (TF.js looks them up in the weights)."""
        from ..ops.kept_bodies import library_const

        value = library_const(ref, self.nodes, self.weights)
        return None if value is None else np.asarray(value).reshape(-1)

    def _broadcast(self, data: Sequence[str], axis: int, rank: int) -> frozenset | None:
        atoms: set = set()
        for ref in data:
            dims = self.dims_of(ref)
            if dims is None:
                return None
            at = axis - (rank - len(dims))
            if at >= 0:
                atoms |= self.of(ref, at) - {("size", 1)}
        return frozenset(atoms) or frozenset({("size", 1)})

    def _matmul(self, node: Mapping[str, Any], data: Sequence[str], axis: int) -> frozenset:
        flag = "transpose_a" if axis == 0 else "transpose_b"
        flipped = bool(((node.get("attr") or {}).get(flag) or {}).get("b"))
        return self.of(data[axis], (1 - axis) if flipped else axis)


def _canonical(ref: str) -> str:
    """One spelling per tensor: ``x`` and ``x:0`` for an argument, ``node:out:0`` for a node's output."""
    return ref[:-2] if ref.count(":") == 1 and ref.endswith(":0") else ref


def _rewrite(function: dict[str, Any], fname: str, name: str, exposed: Sequence[int], dims: Sequence[Dims],
             dtype: DType, weights: dict[str, Any]) -> None:
    """Each exposed operand of select ``name`` as ``x * Fill(output shape, 1)`` (bools: ``x | Fill(false)``)."""
    nodes = function["nodeDef"]
    select = next(n for n in nodes if n.get("name") == name)
    refs, prefix = _data(select), f"{name}/{MARK}"

    def add(op: str, label: str, inputs: list[str], attrs: dict[str, Any]) -> str:
        nodes.append({"name": f"{prefix}/{label}", "op": op, "input": inputs, "attr": attrs})
        return f"{prefix}/{label}:{_OUTPUT_ARG[op]}:0"

    int32 = {"type": DType.INT32.tf_name}
    shapes = [add("Shape", f"{LABELS[i]}_dims", [ref], {"T": {"type": (DType.BOOL if i == 0 else dtype).tf_name},
                                                         "out_type": int32}) for i, ref in enumerate(refs)]
    both = add("BroadcastArgs", "condition_t_dims", shapes[:2], {"T": int32})
    out = add("BroadcastArgs", "output_dims", [both, shapes[2]], {"T": int32})
    for index in exposed:
        kind = DType.BOOL if index == 0 else dtype
        one = _constant(nodes, weights, fname, f"{prefix}/{LABELS[index]}_one", kind)
        attrs = {"T": {"type": kind.tf_name}}
        fill = add("Fill", f"{LABELS[index]}_ones", [out, one], {**attrs, "index_type": int32})
        # named as exact (``x * 1``, ``x | false``), so the special-values line does not name it
        wide = add("LogicalOr" if kind == DType.BOOL else "Mul", f"{LABELS[index]}{GUARDED_SUFFIX}",
                   [refs[index], fill], {} if kind == DType.BOOL else attrs)
        select["input"][_position(select, index)] = wide


def _position(node: Mapping[str, Any], index: int) -> int:
    """Where data input ``index`` sits among the node's inputs (control inputs ``^x`` may come between)."""
    return [i for i, ref in enumerate(node.get("input", [])) if not str(ref).startswith("^")][index]


def _constant(nodes: list[dict[str, Any]], weights: dict[str, Any], fname: str, name: str, dtype: DType) -> str:
    """A scalar Const (1, or false for bools) held in ``weights`` under ``<function>/<node>``: TF.js looks every
    Const up by name in the one weight map."""
    from ..writers.protojson import tensor_meta_json

    full = f"{fname}/{name}"
    nodes.append({"name": full, "op": "Const",
                  "attr": {"dtype": {"type": dtype.tf_name}, "value": {"tensor": tensor_meta_json(dtype, ())}}})
    weights[full] = np.asarray(False) if dtype == DType.BOOL else np.ones((), dtype.numpy)
    return full
