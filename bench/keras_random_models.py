"""Random Keras models against the h5py-only lowering: hunting silent-wrong graph-model conversions (issue 16).

    .venv/bin/python bench/keras_random_models.py [--count 160] [--seed 0] [--flavors keras3.keras,tf_keras.h5]
        [--dynamic] [--wide] [--args] [--extra] [--minimize] [--trace_refused] [--snapshot FOLDER]
        [--boost NAME=FACTOR,...]
        [--output bench/results/keras_random_models]

A seeded generator draws small random-but-valid Keras models (a *recipe*: inputs, then steps that each apply one
layer, op or nested model to earlier tensors) from what ``docs/keras.md`` lists as lowered: sequences, images, ids
with ``Embedding(mask_zero)``, ``Masking``, channels_first, dilation and strides, shared layers, nested models,
several outputs, casts, broadcasting merges, integer inputs, and the op layers of indices, more math and several
outputs (tf_keras TFOpLambda / Keras 3 ``keras.ops``): argmax/argmin (of tied values, signed zeros; Keras 3's
keepdims) whose integer result later steps read (Embedding, one_hot, Dense), one_hot (depths below the largest id, ids
shifted below 0), take/gather of constant indices (Keras 3's negative too) and of integer tensors (``ids mod n``),
Keras 3 take_along_axis by top_k/argmax indices, tan and the inverse / hyperbolic functions, is_nan/is_inf/is_finite of
``x / round(x)``, log_sigmoid, divide_no_nan, reciprocal_no_nan, xlogy, atan2, logsumexp, and split / unstack / top_k
with their pieces merged back (never over NaN: top_k's order of NaN is TF's kernel's own); integer inputs and results
into them too (Keras 3 casts them to float32 for arctan, divide_no_nan ...); the op layers lowered in session 15
(``op_s15_*``: cbrt, erfc, sparsemax, normalize, nan_to_num, median, quantile, norms, tf's rint, polyval,
clip_by_norm ...; ``--boost op_s15_unary=10`` aims a run at them). A step Keras itself rejects is dropped
(its build error is caught). Every weight is random (BatchNorm variances positive), the inputs have padding zeros for
the masks, and Keras's ``model(x, training=False)`` is the reference. Each model is saved (Keras 3 ``.keras`` or
``.h5``, tf_keras ``.h5``), converted with ``python -m tfjsconv convert ... --output_format tfjs_graph_model`` (a
fresh process: the lowering, no TensorFlow) and run in TF.js 4.22 cpu and wasm (one Node process per backend,
``conformance/batch_runner.mjs``). Each model is:

- ``pass``: every output within 1e-5 × max|reference| on both backends;
- ``refused``: the converter exits 2 (a gap named, or a backend contract refusal);
- ``WRONG``: numbers or shapes differ. A wrong model is run again by Keras in float64 (the saved weights, cast):
  when TF.js is within 10× as close to that exact answer as Keras's own float32 result, the difference is float32
  round-off of an ill-conditioned model, not the lowering (``wrong (noise)``). It is also checked through
  ``--loader=tensorflow`` (Keras loads it, TensorFlow traces it): a traced graph as far from Keras in TF.js marks
  noise too; else it is a lowering bug;
- ``wrong (named)``: a WRONG model (not noise) whose conversion printed a notice naming a layer (the lowering's
  warnings on stderr, e.g. a Keras 3 bias whose eager call and traced graph add it on different axes, or a notice
  line of the summary on stdout): the conversion told of that deviation. The report lists the notice text; the
  generic ``special values`` line names no layer and does not count. A mismatch no notice names stays WRONG. A model
  with a float16 policy (``--policies``) is also ``wrong (named)`` when the float16 notice names its layers and it is
  within ``HALF_BOUND`` (5e-3 of the range, ten float16 steps); Keras in float64 gives no noise verdict for a model
  with a dtype policy or a float64 input (it casts nothing where the model casts);
- ``TF.js error``: TF.js failed to load or run the converted model; ``crash``: the converter failed otherwise.

A lowering over unknown sizes can be right at the size it happens to run at and wrong at another (a size baked in).
So every model with an input of unknown sizes gets a second input set (``recipe["second"]``: another batch, other
steps / height / width, one Keras runs), Keras's reference at both, and the *same* converted model runs at both: it
passes only if both match (the report gives the size pairs, and which sizes failed). ``--dynamic`` gives every
model such an input (steps, height and width, id steps, masked steps or volumes unknown) and draws the layers
lowered over unknown sizes more often (RNNs, attention, GroupNormalization, Conv*Transpose, TimeDistributed,
EinsumDense, Reshape with -1, Cropping3D). ``--trace_refused`` converts every refused model through
``--loader=tensorflow`` too: a refused model whose traced graph passes is a gap still open.

``--policies RATE`` builds each drawn layer under a dtype policy (``mixed_float16``, ``float16``, ``float64``) with
that chance and draws float64 inputs too (session 28: before, every model was float32).

``--wide`` (session 29) draws the ``wide_*`` steps too (weight 0 without it, so earlier seeds give the same models):
nested models in nested models (functional in functional, Sequential in functional and back, three deep),
TimeDistributed of a nested model, nested models of a Bidirectional RNN (attention, pooling after it) that the
outer mask flows into or that mask their own input, nested models of ``Embedding(mask_zero)`` whose mask an RNN /
attention / merge / TimeDistributed reads, one layer (Dense, Conv1D, LSTM, a Sequential, a functional model) called
twice (on ``x`` and ``Rescaling(x)``, or on two tensors) and merged, nested models of two inputs and two outputs
(both read, or one left dead), and op layers of edge-case constants (signed zeros, ±Inf, NaN, exponents 0 / -1 /
0.5, negative divisors, clip bounds equal or inverted, a constant first, integer constants, constant arrays,
overflow and denormal scales). An output that is -Inf where Keras's is +Inf now fails (it passed before).

``--args`` (session 30) draws the ``args_*`` steps too (weight 0 without it, so earlier seeds give the same models):
layer arguments the other steps never vary and masks from other sources: RNNs with gate / cell activations
(``hard_sigmoid`` differs between the flavours), ``unroll``, inert dropouts and Keras 3's ``zero_output_for_mask``;
an encoder RNN's ``return_state`` states as a decoder's ``initial_state`` (Bidirectional too); an LSTM / GRU /
Bidirectional / pooling / Attention / MultiHeadAttention (``attention_mask``, Keras 3's ``query_mask`` /
``value_mask``) / Softmax called with a mask computed by op layers; LayerNormalization / GroupNormalization /
RMSNormalization of large epsilons; MultiHeadAttention's ``value_dim``, ``output_shape`` and a key other than the value
(Attention's too); ``Masking(v)`` of padding shifted to ``v``. It also pairs cross attention's query with another
sequence (without it the partner drawn is a rank-4 tensor, which Keras rejects: kept so for earlier seeds).

``--format layers`` (session 31) converts with the default output of a Keras file, a TF.js layers model, and runs it
with ``tf.loadLayersModel`` / ``predict`` (the recipes are the same as ``--format graph``'s, the default). Most random
models use op layers TF.js has no layer for (refused by name); ``--boost op_unary=0,...`` aims a run at the rest.
``--boost`` takes shell patterns too (session 32): ``--extra --boost 'extra_*=4'`` draws the ``--extra`` steps
four times more often (plain ``--extra`` seeds keep their recipes).

``--minimize`` shrinks each WRONG / TF.js-error model to a smallest recipe that still fails the same way (outputs
dropped, steps bypassed), and prints its builder code. Results: ``<output>.json`` and ``<output>.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the same TF kernels on every CPU: tests/conftest.py says why
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "conformance"))

FLAVORS = ("keras3.keras", "tf_keras.h5", "keras3.h5")
DEFAULT_OUTPUT = HERE / "results" / "keras_random_models"
BACKENDS = ("cpu", "wasm")
RTOL = 1e-5
BATCH = 3
VOCAB = 12
PYTHON = sys.executable
#: A folder holding a ``tfjsconv`` package to convert with instead of the installed one (``--snapshot``).
SNAPSHOT: str | None = None
#: The float inputs' dtype (float64 only while :func:`keras_float64_outputs` builds the exact reference).
FLOAT = "float32"
#: ``--format``: ``graph`` converts with ``--output_format tfjs_graph_model``; ``layers`` with the default output of
#: a Keras file (a TF.js layers model, run by ``tf.loadLayersModel`` and ``model.predict``). The recipes are the same.
FORMAT = "graph"
#: ``--dynamic``: every model has an input of unknown sizes, and the layers lowered over them are drawn more often.
DYNAMIC = False
#: Batch sizes of the second input set (the first one has ``BATCH``): 1 catches squeezes, 5 a batch baked in.
SECOND_BATCHES = (1, 2, 4, 5)
#: Weights that replace ``Op.weight`` under ``--dynamic`` (ops of weight 0 here are drawn only then).
DYNAMIC_WEIGHTS = {"rnn": 4, "bidirectional": 2, "rnn_cells": 2, "self_attention": 3, "cross_attention": 2,
                   "dot_attention": 2, "gqa": 2, "self_attention_axes": 1, "group_norm": 3, "time_distributed": 2,
                   "time_distributed_conv": 2, "einsum_dense": 3, "conv1d": 4, "conv2d": 7, "conv_lstm1d": 1, "dense": 3,
                   "flatten": 1, "reshape": 2, "pad_crop_up1d": 2, "pad_crop_resize2d": 2, "volume3d": 2, "layer_norm": 2}

#: ``--policies RATE``: each drawn layer step gets a dtype policy with this chance and float64 inputs are drawn too
#: (0: never, and no random draw is spent on it, so earlier runs' seeds still give the same models).
POLICY_RATE = 0.0
POLICIES = ("mixed_float16", "float16", "float64")
#: Float64 inputs (``--policies``): fed float32-representable values, which TF.js's float32 inputs hold exactly.
FLOAT64_INPUT_KINDS = ["seq64", "vec64"]

KERAS3_ACTIVATIONS = ["relu", "relu6", "elu", "selu", "softplus", "softsign", "sigmoid", "tanh", "silu", "gelu",
                      "hard_sigmoid", "hard_silu", "softmax", "log_softmax", "leaky_relu", "mish", "linear",
                      "celu", "log_sigmoid", "tanh_shrink", "hard_tanh", "soft_shrink", "squareplus"]
TF_KERAS_ACTIVATIONS = ["relu", "elu", "selu", "softplus", "softsign", "sigmoid", "tanh", "swish", "gelu",
                        "hard_sigmoid", "softmax", "linear", "exponential"]


class Skip(Exception):
    """The drawn step does not fit here (or Keras rejects it): drop it."""


def keras_of(flavor: str) -> Any:
    import importlib

    return importlib.import_module("keras" if flavor.startswith("keras3") else "tf_keras")


def is_k3(k: Any) -> bool:
    return k.__name__ == "keras"


# -- the ops: draw(rng, shapes, flavor) -> params; make(k, params, shapes) -> callable on the input tensors -----------
@dataclass
class Op:
    name: str
    ranks: tuple[int, ...]          # ranks (with batch) of the first input it takes
    draw: Callable[..., dict]
    make: Callable[..., Any]
    arity: int = 1
    ints: bool = False              # takes an integer tensor
    weight: float = 1.0
    int_out: bool = False           # gives an integer tensor (argmax, top_k's indices): kept for the integer ops


OPS: dict[str, Op] = {}


def op(name: str, ranks: tuple[int, ...], arity: int = 1, ints: bool = False, weight: float = 1.0,
       int_out: bool = False):
    def register(pair):
        draw, make = pair
        OPS[name] = Op(name, ranks, draw, make, arity, ints, weight, int_out)
        return pair
    return register


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


def with_policy(rng, step: dict) -> dict:
    """``step`` with a dtype policy now and then (``--policies``): its layer is made under that global policy."""
    if POLICY_RATE and rng.random() < POLICY_RATE:
        step["dtype"] = str(pick(rng, POLICIES))
    return step


@contextlib.contextmanager
def dtype_policy(k: Any, policy: str | None):
    """Layers made inside take ``policy`` (Keras's global policy, reset after). Not under the float64 reference,
    which computes every layer in float64."""
    if policy is None or FLOAT == "float64":
        yield
        return
    if is_k3(k):
        before = k.config.dtype_policy()
        k.config.set_dtype_policy(policy)
    else:
        k.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        if is_k3(k):
            k.config.set_dtype_policy(before)
        else:  # None: tf_keras's default again, which follows floatx (the float64 reference sets floatx)
            k.mixed_precision.set_global_policy(None)


def mixed_widths(recipe: dict) -> bool:
    """A step under a dtype policy or a float64 input (``--policies``): Keras casts tensors between float widths, and
    a cast can do more than round (tf_keras's drops the mask of a MultiHeadAttention's query: session 28's 0.47 off,
    called noise by the float64 run, which casts nothing)."""
    def walk(steps: list[dict]) -> bool:
        return any("dtype" in step or step["op"] == "nested" and walk(step["p"]["steps"]) for step in steps)
    return walk(recipe["steps"]) or any(spec["kind"] in FLOAT64_INPUT_KINDS for spec in recipe["inputs"])


def has_float16(recipe: dict) -> bool:
    """A step built under a float16 policy (nested models' steps too): Keras in float64 is no reference for it."""
    def walk(steps: list[dict]) -> bool:
        return any("float16" in step.get("dtype", "") or step["op"] == "nested" and walk(step["p"]["steps"])
                   for step in steps)
    return walk(recipe["steps"])


def activation(rng, flavor: str) -> str:
    return pick(rng, KERAS3_ACTIVATIONS if flavor.startswith("keras3") else TF_KERAS_ACTIVATIONS)


def _units(rng, shape) -> int:
    """Often the input's own width, so that merges find partners."""
    return int(shape[-1]) if rng.random() < 0.5 else int(rng.integers(2, 7))


def leaky(k, slope):
    return k.layers.LeakyReLU(negative_slope=slope) if is_k3(k) else k.layers.LeakyReLU(alpha=slope)


op("dense", (2, 3, 4), weight=3)((
    lambda rng, s, f: {"units": _units(rng, s[0]), "activation": activation(rng, f) if rng.random() < 0.6 else None,
                       "use_bias": bool(rng.random() < 0.8)},
    lambda k, p, s: k.layers.Dense(p["units"], activation=p["activation"], use_bias=p["use_bias"])))
op("activation", (2, 3, 4), weight=2)((
    lambda rng, s, f: {"activation": activation(rng, f)},
    lambda k, p, s: k.layers.Activation(p["activation"])))
op("relu", (2, 3, 4))((
    lambda rng, s, f: pick(rng, [{}, {"max_value": 0.7}, {"negative_slope": 0.2, "threshold": 0.1},
                                 {"max_value": 1.5, "negative_slope": 0.1, "threshold": -0.2}]),
    lambda k, p, s: k.layers.ReLU(**p)))
op("leaky_relu", (2, 3, 4))((
    lambda rng, s, f: {"slope": float(pick(rng, [0.1, 0.3]))},
    lambda k, p, s: leaky(k, p["slope"])))
op("elu", (2, 3, 4))((
    lambda rng, s, f: {"alpha": float(pick(rng, [0.5, 1.0, 1.7]))},
    lambda k, p, s: k.layers.ELU(alpha=p["alpha"])))
op("prelu", (2, 3, 4))((
    lambda rng, s, f: {"shared_axes": pick(rng, [None, [1], [len(s[0])]]) if len(s[0]) >= 2 else None},
    lambda k, p, s: k.layers.PReLU(shared_axes=p["shared_axes"])))
op("softmax", (2, 3, 4))((
    lambda rng, s, f: {"axis": pick(rng, [-1, 1] + ([[1, 2]] if len(s[0]) >= 3 and f.startswith("keras3") else []))},
    lambda k, p, s: k.layers.Softmax(axis=p["axis"])))
op("dropout", (2, 3, 4))((
    lambda rng, s, f: {"kind": pick(rng, ["Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                                          "SpatialDropout"])},
    lambda k, p, s: (getattr(k.layers, f"SpatialDropout{len(s[0]) - 1}D")(0.3) if p["kind"] == "SpatialDropout"
                     else getattr(k.layers, p["kind"])(0.3))))
op("batch_norm", (2, 3, 4), weight=2)((
    lambda rng, s, f: {"axis": int(pick(rng, [-1, 1] if len(s[0]) >= 2 else [-1])),
                       "center": bool(rng.random() < 0.8), "scale": bool(rng.random() < 0.8),
                       "epsilon": float(pick(rng, [1e-3, 0.1]))},
    lambda k, p, s: k.layers.BatchNormalization(**p)))


def _ln_draw(rng, s, f):
    rank = len(s[0]) + 1
    axes = pick(rng, [-1, [-1], list(range(1, rank))] + ([[1]] if rank >= 3 else []) + ([[2, 3]] if rank == 4 else []))
    p = {"axis": axes, "center": bool(rng.random() < 0.8), "scale": bool(rng.random() < 0.8)}
    if f.startswith("keras3") and rng.random() < 0.25:
        p["rms_scaling"] = True
    return p


op("layer_norm", (2, 3, 4), weight=2)((_ln_draw, lambda k, p, s: k.layers.LayerNormalization(**p)))
op("unit_norm", (2, 3, 4))((
    lambda rng, s, f: {"axis": pick(rng, [-1, 1])},
    lambda k, p, s: k.layers.UnitNormalization(axis=p["axis"])))
op("rescaling", (2, 3, 4))((
    lambda rng, s, f: {"scale": float(pick(rng, [0.5, -2.0, 1 / 3])), "offset": float(pick(rng, [0.0, 0.25]))},
    lambda k, p, s: k.layers.Rescaling(p["scale"], offset=p["offset"])))
op("normalization", (2, 3, 4))((
    lambda rng, s, f: {"mean": [round(float(v), 3) for v in rng.standard_normal(int(s[0][-1]))],
                       "variance": [round(float(v), 3) for v in rng.uniform(0.5, 2.0, int(s[0][-1]))]},
    lambda k, p, s: k.layers.Normalization(axis=-1, mean=p["mean"], variance=p["variance"])))
op("identity", (2, 3, 4), weight=0.3)((lambda rng, s, f: {}, lambda k, p, s: k.layers.Identity()))


# -- op layers (keras.ops / tf.* on symbolic tensors) --
def _tf():
    import tensorflow as tf

    return tf


UNARY_FUNCS = ["sigmoid", "tanh", "abs", "square", "negative", "relu", "softplus", "scale", "shift", "clip", "exp_neg",
               "sqrt_abs", "log1p_abs", "erf", "floor", "sin", "pow", "divide", "greater_cast", "leaky", "gelu",
               "selu", "log_softmax", "softmax", "minimum"]


def _unary_fn(k, name: str):
    if is_k3(k):
        o = k.ops
        table = {"sigmoid": o.sigmoid, "tanh": o.tanh, "abs": o.abs, "square": o.square, "negative": o.negative,
                 "relu": o.relu, "softplus": o.softplus, "scale": lambda x: x * 1.5, "shift": lambda x: x - 0.25,
                 "clip": lambda x: o.clip(x, -0.5, 0.8), "exp_neg": lambda x: o.exp(o.negative(o.abs(x))),
                 "sqrt_abs": lambda x: o.sqrt(o.abs(x)), "log1p_abs": lambda x: o.log1p(o.abs(x)),
                 "erf": o.erf, "floor": lambda x: o.floor(x * 2.0), "sin": o.sin,
                 "pow": lambda x: o.power(o.abs(x), 1.5), "divide": lambda x: o.divide(x, 1.0 + o.square(x)),
                 "greater_cast": lambda x: o.cast(o.greater(x, 0.1), "float32"),
                 "leaky": lambda x: o.leaky_relu(x, 0.3), "gelu": o.gelu, "selu": o.selu,
                 "log_softmax": o.log_softmax, "softmax": lambda x: o.softmax(x, axis=1),
                 "minimum": lambda x: o.minimum(x, 0.3)}
    else:
        tf = _tf()
        table = {"sigmoid": tf.math.sigmoid, "tanh": tf.math.tanh, "abs": tf.math.abs, "square": tf.math.square,
                 "negative": tf.math.negative, "relu": tf.nn.relu, "softplus": tf.math.softplus,
                 "scale": lambda x: x * 1.5, "shift": lambda x: x - 0.25,
                 "clip": lambda x: tf.clip_by_value(x, -0.5, 0.8),
                 "exp_neg": lambda x: tf.math.exp(tf.math.negative(tf.math.abs(x))),
                 "sqrt_abs": lambda x: tf.math.sqrt(tf.math.abs(x)), "log1p_abs": lambda x: tf.math.log1p(tf.math.abs(x)),
                 "erf": tf.math.erf, "floor": lambda x: tf.math.floor(x * 2.0), "sin": tf.math.sin,
                 "pow": lambda x: tf.math.pow(tf.math.abs(x), 1.5),
                 "divide": lambda x: tf.math.divide(x, 1.0 + tf.math.square(x)),
                 "greater_cast": lambda x: tf.cast(tf.math.greater(x, 0.1), tf.float32),
                 "leaky": lambda x: tf.nn.leaky_relu(x, 0.3), "gelu": tf.nn.gelu, "selu": tf.nn.selu,
                 "log_softmax": tf.nn.log_softmax, "softmax": lambda x: tf.nn.softmax(x, axis=1),
                 "minimum": lambda x: tf.math.minimum(x, 0.3)}
    return table[name]


op("op_unary", (2, 3, 4), weight=1.5)((
    lambda rng, s, f: {"fn": pick(rng, UNARY_FUNCS)},
    lambda k, p, s: _unary_fn(k, p["fn"])))


def _reduce_make(k, p, s):
    if is_k3(k):
        fn = {"mean": k.ops.mean, "sum": k.ops.sum, "max": k.ops.max}[p["fn"]]
    else:
        tf = _tf()
        fn = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "max": tf.reduce_max}[p["fn"]]
    return lambda x: fn(x, axis=p["axis"], keepdims=p["keepdims"])


op("op_reduce", (3, 4))((
    lambda rng, s, f: {"fn": pick(rng, ["mean", "sum", "max"]), "axis": int(pick(rng, [1, -1])),
                       "keepdims": bool(rng.random() < 0.5)},
    _reduce_make))


def _transpose_make(k, p, s):
    perm = p["perm"]
    return (lambda x: k.ops.transpose(x, perm)) if is_k3(k) else (lambda x: _tf().transpose(x, perm))


op("op_transpose", (3, 4))((
    lambda rng, s, f: {"perm": [0] + [int(i) + 1 for i in rng.permutation(len(s[0]))]},
    _transpose_make))


def _slice_make(k, p, s):
    start, step = p["start"], p["step"]
    if p["axis"] == 1:
        return lambda x: x[:, start::step]
    return lambda x: x[..., start::step]


op("op_slice", (3, 4))((
    lambda rng, s, f: {"axis": int(pick(rng, [1, -1])), "start": int(rng.integers(0, 2)),
                       "step": int(pick(rng, [1, 2]))},
    _slice_make))


SHAPE_FUNCS = ["reverse_steps", "newaxis", "ellipsis_last", "negative_index", "tile", "pad", "reshape_flat",
               "stack", "concat_self", "matmul_self", "expand_squeeze", "prod_min"]


def _shape_fn(k, name: str):
    if is_k3(k):
        o = k.ops
        table = {"tile": lambda x: o.tile(x, [1, 2] + [1] * (len(x.shape) - 2)),
                 "pad": lambda x: o.pad(x, [[0, 0], [1, 2]] + [[0, 0]] * (len(x.shape) - 2)),
                 "reshape_flat": lambda x: o.reshape(x, (-1, int(np.prod(x.shape[1:]))) if None not in x.shape[1:]
                                                     else (-1, x.shape[-1])),
                 "stack": lambda x: o.stack([x, o.sigmoid(x)], axis=1),
                 "concat_self": lambda x: o.concatenate([x, o.tanh(x)], axis=-1),
                 "matmul_self": lambda x: o.matmul(x, o.swapaxes(x, -1, -2)) if len(x.shape) >= 3
                 else o.matmul(x, o.transpose(x)),
                 "expand_squeeze": lambda x: o.squeeze(o.expand_dims(x, 1), axis=1),
                 "prod_min": lambda x: o.prod(o.sigmoid(x), axis=-1, keepdims=True) + o.min(x, axis=1, keepdims=True)}
    else:
        tf = _tf()
        table = {"tile": lambda x: tf.tile(x, [1, 2] + [1] * (len(x.shape) - 2)),
                 "pad": lambda x: tf.pad(x, [[0, 0], [1, 2]] + [[0, 0]] * (len(x.shape) - 2)),
                 "reshape_flat": lambda x: tf.reshape(x, (-1, int(np.prod(x.shape[1:]))) if None not in x.shape[1:]
                                                      else (-1, x.shape[-1])),
                 "stack": lambda x: tf.stack([x, tf.math.sigmoid(x)], axis=1),
                 "concat_self": lambda x: tf.concat([x, tf.math.tanh(x)], axis=-1),
                 "matmul_self": lambda x: tf.linalg.matmul(x, x, transpose_b=True),
                 "expand_squeeze": lambda x: tf.squeeze(tf.expand_dims(x, 1), axis=1),
                 "prod_min": lambda x: tf.reduce_prod(tf.math.sigmoid(x), axis=-1, keepdims=True)
                 + tf.reduce_min(x, axis=1, keepdims=True)}
    table.update({"reverse_steps": lambda x: x[:, ::-1], "newaxis": lambda x: x[:, None, 1:],
                  "ellipsis_last": lambda x: x[..., -2:], "negative_index": lambda x: x[:, -1]})
    return table[name]


op("op_shape", (2, 3, 4), weight=1.5)((
    lambda rng, s, f: {"fn": pick(rng, SHAPE_FUNCS)},
    lambda k, p, s: _shape_fn(k, p["fn"])))


def _cast_make(k, p, s):
    if is_k3(k):
        return lambda x: k.ops.cast(k.ops.cast(x * 3.0, "int32"), "float32")
    tf = _tf()
    return lambda x: tf.cast(tf.cast(x * 3.0, tf.int32), tf.float32)


op("op_cast_round_trip", (2, 3, 4), weight=0.5)((lambda rng, s, f: {}, _cast_make))


# -- op layers of indices, more math and several outputs (argmax/argmin, one_hot, take/gather, take_along_axis,
# trig/hyperbolic, is_nan/is_inf/is_finite, *_no_nan, xlogy, logsumexp, split, unstack, top_k) --
def _known_axes(shape: tuple, low: int = 1, high: int = 10**9) -> list[int]:
    """The non-batch axes (numbered with the batch) of a known size in ``[low, high]``."""
    return [i + 1 for i, d in enumerate(shape) if d is not None and low <= int(d) <= high]


def _arg_draw(rng, s, f):
    """argmax/argmin over any non-batch axis; inputs made tied (relu: zeros, round: halves) or signed zeros (x·0:
    -0.0 for the negatives, which Keras 3 reads below +0.0). The int32/int64 result feeds Embedding, one_hot ..."""
    small = _known_axes(s[0], 1, VOCAB)  # an Embedding of VOCAB ids can read it
    axes = small if small and rng.random() < 0.8 else list(range(1, len(s[0]) + 1))
    axis = int(pick(rng, axes))
    p = {"fn": pick(rng, ["argmax", "argmin"]), "axis": axis if rng.random() < 0.7 else axis - len(s[0]) - 1,
         "prep": pick(rng, ["none", "relu", "round", "signed_zero"])}
    if f.startswith("keras3"):
        p["keepdims"] = bool(rng.random() < 0.3)
    else:
        p["output_type"] = pick(rng, ["int64", "int32"])
    return p


def _prep(k, name: str):
    if is_k3(k):
        o = k.ops
        return {"none": lambda x: x, "relu": o.relu, "round": lambda x: o.round(x * 2.0) / 2.0,
                "signed_zero": lambda x: x * 0.0}[name]
    tf = _tf()
    return {"none": lambda x: x, "relu": tf.nn.relu, "round": lambda x: tf.math.round(x * 2.0) / 2.0,
            "signed_zero": lambda x: x * 0.0}[name]


def _arg_make(k, p, s):
    prep = _prep(k, p["prep"])
    if is_k3(k):
        fn = getattr(k.ops, p["fn"])
        return lambda x: fn(prep(x), axis=p["axis"], keepdims=p["keepdims"])
    tf = _tf()
    fn = getattr(tf.math, p["fn"])
    return lambda x: fn(prep(x), axis=p["axis"], output_type=getattr(tf, p["output_type"]))


op("op_arg", (2, 3, 4), weight=3, int_out=True)((_arg_draw, _arg_make))


def _one_hot_draw(rng, s, f):
    """one_hot of ids (inputs, argmax, top_k indices): a depth below the largest id now and then (rows of off values),
    ids shifted below 0 now and then (rows of off values too)."""
    p = {"depth": int(pick(rng, [2, 3, 5, VOCAB, VOCAB + 2])), "axis": int(pick(rng, [-1, -1, 1])),
         "shift": int(pick(rng, [0, 0, 3]))}
    if not f.startswith("keras3") and rng.random() < 0.4:
        p["on_off"] = pick(rng, [[2.5, -1.0], [0.0, 1.0]])
    return p


def _one_hot_make(k, p, s):
    shift = p["shift"]
    if is_k3(k):
        o = k.ops
        return lambda x: o.one_hot(x - shift if shift else x, p["depth"], axis=p["axis"])
    tf = _tf()
    on, off = p.get("on_off") or (None, None)
    return lambda x: tf.one_hot(x - shift if shift else x, p["depth"], on_value=on, off_value=off, axis=p["axis"],
                                dtype=tf.float32)


op("one_hot", (2, 3), ints=True, weight=1.5)((_one_hot_draw, _one_hot_make))


def _take_draw(rng, s, f):
    """take/gather of constant indices along a known axis: Keras 3's include negative ones (wrapped), TF's are in
    range (its gather raises); a scalar index drops the axis, a 2-D array adds one."""
    axes = _known_axes(s[0])
    if not axes:
        raise Skip("no axis of a known size")
    axis = int(pick(rng, axes))
    size = int(s[0][axis - 1])
    low = -size if f.startswith("keras3") else 0
    form = pick(rng, ["scalar", "list", "list", "matrix"])
    shape = {"scalar": (), "list": (int(rng.integers(1, 6)),), "matrix": (2, 3)}[form]
    indices = rng.integers(low, size, shape).tolist()
    return {"axis": axis if rng.random() < 0.7 else axis - len(s[0]) - 1, "indices": indices}


def _take_make(k, p, s):
    if is_k3(k):
        return lambda x: k.ops.take(x, p["indices"], axis=p["axis"])
    return lambda x: _tf().gather(x, p["indices"], axis=p["axis"])


op("op_take", (2, 3, 4), weight=2)((_take_draw, _take_make))


def _take_ids_make(k, p, s):
    """take/gather of a float tensor's last axis by int ids (``ids mod n``; Keras 3's minus n now and then: negative
    ids, wrapped): the ids' axes come in before the last one, batch included."""
    n, shift = int(s[1][-1]), p["shift"]
    if is_k3(k):
        o = k.ops
        return lambda ids, y: o.take(y, o.mod(ids, n) - (n if shift else 0), axis=-1)
    tf = _tf()
    return lambda ids, y: tf.gather(y, tf.math.floormod(ids, n), axis=-1)


op("take_ids", (2,), arity=2, ints=True, weight=1)((
    lambda rng, s, f: {"shift": bool(f.startswith("keras3") and rng.random() < 0.5)}, _take_ids_make))


def _take_along_draw(rng, s, f):
    if not f.startswith("keras3"):
        raise Skip("take_along_axis is Keras 3's")
    n = s[0][-1]
    mode = pick(rng, ["top_k", "top_k", "argmax"])
    p = {"mode": mode, "negative": bool(rng.random() < 0.4)}
    if mode == "top_k":
        if n is None:
            raise Skip
        p["k"] = int(rng.integers(1, int(n) + 1))
    else:
        p["axis"] = int(pick(rng, list(range(1, len(s[0]) + 1))))
    return p


def _take_along_make(k, p, s):
    """Keras 3 ``take_along_axis`` by indices the model computes: ``top_k``'s (the k largest along the last axis) or
    ``argmax(keepdims)``'s (the largest along an axis), minus the axis size now and then (negative: wrapped)."""
    o = k.ops

    def fn(x):
        if p["mode"] == "top_k":
            axis, ids = -1, o.top_k(x, p["k"])[1]
        else:
            axis, ids = p["axis"], o.argmax(x, axis=p["axis"], keepdims=True)
        return o.take_along_axis(x, ids - x.shape[axis] if p["negative"] else ids, axis=axis)
    return fn


op("take_along", (2, 3, 4), weight=2)((_take_along_draw, _take_along_make))

#: Float functions of one tensor, arguments kept in range (asin of tanh·0.9, acosh of |x| + 1 ...).
MATH_FUNCS = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log_sigmoid", "identity",
              "stop_gradient", "is_nan", "is_inf", "is_finite", "no_nan_self", "logsumexp_all"]
TF_MATH_FUNCS = ["reciprocal_no_nan", "xlogy_self"]


def _math_fn(k, name: str):
    """``is_*`` of ``x / round(x)`` (±Inf where round(x) = 0, NaN where x = 0: masked steps, relu zeros) cast to
    float; ``no_nan_self`` ``divide_no_nan(x, round(x))`` (0 there); ``xlogy_self`` ``xlogy(round(x), |x|)`` (0 where
    round(x) = 0, |x| = 0 included: 0 · log 0)."""
    if is_k3(k):
        o = k.ops
        table = {"tan": lambda x: o.tan(o.tanh(x) * 1.4), "asin": lambda x: o.arcsin(o.tanh(x) * 0.9),
                 "acos": lambda x: o.arccos(o.tanh(x) * 0.9), "atan": o.arctan,
                 "sinh": lambda x: o.sinh(o.tanh(x) * 3.0),
                 "cosh": lambda x: o.cosh(o.tanh(x) * 3.0), "asinh": o.arcsinh,
                 "acosh": lambda x: o.arccosh(o.abs(x) + 1.0), "atanh": lambda x: o.arctanh(o.tanh(x) * 0.9),
                 "log_sigmoid": lambda x: o.log_sigmoid(x * 4.0), "identity": lambda x: o.stop_gradient(x) * 1.0,
                 "stop_gradient": o.stop_gradient,
                 "is_nan": lambda x: o.cast(o.isnan(x / o.round(x)), "float32"),
                 "is_inf": lambda x: o.cast(o.isinf(x / o.round(x)), "float32"),
                 "is_finite": lambda x: o.cast(o.isfinite(x / o.round(x)), "float32"),
                 "no_nan_self": lambda x: o.divide_no_nan(x, o.round(x)),
                 "logsumexp_all": lambda x: o.logsumexp(x, axis=-1, keepdims=True) - x}
    else:
        tf = _tf()
        m = tf.math
        table = {"tan": lambda x: m.tan(m.tanh(x) * 1.4), "asin": lambda x: m.asin(m.tanh(x) * 0.9),
                 "acos": lambda x: m.acos(m.tanh(x) * 0.9), "atan": m.atan, "sinh": lambda x: m.sinh(m.tanh(x) * 3.0),
                 "cosh": lambda x: m.cosh(m.tanh(x) * 3.0), "asinh": m.asinh,
                 "acosh": lambda x: m.acosh(m.abs(x) + 1.0), "atanh": lambda x: m.atanh(m.tanh(x) * 0.9),
                 "log_sigmoid": lambda x: m.log_sigmoid(x * 4.0), "identity": tf.identity,
                 "stop_gradient": tf.stop_gradient,
                 "is_nan": lambda x: tf.cast(m.is_nan(x / m.round(x)), tf.float32),
                 "is_inf": lambda x: tf.cast(m.is_inf(x / m.round(x)), tf.float32),
                 "is_finite": lambda x: tf.cast(m.is_finite(x / m.round(x)), tf.float32),
                 "no_nan_self": lambda x: m.divide_no_nan(x, m.round(x)),
                 "logsumexp_all": lambda x: m.reduce_logsumexp(x, axis=-1, keepdims=True) - x,
                 "reciprocal_no_nan": lambda x: m.reciprocal_no_nan(m.round(x)),
                 "xlogy_self": lambda x: m.xlogy(m.round(x), m.abs(x))}
    return table[name]


op("op_math", (2, 3, 4), weight=3)((
    lambda rng, s, f: {"fn": pick(rng, MATH_FUNCS + ([] if f.startswith("keras3") else TF_MATH_FUNCS))},
    lambda k, p, s: _math_fn(k, p["fn"])))


def _binary_more_make(k, p, s):
    """atan2(x, y); divide_no_nan(x, round(y)) (0 where round(y) = 0); TF's xlogy(round(x), |y| + 0.5)."""
    if is_k3(k):
        o = k.ops
        fn = {"atan2": o.arctan2, "divide_no_nan": lambda x, y: o.divide_no_nan(x, o.round(y))}
    else:
        m = _tf().math
        fn = {"atan2": m.atan2, "divide_no_nan": lambda x, y: m.divide_no_nan(x, m.round(y)),
              "xlogy": lambda x, y: m.xlogy(m.round(x), m.abs(y) + 0.5)}
    return fn[p["fn"]]


op("op_binary_more", (2, 3, 4), arity=2, weight=1.5)((
    lambda rng, s, f: {"fn": pick(rng, ["atan2", "divide_no_nan"] + ([] if f.startswith("keras3") else ["xlogy"]))},
    _binary_more_make))


# -- session 15: the op layers lowered for issue 16's done-when (each traced to Keras's numbers before) ------------
#: Keras 3 functions of one float tensor that keep its shape (arguments kept in range; NaN/±Inf where named).
S15_UNARY_K3 = ["cbrt", "exp2", "deg2rad", "rad2deg", "trunc", "sinc", "erfc", "nan_to_num", "isneginf", "celu",
                "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus",
                "tanh_shrink", "threshold", "normalize", "rms_norm", "fliplr", "triu", "tril", "angle", "real",
                "imag", "conj", "heaviside_self", "hypot_self", "logaddexp_self", "fmod_self"]
#: tf_keras TF functions of one float tensor that keep its shape.
S15_UNARY_TF = ["erfc", "rint", "polyval", "scalar_mul", "clip_by_norm", "real", "imag", "conj", "angle",
                "sigmoid_xent_self", "euclidean_norm_keep", "reverse_last"]
#: Reductions over a non-batch axis (keepdims drawn).
S15_REDUCE_K3 = ["amax", "amin", "ptp", "nanmax", "nanmean", "nansum", "average", "median", "quantile",
                 "count_nonzero", "norm1", "norm2", "norm_inf", "trapezoid"]


def _s15_unary_fn(k, name: str):
    """Most are elementwise; ``nan_to_num`` reads ``log`` of the values (NaN below 0, -Inf at masked zeros)."""
    if is_k3(k):
        o = k.ops
        table = {"cbrt": o.cbrt, "exp2": lambda x: o.exp2(o.tanh(x) * 3.0), "deg2rad": o.deg2rad,
                 "rad2deg": o.rad2deg, "trunc": lambda x: o.trunc(x * 3.0), "sinc": lambda x: o.sinc(x * 2.0),
                 "erfc": o.erfc, "nan_to_num": lambda x: o.nan_to_num(o.log(x), nan=0.5, posinf=2.0, neginf=-2.0),
                 "isneginf": lambda x: o.cast(o.isneginf(o.log(o.abs(o.round(x)))), "float32"), "celu": o.celu,
                 "hard_shrink": o.hard_shrink, "hard_tanh": o.hard_tanh, "soft_shrink": o.soft_shrink,
                 "sparse_plus": o.sparse_plus, "sparse_sigmoid": o.sparse_sigmoid, "sparsemax": o.sparsemax,
                 "squareplus": o.squareplus, "tanh_shrink": o.tanh_shrink,
                 "threshold": lambda x: o.threshold(x, 0.2, -1.0), "normalize": lambda x: o.normalize(x, axis=-1),
                 "rms_norm": lambda x: o.rms_normalization(x), "fliplr": o.fliplr, "triu": lambda x: o.triu(x, k=1),
                 "tril": lambda x: o.tril(x, k=-1), "angle": o.angle, "real": o.real,
                 "imag": lambda x: o.imag(x) + x, "conj": o.conj,
                 "heaviside_self": lambda x: o.heaviside(o.round(x), x), "hypot_self": lambda x: o.hypot(x, x * 0.5),
                 "logaddexp_self": lambda x: o.logaddexp(x, x * 3.0),
                 "fmod_self": lambda x: o.fmod(x * 3.0, o.round(x) + 0.5)}
        return table[name]
    tf = _tf()
    table = {"erfc": tf.math.erfc, "rint": lambda x: tf.math.rint(x * 3.0),
             "polyval": lambda x: tf.math.polyval([0.5, -1.0, 2.0], x), "scalar_mul": lambda x: tf.math.scalar_mul(
                 1.5, x), "clip_by_norm": lambda x: tf.clip_by_norm(x, 1.0, axes=[-1]), "real": tf.math.real,
             "imag": lambda x: tf.math.imag(x) + x, "conj": tf.math.conj, "angle": tf.math.angle,
             "sigmoid_xent_self": lambda x: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(x * 2.0),
                                                                                   logits=x),
             "euclidean_norm_keep": lambda x: x / (1.0 + tf.math.reduce_euclidean_norm(x, axis=-1, keepdims=True)),
             "reverse_last": lambda x: tf.reverse(x, [-1])}
    return table[name]


op("op_s15_unary", (2, 3, 4), weight=3)((
    lambda rng, s, f: {"fn": pick(rng, S15_UNARY_K3 if f.startswith("keras3") else S15_UNARY_TF)},
    lambda k, p, s: _s15_unary_fn(k, p["fn"])))


def _s15_reduce_make(k, p, s):
    o, axis, keep = k.ops, p["axis"], p["keepdims"]
    table = {"amax": lambda x: o.amax(x, axis=axis, keepdims=keep), "amin": lambda x: o.amin(x, axis=axis,
                                                                                             keepdims=keep),
             "ptp": lambda x: o.ptp(x, axis=axis, keepdims=keep),
             "nanmax": lambda x: o.nanmax(x / o.round(x), axis=axis, keepdims=keep),
             "nanmean": lambda x: o.nanmean(o.log(x), axis=axis, keepdims=keep),
             "nansum": lambda x: o.nansum(o.log(x), axis=axis, keepdims=keep),
             "average": lambda x: o.average(x, axis=axis),
             "median": lambda x: o.median(x, axis=axis, keepdims=keep),
             "quantile": lambda x: o.quantile(x, p["q"], axis=axis, keepdims=keep, method=p["method"]),
             "count_nonzero": lambda x: o.cast(o.count_nonzero(o.round(x), axis=axis), "float32"),
             "norm1": lambda x: o.norm(x, ord=1, axis=axis, keepdims=keep),
             "norm2": lambda x: o.norm(x, axis=axis, keepdims=keep),
             "norm_inf": lambda x: o.norm(x, ord=float("inf"), axis=axis, keepdims=keep),
             "trapezoid": lambda x: o.trapezoid(x, axis=axis)}
    fn = table[p["fn"]]
    return lambda x: o.nan_to_num(fn(x), nan=-1.0, posinf=3.0, neginf=-3.0) if p["fn"].startswith("nan") else fn(x)


op("op_s15_reduce", (3, 4), weight=2)((
    lambda rng, s, f: {"fn": pick(rng, S15_REDUCE_K3) if f.startswith("keras3") else "amax",
                       "axis": int(pick(rng, [1, -1])), "keepdims": bool(rng.random() < 0.5),
                       "q": float(pick(rng, [0.0, 0.3, 0.5, 1.0])),
                       "method": pick(rng, ["linear", "lower", "higher", "midpoint", "nearest"])},
    lambda k, p, s: _s15_reduce_make(k, p, s) if is_k3(k) else (
        lambda x: _tf().math.reduce_euclidean_norm(x, axis=p["axis"], keepdims=p["keepdims"]))))


def _logsumexp_draw(rng, s, f):
    rank = len(s[0]) + 1
    axes = [-1, 1] + ([[1, 2], [-1, 1]] if rank >= 3 else []) + ([list(range(1, rank))] if rank == 4 else [])
    return {"axis": pick(rng, axes), "keepdims": bool(rng.random() < 0.5), "scale": float(pick(rng, [1.0, 1.0, 30.0]))}


def _logsumexp_make(k, p, s):
    fn = k.ops.logsumexp if is_k3(k) else _tf().math.reduce_logsumexp
    return lambda x: fn(x * p["scale"], axis=p["axis"], keepdims=p["keepdims"])


op("op_logsumexp", (2, 3, 4), weight=1.5)((_logsumexp_draw, _logsumexp_make))


def _split_draw(rng, s, f):
    """split along a non-batch axis into equal pieces (an unknown size: 2, fed even) or by sizes (TF's with one -1,
    Keras 3's as the indices where pieces start), the pieces merged back: concatenated in reverse, along another
    axis, added, or the first and the last only."""
    axes = list(range(1, len(s[0]) + 1))
    axis = int(pick(rng, axes))
    size = s[0][axis - 1]
    if size is None:
        spec: Any = 2
    else:
        size = int(size)
        counts = [n for n in range(2, min(size, 4) + 1) if size % n == 0]
        if size >= 2 and (not counts or rng.random() < 0.4):
            cuts = sorted(int(c) for c in rng.choice(np.arange(1, size), int(rng.integers(1, min(size - 1, 3) + 1)),
                                                     replace=False))
            if f.startswith("keras3"):
                spec = cuts
            else:
                spec = [b - a for a, b in zip([0, *cuts], [*cuts, size])]
                if rng.random() < 0.5:
                    spec[int(rng.integers(len(spec)))] = -1
        elif counts:
            spec = int(pick(rng, counts))
        else:
            raise Skip("an axis of size 1")
    merges = ["reverse", "first_last"] + (["add", "other_axis"] if isinstance(spec, int) else [])
    return {"axis": axis, "spec": spec, "merge": pick(rng, merges)}


def _split_make(k, p, s):
    axis, spec, merge = p["axis"], p["spec"], p["merge"]
    rank = len(s[0]) + 1
    other = pick(np.random.default_rng(axis), [a for a in range(1, rank) if a != axis] or [axis])
    if is_k3(k):
        split = lambda x: k.ops.split(x, spec, axis=axis)  # noqa: E731
    else:
        split = lambda x: _tf().split(x, spec, axis=axis)  # noqa: E731

    def fn(x):
        pieces = split(x)
        if merge == "reverse":
            return k.layers.Concatenate(axis=axis)(pieces[::-1])
        if merge == "first_last":
            return k.layers.Concatenate(axis=axis)([pieces[0], pieces[-1]])
        if merge == "add":
            return k.layers.Add()(list(pieces))
        return k.layers.Concatenate(axis=int(other))(list(pieces))
    return fn


op("op_split", (2, 3, 4), weight=2)((_split_draw, _split_make))


def _unstack_draw(rng, s, f):
    axes = _known_axes(s[0], 2, 8)
    if not axes:
        raise Skip("no axis of 2 to 8")
    return {"axis": int(pick(rng, axes)), "merge": pick(rng, ["stack_reversed", "stack_last", "sum", "concat"])}


def _unstack_make(k, p, s):
    """unstack along an axis of 2 to 8, merged back: stacked in reverse (the same axis), stacked last, summed with
    weights, concatenated along the last axis."""
    axis, merge = p["axis"], p["merge"]
    o = k.ops if is_k3(k) else None
    tf = None if o else _tf()
    stack = o.stack if o else tf.stack
    concat = o.concatenate if o else (lambda xs, axis: tf.concat(xs, axis=axis))

    def fn(x):
        rows = o.unstack(x, axis=axis) if o else tf.unstack(x, axis=axis)
        if merge == "stack_reversed":
            return stack(rows[::-1], axis=axis)
        if merge == "stack_last":
            return stack(rows, axis=-1)
        if merge == "sum":
            out = rows[0]
            for i, r in enumerate(rows[1:]):
                out = out + r * float(i + 2)
            return out
        return concat(rows, axis=-1)
    return fn


op("op_unstack", (3, 4), weight=1.5)((_unstack_draw, _unstack_make))


def _top_k_draw(rng, s, f):
    n = s[0][-1]
    if n is None:
        raise Skip
    return {"k": int(rng.integers(1, int(n) + 1)), "prep": pick(rng, ["none", "relu", "round", "signed_zero"])}


def _top_k_make(index: int):
    """top_k along the last axis of tied inputs now and then (relu zeros, halves, ±0.0; never NaN: its order is TF's
    kernel's own): the values (float), or the indices (int32: Embedding, one_hot, int Dense read them)."""
    def make(k, p, s):
        prep = _prep(k, p["prep"])
        fn = k.ops.top_k if is_k3(k) else _tf().math.top_k
        return lambda x: fn(prep(x), p["k"])[index]
    return make


op("op_top_k", (2, 3, 4), weight=1.5)((_top_k_draw, _top_k_make(0)))
op("op_top_k_indices", (2, 3, 4), weight=1.5, int_out=True)((_top_k_draw, _top_k_make(1)))


def _int_math_draw(rng, s, f):
    """Integer tensors (ids, argmax / top_k results) into the new ops: Keras 3 casts them to float32 for arctan,
    arctan2, divide_no_nan (0 where id = 1); top_k, argmax/argmin and take of them stay integers (then cast)."""
    fns = ["top_k", "argmax", "argmin", "take"] + (["arctan", "arctan2", "divide_no_nan"] if f.startswith("keras3")
                                                   else [])
    n = s[0][-1]
    p = {"fn": pick(rng, fns)}
    if p["fn"] == "top_k":
        if n is None:
            raise Skip
        p["k"] = int(rng.integers(1, int(n) + 1))
    elif p["fn"] == "take":
        if n is None:
            raise Skip
        low = -int(n) if f.startswith("keras3") else 0
        p["indices"] = rng.integers(low, int(n), int(rng.integers(1, 4))).tolist()
    return p


def _int_math_make(k, p, s):
    fn = p["fn"]
    if is_k3(k):
        o = k.ops
        table = {"top_k": lambda x: o.top_k(x, p.get("k", 1))[0], "argmax": lambda x: o.argmax(x, axis=-1),
                 "argmin": lambda x: o.argmin(x, axis=-1), "take": lambda x: o.take(x, p.get("indices"), axis=-1),
                 "arctan": o.arctan, "arctan2": lambda x: o.arctan2(x, 2), "divide_no_nan": lambda x: o.divide_no_nan(
                     x, x - 1)}
        return lambda x: o.cast(table[fn](x), "float32")
    tf = _tf()
    table = {"top_k": lambda x: tf.math.top_k(x, p.get("k", 1))[0], "argmax": lambda x: tf.math.argmax(x, axis=-1),
             "argmin": lambda x: tf.math.argmin(x, axis=-1), "take": lambda x: tf.gather(x, p.get("indices"), axis=-1)}
    return lambda x: tf.cast(table[fn](x), tf.float32)


op("int_math", (2, 3), ints=True, weight=1)((_int_math_draw, _int_math_make))


# -- rank 2 --
op("repeat_vector", (2,))((
    lambda rng, s, f: {"n": int(rng.integers(2, 5))},
    lambda k, p, s: k.layers.RepeatVector(p["n"])))


def _reshape_draw(rng, s, f):
    if DYNAMIC and None in s[0]:
        return _dynamic_reshape_draw(rng, s[0])
    size = int(np.prod(s[0]))
    target_rank = int(pick(rng, [1, 2, 3]))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    if target_rank == 1:
        return {"shape": [size]}
    a = int(pick(rng, divisors))
    if target_rank == 2:
        return {"shape": [a, size // a] if rng.random() < 0.7 else [a, -1]}
    rest = size // a
    b = int(pick(rng, [d for d in divisors if rest % d == 0]))
    return {"shape": [a, b, rest // b]}


def _dynamic_reshape_draw(rng, shape: tuple) -> dict:
    """A Reshape with -1 for the unknown sizes: the known trailing sizes merged or split (``--dynamic``)."""
    known = [int(v) for v in shape if v is not None]
    if shape.count(None) > 1 and len(known) == len(shape) - 2 and rng.random() < 0.5:
        return {"shape": [-1, *known]}  # unknown height and width folded into one axis of steps
    if shape[0] is not None or shape.count(None) != 1:
        raise Skip("one leading unknown size only")
    size = int(np.prod(known))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    a = int(pick(rng, divisors))
    return pick(rng, [{"shape": [-1, size]}, {"shape": [-1, a, size // a]}])


op("reshape", (2, 3, 4))((_reshape_draw, lambda k, p, s: k.layers.Reshape(tuple(p["shape"]))))
op("flatten", (3, 4))((lambda rng, s, f: {}, lambda k, p, s: k.layers.Flatten()))


def _permute_draw(rng, s, f):
    n = len(s[0])
    return {"dims": [int(i) + 1 for i in rng.permutation(n)]}


op("permute", (3, 4))((_permute_draw, lambda k, p, s: k.layers.Permute(tuple(p["dims"]))))


# -- rank 3: sequences --
def _conv1d_draw(rng, s, f):
    kind = pick(rng, ["Conv1D", "Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose"]
                + (["Conv1DTranspose"] * 2 if DYNAMIC else []))
    p = {"kind": kind, "kernel_size": int(pick(rng, [1, 2, 3])), "strides": int(pick(rng, [1, 1, 2])),
         "padding": pick(rng, ["valid", "same"] + (["causal"] if kind == "Conv1D" else [])),
         "dilation_rate": 1, "activation": activation(rng, f) if rng.random() < 0.3 else None,
         "use_bias": bool(rng.random() < 0.8)}
    if p["strides"] == 1 and rng.random() < 0.4:
        p["dilation_rate"] = 2
    if kind != "DepthwiseConv1D":
        p["filters"] = _units(rng, s[0])
    else:
        p["depth_multiplier"] = int(pick(rng, [1, 2]))
    if kind == "Conv1D" and rng.random() < 0.2 and p["filters"] % 2 == 0 and int(s[0][-1]) % 2 == 0:
        p["groups"] = 2
    if rng.random() < 0.15 and kind in ("Conv1D", "SeparableConv1D"):
        p["data_format"] = "channels_first"
    return p


def _conv_make(k, p, s):
    p = dict(p)
    return getattr(k.layers, p.pop("kind"))(**p)


op("conv1d", (3,), weight=3)((_conv1d_draw, _conv_make))


def _pool_draw(dims):
    def draw(rng, s, f):
        p = {"kind": f"{pick(rng, ['Max', 'Average'])}Pooling{dims}D", "pool_size": int(pick(rng, [2, 3])),
             "strides": pick(rng, [None, 1, 2]), "padding": pick(rng, ["valid", "same"])}
        if rng.random() < 0.2:
            p["data_format"] = "channels_first"
        return p
    return draw


op("pool1d", (3,))((_pool_draw(1), _conv_make))


def _gpool_draw(dims):
    def draw(rng, s, f):
        p = {"kind": f"Global{pick(rng, ['Max', 'Average'])}Pooling{dims}D", "keepdims": bool(rng.random() < 0.3)}
        if rng.random() < 0.2:
            p["data_format"] = "channels_first"
        return p
    return draw


op("global_pool1d", (3,))((_gpool_draw(1), _conv_make))


def _rnn_draw(rng, s, f):
    kind = pick(rng, ["LSTM", "GRU", "SimpleRNN"])
    p = {"kind": kind, "units": int(rng.integers(2, 6)), "return_sequences": bool(rng.random() < 0.5),
         "go_backwards": bool(rng.random() < 0.25), "use_bias": bool(rng.random() < 0.85)}
    if kind == "GRU":
        p["reset_after"] = bool(rng.random() < 0.6)
    if rng.random() < 0.2:
        p["activation"] = pick(rng, ["relu", "sigmoid", "tanh", "softsign"])
    if rng.random() < 0.2:
        p["return_state"] = True
    return p


def _rnn_make(k, p, s):
    p = dict(p)
    layer = getattr(k.layers, p.pop("kind"))(**p)
    if p.get("return_state"):
        return lambda x: layer(x)[-1]  # the last state as the step's output
    return layer


op("rnn", (3,), weight=2)((_rnn_draw, _rnn_make))


def _bidi_draw(rng, s, f):
    inner = _rnn_draw(rng, s, f)
    inner.pop("return_state", None)
    inner["go_backwards"] = False
    return {"inner": inner, "merge_mode": pick(rng, ["concat", "sum", "mul", "ave"])}


def _bidi_make(k, p, s):
    inner = dict(p["inner"])
    return k.layers.Bidirectional(getattr(k.layers, inner.pop("kind"))(**inner), merge_mode=p["merge_mode"])


op("bidirectional", (3,))((_bidi_draw, _bidi_make))
op("time_distributed", (3, 4))((
    lambda rng, s, f: {"units": _units(rng, s[0]), "activation": activation(rng, f) if rng.random() < 0.5 else None},
    lambda k, p, s: k.layers.TimeDistributed(k.layers.Dense(p["units"], activation=p["activation"]))))
op("time_distributed_conv", (4,), weight=0.0)((  # drawn under --dynamic only: a per-step Conv1D / pooling
    lambda rng, s, f: pick(rng, [{"kind": "Conv1D", "filters": _units(rng, s[0]),
                                  "kernel_size": int(pick(rng, [1, 2, 3])), "padding": pick(rng, ["valid", "same"]),
                                  "strides": int(pick(rng, [1, 2]))},
                                 {"kind": "MaxPooling1D", "pool_size": 2, "padding": "same"},
                                 {"kind": "LayerNormalization"}]),
    lambda k, p, s: k.layers.TimeDistributed(_conv_make(k, p, s))))


def _pad1d_draw(rng, s, f):
    kind = pick(rng, ["ZeroPadding1D", "Cropping1D", "UpSampling1D"])
    t = int(s[0][0] or 4)
    if kind == "ZeroPadding1D":
        return {"kind": kind, "padding": [int(rng.integers(0, 3)), int(rng.integers(0, 3))]}
    if kind == "Cropping1D":
        if t < 3:
            raise Skip
        return {"kind": kind, "cropping": [int(rng.integers(0, 2)), int(rng.integers(0, 2))]}
    return {"kind": kind, "size": int(pick(rng, [2, 3]))}


def _pad_make(k, p, s):
    p = dict(p)
    kind = p.pop("kind")
    return getattr(k.layers, kind)(**{key: tuple(v) if isinstance(v, list) else v for key, v in p.items()})


op("pad_crop_up1d", (3,))((_pad1d_draw, _pad_make))


def _mha_draw(rng, s, f):
    p = {"num_heads": int(pick(rng, [1, 2])), "key_dim": int(pick(rng, [2, 3])),
         "use_causal_mask": bool(rng.random() < 0.3), "use_bias": bool(rng.random() < 0.8)}
    if DYNAMIC and rng.random() < 0.25:
        p["scores"] = True  # the step's output is the attention scores (an extra rng draw only under --dynamic)
    return p


def _mha_make(k, p, s):
    p = dict(p)
    causal = p.pop("use_causal_mask")
    scores = p.pop("scores", False)
    layer = k.layers.MultiHeadAttention(**p)
    if scores:
        return lambda x, y=None: layer(x, x if y is None else y, use_causal_mask=causal,
                                       return_attention_scores=True)[1]
    return lambda x, y=None: layer(x, x if y is None else y, use_causal_mask=causal)


op("self_attention", (3,))((_mha_draw, _mha_make))


def _attn_draw(rng, s, f):
    kind = pick(rng, ["Attention", "AdditiveAttention"])
    p = {"kind": kind, "use_scale": bool(rng.random() < 0.5)}
    if kind == "Attention" and rng.random() < 0.3:
        p["score_mode"] = "concat"
    if rng.random() < 0.3:
        p["use_causal_mask"] = True
    if DYNAMIC and rng.random() < 0.25:
        p["scores"] = True
    return p


def _attn_make(k, p, s):
    p = dict(p)
    causal = p.pop("use_causal_mask", False)
    scores = p.pop("scores", False)
    layer = getattr(k.layers, p.pop("kind"))(**p)
    if scores:
        return lambda x, y=None: layer([x, x if y is None else y], use_causal_mask=causal,
                                       return_attention_scores=True)[1]
    return lambda x, y=None: layer([x, x if y is None else y], use_causal_mask=causal)


op("dot_attention", (3,))((_attn_draw, _attn_make))


def _mha_axes_draw(rng, s, f):
    return dict(_mha_draw(rng, s, f), attention_axes=pick(rng, [[1, 2], [2], [1]]))


op("self_attention_axes", (4,), weight=0.0)((_mha_axes_draw, _mha_make))  # drawn under --dynamic only


def _gqa_draw(rng, s, f):
    if not f.startswith("keras3"):
        raise Skip("GroupedQueryAttention is Keras 3's")
    kv = int(pick(rng, [1, 2]))
    return {"head_dim": int(pick(rng, [2, 3])), "num_query_heads": kv * int(pick(rng, [1, 2])),
            "num_key_value_heads": kv, "use_bias": bool(rng.random() < 0.8),
            "use_causal_mask": bool(rng.random() < 0.3)}


def _gqa_make(k, p, s):
    p = dict(p)
    causal = p.pop("use_causal_mask")
    layer = k.layers.GroupQueryAttention(**p)  # Keras 3 exports the class GroupedQueryAttention so
    return lambda x: layer(x, x, use_causal_mask=causal)


op("gqa", (3,), weight=0.0)((_gqa_draw, _gqa_make))  # drawn under --dynamic only (DYNAMIC_WEIGHTS)
op("masking", (3,), weight=0.5)((lambda rng, s, f: {}, lambda k, p, s: k.layers.Masking(0.0)))


def _cells_draw(rng, s, f):
    cells = [{"kind": pick(rng, ["LSTMCell", "GRUCell", "SimpleRNNCell"]), "units": int(rng.integers(2, 5))}
             for _ in range(int(pick(rng, [1, 1, 2])))]
    return {"cells": cells, "return_sequences": bool(rng.random() < 0.5), "go_backwards": bool(rng.random() < 0.25)}


def _cells_make(k, p, s):
    cells = [getattr(k.layers, c["kind"])(c["units"]) for c in p["cells"]]
    return k.layers.RNN(cells if len(cells) > 1 else cells[0], return_sequences=p["return_sequences"],
                        go_backwards=p["go_backwards"])


op("rnn_cells", (3,))((_cells_draw, _cells_make))


def _einsum_draw(rng, s, f):
    if len(s[0]) == 1:
        return {"equation": "ab,bc->ac", "output_shape": int(rng.integers(2, 6)), "bias_axes": pick(rng, [None, "c"])}
    return pick(rng, [{"equation": "abc,cd->abd", "output_shape": [None, int(rng.integers(2, 6))],
                       "bias_axes": pick(rng, [None, "d"])},
                      {"equation": "abc,cde->abde", "output_shape": [None, 2, 3], "bias_axes": pick(rng, [None, "de"])}])


def _einsum_make(k, p, s):
    shape = p["output_shape"]
    if isinstance(shape, list):
        shape = [int(s[0][0]) if v is None and s[0][0] is not None else v for v in shape]
        shape = tuple(shape)
    return k.layers.EinsumDense(p["equation"], output_shape=shape, bias_axes=p["bias_axes"])


op("einsum_dense", (2, 3))((_einsum_draw, _einsum_make))
op("rms_norm", (2, 3, 4), weight=0.5)((
    lambda rng, s, f: {"axis": pick(rng, [-1, [1, 2]] if len(s[0]) >= 2 else [-1])},
    lambda k, p, s: k.layers.RMSNormalization(axis=p["axis"])))
# Not drawn: Keras 3's AdaptiveMaxPooling1D kills TensorFlow with SIGFPE on some sizes (max_pool in its eager path).
op("adaptive_pool", (4,), weight=0.0)((
    lambda rng, s, f: {"kind": pick(rng, ["Average", "Max"]), "size": int(rng.integers(1, 4))},
    lambda k, p, s: getattr(k.layers, f"Adaptive{p['kind']}Pooling{len(s[0]) - 1}D")(
        p["size"] if len(s[0]) == 2 else (p["size"], p["size"] + 1))))


def _convlstm_draw(rng, s, f):
    return {"filters": int(rng.integers(1, 4)), "kernel_size": int(pick(rng, [1, 2, 3])),
            "padding": pick(rng, ["same", "valid"]), "return_sequences": bool(rng.random() < 0.5)}


op("conv_lstm1d", (4,), weight=0.5)((_convlstm_draw, lambda k, p, s: k.layers.ConvLSTM1D(**p)))


def _bcast_make(k, p, s):
    """A merge of ``x`` with ``y`` reshaped to broadcast along the middle axes (Keras allows size-1 axes)."""
    layer = getattr(k.layers, p["kind"])()
    ones = (1,) * (len(s[0]) - 1)
    reshape = k.layers.Reshape(ones + (int(s[1][-1]),))
    return lambda x, y: layer([x, reshape(y)] if not p["swap"] else [reshape(y), x])


op("merge_broadcast", (3, 4), arity=2)((
    lambda rng, s, f: {"kind": pick(rng, ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]),
                       "swap": bool(rng.random() < 0.5)},
    _bcast_make))


# -- rank 4: images --
def _conv2d_draw(rng, s, f):
    kind = pick(rng, ["Conv2D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"]
                + (["Conv2DTranspose"] * 2 if DYNAMIC else []))
    p = {"kind": kind, "kernel_size": pick(rng, [1, 2, 3, [3, 2]]), "strides": pick(rng, [1, 1, 2, [2, 1]]),
         "padding": pick(rng, ["valid", "same"]), "activation": activation(rng, f) if rng.random() < 0.3 else None,
         "use_bias": bool(rng.random() < 0.8)}
    if p["strides"] == 1 and rng.random() < 0.4:
        p["dilation_rate"] = pick(rng, [2, [2, 1]])
    if kind != "DepthwiseConv2D":
        p["filters"] = _units(rng, s[0])
    else:
        p["depth_multiplier"] = int(pick(rng, [1, 2]))
    if kind == "Conv2D" and rng.random() < 0.2 and p["filters"] % 2 == 0 and int(s[0][-1]) % 2 == 0:
        p["groups"] = 2
    if kind == "Conv2DTranspose" and rng.random() < 0.3 and p["strides"] != 1:
        p["output_padding"] = 1 if p["strides"] == 2 else [1, 0]
    if rng.random() < 0.2:
        p["data_format"] = "channels_first"
    return {key: tuple(v) if isinstance(v, list) else v for key, v in p.items()} | {}


def _conv2d_make(k, p, s):
    p = {key: tuple(v) if isinstance(v, list) else v for key, v in p.items()}
    return getattr(k.layers, p.pop("kind"))(**p)


op("conv2d", (4,), weight=3)((lambda rng, s, f: json.loads(json.dumps(_conv2d_draw(rng, s, f))), _conv2d_make))
op("pool2d", (4,))((_pool_draw(2), _conv_make))
op("global_pool2d", (4,))((_gpool_draw(2), _conv_make))


def _pad2d_draw(rng, s, f):
    kind = pick(rng, ["ZeroPadding2D", "Cropping2D", "UpSampling2D", "Resizing", "CenterCrop"])
    if DYNAMIC and None in s[0][:2]:  # unknown height or width: small crops (the fed sizes are checked later)
        h, w = (int(v) if v is not None else 3 for v in s[0][:2])
    else:
        h, w = int(s[0][0]), int(s[0][1])
    p: dict[str, Any] = {"kind": kind}
    if kind == "ZeroPadding2D":
        p["padding"] = [[int(rng.integers(0, 2)), int(rng.integers(0, 3))], [int(rng.integers(0, 3)), 0]]
    elif kind == "Cropping2D":
        if h < 3 or w < 3:
            raise Skip
        p["cropping"] = [[int(rng.integers(0, 2)), int(rng.integers(0, 2))], [0, 1]]
    elif kind == "UpSampling2D":
        p["size"] = pick(rng, [2, [2, 3]])
        p["interpolation"] = pick(rng, ["nearest", "bilinear"])
    elif kind == "Resizing":
        p["height"], p["width"] = int(rng.integers(3, 10)), int(rng.integers(3, 10))
        p["interpolation"] = pick(rng, ["nearest", "bilinear"])
        p["crop_to_aspect_ratio"] = bool(rng.random() < 0.3)
    else:
        p["height"], p["width"] = int(rng.integers(2, h + 1)), int(rng.integers(2, w + 1))
    if rng.random() < 0.2 and kind not in ("Resizing", "CenterCrop"):
        p["data_format"] = "channels_first"
    return p


def _pad2d_make(k, p, s):
    p = dict(p)
    kind = p.pop("kind")
    conv = {key: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
            for key, v in p.items()}
    return getattr(k.layers, kind)(**conv)


op("pad_crop_resize2d", (4,))((_pad2d_draw, _pad2d_make))


def _group_norm_draw(rng, s, f):
    c = int(s[0][-1])
    groups = [g for g in (1, 2, 3, c) if c % g == 0]
    return {"groups": int(pick(rng, groups)), "center": bool(rng.random() < 0.8), "scale": bool(rng.random() < 0.8)}


op("group_norm", (3, 4))((_group_norm_draw, lambda k, p, s: k.layers.GroupNormalization(**p)))


def _conv3d_draw(rng, s, f):
    kind = pick(rng, ["Conv3D", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "UpSampling3D"]
                + (["Conv3DTranspose", "Cropping3D"] if DYNAMIC else ["ZeroPadding3D"]))  # a rank-5 Pad: no webgl
    p: dict[str, Any] = {"kind": kind}
    if kind in ("Conv3D", "Conv3DTranspose"):
        p.update(filters=int(rng.integers(1, 4)), kernel_size=int(pick(rng, [1, 2])), padding=pick(rng, ["same", "valid"]))
        if kind == "Conv3DTranspose":
            p["strides"] = int(pick(rng, [1, 2]))
    elif kind == "Cropping3D":
        p["cropping"] = [int(rng.integers(0, 2)), 0, int(rng.integers(0, 2))]
    elif "Pooling3D" in kind and "Global" not in kind:
        p.update(pool_size=int(pick(rng, [1, 2])), padding="same")
    elif kind == "UpSampling3D":
        p["size"] = [1, 2, 1]
    elif kind == "ZeroPadding3D":
        p["padding"] = [1, 0, 1]
    return p


def _conv3d_make(k, p, s):
    p = {key: tuple(v) if isinstance(v, list) else v for key, v in p.items()}
    return getattr(k.layers, p.pop("kind"))(**p)


op("volume3d", (5,), weight=0.7)((_conv3d_draw, _conv3d_make))
op("to_volume", (4,), weight=0.3)((lambda rng, s, f: {"shape": [*map(int, s[0]), 1]},
                                   lambda k, p, s: k.layers.Reshape(tuple(p["shape"]))))


# -- several inputs --
def _merge_draw(rng, s, f):
    return {"kind": pick(rng, ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])}


op("merge", (2, 3, 4), arity=2, weight=3)((_merge_draw, lambda k, p, s: getattr(k.layers, p["kind"])()))
op("concatenate", (2, 3, 4), arity=2, weight=2)((
    lambda rng, s, f: {"axis": int(pick(rng, [-1, 1] + ([2] if len(s[0]) >= 3 else [])))},
    lambda k, p, s: k.layers.Concatenate(axis=p["axis"])))
op("dot", (2, 3), arity=2, weight=0.5)((
    lambda rng, s, f: {"axes": pick(rng, [-1, [2, 2], [1, 1]]) if len(s[0]) == 2 else pick(rng, [-1, 1]),
                       "normalize": bool(rng.random() < 0.3)},
    lambda k, p, s: k.layers.Dot(axes=tuple(p["axes"]) if isinstance(p["axes"], list) else p["axes"],
                                 normalize=p["normalize"])))


def _op_binary_make(k, p, s):
    if is_k3(k):
        fn = {"add": k.ops.add, "multiply": k.ops.multiply, "maximum": k.ops.maximum, "subtract": k.ops.subtract}
    else:
        tf = _tf()
        fn = {"add": tf.math.add, "multiply": tf.math.multiply, "maximum": tf.math.maximum,
              "subtract": tf.math.subtract}
    f = fn[p["fn"]]
    return lambda x, y: f(x, y)


op("op_binary", (2, 3, 4), arity=2)((
    lambda rng, s, f: {"fn": pick(rng, ["add", "multiply", "maximum", "subtract"])}, _op_binary_make))
op("cross_attention", (3,), arity=2)((_mha_draw, _mha_make))


# -- integers --
op("embedding", (2,), ints=True, weight=4)((
    lambda rng, s, f: {"output_dim": int(rng.integers(2, 6)), "mask_zero": bool(rng.random() < 0.6)},
    lambda k, p, s: k.layers.Embedding(VOCAB, p["output_dim"], mask_zero=p["mask_zero"])))
op("int_rescaling", (2, 3, 4), ints=True)((
    lambda rng, s, f: {"scale": float(pick(rng, [1 / 255, 0.5]))},
    lambda k, p, s: k.layers.Rescaling(p["scale"])))
op("int_dense", (2, 3, 4), ints=True)((
    lambda rng, s, f: {"units": int(rng.integers(2, 6))},
    lambda k, p, s: k.layers.Dense(p["units"])))


# -- --wide (session 29): the shapes of models the generator missed (drawn only under --wide: weight 0 otherwise) ----
#: ``--wide``: these ops' weights (each 0 without the flag, so that earlier seeds still give the same models).
WIDE = False
WIDE_WEIGHTS = {"wide_nested_deep": 2, "wide_td_nested": 2, "wide_rnn_nested": 2, "wide_embed_nested": 1.5,
                "wide_shared_twice": 2, "wide_shared_pair": 1.5, "wide_multi_io": 2.5, "wide_op_edge": 4}
#: A nested model's layouts: f = functional, s = Sequential, outermost first (``f(s)``: a Sequential in a functional).
NEST_LAYOUTS = ["f(f)", "f(s)", "s(f)", "f(f(s))", "f(s(f))", "s(s)"]


def _inner_dense(k, shape: tuple, units: int, act: str | None, layout: str, name: str):
    """A model (functional ``f`` or ``Sequential`` ``s``) of one Dense on ``shape``."""
    if layout == "s":
        return k.Sequential([k.Input(shape), k.layers.Dense(units, activation=act)], name=name)
    x = k.Input(shape)
    return k.Model(x, k.layers.Dense(units, activation=act)(x), name=name)


def _nest(k, layout: str, shape: tuple, p: dict, depth: int = 0):
    """The nested model of ``layout`` (``f(s(f))`` ...): each level wraps the next and adds a layer of its own."""
    tag = f"{p['tag']}_{depth}"
    if "(" not in layout:
        return _inner_dense(k, shape, p["units"], p["activation"], layout, f"deep_{tag}")
    outer, inner_layout = layout[0], layout[2:-1]
    inner = _nest(k, inner_layout, shape, p, depth + 1)
    if outer == "s":
        return k.Sequential([k.Input(shape), inner, k.layers.Activation("tanh")], name=f"deep_{tag}")
    x = k.Input(shape)
    y = inner(x)
    z = k.layers.Concatenate()([y, k.layers.Dense(p["units"], use_bias=False)(x)]) if p["side"] else y
    return k.Model(x, k.layers.LayerNormalization()(z) if p["norm"] else z, name=f"deep_{tag}")


op("wide_nested_deep", (2, 3, 4), weight=0.0)((
    lambda rng, s, f: {"layout": pick(rng, NEST_LAYOUTS), "units": _units(rng, s[0]),
                       "activation": activation(rng, f) if rng.random() < 0.5 else None,
                       "side": bool(rng.random() < 0.5), "norm": bool(rng.random() < 0.3),
                       "tag": int(rng.integers(10**6))},
    lambda k, p, s: _nest(k, p["layout"], s[0], p)))


def _td_nested_make(k, p, s):
    """TimeDistributed of a nested model: a Sequential of Dense, a functional residual, or a per-step Conv1D."""
    shape = tuple(s[0][1:])
    x = k.Input(shape)
    if p["kind"] == "seq_dense":
        inner = k.Sequential([k.Input(shape), k.layers.Dense(p["units"], activation=p["activation"]),
                              k.layers.Dense(p["units"])], name=f"td_seq_{p['tag']}")
    elif p["kind"] == "residual":
        y = k.layers.Dense(shape[-1], activation=p["activation"])(x)
        inner = k.Model(x, k.layers.Add()([x, y]), name=f"td_res_{p['tag']}")
    else:
        y = k.layers.Conv1D(p["units"], 2, padding="same", activation=p["activation"])(x)
        inner = k.Model(x, k.layers.GlobalAveragePooling1D()(y) if p["pool"] else y, name=f"td_conv_{p['tag']}")
    return k.layers.TimeDistributed(inner)


op("wide_td_nested", (3, 4), weight=0.0)((
    lambda rng, s, f: {"kind": pick(rng, ["seq_dense", "residual"] + (["conv"] if len(s[0]) == 3 else [])),
                       "units": _units(rng, s[0]), "activation": activation(rng, f) if rng.random() < 0.5 else None,
                       "pool": bool(rng.random() < 0.4), "tag": int(rng.integers(10**6))},
    _td_nested_make))


def _rnn_nested_make(k, p, s):
    """A nested functional model of (Masking,) a Bidirectional RNN (and attention over it, a residual merge): the
    outer tensor's mask (Masking, Embedding(mask_zero)) flows in, or the model makes its own."""
    x = k.Input(tuple(s[0]))
    h = k.layers.Masking(0.0)(x) if p["mask_inside"] else x
    rnn = getattr(k.layers, p["cell"])(p["units"], return_sequences=True)
    h = k.layers.Bidirectional(rnn, merge_mode=p["merge_mode"])(h)
    if p["attention"] == "mha":
        h = k.layers.Add()([h, k.layers.MultiHeadAttention(1, 2)(h, h)])
    elif p["attention"] == "dot":
        h = k.layers.Attention()([h, h])
    if p["pool"] == "avg":
        h = k.layers.GlobalAveragePooling1D()(h)
    elif p["pool"] == "rnn":
        h = k.layers.GRU(p["units"])(h)
    return k.Model(x, h, name=f"rnn_nested_{p['tag']}")


op("wide_rnn_nested", (3,), weight=0.0)((
    lambda rng, s, f: {"cell": pick(rng, ["LSTM", "GRU", "SimpleRNN"]), "units": int(rng.integers(2, 5)),
                       "merge_mode": pick(rng, ["concat", "sum", "ave", "mul"]),
                       "attention": pick(rng, [None, "mha", "dot"]), "pool": pick(rng, [None, "avg", "rnn"]),
                       "mask_inside": bool(rng.random() < 0.4), "tag": int(rng.integers(10**6))},
    _rnn_nested_make))


def _embed_nested_make(k, p, s):
    """A nested model of ``Embedding(mask_zero=True)`` on ids, its mask read by an RNN / attention / pooling / merge
    inside."""
    x = k.Input(tuple(s[0]), dtype="int32")
    e = k.layers.Embedding(VOCAB, p["dim"], mask_zero=True)(x)
    if p["reader"] == "lstm":
        h = k.layers.LSTM(p["units"], return_sequences=p["seq"])(e)
    elif p["reader"] == "mha":
        h = k.layers.MultiHeadAttention(p["heads"], 2)(e, e)
    elif p["reader"] == "merge_gru":
        h = k.layers.GRU(p["units"], return_sequences=p["seq"])(k.layers.Add()([e, k.layers.Dense(p["dim"])(e)]))
    elif p["reader"] == "td_rnn":
        h = k.layers.SimpleRNN(p["units"], return_sequences=p["seq"])(k.layers.TimeDistributed(
            k.layers.Dense(p["units"]))(e))
    else:
        h = k.layers.GlobalAveragePooling1D()(e)
    return k.Model(x, h, name=f"embed_nested_{p['tag']}")


op("wide_embed_nested", (2,), ints=True, weight=0.0)((
    lambda rng, s, f: {"dim": int(rng.integers(2, 5)), "units": int(rng.integers(2, 5)), "heads": int(pick(rng, [1, 2])),
                       "reader": pick(rng, ["lstm", "mha", "merge_gru", "td_rnn", "pool"]),
                       "seq": bool(rng.random() < 0.5), "tag": int(rng.integers(10**6))},
    _embed_nested_make))


def _shared_layer(k, p, s):
    """The layer a step calls twice: Dense, Conv1D, an LSTM, a Sequential, a functional model."""
    shape = tuple(s[0])
    if p["kind"] == "dense":
        return k.layers.Dense(p["units"], activation=p["activation"])
    if p["kind"] == "conv1d":
        return k.layers.Conv1D(p["units"], 2, padding="same")
    if p["kind"] == "lstm":
        return k.layers.LSTM(p["units"], return_sequences=True)
    return _inner_dense(k, shape, p["units"], p["activation"], "s" if p["kind"] == "sequential" else "f",
                        f"shared_{p['tag']}")


def _shared_twice_make(k, p, s):
    """One layer called on ``x`` and on ``Rescaling(x)`` (the mask of ``x`` goes with both), the two merged."""
    layer = _shared_layer(k, p, s)
    merge = getattr(k.layers, p["merge"])
    scale = k.layers.Rescaling(p["scale"], offset=p["offset"])
    return lambda x: merge()([layer(x), layer(scale(x))])


def _shared_draw(rng, s, f):
    kinds = ["dense", "sequential", "functional"] + (["conv1d", "lstm"] if len(s[0]) == 2 else [])
    return {"kind": pick(rng, kinds), "units": _units(rng, s[0]),
            "activation": activation(rng, f) if rng.random() < 0.5 else None,
            "merge": pick(rng, ["Add", "Concatenate", "Multiply", "Subtract", "Maximum"]),
            "scale": float(pick(rng, [0.5, -1.0, 2.0])), "offset": float(pick(rng, [0.0, 0.25])),
            "tag": int(rng.integers(10**6))}


op("wide_shared_twice", (2, 3, 4), weight=0.0)((_shared_draw, _shared_twice_make))


def _shared_pair_make(k, p, s):
    """One layer called on two tensors of one shape, the two merged."""
    layer = _shared_layer(k, p, s)
    merge = getattr(k.layers, p["merge"])
    return lambda x, y: merge()([layer(x), layer(y)])


op("wide_shared_pair", (2, 3, 4), arity=2, weight=0.0)((_shared_draw, _shared_pair_make))


def _multi_io_make(k, p, s):
    """A nested functional model of two inputs and two outputs; the step concatenates both, or reads one (the other
    output dead)."""
    a, b = k.Input(tuple(s[0])), k.Input(tuple(s[1]))
    first = k.layers.Add()([k.layers.Dense(p["units"])(a), k.layers.Dense(p["units"], use_bias=False)(b)])
    both = k.layers.Concatenate()([a, b])
    second = k.layers.Dense(p["units2"], activation=p["activation"])(both) if p["dense"] else both
    inner = k.Model([a, b], [first, second], name=f"multi_io_{p['tag']}")
    if p["read"] == "both":
        return lambda x, y: k.layers.Concatenate()(inner([x, y]))
    return lambda x, y: inner([x, y])[int(p["read"])]


op("wide_multi_io", (2, 3, 4), arity=2, weight=0.0)((
    lambda rng, s, f: {"units": _units(rng, s[0]), "units2": int(rng.integers(2, 6)), "dense": bool(rng.random() < 0.6),
                       "activation": activation(rng, f) if rng.random() < 0.5 else None,
                       "read": pick(rng, ["both", "both", "0", "1"]), "tag": int(rng.integers(10**6))},
    _multi_io_make))

#: Op layers with edge-case constants: signed zeros, ±Inf, NaN, exponents 0 / -1 / 0.5, negative divisors, clip
#: bounds equal or inverted, constants first, integer constants, constant arrays, overflow and denormal scales.
EDGE_FUNCS = ["pow0", "pow_neg1", "pow_half", "pow3", "recip_neg_zero", "max_neg_zero_recip", "min_inf",
              "max_neg_inf", "floordiv_neg", "floormod_neg", "clip_equal", "clip_inverted", "rsub_const", "rdiv_const",
              "add_array", "mul_int_const", "squared_diff", "divide_no_nan_zero", "round_half", "sign", "log_relu",
              "rsqrt_relu", "exp_big", "big_const", "tiny_const", "where_nan", "max_nan", "min_nan"]


def _edge_fn(k, name: str, width: int):
    """The edge function ``name`` in Keras 3 ops or (tf_keras) TF functions (op layers either way)."""
    ramp = (np.arange(width, dtype="float32") - 1.0) * 0.5
    if is_k3(k):
        o = k.ops
        table = {"pow0": lambda x: o.power(x, 0.0), "pow_neg1": lambda x: o.power(x, -1.0),
                 "pow_half": lambda x: o.power(x, 0.5), "pow3": lambda x: o.power(x, 3),
                 "recip_neg_zero": lambda x: o.divide(1.0, o.multiply(x, -0.0)),
                 "max_neg_zero_recip": lambda x: o.divide(1.0, o.maximum(x, -0.0)),
                 "min_inf": lambda x: o.minimum(x, float("inf")), "max_neg_inf": lambda x: o.maximum(x, -float("inf")),
                 "floordiv_neg": lambda x: o.floor_divide(x, -0.7), "floormod_neg": lambda x: o.mod(x, -2.5),
                 "clip_equal": lambda x: o.clip(x, 0.3, 0.3), "clip_inverted": lambda x: o.clip(x, 0.8, -0.5),
                 "rsub_const": lambda x: o.subtract(1.0, x), "rdiv_const": lambda x: o.divide(2.0, o.abs(x) + 0.5),
                 "add_array": lambda x: o.add(x, ramp), "mul_int_const": lambda x: o.multiply(x, 2),
                 "squared_diff": lambda x: o.square(o.subtract(x, 0.5)),
                 "divide_no_nan_zero": lambda x: o.divide_no_nan(x, 0.0),
                 "round_half": lambda x: o.round(o.floor(x * 4.0) * 0.5), "sign": o.sign,
                 "log_relu": lambda x: o.log(o.relu(x)), "rsqrt_relu": lambda x: o.rsqrt(o.relu(x)),
                 "exp_big": lambda x: o.exp(x * 100.0), "big_const": lambda x: x * 3e38,
                 "tiny_const": lambda x: x * 1e-40, "where_nan": lambda x: o.where(o.greater(x, 0.0), x, float("nan")),
                 "max_nan": lambda x: o.maximum(x, float("nan")), "min_nan": lambda x: o.minimum(x, float("nan"))}
    else:
        tf = _tf()
        m = tf.math
        table = {"pow0": lambda x: m.pow(x, 0.0), "pow_neg1": lambda x: m.pow(x, -1.0),
                 "pow_half": lambda x: m.pow(x, 0.5), "pow3": lambda x: m.pow(x, 3.0),
                 "recip_neg_zero": lambda x: m.divide(1.0, m.multiply(x, -0.0)),
                 "max_neg_zero_recip": lambda x: m.reciprocal(m.maximum(x, -0.0)),
                 "min_inf": lambda x: m.minimum(x, float("inf")), "max_neg_inf": lambda x: m.maximum(x, -float("inf")),
                 "floordiv_neg": lambda x: m.floordiv(x, -0.7), "floormod_neg": lambda x: m.floormod(x, -2.5),
                 "clip_equal": lambda x: tf.clip_by_value(x, 0.3, 0.3),
                 "clip_inverted": lambda x: tf.clip_by_value(x, 0.8, -0.5),
                 "rsub_const": lambda x: m.subtract(1.0, x), "rdiv_const": lambda x: m.divide(2.0, m.abs(x) + 0.5),
                 "add_array": lambda x: m.add(x, ramp), "mul_int_const": lambda x: m.multiply(x, 2),
                 "squared_diff": lambda x: m.squared_difference(x, 0.5),
                 "divide_no_nan_zero": lambda x: m.divide_no_nan(x, 0.0),
                 "round_half": lambda x: m.round(m.floor(x * 4.0) * 0.5), "sign": m.sign,
                 "log_relu": lambda x: m.log(tf.nn.relu(x)), "rsqrt_relu": lambda x: m.rsqrt(tf.nn.relu(x)),
                 "exp_big": lambda x: m.exp(x * 100.0), "big_const": lambda x: m.multiply(x, 3e38),
                 "tiny_const": lambda x: m.multiply(x, 1e-40),
                 "where_nan": lambda x: tf.where(m.greater(x, 0.0), x, float("nan")),
                 "max_nan": lambda x: m.maximum(x, float("nan")), "min_nan": lambda x: m.minimum(x, float("nan"))}
    return table[name]


op("wide_op_edge", (2, 3, 4), weight=0.0)((
    lambda rng, s, f: {"fn": pick(rng, EDGE_FUNCS)},
    lambda k, p, s: _edge_fn(k, p["fn"], int(s[0][-1]))))


# -- --args (session 30): layer arguments and mask sources the generator never varied (weight 0 without the flag) ---
#: ``--args``: these ops' weights (each 0 without the flag, so that earlier seeds still give the same models).
ARGS = False
ARGS_WEIGHTS = {"args_rnn": 3, "args_seq2seq": 2.5, "args_explicit_mask": 3, "args_norm": 2, "args_attention": 2,
                "args_masking_value": 1.5}
#: Activations an RNN's gates and cell may take (Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6``, tf_keras's
#: ``clip(0.2 x + 0.5)``).
RNN_ACTIVATIONS = ["sigmoid", "hard_sigmoid", "tanh", "relu", "softsign", "linear", "elu"]


def _args_rnn_draw(rng, s, f):
    """An RNN layer with the options the ``rnn`` op never varies: gate activations, unroll, (inert) dropouts."""
    kind = pick(rng, ["LSTM", "GRU", "SimpleRNN"])
    p = {"kind": kind, "units": int(rng.integers(2, 6)), "return_sequences": bool(rng.random() < 0.5),
         "go_backwards": bool(rng.random() < 0.3), "activation": pick(rng, RNN_ACTIVATIONS),
         "use_bias": bool(rng.random() < 0.8)}
    if kind != "SimpleRNN":
        p["recurrent_activation"] = pick(rng, RNN_ACTIVATIONS)
    if kind == "GRU":
        p["reset_after"] = bool(rng.random() < 0.5)
    if s[0][0] is not None and rng.random() < 0.4:
        p["unroll"] = True
    if rng.random() < 0.3:
        p["dropout"], p["recurrent_dropout"] = 0.25, 0.25
    if f.startswith("keras3") and rng.random() < 0.3:
        p["zero_output_for_mask"] = True
    return p


op("args_rnn", (3,), weight=0.0)((_args_rnn_draw, _conv_make))


def _seq2seq_draw(rng, s, f):
    """An encoder RNN's ``return_state`` states start a decoder RNN of the same kind on another sequence."""
    return {"kind": pick(rng, ["LSTM", "GRU", "SimpleRNN"]), "units": int(rng.integers(2, 6)),
            "bidirectional": bool(rng.random() < 0.3), "return_sequences": bool(rng.random() < 0.6),
            "enc_backwards": bool(rng.random() < 0.3), "dec_backwards": bool(rng.random() < 0.3),
            "merge_mode": pick(rng, ["concat", "sum", "ave", "mul"])}


def _seq2seq_make(k, p, s):
    def rnn(**options):
        return getattr(k.layers, p["kind"])(p["units"], **options)

    if p["bidirectional"]:  # Keras 3 rejects go_backwards on a wrapped layer
        encoder = k.layers.Bidirectional(rnn(return_state=True), merge_mode=p["merge_mode"])
        decoder = k.layers.Bidirectional(rnn(return_sequences=p["return_sequences"]), merge_mode=p["merge_mode"])
    else:
        encoder = rnn(return_state=True, go_backwards=p["enc_backwards"])
        decoder = rnn(return_sequences=p["return_sequences"], go_backwards=p["dec_backwards"])

    def call(x, y):
        states = encoder(y)[1:]
        return decoder(x, initial_state=list(states))
    return call


op("args_seq2seq", (3,), arity=2, weight=0.0)((_seq2seq_draw, _seq2seq_make))


def _explicit_mask_draw(rng, s, f):
    readers = ["lstm", "gru", "gap", "attention", "mha", "softmax", "bidi"]
    return {"reader": pick(rng, readers), "threshold": float(pick(rng, [0.3, 0.8, 1.2])),
            "units": int(rng.integers(2, 5)), "return_sequences": bool(rng.random() < 0.5),
            "mha_mask": pick(rng, ["attention_mask"] + (["query_mask", "value_mask"] if f.startswith("keras3") else []))}


def _step_mask(k, x, threshold: float, per_feature: bool = False):
    """A boolean mask computed by op layers: steps (or entries) whose largest magnitude passes ``threshold``."""
    if is_k3(k):
        o = k.ops
        return o.greater(o.abs(x), threshold) if per_feature else o.greater(o.max(o.abs(x), axis=-1), threshold)
    tf = _tf()
    if per_feature:
        return tf.math.greater(tf.math.abs(x), threshold)
    return tf.math.greater(tf.math.reduce_max(tf.math.abs(x), axis=-1), threshold)


def _explicit_mask_make(k, p, s):
    """A layer called with ``mask=`` (or an attention mask) computed from its input by op layers."""
    reader, units, seq = p["reader"], p["units"], p["return_sequences"]
    L = k.layers
    if reader == "softmax":
        layer = L.Softmax(axis=-1)
        return lambda x: layer(x, mask=_step_mask(k, x, p["threshold"], per_feature=True))
    layer = {"lstm": lambda: L.LSTM(units, return_sequences=seq), "gru": lambda: L.GRU(units, return_sequences=seq),
             "gap": lambda: L.GlobalAveragePooling1D(), "attention": lambda: L.Attention(),
             "mha": lambda: L.MultiHeadAttention(2, 2),
             "bidi": lambda: L.Bidirectional(L.SimpleRNN(units, return_sequences=seq))}[reader]()

    def call(x):
        mask = _step_mask(k, x, p["threshold"])
        if reader == "attention":
            return layer([x, x], mask=[mask, mask])
        if reader == "mha":
            if p["mha_mask"] == "attention_mask":
                square = (k.ops.expand_dims(mask, 1) if is_k3(k) else _tf().expand_dims(mask, 1))
                return layer(x, x, attention_mask=square)
            return layer(x, x, **{p["mha_mask"]: mask})
        return layer(x, mask=mask)
    return call


op("args_explicit_mask", (3,), weight=0.0)((_explicit_mask_draw, _explicit_mask_make))


def _args_norm_draw(rng, s, f):
    """Normalizations with an epsilon the other ops never vary (large ones show where it is added)."""
    kinds = ["LayerNormalization", "GroupNormalization"] + (["RMSNormalization"] if f.startswith("keras3") else [])
    kind = pick(rng, kinds)
    p = {"kind": kind, "epsilon": float(pick(rng, [1e-6, 0.1, 0.5, 2.0]))}
    if kind == "LayerNormalization":
        p.update(center=bool(rng.random() < 0.7), scale=bool(rng.random() < 0.7))
        if f.startswith("keras3") and rng.random() < 0.3:
            p["rms_scaling"] = True
    elif kind == "GroupNormalization":
        c = int(s[0][-1])
        p["groups"] = int(pick(rng, [g for g in (1, 2, c) if c % g == 0]))
    return p


op("args_norm", (2, 3, 4), weight=0.0)((_args_norm_draw, _conv_make))


def _args_attention_draw(rng, s, f):
    """MultiHeadAttention with value_dim, output_shape, a key other than the value, inert dropout; Attention and
    AdditiveAttention with dropout and a key."""
    kind = pick(rng, ["mha", "mha", "Attention", "AdditiveAttention"])
    p = {"kind": kind, "key": bool(rng.random() < 0.5), "key_units": int(rng.integers(2, 5)),
         "dropout": float(pick(rng, [0.0, 0.3]))}
    if kind == "mha":
        p.update(num_heads=int(pick(rng, [1, 2, 3])), key_dim=int(pick(rng, [1, 2, 4])),
                 value_dim=int(pick(rng, [1, 3, 5])), output_shape=pick(rng, [None, 2, 5]),
                 use_bias=bool(rng.random() < 0.7), causal=bool(rng.random() < 0.3))
    else:
        p["use_scale"] = bool(rng.random() < 0.5)
    return p


def _args_attention_make(k, p, s):
    L = k.layers
    width = int(s[0][-1])
    key_dense = L.Dense(width if p["kind"] != "mha" else p["key_units"])
    if p["kind"] == "mha":
        options = {"num_heads": p["num_heads"], "key_dim": p["key_dim"], "value_dim": p["value_dim"],
                   "use_bias": p["use_bias"], "dropout": p["dropout"]}
        if p["output_shape"] is not None:
            options["output_shape"] = p["output_shape"]
        layer = L.MultiHeadAttention(**options)
        return lambda x: layer(x, x, key=key_dense(x) if p["key"] else None, use_causal_mask=p["causal"])
    layer = getattr(L, p["kind"])(use_scale=p["use_scale"], dropout=p["dropout"])
    return lambda x: layer([x, x, key_dense(x)] if p["key"] else [x, x])


op("args_attention", (3,), weight=0.0)((_args_attention_draw, _args_attention_make))


def _masking_value_make(k, p, s):
    """``Masking(v)`` of the sequence shifted by ``v``: its zero steps (the padding) become ``v`` and are masked."""
    shift = k.layers.Rescaling(1.0, offset=p["value"])
    masking = k.layers.Masking(p["value"])
    return lambda x: masking(shift(x))


op("args_masking_value", (3,), weight=0.0)((
    lambda rng, s, f: {"value": float(pick(rng, [-1.0, 0.5, 2.0, -0.25]))}, _masking_value_make))


# -- --extra (session 31): layer families the generator never drew (weight 0 without the flag) ----------------------
#: ``--extra``: these ops' weights (each 0 without the flag, so that earlier seeds still give the same models).
EXTRA = False
EXTRA_WEIGHTS = {"extra_spectral_norm": 2, "extra_core": 2, "extra_augment": 3, "extra_category_encoding": 1.5,
                 "extra_discretization": 1.5, "extra_int_lookup": 1.5}
#: Keras 3's image layers that are not random at inference (or return their input there), by their options.
K3_AUGMENT = {"RandomGrayscale": {"factor": 0.5}, "RandomHue": {"factor": 0.3, "value_range": (0, 1)},
              "RandomSaturation": {"factor": 0.3, "value_range": (0, 1)}, "Solarization": {"addition_factor": 0.2},
              "AutoContrast": {"value_range": (0, 1)}, "RandomColorDegeneration": {"factor": 0.4},
              "RandomSharpness": {"factor": 0.4}, "RandomInvert": {}, "RandomErasing": {},
              "RandomGaussianBlur": {}, "RandomPerspective": {}, "RandomPosterization": {"factor": (2, 4)},
              "RandomColorJitter": {"brightness_factor": 0.2}, "RandomElasticTransform": {}}
#: Image layers of both flavours (inert at inference but RandomCrop, which crops or resizes there).
AUGMENT = {"RandomFlip": {}, "RandomRotation": {"factor": 0.2}, "RandomZoom": {"height_factor": 0.2},
           "RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1}, "RandomContrast": {"factor": 0.3},
           "RandomBrightness": {"factor": 0.2}}


def _spectral_norm_draw(rng, s, f):
    """SpectralNormalization around a Dense, Conv1D or Conv2D (inference: the wrapped layer with its kernel)."""
    rank = len(s[0])
    kind = pick(rng, ["Dense"] + (["Conv1D"] if rank == 3 else []) + (["Conv2D"] if rank == 4 else []))
    return {"kind": kind, "units": int(rng.integers(2, 6)), "power_iterations": int(pick(rng, [1, 2])),
            "activation": pick(rng, [None, "relu", "tanh"])}


def _spectral_norm_make(k, p, s):
    inner = (k.layers.Dense(p["units"], activation=p["activation"]) if p["kind"] == "Dense"
             else getattr(k.layers, p["kind"])(p["units"], 2, padding="same", activation=p["activation"]))
    return k.layers.SpectralNormalization(inner, power_iterations=p["power_iterations"])


def _extra_core_draw(rng, s, f):
    """tf_keras's LocallyConnected1D/2D and ThresholdedReLU; ActivityRegularization (identity at inference)."""
    rank, known = len(s[0]), all(d is not None for d in s[0][1:])
    kinds = ["ActivityRegularization"]
    if f.startswith("tf_keras"):
        kinds += ["ThresholdedReLU", "ThresholdedReLU"]
        kinds += ["LocallyConnected1D"] * 3 if rank == 3 and known else []
        kinds += ["LocallyConnected2D"] * 3 if rank == 4 and known else []
    kind = pick(rng, kinds)
    return {"kind": kind, "theta": float(pick(rng, [0.0, 0.5, -0.3])), "units": int(rng.integers(2, 5)),
            "kernel": int(pick(rng, [1, 2, 3])), "strides": int(pick(rng, [1, 2])),
            "implementation": int(pick(rng, [1, 2, 3])), "use_bias": bool(rng.random() < 0.8)}


def _extra_core_make(k, p, s):
    L = k.layers
    if p["kind"] == "ActivityRegularization":
        return L.ActivityRegularization(l1=0.01, l2=0.01)
    if p["kind"] == "ThresholdedReLU":
        return L.ThresholdedReLU(theta=p["theta"])
    return getattr(L, p["kind"])(p["units"], p["kernel"], strides=p["strides"], implementation=p["implementation"],
                                 use_bias=p["use_bias"])


def _augment_draw(rng, s, f):
    names = list(AUGMENT) + ["RandomCrop"] * 2 + (list(K3_AUGMENT) if f.startswith("keras3") else ["RandomHeight",
                                                                                                    "RandomWidth"])
    kind = pick(rng, names)
    p = {"kind": kind}
    if kind == "RandomCrop":
        h, w = s[0][1], s[0][2]
        if h is None or w is None:
            return {"kind": "RandomFlip"}
        p.update(height=int(rng.integers(max(1, h - 3), h + 1)), width=int(rng.integers(max(1, w - 3), w + 1)))
    return p


def _augment_make(k, p, s):
    L, kind = k.layers, p["kind"]
    if kind == "RandomCrop":
        return L.RandomCrop(p["height"], p["width"])
    if kind in ("RandomHeight", "RandomWidth"):
        return getattr(L, kind)(0.2)
    return getattr(L, kind)(**(AUGMENT.get(kind) or K3_AUGMENT.get(kind, {})))


def _category_encoding_draw(rng, s, f):
    return {"mode": pick(rng, ["multi_hot", "count", "one_hot"]), "extra": int(pick(rng, [0, 3]))}


def _discretization_draw(rng, s, f):
    bounds = sorted({round(float(v), 2) for v in rng.standard_normal(int(rng.integers(1, 5)))})
    return {"bin_boundaries": bounds, "mode": pick(rng, ["int", "int", "one_hot", "multi_hot", "count"])}


def _int_lookup_draw(rng, s, f):
    vocab = sorted(int(v) for v in rng.choice(np.arange(1, VOCAB), int(rng.integers(2, 7)), replace=False))
    return {"kind": pick(rng, ["IntegerLookup", "Hashing"]), "vocabulary": vocab,
            "num_oov_indices": int(pick(rng, [1, 2])), "num_bins": int(pick(rng, [3, VOCAB])),
            "mask_token": pick(rng, [None, 0])}


def _int_lookup_make(k, p, s):
    if p["kind"] == "Hashing":
        return k.layers.Hashing(p["num_bins"])
    return k.layers.IntegerLookup(vocabulary=p["vocabulary"], num_oov_indices=p["num_oov_indices"],
                                  mask_token=p["mask_token"])


op("extra_spectral_norm", (2, 3, 4), weight=0.0)((_spectral_norm_draw, _spectral_norm_make))
op("extra_core", (2, 3, 4), weight=0.0)((_extra_core_draw, _extra_core_make))
op("extra_augment", (4,), weight=0.0)((_augment_draw, _augment_make))
op("extra_category_encoding", (2,), ints=True, weight=0.0)((
    _category_encoding_draw,
    lambda k, p, s: k.layers.CategoryEncoding(VOCAB + p["extra"], output_mode=p["mode"])))
op("extra_discretization", (2, 3), weight=0.0, int_out=True)((
    _discretization_draw,
    lambda k, p, s: k.layers.Discretization(bin_boundaries=p["bin_boundaries"], output_mode=p["mode"])))
op("extra_int_lookup", (2,), ints=True, weight=0.0, int_out=True)((_int_lookup_draw, _int_lookup_make))


# -- recipes ---------------------------------------------------------------------------------------------------------
INPUT_KINDS = ["vec", "seq", "seq", "img", "img", "ids", "ids", "masked_seq", "int_vec", "seq_dyn", "img_dyn",
               "ids64", "uint8_img"]
#: ``--dynamic``'s first input: one of these, sizes besides the last one unknown (``vol_dyn``: a rank-5 volume).
DYNAMIC_INPUT_KINDS = ["seq_dyn", "seq_dyn", "img_dyn", "img_dyn", "ids_dyn", "masked_seq_dyn", "vol_dyn"]


def base_kind(spec: dict) -> str:
    """The kind an input is fed as: ``ids_dyn`` is fed like ``ids``, ``masked_seq_dyn`` like ``masked_seq``."""
    return spec["kind"].removesuffix("_dyn")


def draw_input(rng, kinds: list[str] = INPUT_KINDS) -> dict:
    kind = pick(rng, kinds)
    if kind.endswith("_dyn"):  # None axes Keras leaves to the run
        spec = draw_input_of(base_kind({"kind": kind}), rng)
        spec["feed"] = list(spec["shape"])
        spec["shape"] = ([None] + spec["shape"][1:] if kind in ("seq_dyn", "masked_seq_dyn")
                         else [None] if kind == "ids_dyn" else [None] * (len(spec["shape"]) - 1) + spec["shape"][-1:])
        return dict(spec, kind=kind)
    if kind == "ids64":
        return dict(draw_input_of("ids", rng), kind=kind)
    if kind == "uint8_img":
        return dict(draw_input_of("img", rng), kind=kind)
    if kind in FLOAT64_INPUT_KINDS:
        return dict(draw_input_of(kind.removesuffix("64"), rng), kind=kind)
    return draw_input_of(kind, rng)


def draw_input_of(kind: str, rng) -> dict:
    if kind == "vec":
        shape = [int(rng.integers(2, 9))]
    elif kind in ("seq", "masked_seq"):
        shape = [int(rng.integers(3, 8)), int(rng.integers(2, 6))]
    elif kind == "img":
        shape = [int(rng.integers(4, 10)), int(rng.integers(4, 10)), int(rng.integers(1, 5))]
    elif kind == "vol":
        shape = [int(rng.integers(2, 5)), int(rng.integers(3, 6)), int(rng.integers(3, 6)), int(rng.integers(1, 3))]
    else:
        shape = [int(rng.integers(3, 8))]
    return {"kind": kind, "shape": shape}


def input_dtype(spec: dict) -> str:
    return {"ids": "int32", "int_vec": "int32", "ids64": "int64", "uint8_img": "uint8", "seq64": "float64",
            "vec64": "float64"}.get(base_kind(spec), FLOAT)


@dataclass
class Built:
    model: Any
    recipe: dict
    layers: list[str] = field(default_factory=list)


def _call(fn, xs):
    return fn(xs) if isinstance_merge(fn) else fn(*xs)


def isinstance_merge(fn) -> bool:
    """Keras merge layers take one list; everything else here takes positional tensors."""
    return type(fn).__name__ in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")


def _shape(t) -> tuple:
    return tuple(t.shape)[1:]


def _is_int(t) -> bool:
    return "int" in str(t.dtype)


def _unknown(t) -> bool:
    """A tensor with sizes besides the batch left to the run."""
    return None in _shape(t)


#: ``--boost NAME=FACTOR,...``: ops drawn that many times more often (``op_s15_unary=10``), to aim a run at a family.
#: A NAME may be a shell pattern (``'extra_*=4'``: every ``--extra`` step); an op matched by several patterns takes
#: the product of their factors.
BOOSTS: dict[str, float] = {}


def boost_of(name: str) -> float:
    """The product of the ``--boost`` factors whose pattern matches ``name`` (1 when none does)."""
    return float(np.prod([factor for pattern, factor in BOOSTS.items() if fnmatch.fnmatchcase(name, pattern)]))


def weight_of(o: Op) -> float:
    weight = DYNAMIC_WEIGHTS.get(o.name, o.weight) if DYNAMIC else o.weight
    weight = WIDE_WEIGHTS.get(o.name, weight) if WIDE else weight
    weight = ARGS_WEIGHTS.get(o.name, weight) if ARGS else weight
    return (EXTRA_WEIGHTS.get(o.name, weight) if EXTRA else weight) * boost_of(o.name)


class Builder:
    """Applies recipe steps to Keras tensors; ``draw`` adds random steps, ``replay`` rebuilds a recipe."""

    def __init__(self, flavor: str, rng=None) -> None:
        self.flavor, self.k, self.rng = flavor, keras_of(flavor), rng
        self.tensors: list[Any] = []
        self.layers: dict[int, Any] = {}   # step index -> layer object (shareable)
        self.used: Counter = Counter()
        self.inputs: list[Any] = []
        self._steps: list[dict] = []
        self.shapes: list[tuple] = []      # every step's output shape, nested models' steps included

    def add_input(self, spec: dict, index: int) -> None:
        k = self.k
        x = k.Input(tuple(spec["shape"]), dtype=input_dtype(spec), name=f"in{index}")
        self.inputs.append(x)
        if base_kind(spec) == "masked_seq":
            x = k.layers.Masking(0.0, name=f"masking_in{index}")(x)
        self.tensors.append(x)

    def apply(self, step: dict, index: int, *, in_nested: bool = False) -> Any:
        k, name = self.k, step["op"]
        xs = [self.tensors[i] for i in step["in"]]
        shapes = [_shape(x) for x in xs]
        if name == "reuse":
            fn = self.layers[step["p"]["of"]]
        elif name == "nested":
            fn = self._nested(step["p"], shapes[0], index)
        else:
            try:
                with dtype_policy(k, step.get("dtype")):
                    fn = OPS[name].make(k, step["p"], shapes)
            except Exception as exc:  # noqa: BLE001 - Keras rejects the options
                raise Skip(f"{type(exc).__name__}: {exc}") from exc
        try:
            out = _call(fn, xs)
        except Exception as exc:  # noqa: BLE001 - Keras rejects the combination
            raise Skip(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(out, (list, tuple)):
            raise Skip("several outputs")
        if hasattr(fn, "built") and name != "reuse":
            self.layers[index] = fn
        self.shapes.append(_shape(out))
        return out

    def _nested(self, p: dict, shape: tuple, index: int):
        k = self.k
        inner = Builder(self.flavor)
        inner.inputs, inner.shapes = [], self.shapes
        x = k.Input(shape, dtype=FLOAT, name=f"nested_in{index}")
        inner.tensors = [x]
        for j, step in enumerate(p["steps"]):
            inner.tensors.append(inner.apply(step, j + 1))
        if p.get("sequential"):
            layers = [inner.layers[j + 1] for j in range(len(p["steps"]))]
            return k.Sequential([k.Input(shape), *layers], name=f"nested_seq_{index}")
        return k.Model(x, inner.tensors[-1], name=f"nested_{index}")

    # -- drawing --
    def candidates(self, need_ints: bool, ranks: tuple[int, ...]) -> list[int]:
        return [i for i, t in enumerate(self.tensors) if _is_int(t) == need_ints and len(t.shape) in ranks]

    def draw_step(self, index: int) -> dict | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.07 and self.layers:
            return self._draw_reuse()
        if roll < 0.13:
            return self._draw_nested()
        ops = [o for o in OPS.values() if weight_of(o) > 0 and self.candidates(o.ints, o.ranks)]
        masked = any(getattr(t, "_keras_mask", None) is not None for t in self.tensors)
        consumers = ("rnn", "bidirectional", "rnn_cells", "global_pool1d", "self_attention", "dot_attention",
                     "merge", "concatenate", "nested", "time_distributed", "wide_rnn_nested", "wide_td_nested",
                     "wide_shared_twice", "wide_shared_pair", "wide_nested_deep", "wide_multi_io", "args_rnn",
                     "args_seq2seq", "args_attention")
        weights = np.array([weight_of(o) * (3 if o.ints else 1) * (2 if masked and o.name in consumers else 1)
                            * (3 if DYNAMIC and o.name in DYNAMIC_WEIGHTS
                               and any(_unknown(self.tensors[i]) for i in self.candidates(o.ints, o.ranks)) else 1)
                            for o in ops])
        o = ops[int(rng.choice(len(ops), p=weights / weights.sum()))]
        firsts = self.candidates(o.ints, o.ranks)
        first = self._prefer_recent(firsts)
        ins = [first]
        if o.arity == 2:
            partners = self._partners(o, first)
            if not partners:
                return None
            ins.append(int(pick(rng, partners)))
        return with_policy(rng, {"op": o.name, "in": ins,
                                 "p": o.draw(rng, [_shape(self.tensors[i]) for i in ins], self.flavor)})

    def _prefer_recent(self, idx: list[int]) -> int:
        rng = self.rng
        used = np.array([1.0 / (1 + self.used[i]) * (1 + i) * (4 if DYNAMIC and _unknown(self.tensors[i]) else 1)
                         for i in idx])
        return int(idx[int(rng.choice(len(idx), p=used / used.sum()))])

    def _partners(self, o: Op, first: int) -> list[int]:
        s = _shape(self.tensors[first])
        out = []
        for i, t in enumerate(self.tensors):
            if _is_int(t) or i == first and self.rng.random() < 0.7:
                continue
            u = _shape(t)
            if o.name in ("merge", "op_binary", "op_binary_more"):
                ok = len(u) == len(s) and all(a == b or a == 1 or b == 1 for a, b in zip(s, u))
                # Keras's merge layers expand a lower-rank input at axis 1: [B, F] with [B, T, F]
                ok = ok or o.name == "merge" and 0 < len(u) < len(s) and tuple(s[len(s) - len(u):]) == tuple(u)
            elif o.name == "concatenate":
                ok = len(u) == len(s) and sum(a != b for a, b in zip(s, u)) <= 1
            elif o.name == "dot":
                ok = len(u) == len(s)
            elif o.name == "merge_broadcast":
                ok = len(u) == 1 and u[-1] == s[-1]
            elif o.name == "wide_shared_pair":  # one layer called on both
                ok = u == s
            elif o.name == "wide_multi_io":  # concatenated on the last axis inside
                ok = len(u) == len(s) and u[:-1] == s[:-1]
            elif o.name == "take_ids":  # ids (the first) into a float tensor's last axis
                ok = u[-1] is not None
            elif o.name == "args_seq2seq":  # an encoder sequence: any steps, a known width
                ok = len(u) == 2 and u[-1] is not None
            else:  # cross attention: same batch, any steps (before --args it paired rank-4 tensors: kept for old seeds)
                ok = len(u) == (2 if ARGS else 3)
            if ok:
                out.append(i)
        # broadcasting partners: a rank-2 [B, F] against a rank-3 [B, T, F] through Reshape((1, F))
        return out

    def _draw_reuse(self) -> dict | None:
        rng = self.rng
        j = int(pick(rng, sorted(self.layers)))
        layer = self.layers[j]
        try:
            want = tuple(layer.input.shape)[1:] if not isinstance(layer.input, list) else None
        except Exception:  # noqa: BLE001 - a layer called on several inputs
            want = None
        if want is None:
            return None
        same = [i for i, t in enumerate(self.tensors) if not _is_int(t) and len(_shape(t)) == len(want)
                and _shape(t)[-1] == want[-1] and i not in self._inputs_of(j)]
        if not same:
            return None
        return {"op": "reuse", "in": [int(pick(rng, same))], "p": {"of": j}}

    def _inputs_of(self, step_index: int) -> list[int]:
        return self._steps[step_index]["in"] if step_index < len(self._steps) else []

    def _draw_nested(self) -> dict | None:
        rng = self.rng
        idx = [i for i, t in enumerate(self.tensors) if not _is_int(t) and len(t.shape) in (2, 3, 4)]
        if not idx:
            return None
        first = self._prefer_recent(idx)
        inner = Builder(self.flavor, rng)
        inner.inputs = []
        inner.tensors = [self.k.Input(_shape(self.tensors[first]), name="probe")]
        inner._steps = [{}]
        steps = []
        for _ in range(int(rng.integers(1, 4))):
            cands = [o for o in OPS.values() if o.arity == 1 and not o.ints and weight_of(o) > 0 and o.name != "masking"
                     and len(inner.tensors[-1].shape) in o.ranks]
            if not cands:
                break
            o = pick(rng, cands)
            try:
                step = with_policy(rng, {"op": o.name, "in": [len(inner.tensors) - 1],
                                         "p": o.draw(rng, [_shape(inner.tensors[-1])], self.flavor)})
                inner.tensors.append(inner.apply(step, len(inner.tensors)))
            except Skip:
                continue
            if not hasattr(inner.layers.get(len(inner.tensors) - 1), "built"):
                inner.tensors.pop()  # op layers: keep nested models of layers (Sequential-able)
                continue
            step["in"] = [len(steps)]
            inner._steps.append(step)
            steps.append(step)
        if not steps:
            return None
        return {"op": "nested", "in": [first], "p": {"steps": steps, "sequential": bool(rng.random() < 0.4)}}


def draw_recipe(seed: int, flavor: str) -> dict:
    """A random recipe Keras accepts (each step tried as it is drawn)."""
    rng = np.random.default_rng(seed)
    n_inputs = int(pick(rng, [1, 1, 1, 2, 2, 3]))
    recipe = {"seed": seed, "flavor": flavor, "steps": [], "outputs": [],
              "inputs": [draw_input(rng, DYNAMIC_INPUT_KINDS if DYNAMIC and i == 0
                                    else INPUT_KINDS + (FLOAT64_INPUT_KINDS if POLICY_RATE else []))
                         for i in range(n_inputs)]}
    b = Builder(flavor, rng)
    b.inputs = []
    b._steps = [{} for _ in recipe["inputs"]]
    for i, spec in enumerate(recipe["inputs"]):
        b.add_input(spec, i)
    target = int(rng.integers(3, 11))
    tries = 0
    while len(recipe["steps"]) < target and tries < 60:
        tries += 1
        index = len(b.tensors)
        try:
            step = b.draw_step(index)
        except Exception:  # noqa: BLE001 - nothing fits this draw
            continue
        if step is None:
            continue
        try:
            out = b.apply(step, index)
        except (Skip, KeyError, ValueError, TypeError):
            continue
        if _is_int(out) and not (step["op"] in OPS and OPS[step["op"]].int_out) or "bool" in str(out.dtype) \
                or 0 in tuple(out.shape)[1:]:
            continue  # empty tensors: TensorFlow's kernels may divide by zero (SIGFPE) on them
        b.tensors.append(out)
        b._steps.append(step)
        for i in step["in"]:
            b.used[i] += 1
        recipe["steps"].append(step)
    # outputs: float leaves (never inputs), the last step always; at most 3
    n_in = len(recipe["inputs"])
    leaves = [i for i in range(n_in, len(b.tensors)) if b.used[i] == 0 and not _is_int(b.tensors[i])]
    if not leaves:
        raise Skip("no float output")
    recipe["outputs"] = leaves[-4:]
    recipe = prune(recipe)
    if DYNAMIC and not any(0 in step["in"] for step in recipe["steps"]):
        raise Skip("the outputs do not read the input of unknown sizes")
    if has_unknown_sizes(recipe) and not sizes_safe(recipe, first_feeds(recipe)):
        raise Skip("an empty tensor at the fed sizes")
    try:  # Keras's symbolic shapes can accept what its eager run rejects
        model = build(recipe)
        keras_outputs(model, make_inputs(recipe, seed + 2))
    except Exception as exc:  # noqa: BLE001
        raise Skip(f"Keras fails to run it: {type(exc).__name__}") from exc
    if has_unknown_sizes(recipe):
        draw_second_sizes(recipe, model, seed)
        if DYNAMIC and "second" not in recipe:
            raise Skip("Keras runs no second set of sizes")
    return recipe


PADDED_KINDS = ("ids", "ids64", "masked_seq")


def has_unknown_sizes(recipe: dict) -> bool:
    return any("feed" in spec for spec in recipe["inputs"])


def draw_second_sizes(recipe: dict, model: Any, seed: int, attempts: int = 6) -> None:
    """``recipe["second"]``: another batch and other sizes for every unknown axis, that Keras runs.

    A lowering over unknown sizes can bake in the size it was converted at; this set is fed to the same converted
    model. Equal sizes on the same axis of several inputs stay equal (merges need them), other ones move
    independently; later attempts only grow (valid convolutions, crops need room). Sizes go down to 1 (2 for the
    padded inputs: ids, masked steps).
    """
    rng = np.random.default_rng(seed + 7)
    for attempt in range(attempts):
        mapping: dict[tuple[int, int], int] = {}
        feeds = []
        for spec in recipe["inputs"]:
            if "feed" not in spec:
                feeds.append(list(spec["shape"]))
                continue
            feed = []
            for axis, (declared, size) in enumerate(zip(spec["shape"], spec["feed"])):
                if declared is None and (axis, size) not in mapping:
                    # one step / row now and then (squeezes); ids and masked steps need two (a padded tail)
                    low = size + 1 if attempt >= attempts // 2 else 2 if base_kind(spec) in PADDED_KINDS else 1
                    mapping[axis, size] = int(pick(rng, [n for n in range(low, size + 6 + attempt) if n != size]))
                feed.append(size if declared is not None else mapping[axis, size])
            feeds.append(feed)
        second = {"batch": int(pick(rng, SECOND_BATCHES)), "feed": feeds}
        if not sizes_safe(recipe, feeds):
            continue
        try:
            keras_outputs(model, make_inputs(dict(recipe, second=second), seed + 3, second=True))
        except Exception:  # noqa: BLE001 - Keras rejects these sizes: draw others
            continue
        recipe["second"] = second
        return


def size_pair(recipe: dict) -> str:
    """The two run-time input sizes, e.g. ``in0 [3, 5, 4] -> [1, 8, 4]`` (empty for static models)."""
    second = recipe.get("second")
    if second is None:
        return ""
    return "; ".join(f"in{i} {[BATCH, *spec['feed']]} -> {[second['batch'], *second['feed'][i]]}"
                     for i, spec in enumerate(recipe["inputs"]) if "feed" in spec)


def build(recipe: dict) -> Any:
    """The Keras model of ``recipe`` (unused inputs are still inputs)."""
    return replay(recipe)[0]


def sizes_safe(recipe: dict, feeds: list[list[int]]) -> bool:
    """Keras builds the recipe at these static input sizes without an empty tensor anywhere.

    TensorFlow's kernels may divide by zero on empty tensors (SIGFPE kills the bench), and a model of unknown sizes
    only shows them when it runs: so the sizes are checked on a symbolic build (no kernel runs) before Keras runs.
    """
    static = dict(recipe, inputs=[dict(spec, shape=list(feed)) for spec, feed in zip(recipe["inputs"], feeds)])
    try:
        _, builder = replay(static)
    except Exception:  # noqa: BLE001 - Keras rejects these sizes
        return False
    return all(0 not in shape for shape in builder.shapes)


def replay(recipe: dict) -> tuple[Any, Builder]:
    """The Keras model of ``recipe`` and the builder that made it (its ``shapes``)."""
    k = keras_of(recipe["flavor"])
    b = Builder(recipe["flavor"])
    b.inputs = []
    b._steps = [{} for _ in recipe["inputs"]]
    for i, spec in enumerate(recipe["inputs"]):
        b.add_input(spec, i)
    for step in recipe["steps"]:
        index = len(b.tensors)
        b.tensors.append(b.apply(step, index))
        b._steps.append(step)
    outs = [b.tensors[i] for i in recipe["outputs"]]
    return k.Model(b.inputs, outs if len(outs) > 1 else outs[0], name=f"random_{recipe['seed']}"), b


def first_feeds(recipe: dict) -> list[list[int]]:
    return [list(spec.get("feed", spec["shape"])) for spec in recipe["inputs"]]


def fed_sizes_safe(recipe: dict) -> bool:
    """:func:`sizes_safe` at the sizes the recipe is fed (both sets)."""
    return sizes_safe(recipe, first_feeds(recipe)) and ("second" not in recipe
                                                         or sizes_safe(recipe, recipe["second"]["feed"]))


# -- weights and inputs ----------------------------------------------------------------------------------------------
def randomize(model: Any, seed: int) -> None:
    """Every float weight random; BatchNorm variances positive, scales around 1, integer state untouched."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name = (getattr(w, "path", None) or w.name).lower()
        shape = tuple(w.shape)
        current = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
        if current.dtype.kind not in "f":
            values.append(current)
        elif "variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape).astype(current.dtype))
        elif "gamma" in name:
            values.append((1.0 + 0.2 * rng.standard_normal(shape)).astype(current.dtype))
        else:
            values.append((0.4 * rng.standard_normal(shape)).astype(current.dtype))
    model.set_weights(values)


def make_inputs(recipe: dict, seed: int, *, second: bool = False) -> list[np.ndarray]:
    """Inputs with edge cases: ids padded with zeros (one row fully padded now and then), masked steps of zeros.

    ``second``: at the recipe's second sizes (``recipe["second"]``: another batch, other unknown sizes).
    """
    rng = np.random.default_rng(seed)
    batch = recipe["second"]["batch"] if second else BATCH
    arrays = []
    for i, spec in enumerate(recipe["inputs"]):
        shape = (batch, *(recipe["second"]["feed"][i] if second else spec.get("feed", spec["shape"])))
        kind = base_kind(spec)
        if kind == "uint8_img":
            arrays.append(rng.integers(0, 256, shape).astype("uint8"))
            continue
        if kind in ("ids", "ids64"):
            x = rng.integers(1, VOCAB, shape).astype("int32")
            steps = shape[1]
            lengths = [steps, int(rng.integers(1, steps)), int(pick(rng, [0, 1, steps - 1]))]
            lengths += [int(rng.integers(0, steps + 1)) for _ in range(batch - len(lengths))]
            for row, n in enumerate(lengths[:batch]):
                x[row, n:] = 0
            arrays.append(x)
        elif kind == "int_vec":
            arrays.append(rng.integers(0, VOCAB, shape).astype("int32"))
        else:
            x = rng.standard_normal(shape).astype("float32")
            if kind in FLOAT64_INPUT_KINDS:
                x = x.astype("float64")
            if kind == "masked_seq":
                steps = shape[1]
                x[0, steps - 1:] = 0.0
                if batch > 1:
                    x[1, int(rng.integers(1, steps)):] = 0.0
                if batch > 2:
                    x[2, int(rng.integers(0, steps))] = 0.0  # a masked step in the middle
            arrays.append(x)
    return arrays


def keras_outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    got = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(o) for o in (got if isinstance(got, (list, tuple)) else [got])]


# -- conversion and TF.js --------------------------------------------------------------------------------------------
def convert(path: Path, out: Path, *, traced: bool = False) -> tuple[int, str, list[str]]:
    """``python -m tfjsconv convert`` in a fresh process: (exit code, the last lines of stderr, its notices)."""
    cmd = ["nice", "-n", "5", PYTHON, "-m", "tfjsconv", "convert", str(path), str(out), "--overwrite", "true"]
    if FORMAT == "graph" or traced:  # the traced check is TensorFlow's graph: a graph model either way
        cmd += ["--output_format", "tfjs_graph_model"]
    if traced:
        cmd += ["--loader", "tensorflow"]
    env = dict(os.environ)
    if SNAPSHOT:  # convert with this copy of tfjsconv (a stable tree while others edit the work tree)
        env["PYTHONPATH"] = SNAPSHOT
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    text = proc.stderr.strip().replace(str(path.parent) + "/", "")
    return proc.returncode, text[-1500:], conversion_notices(proc.returncode, proc.stdout, text)


#: TensorFlow's / absl's own log lines (``I0000 00:00:...``), not the converter's.
TF_LOG_LINE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
#: A notice naming a layer (the lowering's warnings: ``layer 'conv1d' (Conv1D): its bias ...``).
NAMES_A_LAYER = re.compile(r"\blayer '[^']+'")


def conversion_notices(code: int, stdout: str, stderr: str) -> list[str]:
    """What a successful conversion told its user: the summary's notice lines on stdout (``special values: ...``;
    not its ``weights:`` / ``graph:`` facts) and the warnings logged on stderr (a deviation the lowering names)."""
    if code != 0:
        return []
    summary = [ln[2:] for ln in stdout.splitlines()
               if ln.startswith("  ") and not ln.startswith("   ") and not ln[2:].startswith(("weights:", "graph:"))]
    logged = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not TF_LOG_LINE.match(ln)]
    return summary + logged


#: The float16 notice (``float_widths.WidthNotices``) lists the layers it names without quotes; each result "equal
#: Keras's or about one float16 step from them", compounding over a stack. A model past ``HALF_BOUND`` stays WRONG.
HALF_NOTICE = "layer(s) Keras computes in float16 are computed in float32"
HALF_BOUND = 5e-3  # ten float16 steps (2^-11 each) of the output range


def half_named(case: Case) -> bool:
    """A float16 model within ``HALF_BOUND`` whose conversion printed the float16 notice: the deviation it told of."""
    worst = max((e if e is not None else float("inf") for e in case.errors.values()), default=float("inf"))
    return has_float16(case.recipe) and worst <= HALF_BOUND and any(HALF_NOTICE in n for n in case.notices)


def named_notices(case: Case) -> list[str]:
    """The conversion's notices that name a layer: a WRONG model with one is the deviation the conversion told of
    (``wrong (named)``); the generic special-values line names no layer and explains nothing by itself."""
    return [n for n in case.notices if NAMES_A_LAYER.search(n)]


def run_tfjs(items: list[tuple[str, Path, list[tuple[str, np.ndarray]]]], work: Path) -> dict[str, dict[str, Any]]:
    """Every (id, model folder, inputs) on cpu and wasm: id -> backend -> batch-runner doc."""
    from onnx_backend import run_jobs, write_job

    jobs = [write_job(i, d, work / "jobs", feeds) for i, d, feeds in items]
    docs: dict[str, dict[str, Any]] = {i: {} for i, _, _ in items}
    for backend in BACKENDS:
        got = run_jobs(jobs, backend, work) if jobs else {}
        for job in jobs:  # a wasm fault can poison later jobs of the process: rerun those alone
            if "memory access out of bounds" in str(got.get(job.id, {}).get("error", "")):
                (work / "alone").mkdir(exist_ok=True)
                got.update(run_jobs([job], backend, work / "alone"))
        for job_id, doc in got.items():
            docs[job_id][backend] = doc
    return docs


def feeds_for(out: Path, recipe: dict, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    signature = json.loads((out / "model.json").read_text(encoding="utf-8")).get("signature") or {}
    keys = list((signature.get("inputs") or {}).keys())
    names = [f"in{i}" for i in range(len(inputs))]
    if sorted(keys) != sorted(names):
        names = keys or names
    return list(zip(names, inputs))


def error_ratio(want: np.ndarray, got: np.ndarray) -> float | None:
    """max|got - want| / max|want| over finite values (None when shapes differ)."""
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if want.shape != got.shape:
        return None
    finite = np.isfinite(want)
    if (np.isnan(want) != np.isnan(got)).any() or (np.isinf(want) != np.isinf(got)).any() \
            or (np.isinf(want) & (want != got)).any():  # +Inf where Keras has -Inf
        return float("inf")
    if not finite.any():
        return 0.0
    scale = float(np.abs(want[finite]).max()) or 1.0
    return float(np.abs(got[finite] - want[finite]).max() / scale)


def classify_run(expected: list[np.ndarray], docs: dict[str, Any]) -> tuple[str, str, dict[str, float | None]]:
    """('pass' | 'WRONG' | 'TF.js error', detail, backend -> worst error ratio)."""
    from onnx_backend import read_outputs

    worst: dict[str, float | None] = {}
    problems = []
    for backend in BACKENDS:
        doc = docs.get(backend) or {"ok": False, "stage": "?", "error": "not run"}
        if not doc.get("ok"):
            return "TF.js error", f"{backend} {doc.get('stage')}: {str(doc.get('error'))[:300]}", worst
        got = list(read_outputs(doc).values())
        if len(got) != len(expected):
            return "WRONG", f"{backend}: {len(got)} outputs, Keras has {len(expected)}", worst
        ratios = []
        for i, (want, have) in enumerate(zip(expected, got)):
            r = error_ratio(want, have)
            ratios.append(float("inf") if r is None else r)
            if r is None:
                problems.append(f"{backend} output {i}: shape {list(have.shape)} != Keras {list(want.shape)}")
            elif r > RTOL:
                problems.append(f"{backend} output {i}: error {r:.2e} of max|ref| {np.abs(want).max():.3g}")
        worst[backend] = max(ratios) if ratios else 0.0
    return ("WRONG", "; ".join(problems[:4]), worst) if problems else ("pass", "", worst)


def summarize_refusal(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    bullets = [ln[2:] for ln in lines if ln.startswith("- ")]
    head = next((ln for ln in lines if "error" in ln.lower() or "does not cover" in ln or "refus" in ln), lines[0] if lines else "")
    return (head + (" | " + "; ".join(bullets) if bullets else ""))[:500]


# -- one model, many models ------------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    recipe: dict
    path: Path | None = None
    inputs: list[np.ndarray] = field(default_factory=list)
    expected: list[np.ndarray] = field(default_factory=list)
    status: str = "?"
    detail: str = ""
    errors: dict[str, float | None] = field(default_factory=dict)
    traced: dict[str, Any] | None = None
    layers: list[str] = field(default_factory=list)
    inputs2: list[np.ndarray] = field(default_factory=list)      # at the second sizes (models of unknown sizes)
    expected2: list[np.ndarray] = field(default_factory=list)
    by_sizes: dict[str, str] = field(default_factory=dict)       # "first" / "second" -> that run's status
    f64: dict[str, Any] | None = None                            # check_float64's errors of a WRONG model
    notices: list[str] = field(default_factory=list)             # what the (lowered) conversion printed as notices

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "flavor": self.recipe["flavor"], "seed": self.recipe["seed"], "status": self.status,
                "detail": self.detail, "errors": self.errors, "traced": self.traced, "layers": self.layers,
                "sizes": size_pair(self.recipe), "by_sizes": self.by_sizes, "float64": self.f64,
                "notices": self.notices, "recipe": self.recipe}


def layer_summary(model: Any) -> list[str]:
    out = []
    for layer in model.layers:
        name = type(layer).__name__
        if name in ("Functional", "Sequential"):
            out.append(f"{name}[{', '.join(layer_summary(layer))}]")
        elif name in ("TFOpLambda", "SlicingOpLambda"):
            out.append(f"{name}({layer.get_config().get('function')})")
        elif name != "InputLayer":
            out.append(name)
    return out


def save_case(case: Case, folder: Path) -> None:
    """Build, randomize, compute Keras's outputs, save."""
    k = keras_of(case.recipe["flavor"])
    model = build_randomized(case.recipe)
    case.inputs = make_inputs(case.recipe, case.recipe["seed"] + 2)
    case.expected = keras_outputs(model, case.inputs)
    if "second" in case.recipe:
        case.inputs2 = make_inputs(case.recipe, case.recipe["seed"] + 3, second=True)
        case.expected2 = keras_outputs(model, case.inputs2)
    case.layers = layer_summary(model)
    suffix = case.recipe["flavor"].split(".", 1)[1]
    folder.mkdir(parents=True, exist_ok=True)
    case.path = folder / f"model.{suffix}"
    model.save(case.path)
    del model, k


def evaluate(cases: list[Case], work: Path, *, progress: Callable[[str], None] = print, workers: int = 2,
             traced_check: bool = True, trace_refused: bool = False) -> None:
    """Save, convert (``workers`` processes at once), run in TF.js and classify every case."""
    converted: dict[str, tuple[int, str, list[str]]] = {}
    with ThreadPoolExecutor(workers) as pool:
        futures = {}
        for n, case in enumerate(cases):
            try:
                save_case(case, work / case.id)
            except Exception as exc:  # noqa: BLE001 - Keras failing on its own model is reported
                case.status, case.detail = "keras error", f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            futures[case.id] = pool.submit(convert, case.path, work / case.id / "graph")
            if n % 20 == 19:
                progress(f"  built {n + 1}/{len(cases)}")
                _clear_sessions()
        for case in cases:
            if case.id in futures:
                converted[case.id] = futures[case.id].result()
    items = []
    for case in cases:
        if case.id not in converted:
            continue
        code, text, case.notices = converted[case.id]
        if code == 2:
            case.status, case.detail = "refused", summarize_refusal(text)
        elif code != 0:
            case.status, case.detail = "crash", f"exit {code}: {text[-600:]}"
        else:
            items += tfjs_items(case, work / case.id / "graph")
    progress(f"  converted: {Counter(c.status for c in cases if c.status != '?')} ; running {len(items)} TF.js jobs")
    docs = run_tfjs(items, work)
    for case in cases:
        if case.id in docs:
            case.status, case.detail, case.errors, case.by_sizes = classify_sizes(case, docs)
    if traced_check:
        for case in cases:
            if case.status == "WRONG":
                check_float64(case, docs)
        check_traced([c for c in cases if c.status == "WRONG"], work, progress)
    for case in cases:  # not noise, but the conversion's own notice names the layer that differs
        if case.status == "WRONG" and (named_notices(case) or half_named(case)):
            case.status = "wrong (named)"
    if trace_refused:
        check_traced([c for c in cases if c.status == "refused"], work, progress, "refused")


def check_float64(case: Case, docs: dict[str, dict[str, Any]]) -> None:
    """Keras in float64 as the exact answer: TF.js as close to it as Keras's own float32 marks noise, not a bug.

    ``case.f64``: per input set, the worst error of Keras float32 and of TF.js (worst backend) against float64.
    A shape or NaN difference, or a model Keras cannot run in float64, leaves the case WRONG.
    """
    from onnx_backend import read_outputs

    if mixed_widths(case.recipe):  # Keras casts (and rounds) where a float64 run does not: no noise verdict
        case.f64 = {"error": "a dtype policy or float64 input: Keras in float64 casts nothing, it is no reference"}
        return
    sets = [("first", case.inputs, case.expected, case.id)]
    if case.inputs2:
        sets.append(("second", case.inputs2, case.expected2, case.id + SECOND))
    try:
        exact = keras_float64_outputs(case.recipe, [inputs for _, inputs, _, _ in sets])
    except Exception as exc:  # noqa: BLE001 - a layer without float64 kernels
        case.f64 = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return
    report: dict[str, Any] = {}
    noise = True
    for (label, _, expected, job), want in zip(sets, exact):
        keras32 = max(_ratio(w, e) for w, e in zip(want, expected))
        tfjs = 0.0
        for backend in BACKENDS:
            doc = docs.get(job, {}).get(backend) or {}
            got = list(read_outputs(doc).values()) if doc.get("ok") else []
            if len(got) != len(want):
                tfjs = float("inf")
                break
            tfjs = max([tfjs] + [_ratio(w, g) for w, g in zip(want, got)])
        report[label] = {"keras_float32": keras32, "tfjs": tfjs}
        noise = noise and tfjs <= max(10 * keras32, RTOL)
    case.f64 = report
    if noise:
        case.status = "wrong (noise)"


def _ratio(want: np.ndarray, got: np.ndarray) -> float:
    r = error_ratio(want, got)
    return float("inf") if r is None else r


def keras_float64_outputs(recipe: dict, input_sets: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """The recipe's model in float64 (the saved model's weights, cast) run on every input set."""
    k = keras_of(recipe["flavor"])
    weights = build_randomized(recipe).get_weights()
    global FLOAT
    if is_k3(k):
        before = k.config.dtype_policy()
        k.config.set_dtype_policy("float64")
    else:
        before = k.backend.floatx()
        k.backend.set_floatx("float64")
    try:
        FLOAT = "float64"
        model = build(recipe)
    finally:
        FLOAT = "float32"
        if is_k3(k):
            k.config.set_dtype_policy(before)
        else:
            k.backend.set_floatx(before)
    model.set_weights([w.astype("float64") if w.dtype.kind == "f" else w for w in weights])
    out = []
    for inputs in input_sets:
        feed = [x.astype("float64") if x.dtype.kind == "f" else x for x in inputs]
        out.append(keras_outputs(model, feed))
    return out


def build_randomized(recipe: dict) -> Any:
    """The model ``save_case`` saves: built, its weights drawn from the recipe's seed."""
    model = build(recipe)
    randomize(model, recipe["seed"] + 1)
    return model


def check_traced(cases: list[Case], work: Path, progress: Callable[[str], None], what: str = "wrong") -> None:
    """The same files through ``--loader=tensorflow``: a traced graph as far off marks float32 noise, not a bug.

    On refused models (``--trace_refused``) it only records whether the traced graph converts and matches Keras:
    those are the gaps that keep issue 16's bar (what converts through TensorFlow converts without it) unmet.
    """
    items = []
    for case in cases:
        out = work / case.id / "traced"
        code, text, _ = convert(case.path, out, traced=True)
        if code != 0:
            case.traced = {"status": "refused" if code == 2 else "crash", "detail": summarize_refusal(text)}
            continue
        items += tfjs_items(case, out)
    docs = run_tfjs(items, work / "traced_jobs") if items else {}
    for case in cases:
        if case.id not in docs:
            continue
        status, detail, errors, _ = classify_sizes(case, docs)
        case.traced = {"status": status, "detail": detail, "errors": errors}
        lowered = max((e for e in case.errors.values() if e is not None), default=float("inf"))
        traced = max((e for e in errors.values() if e is not None), default=float("inf"))
        if case.status == "WRONG" and status == "WRONG" and lowered <= 10 * traced:
            case.status = "wrong (noise)"
    progress(f"  traced check of {len(cases)} {what}: {[c.traced and c.traced['status'] for c in cases]}")


SECOND = "__second_sizes"  # job id suffix of the run at the second sizes


def tfjs_items(case: Case, out: Path) -> list[tuple[str, Path, list[tuple[str, np.ndarray]]]]:
    """The TF.js jobs of one converted model: its inputs, and its second-size inputs when it has them."""
    items = [(case.id, out, feeds_for(out, case.recipe, case.inputs))]
    if case.inputs2:
        items.append((case.id + SECOND, out, feeds_for(out, case.recipe, case.inputs2)))
    return items


def classify_sizes(case: Case, docs: dict[str, dict[str, Any]]) -> tuple[str, str, dict[str, float | None],
                                                                       dict[str, str]]:
    """``classify_run`` over both input sets: a model passes only if it passes at both sizes.

    The status is the worse of the two (TF.js error, then WRONG); the detail says which sizes failed.
    """
    first = classify_run(case.expected, docs[case.id])
    if not case.inputs2:
        return (*first, {})
    second = classify_run(case.expected2, docs.get(case.id + SECOND, {}))
    by_sizes = {"first": first[0], "second": second[0]}
    errors = {b: _worse(first[2].get(b), second[2].get(b)) for b in BACKENDS}
    rank = {"TF.js error": 0, "WRONG": 1, "pass": 2}
    status = min(first[0], second[0], key=lambda st: rank.get(st, 0))
    details = [f"{label} sizes: {detail}" for label, (st, detail, _) in (("first", first), ("second", second))
               if st != "pass"]
    if second[0] != "pass" and first[0] == "pass":
        details.insert(0, f"passes at the first sizes, fails at the second ({size_pair(case.recipe)})")
    return status, "; ".join(details), errors, by_sizes


def _worse(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return max(a, b)


def _clear_sessions() -> None:
    for name in ("keras", "tf_keras"):
        mod = sys.modules.get(name)
        if mod is not None:
            try:
                mod.backend.clear_session()
            except Exception:  # noqa: BLE001
                pass


def draw_cases(count: int, seed: int, flavors: list[str], progress: Callable[[str], None],
               offset: int = 0) -> list[Case]:
    """``count`` recipes Keras runs, from seeds after ``seed``, the flavours in turn (from the ``offset``-th)."""
    cases: list[Case] = []
    s = seed
    rejected = 0
    while len(cases) < count:
        flavor = flavors[(offset + len(cases)) % len(flavors)]
        s += 1
        try:
            recipe = draw_recipe(s, flavor)
        except Skip:
            rejected += 1
            continue
        cases.append(Case(f"{flavor.replace('.', '_')}-{s}", recipe))
        if len(cases) % 25 == 0:
            progress(f"  drew {len(cases)} recipes")
            _clear_sessions()
    return cases


# -- minimizing ------------------------------------------------------------------------------------------------------
def prune(recipe: dict) -> dict:
    """Drop steps no output depends on (and renumber)."""
    n_in = len(recipe["inputs"])
    steps = recipe["steps"]
    need = set(recipe["outputs"])
    for pos in range(len(steps) - 1, -1, -1):
        idx = n_in + pos
        step = steps[pos]
        if idx in need:
            need.update(step["in"])
            if step["op"] == "reuse":
                need.add(step["p"]["of"])
    keep = [pos for pos in range(len(steps)) if n_in + pos in need]
    remap = {i: i for i in range(n_in)}
    new_steps = []
    for pos in keep:
        step = copy.deepcopy(steps[pos])
        step["in"] = [remap[i] for i in step["in"]]
        if step["op"] == "reuse":
            step["p"]["of"] = remap[step["p"]["of"]]
        remap[n_in + pos] = n_in + len(new_steps)
        new_steps.append(step)
    return dict(recipe, steps=new_steps, outputs=[remap[o] for o in recipe["outputs"]])


def bypass(recipe: dict, pos: int) -> dict:
    """The recipe with step ``pos`` replaced by its first input (the step's readers read that instead)."""
    n_in = len(recipe["inputs"])
    idx = n_in + pos
    src = recipe["steps"][pos]["in"][0]
    new = copy.deepcopy(recipe)
    for step in new["steps"]:
        step["in"] = [src if i == idx else i for i in step["in"]]
        if step["op"] == "reuse" and step["p"]["of"] == idx:
            return recipe  # a shared layer's first use: keep it
    new["outputs"] = sorted({src if o == idx else o for o in new["outputs"]})
    if any(o < n_in for o in new["outputs"]):
        return recipe
    return prune(new)


def still_fails(recipe: dict, want: str, work: Path, tag: str, want_sizes: dict[str, str] | None = None) -> bool:
    """The smaller recipe fails the same way (and, for a model failing only at its second sizes, still so)."""
    case = Case(f"min-{tag}", recipe)
    try:
        build(recipe)
    except Exception:  # noqa: BLE001 - Keras rejects the smaller model
        return False
    if not fed_sizes_safe(recipe):  # a bypassed step can leave an empty tensor (SIGFPE in TensorFlow)
        return False
    evaluate([case], work / tag, progress=lambda m: None, workers=1, traced_check=want == "WRONG")
    return case.status == want and (want_sizes is None or case.by_sizes == want_sizes)


def minimize(case: Case, work: Path, progress: Callable[[str], None], max_tries: int = 10**9) -> dict:
    """A smallest recipe that still gives ``case.status`` (outputs dropped one by one, then steps bypassed).

    ``max_tries`` bounds the conversions (a budget on a loaded machine): the smallest recipe found so far is kept.
    """
    want = case.status
    # a size baked in: keep "right at the first sizes, wrong at the second" while shrinking
    want_sizes = case.by_sizes if case.by_sizes.get("first") == "pass" else None
    recipe = prune(case.recipe)
    tries = 0
    while len(recipe["outputs"]) > 1:
        for o in recipe["outputs"]:
            trial = prune(dict(recipe, outputs=[o]))
            tries += 1
            if still_fails(trial, want, work, f"{case.id}-{tries}", want_sizes):
                recipe = trial
                break
        else:
            break
    changed = True
    while changed and tries < max_tries:
        changed = False
        for pos in range(len(recipe["steps"]) - 1, -1, -1):
            trial = bypass(recipe, pos)
            if trial is recipe or len(trial["steps"]) >= len(recipe["steps"]):
                continue
            tries += 1
            if still_fails(trial, want, work, f"{case.id}-{tries}", want_sizes):
                recipe, changed = trial, True
                break
    progress(f"  minimized {case.id}: {len(case.recipe['steps'])} -> {len(recipe['steps'])} steps ({tries} tries)")
    return recipe


def builder_code(recipe: dict) -> str:
    """Readable Keras code for a (small) recipe."""
    k = "keras" if recipe["flavor"].startswith("keras3") else "tf_keras"
    lines = [f"import {k}" + (", tensorflow as tf" if k == "tf_keras" else ""), f"L = {k}.layers"]
    names = []
    for i, spec in enumerate(recipe["inputs"]):
        dtype = input_dtype(spec)
        fed = [f"fed {[BATCH, *spec['feed']]}"] if "feed" in spec else []
        if "feed" in spec and "second" in recipe:
            fed[0] += f" and {[recipe['second']['batch'], *recipe['second']['feed'][i]]}"
        if base_kind(spec) in ("ids", "ids64"):
            fed.append("with trailing zeros (padding)")
        lines.append(f"x{i} = {k}.Input({tuple(spec['shape'])}, dtype='{dtype}', name='in{i}')"
                     + (f"  # {', '.join(fed)}" if fed else ""))
        if base_kind(spec) == "masked_seq":
            lines.append(f"x{i} = L.Masking(0.0)(x{i})  # fed with zero steps")
        names.append(f"x{i}")
    n_in = len(recipe["inputs"])
    for pos, step in enumerate(recipe["steps"]):
        ins = ", ".join(names[i] for i in step["in"])
        policy = f", dtype_policy='{step['dtype']}'" if "dtype" in step else ""
        lines.append(f"x{n_in + pos} = {step['op']}({json.dumps(step['p'])}{policy})({ins})")
        names.append(f"x{n_in + pos}")
    lines.append(f"model = {k}.Model([{', '.join(names[:n_in])}], [{', '.join(names[o] for o in recipe['outputs'])}])")
    return "\n".join(lines)


# -- report ----------------------------------------------------------------------------------------------------------
def render(cases: list[Case], command: str, seconds: float, minimized: dict[str, dict]) -> str:
    counts = Counter(c.status for c in cases)
    by_flavor = {f: Counter(c.status for c in cases if c.recipe["flavor"] == f)
                 for f in sorted({c.recipe["flavor"] for c in cases})}
    two = [c for c in cases if c.by_sizes]
    second_only = [c for c in two if c.by_sizes["first"] == "pass" and c.by_sizes["second"] != "pass"]
    lines = ["# Random Keras models through the h5py-only lowering (issue 16)", "",
             f"<!-- generated by `{command}` -->", "",
             f"Command: `{command}`; {len(cases)} models in {seconds:.0f} s "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).", "",
             "**Summary:** " + ", ".join(f"{n} {s}" for s, n in counts.most_common()) + ".", ""]
    for flavor, c in by_flavor.items():
        lines.append(f"- `{flavor}`: " + ", ".join(f"{n} {s}" for s, n in c.most_common()))
    with_unknown = [c for c in cases if has_unknown_sizes(c.recipe)]
    lines += ["", f"Inputs of unknown sizes: {len(with_unknown)} models; {len(two)} of them converted and run at two "
              f"sizes (another batch, other steps/height/width; Keras's reference at both, the same converted model "
              f"at both): {len(second_only)} pass at the first sizes and fail at the second"
              + (f" ({', '.join(c.id for c in second_only)})" if second_only else "") + "."]
    refused = [c for c in cases if c.status == "refused" and c.traced]
    if refused:
        traced_counts = Counter(c.traced["status"] for c in refused)
        lines += ["", "Refused models through `--loader=tensorflow` (`--trace_refused`): "
                  + ", ".join(f"{n} {s}" for s, n in traced_counts.most_common())
                  + " (a `pass` there is a gap of the h5py-only lowering that TensorFlow's trace converts)."]
    layer_counts = Counter(name.split("(")[0].split("[")[0] for c in cases for name in c.layers)
    lines += ["", "Layer classes drawn (models containing them, counted per use): "
              + ", ".join(f"{n}×{name}" for name, n in layer_counts.most_common()), "",
              "Statuses: `pass` (every output within 1e-5 × max|Keras| on TF.js cpu and wasm, at both sizes for a "
              "model of unknown sizes); `refused` (exit 2: a "
              "gap named by the lowering, or a backend the model cannot run on); **WRONG** (numbers or shapes "
              "differ, and the `--loader=tensorflow` graph of the same file is closer to Keras: a lowering bug); "
              "`wrong (noise)` (differs, but TF.js is as close to Keras run in float64 as Keras's own float32 "
              "result, or the traced graph is as far off: float32 round-off of an ill-conditioned random model); "
              "`wrong (named)` (differs, not noise, and the conversion printed a notice naming a layer: the "
              "deviation it told of, listed below; a model with a float16 policy also when the float16 notice names "
              "its layers and it is within 5e-3 of the range, ten float16 steps); **TF.js error**; **crash** (the converter failed otherwise).", "",
              "| model | status | worst error cpu / wasm | sizes (first -> second) | detail | layers |",
              "|---|---|---|---|---|---|"]
    order = {"WRONG": 0, "TF.js error": 1, "crash": 2, "keras error": 3, "wrong (named)": 4, "wrong (noise)": 5,
             "refused": 6, "pass": 7}
    for c in sorted(cases, key=lambda c: (order.get(c.status, 9), c.id)):
        err = " / ".join("—" if c.errors.get(b) is None else f"{c.errors[b]:.1e}" for b in BACKENDS)
        traced = f"(traced: {c.traced['status']} {c.traced.get('errors', '')}) " if c.traced else ""
        detail = traced + c.detail  # first: a long refusal is cut at 300 characters
        if c.f64:
            detail += f" (against Keras in float64: {_f64_text(c.f64)})"
        detail = " ".join(detail[:300].replace("|", "/").split())  # one table row: Keras errors span lines
        lines.append(f"| {c.id} | {c.status} | {err} | {size_pair(c.recipe)} | {detail} | "
                     f"{', '.join(c.layers)[:300].replace('|', '/')} |")
    named = [c for c in cases if c.status == "wrong (named)"]
    if named:
        lines += ["", "## Mismatches the conversion named", ""]
        lines += [f"- {c.id}: " + " / ".join(f"`{n}`" for n in named_notices(c)) for c in named]
    if minimized:
        lines += ["", "## Minimized failures", ""]
        for case_id, recipe in minimized.items():
            lines += [f"### {case_id}", "", "```python", builder_code(recipe), "```", ""]
    return "\n".join(lines) + "\n"


def _f64_text(f64: dict[str, Any]) -> str:
    if "error" in f64:
        return f64["error"]
    return "; ".join(f"{label} sizes Keras float32 {e['keras_float32']:.1e}, TF.js {e['tfjs']:.1e}"
                     for label, e in f64.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flavors", default="keras3.keras,tf_keras.h5,keras3.keras,tf_keras.h5,keras3.h5")
    parser.add_argument("--chunk", type=int, default=40, help="models built, converted and run per round")
    parser.add_argument("--minimize", action="store_true")
    parser.add_argument("--trace_refused", action="store_true", help="convert every refused model through "
                        "--loader=tensorflow too: does TensorFlow's traced graph convert and match Keras?")
    parser.add_argument("--minimize_tries", type=int, default=10**9, help="at most this many conversions per "
                        "minimized model (the smallest failing recipe found by then is reported)")
    parser.add_argument("--dynamic", action="store_true", help="every model has an input of unknown sizes (and is run "
                        "at two sizes); the layers lowered over unknown sizes are drawn more often")
    parser.add_argument("--keep", type=Path, help="keep the saved models and conversions here")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--snapshot", help="a folder with a tfjsconv package (e.g. `git archive HEAD` with core/ as "
                                           "tfjsconv/ and plugins/ as tfjsconv/plugins/) to convert with")
    parser.add_argument("--policies", type=float, default=0.0, help="RATE: each layer step is made under a dtype "
                        "policy (mixed_float16, float16, float64) with this chance; float64 inputs are drawn too")
    parser.add_argument("--wide", action="store_true", help="draw the shapes of session 29 too: nested models in "
                        "nested models, TimeDistributed / Bidirectional in them, masks into nested RNNs and attention, "
                        "shared layers called twice, nested models of two inputs and outputs, op layers of edge-case "
                        "constants (``wide_*``)")
    parser.add_argument("--args", action="store_true", help="draw the ``args_*`` steps of session 30 too: RNN gate "
                        "activations, unroll, seq2seq initial_state, masks given as mask= / attention masks, "
                        "normalization epsilons, attention value_dim / output_shape / keys, Masking(v) of shifted "
                        "padding")
    parser.add_argument("--extra", action="store_true", help="draw the ``extra_*`` steps of session 31 too: "
                        "SpectralNormalization, LocallyConnected1D/2D, ThresholdedReLU, ActivityRegularization, image "
                        "augmentation layers at inference, RandomCrop, CategoryEncoding, Discretization, "
                        "IntegerLookup, Hashing")
    parser.add_argument("--format", choices=("graph", "layers"), default="graph", help="graph: convert to a TF.js "
                        "graph model (as before); layers: the default output of a Keras file, a TF.js layers model "
                        "run by tf.loadLayersModel (the same recipes)")
    parser.add_argument("--boost", default="", help="NAME=FACTOR,...: draw these ops FACTOR times more often; a NAME "
                        "may be a shell pattern ('extra_*=4' draws every --extra step four times more often)")
    args = parser.parse_args(argv)
    global SNAPSHOT, DYNAMIC, POLICY_RATE, WIDE, ARGS, EXTRA, FORMAT
    SNAPSHOT, DYNAMIC, POLICY_RATE, WIDE, ARGS = args.snapshot, args.dynamic, args.policies, args.wide, args.args
    EXTRA = args.extra
    FORMAT = args.format
    BOOSTS.update({name: float(factor) for name, factor in (item.split("=") for item in args.boost.split(",") if item)})
    command = "python bench/keras_random_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    flavors = args.flavors.split(",")
    start = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tfjsconv-random-keras-"))
    work.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    minimized: dict[str, dict] = {}
    try:
        while len(cases) < args.count:  # drawn chunk by chunk, so that the page grows as the run goes
            first = cases[-1].recipe["seed"] if cases else args.seed * 100000
            chunk = draw_cases(min(args.chunk, args.count - len(cases)), first, flavors, log,
                               offset=len(cases))
            log(f"models {len(cases) + 1}-{len(cases) + len(chunk)}")
            evaluate(chunk, work, progress=log, trace_refused=args.trace_refused)
            cases += chunk
            write(args.output, cases, command, time.perf_counter() - start, minimized)
        if args.minimize:
            for case in cases:
                if case.status in ("WRONG", "TF.js error", "crash"):
                    minimized[case.id] = minimize(case, work / "minimize", log, args.minimize_tries)
                    write(args.output, cases, command, time.perf_counter() - start, minimized)
        write(args.output, cases, command, time.perf_counter() - start, minimized)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    counts = Counter(c.status for c in cases)
    print(", ".join(f"{n} {s}" for s, n in counts.most_common()))
    return 0


def write(output: Path, cases: list[Case], command: str, seconds: float, minimized: dict[str, dict]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, "seconds": round(seconds, 1), "count": len(cases),
           "summary": dict(Counter(c.status for c in cases)), "cases": [c.to_json() for c in cases],
           "minimized": {k: {"recipe": r, "code": builder_code(r)} for k, r in minimized.items()}}
    output.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(render(cases, command, seconds, minimized), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
