"""The dtype of the tensor a Keras 3 nested model hands on, read from its config.

A Keras 3 Sequential records no dtype for the tensors between its layers, so a float32 Layer- or GroupNormalization
after a nested model (which Keras 3 only allows as a layer, never an operation) cannot read whether Keras hands it a
float16 tensor (which it rounds its result to: :func:`.float_widths.casts_back_to_half`). The nested model's config
tells it: a Sequential's last layer computes in its policy's dtype, a Functional's output layer too, or its node
records the dtype of the tensor it read (a Layer- or GroupNormalization casts to its own compute dtype at the end).
Where the config does not tell (an operation's result, a model with several outputs), the answer is None: not known.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..configs import dtype_name, is_model
from ..op_calls import is_op_layer
from .float_widths import KERAS3_CAST_BACK_TO_INPUT, computes_in_half
from .model_plan import ModelPlan

#: How deep nested models are followed (deeper: not known; the plan itself refuses past its own limit).
MAX_DEPTH = 32


def layer_output_dtype(entry: dict[str, Any], plan_of: Callable[[dict[str, Any]], ModelPlan],
                       depth: int = 0) -> str | None:
    """The dtype of a Keras 3 layer's result: its policy's compute dtype (``mixed_float16`` computes in float16),
    a nested model's output dtype (:func:`model_output_dtype`); None for an operation or an unsaved dtype."""
    if is_model(entry):
        return model_output_dtype(entry, plan_of, depth + 1)
    if is_op_layer(str(entry.get("class_name"))):
        return None
    name = dtype_name((entry.get("config") or {}).get("dtype"))
    return name[len("mixed_"):] if name is not None and name.startswith("mixed_") else name


def model_output_dtype(entry: dict[str, Any], plan_of: Callable[[dict[str, Any]], ModelPlan],
                       depth: int = 0) -> str | None:
    """The dtype of a Keras 3 nested model's one output: a Sequential's last layer's (its Input's if it has none), a
    Functional's output layer's, or its Input's where the output is an Input; None where not known."""
    if depth > MAX_DEPTH:
        return None
    plan = plan_of(entry)
    if plan.sequential:
        held = dtype_name((plan.inputs[0][1] or {}).get("dtype")) if plan.inputs else None
        for call in plan.calls:
            held = layer_output_dtype(call.entry, plan_of, depth)
        return held
    if len(plan.outputs) != 1:
        return None
    layer, node, _ = plan.outputs[0]
    for (ref, config) in plan.inputs:
        if ref[0] == layer:
            return dtype_name((config or {}).get("dtype"))
    producer = plan.producers.get((layer, node))
    return None if producer is None else layer_output_dtype(producer.entry, plan_of, depth)


def untold_half_gap(entry: dict[str, Any], keras3: bool | None, name: str, after: str) -> str | None:
    """Why a Keras 3 float32 Layer- or GroupNormalization in a Sequential after ``after`` (whose result dtype
    :func:`layer_output_dtype` cannot tell) is refused: Keras rounds its result to float16 where it is handed a
    float16 tensor, which is not known; None for any other layer."""
    cls, config = str(entry.get("class_name")), entry.get("config") or {}
    if keras3 is not True or cls not in KERAS3_CAST_BACK_TO_INPUT or computes_in_half(cls, config):
        return None
    return (f"{name!r} ({cls} in a Sequential after {after!r}, whose result dtype the config does not tell: Keras 3 "
            "rounds the result to float16 where it is handed a float16 tensor, which is not known)")
