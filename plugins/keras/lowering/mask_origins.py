"""Where a tracked Keras mask comes from, and whether the mask Keras 3 recorded for a call is that one.

The walk tracks each tensor's mask as an *origin*, an expression of how Keras computes it:

- ``(class, ref, sequential)``: made by ``Masking`` / ``Embedding(mask_zero)`` from the tensor ``ref``;
- ``("or", (o1, o2, ...))``: Keras 3's merge layers (``Add`` ... ``Multiply``) OR their inputs' masks;
- ``("concat", axis, ((o or None, input ref), ...))``: ``Concatenate``'s mask;
- ``("convert", o)``: ``Attention``'s mask, Keras 3's ``convert_to_tensor(query_mask)``;
- ``("input", ref)``: a bool model input given as an explicit mask;
- ``("nested", name)``: the mask of a nested model's output (never matched: Keras 3 records none for it);
- ``("outer", prefix)``: inside a nested model, a mask its caller gave (never matched);
- ``("TimeDistributed", ref, sequential)``: tf_keras's TimeDistributed(Masking) (tf_keras records no mask ops).

Keras 3 records the ops that compute a mask as op layers, and a layer whose ``call`` takes ``mask`` reads
the recorded tensor (``kwargs.mask``). :func:`is_recorded_mask` checks that those ops compute exactly the
tracked mask (same ops on the same tensors), so the walk can use its own mask in their place.
"""
from __future__ import annotations

from typing import Any

from ..op_calls import KERAS_OP_PREFIX, OP_ARGUMENTS_KEY

#: A mask's origin (see the module docstring).
MaskOrigin = tuple


def is_recorded_mask(plan: Any, recorded: list[Any], origin: MaskOrigin) -> bool:
    """Whether the one mask Keras 3 recorded for a call is the tracked ``origin`` (a mask merged through
    more levels than Python's recursion limit is not matched: a gap, never a crash)."""
    try:
        return len(recorded) == 1 and _matches(plan, recorded[0], origin)
    except RecursionError:
        return False


def _producer(plan: Any, ref: Any, op: str) -> list[Any] | None:
    """The input refs of the op layer ``op`` that produced ``ref``, or None when another call did."""
    from .model_plan import call_inputs

    call = plan.producers.get((ref[0], ref[1]))
    if call is None or ref[2] != 0:
        return None
    tagged = call.class_name == KERAS_OP_PREFIX + op  # as :func:`..op_calls.with_plain_op_nodes` names operations
    untagged = call.class_name == op and str(call.entry.get("module") or "").startswith("keras.src.ops")
    return call_inputs(call.node) if tagged or untagged else None


def _op_config(plan: Any, ref: Any) -> dict[str, Any]:
    """An operation's arguments (``axis``), where :func:`..op_calls.with_plain_op_nodes` keeps them or as saved."""
    config = plan.producers[(ref[0], ref[1])].entry.get("config") or {}
    return config.get(OP_ARGUMENTS_KEY) or config


def _matches(plan: Any, ref: Any, origin: MaskOrigin) -> bool:
    """Iterative over one ``or`` chain; merged masks of merged masks recurse, as deep as the model nests them."""
    kind = origin[0]
    if kind in ("Embedding", "Masking"):
        if origin[2]:  # a Sequential model records no mask ops
            return False
        compared = _producer(plan, ref, "NotEqual" if kind == "Embedding" else "Any")
        if compared is not None and kind == "Masking":
            compared = _producer(plan, compared[0], "NotEqual") if len(compared) == 1 else None
        return compared is not None and compared[:1] == [origin[1]]
    if kind == "input":
        return tuple(ref) == tuple(origin[1])
    if kind == "convert":
        inner = _producer(plan, ref, "ConvertToTensor")
        return inner is not None and len(inner) == 1 and _matches(plan, inner[0], origin[1])
    if kind == "or":
        parts = list(origin[1])
        while len(parts) > 1:  # Keras ORs left to right: or(or(m0, m1), m2)
            pair = _producer(plan, ref, "LogicalOr")
            if pair is None or len(pair) != 2 or not _matches(plan, pair[1], parts.pop()):
                return False
            ref = pair[0]
        return _matches(plan, ref, parts[0])
    if kind == "concat":
        return _matches_concat(plan, ref, origin)
    return False


def _matches_concat(plan: Any, ref: Any, origin: MaskOrigin) -> bool:
    """``any(concatenate([ones_like(x) | expand_dims(m, -1) | zeros_like(x) ...], axis), -1)`` (Keras 3)."""
    _, axis, items = origin
    joined = _producer(plan, ref, "Any")
    if joined is None or len(joined) != 1 or _op_config(plan, ref).get("axis") != -1 or \
            _op_config(plan, ref).get("keepdims"):
        return False
    parts = _producer(plan, joined[0], "Concatenate")
    if parts is None or len(parts) != len(items) or _op_config(plan, joined[0]).get("axis") != axis:
        return False
    for part, (inner, x_ref) in zip(parts, items):
        if inner is None:
            if _producer(plan, part, "OnesLike") != [x_ref]:
                return False
            continue
        pair = _producer(plan, part, "LogicalOr")
        if pair is None or len(pair) != 2 or _producer(plan, pair[1], "ZerosLike") != [x_ref]:
            return False
        expanded = _producer(plan, pair[0], "ExpandDims")
        if expanded is None or len(expanded) != 1 or _op_config(plan, pair[0]).get("axis") != -1 or \
                not _matches(plan, expanded[0], inner):
            return False
    return True
