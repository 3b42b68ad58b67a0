"""SimpleRNN, LSTM, GRU (reset_after both ways) and Bidirectional, unrolled over a static time length (over one
known only at run time, the same steps run in a while loop: :mod:`.recurrent_loop`).

The input projection ``x·W + b`` runs once for all steps (one MatMul per gate over ``[batch·T, in]``);
each step then slices its row (``StridedSlice``), adds ``h·U`` and applies the cell's formula. The
first step has ``h = c = 0``, so its recurrent terms are left out (no zeros tensor of the run-time
batch size is needed). ``go_backwards`` walks the steps in reverse and, like Keras, returns the
sequence in the order walked. With a mask (``ctx.mask``, see :mod:`.masking`), a masked step keeps
the previous states, and outputs the previous output (or zeros with ``zero_output_for_mask``, which
Bidirectional sets when it returns sequences), as Keras's ``rnn`` does. ``initial_state`` (tf_keras's extra
inputs after the sequence, Keras 3's keyword tensors or saved ``__numpy__`` constants; see :func:`initial_states`)
starts the walk from those states: the first step then has its recurrent terms, and a masked step outputs the
previous output, zeros before any, while the states hold (Keras 3 runs such a call unmasked unless it was given
``mask=``: see :func:`sequence_context`). Bidirectional's two layers may differ in weight count (a
``backward_layer=`` without bias). Stateful layers are not lowered.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from .activations import activation_gap, apply_activation
from .context import STATE_KEYWORD, LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .registry import Unsupported, lowers

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
CONV_LSTMS = frozenset({"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def rnn_check(config: dict[str, Any]) -> str | None:
    for option in ("stateful", "time_major"):
        if config.get(option):
            return f"{option}=True"
    for key in ("activation", "recurrent_activation"):
        if key in config:
            gap = activation_gap(config.get(key))
            if gap:
                return gap
    return None


def _bidirectional_check(config: dict[str, Any]) -> str | None:
    inner = config.get("layer") or {}
    backward = config.get("backward_layer")
    for layer, which in ((inner, "wrapped"), *(((backward, "backward"),) if backward else ())):
        # Keras 3 always saves the backward layer; the lowering runs it as given
        gap = _wrapped_gap(layer, which)
        if gap:
            return gap
    if config.get("merge_mode", "concat") not in ("concat", "sum", "mul", "ave", None):
        return f"merge_mode={config.get('merge_mode')!r}"
    return None


def wraps_conv_lstm(class_name: str, config: dict[str, Any]) -> bool:
    """Whether a Bidirectional runs ConvLSTMs, which read a ``[batch, T, *positions]`` mask (not ``[batch, T]``)."""
    return class_name == "Bidirectional" and (config.get("layer") or {}).get("class_name") in CONV_LSTMS


def _wrapped_gap(layer: dict[str, Any], which: str) -> str | None:
    """Why Bidirectional cannot lower its ``which`` layer: an RNN layer, or ``RNN`` over built-in cells."""
    cls = layer.get("class_name")
    if cls in CONV_LSTMS:
        from .conv_lstm import conv_lstm_check

        return conv_lstm_check(layer.get("config") or {})
    if cls == "RNN":
        from .rnn_cells import rnn_cell_check

        return rnn_cell_check(layer.get("config") or {})
    if cls not in GATES:
        return f"a {which} {cls}"
    return rnn_check(layer.get("config") or {})


class _Cell:
    """One RNN layer's weights as per-gate float32 Consts, and the per-step formulas."""

    def __init__(self, ctx: LayerContext, kind: str, config: dict[str, Any], arrays: list[Any], prefix: str) -> None:
        self.ctx, self.kind, self.config, self.prefix = ctx, kind, config, prefix
        self.units = int(config["units"])
        self.gates = GATES[kind]
        use_bias = config.get("use_bias", True)
        if len(arrays) != 2 + use_bias:
            raise ctx.error(f"has {len(arrays)} {prefix or ''}weights, but its config needs {2 + use_bias}")
        kernel, recurrent = (materialize(a).astype(np.float32) for a in arrays[:2])
        features = ctx.shape()[-1]
        width = self.gates * self.units
        ctx.check_shape(kernel, [features, width], f"{prefix}kernel")
        ctx.check_shape(recurrent, [self.units, width], f"{prefix}recurrent kernel")
        self.reset_after = kind == "GRU" and bool(config.get("reset_after", True))
        bias = materialize(arrays[2]).astype(np.float32) if use_bias else None
        if bias is not None:
            ctx.check_shape(bias, [2, width] if self.reset_after else [width], f"{prefix}bias")
        input_bias = None if bias is None else (bias[0] if self.reset_after else bias)
        self.recurrent_bias = None if bias is None or not self.reset_after else bias[1]
        self.kernel = [kernel[:, g * self.units:(g + 1) * self.units] for g in range(self.gates)]
        self.recurrent = [ctx.const(recurrent[:, g * self.units:(g + 1) * self.units], f"{prefix}recurrent_{g}")
                          for g in range(self.gates)]
        self.input_bias = [None if input_bias is None else input_bias[g * self.units:(g + 1) * self.units]
                           for g in range(self.gates)]

    def _act(self, x: Value, key: str, default: str) -> Value:
        return apply_activation(self.ctx, x, self.config.get(key, default), keras3=self.ctx.keras3,
                                label=f"{self.prefix}{key}")

    def project(self, x: Value, steps: int | None) -> list[Value]:
        """``x·W_g + b_g`` for every gate, as ``[batch, T, units]`` (``steps`` None: read at run time)."""
        ctx, features = self.ctx, ctx_features(self.ctx, x)
        flat = ctx.reshape(x, [None, features], f"{self.prefix}flat_steps")
        lead = None if steps is not None else runtime_sizes(ctx, x, 0, 2, f"{self.prefix}batch_steps")
        out = []
        for g, kernel in enumerate(self.kernel):
            y = ctx.op("MatMul", [flat, ctx.const(kernel, f"{self.prefix}kernel_{g}")],
                       {"transpose_a": False, "transpose_b": False}, shape=(None, self.units),
                       label=f"{self.prefix}input_{g}")
            if self.input_bias[g] is not None:
                y = ctx.op("BiasAdd", [y, ctx.const(self.input_bias[g], f"{self.prefix}bias_{g}")],
                           {"data_format": "NHWC"}, shape=y.shape, label=f"{self.prefix}input_bias_{g}")
            label = f"{self.prefix}input_steps_{g}"
            out.append(ctx.reshape(y, [None, steps, self.units], label) if lead is None else
                       reshape_to(ctx, y, [lead, [self.units]], (None, None, self.units), label))
        return out

    def recurrent_term(self, h: Value | None, g: int, gate_input: Value | None = None) -> Value | None:
        """``h·U_g`` (plus the GRU's recurrent bias); None on the first step, where ``h = 0``."""
        ctx = self.ctx
        term = None
        if h is not None:
            term = ctx.op("MatMul", [gate_input if gate_input is not None else h, self.recurrent[g]],
                          {"transpose_a": False, "transpose_b": False}, shape=(None, self.units),
                          label=f"{self.prefix}recurrent_{g}")
        if self.recurrent_bias is not None and (term is not None or self.reset_after):
            bias = ctx.const(self.recurrent_bias[g * self.units:(g + 1) * self.units], f"{self.prefix}rbias_{g}")
            term = bias if term is None else ctx.op("BiasAdd", [term, bias], {"data_format": "NHWC"},
                                                    shape=term.shape, label=f"{self.prefix}recurrent_bias_{g}")
        return term

    def _plus(self, a: Value, b: Value | None) -> Value:
        return a if b is None else self.ctx.binary("AddV2", a, b, label=f"{self.prefix}sum")

    def step(self, xs: list[Value], h: Value | None, c: Value | None) -> tuple[Value, Value | None]:
        ctx, p = self.ctx, self.prefix
        if self.kind == "SimpleRNN":
            return self._act(self._plus(xs[0], self.recurrent_term(h, 0)), "activation", "tanh"), None
        if self.kind == "LSTM":
            i, f, g, o = (self._plus(xs[k], self.recurrent_term(h, k)) for k in range(4))
            i, f, o = (self._act(v, "recurrent_activation", "sigmoid") for v in (i, f, o))
            new_c = ctx.binary("Mul", i, self._act(g, "activation", "tanh"), label=f"{p}input_gate")
            if c is not None:
                new_c = ctx.binary("AddV2", ctx.binary("Mul", f, c, label=f"{p}forget"), new_c, label=f"{p}cell")
            return ctx.binary("Mul", o, self._act(new_c, "activation", "tanh"), label=f"{p}hidden"), new_c
        z = self._act(self._plus(xs[0], self.recurrent_term(h, 0)), "recurrent_activation", "sigmoid")
        r = self._act(self._plus(xs[1], self.recurrent_term(h, 1)), "recurrent_activation", "sigmoid")
        if self.reset_after:
            candidate_term = self.recurrent_term(h, 2)
            if candidate_term is not None:
                candidate_term = ctx.binary("Mul", r, candidate_term, label=f"{p}reset")
        else:
            candidate_term = None if h is None else \
                self.recurrent_term(h, 2, ctx.binary("Mul", r, h, label=f"{p}reset"))
        candidate = self._act(self._plus(xs[2], candidate_term), "activation", "tanh")
        # h = z·h_prev + (1 - z)·candidate = candidate + z·(h_prev - candidate)
        if h is None:
            keep = ctx.op("Sub", [ctx.floats(1.0, f"{p}one"), z], shape=z.shape, label=f"{p}update")
            hidden = ctx.binary("Mul", keep, candidate, label=f"{p}hidden")
            if hidden.shape and hidden.shape[-1] != self.units:  # glu gates: Keras's z·0 term broadcasts to units
                hidden = ctx.binary("AddV2", hidden, ctx.floats(np.zeros(self.units), f"{p}zero_state"),
                                    label=f"{p}hidden_units")
            return hidden, None
        delta = ctx.binary("Sub", h, candidate, label=f"{p}delta")
        return ctx.binary("AddV2", candidate, ctx.binary("Mul", z, delta, label=f"{p}blend"), label=f"{p}hidden"), None


