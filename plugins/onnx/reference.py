"""The reference outputs of an ONNX model: onnxruntime on the CPU, fed what TF.js is fed."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, UsageError

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


def run_onnxruntime(path: Path, inputs: Mapping[str, np.ndarray], *, input_layout: str | None = None
                    ) -> dict[str, np.ndarray]:
    """Outputs keyed by ONNX output name. With ``input_layout="nhwc"`` 4-D inputs/outputs are NHWC, as in TF.js.

    ``None`` (e.g. ``tfjsconv verify``, which does not know the flag) means: NHWC when the 4-D inputs
    only fit the model that way, else NCHW.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError("the ONNX reference runner needs onnxruntime", hint="pip install 'tfjsconv[onnx]'") from None
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:
        raise InputError(f"onnxruntime cannot load {path}: {err}") from None
    expected = session.get_inputs()
    missing = [i.name for i in expected if i.name not in inputs]
    if missing:
        raise UsageError(f"no value given for ONNX input(s) {', '.join(missing)}")
    arrays = {info.name: np.asarray(inputs[info.name]) for info in expected}
    nhwc = input_layout == "nhwc" if input_layout else _looks_nhwc(expected, arrays)
    feeds = {}
    for info in expected:
        array = arrays[info.name]
        if nhwc and array.ndim == 4:
            array = array.transpose(0, 3, 1, 2)
        feeds[info.name] = np.ascontiguousarray(array.astype(_ORT_TYPES.get(info.type, array.dtype), copy=False))
    names = [o.name for o in session.get_outputs()]
    try:
        results = session.run(names, feeds)
    except Exception as err:
        raise InputError(f"onnxruntime cannot run {path.name} on these inputs: {err}",
                         hint="for a model converted with --input_layout nhwc, give NHWC inputs") from None
    out = {}
    for name, array in zip(names, results):
        array = np.asarray(array)
        out[name] = array.transpose(0, 2, 3, 1) if nhwc and array.ndim == 4 else array
    return out


def _fits(shape: Sequence[Any], dims: Sequence[int]) -> bool:
    return len(shape) == len(dims) and all(not isinstance(s, int) or s == d for s, d in zip(shape, dims))


def _looks_nhwc(expected: Sequence[Any], arrays: Mapping[str, np.ndarray]) -> bool:
    """True when some 4-D input fits the model only as NHWC."""
    for info in expected:
        array = arrays[info.name]
        if array.ndim == 4 and not _fits(info.shape, array.shape):
            n, h, w, c = array.shape
            if _fits(info.shape, (n, c, h, w)):
                return True
    return False


def layout_from_model_dir(model_dir: Path | None) -> str | None:
    """The layout a converted model records in model.json (userDefinedMetadata.onnx.layout)."""
    if model_dir is None:
        return None
    try:
        doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    layouts = (doc.get("userDefinedMetadata") or {}).get("onnx", {}).get("layout", {}).get("inputs", {})
    return "nhwc" if "NHWC" in layouts.values() else ("nchw" if layouts else None)
