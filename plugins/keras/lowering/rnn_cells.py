"""``RNN(cell)`` with a SimpleRNNCell, LSTMCell or GRUCell, or a StackedRNNCells of them, unrolled (or looped).

Each cell computes what the matching layer (SimpleRNN, LSTM, GRU) computes, so the lowering runs the
unrolled layer lowering of :mod:`.recurrent` per cell. Stacked cells feed each step's output to the next
cell; unrolled over a static length (or looped over one known at run time) that is the same as stacking the
layers with whole sequences in between: the first cell walks backwards when the RNN does (its sequence comes
out in walked order), the others walk that sequence forwards. The final states are every cell's, in order,
flat (``h, c`` for an LSTMCell), as Keras numbers a stacked RNN's nested ``return_state`` outputs; an
``initial_state`` is read in that flat order too (tf_keras's nested ``[[h, c], h]`` inputs are flattened by
the walk), each cell's part starting that cell. Keras 3 archives keep stacked weights under
``cell/cells/<cell key>``, which :func:`.weights._stacked_cell_vars` reads in the cells' order.
One cell object listed twice (``RNN([cell, cell])``) is saved once; each of its positions runs those weights.
Bidirectional runs each of its directions through :func:`run_cells` (Keras 3 rebuilds both from the config, so
there the two positions are distinct cells of one name, each saved).
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import STATE_KEYWORD, LayerContext
from .recurrent import _run, batch_major, initial_states, rnn_check, sequence_context, state_count
from .registry import lowers

#: The layer whose unrolled lowering computes each cell.
CELL_LAYERS = {"SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}


def _cells(config: dict[str, Any]) -> list[dict[str, Any]] | str:
    """The cell configs (``class_name``, ``config``) of an RNN layer, or why they cannot be lowered."""
    cell = config.get("cell") or {}
    if isinstance(cell, list):
        cells = cell
    elif cell.get("class_name") == "StackedRNNCells":
        cells = (cell.get("config") or {}).get("cells") or []
    else:
        cells = [cell]
    for c in cells:
        if not isinstance(c, dict) or c.get("class_name") not in CELL_LAYERS:
            return f"a {c.get('class_name') if isinstance(c, dict) else type(c).__name__} cell"
    return cells or "no cell"


def rnn_cell_check(config: dict[str, Any]) -> str | None:
    cells = _cells(config)
    if isinstance(cells, str):
        return cells
    for options in (config, *(c.get("config") or {} for c in cells)):
        gap = rnn_check(options)
        if gap:
            return gap
    return None


def _layer_check(config: dict[str, Any]) -> str | None:
    """:func:`rnn_cell_check` but the layer's tf_keras ``time_major``, which :func:`rnn_layer` lowers (a Bidirectional
    over such a layer stays refused through :func:`rnn_cell_check`)."""
    return rnn_cell_check({key: value for key, value in config.items() if key != "time_major"})


@lowers("RNN", check=_layer_check, keywords=(STATE_KEYWORD,))
def rnn_layer(ctx: LayerContext) -> Value | list[Value]:
    """The cells walked over the sequence; tf_keras's ``time_major`` runs on the transposed input and transposes the
    sequence back, as the RNN layers do (:func:`.recurrent.recurrent`)."""
    initial = initial_states(ctx, state_units(ctx.config))
    seq_ctx = sequence_context(ctx, initial)
    time_major = bool(ctx.config.get("time_major"))
    if time_major:
        seq_ctx = batch_major(seq_ctx)
    output, states = run_cells(seq_ctx, ctx.config, list(ctx.weights), "",
                               bool(ctx.config.get("go_backwards")), bool(ctx.config.get("zero_output_for_mask")),
                               initial)
    if time_major and ctx.config.get("return_sequences"):
        output = ctx.transpose(output, [1, 0, 2], "time_major_sequence")
    return [output, *states] if ctx.config.get("return_state") else output


def state_units(config: dict[str, Any]) -> list[int]:
    """The width of each state of an ``RNN(cell)`` layer, flat in Keras's order (``h, c`` for an LSTMCell)."""
    cells = _cells(config)
    assert not isinstance(cells, str)  # the check has refused the rest
    return [int((c.get("config") or {})["units"]) for c in cells
            for _ in range(state_count(CELL_LAYERS[c["class_name"]]))]


