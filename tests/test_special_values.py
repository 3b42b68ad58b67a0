"""Special values (issue 13): TF.js kernels that mishandle NaN/±Inf are named, and rewritten on request.

A real frozen TF graph of the deviating ops (Maximum, Minimum, Relu6, ClipByValue, Sign, Pow, ArgMax,
ArgMin, Softmax, MaxPool, Where) is fed NaN/±Inf and run in TF.js on cpu and wasm: converted with
``--exact_special_values`` every output equals TF's (NaN positions included); converted without it,
TF.js is measurably wrong and the conversion says so in one line. Expected values come from TF.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.cli import main  # noqa: E402

NAN, INF = np.float32(np.nan), np.float32(np.inf)
NEG_NAN = np.uint32(0xFFC00000).view(np.float32)  # a NaN with its sign bit set
F_MAX = np.finfo(np.float32).max


def build(x, y, img):
    raw = tf.raw_ops
    return {
        "maximum": raw.Maximum(x=x, y=y), "minimum": raw.Minimum(x=x, y=y), "relu6": raw.Relu6(features=x),
        "clip": raw.ClipByValue(t=x, clip_value_min=tf.constant(-2.0), clip_value_max=tf.constant(3.0)),
        "sign": raw.Sign(x=x), "pow": raw.Pow(x=x, y=y),
        "argmax": raw.ArgMax(input=x, dimension=1, output_type=tf.int32),
        "argmin": raw.ArgMin(input=x, dimension=1, output_type=tf.int32),
        "softmax": raw.Softmax(logits=x), "where": raw.Where(condition=x),
        "maxpool": raw.MaxPool(input=img, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"),
    }


FEEDS = {
    # rows: NaN first, +Inf in a row, NaN between finite values, -Inf/-FLT_MAX only, tiny values
    "x": np.float32([[NAN, 0, 0, 1], [INF, 1, 2, -1], [1, NAN, 3, 0.5], [-INF, -F_MAX, NAN, -INF],
                     [1e-30, -1e-30, 1, -1]]),
    "y": np.float32([[0, NAN, 1, INF], [2, NAN, 0, -INF], [NAN, 0, 1, 2], [0, 1, NAN, 0], [1, 1, NAN, INF]]),
    "img": np.float32([NAN, 1, -INF, -INF, 2, NAN, -INF, -INF, NAN, NAN, 3, NAN, NAN, NAN, 4, 5]).reshape(1, 4, 4, 1),
}


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """The frozen GraphDef and TF's outputs on FEEDS."""
    graph = tf.Graph()
    with graph.as_default():
        holders = {k: tf.compat.v1.placeholder(tf.float32, v.shape, name=k) for k, v in FEEDS.items()}
        outputs = {f"out_{k}": tf.identity(t, name=f"out_{k}") for k, t in build(**holders).items()}
    with tf.compat.v1.Session(graph=graph) as session:
        expected = session.run({k: t.name for k, t in outputs.items()}, {f"{k}:0": v for k, v in FEEDS.items()})
    source = tmp_path_factory.mktemp("special") / "special.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    return source, expected


def run(folder, backends=("cpu", "wasm")):
    from tfjsconv.verify.run import run_model

    runs = run_model(folder, FEEDS, backends=list(backends), quiet=True)
    for backend in backends:
        assert runs[backend].ok, runs[backend].error
    return {backend: runs[backend].outputs for backend in backends}


def differences(expected, got) -> list[str]:
    """Outputs that differ from TF's (NaN and ±Inf positions must match exactly)."""
    bad = []
    for name, want in expected.items():
        have = np.asarray(got[name])
        if have.shape != want.shape or not np.allclose(have.astype(np.float64), want.astype(np.float64),
                                                       rtol=1e-5, atol=1e-6, equal_nan=True):
            bad.append(name)
    return bad


