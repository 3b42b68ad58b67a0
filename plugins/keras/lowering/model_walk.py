"""A Keras Functional or Sequential model config -> an IR graph, one registered lowering per layer call.

Reads Keras 2 (``[[layer, node, tensor, kwargs]]``) and Keras 3 (``{"args": [<__keras_tensor__>]}``)
inbound nodes alike. Layer calls are lowered in dependency order with a worklist, not recursion, so
deep models cannot overflow the stack (``model_graph`` has already refused cycles and dangling refs).
The signature uses Keras's names: input layer names, and output layer names.
"""
from __future__ import annotations

from typing import Any

from tfjsconv import provenance
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value

from ..configs import entry_name, is_model, plain, top_level_layers
from .context import LayerContext
from .registry import Unsupported, loaded_lowerings
from .weights import LayerWeights

Ref = tuple[str, int, int]
FLOAT_DTYPES = (None, "float32", "mixed_float16", "mixed_bfloat16")
#: Layers that read integer inputs as they are (ids); every other layer gets them cast to float32.
INTEGER_INPUT_LAYERS = frozenset({"Embedding"})
#: Model input dtypes a placeholder can carry (TF.js narrows the wide integers to int32 on write).
INPUT_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int16", "int8", "uint8", "uint16", "bool")


def layer_gaps(model_config: dict[str, Any]) -> list[str]:
    """Every layer (as ``'name' (Class: why)``) the lowering does not cover; empty when it covers the model."""
    lowerings = loaded_lowerings()
    gaps = []
    cls = model_config.get("class_name")
    if cls not in ("Sequential", "Functional", "Model"):
        return [f"a {cls} model"]
    for entry in top_level_layers(plain(model_config)):
        name, cls = entry_name(entry), entry["class_name"]
        config = entry.get("config") or {}
        if is_model(entry):
            gaps.append(f"{name!r} (a nested {cls} model)")
        elif cls == "InputLayer":
            if _dtype_name(config.get("dtype")) not in INPUT_DTYPES or config.get("sparse") or config.get("ragged"):
                gaps.append(f"{name!r} (InputLayer: a {_dtype_name(config.get('dtype'))} input)")
        elif cls not in lowerings:
            gaps.append(f"{name!r} ({cls})")
        elif _dtype_name(config.get("dtype")) not in FLOAT_DTYPES[:2]:
            gaps.append(f"{name!r} ({cls}: dtype {_dtype_name(config.get('dtype'))})")
        elif config.get("lora_rank"):  # Keras 3 LoRA adds kernel factors the lowerings do not read yet
            gaps.append(f"{name!r} ({cls}: lora_rank)")
        else:
            check = lowerings[cls].check
            why = check(config) if check else None
            if why:
                gaps.append(f"{name!r} ({cls}: {why})")
    return gaps


def _dtype_name(dtype: Any) -> str | None:
    """A dtype as saved: a name, or a Keras 3 ``DTypePolicy`` dict."""
    if isinstance(dtype, dict):
        return _dtype_name((dtype.get("config") or {}).get("name"))
    return dtype if isinstance(dtype, str) or dtype is None else str(dtype)


