"""Core layers: Dense, EinsumDense, Embedding, and the layers that are the identity at inference."""
from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import activation_check, apply_activation
from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .lazy import ReshapedArray
from .registry import Unsupported, lowers
from .traced_shapes import Shape, own_shape, traced_shape

log = logging.getLogger(__name__)

#: Active only in training: ``model(x, training=False)`` passes the input through.
INFERENCE_IDENTITY = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                      "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
                      # image augmentation: random in training, ``return inputs`` at inference
                      "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                      "RandomBrightness", "RandomWidth", "RandomHeight",
                      # Keras 3: cast to the compute dtype, then ``return images`` unless training
                      "Solarization", "CutMix", "RandomErasing", "RandomGaussianBlur", "RandomPerspective",
                      "RandomElasticTransform", "AugMix", "RandAugment", "RandomSharpness",
                      # Keras 3: ``return images`` as given, integers too (see integer_dtypes.INTEGER_KEEPING_LAYERS)
                      "RandomInvert", "RandomColorJitter", "RandomGrayscale", "RandomHue", "RandomSaturation",
                      "RandomPosterization", "RandomColorDegeneration", "MixUp")


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
    bias = None
    if use_bias:
        ctx.check_shape(weights[1], [units], "bias")
        bias = ctx.weight(weights[1], "bias")
    y = last_axis_matmul(ctx, ctx.x, ctx.weight(weights[0], "kernel"), units, bias)
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)


def last_axis_matmul(ctx: LayerContext, x: Value, kernel: Value, units: int, bias: Value | None = None) -> Value:
    """``x @ kernel (+ bias)`` over the last axis; higher ranks are flattened to 2-D around the MatMul (TF.js's
    MatMul is 2-D), the sizes besides the last read at run time where unknown, as Keras's matmul keeps them."""
    shape = ctx.shape(x)
    if len(shape) < 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    outer = shape[:-1]
    if len(shape) > 2 and shape[-1] == 0:
        return _empty_matmul(ctx, x, kernel, units, bias)
    # TF.js cannot infer the batch's -1 over 0 elements: a static 0 elsewhere reads the sizes at run time too
    dynamic = len(shape) > 2 and any(d is None or d == 0 for d in (*outer[1:], units))
    flat = ctx.reshape(x, [None, shape[-1]], "flatten") if len(shape) > 2 else x
    y = ctx.op("MatMul", [flat, kernel], {"transpose_a": False, "transpose_b": False}, shape=(None, units))
    if bias is not None:
        y = ctx.op("BiasAdd", [y, bias], {"data_format": "NHWC"}, shape=y.shape)
    if dynamic:
        y = reshape_to(ctx, y, [runtime_sizes(ctx, x, 0, -1, "outer"), [units]], (*outer, units), "unflatten")
    elif len(shape) > 2:
        y = ctx.reshape(y, [None, *outer[1:], units], "unflatten")
    return y


def _empty_matmul(ctx: LayerContext, x: Value, kernel: Value, units: int, bias: Value | None) -> Value:
    """``x @ kernel (+ bias)`` over a last axis of size 0: a sum of nothing, TF's zeros (then the bias), shaped
    from ``x``'s run-time sizes. Not flattened: TF.js cannot infer a reshape's -1 over 0 elements."""
    shape = ctx.shape(x)
    dims = ctx.op("ConcatV2", [runtime_sizes(ctx, x, 0, -1, "outer"), ctx.ints([units], "empty_product_units"),
                               ctx.ints(0, "empty_product_axis")], {"N": 2, "Tidx": DType.INT32},
                  dtype=DType.INT32, shape=(len(shape),), label="empty_product_shape")
    y = ctx.op("Fill", [dims, ctx.const(np.zeros((), kernel.dtype.numpy), "empty_product_zero")],
               {"T": kernel.dtype, "index_type": DType.INT32}, dtype=kernel.dtype, shape=(*shape[:-1], units),
               label="empty_product")
    if bias is not None:
        y = ctx.op("BiasAdd", [y, bias], {"data_format": "NHWC"}, shape=y.shape)
    return y




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
    return _embedding_rows(ctx, table)


def _embedding_rows(ctx: LayerContext, table: Any) -> Value:
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


def _reversible_embedding_check(config: dict[str, Any]) -> str | None:
    for key, neutral in (("mask_zero", False), ("quantization_config", None), ("sparse", False)):
        if config.get(key, neutral) not in (neutral, None):
            return f"{key}={config[key]!r}"
    if config.get("reverse_dtype") not in (None, "float32"):
        return f"reverse_dtype={config['reverse_dtype']!r}"
    return None


