"""RNN calls with ``initial_state`` that a TF.js 4.22 layers model would run differently from Keras.

TF.js's RNN layers take a tf_keras call's state tensors (extra inbound items after the sequence) and match
Keras, except: with a mask, TF.js's masked steps differ from Keras's (a masked step before any unmasked one
outputs zeros in Keras), which is silently wrong; states nested per cell (tf_keras's stacked cells,
``initial_state=[[h, c], g]``) never finish running; and Keras 3's saved constant states (``__numpy__`` in the
call's kwargs) make TF.js fail to load the model. Each is a gap for the layers path (the graph model's
lowering covers them). Keras 3's state tensors as keyword arguments are refused by the translation already.
"""
from __future__ import annotations

import json
from typing import Any

from .configs import child_name, is_model, iter_layers, top_level_layers
from .mask_flow import masked_layers
from .tfjs_support import stacked_cell_list

#: Layers that take ``initial_state``.
RNN_CLASSES = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional"})


def initial_state_problems(model_config: dict[str, Any]) -> list[str]:
    """``"layer 'x' (Class): why"`` for every RNN call with initial states a TF.js layers model runs wrongly."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        rnns = [entry for entry in top_level_layers(layer.entry) if entry.get("class_name") in RNN_CLASSES]
        masked = masked_layers(layer.entry) if rnns else set()  # the mask walk costs; most models have no RNN
        for entry in rnns:
            cls = entry.get("class_name")
            for node in entry.get("inbound_nodes") or []:
                why = _problem(node, masked) or _stacked_problem(entry, node)
                if why:
                    problems.append(f"layer {child_name(model_config, layer, entry)!r} ({cls}): called with "
                                    f"initial_state {why}")
                    break
    return list(dict.fromkeys(problems))


def _stacked_problem(entry: dict[str, Any], node: Any) -> str | None:
    """tf_keras's flat states for stacked cells (``[h1, h2]``): TF.js's StackedRNNCells reads them last cell first
    (measured TF.js 4.22: two SimpleRNNCells 0.8 off, silently)."""
    cells = stacked_cell_list(entry.get("config") or {}) or []
    if len(cells) < 2 or not isinstance(node, list) or len(node) < 2:
        return None
    return f"over {len(cells)} stacked cells, which TF.js reads last cell first (Keras: first cell first)"


def _problem(node: Any, masked: set[str]) -> str | None:
    if isinstance(node, dict):  # Keras 3: tensors are refused by the translation; constants stay in kwargs
        return "constants (Keras 3's __numpy__), which TF.js cannot load" if \
            "__numpy__" in json.dumps((node.get("kwargs") or {}).get("initial_state")) else None
    if not isinstance(node, list) or not node:
        return None
    kwargs = node[0][3] if isinstance(node[0], list) and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    if kwargs.get("initial_state") is not None:
        return "constants in the call, which TF.js cannot load"
    if len(node) < 2:
        return None
    if any(isinstance(item, list) and item and isinstance(item[0], list) for item in node):
        return "nested per cell (stacked cells), which TF.js 4.22 never finishes running"
    first = node[0][0] if isinstance(node[0], list) and node[0] else None
    if first in masked:
        return "on a masked sequence, whose masked steps TF.js computes differently from Keras"
    return None
