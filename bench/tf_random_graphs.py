"""Random TensorFlow programs through ``tfjsconv convert``: hunting silent-wrong graph-model conversions (session 29).

    .venv/bin/python bench/tf_random_graphs.py [--count 60] [--seed 2901] [--chunk 10] [--only 3,17]
        [--boost conv=4,matmul=4] [--keep FOLDER] [--out bench/results] [--wide]

A seeded generator draws small random-but-valid TF programs (a *recipe*: 1-3 float32/int32 inputs, then 3-12 steps
that each apply one op to earlier tensors): elementwise math, comparisons + ``Select``, reductions with keepdims,
MatMul/BatchMatMul, Conv2D/DepthwiseConv2D + BiasAdd + activation (fusion targets), BatchNorm-like mul/add chains
and ``tf.nn.batch_normalization`` (folding targets), Reshape/Transpose/Concat/Slice/StridedSlice/Gather/Pad/Tile,
Cast, Cumsum, ArgMax/ArgMin, Softmax, constant sub-graphs (folding targets), integer arithmetic, and clipping,
Pack/Unpack, Reverse, TopK, logsumexp, Cumprod, l2_normalize, Split, resizing, Shape/Size arithmetic, OneHot,
moments, and constant sub-graphs of edge values (-0, halves, negatives, 1e30; floor/mod/pow/shifts...) that the
converter folds with its own interpreter where TF runs its kernels. Each step is drawn and run eagerly on sample data first (a step TF rejects is drawn again), so every recipe
is valid. 40% of the recipes save their inputs with an unknown leading axis (0.4 of those every axis unknown): the same converted model then runs at
the drawn size and at another leading size (1 or 3, where TF itself accepts it), each against TF.

Each recipe becomes a ``tf.function`` saved as a SavedModel, converted as users convert (``python -m tfjsconv convert
SAVED OUT``, a fresh process, default flags) and run in TF.js 4.22 cpu and wasm through ``tfjsconv.verify``'s
``verify_model`` (its tolerance rule) against TF's own outputs of the SavedModel on the same feeds. Feeds hold edge
values (0, -0, +-1, halves, large, tiny); a quarter of the graphs also get NaN/+-inf, and some get ties (few
distinct values, for ArgMax/Max). Each graph is:

- ``pass``: every output within the verify tolerance on cpu and wasm;
- ``refused``: the converter exits 2 (the reason kept);
- ``notice-only``: outputs differ, the conversion printed a ``special values`` notice, and the model converted with
  ``--exact_special_values`` (the flag the notice names) passes: the deviation was told;
- ``notice-only`` also: a notice was printed and the model matches TF on the same feeds without NaN/+-inf and
  magnitudes past 1e20 (what the notice is about);
- ``noise``: TF's own outputs move past the tolerance when the float inputs move by one ulp (an ill-conditioned
  program: a floor/mod of a large product), so float32 round-off, not the conversion; or it goes when the inputs
  below 1e-20 are 0 (TF's CPU flushes subnormal results to zero: floordiv(2.4e-38, -3.7) is -0 in TF, -1 in TF.js);
- ``WRONG``: numbers, shapes or dtypes differ with no notice that explains them;
- ``CRASH``: the converter failed otherwise (exit 1, a traceback) or TF.js failed to load or run the model.

``--wide`` (session 30) also draws the families of ``tf_random_wide.py`` (scatter, GatherNd, depth/space, raw resizes,
transposed convs, pools, Einsum, segment ops, int32 bitwise ops, Range, Where, Unique...); without it a seed draws the
recipe it drew before. Results: ``<out>/tf_random_graphs_<GENERATOR_VERSION>_<seed>[_wide].{md,json}`` with the
command line (the version changes when a seed's recipes do: s29, s31). ``--only`` re-runs chosen indices
of a seed (the recipe printed in the JSON reproduces a case), written to ``..._<seed>_only.{md,json}``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from random_graph_results import add_hunt_arguments, boosts, hunt  # noqa: E402
from random_graph_results import write_results as write_random_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONVERT = [sys.executable, "-m", "tfjsconv", "convert"]
BACKENDS = ("cpu", "wasm")
EDGE_VALUES = (0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, 1e30, -1e30, 1e-30, 3e-38)
SPECIAL_VALUES = (np.nan, np.inf, -np.inf)
# Names the results files: bumped when a seed's recipes change (s31: the constant chains' truncatediv, truncatemod
# and mod_trunc called tf.math.truncatediv/truncatemod, which TF does not have, and an int32 clip made a -0.5
# int32 constant: TF rejected them at draw time, so they were drawn again as other ops, never kept).
GENERATOR_VERSION = "s31"
INPUT_SHAPES = {"image": (2, 5, 5, 3), "matrix": (3, 6), "sequence": (2, 4, 6), "vector": (7,)}

Pool = list[dict[str, Any]]  # each entry: {"t": tensor, "dtype": "float32"|"int32", "shape": tuple}
Drawer = Callable[[np.random.Generator, Pool], dict[str, Any] | None]
Oracle = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]  # feeds -> the source framework's outputs


def _tf():
    """TensorFlow, imported on first use (the converter's own process never imports it)."""
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------- op application (recipe step -> TF tensor)

def _const(p: dict[str, Any], shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """The step's constant: reproducible from its seed, so the recipe stays small."""
    rng = np.random.default_rng(p["seed"])
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _unary(tf, xs, p):
    fn = {"abs": tf.abs, "neg": tf.negative, "square": tf.square, "exp": tf.exp, "tanh": tf.tanh,
          "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "relu6": tf.nn.relu6, "elu": tf.nn.elu, "selu": tf.nn.selu,
          "softplus": tf.nn.softplus, "sin": tf.sin, "cos": tf.cos, "floor": tf.floor, "ceil": tf.math.ceil,
          "round": tf.round, "sign": tf.sign, "reciprocal": tf.math.reciprocal, "rsqrt": tf.math.rsqrt,
          "sqrt": tf.sqrt, "log": tf.math.log, "log1p": tf.math.log1p, "erf": tf.math.erf,
          "leaky_relu": lambda x: tf.nn.leaky_relu(x, 0.2), "expm1": tf.math.expm1,
          "sqr_diff0": lambda x: tf.math.squared_difference(x, 0.5)}
    return fn[p["fn"]](xs[0])


BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "floordiv", "floormod", "squared_difference", "pow",
          "div_no_nan")


def _binary(tf, xs, p):
    a = xs[0]
    b = xs[1] if len(xs) > 1 else tf.constant(_const(p, tuple(p["cshape"]), p.get("scale", 1.0)), a.dtype
                                               if a.dtype == tf.float32 else tf.float32)
    if a.dtype != b.dtype:
        b = tf.cast(tf.round(b), a.dtype)
    fn = {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.math.divide, "maximum": tf.maximum,
          "minimum": tf.minimum, "floordiv": tf.math.floordiv, "floormod": tf.math.floormod,
          "squared_difference": tf.math.squared_difference, "pow": tf.pow, "div_no_nan": tf.math.divide_no_nan}
    return fn[p["fn"]](a, b)


def _int_binary(tf, xs, p):
    a = xs[0]
    b = tf.constant(p["k"], tf.int32)
    fn = {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "floordiv": tf.math.floordiv,
          "floormod": tf.math.floormod, "maximum": tf.maximum, "minimum": tf.minimum, "truncatediv":
          tf.raw_ops.TruncateDiv, "truncatemod": tf.raw_ops.TruncateMod}
    if p["fn"] in ("truncatediv", "truncatemod"):
        return fn[p["fn"]](x=a, y=b)
    return fn[p["fn"]](a, b)


def _select(tf, xs, p):
    a, x, y = xs[0], xs[1], xs[2]
    threshold = tf.constant(p["threshold"], a.dtype)
    cond = {"greater": tf.greater, "less_equal": tf.less_equal, "equal": tf.equal,
            "not_equal": tf.not_equal}[p["cmp"]](a, threshold)
    return tf.where(cond, x, y)


def _reduce(tf, xs, p):
    fn = {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "max": tf.reduce_max, "min": tf.reduce_min,
          "prod": tf.reduce_prod}[p["fn"]]
    return fn(xs[0], axis=p["axis"], keepdims=p["keepdims"])


def _matmul(tf, xs, p):
    a = xs[0]
    w = tf.constant(_const(p, tuple(p["wshape"]), 0.5))
    if len(a.shape) == 2:
        a_in = tf.transpose(a) if p["ta"] else a
        y = tf.linalg.matmul(a_in, tf.transpose(w) if p["tb"] else w, transpose_a=p["ta"], transpose_b=p["tb"])
    else:
        y = tf.linalg.matmul(a, w)
    if p.get("bias"):
        y = tf.nn.bias_add(y, tf.constant(_const({"seed": p["seed"] + 1}, (int(y.shape[-1]),))))
    return _activation(tf, p.get("act", "none"), y)


def _activation(tf, name: str, y):
    return {"none": lambda v: v, "relu": tf.nn.relu, "relu6": tf.nn.relu6, "elu": tf.nn.elu,
            "leaky": lambda v: tf.nn.leaky_relu(v, 0.1), "sigmoid": tf.sigmoid, "tanh": tf.tanh,
            "prelu": lambda v: tf.nn.relu(v) - 0.25 * tf.nn.relu(-v)}[name](y)


def _conv(tf, xs, p):
    x = xs[0]
    w = tf.constant(_const(p, tuple(p["wshape"]), 0.5))
    strides = [1, p["stride"], p["stride"], 1]
    if p["padding"] == "PAD":  # an explicit Pad before a VALID conv: pad_into_conv's target
        x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        p = {**p, "padding": "VALID"}
    if p["depthwise"]:
        y = tf.nn.depthwise_conv2d(x, w, strides, p["padding"])
    else:
        y = tf.nn.conv2d(x, w, strides, p["padding"], dilations=p["dilation"])
    if p["bias"]:
        y = tf.nn.bias_add(y, tf.constant(_const({"seed": p["seed"] + 1}, (int(y.shape[-1]),))))
    if p.get("bn"):
        y = _batchnorm(tf, [y], {"style": "nn", "seed": p["seed"] + 2})
    return _activation(tf, p["act"], y)


def _batchnorm(tf, xs, p):
    x = xs[0]
    c = int(x.shape[-1])
    rng = np.random.default_rng(p["seed"])
    mean, var = rng.uniform(-1, 1, c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(np.float32), rng.uniform(-1, 1, c).astype(np.float32)
    if p["style"] == "nn":
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)
    return x * tf.constant(gamma) + tf.constant(beta)


def _reshape(tf, xs, p):
    return tf.reshape(xs[0], p["shape"])


def _transpose(tf, xs, p):
    return tf.transpose(xs[0], p["perm"])


def _concat(tf, xs, p):
    return tf.concat(list(xs), axis=p["axis"])


def _slice(tf, xs, p):
    return tf.slice(xs[0], p["begin"], p["size"])


def _strided_slice(tf, xs, p):
    return tf.strided_slice(xs[0], p["begin"], p["end"], p["strides"], begin_mask=p["begin_mask"],
                            end_mask=p["end_mask"], shrink_axis_mask=p["shrink"],
                            ellipsis_mask=p.get("ellipsis", 0), new_axis_mask=p.get("new_axis", 0))


def _gather(tf, xs, p):
    if len(xs) > 1:
        n = int(xs[0].shape[p["axis"]])
        return tf.gather(xs[0], tf.math.floormod(xs[1], n), axis=p["axis"])
    return tf.gather(xs[0], tf.constant(p["indices"], tf.int32), axis=p["axis"])


def _pad(tf, xs, p):
    return tf.pad(xs[0], p["paddings"], mode=p["mode"], constant_values=p.get("value", 0))


def _tile(tf, xs, p):
    return tf.tile(xs[0], p["multiples"])


def _cast(tf, xs, p):
    x = xs[0]
    if x.dtype == tf.int32:
        return tf.cast(x, tf.float32)
    finite = tf.where(tf.math.is_finite(x), tf.clip_by_value(x, -1000.0, 1000.0), tf.zeros_like(x))
    return tf.cast(finite, tf.int32)


def _cumsum(tf, xs, p):
    return tf.math.cumsum(xs[0], axis=p["axis"], exclusive=p["exclusive"], reverse=p["reverse"])


def _argmax(tf, xs, p):
    fn = tf.math.argmax if p["fn"] == "argmax" else tf.math.argmin
    return fn(xs[0], axis=p["axis"], output_type=tf.int32)


def _softmax(tf, xs, p):
    return (tf.nn.softmax if p["fn"] == "softmax" else tf.nn.log_softmax)(xs[0], axis=-1)


def _folded_constant(tf, xs, p):
    """x op f(constants): a constant sub-graph the converter should fold, of the shape of x's last axis."""
    c = int(xs[0].shape[-1]) if xs[0].shape.rank else 1
    a = tf.constant(_const(p, (c,)))
    b = tf.constant(_const({"seed": p["seed"] + 7}, (3, c)))
    folded = tf.exp(a * 0.5) + tf.reduce_sum(b, axis=0) - tf.sqrt(tf.abs(a) + 1.0)
    folded = tf.cast(tf.round(folded), tf.int32) if xs[0].dtype == tf.int32 else folded
    return xs[0] * folded if p["mul"] else xs[0] + folded


def _expand_squeeze(tf, xs, p):
    return tf.squeeze(tf.expand_dims(xs[0], p["axis"]), [p["axis"]]) if p["roundtrip"] else tf.expand_dims(
        xs[0], p["axis"])


def _misc(tf, xs, p):
    """Less common ops, one per name: clipping, stacking, reversing, top-k, logsumexp, cumprod, norms, resizing."""
    x = xs[0]
    axis = p.get("axis", -1)
    fn = {
        "clip": lambda: tf.clip_by_value(x, tf.constant(-0.5 if x.dtype.is_floating else -1, x.dtype),
                                           tf.constant(2, x.dtype)),
        "stack": lambda: tf.stack([x, x * tf.constant(2, x.dtype)], axis=axis),
        "unstack_sum": lambda: tf.add_n(tf.unstack(x, axis=axis)),
        "reverse": lambda: tf.reverse(x, [axis]),
        "top_k": lambda: tf.math.top_k(x, k=min(2, int(x.shape[-1]))).values,
        "logsumexp": lambda: tf.reduce_logsumexp(x, axis=axis, keepdims=p.get("keepdims", False)),
        "cumprod": lambda: tf.math.cumprod(x, axis=axis),
        "l2_normalize": lambda: tf.math.l2_normalize(x, axis=axis),
        "split_max": lambda: tf.maximum(*tf.split(x, 2, axis=axis)),
        "resize_bilinear": lambda: tf.image.resize(x, [7, 3], method="bilinear"),
        "resize_nearest": lambda: tf.image.resize(x, [7, 3], method="nearest"),
        "shape_arith": lambda: x * tf.cast(tf.shape(x)[axis], x.dtype) + tf.cast(tf.size(x), x.dtype),
        "one_hot": lambda: tf.one_hot(tf.math.floormod(x, 4), 4, on_value=2.0, off_value=-1.0),
        "square_sum": lambda: tf.reduce_sum(tf.square(x), axis=axis, keepdims=True),
        "mean_var": lambda: (x - tf.reduce_mean(x, axis, keepdims=True)) * tf.math.rsqrt(
            tf.math.reduce_variance(x, axis, keepdims=True) + 1e-3),
    }[p["fn"]]
    return fn()


CONST_FLOAT_EDGES = (0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 3.0, -7.0, 1e-30, 1e30, 100.0)
CONST_INT_EDGES = (0, 1, -1, 2, -3, 5, -7, 8, 100, -100, 30000)
CONST_FLOAT_OPS = ("floor", "round", "sign", "neg", "reciprocal", "sqrt", "exp", "log1p", "floordiv", "floormod",
                   "pow", "atan2", "rint", "truncate", "maximum", "clip", "cumsum", "cumprod", "softplus", "erf",
                   "sigmoid", "square", "log", "div_no_nan", "mod_trunc", "rsqrt", "selu", "is_finite")
CONST_INT_OPS = ("floordiv", "floormod", "truncatediv", "truncatemod", "mul", "abs", "neg", "bitwise_and",
                 "bitwise_xor", "left_shift", "right_shift", "square", "pow", "maximum", "sign", "cumsum",
                 "to_float_round")


def _const_op(tf, c, name: str, k):
    """One op of a constant sub-graph; ``k`` is the second operand where the op takes one."""
    kc = tf.constant(k, c.dtype)
    ops = {
        "floor": lambda: tf.floor(c), "round": lambda: tf.round(c), "sign": lambda: tf.sign(c),
        "neg": lambda: -c, "reciprocal": lambda: tf.math.reciprocal(c), "sqrt": lambda: tf.sqrt(c),
        "exp": lambda: tf.exp(c), "log1p": lambda: tf.math.log1p(c), "floordiv": lambda: tf.math.floordiv(c, kc),
        "floormod": lambda: tf.math.floormod(c, kc), "pow": lambda: tf.pow(c, kc), "atan2": lambda: tf.atan2(c, kc),
        "rint": lambda: tf.math.rint(c), "truncate": lambda: tf.cast(tf.cast(tf.clip_by_value(c, -1e6, 1e6),
                                                                            tf.int32), c.dtype),
        "maximum": lambda: tf.maximum(c, kc), "clip": lambda: tf.clip_by_value(c, -kc * kc, kc * kc),
        "cumsum": lambda: tf.math.cumsum(c, exclusive=True), "cumprod": lambda: tf.math.cumprod(c, reverse=True),
        "softplus": lambda: tf.nn.softplus(c), "erf": lambda: tf.math.erf(c), "sigmoid": lambda: tf.sigmoid(c),
        "square": lambda: tf.square(c), "log": lambda: tf.math.log(c), "div_no_nan": lambda: tf.math.divide_no_nan(
            kc, c), "mod_trunc": lambda: tf.truncatemod(c, kc), "rsqrt": lambda: tf.math.rsqrt(c),
        "selu": lambda: tf.nn.selu(c), "is_finite": lambda: tf.where(tf.math.is_finite(c), c, kc),
        "truncatediv": lambda: tf.truncatediv(c, kc), "truncatemod": lambda: tf.truncatemod(c, kc),
        "mul": lambda: c * kc, "abs": lambda: tf.abs(c), "bitwise_and": lambda: tf.bitwise.bitwise_and(c, kc),
        "bitwise_xor": lambda: tf.bitwise.bitwise_xor(c, kc),
        "left_shift": lambda: tf.bitwise.left_shift(c, tf.constant(abs(int(k)) % 31, c.dtype)),
        "right_shift": lambda: tf.bitwise.right_shift(c, tf.constant(abs(int(k)) % 31, c.dtype)),
        "to_float_round": lambda: tf.cast(tf.round(tf.cast(c, tf.float32) / 3.0), tf.int32),
    }
    return ops[name]()


def _const_chain(tf, xs, p):
    """x + g(c): g a chain of ops on a constant of edge values, which the converter folds (TF runs it)."""
    x = xs[0]
    c = tf.constant(np.asarray(p["values"], dtype=x.dtype.as_numpy_dtype))
    for name, k in zip(p["ops"], p["ks"]):
        c = _const_op(tf, c, name, k)
    return x + c if p["add"] else x * c


APPLY: dict[str, Callable] = {
    "unary": _unary, "binary": _binary, "int_binary": _int_binary, "select": _select, "reduce": _reduce,
    "matmul": _matmul, "conv": _conv, "batchnorm": _batchnorm, "reshape": _reshape, "transpose": _transpose,
    "concat": _concat, "slice": _slice, "strided_slice": _strided_slice, "gather": _gather, "pad": _pad,
    "tile": _tile, "cast": _cast, "cumsum": _cumsum, "argmax": _argmax, "softmax": _softmax,
    "folded_constant": _folded_constant, "expand_squeeze": _expand_squeeze, "misc": _misc,
    "const_chain": _const_chain,
}


def apply_step(tf, tensors: list, step: dict[str, Any]):
    """One recipe step on TF tensors (eager or traced alike)."""
    fn = APPLY[step["op"]] if step["op"] in APPLY else _wide()[0][step["op"]]
    return fn(tf, [tensors[i] for i in step["args"]], step["p"])


def _wide() -> tuple[dict[str, Callable], dict[str, tuple[Drawer, float]]]:
    """The ``--wide`` families (``tf_random_wide.py``): imported on use, so plain seeds draw as before."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tf_random_wide import WIDE_APPLY, WIDE_DRAWERS

    return WIDE_APPLY, WIDE_DRAWERS


# ---------------------------------------------------------------- drawing steps (need only shapes and dtypes)

def _pick(rng: np.random.Generator, pool: Pool, dtype: str | None = None, min_rank: int = 0,
          max_rank: int = 8) -> int | None:
    """A pool index of that dtype and rank range, later entries likelier (programs grow deeper)."""
    ok = [i for i, e in enumerate(pool) if (dtype is None or e["dtype"] == dtype)
          and min_rank <= len(e["shape"]) <= max_rank and 0 not in e["shape"]]
    if not ok:
        return None
    weights = np.arange(1, len(ok) + 1, dtype=float) ** 1.5
    return int(ok[rng.choice(len(ok), p=weights / weights.sum())])


def _same_shape(pool: Pool, i: int, dtype: str | None = None) -> list[int]:
    return [j for j, e in enumerate(pool) if e["shape"] == pool[i]["shape"]
            and (dtype is None or e["dtype"] == dtype)]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31))


def draw_unary(rng, pool):
    i = _pick(rng, pool, "float32")
    fns = ("abs", "neg", "square", "exp", "tanh", "sigmoid", "relu", "relu6", "elu", "selu", "softplus", "sin",
           "cos", "floor", "ceil", "round", "sign", "reciprocal", "rsqrt", "sqrt", "log", "log1p", "erf",
           "leaky_relu", "expm1", "sqr_diff0")
    return None if i is None else {"args": [i], "p": {"fn": str(rng.choice(fns))}}


def draw_binary(rng, pool):
    i = _pick(rng, pool, "float32")
    if i is None:
        return None
    shape = pool[i]["shape"]
    p = {"fn": str(rng.choice(BINARY)), "seed": _seed(rng), "scale": float(rng.choice([0.5, 1.0, 3.0]))}
    partners = [j for j in _same_shape(pool, i, "float32") if j != i]
    if partners and rng.random() < 0.5:
        return {"args": [i, int(rng.choice(partners))], "p": p}
    p["cshape"] = _const_shape(rng, shape)
    return {"args": [i], "p": p}


def _const_shape(rng, shape: tuple[int, ...]) -> list[int]:
    """A constant shape broadcastable against ``shape``: scalar, its last axis, or all of it."""
    options = [[], list(shape[-1:]), list(shape)]
    return options[int(rng.integers(0, len(options)))]


def draw_int_binary(rng, pool):
    i = _pick(rng, pool, "int32")
    if i is None:
        return None
    fn = str(rng.choice(["add", "sub", "mul", "floordiv", "floormod", "maximum", "minimum", "truncatediv",
                         "truncatemod"]))
    k = int(rng.choice([-3, -2, 2, 3, 5, 7]))
    return {"args": [i], "p": {"fn": fn, "k": k}}


def draw_select(rng, pool):
    a = _pick(rng, pool)
    if a is None:
        return None
    same = _same_shape(pool, a, "float32") or []
    if not same:
        return None
    x, y = int(rng.choice(same)), int(rng.choice(same))
    cmp = str(rng.choice(["greater", "less_equal", "equal", "not_equal"]))
    threshold = float(rng.choice([0.0, 0.5, 1.0, -1.0])) if pool[a]["dtype"] == "float32" else int(
        rng.integers(-2, 3))
    return {"args": [a, x, y], "p": {"cmp": cmp, "threshold": threshold}}


def draw_reduce(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=1)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    axes = sorted(rng.choice(rank, size=int(rng.integers(1, rank + 1)), replace=False).tolist())
    axis: Any = axes if rng.random() < 0.5 else int(axes[0]) - (rank if rng.random() < 0.3 else 0)
    return {"args": [i], "p": {"fn": str(rng.choice(["sum", "mean", "max", "min", "prod"])), "axis": axis,
                               "keepdims": bool(rng.random() < 0.5)}}


ACTIVATIONS = ("none", "relu", "relu6", "elu", "leaky", "sigmoid", "tanh", "prelu")


def draw_matmul(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=2, max_rank=3)
    if i is None:
        return None
    shape = pool[i]["shape"]
    k, n = shape[-1], int(rng.integers(1, 6))
    ta, tb = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
    if len(shape) == 2:
        wshape = [n, k] if tb else [k, n]
        return {"args": [i], "p": {"wshape": wshape, "ta": ta, "tb": tb, "seed": _seed(rng),
                                   "bias": bool(rng.random() < 0.5), "act": str(rng.choice(ACTIVATIONS))}}
    wshape = [shape[0], k, n] if rng.random() < 0.5 else [k, n]
    return {"args": [i], "p": {"wshape": wshape, "ta": False, "tb": False, "seed": _seed(rng)}}


def draw_conv(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=4, max_rank=4)
    if i is None:
        return None
    cin = pool[i]["shape"][-1]
    depthwise = bool(rng.random() < 0.4)
    k = int(rng.choice([1, 2, 3]))
    cout = int(rng.integers(1, 5))
    stride = int(rng.choice([1, 1, 2]))
    dilation = int(rng.choice([1, 1, 2])) if stride == 1 and not depthwise else 1
    padding = str(rng.choice(["SAME", "VALID", "PAD"]))
    if (k - 1) * dilation + 1 > min(pool[i]["shape"][1:3]):
        padding = "SAME"
    return {"args": [i], "p": {"depthwise": depthwise, "wshape": [k, k, cin, cout if not depthwise else
                                                                     int(rng.integers(1, 3))],
                               "stride": stride, "padding": padding, "bn": bool(rng.random() < 0.3),
                               "dilation": dilation, "bias": bool(rng.random() < 0.7),
                               "act": str(rng.choice(ACTIVATIONS)),
                               "seed": _seed(rng)}}


def draw_batchnorm(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=1)
    return None if i is None else {"args": [i], "p": {"style": str(rng.choice(["nn", "muladd"])),
                                                      "seed": _seed(rng)}}


def draw_reshape(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    shape = pool[i]["shape"]
    size = int(np.prod(shape))
    options = [[-1], [shape[0], -1], [-1, shape[-1]], list(reversed(shape)), [1, size]]
    return {"args": [i], "p": {"shape": [int(v) for v in options[int(rng.integers(0, len(options)))]]}}


def draw_transpose(rng, pool):
    i = _pick(rng, pool, min_rank=2)
    return None if i is None else {"args": [i], "p": {"perm": rng.permutation(len(pool[i]["shape"])).tolist()}}


def draw_concat(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    same = _same_shape(pool, i, pool[i]["dtype"])
    others = [int(rng.choice(same)) for _ in range(int(rng.integers(1, 3)))]
    rank = len(pool[i]["shape"])
    return {"args": [i, *others], "p": {"axis": int(rng.integers(-rank, rank))}}


def draw_slice(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    begin, size = [], []
    for d in pool[i]["shape"]:
        b = int(rng.integers(0, d))
        begin.append(b)
        size.append(int(rng.choice([-1, int(rng.integers(1, d - b + 1))])))
    return {"args": [i], "p": {"begin": begin, "size": size}}


def draw_strided_slice(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    shape = pool[i]["shape"]
    begin, end, strides = [], [], []
    for d in shape:
        s = int(rng.choice([1, 1, 2, -1, -2]))
        b, e = sorted(rng.integers(-d, d + 1, size=2).tolist())
        if s < 0:
            b, e = e - 1, b - 1 if b - 1 >= -d else -d - 1
        begin.append(int(b)), end.append(int(e)), strides.append(s)
    rank = len(shape)
    return {"args": [i], "p": {"begin": begin, "end": end, "strides": strides,
                               "begin_mask": int(rng.integers(0, 2**rank)), "end_mask": int(rng.integers(0, 2**rank)),
                               "shrink": int(1 << int(rng.integers(0, rank))) if rng.random() < 0.2 else 0,
                               "ellipsis": int(1 << int(rng.integers(0, rank))) if rng.random() < 0.15 else 0,
                               "new_axis": int(1 << int(rng.integers(0, rank))) if rng.random() < 0.15 else 0}}


def draw_gather(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    axis = int(rng.integers(0, rank))
    ints = [j for j, e in enumerate(pool) if e["dtype"] == "int32" and len(e["shape"]) <= 2]
    if ints and rng.random() < 0.4:
        return {"args": [i, int(rng.choice(ints))], "p": {"axis": axis}}
    n = pool[i]["shape"][axis]
    indices = rng.integers(0, n, size=int(rng.integers(1, 5))).tolist()
    return {"args": [i], "p": {"axis": axis, "indices": [int(v) for v in indices]}}


def draw_pad(rng, pool):
    i = _pick(rng, pool, min_rank=1, max_rank=4)
    if i is None:
        return None
    mode = str(rng.choice(["CONSTANT", "CONSTANT", "REFLECT", "SYMMETRIC"]))
    paddings = []
    for d in pool[i]["shape"]:
        top = d - 1 if mode == "REFLECT" else d
        paddings.append([int(rng.integers(0, min(top, 2) + 1)), int(rng.integers(0, min(top, 2) + 1))])
    value = float(rng.choice([0.0, 1.5, -2.0])) if pool[i]["dtype"] == "float32" else int(rng.integers(-2, 3))
    return {"args": [i], "p": {"mode": mode, "paddings": paddings, "value": value}}


def draw_tile(rng, pool):
    i = _pick(rng, pool, min_rank=1, max_rank=4)
    return None if i is None else {"args": [i], "p": {
        "multiples": [int(rng.choice([1, 1, 2, 3])) for _ in pool[i]["shape"]]}}


def draw_cast(rng, pool):
    i = _pick(rng, pool)
    return None if i is None else {"args": [i], "p": {}}


def draw_cumsum(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    return {"args": [i], "p": {"axis": int(rng.integers(-rank, rank)), "exclusive": bool(rng.random() < 0.4),
                               "reverse": bool(rng.random() < 0.4)}}


def draw_argmax(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    return {"args": [i], "p": {"fn": str(rng.choice(["argmax", "argmin"])), "axis": int(rng.integers(-rank, rank))}}


def draw_softmax(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=1)
    return None if i is None else {"args": [i], "p": {"fn": str(rng.choice(["softmax", "log_softmax"]))}}


def draw_folded_constant(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    return None if i is None else {"args": [i], "p": {"seed": _seed(rng), "mul": bool(rng.random() < 0.5)}}


def draw_expand_squeeze(rng, pool):
    i = _pick(rng, pool, max_rank=4)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    return {"args": [i], "p": {"axis": int(rng.integers(-rank - 1, rank + 1)), "roundtrip": bool(rng.random() < 0.5)}}


MISC_FLOAT = ("clip", "stack", "unstack_sum", "reverse", "top_k", "logsumexp", "cumprod", "l2_normalize",
              "split_max", "resize_bilinear", "resize_nearest", "shape_arith", "square_sum", "mean_var")
MISC_INT = ("clip", "stack", "unstack_sum", "reverse", "split_max", "shape_arith", "one_hot")


def draw_misc(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    rank = len(pool[i]["shape"])
    fn = str(rng.choice(MISC_FLOAT if pool[i]["dtype"] == "float32" else MISC_INT))
    if fn.startswith("resize") and rank != 4:
        return None
    return {"args": [i], "p": {"fn": fn, "axis": int(rng.integers(-rank, rank)), "keepdims": bool(rng.random() < 0.5)}}


def draw_const_chain(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    is_int = pool[i]["dtype"] == "int32"
    edges, ops = (CONST_INT_EDGES, CONST_INT_OPS) if is_int else (CONST_FLOAT_EDGES, CONST_FLOAT_OPS)
    n = int(rng.integers(1, 4))
    ks = [int(rng.choice([-3, -2, 2, 3, 5])) if is_int else float(rng.choice([-2.0, -0.5, 0.5, 2.0, 3.0]))
          for _ in range(n)]
    values = [(int if is_int else float)(v) for v in rng.choice(edges, size=pool[i]["shape"][-1])]
    return {"args": [i], "p": {"values": values, "ops": [str(v) for v in rng.choice(ops, size=n)], "ks": ks,
                               "add": bool(rng.random() < 0.6)}}


DRAWERS: dict[str, tuple[Drawer, float]] = {
    "unary": (draw_unary, 3.0), "binary": (draw_binary, 3.0), "int_binary": (draw_int_binary, 1.0),
    "select": (draw_select, 1.5), "reduce": (draw_reduce, 1.5), "matmul": (draw_matmul, 1.5),
    "conv": (draw_conv, 2.0), "batchnorm": (draw_batchnorm, 1.0), "reshape": (draw_reshape, 1.0),
    "transpose": (draw_transpose, 1.0), "concat": (draw_concat, 1.0), "slice": (draw_slice, 1.0),
    "strided_slice": (draw_strided_slice, 1.0), "gather": (draw_gather, 1.0), "pad": (draw_pad, 1.0),
    "tile": (draw_tile, 0.7), "cast": (draw_cast, 1.0), "cumsum": (draw_cumsum, 0.8), "argmax": (draw_argmax, 0.8),
    "softmax": (draw_softmax, 0.8), "folded_constant": (draw_folded_constant, 1.0),
    "expand_squeeze": (draw_expand_squeeze, 0.5), "misc": (draw_misc, 3.0),
    "const_chain": (draw_const_chain, 3.0),
}


# ---------------------------------------------------------------- recipes

def draw_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """1-3 inputs: float32 of a few layouts, sometimes an int32 one; an image graph gets an image input first."""
    count = int(rng.integers(1, 4))
    kinds = list(INPUT_SHAPES)
    first = str(rng.choice(kinds))
    specs = [{"name": "x0", "dtype": "float32", "shape": list(INPUT_SHAPES[first])}]
    for n in range(1, count):
        dtype = "int32" if rng.random() < 0.35 else "float32"
        shape = INPUT_SHAPES[first] if rng.random() < 0.6 else INPUT_SHAPES[str(rng.choice(kinds))]
        specs.append({"name": f"x{n}", "dtype": dtype, "shape": list(shape)})
    return specs


def sample_feed(spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Plain values for drawing (shapes and validity only)."""
    if spec["dtype"] == "int32":
        return rng.integers(-5, 6, size=spec["shape"]).astype(np.int32)
    return rng.standard_normal(spec["shape"]).astype(np.float32)


def _entry(t) -> dict[str, Any]:
    return {"t": t, "dtype": t.dtype.name, "shape": tuple(int(d) for d in t.shape)}


def _try_step(tf, pool: Pool, step: dict[str, Any]) -> dict[str, Any] | None:
    """The step's result on the sample tensors, or None when TF rejects it or it is empty/too big."""
    try:
        t = apply_step(tf, [e["t"] for e in pool], step)
    except Exception:  # noqa: BLE001 - TF rejects many drawn combinations; they are drawn again
        return None
    if t.dtype.name not in ("float32", "int32") or t.shape.num_elements() in (0, None) or \
            t.shape.num_elements() > 4096 or len(t.shape) > 5:
        return None
    return _entry(t)


def draw_recipe(seed: int, index: int, boost: dict[str, float] | None = None, wide: bool = False) -> dict[str, Any]:
    """A valid random program: inputs, steps run eagerly on sample data as drawn, 1-2 outputs.

    ``boost`` multiplies the draw weights of named steps (``conv``, ``matmul``...) to aim a run at them; ``wide``
    adds the families of ``tf_random_wide.py`` (a seed drawn without it keeps its recipe)."""
    tf = _tf()
    rng = np.random.default_rng([seed, index])
    inputs = draw_inputs(rng)
    pool: Pool = [_entry(tf.constant(sample_feed(s, rng))) for s in inputs]
    drawers = {**DRAWERS, **_wide()[1]} if wide else DRAWERS
    names = list(drawers)
    weights = np.array([drawers[n][1] * (boost or {}).get(n, 1.0) for n in names])
    steps: list[dict[str, Any]] = []
    wanted = int(rng.integers(3, 13))
    for _ in range(wanted * 8):
        if len(steps) >= wanted:
            break
        op = str(rng.choice(names, p=weights / weights.sum()))
        step = drawers[op][0](rng, pool)
        if step is None:
            continue
        step["op"] = op
        entry = _try_step(tf, pool, step)
        if entry is not None:
            steps.append(step)
            pool.append(entry)
    outputs = [len(pool) - 1]
    if len(pool) > 2 and rng.random() < 0.4:
        outputs.append(int(rng.integers(len(inputs), len(pool) - 1)) if len(pool) - 1 > len(inputs) else 0)
    recipe = {"seed": seed, "index": index, "inputs": inputs, "steps": steps, "outputs": sorted(set(outputs)),
              "special": bool(rng.random() < 0.25), "ties": bool(rng.random() < 0.3),
              "dynamic": bool(rng.random() < 0.4), "all_unknown": bool(rng.random() < 0.4)}
    if recipe["dynamic"] and recipe["all_unknown"] and not _traces(recipe):
        recipe["all_unknown"] = False  # a step needs static sizes (a shape check of TF's own)
    if recipe["dynamic"] and not _traces(recipe):
        recipe["dynamic"] = False
    return recipe


def _traces(recipe: dict[str, Any]) -> bool:
    """Whether TF can trace the recipe with its saved signature."""
    try:
        build_module(recipe).serve.get_concrete_function()
    except Exception:  # noqa: BLE001 - TF's shape checks raise many types
        return False
    return True


def _signature_shape(shape: list[int], dynamic: bool, all_unknown: bool = False) -> list[int | None]:
    """The saved signature's shape: the leading axis (or every axis) unknown in a dynamic recipe."""
    if not dynamic or not shape:
        return list(shape)
    return [None] * len(shape) if all_unknown else [None, *shape[1:]]


def build_module(recipe: dict[str, Any]):
    """A tf.Module whose serving function runs the recipe and returns {"out<k>": tensor}."""
    tf = _tf()
    signature = [tf.TensorSpec(_signature_shape(s["shape"], recipe.get("dynamic", False),
                                                recipe.get("all_unknown", False)),
                               getattr(tf, s["dtype"]), name=s["name"]) for s in recipe["inputs"]]

    @tf.function(input_signature=signature, autograph=False)  # traced as written: no source re-read
    def serve(*args):
        tensors = list(args)
        for step in recipe["steps"]:
            tensors.append(apply_step(tf, tensors, step))
        return {f"out{k}": tf.identity(tensors[i]) for k, i in enumerate(recipe["outputs"])}

    module = tf.Module()
    module.serve = serve
    return module


# ---------------------------------------------------------------- feeds, reference, conversion, verdict

def edge_feed(spec: dict[str, Any], rng: np.random.Generator, special: bool, ties: bool) -> np.ndarray:
    """Values with edge cases mixed in: 0, -0, +-1, halves, large, tiny; NaN/+-inf when ``special``; ties."""
    shape = spec["shape"]
    if spec["dtype"] == "int32":
        values = rng.integers(-6, 7, size=shape)
        mask = rng.random(shape) < 0.1
        values[mask] = rng.choice([0, 1, -1, 1000, -1000], size=int(mask.sum()))
        return values.astype(np.int32)
    values = rng.standard_normal(shape) * float(rng.choice([1.0, 4.0]))
    if ties:
        values = np.round(values)
    mask = rng.random(shape) < 0.15
    values[mask] = rng.choice(EDGE_VALUES, size=int(mask.sum()))
    if special:
        mask = rng.random(shape) < 0.05
        values[mask] = rng.choice(SPECIAL_VALUES, size=int(mask.sum()))
    return values.astype(np.float32)


def tf_expected(saved_dir: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The SavedModel's own outputs (TF is the oracle), loaded back as a user's TF would."""
    tf = _tf()
    fn = tf.saved_model.load(str(saved_dir)).signatures["serving_default"]
    out = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    return {k: v.numpy() for k, v in out.items()}


def convert(saved_dir: Path, out_dir: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``tfjsconv convert`` in a fresh process, as users run it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*CONVERT, str(saved_dir), str(out_dir), *extra], capture_output=True, text=True,
                          timeout=600, env=env, cwd=str(REPO))


def _reason(proc: subprocess.CompletedProcess) -> str:
    """The converter's own message, one line, without its prefix noise."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    first = next((n for n, ln in enumerate(lines) if ln.lower().startswith("error")), None)
    if first is None:
        return (lines or ["(no message)"])[-1][:400]
    return " ".join(lines[first:first + 2])[:400]  # the error and the node it names


def _notice(proc: subprocess.CompletedProcess) -> str | None:
    text = proc.stdout + proc.stderr
    hits = [ln.strip() for ln in text.splitlines() if "special values" in ln]
    return hits[0][:400] if hits else None


def verify(out_dir: Path, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> tuple[str, str]:
    """('pass'|'mismatch'|'crash', detail) from TF.js cpu and wasm through tfjsconv.verify."""
    return _verify_outputs(out_dir, feeds, expected)[:2]


def _verify_outputs(out_dir: Path, feeds: dict[str, np.ndarray],
                    expected: dict[str, np.ndarray]) -> tuple[str, str, set[str]]:
    """:func:`verify`'s verdict and detail, and the names of the outputs that fail (on either backend)."""
    from tfjsconv.verify import format_report, verify_model

    report = verify_model(out_dir, feeds, expected, backends=BACKENDS, quiet=True)
    crashed = [c for c in report.comparisons if c.crashed]
    if crashed:
        return "crash", crashed[0].problem or "TF.js failed", {c.name for c in crashed}
    failed = {c.name for c in report.comparisons if not c.passed}
    if not failed:
        return "pass", "", set()
    return "mismatch", format_report(report)[-1500:], failed


def classify(recipe: dict[str, Any], work: Path) -> dict[str, Any]:
    """Save, reference, convert, run: the case's verdict and what explains it."""
    saved, out = work / "saved", work / "tfjs"
    tf = _tf()
    tf.saved_model.save(build_module(recipe), str(saved))
    rng = np.random.default_rng([recipe["seed"], recipe["index"], 1])
    feeds = {s["name"]: edge_feed(s, rng, recipe["special"], recipe["ties"]) for s in recipe["inputs"]}
    np.savez(work / "in.npz", **feeds)
    expected = tf_expected(saved, feeds)
    proc = convert(saved, out)
    result: dict[str, Any] = {"convert_rc": proc.returncode}
    if proc.returncode == 2:
        return {**result, "verdict": "refused", "why": _reason(proc)}
    if proc.returncode != 0:
        return {**result, "verdict": "CRASH", "why": "converter: " + _reason(proc)}
    for size, run_feeds in _feed_sets(recipe, feeds, rng).items():
        run_expected = expected if size == "drawn" else _tf_or_none(saved, run_feeds)
        if run_expected is None:
            continue  # TF itself rejects the other size (a reshape or gather fixed to the drawn one)
        verdict = judge(saved, lambda f: tf_expected(saved, f), out, proc, work, run_feeds, run_expected)
        if verdict is not None:
            return {**result, **verdict, "size": size}
    return {**result, "verdict": "pass"}


def _feed_sets(recipe: dict[str, Any], feeds: dict[str, np.ndarray],
               rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """The drawn feeds and, for a recipe saved with an unknown leading axis, feeds at another leading size."""
    sets = {"drawn": feeds}
    if recipe.get("dynamic"):
        lead = int(rng.choice([1, 3]))
        specs = [{**s, "shape": [lead, *s["shape"][1:]]} for s in recipe["inputs"]]
        sets[f"leading {lead}"] = {s["name"]: edge_feed(s, rng, recipe["special"], recipe["ties"]) for s in specs}
    return sets


def _tf_or_none(saved: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    try:
        return tf_expected(saved, feeds)
    except Exception:  # noqa: BLE001 - TF's run-time shape checks
        return None


def judge(source: Path, oracle: Oracle, out: Path, proc: subprocess.CompletedProcess, work: Path,
          feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """None when TF.js matches the oracle (TF, onnxruntime) on these feeds, else the verdict and what explains it.

    ``source`` is the converted model (re-converted with the notice's flag); ``oracle`` runs it in its framework."""
    status, detail, failing = _verify_outputs(out, feeds, expected)
    if status == "pass":
        return None
    if status == "crash":
        return {"verdict": "CRASH", "why": "TF.js: " + detail[:600]}
    notice = _notice(proc)
    if notice and (_exact_passes(source, work / "tfjs_exact", feeds, expected)
                   or _tame_passes(oracle, out, feeds)):
        return {"verdict": "notice-only", "why": notice}
    if _ill_conditioned(oracle, feeds, expected, failing):
        return {"verdict": "noise", "why": detail, "notice": notice}
    if _flush_explains(oracle, out, feeds):
        return {"verdict": "noise", "why": "the oracle flushes subnormal results to zero (FTZ), TF.js keeps them: " + detail,
                "notice": notice}
    return {"verdict": "WRONG", "why": detail, "notice": notice}


def _tame(feed: np.ndarray) -> np.ndarray:
    """The feed without the values the special-values notice is about (NaN, +-inf, magnitudes past 1e20)."""
    if feed.dtype.kind != "f":
        return feed
    return np.where(np.isfinite(feed) & (np.abs(feed) < 1e20), feed, np.float32(0.5)).astype(feed.dtype)


def _tame_passes(oracle: Oracle, out: Path, feeds: dict[str, np.ndarray]) -> bool:
    """Whether the model matches TF once the special values are gone: the mismatch is the notice's."""
    tame = {k: _tame(v) for k, v in feeds.items()}
    if all(np.array_equal(tame[k], v, equal_nan=True) for k, v in feeds.items()):
        return False
    return verify(out, tame, oracle(tame))[0] == "pass"


def _flush_explains(oracle: Oracle, out: Path, feeds: dict[str, np.ndarray]) -> bool:
    """Whether the mismatch goes when the inputs near FLT_MIN are 0: TF's CPU kernels flush subnormal results."""
    flushed = {k: np.where(np.abs(v) < 1e-20, np.float32(0), v).astype(v.dtype) if v.dtype.kind == "f" else v
               for k, v in feeds.items()}
    if all(np.array_equal(flushed[k], v, equal_nan=True) for k, v in feeds.items()):
        return False
    return verify(out, flushed, oracle(flushed))[0] == "pass"


def _ill_conditioned(oracle: Oracle, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                     failing: set[str]) -> bool:
    """Whether the oracle itself moves past the tolerance on every ``failing`` output when its float inputs move
    by one ulp (float32 round-off). Only those outputs count: another output that moves (a Round at a tie) does
    not make a failing one noise (session 30 r4: that hid a WRONG)."""
    from tfjsconv.verify import compare

    unexplained = {name for name in failing if name in expected}
    if not unexplained:
        return False
    for direction in (np.inf, -np.inf):
        moved = {k: np.nextafter(v, np.float32(direction)).astype(v.dtype) if v.dtype.kind == "f" else v
                 for k, v in feeds.items()}
        wanted = {k: v for k, v in expected.items() if k in unexplained}
        unexplained -= {c.name for c in compare(oracle(moved), wanted) if not c.passed}
        if not unexplained:
            return True
    return False


def _exact_passes(source: Path, out: Path, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> bool:
    """Whether the flag the special-values notice names makes the model match TF."""
    proc = convert(source, out, ("--exact_special_values", "true"))
    return proc.returncode == 0 and verify(out, feeds, expected)[0] == "pass"


def run_case(seed: int, index: int, keep: Path | None, boost: dict[str, float] | None = None,
             wide: bool = False) -> dict[str, Any]:
    """One random graph from draw to verdict; a failed case's files are kept in ``keep``."""
    started = time.time()
    recipe = draw_recipe(seed, index, boost, wide)
    work = Path(tempfile.mkdtemp(prefix=f"tfrg-{seed}-{index}-"))
    try:
        outcome = classify(recipe, work)
    except Exception as exc:  # noqa: BLE001 - a harness failure is reported, the run goes on
        outcome = {"verdict": "harness-error", "why": f"{type(exc).__name__}: {exc}"[:600]}
    if keep is not None and outcome["verdict"] in ("WRONG", "CRASH"):
        shutil.copytree(work, keep / f"{seed}_{index}", dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    ops = [s["op"] + (f":{s['p']['fn']}" if "fn" in s["p"] else "") for s in recipe["steps"]]
    return {"index": index, **outcome, "ops": ops, "recipe": recipe, "seconds": round(time.time() - started, 1)}


# ---------------------------------------------------------------- report

def write_results(results: list[dict[str, Any]], seed: int, command: str, out: Path, suffix: str = "") -> Path:
    """``tf_random_graphs_<version>_<seed>.{json,md}``: counts, then each non-pass case (the shared layout)."""
    return write_random_results(out / f"tf_random_graphs_{GENERATOR_VERSION}_{seed}{suffix}", "Random TF graphs",
                                results, seed, command, describe_case)


def describe_case(r: dict[str, Any]) -> str:
    """A non-pass case's verdict and ops."""
    return f"{r['verdict']}: `{' '.join(r['ops'])}`"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_hunt_arguments(parser, count=60, seed=2901, out=REPO / "bench" / "results")
    parser.add_argument("--wide", action="store_true", help="also draw tf_random_wide.py's families (session 30)")
    args = parser.parse_args(argv)
    boost = boosts(args)
    suffix = ("_wide" if args.wide else "") + ("_only" if args.only else "")
    return hunt(args, argv, lambda index: run_case(args.seed, index, args.keep, boost, args.wide),
                lambda results, command: write_results(results, args.seed, command, args.out, suffix))


if __name__ == "__main__":
    sys.exit(main())
