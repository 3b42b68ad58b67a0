"""tf_keras's LocallyConnected1D/2D (``implementation=1``): a convolution whose weights differ at every output position.

tf_keras (``backend.local_conv``) cuts one window per output position, flattens each (``(k…, c)`` channels last,
``(c, k…)`` channels first), multiplies each by its own ``(feature_dim, filters)`` matrix and adds a bias reshaped
(not transposed) to the output's layout. Here the windows are one ``GatherV2`` from the flattened image through an
index table computed now, the products one ``BatchMatMulV2`` over positions. Implementations 2 and 3 (a masked
dense kernel, a sparse one) keep their weights in other layouts and are refused by name (the traced path cannot
convert them either: TF.js has no SparseMatMul).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import activation_check, apply_activation
from .context import LayerContext
from .registry import Unsupported, lowers


def _check(config: dict[str, Any]) -> str | None:
    if int(config.get("implementation", 1)) != 1:
        return f"implementation={config.get('implementation')!r}"
    if str(config.get("padding", "valid")).lower() != "valid":
        return f"padding={config.get('padding')!r}"
    return activation_check(config)


def _window_indices(sample: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                    out: tuple[int, ...], channels_first: bool) -> np.ndarray:
    """``[positions, feature_dim]``: where each window's values sit in the flattened sample, in tf_keras's order
    (positions row-major; each window flattened as ``inputs[slices]`` is)."""
    flat = np.arange(int(np.prod(sample)), dtype=np.int32).reshape(sample)
    rows = []
    for position in np.ndindex(*out):
        window = tuple(slice(p * s, p * s + k) for p, s, k in zip(position, strides, kernel))
        rows.append(flat[(slice(None), *window)] if channels_first else flat[(*window, slice(None))])
    return np.stack([r.reshape(-1) for r in rows])


@lowers("LocallyConnected1D", "LocallyConnected2D", check=_check)
def locally_connected(ctx: LayerContext) -> Value:
    n = 1 if ctx.class_name.endswith("1D") else 2
    channels_first = ctx.config.get("data_format", "channels_last") == "channels_first"
    shape = ctx.shape()
    if len(shape) != n + 2 or any(d is None for d in shape[1:]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on an input of shape {list(shape)}")
    sample = tuple(int(d) for d in shape[1:])
    spatial, channels = (sample[1:], sample[0]) if channels_first else (sample[:-1], sample[-1])
    kernel_size = tuple(int(k) for k in np.broadcast_to(ctx.config["kernel_size"], (n,)))
    strides = tuple(int(s) for s in np.broadcast_to(ctx.config.get("strides", 1), (n,)))
    out = tuple((d - k) // s + 1 for d, k, s in zip(spatial, kernel_size, strides))
    filters = int(ctx.config["filters"])
    positions, feature_dim = int(np.prod(out)), int(np.prod(kernel_size)) * channels
    use_bias = ctx.config.get("use_bias", True)
    weights = ctx.expect_weights("kernel", *(["bias"] if use_bias else []))
    ctx.check_shape(weights[0], [positions, feature_dim, filters], "kernel")
    indices = _window_indices(sample, kernel_size, strides, out, channels_first)
    flat = ctx.reshape(ctx.x, [None, int(np.prod(sample))], "flatten")
    windows = ctx.op("GatherV2", [flat, ctx.const(indices, "window_indices"), ctx.ints(1, "window_axis")],
                     {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                     shape=(None, positions, feature_dim), label="windows")
    by_position = ctx.transpose(windows, [1, 0, 2], "by_position")
    products = ctx.op("BatchMatMulV2", [by_position, ctx.weight(weights[0], "kernel")], {"adj_x": False, "adj_y": False},
                      shape=(positions, None, filters), label="local_products")
    y = ctx.reshape(ctx.transpose(products, [1, 0, 2], "by_sample"), [None, *out, filters], "unflatten")
    if channels_first:
        y = ctx.transpose(y, [0, n + 1, *range(1, n + 1)], "channels_first")
    if use_bias:
        layout = (filters, *out) if channels_first else (*out, filters)
        ctx.check_shape(weights[1], [*out, filters], "bias")
        bias = ctx.weight(weights[1], "bias")
        y = ctx.binary("AddV2", y, ctx.reshape(bias, [1, *layout], "bias_layout"), label="biased")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)