@pytest.mark.node
def test_exact_special_values_gives_tf_results_on_cpu_and_wasm(frozen, tmp_path, tfjs_runtime):
    source, expected = frozen
    outputs = list(expected)
    targets = ["cpu", "wasm"]  # webgl has deviations of its own, some not rewritable (docs/backends.md)
    plain = tfjsconv.convert(source, tmp_path / "plain", output_node_names=outputs, target_backends=targets)
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=outputs, exact_special_values=True,
                             target_backends=targets)

    got_plain = run(tmp_path / "plain")
    wrong = {backend: differences(expected, got) for backend, got in got_plain.items()}
    # without the flag TF.js is wrong (what the conformance table measured) ...
    assert {"out_argmax", "out_argmin", "out_softmax", "out_pow"} <= set(wrong["cpu"]), wrong
    assert {f"out_{k}" for k in ("maximum", "minimum", "relu6", "clip", "argmax", "softmax", "where",
                                "maxpool")} <= set(wrong["wasm"]), wrong
    # but Sign: with wasm a target the required sign_comparisons pass computes it by comparisons (session 30: wasm's
    # kernel is 0 for |x| <= 1.2e-7), which gives TF's NaN on cpu too
    assert "out_sign" not in wrong["cpu"] and "out_sign" not in wrong["wasm"], wrong
    # ... and the conversion said so, in one line naming ops and backends
    assert len(plain.notices) == 1 and "--exact_special_values" in plain.notices[0]
    for part in ("Maximum", "Relu6", "ArgMax", "Softmax", "(cpu, wasm)", "(wasm)"):
        assert part in plain.notices[0], plain.notices[0]

    for backend, got in run(tmp_path / "exact").items():
        assert differences(expected, got) == [], backend
    assert exact.notices == []  # every deviating op of this graph was made exact
    stats = {s.name: s.changes for s in exact.pass_report.stats}
    assert stats["exact_special_values"] == len(outputs) - 1 and stats["sign_comparisons"] == 1  # Sign: required


def test_rewrites_only_for_the_backends_that_deviate(frozen, tmp_path):
    """cpu's Maximum/Relu6/ClipByValue/Where/MaxPool(NaN) are right, so --target_backends=cpu keeps them."""
    source, expected = frozen
    result = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=list(expected), exact_special_values=True,
                              target_backends=["cpu"])
    doc = json.loads((tmp_path / "cpu" / "model.json").read_text())
    ops = {n["name"]: n["op"] for n in doc["modelTopology"]["node"]}
    assert ops["out_maximum"] == "Maximum" and ops["out_minimum"] == "Minimum" and ops["out_relu6"] == "Relu6"
    assert ops["out_where"] == "Where" and "NotEqual" not in ops.values()
    assert ops["out_softmax"] == "SelectV2" and ops["out_sign"] == "SelectV2" and "Sign" not in ops.values()
    # ArgMax, ArgMin, ClipByValue (a NaN bound throws on cpu), MaxPool (all -Inf window), Pow, Sign, Softmax
    assert {s.name: s.changes for s in result.pass_report.stats}["exact_special_values"] == 7


def test_cli_summary_and_inspect_name_the_deviations_in_one_line(frozen, tmp_path, capsys):
    source, expected = frozen
    names = ",".join(expected)
    assert main(["convert", str(source), str(tmp_path / "plain"), f"--output_node_names={names}"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "special values" in line]
    assert len(lines) == 1 and "Maximum" in lines[0] and "--exact_special_values" in lines[0]
    assert "docs/backends.md" in lines[0]

    assert main(["inspect", str(tmp_path / "plain")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "special values" in line]
    assert len(lines) == 1 and "ArgMax" in lines[0] and "wasm" in lines[0]

    # the guarded ops the rewrites keep count only for what no rewrite fixes: webgl's (its max starting at -1e20,
    # relu6(-Inf), pow of ±Inf), left named (they were hidden before session 16)
    assert main(["convert", str(source), str(tmp_path / "exact"), f"--output_node_names={names}",
                 "--exact_special_values"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "special values" in line]
    assert len(lines) == 1 and "left as they are: MaxPool, Pow, Relu6, Softmax (webgl); see" in lines[0], lines
    assert main(["convert", str(source), str(tmp_path / "exact_cpu_wasm"), f"--output_node_names={names}",
                 "--exact_special_values", "--target_backends=cpu,wasm"]) == 0
    assert "special values" not in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "exact_cpu_wasm")]) == 0  # inspect checks every backend: webgl's again
    lines = [line for line in capsys.readouterr().out.splitlines() if "special values" in line]
    assert len(lines) == 1 and "(webgl)" in lines[0] and "wasm" not in lines[0], lines


