"""A ``ResizeBilinear`` whose result is rounded → TensorFlow's CPU kernel, spelled out in float32 ops.

Keras 3's ``Resizing`` (and bilinear ``UpSampling2D``) of integer images rounds the bilinear result half to even and
casts it back, as do preprocessing graphs that resize to pixel values. TF.js computes ``ResizeBilinear``'s weights
and sums in another order (in float64 on cpu), a rounding error away from TF's: at a tie (x.5, common when resizing
integers) the rounded pixel is off by one (1 of 112 on wasm for Keras's int32 5x6 → 7x4 ``Resizing``). So a
``ResizeBilinear`` read by a ``Round``, of static input height and width and a constant size, becomes TF's kernel
(``resize_bilinear_op.cc``): each output row's and column's two source indices and float32 weight computed here as
``compute_interpolation_weights`` does (half-pixel centres or the legacy scaler, ``align_corners``), the pixels
gathered, then ``top = tl + (tr - tl)·x``, ``bottom = bl + (br - bl)·x``, ``top + (bottom - top)·y`` in that order
(TF.js's float32 ``Sub``/``Mul``/``AddV2`` round each result to float32 on cpu and wasm alike). int32/int64 images
are first rounded to float32 as TF's ``static_cast`` rounds them (half to even past 2^24), from two exact halves
(TF.js's cpu ``Cast`` keeps int32 unrounded). An unrounded resize is left alone: there the difference stays a
rounding error. The graphs the ONNX frontend builds (``graph.metadata["onnx"]``) are left alone: their reference is
onnxruntime's resize, not TF's kernel. The Keras lowering builds the same kernel
(``plugins/keras/lowering/integer_resize.py``).
"""
from __future__ import annotations

import logging
import math

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..ops.special_values import GUARDED_SUFFIX
from . import Pass, PassResult
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes

log = logging.getLogger(__name__)

#: image dtypes float32 holds exactly: a plain Cast reads them as TF does
SMALL_INTEGERS = (DType.UINT8, DType.INT8, DType.UINT16, DType.INT16)
#: image dtypes TF.js holds as int32, which float32 holds exactly only up to 2^24
WIDE_INTEGERS = (DType.INT32, DType.INT64)
#: the low part the exact int32 → float32 cast splits off (the rest, a multiple of it, is exact in float32)
LOW_PART = 256


