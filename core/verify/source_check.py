"""Verification against the source model: random inputs from the signature, the frontend's reference.

Used by ``tfjsconv verify SOURCE MODEL_DIR`` and ``tfjsconv convert --verify``. For a quantized
model two questions are kept apart:

* is the *conversion* right? The same source converted without quantization (float32) must match
  the source within the float32 tolerance; this decides PASS/FAIL;
* what did *quantization* cost? The quantized model's error against the source is checked with a
  looser tolerance per quantized dtype (:data:`QUANTIZED_RTOL`, or ``quantized_rtol``), and its
  error against the float32 model is reported. When the twin holds the very same quantized weights
  (a quantized ONNX source: no --quantize flag added any), the conversion adds no error and the
  model is held to the float32 tolerance against the source.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingInputsError, TfjsconvError, UsageError
from .compare import (
    DEFAULT_ATOL,
    DEFAULT_ELEM_FLOOR,
    DEFAULT_ELEM_RTOL,
    DEFAULT_RTOL,
    OutputComparison,
    VerifyReport,
    compare,
    verify_model,
)

#: Default tolerance (relative to max |reference|) for a model quantized to each dtype.
QUANTIZED_RTOL = {"float16": 1e-2, "uint16": 1e-2, "uint8": 1e-1}


@dataclass
class QuantizationCheck:
    """The float32 model against the source, and the quantized model against the float32 model."""

    dtypes: list[str]
    rtol: float
    float_comparisons: list[OutputComparison] = field(default_factory=list)
    vs_float: list[OutputComparison] = field(default_factory=list)
    unavailable: str | None = None
    #: Every quantized weight is the source's own (no --quantize flag added any): held to the float rtol.
    from_source: bool = False

    @property
    def passed(self) -> bool:
        return self.unavailable is not None or all(c.passed for c in self.float_comparisons)

    @property
    def failure(self) -> str:
        failed = [f"{c.name} [{c.backend}]" for c in self.float_comparisons if not c.passed]
        return ("the float32 model (same source, not quantized) differs from the source: "
                + ", ".join(failed) + "; the conversion itself is wrong")

    def to_json(self) -> dict[str, Any]:
        return {"dtypes": list(self.dtypes), "quantized_rtol": self.rtol, "passed": self.passed,
                "unavailable": self.unavailable, "quantized_by_source": self.from_source,
                "float32_vs_source": [c.to_json() for c in self.float_comparisons],
                "quantized_vs_float32": [c.to_json() for c in self.vs_float]}

    def format_lines(self) -> list[str]:
        from ..cli.report import table

        origin = "the source's own integers, " if self.from_source else ""
        head = (f"quantization ({', '.join(self.dtypes)} weights; {origin}quantized model checked with "
                f"rtol={self.rtol:g}):")
        if self.unavailable:
            return [head, f"  float32 comparison unavailable: {self.unavailable}"]
        rows = []
        vs_float = {(c.name, c.backend): c for c in self.vs_float}
        for c in self.float_comparisons:
            q = vs_float.get((c.name, c.backend))
            rows.append([c.name, c.backend or "-", _err(c.max_rel_err), "PASS" if c.passed else "FAIL",
                         _err(q.max_abs_err if q else None), _err(q.max_rel_err if q else None)])
        text = table(["output", "backend", "float32 vs source", "result", "quantized vs float32 (abs)", "(rel)"], rows)
        return [head] + ["  " + line for line in text.splitlines()]


def _err(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def quantized_dtypes(model_dir: Path) -> list[str]:
    """The dtypes weights of ``model_dir`` are quantized to (empty when none are)."""
    doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    found = {_quantization_label(w["quantization"]) for g in doc.get("weightsManifest") or []
             for w in g.get("weights", []) if isinstance(w.get("quantization"), dict) and "dtype" in w["quantization"]}
    return sorted(found)


def _quantization_label(quantization: Mapping[str, Any]) -> str:
    """The dtype, with ``--quantize_int8`` kernels (uint8 with scale 1, min -128) named int8."""
    if quantization["dtype"] == "uint8" and quantization.get("scale") == 1 and quantization.get("min") == -128:
        return "int8"
    return str(quantization["dtype"])


def source_reference(source: str | Path, model_dir: Path, inputs: Mapping[str, np.ndarray],
                     input_format: str | None, extra: Mapping[str, Any] | None = None, *,
                     allow_unsafe_deserialization: bool = False, signature_name: str | None = None
                     ) -> dict[str, np.ndarray]:
    """The frontend's own run of ``source`` on ``inputs`` (loading code from it only if the
    conversion was allowed to: ``convert --allow_unsafe_deserialization --verify``). ``signature_name``: the
    SavedModel signature to run (None: the one ``model_dir`` records, else the default)."""
    from ..conversion import select_frontend
    from ..options import ConvertOptions
    from ..plugin_manager import get_plugin_manager

    registry = get_plugin_manager().registry
    frontend = select_frontend(source, input_format, registry)
    # The frontend may need to know how the model was converted (e.g. ONNX's input layout).
    options = ConvertOptions(input_format=frontend.name, extra={**(extra or {}), "model_dir": str(model_dir)},
                             registry=registry, allow_unsafe_deserialization=allow_unsafe_deserialization,
                             signature_name=signature_name)
    try:
        return frontend.reference(source, inputs, options)
    except NotImplementedError as err:
        raise UsageError(str(err), hint="pass --inputs and --expected instead") from None
    except MissingInputsError as err:
        raise _inputs_differ(source, model_dir, inputs, err.missing, signature_name) from None


def _inputs_differ(source: str | Path, model_dir: Path, inputs: Mapping[str, Any], missing: Sequence[str],
                   signature_name: str | None) -> UsageError:
    """Which side lacks what: the inputs fed (from --inputs, or made from the TF.js model's signature), or the
    TF.js model itself (converted from another signature, or another source)."""
    from .inputs import input_specs

    model_inputs = list(input_specs(model_dir))
    lack = ", ".join(missing)
    if all(name in model_inputs for name in missing):  # the TF.js model takes them too: the feed lacks them
        return UsageError(f"the inputs fed ({', '.join(sorted(inputs)) or 'none'}) lack {lack}, which both {source} "
                          f"and {model_dir} take", hint=f"pass --inputs X.npz keyed by {', '.join(model_inputs)}")
    signature = signature_name or recorded_signature(model_dir)  # the one the source was run with, if a SavedModel
    what = f"source's signature {signature!r}" if signature else "source"
    return UsageError(f"{source} and {model_dir} do not take the same inputs: the {what} takes {lack}, the "
                      f"TF.js model takes {', '.join(model_inputs) or 'none'}",
                      hint="was MODEL_DIR converted from SOURCE with another --signature_name? Pass the same "
                           "--signature_name to verify; else pass --inputs X.npz and --expected Y.npz"
                      if signature or Path(source).is_dir() else "was MODEL_DIR converted from another source? Else pass --inputs X.npz and --expected "
                           "Y.npz")


def recorded_signature(model_dir: Path) -> str | None:
    """The SavedModel signature ``model_dir`` was converted from, as the converter records it."""
    metadata = _model_doc(model_dir).get("userDefinedMetadata")
    value = metadata.get("signatureName") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def _model_doc(model_dir: Path) -> dict[str, Any]:
    doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def verify_against_source(source: str | Path, model_dir: str | Path, *, input_format: str | None = None,
                          inputs: Mapping[str, np.ndarray] | None = None, seed: int = 0,
                          backends: Sequence[str] | None = None, rtol: float = DEFAULT_RTOL,
                          atol: float = DEFAULT_ATOL, quantized_rtol: float | None = None,
                          convert_options: Mapping[str, Any] | None = None, quiet: bool = False,
                          backend_rtol: Mapping[str, float] | None = None,
                          browser_flags: Mapping[str, Any] | None = None,
                          elem_rtol: float | None = DEFAULT_ELEM_RTOL,
                          elem_floor: float = DEFAULT_ELEM_FLOOR, signature_name: str | None = None) -> VerifyReport:
    """Run ``model_dir`` in TF.js and compare with ``source`` run by its frontend.

    ``backends``: None runs those of cpu and wasm the model was converted for (its recorded ``--target_backends``).
    ``signature_name``: the SavedModel signature to run (None: the one ``model_dir`` records, else the default).

    ``convert_options``: the options ``model_dir`` was converted with (``convert --verify`` knows
    them); a quantized model's float32 twin is converted with the same options minus quantization.
    The element rule (``elem_rtol``) holds the float32 model; quantized weights are lossy by design,
    so the quantized model is compared with the scale rule only.
    """
    from .inputs import check_fed_inputs, input_specs
    from .targets import targeted_node_backends

    model_dir = Path(model_dir)
    backends = targeted_node_backends(model_dir) if backends is None else backends
    extra = {k: v for k, v in (convert_options or {}).items() if k == "input_layout" and v is not None}
    unsafe = bool((convert_options or {}).get("allow_unsafe_deserialization"))
    signature_name = signature_name or (convert_options or {}).get("signature_name")
    input_notes: list[str] = []
    if inputs is not None:
        inputs = dict(inputs)
        # Before the source runs; what the feed lacks the source names itself, and which side differs.
        check_fed_inputs(inputs, input_specs(model_dir), model_dir, missing_too=False)
        expected = source_reference(source, model_dir, inputs, input_format, extra, allow_unsafe_deserialization=unsafe,
                                    signature_name=signature_name)
    else:
        inputs, expected, input_notes = _random_inputs_and_reference(source, model_dir, input_format, extra, seed,
                                                                     unsafe, signature_name)
    dtypes = quantized_dtypes(model_dir)
    if not dtypes:
        report = verify_model(model_dir, inputs, expected, backends=backends, rtol=rtol, atol=atol, quiet=quiet,
                              backend_rtol=backend_rtol, browser_flags=browser_flags, elem_rtol=elem_rtol,
                              elem_floor=elem_floor, check_inputs=False)
        report.input_notes = input_notes
        return report

    q_rtol = quantized_rtol if quantized_rtol is not None else max(QUANTIZED_RTOL.get(d, 1e-1) for d in dtypes)
    check = QuantizationCheck(dtypes, q_rtol)
    if convert_options is None:
        convert_options = {**_recorded_options(model_dir), **({"signature_name": signature_name} if signature_name
                                                              else {})}
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-float32-"))
    try:
        float_dir = workdir / "float32"
        try:
            _convert_float32(source, float_dir, input_format, convert_options)
        except TfjsconvError as err:
            check.unavailable = f"converting the source without quantization failed: {err.message}"
        if check.unavailable is None and quantized_rtol is None and not _quantized_by_flags(model_dir, float_dir):
            # Every quantized weight is the source's own (a quantized ONNX model): the conversion adds no
            # error, so the model is held to the float tolerance against the source.
            check.rtol = q_rtol = rtol
            check.from_source = True
        report = verify_model(model_dir, inputs, expected, backends=backends, rtol=q_rtol, atol=atol, quiet=quiet,
                              backend_rtol=backend_rtol, browser_flags=browser_flags, elem_rtol=None,
                              check_inputs=False)
        report.quantization = check
        report.input_notes = input_notes
        if check.unavailable is not None:
            return report
        float_report = verify_model(float_dir, inputs, expected, backends=backends, rtol=rtol, atol=atol, quiet=True,
                                    backend_rtol=backend_rtol, browser_flags=browser_flags, elem_rtol=elem_rtol,
                                    elem_floor=elem_floor, check_inputs=False)
        check.float_comparisons = float_report.comparisons
        for backend, run in report.runs.items():
            float_run = float_report.runs.get(backend)
            if run.ok and float_run is not None and float_run.ok:
                check.vs_float.extend(compare(run.outputs, float_run.outputs, rtol=q_rtol, atol=atol, backend=backend,
                                              elem_rtol=None))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _random_inputs_and_reference(source: str | Path, model_dir: Path, input_format: str | None,
                                 extra: Mapping[str, Any], seed: int, unsafe: bool, signature_name: str | None = None
                                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Random inputs, the source's outputs for them and what the report should say about their sizes. An unknown
    axis past the batch (a time length) gets :data:`~.inputs.DEFAULT_INNER_DIM` steps, so that a recurrence is
    checked over several; a source that cannot run that size (the axis is not free after all) is checked at size
    1, and the report says so (a check at size 1 leaves a recurrence or a window unchecked)."""
    from .inputs import DEFAULT_DIM, DEFAULT_INNER_DIM, has_unknown_inner_dims, input_specs, random_inputs, unknown_axes

    specs = input_specs(model_dir)
    axes = unknown_axes(specs)
    if has_unknown_inner_dims(specs):
        inputs = random_inputs(specs, seed=seed, inner_dim=DEFAULT_INNER_DIM)
        try:
            expected = source_reference(source, model_dir, inputs, input_format, extra,
                                        allow_unsafe_deserialization=unsafe, signature_name=signature_name)
            return inputs, expected, [f"random inputs: unknown axes past the first ({axes}) fed size "
                                      f"{DEFAULT_INNER_DIM} (an unknown first axis: {DEFAULT_DIM})"]
        except (UsageError, MissingInputsError):
            raise
        except Exception as err:  # noqa: BLE001 - the source refused that size; size 1 (the old default) decides
            why = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            note = (f"random inputs: unknown axes past the first ({axes}) fed size {DEFAULT_DIM}, not "
                    f"{DEFAULT_INNER_DIM}: the source cannot run size {DEFAULT_INNER_DIM} ({why}); pass --inputs to "
                    f"check other sizes")
    else:
        note = None
    inputs = random_inputs(specs, seed=seed)
    expected = source_reference(source, model_dir, inputs, input_format, extra, allow_unsafe_deserialization=unsafe,
                                signature_name=signature_name)
    return inputs, expected, [note] if note else []


def _quantized_entries(model_dir: Path) -> set[tuple[str, str]]:
    doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    return {(w.get("name"), _quantization_label(w["quantization"])) for g in doc.get("weightsManifest") or []
            for w in g.get("weights", []) if isinstance(w.get("quantization"), dict) and "dtype" in w["quantization"]}


def _quantized_by_flags(model_dir: Path, float_dir: Path) -> bool:
    """Whether ``model_dir`` has quantized weights its float32 twin (converted with no --quantize flag) lacks:
    those a flag quantized. None means the integers all came from the source."""
    return bool(_quantized_entries(model_dir) - _quantized_entries(float_dir))


def quantized_only_by_source(source: str | Path, model_dir: Path, input_format: str | None) -> bool:
    """Whether every quantized weight of ``model_dir`` is the source's own (a quantized ONNX model, no
    --quantize flag): its float32 twin, converted here, holds the same quantized weights. False when
    the twin cannot be converted (then the quantized tolerance is the safe reading)."""
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-float32-"))
    try:
        _convert_float32(source, workdir / "float32", input_format, _recorded_options(model_dir))
        return not _quantized_by_flags(model_dir, workdir / "float32")
    except TfjsconvError:
        return False
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _recorded_options(model_dir: Path) -> dict[str, Any]:
    """Conversion options model.json records (an NHWC input layout, the SavedModel signature, the target backends),
    for the float32 twin: converted from another signature, or for backends the source's ops do not all run on,
    it would not be the model's twin."""
    from ..inspect.tfjs_model import layouts_from_metadata
    from ..writers.target_record import recorded_targets

    doc = _model_doc(model_dir)
    layouts = layouts_from_metadata(doc.get("userDefinedMetadata"))
    options: dict[str, Any] = {"target_backends": list(recorded_targets(doc))}
    if any(side == "inputs" and v == "NHWC" for (side, _), v in layouts.items()):
        options["input_layout"] = "nhwc"
    signature = recorded_signature(model_dir)
    if signature:
        options["signature_name"] = signature
    return options


def _convert_float32(source: str | Path, out: Path, input_format: str | None,
                     convert_options: Mapping[str, Any] | None) -> None:
    from ..conversion import convert

    options = {k: v for k, v in (convert_options or {}).items()
               if not k.startswith("quantiz") and k not in ("overwrite", "input_format")}
    convert(source, out, input_format=input_format, **options)