@lowers("ReversibleEmbedding", check=_reversible_embedding_check)
def reversible_embedding(ctx: LayerContext) -> Value:
    """Keras 3's ReversibleEmbedding: an Embedding, or with ``reverse=True`` logits ``x @ embeddingsᵀ`` (tied) or
    ``x @ reverse_embeddings``, soft-capped as ``tanh(logits / cap) · cap`` when ``logit_soft_cap`` is set."""
    tied = ctx.config.get("tie_weights", True)
    weights = ctx.expect_weights("embeddings", *([] if tied else ["reverse_embeddings"]))
    if not ctx.call_kwargs.get("reverse"):
        return _embedding_rows(ctx, weights[0])
    rows, width = int(ctx.config["input_dim"]), int(ctx.config["output_dim"])
    table = weights[-1]
    ctx.check_shape(table, [rows, width] if tied else [width, rows], "reverse kernel")
    kernel = ctx.weight(table, "embeddings" if tied else "reverse_embeddings")
    if tied:
        kernel = ctx.transpose(kernel, [1, 0], "reverse_kernel")
    if ctx.x.dtype != DType.FLOAT32:
        raise Unsupported(f"layer {ctx.name!r} (ReversibleEmbedding) reversed on {ctx.x.dtype.numpy} values")
    logits = last_axis_matmul(ctx, ctx.x, kernel, rows)
    cap = ctx.config.get("logit_soft_cap")
    if cap is None:
        return logits
    capped = ctx.unary("Tanh", ctx.scalar_op("RealDiv", logits, float(cap), "capped"), label="capped_tanh")
    return ctx.scalar_op("Mul", capped, float(cap), "soft_capped")


def _wrap_negative_ids(ctx: LayerContext, ids: Value, rows: int | Value) -> Value:
    """Keras 3's ``ops.take`` reads an id ``-rows <= i < 0`` as ``i + rows`` (numpy's and JAX's fill mode), where
    ``GatherV2`` would fail: ``where(ids < 0, ids + rows, ids)`` (past rank 4, which webgl's ``SelectV2`` lacks,
    ``ids + rows · (ids < 0)``). Ids out of range either way still fail in TF.js, as they do in TensorFlow. ``rows``:
    a number, or an int32 scalar known at run time."""
    rows_value = rows if isinstance(rows, Value) else ctx.ints(rows, "rows")
    negative = ctx.op("Less", [ids, ctx.ints(0, "zero")], dtype=DType.BOOL, shape=ids.shape, label="negative_ids")
    if len(ids.shape or ()) <= 4:
        shifted = ctx.op("AddV2", [ids, rows_value], shape=ids.shape, label="shifted_ids")
        return ctx.op("SelectV2", [negative, shifted, ids], {"T": DType.INT32}, dtype=DType.INT32, shape=ids.shape,
                      label="wrapped_ids")
    negative = ctx.op("Cast", [negative], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False},
                      dtype=DType.INT32, shape=ids.shape, label="negative_ids_int")
    shift = ctx.op("Mul", [negative, rows_value], shape=ids.shape, label="negative_ids_shift")
    return ctx.op("AddV2", [ids, shift], shape=ids.shape, label="wrapped_ids")


def keras3_traced_bias_axis(ctx: LayerContext, out_shape: tuple[int | None, ...], axis: int, size: int, *,
                            also: str = "", predict_retraces: bool = True, value: Value | None = None,
                            layout: Any = None) -> int:
    """The axis Keras 3's TensorFlow backend's traced graph adds a one-axis bias on (``axis``: the bias's own).

    That backend computes ``ops.add(x, bias)`` as ``tf.nn.bias_add`` whenever the bias squeezes to one axis of
    length ``size`` equal to x's axis 1 or last axis *as known when the graph is traced*: on the last axis when that
    one is known to be that long, else on axis 1, whatever axis the bias was shaped for (a channels_first conv whose
    last axis is as long as its filters, an EinsumDense bias on a middle axis). A size unknown at trace time never
    matches, so the traced graph (``--loader=tensorflow``, ``model.export()``) adds the bias on the same axis at
    every run size; an eager call knows every size and moves it whenever one matches. The lowering computes the
    traced graph's numbers from the sizes TensorFlow's trace knows: its own static sizes (batch unknown, the rest as
    the model's inputs give them), except where TensorFlow's shape inference knows more or less upstream of
    ``value`` (x, or the tensor x's sizes come from; ``layout`` maps its shape to ``out_shape``, by default a
    channels_last conv output to channels_first): :func:`traced_shape`. A layer where the traced graph's numbers
    are not what every Keras path computes is named in a warning (``also``: more; ``predict_retraces``:
    ``model.predict``, which traces at the data's sizes, moves the bias as the eager call).
    """
    rank = len(out_shape)
    if not ctx.keras3 or size == 1 or rank < 3 or axis == rank - 1:
        return axis
    out_shape = _traced_out_shape(ctx, out_shape, axis, size, value, layout or _channels_first)
    last, second = out_shape[-1], out_shape[1]
    traced = rank - 1 if last == size else 1 if second == size else axis
    eager = [where for where, unknown in (("the last axis", last is None and traced != rank - 1),
                                          ("axis 1", second is None and traced == axis != 1)) if unknown]
    if traced == axis and not eager:
        return axis
    where = "the last axis" if traced == rank - 1 else f"axis {traced}"
    text = (f"layer {ctx.name!r} ({ctx.class_name}): its bias (length {size}) is added on {where}, as Keras 3's "
            "TensorFlow backend's traced graph adds it (the graph --loader=tensorflow converts)")
    if traced != axis:
        text += f"; other Keras backends add it on axis {axis}"
    if eager:
        text += (f"; Keras 3's TensorFlow backend's eager call{' (and model.predict)' if predict_retraces else ''} "
                 f"adds it on {' or '.join(eager)} instead whenever that axis is {size} long at run time")
    warn_once(ctx, text + also)
    return traced


