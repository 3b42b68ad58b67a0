"""``RNN(cell)`` with a SimpleRNNCell, LSTMCell or GRUCell, or a StackedRNNCells of them, unrolled.

Each cell computes what the matching layer (SimpleRNN, LSTM, GRU) computes, so the lowering runs the
unrolled layer lowering of :mod:`.recurrent` per cell. Stacked cells feed each step's output to the next
cell; unrolled over a static length that is the same as stacking the layers with whole sequences in
between: the first cell walks backwards when the RNN does (its sequence comes out in walked order), the
others walk that sequence forwards. The final states are every cell's, in order. The check still
leaves stacked cells to TensorFlow: Keras 3 archives keep their weights under ``cell/cells/<cell name>``,
which the weight readers (``weights.py``, ``v3_weights.py``) do not map yet; a stacked LSTMCell's
``[h, c]`` state is also a nested output the walk would have to map for ``return_state``.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.ir import Value

from .context import LayerContext
from .recurrent import _run, rnn_check
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


def _rnn_cell_check(config: dict[str, Any]) -> str | None:
    cells = _cells(config)
    if isinstance(cells, str):
        return cells
    if len(cells) > 1:  # Keras 3 keeps them under cell/cells/<cell name>, which the weight readers do not map yet
        return "stacked cells (StackedRNNCells)"
    for options in (config, *(c.get("config") or {} for c in cells)):
        gap = rnn_check(options)
        if gap:
            return gap
    return None


@lowers("RNN", check=_rnn_cell_check)
def rnn_layer(ctx: LayerContext) -> Value | list[Value]:
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
            step_ctx = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config, [output], [], ctx.source,
                                    keras3=ctx.keras3, weight_consts=ctx.weight_consts)
        prefix = f"cell_{i}/" if len(cells) > 1 else ""
        backwards = bool(ctx.config.get("go_backwards")) and i == 0
        output, cell_states = _run(step_ctx, CELL_LAYERS[cell["class_name"]], config, weights[:count], prefix,
                                   backwards)
        weights = weights[count:]
        states += cell_states
    return [output, *states] if ctx.config.get("return_state") else output
