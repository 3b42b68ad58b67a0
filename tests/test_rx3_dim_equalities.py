"""Graphs built to fool the run-time dim equalities of ``plugins/onnx/dim_classes.py`` (review RX3 of X3).

Each case reshapes ``qx`` to ``[D0, D1, -1, 16]`` with ``D0, D1`` read by ``Shape`` from a tensor whose
dims only *look* like ``qx``'s own (a transpose, a broadcast, a split, a gather, a Shape ``start``, a
negative Gather index, ...). Were they taken for ``qx``'s, the ``-1`` (the heads) would be static, and
the attention matmul against ``k`` (heads from its own dims) would get no run-time broadcast. At the
sizes fed the heads differ from what such an equality would give, so onnxruntime and TF.js (cpu, wasm)
disagree, or TF.js fails, unless the converter keeps them unknown.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent))

F, I64 = 1, 7  # TensorProto.FLOAT, TensorProto.INT64


def _node(op: str, ins: list, outs: list, **attrs):
    from onnx import helper

    return helper.make_node(op, ins, outs, **attrs)


def _dim(src: str, index: int, out: str, **shape_attrs) -> list:
    """``out`` = ``[Shape(src)[index]]`` (a 1-element vector), as exporters compute it."""
    return [_node("Shape", [src], [f"{out}_shape"], **shape_attrs),
            _node("Gather", [f"{out}_shape", f"i{index}"], [f"{out}_scalar"], axis=0),
            _node("Unsqueeze", [f"{out}_scalar", "zero"], [out])]


def _attention(q_source: str) -> list:
    """``scores = q^T k`` with ``q = Reshape(q_source, [D0, D1, -1, 16])`` and ``k``'s heads from its own dims."""
    return [
        _node("Concat", ["D0", "D1", "rest"], ["q_target"], axis=0),
        _node("Reshape", [q_source, "q_target"], ["q"]),
        _node("Transpose", ["q"], ["qt"], perm=[0, 2, 1, 3]),
        *_dim("k_in", 0, "K0"), *_dim("k_in", 1, "K1"),
        _node("Concat", ["K0", "K1", "rest"], ["k_target"], axis=0),
        _node("Reshape", ["k_in", "k_target"], ["k"]),
        _node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]),
        _node("MatMul", ["qt", "kt"], ["scores"]),
    ]


def _rng_feeds(shapes: dict) -> dict:
    rng = np.random.default_rng(7)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


