"""A Keras Functional or Sequential model config -> an IR graph, one registered lowering per layer call.

Reads Keras 2 (``[[layer, node, tensor, kwargs]]``) and Keras 3 (``{"args": [<__keras_tensor__>]}``)
inbound nodes alike. Layer calls are lowered in the order :mod:`.model_plan` gives (no recursion over
layers, so long chains cannot overflow the stack; cycles and dangling refs are InputErrors). Nested
models are lowered inline (at most ``MAX_NESTING`` levels), masks travel beside the values
(:mod:`.masking`). The signature uses Keras's names: input layer names, and output layer names.
"""
from __future__ import annotations

from typing import Any

from tfjsconv import provenance
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value

from tfjsconv.errors import InputError

from ..configs import MODEL_CLASSES, entry_name, is_model, plain, top_level_layers
from ..op_calls import is_op_layer
from .context import LayerContext
from .keras_names import is_keras_layer_class, unknown_activations
from .masking import (MaskOrigin, is_recorded_mask, make_mask, mask_gap, masked_global_average_1d, makes_mask,
                      masked_outputs)
from .model_plan import (MASK_KEYWORD, MAX_NESTING, LayerCall, ModelPlan, call_inputs, canonical_path, model_plan,
                         shared_paths)
from .registry import Unsupported, loaded_lowerings
from .weights import LayerWeights

Ref = tuple[str, int, int]
FLOAT_DTYPES = (None, "float32", "mixed_float16", "mixed_bfloat16")
#: Layers that read integer inputs as they are (ids); every other layer gets them cast to float32.
INTEGER_INPUT_LAYERS = frozenset({"Embedding"})
#: Model input dtypes a placeholder can carry (TF.js narrows the wide integers to int32 on write).
INPUT_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int16", "int8", "uint8", "uint16", "bool")


def layer_gaps(model_config: dict[str, Any], source: str | None = None) -> list[str]:
    """Every layer (as ``'name' (Class: why)``) the lowering does not cover; empty when it covers the model.

    Nested models are looked into (their layers named ``outer/inner``); a mask that reaches a layer
    which does not take masks is a gap (``mask into X``). Models nested too deeply, and layer classes or
    activation functions Keras does not have, are an InputError (no path could load them).
    """
    cls = model_config.get("class_name")
    if cls not in MODEL_CLASSES:
        return [f"a {cls} model"]
    return _Gaps(loaded_lowerings()).of(plain(model_config), source)


