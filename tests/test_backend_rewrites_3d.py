"""3-D ops a backend cannot run are rewritten, not refused: real TF graphs, run in TF.js cpu and wasm.

``pool_3d``: wasm's MaxPool3D is wrong for every float32 input (its running max starts at FLT_MIN),
and every backend's 3-D pools are wrong with SAME padding and a window smaller than its stride; they
become two 2-D pools. ``conv3d_transpose``: TF.js graph models have no ``Conv3DBackpropInputV2``
(Keras's Conv3DTranspose); it becomes a stride-1 Conv3D over the zero-stuffed, padded input.
Expected values are TF's own (a Session on the frozen graph); tolerance 1e-5 × max|expected|.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError, UnsupportedOpsError  # noqa: E402

pytestmark = pytest.mark.node

RTOL = 1e-5
rng = np.random.default_rng(33)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def frozen(tmp_path, name, build, feeds, unknown_batch=(), unknown_rank=()):
    """A frozen GraphDef of ``build(**placeholders)`` and TF's outputs on ``feeds`` (batch unknown for ``unknown_batch``)."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {k: tf.compat.v1.placeholder(tf.as_dtype(v.dtype), None if k in unknown_rank else
                                                    (None, *v.shape[1:]) if k in unknown_batch else v.shape, name=k)
                        for k, v in feeds.items()}
        outputs = {k: tf.identity(t, name=k) for k, t in build(**placeholders).items()}
    with tf.compat.v1.Session(graph=graph) as session:
        expected = session.run({k: t.name for k, t in outputs.items()}, {f"{k}:0": v for k, v in feeds.items()})
    source = tmp_path / f"{name}.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    return source, expected


def convert_and_run(source, out, feeds, expected, **flags):
    from tfjsconv.verify.compare import verify_model

    result = tfjsconv.convert(source, out, output_node_names=list(expected), **flags)
    report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    doc = json.loads((out / "model.json").read_text())
    return result, {n["op"] for n in doc["modelTopology"]["node"]}


#: (ksize, strides, padding): cubic and non-cubic windows, windows smaller than their stride, SAME/VALID
POOLS = [((2, 2, 2), (2, 2, 2), "VALID"), ((1, 2, 3), (1, 1, 2), "VALID"), ((3, 3, 3), (1, 1, 1), "SAME"),
         ((1, 2, 1), (2, 3, 2), "SAME"), ((2, 1, 2), (3, 2, 1), "VALID"), ((1, 1, 1), (1, 1, 1), "VALID")]


def test_3d_pools_become_2d_pools_that_match_tf(tmp_path, tfjs_runtime):
    """Every pool is rewritten for the default targets (wasm refuses every float32 MaxPool3D), including an
    all-negative input (wasm's 1.2e-38) and an unknown batch; the answers are TF's on cpu and wasm."""
    def build(x, neg):
        out = {}
        for i, (k, s, pad) in enumerate(POOLS):
            ksize, strides = [1, *k, 1], [1, *s, 1]
            out[f"max{i}"] = tf.raw_ops.MaxPool3D(input=x, ksize=ksize, strides=strides, padding=pad)
            out[f"avg{i}"] = tf.raw_ops.AvgPool3D(input=x, ksize=ksize, strides=strides, padding=pad)
        out["max_negative"] = tf.raw_ops.MaxPool3D(input=neg, ksize=[1, 2, 2, 2, 1], strides=[1, 1, 1, 1, 1],
                                                   padding="SAME")
        return out

    feeds = {"x": randn(2, 5, 6, 7, 3), "neg": -np.abs(randn(1, 3, 4, 4, 2)) - 0.1}
    source, expected = frozen(tmp_path, "pools", build, feeds, unknown_batch=("x",))
    result, ops = convert_and_run(source, tmp_path / "web", feeds, expected)
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert "MaxPool3D" not in ops and {"MaxPool", "AvgPool", "AvgPool3D"} <= ops
    # every MaxPool3D (wasm) and the AvgPool3D with SAME and a window smaller than its stride (all backends);
    # the other AvgPool3Ds run right everywhere and stay
    assert stats["pool_3d"] == len(POOLS) + 1 + 1