def ctx_features(ctx: LayerContext, x: Value) -> int:
    features = ctx.shape(x)[-1]
    if features is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): input features of unknown size")
    return int(features)


def _run(ctx: LayerContext, kind: str, config: dict[str, Any], arrays: list[Any], prefix: str,
         backwards: bool, zero_output_for_mask: bool = False,
         initial: list[Value] | None = None, unrolled_zero_mask: Value | None = None) -> tuple[Value, list[Value]]:
    """The layer's output (last output or sequence) and its final states, from the ``initial`` states (None: zeros).

    ``unroll=True`` with a mask and ``zero_output_for_mask`` (Bidirectional's, returning sequences): Keras's unrolled
    ``rnn`` repeats the previous output at a masked step, stacks the outputs in the order walked, then zeroes them
    with the mask in the input's order, ``where(mask, outputs, 0)``: walked backwards, step ``i`` of the walk (input
    step ``T - 1 - i``) is zeroed by input step ``i``'s mask (Keras's own quirk; its while loop, ``unroll=False``,
    zeroes each step by its own mask). ``unrolled_zero_mask`` is that input-order mask where ``ctx.mask`` is not it
    (the later cells of a stacked RNN walk the first one's walked sequence)."""
    shape = ctx.shape()
    if len(shape) != 3:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-3 input")
    cell = _Cell(ctx, kind, config, arrays, prefix)
    if shape[1] is None:
        from .recurrent_loop import run_looped

        if config.get("unroll") and zero_output_for_mask and ctx.mask is not None and config.get("return_sequences"):
            # Keras unrolls over its own known steps (tf_keras time_major: the Input's fixed batch axis), zeroing
            # the stacked outputs as above; the while loop over a run-time length does not (review R1, session 21)
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): unroll=True with zero_output_for_mask and a "
                              "mask over a length the lowering reads only at run time")

        return run_looped(ctx, cell, prefix, backwards, zero_output_for_mask, initial,
                          bool(config.get("return_sequences")))
    steps = int(shape[1])
    if steps < 1:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) over zero time steps")
    unrolled_zeroing = bool(config.get("unroll")) and zero_output_for_mask and ctx.mask is not None and \
        bool(config.get("return_sequences"))
    if unrolled_zeroing:  # the outputs repeat the previous one while walking, zeroed once stacked (below)
        zero_output_for_mask = False
    projected = cell.project(ctx.x, steps)
    h, c = (initial[0], initial[1] if kind == "LSTM" else None) if initial else (None, None)
    previous = None  # the previous output, which a masked step repeats (zeros before any step)
    sequence = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        xs = [ctx.op("StridedSlice", [p, ctx.ints([0, t, 0], f"{prefix}begin_{t}"),
                                      ctx.ints([0, t + 1, 0], f"{prefix}end_{t}"), ctx.ints([1, 1, 1], f"{prefix}stride")],
                     {"Index": DType.INT32, "begin_mask": 5, "end_mask": 5, "ellipsis_mask": 0, "new_axis_mask": 0,
                      "shrink_axis_mask": 2}, shape=(None, cell.units), label=f"{prefix}step_{t}")
              for p in projected]
        if ctx.mask is None:
            h, c = cell.step(xs, h, c)
            sequence.append(h)
            continue
        new_h, new_c = cell.step(xs, h, c)
        keep = _step_mask(ctx, prefix, t)
        output = None
        if zero_output_for_mask or (initial and previous is not h):  # else the previous output is the state h
            output = _select(ctx, keep, new_h, None if zero_output_for_mask else previous, f"{prefix}output_{t}")
        h = _select(ctx, keep, new_h, h, f"{prefix}h_{t}")
        c = None if new_c is None else _select(ctx, keep, new_c, c, f"{prefix}c_{t}")
        previous = output if output is not None else h
        sequence.append(previous)
    states = [h] if c is None else [h, c]
    if config.get("return_sequences"):
        out = ctx.op("Pack", sequence, {"N": steps, "axis": 1}, shape=(None, steps, cell.units),
                     label=f"{prefix}sequence")
        if unrolled_zeroing:
            mask = unrolled_zero_mask if unrolled_zero_mask is not None else ctx.mask
            keep = ctx.expand_dims(mask, 2, f"{prefix}unrolled_zero_mask")
            out = _select(ctx, keep, out, None, f"{prefix}unrolled_zeroed")
        return out, states
    return sequence[-1], states