def test_what_the_flag_cannot_make_exact_is_still_named(tmp_path):
    """int32 multiplication (float32 inside TF.js) and TopK's NaN ranking stay, and are listed, not refused."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.int32, [4], name="a")
        x = tf.compat.v1.placeholder(tf.float32, [6], name="x")
        tf.identity(tf.raw_ops.Mul(x=a, y=a), name="product")
        tf.identity(tf.raw_ops.TopKV2(input=x, k=2).values, name="top")
        tf.identity(tf.raw_ops.Maximum(x=x, y=tf.constant(0.0)), name="clamped")
    source = tmp_path / "ints.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    outputs = ["product", "top", "clamped"]
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=outputs, exact_special_values=True)
    assert len(result.notices) == 1
    assert "cannot make these exact" in result.notices[0] and "Mul (cpu, webgl)" in result.notices[0]
    assert "TopKV2 (cpu, wasm, webgl)" in result.notices[0] and "Maximum" not in result.notices[0]


@pytest.mark.node
@pytest.mark.parametrize("kind, activation, nan", [("conv", "Relu6", NAN), ("matmul", "Relu", NAN),
                                                  ("conv", "Relu", NEG_NAN)])
def test_fused_activations_that_drop_nan_on_wasm(kind, activation, nan, tmp_path, tfjs_runtime):
    """``fuse_ops`` makes ``_FusedConv2D[BiasAdd, Relu6]`` / ``_FusedMatMul[BiasAdd, Relu]``, whose wasm kernels
    turn NaN into 0 (``_FusedConv2D[BiasAdd, Relu]`` a -NaN only, as x86 makes of Inf - Inf): named without the flag,
    split back (and not re-fused) with it. TF's reference is the raw ops run eagerly (its graph optimizer fuses them
    too, with the same NaN loss)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((1, 1, 2, 2) if kind == "conv" else (2, 3)).astype(np.float32)
    bias = np.float32([0.5, -0.5] if kind == "conv" else [1, 2, 3])
    act = getattr(tf.raw_ops, activation)

    def model(x):
        base = tf.nn.conv2d(x, w, 1, "VALID") if kind == "conv" else tf.linalg.matmul(tf.reshape(x, [4, 2]), w)
        return act(features=tf.nn.bias_add(base, bias))

    feeds = {"x": np.float32([nan, 1, -2, INF, -INF, 3, 0.5, nan]).reshape(1, 2, 2, 2)}
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(model(tf.compat.v1.placeholder(tf.float32, [1, 2, 2, 2], name="x")), name="out")
    source = tmp_path / "fused.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    expected = {"out": model(tf.constant(feeds["x"])).numpy()}
    assert np.isnan(expected["out"]).any()
    from tfjsconv.verify.run import run_model

    fused = "_FusedConv2D" if kind == "conv" else "_FusedMatMul"
    for exact in (False, True):
        folder = tmp_path / f"out_{exact}"
        result = tfjsconv.convert(source, folder, output_node_names=["out"], exact_special_values=exact)
        ops = [n["op"] for n in json.loads((folder / "model.json").read_text())["modelTopology"]["node"]]
        runs = run_model(folder, feeds, backends=["cpu", "wasm"], quiet=True)
        got = {b: differences(expected, runs[b].outputs) for b in ("cpu", "wasm")}
        if exact:
            assert got == {"cpu": [], "wasm": []} and activation in ops, (got, ops)
            # webgl's Relu/Relu6 of -Inf (NaN), fused or not: no rewrite fixes it, so it stays named
            assert len(result.notices) == 1 and f"left as they are: {activation} (webgl);" in result.notices[0]
        else:
            assert got == {"cpu": [], "wasm": ["out"]} and ops.count(fused) == 1 and activation not in ops
            assert len(result.notices) == 1 and f"{fused} (wasm, webgl)" in result.notices[0]


@pytest.mark.parametrize("summed, expected", [("DT_FLOAT", []), ("DT_INT32", ["Sum", "int32 inputs"])])
def test_a_reduction_counts_by_what_it_sums_not_by_its_axis(summed, expected):
    """Only int32 sums deviate on webgl (past 2**24); a float Sum's int32 axis input must not raise the notice (an
    int32 model input is named by itself: tests/test_webgl_int32_inputs.py)."""
    from tfjsconv.ops.special_values import found_in, overflows  # float Sums are named for sums past FLT_MAX only

    topology = {"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": summed}}},
        {"name": "axis", "op": "Const", "attr": {"dtype": {"type": "DT_INT32"}}},
        {"name": "s", "op": "Sum", "input": ["x", "axis"],
         "attr": {"T": {"type": summed}, "Tidx": {"type": "DT_INT32"}}},
    ]}
    assert [d.op for d in found_in(topology, ["webgl"]) if not overflows(d)] == expected
