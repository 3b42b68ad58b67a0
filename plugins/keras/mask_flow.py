"""Find Keras masks that reach a layer whose TF.js version ignores them (a silently wrong layers model).

Keras carries a mask from ``Masking`` / ``Embedding(mask_zero=True)`` along the layers that follow, and
some layers use it (``GlobalAveragePooling1D`` averages over the unmasked steps only). TF.js 4.22 passes
masks to its RNN layers, but its ``GlobalAveragePooling1D`` ignores them. The walk is conservative: a mask
goes on through every layer except those known to drop it, so an unknown layer never hides a problem.

TF.js 4.22 takes a nested model's output mask to be the mask that went into it (none, or the outer one): right
when every layer inside hands the mask on unchanged, wrong when the nested model makes a mask (its own
``Masking`` / ``Embedding``) or changes one (a ``Conv1D`` inside drops it in Keras). A mask-reading layer after
such a nested model is refused too.

TF.js's TimeDistributed hands its input's mask unfolded (``[batch, steps, ...]``) to the wrapped layer's call, so a
wrapped RNN or GlobalAveragePooling1D over a masked input fails or averages every step (Keras folds the mask per
step), and it makes no mask from a wrapped ``Masking`` (tf_keras does): both are refused where a mask matters.
"""
from __future__ import annotations

from typing import Any

from .configs import child_name, entry_name, is_model, iter_layers, top_level_layers
from .model_graph import _layer_refs, _node_refs
from .op_calls import is_keras_op_entry, is_relu_operation, is_saved_relu_operation
from .tfjs_support import TFJS_LAYER_CLASSES

#: Layers that use the mask in Keras but whose TF.js 4.22 implementation ignores it.
TFJS_IGNORES_MASK = {
    "GlobalAveragePooling1D": "TF.js averages over every time step, Keras over the unmasked ones only",
}
#: Layers after which Keras carries no mask (a sequence reduced to one step, or flattened).
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM2D"})
_DROPS_MASK = frozenset({"GlobalMaxPooling1D", "GlobalAveragePooling1D", "Flatten", *TFJS_IGNORES_MASK})


#: Layers whose Keras call reads the mask it gets.
_READS_MASK = _RECURRENT | set(TFJS_IGNORES_MASK) | {
    "ConvLSTM1D", "ConvLSTM3D", "GlobalAvgPool1D", "Softmax", "TimeDistributed", "Attention", "AdditiveAttention",
    "MultiHeadAttention", "GroupNormalization"}


def _wrapped(entry: dict[str, Any]) -> dict[str, Any]:
    """The layer entry a wrapper (TimeDistributed) wraps, or ``{}``."""
    inner = (entry.get("config") or {}).get("layer")
    return inner if isinstance(inner, dict) else {}


def _makes_mask(entry: dict[str, Any]) -> bool:
    cls, config = entry.get("class_name"), entry.get("config") or {}
    if cls == "Masking" or (cls == "Embedding" and config.get("mask_zero")):
        return True
    return is_model(entry) and any(_makes_mask(child) for child in top_level_layers(entry))


def _passes_mask(entry: dict[str, Any]) -> bool:
    cls, config = entry.get("class_name"), entry.get("config") or {}
    if cls in _DROPS_MASK:
        return False
    if cls in _RECURRENT:
        inner = config.get("layer") if cls == "Bidirectional" else None
        inner_config = (inner or {}).get("config") or {} if isinstance(inner, dict) else config
        return bool(inner_config.get("return_sequences"))
    return True