def _step_mask(ctx: LayerContext, prefix: str, t: int) -> Value:
    """Step ``t`` of the ``[batch, steps]`` mask, as ``[batch, 1]``."""
    mask = ctx.mask
    return ctx.op("StridedSlice", [mask, ctx.ints([0, t], f"{prefix}mask_begin_{t}"),
                                   ctx.ints([0, t + 1], f"{prefix}mask_end_{t}"), ctx.ints([1, 1], f"{prefix}mask_stride")],
                  {"Index": DType.INT32, "begin_mask": 1, "end_mask": 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=DType.BOOL, shape=(None, 1), label=f"{prefix}mask_{t}")


def _select(ctx: LayerContext, keep: Value, new: Value, old: Value | None, label: str) -> Value:
    """``where(keep, new, old)``; ``old`` None is zeros (the first step's state, or a zeroed output)."""
    if old is None:
        old = ctx.op("ZerosLike", [new], shape=new.shape, label=f"{label}_zeros")
    return ctx.op("SelectV2", [keep, new, old], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=new.shape,
                  label=label)


def state_count(kind: str) -> int:
    """How many states a layer (or cell) of ``kind`` carries: ``h, c`` for an LSTM, ``h`` otherwise."""
    return 2 if kind == "LSTM" else 1


def _given_states(ctx: LayerContext) -> list[Value] | None:
    """The call's ``initial_state`` Values as given (tf_keras: inputs after the sequence; Keras 3: the keyword), or
    None when there are none; given both ways is refused."""
    given = ctx.call_kwargs.get(STATE_KEYWORD)
    if given is not None and len(ctx.inputs) > 1:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with initial_state twice")
    if given is None and len(ctx.inputs) == 1:
        return None
    return list(ctx.inputs[1:]) if given is None else _state_values(ctx, given)


def initial_states(ctx: LayerContext, units: list[int]) -> list[Value] | None:
    """The call's ``initial_state`` as Values of shape ``[batch or 1, units[i]]``, or None (start from zeros).

    tf_keras lists the state tensors as more inputs after the sequence; Keras 3 keeps them in the
    ``initial_state`` keyword, as tensors or as a saved ``__numpy__`` constant (made a Const). Anything else,
    or states that do not fit the layer's (their count, rank, width), is refused by name: never dropped."""
    states = _given_states(ctx)
    if states is None:
        return None
    if len(states) != len(units):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {len(states)} initial_state "
                          f"tensor(s); it has {len(units)} states")
    for i, (state, width) in enumerate(zip(states, units)):
        shape = state.shape
        if state.dtype != DType.FLOAT32 or shape is None or len(shape) != 2 or shape[1] != width:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with an initial_state of shape "
                              f"{None if shape is None else list(shape)} ({state.dtype.name.lower()}) for a state "
                              f"[batch, {width}]")
    return states


