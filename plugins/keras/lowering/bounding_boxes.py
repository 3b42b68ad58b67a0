"""Keras 3's MaxNumBoundingBoxes at inference, on images alone or on a dict of images and bounding boxes.

On images alone it returns them as given (``transform_images``, integers too). Called on a dict, Keras's
``BaseImagePreprocessingLayer.call`` returns the dict with its ``images``, ``labels`` and ``segmentation_masks`` as
given and its ``bounding_boxes`` made dense (``boxes`` as float32) and cut or padded to ``max_number`` boxes with
``fill_value`` (-1: Keras 3.15 does not save it, so a loaded layer pads with -1). The layer's output tensors are the
dict's leaves in Keras's flattened order (keys sorted at every level); the walk hands the lowering the call's
argument keys (:func:`argument_keys`), since its inputs come in the saved dict's own order.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .registry import Unsupported, lowers

#: The call keyword under which the walk hands these layers the key path of each input tensor (not a Keras keyword).
ARGUMENT_KEYS = "__argument_keys__"
#: Layers that are called on a dict of tensors and need to know which is which.
KEYED_ARGUMENT_LAYERS = frozenset({"MaxNumBoundingBoxes"})
#: The dict entries MaxNumBoundingBoxes returns as given, and the two it cuts or pads.
_PASSED = (("images",), ("labels",), ("segmentation_masks",))
_BOXES, _BOX_LABELS = ("bounding_boxes", "boxes"), ("bounding_boxes", "labels")


def argument_keys(node: Any) -> list[tuple[str, ...]] | None:
    """The key path of each tensor of a Keras 3 call's first positional argument, in the order the walk reads the
    call's tensors (depth first, dicts in their saved order; ``()`` for a tensor given as it is). None for another
    form (a Keras 2 node, several positional arguments, lists)."""
    args = node.get("args") if isinstance(node, dict) else None
    if not isinstance(args, list) or len(args) != 1:
        return None
    paths: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), args[0])]
    while stack:  # iterative: the nesting is untrusted
        path, value = stack.pop()
        if not isinstance(value, dict):
            return None
        if value.get("class_name") == "__keras_tensor__":
            paths.append(path)
            continue
        stack += [((*path, str(key)), item) for key, item in reversed(list(value.items()))]
    return paths


@lowers("MaxNumBoundingBoxes")
def max_num_bounding_boxes(ctx: LayerContext) -> Value | list[Value]:
    """Images alone as given; a dict's leaves in Keras's sorted order, the boxes and their labels cut or padded to
    ``max_number`` (static box counts)."""
    keys = ctx.call_kwargs.get(ARGUMENT_KEYS)
    if len(ctx.inputs) == 1 and keys in (None, [()], [("images",)]):
        return ctx.unary("Identity", ctx.x)
    if not isinstance(keys, list) or len(keys) != len(ctx.inputs):
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) on {len(ctx.inputs)} tensors not given as a dict")
    given = dict(zip(keys, ctx.inputs))
    if ("images",) not in given or set(given) - {*_PASSED, _BOXES, _BOX_LABELS} or \
            (_BOXES in given) != (_BOX_LABELS in given):
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) on a dict of {sorted('/'.join(k) for k in keys)} "
                          "(lowered for images, labels, segmentation_masks and bounding_boxes with boxes and labels)")
    held = [d is not None and v.dtype == DType.FLOAT32 for v, d in zip(ctx.inputs, ctx.keras_dtypes)]
    if any(held) or given[("images",)].dtype != DType.FLOAT32:  # the walk would track one dtype for every output
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) on a dict holding 8/16-bit integers or integer "
                          "images (lowered for float32 images, float32 or int32 boxes and labels)")
    if len(ctx.shape(given[("images",)])) != 4:
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) on a dict of unbatched images (rank "
                          f"{len(ctx.shape(given[('images',)]))})")
    out = dict(given)
    if _BOXES in given:
        limit, fill = ctx.config.get("max_number"), ctx.config.get("fill_value", -1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (limit, fill)) or limit < 1:
            raise ctx.error(f"has max_number={limit!r} and fill_value={fill!r} (whole numbers, max_number >= 1)")
        out[_BOXES] = _cut_or_padded(ctx, _as_float(ctx, given[_BOXES]), limit, fill, "boxes", 3)
        out[_BOX_LABELS] = _cut_or_padded(ctx, given[_BOX_LABELS], limit, fill, "labels", 2)
    return [ctx.unary("Identity", value, label=f"{'_'.join(key)}") if value is given.get(key) else value
            for key, value in sorted(out.items())]


def _as_float(ctx: LayerContext, boxes: Value) -> Value:
    """Keras converts the boxes to float32 (``densify_bounding_boxes``)."""
    if boxes.dtype == DType.FLOAT32:
        return boxes
    return ctx.op("Cast", [boxes], {"SrcT": boxes.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, shape=boxes.shape, label="boxes_float")


def _cut_or_padded(ctx: LayerContext, x: Value, limit: int, fill: int, label: str, rank: int) -> Value:
    """``x[:, :limit]`` padded with ``fill`` to ``limit`` entries on axis 1 (a static count; boxes of 4 numbers)."""
    shape = ctx.shape(x)
    if len(shape) != rank or shape[1] is None or rank == 3 and shape[2] != 4:
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) {label} of shape {list(shape)} (lowered for "
                          f"{'[batch, boxes, 4]' if rank == 3 else '[batch, boxes]'} with a known number of boxes)")
    if x.dtype not in (DType.FLOAT32, DType.INT32):
        raise Unsupported(f"layer {ctx.name!r} (MaxNumBoundingBoxes) {label} of dtype {x.dtype.value}")
    count = int(shape[1])
    if count > limit:
        begin, size = [0] * rank, [-1, limit, *shape[2:]]
        return ctx.op("Slice", [x, ctx.ints(begin, f"{label}_begin"), ctx.ints(size, f"{label}_size")],
                      {"Index": DType.INT32}, shape=(shape[0], limit, *shape[2:]), label=f"{label}_cut")
    if count == limit:
        return ctx.unary("Identity", x, label=label)
    paddings = np.zeros((rank, 2), np.int32)
    paddings[1, 1] = limit - count
    value = ctx.const(np.asarray(fill, x.dtype.numpy), f"{label}_fill")
    return ctx.op("PadV2", [x, ctx.ints(paddings, f"{label}_paddings"), value], {"Tpaddings": DType.INT32},
                  shape=(shape[0], limit, *shape[2:]), label=f"{label}_padded")