def tf_bilinear_weights(in_size: int, out_size: int, *, half_pixel: bool,
                        align_corners: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's (lower index, upper index, float32 lerp) per output position along one axis."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    lower, upper, lerp = [], [], []
    for i in range(out_size):
        position = f32((f32(i) + f32(0.5)) * scale - f32(0.5)) if half_pixel else f32(f32(i) * scale)
        floor = f32(math.floor(position))
        lower.append(max(int(floor), 0))
        upper.append(min(int(math.ceil(position)), in_size - 1))
        lerp.append(f32(position - floor))
    return np.asarray(lower, np.int32), np.asarray(upper, np.int32), np.asarray(lerp, np.float32)


class _Builder:
    """Adds the kernel's nodes under ``{node}/tf_bilinear``."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph, self.prefix = graph, f"{node.name}/tf_bilinear"

    def const(self, array: np.ndarray, label: str) -> Value:
        return self.graph.const(array, name=f"{self.prefix}/{label}")

    def op(self, op: str, inputs: list[Value], label: str, dtype: DType = DType.FLOAT32, **attrs: object) -> Value:
        return self.graph.add_op(op, inputs, {"T": dtype, **attrs}, name=f"{self.prefix}/{label}", dtype=dtype)

    def cast(self, x: Value, src: DType, label: str) -> Value:
        """A Cast every backend computes as TF (named exact so the special-values line leaves it out)."""
        return self.graph.add_op("Cast", [x], {"SrcT": src, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=f"{self.prefix}/{label}{GUARDED_SUFFIX}", dtype=DType.FLOAT32)

    def as_float32(self, x: Value, dtype: DType) -> Value:
        """The images in float32, rounded as TF's ``static_cast<float>`` rounds them."""
        if dtype == DType.FLOAT32:
            return x
        if dtype in SMALL_INTEGERS:
            return self.cast(x, dtype, "as_float")
        low = self.op("FloorMod", [x, self.const(np.int32(LOW_PART), "low_modulus")], "low", DType.INT32)
        high = self.op("Sub", [x, low], "high", DType.INT32)  # between -2^31 and x: no overflow
        return self.op("AddV2", [self.cast(high, DType.INT32, "high_as_float"),
                                 self.cast(low, DType.INT32, "low_as_float")], "as_float")

    def gather(self, x: Value, indices: np.ndarray, axis: int, label: str) -> Value:
        return self.graph.add_op("GatherV2", [x, self.const(indices, f"{label}_indices"),
                                              self.const(np.int32(axis), f"{label}_axis")],
                                 {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32,
                                  "batch_dims": 0}, name=f"{self.prefix}/{label}", dtype=DType.FLOAT32)

    def step(self, a: Value, b: Value, weight: Value, label: str) -> Value:
        """``(b - a)·weight``, the part of TF's lerp ``a + (b - a)·weight`` added to ``a``."""
        return self.op("Mul", [self.op("Sub", [b, a], f"{label}_delta"), weight], f"{label}_scaled")


def _lower(graph: Graph, node: Node, size: tuple[int, int], target: tuple[int, int]) -> None:
    half_pixel = bool(node.attrs.get("half_pixel_centers", False))
    align = bool(node.attrs.get("align_corners", False))
    dtype = DType.from_any(node.attrs.get("T", node.inputs[0].dtype or DType.FLOAT32))
    b = _Builder(graph, node)
    x = b.as_float32(node.inputs[0], dtype)
    y_lower, y_upper, y_lerp = tf_bilinear_weights(size[0], target[0], half_pixel=half_pixel, align_corners=align)
    x_lower, x_upper, x_lerp = tf_bilinear_weights(size[1], target[1], half_pixel=half_pixel, align_corners=align)
    x_weight = b.const(x_lerp.reshape(1, 1, -1, 1), "x_lerp")
    y_weight = b.const(y_lerp.reshape(1, -1, 1, 1), "y_lerp")
    top_rows, bottom_rows = b.gather(x, y_lower, 1, "top_rows"), b.gather(x, y_upper, 1, "bottom_rows")

    def row(rows: Value, label: str) -> Value:
        left, right = b.gather(rows, x_lower, 2, f"{label}_left"), b.gather(rows, x_upper, 2, f"{label}_right")
        return b.op("AddV2", [left, b.step(left, right, x_weight, label)], label)

    top, bottom = row(top_rows, "top"), row(bottom_rows, "bottom")
    rewrite(node, "AddV2", [top, b.step(top, bottom, y_weight, "resized")], {"T": DType.FLOAT32})


class RoundedBilinearAsTF(Pass):
    """A ``ResizeBilinear`` a ``Round`` reads, of static sizes → TF's float32 kernel, so the rounding matches TF."""

    name = "rounded_bilinear"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        if "onnx" in graph.metadata:  # onnxruntime's resize is the reference there
            return PassResult(0)
        resizes = [n for n in graph.nodes if n.op == "ResizeBilinear" and len(n.inputs) == 2]
        readers = graph.consumers() if resizes else {}
        resizes = [n for n in resizes if any(r.op == "Round" for r in readers.get(n.output(0), ()))]
        if not resizes:
            return PassResult(0)
        shapes, count, unknown = infer_shapes(graph), 0, []
        for node in resizes:
            dtype = DType.from_any(node.attrs.get("T", node.inputs[0].dtype or DType.FLOAT32))
            shape, target = shapes.get(node.inputs[0], node.inputs[0].shape), const_array(node.inputs[1])
            if dtype not in (DType.FLOAT32, *SMALL_INTEGERS, *WIDE_INTEGERS):
                continue
            if (shape is None or len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[2], int)
                    or target is None or np.asarray(target).size != 2):
                unknown.append(node.name)
                continue
            if min(shape[1], shape[2], *np.asarray(target).tolist()) < 1:
                continue
            _lower(graph, node, (shape[1], shape[2]), tuple(int(t) for t in np.asarray(target).reshape(-1)))
            count += 1
        _warn_unknown_sizes(graph, unknown)
        return PassResult(count)


def _warn_unknown_sizes(graph: Graph, names: list[str]) -> None:
    """One line per node (once: the pass may run again) for a rounded resize left to TF.js: over run-time sizes
    TF's weights cannot be computed here, and TF.js's bilinear can round a tie (x.5) to the other integer."""
    for name in names:
        text = (f"ResizeBilinear {name!r} is rounded (Round) over an unknown height or width or a run-time size: "
                "TF.js's bilinear is a rounding error away from TensorFlow's, so results at a tie (x.5) can round "
                "to the other integer (static sizes are computed as TensorFlow does)")
        if text in graph.notes:
            continue
        log.warning("%s", text)
        graph.notes.append(text)
