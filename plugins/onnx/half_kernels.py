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

#: Default-domain ops with a float16 CPU kernel in onnxruntime 1.32.0's registry (``get_all_opkernel_def()``), as
#: the range of model opsets that have one (a kernel's version range ends the opset before the op's next version,
#: so it is an opset range); ``None`` = no upper bound. Dropout (12+) and Scatter (11+) lose theirs. LayerNormalization 1-16 is onnxruntime's own op below ONNX's 17. Checked against the
#: installed onnxruntime by tests/test_onnx_half_kernel_registry.py (so the table cannot drift silently).
HALF_KERNELS: dict[str, tuple[int, int | None]] = {
    "Attention": (23, None), "BitCast": (26, None), "Cast": (6, None), "Celu": (28, None), "Clip": (12, None),
    "Compress": (9, None), "Concat": (4, None), "ConstantOfShape": (9, None), "DequantizeLinear": (19, None),
    "Dropout": (7, 11), "DynamicSlice": (1, None), "Expand": (8, None), "Flatten": (1, None), "Gather": (1, None),
    "GatherElements": (11, None), "GatherND": (11, None), "Identity": (1, None), "If": (1, None),
    "IsInf": (20, None), "IsNaN": (9, None), "LayerNormalization": (1, None), "Loop": (1, None), "Max": (12, None),
    "MemcpyFromHost": (1, None), "MemcpyToHost": (1, None), "Min": (12, None), "Mod": (10, None),
    "Optional": (15, None), "OptionalGetElement": (15, None), "OptionalHasElement": (18, None),
    "QuantizeLinear": (19, None), "RMSNormalization": (23, None), "RandomNormalLike": (1, None),
    "RandomUniformLike": (1, None), "Reshape": (1, None), "ReverseSequence": (10, None),
    "RotaryEmbedding": (23, None), "Round": (11, None), "Scan": (8, None), "Scatter": (9, 10),
    "ScatterElements": (11, None), "ScatterND": (11, None), "SequenceAt": (11, None), "SequenceConstruct": (11, None),
    "Shape": (1, None), "Shrink": (9, None), "Sign": (9, None), "SimplifiedLayerNormalization": (1, None),
    "Slice": (1, None), "Split": (2, None), "SplitToSequence": (11, None), "Squeeze": (1, None),
    "TensorScatter": (24, None), "Transpose": (1, None), "Unsqueeze": (1, None)}
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
#: (op, model opset) onnxruntime inlines on float16 as its ONNX function, whose last step casts the float32 result
#: back to float16 (measured with 1.32 at opsets 13-25, session 31: only at 18). That Cast and the Cast up before a
#: float32 reader drop as a pair, as other Cast pairs do: :func:`_rounded_function_results` says when it stays.
ROUNDED_FUNCTIONS = frozenset({("ReduceL2", 18), ("ReduceLogSumExp", 18)})
#: Of those, the ones whose body first casts the float16 input to double: that Cast keeps a Cast to float16 it reads
#: rounded, as a Cast back up does (ReduceLogSumExp: log(sum(exp(f16(x)))) in double, then rounded).
CAST_FIRST_FUNCTIONS = frozenset({("ReduceLogSumExp", 18)})
#: Ops onnxruntime rewrites otherwise before choosing kernels, by model opset (measured, 11-21): it inlines
#: HardSigmoid and HardSwish at opset 18 into float32 Mul/Add (alpha, beta rounded to float16) and float16 Min/Max,
#: and removes Identity and Dropout (not at a graph output: a neighbour there stays on float16 either way).
#: The rule cannot be applied to such ONNX nodes: they and their float16 neighbours are left in float32 and named.
REWRITTEN: dict[str, frozenset[int]] = {"HardSigmoid": frozenset({18}), "HardSwish": frozenset({18}),
                                        "Identity": frozenset(range(1, 100)), "Dropout": frozenset(range(1, 100))}
DEFAULT_DOMAINS = ("", "ai.onnx")
#: TensorProto.FLOAT, FLOAT16, DOUBLE (the converter runs without the onnx package: tests/test_onnx_light.py).
TENSOR_FLOAT, TENSOR_FLOAT16, TENSOR_DOUBLE = 1, 10, 11
_SUBGRAPH_ATTRIBUTES = (5, 10)  # AttributeProto.GRAPH, GRAPHS: If, Loop, Scan bodies
_RESHAPES = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose"})
#: Where this table was measured.
ORT_MEASURED = "1.32.0 on x86-64 (CPU)"


