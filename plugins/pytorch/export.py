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
        batch = torch.export.Dim("batch", min=1)
        kwargs["dynamic_shapes"] = tuple({0: batch} if _is_tensor(a) and a.dim() > 0 else None for a in args)
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, args, dynamo=True, input_names=list(input_names) if input_names else None,
                                    output_names=list(output_names) if output_names else None, verbose=False,
                                    report=False, optimize=True, **kwargs)
    return program.model_proto


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
