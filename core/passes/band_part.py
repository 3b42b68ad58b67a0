"""``MatrixBandPart(x, num_lower, num_upper)`` → ``SelectV2`` over a band mask, exactly as TF computes it.

TF.js 4.22's ``bandPart`` keeps elements outside the band on every backend (the contract's ``other:1,-1`` /
``other:2,-1`` rows; measured again in session 23 with *run-time* bounds, which the contract does not name: a
(1, 0) band came out as a (1, 1) band on cpu and wasm). tf_keras's causal attention (``band_part(ones, -1, 0)``) and
decoder blocks therefore were refused on the TF-free SavedModel path, where the Keras lowering already builds the
mask itself (``plugins/keras/lowering/op_layers_matrix.py``).

The rewrite keeps ``x[..., i, j]`` where ``(lower < 0 or i - j <= lower) and (upper < 0 or j - i <= upper)`` and
writes 0 elsewhere (NaN too), as TF does, for any rank ≥ 2: the mask is a constant table when the bounds and the
last two sizes are known (and small), else built from ``Range`` row/column indices read at run time. Bool inputs are
``LogicalAnd``-ed with the mask (no bool select: wasm's is wrong); other dtypes select against a scalar 0, which
``select_rank`` (later) brings to rank ≤ 4 where webgl needs it. TF raises where a bound passes the matrix
(``num_lower > rows``, ``num_upper > cols``): a bound known to do so is left alone (and refused); a bound or size
known only at run time goes through ``GatherV2([0], Maximum(bound - size, 0))``, which fails the TF.js run on cpu and
wasm instead of returning a band TF never gives. Gated on the contract: made only when some target computes the
band wrongly.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes

#: The largest ``rows * cols`` written as a constant mask (larger ones are computed from ``Range``).
MAX_TABLE = 1 << 16
#: The TF.js dtypes the rewrite handles (complex and string are left to the op check).
_DTYPES = ("float32", "int32", "bool")


class BandPartAsSelect(BackendGatedPass):
    """A ``MatrixBandPart`` some target computes wrongly → ``SelectV2(band mask, x, 0)`` (bools: ``LogicalAnd``)."""

    name = "band_part"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op == "MatrixBandPart" and len(n.inputs) == 3]
        if not nodes:
            return PassResult(0)
        shapes, count, unlowered = infer_shapes(graph), 0, []
        for node in nodes:
            dims = shapes.get(node.inputs[0]) or node.inputs[0].shape
            dtype = self._dtype(node)
            if dtype is None or not self._wrong(node, dtype):
                continue
            if dims is None or len(dims) < 2:  # no band mask without the rank: refused below
                unlowered.append(node)
                continue
            count += _Band(graph, node, dtype, tuple(dims)).lower()
        if unlowered:
            self._refuse(unlowered)
        return PassResult(count)

    def _refuse(self, nodes: list[Node]) -> None:
        """Review R4 (session 23): a band of unknown rank with run-time bounds matched no contract row (its rows need
        a rank or constant bounds), so TF.js's wrong band went out silently; it is refused, naming each node."""
        from ..errors import BackendUnsupportedError
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, Problem

        targets = tuple(self.targets or DEFAULT_TARGET_BACKENDS)
        reason = ("a band of unknown rank is not rewritten into TF's band mask, and TF.js computes MatrixBandPart "
                  "wrongly (e.g. a (1, 0) band as (1, 1))")
        raise BackendUnsupportedError([Problem(n.op, n.name, b, reason) for n in nodes for b in targets
                                       if b in ("cpu", "wasm", "webgl")], backends=targets)

    @staticmethod
    def _dtype(node: Node) -> DType | None:
        from ..ops.backends import tfjs_dtype

        dtype = node.inputs[0].dtype if isinstance(node.inputs[0].dtype, DType) else node.attrs.get("T")
        if dtype is None:
            return None
        dtype = DType.from_any(dtype)
        return dtype if tfjs_dtype(dtype) in _DTYPES else None

    def _wrong(self, node: Node, dtype: DType) -> bool:
        """Whether a target computes this band wrongly: the contract's verdict on the node where its bounds are
        constant; where one is not (the contract names only constant bands), its verdict on a (1, 0) band."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        if all(const_array(v) is not None for v in node.inputs[1:]):
            return bool(self.refused_on(node))
        contract = BackendContract.load()
        facts = NodeFacts("MatrixBandPart", {"T": dtype}, [tfjs_dtype(dtype), "int32", "int32"],
                          {1: np.array(1, np.int32), 2: np.array(0, np.int32)}, [2, 0, 0], [2])
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)


class _Band:
    """The nodes one band's rewrite adds, named under the band's name."""

    def __init__(self, graph: Graph, node: Node, dtype: DType, dims: tuple) -> None:
        self.graph, self.node, self.dtype, self.dims = graph, node, dtype, dims
        self.name = node.name
        self.rows, self.cols = dims[-2], dims[-1]
        self.bounds = [const_array(v) for v in node.inputs[1:]]

    def lower(self) -> int:
        """Rewrite the node (1), or leave it (0) where TF raises for every input (a bound past a known size)."""
        lower, upper = (None if b is None else int(b) for b in self.bounds)
        for bound, size in ((lower, self.rows), (upper, self.cols)):
            if bound is not None and size is not None and bound > size:
                return 0
        x = self.node.inputs[0]
        if lower is not None and upper is not None and lower < 0 and upper < 0:
            rewrite(self.node, "Identity", [x], {"T": self.dtype})
            return 1
        if lower is not None and upper is not None and self.rows is not None and self.cols is not None \
                and self.rows * self.cols <= MAX_TABLE:
            i, j = np.arange(self.rows)[:, None], np.arange(self.cols)[None, :]
            table = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
            mask = self.graph.const(table, name=f"{self.name}/band_mask")
        else:
            mask = self._runtime_mask(lower, upper)
        if self.dtype == DType.BOOL:
            rewrite(self.node, "LogicalAnd", [x, mask], {})
        else:
            zero = self.graph.const(np.zeros((), self.dtype.numpy), name=f"{self.name}/zero", dtype=self.dtype)
            rewrite(self.node, "SelectV2", [mask, x, zero], {"T": self.dtype})
        return 1

    def _runtime_mask(self, lower: int | None, upper: int | None) -> Value:
        """``(lower < 0 or i - j <= lower) and (upper < 0 or i - j >= -upper)`` over ``Range`` indices."""
        rank = len(self.dims)
        rows, cols = self._size(rank - 2, "rows"), self._size(rank - 1, "cols")
        i = self._op("ExpandDims", [self._range(rows, "row"), self._ints(-1, "row_axis")], {"Tdim": DType.INT32},
                     "row_index", DType.INT32)
        below = self._op("Sub", [i, self._range(cols, "col")], {"T": DType.INT32}, "below", DType.INT32)  # i - j
        parts = []
        for index, (bound, size, label) in enumerate(((lower, rows, "lower"), (upper, cols, "upper"))):
            if bound is not None and bound < 0:
                continue
            value = self._bound(index, bound, size, label)
            if label == "lower":
                inside = self._op("LessEqual", [below, value], {"T": DType.INT32}, "within_lower", DType.BOOL)
            else:
                minus = self._op("Neg", [value], {"T": DType.INT32}, "minus_upper", DType.INT32)
                inside = self._op("GreaterEqual", [below, minus], {"T": DType.INT32}, "within_upper", DType.BOOL)
            if bound is None:  # a negative run-time bound keeps everything on its side
                negative = self._op("Less", [value, self._ints(0, f"{label}_zero")], {"T": DType.INT32},
                                    f"{label}_all", DType.BOOL)
                inside = self._op("LogicalOr", [negative, inside], {}, f"{label}_mask", DType.BOOL)
            parts.append(inside)
        if not parts:  # unreachable: (-1, -1) is an Identity
            return self._op("Equal", [below, below], {"T": DType.INT32}, "band_mask", DType.BOOL)
        if len(parts) == 1:
            return parts[0]
        return self._op("LogicalAnd", parts, {}, "band_mask", DType.BOOL)

    def _bound(self, index: int, bound: int | None, size: Value, label: str) -> Value:
        """The bound as an int32 scalar, checked against the size where TF's check is not settled statically: a
        bound past the size fails the run (``GatherV2`` of a 1-entry table at ``Maximum(bound - size, 0)``)."""
        if bound is not None:
            value = self._ints(bound, label)
            if bound <= 0 or (self.rows if label == "lower" else self.cols) is not None:
                return value  # checked in lower()
        else:
            value = self.node.inputs[1 + index]
            if value.dtype != DType.INT32:
                value = self._op("Cast", [value], {"SrcT": value.dtype or DType.INT64, "DstT": DType.INT32,
                                                   "Truncate": False}, f"{label}_int32", DType.INT32)
        past = self._op("Sub", [value, size], {"T": DType.INT32}, f"{label}_past", DType.INT32)
        index_ = self._op("Maximum", [past, self._ints(0, f"{label}_floor")], {"T": DType.INT32},
                          f"{label}_check_index", DType.INT32)
        check = self._op("GatherV2", [self._ints([0], f"{label}_check_table"), index_, self._ints(0, f"{label}_axis")],
                         {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                         f"{label}_check", DType.INT32)
        return self._op("AddV2", [value, check], {"T": DType.INT32}, f"checked_{label}", DType.INT32)

    def _size(self, axis: int, label: str) -> Value:
        """Axis ``axis`` of ``x`` as an int32 scalar: a constant when known, else read from ``Shape`` at run time."""
        size = self.dims[axis]
        if size is not None:
            return self._ints(size, label)
        shape = self._op("Shape", [self.node.inputs[0]], {"T": self.dtype, "out_type": DType.INT32}, f"{label}_shape",
                         DType.INT32)
        return self._op("GatherV2", [shape, self._ints(axis, f"{label}_index"), self._ints(0, f"{label}_axis")],
                        {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                        label, DType.INT32)

    def _range(self, size: Value, label: str) -> Value:
        return self._op("Range", [self._ints(0, f"{label}_start"), size, self._ints(1, f"{label}_delta")],
                        {"Tidx": DType.INT32}, f"{label}_range", DType.INT32)

    def _ints(self, value: int | list[int], label: str) -> Value:
        return self.graph.const(np.asarray(value, np.int32), name=f"{self.name}/{label}", dtype=DType.INT32)

    def _op(self, op: str, inputs: list[Value], attrs: dict, label: str, dtype: DType) -> Value:
        return self.graph.add_op(op, inputs, attrs, name=f"{self.name}/{label}", dtype=dtype)
