"""Core layers: Dense, EinsumDense, Embedding, and the layers that are the identity at inference."""
from __future__ import annotations

import logging
import re
import weakref
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType

from tfjsconv.ir import Value

from .activations import activation_check, apply_activation
from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .lazy import ReshapedArray
from .registry import Unsupported, lowers

log = logging.getLogger(__name__)

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


def keras3_traced_bias_axis(ctx: LayerContext, out_shape: tuple[int | None, ...], axis: int, size: int, *,
                            also: str = "", predict_retraces: bool = True, value: Value | None = None) -> int:
    """The axis Keras 3's TensorFlow backend's traced graph adds a one-axis bias on (``axis``: the bias's own).

    That backend computes ``ops.add(x, bias)`` as ``tf.nn.bias_add`` whenever the bias squeezes to one axis of
    length ``size`` equal to x's axis 1 or last axis *as known when the graph is traced*: on the last axis when that
    one is known to be that long, else on axis 1, whatever axis the bias was shaped for (a channels_first conv whose
    last axis is as long as its filters, an EinsumDense bias on a middle axis). A size unknown at trace time never
    matches, so the traced graph (``--loader=tensorflow``, ``model.export()``) adds the bias on the same axis at
    every run size; an eager call knows every size and moves it whenever one matches. The lowering's static sizes
    are the trace's (batch unknown, the rest as the model's inputs give them), so it computes the traced graph's
    numbers; a layer where they are not what every Keras path computes is named in a warning (``also``: more;
    ``predict_retraces``: ``model.predict``, which traces at the data's sizes, moves the bias as the eager call).
    Two exceptions upstream of ``value`` (x, or the tensor x's sizes come from) are refused by name: a size the
    lowering does not know that TensorFlow merges in from another tensor by a broadcast or a concatenation
    (:func:`_merges_a_known_size`), when the choice rests on it; and a known size TensorFlow's trace loses in a
    dilated convolution (:func:`_loses_known_sizes`), when the bias moves for it.
    """
    rank = len(out_shape)
    if not ctx.keras3 or size == 1 or rank < 3 or axis == rank - 1:
        return axis
    last, second = out_shape[-1], out_shape[1]
    traced = rank - 1 if last == size else 1 if second == size else axis
    eager = [where for where, unknown in (("the last axis", last is None and traced != rank - 1),
                                          ("axis 1", second is None and traced == axis != 1)) if unknown]
    if traced == axis and not eager:
        return axis
    merged = _upstream(value, _merges_a_known_size) if eager and value is not None else None
    if merged is not None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its bias "
                          f"(length {size}) on {' or '.join(eager)} when that axis is known to be {size} long as "
                          "the graph is traced, and TensorFlow may know a size the lowering leaves unknown there "
                          f"(merged from another tensor by {merged})")
    lost = _upstream(value, _loses_known_sizes) if traced != axis and value is not None else None
    if lost is not None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its bias "
                          f"(length {size}) on {'the last axis' if traced == rank - 1 else f'axis {traced}'} only "
                          f"when that axis is known to be {size} long as the graph is traced, and TensorFlow's trace "
                          f"does not know the sizes of a dilated convolution over unknown sizes ({lost}) upstream")
    where = "the last axis" if traced == rank - 1 else f"axis {traced}"
    text = (f"layer {ctx.name!r} ({ctx.class_name}): its bias (length {size}) is added on {where}, as Keras 3's "
            "TensorFlow backend's traced graph adds it (the graph --loader=tensorflow converts)")
    if traced != axis:
        text += f"; other Keras backends add it on axis {axis}"
    if eager:
        text += (f"; Keras 3's TensorFlow backend's eager call{' (and model.predict)' if predict_retraces else ''} "
                 f"adds it on {' or '.join(eager)} instead whenever that axis is {size} long at run time")
    keras3_bias_warning(ctx, text + also)
    return traced