def weight_counts(config: dict[str, Any]) -> list[int]:
    """How many weights each cell of an ``RNN(cell)`` layer has: kernel, recurrent kernel, and bias with use_bias."""
    cells = _cells(config)
    assert not isinstance(cells, str)  # the check has refused the rest
    return [2 + bool((c.get("config") or {}).get("use_bias", True)) for c in cells]


def run_cells(ctx: LayerContext, config: dict[str, Any], weights: list[Any], prefix: str, backwards: bool,
              zero_output_for_mask: bool, initial: list[Value] | None) -> tuple[Value, list[Value]]:
    """An ``RNN(cell)`` layer of ``config`` over ``ctx``'s sequence (and mask): its output and flat final states.
    ``prefix`` names its nodes (Bidirectional runs two); ``zero_output_for_mask`` zeroes the RNN's masked outputs."""
    cells = _cells(config)
    assert not isinstance(cells, str)  # the check has refused the rest
    counts = weight_counts(config)
    cell_weights = _weights_by_cell(ctx, cells, counts, weights)
    return_sequences = bool(config.get("return_sequences"))
    kinds = [CELL_LAYERS[c["class_name"]] for c in cells]
    step_ctx, output, states = ctx, ctx.x, []
    # later cells walk the first one's sequence, which comes out in walked order: so must their mask
    later_mask = _reversed_mask(ctx, ctx.mask, prefix) if ctx.mask is not None and len(cells) > 1 and backwards \
        else ctx.mask
    for i, cell in enumerate(cells):
        last = i == len(cells) - 1
        cell_config = {**(cell.get("config") or {}), "return_sequences": return_sequences if last else True}
        if i:
            step_ctx = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config, [output], [], ctx.source,
                                    keras3=ctx.keras3, weight_consts=ctx.weight_consts)
            step_ctx.mask = later_mask
        cell_prefix = f"{prefix}cell_{i}/" if len(cells) > 1 else prefix
        cell_initial = None
        if initial:
            cell_initial, initial = initial[:state_count(kinds[i])], initial[state_count(kinds[i]):]
        zero_masked = last and zero_output_for_mask  # the RNN's output only
        cell_config["unroll"] = config.get("unroll")  # the RNN's, which zeroes its stacked outputs (see _run)
        output, cell_states = _run(step_ctx, kinds[i], cell_config, cell_weights[i], cell_prefix,
                                   backwards and i == 0, zero_masked, initial=cell_initial,
                                   unrolled_zero_mask=ctx.mask)
        states += cell_states
    return output, states


def _weights_by_cell(ctx: LayerContext, cells: list[dict[str, Any]], counts: list[int],
                     weights: list[Any]) -> list[list[Any]]:
    """Each position's weights. One cell object listed twice (``RNN([cell, cell])``, same name) has its weights
    saved once, at its first position; the later positions reuse them, as Keras runs the same cell again."""
    weights = list(weights)
    names = [(c.get("config") or {}).get("name") for c in cells]
    first = {name: names.index(name) for name in names}
    shared = len(first) < len(cells) and len(weights) != sum(counts)  # else distinct cells of one name
    needed = sum(count for i, count in enumerate(counts) if not shared or first[names[i]] == i)
    if len(weights) != needed:
        raise ctx.error(f"has {len(weights)} weights, but its cells need {needed}")
    by_position: list[list[Any]] = []
    for i, count in enumerate(counts):
        if shared and first[names[i]] != i:
            by_position.append(by_position[first[names[i]]])
            continue
        by_position.append(weights[:count])
        weights = weights[count:]
    return by_position


def _reversed_mask(ctx: LayerContext, mask: Value, prefix: str = "") -> Value:
    """The ``[batch, steps]`` mask in reverse step order (reversed as float32: every backend reverses that)."""
    as_float = ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                      dtype=DType.FLOAT32, shape=mask.shape, label=f"{prefix}walked_mask_float")
    walked = ctx.op("ReverseV2", [as_float, ctx.ints([1], f"{prefix}walked_mask_axis")], {"Tidx": DType.INT32},
                    shape=mask.shape, label=f"{prefix}walked_mask_reversed")
    return ctx.op("NotEqual", [walked, ctx.floats(0.0, f"{prefix}walked_mask_zero")],
                  {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=mask.shape, label=f"{prefix}walked_mask")