class _Gaps:
    """The gaps of a model and of the models nested in it, with the masks each model's outputs carry."""

    def __init__(self, lowerings: dict[str, Any]) -> None:
        self.lowerings = lowerings
        self.gaps: list[str] = []
        #: Names Keras itself does not have: no path can load them, so they are refused, not left to TensorFlow.
        self.unknown: list[str] = []
        self._masked_outputs: dict[int, list[bool]] = {}

    def of(self, model: dict[str, Any], source: str | None) -> list[str]:
        self.source = source or "the model config"
        _check_nesting(model, source or "the model")
        self._model(model, "")
        if self.unknown:
            raise InputError(f"{source + ': ' if source else ''}{'; '.join(dict.fromkeys(self.unknown))}",
                             hint="the file is corrupt or was edited by hand; save the model again with Keras")
        return list(dict.fromkeys(self.gaps))

    def _model(self, model: dict[str, Any], prefix: str) -> list[bool]:
        """Gaps of ``model`` (layers named with ``prefix``); returns which of its outputs carry a mask."""
        if id(model) in self._masked_outputs:
            return self._masked_outputs[id(model)]
        plan = model_plan(model, source=self.source)
        for _, config in plan.inputs:
            dtype = _dtype_name(config.get("dtype"))
            if dtype not in INPUT_DTYPES or config.get("sparse") or config.get("ragged"):
                self.gaps.append(f"{prefix}{config.get('name')!r} (InputLayer: a {dtype} input)")
        masked: dict[Ref, MaskOrigin | None] = {}  # the mask each tensor carries, by where it was made
        for call in plan.calls:
            name, cls, config = f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {}
            refs = [("", 0, 0)] if plan.sequential else call_inputs(call.node)
            origins = [masked[r] for r in refs if masked.get(r) is not None]
            if is_model(call.entry):
                if origins:
                    self.gaps.append(mask_gap(name, f"nested {cls} model"))
                outputs: list[MaskOrigin | None] = [("nested", name) if flag else None
                                                    for flag in self._model(call.entry, f"{name}/")]
            else:
                self._layer(name, cls, config)
                flags = masked_outputs(cls, config, bool(origins))
                if flags is None:
                    self.gaps.append(mask_gap(name, cls))
                    flags = set()
                elif call.recorded_masks and not (len(origins) == 1 and
                                                  is_recorded_mask(plan, call.recorded_masks, origins[0])):
                    self.gaps.append(f"{name!r} ({cls}: a mask the lowering does not track)")
                origin = (cls, refs[0], plan.sequential) if makes_mask(cls, config) else (origins or [None])[0]
                outputs = [origin if i in flags else None for i in range(max(flags, default=0) + 1)]
            if plan.sequential:
                masked[("", 0, 0)] = outputs[0] if outputs else None
            else:
                for tensor, origin in enumerate(outputs):
                    masked[(call.name, call.key, tensor)] = origin
        result = [masked.get(r) is not None for r in ([("", 0, 0)] if plan.sequential else plan.outputs)]
        self._masked_outputs[id(model)] = result
        return result

    def _layer(self, name: str, cls: str, config: dict[str, Any]) -> None:
        if not is_keras_layer_class(cls, self.lowerings):
            self.unknown.append(f"layer {name!r} has class {cls!r}, which Keras does not have")
        self.unknown += [f"layer {name!r} ({cls}) has {what}, which is no Keras activation function"
                         for what in unknown_activations(config)]
        if cls not in self.lowerings:
            self.gaps.append(f"{name!r} ({cls})")
        elif _dtype_name(config.get("dtype")) not in FLOAT_DTYPES[:2]:
            self.gaps.append(f"{name!r} ({cls}: dtype {_dtype_name(config.get('dtype'))})")
        elif config.get("lora_rank"):  # Keras 3 LoRA adds kernel factors the lowerings do not read yet
            self.gaps.append(f"{name!r} ({cls}: lora_rank)")
        else:
            check = self.lowerings[cls].check
            why = check(config) if check else None
            if why:
                self.gaps.append(f"{name!r} ({cls}: {why})")


def _check_nesting(model: dict[str, Any], what: str) -> None:
    """Refuse models nested more than :data:`MAX_NESTING` levels deep (walked without recursion)."""
    stack = [(model, 0)]
    while stack:
        entry, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(f"{what} nests models more than {MAX_NESTING} levels deep; tfjsconv lowers at most "
                             f"{MAX_NESTING}", hint="the file is corrupt or was edited by hand")
        stack += [(child, depth + 1) for child in top_level_layers(entry) if is_model(child)]


def _dtype_name(dtype: Any) -> str | None:
    """A dtype as saved: a name, or a Keras 3 ``DTypePolicy`` dict."""
    if isinstance(dtype, dict):
        return _dtype_name((dtype.get("config") or {}).get("name"))
    return dtype if isinstance(dtype, str) or dtype is None else str(dtype)


