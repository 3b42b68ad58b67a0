"""Where a tracked Keras mask comes from, and whether the mask Keras 3 recorded for a call is that one.

The walk tracks each tensor's mask as an *origin*, an expression of how Keras computes it:

- ``(class, ref, sequential, value)``: made by ``Masking`` / ``Embedding(mask_zero)`` from the tensor ``ref``,
  comparing it with ``value`` (Masking's ``mask_value``, Embedding's 0);
- ``("or", (o1, o2, ...))``: Keras 3's merge layers (``Add`` ... ``Multiply``) OR their inputs' masks;
- ``("concat", axis, ((o or None, input ref), ...))``: ``Concatenate``'s mask;
- ``("convert", o)``: ``Attention``'s mask, Keras 3's ``convert_to_tensor(query_mask)``;
- ``("input", ref)``: a bool model input given as an explicit mask;
- ``("nested", name)``: the mask of a nested model's output (never matched: Keras 3 records none for it);
- ``("outer", prefix)``: inside a nested model, a mask its caller gave (never matched);
- ``("TimeDistributed", ref, sequential)``: tf_keras's TimeDistributed(Masking) (tf_keras records no mask ops).

Keras 3 records the ops that compute a mask as op layers, and a layer whose ``call`` takes ``mask`` reads
the recorded tensor (``kwargs.mask``). :func:`is_recorded_mask` checks that those ops compute exactly the
tracked mask (same ops on the same tensors with the same constants and axes), so the walk can use its own mask in
their place: a look-alike such as ``ops.not_equal(ids, 1)`` beside ``Embedding(mask_zero)`` is another mask. A float16
Masking compares its autocast input, recorded as ``cast(x, "float16")`` before the ``not_equal`` (session 29).
"""
from __future__ import annotations

from typing import Any

from ..op_calls import CALLS_KEY, KERAS_OP_PREFIX, OP_ARGUMENTS_KEY, TensorArg, parse_call

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


def _constant_operand(plan: Any, ref: Any) -> Any:
    """The one constant argument of the binary op layer that produced ``ref`` (``not_equal(x, 0)``: 0), as recorded;
    a unique object when there is none or it cannot be read (it then equals nothing)."""
    config = plan.producers[(ref[0], ref[1])].entry.get("config") or {}
    nodes = config.get(CALLS_KEY)
    try:
        args, kwargs = parse_call(nodes[0]) if isinstance(nodes, list) and len(nodes) == 1 else ([], {})
    except ValueError:
        return object()
    constants = [a for a in [*args, *kwargs.values()] if not isinstance(a, TensorArg)]
    return constants[0] if len(constants) == 1 and isinstance(constants[0], (int, float)) else object()


def _matches(plan: Any, ref: Any, origin: MaskOrigin) -> bool:
    """Iterative over one ``or`` chain; merged masks of merged masks recurse, as deep as the model nests them."""
    kind = origin[0]
    if kind in ("Embedding", "Masking"):
        if origin[2]:  # a Sequential model records no mask ops
            return False
        compared_ref = ref
        if kind == "Masking":  # any(not_equal(x, mask_value), axis=-1), keepdims False
            reduced = _producer(plan, ref, "Any")
            arguments = _op_config(plan, ref) if reduced is not None else {}
            if reduced is None or len(reduced) != 1 or arguments.get("axis") not in (-1, [-1]) or \
                    arguments.get("keepdims"):
                return False
            compared_ref = reduced[0]
        compared = _producer(plan, compared_ref, "NotEqual")
        return compared is not None and len(compared) == 1 and _constant_operand(plan, compared_ref) == origin[3] \
            and (compared == [origin[1]] or (kind == "Masking" and _half_masking_cast(plan, compared[0], origin)))
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


def _half_masking_cast(plan: Any, ref: Any, origin: MaskOrigin) -> bool:
    """Whether ``ref`` is Keras 3's ``cast(x, "float16")`` of a float16-policy Masking's input ``x``: its autocast,
    recorded before the ``not_equal`` of its mask (the lowering rounds that input to float16 alike). Only where every
    Masking of ``x`` with this mask_value computes in float16: a look-alike beside a float32 one is another mask."""
    from ..configs import dtype_name
    from .float_widths import computes_in_half

    if _producer(plan, ref, "Cast") != [origin[1]] or \
            dtype_name(_op_config(plan, ref).get("dtype")) != "float16":
        return False
    maskings = [call.entry.get("config") or {} for call in plan.producers.values() if call.class_name == "Masking"
                and _call_input_refs(call) == [tuple(origin[1])]]
    maskings = [c for c in maskings if c.get("mask_value", 0.0) == origin[3]]
    return bool(maskings) and all(computes_in_half("Masking", c) for c in maskings)


def _call_input_refs(call: Any) -> list[tuple[Any, ...]]:
    from .model_plan import call_inputs

    return [tuple(r) for r in call_inputs(call.node)]


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
