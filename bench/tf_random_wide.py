"""The ``--wide`` families of ``tf_random_graphs.py`` (session 30): ops the converter maps that the first draws never made.

Scatter (ScatterNd, TensorScatterUpdate/Add/Max/Min), GatherNd, DepthToSpace/SpaceToDepth, raw ResizeBilinear/
ResizeNearestNeighbor with each ``align_corners``/``half_pixel_centers`` reading, Conv2DBackpropInput, MaxPool/AvgPool
(SAME and VALID), Einsum, segment reductions (sorted, unsorted, sparse), run-time int32 bitwise ops and shifts,
Rint/Round/Sign and inverse trig, int32 FloorDiv/FloorMod/TruncateMod of two tensors (negative divisors), Range with
negative deltas, one-argument Where, Unique, and a few more (MatrixBandPart, BroadcastTo, LinSpace, LRN,
searchsorted, EuclideanNorm, SpaceToBatchND, Dilation2D, MirrorPad by the raw op).

They live apart so that a seed drawn without ``--wide`` keeps its recipe: ``tf_random_graphs.draw_recipe`` adds
``WIDE_DRAWERS`` to its table only when asked.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tf_random_graphs import Drawer, _const, _pick, _same_shape, _seed

# ---------------------------------------------------------------- op application (recipe step -> TF tensor)


def _scatter(tf, xs, p):
    x = xs[0]
    indices = tf.constant(np.asarray(p["indices"], np.int32))
    lead = len(p["indices"])
    updates_shape = [lead, *[int(d) for d in x.shape[p["depth"]:]]]
    updates = tf.constant(_const(p, tuple(updates_shape), 2.0))
    updates = tf.cast(tf.round(updates), x.dtype) if x.dtype == tf.int32 else updates
    if p["fn"] == "scatter_nd":
        return x + tf.scatter_nd(indices, updates, tf.shape(x))
    fn = {"update": tf.tensor_scatter_nd_update, "add": tf.tensor_scatter_nd_add,
          "max": tf.tensor_scatter_nd_max, "min": tf.tensor_scatter_nd_min, "sub": tf.tensor_scatter_nd_sub}
    return fn[p["fn"]](x, indices, updates)


def _gather_nd(tf, xs, p):
    return tf.gather_nd(xs[0], tf.constant(np.asarray(p["indices"], np.int32)), batch_dims=p.get("batch_dims", 0))


def _space_depth(tf, xs, p):
    x = xs[0]
    if p["fn"] == "space_to_depth":
        pad_h, pad_w = int(x.shape[1]) % 2, int(x.shape[2]) % 2
        return tf.nn.space_to_depth(tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]), 2)
    c = int(x.shape[-1])
    return tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4 // np.gcd(c, 4)]), 2)


def _resize_raw(tf, xs, p):
    fn = tf.raw_ops.ResizeBilinear if p["fn"] == "bilinear" else tf.raw_ops.ResizeNearestNeighbor
    return fn(images=xs[0], size=p["size"], align_corners=p["align"], half_pixel_centers=p["half"])


def _conv_transpose(tf, xs, p):
    x = xs[0]
    k, cout, stride = p["k"], p["cout"], p["stride"]
    w = tf.constant(_const(p, (k, k, cout, int(x.shape[-1])), 0.5))
    h, wd = int(x.shape[1]), int(x.shape[2])
    if p["padding"] == "SAME":
        out_hw = [h * stride, wd * stride]
    else:
        out_hw = [(h - 1) * stride + k, (wd - 1) * stride + k]
    batch = tf.shape(x)[0]
    shape = tf.stack([batch, out_hw[0], out_hw[1], cout])
    y = tf.nn.conv2d_transpose(x, w, shape, [1, stride, stride, 1], p["padding"])
    return tf.nn.relu(y) if p.get("relu") else y


def _pool(tf, xs, p):
    fn = tf.nn.max_pool2d if p["fn"] == "max" else tf.nn.avg_pool2d
    return fn(xs[0], p["k"], p["stride"], p["padding"])


def _einsum(tf, xs, p):
    x = xs[0]
    if p.get("wshape"):
        return tf.einsum(p["eq"], x, tf.constant(_const(p, tuple(p["wshape"]), 0.5)))
    if len(xs) > 1:
        return tf.einsum(p["eq"], x, xs[1])
    return tf.einsum(p["eq"], x)


def _segment(tf, xs, p):
    """Segment reductions; a sorted one's leading size (the last id + 1) is set statically, as eager runs see it."""
    x = xs[0]
    ids = tf.constant(np.asarray(p["ids"], np.int32))
    fn = p["fn"]
    if fn.startswith("unsorted_"):
        op = {"unsorted_sum": tf.math.unsorted_segment_sum, "unsorted_max": tf.math.unsorted_segment_max,
              "unsorted_min": tf.math.unsorted_segment_min, "unsorted_prod": tf.math.unsorted_segment_prod,
              "unsorted_mean": tf.math.unsorted_segment_mean}[fn]
        return op(x, ids, p["segments"])
    if fn.startswith("sparse_"):
        rows = tf.constant(np.asarray(p["rows"], np.int32))
        op = {"sparse_sum": tf.sparse.segment_sum, "sparse_mean": tf.sparse.segment_mean,
              "sparse_sqrt_n": tf.sparse.segment_sqrt_n}[fn]
        out = op(x, rows, ids)
    else:
        op = {"sum": tf.math.segment_sum, "max": tf.math.segment_max, "min": tf.math.segment_min,
              "mean": tf.math.segment_mean, "prod": tf.math.segment_prod}[fn]
        out = op(x, ids)
    out.set_shape([max(p["ids"]) + 1, *x.shape[1:]])
    return out


