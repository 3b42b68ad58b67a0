"""LSTM, GRU and RNN as TF.js ops: unrolled for a static sequence length, a While loop for a dynamic one.

Unrolled, the model runs on every backend (wasm included) with ``model.execute``. The unrolled
graph is kept small:

- the input projections of all time steps are one MatMul, sliced per step by one ``Unpack``;
- a bidirectional layer runs both directions in the same steps, as one state ``[batch, 2 * hidden]``
  (forward and backward halves): the weights are laid out so that each gate's columns hold both
  directions, and the recurrent weights are block-diagonal, so each step is still one plain
  ``MatMul`` (TF.js-wasm's fastest product) and one set of gate ops, not two. The backward half
  reads the input reversed in time;
- gates that share an activation are activated together (LSTM's i, o, f: one ``Sigmoid``; GRU's z, r).

A step whose previous state is known to be zero skips the recurrent terms. Weights computed at run
time are sliced in the graph and multiplied with ``MatMul``'s ``transpose_b`` (each direction then its
own unit); ``sequence_lens`` masks the unrolled steps (state kept, output zero past a sequence's end).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.graph_loops import WhileLoop, gathered_outputs, reserve_outputs, write_output
from tfjsconv.ir import Value, materialize

from ..context import NodeContext
from ..mapping import onnx_op

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}


def _activations(ctx: NodeContext, direction: int) -> tuple[str, ...]:
    kind = ctx.op_type
    count = len(_DEFAULT_ACTIVATIONS[kind])
    names = ctx.attr("activations") or _DEFAULT_ACTIVATIONS[kind] * 2
    names = list(names)[count * direction:count * (direction + 1)] or _DEFAULT_ACTIVATIONS[kind]
    if ctx.attr("activation_alpha") or ctx.attr("activation_beta"):
        raise ctx.error("activations with alpha/beta parameters are not supported")
    for name in names:
        if name.lower() not in _ACTIVATIONS:
            raise ctx.error(f"activation {name!r} is not supported (Sigmoid, Tanh and Relu are)")
    return tuple(_ACTIVATIONS[name.lower()] for name in names)


class _Unit:
    """The directions unrolled together (one, or both of a bidirectional node) and their constants.

    With both directions (``joint``) a state is ``[batch, 2 * hidden]``: the forward half, then the
    backward half. Every gate's columns are laid out the same way ([i_fw, i_bw, o_fw, o_bw, ...]),
    so splitting the gates gives states' halves in place, and the weights are block matrices.
    """

    def __init__(self, ctx: NodeContext, dirs: Sequence[int], hidden: int) -> None:
        self.ctx = ctx
        self.dirs = list(dirs)
        self.joint = len(self.dirs) > 1
        self.per_dir = hidden
        #: The state width: hidden, or 2 * hidden when joint.
        self.hidden = hidden * len(self.dirs)
        self.acts = _activations(ctx, self.dirs[0])
        clip = ctx.attr("clip")
        self.clip = None if clip is None else float(clip)
        self.tag = "d" + "".join(str(d) for d in self.dirs)
        self._consts: dict[str, Value] = {}
        #: Weights computed at run time: ONNX's [out, in] matrices as they are (MatMul's transpose_b).
        self._transposed_b: set[str] = set()

    def _cached(self, name: str, make: Callable[[], np.ndarray]) -> Value:
        if name not in self._consts:
            self._consts[name] = self.ctx.make_const(np.ascontiguousarray(make(), dtype=np.float32),
                                                     label=f"{self.tag}/{name}")
        return self._consts[name]

    def _run_time(self, name: str, per_dir: Callable[[int], object]) -> bool:
        """Whether the weight ``name`` is computed at run time (a :class:`_Sym`); caches its value."""
        if name in self._consts:
            return name in self._transposed_b
        if self.joint:  # a joint unit is only built from constant weights
            return False
        weight = per_dir(self.dirs[0])
        if not isinstance(weight, _Sym):
            return False
        self._consts[name] = weight.value
        self._transposed_b.add(name)
        return True

    def vector(self, name: str, per_dir: Callable[[int], np.ndarray], gates: int = 1) -> Value:
        """Per-direction [gates * hidden] vectors as one, each gate's block holding every direction's."""
        if self._run_time(name, per_dir):
            return self._consts[name]

        def make() -> np.ndarray:
            h = self.per_dir
            parts = [np.asarray(per_dir(d), np.float32).reshape(gates, h) for d in self.dirs]
            return np.stack(parts, axis=1).reshape(-1)  # [gate, direction, unit]

        return self._cached(name, make)

    def matrix(self, name: str, per_dir: Callable[[int], np.ndarray], gates: int) -> Value:
        """``x @ M`` weights: per-direction ONNX [gates * hidden, in] matrices as one
        [sum of in, gates * width * hidden] matrix; direction d's rows only feed its own columns."""
        def make() -> np.ndarray:
            h, width = self.per_dir, len(self.dirs)
            mats = [np.asarray(per_dir(d), np.float32).T for d in self.dirs]  # [in, gates * h]
            rows = sum(m.shape[0] for m in mats)
            big = np.zeros((rows, gates, width, h), np.float32)
            top = 0
            for k, m in enumerate(mats):
                big[top:top + m.shape[0], :, k, :] = m.reshape(m.shape[0], gates, h)
                top += m.shape[0]
            return big.reshape(rows, gates * width * h)

        return self._cached(name, make)

    def scalar(self, name: str, value: float) -> Value:
        if name not in self._consts:
            self._consts[name] = self.ctx.make_const(np.float32(value), label=f"{self.tag}/{name}")
        return self._consts[name]

    def op(self, op: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
        return self.ctx.op(op, inputs, attrs, label=label)

    def matmul(self, x: Value, name: str, weight: Callable[[int], np.ndarray], gates: int, label: str) -> Value:
        """``x @ weight(d).T`` for every direction at once (ONNX stores W and R as [out, in])."""
        run_time = self._run_time(name, weight)
        matrix = self._consts[name] if run_time else self.matrix(name, weight, gates)
        return self.op("MatMul", [x, matrix], label, {"transpose_a": False, "transpose_b": run_time})

    def add_bias(self, x: Value, name: str, bias: Callable[[int], np.ndarray], gates: int, label: str) -> Value:
        return self.op("BiasAdd", [x, self.vector(name, bias, gates)], label, {"data_format": "NHWC"})

    def split(self, x: Value, sizes: Sequence[int], label: str) -> list[Value]:
        """Slices of the feature axis: Split when equal, SplitV otherwise."""
        ctx = self.ctx
        axis = self.scalar_int("feature_axis", 1)
        if len(set(sizes)) == 1:
            return ctx.multi_op("Split", [axis, x], {"num_split": len(sizes)}, len(sizes), label=label)
        return ctx.multi_op("SplitV", [x, self.ints("sizes_" + "_".join(map(str, sizes)), sizes), axis],
                            {"num_split": len(sizes), "Tlen": DType.INT32}, len(sizes), label=label)

    def scalar_int(self, name: str, value: int) -> Value:
        if name not in self._consts:
            self._consts[name] = self.ctx.int32(value, label=f"{self.tag}/{name}")
        return self._consts[name]

    def ints(self, name: str, values: Sequence[int]) -> Value:
        if name not in self._consts:
            self._consts[name] = self.ctx.ints(values, label=f"{self.tag}/{name}")
        return self._consts[name]

    def act(self, k: int, x: Value, label: str) -> Value:
        return self.op(self.acts[k], [x], label)

    def pre(self, x: Value, label: str) -> Value:
        """A gate's pre-activation, clipped when the node says so."""
        if self.clip is None:
            return x
        lo, hi = self.scalar("clip_lo", -self.clip), self.scalar("clip_hi", self.clip)
        return self.op("ClipByValue", [x, lo, hi], f"{label}_clip")


def _lengths(ctx: NodeContext, seq: int | None) -> Value | None:
    """sequence_lens as an int32 [batch] value when it can be shorter than ``seq``; None when it is
    absent or known to be the full length. The unrolled steps then mask with it."""
    if not ctx.has_input(4):
        return None
    lengths = ctx.const(4)
    if lengths is not None and not np.any(np.asarray(lengths) != seq):
        return None
    if seq is None:
        raise ctx.error("sequence_lens with a dynamic sequence length is not supported",
                        hint="pad the sequences to a static length")
    value = ctx.input(4)
    return ctx.cast(value, DType.INT32, label="sequence_lens")


class _Sym:
    """A weight computed at run time (or a part of it), indexed and combined like the numpy arrays of
    constant weights, so the step builders serve both: ``w[d]``, ``b[d, a:b]``, ``+``, ``* mask``."""

    def __init__(self, ctx: NodeContext, value: Value, shape: tuple[int, ...], label: str) -> None:
        self.ctx, self.value, self.shape, self.label = ctx, value, tuple(shape), label

    def __getitem__(self, key: object) -> _Sym:
        keys = key if isinstance(key, tuple) else (key,)
        begin, end, strides, shape = [], [], [], []
        begin_mask = end_mask = shrink = 0
        for axis, size in enumerate(self.shape):
            k = keys[axis] if axis < len(keys) else slice(None)
            if isinstance(k, (int, np.integer)):
                begin.append(int(k))
                end.append(int(k) + 1)
                shrink |= 1 << axis
            else:
                start, stop, step = k.indices(size)
                if step != 1:
                    raise ValueError("strided weight slices are not used")
                begin.append(start)
                end.append(stop)
                shape.append(stop - start)
            strides.append(1)
        label = f"{self.label}_{'_'.join(map(str, begin))}_{'_'.join(map(str, end))}"
        ctx = self.ctx
        value = ctx.op("StridedSlice", [self.value, ctx.ints(begin, label=f"{label}_begin"),
                                        ctx.ints(end, label=f"{label}_end"), ctx.ints(strides, label=f"{label}_strides")],
                       {"Index": DType.INT32, "begin_mask": begin_mask, "end_mask": end_mask, "ellipsis_mask": 0,
                        "new_axis_mask": 0, "shrink_axis_mask": shrink}, label=label)
        return _Sym(ctx, value, tuple(shape), label)

    def __add__(self, other: _Sym) -> _Sym:
        value = self.ctx.op("AddV2", [self.value, other.value], label=f"{self.label}_plus")
        return _Sym(self.ctx, value, self.shape, f"{self.label}_plus")

    def __mul__(self, mask: np.ndarray) -> _Sym:
        const = self.ctx.make_const(np.asarray(mask, np.float32), label=f"{self.label}_mask")
        return _Sym(self.ctx, self.ctx.op("Mul", [self.value, const], label=f"{self.label}_masked"), self.shape,
                    f"{self.label}_masked")


def _weight(ctx: NodeContext, i: int, name: str) -> np.ndarray | _Sym:
    """Input ``i`` as numpy when known at conversion time, else a :class:`_Sym` (its shape must be static)."""
    known = ctx.const(i)
    if known is not None:
        return np.asarray(known, dtype=np.float32)
    shape = ctx.shape(i)
    if shape is None or any(d is None for d in shape):
        raise ctx.error(f"{name} (input {i}) is computed at run time and needs a static shape")
    value = ctx.input(i)
    if value.dtype != DType.FLOAT32:
        raise ctx.error(f"{name} (input {i}) must be float")
    return _Sym(ctx, value, tuple(int(d) for d in shape), name)


class _Weights:
    """W, R, B and P of the node (numpy, or :class:`_Sym` when computed at run time), with the bias split
    the way the steps use it."""

    def __init__(self, ctx: NodeContext) -> None:
        kind = ctx.op_type
        gates = _GATES[kind]
        self.w = _weight(ctx, 1, "W")
        self.r = _weight(ctx, 2, "R")
        self.num_dir, _, self.input_size = self.w.shape
        self.hidden = hidden = int(ctx.attr("hidden_size", self.r.shape[-1]))
        self.b = (_weight(ctx, 3, "B") if ctx.has_input(3)
                  else np.zeros((self.num_dir, 2 * gates * hidden), np.float32))
        self.p = _weight(ctx, 7, "P") if kind == "LSTM" and ctx.has_input(7) else None
        #: Whether every weight is known at conversion time (a joint bidirectional unit needs that).
        self.static = not any(isinstance(v, _Sym) for v in (self.w, self.r, self.b, self.p))
        self.linear_before_reset = kind == "GRU" and bool(ctx.attr("linear_before_reset", 0))
        self.gates = gates

    def x_bias(self, d: int) -> np.ndarray:
        """The bias added to the input projection: Wb + Rb, except GRU's Rbh with linear_before_reset."""
        h, g = self.hidden, self.gates
        wb, rb = self.b[d, :g * h], self.b[d, g * h:]
        if self.linear_before_reset:
            return wb + rb * np.concatenate([np.ones(2 * h, np.float32), np.zeros(h, np.float32)])
        return wb + rb

    def rec_bias(self, d: int) -> np.ndarray:
        """GRU's recurrent bias with only Rbh kept: [0, 0, Rbh] (linear_before_reset)."""
        h, g = self.hidden, self.gates
        return self.b[d, g * h:] * np.concatenate([np.zeros(2 * h, np.float32), np.ones(h, np.float32)])

    def rec_bias_h(self, d: int) -> np.ndarray:
        """GRU's Rbh (added to the recurrent product before the reset gate multiplies it)."""
        h, g = self.hidden, self.gates
        return self.b[d, g * h + 2 * h:]


def _initial(ctx: NodeContext, i: int, num_dir: int, batch_first: bool, joint: bool,
             hidden: int) -> list[Value | None]:
    """Initial states: one [batch, 2 * hidden] value (joint) or one [batch, hidden] per direction;
    None where the state is zero or absent."""
    if not ctx.has_input(i):
        return [None] * num_dir
    known = ctx.const(i)
    if (known is not None and not np.any(known)) or (known is None and _is_zeros(ctx.tensor(i).value)):
        return [None] * num_dir
    state = ctx.input(i)
    axis = 1 if batch_first else 0
    per_dir = ctx.multi_op("Unpack", [state], {"num": num_dir, "axis": axis}, num_dir, label=f"initial{i}")
    if not joint:
        return per_dir
    return [ctx.op("ConcatV2", [*per_dir, ctx.int32(1, label=f"initial{i}_axis")],
                   {"N": 2, "Tidx": DType.INT32}, label=f"initial{i}_joint")]


#: Ops that only move or repeat their first input's elements.
_MOVES = frozenset({"Identity", "Reshape", "StridedSlice", "Slice", "ExpandDims", "Squeeze", "Transpose",
                    "BroadcastTo", "Tile", "GatherV2", "Pack", "ConcatV2"})


def _is_zeros(value: Value | None, depth: int = 8) -> bool:
    """Whether a computed tensor is all zeros by construction (torch's initial states with a dynamic
    batch: zeros broadcast to a computed shape), so the first step can skip the recurrent terms."""
    if value is None or depth == 0:
        return False
    node = value.producer
    if node.op == "Const":
        return not np.any(materialize(node.value))
    if node.op == "Fill":
        return _is_zeros(node.inputs[1], depth - 1)
    if node.op in ("Pack", "ConcatV2"):
        data = node.inputs if node.op == "Pack" else node.inputs[:-1]
        return all(_is_zeros(v, depth - 1) for v in data)
    if node.op in _MOVES:
        return _is_zeros(node.inputs[0], depth - 1)
    return False


def _recurrent(ctx: NodeContext, wts: _Weights | None = None, unit_type: type[_Unit] = _Unit,
               joint_ok: bool = True) -> list:
    """The node's outputs; ``wts``/``unit_type`` let a variant (``DynamicQuantizeLSTM``: integer weights,
    quantized products) reuse the steps, ``joint_ok=False`` keeps the two directions' states apart."""
    kind = ctx.op_type
    wts = wts if wts is not None else _Weights(ctx)
    hidden, num_dir = wts.hidden, wts.num_dir
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.error(f"unknown direction {direction!r}")
    batch_first = bool(ctx.attr("layout", 0))
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.error("the rank of the input X is unknown")
    seq = shape[1 if batch_first else 0]
    lengths = _lengths(ctx, seq)
    t = ctx.tensor(0)
    swapped = t.value is not None and t.perm == (1, 0, 2)  # already [batch, seq] where ONNX has [seq, batch]
    x = t.value if swapped else ctx.input(0)
    major_batch = batch_first != swapped  # whether the IR input (and the steps we build) is batch-major
    time_axis = 1 if major_batch else 0
    joint = (joint_ok and num_dir == 2 and wts.static and lengths is None
             and _activations(ctx, 0) == _activations(ctx, 1))
    groups = [[0, 1]] if joint else [[d] for d in range(num_dir)]
    h0 = _initial(ctx, 5, num_dir, batch_first, joint, hidden)
    c0 = _initial(ctx, 6, num_dir, batch_first, joint, hidden) if kind == "LSTM" else [None] * num_dir
    flat: list[Value] = []  # the [seq * batch, input] view of x, made once

    ys: list[Value] = []  # per direction, [seq, batch, hidden] (or batch-major when unrolled over batch-major steps)
    ys_time_axis = time_axis if seq is not None else 0  # a loop gathers its outputs time-major
    hs: list[Value] = []  # per unit: [batch, hidden], or [batch, 2 * hidden] when joint
    cs: list[Value | None] = []
    for dirs in groups:
        unit = unit_type(ctx, dirs, hidden)
        reverse = not unit.joint and (direction == "reverse" or dirs[0] == 1)
        h, c = h0[dirs[0]], c0[dirs[0]]
        if seq is None:
            outputs, h, c = _looped(ctx, unit, wts, x, time_axis, reverse, h, c)
        else:
            outputs, h, c = _unrolled(ctx, unit, wts, x, flat, seq, time_axis, reverse, h, c, lengths)
        hs.append(h)
        cs.append(c)
        if not unit.joint:
            ys.append(outputs)
            continue
        # joint step s holds the forward output of time s and the backward one of time seq-1-s
        forward, backward = ctx.multi_op("Split", [ctx.int32(2, label=f"{unit.tag}/dirs_axis"), outputs],
                                         {"num_split": 2}, 2, label=f"{unit.tag}/dirs")
        ys += [forward, _reverse_time(ctx, backward, ys_time_axis, f"{unit.tag}/backward_outputs")]

    def stack(values: list[Value], axis: int, label: str) -> Value:
        if len(values) == 1:
            return ctx.expand_dims(values[0], axis, label=label)
        return ctx.op("Pack", values, {"N": len(values), "axis": axis}, label=label)

    # ONNX's Y is [seq, dir, batch, h] (layout 0) or [batch, seq, dir, h] (layout 1); ours keeps
    # the steps' order, so a following Transpose/Reshape to [batch, seq, dir * h] costs nothing.
    if batch_first:
        y_perm = (0, 1, 2, 3) if ys_time_axis == 1 else (1, 0, 2, 3)
    else:
        y_perm = (2, 0, 1, 3) if ys_time_axis == 1 else (0, 2, 1, 3)

    def final(states: list, label: str) -> object:
        if joint and batch_first:  # [batch, 2 * h] is ONNX's [batch, dir, h]
            return ctx.reshape(states[0], [-1, 2, hidden], label=label)
        if joint:  # the two halves stacked: [dir, batch, h]
            states = ctx.multi_op("Split", [ctx.int32(1, label=f"{label}_axis"), states[0]],
                                  {"num_split": 2}, 2, label=f"{label}_dirs")
        return stack(states, 1 if batch_first else 0, label)

    results = [ctx.laid(stack(ys, 2, "Y"), y_perm), final(hs, "Y_h")]
    if kind == "LSTM":
        results.append(final(cs, "Y_c"))
    return results


def _unrolled(ctx: NodeContext, unit: _Unit, wts: _Weights, x: Value, flat: list[Value], seq: int, time_axis: int,
              reverse: bool, h: Value | None, c: Value | None,
              lengths: Value | None = None) -> tuple[Value, Value, Value | None]:
    """The steps as straight-line ops; returns (outputs stacked over time, last h, last c).

    With ``lengths`` (sequence_lens), a step at or past a sequence's length leaves its state as it
    was and outputs zeros; a reverse direction thus starts at each sequence's own last element.
    """
    steps = _step_inputs(ctx, unit, wts, x, flat, seq, time_axis)
    step_fn = _STEP[ctx.op_type]
    outputs: list[Value | None] = [None] * seq
    for s in (reversed(range(seq)) if reverse else range(seq)):
        at = f"{unit.tag}/t{s}"
        new_h, new_c = step_fn(unit, wts, [part[s] for part in steps], h, c, at)
        if lengths is None:
            h, c = new_h, new_c
            outputs[s] = h
            continue
        live = ctx.op("ExpandDims", [ctx.op("Less", [unit.scalar_int(f"time{s}", s), lengths], dtype=DType.BOOL,
                                            label=f"{at}/live"), unit.scalar_int("batch_column", -1)],
                      {"Tdim": DType.INT32}, dtype=DType.BOOL, label=f"{at}/live_column")
        zero = ctx.op("ZerosLike", [new_h], label=f"{at}/zeros")
        f32 = {"T": DType.FLOAT32}
        outputs[s] = ctx.op("SelectV2", [live, new_h, zero], f32, dtype=DType.FLOAT32, label=f"{at}/output")
        h = ctx.op("SelectV2", [live, new_h, zero if h is None else h], f32, dtype=DType.FLOAT32, label=f"{at}/h_kept")
        if new_c is not None:
            c = ctx.op("SelectV2", [live, new_c, zero if c is None else c], f32, dtype=DType.FLOAT32,
                       label=f"{at}/c_kept")
    if lengths is not None:  # as onnxruntime: an empty sequence's final states are zeros, not the initial ones
        f32 = {"T": DType.FLOAT32}
        started = ctx.op("ExpandDims", [ctx.op("Greater", [lengths, unit.scalar_int("time0", 0)], dtype=DType.BOOL,
                                               label=f"{unit.tag}/non_empty"), unit.scalar_int("batch_column", -1)],
                         {"Tdim": DType.INT32}, dtype=DType.BOOL, label=f"{unit.tag}/non_empty_column")
        zero = ctx.op("ZerosLike", [h], label=f"{unit.tag}/final_zeros")
        h = ctx.op("SelectV2", [started, h, zero], f32, dtype=DType.FLOAT32, label=f"{unit.tag}/final_h")
        if c is not None:
            c = ctx.op("SelectV2", [started, c, zero], f32, dtype=DType.FLOAT32, label=f"{unit.tag}/final_c")
    return ctx.op("Pack", outputs, {"N": seq, "axis": time_axis}, label=f"{unit.tag}/outputs"), h, c


def _looped(ctx: NodeContext, unit: _Unit, wts: _Weights, x: Value, time_axis: int, reverse: bool,
            h: Value | None, c: Value | None) -> tuple[Value, Value, Value | None]:
    """A dynamic sequence length: the step in a TF v1 while loop (Enter/Merge/Switch/NextIteration/Exit).

    The input projections are still one MatMul before the loop; each iteration gathers its time
    step, runs the same step ops as the unrolled form and writes its output into a TensorList at its
    time step, gathered after the loop: linear in the length, time-major whatever ``time_axis`` the
    steps are read along (an empty sequence gathers ``[0, batch, hidden]``). Body ops read weights and
    projections from outside the loop directly, which TF.js resolves through the enclosing frame.
    TF.js runs such a model with ``executeAsync``.
    """
    parts = _projections(ctx, unit, wts, x, time_axis)
    tag = unit.tag
    # Everything the loop starts from is computed from the projections, so that no body op can be
    # ready before the projections it reads from outside: TF.js's executeAsync schedules a node when
    # its last input arrives, and a root tensor arriving after the loop's own would be missed.
    steps_shape = ctx.shape_of(parts[0], label=f"{tag}/steps_dims")
    length = ctx.shape_entry(steps_shape, time_axis, label=f"{tag}/length")
    batch = ctx.shape_slice(steps_shape, 1 - time_axis, 1 - time_axis + 1, label=f"{tag}/batch")

    def zeros(dims: list[Value | list[int]], label: str) -> Value:
        shape = ctx.concat_shape(dims, label=f"{label}_shape")
        return ctx.op("Fill", [shape, ctx.make_const(np.float32(0), label=f"{label}_zero")],
                      {"index_type": DType.INT32}, dtype=DType.FLOAT32, label=label)

    width = [unit.hidden]
    if h is None:
        h = zeros([batch, width], f"{tag}/h0")
    if c is None and ctx.op_type == "LSTM":
        c = zeros([batch, width], f"{tag}/c0")
    element_shape = ctx.concat_shape([batch, width], label=f"{tag}/output_shape")
    acc = reserve_outputs(ctx.op, element_shape, length, f"{tag}/outputs0")
    loop = WhileLoop(ctx.graph, ctx.op, ctx.unique_name, f"{tag}/while")
    inits = {"i": ctx.op("ZerosLike", [length], label=f"{tag}/i0"), "h": h, "acc": acc}
    if c is not None:
        inits["c"] = c
    merged = loop.start(inits)
    body = loop.body(ctx.op("Less", [merged["i"], length], dtype=DType.BOOL, label=f"{tag}/while/more"))
    i = body["i"]
    t = ctx.op("Sub", [ctx.op("Sub", [length, i], label=f"{tag}/while/from_end"),
                       ctx.int32(1, label=f"{tag}/one")], label=f"{tag}/while/t") if reverse else i
    axis = ctx.int32(time_axis, label=f"{tag}/time_axis")
    xw = [ctx.gather(part, t, axis, label=f"{tag}/while/x{k}") for k, part in enumerate(parts)]
    new_h, new_c = _STEP[ctx.op_type](unit, wts, xw, body["h"], body.get("c"), f"{tag}/while")
    new_acc = write_output(ctx.op, body["acc"], t, new_h, f"{tag}/while/outputs")
    next_i = ctx.op("AddV2", [i, ctx.int32(1, label=f"{tag}/step")], label=f"{tag}/while/next_i")
    done = loop.close({"i": next_i, "h": new_h, "acc": new_acc, **({"c": new_c} if c is not None else {})})
    indices = ctx.op("Range", [ctx.int32(0, label=f"{tag}/first_index"), length, ctx.int32(1, label=f"{tag}/index_step")],
                     {"Tidx": DType.INT32}, dtype=DType.INT32, label=f"{tag}/indices")
    outputs = gathered_outputs(ctx.op, done["acc"], indices, element_shape, f"{tag}/outputs", (None, None, unit.hidden))
    return outputs, done["h"], done.get("c")


def _projections(ctx: NodeContext, unit: _Unit, wts: _Weights, x: Value, time_axis: int) -> list[Value]:
    """Every step's input projection + bias at once, shaped like x with gates * width features
    (a joint unit reads x and x reversed in time side by side); GRU's split into z/r and candidate."""
    tag = unit.tag
    source = _joint_inputs(ctx, unit, x, time_axis)
    size = wts.input_size * len(unit.dirs)
    rows = ctx.reshape(source, [-1, size], label=f"{tag}/rows")
    proj = unit.matmul(rows, "W", lambda d: wts.w[d], wts.gates, f"{tag}/input_proj")
    proj = unit.add_bias(proj, "bias", wts.x_bias, wts.gates, f"{tag}/input_bias")
    lead = ctx.run_time_dims(source, 0, 2, label=f"{tag}/lead_dims")
    target = ctx.concat_shape([lead, [wts.gates * unit.hidden]], label=f"{tag}/steps_shape")
    proj = ctx.reshape(proj, target, label=f"{tag}/steps")
    if ctx.op_type != "GRU":
        return [proj]
    h = unit.hidden
    return ctx.multi_op("SplitV", [proj, ctx.ints([2 * h, h], label=f"{tag}/zr_h_sizes"),
                                   ctx.int32(2, label=f"{tag}/zr_h_axis")],
                        {"num_split": 2, "Tlen": DType.INT32}, 2, label=f"{tag}/zr_h")


def _joint_inputs(ctx: NodeContext, unit: _Unit, x: Value, time_axis: int) -> Value:
    """x, or for a joint unit x and x reversed in time side by side (the backward half's inputs)."""
    if not unit.joint:
        return x
    reversed_x = _reverse_time(ctx, x, time_axis, f"{unit.tag}/reversed_inputs")
    return ctx.op("ConcatV2", [x, reversed_x, ctx.int32(2, label=f"{unit.tag}/inputs_axis")],
                  {"N": 2, "Tidx": DType.INT32}, label=f"{unit.tag}/inputs")


def _reverse_time(ctx: NodeContext, x: Value, time_axis: int, label: str) -> Value:
    return ctx.op("ReverseV2", [x, ctx.ints([time_axis], label=f"{label}_axis")], {"Tidx": DType.INT32}, label=label)


def _step_inputs(ctx: NodeContext, unit: _Unit, wts: _Weights, x: Value, flat: list[Value], seq: int,
                 time_axis: int) -> list[list[Value]]:
    """The input projections (+ bias) of every step: one MatMul, then Unpack over time.

    GRU's are split into the z/r part and the candidate part once, before the Unpack, so the steps
    need no Split for them. A joint unit reads x and x reversed in time side by side, so step ``s``
    holds time ``s`` for the forward direction and ``seq - 1 - s`` for the backward one.
    """
    tag = unit.tag
    if unit.joint:
        source = _joint_inputs(ctx, unit, x, time_axis)
        rows = ctx.reshape(source, [-1, 2 * wts.input_size], label=f"{tag}/rows")
    else:
        if not flat:
            flat.append(ctx.reshape(x, [-1, wts.input_size], label="inputs_2d"))
        rows = flat[0]
    proj = unit.matmul(rows, "W", lambda d: wts.w[d], wts.gates, f"{tag}/input_proj")
    proj = unit.add_bias(proj, "bias", wts.x_bias, wts.gates, f"{tag}/input_bias")
    gh = wts.gates * unit.hidden
    dims = [seq, -1, gh] if time_axis == 0 else [-1, seq, gh]
    proj = ctx.reshape(proj, dims, label=f"{tag}/steps")
    parts = [proj]
    if ctx.op_type == "GRU":
        h = unit.hidden
        axis = ctx.int32(2, label=f"{tag}/zr_h_axis")
        parts = ctx.multi_op("SplitV", [proj, ctx.ints([2 * h, h], label=f"{tag}/zr_h_sizes"), axis],
                             {"num_split": 2, "Tlen": DType.INT32}, 2, label=f"{tag}/zr_h")
    return [ctx.multi_op("Unpack", [part], {"num": seq, "axis": time_axis}, seq, label=f"{tag}/unstack{k}")
            for k, part in enumerate(parts)]


def _lstm_step(unit: _Unit, wts: _Weights, xw: list[Value], h: Value | None, c: Value | None,
               at: str) -> tuple[Value, Value]:
    gates = xw[0]
    if h is not None:
        gates = unit.op("AddV2", [gates, unit.matmul(h, "R", lambda d: wts.r[d], 4, f"{at}/rec")], f"{at}/gates")
    if wts.p is not None:
        return _lstm_peephole_gates(unit, wts, gates, c, at)
    hidden = unit.hidden
    gates = unit.pre(gates, f"{at}/gates")
    iof, g = unit.split(gates, [3 * hidden, hidden], f"{at}/split")  # ONNX's gate order: i, o, f, c
    i, o, f = unit.split(unit.act(0, iof, f"{at}/iof"), [hidden] * 3, f"{at}/split_iof")
    g = unit.act(1, g, f"{at}/g")
    new_c = unit.op("Mul", [i, g], f"{at}/ig")
    if c is not None:
        if unit.ctx.attr("input_forget", 0):
            f = unit.op("Sub", [unit.scalar("one", 1.0), i], f"{at}/f")
        new_c = unit.op("AddV2", [unit.op("Mul", [f, c], f"{at}/fc"), new_c], f"{at}/c")
    return unit.op("Mul", [o, unit.act(2, new_c, f"{at}/c_act")], f"{at}/h"), new_c


def _lstm_peephole_gates(unit: _Unit, wts: _Weights, gates: Value, c: Value | None, at: str) -> tuple[Value, Value]:
    """An LSTM step with peepholes: i and f see c, o sees the new c, so the gates are activated apart."""
    hidden, h = unit.hidden, wts.hidden
    p = wts.p
    i, o, f, g = unit.split(gates, [hidden] * 4, f"{at}/split")
    if c is not None:
        i = unit.op("AddV2", [i, unit.op("Mul", [c, unit.vector("Pi", lambda d: p[d, :h])], f"{at}/pi")], f"{at}/i_p")
        f = unit.op("AddV2", [f, unit.op("Mul", [c, unit.vector("Pf", lambda d: p[d, 2 * h:])], f"{at}/pf")],
                    f"{at}/f_p")
    i = unit.act(0, unit.pre(i, f"{at}/i"), f"{at}/i")
    g = unit.act(1, unit.pre(g, f"{at}/g"), f"{at}/g")
    new_c = unit.op("Mul", [i, g], f"{at}/ig")
    if c is not None:
        if unit.ctx.attr("input_forget", 0):
            f = unit.op("Sub", [unit.scalar("one", 1.0), i], f"{at}/f")
        else:
            f = unit.act(0, unit.pre(f, f"{at}/f"), f"{at}/f")
        new_c = unit.op("AddV2", [unit.op("Mul", [f, c], f"{at}/fc"), new_c], f"{at}/c")
    po = unit.vector("Po", lambda d: p[d, h:2 * h])
    o = unit.op("AddV2", [o, unit.op("Mul", [new_c, po], f"{at}/po")], f"{at}/o_p")
    o = unit.act(0, unit.pre(o, f"{at}/o"), f"{at}/o")
    return unit.op("Mul", [o, unit.act(2, new_c, f"{at}/c_act")], f"{at}/h"), new_c


def _gru_step(unit: _Unit, wts: _Weights, xw: list[Value], h: Value | None, _c: None, at: str) -> tuple[Value, None]:
    x_zr, x_h = xw
    hidden, per = unit.hidden, wts.hidden
    hh: Value | None = None  # the candidate's recurrent term before the reset gate (linear_before_reset)
    if h is None:
        zr_in = x_zr
        if wts.linear_before_reset:
            hh = unit.vector("Rbh", wts.rec_bias_h)
    elif wts.linear_before_reset:
        rec = unit.matmul(h, "R", lambda d: wts.r[d], 3, f"{at}/rec")
        rec = unit.add_bias(rec, "Rb", wts.rec_bias, 3, f"{at}/rec_bias")
        h_zr, hh = unit.split(rec, [2 * hidden, hidden], f"{at}/split_h")
        zr_in = unit.op("AddV2", [x_zr, h_zr], f"{at}/zr_in")
    else:
        h_zr = unit.matmul(h, "R_zr", lambda d: wts.r[d, :2 * per], 2, f"{at}/rec")
        zr_in = unit.op("AddV2", [x_zr, h_zr], f"{at}/zr_in")
    z, reset = unit.split(unit.act(0, unit.pre(zr_in, f"{at}/zr"), f"{at}/zr"), [hidden] * 2, f"{at}/split_zr")
    if hh is not None:
        h_in = unit.op("AddV2", [x_h, unit.op("Mul", [reset, hh], f"{at}/r_hh")], f"{at}/h_in")
    elif h is None:
        h_in = x_h
    else:
        gated = unit.matmul(unit.op("Mul", [reset, h], f"{at}/r_h"), "R_h", lambda d: wts.r[d, 2 * per:], 1,
                            f"{at}/rec_h")
        h_in = unit.op("AddV2", [x_h, gated], f"{at}/h_in")
    candidate = unit.act(1, unit.pre(h_in, f"{at}/cand"), f"{at}/cand")
    if h is None:  # (1 - z) * candidate
        return unit.op("Sub", [candidate, unit.op("Mul", [z, candidate], f"{at}/z_cand")], f"{at}/h"), None
    delta = unit.op("Sub", [h, candidate], f"{at}/delta")  # candidate + z * (h - candidate)
    return unit.op("AddV2", [candidate, unit.op("Mul", [z, delta], f"{at}/z_delta")], f"{at}/h"), None


def _rnn_step(unit: _Unit, wts: _Weights, xw: list[Value], h: Value | None, _c: None, at: str) -> tuple[Value, None]:
    pre = xw[0]
    if h is not None:
        pre = unit.op("AddV2", [pre, unit.matmul(h, "R", lambda d: wts.r[d], 1, f"{at}/rec")], f"{at}/pre")
    return unit.act(0, unit.pre(pre, f"{at}/h"), f"{at}/h"), None


_STEP: dict[str, Callable] = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN": _rnn_step}


@onnx_op("LSTM", "GRU", "RNN", since=7)
def recurrent(ctx: NodeContext) -> list:
    return _recurrent(ctx)
