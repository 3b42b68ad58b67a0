"""Col2Im (torch's F.fold): sum sliding blocks back into an image, NHWC inside."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .conv_nd import _output_shape, backprop_input_attrs
from .filters import Filter
from .nn import NHWC, NWC


@onnx_op("Col2Im", since=18)
def col2im(ctx: NodeContext) -> Laid:
    """Non-overlapping blocks that tile the image exactly (MobileViT's fold) are a Reshape and a
    Transpose; otherwise a transposed convolution with a one-hot filter adds every block entry to
    its pixel (exact: each output is a sum of inputs times 1, plus zeros).
    """
    image = [int(v) for v in ctx.require_const(1, "image_shape")]
    block = [int(v) for v in ctx.require_const(2, "block_shape")]
    if len(block) != len(image) or not block:
        raise ctx.error(f"image_shape {image} and block_shape {block} differ in length")
    n = len(block)
    dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * n))]
    begin, end = pads[:n], pads[n:]
    if _is_tiling(image, block, strides, dilations, pads):
        blocks = [i // k for i, k in zip(image, block)]
        shape = ctx.shape(0)
        if shape is None or shape[1] is None or shape[1] % int(np.prod(block)):
            raise ctx.error(f"Col2Im needs a static channel dimension that is C * prod(block_shape) = "
                            f"C * {int(np.prod(block))}")
        channels = shape[1] // int(np.prod(block))
        return ctx.laid(_tiles(ctx, channels, block, blocks), layout.channels_last(n + 2))
    if n > 2:
        raise ctx.error(f"{n}-D Col2Im is supported only for blocks that tile the image (image_shape {image}, "
                        f"block_shape {block}, strides {strides})")
    if n == 1:  # a 1-D fold is a 2-D one over a height of 1
        image, block, dilations, strides, begin, end = ([1, *image], [1, *block], [1, *dilations], [1, *strides],
                                                        [0, *begin], [0, *end])
    eff = [(k - 1) * d + 1 for k, d in zip(block, dilations)]
    blocks = [(i + b + e - k) // s + 1 for i, b, e, k, s in zip(image, begin, end, eff, strides)]
    if any(b <= 0 for b in blocks):
        raise ctx.error(f"no block fits: image_shape {image}, block_shape {block}")
    shape = ctx.shape(0)
    k_area = int(np.prod(block))
    if shape is None or shape[1] is None:
        raise ctx.error("Col2Im needs a static channel dimension (C * prod(block_shape))")
    if shape[1] % k_area:
        raise ctx.error(f"input channels {shape[1]} are not a multiple of prod(block_shape) = {k_area}")
    channels = shape[1] // k_area
    if shape[2] is not None and shape[2] != int(np.prod(blocks)):
        raise ctx.error(f"the input holds {shape[2]} blocks, the image {int(np.prod(blocks))}")
    y = _overlapping(ctx, channels, block, blocks, image, strides, dilations, begin, end, shape[0])
    if n == 1:
        y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]})
        return ctx.laid(y, NWC)
    return ctx.laid(y, NHWC)


def _is_tiling(image: list[int], block: list[int], strides: list[int], dilations: list[int], pads: list[int]) -> bool:
    """Blocks side by side that cover the image exactly once: per axis one block, or stride = block size."""
    if any(pads):
        return False
    for i, k, s, d in zip(image, block, strides, dilations):
        if i % k or (d != 1 and k != 1):
            return False
        if i // k != 1 and s != k:
            return False
    return True


def _tiles(ctx: NodeContext, channels: int, block: list[int], blocks: list[int]):  # type: ignore[no-untyped-def]
    """[N, C*k1*k2.., b1*b2..] -> [N, C, k.., b..] -> [N, b1, k1, b2, k2, .., C] -> [N, *image, C].

    Axes of size 1 are left out of the Transpose (at most rank 2 + 2 * their count)."""
    ks = [a for a, k in enumerate(block) if k > 1]
    bs = [a for a, b in enumerate(blocks) if b > 1]
    dims = ["n", "c", *[("k", a) for a in ks], *[("b", a) for a in bs]]
    if len(dims) > 6:
        raise ctx.error(f"Col2Im over {len(dims)} axes: TF.js transposes at most rank 6 on webgl")
    order = ["n", *[t for a in range(len(block)) for t in (("b", a), ("k", a)) if t in dims], "c"]
    x = ctx.reshape(ctx.input(0), [-1, channels, *[block[a] for a in ks], *[blocks[a] for a in bs]], label="blocks")
    perm = [dims.index(t) for t in order]
    if perm != list(range(len(perm))):
        x = ctx.op("Transpose", [x, ctx.ints(perm, label="tile_perm")], {"Tperm": DType.INT32}, label="tiles")
    return ctx.reshape(x, [-1, *[b * k for b, k in zip(blocks, block)], channels], label="image")


def _overlapping(ctx: NodeContext, channels: int, block: list[int], blocks: list[int], image: list[int],  # type: ignore[no-untyped-def]
                 strides: list[int], dilations: list[int], begin: list[int], end: list[int], batch: int | None):
    kh, kw = block
    k_area = kh * kw
    weight = np.zeros((channels * k_area, channels, kh, kw), np.float32)  # ONNX ConvTranspose [I, O, kh, kw]
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                weight[c * k_area + i * kw + j, c, i, j] = 1.0
    filt = Filter(ctx, array=weight).dilate([2, 3], dilations, "dilated").transpose([2, 3, 1, 0], "filter")
    x = ctx.input_as(0, NWC)  # [N, L, C*K]
    x = ctx.reshape(x, [-1, *blocks, channels * k_area], label="as_blocks")
    attrs = backprop_input_attrs(x, strides, begin, end)
    out_shape = _output_shape(ctx, x, batch, image, channels, 0)
    return ctx.op("Conv2DBackpropInput", [out_shape, filt.emit("filter"), x], attrs, label="fold", dtype=x.dtype)



