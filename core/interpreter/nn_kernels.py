"""Convolutions (plain and fused), batch norm and pooling: NHWC (plain ops also NCHW), TF's padding rules."""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from ..ir import Node
from .math_kernels import matmul, prelu
from .registry import attr_list, attr_str, attr_strings, kernel, unsupported


def same_padding(size: int, window: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF's SAME rule: (before, after), the extra pixel goes after."""
    effective = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def spatial_padding(node: Node, size_hw: tuple[int, int], window_hw: tuple[int, int],
                    strides: list[int], dilations: list[int]) -> list[tuple[int, int]]:
    """(before, after) for H and W from the node's ``padding`` (SAME, VALID or EXPLICIT)."""
    padding = attr_str(node, "padding", "VALID").upper()
    if padding == "VALID":
        return [(0, 0), (0, 0)]
    if padding == "SAME":
        return [same_padding(size_hw[i], window_hw[i], strides[1 + i], dilations[1 + i]) for i in range(2)]
    if padding == "EXPLICIT":
        pads = [int(p) for p in attr_list(node, "explicit_paddings")]
        if len(pads) != 8 or pads[0] or pads[1] or pads[6] or pads[7]:
            raise unsupported(node, f"explicit_paddings {pads}")
        return [(pads[2], pads[3]), (pads[4], pads[5])]
    raise unsupported(node, f"padding {padding!r}")


def _check_nhwc(node: Node) -> None:
    if attr_str(node, "data_format", "NHWC") != "NHWC":
        raise unsupported(node, "only NHWC convolutions")


def _nhwc_view(node: Node) -> Node | None:
    """An NCHW conv/pool node seen as NHWC (strides, dilations, ksize, explicit_paddings permuted), else None."""
    if attr_str(node, "data_format", "NHWC") != "NCHW":
        return None
    attrs = dict(node.attrs, data_format="NHWC")
    for key in ("strides", "dilations", "ksize"):
        values = attr_list(node, key)
        if len(values) == 4:
            attrs[key] = [values[i] for i in _NCHW_TO_NHWC]
    pads = [int(p) for p in attr_list(node, "explicit_paddings")]
    if len(pads) == 8:
        attrs["explicit_paddings"] = [pads[2 * i + j] for i in _NCHW_TO_NHWC for j in (0, 1)]
    view = copy.copy(node)
    view.attrs = attrs
    return view


_NCHW_TO_NHWC = (0, 2, 3, 1)
_NHWC_TO_NCHW = (0, 3, 1, 2)


def _windows(xp: np.ndarray, kh: int, kw: int, strides: list[int], dilations: list[int]):
    """Yield (i, j, patch) where patch[n, oh, ow, c] is the input under filter tap (i, j)."""
    oh = (xp.shape[1] - (kh - 1) * dilations[1] - 1) // strides[1] + 1
    ow = (xp.shape[2] - (kw - 1) * dilations[2] - 1) // strides[2] + 1
    if oh <= 0 or ow <= 0:
        raise ValueError("the window is larger than the padded input")
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilations[1], j * dilations[2]
            yield i, j, xp[:, r0:r0 + strides[1] * (oh - 1) + 1:strides[1], c0:c0 + strides[2] * (ow - 1) + 1:strides[2], :]


def conv2d(node: Node, x: np.ndarray, w: np.ndarray, *, depthwise: bool) -> np.ndarray:
    """Conv2D (w: HWIO) or depthwise (w: H, W, in, multiplier) in float64, cast back to x's dtype."""
    view = _nhwc_view(node)
    if view is not None:
        return conv2d(view, x.transpose(_NCHW_TO_NHWC), w, depthwise=depthwise).transpose(_NHWC_TO_NCHW)
    _check_nhwc(node)
    strides = [int(s) for s in attr_list(node, "strides", [1, 1, 1, 1])]
    dilations = [int(d) for d in attr_list(node, "dilations", [1, 1, 1, 1])] or [1, 1, 1, 1]
    kh, kw = w.shape[0], w.shape[1]
    pads = spatial_padding(node, (x.shape[1], x.shape[2]), (kh, kw), strides, dilations)
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[0], pads[1], (0, 0)))
    w64 = w.astype(np.float64)
    groups = 1 if depthwise else x.shape[3] // max(w.shape[2], 1)
    if not depthwise and (groups < 1 or groups * w.shape[2] != x.shape[3] or w.shape[3] % groups):
        raise unsupported(node, f"input channels {x.shape[3]} do not fit filter {list(w.shape)}")
    out = None
    for i, j, patch in _windows(xp, kh, kw, strides, dilations):
        if depthwise:
            term = (patch[..., :, None] * w64[i, j]).reshape(patch.shape[:3] + (-1,))
        else:  # grouped when the filter has fewer input channels than x: group g sees its slice only
            grouped = patch.reshape(patch.shape[:3] + (groups, w.shape[2]))
            taps = w64[i, j].reshape(w.shape[2], groups, w.shape[3] // groups)
            term = np.einsum("nhwgc,cgo->nhwgo", grouped, taps).reshape(patch.shape[:3] + (w.shape[3],))
        out = term if out is None else out + term
    return out.astype(x.dtype)


@kernel("Conv2D")
def _conv2d(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [conv2d(node, xs[0], xs[1], depthwise=False)]


@kernel("DepthwiseConv2dNative", "DepthwiseConv2d")
def _depthwise(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [conv2d(node, xs[0], xs[1], depthwise=True)]


def fused_tail(node: Node, y: np.ndarray, args: list[np.ndarray]) -> np.ndarray:
    """Bias and activation of a TF.js fused op, read the way tfjs-converter reads ``fused_ops``/args."""
    fused = [op.lower() for op in attr_strings(node, "fused_ops")]
    extra = fused[0] if fused else ""
    activation = fused[1] if len(fused) > 1 else "linear"
    if extra == "fusedbatchnorm":
        raise unsupported(node, "FusedBatchNorm inside a fused op (TF.js refuses it too)")
    args = list(args)
    if extra == "biasadd":
        y = y + args.pop(0)
    return apply_activation(node, y, activation, args[0] if args else None)


def apply_activation(node: Node, y: np.ndarray, activation: str, alpha: np.ndarray | None) -> np.ndarray:
    if activation in ("linear", ""):
        return y
    if activation == "relu":
        return np.maximum(y, 0).astype(y.dtype)
    if activation == "relu6":
        return np.clip(y, 0, 6).astype(y.dtype)
    if activation == "elu":
        return np.where(y > 0, y, np.expm1(np.minimum(y, 0))).astype(y.dtype)
    if activation == "sigmoid":
        return (1.0 / (1.0 + np.exp(-y.astype(np.float64)))).astype(y.dtype)
    if activation == "leakyrelu":
        a = float(node.attrs.get("leakyrelu_alpha", 0.2))
        return np.where(y >= 0, y, y * a).astype(y.dtype)
    if activation == "prelu":
        if alpha is None:
            raise unsupported(node, "prelu without its alpha argument")
        return prelu(y, alpha)
    raise unsupported(node, f"fused activation {activation!r}")


@kernel("_FusedConv2D")
def _fused_conv2d(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    _check_nhwc(node)  # the bias of the fused tail is added on the last axis
    return [fused_tail(node, conv2d(node, xs[0], xs[1], depthwise=False), xs[2:])]


@kernel("FusedDepthwiseConv2dNative")
def _fused_depthwise(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    _check_nhwc(node)  # the bias of the fused tail is added on the last axis
    return [fused_tail(node, conv2d(node, xs[0], xs[1], depthwise=True), xs[2:])]


@kernel("_FusedMatMul")
def _fused_matmul(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    y = matmul(xs[0], xs[1], bool(node.attrs.get("transpose_a")), bool(node.attrs.get("transpose_b")))
    return [fused_tail(node, y, xs[2:])]


@kernel("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_batch_norm(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Inference mode: normalise with the given mean and variance (what TF.js does)."""
    x, scale, offset, mean, variance = xs[:5]
    if node.attrs.get("is_training", False):
        raise unsupported(node, "is_training=True")
    eps = float(node.attrs.get("epsilon", 1e-3))
    shape = (-1,) if attr_str(node, "data_format", "NHWC") == "NHWC" else (-1,) + (1,) * (x.ndim - 2)
    mult = (scale.astype(np.float64) / np.sqrt(variance.astype(np.float64) + eps)).reshape(shape)
    y = (x.astype(np.float64) - mean.astype(np.float64).reshape(shape)) * mult + offset.astype(np.float64).reshape(shape)
    outs = [y.astype(x.dtype), mean, variance, mean, variance]
    return outs + ([np.zeros(0, x.dtype)] if node.op == "FusedBatchNormV3" else [])


def _pool(node: Node, x: np.ndarray, reduce: Callable[..., np.ndarray], pad: float = np.nan) -> np.ndarray:
    """Window reduction; SAME padding is ``pad`` (NaN, which the max skips, so that windows reduce over real elements
    only, as TF does)."""
    view = _nhwc_view(node)
    if view is not None:
        return _pool(view, x.transpose(_NCHW_TO_NHWC), reduce, pad).transpose(_NHWC_TO_NCHW)
    _check_nhwc(node)
    ksize = [int(k) for k in attr_list(node, "ksize", [1, 1, 1, 1])]
    strides = [int(s) for s in attr_list(node, "strides", [1, 1, 1, 1])]
    pads = spatial_padding(node, (x.shape[1], x.shape[2]), (ksize[1], ksize[2]), strides, [1, 1, 1, 1])
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[0], pads[1], (0, 0)), constant_values=pad)
    windows = np.stack([patch for _, _, patch in _windows(xp, ksize[1], ksize[2], strides, [1, 1, 1, 1])])
    return reduce(windows, axis=0).astype(x.dtype)


@kernel("MaxPool")
def _max_pool(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    """TF's window max starts at the dtype's lowest value and skips NaN: an all-NaN or all -Inf window is -FLT_MAX."""
    x = xs[0]
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min

    def tf_max(windows: np.ndarray, axis: int) -> np.ndarray:
        return np.fmax(np.fmax.reduce(windows, axis=axis), lowest)  # fmax ignores NaN (padding included)

    return [_pool(node, x, tf_max)]


@kernel("AvgPool")
def _avg_pool(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The sum of a window's real elements over their count (SAME padding excluded): NaN in a window, or +Inf beside
    -Inf, gives NaN, as in TF (a NaN-skipping mean would drop them)."""
    x = xs[0]
    total = _pool(node, x.astype(np.float64), np.sum, pad=0.0)
    count = _pool(node, np.ones(x.shape, np.float64), np.sum, pad=0.0)
    return [(total / count).astype(x.dtype)]