#: Ops whose TensorFlow shape function broadcasts its inputs' sizes (a size unknown in one, known in another, is known).
BROADCASTING_OPS = frozenset("""
AddV2 Add Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Maximum Minimum Pow SquaredDifference Atan2 Mod TruncateDiv
Less LessEqual Greater GreaterEqual Equal NotEqual LogicalAnd LogicalOr SelectV2
""".split())
#: Ops whose TensorFlow shape function merges the same axis of all inputs (ConcatV2: all but the joined one).
MERGING_OPS = frozenset(("ConcatV2", "Pack", "AddN", "Select"))


#: Per graph being lowered and per test, the nodes whose whole ancestry passes it (walked once).
_CLEAN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _upstream(value: Value, test: Any) -> str | None:
    """The first op upstream of ``value`` (itself included) for which ``test(node)`` holds, named; or None."""
    clean = _CLEAN.setdefault(value.producer.graph, {}).setdefault(test.__name__, set())
    seen: set[int] = set()
    stack = [value.producer]
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in clean:
            continue
        seen.add(id(node))
        if test(node):
            return f"{node.op} {node.name!r}"
        stack.extend(v.producer for v in node.inputs)
    clean.update(seen)
    return None


def _loses_known_sizes(node: Any) -> bool:
    """A 2-D/3-D convolution with dilation over an input with an unknown spatial size: TensorFlow's
    ``tf.nn.convolution`` runs it through ``space_to_batch`` with paddings read at run time, so its traced output
    knows none of its spatial sizes (the lowering knows those its input does). A Conv1D lowered as a 2-D one counts
    too (TensorFlow keeps its sizes: refused the safe way)."""
    if node.op not in ("Conv2D", "DepthwiseConv2dNative", "Conv3D") or not node.inputs:
        return False
    dilations, shape = node.attrs.get("dilations") or [], node.inputs[0].shape
    return any(int(d) > 1 for d in dilations) and (shape is None or None in tuple(shape)[1:-1])


def _merges_a_known_size(node: Any) -> bool:
    """An op whose output size the lowering leaves unknown where TensorFlow's shape inference knows it: a broadcast
    or a concatenation merging a known size in from another input."""
    out = node.outputs[0].shape if node.outputs else None
    if out is None or None not in out or node.op not in BROADCASTING_OPS | MERGING_OPS:
        return False
    operands = node.inputs
    skip = None
    if node.op == "ConcatV2":
        operands = node.inputs[:-1]
        try:
            skip = int(np.asarray(node.inputs[-1].producer.value)) % len(out)
        except (AttributeError, TypeError, ValueError):
            return True  # the axis is not a constant: assume the worst
    if node.op == "Pack":
        skip = int(node.attrs.get("axis", 0)) % len(out)
        out = tuple(d for i, d in enumerate(out) if i != skip)
        skip = None
    shapes = [v.shape for v in operands]
    if any(s is None for s in shapes):
        return False
    least = 2 if node.op in BROADCASTING_OPS else 1  # a broadcast size 1 tells nothing; a merged one does
    for i in range(1, len(out) + 1):
        if out[-i] is not None or (skip is not None and len(out) - i == skip):
            continue
        if any(len(s) >= i and s[-i] is not None and s[-i] >= least for s in shapes):
            return True
    return False


def keras3_bias_warning(ctx: LayerContext, text: str) -> None:
    """Warn once per layer call site (``log``, and the conversion's details)."""
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
        where = own if own is None else keras3_traced_bias_axis(ctx, tuple(y.shape), own, aligned[own], value=y)
        if where == own:
            y = ctx.binary("AddV2", y, ctx.weight(weights[1], "bias"), label="bias")
        else:  # Keras 3's TensorFlow backend's bias_add on another axis (keras3_traced_bias_axis)
            moved = ReshapedArray(weights[1], (aligned[own], *[1] * (len(y.shape) - 1 - where)))
            y = ctx.binary("AddV2", y, ctx.weight(moved, f"bias_on_axis_{where}"), label="bias")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)
