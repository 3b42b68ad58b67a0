"""ONNX frontend: ONNX models to TF.js graph models, NHWC inside, with no TensorFlow.

This module only declares hooks; onnx is imported when a model is loaded, so ``tfjsconv --help``
stays light. Op mappings live in ``ops/`` (one decorated function per ONNX op); another plugin
adds or overrides one with ``register("onnx", "OpType", fn, domain=...)`` (see docs/onnx.md).
"""
from __future__ import annotations

from typing import Callable

from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend

from .detect import is_onnx_model


@hookimpl
def register_frontends(register: Callable) -> None:
    # Declared lazily (docs/plugins.md): .frontend, the translator and onnx load only for an ONNX input.
    register(LazyFrontend("onnx", f"{__name__}.frontend:OnnxFrontend", detect=is_onnx_model,
                          description="ONNX model (.onnx), translated NHWC-inside (no TensorFlow needed)"))


@hookimpl
def register_op_mappings(register: Callable) -> None:
    # Called only when the op-mapping table is first read (by the ONNX frontend), so the ops/ modules
    # load with an ONNX conversion, never for --help or another format.
    from .mapping import FRONTEND, builtin_mappings

    for op_type, mapping in builtin_mappings().items():
        register(FRONTEND, op_type, mapping, domain="")


@hookimpl
def register_options(register: Callable) -> None:
    register("--input_layout", choices=["nchw", "nhwc"], default="nchw",
             help="layout of 4-D model inputs and outputs for ONNX models: nchw (as exported, default) or "
                  "nhwc (what tf.browser.fromPixels gives; no boundary transposes)")