@dataclass
class HalfPlan:
    """Where onnxruntime's CPU computes float16 nodes on float16 kernels (by node index in the main graph)."""
    on_half: set[int] = field(default_factory=set)
    unmodelled: set[int] = field(default_factory=set)
    #: Casts float32 -> float16 whose rounding onnxruntime drops (:func:`_dropped_cast_pairs`).
    unrounded_casts: set[int] = field(default_factory=set)
    #: float32-run nodes whose float16 result onnxruntime rounds for every reader (:func:`_rounded_function_results`).
    rounded_results: set[int] = field(default_factory=set)


def _has_half_kernel(node: Any, opset: int) -> bool:
    versions = HALF_KERNELS.get(node.op_type)
    if (node.op_type, opset) in INLINED_HALF_KERNELS:
        return True
    if versions is None:
        return False
    return versions[0] <= opset and (versions[1] is None or opset <= versions[1])


def _half_operands(node: Any, is_half: Callable[[str], bool]) -> list[str]:
    """The float16 inputs IsIsolatedFp16NodeOnCpu looks at: of a variadic operand, the first present input only."""
    present = [n for n in node.input if n]
    return [n for n in (present[:1] if node.op_type in VARIADIC else present) if is_half(n)]


def plan_half_kernels(graph: Any, opset: int, is_half: Callable[[str], bool],
                      is_wide: Callable[[str], bool] | None = None) -> HalfPlan:
    """The nodes onnxruntime keeps on float16 kernels (their float16 inputs and results rounded there), following
    InsertCastTransformer; nodes next to one it rewrites first (:data:`REWRITTEN`) are reported unmodelled.
    With ``is_wide`` (the Cast sources whose pairs it drops), also the Cast pairs its RemoveDuplicateCastTransformer
    drops (:func:`_dropped_cast_pairs`)."""
    nodes = list(graph.node)
    outputs = {o.name for o in graph.output}
    alias = _removed_half_casts(nodes, is_half)
    removed = {k for k, n in enumerate(nodes) if n.output and n.output[0] in alias}
    producer = {o: k for k, n in enumerate(nodes) if n.op_type != "Constant" and k not in removed
                for o in n.output if o}
    producer.update({name: producer[source] for name, source in alias.items() if source in producer})
    readers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for name in n.input:
            if k not in removed:
                readers.setdefault(alias.get(name, name), []).append(k)
    standard = [n.domain in DEFAULT_DOMAINS for n in nodes]
    halfio = [any(is_half(x) for x in (*n.input, *n.output) if x) for n in nodes]
    kernel = [standard[k] and halfio[k] and _has_half_kernel(n, opset) and k not in removed
              for k, n in enumerate(nodes)]
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
    plan.rounded_results = _rounded_function_results(nodes, standard, opset, is_half, readers, outputs, alias)
    if is_wide is not None:
        unrounded, unrounded_reads = _dropped_cast_pairs(nodes, kernel, producer, readers, outputs, is_half,
                                                         is_wide, plan.unmodelled, alias, opset)
        plan.unrounded_casts = unrounded
        plan.on_half -= unrounded_reads | unrounded  # an unrounded Cast's float16-kernel readers round it
    return plan


