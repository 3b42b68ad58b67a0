"""LSTM, GRU and RNN with a static sequence length, unrolled into straight-line TF.js ops.

No While loop means the model runs on every backend (wasm included) with ``model.execute``. The
input projections of all time steps are one MatMul; each step adds one recurrent MatMul and the
gate arithmetic. A step whose previous state is known to be zero skips the recurrent terms.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}


class _Cell:
    """The per-direction constants and helpers of one recurrent node."""

    def __init__(self, ctx: NodeContext, direction: int) -> None:
        self.ctx = ctx
        self.d = direction
        kind = ctx.op_type
        count = len(_DEFAULT_ACTIVATIONS[kind])
        names = ctx.attr("activations") or _DEFAULT_ACTIVATIONS[kind] * 2
        names = list(names)[count * direction:count * (direction + 1)] or _DEFAULT_ACTIVATIONS[kind]
        if ctx.attr("activation_alpha") or ctx.attr("activation_beta"):
            raise ctx.error("activations with alpha/beta parameters are not supported")
        self.acts = []
        for name in names:
            if name.lower() not in _ACTIVATIONS:
                raise ctx.error(f"activation {name!r} is not supported (Sigmoid, Tanh and Relu are)")
            self.acts.append(_ACTIVATIONS[name.lower()])
        clip = ctx.attr("clip")
        self.clip = None if clip is None else float(clip)
        self._consts: dict[str, Value] = {}

    def const(self, name: str, array: np.ndarray) -> Value:
        """A weight shared by all time steps (created once)."""
        if name not in self._consts:
            self._consts[name] = self.ctx.make_const(np.ascontiguousarray(array, dtype=np.float32),
                                                     label=f"d{self.d}/{name}")
        return self._consts[name]

    def act(self, k: int, x: Value, label: str) -> Value:
        return self.ctx.op(self.acts[k], [x], label=label)

    def pre(self, x: Value, label: str) -> Value:
        """A gate's pre-activation, clipped when the node says so."""
        if self.clip is None:
            return x
        ctx = self.ctx
        lo, hi = self.const("clip_lo", np.float32(-self.clip)), self.const("clip_hi", np.float32(self.clip))
        return ctx.op("ClipByValue", [x, lo, hi], label=f"{label}_clip")