def _state_values(ctx: LayerContext, given: Any) -> list[Value]:
    """Keras 3's keyword value: Values (the walk resolved the tensors), or ``__numpy__`` constants, nested."""
    items, stack = [], [given]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack += reversed(item)
        elif isinstance(item, Value):
            items.append(item)
        elif isinstance(item, dict) and item.get("class_name") == "__numpy__":
            config = item.get("config") or {}
            try:
                array = np.asarray(config.get("value"), dtype=np.dtype(config.get("dtype") or "float32"))
            except (TypeError, ValueError):
                raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with an unreadable initial_state")
            if array.dtype.kind != "f":
                raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with a {array.dtype} initial_state")
            items.append(ctx.floats(array, f"initial_state_{len(items)}"))
        else:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with initial_state={str(item)[:40]}")
    return items


def sequence_context(ctx: LayerContext, initial: list[Value] | None) -> LayerContext:
    """The call with its sequence as the only input (tf_keras's state inputs taken out) and the mask it runs with.

    Keras 3 fills in a call's ``mask`` only when the call has one tensor argument: with ``initial_state`` (tensors
    or constants) the RNN runs unmasked unless given ``mask=`` (then recorded), though its output still carries
    the sequence's mask (the walk sets that). tf_keras passes the sequence's mask on (``mask[0]``)."""
    mask = None if ctx.keras3 and initial is not None and not ctx.mask_recorded else ctx.mask
    if len(ctx.inputs) == 1 and mask is ctx.mask:
        return ctx
    out = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config, ctx.inputs[:1], ctx.weights, ctx.source,
                       keras3=ctx.keras3, weight_consts=ctx.weight_consts)
    out.mask = mask
    return out