class ModelLowering:
    """Builds the graph of one model config; ``weights(path)`` gives a layer's arrays in Keras's order.

    Nested models are lowered inline at each call (their layers' nodes named ``outer/inner/...``); a
    layer's weights are read once and its Consts shared by all its calls (shared layers, and nested
    models called several times).
    """

    def __init__(self, model_config: dict[str, Any], weights: LayerWeights, *, keras3: bool, source: str) -> None:
        self.config = plain(model_config)
        self.weights = weights
        self.keras3 = keras3
        self.source = source
        self.graph = Graph(str((self.config.get("config") or {}).get("name") or "keras_model"))
        self.lowerings = loaded_lowerings()
        #: Per layer path: its arrays (read once) and the Consts made of them, shared by every call of the layer.
        self._layer_weights: dict[tuple[str, ...], tuple[list[Any], dict[tuple[str, int], Value]]] = {}
        self._plans: dict[int, ModelPlan] = {}
        #: Keras 3 lists a layer used in two models twice; its weights are read where it is listed first.
        self._aliases = shared_paths(model_config)

    def lower(self) -> Graph:
        gaps = _Gaps(self.lowerings).of(self.config, self.source)  # the same verdict as layer_gaps, always
        if gaps:
            raise Unsupported(f"layer {gaps[0]}" + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""))
        plan = self._plan(self.config)
        if not plan.calls:
            raise Unsupported("an empty model")
        if plan.sequential and not plan.inputs:
            first = plan.calls[0].entry
            config = first.get("config") or {}
            shape = config.get("batch_input_shape") or ((self.config.get("build_config") or {}).get("input_shape"))
            inputs = [self._placeholder(f"{entry_name(first)}_input", list(shape) if shape else None)]
        else:
            inputs = [self._placeholder(ref[0], config.get("batch_shape") or config.get("batch_input_shape"),
                                        config.get("dtype")) for ref, config in plan.inputs]
        outputs, _ = self._run(plan, (), "", inputs, [None] * len(inputs))
        for key, value in zip(plan.output_names(), outputs, strict=True):
            self.graph.set_output(key, value)
        self.graph.validate()
        return self.graph

    def _plan(self, model: dict[str, Any]) -> ModelPlan:
        if id(model) not in self._plans:
            self._plans[id(model)] = model_plan(model, source=self.source)
        return self._plans[id(model)]

    def _run(self, plan: ModelPlan, path: tuple[str, ...], prefix: str, inputs: list[Value],
             masks: list[Value | None]) -> tuple[list[Value], list[Value | None]]:
        """The outputs (and their masks) of one call of a model, given its input Values."""
        if plan.sequential:
            if len(inputs) != 1:
                raise Unsupported(f"a Sequential model {prefix or ''}called on {len(inputs)} tensors")
            x, mask = inputs[0], masks[0]
            for call in plan.calls:
                produced, produced_masks = self._lower_call(call, path, prefix, [x], [mask], {})
                if len(produced) != 1:
                    raise Unsupported(f"layer {prefix}{call.name!r} of a Sequential model returns several tensors")
                x, mask = produced[0], produced_masks[0]
            return [x], [mask]
        if len(inputs) != len(plan.inputs):
            raise Unsupported(f"model {prefix or 'root'} called on {len(inputs)} tensors, "
                              f"but it has {len(plan.inputs)} inputs")
        values: dict[Ref, tuple[Value, Value | None]] = {
            ref: (value, mask) for (ref, _), value, mask in zip(plan.inputs, inputs, masks)}
        for call in plan.calls:
            lowering = self.lowerings.get(call.class_name)
            keywords = lowering.keywords if lowering else ()
            refs = _node_refs(call.node, call.name, keywords)
            kwargs = _call_kwargs(call.node, keywords)
            kwargs = {k: values[v][0] if isinstance(v, tuple) else v for k, v in kwargs.items()}
            produced, produced_masks = self._lower_call(call, path, prefix, [values[r][0] for r in refs],
                                                        [values[r][1] for r in refs], kwargs)
            for tensor, (value, mask) in enumerate(zip(produced, produced_masks)):
                values[(call.name, call.key, tensor)] = (value, mask)
        missing = [ref for ref in plan.outputs if ref not in values]
        if missing:
            raise InputError(f"{self.source}: output {missing[0]} is not produced by any layer call")
        return [values[r][0] for r in plan.outputs], [values[r][1] for r in plan.outputs]

    # -- one layer call ---------------------------------------------------------------------------------
    def _lower_call(self, call: LayerCall, path: tuple[str, ...], prefix: str, inputs: list[Value],
                    masks: list[Value | None], kwargs: dict[str, Any]) -> tuple[list[Value], list[Value | None]]:
        """One call: its output Values and the mask each carries."""
        name, cls, config = call.name, call.class_name, call.entry.get("config") or {}
        if is_model(call.entry):
            if any(m is not None for m in masks):
                raise Unsupported(mask_gap(prefix + name, f"nested {cls} model"))
            nested_prefix = f"{prefix}{name}/"
            return self._run(self._plan(call.entry), (*path, name), nested_prefix, inputs, [None] * len(inputs))
        present = [m for m in masks if m is not None]
        if len(present) > 1 or (present and len(inputs) != 1):
            raise Unsupported(mask_gap(prefix + name, cls))
        mask = present[0] if present else None
        flags = masked_outputs(cls, config, mask is not None)
        if flags is None:
            raise Unsupported(mask_gap(prefix + name, cls))
        produced = self._call(call.entry, (*path, name), prefix + name, inputs, kwargs, mask)
        outputs = produced if isinstance(produced, list) else [produced]
        out_masks: list[Value | None] = [mask if i in flags else None for i in range(len(outputs))]
        if makes_mask(cls, config):
            out_masks[0] = self._make_mask(call.entry, prefix + name, inputs)
        return outputs, out_masks

    def _make_mask(self, entry: dict[str, Any], name: str, inputs: list[Value]) -> Value:
        ctx = LayerContext(self.graph, name, entry["class_name"], entry.get("config") or {}, inputs, [],
                           self.source, keras3=self.keras3)
        with provenance.scope(self.graph, name):
            return make_mask(ctx)

    def _call(self, entry: dict[str, Any], path: tuple[str, ...], name: str, inputs: list[Value],
              call_kwargs: dict[str, Any] | None = None, mask: Value | None = None) -> Value | list[Value]:
        cls = entry["class_name"]
        lowering = self.lowerings.get(cls)
        if lowering is None:
            raise Unsupported(f"{name!r} ({cls})")
        path = canonical_path(path, self._aliases)
        if path not in self._layer_weights:
            self._layer_weights[path] = (self.weights(path), {})
        arrays, consts = self._layer_weights[path]
        if cls not in INTEGER_INPUT_LAYERS and not is_op_layer(cls):  # Keras: float layers on ints in float32
            inputs = [self._as_float(name, v) for v in inputs]
        ctx = LayerContext(self.graph, name, cls, entry.get("config") or {}, inputs, arrays, self.source,
                           keras3=self.keras3, weight_consts=consts, call_kwargs=call_kwargs)
        ctx.mask = mask
        with provenance.scope(self.graph, name):
            if mask is not None and cls == "GlobalAveragePooling1D":
                return masked_global_average_1d(ctx, mask)
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


