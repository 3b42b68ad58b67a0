"""``SelectV2``/``Select`` whose operand TF.js would broadcast from a 1 to a 0 → that operand broadcast first.

tfjs-core 4.22's ``where`` (the graph executor's ``Select``/``SelectV2`` on cpu, wasm and webgl) broadcasts its three
operands with ``broadcastTo``, which returns its input unchanged when no size grows past 1 (``empty_broadcast``):
an operand whose 1s (or missing leading axes) meet a 0 of the output, with no other axis growing, stays as it is.
Measured (session 29, h6): ``where(scalar, scalar, x[0])`` and ``where(c[0], scalar, scalar)`` give shape ``[1]`` on
cpu and wasm, **silently** (TF: ``[0]``; ``tf.where(tf.size(e) == 0, 0.0, reduce_mean(e, 0))`` of an empty ``e``,
session 28 h1b); ``where(c[3], t[0, 3], e[0, 3])`` and ``where(c[0, 1], t[1, 3], e[1, 3])`` throw "memory access out
of bounds" on wasm. Such an operand becomes an elementwise op against a ``Fill`` of the output's run-time shape
(``BroadcastArgs`` of the three ``Shape``s), the one ``empty_broadcast`` writes (``x * 1``, ``x | false``: bit for
bit), so every operand has the output's shape and ``broadcastTo`` has nothing to do.

An operand is rewritten when some axis of it may be 1 (known 1, missing, or unknown beside a known 0 or 1) where the
output may be 0 (some operand's size there is 0 or unknown, none known larger than 1), unless another axis of it is
known to grow (a 1 meeting a known size > 1: tfjs-core then tiles it, and a 0 beside it comes out right). An axis
whose size is unknown in every operand (a run-time batch, in nearly every model) counts only where ``dim_sources``
cannot prove that another operand's 0 there makes this one's 0 too (session 30: ``where(c, t, e)`` fed ``c: [0],
t: [1], e: [0]`` answered ``[1]``): operands computed from one input, and a masked RNN's ``where(mask, h_new, h)``
over a loop's carried state, are left as they are. Selects in the functions ``--control_flow_v2`` keeps are
rewritten by ``kept_selects`` (the same rule, proved over the FunctionDef with its arguments seeded from the caller).
Left alone: a select the contract refuses on a target as it is (``select_rank`` skipped or unable to lower it: it
stays refused by name).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..dtypes import DType
from ..ir import Graph, Node
from ..ops.special_values import GUARDED_SUFFIX
from . import PassResult
from .backend_gated import BackendGatedPass
from .dim_sources import DimSources
from .empty_broadcast import broadcast_keeping_zeros
from .kept_selects import broadcast_kept_selects
from .select_rank import operand_dims
from .shapes import infer_shapes

OPS = ("SelectV2", "Select")
#: The name part that marks this pass's own operands (so a sweep does not rewrite a select twice).
MARK = "select_shape"
LABELS = ("condition", "t", "e")

Dims = tuple
#: ``covered(index, other, axis)``: see ``_covered_by``.
Covered = Callable[[int, int, int], bool]


class BroadcastEmptySelect(BackendGatedPass):
    """A select whose operand TF.js would keep at a 1 where the output is 0 → that operand broadcast (see above)."""

    name = "select_shape"
    level = 0
    # after the rewrites that make selects (exact_special_values: a scalar NaN branch beside an op's output), and
    # after select_rank, whose select at rank ≤ 4 this may widen with Fill/LogicalOr (webgl refuses bool ones from
    # rank 5)
    after = ("batchnorm_global", "pad_rank", "binary_rank", "exact_special_values", "select_rank")
    before = ("cast_to_bool",)

    def run(self, graph: Graph) -> PassResult:
        # a select some target refuses as it is (select_rank skipped or unable) stays refused by name: no more nodes
        nodes = [n for n in graph.nodes if n.op in OPS and len(n.inputs) == 3 and not _done(n)
                 and not self.refused_on(n)]
        if not nodes and not graph.library:
            return PassResult(0)
        shapes = infer_shapes(graph)
        sources = DimSources(shapes)
        # --control_flow_v2's bodies (kept_selects), their arguments seeded with what the main graph passes
        count = broadcast_kept_selects(graph, sources) if graph.library else 0
        for node, dims in operand_dims(graph, nodes, shapes):
            covered = _covered_by(sources, node, dims)
            exposed = [i for i in range(3) if keeps_a_one(dims, i, covered)]
            if exposed and _broadcast_operands(graph, node, exposed, shapes, dims):
                count += 1
        return PassResult(count)


def _done(node: Node) -> bool:
    """Whether an operand is this pass's broadcast (of any select's: ``cse`` may keep another select's copy)."""
    return any(v.producer is not None and f"/{MARK}/" in v.producer.name for v in node.inputs)


