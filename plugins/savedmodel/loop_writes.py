"""Control flow v2: keep alive the tensors a ``While`` body writes into a TensorList / TensorArray.

TF.js 4.22 runs a library function in its own executor and, when the function returns, disposes
every tensor it made except the function's outputs (``keep`` flags are ignored there). A body that
writes an intermediate value into a TensorList (``TensorListSetItem``, ``TensorListPushBack``,
``TensorArrayWriteV3``) leaves the list holding a disposed tensor, and the read after the loop fails
("Cannot read properties of undefined (reading 'backend')"). A value that is a body input, a body
output or a constant survives.

So each such value becomes one more loop variable: the body returns it (TF.js then keeps it, and the
list's ``keep`` protects it from the loop's disposal of the previous iteration's outputs), its cond
and body take one more (unused) argument, and the ``While`` node gets a zero scalar as its initial
value. This is only done for bodies that only ``While`` nodes of the main graph call; a function
called any other way (an ``If`` branch, a nested loop's body, a call) that writes an intermediate is
refused, naming the function and node, with the hint to drop ``--control_flow_v2``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import TfjsconvError, UnsupportedOpsError
from tfjsconv.ir import FuncAttr, Graph, Node, TensorShapeAttr

#: Ops that put the given tensor itself into a list (input index of that tensor, attr of its dtype).
WRITE_OPS = {"TensorListSetItem": (2, "element_dtype"), "TensorListPushBack": (1, "element_dtype"),
             "TensorArrayWriteV3": (2, "T")}
WHILE_OPS = frozenset({"While", "StatelessWhile"})
HINT = ("TF.js disposes a function's intermediate tensors when it returns, the written one included; "
        "drop --control_flow_v2 (the default lowering to v1 control flow runs this model)")


class LoopWriteError(UnsupportedOpsError):
    """Writes into a TensorList/TensorArray inside functions TF.js would run with the value already disposed."""

    def __init__(self, ops: dict[str, list[str]]) -> None:
        self.ops = {op: sorted(names) for op, names in sorted(ops.items())}
        where = "; ".join(f"{op} at {', '.join(names)}" for op, names in self.ops.items())
        TfjsconvError.__init__(self, "TF.js 4.22 would read a disposed tensor: a control-flow-v2 function (not the "
                                     "body of a top-level While) writes a value it computes into a TensorList/"
                                     f"TensorArray: {where}", hint=HINT)


def keep_loop_writes_alive(graph: Graph) -> int:
    """Rewrite (or refuse) every library function that writes an intermediate into a list; returns how many values."""
    docs = {doc.get("signature", {}).get("name"): doc for doc in graph.library}
    written = {name: found for name, doc in docs.items() if (found := intermediate_writes(doc))}
    if not written:
        return 0
    main_whiles = [n for n in graph.nodes if n.op in WHILE_OPS]
    as_main_body = {name: [n for n in main_whiles if _func(n.attrs.get("body")) == name] for name in written}
    refused: dict[str, list[str]] = {}
    for name, writes in written.items():
        if not _rewritable(graph, docs, name, as_main_body[name], [dtype for *_, dtype in writes]):
            for node_name, op, _, _ in writes:
                refused.setdefault(op, []).append(f"{name}/{node_name}")
    if refused:
        raise LoopWriteError(refused)
    count = 0
    for name, writes in written.items():
        values = list(dict.fromkeys((ref, dtype) for _, _, ref, dtype in writes))
        count += len(values)
        _add_loop_variables(graph, docs, name, as_main_body[name], values)
    return count


def intermediate_writes(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(node, op, value ref, dtype)`` of each write of a value that is neither an argument, an output nor a Const."""
    args = {arg.get("name") for arg in doc.get("signature", {}).get("inputArg", [])}
    returned = set((doc.get("ret") or {}).values())
    nodes = {node.get("name"): node for node in doc.get("nodeDef", [])}
    found = []
    for node in doc.get("nodeDef", []):
        spec = WRITE_OPS.get(node.get("op"))
        inputs = node.get("input") or []
        if spec is None or len(inputs) <= spec[0]:
            continue
        ref = inputs[spec[0]]
        producer = nodes.get(ref.split(":")[0])
        if ref in args or ref in returned or (producer is not None and producer.get("op") == "Const"):
            continue
        dtype = ((node.get("attr") or {}).get(spec[1]) or {}).get("type", "DT_FLOAT")
        found.append((str(node.get("name")), str(node.get("op")), ref, dtype))
    return found


