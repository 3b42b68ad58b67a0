"""Which float16 ONNX nodes onnxruntime's CPU runs on float16 kernels, and so reads and writes rounded to float16.

Measured with onnxruntime 1.32.0 on x86-64 (session 27 h8b, /work/notes/probe27/h8b): the kernel table is its CPU
kernel registry (``onnxruntime.capi._pybind_state.get_all_opkernel_def()``), the rest from the Casts in its
optimized models (``SessionOptions.optimized_model_filepath``). Its InsertCastTransformer runs every float16 node
without a float16 kernel in float32 (Casts around it, the Casts between two such nodes removed), and a node with one
in float16 unless it is isolated: it reads another node's output, produces no graph output, and every node its
float16 input comes from and every reader of its float16 output runs in float32 (IsIsolatedFp16NodeOnCpu, taken in
node order). Only the first input of a variadic operand (Max, Min, Concat) counts there, as in onnxruntime.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Default-domain ops with a float16 CPU kernel in onnxruntime 1.32.0's registry, by the first model opset with one
#: (every version from there on has one; LayerNormalization is its own opset-1 op below ONNX's 17).
HALF_KERNELS: dict[str, int] = {
    "Cast": 6, "Clip": 12, "Compress": 9, "Concat": 4, "ConstantOfShape": 9, "Expand": 8, "Flatten": 1, "Gather": 1,
    "GatherElements": 11, "GatherND": 11, "Identity": 1, "IsInf": 20, "IsNaN": 9, "LayerNormalization": 1, "Max": 12,
    "Min": 12, "Mod": 10, "Reshape": 1, "ReverseSequence": 10, "Round": 11, "ScatterElements": 11, "ScatterND": 11,
    "Shape": 1, "Shrink": 9, "Sign": 9, "Slice": 1, "Split": 2, "Squeeze": 1, "Transpose": 1, "Unsqueeze": 1}
#: Ops whose float16 operands are one variadic parameter: onnxruntime's isolation test looks at the first only.
VARIADIC = frozenset({"Max", "Min", "Concat", "Sum", "Mean"})
#: Ops whose result on float16 inputs is a float16 value already (selections, data movement, integers): their
#: float16 kernel's result needs no rounding once their inputs are rounded.
EXACT_ON_HALVES = frozenset({"Cast", "Clip", "Compress", "Concat", "Expand", "Flatten", "Gather", "GatherElements",
                             "GatherND", "Identity", "Max", "Min", "Reshape", "ReverseSequence", "Round",
                             "ScatterElements", "ScatterND", "Sign", "Slice", "Split", "Squeeze", "Transpose",
                             "Unsqueeze", "ConstantOfShape", "Relu"})
#: (op, model opset) onnxruntime inlines into one float16 kernel before choosing kernels (measured, opsets 11-21):
#: Relu at opset 18 becomes Max(X, 0), which has one (and gives float16 values as Relu does).
INLINED_HALF_KERNELS = frozenset({("Relu", 18)})
#: Ops onnxruntime rewrites otherwise before choosing kernels, by model opset (measured, 11-21): it inlines
#: HardSigmoid and HardSwish at opset 18 into float32 Mul/Add (alpha, beta rounded to float16) and float16 Min/Max,
#: and removes Identity and Dropout (not at a graph output: a neighbour there stays on float16 either way).
#: The rule cannot be applied to such ONNX nodes: they and their float16 neighbours are left in float32 and named.
REWRITTEN: dict[str, frozenset[int]] = {"HardSigmoid": frozenset({18}), "HardSwish": frozenset({18}),
                                        "Identity": frozenset(range(1, 100)), "Dropout": frozenset(range(1, 100))}
DEFAULT_DOMAINS = ("", "ai.onnx")
_SUBGRAPH_ATTRIBUTES = (5, 10)  # AttributeProto.GRAPH, GRAPHS: If, Loop, Scan bodies
_RESHAPES = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose"})
#: Where this table was measured.
ORT_MEASURED = "1.32.0 on x86-64 (CPU)"


@dataclass
class HalfPlan:
    """Where onnxruntime's CPU computes float16 nodes on float16 kernels (by node index in the main graph)."""
    on_half: set[int] = field(default_factory=set)
    unmodelled: set[int] = field(default_factory=set)


def _has_half_kernel(node: Any, opset: int) -> bool:
    first = HALF_KERNELS.get(node.op_type)
    return (node.op_type, opset) in INLINED_HALF_KERNELS or (first is not None and opset >= first)