def _int_bitwise(tf, xs, p):
    x = xs[0]
    k = tf.constant(p["k"], tf.int32)
    fn = {"and": tf.bitwise.bitwise_and, "or": tf.bitwise.bitwise_or, "xor": tf.bitwise.bitwise_xor,
          "left_shift": tf.bitwise.left_shift, "right_shift": tf.bitwise.right_shift}
    if p["fn"] == "invert":
        return tf.bitwise.invert(x)
    return fn[p["fn"]](x, k) if not p.get("swap") else fn[p["fn"]](k, x)


def _rounding(tf, xs, p):
    x = xs[0]
    fn = {"rint": tf.math.rint, "round": tf.round, "sign": tf.sign, "round_half": lambda v: tf.round(v * 2.0) * 0.5,
          "asin": tf.asin, "acos": tf.acos, "atan": tf.atan, "sinh": tf.sinh, "cosh": tf.cosh, "tan": tf.tan,
          "asinh": tf.asinh, "acosh": tf.acosh, "atanh": tf.atanh, "softsign": tf.nn.softsign,
          "log_sigmoid": tf.math.log_sigmoid, "is_nan": lambda v: tf.cast(tf.math.is_nan(v), tf.float32),
          "xlogy": lambda v: tf.math.xlogy(v, tf.abs(v)), "xdivy": lambda v: tf.math.xdivy(v, v + 1.0),
          "floor_int": lambda v: tf.cast(tf.floor(tf.clip_by_value(v, -1e6, 1e6)), tf.int32)}
    return fn[p["fn"]](x)


def _int_pair(tf, xs, p):
    a, b = xs[0], xs[1]
    b = tf.where(tf.equal(b, 0), tf.constant(p["zero_to"], tf.int32), b)
    fn = {"floordiv": tf.math.floordiv, "floormod": tf.math.floormod, "truncatediv": tf.truncatediv,
          "truncatemod": tf.truncatemod, "mul": tf.multiply, "maximum": tf.maximum}
    return fn[p["fn"]](a, b)


def _range(tf, xs, p):
    x = xs[0]
    n = tf.shape(x)[-1]
    if p["fn"] == "shape_start":  # start from the run-time size, count down: exactly n values
        r = tf.cast(tf.range(n * p["step"] - 1, -1, -p["step"]), x.dtype)
        r.set_shape(x.shape[-1:])
    else:
        start, delta = tf.constant(p["start"], x.dtype), tf.constant(p["delta"], x.dtype)
        count = int(x.shape[-1])
        r = tf.range(start, start + delta * count - delta * 0.5, delta) if x.dtype == tf.float32 else \
            tf.range(start, start + delta * count, delta)
    return x * r if p.get("mul") else x + r


def _where1(tf, xs, p):
    x = xs[0]
    cond = tf.greater(x, tf.constant(p["threshold"], x.dtype))
    coords = tf.cast(tf.where(cond), tf.int32)
    if p["fn"] == "count":
        return tf.shape(coords)[0:1] + tf.reduce_sum(coords, axis=0)
    return tf.reduce_max(coords, axis=0) if p["fn"] == "max" else tf.reduce_sum(coords, axis=0)


def _unique(tf, xs, p):
    x = xs[0]
    flat = tf.reshape(tf.round(x) if x.dtype == tf.float32 else x, [-1])
    y, idx = tf.unique(flat)
    if p["fn"] == "idx":
        out = tf.reshape(idx, tf.shape(x))
        out.set_shape(x.shape)
        return out
    return tf.reshape(tf.cast(tf.size(y), x.dtype), [1]) + tf.reduce_sum(y, keepdims=True)


