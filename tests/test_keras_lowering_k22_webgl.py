"""CenterCrop and Resizing's aspect crop and pad over unknown sizes on TF.js's webgl backend (headless Chromium):
the run-time box (int32 Shape, Mul, FloorDiv), the padded crop and the scalar SelectV2 compute what eager Keras
does, as on cpu and wasm (tests/test_keras_lowering_k22_runtime_crop.py runs every flavour and size there)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case  # noqa: E402
from test_keras_lowering_k22_runtime_crop import save_case  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node
CASES = [("crops", "keras3.keras"), ("center_special", "keras3.keras")]
#: Larger (odd margins), equal, smaller on one side, smaller on both, a one-pixel aspect box.
RUNS = {"crops": (0, 1, 2, 4, 7), "center_special": (0, 1)}


converted = converted_fixture("k22_webgl", CASES, save_case)


@each_case(CASES)
def test_crops_over_unknown_sizes_match_eager_keras_on_webgl(converted, browser, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    signature = json.loads((out / "model.json").read_text())["signature"]
    for i in RUNS[family]:
        inputs, outputs = runs[i]
        expected = dict(zip(signature["outputs"], outputs, strict=True))
        report = verify_model(out, dict(zip(signature["inputs"], inputs.values(), strict=True)), expected,
                              backends=("webgl",), rtol=1e-5, atol=1e-6, browser_session=browser, quiet=True)
        assert report.passed, format_report(report)
