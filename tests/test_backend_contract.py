"""The TF.js backend contract: generated from the backend packages, checked at conversion time (issue 12).

A model TF.js loads but a target backend cannot run (missing kernel, refused dtype or layout, a
known wrong answer) is refused naming every op, node and backend; ``--target_backends`` narrows the
targets and the model then runs in real TF.js on what remains, matching TF.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.errors import BackendUnsupportedError, UsageError
from tfjsconv.ir import Graph
from tfjsconv.ops.backends import BackendContract, Problem

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "generate_backend_contract.py"
COMMITTED = REPO / "core" / "ops" / "data" / "tfjs_backends.json"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


@pytest.fixture(scope="module")
def contract() -> BackendContract:
    return BackendContract.load()


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_backend_contract", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def complex_graph() -> Graph:
    """|re + i·im| from two float32 inputs: Complex and ComplexAbs, which wasm has no kernels for."""
    g = Graph("complex_abs")
    re = g.placeholder("re", DType.FLOAT32, (5,))
    im = g.placeholder("im", DType.FLOAT32, (5,))
    z = g.add_op("Complex", [re, im], {"T": DType.FLOAT32, "Tout": DType.COMPLEX64}, name="z",
                 dtype=DType.COMPLEX64, shape=(5,))
    g.set_output("mag", g.add_op("ComplexAbs", [z], {"T": DType.COMPLEX64, "Tout": DType.FLOAT32}, name="mag",
                                 dtype=DType.FLOAT32, shape=(5,)))
    return g


def cast_to_bool_graph() -> Graph:
    """float32 -> bool: wasm's Cast gives false for |x| < 1 (it truncates to int first)."""
    g = Graph("cast_bool")
    x = g.placeholder("x", DType.FLOAT32, (6,))
    flag = g.add_op("Cast", [x], {"SrcT": DType.FLOAT32, "DstT": DType.BOOL, "Truncate": False}, name="to_bool",
                    dtype=DType.BOOL, shape=(6,))
    g.set_output("flag", flag)
    return g


# -- the data ------------------------------------------------------------------------------------
@pytest.mark.node
@needs_node
def test_committed_contract_matches_the_installed_packages(tfjs_runtime):
    """The committed JSON is exactly what the generator reads from the TF.js 4.22 packages (+ probe file)."""
    gen = load_generator()
    document = gen.generate(tfjs_runtime)
    assert document["header"]["tfjs_version"] == "4.22.0"
    committed = COMMITTED.read_text(encoding="utf-8")
    if gen.dumps(document) != committed:
        pytest.fail("core/ops/data/tfjs_backends.json is stale; run scripts/generate_backend_contract.py")


@pytest.mark.node
def test_a_probe_subset_reproduces_the_committed_limits(tfjs_runtime):
    """The fast subset of scripts/probe_backends.py: same cases, same findings on cpu and wasm."""
    spec = importlib.util.spec_from_file_location("probe_backends", REPO / "scripts" / "probe_backends.py")
    probe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = probe
    spec.loader.exec_module(probe)
    wanted = {("Cast", '{"attr:DstT": ["bool"], "input:0": ["float32"]}'), ("MaxPool", '{"input:0": ["int32"]}'),
              ("StridedSlice", '{"input:0": ["int32"], "nonunit:3": ["false"]}'),
              ("StridedSlice", '{"input:0": ["int32"], "nonunit:3": ["true"]}'),
              ("MaxPool3D", '{"attr:padding": ["VALID"], "input:0": ["float32"], "lessthan:ksize,strides": ["false"], '
                            '"uniform:ksize": ["false"]}'),
              ("MaxPool3D", '{"input:0": ["float32"]}')}
    cases = {}
    for c in probe.cases():  # the first case of each class (a 1x2x3 window; all-negative windows for MaxPool3D)
        cases.setdefault((c.op, json.dumps(c.when, sort_keys=True)), c)
    cases = [c for key, c in cases.items() if key in wanted]
    assert len(cases) == len(wanted)
    found = probe.to_limits([(case, probe.run_case(case, ["cpu", "wasm"])) for case in cases])
    committed = json.loads((REPO / "core" / "ops" / "data" / "tfjs_backend_probe.json").read_text())["limits"]
    key = lambda l: (l["op"], l["backend"], json.dumps(l["when"], sort_keys=True), l["outcome"])  # noqa: E731
    expected = {key(l) for l in committed if (l["op"], json.dumps(l["when"], sort_keys=True)) in wanted
                and l["backend"] in ("cpu", "wasm")}
    assert {key(l) for l in found} == expected
    assert {(l["op"], l["backend"]) for l in found} == {("Cast", "wasm"), ("MaxPool", "wasm"), ("StridedSlice", "wasm"),
                                                        ("MaxPool3D", "wasm")}
    assert sorted(len(l["when"]) for l in found if l["op"] == "MaxPool3D") == [1, 4]  # both classes fail on wasm


