"""Op layers: image ops (keras.ops.image, tf.image).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`).

Every lowering here reads constant sizes, offsets and factors (a tensor there is a gap) and builds the ops
TensorFlow runs for it (over images of a size unknown in the config, tf.image's ``central_crop``,
``pad_to_bounding_box``, ``resize_with_crop_or_pad`` and ``resize_with_pad`` compute their offsets and sizes at run
time from ``Shape``, in TensorFlow's int32 or float32 arithmetic): crops are Slices, paddings Pads, flips
ReverseV2, colour conversions a weighted sum over the channel axis, blurs, Sobel filters and SSIM windows
DepthwiseConv2dNative with the kernel computed here as Keras / TensorFlow compute it (in float32), resizes
ResizeBilinear / ResizeNearestNeighbor with the recorded ``align_corners`` / ``half_pixel_centers`` (of int32
images: gathers of the rows and columns TensorFlow's kernel picks), Keras 3's ``scale_and_translate`` a MatMul per
axis with Keras's weight matrix. TensorFlow's RGBToHSV / HSVToRGB / AdjustContrastv2 / AdjustSaturation / AdjustHue
kernels, which TF.js lacks (the traced path cannot convert them), are rebuilt from elementwise ops as TensorFlow's
kernels compute them. Images are rank 3 (one image) or rank 4 (a batch), channels last (tf.image) or in the recorded
Keras 3 ``data_format``. ``convert_image_dtype`` scales integer images to float32 and float32 images to int32
(saturating) as TensorFlow does; where TensorFlow computes in another dtype than float32 (the colour functions of
integer images, Keras 3 casting a float result back to integers) the lowering refuses by name; moves of values
(crop, pad, flip, transpose) keep any dtype.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import exact_floor_div

from .dynamic_shape import runtime_size, runtime_sizes
from .float_widths import is_half
from .integer_resize import exact_float32
from .op_layers import OpCall, OpSpec, float_to_int32, register_op_layers
from .preprocessing import _resize as _v2_resize

#: The names an image tensor is bound under: Keras 3's ``images``, tf.image's ``image`` and ``images`` (which
#: tf_keras's TFOpLambda binding renames to ``x``).
_IMAGE_KEYS = ("images", "image", "x")


# -- layout -----------------------------------------------------------------------------------------------
def _image(c: OpCall) -> Value:
    """The call's image tensor, whichever name the function gives it."""
    key = next((k for k in _IMAGE_KEYS if k in c.arguments), "images")
    return c.tensor(key)


def _channels_first(c: OpCall) -> bool:
    """Keras 3's recorded ``data_format`` (None: Keras's default, ``channels_last``, as the loader reads it)."""
    data_format = c.value("data_format", None)
    if data_format not in (None, "channels_last", "channels_first"):
        raise c.gap(f"data_format={data_format!r}")
    return data_format == "channels_first"


def _axes(c: OpCall, x: Value, channels_first: bool = False) -> tuple[int, int, int]:
    """The (height, width, channels) axes of a rank-3 image or a rank-4 batch of images."""
    rank = len(c.ctx.shape(x))
    if rank not in (3, 4):
        raise c.gap(f"a rank-{rank} tensor (images are rank 3 or 4)")
    if channels_first:
        return rank - 2, rank - 1, rank - 3
    return rank - 3, rank - 2, rank - 1


def _floats(c: OpCall, x: Value, why: str) -> Value:
    """``x`` if it holds float32 images; integer images are a gap (``why``: what TensorFlow does with them)."""
    if x.dtype != DType.FLOAT32:
        raise c.gap(f"{x.dtype.numpy} images ({why})")
    return x


