"""Random ONNX graphs through ``tfjsconv convert``: hunting silent-wrong ONNX conversions (session 30).

    .venv/bin/python bench/onnx_random_graphs.py [--count 40] [--seed 3001] [--chunk 10] [--only 3,17]
        [--boost conv=4,resize=4] [--keep FOLDER] [--out bench/results]

A seeded generator builds small valid ONNX graphs with ``onnx.helper``: 1-3 float inputs, 3-10 steps (a step is
one op, sometimes with a helper node before it) at an opset drawn from 13-18, each with random attributes:
elementwise math and comparisons, Gemm (transA/transB/alpha/beta/C), MatMul with broadcasting, Conv and
ConvTranspose (pads/strides/dilations/group/auto_pad/output_padding), pools (ceil_mode, count_include_pad),
Resize (modes, coordinate transformations, nearest modes, scales or sizes), Pad (constant/reflect/edge), Slice
(negative steps, out-of-range starts), Gather/GatherElements/GatherND/ScatterND (negative indices, reductions),
Reduce* (keepdims, noop_with_empty_axes), ArgMax/ArgMin (select_last_index), Cast, Where, Clip with a missing
bound, Expand, Tile, Split, Concat, Transpose, Squeeze/Unsqueeze, Einsum, LayerNormalization, Softmax axis,
CumSum exclusive/reverse, TopK, Mod fmod 0/1, Range of a run-time size, and a few more. Each step is checked by
running onnxruntime on the sample feeds (a step it rejects is drawn again), so every graph is valid. 40% of the
graphs get a symbolic leading input axis (0.3 of those every axis symbolic) and also run at another leading size
where onnxruntime accepts it.

Each graph is converted as users convert (``python -m tfjsconv convert model.onnx OUT``, a fresh process, default
flags) and run in TF.js cpu and wasm through ``tfjsconv.verify``'s ``verify_model`` against onnxruntime's outputs
on the same feeds. The verdicts (pass / refused / notice-only / noise / WRONG / CRASH) and the feeds' edge values
are those of ``bench/tf_random_graphs.py`` (its ``judge``), with onnxruntime as the oracle.

Results: ``<out>/onnx_random_graphs_<tag>_<seed>.{md,json}`` with the command line, where ``<tag>`` is ``--tag`` or
by default the session the seed names (seeds are numbered ``SSNN``: 3001 -> ``s30``, 3231 -> ``s32``; other seeds
-> ``seed``); session 31's runs (3121-3123) were written as ``s30`` before session 32 gave the stem its tag. A
WRONG/CRASH case's model and feeds are kept with ``--keep``. ``--only`` re-runs chosen indices of a seed
(``..._<seed>_only.{md,json}``).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import onnx_named_deviations  # noqa: E402
import random_graph_results  # noqa: E402
from tf_random_graphs import convert, edge_feed, judge, verify  # noqa: E402

from tf_random_graphs import _reason as converter_reason  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
INPUT_SHAPES = {"image": (2, 3, 6, 6), "matrix": (3, 6), "sequence": (2, 4, 6), "vector": (7,)}
INDEX_INPUT = "idx"
MAX_ELEMENTS = 4096

Entry = dict[str, Any]  # a tensor of the graph: {"name", "dtype" (numpy name), "shape" (at the drawn size)}
Step = tuple[list[Any], dict[str, np.ndarray], str]  # nodes, initializers, the name of the step's result
Drawer = Callable[["Draw"], Step | None]


class Draw:
    """What a drawer sees: the random generator, the tensors so far, the opset and fresh names."""

    def __init__(self, rng: np.random.Generator, pool: list[Entry], opset: int, prefix: str) -> None:
        self.rng, self.pool, self.opset, self.prefix, self.count = rng, pool, opset, prefix, 0

    def name(self, what: str = "t") -> str:
        self.count += 1
        return f"{self.prefix}_{what}{self.count}"

    def pick(self, kind: str = "float", min_rank: int = 0, rank: int | None = None) -> Entry | None:
        """A random earlier tensor of the kind ("float", "int", "bool", "any") and rank."""
        fits = [e for e in self.pool if kind == "any" or _kind(e["dtype"]) == kind]
        fits = [e for e in fits if len(e["shape"]) >= min_rank and (rank is None or len(e["shape"]) == rank)]
        return fits[int(self.rng.integers(len(fits)))] if fits else None

    def index_input(self) -> str | None:
        """The graph's run-time index input (values in [-2, 2)), if it has one."""
        return INDEX_INPUT if any(e["name"] == INDEX_INPUT for e in self.pool) else None

    def choice(self, options: Any) -> Any:
        options = list(options)
        return options[int(self.rng.integers(len(options)))]

    def const(self, value: Any, dtype: Any = np.float32, what: str = "c") -> tuple[str, dict[str, np.ndarray]]:
        name = self.name(what)
        return name, {name: np.asarray(value, dtype)}

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)


def _kind(dtype: str) -> str:
    return "float" if dtype.startswith("float") else "bool" if dtype == "bool" else "int"


def _node(op: str, inputs: list[str], outputs: list[str], **attrs: Any):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, **attrs)


def _axis(d: Draw, rank: int) -> int:
    """An axis, negative half of the time."""
    axis = int(d.rng.integers(rank))
    return axis - rank if d.rng.random() < 0.5 else axis


# ---------------------------------------------------------------- drawers (one op each, attributes at random)

UNARY = ("Abs", "Neg", "Exp", "Tanh", "Sigmoid", "Relu", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign",
         "Reciprocal", "Sqrt", "Log", "Erf", "Softplus", "Softsign", "HardSigmoid", "LeakyRelu", "Elu", "Selu",
         "Celu", "HardSwish", "ThresholdedRelu", "Shrink", "Atan", "Asinh", "IsNaN", "IsInf", "Mish")


def draw_unary(d: Draw) -> Step | None:
    x = d.pick()
    if x is None:
        return None
    op = d.choice(UNARY[:-1] if d.opset < 18 else UNARY)
    attrs = {"HardSigmoid": {"alpha": d.choice([0.2, 0.5]), "beta": d.choice([0.5, 0.1])},
             "LeakyRelu": {"alpha": d.choice([0.01, 0.3])}, "Elu": {"alpha": d.choice([1.0, 0.5])},
             "Celu": {"alpha": d.choice([1.0, 2.0])}, "ThresholdedRelu": {"alpha": d.choice([0.5, 1.0])},
             "Shrink": {"lambd": d.choice([0.5, 1.5]), "bias": d.choice([0.0, 0.5])}}.get(op, {})
    out = d.name()
    return [_node(op, [x["name"]], [out], **attrs)], {}, out


FLOAT_BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "PRelu", "Greater", "Less", "Equal",
                "GreaterOrEqual", "LessOrEqual", "Sum", "Mean")
INT_BINARY = ("Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Greater", "Equal")