def _layer_check(config: dict[str, Any]) -> str | None:
    """An RNN layer's own gaps: :func:`rnn_check`'s but tf_keras's ``time_major``, which the layer lowers (a
    Bidirectional over such a layer, which reverses its time axis 0, stays refused through ``rnn_check``)."""
    return rnn_check({key: value for key, value in config.items() if key != "time_major"})


def batch_major(ctx: LayerContext) -> LayerContext:
    """tf_keras's ``time_major=True`` call as a batch-major one: its ``[T, batch, features]`` input transposed, and
    its mask, which tf_keras's ``rnn`` reads as ``[T, batch]`` there (a Masking before it computes just that)."""
    out = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config, [ctx.transpose(ctx.x, [1, 0, 2],
                       "batch_major")], ctx.weights, ctx.source, keras3=ctx.keras3, weight_consts=ctx.weight_consts)
    if ctx.mask is not None:
        if len(ctx.shape(ctx.mask)) != 2:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) with time_major=True: a mask of shape "
                              f"{list(ctx.shape(ctx.mask))}")
        out.mask = ctx.transpose(ctx.mask, [1, 0], "batch_major_mask")
    return out


@lowers("SimpleRNN", "LSTM", "GRU", check=_layer_check, keywords=(STATE_KEYWORD,))
def recurrent(ctx: LayerContext) -> Value | list[Value]:
    """The layer walked over its steps; tf_keras's ``time_major`` runs it on the transposed input and transposes its
    sequence back (its states are ``[batch, units]`` either way)."""
    kind = ctx.class_name
    initial = initial_states(ctx, [int(ctx.config["units"])] * state_count(kind))
    seq_ctx = sequence_context(ctx, initial)
    time_major = bool(ctx.config.get("time_major"))
    if time_major:
        seq_ctx = batch_major(seq_ctx)
    output, states = _run(seq_ctx, kind, ctx.config, ctx.weights, "",
                          bool(ctx.config.get("go_backwards")), bool(ctx.config.get("zero_output_for_mask")),
                          initial)
    if time_major and ctx.config.get("return_sequences"):
        output = ctx.transpose(output, [1, 0, 2], "time_major_sequence")
    return [output, *states] if ctx.config.get("return_state") else output


