"""Output writers: one per ``--output_format``. Every writer writes through :func:`atomic_output_dir`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..model import Model
from ..options import ConvertOptions
from .atomic import atomic_output_dir


class Writer:
    """Writes a :data:`~tfjsconv.model.Model` into an (empty, temporary) folder.

    The caller owns atomicity: ``write`` gets a staging folder that is renamed into place only if
    it returns. ``write`` returns a dict of facts for the conversion report.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def accepts(self, model: Model) -> bool:
        raise NotImplementedError

    def write(self, model: Model, staging_dir: Path, options: ConvertOptions) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Writer {self.name}>"


def write_weights_then_json(groups: Any, staging_dir: Path, options: ConvertOptions,
                            make_json: Any, int8: Any = None, exact: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Stream ``groups`` into shards, then write ``make_json(manifest)`` as model.json.

    model.json is written last so that a model folder with a model.json is always complete.
    ``int8`` is the :class:`~tfjsconv.writers.int8_kernels.Int8Result` of ``--quantize_int8``, if any; ``exact``
    names weights no quantization flag may touch (a pass's constants whose rounding would cost precision).
    """
    import dataclasses

    from ..weights import QuantizationPlan, WeightsReport, write_weights
    from .model_json import write_model_json

    report = WeightsReport()
    plan = QuantizationPlan.from_spec(options.quantization) if options.quantization else None
    if int8 is not None:
        plan = dataclasses.replace(plan or QuantizationPlan(), int8=int8.errors, exempt=frozenset(int8.scales),
                                   int8_offsets=int8.offsets, int16=frozenset(int8.wide))
        report.notes.extend(f"--quantize_int8 left {s} in float32" for s in dict.fromkeys(int8.skipped))
        report.notes.extend(int8.notes)
    if plan is not None and exact:
        plan = dataclasses.replace(plan, exempt=plan.exempt | exact)
    manifest = write_weights(groups, staging_dir, shard_size=options.weight_shard_size_bytes, plan=plan, report=report)
    from ..weights.manifest import check_weight_count

    check_weight_count(manifest, options.limits, "the converted model")  # TF.js could not load it
    write_model_json(make_json(manifest), staging_dir)
    return {"weights": report}


__all__ = ["Writer", "atomic_output_dir", "write_weights_then_json"]