class ModelLowering:
    """Builds the graph of one model config; ``weights(layer)`` gives a layer's arrays in Keras's order."""

    def __init__(self, model_config: dict[str, Any], weights: LayerWeights, *, keras3: bool, source: str) -> None:
        self.config = plain(model_config)
        self.weights = weights
        self.keras3 = keras3
        self.source = source
        self.graph = Graph(str((self.config.get("config") or {}).get("name") or "keras_model"))
        self.lowerings = loaded_lowerings()
        #: Per layer: its arrays (read once) and the Consts made of them, shared by every call of the layer.
        self._layer_weights: dict[str, tuple[list[Any], dict[tuple[str, int], Value]]] = {}

    def lower(self) -> Graph:
        layers = top_level_layers(self.config)
        if self.config.get("class_name") == "Sequential" or not any("inbound_nodes" in e for e in layers):
            self._sequential(layers)
        else:
            self._functional(layers)
        self.graph.validate()
        return self.graph

    # -- one layer call ---------------------------------------------------------------------------------
    def _call(self, entry: dict[str, Any], inputs: list[Value]) -> Value | list[Value]:
        cls, name = entry["class_name"], entry_name(entry)
        lowering = self.lowerings.get(cls)
        if lowering is None:
            raise Unsupported(f"{name!r} ({cls})")
        if name not in self._layer_weights:
            self._layer_weights[name] = (self.weights(name), {})
        arrays, consts = self._layer_weights[name]
        if cls not in INTEGER_INPUT_LAYERS:  # Keras computes float layers on int inputs in float32
            inputs = [self._as_float(name, v) for v in inputs]
        ctx = LayerContext(self.graph, name, cls, entry.get("config") or {}, inputs, arrays, self.source,
                           keras3=self.keras3, weight_consts=consts)
        with provenance.scope(self.graph, name):
            return lowering.lower(ctx)

    def _as_float(self, layer: str, value: Value) -> Value:
        if value.dtype == DType.FLOAT32:
            return value
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=f"{layer}/to_float", dtype=DType.FLOAT32, shape=value.shape)

    def _placeholder(self, name: str, shape: Any, dtype: Any = None) -> Value:
        if not isinstance(shape, list) or not shape or any(d is not None and (not isinstance(d, int) or d < 0)
                                                           for d in shape):
            raise Unsupported(f"input {name!r} has no readable shape ({shape!r})")
        dtype = _dtype_name(dtype)
        ir_dtype = DType.FLOAT32 if dtype in FLOAT_DTYPES else DType.from_any(dtype)
        return self.graph.placeholder(name, ir_dtype, (None, *shape[1:]))

    # -- Sequential -------------------------------------------------------------------------------------
    def _sequential(self, layers: list[dict[str, Any]]) -> None:
        if not layers:
            raise Unsupported("an empty Sequential model")
        first = layers[0]
        config = first.get("config") or {}
        if first["class_name"] == "InputLayer":
            x = self._placeholder(entry_name(first), config.get("batch_shape") or config.get("batch_input_shape"),
                                  config.get("dtype"))
            layers = layers[1:]
        else:
            shape = config.get("batch_input_shape") or \
                ((self.config.get("build_config") or {}).get("input_shape"))
            x = self._placeholder(f"{entry_name(first)}_input", list(shape) if shape else None)
        for entry in layers:
            x = self._call(entry, [x])
            if isinstance(x, list):
                raise Unsupported(f"layer {entry_name(entry)!r} of a Sequential model returns several tensors")
        self.graph.set_output(entry_name(layers[-1]) if layers else entry_name(first), x)

    # -- Functional -------------------------------------------------------------------------------------
    def _functional(self, layers: list[dict[str, Any]]) -> None:
        config = self.config.get("config") or {}
        by_name = {entry_name(e): e for e in layers}
        values: dict[Ref, Value] = {}
        for ref in _refs(config.get("input_layers")):
            entry = by_name[ref[0]]
            shape = (entry.get("config") or {}).get("batch_shape") or (entry.get("config") or {}).get(
                "batch_input_shape")
            values[ref] = self._placeholder(ref[0], shape, (entry.get("config") or {}).get("dtype"))
        pending = [(e, i, node) for e in layers if e["class_name"] != "InputLayer"
                   for i, node in enumerate(e.get("inbound_nodes") or [])]
        while pending:
            waiting = []
            for entry, index, node in pending:
                refs = _node_refs(node, entry_name(entry))
                if all(r in values for r in refs):
                    produced = self._call(entry, [values[r] for r in refs])
                    for tensor, value in enumerate(produced if isinstance(produced, list) else [produced]):
                        values[(entry_name(entry), index, tensor)] = value
                else:
                    waiting.append((entry, index, node))
            if len(waiting) == len(pending):
                raise Unsupported(f"layer {entry_name(waiting[0][0])!r} reads a tensor no layer call produces")
            pending = waiting
        outputs = _refs(config.get("output_layers"))
        for ref in outputs:
            if ref not in values:
                raise Unsupported(f"output {ref} is not produced by any lowered layer call")
            key = ref[0] if sum(r[0] == ref[0] for r in outputs) == 1 else f"{ref[0]}_{ref[1]}_{ref[2]}"
            self.graph.set_output(key, values[ref])


def _refs(value: Any) -> list[Ref]:
    """``input_layers`` / ``output_layers``: one ``[name, node, tensor]``, or lists / dicts of them."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], str):
        return [(value[0], int(value[1]), int(value[2]))]
    return [ref for item in value for ref in _refs(item)]


def _node_refs(node: Any, layer: str) -> list[Ref]:
    """The input tensors of one call, in order; tensors passed as keyword arguments (masks) are not covered."""
    if isinstance(node, list):
        return [(item[0], int(item[1]), int(item[2])) for item in node]
    refs: list[Ref] = []
    _tensors(node.get("args"), refs)
    extra: list[Ref] = []
    _tensors(node.get("kwargs"), extra)
    if extra:
        raise Unsupported(f"layer {layer!r} is called with tensors as keyword arguments")
    return refs


def _tensors(value: Any, refs: list[Ref]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            refs.append((history[0], int(history[1]), int(history[2])))
            return
        for item in value.values():
            _tensors(item, refs)
    elif isinstance(value, list):
        for item in value:
            _tensors(item, refs)