def test_3d_pools_stay_for_targets_that_run_them(tmp_path):
    """Gated by the targets: for cpu alone only the SAME pool whose window skips inputs is rewritten."""
    def build(x):
        return {"valid": tf.raw_ops.MaxPool3D(input=x, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1], padding="VALID"),
                "skips": tf.raw_ops.MaxPool3D(input=x, ksize=[1, 1, 2, 1, 1], strides=[1, 2, 3, 2, 1], padding="SAME")}

    source, _ = frozen(tmp_path, "gated", build, {"x": randn(1, 4, 6, 4, 2)})
    result = tfjsconv.convert(source, tmp_path / "web", output_node_names=["valid", "skips"], target_backends=["cpu"])
    assert {s.name: s.changes for s in result.pass_report.stats}["pool_3d"] == 1
    assert result.pass_report.ops_after.get("MaxPool3D") == 1


#: (input D/H/W, filter kd/kh/kw, strides, padding, output D/H/W)
TRANSPOSED = [((3, 4, 2), (2, 3, 2), (2, 2, 2), "SAME", (6, 8, 4)),
              ((3, 4, 2), (2, 3, 2), (2, 1, 3), "VALID", (6, 6, 6)),
              ((2, 3, 3), (3, 3, 3), (1, 1, 1), "SAME", (2, 3, 3)),
              ((2, 2, 3), (3, 1, 2), (3, 2, 1), "SAME", (5, 4, 3)),   # output smaller than the stuffed input
              ((2, 3, 2), (1, 2, 3), (2, 3, 2), "VALID", (4, 9, 5))]  # output larger than the minimum: trailing zeros


def test_conv3d_transpose_becomes_conv3d_that_matches_tf(tmp_path, tfjs_runtime):
    """Conv3DBackpropInputV2 with constant filters (strides, SAME/VALID, odd output sizes, unknown batch) and a
    computed filter (ReverseV2 + Transpose at run time) → Conv3D over the zero-stuffed input: TF's answers."""
    filters = [randn(*k, 4, 3) for _, k, *_ in TRANSPOSED]

    def build(w, **xs):
        out = {}
        for i, ((_, _, s, pad, outs), f) in enumerate(zip(TRANSPOSED, filters)):
            x = xs[f"x{i}"]
            sizes = tf.stack([tf.shape(x)[0], *outs, 4])  # Keras builds input_sizes from the batch like this
            out[f"tconv{i}"] = tf.raw_ops.Conv3DBackpropInputV2(input_sizes=sizes, filter=f, out_backprop=x,
                                                                strides=[1, *s, 1], padding=pad)
        out["computed_filter"] = tf.raw_ops.Conv3DBackpropInputV2(
            input_sizes=[2, 6, 8, 4, 2], filter=w * 2.0, out_backprop=xs["x0"], strides=[1, 2, 2, 2, 1], padding="SAME")
        return out

    feeds = {f"x{i}": randn(2, *dhw, 3) for i, (dhw, *_) in enumerate(TRANSPOSED)}
    feeds["w"] = randn(2, 2, 3, 2, 3)
    source, expected = frozen(tmp_path, "tconv", build, feeds, unknown_batch=tuple(k for k in feeds if k != "w"))
    result, ops = convert_and_run(source, tmp_path / "web", feeds, expected)
    assert "Conv3DBackpropInputV2" not in ops and "Conv3D" in ops
    assert {s.name: s.changes for s in result.pass_report.stats}["conv3d_transpose"] == len(TRANSPOSED) + 1