def _covered_by(sources: DimSources, node: Node, dims: Sequence[Dims]) -> Covered:
    """``covered(index, other, axis)``: whether operand ``other``'s size 0 along output ``axis`` makes operand
    ``index``'s 0 too (``dim_sources``), both operands having that axis."""
    rank = max(len(d) for d in dims)

    def covered(index: int, other: int, axis: int) -> bool:
        own, theirs = axis - (rank - len(dims[index])), axis - (rank - len(dims[other]))
        return sources.covers((node.inputs[index], own), (node.inputs[other], theirs))

    return covered


def keeps_a_one(dims: Sequence[Dims], index: int, covered: Covered | None = None) -> bool:
    """Whether tfjs-core's ``broadcastTo`` may hand operand ``index`` on with a 1 where the output is 0. An axis
    unknown in every operand counts only where ``covered`` (None: no graph to prove it in) does not prove that
    another operand's 0 there makes this one's 0 too."""
    rank = max(len(d) for d in dims)
    padded = [(1,) * (rank - len(d)) + tuple(d) for d in dims]
    own, exposed = padded[index], False
    for axis in range(rank):
        sizes = [d[axis] for d in padded]
        others = [s for k, s in enumerate(sizes) if k != index]
        big = any(s is not None and s > 1 for s in sizes)
        missing = axis < rank - len(dims[index])
        if own[axis] == 1 and big:
            return False  # tiled: a 0 elsewhere in the output comes out right
        if big or own[axis] not in (1, None):
            continue
        if own[axis] is None and not missing and not any(s is not None for s in others):
            # unknown in every operand: a 1 meets a 0 only if some other operand's 0 may leave this one at 1
            if covered is None or all(covered(index, other, axis) for other in range(3) if other != index):
                continue
        exposed = exposed or any(s is None or s == 0 for s in others)
    return exposed


def _broadcast_operands(graph: Graph, node: Node, exposed: list[int], shapes: dict, known: list[Dims]) -> bool:
    """Each exposed operand as ``BroadcastTo(x, output shape)`` written by ``empty_broadcast`` as ``x * Fill``;
    False (the graph unchanged) when an operand's dtype is not known here or is a string (refused by the contract:
    tfjs-core's ``where`` takes no strings) or complex (``complex_parts``'s)."""
    dtypes = [_dtype(node, i) for i in range(3)]
    if any(d is None for d in dtypes):
        return False
    prefix = f"{node.name}/{MARK}"
    # every new value's rank is stated (the operands' are known here): the contract's rank checks and select_rank
    # read them, and a rank they cannot infer (inside a traced pfor loop) was refused for wasm and webgl
    rank = max(len(d) for d in known)
    dims = [graph.add_op("Shape", [v], {"T": dtypes[i], "out_type": DType.INT32},
                         name=f"{prefix}/{LABELS[i]}_dims", dtype=DType.INT32, shape=(len(known[i]),))
            for i, v in enumerate(node.inputs)]
    both = graph.add_op("BroadcastArgs", dims[:2], {"T": DType.INT32}, name=f"{prefix}/condition_t_dims",
                        dtype=DType.INT32, shape=(max(len(known[0]), len(known[1])),))
    out = graph.add_op("BroadcastArgs", [both, dims[2]], {"T": DType.INT32}, name=f"{prefix}/output_dims",
                       dtype=DType.INT32, shape=(rank,))
    for index in exposed:
        value, dtype = node.inputs[index], dtypes[index]
        # named as exact: ``x * ones`` (or ``x | false``) gives x for every value, so the special-values line must
        # not name it (an int32 Mul on cpu is named for products past 2^53, which a product by 1 never is)
        wide = graph.add_op("BroadcastTo", [value, out], {"T": dtype, "Tidx": DType.INT32},
                            name=f"{prefix}/{LABELS[index]}{GUARDED_SUFFIX}", dtype=dtype, shape=(None,) * rank)
        if not broadcast_keeping_zeros(graph, wide.producer, shapes):
            raise AssertionError(f"{node.name}: no exact broadcast for a {dtype} operand")
        for made in (wide, *(v for v in wide.producer.inputs if v.producer.op == "Fill")):
            made.shape = made.shape or (None,) * rank
        node.inputs[index] = wide
    return True


def _dtype(node: Node, index: int) -> DType | None:
    """Operand ``index``'s dtype: bool for the condition, else the branch's own or ``T``."""
    if index == 0:
        return DType.BOOL
    own = node.inputs[index].dtype
    dtype = own if isinstance(own, DType) else node.attrs.get("T")
    return dtype if isinstance(dtype, DType) and dtype not in (DType.STRING, DType.COMPLEX64, DType.COMPLEX128) \
        else None