def test_the_five_known_limits_are_in_the_data(contract):
    assert not contract.runs_on("Einsum", "wasm") and contract.runs_on("Einsum", "cpu")
    assert contract.runs_on("Einsum", "webgl")
    assert not contract.runs_on("Conv2D", "wasm", "float32", {"data_format": "NCHW"})
    assert contract.runs_on("Conv2D", "wasm", "float32", {"data_format": "NHWC"})
    assert contract.runs_on("Conv2D", "cpu", "float32", {"data_format": "NCHW"})
    assert not contract.runs_on("MaxPool", "wasm", "int32") and contract.runs_on("MaxPool", "wasm", "float32")
    assert contract.runs_on("MaxPool", "cpu", "int32")
    assert not contract.runs_on("Complex", "wasm") and contract.runs_on("Complex", "cpu")
    assert not contract.runs_on("Cast", "wasm", "float32", {"DstT": DType.BOOL})
    assert contract.runs_on("Cast", "wasm", "float32", {"DstT": DType.INT32})
    assert contract.runs_on("Cast", "cpu", "float32", {"DstT": DType.BOOL})


def test_probed_limits_are_precise(contract):
    """Limits beyond the five: only the dtype/attr combination the probe saw fail is refused."""
    g = Graph("slices")
    x = g.placeholder("x", DType.INT32, (4, 6))
    begin, end = g.const(np.array([0, 0], np.int32)), g.const(np.array([4, 6], np.int32))
    attrs = {"T": DType.INT32, "Index": DType.INT32}
    unit = g.add_op("StridedSlice", [x, begin, end, g.const(np.array([1, 1], np.int32))], attrs, name="unit")
    step = g.add_op("StridedSlice", [x, begin, end, g.const(np.array([1, 2], np.int32))], attrs, name="step")
    g.set_output("a", unit)
    g.set_output("b", step)
    problems = contract.unsupported(g)
    assert [(p.node, p.backend) for p in problems] == [("step", "wasm")]
    assert not contract.runs_on("OneHot", "wasm", "float32") and contract.runs_on("OneHot", "wasm", "int32")
    assert not contract.runs_on("MatMul", "wasm", "int32") and contract.runs_on("MatMul", "cpu", "int32")
    assert not contract.runs_on("ClipByValue", "wasm", "int32")
    assert not contract.runs_on("FloorDiv", "webgl", "float32") and contract.runs_on("FloorDiv", "webgl", "int32")


@pytest.mark.node
def test_a_probed_wrong_answer_is_real(tmp_path, tfjs_runtime):
    """The limit is not folklore: written anyway, the float32 -> bool Cast really is wrong on wasm."""
    import tensorflow as tf

    from tfjsconv.verify.run import run_model

    feeds = {"x": np.array([0.5, -0.25, 0.0, 2.0, -3.0, 1e-3], np.float32)}
    expected = tf.raw_ops.Cast(x=feeds["x"], DstT=tf.bool).numpy()
    tfjsconv.convert(cast_to_bool_graph(), tmp_path / "out", skip_op_check=True, skip_passes=["cast_to_bool"])
    run = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    assert list(run.outputs("cpu").values())[0].tolist() == expected.tolist()
    assert list(run.outputs("wasm").values())[0].tolist() != expected.tolist()


def test_kernel_lists_come_from_the_packages(contract):
    assert set(contract.backends) == {"cpu", "wasm", "webgl"}
    assert "Einsum" in contract.kernels["cpu"] and "Einsum" not in contract.kernels["wasm"]
    assert "FromPixels" in contract.kernels["webgl"]
    assert contract.ops["_FusedConv2D"]["kernels"][:0] == [] and "FusedConv2D" in contract.ops["_FusedConv2D"]["kernels"]
    assert contract.ops["Conv1D"]["kernels"] == ["Conv2D", "Reshape"]  # conv1d is a reshaped conv2d
    # complex64-only branches are conditional, so Abs and Transpose still run on wasm
    assert contract.runs_on("Abs", "wasm", "float32") and not contract.runs_on("Abs", "wasm", "complex64")
    assert contract.runs_on("Transpose", "wasm", "int32")


