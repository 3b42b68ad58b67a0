"""`tfjsconv verify`: one row per output and backend, a verdict, and exit codes a script can use."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tfjsconv
from graphs import dense_relu, example_inputs
from tf_reference import reference as tf_reference

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify cli")
    graph = dense_relu()
    inputs = example_inputs(graph)
    tfjsconv.convert(graph, folder / "model dir")
    np.savez(folder / "inputs.npz", **inputs)
    np.savez(folder / "expected.npz", **tf_reference(graph, inputs))
    return folder


def verify(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "verify", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_matching_outputs_pass_on_both_backends(converted, tfjs_runtime):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"))
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("y ")]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("y", "cpu", "PASS"), ("y", "wasm", "PASS")]
    assert out.stdout.strip().splitlines()[-1].startswith("PASS")


def test_a_mismatch_fails_with_exit_code_3(converted, tmp_path, tfjs_runtime):
    expected = dict(np.load(converted / "expected.npz"))
    expected["y"] = expected["y"] + 0.01
    np.savez(tmp_path / "wrong.npz", **expected)
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(tmp_path / "wrong.npz"), "--backend", "wasm")
    assert out.returncode == 3
    assert "FAIL" in out.stdout and "wasm" in out.stdout and "cpu" not in out.stdout
    assert "differ from the reference" in out.stderr


def test_json_report(converted, tfjs_runtime):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"), "--json", "--backend", "cpu")
    doc = json.loads(out.stdout)
    assert doc["passed"] is True and doc["tfjs_version"] == "4.22.0"
    assert [(c["name"], c["backend"]) for c in doc["comparisons"]] == [("y", "cpu")]


def test_missing_node_says_what_to_install(converted, tmp_path):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"), env={"PATH": str(tmp_path)})
    assert out.returncode == 2
    assert "Node.js" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, message", [
    ([], "needs --expected"),
    (["--expected", "x.npz"], "also needs --inputs"),
    (["--inputs", "nope.npz", "--expected", "nope.npz"], "does not exist"),
])
def test_bad_calls_are_explained(converted, args, message):
    out = verify(str(converted / "model dir"), *args)
    assert out.returncode == 2 and message in out.stderr


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"")
    np.savez(tmp_path / "x.npz", x=np.zeros(2))
    out = verify(str(tmp_path), "--inputs", str(tmp_path / "x.npz"), "--expected", str(tmp_path / "x.npz"))
    assert out.returncode == 2 and "model.json" in out.stderr


# -- convert --verify, quantized models, progress ------------------------------------------------
def _tiny_onnx(path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.bias"),
             numpy_helper.from_array(rng.standard_normal((4, 6)).astype(np.float32), "fc.weight")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "fc.weight"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def convert_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "convert", *args], capture_output=True, text=True)


def test_convert_verify_checks_against_the_source(tmp_path, tfjs_runtime):
    source = _tiny_onnx(tmp_path / "tiny.onnx")
    out = convert_cli(str(source), str(tmp_path / "out"), "--verify")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("y ")]
    assert [(r[1], r[-1]) for r in rows] == [("cpu", "PASS"), ("wasm", "PASS")]
    assert out.stdout.strip().splitlines()[-1].startswith("PASS: 1 output × 2 backends")
    assert out.stderr == ""  # not a terminal: no progress output


def test_quantized_model_reports_error_against_float32_and_source(tmp_path, tfjs_runtime):
    source = _tiny_onnx(tmp_path / "tiny.onnx")
    out = convert_cli(str(source), str(tmp_path / "q"), "--quantize_uint8", "--verify")
    assert out.returncode == 0, out.stderr
    assert "quantization (uint8 weights" in out.stdout and "float32 vs source" in out.stdout
    res = verify(str(source), str(tmp_path / "q"), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    q = doc["quantization"]
    assert q["dtypes"] == ["uint8"] and q["quantized_rtol"] == 0.1 and q["passed"]
    assert all(c["passed"] and c["max_rel_err"] < 1e-4 for c in q["float32_vs_source"])
    vs_float = [c["max_rel_err"] for c in q["quantized_vs_float32"]]
    assert len(vs_float) == 2 and all(0 < e < 0.1 for e in vs_float)  # uint8 costs something, not everything
    vs_source = [c["max_rel_err"] for c in doc["comparisons"]]
    assert vs_source == pytest.approx(vs_float, rel=0.1, abs=1e-5)
    strict = verify(str(source), str(tmp_path / "q"), "--quantized_rtol", "1e-9", "--backend", "cpu")
    assert strict.returncode == 3 and "FAIL" in strict.stdout


def test_progress_on_a_terminal_only(tmp_path):
    import io

    from graphs import conv_pool_softmax
    from tfjsconv.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    tfjsconv.convert(conv_pool_softmax(), tmp_path / "a", progress=Progress(screen))
    lines = [line.split("\r\x1b[K")[-1] for line in screen.getvalue().split("\n") if line]
    assert [line.split()[0] for line in lines] == ["load", "optimize", "write"]
    assert "440 B" in lines[-1] and "shard 1" in lines[-1]
    pipe = io.StringIO()
    tfjsconv.convert(conv_pool_softmax(), tmp_path / "b", progress=Progress(pipe))
    assert pipe.getvalue() == ""


def _complex_abs_graph():
    """|x + iy| through Complex and ComplexAbs: TF.js has cpu kernels for both, wasm has none."""
    from tfjsconv.ir import Graph

    g = Graph()
    x = g.placeholder("x", "DT_FLOAT", (6,))
    y = g.placeholder("y", "DT_FLOAT", (6,))
    z = g.add_op("Complex", [x, y], {"T": x.dtype, "Tout": "DT_COMPLEX64"}, name="z", dtype="DT_COMPLEX64", shape=(6,))
    r = g.add_op("ComplexAbs", [z], {"T": z.dtype, "Tout": x.dtype}, name="r", dtype=x.dtype, shape=(6,))
    g.set_output("r", r)
    return g


def test_a_backend_that_cannot_run_the_model_is_a_crash_not_a_mismatch(tmp_path, tfjs_runtime):
    tf = pytest.importorskip("tensorflow")
    # target_backends=cpu: the conversion-time check would (rightly) refuse it for wasm
    tfjsconv.convert(_complex_abs_graph(), tmp_path / "m", target_backends=["cpu"])
    x, y = np.arange(6, dtype=np.float32) - 2.5, np.linspace(-1, 2, 6, dtype=np.float32)
    expected = tf.raw_ops.ComplexAbs(x=tf.complex(x, y)).numpy()
    np.savez(tmp_path / "in.npz", x=x, y=y)
    np.savez(tmp_path / "want.npz", r=expected)
    # --backend all: the model records its cpu target, which verify alone would run (test_verify_trust_s28.py)
    args = (str(tmp_path / "m"), "--inputs", str(tmp_path / "in.npz"), "--expected", str(tmp_path / "want.npz"),
            "--backend", "all")
    out = verify(*args)
    assert out.returncode == 3, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("r ")]
    assert [(r[1], r[-1]) for r in rows] == [("cpu", "PASS"), ("wasm", "CRASH")]
    verdict = out.stdout.strip().splitlines()[-1]
    assert verdict.startswith("CRASH: the wasm backend failed to run the model (op Complex): "), verdict
    assert "'wasm'" in verdict and "differ" not in verdict
    assert "could not run the model on wasm" in out.stderr

    out = verify(*args, "--json")
    assert out.returncode == 3
    doc = json.loads(out.stdout)
    assert doc["status"] == "CRASH" and doc["passed"] is False
    assert doc["crashes"]["wasm"]["op"] == "Complex" and doc["crashes"]["wasm"]["stage"] == "run"
    assert [c["status"] for c in doc["comparisons"]] == ["PASS", "CRASH"]