def _channels_first(shape: Shape) -> Shape:
    """A channels_last conv output's shape laid out channels_first (the conv layers' bias, on axis 1)."""
    return (shape[0], shape[-1], *shape[1:-1])


def _traced_out_shape(ctx: LayerContext, out_shape: Shape, axis: int, size: int, value: Value | None,
                      layout: Any) -> Shape:
    """``out_shape`` with the sizes TensorFlow's trace knows (:func:`traced_shape` of ``value``, laid out by
    ``layout``). Where the lowering cannot follow TensorFlow's sizes and they could change the axis, the layer is
    refused by name: a size TensorFlow may know where the lowering does not (when an axis the rule reads is unknown
    to the lowering), or a size TensorFlow's trace loses (when the lowering moves the bias for a known one)."""
    if value is None:
        return tuple(out_shape)
    traced = traced_shape(value)
    if not traced.origins and traced.untold is None:
        return tuple(out_shape)
    mine = own_shape(value)
    if traced.untold is None and mine is not None and layout(mine) == tuple(out_shape) \
            and traced.shape is not None and len(traced.shape) == len(mine):
        return layout(traced.shape)
    last, second = out_shape[-1], out_shape[1]
    moved = last == size or (second == size and axis != 1)
    reads_unknown = last is None or (second is None and axis != 1 and last != size)
    kinds = dict(traced.origins)
    through = f", which the lowering cannot follow through {traced.untold}" if traced.untold else ""
    if "merged" in kinds and reads_unknown:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its bias "
                          f"(length {size}) on its last axis or axis 1 when that axis is known to be {size} long as "
                          "the graph is traced, and TensorFlow may know a size the lowering leaves unknown there "
                          f"(merged from another tensor by {kinds['merged']}){through}")
    if "lost" in kinds and moved:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its bias "
                          f"(length {size}) on {'the last axis' if last == size else 'axis 1'} only when that axis "
                          f"is known to be {size} long as the graph is traced, and TensorFlow's trace does not know "
                          f"the sizes of a dilated convolution over unknown sizes ({kinds['lost']}) upstream{through}")
    return tuple(out_shape)


def warn_once(ctx: LayerContext, text: str) -> None:
    """Warn once per text (``log``, and the conversion's details): Keras 3 bias axes, the Fourier note."""
    notes = getattr(ctx.graph, "notes", None)
    if notes is not None and text in notes:
        return
    log.warning("%s", text)
    if notes is not None:
        notes.append(text)


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
        if len(bias_shape) > len(y.shape) or any(d != 1 and y.shape[i] not in (None, d) for i, d in enumerate(aligned)):
            raise ctx.error(f"has a bias of shape {bias_shape} for an output of shape {list(y.shape)}")
        wide = [i for i, d in enumerate(aligned) if d != 1]
        own = wide[0] if len(wide) == 1 else None
        where = own if own is None else keras3_traced_bias_axis(ctx, tuple(y.shape), own, aligned[own], value=y,
                                                                layout=tuple)
        if where == own:
            y = ctx.binary("AddV2", y, ctx.weight(weights[1], "bias"), label="bias")
        else:  # Keras 3's TensorFlow backend's bias_add on another axis (keras3_traced_bias_axis)
            moved = ReshapedArray(weights[1], (aligned[own], *[1] * (len(y.shape) - 1 - where)))
            y = ctx.binary("AddV2", y, ctx.weight(moved, f"bias_on_axis_{where}"), label="bias")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)