def test_window_and_list_selectors():
    """``uniform:``/``nonunit:`` read a window attr's spatial entries (by data_format); lists are comma-joined."""
    from tfjsconv.ops.backends import NodeFacts, _json_attr

    facts = NodeFacts("MaxPool3D", {"ksize": [1, 1, 2, 2, 1], "strides": [1, 2, 2, 2, 1], "padding": b"VALID",
                                    "fused_ops": [b"BiasAdd", b"Relu"]}, ["float32"])
    assert [facts.select(s) for s in ("uniform:ksize", "uniform:strides", "nonunit:strides", "nonunit:dilations")] \
        == ["false", "true", "true", None]
    assert facts.select("attr:fused_ops") == "BIASADD,RELU" and facts.select("attr:padding") == "VALID"
    nchw = NodeFacts("MaxPool", {"ksize": [1, 1, 3, 3], "strides": [1, 1, 1, 2], "data_format": "NCHW"}, [])
    assert (nchw.select("uniform:ksize"), nchw.select("uniform:strides"), nchw.select("nonunit:strides")) \
        == ("true", "false", "true")
    assert (facts.select("lessthan:ksize,strides"), nchw.select("lessthan:ksize,strides")) == ("true", "false")
    assert _json_attr({"list": {"i": ["1", "2", "2", "1"]}}) == [1, 2, 2, 1]
    assert _json_attr({"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}) == ["BiasAdd", "Relu"]


def test_unknown_dtypes_never_refuse(contract):
    g = Graph("unknown")
    x = g.placeholder("x", DType.FLOAT32, (6,))
    # no dtype annotation, no T attr; the rank is annotated (an unknown rank refuses: test_contract_ranks.py)
    unknown = g.add_op("SomethingCustom", [x], name="custom", shape=(6,))
    g.set_output("pool", g.add_op("Cast", [unknown], {"DstT": DType.BOOL}, name="cast"))
    assert contract.unsupported(g) == []


def test_library_function_nodes_are_checked(contract):
    g = cast_to_bool_graph()
    g.library.append({"signature": {"name": "body"},
                      "nodeDef": [{"name": "mix", "op": "Einsum", "attr": {"equation": {"s": "YWIsYmMtPmFj"}}},
                                  {"name": "fine", "op": "AddV2"}]})
    problems = contract.unsupported(g, ["wasm"])
    assert Problem("Einsum", "body/mix", "wasm", "no Einsum kernel") in problems
    assert {p.node for p in problems} == {"body/mix", "to_bool"}


def test_unknown_backend_is_a_usage_error(contract):
    with pytest.raises(UsageError, match="webnn"):
        contract.unsupported(complex_graph(), ["cpu", "webnn"])
    assert contract.unsupported(complex_graph(), ["cpu", "webgpu"]) == []  # registrations only, but known
    with pytest.raises(UsageError, match="--target_backends"):
        tfjsconv.convert(complex_graph(), "/nonexistent/out", target_backends=["gpu"])


# -- conversion ----------------------------------------------------------------------------------
@pytest.mark.parametrize("build, ops", [(complex_graph, {"Complex": "z", "ComplexAbs": "mag"}),
                                        (cast_to_bool_graph, {"Cast": "to_bool"})])
def test_refused_naming_every_op_node_and_backend(tmp_path, build, ops):
    with pytest.raises(BackendUnsupportedError) as info:
        tfjsconv.convert(build(), tmp_path / "out", skip_passes=["cast_to_bool"])  # the pass would rewrite the Cast
    err = info.value
    assert err.exit_code == 2
    assert {(p.op, p.node, p.backend) for p in err.problems} == {(op, node, "wasm") for op, node in ops.items()}
    text = str(err)
    assert len(err.message.splitlines()) == 1
    for op, node in ops.items():
        assert f"{op} on wasm (" in text and f"): {node}" in text
    assert "--target_backends=cpu,webgl" in text and "--skip_op_check" in text
    assert not (tmp_path / "out").exists()


def pool3d_graph(window: tuple[int, int, int], padding: str = "VALID", stride: int = 1) -> Graph:
    """One MaxPool3D: wasm's kernel answers wrongly for a non-cubic window (and for SAME padding)."""
    g = Graph("pool3d")
    x = g.placeholder("x", DType.FLOAT32, (1, 5, 7, 6, 2))
    g.set_output("y", g.add_op("MaxPool3D", [x], {"T": DType.FLOAT32, "ksize": [1, *window, 1],
                                                  "strides": [1, stride, stride, stride, 1], "padding": padding,
                                                  "data_format": "NDHWC"}, name="pool"))
    return g


def test_probed_window_limits_are_precise(contract, tmp_path):
    """MaxPool3D: refused on wasm whatever the window (all-negative windows give 1.2e-38), on every backend
    for SAME padding with a window smaller than its stride; a Conv3D with strides and dilations both above 1
    is refused everywhere (tfjs-core asserts)."""
    with pytest.raises(BackendUnsupportedError) as info:  # without the pool_3d rewrite, which splits it
        tfjsconv.convert(pool3d_graph((1, 2, 3)), tmp_path / "out", skip_passes=["pool_3d"])
    assert {(p.op, p.node, p.backend) for p in info.value.problems} == {("MaxPool3D", "pool", "wasm")}
    assert "MaxPool3D on wasm (" in str(info.value) and "uniform:ksize=false" in str(info.value)
    assert {p.backend for p in contract.unsupported(pool3d_graph((2, 2, 2)))} == {"wasm"}
    assert {p.backend for p in contract.unsupported(pool3d_graph((2, 2, 2), "SAME", stride=2))} == {"wasm"}
    # a window smaller than its stride with SAME padding: wrong on every backend, cubic or not
    assert {p.backend for p in contract.unsupported(pool3d_graph((2, 2, 2), "SAME", stride=3))} == {"cpu", "wasm", "webgl"}
    conv = {"padding": "SAME", "data_format": "NDHWC", "strides": [1, 2, 2, 2, 1]}
    assert not contract.runs_on("Conv3D", "cpu", "float32", {**conv, "dilations": [1, 2, 2, 2, 1]})
    assert contract.runs_on("Conv3D", "wasm", "float32", {**conv, "dilations": [1, 1, 1, 1, 1]})
    assert {b for b in contract.backends if not contract.runs_on("BitwiseAnd", b, "int32")} == {"cpu", "wasm", "webgl"}


def test_probed_rank_and_list_attr_limits(contract):
    """v1 Select with a vector condition (``rank:``), OneHot's axis, fused activations (a list attr)."""
    g = Graph("select")
    rows = g.placeholder("rows", DType.BOOL, (2,))
    mask = g.placeholder("mask", DType.BOOL, (2, 3))
    t, e = g.placeholder("t", DType.FLOAT32, (2, 3)), g.placeholder("e", DType.FLOAT32, (2, 3))
    g.set_output("a", g.add_op("Select", [rows, t, e], {"T": DType.FLOAT32}, name="by_row"))
    g.set_output("b", g.add_op("Select", [mask, t, e], {"T": DType.FLOAT32}, name="elementwise"))
    assert {(p.node, p.backend) for p in contract.unsupported(g)} == {("by_row", b) for b in ("cpu", "wasm", "webgl")}
    assert not contract.runs_on("OneHot", "cpu", "int32", {"axis": 0}) and contract.runs_on("OneHot", "cpu", "int32", {"axis": -1})
    tanh = {"fused_ops": [b"BiasAdd", b"Tanh"]}
    assert not any(contract.runs_on("_FusedConv2D", b, "float32", tanh) for b in contract.backends)
    assert contract.runs_on("_FusedConv2D", "wasm", "float32", {"fused_ops": [b"BiasAdd", b"Relu"]})
    assert not contract.runs_on("_FusedMatMul", "wasm", "float32", {"transpose_a": True, "transpose_b": False})
    assert contract.runs_on("_FusedMatMul", "cpu", "float32", {"transpose_a": True, "transpose_b": False})


def test_constant_input_selectors_refuse_only_the_wrong_band_and_norm(contract):
    """``other:N,V`` (MatrixBandPart's bounds ≠ -1) and ``empty:N`` (EuclideanNorm's ``axes=[]``) read constant
    inputs: the identity band and a real axis list still convert; a non-constant bound is unknown, not refused."""
    g = Graph("band")
    x = g.placeholder("x", DType.FLOAT32, (2, 4, 5))
    bound = g.placeholder("bound", DType.INT32, ())
    minus_one, one = g.const(np.int32(-1)), g.const(np.int32(1))
    band = {"T": DType.FLOAT32, "Tindex": DType.INT32}
    g.set_output("a", g.add_op("MatrixBandPart", [x, minus_one, minus_one], band, name="identity"))
    g.set_output("b", g.add_op("MatrixBandPart", [x, minus_one, one], band, name="upper1"))
    g.set_output("c", g.add_op("MatrixBandPart", [x, bound, minus_one], band, name="fed"))
    norm = {"T": DType.FLOAT32, "Tidx": DType.INT32, "keep_dims": False}
    g.set_output("d", g.add_op("EuclideanNorm", [x, g.const(np.zeros(0, np.int32))], norm, name="no_axes"))
    g.set_output("e", g.add_op("EuclideanNorm", [x, g.const(np.array([1], np.int32))], norm, name="axis1"))
    refused = {(p.node, p.backend) for p in contract.unsupported(g, ["cpu", "wasm"])}
    assert refused == {("upper1", "cpu"), ("upper1", "wasm"), ("no_axes", "cpu"), ("no_axes", "wasm")}
    from tfjsconv.ops.backends import NodeFacts

    facts = NodeFacts("MatrixBandPart", {}, [], {1: np.int32(-1), 2: np.zeros(0, np.int32)})
    assert [facts.select(s) for s in ("other:1,-1", "other:1,0", "empty:2", "empty:1", "empty:3")] \
        == ["false", "true", "true", "false", None]


@pytest.mark.node
def test_a_refused_pool3d_converts_for_cpu_and_matches_tf(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.run import run_model

    feeds = {"x": np.random.default_rng(3).standard_normal((1, 5, 7, 6, 2)).astype(np.float32)}
    expected = tf.raw_ops.MaxPool3D(input=feeds["x"], ksize=[1, 1, 2, 3, 1], strides=[1, 1, 1, 1, 1],
                                    padding="VALID").numpy()
    tfjsconv.convert(pool3d_graph((1, 2, 3)), tmp_path / "out", target_backends=["cpu", "webgl"])
    (actual,) = run_model(tmp_path / "out", feeds, backends=["cpu"], quiet=True).outputs("cpu").values()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def test_skip_op_check_writes_with_a_warning(tmp_path, caplog):
    tfjsconv.convert(complex_graph(), tmp_path / "out", skip_op_check=True)
    assert (tmp_path / "out" / "model.json").is_file()
    assert "Complex z on wasm" in caplog.text


@pytest.mark.node
@pytest.mark.parametrize("build", [complex_graph, cast_to_bool_graph])
def test_narrowed_targets_convert_and_run_on_cpu_like_tf(tmp_path, tfjs_runtime, build):
    import tensorflow as tf

    from tfjsconv.verify.run import run_model

    rng = np.random.default_rng(7)
    if build is complex_graph:
        feeds = {"re": rng.standard_normal(5).astype(np.float32), "im": rng.standard_normal(5).astype(np.float32)}
        expected = tf.raw_ops.ComplexAbs(x=tf.raw_ops.Complex(real=feeds["re"], imag=feeds["im"])).numpy()
    else:
        feeds = {"x": np.array([0.5, -0.25, 0.0, 2.0, -3.0, 1e-3], np.float32)}
        expected = tf.raw_ops.Cast(x=feeds["x"], DstT=tf.bool).numpy()
    tfjsconv.convert(build(), tmp_path / "out", target_backends=["cpu"])
    run = run_model(tmp_path / "out", feeds, backends=["cpu"], quiet=True)
    (actual,) = run.outputs("cpu").values()
    if expected.dtype == np.bool_:
        assert actual.tolist() == expected.tolist()
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


# -- CLI -----------------------------------------------------------------------------------------
def _frozen_cast_graph(path: Path) -> Path:
    """A real TF frozen GraphDef: y = cast(x * 2, bool), a float32 -> bool Cast wasm gets wrong."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([4], tf.float32, name="x")])
    def f(x):
        return tf.cast(x * 2.0, tf.bool, name="flag")

    path.write_bytes(f.get_concrete_function().graph.as_graph_def().SerializeToString())
    return path


def test_cli_flag_and_one_message_with_exit_2(tmp_path, capsys):
    from tfjsconv.cli import build_parser, convert_cmd, main

    args = build_parser().parse_args(convert_cmd.normalize(["convert", "in", "out", "--target_backends=cpu,webgl"]))
    assert convert_cmd.options_from_args(args)["target_backends"] == ["cpu", "webgl"]
    args = build_parser().parse_args(convert_cmd.normalize(["convert", "in", "out"]))
    assert "target_backends" not in convert_cmd.options_from_args(args)  # the default applies

    pb = _frozen_cast_graph(tmp_path / "cast.pb")
    base = ["convert", str(pb), "--output_node_names=flag", "--quiet", "--skip_passes=cast_to_bool"]
    assert main([*base, str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "Cast on wasm (input:0=float32, DstT=bool gives a wrong answer): flag" in err
    assert "--target_backends=cpu,webgl" in err and err.count("error:") == 1
    assert not (tmp_path / "refused").exists()
    assert main([*base, str(tmp_path / "bad"), "--target_backends=cpu,gpu"]) == 2
    assert "--target_backends" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "cpu"), "--target_backends=cpu"]) == 0
    assert (tmp_path / "cpu" / "model.json").is_file()


def test_convert_verify_runs_only_the_target_backends(tmp_path, capsys, tfjs_runtime):
    """``--verify`` after narrowed targets checks those (cpu), not a backend the model was not made for."""
    from tfjsconv.cli import main

    pb = _frozen_cast_graph(tmp_path / "cast.pb")
    assert main(["convert", str(pb), str(tmp_path / "out"), "--output_node_names=flag",
                 "--target_backends=cpu,webgl", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 1 output × 1 backend" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("flag ")] == ["cpu"]


# -- inspect -------------------------------------------------------------------------------------
def test_inspect_reports_each_backend(tmp_path, capsys):
    from tfjsconv.cli import main

    tfjsconv.convert(complex_graph(), tmp_path / "m", target_backends=["cpu", "webgl"])
    assert main(["inspect", str(tmp_path / "m"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backends"]["cpu"] == {"runs": True, "problems": []}
    assert doc["backends"]["webgl"]["runs"] is True
    wasm = doc["backends"]["wasm"]
    assert wasm["runs"] is False
    assert {(p["op"], p["node"]) for p in wasm["problems"]} == {("Complex", "z"), ("ComplexAbs", "mag")}
    assert main(["inspect", str(tmp_path / "m")]) == 0
    text = capsys.readouterr().out
    assert "cpu    runs" in text and "wasm   cannot run: Complex z (no Complex kernel)" in text


@pytest.mark.node
def test_webgl_high_rank_reverse_and_strided_slice_refused_for_webgl_only(tmp_path, capsys, tfjs_runtime):
    """webgl's Reverse stops at rank 4 and its strided-slice shader fails to compile at rank 5 (measured in
    Chromium, ``tf_ops.py --webgl``): refused for webgl at once, converted and right for cpu and wasm."""
    import tensorflow as tf

    from tfjsconv.cli import main
    from tfjsconv.verify.run import run_model

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 2, 3, 2], tf.float32, name="x"),
                                  tf.TensorSpec([2, 3, 2, 3, 4], tf.float32, name="z")])
    def f(x, z):
        return (tf.reverse(x * 2.0, axis=[1, 4], name="flipped"),
                tf.identity(z[:, 1:, :, ::2, ::3] + 1.0, name="strided"))

    pb = tmp_path / "high_rank.pb"
    pb.write_bytes(f.get_concrete_function().graph.as_graph_def().SerializeToString())
    base = ["convert", str(pb), "--output_node_names=flipped,strided", "--quiet"]
    assert main([*base, str(tmp_path / "refused"), "--target_backends=cpu,wasm,webgl"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "ReverseV2 on webgl" in err and "StridedSlice on webgl" in err, err
    assert "on cpu" not in err and "on wasm" not in err and not (tmp_path / "refused").exists()
    assert main([*base, str(tmp_path / "ok"), "--target_backends=cpu,wasm"]) == 0
    rng = np.random.default_rng(5)
    feeds = {"x": rng.standard_normal((2, 3, 2, 3, 2)).astype(np.float32),
             "z": rng.standard_normal((2, 3, 2, 3, 4)).astype(np.float32)}
    expected = [t.numpy() for t in f(**feeds)]
    run = run_model(tmp_path / "ok", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend in ("cpu", "wasm"):
        outputs = run.outputs(backend)
        np.testing.assert_array_equal(outputs["flipped"], expected[0])
        np.testing.assert_array_equal(outputs["strided"], expected[1])
