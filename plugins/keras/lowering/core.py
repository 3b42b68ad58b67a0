"""Core layers: Dense, EinsumDense, Embedding, and the layers that are the identity at inference."""
from __future__ import annotations

import re
from typing import Any

from tfjsconv.dtypes import DType

from tfjsconv.ir import Value

from .activations import activation_check, apply_activation
from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .registry import Unsupported, lowers

#: Active only in training: ``model(x, training=False)`` passes the input through.
INFERENCE_IDENTITY = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                      "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
                      # image augmentation: random in training, ``return inputs`` at inference
                      "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                      "RandomBrightness")


@lowers(*INFERENCE_IDENTITY)
def identity(ctx: LayerContext) -> Value:
    return ctx.unary("Identity", ctx.x)


@lowers("Dense", check=activation_check)
def dense(ctx: LayerContext) -> Value:
    """``x @ kernel + bias`` over the last axis; higher ranks are flattened to 2-D around the MatMul."""
    use_bias = ctx.config.get("use_bias", True)
    weights = ctx.expect_weights("kernel", *(["bias"] if use_bias else []))
    shape = ctx.shape()
    units = int(ctx.config["units"])
    ctx.check_shape(weights[0], [shape[-1], units], "kernel")
    x = ctx.x
    if len(shape) < 2:
        raise Unsupported(f"layer {ctx.name!r} (Dense) on a rank-{len(shape)} input")
    outer = shape[:-1]
    dynamic = len(shape) > 2 and any(d is None for d in outer[1:])
    if len(shape) > 2:
        x = ctx.reshape(x, [None, shape[-1]], "flatten")
    y = ctx.op("MatMul", [x, ctx.weight(weights[0], "kernel")], {"transpose_a": False, "transpose_b": False},
               shape=(None, units))
    if use_bias:
        ctx.check_shape(weights[1], [units], "bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(weights[1], "bias")], {"data_format": "NHWC"}, shape=y.shape)
    if dynamic:  # the sizes besides the last one are read at run time, as Keras's matmul keeps them
        y = reshape_to(ctx, y, [runtime_sizes(ctx, ctx.x, 0, -1, "outer"), [units]], (*outer, units), "unflatten")
    elif len(shape) > 2:
        y = ctx.reshape(y, [None, *outer[1:], units], "unflatten")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)




def _embedding_check(config: dict[str, Any]) -> str | None:
    if config.get("sparse"):
        return "sparse=True"
    return None


@lowers("LayerScale")
def layer_scale(ctx: LayerContext) -> Value:
    """ConvNeXt's ``LayerScale`` (``keras.applications.convnext``): ``x · gamma`` over the last axis. Only
    Keras's own class gets here: a user's class of that name lives in another module, which the checks
    refuse as custom code before any lowering."""
    (gamma,) = ctx.expect_weights("gamma")
    shape = ctx.shape()
    ctx.check_shape(gamma, [int(ctx.config["projection_dim"])], "gamma")
    if not shape or shape[-1] not in (None, gamma.shape[0]):
        raise ctx.error(f"scales a last axis of {shape[-1] if shape else 'a scalar'} by {gamma.shape[0]} values")
    return ctx.binary("Mul", ctx.x, ctx.weight(gamma, "gamma"))


@lowers("Embedding", check=_embedding_check)
def embedding(ctx: LayerContext) -> Value:
    """Rows of the table: ``GatherV2`` on the ids cast to int32 (Keras casts float ids the same way)."""
    (table,) = ctx.expect_weights("embeddings")
    ctx.check_shape(table, [int(ctx.config["input_dim"]), int(ctx.config["output_dim"])], "embeddings table")
    ids = ctx.x
    if ids.dtype != DType.INT32:
        ids = ctx.op("Cast", [ids], {"SrcT": ids.dtype, "DstT": DType.INT32, "Truncate": False},
                     dtype=DType.INT32, shape=ids.shape, label="ids")
    if ctx.keras3:
        ids = _wrap_negative_ids(ctx, ids, int(table.shape[0]))
    return ctx.op("GatherV2", [ctx.weight(table, "embeddings"), ids, ctx.ints(0, "axis")],
                  {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=DType.FLOAT32, shape=(*ctx.shape(ids), table.shape[1]))


def _wrap_negative_ids(ctx: LayerContext, ids: Value, rows: int) -> Value:
    """Keras 3's ``ops.take`` reads an id ``-rows <= i < 0`` as ``i + rows`` (numpy's and JAX's fill mode), where
    ``GatherV2`` would fail: ``where(ids < 0, ids + rows, ids)`` (past rank 4, which webgl's ``SelectV2`` lacks,
    ``ids + rows · (ids < 0)``). Ids out of range either way still fail in TF.js, as they do in TensorFlow."""
    negative = ctx.op("Less", [ids, ctx.ints(0, "zero")], dtype=DType.BOOL, shape=ids.shape, label="negative_ids")
    if len(ids.shape or ()) <= 4:
        shifted = ctx.op("AddV2", [ids, ctx.ints(rows, "rows")], shape=ids.shape, label="shifted_ids")
        return ctx.op("SelectV2", [negative, shifted, ids], {"T": DType.INT32}, dtype=DType.INT32, shape=ids.shape,
                      label="wrapped_ids")
    negative = ctx.op("Cast", [negative], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False},
                      dtype=DType.INT32, shape=ids.shape, label="negative_ids_int")
    shift = ctx.op("Mul", [negative, ctx.ints(rows, "rows")], shape=ids.shape, label="negative_ids_shift")
    return ctx.op("AddV2", [ids, shift], shape=ids.shape, label="wrapped_ids")