def _broadcast_shape(d: Draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts against ``shape``: a suffix of it, some axes 1."""
    keep = int(d.rng.integers(0, len(shape) + 1))
    suffix = shape[len(shape) - keep:]
    return tuple(1 if d.rng.random() < 0.3 else n for n in suffix)


def draw_binary(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int", "bool"]))
    if x is None:
        return None
    kind = _kind(x["dtype"])
    out = d.name()
    if kind == "bool":
        y = d.pick("bool") or x
        return [_node(d.choice(["And", "Or", "Xor"]), [x["name"], y["name"]], [out])], {}, out
    if kind == "int":  # a constant non-zero divisor: an integer division by zero would stop onnxruntime
        op = d.choice(INT_BINARY)
        value = d.rng.choice([-3, -2, 2, 3, 5], size=_broadcast_shape(d, x["shape"]))
        name, inits = d.const(value, x["dtype"])
        attrs = {"fmod": int(d.rng.integers(2))} if op == "Mod" else {}
        return [_node(op, [x["name"], name], [out], **attrs)], inits, out
    op = d.choice(FLOAT_BINARY)
    other = d.pick()
    if other is not None and other is not x and d.rng.random() < 0.5:
        y, inits = other["name"], {}
    else:
        y, inits = d.const(d.normal(_broadcast_shape(d, x["shape"]), 2.0))
    inputs = [x["name"], y] if d.rng.random() < 0.7 or op == "PRelu" else [y, x["name"]]
    if op in ("Sum", "Mean") and d.rng.random() < 0.5:
        inputs.append(x["name"])
    attrs = {"fmod": 1} if op == "Mod" else {}
    return [_node(op, inputs, [out], **attrs)], inits, out


def draw_gemm(d: Draw) -> Step | None:
    a = d.pick(rank=2)
    if a is None:
        return None
    trans_a, trans_b = int(d.rng.integers(2)), int(d.rng.integers(2))
    m, k = a["shape"][::-1] if trans_a else a["shape"]
    n = int(d.rng.integers(1, 6))
    b, inits = d.const(d.normal((n, k) if trans_b else (k, n), 0.5))
    inputs = [a["name"], b]
    if d.rng.random() < 0.7:
        c, more = d.const(d.normal(d.choice([(n,), (1, n), (m, n), (m, 1), ()])))
        inputs.append(c)
        inits |= more
    out = d.name()
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": d.choice([1.0, 0.5, -2.0]),
             "beta": d.choice([1.0, 0.25, -1.0])}
    return [_node("Gemm", inputs, [out], **attrs)], inits, out


def draw_matmul(d: Draw) -> Step | None:
    a = d.pick(min_rank=1)
    if a is None:
        return None
    k, n = a["shape"][-1], int(d.rng.integers(1, 6))
    batch = tuple(d.choice([1, s]) for s in a["shape"][:-2])
    extra = (d.choice([1, 2]),) if d.rng.random() < 0.3 and len(a["shape"]) <= 3 else ()
    shape = d.choice([(k,), (k, n), (*extra, *batch, k, n)])
    b, inits = d.const(d.normal(shape, 0.5))
    out = d.name()
    return [_node("MatMul", [a["name"], b], [out])], inits, out


def _window(d: Draw, spatial: int) -> dict[str, Any]:
    """Strides, dilations, and pads or auto_pad for a window op over ``spatial`` axes."""
    attrs: dict[str, Any] = {"strides": [int(d.rng.integers(1, 3)) for _ in range(spatial)]}
    if d.rng.random() < 0.3:
        attrs["auto_pad"] = d.choice(["SAME_UPPER", "SAME_LOWER", "VALID"])
    elif d.rng.random() < 0.7:
        attrs["pads"] = [int(d.rng.integers(0, 3)) for _ in range(2 * spatial)]
    return attrs


def draw_conv(d: Draw) -> Step | None:
    x = d.pick(min_rank=3)
    if x is None or len(x["shape"]) > 4:
        return None
    channels, spatial = x["shape"][1], len(x["shape"]) - 2
    group = d.choice([g for g in (1, 2, 3, channels) if channels % g == 0])
    out_ch = group * int(d.rng.integers(1, 3))
    kernel = [int(d.rng.integers(1, 4)) for _ in range(spatial)]
    w, inits = d.const(d.normal((out_ch, channels // group, *kernel), 0.5))
    inputs = [x["name"], w]
    if d.rng.random() < 0.5:
        bias, more = d.const(d.normal((out_ch,)))
        inputs.append(bias)
        inits |= more
    attrs = _window(d, spatial) | {"group": group}
    if d.rng.random() < 0.4:
        attrs["dilations"] = [int(d.rng.integers(1, 3)) for _ in range(spatial)]
    if d.rng.random() < 0.5:
        attrs["kernel_shape"] = kernel
    out = d.name()
    return [_node("Conv", inputs, [out], **attrs)], inits, out


def draw_conv_transpose(d: Draw) -> Step | None:
    x = d.pick(min_rank=3)
    if x is None or len(x["shape"]) > 4:
        return None
    channels, spatial = x["shape"][1], len(x["shape"]) - 2
    group = d.choice([g for g in (1, channels) if channels % g == 0])
    kernel = [int(d.rng.integers(1, 4)) for _ in range(spatial)]
    w, inits = d.const(d.normal((channels, int(d.rng.integers(1, 3)), *kernel), 0.5))
    inputs = [x["name"], w]
    if d.rng.random() < 0.4:
        bias, more = d.const(d.normal((inits[w].shape[1] * group,)))
        inputs.append(bias)
        inits |= more
    attrs = _window(d, spatial) | {"group": group}
    if d.rng.random() < 0.3:
        attrs["dilations"] = [int(d.rng.integers(1, 3)) for _ in range(spatial)]
    if d.rng.random() < 0.4:
        attrs["output_padding"] = [int(d.rng.integers(0, s)) for s in attrs["strides"]]
    if d.rng.random() < 0.15:
        attrs["output_shape"] = [int(s * st + d.rng.integers(0, 2)) for s, st in zip(x["shape"][2:],
                                                                                     attrs["strides"])]
    out = d.name()
    return [_node("ConvTranspose", inputs, [out], **attrs)], inits, out


def draw_pool(d: Draw) -> Step | None:
    x = d.pick(min_rank=3)
    if x is None or len(x["shape"]) > 4:
        return None
    spatial = len(x["shape"]) - 2
    op = d.choice(["MaxPool", "AveragePool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool"])
    out = d.name()
    if op.startswith("Global"):
        return [_node(op, [x["name"]], [out])], {}, out
    attrs = _window(d, spatial) | {"kernel_shape": [int(d.rng.integers(1, 4)) for _ in range(spatial)]}
    if op != "LpPool" and d.rng.random() < 0.5:
        attrs["ceil_mode"] = 1
    if op == "AveragePool":
        attrs["count_include_pad"] = int(d.rng.integers(2))
    if op == "MaxPool" and d.rng.random() < 0.3:
        attrs["dilations"] = [int(d.rng.integers(1, 3)) for _ in range(spatial)]
    if op == "MaxPool" and d.rng.random() < 0.25:  # the argmax indices (row-major, or column-major by storage_order)
        values = d.name()
        attrs["storage_order"] = int(d.rng.integers(2))
        return [_node(op, [x["name"]], [values, out], **attrs)], {}, out
    if op == "LpPool":
        attrs["p"] = d.choice([1, 2, 3])
    return [_node(op, [x["name"]], [out], **attrs)], {}, out


RESIZE_CTM = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def draw_resize(d: Draw) -> Step | None:
    x = d.pick(min_rank=3)
    if x is None or len(x["shape"]) > 4:
        return None
    rank = len(x["shape"])
    mode = d.choice(["nearest", "linear", "cubic"])
    attrs: dict[str, Any] = {"mode": mode, "coordinate_transformation_mode": d.choice(RESIZE_CTM)}
    if mode == "nearest":
        attrs["nearest_mode"] = d.choice(NEAREST_MODES)
    if mode == "cubic":
        attrs["cubic_coeff_a"] = d.choice([-0.75, -0.5])
        attrs["exclude_outside"] = int(d.rng.integers(2))
    inits: dict[str, np.ndarray] = {}
    roi = ""
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        roi, inits = d.const([0] * (rank - 2) + [0.1, 0.2][:rank - 2] + [1] * (rank - 2) + [0.9, 0.7][:rank - 2])
        attrs["extrapolation_value"] = d.choice([0.0, -1.0])
    if d.opset >= 18 and mode != "nearest" and d.rng.random() < 0.3:
        attrs["antialias"] = 1
    if d.rng.random() < 0.5:
        scales = [1.0, 1.0] + [float(d.choice([0.5, 0.6, 0.75, 1.5, 1.7, 2.0, 2.5, 3.0])) for _ in range(rank - 2)]
        if mode == "nearest" and d.rng.random() < 0.2:
            scales[1] = float(d.choice([2.0, 0.5]))  # the channel axis too
        name, more = d.const(scales)
        inputs = [x["name"], roi, name]
    else:
        sizes = list(x["shape"][:2]) + [int(d.rng.integers(2, 10)) for _ in range(rank - 2)]
        name, more = d.const(sizes, np.int64)
        inputs = [x["name"], roi, "", name]
    out = d.name()
    return [_node("Resize", inputs, [out], **attrs)], inits | more, out


def draw_pad(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int"]), min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    mode = d.choice(["constant", "reflect", "edge"])
    low = -1 if mode == "constant" else 0
    pads = [int(d.rng.integers(low, 3)) for _ in range(2 * rank)]
    if mode == "reflect":
        pads = [min(p, s - 1) for p, s in zip(pads, list(x["shape"]) * 2)]
    name, inits = d.const(pads, np.int64)
    inputs = [x["name"], name]
    if mode == "constant" and d.rng.random() < 0.6:
        value, more = d.const(d.choice([1.5, -2.0, 0.0]), x["dtype"])
        inputs.append(value)
        inits |= more
    if d.opset >= 18 and d.rng.random() < 0.4:  # pads for chosen axes only
        axes = sorted(set(int(a) for a in d.rng.integers(-rank, rank, size=2)), key=lambda a: a % rank)
        axes = list(dict.fromkeys(a % rank for a in axes))
        inits[name] = np.array([pads[a] for a in axes] + [pads[rank + a] for a in axes], np.int64)
        if len(inputs) == 2:
            inputs.append("")
        axes_name, more = d.const(axes, np.int64)
        inputs.append(axes_name)
        inits |= more
    out = d.name()
    return [_node("Pad", inputs, [out], mode=mode)], inits, out


def draw_slice(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    axes = list(dict.fromkeys(int(a) for a in d.rng.integers(0, rank, size=int(d.rng.integers(1, rank + 1)))))
    starts, ends, steps = [], [], []
    for a in axes:
        n, step = x["shape"][a], int(d.choice([1, 1, 2, -1, -2]))
        start = int(d.choice([0, 1, -1, -n, n - 1, -100, 100, 2 ** 62]))
        end = int(d.choice([n, -1, 1, -100, 100, -2 ** 62, 2 ** 62, 0]))
        starts, ends, steps = starts + [start], ends + [end], steps + [step]
    signed = [a - rank if d.rng.random() < 0.3 else a for a in axes]
    inits: dict[str, np.ndarray] = {}
    names = []
    for values in (starts, ends, signed, steps):
        name, more = d.const(values, np.int64)
        names.append(name)
        inits |= more
    if steps == [1] * len(steps) and d.rng.random() < 0.5:
        names = names[:3]
    out = d.name()
    return [_node("Slice", [x["name"], *names], [out])], inits, out


def draw_runtime_slice(d: Draw) -> Step | None:
    """Slice with starts (and maybe ends) read from the index input at run time; steps of either sign."""
    x, runtime = d.pick("any", min_rank=1), d.index_input()
    if x is None or runtime is None:
        return None
    rank = len(x["shape"])
    nodes, inits, names = [], {}, []
    for k, what in enumerate(("starts", "ends")):
        if what == "ends" and d.rng.random() < 0.5:
            name, more = d.const([d.choice([x["shape"][0], -1, 100, -100])], np.int64)
            inits |= more
        else:
            name = d.name(what)
            begin, more = d.const([k], np.int64)
            end, more2 = d.const([k + 1], np.int64)
            nodes.append(_node("Slice", [runtime, begin, end], [name]))
            inits |= more | more2
        names.append(name)
    axes, more = d.const([_axis(d, rank)], np.int64)
    steps, more2 = d.const([d.choice([1, -1, 2, -2])], np.int64)
    out = d.name()
    nodes.append(_node("Slice", [x["name"], *names, axes, steps], [out]))
    return nodes, inits | more | more2, out


def _indices(d: Draw, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Indices in [-n, n), negative ones mixed in."""
    return d.rng.integers(-n, n, size=shape).astype(np.int64)


def draw_gather(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    axis = _axis(d, rank)
    n = x["shape"][axis]
    op = d.choice(["Gather", "Gather", "GatherElements", "GatherND"])
    out = d.name()
    runtime = d.index_input()
    if op == "Gather" and runtime and n >= 2 and d.rng.random() < 0.6:
        return [_node("Gather", [x["name"], runtime], [out], axis=axis)], {}, out
    if op == "GatherND" and runtime and rank >= 3 and min(x["shape"][:3]) >= 2 and d.rng.random() < 0.6:
        return [_node("GatherND", [x["name"], runtime], [out])], {}, out
    if op == "Gather":
        idx, inits = d.const(_indices(d, n, d.choice([(), (2,), (3,), (2, 2)])), np.int64)
        return [_node("Gather", [x["name"], idx], [out], axis=axis)], inits, out
    if op == "GatherElements":
        shape = tuple(int(d.rng.integers(1, s + 1)) if k != axis % rank else int(d.rng.integers(1, 4))
                      for k, s in enumerate(x["shape"]))
        idx, inits = d.const(_indices(d, n, shape), np.int64)
        return [_node("GatherElements", [x["name"], idx], [out], axis=axis)], inits, out
    batch_dims = int(d.rng.integers(0, 2)) if rank >= 2 else 0
    depth = int(d.rng.integers(1, rank - batch_dims + 1))
    lead = x["shape"][:batch_dims]
    cols = [_indices(d, x["shape"][batch_dims + k], (*lead, 2)) for k in range(depth)]
    idx, inits = d.const(np.stack(cols, axis=-1), np.int64)
    return [_node("GatherND", [x["name"], idx], [out], batch_dims=batch_dims)], inits, out


def draw_scatter(d: Draw) -> Step | None:
    x = d.pick(min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    depth = int(d.rng.integers(1, rank + 1))
    reductions = ["none"] + (["add", "mul"] if d.opset >= 16 else []) + (["max", "min"] if d.opset >= 18 else [])
    reduction = d.choice(reductions)
    count = int(d.rng.integers(1, 4))
    rows = {tuple(int(d.rng.integers(0, s)) for s in x["shape"][:depth]) for _ in range(count)}
    rows_list = [[v - s if d.rng.random() < 0.4 else v for v, s in zip(r, x["shape"])] for r in sorted(rows)]
    if reduction != "none" and d.rng.random() < 0.5:
        rows_list.append(rows_list[0])  # a repeated index: reduced in order
    idx, inits = d.const(rows_list, np.int64)
    upd, more = d.const(d.normal((len(rows_list), *x["shape"][depth:])))
    out = d.name()
    attrs = {"reduction": reduction} if d.opset >= 16 else {}
    if d.rng.random() < 0.3:  # ScatterElements along an axis
        axis = _axis(d, rank)
        shape = tuple(1 if k != axis % rank else 1 for k in range(rank))
        index = np.full(shape, int(d.rng.integers(-x["shape"][axis], x["shape"][axis])), np.int64)
        idx, inits = d.const(index, np.int64)
        upd, more = d.const(d.normal(shape))
        return [_node("ScatterElements", [x["name"], idx, upd], [out], axis=axis, **attrs)], inits | more, out
    return [_node("ScatterND", [x["name"], idx, upd], [out], **attrs)], inits | more, out


REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum")


def draw_reduce(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int"]), min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    op = d.choice(REDUCE if _kind(x["dtype"]) == "float" else REDUCE[:5])
    axes = sorted({_axis(d, rank) for _ in range(int(d.rng.integers(0, rank + 1)))}, key=lambda a: a % rank)
    axes = list({a % rank: a for a in axes}.values())
    attrs: dict[str, Any] = {"keepdims": int(d.rng.integers(2))}
    inputs = [x["name"]]
    inits: dict[str, np.ndarray] = {}
    axes_as_input = op == "ReduceSum" or d.opset >= 18
    if axes_as_input:
        if axes or d.rng.random() < 0.5:
            name, inits = d.const(axes, np.int64)
            inputs.append(name)
        attrs["noop_with_empty_axes"] = int(d.rng.integers(2))
    elif axes:
        attrs["axes"] = axes
    out = d.name()
    return [_node(op, inputs, [out], **attrs)], inits, out


def draw_argmax(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int"]), min_rank=1)
    if x is None:
        return None
    out = d.name()
    attrs = {"axis": _axis(d, len(x["shape"])), "keepdims": int(d.rng.integers(2)),
             "select_last_index": int(d.rng.integers(2))}
    return [_node(d.choice(["ArgMax", "ArgMin"]), [x["name"]], [out], **attrs)], {}, out


def draw_cast(d: Draw) -> Step | None:
    """Float to int through a NaN guard and a clip (a NaN or huge cast is undefined); other casts as they are."""
    from onnx import TensorProto

    x = d.pick("any")
    if x is None:
        return None
    out = d.name()
    if _kind(x["dtype"]) != "float":
        to = d.choice([TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL])
        return [_node("Cast", [x["name"]], [out], to=to)], {}, out
    to = d.choice([TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.DOUBLE])
    if to in (TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BOOL):
        back = d.name()  # back to float: outputs stay float32
        return [_node("Cast", [x["name"]], [back], to=to),
                _node("Cast", [back], [out], to=TensorProto.FLOAT)], {}, out
    nan, zero, clipped = d.name(), d.name(), d.name()
    zero_name, inits = d.const(0.0)
    lo, more = d.const(-1000.0)
    hi, more2 = d.const(1000.0)
    nodes = [_node("IsNaN", [x["name"]], [nan]), _node("Where", [nan, zero_name, x["name"]], [zero]),
             _node("Clip", [zero, lo, hi], [clipped]), _node("Cast", [clipped], [out], to=to)]
    return nodes, inits | more | more2, out


def draw_where(d: Draw) -> Step | None:
    x = d.pick()
    if x is None:
        return None
    cond = d.pick("bool")
    nodes, inits = [], {}
    if cond is None or d.rng.random() < 0.5:
        threshold, inits = d.const(d.choice([0.0, 0.5, -1.0]))
        name = d.name("cond")
        nodes.append(_node(d.choice(["Greater", "Less", "Equal"]), [x["name"], threshold], [name]))
        cond_name = name
    else:
        cond_name = cond["name"]
    other = d.pick()
    if other is None or d.rng.random() < 0.5:
        other_name, more = d.const(d.normal(_broadcast_shape(d, x["shape"])))
        inits |= more
    else:
        other_name = other["name"]
    out = d.name()
    pair = [x["name"], other_name] if d.rng.random() < 0.5 else [other_name, x["name"]]
    nodes.append(_node("Where", [cond_name, *pair], [out]))
    return nodes, inits, out


def draw_clip(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int"]))
    if x is None:
        return None
    low, hi = d.choice([(-0.5, 2.0), (None, 1.0), (-1.0, None), (None, None), (1.0, -1.0)])
    inputs, inits = [x["name"]], {}
    for bound in (low, hi):
        if bound is None:
            inputs.append("")
        else:
            name, more = d.const(round(bound) if _kind(x["dtype"]) == "int" else bound, x["dtype"])
            inputs.append(name)
            inits |= more
    while inputs[-1] == "":
        inputs.pop()
    out = d.name()
    return [_node("Clip", inputs, [out])], inits, out


def draw_expand_tile(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    out = d.name()
    if d.rng.random() < 0.5:
        repeats, inits = d.const([int(d.rng.integers(1, 3)) for _ in x["shape"]], np.int64)
        return [_node("Tile", [x["name"], repeats], [out])], inits, out
    other = d.pick("any")
    if other is not None and d.rng.random() < 0.4:  # to another tensor's run-time shape (torch exports do)
        shape_name = d.name("shape")
        return [_node("Shape", [other["name"]], [shape_name]), _node("Expand", [x["name"], shape_name], [out])], {}, out
    shape = [d.choice([s, 1]) if s != 1 else d.choice([1, 2, 3]) for s in x["shape"]]
    if d.rng.random() < 0.3:
        shape = [2, *shape]
    name, inits = d.const(shape, np.int64)
    return [_node("Expand", [x["name"], name], [out])], inits, out


def draw_split(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    axis = _axis(d, len(x["shape"]))
    n = x["shape"][axis]
    if n < 2:
        return None
    outs = [d.name() for _ in range(2)]
    inits: dict[str, np.ndarray] = {}
    inputs = [x["name"]]
    attrs: dict[str, Any] = {"axis": axis}
    if d.rng.random() < 0.5:
        first = int(d.rng.integers(1, n))
        name, inits = d.const([first, n - first], np.int64)
        inputs.append(name)
    elif d.opset >= 18:
        attrs["num_outputs"] = 2
    elif n % 2:
        return None
    keep = d.choice(outs)
    return [_node("Split", inputs, outs, **attrs)], inits, keep


def draw_concat(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    axis = _axis(d, rank)
    others = [e for e in d.pool if e["dtype"] == x["dtype"] and len(e["shape"]) == rank and all(
        a == b for k, (a, b) in enumerate(zip(e["shape"], x["shape"])) if k != axis % rank)]
    parts = [x["name"]] + [d.choice(others)["name"] for _ in range(int(d.rng.integers(1, 3)))]
    out = d.name()
    return [_node("Concat", parts, [out], axis=axis)], {}, out


def draw_transpose(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=2)
    if x is None:
        return None
    out = d.name()
    attrs = {} if d.rng.random() < 0.2 else {"perm": [int(v) for v in d.rng.permutation(len(x["shape"]))]}
    return [_node("Transpose", [x["name"]], [out], **attrs)], {}, out


def draw_squeeze(d: Draw) -> Step | None:
    x = d.pick("any")
    if x is None:
        return None
    rank = len(x["shape"])
    out = d.name()
    ones = [k for k, s in enumerate(x["shape"]) if s == 1]
    if ones and d.rng.random() < 0.6:
        axes = [d.choice(ones) - (rank if d.rng.random() < 0.5 else 0)]
        if d.rng.random() < 0.2:
            return [_node("Squeeze", [x["name"]], [out])], {}, out
        name, inits = d.const(axes, np.int64)
        return [_node("Squeeze", [x["name"], name], [out])], inits, out
    axes = sorted({int(d.rng.integers(-(rank + 1), rank + 1)) for _ in range(int(d.rng.integers(1, 3)))})
    name, inits = d.const(axes, np.int64)
    return [_node("Unsqueeze", [x["name"], name], [out])], inits, out


def draw_reshape(d: Draw) -> Step | None:
    x = d.pick("any", min_rank=1)
    if x is None:
        return None
    out = d.name()
    if d.rng.random() < 0.3:
        return [_node("Flatten", [x["name"]], [out], axis=_axis(d, len(x["shape"])))], {}, out
    shape = list(x["shape"])
    target = d.choice([[0, -1], [-1], [*shape[:-1], 1, shape[-1]], [0] * (len(shape) - 1) + [-1], [-1, 1]])
    name, inits = d.const(target, np.int64)
    return [_node("Reshape", [x["name"], name], [out])], inits, out


EINSUM = {2: ["ij->ji", "ij->i", "ij->", "ij,j->i", "ij,kj->ik", "ij,ij->ij", "ij,ij->", "ij,ik->jk"],
          3: ["bij->bji", "bij->bj", "bij,bjk->bik", "bij,jk->bik", "...j->...", "bij->ij"],
          4: ["abcd->acbd", "abcd,d->abc", "...ij->...ji", "abcd->ad"]}


def draw_einsum(d: Draw) -> Step | None:
    x = d.pick(min_rank=2)
    if x is None or len(x["shape"]) not in EINSUM:
        return None
    equation = d.choice(EINSUM[len(x["shape"])])
    inputs, inits = [x["name"]], {}
    if "," in equation:
        left, right = equation.split("->")[0].split(",")
        sizes = dict(zip(left, x["shape"])) | {c: int(d.rng.integers(2, 5)) for c in right if c not in left}
        name, inits = d.const(d.normal(tuple(sizes[c] for c in right)))
        inputs.append(name)
    out = d.name()
    return [_node("Einsum", inputs, [out], equation=equation)], inits, out


def draw_normalization(d: Draw) -> Step | None:
    x = d.pick(min_rank=2)
    if x is None:
        return None
    rank = len(x["shape"])
    out = d.name()
    op = d.choice(["LayerNormalization", "InstanceNormalization", "BatchNormalization", "LpNormalization"]
                  if d.opset >= 17 else ["InstanceNormalization", "BatchNormalization", "LpNormalization"])
    if op == "LpNormalization":
        return [_node(op, [x["name"]], [out], axis=_axis(d, rank), p=d.choice([1, 2]))], {}, out
    if op == "LayerNormalization":
        axis = _axis(d, rank)
        shape = tuple(x["shape"][axis:])
        scale, inits = d.const(d.normal(shape))
        inputs = [x["name"], scale]
        if d.rng.random() < 0.6:
            bias, more = d.const(d.normal(shape))
            inputs.append(bias)
            inits |= more
        return [_node(op, inputs, [out], axis=axis, epsilon=d.choice([1e-5, 1e-2]))], inits, out
    c = x["shape"][1]
    inits = {}
    names = []
    parts = [d.normal((c,)), d.normal((c,))] + ([d.normal((c,)), np.abs(d.normal((c,))) + 0.5]
                                                 if op == "BatchNormalization" else [])
    for value in parts:
        name, more = d.const(value)
        names.append(name)
        inits |= more
    return [_node(op, [x["name"], *names], [out], epsilon=d.choice([1e-5, 1e-2]))], inits, out


def draw_softmax(d: Draw) -> Step | None:
    x = d.pick(min_rank=1)
    if x is None:
        return None
    out = d.name()
    op = d.choice(["Softmax", "LogSoftmax", "Hardmax"])
    return [_node(op, [x["name"]], [out], axis=_axis(d, len(x["shape"])))], {}, out


def draw_cumsum(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "int"]), min_rank=1)
    if x is None:
        return None
    axis, inits = d.const(_axis(d, len(x["shape"])), d.choice([np.int64, np.int32]))
    out = d.name()
    attrs = {"exclusive": int(d.rng.integers(2)), "reverse": int(d.rng.integers(2))}
    return [_node("CumSum", [x["name"], axis], [out], **attrs)], inits, out


def draw_topk(d: Draw) -> Step | None:
    x = d.pick(d.choice(["float", "float", "int"]), min_rank=1)
    if x is None:
        return None
    axis = _axis(d, len(x["shape"]))
    k, inits = d.const([int(d.rng.integers(1, x["shape"][axis] + 1))], np.int64)
    values, indices = d.name(), d.name()
    attrs = {"axis": axis, "largest": int(d.rng.integers(2)), "sorted": 1}
    return [_node("TopK", [x["name"], k], [values, indices], **attrs)], inits, d.choice([values, indices])


def draw_range(d: Draw) -> Step | None:
    """Range up to a run-time size (Shape -> Gather), times a float step, added to a tensor of that length."""
    x = d.pick(min_rank=1)
    if x is None:
        return None
    axis = _axis(d, len(x["shape"]))
    shape, size, limit, steps, out = d.name(), d.name(), d.name(), d.name(), d.name()
    index, inits = d.const(axis % len(x["shape"]), np.int64)
    start, more = d.const(d.choice([0.0, -1.5, 2.0]))
    delta, more2 = d.const(d.choice([1.0, 0.5, -0.25]))
    nodes = [_node("Shape", [x["name"]], [shape]), _node("Gather", [shape, index], [size]),
             _node("Cast", [size], [limit], to=1), _node("Range", [start, limit, delta], [steps])]
    if d.rng.random() < 0.5:
        nodes.append(_node("Add", [x["name"], steps], [out]) if axis % len(x["shape"]) == len(x["shape"]) - 1
                     else _node("Identity", [steps], [out]))
    else:
        nodes[-1] = _node("Range", [start, limit, delta], [out])
    return nodes, inits | more | more2, out


def draw_quantize(d: Draw) -> Step | None:
    """QuantizeLinear (round half to even, saturate) to uint8/int8, then DequantizeLinear or a Cast back."""
    x = d.pick(min_rank=1)
    if x is None:
        return None
    rank = len(x["shape"])
    per_axis = d.rng.random() < 0.4 and rank >= 2
    axis = _axis(d, rank)
    count = x["shape"][axis] if per_axis else 1
    scale = np.round(np.abs(d.normal((count,))) * 8 + 1) / 16
    zero_dtype = d.choice([np.uint8, np.int8])
    zero = d.rng.integers(0, 50, size=count) if zero_dtype == np.uint8 else d.rng.integers(-20, 20, size=count)
    scale_name, inits = d.const(scale if per_axis else scale[0])
    zero_name, more = d.const(zero if per_axis else zero[0], zero_dtype)
    attrs = {"axis": axis} if per_axis else {}
    q, out = d.name("q"), d.name()
    nodes = [_node("QuantizeLinear", [x["name"], scale_name, zero_name], [q], **attrs)]
    if d.rng.random() < 0.6:
        nodes.append(_node("DequantizeLinear", [q, scale_name, zero_name], [out], **attrs))
    else:
        nodes.append(_node("Cast", [q], [out], to=6))
    return nodes, inits | more, out


def draw_int_ops(d: Draw) -> Step | None:
    """Integer-only ops: wrapping casts to 8/16-bit types, bit shifts and bitwise logic, Pow with int exponents."""
    x = d.pick("int")
    if x is None:
        return None
    out = d.name()
    op = d.choice(["CastSmall", "BitShift", "Bitwise", "PowInt"])
    if op == "CastSmall":  # int8/uint8/int16 wrap modulo 2^bits; back to int32 for the output
        small = d.name()
        to = d.choice([2, 3, 5])  # UINT8, INT8, INT16
        return [_node("Cast", [x["name"]], [small], to=to), _node("Cast", [small], [out], to=6)], {}, out
    if op == "BitShift":
        cast = d.name()
        amount, inits = d.const(d.rng.integers(0, 4, size=_broadcast_shape(d, x["shape"])), np.uint8)
        return [_node("Cast", [x["name"]], [cast], to=2),
                _node("BitShift", [cast, amount], [out], direction=d.choice(["LEFT", "RIGHT"]))], inits, out
    if op == "Bitwise" and d.opset >= 18:
        mask, inits = d.const(d.rng.integers(-8, 8, size=_broadcast_shape(d, x["shape"])), x["dtype"])
        name = d.choice(["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
        return [_node(name, [x["name"], mask], [out])], inits, out
    base = d.pick() or x
    exponent, inits = d.const(d.rng.integers(0, 4, size=_broadcast_shape(d, base["shape"])), x["dtype"])
    return [_node("Pow", [base["name"], exponent], [out])], inits, out


def draw_grid_sample(d: Draw) -> Step | None:
    """GridSample (opset 16+) of an NCHW tensor at constant points, some outside [-1, 1]."""
    x = d.pick(rank=4)
    if x is None or d.opset < 16:
        return None
    grid, inits = d.const(d.rng.uniform(-1.2, 1.2, size=(x["shape"][0], int(d.rng.integers(2, 5)),
                                                         int(d.rng.integers(2, 5)), 2)).astype(np.float32))
    out = d.name()
    attrs = {"mode": d.choice(["bilinear", "nearest", "bicubic"]),
             "padding_mode": d.choice(["zeros", "border", "reflection"]), "align_corners": int(d.rng.integers(2))}
    return [_node("GridSample", [x["name"], grid], [out], **attrs)], inits, out


def draw_select_ops(d: Draw) -> Step | None:
    """Compress along an axis (or flattened), ReverseSequence, Dropout at inference, CenterCropPad (opset 18)."""
    x = d.pick("any", min_rank=2)
    if x is None:
        return None
    rank = len(x["shape"])
    out = d.name()
    op = d.choice(["Compress", "ReverseSequence", "Dropout", "CenterCropPad"])
    if op == "Compress":
        axis = _axis(d, rank) if d.rng.random() < 0.8 else None
        n = x["shape"][axis] if axis is not None else int(np.prod(x["shape"]))
        cond, inits = d.const(d.rng.random(int(d.rng.integers(1, n + 1))) < 0.6, np.bool_)
        return [_node(op, [x["name"], cond], [out], **({} if axis is None else {"axis": axis}))], inits, out
    if op == "ReverseSequence":
        batch_axis, time_axis = d.choice([(0, 1), (1, 0)])
        lens, inits = d.const(d.rng.integers(1, x["shape"][time_axis] + 1, size=x["shape"][batch_axis]), np.int64)
        return [_node(op, [x["name"], lens], [out], batch_axis=batch_axis, time_axis=time_axis)], inits, out
    if op == "Dropout":
        return [_node(op, [x["name"]], [out, d.name("mask")])], {}, out
    if d.opset < 18:
        return None
    shape, inits = d.const([max(1, s + int(d.rng.integers(-2, 3))) for s in x["shape"]], np.int64)
    return [_node(op, [x["name"], shape], [out])], inits, out


PRECISION_OPS = ("Add", "Sub", "Mul", "Div", "Exp", "Sqrt", "ReduceSum", "MatMul", "Tanh", "Pow")


def draw_precision(d: Draw) -> Step | None:
    """Math in float16 or float64 between two Casts: onnxruntime rounds each float16 result and keeps float64's
    digits, where TF.js computes in float32."""
    from onnx import TensorProto

    x = d.pick(min_rank=1)
    if x is None:
        return None
    elem, dtype = d.choice([(TensorProto.FLOAT16, np.float16), (TensorProto.DOUBLE, np.float64)])
    cur = d.name("narrow")
    nodes, inits = [_node("Cast", [x["name"]], [cur], to=elem)], {}
    for _ in range(int(d.rng.integers(1, 4))):
        op, nxt = d.choice(PRECISION_OPS), d.name("wide")
        if op in ("Exp", "Sqrt", "Tanh"):
            nodes.append(_node(op, [cur], [nxt]))
        elif op == "ReduceSum":
            nodes.append(_node(op, [cur], [nxt], keepdims=1))
        else:
            shape = (x["shape"][-1], x["shape"][-1]) if op == "MatMul" else _broadcast_shape(d, x["shape"])
            value = d.normal(shape, 3.0) if op != "Pow" else np.full(shape, d.choice([2.0, 0.5, 3.0]))
            name, more = d.const(value, dtype)
            nodes.append(_node(op, [cur, name], [nxt]))
            inits |= more
        cur = nxt
    out = d.name()
    nodes.append(_node("Cast", [cur], [out], to=TensorProto.FLOAT))
    return nodes, inits, out


def draw_misc(d: Draw) -> Step | None:
    """DepthToSpace/SpaceToDepth, Trilu, OneHot, ReverseSequence, Shape arithmetic, ConstantOfShape."""
    x = d.pick(min_rank=2)
    if x is None:
        return None
    out = d.name()
    rank = len(x["shape"])
    op = d.choice(["DepthToSpace", "SpaceToDepth", "Trilu", "OneHot", "ShapeMul"])
    if op == "DepthToSpace" and rank == 4 and x["shape"][1] % 4 == 0:
        return [_node(op, [x["name"]], [out], blocksize=2, mode=d.choice(["DCR", "CRD"]))], {}, out
    if op == "SpaceToDepth" and rank == 4 and x["shape"][2] % 2 == 0 and x["shape"][3] % 2 == 0:
        return [_node(op, [x["name"]], [out], blocksize=2)], {}, out
    if op == "Trilu":
        k, inits = d.const(int(d.rng.integers(-2, 3)), np.int64)
        return [_node(op, [x["name"], k], [out], upper=int(d.rng.integers(2)))], inits, out
    if op == "OneHot":
        cast, inits = d.name(), {}
        depth, inits = d.const([4], np.int64)
        values, more = d.const([-1.0, 2.0])
        nodes = [_node("Cast", [x["name"]], [cast], to=7),
                 _node("OneHot", [cast, depth, values], [out], axis=_axis(d, rank + 1))]
        return nodes, inits | more, out
    if op == "ShapeMul":  # a tensor scaled by its own run-time sizes
        shape, size, cast = d.name(), d.name(), d.name()
        start = int(d.rng.integers(-rank, rank))
        attrs = {"start": start} if d.opset >= 15 else {}
        nodes = [_node("Shape", [x["name"]], [shape], **attrs), _node("ReduceProd", [shape], [size], keepdims=1)
                 if d.opset < 18 else _node("ReduceSum", [shape], [size], keepdims=1),
                 _node("Cast", [size], [cast], to=1), _node("Mul", [x["name"], cast], [out])]
        return nodes, {}, out
    return None


DRAWERS: dict[str, tuple[Drawer, float]] = {
    "unary": (draw_unary, 3.0), "binary": (draw_binary, 3.0), "gemm": (draw_gemm, 1.0),
    "matmul": (draw_matmul, 1.5), "conv": (draw_conv, 2.0), "conv_transpose": (draw_conv_transpose, 1.2),
    "pool": (draw_pool, 1.5), "resize": (draw_resize, 1.5), "pad": (draw_pad, 1.2), "slice": (draw_slice, 1.5),
    "gather": (draw_gather, 1.5), "scatter": (draw_scatter, 1.0), "reduce": (draw_reduce, 1.5),
    "argmax": (draw_argmax, 0.8), "cast": (draw_cast, 1.0), "where": (draw_where, 1.0), "clip": (draw_clip, 0.8),
    "expand_tile": (draw_expand_tile, 0.8), "split": (draw_split, 0.8), "concat": (draw_concat, 0.8),
    "transpose": (draw_transpose, 1.0), "squeeze": (draw_squeeze, 0.8), "reshape": (draw_reshape, 0.8),
    "einsum": (draw_einsum, 1.0), "normalization": (draw_normalization, 1.2), "softmax": (draw_softmax, 0.8),
    "cumsum": (draw_cumsum, 0.8), "topk": (draw_topk, 0.8), "range": (draw_range, 0.6), "misc": (draw_misc, 1.0),
    "runtime_slice": (draw_runtime_slice, 1.0), "quantize": (draw_quantize, 1.0), "int_ops": (draw_int_ops, 1.0),
    "grid_sample": (draw_grid_sample, 0.7), "select_ops": (draw_select_ops, 0.8), "precision": (draw_precision, 1.0),
}


# ---------------------------------------------------------------- graphs

def draw_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """1-3 float32 inputs of a few layouts (an NCHW image, a matrix, a sequence, a vector)."""
    kinds = list(INPUT_SHAPES)
    first = kinds[int(rng.integers(len(kinds)))]
    specs = [{"name": "x0", "dtype": "float32", "shape": list(INPUT_SHAPES[first])}]
    for n in range(1, int(rng.integers(1, 4))):
        kind = first if rng.random() < 0.6 else kinds[int(rng.integers(len(kinds)))]
        specs.append({"name": f"x{n}", "dtype": "float32", "shape": list(INPUT_SHAPES[kind])})
    if rng.random() < 0.35:  # run-time indices (Gather, GatherND, Slice starts), negative ones among them
        specs.append({"name": INDEX_INPUT, "dtype": "int64", "shape": [3]})
    return specs


def input_feed(spec: dict[str, Any], rng: np.random.Generator, special: bool, ties: bool) -> np.ndarray:
    """Edge values for a float input; indices in [-2, 2) (valid for any axis of size 2 or more) for the index one."""
    if spec["dtype"] == "int64":
        return rng.integers(-2, 2, size=spec["shape"]).astype(np.int64)
    return edge_feed(spec, rng, special, ties)


def input_dims(spec: dict[str, Any], dynamic: bool, all_unknown: bool) -> list[int | str]:
    """The declared dims: the leading one (or every one) symbolic in a dynamic graph."""
    shape = list(spec["shape"])
    if not dynamic or spec["name"] == INDEX_INPUT:
        return shape
    return [f"d{k}" for k in range(len(shape))] if all_unknown else ["batch", *shape[1:]]


def build_model(graph: dict[str, Any], nodes: list[Any], inits: dict[str, np.ndarray], outputs: list[str],
                dynamic: bool | None = None):
    """An ONNX ModelProto of ``nodes``; outputs typed by ONNX's shape inference where it can."""
    import onnx
    from onnx import helper, numpy_helper

    dynamic = graph["dynamic"] if dynamic is None else dynamic
    elem = {"float32": onnx.TensorProto.FLOAT, "int64": onnx.TensorProto.INT64}
    inputs = [helper.make_tensor_value_info(s["name"], elem[s["dtype"]], input_dims(s, dynamic, graph["all_unknown"]))
              for s in graph["inputs"]]
    proto = helper.make_graph(nodes, "random", inputs, [helper.make_empty_tensor_value_info(o) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", graph["opset"])])
    model.ir_version = min(model.ir_version, 8)  # onnxruntime's ceiling for these opsets
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is a nicety; onnxruntime judges validity
        return model
    known = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for out in model.graph.output:
        if out.name in known and known[out.name].type.HasField("tensor_type"):
            out.CopyFrom(known[out.name])
    return model


def run_onnxruntime(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs of a ModelProto (or a path), keyed by output name."""
    import onnxruntime as ort

    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def _valid(graph: dict[str, Any], nodes: list[Any], inits: dict[str, np.ndarray], out: str,
           feeds: dict[str, np.ndarray]) -> np.ndarray | None:
    """The step's result on the sample feeds, or None when onnxruntime rejects it or it is empty or too big."""
    try:
        value = run_onnxruntime(build_model(graph, nodes, inits, [out]), feeds)[out]
    except Exception:  # noqa: BLE001 - onnxruntime rejects many drawn combinations; they are drawn again
        return None
    if value.size == 0 or value.size > MAX_ELEMENTS or value.ndim > 5:
        return None
    return value


def draw_graph(seed: int, index: int, boost: dict[str, float] | None = None) -> dict[str, Any]:
    """A valid random graph: inputs, steps checked one by one in onnxruntime, 1-2 outputs, and its feeds."""
    rng = np.random.default_rng([seed, index])
    graph: dict[str, Any] = {"seed": seed, "index": index, "opset": int(rng.integers(13, 19)),
                             "inputs": draw_inputs(rng), "special": bool(rng.random() < 0.25),
                             "ties": bool(rng.random() < 0.3), "dynamic": bool(rng.random() < 0.4),
                             "all_unknown": bool(rng.random() < 0.3)}
    feed_rng = np.random.default_rng([seed, index, 1])
    feeds = {s["name"]: input_feed(s, feed_rng, graph["special"], graph["ties"]) for s in graph["inputs"]}
    pool: list[Entry] = [{"name": s["name"], "dtype": s["dtype"], "shape": tuple(s["shape"])} for s in graph["inputs"]]
    names = list(DRAWERS)
    weights = np.array([DRAWERS[n][1] * (boost or {}).get(n, 1.0) for n in names])
    nodes: list[Any] = []
    inits: dict[str, np.ndarray] = {}
    steps: list[str] = []
    wanted = int(rng.integers(3, 11))
    for attempt in range(wanted * 10):
        if len(steps) >= wanted:
            break
        op = str(rng.choice(names, p=weights / weights.sum()))
        step = DRAWERS[op][0](Draw(rng, pool, graph["opset"], f"s{attempt}"))
        if step is None:
            continue
        new_nodes, new_inits, out = step
        value = _valid(graph, nodes + new_nodes, inits | new_inits, out, feeds)
        if value is None:
            continue
        nodes += new_nodes
        inits |= new_inits
        pool.append({"name": out, "dtype": value.dtype.name, "shape": value.shape})
        steps.append(_describe(new_nodes[-1]))
    outputs = [pool[-1]["name"]]
    if len(pool) - 1 > len(graph["inputs"]) and rng.random() < 0.4:
        outputs.append(pool[int(rng.integers(len(graph["inputs"]), len(pool) - 1))]["name"])
    return {**graph, "steps": steps, "outputs": outputs, "nodes": nodes, "inits": inits, "feeds": feeds}


def _describe(node: Any) -> str:
    """A node as ``Op(attr=value,...)``: the JSON's readable recipe (the model is kept for failures)."""
    from onnx import helper

    attrs = ",".join(f"{a.name}={helper.get_attribute_value(a)!r}".replace("b'", "'") for a in node.attribute)
    return f"{node.op_type}({attrs})"


# ---------------------------------------------------------------- conversion and verdict

def classify(graph: dict[str, Any], work: Path) -> dict[str, Any]:
    """Save, reference, convert, run: the graph's verdict and what explains it."""
    import onnx

    path, out = work / "model.onnx", work / "tfjs"
    onnx.save(build_model(graph, graph["nodes"], graph["inits"], graph["outputs"]), str(path))
    np.savez(work / "in.npz", **graph["feeds"])

    def oracle(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return run_onnxruntime(path, feeds)

    proc = convert(path, out)
    result: dict[str, Any] = {"convert_rc": proc.returncode}
    if proc.returncode == 2:
        return {**result, "verdict": "refused", "why": converter_reason(proc)}
    if proc.returncode != 0:
        return {**result, "verdict": "CRASH", "why": "converter: " + converter_reason(proc)}
    for size, feeds in _feed_sets(graph).items():
        try:
            expected = oracle(feeds)
        except Exception:  # noqa: BLE001 - onnxruntime rejects the other size (a reshape fixed to the drawn one)
            continue
        verdict = judge(path, oracle, out, proc, work, feeds, expected)
        if verdict is not None and verdict["verdict"] == "WRONG":  # a deviation the converter's line names?
            verdict = onnx_named_deviations.explained(path, proc, work, feeds, convert, run_onnxruntime,
                                                      verify) or verdict
        if verdict is not None:
            return {**result, **verdict, "size": size}
    return {**result, "verdict": "pass"}


def _feed_sets(graph: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """The drawn feeds and, for a graph with a symbolic leading axis, feeds at another leading size."""
    sets = {"drawn": graph["feeds"]}
    if graph["dynamic"]:
        rng = np.random.default_rng([graph["seed"], graph["index"], 2])
        lead = int(rng.choice([1, 3]))
        specs = [{**s, "shape": [lead, *s["shape"][1:]]} for s in graph["inputs"] if s["name"] != INDEX_INPUT]
        sets[f"leading {lead}"] = {s["name"]: edge_feed(s, rng, graph["special"], graph["ties"]) for s in specs}
        if INDEX_INPUT in graph["feeds"]:
            sets[f"leading {lead}"][INDEX_INPUT] = graph["feeds"][INDEX_INPUT]
    return sets


def run_case(seed: int, index: int, keep: Path | None, boost: dict[str, float] | None = None) -> dict[str, Any]:
    """One random graph from draw to verdict; a failed case's files are kept in ``keep``."""
    started = time.time()
    graph = draw_graph(seed, index, boost)
    work = Path(tempfile.mkdtemp(prefix=f"onnxrg-{seed}-{index}-"))
    try:
        outcome = classify(graph, work)
    except Exception as exc:  # noqa: BLE001 - a harness failure is reported, the run goes on
        outcome = {"verdict": "harness-error", "why": f"{type(exc).__name__}: {exc}"[:600]}
    if keep is not None and outcome["verdict"] in ("WRONG", "CRASH"):
        shutil.copytree(work, keep / f"{seed}_{index}", dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    recipe = {k: graph[k] for k in ("opset", "inputs", "special", "ties", "dynamic", "all_unknown", "outputs")}
    return {"index": index, **outcome, "ops": [s.split("(")[0] for s in graph["steps"]], "steps": graph["steps"],
            "recipe": recipe, "seconds": round(time.time() - started, 1)}


def session_tag(seed: int) -> str:
    """The session a seed names (``3231`` -> ``s32``), so each session's runs keep their own result files."""
    return f"s{seed // 100}" if 1000 <= seed <= 9999 else "seed"


def write_results(results: list[dict[str, Any]], seed: int, command: str, out: Path, suffix: str = "",
                  tag: str | None = None) -> Path:
    """``onnx_random_graphs_<tag>_<seed>.{json,md}`` (tag: the seed's session unless given): counts, then each
    non-pass case (the shared layout)."""
    stem = out / f"onnx_random_graphs_{tag or session_tag(seed)}_{seed}{suffix}"
    return random_graph_results.write_results(stem, "Random ONNX graphs", results, seed, command, describe_case)


def describe_case(r: dict[str, Any]) -> str:
    """A non-pass case's verdict, opset and steps with their attributes."""
    return f"{r['verdict']} (opset {r['recipe']['opset']}): `{' '.join(r['steps'])}`"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    random_graph_results.add_hunt_arguments(parser, count=40, seed=3001, out=REPO / "bench" / "results")
    parser.add_argument("--tag", default=None, help="the results' stem tag (default: the seed's session, "
                        "3231 -> s32)")
    args = parser.parse_args(argv)
    boost = random_graph_results.boosts(args)
    return random_graph_results.hunt(
        args, argv, lambda index: run_case(args.seed, index, args.keep, boost),
        lambda results, command: write_results(results, args.seed, command, args.out, "_only" if args.only else "",
                                               args.tag))


if __name__ == "__main__":
    sys.exit(main())
