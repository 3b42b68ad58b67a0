"""Refuse layers models where an 8- or 16-bit integer tensor meets arithmetic.

TF.js has no int8/uint8/int16/uint16: a layers model holds them as int32, so Keras's wraparound is lost (measured,
session 31: Keras 3 ``ops.add`` of int8 100+100 gives -56, TF.js 200; ``ops.multiply`` of uint8 20*20 gives 144,
TF.js 400; the Add layer of int8 Inputs, Keras 3 and tf_keras alike). A graph model (h5py lowering) gives Keras's
wrapped numbers, so the graph-model hint applies. Moves keep every value in range and stay allowed: a narrow tensor
is followed through them, and an Embedding (or CategoryEncoding) ends it (its output is float). A nested model that
receives one is named as a whole (conservative).
"""
from __future__ import annotations

from typing import Any

from .configs import dtype_name, entry_name, is_model, iter_layers, top_level_layers
from .mask_flow import _consumers
from .tfjs_support import CLASS_RENAMES, TFJS_LAYER_CLASSES

#: Integer dtypes TF.js widens to int32 (it has no narrower integer).
NARROW_INTS = frozenset({"int8", "uint8", "int16", "uint16"})
#: Layers whose outputs are values of their input, rearranged or dropped (0 padding is in range too).
MOVES = frozenset("""
InputLayer Reshape Flatten Permute RepeatVector Dropout SpatialDropout1D AlphaDropout GaussianDropout GaussianNoise
Cropping1D Cropping2D Cropping3D ZeroPadding1D ZeroPadding2D ZeroPadding3D Concatenate
""".split())
#: Layers that read narrow integers as ids and give float outputs: the narrow tensor ends there.
ID_READERS = frozenset({"Embedding", "CategoryEncoding"})
#: Layers that cast their input to their own (float) dtype first, in Keras 3 (``result_type``) and tf_keras alike
#: (measured session 31: an int8 Dense matches Keras in TF.js cpu and wasm): a float one ends the narrow tensor.
FLOAT_READERS = frozenset({"Dense"})


def _narrow(entry: dict[str, Any]) -> str | None:
    name = dtype_name((entry.get("config") or {}).get("dtype"))
    return name if name in NARROW_INTS else None


def _float_layer(entry: dict[str, Any]) -> bool:
    name = dtype_name((entry.get("config") or {}).get("dtype"))
    return name is None or name.startswith("float")


def _arithmetic_on_narrow(model: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(layer, dtype) for each layer of ``model`` (one level) that computes on a narrow integer tensor."""
    consumers = _consumers(model)
    found: list[tuple[dict[str, Any], str]] = []
    seen: set[int] = set()
    todo = [(e, d) for e in top_level_layers(model) if (d := _narrow(e))]
    while todo:
        entry, dtype = todo.pop()
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        cls = entry.get("class_name")
        if cls in ID_READERS or CLASS_RENAMES.get(cls, cls) not in TFJS_LAYER_CLASSES:
            continue  # a class TF.js lacks (Cast...) is refused by its name already
        if cls in FLOAT_READERS and _float_layer(entry):
            continue
        if cls not in MOVES:
            found.append((entry, dtype))
            continue
        todo += [(after, dtype) for after in consumers.get(entry_name(entry), [])]
    return found


def narrow_int_problems(model_config: dict[str, Any]) -> list[str]:
    """One line per layer (any nesting) that computes on an int8/uint8/int16/uint16 tensor in a layers model."""
    models = [layer.entry for layer in iter_layers(model_config) if is_model(layer.entry)]
    problems: list[str] = []
    for model in models:
        for entry, dtype in _arithmetic_on_narrow(model):
            problems.append(
                f"layer {entry_name(entry)!r} ({entry.get('class_name')}): computes on {dtype} values, which TF.js "
                f"layers hold as int32, so Keras's {dtype} wraparound is lost (the graph model keeps it)")
    return problems
