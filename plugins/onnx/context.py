"""What an op mapping sees: one ONNX node, its inputs as IR Values (in the layout it asks for), and helpers.

A mapping is ``fn(ctx: NodeContext)`` and returns its outputs: one item, or a list with one item per
ONNX output. An item is an IR ``Value`` (in ONNX's own layout), ``ctx.laid(value, perm)`` (a value
whose dimensions are ``perm`` of ONNX's, e.g. NHWC for an NCHW tensor), a numpy array (a value known
at conversion time), an input's :class:`Tensor` (pass-through), or None (an output nobody uses).
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, LazyArray, Shape, Value

from . import layout
from .dtypes import ir_dtype
from .layout import Perm

if TYPE_CHECKING:
    from .translate import Translator


@dataclasses.dataclass
class Tensor:
    """An ONNX tensor during translation: its IR value and layout, or its value when known."""

    name: str
    value: Value | None = None
    perm: Perm = None
    const: np.ndarray | None = None
    #: numpy dtype as in ONNX (int64 stays int64 here; it narrows when it becomes an IR value).
    dtype: np.dtype | None = None
    #: Shape in ONNX's layout (None: unknown rank; None dims: unknown size).
    shape: Shape = None
    #: For a computed shape vector: what each element is (see :mod:`.symbolic`), when known.
    elements: tuple | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def known(self) -> bool:
        """False for the outputs of nodes that could not be translated."""
        return self.value is not None or self.const is not None


@dataclasses.dataclass(frozen=True)
class Laid:
    """A mapping output whose IR value is ``np.transpose(onnx_value, perm)``."""

    value: Value
    perm: Perm


def _data_input(op: str, inputs: Sequence[Value]) -> Value:
    """The input whose dtype is the op's ``T`` and output dtype: TF's Split and Fill take it second
    (after the axis / the shape), so their outputs are not int32 (the backend check reads these dtypes)."""
    return inputs[1] if op in ("Split", "Fill") and len(inputs) > 1 else inputs[0]


@functools.cache
def _has_t_attr(op: str) -> bool:
    from tfjsconv.ops import OpRegistry

    registry = OpRegistry.builtin()
    return op in registry and any(a.tf_name == "T" for a in registry.get(op).attrs)


class NodeContext:
    """The node being translated, and the API mappings use to build IR."""

    def __init__(self, translator: Translator, node: Any, name: str, opset: int) -> None:
        self._tr = translator
        self.node = node
        self.name = name
        self.opset = opset
        self.op_type: str = node.op_type
        self.domain: str = node.domain
        self.attrs: dict[str, Any] = translator.attributes(node)

    # -- context ------------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self._tr.graph

    @property
    def options(self) -> Any:
        return self._tr.options

    @property
    def translator(self) -> Translator:
        """The translation in progress: control flow translates its subgraphs with translators of its own."""
        return self._tr

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def half_rounding_dropped(self) -> bool:
        """Whether onnxruntime drops this Cast's rounding to float16 (a Cast pair it removes: half_kernels)."""
        index = self._tr._node_index.get(self.node.output[0]) if self.node.output else None
        return index is not None and self._tr.half_rounding_dropped(index)

    def error(self, message: str, *, hint: str | None = None) -> InputError:
        """An InputError naming this node; ``raise ctx.error(...)``."""
        return InputError(f"ONNX node {self.name!r} ({self.op_type}, opset {self.opset}): {message}", hint=hint)

    # -- inputs -------------------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.node.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def tensor(self, i: int) -> Tensor:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing")
        return self._tr.tensors[self.node.input[i]]

    def single_use(self, i: int) -> bool:
        """Whether this node is the only reader of input ``i`` (and it is not a graph output)."""
        return self._tr.uses[self.node.input[i]] == 1

    def const(self, i: int) -> np.ndarray | None:
        """Input ``i`` as numpy (ONNX dtype) when it is known at conversion time, else None."""
        if not self.has_input(i):
            return None
        return self.tensor(i).const

    def require_const(self, i: int, what: str) -> np.ndarray:
        value = self.const(i)
        if value is None:
            raise self.error(f"{what} (input {i}) must be a constant; computed values are not supported yet")
        return value

    def shape(self, i: int) -> Shape:
        """Input ``i``'s shape in ONNX's layout."""
        return self.tensor(i).shape

    def rank(self, i: int) -> int:
        rank = self.tensor(i).rank
        if rank is None:
            raise self.error(f"the rank of input {i} is unknown (ONNX shape inference could not tell)")
        return rank

    def dtype(self, i: int) -> DType | None:
        """Input ``i``'s dtype as TF.js will see it."""
        return ir_dtype(self.tensor(i).dtype)

    def output_shape(self, j: int = 0) -> Shape:
        return self._tr.inferred_shape(self.node.output[j]) if j < len(self.node.output) else None

    def output_dtype(self, j: int = 0) -> DType | None:
        return ir_dtype(self._tr.inferred_dtype(self.node.output[j])) if j < len(self.node.output) else None

    def input(self, i: int) -> Value:
        """Input ``i`` as an IR value in ONNX's layout (inserting a Transpose if it is laid out otherwise)."""
        return self._tr.view(self.tensor(i), None)

    def input_as(self, i: int, perm: Sequence[int] | None) -> Value:
        """Input ``i`` laid out as ``perm`` of ONNX's dimensions."""
        return self._tr.view(self.tensor(i), layout.normalize(perm))

    def input_laid(self, i: int) -> tuple[Value, Perm]:
        """Input ``i`` in whatever layout it already has: for ops that do not care (elementwise ops)."""
        t = self.tensor(i)
        if t.value is not None:
            return t.value, t.perm
        return self._tr.view(t, None), None

    def transposes_needed(self, i: int, perm: Sequence[int] | None) -> int:
        """1 if getting input ``i`` laid out as ``perm`` would add a Transpose, else 0."""
        return 0 if self._tr.has_view(self.tensor(i), layout.normalize(perm)) else 1

    def input_for_reshape(self, i: int) -> Value:
        """Input ``i`` with ONNX's memory order: as is when its layout differs only in size-1 dims."""
        t = self.tensor(i)
        if t.value is not None and layout.transpose_is_free(t.perm, t.shape):
            return t.value
        return self.input(i)

    # -- neighbours (read only) ---------------------------------------------------------------
    def producer(self, i: int) -> Any:
        """The ONNX node of the main graph that computes input ``i``, or None (a graph input, an
        initializer, a value of a subgraph): for mappings that recognise an exporter's node pattern."""
        if not self.has_input(i):
            return None
        return self.producer_named(self.node.input[i])

    def producer_named(self, name: str) -> Any:
        """The ONNX node of the main graph that computes the tensor ``name``, or None (as :meth:`producer`)."""
        return self._tr.producers.get(name)

    def same_dim(self, a: tuple[str, int], b: tuple[str, int]) -> bool:
        """Whether dims ``(tensor name, axis)`` ``a`` and ``b`` are equal at run time (:mod:`.dim_classes`)."""
        return self._tr.dims.same(a, b)

    def tensor_named(self, name: str) -> Tensor | None:
        """The ONNX tensor ``name`` as translated so far (e.g. an input of :meth:`producer`), or None."""
        return self._tr.tensors.get(name)

    def unique_name(self, label: str) -> str:
        """A graph-unique IR node name under this node's, for nodes built with ``graph.add_node``."""
        return self._tr.node_name(f"{self.name}/{label}")

    # -- building -----------------------------------------------------------------------------
    def op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
           dtype: DType | None = None, shape: Shape = None, label: str | None = None) -> Value:
        """Add a single-output IR node named after this ONNX node (``label`` tells helper nodes apart)."""
        attrs = dict(attrs or {})
        in_dtype = _data_input(op, inputs).dtype if inputs else dtype
        if dtype is None:
            dtype = in_dtype
        if "T" not in attrs and in_dtype is not None and _has_t_attr(op):
            attrs["T"] = in_dtype
        name = self.name if label is None else f"{self.name}/{label}"
        return self.graph.add_op(op, inputs, attrs, name=self._tr.node_name(name), dtype=dtype, shape=shape)

    def multi_op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None, num_outputs: int, *,
                 dtypes: Sequence[DType | None] | None = None, label: str | None = None) -> list[Value]:
        """Add a node with ``num_outputs`` outputs (Split, TopKV2, Unpack …); returns them all."""
        attrs = dict(attrs or {})
        in_dtype = _data_input(op, inputs).dtype if inputs else None
        if "T" not in attrs and in_dtype is not None and _has_t_attr(op):
            attrs["T"] = in_dtype
        name = self.name if label is None else f"{self.name}/{label}"
        node = self.graph.add_node(op, inputs, attrs, name=self._tr.node_name(name), num_outputs=num_outputs)
        outs = [node.output(k) for k in range(num_outputs)]
        for k, out in enumerate(outs):
            out.dtype = dtypes[k] if dtypes is not None else in_dtype
        return outs

    def cast(self, x: Value, dtype: DType, *, label: str | None = None) -> Value:
        """``x`` as ``dtype``: a Cast only when its dtype differs (an ONNX int64 is already int32 here)."""
        if x.dtype == dtype:
            return x
        return self.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, label=label)

    def rounded_to_half(self, x: Value, *, label: str = "half") -> Value:
        """The float32 ``x`` rounded to float16 and held as float32 (TF.js has no float16): a Cast to float16 and
        back, which the core ``narrow_ints`` pass rounds as onnxruntime rounds to float16."""
        half = self.op("Cast", [x], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT16, "Truncate": False},
                       dtype=DType.FLOAT16, label=f"to_{label}")
        return self.op("Cast", [half], {"SrcT": DType.FLOAT16, "DstT": DType.FLOAT32, "Truncate": False},
                       dtype=DType.FLOAT32, label=f"{label}_as_float")

    def make_const(self, value: Any, *, label: str = "const", dtype: Any = None) -> Value:
        """An IR Const (int64 narrowed to int32 with a range check, float64 to float32)."""
        from .dtypes import narrow

        lazy = dtype is None and isinstance(value, LazyArray)
        array = value if lazy else np.asarray(value, dtype=dtype)  # an ExternalArray stays unread
        array = narrow(array, f"constant {label!r} of ONNX node {self.name!r}", self._tr.notes)
        return self.graph.const(array, name=self._tr.node_name(f"{self.name}/{label}"))

    def ints(self, values: Sequence[int], *, label: str = "ints") -> Value:
        """An int32 vector Const (axes, shapes, perms)."""
        return self.make_const(np.asarray(list(values), dtype=np.int64).astype(np.int32), label=label)

    def int32(self, value: int | Sequence[int], *, label: str = "int32") -> Value:
        """An int32 Const, scalar or vector (an axis, a count, a Range bound, a shape piece)."""
        return self.make_const(np.asarray(value, dtype=np.int32), label=label)

    # -- small run-time shape and layout builders (int32 shapes, as TF.js reads them) ---------
    def shape_of(self, x: Value, *, label: str = "shape") -> Value:
        """``x``'s shape at run time as an int32 vector."""
        return self.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32, label=label)

    def shape_slice(self, shape: Value, begin: int, end: int | None = None, *, label: str) -> Value:
        """``shape[begin:end]`` of an int32 vector (``end`` None: to the end), as a vector."""
        return self._slice_vector(shape, begin, end, shrink=False, label=label)

    def shape_entry(self, shape: Value, index: int, *, label: str) -> Value:
        """``shape[index]`` of an int32 vector, as a scalar."""
        return self._slice_vector(shape, index, index + 1, shrink=True, label=label)

    def _slice_vector(self, vector: Value, begin: int, end: int | None, *, shrink: bool, label: str) -> Value:
        attrs = {"Index": DType.INT32, "begin_mask": 0, "end_mask": 1 if end is None else 0, "ellipsis_mask": 0,
                 "new_axis_mask": 0, "shrink_axis_mask": 1 if shrink else 0}
        return self.op("StridedSlice", [vector, self.ints([begin], label=f"{label}/begin"),
                                        self.ints([end or 0], label=f"{label}/end"), self.ints([1], label=f"{label}/stride")],
                       attrs, dtype=DType.INT32, label=label)

    def run_time_dims(self, x: Value, begin: int, end: int | None = None, *, label: str) -> Value:
        """Dims ``begin:end`` of ``x`` (``end`` None: to the end) read at run time (Shape + StridedSlice):
        for sizes ONNX shape inference leaves unknown (a dynamic batch)."""
        return self.shape_slice(self.shape_of(x, label=f"{label}/shape"), begin, end, label=label)

    def run_time_dim(self, x: Value, axis: int, *, label: str) -> Value:
        """Dim ``axis`` (IR numbering, non-negative) of ``x`` read at run time, as an int32 scalar."""
        return self.shape_entry(self.shape_of(x, label=f"{label}/shape"), axis, label=label)

    def concat_shape(self, pieces: Sequence[Value | Sequence[int]], *, label: str) -> Value:
        """An int32 vector (a shape, a list of axes) joined from run-time pieces and known ones (lists of ints)."""
        values = [p if isinstance(p, Value) else self.ints(p, label=f"{label}/part{k}") for k, p in enumerate(pieces)]
        return self.op("ConcatV2", [*values, self.int32(0, label=f"{label}/axis")],
                       {"N": len(values), "Tidx": DType.INT32}, dtype=DType.INT32, label=label)

    def reshape(self, x: Value, shape: Value | Sequence[int], *, label: str | None) -> Value:
        """``Reshape(x, shape)``: ``shape`` an int32 Value or a static list (one -1 at most).
        ``label`` None names the node after the ONNX node (its output); likewise below."""
        target = shape if isinstance(shape, Value) else self.ints(shape, label=f"{label or 'reshape'}/shape")
        return self.op("Reshape", [x, target], {"Tshape": DType.INT32}, label=label)

    def expand_dims(self, x: Value, axis: int | Value, *, label: str | None) -> Value:
        """``x`` with a size-1 axis inserted at IR axis ``axis``."""
        where = axis if isinstance(axis, Value) else self.int32(axis, label=f"{label or 'expand'}/axis")
        return self.op("ExpandDims", [x, where], {"Tdim": DType.INT32}, label=label)

    def pad(self, x: Value, pads: Sequence[Sequence[int]] | np.ndarray, *, value: Value | None = None,
            label: str) -> Value:
        """``x`` padded by the constant ``pads`` (one (begin, end) row per IR dim) with zeros, or with the
        scalar ``value`` (PadV2). Rank 5+ fails on webgl: see ``ops.pad_low_rank``."""
        paddings = self.make_const(np.asarray(pads, dtype=np.int32), label=f"{label}_paddings")
        if value is None:
            return self.op("Pad", [x, paddings], {"Tpaddings": DType.INT32}, label=label)
        return self.op("PadV2", [x, paddings, value], {"Tpaddings": DType.INT32}, label=label)

    def gather(self, params: Value, indices: Value, axis: int | Value = 0, *, label: str | None) -> Value:
        """``GatherV2(params, indices, axis)`` with batch_dims 0 (the attrs the backend contract reads)."""
        where = axis if isinstance(axis, Value) else self.int32(axis, label=f"{label or 'gather'}/axis")
        return self.op("GatherV2", [params, indices, where],
                       {"batch_dims": 0, "Tparams": params.dtype, "Tindices": indices.dtype or DType.INT32,
                        "Taxis": DType.INT32}, dtype=params.dtype, label=label)

    def scalar_like(self, value: float, like: Value, *, label: str = "scalar") -> Value:
        """A scalar Const in ``like``'s dtype."""
        dtype = like.dtype.numpy if like.dtype is not None else np.float32
        return self.make_const(np.asarray(value, dtype=dtype), label=label)

    def laid(self, value: Value, perm: Sequence[int] | None) -> Laid:
        return Laid(value, layout.normalize(perm))