@lowers("Bidirectional", check=_bidirectional_check, keywords=(STATE_KEYWORD,))
def bidirectional(ctx: LayerContext) -> Value | list[Value]:
    """The forward layer and the backward one (saved, or a copy with ``go_backwards`` flipped), whose sequence
    is reversed back, merged. Either is an RNN layer or an ``RNN(cell)`` over built-in cells (stacked or not). An
    ``initial_state`` is split as Keras splits it: the first half starts the forward layer, the second the backward
    one."""
    inner = ctx.config["layer"]
    kind, config = inner["class_name"], dict(inner.get("config") or {})
    saved = ctx.config.get("backward_layer")
    b_kind, b_config = (saved["class_name"], dict(saved.get("config") or {})) if saved else \
        (kind, {**config, "go_backwards": not config.get("go_backwards")})
    half = _forward_weight_count(ctx, (kind, config), (b_kind, b_config))
    for option in ("return_sequences", "return_state"):
        if bool(config.get(option)) != bool(b_config.get(option)):
            raise ctx.error(f"has forward and backward layers that differ in {option}")
    if bool(config.get("go_backwards")) == bool(b_config.get("go_backwards")):  # Keras refuses to build it
        raise ctx.error("has forward and backward layers that walk the same way (go_backwards)")
    zero = bool(config.get("return_sequences"))  # Keras forces zero_output_for_mask = return_sequences
    if kind in CONV_LSTMS or b_kind in CONV_LSTMS:
        return _bidirectional_conv_lstm(ctx, (kind, config), (b_kind, b_config), zero, half)
    f_units, b_units = _state_units(kind, config), _state_units(b_kind, b_config)
    initial = initial_states(ctx, f_units + b_units)
    if initial and len(f_units) != len(b_units):  # Keras splits the states in halves
        raise Unsupported(f"layer {ctx.name!r} (Bidirectional) called with initial_state for a {kind} and a {b_kind} "
                          f"of {len(f_units)} and {len(b_units)} states")
    f_initial, b_initial = (initial[:len(f_units)], initial[len(f_units):]) if initial else (None, None)
    seq_ctx = sequence_context(ctx, initial)
    forward, f_states = _run_layer(seq_ctx, kind, config, ctx.weights[:half], "forward/", zero, f_initial)
    backward, b_states = _run_layer(seq_ctx, b_kind, b_config, ctx.weights[half:], "backward/", zero, b_initial)
    if config.get("return_sequences"):
        backward = ctx.op("ReverseV2", [backward, ctx.ints([1], "time_axis")], {"Tidx": DType.INT32},
                          shape=backward.shape, label="backward/reversed")
    return _merged(ctx, forward, backward, f_states + b_states if config.get("return_state") else None)


def _bidirectional_conv_lstm(ctx: LayerContext, forward_layer: tuple[str, dict[str, Any]],
                             backward_layer: tuple[str, dict[str, Any]], zero: bool,
                             half: int) -> Value | list[Value]:
    """Bidirectional over ConvLSTM1D/2D/3D: each direction as :func:`.conv_lstm.run_conv_lstm` runs it, the backward
    layer's sequence packed reversed as Keras flips it, whichever way that layer walks (no rank-5 ``ReverseV2``),
    merged as the RNN layers' directions."""
    from .conv_lstm import run_conv_lstm

    if forward_layer[0] != backward_layer[0]:
        raise Unsupported(f"layer {ctx.name!r} (Bidirectional) over a {forward_layer[0]} and a {backward_layer[0]}")
    initial = _conv_initial_states(ctx)
    seq_ctx = sequence_context(ctx, initial)
    forward, f_states = run_conv_lstm(seq_ctx, *forward_layer, ctx.weights[:half], "forward/",
                                      bool(forward_layer[1].get("go_backwards")), zero_output_for_mask=zero,
                                      flipped=False, initial=initial[:2] if initial else None)
    backward, b_states = run_conv_lstm(seq_ctx, *backward_layer, ctx.weights[half:], "backward/",
                                       bool(backward_layer[1].get("go_backwards")), zero_output_for_mask=zero,
                                       flipped=True, initial=initial[2:] if initial else None)
    return _merged(ctx, forward, backward, f_states + b_states if forward_layer[1].get("return_state") else None)