def keras3_bias_add_gap(ctx: LayerContext, out_shape: tuple[int | None, ...], axis: int, size: int) -> None:
    """Refuse a Keras 3 bias Keras adds on another axis than its own.

    Keras 3's TensorFlow backend computes ``ops.add(x, bias)`` as ``tf.nn.bias_add`` whenever the bias squeezes to
    one axis of length ``size`` equal to x's axis 1 or last axis: on the last axis when that one fits, else on axis
    1, whatever axis the bias was shaped for (a channels_first conv whose last axis is as long as its filters, an
    EinsumDense bias on a middle axis). Other backends add it where it belongs, so the file alone does not say which
    numbers Keras gives; ``--loader=tensorflow`` reproduces the TensorFlow backend's traced graph. Keras 3 itself
    is not consistent there: a channels_first conv's ``model.predict`` (a graph whose conv output may not know its
    last axis's length) adds the bias on the channels, where eager calls and XLA add it on the last axis.
    """
    rank = len(out_shape)
    if not ctx.keras3 or size == 1 or rank < 2 or axis == rank - 1:
        return
    last, second = out_shape[-1], out_shape[1]
    if last is None or last == size:
        where = "the last axis" + (" (as long as the bias)" if last == size else f" when that one is {size} long")
    elif axis != 1 and (second is None or second == size):
        where = "axis 1" + (" (as long as the bias)" if second == size else f" when that one is {size} long")
    else:
        return
    raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its bias "
                      f"(length {size}) on {where} (its `ops.add` takes it for a `bias_add`), not on axis {axis} "
                      "as other backends do")


#: ``input,kernel->output`` with plain labels.
EQUATION = re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$")
#: The two forms with an ellipsis EinsumDense accepts (``_analyze_einsum_string``): ``...ab,bc->...ac`` and
#: ``ab...,bc->ac...``; the ellipsis stands for the same input axes on both sides.
ELLIPSIS_EQUATIONS = (re.compile(r"^\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$"),
                      re.compile(r"^([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.$"))


def _einsum_check(config: dict[str, Any]) -> str | None:
    equation = str(config.get("equation", "")).replace(" ", "")
    known = EQUATION.match(equation) or any(form.match(equation) for form in ELLIPSIS_EQUATIONS)
    return activation_check(config) or (None if known else f"equation {config.get('equation')!r}")


def _spelled_out(equation: str, rank: int) -> str | None:
    """The equation with its ellipsis written as fresh labels for the input's axes it stands for (None when the
    input has too few axes); an equation without one as it is."""
    for left, form in zip((True, False), ELLIPSIS_EQUATIONS):
        match = form.match(equation)
        if match is None:
            continue
        x_labels, k_labels, out_labels = match.groups()
        count = rank - len(x_labels)
        fresh = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation)[:max(count, 0)]
        if count < 0 or len(fresh) != count:
            return None
        if left:
            return f"{fresh}{x_labels},{k_labels}->{fresh}{out_labels}"
        return f"{x_labels}{fresh},{k_labels}->{out_labels}{fresh}"
    return equation


@lowers("EinsumDense", check=_einsum_check)
def einsum_dense(ctx: LayerContext) -> Value:
    """``Einsum(x, kernel)`` (the ``einsum`` pass turns it into Transpose/Reshape/BatchMatMul) + bias."""
    shape = ctx.shape()
    given = str(ctx.config["equation"]).replace(" ", "")
    equation = _spelled_out(given, len(shape))
    match = EQUATION.match(equation or "")
    if match is None:
        raise ctx.error(f"has equation {given!r} for a rank-{len(shape)} input")
    x_labels, k_labels, out_labels = match.groups()
    if len(x_labels) != len(shape):
        raise ctx.error(f"has equation {equation!r} for a rank-{len(shape)} input")
    bias_axes = ctx.config.get("bias_axes")
    weights = ctx.expect_weights("kernel", *(["bias"] if bias_axes else []))
    if len(weights[0].shape) != len(k_labels):
        raise ctx.error(f"has a kernel of shape {list(weights[0].shape)} for equation {equation!r}")
    sizes: dict[str, int | None] = dict(zip(x_labels, shape))
    for label, size in zip(k_labels, weights[0].shape):
        if sizes.get(label) not in (None, size) and label in x_labels:
            raise ctx.error(f"has a kernel of shape {list(weights[0].shape)} for an input of shape {list(shape)}")
        sizes[label] = int(size)
    if any(label not in sizes for label in out_labels):
        raise ctx.error(f"has equation {equation!r} with an output label of no operand")
    y = ctx.op("Einsum", [ctx.x, ctx.weight(weights[0], "kernel")], {"equation": equation, "N": 2},
               shape=tuple(sizes[label] if i else shape[0] for i, label in enumerate(out_labels)))
    if bias_axes:
        bias_shape = [int(d) for d in weights[1].shape]
        aligned = [1] * (len(y.shape) - len(bias_shape)) + bias_shape
        wide = [i for i, d in enumerate(aligned) if d != 1]
        if len(wide) == 1:
            keras3_bias_add_gap(ctx, tuple(y.shape), wide[0], aligned[wide[0]])
        y = ctx.binary("AddV2", y, ctx.weight(weights[1], "bias"), label="bias")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)
