"""DepthToSpace and SpaceToDepth (DCR and CRD modes), done in NHWC where TF.js's DepthToSpace lives.

TF.js's DepthToSpace is ONNX's DCR mode on an NHWC tensor, and float32 only; other dtypes, and
SpaceToDepth (which TF.js's graph runtime lacks), are a 4-D Reshape/Transpose/Reshape. CRD mode
differs from DCR only in the order of the channels, so it is a channel Gather before DepthToSpace
(after SpaceToDepth). PyTorch's ``nn.PixelShuffle`` exports as DepthToSpace in CRD mode.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import reshape_to

NHWC = layout.channels_last(4)


def _crd_channels(block: int, channels: int) -> np.ndarray:
    """For each DCR channel (i*b + j)*C + c, the CRD channel c*b*b + i*b + j holding the same pixel."""
    i_j, c = np.meshgrid(np.arange(block * block), np.arange(channels), indexing="ij")
    return (c * block * block + i_j).reshape(-1)


def _gather_channels(ctx: NodeContext, x: Value, order: np.ndarray, label: str) -> Value:
    return ctx.gather(x, ctx.ints(order.tolist(), label=f"{label}/order"), 3, label=label)


def _static_dims(ctx: NodeContext, block: int, what: str, *, channels_only: bool = False
                 ) -> tuple[int | None, int | None, int | None, int | None]:
    """N, C, H, W; C (and, unless ``channels_only``, W and N or H) must be known: the Reshapes need them."""
    shape = ctx.shape(0)
    if shape is None or len(shape) != 4:
        raise ctx.error(f"{what} needs a 4-D input of known rank")
    n, c, h, w = shape
    if c is None or (not channels_only and (w is None or (n is None and h is None))):
        raise ctx.error(f"{what} needs static channel and width dims (and a static batch or height), got {list(shape)}",
                        hint="export the model with static input shapes (or only a dynamic batch)")
    if block < 1:
        raise ctx.error(f"blocksize {block} must be positive")
    return n, c, h, w


def _mode(ctx: NodeContext) -> str:
    mode = str(ctx.attr("mode", "DCR")).upper()
    if mode not in ("DCR", "CRD"):
        raise ctx.error(f"mode {mode!r} is not DCR or CRD")
    return mode


@onnx_op("DepthToSpace", since=1)
def depth_to_space(ctx: NodeContext) -> Laid:
    block = int(ctx.attr("blocksize"))
    # TF.js's own DepthToSpace (float32) takes any batch, height and width: only the channels must be known
    n, c, h, w = _static_dims(ctx, block, "DepthToSpace", channels_only=ctx.tensor(0).dtype == np.float32)
    if c % (block * block):
        raise ctx.error(f"the {c} channels are not a multiple of blocksize² = {block * block}")
    out_c = c // (block * block)
    x = ctx.input_as(0, NHWC)
    if _mode(ctx) == "CRD":
        x = _gather_channels(ctx, x, _crd_channels(block, out_c), "dcr_order")
    if x.dtype == DType.FLOAT32:
        return ctx.laid(ctx.op("DepthToSpace", [x], {"block_size": block, "data_format": "NHWC"}), NHWC)
    rows = None if n is None or h is None else n * h  # [N*H, W, b, b*C'] -> [N*H, b, W, b*C'] -> [N, H*b, W*b, C']
    x = reshape_to(ctx, x, [rows, w, block, block * out_c], label="split_depth")
    x = ctx.op("Transpose", [x, ctx.ints([0, 2, 1, 3], label="interleave/perm")], {"Tperm": DType.INT32},
               label="interleave")
    return ctx.laid(reshape_to(ctx, x, [n, None if h is None else h * block, w * block, out_c]), NHWC)


@onnx_op("SpaceToDepth", since=1)
def space_to_depth(ctx: NodeContext) -> Laid:
    block = int(ctx.attr("blocksize"))
    n, c, h, w = _static_dims(ctx, block, "SpaceToDepth")
    if w % block or (h is not None and h % block):
        raise ctx.error(f"the spatial dims {h}x{w} are not multiples of blocksize {block}")
    x = ctx.input_as(0, NHWC)  # [N, H, W, C] -> [N*H', b, W', b*C] -> [N*H', W', b, b*C] -> [N, H', W', b*b*C]
    rows = None if n is None or h is None else n * h // block
    x = reshape_to(ctx, x, [rows, block, w // block, block * c], label="split_space")
    x = ctx.op("Transpose", [x, ctx.ints([0, 2, 1, 3], label="gather_blocks/perm")], {"Tperm": DType.INT32},
               label="gather_blocks")
    crd = _mode(ctx) == "CRD"
    x = reshape_to(ctx, x, [n, None if h is None else h // block, w // block, block * block * c],
                   label="to_depth" if crd else None)
    if crd:  # output channel c*b*b + i*b + j is DCR channel (i*b + j)*C + c
        x = _gather_channels(ctx, x, np.argsort(_crd_channels(block, c)), "crd_order")
    return ctx.laid(x, NHWC)