def _conv_initial_states(ctx: LayerContext) -> list[Value] | None:
    """A Bidirectional ConvLSTM's ``initial_state`` (tf_keras's inputs after the sequence, Keras 3's keyword): four
    tensors, ``h, c`` of the forward layer then of the backward one, as Keras splits them in halves; each is checked
    against its layer's state by :func:`.conv_lstm.run_conv_lstm`."""
    states = _given_states(ctx)
    if states is None:
        return None
    if len(states) != 4:
        raise Unsupported(f"layer {ctx.name!r} (Bidirectional) called with {len(states)} initial_state tensor(s); "
                          "its ConvLSTMs have 4 states")
    return states


def _forward_weight_count(ctx: LayerContext, forward: tuple[str, dict[str, Any]],
                          backward: tuple[str, dict[str, Any]]) -> int:
    """How many of the Bidirectional's weights (forward's, then backward's) are the forward layer's: each layer
    needs its own count (a ``backward_layer=`` may differ, e.g. in ``use_bias``); halves when the counts agree
    (one cell object listed twice is saved once per direction)."""
    f, b, n = _weight_count(*forward), _weight_count(*backward), len(ctx.weights)
    if f + b == n:
        return f
    if f == b and n % 2 == 0:
        return n // 2
    raise ctx.error(f"has {n} weights, but its forward {forward[0]} needs {f} and its backward {backward[0]} {b}")


def _weight_count(kind: str, config: dict[str, Any]) -> int:
    """The weights one direction saves: kernel, recurrent kernel and bias (with ``use_bias``), per cell for RNN."""
    if kind == "RNN":
        from .rnn_cells import weight_counts

        return sum(weight_counts(config))
    return 2 + bool(config.get("use_bias", True))


def _merged(ctx: LayerContext, forward: Value, backward: Value, states: list[Value] | None) -> Value | list[Value]:
    """The directions' outputs merged by ``merge_mode`` (None: both), then the states when it returns them."""
    mode = ctx.config.get("merge_mode", "concat")
    if mode is None:
        outputs = [forward, backward]
    elif mode == "concat":
        # a backward_layer= may have other units (Keras's own static shape then says twice the forward's)
        shape, width = ctx.shape(forward), ctx.shape(backward)[-1]
        outputs = [ctx.op("ConcatV2", [forward, backward, ctx.ints(-1, "concat_axis")], {"N": 2, "Tidx": DType.INT32},
                          shape=(*shape[:-1], None if None in (shape[-1], width) else shape[-1] + width),
                          label="merged")]
    else:
        merged = ctx.binary("Mul" if mode == "mul" else "AddV2", forward, backward, label="merged")
        outputs = [ctx.scalar_op("Mul", merged, 0.5, "average") if mode == "ave" else merged]
    return [*outputs, *states] if states is not None else (outputs[0] if len(outputs) == 1 else outputs)


def _state_units(kind: str, config: dict[str, Any]) -> list[int]:
    """The width of each state of one direction of a Bidirectional: an RNN layer's, or an ``RNN(cell)``'s (flat)."""
    if kind == "RNN":
        from .rnn_cells import state_units

        return state_units(config)
    return [int(config["units"])] * state_count(kind)


def _run_layer(ctx: LayerContext, kind: str, config: dict[str, Any], weights: list[Any], prefix: str, zero: bool,
               initial: list[Value] | None) -> tuple[Value, list[Value]]:
    """One direction of a Bidirectional: its output and its final states (flat)."""
    backwards = bool(config.get("go_backwards"))
    if kind == "RNN":
        from .rnn_cells import run_cells

        return run_cells(ctx, config, list(weights), prefix, backwards, zero, initial)
    return _run(ctx, kind, config, weights, prefix, backwards, zero, initial)
