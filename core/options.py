"""Conversion options: the flags of ``tensorflowjs_converter``, with the same meanings, plus ours."""
from __future__ import annotations

import dataclasses
from typing import Any

from .errors import UsageError
from .limits import Limits

DEFAULT_SHARD_SIZE = 4 * 1024 * 1024
#: Highest --optimization_level; the default runs every pass that is safe.
MAX_OPTIMIZATION_LEVEL = 2

#: Why ``--quantize_int8`` is refused for layers models.
INT8_LAYERS_MESSAGE = ("--quantize_int8 applies to graph models only: a layers model has no place for the "
                       "per-channel rescale (use --output_format=tfjs_graph_model, or --quantize_uint8)")

QuantizeSpec = bool | list[str] | None
"""``None``: off; ``True``: every float32 weight not claimed by another dtype; a list: fnmatch patterns."""


@dataclasses.dataclass
class ConvertOptions:
    input_format: str | None = None
    output_format: str | None = None
    signature_name: str | None = None
    saved_model_tags: list[str] = dataclasses.field(default_factory=lambda: ["serve"])
    quantize_float16: QuantizeSpec = None
    quantize_uint8: QuantizeSpec = None
    quantize_uint16: QuantizeSpec = None
    #: Per-channel symmetric int8 for conv/matmul kernels (graph models; docs/quantization.md).
    quantize_int8: QuantizeSpec = None
    weight_shard_size_bytes: int = DEFAULT_SHARD_SIZE
    split_weights_by_layer: bool = False
    #: Write provenance.json: each TF.js node's source nodes (docs/provenance.md).
    keep_provenance: bool = False
    skip_op_check: bool = False
    #: TF.js backends the model must run on; every node is checked against each (docs/backends.md).
    target_backends: list[str] = dataclasses.field(default_factory=lambda: ["cpu", "wasm", "webgl"])
    #: Rewrite ops whose TF.js kernels mishandle NaN/±Inf on a target backend (docs/backends.md, "Special values").
    exact_special_values: bool = False
    strip_debug_ops: bool = True
    control_flow_v2: bool = False
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    use_structured_outputs_names: bool = False
    output_node_names: list[str] | None = None
    optimization_level: int = MAX_OPTIMIZATION_LEVEL
    skip_passes: list[str] = dataclasses.field(default_factory=list)
    overwrite: bool = False
    allow_unsafe_deserialization: bool = False
    #: Bounds on the work an input may ask for (``max_nodes=…`` etc. as keyword arguments; see limits.py).
    limits: Limits = dataclasses.field(default_factory=Limits)
    #: Options only some plugin understands, keyed by the plugin's own names.
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The plugin registry of this conversion (set by ``convert``), so frontends look up op
    #: mappings in the manager the caller chose rather than the process-wide one.
    registry: Any = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "ConvertOptions":
        """Build from keyword arguments; unknown names go to ``extra`` (plugins read them there)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        bounds = {k: kwargs.pop(k) for k in Limits.names() if k in kwargs}
        if bounds:
            kwargs["limits"] = Limits(**bounds)
        known = {k: v for k, v in kwargs.items() if k in fields}
        extra = {k: v for k, v in kwargs.items() if k not in fields}
        options = cls(**known)
        options.extra.update(extra)
        options.check()
        return options

    @property
    def quantization(self) -> dict[str, bool | list[str]]:
        """``{"float16": True | [patterns], ...}`` for the dtypes that are switched on."""
        specs = {"float16": self.quantize_float16, "uint8": self.quantize_uint8, "uint16": self.quantize_uint16}
        return {dtype: spec for dtype, spec in specs.items() if spec not in (None, False, [])}

    def check(self) -> None:
        """Reject contradictory options with one message naming all of them."""
        problems = []
        if not isinstance(self.weight_shard_size_bytes, int) or self.weight_shard_size_bytes <= 0:
            problems.append(f"--weight_shard_size_bytes must be a positive integer, got {self.weight_shard_size_bytes!r}")
        problems += self.limits.problems()
        catch_all = [dtype for dtype, spec in self.quantization.items() if spec is True]
        if len(catch_all) > 1:
            problems.append("only one of --quantize_float16/--quantize_uint8/--quantize_uint16 may be given "
                            f"without patterns (got {', '.join('--quantize_' + d for d in catch_all)})")
        claimed: dict[str, str] = {}
        for dtype, spec in self.quantization.items():
            if isinstance(spec, list):
                for pattern in spec:
                    if pattern in claimed and claimed[pattern] != dtype:
                        problems.append(f"pattern {pattern!r} is given to both --quantize_{claimed[pattern]} "
                                        f"and --quantize_{dtype}")
                    claimed[pattern] = dtype
        if self.optimization_level not in range(MAX_OPTIMIZATION_LEVEL + 1):
            problems.append(f"--optimization_level must be 0..{MAX_OPTIMIZATION_LEVEL}, got {self.optimization_level!r}")
        if self.output_format == "tfjs_layers_model" and self.control_flow_v2:
            problems.append("--control_flow_v2 applies to graph models only, not --output_format=tfjs_layers_model")
        if self.output_format == "tfjs_layers_model" and self.quantize_int8 not in (None, False, []):
            problems.append(INT8_LAYERS_MESSAGE)
        if self.output_format == "tfjs_graph_model" and self.split_weights_by_layer:
            problems.append("--split_weights_by_layer applies to layers models only, not --output_format=tfjs_graph_model")
        if isinstance(self.target_backends, str):
            self.target_backends = [b.strip() for b in self.target_backends.split(",") if b.strip()]
        unknown_backends = [b for b in self.target_backends if b not in ("cpu", "wasm", "webgl", "webgpu")]
        if unknown_backends or not self.target_backends:
            problems.append(f"--target_backends takes a comma-separated subset of cpu, wasm, webgl, webgpu, got "
                            f"{','.join(self.target_backends) or 'nothing'}")
        if isinstance(self.output_node_names, str):  # the Python API's "a,b", as the flag takes it
            self.output_node_names = [n.strip() for n in self.output_node_names.split(",") if n.strip()]
        if self.output_node_names and self.input_format not in (None, "tf_frozen_model"):
            problems.append("--output_node_names applies to --input_format=tf_frozen_model only")
        if problems:
            raise UsageError("contradictory options:\n  " + "\n  ".join(problems) if len(problems) > 1 else problems[0])