def _consumers(model: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Layer name -> the layers of ``model`` called on its outputs (Sequential: the next layer)."""
    layers = top_level_layers(model)
    consumers: dict[str, list[dict[str, Any]]] = {}
    if not any("inbound_nodes" in entry for entry in layers):
        for before, after in zip(layers, layers[1:]):
            consumers.setdefault(entry_name(before), []).append(after)
        return consumers
    for entry in layers:
        for node in entry.get("inbound_nodes") or []:
            for ref in _node_refs(node) or []:
                consumers.setdefault(ref[0], []).append(entry)
    return consumers


def ignored_masks(model_config: dict[str, Any], keras3: bool | None = None) -> list[str]:
    """``"layer 'x' (Class): why"`` for every layer that a Keras mask reaches but TF.js ignores it in (or, after
    a nested model that makes it, never gets). ``keras3`` None (flavour unknown): as if tf_keras saved the file."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        for after in _reached(layer.entry):
            cls = after.get("class_name")
            if cls in TFJS_IGNORES_MASK:
                problems.append(f"layer {child_name(model_config, layer, after)!r} ({cls}): receives the mask of a "
                                f"Masking/Embedding layer, which TF.js ignores ({TFJS_IGNORES_MASK[cls]})")
            if cls == "TimeDistributed" and _wrapped(after).get("class_name") in _READS_MASK:
                problems.append(f"layer {child_name(model_config, layer, after)!r} ({cls}): wraps a "
                                f"{_wrapped(after).get('class_name')} that a Masking/Embedding mask reaches, which "
                                "TF.js's TimeDistributed hands on unfolded (Keras gives each step its own mask)")
        for wrapper in top_level_layers(layer.entry):
            if keras3 or wrapper.get("class_name") != "TimeDistributed" or not _makes_mask(_wrapped(wrapper)):
                continue  # Keras 3's TimeDistributed makes no mask from a wrapped Masking, as TF.js's
            readers = [after for after in _reached(layer.entry, [wrapper])
                       if after.get("class_name") in _READS_MASK or is_model(after)]
            if readers:
                problems.append(f"layer {child_name(model_config, layer, readers[0])!r} "
                                f"({readers[0].get('class_name')}): reads the mask tf_keras makes in "
                                f"{child_name(model_config, layer, wrapper)!r} (TimeDistributed over "
                                f"{_wrapped(wrapper).get('class_name')}), which TF.js does not make")
        reached = {id(entry) for entry in _reached(layer.entry)}
        for nested in top_level_layers(layer.entry):
            if not is_model(nested) or not (_output_mask_made_inside(nested) or
                                            id(nested) in reached and not _keeps_mask(nested)):
                continue
            for after in _reached(layer.entry, [nested]):
                cls = after.get("class_name")
                if cls in _RECURRENT or is_model(after):
                    problems.append(f"layer {child_name(model_config, layer, after)!r} ({cls}): reads the mask Keras "
                                    f"computes inside the nested model {child_name(model_config, layer, nested)!r}, "
                                    "where TF.js keeps the mask that went in")
    return list(dict.fromkeys(problems))



def is_keras3_operation(entry: dict[str, Any], keras3: bool | None) -> bool:
    """A Keras 3 operation saved among a model's layers (``keras.ops.add``, ``keras.activations.relu`` on a tensor):
    the layers path writes it as the TF.js layer of its class name."""
    return is_keras_op_entry(entry) or not is_saved_relu_operation(entry) and \
        is_relu_operation(entry.get("class_name"), entry.get("config"), keras3)  # .h5: Keras loads the ReLU layer


def operation_mask_problems(model_config: dict[str, Any], keras3: bool | None) -> list[str]:
    """``"layer 'x' (Class): why"`` for every Keras 3 operation that a mask reaches with a mask reader after it.

    A Keras 3 operation drops its inputs' masks (measured, Keras 3.15: ``LSTM(ops.add(Masking(x), ...))``,
    ``ops.concatenate`` and ``activations.relu`` compute as the unmasked LSTM), while the TF.js layer of the same
    class name hands the mask on, so an RNN (or another reader) after it skips steps Keras reads: silently off."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        for operation in _reached(layer.entry):
            if operation.get("class_name") not in TFJS_LAYER_CLASSES or not is_keras3_operation(operation, keras3):
                continue
            readers = [after for after in _reached(layer.entry, [operation])
                       if after.get("class_name") in _READS_MASK or is_model(after)]
            if readers:
                problems.append(f"layer {child_name(model_config, layer, operation)!r} "
                                f"({operation.get('class_name')}): a Keras 3 operation that a Masking/Embedding "
                                "mask reaches; Keras drops the mask there, TF.js's layer hands it on to "
                                f"{child_name(model_config, layer, readers[0])!r} ({readers[0].get('class_name')})")
    return list(dict.fromkeys(problems))


#: Keras 3 operations the layers path may write as the TF.js layer of their class name: elementwise ``add``,
#: ``multiply``, ``maximum``, ``minimum`` of tensors (a constant operand is refused elsewhere), ``concatenate`` (its
#: ``axis`` as the layer's), ``softmax`` (the layer refuses an axis but the last) and the relu operation (its options
#: checked as the layer's). Measured (session 30, h8c): ``ops.reshape`` (its ``newshape`` counts the batch, the
#: layer's ``target_shape`` does not) and ``ops.average`` (a weighted mean over an axis, not the merge of a list)
#: convert to layers TF.js fails to run; ``ops.dot`` is a matrix product, not ``Dot(axes)``.
LAYER_LIKE_OPERATIONS = frozenset({"Add", "Multiply", "Maximum", "Minimum", "Concatenate", "Softmax", "ReLU"})


def operation_class_problems(model_config: dict[str, Any], keras3: bool | None) -> list[str]:
    """``"layer 'x' (Class): why"`` for every Keras 3 operation of a TF.js layer's class name that computes something
    else than that layer (:data:`LAYER_LIKE_OPERATIONS` lists the ones that do not, :func:`_mixed_rank_operands`
    the calls of them that still do)."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        cls = layer.entry.get("class_name")
        if cls not in TFJS_LAYER_CLASSES or not is_keras3_operation(layer.entry, keras3):
            continue
        if cls not in LAYER_LIKE_OPERATIONS:
            problems.append(f"layer {layer.qualified_name!r} ({cls}): the Keras 3 operation "
                            f"keras.ops.{cls.lower()}, whose arguments differ from TF.js's {cls} layer (it would "
                            "compute something else)")
        elif cls in _ELEMENTWISE_OPERATIONS and (ranks := _mixed_rank_operands(layer.entry)):
            problems.append(f"layer {layer.qualified_name!r} ({cls}): the Keras 3 operation keras.ops.{cls.lower()} "
                            f"of operands of ranks {ranks}: Keras broadcasts them aligned on the last axis, TF.js's "
                            f"{cls} layer inserts the missing axes after the batch axis (another result)")
    return problems


#: Keras 3 elementwise operations written as TF.js merge layers (which broadcast another way across ranks).
_ELEMENTWISE_OPERATIONS = frozenset({"Add", "Multiply", "Maximum", "Minimum"})


def _mixed_rank_operands(entry: dict[str, Any]) -> list[int]:
    """The ranks of an operation call's tensor operands when they differ (numpy broadcasting puts a shorter operand's
    axes last; TF.js's merge layers expand it at axis 1, as Keras's merge *layers* do; measured session 31: ``ops.add``
    of ``[5, 5, 4]`` and ``[5, 4]`` 3.7 off), else ``[]``."""
    for node in entry.get("inbound_nodes") or []:
        ranks = [len(shape) for shape in _tensor_shapes(node.get("args") if isinstance(node, dict) else None)]
        if len(set(ranks)) > 1:
            return ranks
    return []


def _tensor_shapes(value: Any) -> list[list[Any]]:
    """The shapes of the Keras 3 tensors (``__keras_tensor__``) in a call's arguments, in order."""
    if isinstance(value, dict):
        shape = (value.get("config") or {}).get("shape") if value.get("class_name") == "__keras_tensor__" else None
        return [shape] if isinstance(shape, list) else []
    if isinstance(value, (list, tuple)):
        return [shape for item in value for shape in _tensor_shapes(item)]
    return []


#: Layers whose Keras output carries their input's mask unchanged (and TF.js's too).
_KEEPS_MASK = frozenset({"InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU",
                         "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                         "LayerNormalization", "BatchNormalization"})


def _keeps_mask(entry: dict[str, Any]) -> bool:
    """Whether a nested model of one input hands its input's mask on unchanged (every layer inside does)."""
    if not is_model(entry):
        return False
    refs = _layer_refs((entry.get("config") or {}).get("input_layers"))
    if refs is None or len(refs) > 1:
        return False
    for child in top_level_layers(entry):
        cls = child.get("class_name")
        if not (cls in _KEEPS_MASK or is_model(child) and _keeps_mask(child) or
                cls in _RECURRENT and _passes_mask(child)):
            return False
    return True


def _output_mask_made_inside(entry: dict[str, Any]) -> bool:
    """Whether a nested model's output may carry a mask made by its own layers (conservative)."""
    if not is_model(entry) or not any(_makes_mask(child) for child in top_level_layers(entry)):
        return False
    layers, masked = top_level_layers(entry), masked_layers(entry)
    refs = _layer_refs((entry.get("config") or {}).get("output_layers"))
    outputs = [ref[0] for ref in refs] if refs else [entry_name(layers[-1])] if layers else []
    return refs is None or any(name in masked for name in outputs)


def masked_layers(model: dict[str, Any]) -> set[str]:
    """Names of the layers of ``model`` (one level) whose outputs may carry a Keras mask (conservative)."""
    return {entry_name(e) for e in top_level_layers(model) if _makes_mask(e)} | \
        {entry_name(e) for e in _reached(model) if _passes_mask(e)}


def _reached(model: dict[str, Any], sources: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The layers of ``model`` that a mask made in it (by ``sources``: every layer that makes one) reaches, in
    the order the walk meets them."""
    consumers = _consumers(model)
    masked = [e for e in top_level_layers(model) if _makes_mask(e)] if sources is None else list(sources)
    seen: set[int] = set()
    reached: list[dict[str, Any]] = []
    while masked:
        entry = masked.pop()
        for after in consumers.get(entry_name(entry), []):
            if id(after) in seen:
                continue
            seen.add(id(after))
            reached.append(after)
            if _passes_mask(after):
                masked.append(after)
    return reached
