"""``com.microsoft:DynamicQuantizeLSTM`` (what ``onnxruntime.quantization.quantize_dynamic`` makes of an
``LSTM``): the LSTM steps of :mod:`.rnn` with onnxruntime's quantized products.

onnxruntime's kernel (the LSTM of ``rnn_helpers``' quantized GEMM) computes each product ``A @ W`` as:
``A`` quantized to uint8 with its own range (``DynamicQuantizeLinear``'s rule: the range of A widened to
hold 0, ``scale = (max - min) / 255``, ``zp = round(-min / scale)``), the exact int32 sum of
``(a - a_zp) · (w - w_zp)``, then ``float(sum) · (a_scale · w_scale)`` (``w_scale`` per tensor or per
gate column). The input product runs once over every step's rows (one range for the whole sequence),
the recurrent one once per step over the batch's hidden state, each direction apart (so the two
directions of a bidirectional node are not unrolled as one joint state here). Weights: ``W``
``[dirs, input, 4·hidden]`` and ``R`` ``[dirs, hidden, 4·hidden]``, int8 or uint8, with ``W_scale``,
``W_zero_point``, ``R_scale``, ``R_zero_point`` (inputs 8 to 11) of shape ``[dirs]`` or ``[dirs, 4·hidden]``.

The integer sums are float32 products of integer-valued tensors, exact below 2^24 (checked at conversion
time, else split in two, as :func:`.quantized._exact_product`). The gate maths is the float LSTM's, so
the outputs follow onnxruntime within float rounding, except where such rounding flips one rounding of
a dynamically quantized state (one step of that state's scale), which later steps carry on.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .quantized import _exact_product, _f32
from .rnn import _Unit, _Weights, _recurrent, _weight

F32 = DType.FLOAT32
#: The span of ``a - a_zp`` for a uint8 activation.
_ACTIVATION_SPAN = 255


class _AsLstm:
    """The node's context, seen by the LSTM steps as an ``LSTM`` node (same attributes and inputs 0–7)."""

    op_type = "LSTM"

    def __init__(self, ctx: NodeContext) -> None:
        self.__dict__["_ctx"] = ctx

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _integer_weight(ctx: NodeContext, i: int, scale_index: int, zp_index: int, name: str):
    """Input ``i`` (``[dirs, in, 4h]`` integers) centered on its zero point, in the LSTM's layout ``[dirs, 4h,
    in]`` as float32, and its scale as ``[dirs, 1 or 4h]`` float32; both constant."""
    q = ctx.const(i)
    if q is None or np.asarray(q).dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
        raise ctx.error(f"{name} (input {i}) must be a constant int8/uint8 tensor")
    q = np.asarray(q, np.int64)
    if q.ndim != 3:
        raise ctx.error(f"{name} (input {i}) must have rank 3 [directions, in, 4 * hidden], got {list(q.shape)}")
    dirs, _, columns = q.shape
    scale = ctx.const(scale_index)
    if scale is None:
        raise ctx.error(f"{name}'s scale (input {scale_index}) must be a constant")
    scale = np.asarray(scale, np.float32)
    zp = np.zeros((dirs, 1), np.int64) if not ctx.has_input(zp_index) else ctx.const(zp_index)
    if zp is None:
        raise ctx.error(f"{name}'s zero point (input {zp_index}) must be a constant")
    zp = np.asarray(zp, np.int64)
    for what, value in (("scale", scale), ("zero point", zp)):
        if value.shape not in ((dirs,), (dirs, 1), (dirs, columns)):
            raise ctx.error(f"{name}'s {what} has shape {list(value.shape)}: it must be [{dirs}] or "
                            f"[{dirs}, {columns}] (per tensor or per column of each direction)")
    if not np.all(np.isfinite(scale)) or np.any(scale == 0):
        raise ctx.error(f"{name}'s scale holds 0, NaN or infinity")
    centered = q - zp.reshape(dirs, 1, -1)
    return np.ascontiguousarray(centered.transpose(0, 2, 1).astype(np.float32)), scale.reshape(dirs, -1)


class _QuantizedUnit(_Unit):
    """An LSTM unit (one direction) whose products are onnxruntime's dynamically quantized ones."""

    #: Set by the mapping: name ("W" / "R") -> per-direction scales [dirs, 1 or 4h].
    scales: dict[str, np.ndarray] = {}

    def matmul(self, x: Value, name: str, weight, gates: int, label: str) -> Value:
        matrix = self.matrix(name, weight, gates)  # [in, 4h] integers (w - w_zp)
        centered, a_scale = _quantize_dynamic(self.ctx, x, label)
        integers = np.abs(np.asarray(weight(self.dirs[0]), np.float64))  # [4h, in]
        bound = int(integers.sum(axis=1).max()) if integers.size else 0
        acc = _exact_product(self.ctx, centered, _ACTIVATION_SPAN, bound, lambda part, suffix: self.op(
            "MatMul", [part, matrix], f"{label}_int{suffix}", {"transpose_a": False, "transpose_b": False}))
        w_scale = self.scales[name][self.dirs[0]]
        w_scale_value = self._cached(f"{name}_scale", lambda: w_scale.reshape(()) if w_scale.size == 1 else w_scale)
        multiplier = self.op("Mul", [a_scale, w_scale_value], f"{label}_multiplier")  # float32, as onnxruntime
        return self.op("Mul", [_f32(self.ctx, acc, f"{label}_sum"), multiplier], label)