def _size(c: OpCall, name: str, *, low: int = 0) -> int | None:
    """A constant int argument (None when not given), at least ``low`` and within int32."""
    value = c.value(name, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**31:
        raise c.gap(f"{name}={value!r} (expected an integer from {low})")
    return int(value)


def _known(c: OpCall, x: Value, axis: int, what: str) -> int:
    """The static size of ``axis`` (an unknown one is a gap: ``what`` needs it)."""
    size = c.ctx.shape(x)[axis]
    if size is None:
        raise c.gap(f"{what} of images of unknown size along axis {axis}")
    return int(size)


def _slice(c: OpCall, x: Value, starts: dict[int, int], sizes: dict[int, int], label: str = "crop") -> Value:
    """``x[..., start:start + size, ...]`` on the given axes (the others whole)."""
    shape = list(c.ctx.shape(x))
    if all(starts[a] == 0 and sizes[a] == shape[a] for a in starts):
        return x
    begin = [starts.get(a, 0) for a in range(len(shape))]
    size = [sizes.get(a, -1) for a in range(len(shape))]
    out = tuple(sizes.get(a, d) for a, d in enumerate(shape))
    return c.ctx.op("Slice", [x, c.ctx.ints(begin, f"{label}_begin"), c.ctx.ints(size, f"{label}_size")],
                    {"Index": DType.INT32}, shape=out, label=label)


def _zero_pad(c: OpCall, x: Value, pads: dict[int, tuple[int, int]], label: str = "pad") -> Value:
    """``x`` with zeros before and after the given axes (TF's Pad: 0 of the images' dtype)."""
    shape = list(c.ctx.shape(x))
    if all(p == (0, 0) for p in pads.values()):
        return x
    paddings = [list(pads.get(a, (0, 0))) for a in range(len(shape))]
    out = tuple(None if d is None else d + sum(pads.get(a, (0, 0))) for a, d in enumerate(shape))
    return c.ctx.op("Pad", [x, c.ctx.ints(paddings, f"{label}_paddings")], {"Tpaddings": DType.INT32}, shape=out,
                    label=label)


#: A size or offset: a number known at conversion, or an int32 scalar read at run time.
Size = int | Value


def _length(c: OpCall, x: Value, axis: int) -> Size:
    """The size of ``axis``: the static one, else ``tf.shape(x)[axis]`` at run time."""
    size = c.ctx.shape(x)[axis]
    return int(size) if size is not None else runtime_size(c.ctx, x, axis, f"axis{axis}")


def _int_op(c: OpCall, op: str, a: Size, b: Size, label: str) -> Size:
    """TensorFlow's int32 ``Add``/``Sub``/``Mul``/``Maximum``/``Minimum``/``FloorDiv`` of two sizes: a number
    where both are known, else an int32 scalar op (FloorDiv exact over int32: TF.js's wasm divides in float32)."""
    if isinstance(a, int) and isinstance(b, int):
        return {"AddV2": a + b, "Sub": a - b, "Mul": a * b, "Maximum": max(a, b), "Minimum": min(a, b),
                "FloorDiv": a // b if b else 0}[op]
    a, b = (v if isinstance(v, Value) else c.ctx.ints(v, f"{label}_{side}") for v, side in ((a, "a"), (b, "b")))
    if op == "FloorDiv":
        return exact_floor_div(c.ctx.graph, a, b, f"{c.ctx.name}/{label}")
    return c.ctx.op(op, [a, b], dtype=DType.INT32, shape=(), label=label)


def _vector(c: OpCall, entries: Sequence[Size], label: str) -> Value:
    """The int32 vector of ``entries`` (a constant where all are known, else a Pack of scalars)."""
    if all(isinstance(e, int) for e in entries):
        return c.ctx.ints(list(entries), label)
    scalars = [e if isinstance(e, Value) else c.ctx.ints(e, f"{label}_{i}") for i, e in enumerate(entries)]
    return c.ctx.op("Pack", scalars, {"N": len(scalars), "axis": 0}, dtype=DType.INT32, shape=(len(scalars),),
                    label=label)


def _box(c: OpCall, x: Value, starts: dict[int, Size], sizes: dict[int, Size], label: str = "crop") -> Value:
    """:func:`_slice` where starts or sizes may be read at run time (``tf.slice`` with computed begin and size)."""
    if all(isinstance(v, int) for v in (*starts.values(), *sizes.values())):
        return _slice(c, x, starts, sizes, label)
    shape = c.ctx.shape(x)
    begin = _vector(c, [starts.get(a, 0) for a in range(len(shape))], f"{label}_begin")
    size = _vector(c, [sizes.get(a, -1) for a in range(len(shape))], f"{label}_size")
    out = tuple(sizes[a] if isinstance(sizes.get(a), int) else None if a in sizes else d for a, d in enumerate(shape))
    return c.ctx.op("Slice", [x, begin, size], {"Index": DType.INT32}, shape=out, label=label)


def _pads(c: OpCall, x: Value, pads: dict[int, tuple[Size, Size]], targets: dict[int, int],
          label: str = "pad") -> Value:
    """:func:`_zero_pad` where paddings may be read at run time (``tf.pad`` with computed paddings), to the
    ``targets`` sizes TensorFlow's shape inference gives the result."""
    if all(isinstance(v, int) for pair in pads.values() for v in pair):
        return _zero_pad(c, x, pads, label)
    shape = c.ctx.shape(x)
    rows = [_vector(c, list(pads.get(a, (0, 0))), f"{label}_{a}") for a in range(len(shape))]
    paddings = c.ctx.op("Pack", rows, {"N": len(rows), "axis": 0}, dtype=DType.INT32, shape=(len(rows), 2),
                        label=f"{label}_paddings")
    out = tuple(targets.get(a, d) for a, d in enumerate(shape))
    return c.ctx.op("Pad", [x, paddings], {"Tpaddings": DType.INT32}, shape=out, label=label)


def _reverse(c: OpCall, x: Value, axes: Sequence[int], label: str) -> Value:
    return c.ctx.op("ReverseV2", [x, c.ctx.ints(list(axes), f"{label}_axes")], {"Tidx": DType.INT32}, shape=x.shape,
                    label=label)


def _swap(c: OpCall, x: Value, a: int, b: int, label: str) -> Value:
    perm = list(range(len(c.ctx.shape(x))))
    perm[a], perm[b] = b, a
    return c.ctx.transpose(x, perm, label)


def _batched(c: OpCall, x: Value) -> tuple[Value, bool]:
    """A rank-4 batch for the ops that need one (resizes, convolutions): a single image gets a batch of one."""
    if len(c.ctx.shape(x)) == 3:
        return c.ctx.expand_dims(x, 0, "as_batch"), True
    return x, False


def _unbatched(c: OpCall, y: Value, added: bool) -> Value:
    return c.ctx.squeeze(y, 0, "single_image") if added else y


def _channels_last(c: OpCall, x: Value, channels_first: bool) -> Value:
    """A rank-4 batch moved to channels last (TF's image kernels), as Keras's TF backend transposes it."""
    return c.ctx.transpose(x, [0, 2, 3, 1], "to_channels_last") if channels_first else x


def _weighted_channels(c: OpCall, x: Value, weights: np.ndarray, axis: int, label: str) -> Value:
    """``tensordot(x, weights, axes=[axis, 0])`` for a ``[channels, k]`` weight matrix, the result's ``k`` values in
    place of the channels (``k = 1``: a grayscale channel): ``x`` times the weights broadcast along a new axis after
    ``axis``, summed over ``axis``."""
    rank = len(c.ctx.shape(x))
    channels, k = weights.shape
    if c.ctx.shape(x)[axis] != channels:
        known = c.ctx.shape(x)[axis]
        raise c.gap(f"images of {'unknown' if known is None else known} channels (expected {channels})")
    expanded = c.ctx.expand_dims(x, axis + 1, f"{label}_expanded")
    dims = [1] * (rank + 1)
    dims[axis], dims[axis + 1] = channels, k
    products = c.ctx.binary("Mul", expanded, c.ctx.floats(weights.reshape(dims), f"{label}_weights"),
                            label=f"{label}_products")
    shape = list(c.ctx.shape(x))
    shape[axis] = k
    return c.ctx.op("Sum", [products, c.ctx.ints(axis, f"{label}_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                    shape=tuple(shape), label=label)


# -- crops and paddings -----------------------------------------------------------------------------------
def _keras_box(c: OpCall, x: Value, axis: int, before: str, after: str, target: str, *, pad: bool) -> tuple[int, int]:
    """Keras 3's ``(before, after)`` of one axis from exactly two of ``before``, ``after``, ``target`` (Keras
    refuses any other count), as ``_crop_images`` / ``_pad_images`` infer the third."""
    given = {k: _size(c, k) for k in (before, after, target)}
    if list(given.values()).count(None) != 1:
        raise c.gap(f"{before}, {after}, {target} = {list(given.values())} (Keras needs exactly two)")
    first, second, size = given[before], given[after], given[target]
    length = c.ctx.shape(x)[axis]
    if not pad and first is not None and size is not None:  # a crop from the start: no size needed
        if length is not None and first + size > length:
            raise c.gap(f"a crop of {size} from {first} of {length} (TensorFlow's slice raises)")
        return first, size
    if pad and first is not None and second is not None:  # both paddings: no size needed
        return first, second
    length = _known(c, x, axis, "a crop or padding inferred from the size")
    if pad:
        first = size - second - length if first is None else first
        second = size - first - length if second is None else second
        if first < 0 or second < 0:
            raise c.gap(f"padding {length} to {size} with {before}={given[before]}, {after}={given[after]}")
        return first, second
    first = length - size - second if first is None else first
    size = length - second - first if size is None else size
    if first < 0 or size < 0:
        raise c.gap(f"a crop of {size} from {first} of {length} (Keras raises)")
    return first, size


def _crop_images(c: OpCall) -> Value:
    """Keras 3 ``crop_images``: a Slice of height and width (``ops.slice``)."""
    x = _image(c)
    h, w, _ = _axes(c, x, _channels_first(c))
    top, height = _keras_box(c, x, h, "top_cropping", "bottom_cropping", "target_height", pad=False)
    left, width = _keras_box(c, x, w, "left_cropping", "right_cropping", "target_width", pad=False)
    if height == 0 or width == 0:
        raise c.gap("a crop to an empty image")
    return c.ctx.unary("Identity", _slice(c, x, {h: top, w: left}, {h: height, w: width}), label="cropped")


def _pad_images(c: OpCall) -> Value:
    """Keras 3 ``pad_images``: zeros around height and width (``ops.pad``)."""
    x = _image(c)
    h, w, _ = _axes(c, x, _channels_first(c))
    pads = {h: _keras_box(c, x, h, "top_padding", "bottom_padding", "target_height", pad=True),
            w: _keras_box(c, x, w, "left_padding", "right_padding", "target_width", pad=True)}
    return c.ctx.unary("Identity", x, label="unpadded") if all(p == (0, 0) for p in pads.values()) else \
        _zero_pad(c, x, pads)


def _offsets(c: OpCall) -> tuple[int, int, int, int]:
    """tf.image's ``offset_height, offset_width, target_height, target_width``."""
    return (_size(c, "offset_height") or 0, _size(c, "offset_width") or 0, _size(c, "target_height", low=1),
            _size(c, "target_width", low=1))


def _crop_to_bounding_box(c: OpCall) -> Value:
    """``tf.image.crop_to_bounding_box``: a Slice (a box past a known edge is a gap: TensorFlow raises)."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    top, left, height, width = _offsets(c)
    for axis, start, size in ((h, top, height), (w, left, width)):
        length = c.ctx.shape(x)[axis]
        if length is not None and start + size > length:
            raise c.gap(f"a box of {size} from {start} in {length} (TensorFlow raises)")
    return c.ctx.unary("Identity", _slice(c, x, {h: top, w: left}, {h: height, w: width}), label="cropped")


def _pad_to_bounding_box(c: OpCall) -> Value:
    """``tf.image.pad_to_bounding_box``: zeros before (the offsets) and after (up to the target size)."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    top, left, height, width = _offsets(c)
    pads: dict[int, tuple[Size, Size]] = {}
    for axis, start, size in ((h, top, height), (w, left, width)):
        length = _length(c, x, axis)
        after = _int_op(c, "Sub", size - start, length, f"after_{axis}")
        if isinstance(after, int) and after < 0:
            raise c.gap(f"padding {length} to {size} from {start} (TensorFlow raises)")
        pads[axis] = (start, after)  # a run-time one is negative only where TensorFlow raises
    return c.ctx.unary("Identity", _pads(c, x, pads, {h: height, w: width}), label="padded")


def _central_crop(c: OpCall) -> Value:
    """``tf.image.central_crop``: the start ``int((size - size · fraction) / 2)`` (float64), the rest centred."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    fraction = c.value("central_fraction")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise c.gap(f"central_fraction={fraction!r} (TensorFlow needs one in (0, 1])")
    if fraction == 1.0:
        return c.ctx.unary("Identity", x, label="uncropped")
    starts: dict[int, Size] = {}
    sizes: dict[int, Size] = {}
    for axis in (h, w):
        length = _length(c, x, axis)
        if isinstance(length, int):
            starts[axis] = int((float(length) - float(length) * float(fraction)) / 2)
        else:
            starts[axis] = _central_start(c, length, float(fraction), f"start_{axis}")
        sizes[axis] = _int_op(c, "Sub", length, _int_op(c, "Mul", starts[axis], 2, f"margins_{axis}"),
                              f"size_{axis}")
    return c.ctx.unary("Identity", _box(c, x, starts, sizes), label="cropped")


#: Run-time central crops are checked against TensorFlow's float64 arithmetic for every size below this.
_CENTRAL_CHECKED = 1 << 24


@functools.lru_cache(maxsize=64)
def _central_ratio(fraction: float) -> tuple[int, int] | None:
    """``(a, d)`` with ``int((n - n·fraction) / 2)`` (TensorFlow's float64 start of a central crop) equal to
    ``n·a // d`` for every size ``n`` below 2^24, None if ``fraction`` is no small ratio ``F`` (within 2^-50).
    TensorFlow's value is within 2^-25 of ``n·(1 - F) / 2 = n·a / d`` there (the float64 ``fraction`` off ``F`` by
    ``n·2^-50``, each of its two roundings at most 2^-30), whose fractional part is 0 or at least ``1/d > 2^-16`` from
    an integer: the truncation can differ only where ``n·a / d`` is whole, the multiples of ``d``, checked here."""
    ratio = Fraction(fraction).limit_denominator(1 << 15)
    if abs(ratio - Fraction(fraction)) > Fraction(1, 1 << 50):
        return None
    start = (1 - ratio) / 2
    a, d = start.numerator, start.denominator
    if d >= 1 << 16:
        return None
    n = np.arange(0, _CENTRAL_CHECKED, d, dtype=np.int64)
    f = n.astype(np.float64)
    if not np.array_equal(((f - f * fraction) / 2).astype(np.int64), n * a // d):
        return None
    return a, d


def _central_start(c: OpCall, length: Value, fraction: float, label: str) -> Value:
    """``int((n - n·fraction) / 2)`` of a run-time size ``n`` as ``n·a // d`` in int32 (:func:`_central_ratio`):
    ``n = hi·2^12 + lo``, so ``n·a // d = hi·(2^12·a // d) + (hi·(2^12·a mod d) + lo·a) // d``, every product
    below 2^29."""
    found = _central_ratio(fraction)
    if found is None:
        raise c.gap(f"central_fraction={fraction!r} over a size unknown in the config (TensorFlow's float64 start "
                    "matches no small ratio)")
    a, d = found
    hi = _int_op(c, "FloorDiv", length, 1 << 12, f"{label}_hi")
    lo = _int_op(c, "Sub", length, _int_op(c, "Mul", hi, 1 << 12, f"{label}_hi_part"), f"{label}_lo")
    whole, rest = divmod(a << 12, d)
    carried = _int_op(c, "AddV2", _int_op(c, "Mul", hi, rest, f"{label}_hi_rest"),
                      _int_op(c, "Mul", lo, a, f"{label}_lo_scaled"), f"{label}_carried")
    return _int_op(c, "AddV2", _int_op(c, "Mul", hi, whole, f"{label}_hi_whole"),
                   _int_op(c, "FloorDiv", carried, d, f"{label}_carried_part"), label)


def _resize_with_crop_or_pad(c: OpCall) -> Value:
    """``tf.image.resize_with_crop_or_pad``: centred crop of the larger sides, then centred zero padding of the
    smaller ones (the floor divisions of TensorFlow's arithmetic)."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    targets = {h: _size(c, "target_height", low=1), w: _size(c, "target_width", low=1)}
    starts: dict[int, Size] = {}
    sizes: dict[int, Size] = {}
    pads: dict[int, tuple[Size, Size]] = {}
    for axis, target in targets.items():
        length = _length(c, x, axis)
        diff = _int_op(c, "Sub", target, length, f"diff_{axis}")
        excess = _int_op(c, "Sub", 0, diff, f"excess_{axis}")
        starts[axis] = _int_op(c, "Maximum", _int_op(c, "FloorDiv", excess, 2, f"half_excess_{axis}"), 0,
                               f"crop_start_{axis}")
        sizes[axis] = _int_op(c, "Minimum", target, length, f"crop_size_{axis}")
        before = _int_op(c, "Maximum", _int_op(c, "FloorDiv", diff, 2, f"half_diff_{axis}"), 0, f"pad_before_{axis}")
        pads[axis] = (before, _int_op(c, "Sub", _int_op(c, "Sub", target, before, f"rest_{axis}"), sizes[axis],
                                      f"pad_after_{axis}"))
    return c.ctx.unary("Identity", _pads(c, _box(c, x, starts, sizes), pads, targets), label="resized")


# -- moves ------------------------------------------------------------------------------------------------
def _flip(axis_index: int) -> Callable[[OpCall], Value]:
    """``flip_up_down`` (0: height) / ``flip_left_right`` (1: width)."""
    def lower(c: OpCall) -> Value:
        x = _image(c)
        return _reverse(c, x, [_axes(c, x)[axis_index]], "flip")
    return lower


def _transpose_image(c: OpCall) -> Value:
    """``tf.image.transpose``: height and width swapped."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    return _swap(c, x, h, w, "transposed")


def _rot90(c: OpCall) -> Value:
    """``tf.image.rot90``: ``k mod 4`` quarter turns counter-clockwise, as TensorFlow composes them."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    k = c.value("k", 1)
    if isinstance(k, bool) or not isinstance(k, int):
        raise c.gap(f"k={k!r}")
    k %= 4
    if k == 0:
        return c.ctx.unary("Identity", x, label="unrotated")
    if k == 2:
        return _reverse(c, x, [h, w], "rot180")
    if k == 1:
        return _swap(c, _reverse(c, x, [w], "rot90_flip"), h, w, "rot90")
    return _reverse(c, _swap(c, x, h, w, "rot270_transpose"), [w], "rot270")


def _grayscale_to_rgb(c: OpCall) -> Value:
    """``tf.image.grayscale_to_rgb``: the one channel tiled three times."""
    x = _image(c)
    shape = c.ctx.shape(x)
    if len(shape) < 2 or shape[-1] != 1:
        raise c.gap(f"images of shape {list(shape)} (TensorFlow needs one channel last)")
    multiples = [1] * (len(shape) - 1) + [3]
    return c.ctx.op("Tile", [x, c.ctx.ints(multiples, "multiples")], {"Tmultiples": DType.INT32},
                    shape=(*shape[:-1], 3), label="rgb")


# -- colours ----------------------------------------------------------------------------------------------
#: tf.image's colour matrices (``image_ops_impl``): RGB to grayscale, YUV and back.
_TF_GRAY = np.array([[0.2989], [0.587], [0.114]], np.float32)
_KERAS_GRAY = np.array([[0.2989], [0.5870], [0.1140]], np.float32)
_RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512],
                        [0.114, 0.43601035, -0.10001026]], np.float32)
_YUV_TO_RGB = np.array([[1, 1, 1], [0, -0.394642334, 2.03206185], [1.13988303, -0.58062185, 0]], np.float32)
_RGB_TO_YIQ = np.array([[0.299, 0.59590059, 0.2115], [0.587, -0.27455667, -0.52273617],
                        [0.114, -0.32134392, 0.31119955]], np.float32)
_YIQ_TO_RGB = np.array([[1, 1, 1], [0.95598634, -0.27201283, -1.10674021], [0.6208248, -0.64720424, 1.70423049]],
                       np.float32)


def _keras_grayscale(c: OpCall) -> Value:
    """Keras 3 ``rgb_to_grayscale``: one channel as it is; three weighted and summed over the channel axis (integer
    images: Keras truncates the float32 sum back to their dtype, refused)."""
    x = _image(c)
    _, _, channel = _axes(c, x, _channels_first(c))
    if c.ctx.shape(x)[channel] == 1:
        return c.ctx.unary("Identity", x, label="gray")
    x = _floats(c, x, "Keras 3 truncates the weighted float32 sum back to their dtype")
    return _weighted_channels(c, x, _KERAS_GRAY, channel, "gray")


def _tf_colour(matrix: np.ndarray, label: str) -> Callable[[OpCall], Value]:
    """``tf.image.rgb_to_grayscale`` / ``rgb_to_yuv`` / ``yuv_to_rgb``: a tensordot of the last axis with the
    matrix (float images; integer ones TensorFlow scales to [0, 1] and back, or cannot multiply)."""
    def lower(c: OpCall) -> Value:
        x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
        rank = len(c.ctx.shape(x))
        if rank < 1:
            raise c.gap("a scalar")
        return _weighted_channels(c, x, matrix, rank - 1, label)
    return lower


def _to_last(c: OpCall, x: Value, channel: int, label: str) -> tuple[Value, list[int] | None]:
    """``x`` with its channel axis moved last (Keras's TF backend transposes channels-first images so), and the
    permutation that moves it back (None when it was last)."""
    rank = len(c.ctx.shape(x))
    if channel == rank - 1:
        return x, None
    perm = [a for a in range(rank) if a != channel] + [channel]
    back = [perm.index(a) for a in range(rank)]
    return c.ctx.transpose(x, perm, f"{label}_channels_last"), back


def _channel_planes(c: OpCall, x: Value, label: str) -> list[Value]:
    """The three channels of channels-last images, each kept as an axis of 1."""
    rank = len(c.ctx.shape(x))
    channels = c.ctx.shape(x)[-1]
    if channels != 3:
        raise c.gap(f"images of {'unknown' if channels is None else channels} channels (TensorFlow needs 3)")
    return [_slice(c, x, {rank - 1: i}, {rank - 1: 1}, f"{label}_{name}") for i, name in enumerate(label)]


def _concat_channels(c: OpCall, planes: list[Value], label: str) -> Value:
    shape = c.ctx.shape(planes[0])
    return c.ctx.op("ConcatV2", [*planes, c.ctx.ints(len(shape) - 1, f"{label}_axis")],
                    {"N": len(planes), "Tidx": DType.INT32}, shape=(*shape[:-1], len(planes)), label=label)


def _select(c: OpCall, condition: Value, x: Value, y: Value, label: str) -> Value:
    return c.ctx.op("SelectV2", [condition, x, y], {"T": DType.FLOAT32}, dtype=DType.FLOAT32,
                    shape=c.ctx.shape(x), label=label)


def _compare(c: OpCall, op: str, x: Value, y: Value | float, label: str) -> Value:
    other = y if isinstance(y, Value) else c.ctx.floats(y, f"{label}_bound")
    return c.ctx.op(op, [x, other], dtype=DType.BOOL, shape=c.ctx.shape(x), label=label)


def _rgb_to_hsv_planes(c: OpCall, x: Value) -> Value:
    """TensorFlow's RGBToHSV kernel (``colorspace_op.h``) on channels-last float32 images: ``v = max``, ``s = range /
    v`` (0 where ``v <= 0``), the hue from the channel that is the maximum (red first, then green) times ``(1 /
    range) · (1 / 6)``, 0 where the range is 0, plus 1 where negative."""
    ctx = c.ctx
    r, g, b = _channel_planes(c, x, "rgb")
    rank = len(ctx.shape(x))
    kept = (*ctx.shape(x)[:-1], 1)

    def reduce(op: str, label: str) -> Value:
        return ctx.op(op, [x, ctx.ints(rank - 1, f"{label}_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                      shape=kept, label=label)

    v = reduce("Max", "value")
    spread = ctx.binary("Sub", v, reduce("Min", "minimum"), label="range")
    zero = ctx.floats(0.0, "zero")
    s = _select(c, _compare(c, "Greater", v, 0.0, "positive_value"), ctx.binary("RealDiv", spread, v, label="ratio"),
                _zeros_like(c, v, "no_saturation"), "saturation")
    norm = ctx.scalar_op("Mul", ctx.unary("Reciprocal", spread, label="inverse_range"), float(np.float32(1) / 6),
                         "norm")

    def sector(first: Value, second: Value, offset: float, label: str) -> Value:
        scaled = ctx.binary("Mul", norm, ctx.binary("Sub", first, second, label=f"{label}_difference"),
                            label=f"{label}_scaled")
        return scaled if offset == 0 else ctx.scalar_op("AddV2", scaled, float(np.float32(offset) / 6), label)

    hue = _select(c, _compare(c, "Equal", r, v, "red_max"), sector(g, b, 0, "red_hue"),
                  _select(c, _compare(c, "Equal", g, v, "green_max"), sector(b, r, 2, "green_hue"),
                          sector(r, g, 4, "blue_hue"), "green_or_blue"), "hue_sector")
    hue = _select(c, _compare(c, "Greater", spread, 0.0, "has_range"), hue, _zeros_like(c, hue, "gray_hue"),
                  "hue_of_range")
    hue = _select(c, _compare(c, "Less", hue, zero, "negative_hue"), ctx.scalar_op("AddV2", hue, 1.0, "hue_turned"),
                  hue, "hue")
    return _concat_channels(c, [hue, s, v], "hsv")


def _zeros_like(c: OpCall, x: Value, label: str) -> Value:
    return c.ctx.op("ZerosLike", [x], shape=c.ctx.shape(x), label=label)


def _hsv_to_rgb_planes(c: OpCall, x: Value) -> Value:
    """TensorFlow's HSVToRGB kernel on channels-last float32 images: ``dh = 6h``, each channel's ramp ``clip(|dh - 3|
    - 1)``, ``clip(2 - |dh - 2|)``, ``clip(2 - |dh - 4|)`` within [0, 1], then ``((1 - s) + s · ramp) · v``."""
    ctx = c.ctx
    h, s, v = _channel_planes(c, x, "hsv")
    dh = ctx.scalar_op("Mul", h, 6.0, "dh")

    def ramp(centre: float, rising: bool, label: str) -> Value:
        distance = ctx.unary("Abs", ctx.scalar_op("Sub", dh, centre, f"{label}_offset"), label=f"{label}_distance")
        if rising:
            raw = ctx.scalar_op("Sub", distance, 1.0, f"{label}_raw")
        else:
            raw = ctx.scalar_op("AddV2", ctx.unary("Neg", distance, label=f"{label}_negated"), 2.0, f"{label}_raw")
        return ctx.scalar_op("Minimum", ctx.scalar_op("Maximum", raw, 0.0, f"{label}_low"), 1.0, label)

    one_minus_s = ctx.binary("Sub", ctx.floats(1.0, "one"), s, label="one_minus_s")
    planes = [ctx.binary("Mul", ctx.binary("AddV2", one_minus_s, ctx.binary("Mul", s, ramp(*args), label=f"{name}_s"),
                                           label=f"{name}_mix"), v, label=name)
              for name, args in (("red", (3.0, True, "red_ramp")), ("green", (2.0, False, "green_ramp")),
                                 ("blue", (4.0, False, "blue_ramp")))]
    return _concat_channels(c, planes, "rgb")


def _hsv(convert: Callable[[OpCall, Value], Value], keras3: bool) -> Callable[[OpCall], Value]:
    """RGB to HSV and back (Keras 3 ``rgb_to_hsv`` / ``hsv_to_rgb`` in their data format, ``tf.image``'s over the
    last axis) of float32 images, as TensorFlow's kernels compute them."""
    def lower(c: OpCall) -> Value:
        x = _floats(c, _image(c), "Keras and TensorFlow take float images only")
        if keras3:
            _, _, channel = _axes(c, x, _channels_first(c))
        else:
            channel = len(c.ctx.shape(x)) - 1
            if channel < 0:
                raise c.gap("a scalar")
        last, back = _to_last(c, x, channel, "images")
        y = convert(c, last)
        return y if back is None else c.ctx.transpose(y, back, "to_channels_first")
    return lower


def _adjust_saturation(c: OpCall) -> Value:
    """``tf.image.adjust_saturation`` of float32 images, as TensorFlow's AdjustSaturation kernel computes each pixel
    (``adjust_saturation_op.cc``; TF.js has no kernel for it): its own RGB to HSV (``1 / (6 · range)``), the
    saturation scaled and clipped to [0, 1], then HSV to RGB by the hue's sector ``int(6h)`` (a hue of 1.0 gives
    ``v - s·v`` in every channel, as its ``switch`` default does) and the ramp ``c · (1 - |6h mod 2 - 1|)``."""
    ctx = c.ctx
    x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
    factor = float(np.float32(_number(c, "saturation_factor")))
    r, g, b = _channel_planes(c, x, "rgb")
    v = ctx.binary("Maximum", r, ctx.binary("Maximum", g, b, label="max_gb"), label="value")
    spread = ctx.binary("Sub", v, ctx.binary("Minimum", r, ctx.binary("Minimum", g, b, label="min_gb"),
                                             label="minimum"), label="range")
    saturation = _select(c, _compare(c, "Greater", v, 0.0, "positive_value"),
                         ctx.binary("RealDiv", spread, v, label="ratio"), _zeros_like(c, v, "no_saturation"),
                         "saturation")
    norm = ctx.binary("RealDiv", ctx.floats(1.0, "one"), ctx.scalar_op("Mul", spread, 6.0, "six_range"), label="norm")

    def sector(first: Value, second: Value, offset: float, label: str) -> Value:
        scaled = ctx.binary("Mul", norm, ctx.binary("Sub", first, second, label=f"{label}_difference"),
                            label=f"{label}_scaled")
        return scaled if offset == 0 else ctx.scalar_op("AddV2", scaled, offset / 6.0, label)

    hue = _select(c, _compare(c, "Equal", r, v, "red_max"), sector(g, b, 0, "red_hue"),
                  _select(c, _compare(c, "Equal", g, v, "green_max"), sector(b, r, 2, "green_hue"),
                          sector(r, g, 4, "blue_hue"), "green_or_blue"), "hue_sector")
    hue = _select(c, _compare(c, "LessEqual", spread, 0.0, "no_range"), _zeros_like(c, hue, "gray_hue"), hue,
                  "hue_of_range")
    hue = _select(c, _compare(c, "Less", hue, 0.0, "negative_hue"), ctx.scalar_op("AddV2", hue, 1.0, "hue_turned"),
                  hue, "hue")
    scaled = ctx.scalar_op("Minimum", ctx.scalar_op("Maximum", ctx.scalar_op("Mul", saturation, factor, "scaled_s"),
                                                    0.0, "s_low"), 1.0, "new_saturation")
    chroma = ctx.binary("Mul", scaled, v, label="chroma")
    floor = ctx.binary("Sub", v, chroma, label="m")
    dh = ctx.scalar_op("Mul", hue, 6.0, "dh")
    category = ctx.unary("Floor", dh, label="category")  # dh >= 0 (or -0): int() truncates to the floor
    halves = ctx.scalar_op("Mul", ctx.unary("Floor", ctx.scalar_op("Mul", dh, 0.5, "half_dh"), label="half_floor"),
                           2.0, "even_part")
    fmodu = ctx.binary("Sub", dh, halves, label="fmodu")
    ramp = ctx.binary("Mul", chroma, ctx.binary("Sub", ctx.floats(1.0, "ramp_one"), ctx.unary(
        "Abs", ctx.scalar_op("Sub", fmodu, 1.0, "fmodu_offset"), label="fmodu_distance"), label="ramp_factor"),
        label="ramp")
    zeros = _zeros_like(c, chroma, "zeros")

    def among(values: tuple[int, int], label: str) -> Value:
        first, second = (_compare(c, "Equal", category, float(k), f"{label}_{k}") for k in values)
        return c.ctx.op("LogicalOr", [first, second], dtype=DType.BOOL, shape=c.ctx.shape(category), label=label)

    planes = []
    for name, full, partial in (("red", (0, 5), (1, 4)), ("green", (1, 2), (0, 3)), ("blue", (3, 4), (2, 5))):
        chosen = _select(c, among(full, f"{name}_full"), chroma, _select(c, among(partial, f"{name}_partial"), ramp,
                                                                          zeros, f"{name}_ramp"), f"{name}_chosen")
        planes.append(ctx.binary("AddV2", chosen, floor, label=name))
    return _concat_channels(c, planes, "rgb")


def _in(c: OpCall, x: Value, values: Sequence[int], label: str) -> Value:
    """Whether the float ``x`` is one of the small whole ``values``."""
    hits = [_compare(c, "Equal", x, float(v), f"{label}_{v}") for v in values]
    out = hits[0]
    for i, hit in enumerate(hits[1:]):
        out = c.ctx.op("LogicalOr", [out, hit], dtype=DType.BOOL, shape=c.ctx.shape(x), label=f"{label}_or{i}")
    return out


def _adjust_hue(c: OpCall) -> Value:
    """``tf.image.adjust_hue`` of float32 images, as TensorFlow's AdjustHue kernel computes each pixel
    (``adjust_hue_op.cc``; TF.js has no kernel for it): the sector of the channels' order (ties as its comparisons
    fall) with the max, middle and min values, the hue ``sector ± (mid - min) / (max - min)`` in [0, 6), turned by
    ``6·delta`` back into [0, 6), and the middle value rebuilt in the new sector. ``delta`` outside [-1, 1] is a gap
    (TensorFlow's loop wraps it more than once)."""
    ctx = c.ctx
    x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
    delta = _number(c, "delta")
    if not -1.0 <= delta <= 1.0:
        raise c.gap(f"delta={delta} (outside [-1, 1])")
    r, g, b = _channel_planes(c, x, "rgb")

    def constant(value: float, label: str) -> Value:
        return ctx.scalar_op("AddV2", _zeros_like(c, r, f"{label}_zeros"), value, label)

    def choose(condition: Value, yes: tuple[Value, ...], no: tuple[Value, ...], label: str) -> tuple[Value, ...]:
        return tuple(_select(c, condition, a, b_, f"{label}_{i}") for i, (a, b_) in enumerate(zip(yes, no)))

    def less(a: Value, b_: Value, label: str) -> Value:
        return _compare(c, "Less", a, b_, label)

    # (max, mid, min, sector) by the channels' order, as the kernel's if/else tree picks them
    rising = choose(less(b, r, "b_lt_r"), (g, r, b, constant(1.0, "sector1")),
                    choose(less(g, b, "g_lt_b"), (b, g, r, constant(3.0, "sector3")),
                           (g, b, r, constant(2.0, "sector2")), "r_lt_g_rest"), "r_lt_g")
    falling = choose(less(b, g, "b_lt_g"), (r, g, b, constant(0.0, "sector0")),
                     choose(less(r, b, "r_lt_b"), (b, r, g, constant(4.0, "sector4")),
                            (r, b, g, constant(5.0, "sector5")), "g_le_r_rest"), "g_le_r")
    v_max, v_mid, v_min, sector = choose(less(r, g, "r_lt_g"), rising, falling, "order")
    span = ctx.binary("Sub", v_max, v_min, label="span")
    ratio = ctx.binary("RealDiv", ctx.binary("Sub", v_mid, v_min, label="mid_offset"), span, label="ratio")
    one = ctx.floats(1.0, "one")

    def flipped(value: Value, odd: Value, label: str) -> Value:
        return _select(c, odd, ctx.binary("Sub", one, value, label=f"{label}_complement"), value, label)

    hue = ctx.binary("AddV2", sector, flipped(ratio, _in(c, sector, (1, 3, 5), "odd_sector"), "ratio_turned"),
                     label="hue_raw")
    hue = _select(c, _compare(c, "Equal", v_max, v_min, "flat"), _zeros_like(c, hue, "flat_hue"), hue, "hue")
    turned = ctx.scalar_op("AddV2", hue, float(np.float32(delta) * np.float32(6)), "turned")
    turned = _select(c, _compare(c, "Less", turned, 0.0, "below_0"), ctx.scalar_op("AddV2", turned, 6.0, "plus_6"),
                     turned, "wrapped_up")
    turned = _select(c, _compare(c, "GreaterEqual", turned, 6.0, "from_6"),
                     ctx.scalar_op("Sub", turned, 6.0, "minus_6"), turned, "wrapped")
    new_sector = ctx.unary("Floor", turned, label="new_sector")  # turned >= 0: int() truncates to the floor
    fraction = flipped(ctx.binary("Sub", turned, new_sector, label="fraction"),
                       _in(c, new_sector, (1, 3, 5), "odd_new_sector"), "fraction_turned")
    mid = ctx.binary("AddV2", v_min, ctx.binary("Mul", fraction, span, label="mid_step"), label="new_mid")
    planes = []
    for name, highest, middle in (("red", (0, 5), (1, 4)), ("green", (1, 2), (0, 3)), ("blue", (3, 4), (2, 5))):
        planes.append(_select(c, _in(c, new_sector, highest, f"{name}_max"), v_max, _select(
            c, _in(c, new_sector, middle, f"{name}_mid"), mid, v_min, f"{name}_mid_or_min"), name))
    return _concat_channels(c, planes, "rgb")


def _adjust_contrast(c: OpCall) -> Value:
    """``tf.image.adjust_contrast`` of float32 images (TensorFlow's AdjustContrastv2): ``(x - mean) · factor +
    mean``, the mean of each channel over each image's height and width."""
    x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
    shape = c.ctx.shape(x)
    if len(shape) < 3:
        raise c.gap(f"a rank-{len(shape)} tensor (images are at least rank 3)")
    factor = float(np.float32(_number(c, "contrast_factor")))
    axes = [len(shape) - 3, len(shape) - 2]
    mean = c.ctx.op("Mean", [x, c.ctx.ints(axes, "mean_axes")], {"keep_dims": True, "Tidx": DType.INT32},
                    shape=tuple(1 if a in axes else d for a, d in enumerate(shape)), label="mean")
    scaled = c.ctx.scalar_op("Mul", c.ctx.binary("Sub", x, mean, label="centered"), factor, "scaled")
    return c.ctx.binary("AddV2", scaled, mean, label="adjusted")


def _per_image_standardization(c: OpCall) -> Value:
    """``tf.image.per_image_standardization``: ``(x - mean) / max(std, 1/sqrt(n))`` over each image's last three
    axes (integers cast to float32 first, rounded as TensorFlow's Cast rounds them)."""
    x = _image(c)
    shape = c.ctx.shape(x)
    if len(shape) < 3:
        raise c.gap(f"a rank-{len(shape)} tensor (images are at least rank 3)")
    if x.dtype == DType.INT32:
        x = exact_float32(c.ctx, x, "as_float")
    _floats(c, x, "TensorFlow casts them to float32")
    axes = [len(shape) - 3, len(shape) - 2, len(shape) - 1]
    kept = tuple(1 if a in axes else d for a, d in enumerate(shape))

    def mean(value: Value, label: str) -> Value:
        return c.ctx.op("Mean", [value, c.ctx.ints(axes, f"{label}_axes")], {"keep_dims": True, "Tidx": DType.INT32},
                        shape=kept, label=label)

    means = mean(x, "mean")
    variance = mean(c.ctx.binary("SquaredDifference", x, means, label="squared_deviations"), "variance")
    std = c.ctx.unary("Sqrt", variance, label="std")
    adjusted = c.ctx.binary("Maximum", std, _rsqrt_count(c, x, axes), label="adjusted_std")
    return c.ctx.binary("RealDiv", c.ctx.binary("Sub", x, means, label="centered"), adjusted)


def _rsqrt_count(c: OpCall, x: Value, axes: list[int]) -> Value:
    """``rsqrt(float32(n))`` of the count ``n`` of values over ``axes`` (the last ones): a constant for known sizes,
    else from ``Shape`` at run time, as TensorFlow computes it."""
    shape = c.ctx.shape(x)
    if all(shape[a] is not None for a in axes):
        count = math.prod(shape[a] for a in axes)
        return c.ctx.floats(np.float32(1.0) / np.sqrt(np.float32(count)), "min_std")
    sizes = runtime_sizes(c.ctx, x, axes[0], axes[-1] + 1, "pixels")
    count = c.ctx.op("Prod", [sizes, c.ctx.ints(0, "pixels_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                     dtype=DType.INT32, shape=(), label="pixel_count")
    as_float = c.ctx.op("Cast", [count], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                        dtype=DType.FLOAT32, shape=(), label="pixel_count_as_float")
    return c.ctx.unary("Rsqrt", as_float, label="min_std")


def _number(c: OpCall, name: str, default: Any = None) -> float:
    value = c.value(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise c.gap(f"{name}={value!r}")
    return float(value)


def _adjust_brightness(c: OpCall) -> Value:
    """``tf.image.adjust_brightness`` of float images: ``x + float32(delta)``."""
    x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
    return c.ctx.scalar_op("AddV2", x, float(np.float32(_number(c, "delta"))), "brightened")


def _adjust_gamma(c: OpCall) -> Value:
    """``tf.image.adjust_gamma`` of float images: ``gain · x ** gamma`` (TensorFlow's Pow, then Mul)."""
    x = _floats(c, _image(c), "TensorFlow converts them to [0, 1] floats and rounds back")
    gamma, gain = _number(c, "gamma", 1), _number(c, "gain", 1)
    if gamma < 0:
        raise c.gap(f"gamma={gamma} (TensorFlow raises on a negative gamma)")
    powered = c.ctx.scalar_op("Pow", x, gamma, "powered")
    return c.ctx.binary("Mul", c.ctx.floats(gain, "gain"), powered, label="adjusted")


#: The largest value of each integer dtype images may hold (``tf.image.convert_image_dtype`` scales by it).
_INT_MAX = {DType.UINT8: 255, DType.INT8: 127, DType.UINT16: 65535, DType.INT16: 32767, DType.INT32: 2**31 - 1}


def _keras_int(c: OpCall, x: Value) -> DType | None:
    """The integer dtype Keras gives ``x``: its own (int32, 8/16-bit), or 8/16-bit integers the walk holds as
    float32."""
    if x.dtype in _INT_MAX:
        return x.dtype
    for i, value in enumerate(c.ctx.inputs):
        if value is x:
            return c.ctx.integer_dtype(i)
    return None


def _convert_image_dtype(c: OpCall) -> Value:
    """``tf.image.convert_image_dtype`` as TensorFlow computes it: float32 to float32 the images as they are;
    integers to float32 ``float32(x) · float32(1 / MAX)`` (int32 rounded to float32 as TF's Cast rounds past 2^24,
    then times 2^-31, exactly); float32 to int32 ``x · float32(2^31 - 1 + 0.5)`` (2^31, exact), with ``saturate``
    clipped to ``[-2^31, 2^31 - 128]`` (``saturate_cast``'s float32 bounds) and truncated, NaN to INT_MIN as TF's x86
    cast gives it, without it cast as TF casts (INT_MIN from 2^31 on). Other conversions are a gap."""
    x = _image(c)
    dtype = DType.from_any(str(c.value("dtype")).replace("tf.", ""))
    integer = _keras_int(c, x)
    if integer is not None and dtype == DType.FLOAT32:
        if x.dtype == DType.INT32:
            as_float = exact_float32(c.ctx, x, "image")
        else:  # 8/16-bit integers: exact in float32
            as_float = x if x.dtype == DType.FLOAT32 else c.ctx.exact_cast(x, DType.FLOAT32, "image_as_float")
        return c.ctx.scalar_op("Mul", as_float, float(np.float32(1.0 / _INT_MAX[integer])), "converted")
    _floats(c, x, "TensorFlow scales them to that dtype's range")
    if dtype == DType.FLOAT32:
        return c.ctx.unary("Identity", x, label="converted")
    saturate = c.value("saturate", False)
    if dtype != DType.INT32 or not isinstance(saturate, bool):
        raise c.gap(f"dtype={c.value('dtype')!r}, saturate={saturate!r} (lowered: float32 to int32)")
    scaled = c.ctx.scalar_op("Mul", x, float(np.float32(_INT_MAX[DType.INT32] + 0.5)), "scaled")
    if not saturate:  # TF's plain cast: 1.0 · 2^31 is past int32, INT_MIN as TF's x86 cast gives it
        return float_to_int32(c.ctx, scaled, "converted")
    low = c.ctx.scalar_op("Maximum", scaled, -2.0**31, "saturated_low")
    high = c.ctx.scalar_op("Minimum", low, 2.0**31 - 128, "saturated")
    number = c.ctx.op("Equal", [scaled, scaled], dtype=DType.BOOL, shape=x.shape, label="not_nan")
    return c.ctx.op("SelectV2", [number, c.ctx.exact_cast(high, DType.INT32, "truncated"),
                                 c.ctx.ints(-2**31, "nan_int32")], {"T": DType.INT32}, dtype=DType.INT32,
                    shape=x.shape, label="converted")


def _differences(c: OpCall, x: Value, axis: int, label: str) -> Value:
    """``x[1:] - x[:-1]`` along ``axis`` (a static size of at least 1)."""
    length = _known(c, x, axis, "differences")
    if length < 2:
        raise c.gap(f"differences along an axis of {length}")
    later = _slice(c, x, {axis: 1}, {axis: length - 1}, f"{label}_later")
    earlier = _slice(c, x, {axis: 0}, {axis: length - 1}, f"{label}_earlier")
    return c.ctx.binary("Sub", later, earlier, label=label)


def _total_variation(c: OpCall) -> Value:
    """``tf.image.total_variation``: the sums of the absolute differences down and across, per image of a batch (of
    a single image: one number)."""
    x = _floats(c, _image(c), "TensorFlow sums them in their dtype")
    h, w, _ = _axes(c, x)
    rank = len(c.ctx.shape(x))
    axes = list(range(rank)) if rank == 3 else [1, 2, 3]
    out = () if rank == 3 else (c.ctx.shape(x)[0],)
    sums = [c.ctx.op("Sum", [c.ctx.unary("Abs", _differences(c, x, axis, name), label=f"{name}_abs"),
                             c.ctx.ints(axes, f"{name}_axes")], {"keep_dims": False, "Tidx": DType.INT32}, shape=out,
                     label=f"{name}_sum") for axis, name in ((h, "down"), (w, "across"))]
    return c.ctx.binary("AddV2", *sums, label="total_variation")


def _psnr(c: OpCall) -> Value:
    """``tf.image.psnr`` of float32 images: ``20 log(max) / log(10) - float32(10 / ln 10) · log(mse)``, the mean
    squared difference over each image's last three axes, the constant folded in float32 as TensorFlow computes it."""
    a = _floats(c, c.tensor("a"), "TensorFlow scales them to [0, 1] floats")
    b = _floats(c, c.tensor("b", like=a), "TensorFlow scales them to [0, 1] floats")
    top = np.float32(_number(c, "max_val"))
    if not top > 0:
        raise c.gap(f"max_val={top}")
    shape = c.ctx.shape(a)
    if len(shape) < 3:
        raise c.gap(f"a rank-{len(shape)} tensor (images are at least rank 3)")
    rank = len(shape)
    squared = c.ctx.binary("SquaredDifference", a, b, label="squared_difference")
    mse = c.ctx.op("Mean", [squared, c.ctx.ints([rank - 3, rank - 2, rank - 1], "mse_axes")],
                   {"keep_dims": False, "Tidx": DType.INT32}, shape=c.ctx.shape(squared)[:-3], label="mse")
    f32 = np.float32
    peak = f32(f32(20) * np.log(top, dtype=f32)) / np.log(f32(10.0), dtype=f32)
    scaled = c.ctx.scalar_op("Mul", c.ctx.unary("Log", mse, label="log_mse"), float(f32(10 / np.log(10))), "scaled")
    return c.ctx.binary("Sub", c.ctx.floats(peak, "peak"), scaled, label="psnr")


# -- filters ----------------------------------------------------------------------------------------------
def _depthwise(c: OpCall, x: Value, kernel: np.ndarray, padding: str, label: str) -> Value:
    """A DepthwiseConv2dNative of channels-last images with a ``[kh, kw, channels, 1]`` kernel, stride 1."""
    shape = c.ctx.shape(x)
    kh, kw = kernel.shape[:2]
    out = shape if padding == "SAME" else (shape[0], *(None if d is None else d - k + 1 for d, k in
                                                     zip(shape[1:3], (kh, kw))), shape[3])
    attrs = {"strides": [1, 1, 1, 1], "dilations": [1, 1, 1, 1], "data_format": "NHWC", "padding": padding,
             "explicit_paddings": []}
    return c.ctx.op("DepthwiseConv2dNative", [x, c.ctx.floats(kernel, f"{label}_kernel")], attrs, shape=tuple(out),
                    label=label)


def _gaussian_kernel(size: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """Keras's TF-backend Gaussian kernel, in float32 as it computes it: a 1-D kernel ``exp(-0.5 (x / s)^2)``
    normalized for each of ``(size[0], sigma[0])`` and ``(size[1], sigma[1])``, their outer product (the second's
    values down the rows) reshaped to ``size`` as Keras reshapes it (a transpose only for square sizes)."""
    f32 = np.float32

    def one_d(n: int, s: float) -> np.ndarray:
        x = np.arange(n, dtype=f32) - (f32(n) - f32(1)) / f32(2)
        values = np.exp(f32(-0.5) * np.square(x / f32(s)), dtype=f32)
        return (values / values.sum(dtype=f32)).astype(f32)

    along_x, along_y = one_d(size[0], sigma[0]), one_d(size[1], sigma[1])
    return np.outer(along_y, along_x).astype(f32).reshape(size)


def _gaussian_blur(c: OpCall) -> Value:
    """Keras 3 ``gaussian_blur``: a depthwise convolution (``same`` padding) of each channel with the kernel of the
    recorded ``kernel_size`` and ``sigma`` (float images; Keras fails on integer ones)."""
    x = _floats(c, _image(c), "Keras's TF backend cannot blur them")
    channels_first = _channels_first(c)
    _, _, channel = _axes(c, x, channels_first)
    size, sigma = c.value("kernel_size", [3, 3]), c.value("sigma", [1.0, 1.0])
    if not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 < k <= 1024 for k in size)):
        raise c.gap(f"kernel_size={size!r} (expected two sizes)")
    if not (isinstance(sigma, list) and len(sigma) == 2 and all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in sigma)):
        raise c.gap(f"sigma={sigma!r} (expected two positive numbers)")
    channels = c.ctx.shape(x)[channel]
    if channels is None:
        raise c.gap("images of unknown channels")
    kernel = np.tile(_gaussian_kernel(tuple(size), tuple(sigma))[:, :, None, None], (1, 1, channels, 1))
    batch, added = _batched(c, x)
    blurred = _depthwise(c, _channels_last(c, batch, channels_first), kernel, "SAME", "blurred")
    if channels_first:
        blurred = c.ctx.transpose(blurred, [0, 3, 1, 2], "to_channels_first")
    return _unbatched(c, blurred, added)


def _keras_ssim_kernel(size: int, sigma: float) -> np.ndarray:
    """Keras 3's SSIM window in float32 as ``_create_gaussian_kernel`` computes it: ``exp(-x² / (2σ²))`` over
    ``x = arange(size) - (size - 1) / 2``, normalized, its outer product with itself."""
    f32 = np.float32
    x = np.arange(size, dtype=f32) - f32((size - 1) / 2.0)
    values = np.exp(-np.square(x) / f32(2.0 * sigma**2), dtype=f32)
    values = (values / values.sum(dtype=f32)).astype(f32)
    return np.outer(values, values).astype(f32)


def _ssim(c: OpCall) -> Value:
    """Keras 3 ``ssim`` (its backend-agnostic ``_ssim``): per channel the Gaussian-weighted means, variances and
    covariance (``valid`` convolutions, ``E[x²] - μ²``), the SSIM map averaged over height and width, then over the
    channels; of float32 images (Keras casts the result back to integer images' dtype: a gap)."""
    why = "Keras 3 casts the SSIM back to their dtype"
    first = _floats(c, c.tensor("image1"), why)
    second = _floats(c, c.tensor("image2", like=first), why)
    channels_first = _channels_first(c)
    size, sigma = c.value("filter_size", 11), _number(c, "filter_sigma", 1.5)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 1024 or not sigma > 0:
        raise c.gap(f"filter_size={size!r}, filter_sigma={sigma!r}")
    top, k1, k2 = _number(c, "max_val", 1.0), _number(c, "k1", 0.01), _number(c, "k2", 0.03)
    if c.ctx.shape(first) != c.ctx.shape(second):
        raise c.gap(f"images of shapes {list(c.ctx.shape(first))} and {list(c.ctx.shape(second))}")
    _, _, channel = _axes(c, first, channels_first)
    channels = c.ctx.shape(first)[channel]
    if channels is None:
        raise c.gap("images of unknown channels")
    kernel = np.tile(_keras_ssim_kernel(size, sigma)[:, :, None, None], (1, 1, channels, 1))
    batched = [_channels_last(c, _batched(c, value)[0], channels_first) for value in (first, second)]
    for length in c.ctx.shape(batched[0])[1:3]:
        if length is not None and length < size:
            raise c.gap(f"images smaller than the {size} × {size} window (Keras's convolution fails)")
    a, b = batched
    ctx = c.ctx

    def window(value: Value, name: str) -> Value:
        return _depthwise(c, value, kernel, "VALID", name)

    mu1, mu2 = window(a, "mu1"), window(b, "mu2")
    mu1_sq, mu2_sq = ctx.binary("Mul", mu1, mu1, label="mu1_sq"), ctx.binary("Mul", mu2, mu2, label="mu2_sq")
    mu1_mu2 = ctx.binary("Mul", mu1, mu2, label="mu1_mu2")
    sigma1_sq = ctx.binary("Sub", window(ctx.binary("Mul", a, a, label="a_sq"), "e_a_sq"), mu1_sq, label="sigma1_sq")
    sigma2_sq = ctx.binary("Sub", window(ctx.binary("Mul", b, b, label="b_sq"), "e_b_sq"), mu2_sq, label="sigma2_sq")
    sigma12 = ctx.binary("Sub", window(ctx.binary("Mul", a, b, label="ab"), "e_ab"), mu1_mu2, label="sigma12")
    c1, c2 = float(np.float32((k1 * top) ** 2)), float(np.float32((k2 * top) ** 2))

    def plus(value: Value, constant: float, name: str) -> Value:
        return ctx.scalar_op("AddV2", value, constant, name)

    numerator = ctx.binary("Mul", plus(ctx.scalar_op("Mul", mu1_mu2, 2.0, "two_mu1_mu2"), c1, "luminance_top"),
                           plus(ctx.scalar_op("Mul", sigma12, 2.0, "two_sigma12"), c2, "contrast_top"),
                           label="numerator")
    luminance = plus(ctx.binary("AddV2", mu1_sq, mu2_sq, label="mu_sq_sum"), c1, "luminance_bottom")
    contrast = plus(ctx.binary("AddV2", sigma1_sq, sigma2_sq, label="sigma_sq_sum"), c2, "contrast_bottom")
    denominator = ctx.binary("Mul", luminance, contrast, label="denominator")
    ssim_map = ctx.binary("RealDiv", numerator, denominator, label="ssim_map")
    per_channel = ctx.op("Mean", [ssim_map, ctx.ints([1, 2], "map_axes")], {"keep_dims": False, "Tidx": DType.INT32},
                         shape=(ctx.shape(ssim_map)[0], channels), label="per_channel")
    result = ctx.op("Mean", [per_channel, ctx.ints(1, "channel_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                    shape=(ctx.shape(ssim_map)[0],), label="ssim")
    return ctx.squeeze(result, 0, "single_image") if len(c.ctx.shape(first)) == 3 else result


def _tf_ssim_kernel(size: int, sigma: float) -> np.ndarray:
    """TensorFlow's ``_fspecial_gauss`` window in float32: ``g = -0.5 · x² / σ²`` over ``x = range(size) - (size -
    1) / 2``, ``g[i] + g[j]`` softmaxed over all ``size²`` entries."""
    f32 = np.float32
    x = np.arange(size, dtype=f32) - f32(size - 1) / f32(2.0)
    g = np.square(x) * (f32(-0.5) / np.square(f32(sigma)))
    grid = (g[None, :] + g[:, None]).reshape(-1)
    e = np.exp(grid - grid.max(), dtype=f32)
    return (e / e.sum(dtype=f32)).astype(f32).reshape(size, size)


def _tf_ssim(c: OpCall) -> Value:
    """``tf.image.ssim`` of float32 images as TensorFlow's ``_ssim_helper`` computes it: ``luminance = (2·μ1·μ2 +
    c1) / (μ1² + μ2² + c1)``, ``cs = (2·E[xy] - 2·μ1·μ2 + c2) / (E[x² + y²] - μ1² - μ2² + c2)`` over the Gaussian
    window (``valid`` depthwise convolutions, of any height and width), their product averaged over height and width,
    then over the channels. TensorFlow raises on images smaller than the window (the converted model gives NaN)."""
    why = "TensorFlow scales them to [0, 1] floats first"
    first = _floats(c, c.tensor("img1"), why)
    second = _floats(c, c.tensor("img2", like=first), why)
    size, sigma = c.value("filter_size", 11), _number(c, "filter_sigma", 1.5)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 1024 or not sigma > 0:
        raise c.gap(f"filter_size={size!r}, filter_sigma={sigma!r}")
    if c.value("return_index_map", False) is not False:
        raise c.gap("return_index_map=True")
    f32 = np.float32
    top, k1, k2 = (f32(_number(c, name, default)) for name, default in (("max_val", None), ("k1", 0.01),
                                                                        ("k2", 0.03)))
    shapes = [c.ctx.shape(v) for v in (first, second)]
    if len(shapes[0]) != len(shapes[1]) or any(a is not None and b is not None and a != b
                                               for a, b in zip(*shapes)):
        raise c.gap(f"images of shapes {list(shapes[0])} and {list(shapes[1])}")
    _, _, channel = _axes(c, first)
    channels = shapes[0][channel] or shapes[1][channel]
    if channels is None:
        raise c.gap("images of unknown channels")
    kernel = np.tile(_tf_ssim_kernel(size, float(f32(sigma)))[:, :, None, None], (1, 1, channels, 1))
    (a, _), (b, _) = _batched(c, first), _batched(c, second)
    for length in c.ctx.shape(a)[1:3]:
        if length is not None and length < size:
            raise c.gap(f"images smaller than the {size} × {size} window (TensorFlow raises)")
    ctx = c.ctx

    def window(value: Value, name: str) -> Value:
        return _depthwise(c, value, kernel, "VALID", name)

    def plus(value: Value, constant: f32, name: str) -> Value:
        return ctx.scalar_op("AddV2", value, float(constant), name)

    c1, c2 = np.square(k1 * top), np.square(k2 * top)
    mean0, mean1 = window(a, "mean0"), window(b, "mean1")
    num0 = ctx.scalar_op("Mul", ctx.binary("Mul", mean0, mean1, label="means"), 2.0, "num0")
    den0 = ctx.binary("AddV2", ctx.unary("Square", mean0, label="mean0_sq"), ctx.unary("Square", mean1,
                                                                                          label="mean1_sq"),
                      label="den0")
    luminance = ctx.binary("RealDiv", plus(num0, c1, "luminance_top"), plus(den0, c1, "luminance_bottom"),
                           label="luminance")
    num1 = ctx.scalar_op("Mul", window(ctx.binary("Mul", a, b, label="xy"), "e_xy"), 2.0, "num1")
    squares = ctx.binary("AddV2", ctx.unary("Square", a, label="x_sq"), ctx.unary("Square", b, label="y_sq"),
                         label="squares")
    den1 = window(squares, "e_squares")
    cs = ctx.binary("RealDiv", plus(ctx.binary("Sub", num1, num0, label="cs_top_raw"), c2, "cs_top"),
                    plus(ctx.binary("Sub", den1, den0, label="cs_bottom_raw"), c2, "cs_bottom"), label="cs")
    ssim_map = ctx.binary("Mul", luminance, cs, label="ssim_map")
    per_channel = ctx.op("Mean", [ssim_map, ctx.ints([1, 2], "map_axes")], {"keep_dims": False, "Tidx": DType.INT32},
                         shape=(ctx.shape(ssim_map)[0], channels), label="per_channel")
    result = ctx.op("Mean", [per_channel, ctx.ints(1, "channel_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                    shape=(ctx.shape(ssim_map)[0],), label="ssim")
    return ctx.squeeze(result, 0, "single_image") if len(shapes[0]) == 3 else result


#: ``tf.image.sobel_edges``'s kernels: the vertical (dy) and horizontal (dx) gradients.
_SOBEL = (np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
          np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32))


def _sobel_edges(c: OpCall) -> Value:
    """Keras 3 ``sobel_edges`` (``tf.image.sobel_edges``): the images reflect-padded by one pixel, each channel
    convolved with the two Sobel kernels (``valid``), stacked last as ``[dy, dx]``."""
    x = _floats(c, _image(c), "TensorFlow's depthwise convolution takes floats")
    channels_first = _channels_first(c)
    shape = c.ctx.shape(x)
    if len(shape) != 4:
        raise c.gap(f"a rank-{len(shape)} tensor (Keras needs a batch of images)")
    x = _channels_last(c, x, channels_first)
    shape = c.ctx.shape(x)
    if shape[3] is None or any(d is not None and d < 2 for d in shape[1:3]):
        raise c.gap(f"images of shape {list(shape)} (known channels, at least 2 × 2 pixels for the reflection)")
    padded = c.ctx.op("MirrorPad", [x, c.ctx.ints([[0, 0], [1, 1], [1, 1], [0, 0]], "reflect_paddings")],
                      {"mode": "REFLECT", "Tpaddings": DType.INT32},
                      shape=(shape[0], *(None if d is None else d + 2 for d in shape[1:3]), shape[3]),
                      label="reflected")
    edges = [_depthwise(c, padded, np.tile(k[:, :, None, None], (1, 1, shape[3], 1)), "VALID", name)
             for k, name in zip(_SOBEL, ("dy", "dx"))]
    stacked = c.ctx.op("Pack", edges, {"N": 2, "axis": 4}, shape=(*shape, 2), label="edges")
    return c.ctx.transpose(stacked, [0, 3, 1, 2, 4], "to_channels_first") if channels_first else stacked


# -- scale and translate ---------------------------------------------------------------------------------
def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.float32(0), np.float32(1) - np.abs(x))


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    f32 = np.float32
    out = ((f32(1.5) * x - f32(2.5)) * x) * x + f32(1.0)
    out = np.where(x >= f32(1.0), ((f32(-0.5) * x + f32(2.5)) * x - f32(4.0)) * x + f32(2.0), out)
    return np.where(x >= f32(2.0), f32(0), out).astype(f32)


def _lanczos(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        f32, pi = np.float32, np.float32(np.pi)
        y = f32(radius) * np.sin(pi * x) * np.sin(pi * x / f32(radius))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(x > f32(1e-3), y / np.where(x != 0, f32(np.pi**2) * np.square(x), f32(1)), f32(1))
        return np.where(x > f32(radius), f32(0), out).astype(f32)
    return kernel


#: Keras's ``scale_and_translate`` methods (its TF backend's names for them) and kernels.
_SCALE_KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **dict.fromkeys(("linear", "bilinear", "trilinear"), _triangle),
    **dict.fromkeys(("cubic", "bicubic", "tricubic"), _keys_cubic), "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0)}


def _scale_weights(size_in: int, size_out: int, scale: float, translation: float,
                   kernel: Callable[[np.ndarray], np.ndarray], antialias: bool) -> np.ndarray:
    """Keras's TF-backend ``_compute_weight_mat`` in float32: each output position's sample point, the kernel of its
    distance to every input position (widened by ``1 / scale`` when antialiasing a downscale), normalized per output
    (0 where the sum is about 0), and 0 for sample points outside the input."""
    f32 = np.float32
    inv_scale = f32(1.0) / f32(scale)
    kernel_scale = max(inv_scale, f32(1.0)) if antialias else f32(1.0)
    sample = (np.arange(size_out, dtype=f32) + f32(0.5)) * inv_scale - f32(translation) * inv_scale - f32(0.5)
    x = np.abs(sample[None, :] - np.arange(size_in, dtype=f32)[:, None]) / f32(kernel_scale)
    weights = kernel(x.astype(f32)).astype(f32)
    total = weights.sum(axis=0, keepdims=True, dtype=f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(np.abs(total) > f32(1000.0 * np.finfo(np.float32).eps),
                           weights / np.where(total != 0, total, f32(1)), f32(0))
    inside = (sample >= f32(-0.5)) & (sample <= f32(size_in) - f32(0.5))
    return np.where(inside[None, :], weights, f32(0)).astype(f32)


def _contract(c: OpCall, x: Value, axis: int, weights: np.ndarray, label: str) -> Value:
    """``moveaxis(tensordot(x, weights, axes=(axis, 0)), -1, axis)``: ``axis`` moved last, the rest flattened (every
    size but the first static), a MatMul with the weights, and back."""
    shape = list(c.ctx.shape(x))
    rank = len(shape)
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = c.ctx.transpose(x, perm, f"{label}_last") if axis != rank - 1 else x
    rest = [shape[a] for a in perm[:-1]]
    if None in rest[1:] or (rest and rest[0] is None and rank == 1):
        raise c.gap(f"images of shape {shape} (the sizes beside the resized axis must be known)")
    flat = c.ctx.reshape(moved, [None, shape[axis]], f"{label}_rows")
    product = c.ctx.op("MatMul", [flat, c.ctx.floats(weights, f"{label}_weights")],
                       {"transpose_a": False, "transpose_b": False}, shape=(None, weights.shape[1]), label=label)
    out = c.ctx.reshape(product, [*rest, weights.shape[1]], f"{label}_unflattened")
    if axis == rank - 1:
        return out
    return c.ctx.transpose(out, [perm.index(a) for a in range(rank)], f"{label}_back")


def _scale_and_translate(c: OpCall) -> Value:
    """Keras 3 ``scale_and_translate`` of float32 images: per spatial axis (in order) a contraction with the weight
    matrix Keras's TF backend computes, here from the constant sizes, scales and translations (integer images,
    which Keras rounds and clips back, are a gap)."""
    x = _floats(c, _image(c), "Keras rounds and clips the result back to their dtype")
    rank = len(c.ctx.shape(x))
    method, antialias = c.value("method"), c.value("antialias", True)
    if method not in _SCALE_KERNELS or not isinstance(antialias, bool):
        raise c.gap(f"method={method!r}, antialias={antialias!r}")
    dims, out_shape = _ints_list(c, "spatial_dims"), _ints_list(c, "output_shape")
    scales, translations = (c.value(k) for k in ("scale", "translation"))
    if not all(isinstance(v, list) and len(v) >= len(dims) and all(  # Keras reads the first len(dims) of each
            isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) for f in v)
            for v in (scales, translations)) or len(out_shape) != rank or 0.0 in scales[:len(dims)]:
        raise c.gap(f"scale={scales!r}, translation={translations!r}, output_shape={out_shape!r}")
    y = x
    for i, dim in enumerate(dims):
        axis = dim % rank
        size_in = c.ctx.shape(y)[axis]
        if axis == 0 or size_in is None or not 0 < out_shape[axis] <= 1 << 16:
            raise c.gap(f"spatial_dims={dims} on images of shape {list(c.ctx.shape(x))} to {out_shape}")
        weights = _scale_weights(size_in, out_shape[axis], scales[i], translations[i], _SCALE_KERNELS[method],
                                 antialias)
        y = _contract(c, y, axis, weights, f"axis{axis}")
    return c.ctx.unary("Identity", y, label="scaled") if y is x else y


def _ints_list(c: OpCall, name: str) -> list[int]:
    value = c.value(name)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise c.gap(f"{name}={value!r}")
    return [int(v) for v in value]


# -- resizes ----------------------------------------------------------------------------------------------
def _target_size(c: OpCall, name: str = "size") -> tuple[int, int]:
    value = c.value(name)
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in value)):
        raise c.gap(f"{name}={value!r} (expected two positive sizes)")
    return int(value[0]), int(value[1])


def _v1_resize_op(c: OpCall, x: Value, size: tuple[int, int], method: str, align_corners: bool,
                  half_pixel_centers: bool) -> Value:
    """A v1 ResizeBilinear / ResizeNearestNeighbor of a float32 batch, flags as recorded; a nearest one of int32
    images as two GatherV2 of the source rows and columns TensorFlow's kernel picks (TF.js's wasm
    ResizeNearestNeighbor of int32 is wrong); a bilinear one of integers is a gap (TensorFlow gives floats of them)."""
    if align_corners and half_pixel_centers:
        raise c.gap("align_corners and half_pixel_centers both True (TensorFlow raises)")
    if tuple(c.ctx.shape(x)[1:3]) == size and (method == "nearest" or x.dtype == DType.FLOAT32):
        # every flag maps each position to itself: TensorFlow's kernel gives the images as they are, ±Inf too,
        # which TF.js's same-size bilinear resize spreads to neighbours as NaN
        return c.ctx.unary("Identity", x, label="same_size")
    if method == "nearest" and x.dtype == DType.INT32:
        return _gathered_nearest(c, x, size, align_corners, half_pixel_centers)
    _floats(c, x, "TensorFlow's bilinear resize gives floats of them" if method == "bilinear" else "not lowered")
    shape = c.ctx.shape(x)
    op = "ResizeBilinear" if method == "bilinear" else "ResizeNearestNeighbor"
    return c.ctx.op(op, [x, c.ctx.ints(list(size), "size")],
                    {"align_corners": bool(align_corners), "half_pixel_centers": bool(half_pixel_centers)},
                    shape=(shape[0], size[0], size[1], shape[3]), label=op)


def _nearest_sources(size_in: int, size_out: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """The source index of each output position in TensorFlow's CPU ResizeNearestNeighbor: the position scaled in
    float32 by ``in / out`` (``(in - 1) / (out - 1)`` with ``align_corners``), plus 0.5 first with half-pixel
    centres, rounded half away from zero with ``align_corners`` else floored, within ``[0, in - 1]``."""
    f32 = np.float32
    scale = f32(size_in - 1) / f32(size_out - 1) if align_corners and size_out > 1 else f32(size_in) / f32(size_out)
    sources = []
    for i in range(size_out):
        position = float((f32(i) + f32(0.5)) * scale if half_pixel_centers else f32(i) * scale)
        index = math.floor(position + 0.5) if align_corners else math.floor(position)  # position >= 0
        sources.append(max(0, min(index, size_in - 1)))
    return np.asarray(sources, np.int32)


def _gathered_nearest(c: OpCall, x: Value, size: tuple[int, int], align_corners: bool,
                      half_pixel_centers: bool) -> Value:
    """A nearest resize of an int32 batch of static height and width, exactly: the picked rows, then columns."""
    y = x
    for axis, target in ((1, size[0]), (2, size[1])):
        sources = _nearest_sources(_known(c, x, axis, "a nearest resize of int32"), target, align_corners,
                                   half_pixel_centers)
        shape = list(c.ctx.shape(y))
        shape[axis] = target
        y = c.ctx.op("GatherV2", [y, c.ctx.ints(sources, f"nearest_{axis}_sources"),
                                  c.ctx.ints(axis, f"nearest_{axis}_axis")],
                     {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                     dtype=DType.INT32, shape=tuple(shape), label=f"nearest_{axis}")
    return y


def _flag(c: OpCall, name: str) -> bool:
    value = c.value(name, False)
    if not isinstance(value, bool):
        raise c.gap(f"{name}={value!r}")
    return value


def _compat_resize(method: str) -> Callable[[OpCall], Value]:
    """``tf.compat.v1.image.resize_bilinear`` / ``resize_nearest_neighbor``: the kernel on a batch of images."""
    def lower(c: OpCall) -> Value:
        x = _image(c)
        if len(c.ctx.shape(x)) != 4:
            raise c.gap(f"a rank-{len(c.ctx.shape(x))} tensor (the kernel takes a batch of images)")
        return _v1_resize_op(c, x, _target_size(c), method, _flag(c, "align_corners"), _flag(c, "half_pixel_centers"))
    return lower


#: ``tf.compat.v1.image.ResizeMethod``'s values (ints) and names, for the methods the lowering builds.
_V1_METHODS = {0: "bilinear", 1: "nearest", "bilinear": "bilinear", "nearest": "nearest"}


def _v1_method(c: OpCall, name: str = "method") -> str:
    method = c.value(name, 0)
    if isinstance(method, bool) or method not in _V1_METHODS:
        raise c.gap(f"{name}={method!r}")
    return _V1_METHODS[method]


def _aspect_size(c: OpCall, x: Value, size: tuple[int, int]) -> tuple[int, int]:
    """v1 ``preserve_aspect_ratio``: both sides scaled by the smaller factor, in float32, rounded half to even."""
    h, w, _ = _axes(c, x)
    f32 = np.float32
    height, width = (f32(_known(c, x, a, "a resize preserving the aspect ratio")) for a in (h, w))
    scale = min(f32(size[0]) / height, f32(size[1]) / width)
    return int(np.round(scale * height)), int(np.round(scale * width))


def aspect_preserving_size(c: OpCall, x: Value, size: tuple[int, int]) -> tuple[int, int] | Value:
    """The size ``tf.image.resize(x, size, preserve_aspect_ratio=True)`` resizes to (v1 and v2 compute it alike, in
    ``_resize_images_common``): two ints for images of static height and width, else an int32 ``[2]`` vector
    computed at run time in the same float32 arithmetic (for ``op_layers._resize``)."""
    h, w, _ = _axes(c, x)
    if None not in (c.ctx.shape(x)[h], c.ctx.shape(x)[w]):
        return _aspect_size(c, x, size)
    ctx = c.ctx
    sizes = ctx.op("Cast", [_vector(c, [_length(c, x, h), _length(c, x, w)], "image_size")],
                   {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32, shape=(2,),
                   label="image_size_float")
    factors = ctx.op("RealDiv", [ctx.floats(list(size), "target_float"), sizes], shape=(2,), label="factors")
    scale = ctx.op("Min", [factors, ctx.ints(0, "factor_axis")], {"keep_dims": False, "Tidx": DType.INT32}, shape=(),
                   label="scale")
    scaled = ctx.unary("Round", ctx.op("Mul", [scale, sizes], shape=(2,), label="scaled"), label="scaled_rounded")
    return ctx.op("Cast", [scaled], {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False},
                  dtype=DType.INT32, shape=(2,), label="aspect_size")


def _compat_resize_images(c: OpCall) -> Value:
    """``tf.compat.v1.image.resize`` / ``resize_images``: images of the static target size as they are, else the v1
    kernel (no half-pixel centres), of a single image too."""
    x = _image(c)
    h, w, _ = _axes(c, x)
    size = _target_size(c)
    method, align = _v1_method(c), _flag(c, "align_corners")
    if method != "nearest" and _flag(c, "preserve_aspect_ratio") and is_half(c.ctx.graph, x):
        raise c.gap("float16 images resized preserving their aspect ratio: TF hands them back, float16, where the "
                    "size it computes is theirs, else its kernel gives float32 (not told apart for float16)")
    if _flag(c, "preserve_aspect_ratio"):
        size = _aspect_size(c, x, size)
    if (c.ctx.shape(x)[h], c.ctx.shape(x)[w]) == size:
        return c.ctx.unary("Identity", x, label="unresized")
    if method != "nearest" and None in (c.ctx.shape(x)[h], c.ctx.shape(x)[w]) and is_half(c.ctx.graph, x):
        raise c.gap("float16 images of a size the config does not tell: TF hands them back, float16, where they are "
                    "of the target size, else its kernel gives float32, so the dtype Keras computes on after is not "
                    "known")
    batch, added = _batched(c, x)
    return _unbatched(c, _v1_resize_op(c, batch, size, method, align, False), added)


def _pad_box(c: OpCall, x: Value) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """``_resize_image_with_pad_common``'s float32 arithmetic: the resized size and the padding before it."""
    h, w, _ = _axes(c, x)
    f32 = np.float32
    height, width = (f32(_known(c, x, a, "a resize with padding")) for a in (h, w))
    target = (_size(c, "target_height", low=1), _size(c, "target_width", low=1))
    ratio = max(width / f32(target[1]), height / f32(target[0]))
    resized_h, resized_w = height / ratio, width / ratio
    size = (int(np.floor(resized_h)), int(np.floor(resized_w)))
    before = (max(0, int(np.floor((f32(target[0]) - resized_h) / f32(2)))),
              max(0, int(np.floor((f32(target[1]) - resized_w) / f32(2)))))
    return size, before, target


def _runtime_pad_box(c: OpCall, x: Value) -> tuple[Value, Value, tuple[int, int]]:
    """:func:`_pad_box` over a height or width unknown in the config: the same float32 arithmetic at run time (a
    float32 Div, Maximum, Floor as TensorFlow's CPU computes them; sizes below 2^24 cast exactly). Returns the
    resized ``[height, width]`` and the padding before them, int32 vectors, and the target."""
    ctx = c.ctx
    h, w, _ = _axes(c, x)
    target = (_size(c, "target_height", low=1), _size(c, "target_width", low=1))
    sizes = ctx.op("Cast", [_vector(c, [_length(c, x, h), _length(c, x, w)], "image_size")],
                   {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32, shape=(2,),
                   label="image_size_float")
    targets = ctx.floats(list(target), "target_float")
    ratios = ctx.op("RealDiv", [sizes, targets], shape=(2,), label="ratios")
    ratio = ctx.op("Max", [ratios, ctx.ints(0, "ratio_axis")], {"keep_dims": False, "Tidx": DType.INT32}, shape=(),
                   label="ratio")
    resized = ctx.op("RealDiv", [sizes, ratio], shape=(2,), label="resized_float")

    def floored_int(value: Value, label: str) -> Value:
        return ctx.op("Cast", [ctx.unary("Floor", value, label=f"{label}_floor")],
                      {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                      shape=(2,), label=label)

    half_margin = ctx.scalar_op("RealDiv", ctx.binary("Sub", targets, resized, label="margins"), 2.0, "half_margins")
    before = ctx.op("Maximum", [floored_int(half_margin, "pad_before_raw"), ctx.ints(0, "no_pad")],
                    dtype=DType.INT32, shape=(2,), label="pad_before")
    return floored_int(resized, "resized_size"), before, target


def _resize_with_pad_at_run_time(c: OpCall, x: Value, v2: bool) -> Value:
    """``resize_with_pad`` of images of an unknown height or width: resized to the run-time size, then padded to the
    target by the run-time offsets (v2 only: the v1 kernel's same-size skip is decided on static sizes)."""
    ctx = c.ctx
    if not v2:
        raise c.gap("a v1 resize with padding of images of unknown size")
    method = c.value("method", "bilinear")
    if method not in ("bilinear", "nearest") or _flag(c, "antialias"):
        raise c.gap(f"method={method!r}, antialias={c.value('antialias', False)!r}")
    _floats(c, x, "TensorFlow resizes them to floats")
    size, before, target = _runtime_pad_box(c, x)
    batch, added = _batched(c, x)
    shape = ctx.shape(batch)
    op = "ResizeBilinear" if method == "bilinear" else "ResizeNearestNeighbor"
    resized = ctx.op(op, [batch, size], {"align_corners": False, "half_pixel_centers": True},
                     shape=(shape[0], None, None, shape[3]), label=op)
    after = ctx.binary("Sub", ctx.binary("Sub", ctx.ints(list(target), "target"), before, label="rest"), size,
                       label="pad_after")
    padded = ctx.op("Pad", [resized, _pad_rows(c, before, after)], {"Tpaddings": DType.INT32},
                    shape=(shape[0], *target, shape[3]), label="padded")
    return _unbatched(c, padded, added)


def _pad_rows(c: OpCall, before: Value, after: Value) -> Value:
    """The ``[4, 2]`` paddings of a batch of images from the height/width vectors of paddings before and after."""
    ctx = c.ctx
    pairs = ctx.op("Pack", [before, after], {"N": 2, "axis": 1}, dtype=DType.INT32, shape=(2, 2), label="hw_pads")
    return ctx.op("Pad", [pairs, ctx.ints([[1, 1], [0, 0]], "outer_pads")], {"Tpaddings": DType.INT32},
                  dtype=DType.INT32, shape=(4, 2), label="paddings")


def _resize_with_pad(v2: bool) -> Callable[[OpCall], Value]:
    """``tf.image.resize_with_pad`` (v2 resize: half-pixel centres) and ``tf.compat.v1.image.resize_image_with_pad``
    (v1: ``align_corners``, the images as they are at their size): aspect-preserving resize, then zero padding."""
    def lower(c: OpCall) -> Value:
        x = _image(c)
        h, w, _ = _axes(c, x)
        if c.ctx.shape(x)[h] is None or c.ctx.shape(x)[w] is None:
            return _resize_with_pad_at_run_time(c, x, v2)
        size, before, target = _pad_box(c, x)
        if min(size) < 1:
            raise c.gap(f"a resize to {list(size)} (TensorFlow raises)")
        batch, added = _batched(c, x)
        _floats(c, x, "TensorFlow resizes them to floats")
        if v2:
            method = c.value("method", "bilinear")
            if method not in ("bilinear", "nearest") or _flag(c, "antialias"):
                raise c.gap(f"method={method!r}, antialias={c.value('antialias', False)!r}")
            resized = _v2_resize(c.ctx, batch, size, method)  # at the same size: the images as they are
        else:
            method, align = _v1_method(c), _flag(c, "align_corners")
            same = (c.ctx.shape(x)[h], c.ctx.shape(x)[w]) == size
            resized = batch if same else _v1_resize_op(c, batch, size, method, align, False)
        pads = {1: (before[0], target[0] - before[0] - size[0]), 2: (before[1], target[1] - before[1] - size[1])}
        if min(p for pair in pads.values() for p in pair) < 0:
            raise c.gap(f"padding {list(size)} to {list(target)} (TensorFlow raises)")
        return _unbatched(c, c.ctx.unary("Identity", _zero_pad(c, resized, pads), label="padded"), added)
    return lower


# -- the tables -------------------------------------------------------------------------------------------
_IMG = ("images",)
_BOX = ("image", "offset_height", "offset_width", "target_height", "target_width")
_V1_RESIZE = ("x", "size", "align_corners", "name", "half_pixel_centers")

register_op_layers(
    keras_ops={
        ("RGBToGrayscale",): OpSpec(_IMG, _keras_grayscale, ("data_format",)),
        ("CropImages",): OpSpec(_IMG, _crop_images, ("top_cropping", "left_cropping", "bottom_cropping",
                                                     "right_cropping", "target_height", "target_width",
                                                     "data_format")),
        ("PadImages",): OpSpec(_IMG, _pad_images, ("top_padding", "left_padding", "bottom_padding", "right_padding",
                                                   "target_height", "target_width", "data_format")),
        ("GaussianBlur",): OpSpec(_IMG, _gaussian_blur, ("kernel_size", "sigma", "data_format")),
        ("SobelEdges",): OpSpec(_IMG, _sobel_edges, ("data_format",)),
        ("RGBToHSV",): OpSpec(_IMG, _hsv(_rgb_to_hsv_planes, keras3=True), ("data_format",)),
        ("HSVToRGB",): OpSpec(_IMG, _hsv(_hsv_to_rgb_planes, keras3=True), ("data_format",)),
        ("ScaleAndTranslate",): OpSpec(("images", "output_shape", "scale", "translation"), _scale_and_translate,
                                       ("spatial_dims", "method", "antialias")),
        ("SSIM",): OpSpec(("image1", "image2"), _ssim, ("max_val", "filter_size", "filter_sigma", "k1", "k2",
                                                        "data_format")),
    },
    tf_functions={
        ("image.crop_to_bounding_box", "compat.v1.image.crop_to_bounding_box"): OpSpec(_BOX, _crop_to_bounding_box),
        ("image.pad_to_bounding_box", "compat.v1.image.pad_to_bounding_box"): OpSpec(_BOX, _pad_to_bounding_box),
        ("image.central_crop", "compat.v1.image.central_crop"): OpSpec(("image", "central_fraction"), _central_crop),
        ("image.resize_with_crop_or_pad", "compat.v1.image.resize_with_crop_or_pad",
         "compat.v1.image.resize_image_with_crop_or_pad"): OpSpec(("image", "target_height", "target_width"),
                                                                  _resize_with_crop_or_pad),
        ("image.flip_left_right", "compat.v1.image.flip_left_right"): OpSpec(("image",), _flip(1)),
        ("image.flip_up_down", "compat.v1.image.flip_up_down"): OpSpec(("image",), _flip(0)),
        ("image.transpose", "compat.v1.image.transpose", "compat.v1.image.transpose_image"):
            OpSpec(("image", "name"), _transpose_image),
        ("image.rot90", "compat.v1.image.rot90"): OpSpec(("image", "k", "name"), _rot90),
        ("image.grayscale_to_rgb", "compat.v1.image.grayscale_to_rgb"): OpSpec(("x", "name"), _grayscale_to_rgb),
        ("image.rgb_to_grayscale", "compat.v1.image.rgb_to_grayscale"): OpSpec(("x", "name"),
                                                                               _tf_colour(_TF_GRAY, "gray")),
        ("image.rgb_to_yuv", "compat.v1.image.rgb_to_yuv"): OpSpec(("x",), _tf_colour(_RGB_TO_YUV, "yuv")),
        ("image.yuv_to_rgb", "compat.v1.image.yuv_to_rgb"): OpSpec(("x",), _tf_colour(_YUV_TO_RGB, "rgb")),
        ("image.rgb_to_hsv", "compat.v1.image.rgb_to_hsv"): OpSpec(("x", "name"),
                                                                   _hsv(_rgb_to_hsv_planes, keras3=False)),
        ("image.hsv_to_rgb", "compat.v1.image.hsv_to_rgb"): OpSpec(("x", "name"),
                                                                   _hsv(_hsv_to_rgb_planes, keras3=False)),
        ("image.adjust_saturation", "compat.v1.image.adjust_saturation"):
            OpSpec(("image", "saturation_factor", "name"), _adjust_saturation),
        ("image.adjust_hue", "compat.v1.image.adjust_hue"): OpSpec(("image", "delta", "name"), _adjust_hue),
        ("image.adjust_contrast", "compat.v1.image.adjust_contrast"): OpSpec(("x", "contrast_factor"),
                                                                             _adjust_contrast),
        ("image.rgb_to_yiq", "compat.v1.image.rgb_to_yiq"): OpSpec(("x",), _tf_colour(_RGB_TO_YIQ, "yiq")),
        ("image.yiq_to_rgb", "compat.v1.image.yiq_to_rgb"): OpSpec(("x",), _tf_colour(_YIQ_TO_RGB, "rgb")),
        ("image.convert_image_dtype", "compat.v1.image.convert_image_dtype"):
            OpSpec(("image", "dtype", "saturate", "name"), _convert_image_dtype),
        ("image.total_variation", "compat.v1.image.total_variation"): OpSpec(("x", "name"), _total_variation),
        ("image.ssim",): OpSpec(("img1", "img2", "max_val", "filter_size", "filter_sigma", "k1", "k2",
                                 "return_index_map"), _tf_ssim),
        ("image.psnr", "compat.v1.image.psnr"): OpSpec(("a", "b", "max_val", "name"), _psnr),
        ("image.per_image_standardization", "compat.v1.image.per_image_standardization"):
            OpSpec(("image",), _per_image_standardization),
        ("image.adjust_brightness", "compat.v1.image.adjust_brightness"): OpSpec(("image", "delta"),
                                                                                 _adjust_brightness),
        ("image.adjust_gamma", "compat.v1.image.adjust_gamma"): OpSpec(("image", "gamma", "gain"), _adjust_gamma),
        ("compat.v1.image.resize_nearest_neighbor",): OpSpec(_V1_RESIZE, _compat_resize("nearest")),
        ("compat.v1.image.resize_bilinear",): OpSpec(_V1_RESIZE, _compat_resize("bilinear")),
        ("compat.v1.image.resize_images", "compat.v1.image.resize"):
            OpSpec(("x", "size", "method", "align_corners", "preserve_aspect_ratio", "name"), _compat_resize_images),
        ("image.resize_with_pad",): OpSpec(("image", "target_height", "target_width", "method", "antialias"),
                                           _resize_with_pad(v2=True)),
        ("compat.v1.image.resize_image_with_pad",): OpSpec(("image", "target_height", "target_width", "method",
                                                            "align_corners"), _resize_with_pad(v2=False)),
    })
