"""``RNN(cell)`` with a SimpleRNNCell, LSTMCell or GRUCell, or a StackedRNNCells of them, unrolled.

Each cell computes what the matching layer (SimpleRNN, LSTM, GRU) computes, so the lowering runs the
unrolled layer lowering of :mod:`.recurrent` per cell. Stacked cells feed each step's output to the next
cell; unrolled over a static length that is the same as stacking the layers with whole sequences in
between: the first cell walks backwards when the RNN does (its sequence comes out in walked order), the
others walk that sequence forwards. The final states are every cell's, in order, flat (``h, c`` for an
LSTMCell), as Keras numbers a stacked RNN's nested ``return_state`` outputs. Keras 3 archives keep stacked
weights under ``cell/cells/<cell key>``, which :func:`.weights._stacked_cell_vars` reads in the cells' order.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.ir import Value

from .context import LayerContext
from .recurrent import _run, refuse_initial_state, rnn_check
from .registry import Unsupported, lowers

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


def _rnn_cell_check(config: dict[str, Any]) -> str | None:
    cells = _cells(config)
    if isinstance(cells, str):
        return cells
    names = [(c.get("config") or {}).get("name") for c in cells]
    twice = sorted({n for n in names if names.count(n) > 1}, key=str)
    if twice:  # one cell object listed twice: its weights are saved once
        return f"the cell {twice[0]!r} twice in one stack"
    for options in (config, *(c.get("config") or {} for c in cells)):
        gap = rnn_check(options)
        if gap:
            return gap
    return None


@lowers("RNN", check=_rnn_cell_check)
def rnn_layer(ctx: LayerContext) -> Value | list[Value]:
    refuse_initial_state(ctx)
    cells = _cells(ctx.config)
    assert not isinstance(cells, str)  # the check has refused the rest
    weights = list(ctx.weights)
    counts = [2 + bool((c.get("config") or {}).get("use_bias", True)) for c in cells]
    if len(weights) != sum(counts):
        raise ctx.error(f"has {len(weights)} weights, but its cells need {sum(counts)}")
    return_sequences = bool(ctx.config.get("return_sequences"))
    step_ctx, output, states = ctx, ctx.x, []
    for i, (cell, count) in enumerate(zip(cells, counts)):
        last = i == len(cells) - 1
        config = {**(cell.get("config") or {}), "return_sequences": return_sequences if last else True}
        if i:
            if ctx.mask is not None and ctx.config.get("go_backwards"):  # later cells would need the mask reversed
                raise Unsupported(f"layer {ctx.name!r} (RNN): stacked cells with go_backwards over a masked input")
            step_ctx = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config, [output], [], ctx.source,
                                    keras3=ctx.keras3, weight_consts=ctx.weight_consts)
            step_ctx.mask = ctx.mask
        prefix = f"cell_{i}/" if len(cells) > 1 else ""
        backwards = bool(ctx.config.get("go_backwards")) and i == 0
        output, cell_states = _run(step_ctx, CELL_LAYERS[cell["class_name"]], config, weights[:count], prefix,
                                   backwards)
        weights = weights[count:]
        states += cell_states
    return [output, *states] if ctx.config.get("return_state") else output
