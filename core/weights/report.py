"""What writing the weights changed: dtype conversions, quantization errors, sizes.

TF.js cannot store every dtype and quantization is lossy, so nothing the weights writer does to
values may go unmentioned; the writer records it here and the CLI prints :meth:`WeightsReport.summary`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple


class DtypeConversion(NamedTuple):
    """A weight stored in a dtype other than its own (e.g. float64 -> float32)."""

    name: str
    from_dtype: str
    to_dtype: str


class QuantizedWeight(NamedTuple):
    """A quantized weight and the error quantization introduced.

    ``max_rel_error`` is ``max_abs_error / max|x|`` (0 for an all-zero weight).
    """

    name: str
    dtype: str
    max_abs_error: float
    max_rel_error: float
    bytes_before: int
    bytes_after: int


@dataclasses.dataclass
class WeightsReport:
    """Collects everything :func:`~tfjsconv.weights.write_weights` did besides copying bytes."""

    conversions: list[DtypeConversion] = dataclasses.field(default_factory=list)
    quantized: list[QuantizedWeight] = dataclasses.field(default_factory=list)
    #: Lossy side effects worth a warning, e.g. float64 values that overflow float32.
    notes: list[str] = dataclasses.field(default_factory=list)
    weight_count: int = 0
    total_bytes: int = 0
    shard_count: int = 0

    def add_conversion(self, name: str, from_dtype: str, to_dtype: str) -> None:
        self.conversions.append(DtypeConversion(name, from_dtype, to_dtype))

    def add_quantized(self, name: str, dtype: str, max_abs_error: float, max_rel_error: float,
                      bytes_before: int, bytes_after: int) -> None:
        self.quantized.append(QuantizedWeight(name, dtype, max_abs_error, max_rel_error, bytes_before, bytes_after))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (for ``--report`` files and tests)."""
        return {
            "weight_count": self.weight_count,
            "total_bytes": self.total_bytes,
            "shard_count": self.shard_count,
            "conversions": [c._asdict() for c in self.conversions],
            "quantized": [q._asdict() for q in self.quantized],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few human-readable lines; conversions are grouped by dtype pair so big models stay readable."""
        lines = [f"weights: {self.weight_count} tensors, {self.total_bytes} bytes in {self.shard_count} shard file(s)"]
        by_pair: dict[tuple[str, str], list[str]] = {}
        for conv in self.conversions:
            by_pair.setdefault((conv.from_dtype, conv.to_dtype), []).append(conv.name)
        for (src, dst), names in sorted(by_pair.items()):
            shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
            lines.append(f"  converted {len(names)} weight(s) {src} -> {dst}: {shown}")
        if self.quantized:
            before = sum(q.bytes_before for q in self.quantized)
            after = sum(q.bytes_after for q in self.quantized)
            worst = max(self.quantized, key=lambda q: q.max_rel_error)
            lines.append(f"  quantized {len(self.quantized)} weight(s), {before} -> {after} bytes; worst relative "
                         f"error {worst.max_rel_error:.3g} ({worst.name}, {worst.dtype})")
        lines.extend(f"  warning: {note}" for note in self.notes)
        return "\n".join(lines)