def test_conv3d_transpose_without_static_sizes_is_refused(tmp_path):
    """Without static spatial sizes the op cannot be rewritten: the conversion refuses it (exit 2), naming it."""
    def build(x):
        return {"tconv": tf.raw_ops.Conv3DBackpropInputV2(input_sizes=tf.shape(x) * [1, 2, 2, 2, 1] + [0, 0, 0, 0, 1],
                                                         filter=randn(2, 2, 2, 4, 3), out_backprop=x,
                                                         strides=[1, 2, 2, 2, 1], padding="SAME")}

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, None, None, None, 3), name="x")
        tf.identity(build(x)["tconv"], name="tconv")
    source = tmp_path / "dynamic.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(UnsupportedOpsError, match="Conv3DBackpropInputV2"):
        tfjsconv.convert(source, tmp_path / "web", output_node_names=["tconv"])


def test_new_axis_and_shrink_on_an_unknown_shape_and_a_negative_cumsum_axis_match_tf(tmp_path, tfjs_runtime):
    """``strided_slice`` on an input of unknown rank: new_axis + shrink becomes the slice without its new axes
    and ExpandDims (before and after an ellipsis). An int32 exclusive reverse Cumsum over axis -1 (once refused
    everywhere) runs once ``cumulative_axis`` makes the axis non-negative: re-probed, only a negative axis fails."""
    def build(x, n):
        return {"front": x[None, 1, ::2], "after_ellipsis": x[..., None, 0], "both_sides": x[None, 1, ..., None, 2],
                "scan": tf.raw_ops.Cumsum(x=n, axis=-1, exclusive=True, reverse=True)}

    feeds = {"x": randn(3, 4, 5), "n": rng.integers(-9, 9, (2, 4)).astype(np.int32)}
    source, expected = frozen(tmp_path, "slices", build, feeds, unknown_rank=("x",))
    result, ops = convert_and_run(source, tmp_path / "web", feeds, expected)
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["strided_slice"] == 3 and stats["cumulative_axis"] == 1 and "ExpandDims" in ops


def test_new_axis_and_shrink_with_computed_bounds_is_refused(tmp_path):
    """Computed begin/end: the pass cannot resolve the slice, and the backend check refuses it on every target."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, name="x")
        b = tf.compat.v1.placeholder(tf.int32, (1,), name="b")
        begin = tf.concat([tf.zeros([1], tf.int32), b], 0)
        tf.identity(tf.raw_ops.StridedSlice(input=x, begin=begin, end=begin + 1, strides=[1, 1], new_axis_mask=1,
                                            shrink_axis_mask=2), name="y")
    source = tmp_path / "computed.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(BackendUnsupportedError) as info:
        tfjsconv.convert(source, tmp_path / "web", output_node_names=["y"])
    assert {p.backend for p in info.value.problems if p.op == "StridedSlice"} == {"cpu", "wasm", "webgl"}
    assert "nonzero:new_axis_mask=true" in str(info.value)


def test_webgpu_is_a_target_checked_against_its_registrations(tmp_path):
    """webgpu (registrations only, no probe): a kernel it lacks is refused, what it registers converts."""
    from tfjsconv.ops.backends import BackendContract

    contract = BackendContract.load()
    assert "webgpu" in contract.known_backends and "webgpu" not in contract.backends
    assert not contract.runs_on("Unique", "webgpu") and contract.runs_on("Unique", "cpu")
    assert contract.runs_on("MaxPool3D", "webgpu", "float32", {"padding": "VALID", "ksize": [1, 2, 2, 2, 1]})

    def build(x):
        return {"values": tf.raw_ops.Unique(x=x)[0], "rectified": tf.nn.relu(x)}

    source, _ = frozen(tmp_path, "unique", build, {"x": randn(6)})
    with pytest.raises(BackendUnsupportedError, match="Unique on webgpu"):
        tfjsconv.convert(source, tmp_path / "web", output_node_names=["values"], target_backends=["webgpu"])
    tfjsconv.convert(source, tmp_path / "relu", output_node_names=["rectified"], target_backends=["webgpu"])