def _cast_to(node: Any) -> int | None:
    return next((int(a.i) for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None


def _removed_half_casts(nodes: list, is_half: Callable[[str], bool]) -> dict[str, str]:
    """Casts float16 -> float16 onnxruntime removes before the Cast pairs (measured with 1.32, session 31 h3:
    ``x -> Cast(half) -> Cast(half) -> Exp -> Cast(float)`` is exp(x) unrounded; one giving a graph output too, its
    source then being that output): each output name mapped to the tensor it repeats."""
    alias: dict[str, str] = {}
    for n in nodes:
        if _cast_to(n) == TENSOR_FLOAT16 and n.domain in DEFAULT_DOMAINS and n.input and is_half(n.input[0]):
            alias[n.output[0]] = alias.get(n.input[0], n.input[0])
    return alias


def _rounded_function_results(nodes: list, standard: list[bool], opset: int, is_half: Callable[[str], bool],
                               readers: dict[str, list[int]], outputs: set[str], alias: dict[str, str]) -> set[int]:
    """The :data:`ROUNDED_FUNCTIONS` nodes whose float16 result every reader sees rounded (measured with 1.32,
    session 31 h3c): those also read by a Cast up (as a Cast to float16 also read by one stays), and the
    :data:`CAST_FIRST_FUNCTIONS` ones also giving a graph output. Otherwise only float16-kernel readers and graph
    outputs see it rounded (a float32 Neg or Sqrt reads the float32 value), as for any float32-run node."""
    wide_casts = (TENSOR_FLOAT, TENSOR_DOUBLE)
    rounded = set()
    for k, n in enumerate(nodes):
        if not (standard[k] and (n.op_type, opset) in ROUNDED_FUNCTIONS):
            continue
        results = [o for o in n.output if o and is_half(o)]
        names = set(results) | {a for a, source in alias.items() if source in results}
        read_up = any(_cast_to(nodes[r]) in wide_casts for o in results for r in readers.get(o, ()))
        if read_up or ((n.op_type, opset) in CAST_FIRST_FUNCTIONS and names & outputs):
            rounded.add(k)
    return rounded


def _dropped_cast_pairs(nodes: list, kernel: list[bool], producer: dict[str, int], readers: dict[str, list[int]],
                        outputs: set[str], is_half: Callable[[str], bool], is_wide: Callable[[str], bool],
                        unmodelled: set[int], alias: dict[str, str], opset: int) -> tuple[set[int], set[int]]:
    """The float16 roundings onnxruntime drops when it removes a wide -> float16 -> float32 Cast pair (measured
    with 1.32.0 at its default optimization level, sessions 30 h7/h7b: ``x -> Cast(float16) -> Tanh ->
    Cast(float)`` is tanh(x) in float32, unrounded):

    - a Cast to float16 of a float32, float64 or int32 tensor (``is_wide``) read by at least one float32-run node
      (no float16 kernel, not a Cast) and otherwise only by float16 kernels or as a graph output: the float32
      readers see the unrounded value (first set). Its float16-kernel readers and the graph output still read it
      rounded: the Cast leaves ``on_half``, so those kernels round it as their input (and outputs are rounded).
      Identical Casts of one tensor count as one (onnxruntime's CSE merges them at its default level; at
      ORT_DISABLE_ALL they stay apart, not modelled).
    - a Cast float16 -> float32 or float64 of the float16 result of a node run in float32 (not a Cast), when every
      other reader of that result runs in float32 or is such a Cast and no tensor it reads through (the result, a
      removed Cast float16 -> float16: :func:`_names_read_through`) is a graph output: it reads the float32 value
      (second set).

    Casts float16 -> float16 between them are removed first (``alias``: :func:`_removed_half_casts`). Kept
    rounded: a Cast to float16 also read by a Cast back up (as onnxruntime does) or by an unmodelled node."""
    cast_first = [(n.op_type, opset) in CAST_FIRST_FUNCTIONS for n in nodes]  # reads as a Cast up does
    in_float32 = [not kernel[k] and n.op_type != "Cast" and k not in unmodelled and not cast_first[k]
                  for k, n in enumerate(nodes)]
    on_kernel = [kernel[k] and k not in unmodelled and n.op_type != "Cast" for k, n in enumerate(nodes)]
    unrounded: set[int] = set()
    unrounded_reads: set[int] = set()
    twins: dict[str, list[int]] = {}  # identical Casts of one tensor: onnxruntime merges them (readers pooled)
    for k, n in enumerate(nodes):
        if _cast_to(n) == TENSOR_FLOAT16 and n.input and is_wide(n.input[0]):
            twins.setdefault(n.input[0], []).append(k)
    for group in twins.values():
        users = [r for k in group for r in readers.get(nodes[k].output[0], [])]
        if any(in_float32[r] for r in users) and all(in_float32[r] or on_kernel[r] for r in users):
            unrounded |= set(group)
    wide_casts = (TENSOR_FLOAT, TENSOR_DOUBLE)
    parent = {n.output[0]: n.input[0] for n in nodes if n.output and n.output[0] in alias}
    for k, n in enumerate(nodes):
        source = alias.get(n.input[0], n.input[0]) if n.input else ""
        if _cast_to(n) in wide_casts and is_half(source) and source in producer:
            users = readers.get(source, [])
            if (in_float32[producer[source]] and not _names_read_through(n.input[0], parent) & outputs
                    and all(in_float32[r] or cast_first[r] or _cast_to(nodes[r]) in wide_casts for r in users)):
                unrounded_reads.add(k)
    return unrounded, unrounded_reads


def _names_read_through(name: str, parent: dict[str, str]) -> set[str]:
    """``name`` and the tensors the removed Casts float16 -> float16 it comes through repeat: one of them giving a
    graph output keeps that Cast, so a Cast up reading through it reads the rounded value (measured with 1.32,
    session 31 r3: ``Exp -> Cast(half) [output] -> Cast(float)`` is f16(exp); a Cast up of Exp itself is not)."""
    names = {name}
    while name in parent:
        name = parent[name]
        names.add(name)
    return names


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
