"""Mask readers (RNNs, Softmax) that TF.js 4.22 masks with another mask than Keras gives them (silently wrong, or
failing at predict).

TF.js 4.22's ``execute`` (the layers model's call) keeps one ``kwargs`` object for the whole walk: when a layer's
input carries a mask it sets ``kwargs.mask`` to it, and every later layer gets that mask, whether Keras hands it one
or not. A nested model's call passes the same ``kwargs`` into its own walk, so every layer inside gets the outer mask.
Keras instead carries a mask only through the layers that hand it on: ``Reshape``, ``Conv1D``, pooling, ``Permute``,
``Flatten``, ``RepeatVector`` drop it (no ``supports_masking``).

Measured with tf_keras and Keras 3 files in TF.js 4.22 (cpu and wasm), session 33 (h4b): ``Masking -> Conv1D ->
LSTM``, ``Masking -> Reshape -> Sequential[LSTM]`` and ``Masking -> Sequential[X, LSTM]`` for X in Reshape (same and
fewer steps), Conv1D, MaxPooling1D, Permute, Flatten + RepeatVector were all off (up to 0.17; fewer steps can also
fail to broadcast), ``Sequential[Dense, LSTM]`` and ``TimeDistributed(Dense) -> LSTM`` matched. Earlier:
``y -> Masking -> LSTM`` beside
``x -> GRU`` (another input, never masked in Keras) gave a GRU output off. So in a model where TF.js may hand a mask
(one made in it or in a model around it), an RNN is kept only when Keras surely gives it that mask: its input comes
from the mask's maker through layers that keep the mask unchanged (``mask_flow._KEEPS_MASK``, RNNs that return
sequences, nested models that keep it). Every other RNN is refused (the graph model's lowering masks exactly).

Session 33 (h4c): in tf-layers 4.22 only the RNN classes (``RNN``, ``SimpleRNN``, ``GRU``, ``LSTM``, ``ConvRNN2D``;
Bidirectional calls them with its ``kwargs``) and ``Softmax`` read ``kwargs.mask``; ``TimeDistributed`` hands its
``kwargs`` to the wrapped layer's call. A Softmax after Flatten, Reshape, an LSTM's last output or Dot, in a nested
model, on another input's branch, or wrapped in TimeDistributed, took the sticky mask: 0.09 to 0.94 off (tf_keras and
Keras 3) or a failed broadcast. They follow the RNNs' rule.
"""
from __future__ import annotations

from typing import Any

from .configs import child_name, entry_name, is_model, iter_layers, top_level_layers
from .mask_flow import _KEEPS_MASK, _RECURRENT, _keeps_mask, _makes_mask, _passes_mask
from .model_graph import _layer_refs, _node_refs

#: Layers whose TF.js 4.22 ``call`` reads ``kwargs.mask`` (grep of tf-layers.node.js: the RNN classes and Softmax).
_TFJS_MASK_READERS = _RECURRENT | {"Softmax"}
#: The source name of a Sequential's first layer: the nested model's input.
_SEQUENTIAL_INPUT = "<input>"


def leaked_mask_problems(model_config: dict[str, Any]) -> list[str]:
    """``"layer 'x' (Class): ..."`` for every mask reader (RNN, Softmax, TimeDistributed over one) TF.js masks with
    another mask than the one Keras gives it."""
    problems: list[str] = []
    outer_masked: set[int] = set()  # nested models TF.js may hand a mask into
    input_kept: set[int] = set()  # nested models whose input surely carries that mask in Keras too
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        layers = top_level_layers(layer.entry)
        if not (any(_makes_mask(e) for e in layers) or id(layer.entry) in outer_masked):
            continue
        kept = _kept_layers(layer.entry, id(layer.entry) in input_kept)
        for entry, sources in _sources(layer.entry):
            surely_kept = bool(sources) and all(source in kept for source in sources)
            if is_model(entry):
                outer_masked.add(id(entry))
                if surely_kept:
                    input_kept.add(id(entry))
            elif _reads_tfjs_mask(entry) and not surely_kept:
                what = "runs on an unmasked sequence" if entry.get("class_name") in _RECURRENT else \
                    "reads a mask Keras does not give it"
                problems.append(f"layer {child_name(model_config, layer, entry)!r} ({entry.get('class_name')}): "
                                f"{what} in a model with a Masking/Embedding mask, which TF.js "
                                "4.22 applies to it (or on a mask a layer before it drops or changes: TF.js hands the "
                                "last mask it met to every later layer, into nested models too)")
    return list(dict.fromkeys(problems))


def _reads_tfjs_mask(entry: dict[str, Any]) -> bool:
    """Whether TF.js 4.22's call of ``entry`` reads ``kwargs.mask``: its RNNs (Bidirectional's halves), Softmax (adds
    ``(1 - mask)·-1e9``), and TimeDistributed, which hands its ``kwargs`` to the wrapped layer's call (a wrapped model's
    walk too), when a reader is wrapped."""
    if entry.get("class_name") == "TimeDistributed":
        return any(inner.entry.get("class_name") in _TFJS_MASK_READERS for inner in iter_layers(entry))
    return entry.get("class_name") in _TFJS_MASK_READERS


def _sources(model: dict[str, Any]) -> list[tuple[dict[str, Any], list[str | None]]]:
    """Each layer of ``model`` with the names of the layers its calls read first (Sequential: the one before)."""
    layers = top_level_layers(model)
    if not any("inbound_nodes" in e for e in layers):
        return [(entry, [entry_name(layers[i - 1]) if i else _SEQUENTIAL_INPUT]) for i, entry in enumerate(layers)]
    return [(entry, [refs[0][0] if refs else None for refs in map(_node_refs, entry.get("inbound_nodes") or [])])
            for entry in layers]


def _hands_mask_on(entry: dict[str, Any]) -> bool:
    """Whether Keras's and TF.js's outputs of ``entry`` carry its input's mask unchanged (or one it makes). Not a merge
    layer: TF.js 4.22's ``Merge.computeMask`` returns the first mask expanded to ``[1, batch, steps]``, which an RNN
    after it fails to broadcast (measured: ``Add`` of two masked Dense -> GRU crashes on cpu and wasm)."""
    cls = entry.get("class_name")
    inner = (entry.get("config") or {}).get("layer")
    return _makes_mask(entry) or cls in _KEEPS_MASK or cls in _RECURRENT and _passes_mask(entry) or \
        is_model(entry) and _keeps_mask(entry) or \
        cls == "TimeDistributed" and isinstance(inner, dict) and inner.get("class_name") in _KEEPS_MASK


def _kept_layers(model: dict[str, Any], input_kept: bool) -> set[str | None]:
    """Names of the layers of ``model`` whose outputs surely carry, in Keras, the mask TF.js hands on: made by a
    Masking/Embedding in it, or (``input_kept``) the model's input mask, through layers that keep it."""
    kept: set[str | None] = {_SEQUENTIAL_INPUT} if input_kept else set()
    if input_kept:
        kept |= {ref[0] for ref in _layer_refs((model.get("config") or {}).get("input_layers")) or []}
    for entry, sources in _sources(model):  # a model's layers are listed after the layers they read
        if _makes_mask(entry) and not is_model(entry) or \
                _hands_mask_on(entry) and sources and all(source in kept for source in sources):
            kept.add(entry_name(entry))
    return kept