def _half_operands(node: Any, is_half: Callable[[str], bool]) -> list[str]:
    """The float16 inputs IsIsolatedFp16NodeOnCpu looks at: of a variadic operand, the first present input only."""
    present = [n for n in node.input if n]
    return [n for n in (present[:1] if node.op_type in VARIADIC else present) if is_half(n)]


def plan_half_kernels(graph: Any, opset: int, is_half: Callable[[str], bool]) -> HalfPlan:
    """The nodes onnxruntime keeps on float16 kernels (their float16 inputs and results rounded there), following
    InsertCastTransformer; nodes next to one it rewrites first (:data:`REWRITTEN`) are reported unmodelled."""
    nodes = list(graph.node)
    producer = {o: k for k, n in enumerate(nodes) if n.op_type != "Constant" for o in n.output if o}
    readers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for name in n.input:
            readers.setdefault(name, []).append(k)
    outputs = {o.name for o in graph.output}
    standard = [n.domain in DEFAULT_DOMAINS for n in nodes]
    halfio = [any(is_half(x) for x in (*n.input, *n.output) if x) for n in nodes]
    kernel = [standard[k] and halfio[k] and _has_half_kernel(n, opset) for k, n in enumerate(nodes)]
    plan = HalfPlan()
    for k, n in enumerate(nodes):
        kept_as_output = n.op_type in ("Identity", "Dropout") and any(o in outputs for o in n.output)
        if halfio[k] and not kept_as_output and (
                not standard[k] or opset in REWRITTEN.get(n.op_type, ())
                or any(a.type in _SUBGRAPH_ATTRIBUTES for a in n.attribute)):
            plan.unmodelled.add(k)

    def needs_cast(k: int) -> bool:
        return not kernel[k] and any(is_half(x) for x in nodes[k].input if x)

    for k, n in enumerate(nodes):  # onnxruntime's ForceSingleNodeCPUFloat16ToFloat32, in node order
        if kernel[k] and _isolated(n, opset, is_half, producer, readers, outputs, needs_cast):
            kernel[k] = False
    computed = set(producer) | {i.name for i in graph.input}
    plan.unmodelled |= _moved_transposes(nodes, producer, readers, is_half, computed)
    plan.on_half = {k for k in range(len(nodes)) if kernel[k]}
    for k in sorted(plan.unmodelled):  # a rewritten node's float16 neighbours: their rule is not known
        n = nodes[k]
        near = {producer[x] for x in n.input if x in producer and is_half(x)}
        near |= {r for x in n.output if x and is_half(x) for r in readers.get(x, ())}
        plan.unmodelled |= {j for j in near if halfio[j] and kernel[j]}
    plan.on_half -= plan.unmodelled
    return plan


def _isolated(node: Any, opset: int, is_half: Callable[[str], bool], producer: dict[str, int],
              readers: dict[str, list[int]], outputs: set[str], needs_cast: Callable[[int], bool]) -> bool:
    """IsIsolatedFp16NodeOnCpu: onnxruntime then runs this float16-kernel node in float32 too."""
    inlined = (node.op_type, opset) in INLINED_HALF_KERNELS  # its Max reads a CastLike node's zero: an input edge
    if not (inlined or any(x in producer for x in node.input)) or any(o in outputs for o in node.output):
        return False
    ins = _half_operands(node, is_half)
    outs = [o for o in node.output if o and is_half(o)]
    if not ins or not outs:
        return False
    if any(x in producer and not needs_cast(producer[x]) for x in ins):
        return False
    return all(needs_cast(r) for o in outs for r in readers.get(o, ()))


def _moved_transposes(nodes: list, producer: dict[str, int], readers: dict[str, list[int]],
                      is_half: Callable[[str], bool], computed: set[str]) -> set[int]:
    """float16 Transposes onnxruntime's transpose optimizer may move or cancel before choosing kernels (seen in
    random graphs: pushed through an Add of two transposed tensors, cancelled across a Mul, merged with a Reshape):
    every float16 Transpose of a graph with two or more of them, or next to a reshape or to a node reading two
    non-constant tensors. Others stayed in place."""
    transposes = [k for k, n in enumerate(nodes) if n.op_type == "Transpose" and any(is_half(x) for x in n.output)]
    if len(transposes) > 1:
        return set(transposes)
    moved = set()
    for k in transposes:
        near = {producer[x] for x in nodes[k].input if x in producer}
        near |= {r for x in nodes[k].output for r in readers.get(x, ())}
        if any(nodes[j].op_type in _RESHAPES or sum(x in computed for x in nodes[j].input) >= 2 for j in near):
            moved.add(k)
    return moved