def _node_refs(node: Any, layer: str, keywords: tuple[str, ...] = ()) -> list[Ref]:
    """The input tensors of one call, in order; tensors passed as keyword arguments (masks) are covered only
    where the layer's lowering declares them (``keywords``, read by :func:`_call_kwargs`)."""
    if isinstance(node, list):
        return [(item[0], int(item[1]), int(item[2])) for item in node]
    refs: list[Ref] = []
    _tensors(node.get("args"), refs)
    extra: list[Ref] = []
    _tensors({k: v for k, v in (node.get("kwargs") or {}).items() if k not in keywords and k != MASK_KEYWORD},
             extra)  # the mask is tracked by the walk (.masking)
    if extra:
        raise Unsupported(f"layer {layer!r} is called with tensors as keyword arguments")
    return refs


def _call_kwargs(node: Any, keywords: tuple[str, ...]) -> dict[str, Any]:
    """A call's keyword arguments: plain values as saved, the ``keywords`` tensors as Refs (tuples)."""
    if isinstance(node, list):  # Keras 2: every inbound item repeats the call's kwargs
        saved = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        return {k: _keras2_ref(v) if k in keywords else v for k, v in saved.items()}
    out: dict[str, Any] = {}
    for key, value in (node.get("kwargs") or {}).items():
        found: list[Ref] = []
        _tensors(value, found)
        if key in keywords and found:
            if len(found) != 1:
                raise Unsupported(f"keyword argument {key!r} holds {len(found)} tensors")
            out[key] = found[0]
        elif not found:
            out[key] = value
    return out


def _keras2_ref(value: Any) -> Any:
    """``[layer, node, tensor]`` (Keras 2's tensor in kwargs) as a Ref; other values as they are."""
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and \
            all(isinstance(v, int) for v in value[1:3]):
        return (value[0], int(value[1]), int(value[2]))
    return value


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