def _quantize_dynamic(ctx, x: Value, label: str) -> tuple[Value, Value]:
    """``(q - zp, scale)`` of x's dynamic uint8 quantization (onnxruntime's ``GetQuantizationParameter``
    and ``QuantizeLinear``), ``q - zp`` as float32 integers."""
    every = ctx.ints([0, 1], label=f"{label}_axes")
    zero = ctx.make_const(np.float32(0), label=f"{label}_zero")
    low = ctx.op("Minimum", [ctx.op("Min", [x, every], {"keep_dims": False, "Tidx": DType.INT32},
                                    label=f"{label}_min"), zero], label=f"{label}_low")
    high = ctx.op("Maximum", [ctx.op("Max", [x, every], {"keep_dims": False, "Tidx": DType.INT32},
                                     label=f"{label}_max"), zero], label=f"{label}_high")
    span = ctx.op("Sub", [high, low], label=f"{label}_span")
    scale = ctx.op("RealDiv", [span, ctx.make_const(np.float32(255), label=f"{label}_steps")], label=f"{label}_raw")
    flat = ctx.op("Equal", [span, zero], dtype=DType.BOOL, label=f"{label}_flat")
    scale = ctx.op("SelectV2", [flat, ctx.make_const(np.float32(1), label=f"{label}_unit"), scale], {"T": F32},
                   dtype=F32, label=f"{label}_scale")
    top = ctx.make_const(np.float32(255), label=f"{label}_top")
    start = ctx.op("Sub", [zero, ctx.op("RealDiv", [low, scale], label=f"{label}_low_steps")],
                   label=f"{label}_zp_raw")
    zp = ctx.op("Round", [ctx.op("Maximum", [ctx.op("Minimum", [start, top], label=f"{label}_zp_below"), zero],
                                 label=f"{label}_zp_clipped")], label=f"{label}_zp")
    q = ctx.op("AddV2", [ctx.op("Round", [ctx.op("RealDiv", [x, scale], label=f"{label}_steps_x")],
                                label=f"{label}_rounded"), zp], label=f"{label}_shifted")
    q = ctx.op("Maximum", [ctx.op("Minimum", [q, top], label=f"{label}_q_below"), zero], label=f"{label}_q")
    return ctx.op("Sub", [q, zp], label=f"{label}_centered"), scale


@onnx_op("com.microsoft:DynamicQuantizeLSTM", since=1)
def dynamic_quantize_lstm(ctx: NodeContext) -> list:
    lstm = _AsLstm(ctx)
    if ctx.dtype(0) != F32:
        raise ctx.error(f"the input X must be float32, got {ctx.dtype(0)}")
    shape = ctx.shape(0)
    if shape is None or shape[1 if ctx.attr("layout", 0) else 0] is None:
        raise ctx.error("DynamicQuantizeLSTM needs a static sequence length (it is unrolled)",
                        hint="export the model with a fixed sequence length")
    if ctx.has_input(4):
        raise ctx.error("sequence_lens is not supported with DynamicQuantizeLSTM",
                        hint="pad the sequences to the same length and drop sequence_lens")
    w, w_scale = _integer_weight(ctx, 1, 8, 9, "W")
    r, r_scale = _integer_weight(ctx, 2, 10, 11, "R")
    wts = _Weights.__new__(_Weights)
    wts.w, wts.r = w, r
    wts.num_dir, _, wts.input_size = w.shape
    wts.hidden = hidden = int(ctx.attr("hidden_size", r.shape[-1]))
    if w.shape[1] != 4 * hidden or r.shape != (wts.num_dir, 4 * hidden, hidden):
        raise ctx.error(f"W {list(w.shape)} and R {list(r.shape)} (transposed) do not fit hidden_size {hidden}")
    wts.b = _weight(lstm, 3, "B") if ctx.has_input(3) else np.zeros((wts.num_dir, 8 * hidden), np.float32)
    wts.p = _weight(lstm, 7, "P") if ctx.has_input(7) else None
    wts.static, wts.linear_before_reset, wts.gates = True, False, 4
    unit_type = type("_Units", (_QuantizedUnit,), {"scales": {"W": w_scale, "R": r_scale}})
    return _recurrent(lstm, wts, unit_type, joint_ok=False)