def _misc_wide(tf, xs, p):
    x = xs[0]
    fn = p["fn"]
    if fn == "band_part":
        return tf.linalg.band_part(x, p["lower"], p["upper"])
    if fn == "broadcast_to":
        return tf.broadcast_to(x, [2, *[int(d) for d in x.shape]])
    if fn == "linspace":
        return x + tf.linspace(tf.constant(p["start"]), tf.constant(p["stop"]), int(x.shape[-1]))
    if fn == "lrn":
        return tf.nn.local_response_normalization(x, depth_radius=p["radius"], bias=1.0, alpha=0.5, beta=0.75)
    if fn == "searchsorted":
        edges = tf.constant(np.sort(_const(p, (5,), 2.0)))
        side = "left" if p["left"] else "right"
        return tf.searchsorted(edges, tf.reshape(x, [1, -1]), side=side, out_type=tf.int32)
    if fn == "euclidean_norm":
        return tf.raw_ops.EuclideanNorm(input=x, axis=tf.constant(p["axis"]), keep_dims=p["keepdims"])
    if fn == "space_to_batch":
        return tf.space_to_batch(x, [2, 2], [[0, int(x.shape[1]) % 2], [1, 1 + int(x.shape[2]) % 2]])
    if fn == "dilation2d":
        kernel = tf.constant(_const(p, (2, 2, int(x.shape[-1])), 0.5))
        return tf.nn.dilation2d(x, kernel, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
    if fn == "mirror_pad":
        mode = "REFLECT" if p["reflect"] else "SYMMETRIC"
        return tf.raw_ops.MirrorPad(input=x, paddings=tf.constant(p["paddings"], tf.int32), mode=mode)
    raise ValueError(fn)


WIDE_APPLY: dict[str, Callable] = {
    "scatter": _scatter, "gather_nd": _gather_nd, "space_depth": _space_depth, "resize_raw": _resize_raw,
    "conv_transpose": _conv_transpose, "pool": _pool, "einsum": _einsum, "segment": _segment,
    "int_bitwise": _int_bitwise, "rounding": _rounding, "int_pair": _int_pair, "range": _range, "where1": _where1,
    "unique": _unique, "misc_wide": _misc_wide,
}


# ---------------------------------------------------------------- drawing steps


def _index_rows(rng: np.random.Generator, shape: tuple[int, ...], depth: int, count: int,
                distinct: bool) -> list[list[int]]:
    """``count`` index tuples into the first ``depth`` axes of ``shape`` (negatives never: TF rejects them)."""
    rows = [[int(rng.integers(0, d)) for d in shape[:depth]] for _ in range(count)]
    if distinct:
        rows = [list(r) for r in dict.fromkeys(tuple(r) for r in rows)]
    return rows


def draw_scatter(rng, pool):
    i = _pick(rng, pool, min_rank=1, max_rank=4)
    if i is None:
        return None
    shape = pool[i]["shape"]
    depth = int(rng.integers(1, len(shape) + 1))
    fn = str(rng.choice(["scatter_nd", "update", "add", "max", "min", "sub"]))
    rows = _index_rows(rng, shape, depth, int(rng.integers(1, 4)), distinct=fn == "update")
    return {"args": [i], "p": {"fn": fn, "indices": rows, "depth": depth, "seed": _seed(rng)}}


def draw_gather_nd(rng, pool):
    i = _pick(rng, pool, min_rank=1, max_rank=4)
    if i is None:
        return None
    shape = pool[i]["shape"]
    depth = int(rng.integers(1, len(shape) + 1))
    rows = _index_rows(rng, shape, depth, int(rng.integers(1, 5)), distinct=False)
    if rng.random() < 0.3:
        rows = [rows[: max(1, len(rows) // 2)]] * 2  # a 3-d index tensor: [2, k, depth]
    return {"args": [i], "p": {"indices": rows}}


def draw_space_depth(rng, pool):
    i = _pick(rng, pool, "float32" if rng.random() < 0.8 else None, min_rank=4, max_rank=4)
    return None if i is None else {"args": [i], "p": {"fn": str(rng.choice(["space_to_depth", "depth_to_space"]))}}


def draw_resize_raw(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=4, max_rank=4)
    if i is None:
        return None
    align = bool(rng.random() < 0.4)
    half = False if align else bool(rng.random() < 0.6)
    size = [int(rng.choice([1, 2, 3, 4, 7, 10])), int(rng.choice([1, 2, 3, 5, 8]))]
    return {"args": [i], "p": {"fn": str(rng.choice(["bilinear", "nearest"])), "align": align, "half": half,
                               "size": size}}


def draw_conv_transpose(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=4, max_rank=4)
    if i is None:
        return None
    return {"args": [i], "p": {"k": int(rng.choice([1, 2, 3])), "cout": int(rng.integers(1, 4)),
                               "stride": int(rng.choice([1, 2])), "padding": str(rng.choice(["SAME", "VALID"])),
                               "relu": bool(rng.random() < 0.3), "seed": _seed(rng)}}


def draw_pool(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=4, max_rank=4)
    if i is None:
        return None
    p = {"fn": str(rng.choice(["max", "avg"])), "k": int(rng.choice([2, 3])), "stride": int(rng.choice([1, 2, 3])),
         "padding": str(rng.choice(["SAME", "VALID"]))}
    if p["k"] > min(pool[i]["shape"][1:3]):  # a VALID window past an axis: TF's MaxPool dies of SIGFPE (empty output)
        p["padding"] = "SAME"
    return {"args": [i], "p": p}


def draw_einsum(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=1, max_rank=4)
    if i is None:
        return None
    shape = pool[i]["shape"]
    letters = "abcd"[: len(shape)]
    n = int(rng.integers(1, 5))
    choice = int(rng.integers(0, 5))
    if choice == 0:  # contract the last axis with a constant matrix
        return {"args": [i], "p": {"eq": f"{letters},{letters[-1]}z->{letters[:-1]}z", "wshape": [shape[-1], n],
                                   "seed": _seed(rng)}}
    if choice == 1:  # a permutation with a reduction
        perm = "".join(rng.permutation(list(letters)).tolist())
        return {"args": [i], "p": {"eq": f"{letters}->{perm[: max(1, len(perm) - int(rng.integers(0, 2)))]}"}}
    if choice == 2 and len(shape) >= 2:  # a diagonal-free batch dot with itself
        return {"args": [i, i], "p": {"eq": f"{letters},{letters}->{letters[0]}"}}
    if choice == 3:  # an outer product on the last axis with a constant vector
        return {"args": [i], "p": {"eq": f"{letters},z->{letters}z", "wshape": [n], "seed": _seed(rng)}}
    partners = [j for j in _same_shape(pool, i, "float32")]
    return {"args": [i, int(rng.choice(partners))], "p": {"eq": f"...{letters[-1]},...{letters[-1]}->..."}}


def draw_segment(rng, pool):
    i = _pick(rng, pool, "float32" if rng.random() < 0.7 else None, min_rank=1, max_rank=4)
    if i is None:
        return None
    rows = pool[i]["shape"][0]
    fn = str(rng.choice(["unsorted_sum", "unsorted_max", "unsorted_min", "unsorted_prod", "unsorted_mean", "sum",
                         "max", "min", "mean", "prod", "sparse_sum", "sparse_mean", "sparse_sqrt_n"]))
    if fn.startswith("unsorted_"):
        segments = int(rng.integers(1, rows + 3))  # sometimes an empty segment (max/min give the type's extreme)
        ids = [int(v) for v in rng.integers(-1 if rng.random() < 0.2 else 0, segments, size=rows)]
        return {"args": [i], "p": {"fn": fn, "ids": ids, "segments": segments}}
    if fn.startswith("sparse_"):
        count = int(rng.integers(1, rows + 3))
        picked = sorted(int(v) for v in rng.integers(0, max(1, count // 2 + 1), size=count))
        return {"args": [i], "p": {"fn": fn, "rows": [int(v) for v in rng.integers(0, rows, size=count)],
                                   "ids": picked}}
    return {"args": [i], "p": {"fn": fn, "ids": sorted(int(v) for v in rng.integers(0, rows, size=rows))}}


def draw_int_bitwise(rng, pool):
    i = _pick(rng, pool, "int32")
    if i is None:
        return None
    fn = str(rng.choice(["and", "or", "xor", "left_shift", "right_shift", "invert"]))
    k = int(rng.choice([-3, 1, 2, 5, 31, 32, 40])) if "shift" in fn else int(rng.choice([-3, -1, 5, 6, 255]))
    return {"args": [i], "p": {"fn": fn, "k": k, "swap": bool(rng.random() < 0.3)}}


ROUNDING = ("rint", "round", "sign", "round_half", "asin", "acos", "atan", "sinh", "cosh", "tan", "asinh", "acosh",
            "atanh", "softsign", "log_sigmoid", "is_nan", "xlogy", "xdivy", "floor_int")


def draw_rounding(rng, pool):
    i = _pick(rng, pool, "float32")
    return None if i is None else {"args": [i], "p": {"fn": str(rng.choice(ROUNDING))}}


def draw_int_pair(rng, pool):
    i = _pick(rng, pool, "int32")
    if i is None:
        return None
    partners = _same_shape(pool, i, "int32")
    j = int(rng.choice(partners))
    fn = str(rng.choice(["floordiv", "floormod", "truncatediv", "truncatemod", "mul", "maximum"]))
    return {"args": [i, j], "p": {"fn": fn, "zero_to": int(rng.choice([-3, -1, 2]))}}


def draw_range(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    if i is None:
        return None
    is_int = pool[i]["dtype"] == "int32"
    if rng.random() < 0.4:
        return {"args": [i], "p": {"fn": "shape_start", "step": int(rng.choice([1, 2, 3])),
                                   "mul": bool(rng.random() < 0.4)}}
    start = int(rng.choice([3, 0, -2])) if is_int else float(rng.choice([2.5, 0.0, -1.5]))
    delta = int(rng.choice([-1, -2, -3])) if is_int else float(rng.choice([-0.5, -1.0, -0.25, 0.75]))
    return {"args": [i], "p": {"fn": "const", "start": start, "delta": delta, "mul": bool(rng.random() < 0.4)}}


def draw_where1(rng, pool):
    i = _pick(rng, pool, min_rank=1, max_rank=4)
    if i is None:
        return None
    threshold = float(rng.choice([0.0, 0.5, -1.0])) if pool[i]["dtype"] == "float32" else int(rng.integers(-2, 3))
    return {"args": [i], "p": {"fn": str(rng.choice(["count", "max", "sum"])), "threshold": threshold}}


def draw_unique(rng, pool):
    i = _pick(rng, pool, min_rank=1)
    return None if i is None else {"args": [i], "p": {"fn": str(rng.choice(["idx", "idx", "size_sum"]))}}


MISC_WIDE = ("band_part", "broadcast_to", "linspace", "lrn", "searchsorted", "euclidean_norm", "space_to_batch",
             "dilation2d", "mirror_pad")
# The ranks TF accepts (min, max) where not every rank: drawn only there (s31: drawn anywhere, Dilation2D was never
# kept in 200 recipes, TF rejected it on every non-4-D tensor).
MISC_WIDE_RANKS = {"lrn": (4, 4), "dilation2d": (4, 4), "space_to_batch": (3, 8)}


def draw_misc_wide(rng, pool):
    i = _pick(rng, pool, "float32", min_rank=1)
    if i is None:
        return None
    shape = pool[i]["shape"]
    rank = len(shape)
    fn = str(rng.choice([name for name in MISC_WIDE
                         if MISC_WIDE_RANKS.get(name, (1, 8))[0] <= rank <= MISC_WIDE_RANKS.get(name, (1, 8))[1]]))
    axes = sorted(rng.choice(rank, size=int(rng.integers(1, rank + 1)), replace=False).tolist())
    reflect = bool(rng.random() < 0.5)
    paddings = [[int(rng.integers(0, min(d - reflect, 2) + 1)), int(rng.integers(0, min(d - reflect, 2) + 1))]
                for d in shape]
    return {"args": [i], "p": {"fn": fn, "lower": int(rng.integers(-1, 3)), "upper": int(rng.integers(-1, 3)),
                               "start": float(rng.choice([-1.0, 0.0, 2.0])), "stop": float(rng.choice([3.0, -2.0])),
                               "radius": int(rng.integers(0, 3)), "seed": _seed(rng), "left": bool(rng.random() < 0.5),
                               "axis": [int(a) for a in axes], "keepdims": bool(rng.random() < 0.5),
                               "reflect": reflect, "paddings": paddings}}


WIDE_DRAWERS: dict[str, tuple[Drawer, float]] = {
    "scatter": (draw_scatter, 1.5), "gather_nd": (draw_gather_nd, 1.0), "space_depth": (draw_space_depth, 0.8),
    "resize_raw": (draw_resize_raw, 1.0), "conv_transpose": (draw_conv_transpose, 1.0), "pool": (draw_pool, 1.0),
    "einsum": (draw_einsum, 1.0), "segment": (draw_segment, 1.5), "int_bitwise": (draw_int_bitwise, 0.5),
    "rounding": (draw_rounding, 1.5), "int_pair": (draw_int_pair, 1.0), "range": (draw_range, 1.0),
    "where1": (draw_where1, 0.8), "unique": (draw_unique, 0.8), "misc_wide": (draw_misc_wide, 2.0),
}

__all__ = ["WIDE_APPLY", "WIDE_DRAWERS"]
