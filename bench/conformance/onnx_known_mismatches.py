"""ONNX node tests where tfjsconv + TF.js give a *wrong* output today, each with its cause.

Every entry is a model tfjsconv emits without complaint that computes something else than ONNX's
reference: silent-wrong bugs to fix (or to turn into refusals), or — marked "test data" — cases where
ONNX's shipped expected output is itself off and TF.js agrees with onnxruntime.
``tests/test_conformance_onnx.py`` fails when a case turns wrong without being listed here, and when a
listed case starts passing (then delete its line). Names are node-test names; "constants" marks cases
that are wrong only in the parameters-as-constants run (shipped as is, they are refused).
"""
from __future__ import annotations

#: ONNX's reference writes -inf for masked scores; tfjsconv masks with the lowest float32 (so a softmax
#: over a row never meets -inf - -inf), as onnxruntime does: checked against onnxruntime by the sweep.
_QK_LOWEST = ("test data: Attention qk_matmul_output (mode 2): masked scores are the lowest float32 where ONNX's "
              "reference has -inf; TF.js agrees with onnxruntime")

KNOWN_MISMATCHES: dict[str, str] = {
    "test_attention_4d_with_past_and_present_qk_matmul_bias_3d_mask_causal": _QK_LOWEST,
    "test_attention_4d_with_past_and_present_qk_matmul_bias_4d_mask_causal": _QK_LOWEST,
    "test_averagepool_2d_ceil_last_window_starts_on_pad":
        "test data: the expected output is written with 4 decimals (error 5.6e-5); agrees with onnxruntime",
    "test_resize_downsample_scales_cubic_align_corners":
        "test data: ONNX's reference disagrees with onnxruntime on align_corners downsampling (it divides by the "
        "fractional output length); TF.js agrees with onnxruntime",
    "test_maxunpool_export_with_output_shape":
        "test data: with an output_shape larger than the pooled-from input, ONNX's reference moves each index to "
        "the same (h, w) in the bigger plane; onnxruntime (and torch's max_unpool2d) read it as a flat index into "
        "the output, and TF.js agrees with onnxruntime",
    "test_resize_downsample_scales_linear_align_corners":
        "test data: ONNX's reference disagrees with onnxruntime on align_corners downsampling; TF.js agrees "
        "with onnxruntime",
}