# Each case: the nodes computing D0, D1 (and maybe q's source), extra inputs, and the run-time sizes.
# x and k_in are [., ., 16]: heads 1 if D0, D1 were q's own; at these sizes q's heads are 2, k's 1.
CASES = {
    # D0 = Shape(Transpose(x))[0] = t, not b
    "transpose": ([_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), *_dim("xt", 0, "D0"), *_dim("x", 1, "D1")],
                  {}, "x", {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Shape(start=1)[0] = t at position 0
    "shape_start": ([*_dim("x", 0, "D0", start=1), *_dim("x", 1, "D1")], {}, "x",
                    {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Shape(end=-1)[-1] = t at position 0 (a negative Gather index)
    "shape_end_negative_gather": ([*_dim("x", -1, "D0", end=-1), *_dim("x", 1, "D1")], {}, "x",
                                  {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Gather(Shape(x), -2) = t at position 0
    "negative_gather": ([*_dim("x", -2, "D0"), *_dim("x", -2, "D1")], {}, "x",
                        {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # q = x + z broadcast (x's time 1 at run time): D1 read from x, not q's own time
    "broadcast_one_side": ([_node("Add", ["x", "z"], ["xz"]), *_dim("x", 0, "D0"), *_dim("x", 1, "D1")],
                           {"z": ["zb", "zt", 16]}, "xz", {"x": (2, 1, 16), "z": (2, 4, 16), "k_in": (2, 3, 16)}),
    # Expand to another tensor's shape (x's time 1 at run time): D1 read from x
    "expand": ([_node("Shape", ["z"], ["zshape"]), _node("Expand", ["x", "zshape"], ["xz"]), *_dim("x", 0, "D0"),
                *_dim("x", 1, "D1")], {"z": ["zb", "zt", 16]}, "xz",
               {"x": (2, 1, 16), "z": (2, 4, 16), "k_in": (2, 3, 16)}),
    # Where broadcasting its operands; D0, D1 read from the operand of time 1
    "where_broadcast": ([_node("Greater", ["z", "x"], ["cond"]), _node("Where", ["cond", "z", "x"], ["w"]),
                         *_dim("z", 0, "D0"), *_dim("z", 1, "D1")],
                        {"z": ["zb", "zt", 16]}, "w", {"x": (2, 4, 16), "z": (2, 1, 16), "k_in": (2, 3, 16)}),
    # Unsqueeze at a negative axis: Shape(u)[2] is t
    "unsqueeze_negative": ([_node("Unsqueeze", ["x", "minus4"], ["u"]), *_dim("u", 2, "D0"), *_dim("u", 2, "D1")],
                           {}, "x", {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Squeeze at a negative axis, read at the wrong place
    "squeeze_negative": ([_node("Unsqueeze", ["x", "minus2"], ["u"]), _node("Squeeze", ["u", "minus2"], ["s"]),
                          *_dim("s", 1, "D0"), *_dim("x", 1, "D1")],
                         {}, "x", {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Split along the batch: its outputs' batch is half x's
    "split_axis": ([_node("Split", ["x"], ["s0", "s1"], axis=0, num_outputs=2), *_dim("s0", 0, "D0"),
                    *_dim("x", 1, "D1")], {}, "x", {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
    # Concat along the batch: q is the concatenation, D0 x's batch (half q's)
    "concat_axis": ([_node("Concat", ["x", "x"], ["cat"], axis=0), *_dim("x", 0, "D0"), *_dim("x", 1, "D1")],
                    {}, "cat", {"x": (2, 4, 16), "k_in": (2, 3, 16)}),
    # Gather of x along its time axis: D1 is the number of indices, not t
    "gather_data_axis": ([_node("Gather", ["x", "idx"], ["g"], axis=1), *_dim("x", 0, "D0"), *_dim("g", 1, "D1")],
                         {"idx": ["n"]}, "x", {"x": (2, 4, 16), "k_in": (2, 3, 16)}),
    # Reshape with 0 (copy) and -1: r = Reshape(x, [0, -1, 32]) is [b, t/2, 32]; D1 read from r
    "reshape_zero_copy": ([_node("Reshape", ["x", "zero_rest32"], ["r"]), *_dim("r", 0, "D0"),
                           *_dim("r", 1, "D1")], {}, "x", {"x": (2, 4, 16), "k_in": (2, 3, 16)}),
    # MatMul's rows come from its first operand only
    "matmul_rows": ([_node("MatMul", ["y", "x"], ["m"]), *_dim("m", 1, "D0"), *_dim("x", 1, "D1")],
                    {"y": ["yb", "n", "yt"]}, "x", {"x": (4, 2, 16), "y": (1, 2, 2), "k_in": (2, 3, 16)}),
    # (Same symbolic names with other run-time sizes: not a valid input; onnxruntime's optimizer trusts the
    # names and then gives another answer than without optimization, tfjsconv the unoptimized one.)
    # Slice of Shape (reversed by a negative step): [t, b]
    "slice_negative_step": ([_node("Shape", ["x"], ["xshape"]),
                             _node("Slice", ["xshape", "m2", "m4", "zero", "m1"], ["tb"]),
                             _node("Slice", ["tb", "zero", "one", "zero"], ["D0"]),
                             _node("Slice", ["xshape", "one", "two", "zero"], ["D1"])],
                            {}, "x", {"x": (4, 2, 16), "k_in": (2, 3, 16)}),
}

CONSTS = {
    "zero": np.array([0], np.int64), "one": np.array([1], np.int64), "two": np.array([2], np.int64),
    "m1": np.array([-1], np.int64), "m2": np.array([-2], np.int64), "m4": np.array([-4], np.int64),
    "minus2": np.array([-2], np.int64), "minus4": np.array([-4], np.int64),
    "rest": np.array([-1, 16], np.int64), "zero_rest32": np.array([0, -1, 32], np.int64),
    "i0": np.array(0, np.int64), "i1": np.array(1, np.int64), "i2": np.array(2, np.int64),
    "i-1": np.array(-1, np.int64), "i-2": np.array(-2, np.int64),
}


@pytest.mark.node
@pytest.mark.parametrize("case", sorted(CASES))
def test_look_alike_dims_keep_heads_unknown(case, tmp_path, tfjs_runtime):
    from onnx_models import matches_onnxruntime, onnx_model

    nodes, extra, q_source, sizes = CASES[case]
    # Split's num_outputs needs opset 18; the rest is opset 18 too (Shape start/end since 15)
    nodes = _topological(nodes + _attention(q_source))
    inputs = {"x": (F, ["b", "t", 16]), "k_in": (F, ["c", "u", 16])}
    inputs.update({k: (I64 if k == "idx" else F, v) for k, v in extra.items()})
    used = {i for n in nodes for i in n.input}
    path = onnx_model(tmp_path / "m.onnx", nodes, inputs, ["scores"], opset=18,
                      initializers={k: v for k, v in CONSTS.items() if k in used})
    feeds = _rng_feeds({k: s for k, s in sizes.items()})
    if "idx" in extra:
        feeds["idx"] = np.array([0, 3], np.int64)
    matches_onnxruntime(path, feeds, tmp_path / "web", backends=("cpu", "wasm"), narrow_int64_feeds=True)


def _topological(nodes: list) -> list:
    produced = {o for n in nodes for o in n.output}
    done: set = set()
    ordered: list = []
    pending = list(nodes)
    while pending:
        for n in pending:
            if all(i not in produced or i in done for i in n.input):
                ordered.append(n)
                done.update(n.output)
                pending.remove(n)
                break
        else:
            raise AssertionError("cycle")
    return ordered


@pytest.mark.node
@pytest.mark.parametrize("t", [1, 2])
def test_a_dim_copied_twice_leaves_the_minus_one_unknown(t, tmp_path, tfjs_runtime):
    """``Reshape(x, [t, t, -1, 16])`` of ``x: [4, t, 16]``: the ``-1`` is ``4 / t``. Worked out as what is
    left of ``x`` once the copied dims cancel (4), it was static and wrong (TF.js reshaped to 4 heads)."""
    from onnx_models import matches_onnxruntime, onnx_model

    nodes = _topological([*_dim("x", 1, "D0"), *_dim("x", -2, "D1"), *_attention("x")])
    used = {i for n in nodes for i in n.input}
    path = onnx_model(tmp_path / "m.onnx", nodes, {"x": (F, [4, "t", 16]), "k_in": (F, ["c", "u", 16])},
                      ["scores"], opset=18, initializers={k: v for k, v in CONSTS.items() if k in used})
    feeds = _rng_feeds({"x": (4, t, 16), "k_in": (t, 3, 16)})
    matches_onnxruntime(path, feeds, tmp_path / "web", backends=("cpu", "wasm"))