def _op(ctx: NodeContext, op: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
    return ctx.op(op, inputs, attrs, label=label)


def _split(ctx: NodeContext, x: Value, parts: int, label: str) -> list[Value]:
    if parts == 1:
        return [x]
    axis = ctx.make_const(np.int32(1), label="split_axis")
    return ctx.multi_op("Split", [axis, x], {"num_split": parts}, parts, label=label)


def _initial(ctx: NodeContext, i: int, num_dir: int, batch_first: bool) -> list[Value | None]:
    """Per-direction initial states ([batch, hidden] each), None where the state is zero or absent."""
    if not ctx.has_input(i):
        return [None] * num_dir
    known = ctx.const(i)
    if known is not None and not np.any(known):
        return [None] * num_dir
    state = ctx.input(i)
    axis = 1 if batch_first else 0
    return ctx.multi_op("Unpack", [state], {"num": num_dir, "axis": axis}, num_dir, label=f"initial{i}")


def _check_lengths(ctx: NodeContext, seq: int) -> None:
    if not ctx.has_input(4):
        return
    lengths = ctx.const(4)
    if lengths is None or np.any(np.asarray(lengths) != seq):
        raise ctx.error("sequence_lens other than the full (static) length are not supported",
                        hint="pad the sequences and drop sequence_lens, or mask the outputs")


def _recurrent(ctx: NodeContext) -> list:
    kind = ctx.op_type
    gates = _GATES[kind]
    w = np.asarray(ctx.require_const(1, "W"), dtype=np.float32)
    r = np.asarray(ctx.require_const(2, "R"), dtype=np.float32)
    num_dir, _, input_size = w.shape
    hidden = int(ctx.attr("hidden_size", r.shape[-1]))
    b = np.asarray(ctx.const(3), dtype=np.float32) if ctx.has_input(3) else np.zeros((num_dir, 2 * gates * hidden),
                                                                                       np.float32)
    if ctx.has_input(3) and ctx.const(3) is None:
        raise ctx.error("the bias B must be a constant")
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.error(f"unknown direction {direction!r}")
    batch_first = bool(ctx.attr("layout", 0))
    shape = ctx.shape(0)
    seq = None if shape is None else shape[1 if batch_first else 0]
    if seq is None:
        raise ctx.error("the sequence length must be static: recurrent layers are unrolled",
                        hint="export with a fixed sequence length (dynamic batch is fine)")
    _check_lengths(ctx, seq)
    if kind == "LSTM" and ctx.has_input(7) and ctx.const(7) is None:
        raise ctx.error("the peephole weights P must be constants")
    t = ctx.tensor(0)
    swapped = t.value is not None and t.perm == (1, 0, 2)  # already [batch, seq] where ONNX has [seq, batch]
    x = t.value if swapped else ctx.input(0)
    major_batch = batch_first != swapped  # whether the IR input (and the steps we build) is batch-major
    flat = ctx.op("Reshape", [x, ctx.ints([-1, input_size], label="flat_shape")], {"Tshape": DType.INT32},
                  label="inputs_2d")
    h0 = _initial(ctx, 5, num_dir, batch_first)
    c0 = _initial(ctx, 6, num_dir, batch_first) if kind == "LSTM" else [None] * num_dir
    ys, hs, cs = [], [], []
    for d in range(num_dir):
        cell = _Cell(ctx, d)
        reverse = direction == "reverse" or d == 1
        wb, rb = b[d, :gates * hidden], b[d, gates * hidden:]
        if kind == "GRU" and ctx.attr("linear_before_reset", 0):
            x_bias = wb + np.concatenate([rb[:2 * hidden], np.zeros(hidden, np.float32)])
            rec_bias = np.concatenate([np.zeros(2 * hidden, np.float32), rb[2 * hidden:]])
        else:
            x_bias, rec_bias = wb + rb, None
        proj = ctx.op("MatMul", [flat, ctx.make_const(w[d].T.copy(), label=f"d{d}/W")],
                      {"transpose_a": False, "transpose_b": False}, label=f"d{d}/input_proj")
        proj = ctx.op("BiasAdd", [proj, ctx.make_const(x_bias, label=f"d{d}/bias")], {"data_format": "NHWC"},
                      label=f"d{d}/input_bias")
        dims = [-1, seq, gates * hidden] if major_batch else [seq, -1, gates * hidden]
        proj = ctx.op("Reshape", [proj, ctx.ints(dims, label=f"d{d}/steps_shape")], {"Tshape": DType.INT32},
                      label=f"d{d}/steps")
        steps = ctx.multi_op("Unpack", [proj], {"num": seq, "axis": 1 if major_batch else 0}, seq,
                             label=f"d{d}/unstack")
        step_fn = _STEP[kind]
        h, c = h0[d], c0[d]
        outputs: list[Value | None] = [None] * seq
        for t in (reversed(range(seq)) if reverse else range(seq)):
            h, c = step_fn(ctx, cell, steps[t], h, c, r[d], rec_bias, hidden, f"d{d}/t{t}")
            outputs[t] = h
        axis = 1 if major_batch else 0
        ys.append(ctx.op("Pack", outputs, {"N": seq, "axis": axis}, label=f"d{d}/outputs"))
        hs.append(h)
        cs.append(c)
    dir_axis = 2  # Y is built [seq, batch, dir, h] or [batch, seq, dir, h] (as a layout of ONNX's Y)
    state_axis = 1 if batch_first else 0

    def stack(values: list[Value], axis: int, label: str) -> Value:
        if len(values) == 1:
            return ctx.op("ExpandDims", [values[0], ctx.make_const(np.int32(axis), label=f"{label}_axis")], label=label)
        return ctx.op("Pack", values, {"N": len(values), "axis": axis}, label=label)

    # ONNX's Y is [seq, dir, batch, h] (layout 0) or [batch, seq, dir, h] (layout 1); ours keeps
    # the steps' order, so a following Transpose/Reshape to [batch, seq, dir * h] costs nothing.
    if batch_first:
        y_perm = (0, 1, 2, 3) if major_batch else (1, 0, 2, 3)
    else:
        y_perm = (2, 0, 1, 3) if major_batch else (0, 2, 1, 3)
    results = [ctx.laid(stack(ys, dir_axis, "Y"), y_perm), stack(hs, state_axis, "Y_h")]
    if kind == "LSTM":
        results.append(stack(cs, state_axis, "Y_c"))
    return results


def _matmul(ctx: NodeContext, cell: _Cell, h: Value, weight: np.ndarray, label: str, name: str) -> Value:
    return ctx.op("MatMul", [h, cell.const(name, weight.T)], {"transpose_a": False, "transpose_b": False}, label=label)


def _lstm_step(ctx: NodeContext, cell: _Cell, xw: Value, h: Value | None, c: Value | None, r: np.ndarray,
               _rec_bias: np.ndarray | None, hidden: int, at: str) -> tuple[Value, Value]:
    gates = xw if h is None else _op(ctx, "AddV2", [xw, _matmul(ctx, cell, h, r, f"{at}/rec", "R")], f"{at}/gates")
    i, o, f, g = _split(ctx, gates, 4, f"{at}/split")
    p = ctx.const(7) if ctx.has_input(7) else None
    peep = None if p is None else np.asarray(p, dtype=np.float32)[cell.d]
    if peep is not None and c is not None:
        i = _op(ctx, "AddV2", [i, _op(ctx, "Mul", [c, cell.const("Pi", peep[:hidden])], f"{at}/pi")], f"{at}/i_p")
        f = _op(ctx, "AddV2", [f, _op(ctx, "Mul", [c, cell.const("Pf", peep[2 * hidden:])], f"{at}/pf")],
                f"{at}/f_p")
    i = cell.act(0, cell.pre(i, f"{at}/i"), f"{at}/i")
    g = cell.act(1, cell.pre(g, f"{at}/g"), f"{at}/g")
    new_c = _op(ctx, "Mul", [i, g], f"{at}/ig")
    if c is not None:
        if ctx.attr("input_forget", 0):
            f = _op(ctx, "Sub", [cell.const("one", np.float32(1.0)), i], f"{at}/f")
        else:
            f = cell.act(0, cell.pre(f, f"{at}/f"), f"{at}/f")
        new_c = _op(ctx, "AddV2", [_op(ctx, "Mul", [f, c], f"{at}/fc"), new_c], f"{at}/c")
    if peep is not None:
        o = _op(ctx, "AddV2", [o, _op(ctx, "Mul", [new_c, cell.const("Po", peep[hidden:2 * hidden])],
                                      f"{at}/po")], f"{at}/o_p")
    o = cell.act(0, cell.pre(o, f"{at}/o"), f"{at}/o")
    new_h = _op(ctx, "Mul", [o, cell.act(2, new_c, f"{at}/c_act")], f"{at}/h")
    return new_h, new_c


def _gru_step(ctx: NodeContext, cell: _Cell, xw: Value, h: Value | None, _c: None, r: np.ndarray,
              rec_bias: np.ndarray | None, hidden: int, at: str) -> tuple[Value, None]:
    xz, xr, xh = _split(ctx, xw, 3, f"{at}/split_x")
    before_reset = rec_bias is not None
    hh: Value | None = None
    if h is None:
        z_in, r_in = xz, xr
        if before_reset:
            hh = cell.const("Rbh", rec_bias[2 * hidden:])
    elif before_reset:
        rec = _matmul(ctx, cell, h, r, f"{at}/rec", "R")
        rec = ctx.op("BiasAdd", [rec, cell.const("Rb", rec_bias)], {"data_format": "NHWC"},
                     label=f"{at}/rec_bias")
        hz, hr, hh = _split(ctx, rec, 3, f"{at}/split_h")
        z_in, r_in = _op(ctx, "AddV2", [xz, hz], f"{at}/z_in"), _op(ctx, "AddV2", [xr, hr], f"{at}/r_in")
    else:
        rec = _matmul(ctx, cell, h, r[:2 * hidden], f"{at}/rec", "R_zr")
        hz, hr = _split(ctx, rec, 2, f"{at}/split_h")
        z_in, r_in = _op(ctx, "AddV2", [xz, hz], f"{at}/z_in"), _op(ctx, "AddV2", [xr, hr], f"{at}/r_in")
    z = cell.act(0, cell.pre(z_in, f"{at}/z"), f"{at}/z")
    reset = cell.act(0, cell.pre(r_in, f"{at}/r"), f"{at}/r")
    if before_reset:
        h_in = _op(ctx, "AddV2", [xh, _op(ctx, "Mul", [reset, hh], f"{at}/r_hh")], f"{at}/h_in")
    elif h is None:
        h_in = xh
    else:
        gated = _matmul(ctx, cell, _op(ctx, "Mul", [reset, h], f"{at}/r_h"), r[2 * hidden:], f"{at}/rec_h", "R_h")
        h_in = _op(ctx, "AddV2", [xh, gated], f"{at}/h_in")
    candidate = cell.act(1, cell.pre(h_in, f"{at}/cand"), f"{at}/cand")
    if h is None:  # (1 - z) * candidate
        return _op(ctx, "Sub", [candidate, _op(ctx, "Mul", [z, candidate], f"{at}/z_cand")], f"{at}/h"), None
    delta = _op(ctx, "Sub", [h, candidate], f"{at}/delta")  # candidate + z * (h - candidate)
    return _op(ctx, "AddV2", [candidate, _op(ctx, "Mul", [z, delta], f"{at}/z_delta")], f"{at}/h"), None


def _rnn_step(ctx: NodeContext, cell: _Cell, xw: Value, h: Value | None, _c: None, r: np.ndarray,
              _rec_bias: None, hidden: int, at: str) -> tuple[Value, None]:
    pre = xw if h is None else _op(ctx, "AddV2", [xw, _matmul(ctx, cell, h, r, f"{at}/rec", "R")], f"{at}/pre")
    return cell.act(0, cell.pre(pre, f"{at}/h"), f"{at}/h"), None


_STEP: dict[str, Callable] = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN": _rnn_step}


@onnx_op("LSTM", "GRU", "RNN", since=7)
def recurrent(ctx: NodeContext) -> list:
    return _recurrent(ctx)
