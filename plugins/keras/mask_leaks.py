"""RNNs a Keras mask does not reach, in a model that makes one: TF.js 4.22 masks them anyway (silently wrong).

Measured with tf_keras files in TF.js 4.22 (cpu and wasm): ``y -> Masking -> LSTM`` beside ``x -> GRU`` (another
input, never masked in Keras) gave a GRU output off in every value whenever ``y`` had masked steps (after an
``Embedding(mask_zero=True)``: the masked rows off); with no ``Masking`` in the model the same GRU matched. The RNNs the mask does reach matched. So a layers model that makes
a mask is refused when one of its RNNs runs unmasked in Keras (the graph model's lowering masks exactly).
"""
from __future__ import annotations

from typing import Any

from .configs import child_name, entry_name, is_model, iter_layers, top_level_layers
from .mask_flow import _RECURRENT, _makes_mask, masked_layers
from .model_graph import _node_refs


def leaked_mask_problems(model_config: dict[str, Any]) -> list[str]:
    """``"layer 'x' (Class): ..."`` for every RNN called on an unmasked sequence in a model that makes a mask."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        layers = top_level_layers(layer.entry)
        if not any(_makes_mask(e) for e in layers):
            continue
        masked = masked_layers(layer.entry)
        sequential = not any("inbound_nodes" in e for e in layers)
        for i, entry in enumerate(layers):
            if entry.get("class_name") not in _RECURRENT:
                continue
            sources = [entry_name(layers[i - 1])] if sequential and i else [] if sequential else \
                [refs[0][0] if refs else None for refs in map(_node_refs, entry.get("inbound_nodes") or [])]
            if any(source not in masked for source in sources) or not sources:
                problems.append(f"layer {child_name(model_config, layer, entry)!r} ({entry.get('class_name')}): "
                                "runs on an unmasked "
                                "sequence in a model with a Masking/Embedding mask, which TF.js 4.22 applies to it")
    return list(dict.fromkeys(problems))
