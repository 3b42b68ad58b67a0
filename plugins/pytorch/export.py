"""``torch.onnx.export`` in memory: a Module or ExportedProgram to a ModelProto, nothing written to disk."""
from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from tfjsconv.errors import InputError, UsageError

log = logging.getLogger(__name__)

#: The opset asked of the legacy exporter (its newest well-tested one).
LEGACY_OPSET = 17


def as_tuple(example_inputs: Any) -> tuple:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    return (example_inputs,)


def export_to_onnx(model: Any, example_inputs: Sequence[Any], *, input_names: Sequence[str] | None = None,
                   output_names: Sequence[str] | None = None, dynamic_batch: bool = True,
                   exporter: str | None = None) -> tuple[Any, list[str]]:
    """(ModelProto, notes). ``exporter=None``: dynamo, then legacy if dynamo fails; a failed dynamic
    batch is retried with static shapes (and noted)."""
    if exporter not in (None, "dynamo", "legacy"):
        raise UsageError(f"--exporter must be dynamo or legacy, got {exporter!r}")
    if not example_inputs:
        raise UsageError("converting a torch module needs example_inputs=(tensor, ...) to trace it with",
                         hint="tfjsconv.convert(module, 'out/', example_inputs=(torch.randn(1, 3, 224, 224),))")
    order = [exporter] if exporter else ["dynamo", "legacy"]
    notes: list[str] = []
    errors: list[str] = []
    for kind in order:
        for dynamic in ([True, False] if dynamic_batch else [False]):
            try:
                model_proto = _EXPORTERS[kind](model, tuple(example_inputs), input_names, output_names, dynamic)
            except Exception as err:  # exporter failures are many kinds of exceptions
                first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
                errors.append(f"{kind} exporter{' (dynamic batch)' if dynamic else ''}: "
                              f"{type(err).__name__}: {first_line[:300]}")
                log.info("torch.onnx.export (%s, dynamic=%s) failed: %s", kind, dynamic, err)
                continue
            if errors:
                notes.extend(f"retried after: {e}" for e in errors)
            notes.append(f"exported with the {kind} exporter" + (", dynamic batch" if dynamic else ", static shapes"))
            return model_proto, notes
    raise InputError("torch.onnx.export could not export this module:\n  " + "\n  ".join(errors),
                     hint="try exporter='legacy' or 'dynamo', static example shapes, or dynamic_batch=False")


def _dynamo(model: Any, args: tuple, input_names: Sequence[str] | None, output_names: Sequence[str] | None,
            dynamic: bool) -> Any:
    import torch

    kwargs: dict[str, Any] = {}
    if dynamic:
        # Dim.AUTO per tensor, not one shared named Dim: a shared Dim makes torch.export assume every input's dim 0
        # equal (``x[:w.shape[0]]`` became ``x``), which the converted model, fed unequal sizes, silently breaks
        batch = torch.export.Dim.AUTO
        kwargs["dynamic_shapes"] = per_parameter(model, tuple(_batch_spec(a, batch) for a in args))
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, args, dynamo=True, input_names=list(input_names) if input_names else None,
                                    output_names=list(output_names) if output_names else None, verbose=False,
                                    report=False, optimize=True, **kwargs)
    proto = program.model_proto
    if dynamic and not _has_dynamic_batch(proto):
        raise RuntimeError("torch.export kept every input's batch static")
    if dynamic and (narrowed := _narrowed_batches(program, proto)):
        raise RuntimeError(f"torch.export kept the batch dynamic only over {', '.join(narrowed)}: the module branches "
                           "on it (the converted model would take the traced branch at every size)")
    return proto


def _narrowed_batches(program: Any, proto: Any) -> list[str]:
    """The inputs' dynamic dim 0 whose range torch.export narrowed (``if x.shape[0] > 2`` traced with 3 keeps
    [3, ∞)): the ONNX graph has no such guard, so another size would silently run the traced branch."""
    import math

    exported = getattr(program, "exported_program", None)
    ranges = {str(k): v for k, v in getattr(exported, "range_constraints", {}).items()}
    out = []
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        bounds = ranges.get(dims[0].dim_param) if dims and dims[0].dim_param else None
        if bounds is not None and (float(bounds.lower) > 2 or not math.isinf(float(bounds.upper))):
            out.append(f"{value.name}: [{bounds.lower}, {bounds.upper}]")
    return out


def _has_dynamic_batch(proto: Any) -> bool:
    """Whether some graph input's dim 0 stayed symbolic (Dim.AUTO lets torch.export specialize it silently)."""
    dims = [i.type.tensor_type.shape.dim for i in proto.graph.input]
    return any(d and not d[0].HasField("dim_value") for d in dims)


def _batch_spec(value: Any, batch: Any) -> Any:
    """``value``'s dynamic_shapes entry: dim 0 of each tensor is ``batch``, nested tuples/lists alike (a None for a
    whole tuple failed the dynamic export, so a module taking ``(a, b)`` pairs fell back to static shapes)."""
    if _is_tensor(value):
        return {0: batch} if value.dim() > 0 else None
    if isinstance(value, (tuple, list)):
        return type(value)(_batch_spec(v, batch) for v in value)
    return None


def per_parameter(model: Any, specs: tuple) -> tuple:
    """``dynamic_shapes`` laid out as ``torch.export`` matches them, one per ``forward`` parameter: the arguments
    a ``*args`` parameter catches form one tuple (a flat tuple fails, and the export fell back to static shapes)."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return specs
    for i, param in enumerate(params[:len(specs) + 1]):
        if param.kind == param.VAR_POSITIONAL:  # none caught (``forward(x, *rest)`` given x only): no group
            return specs[:i] + (specs[i:],) if i < len(specs) else specs
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
    return specs


def _legacy(model: Any, args: tuple, input_names: Sequence[str] | None, output_names: Sequence[str] | None,
            dynamic: bool) -> Any:
    import onnx
    import torch

    if not isinstance(model, torch.nn.Module):
        raise UsageError("the legacy exporter needs a torch.nn.Module (not an ExportedProgram)")
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(args))]
    kwargs: dict[str, Any] = {}
    if dynamic:
        kwargs["dynamic_axes"] = {n: {0: "batch"} for n, a in zip(names, args) if _is_tensor(a) and a.dim() > 0}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, buffer, dynamo=False, opset_version=LEGACY_OPSET, input_names=names,
                          output_names=list(output_names) if output_names else None, **kwargs)
    return onnx.load_from_string(buffer.getvalue())


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


class _quiet:
    """Silence the exporters' progress chatter on the torch loggers while exporting."""

    def __enter__(self) -> None:
        self._levels = {}
        for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx.experimental.symbolic_shapes"):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


_EXPORTERS = {"dynamo": _dynamo, "legacy": _legacy}