def _rewritable(graph: Graph, docs: dict[str, Any], body: str, whiles: list[Node], dtypes: list[str]) -> bool:
    """Only top-level ``While`` nodes call ``body`` (and its cond), and each written dtype can start a loop variable."""
    if not whiles or not all(_has_initial_value(dtype) for dtype in dtypes) or _other_uses(graph, docs, body, whiles):
        return False
    conds = {_func(n.attrs.get("cond")) for n in whiles}
    return not any(_other_uses(graph, docs, cond, whiles, as_cond=True) for cond in conds)


def _has_initial_value(dtype: str) -> bool:
    """Whether a constant can start a loop variable of this dtype (not for variants / resources)."""
    try:
        DType.from_any(dtype).numpy  # noqa: B018 - raises for dtypes without an array form
    except (ValueError, TypeError):
        return False
    return True


def _func(value: Any) -> str | None:
    return value.name if isinstance(value, FuncAttr) else None


def _func_refs(value: Any) -> Iterator[tuple[str, str]]:
    """``(attr key, function name)`` of every function a JSON attr map names."""
    for key, attr in (value or {}).items():
        if not isinstance(attr, dict):
            continue
        funcs = [attr["func"]] if isinstance(attr.get("func"), dict) else (attr.get("list") or {}).get("func") or []
        for func in funcs:
            if isinstance(func, dict) and func.get("name"):
                yield key, func["name"]


def _other_uses(graph: Graph, docs: dict[str, Any], name: str | None, whiles: list[Node], *,
                as_cond: bool = False) -> bool:
    """Whether ``name`` is used other than as the body (``as_cond``: cond) of the given main-graph ``While`` nodes."""
    role = "cond" if as_cond else "body"
    for node in graph.nodes:
        for key, value in node.attrs.items():
            values = value if isinstance(value, list) else [value]
            if any(_func(v) == name for v in values) and not (node in whiles and key == role):
                return True
    for doc in docs.values():  # a nested loop, an If branch or a call inside a function
        for node in doc.get("nodeDef", []):
            if any(func == name for _, func in _func_refs(node.get("attr"))):
                return True
    return False


def _add_loop_variables(graph: Graph, docs: dict[str, Any], body: str, whiles: list[Node],
                        values: list[tuple[str, str]]) -> None:
    doc = docs[body]
    signature = doc.setdefault("signature", {})
    taken = {a.get("name") for key in ("inputArg", "outputArg") for a in signature.get(key, [])}
    names = []
    for i, (ref, dtype) in enumerate(values):
        name = f"tfjsconv_keep_{i}"
        while name in taken:
            name += "_"
        taken.add(name)
        names.append(name)
        signature.setdefault("inputArg", []).append({"name": name, "type": dtype})
        signature.setdefault("outputArg", []).append({"name": f"{name}_out", "type": dtype})
        doc.setdefault("ret", {})[f"{name}_out"] = ref
    for cond in {_func(n.attrs.get("cond")) for n in whiles}:
        cond_args = docs[cond].setdefault("signature", {}).setdefault("inputArg", [])
        cond_args += [{"name": f"{name}_unused", "type": dtype} for name, (_, dtype) in zip(names, values, strict=True)]
    for node in whiles:
        for name, (_, dtype) in zip(names, values, strict=True):
            kind = DType.from_any(dtype)
            initial = np.array(b"", dtype=object) if kind is DType.STRING else np.zeros((), kind.numpy)
            node.inputs.append(graph.const(initial, name=f"{node.name}/{name}_initial", dtype=kind))
            node.attrs["T"] = [*node.attrs.get("T", []), kind]
            if "output_shapes" in node.attrs:
                node.attrs["output_shapes"] = [*node.attrs["output_shapes"], TensorShapeAttr(None)]
