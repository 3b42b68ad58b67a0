"""Small trust fixes: every refused ``MatMulNBits`` node in one line, the model's own reference for one with
external data, ``verify`` leaving nothing in ``$TMPDIR``, an honest Ctrl-C message for ``verify`` and
``inspect``, and qualified layer names in layers-path refusals of nested models."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import onnx_model  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402

BACKENDS = ("cpu", "wasm")
K, N = 64, 16


def _nbits_chain(path: Path, settings: list[tuple[int, int]], *, accuracy_level: int | None = None) -> Path:
    """``x -> MatMulNBits -> MatMulNBits ...`` (an LLM's layers in a row), one node per ``(bits, block_size)``,
    named ``layer<i>``, random packed weights and zero points."""
    rng = np.random.default_rng(3)
    inits, nodes, previous = {}, [], "x"
    for i, (bits, block) in enumerate(settings):
        blocks = -(-K // block)
        inits[f"b{i}"] = rng.integers(0, 256, (N if i == len(settings) - 1 else K, blocks, max(1, block * bits // 8))
                                      ).astype(np.uint8)
        n = inits[f"b{i}"].shape[0]
        inits[f"s{i}"] = (rng.random(n * blocks) * 0.05 + 0.01).astype(np.float32)
        inits[f"z{i}"] = rng.integers(0, 256, n * -(-blocks * bits // 8)).astype(np.uint8)
        extra = {} if accuracy_level is None else {"accuracy_level": accuracy_level}
        nodes.append(helper.make_node("MatMulNBits", [previous, f"b{i}", f"s{i}", f"z{i}"], [f"y{i}"], name=f"layer{i}",
                                      domain="com.microsoft", K=K, N=n, bits=bits, block_size=block, **extra))
        previous = f"y{i}"
    return onnx_model(path, nodes, {"x": (TensorProto.FLOAT, [2, K])}, [previous], opset=17, initializers=inits,
                      extra_opsets=(("com.microsoft", 1),))


def test_every_refused_matmul_nbits_node_of_a_chain_is_named_in_one_line(tmp_path):
    """Translation stops at the first refused node of a chain (the next ones read an unknown value): each run
    named one more layer. The scan names all of them, each with all of its problems, in one line."""
    path = _nbits_chain(tmp_path / "chain.onnx", [(3, 16), (4, 24), (4, 32), (5, 8)])
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, tmp_path / "out")
    message = caught.value.message
    assert "\n" not in message, message
    assert "3 com.microsoft:MatMulNBits node(s) cannot be converted" in message, message
    assert "'layer0': bits=3 is not supported" in message
    assert "'layer1': block_size=24 must be a power of 2 from 16" in message
    assert "'layer3': bits=5 is not supported (2, 4 and 8 are), block_size=8 must be a power of 2" in message
    assert "'layer2'" not in message
    assert caught.value.exit_code == 2


def test_matmul_nbits_with_external_data_is_verified_against_the_model_itself(tmp_path, tfjs_runtime):
    """``accuracy_level`` 4 only allows onnxruntime int8 activations (≈ 0.5 % off ``A @ dequant(B)``); the
    reference computes the op at full accuracy, for a model with external data files as for an inline one
    (which used to run at level 4, so verify failed a correct model)."""
    from tfjsconv.plugins.onnx.reference import run_onnxruntime
    from tfjsconv.verify.compare import format_report, verify_model

    inline = _nbits_chain(tmp_path / "inline.onnx", [(4, 16), (8, 32)], accuracy_level=4)
    folder = tmp_path / "external"
    folder.mkdir()
    external = folder / "model.onnx"
    onnx.save_model(onnx.load(str(inline)), str(external), save_as_external_data=True, location="model.data",
                    size_threshold=0)
    assert (folder / "model.data").stat().st_size > K * K // 2
    feeds = {"x": np.random.default_rng(5).standard_normal((2, K)).astype(np.float32)}
    reference = run_onnxruntime(external, feeds)["y1"]
    np.testing.assert_array_equal(reference, run_onnxruntime(inline, feeds)["y1"])
    import onnxruntime as ort

    level4 = ort.InferenceSession(str(external), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(level4 - reference).max() > 1e-3 * np.abs(reference).max()  # the test can tell them apart
    tfjsconv.convert(external, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, {"y1": reference}, backends=BACKENDS, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def _command(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *argv], capture_output=True, text=True, env=env,
                          timeout=300)


def test_verify_leaves_nothing_in_tmpdir_when_it_passes_or_fails(tmp_path, tfjs_runtime):
    """Importing onnxruntime with its telemetry on writes ``$TMPDIR/.ses``, which nothing removed."""
    relu = onnx_model(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                      {"x": (TensorProto.FLOAT, [2, 3])}, ["y"])
    neg = onnx_model(tmp_path / "neg.onnx", [helper.make_node("Neg", ["x"], ["y"])],
                     {"x": (TensorProto.FLOAT, [2, 3])}, ["y"])
    tfjsconv.convert(relu, tmp_path / "relu_out")
    tfjsconv.convert(neg, tmp_path / "neg_out")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"TMPDIR": str(scratch)}
    passed = _command("verify", str(relu), str(tmp_path / "relu_out"), "--backend", "cpu", env=env)
    assert passed.returncode == 0, passed.stderr
    assert sorted(p.name for p in scratch.iterdir()) == []
    failed = _command("verify", str(relu), str(tmp_path / "neg_out"), "--backend", "cpu", env=env)
    assert failed.returncode != 0 and "differ" in failed.stderr, failed.stderr
    assert sorted(p.name for p in scratch.iterdir()) == []


#: Runs ``tfjsconv`` with one function made slow (fault injection: the moment Ctrl-C arrives), after touching
#: a file that says the command got there.
_SLOW_AT = '''
import importlib, pathlib, sys, time
module, name, ready = sys.argv[1:4]
def slow(*args, **kwargs):
    pathlib.Path(ready).touch()
    time.sleep(120)
setattr(importlib.import_module(module), name, slow)
from tfjsconv.cli import main
sys.exit(main(sys.argv[4:]))
'''


def _interrupt_midway(tmp_path: Path, module: str, name: str, *argv: str) -> tuple[int, str]:
    script = tmp_path / "slow_at.py"
    script.write_text(_SLOW_AT)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(script), module, name, str(ready), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the command never reached the slow step"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_ctrl_c_during_verify_says_that_verify_stopped(tmp_path, tfjs_runtime):
    relu = onnx_model(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                      {"x": (TensorProto.FLOAT, [2, 3])}, ["y"])
    tfjsconv.convert(relu, tmp_path / "out")
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.savez(tmp_path / "inputs.npz", x=x)
    np.savez(tmp_path / "expected.npz", y=np.maximum(x, 0))
    code, err = _interrupt_midway(tmp_path, "tfjsconv.verify.run", "_call_runner", "verify", str(tmp_path / "out"),
                                  "--inputs", str(tmp_path / "inputs.npz"), "--expected", str(tmp_path / "expected.npz"))
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; verify stopped before its verdict", err
    assert "nothing was written" not in err and "Traceback" not in err


def test_ctrl_c_during_inspect_says_that_inspect_stopped(tmp_path):
    relu = onnx_model(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                      {"x": (TensorProto.FLOAT, [2, 3])}, ["y"])
    code, err = _interrupt_midway(tmp_path, "tfjsconv.inspect", "inspect_model", "inspect", str(relu))
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; inspect stopped before it finished", err
    assert "nothing was written" not in err


def test_layers_path_refusals_qualify_layers_of_nested_models(tmp_path):
    """Two nested models, each with an RNN ``plain`` that runs unmasked beside a Masking layer: both are named,
    as ``inner_a/plain`` and ``inner_b/plain`` (they used to be one ``'plain'``, the second deduplicated away)."""
    k = pytest.importorskip("tf_keras")

    def inner(name: str):
        x, y = k.Input((5, 3)), k.Input((5, 3))
        masked = k.layers.LSTM(4, name="rnn")(k.layers.Masking(name="mask")(y))
        plain = k.layers.SimpleRNN(4, name="plain")(x)
        return k.Model([x, y], k.layers.Concatenate(name="cat")([masked, plain]), name=name)

    x, y = k.Input((5, 3)), k.Input((5, 3))
    joined = k.layers.Concatenate(name="join")([inner("inner_a")([x, y]), inner("inner_b")([x, y])])
    path = tmp_path / "nested.h5"
    k.Model([x, y], joined, name="outer").save(path)
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_layers_model")
    lines = [line for line in caught.value.message.splitlines() if "runs on an unmasked sequence" in line]
    assert [line.split("'")[1] for line in lines] == ["inner_a/plain", "inner_b/plain"], caught.value.message


def _external(inline: Path, folder: Path, locations: dict[str, str]) -> Path:
    """``inline`` saved into ``folder`` with the initializers named in ``locations`` moved to those files
    (written where they point, even outside ``folder``)."""
    from onnx.external_data_helper import set_external_data

    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(inline))
    for tensor in model.graph.initializer:
        if tensor.name in locations:
            target = folder / locations[tensor.name]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tensor.raw_data)
            set_external_data(tensor, location=locations[tensor.name], offset=0, length=len(tensor.raw_data))
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("accuracy_level", [None, 4])
def test_reference_refuses_external_data_outside_the_model_folder(tmp_path, accuracy_level):
    """onnxruntime 1.21 (pyproject allows 1.18+) reads ``..`` and absolute locations, from a path and from bytes
    alike: the reference refuses them as the converter's loader does, every tensor named in one line, on the
    bytes route (level 4) and the path route (no level) alike, and for ``verify --trace`` too."""
    from tfjsconv.plugins.onnx.reference import onnx_intermediates, run_onnxruntime

    inline = _nbits_chain(tmp_path / "inline.onnx", [(4, 16)], accuracy_level=accuracy_level)
    path = _external(inline, tmp_path / "model", {"b0": "../outside.data", "s0": str(tmp_path / "abs.data")})
    feeds = {"x": np.ones((2, K), np.float32)}
    for run in (lambda: run_onnxruntime(path, feeds), lambda: onnx_intermediates(path, feeds, ["layer0"])):
        with pytest.raises(InputError) as caught:
            run()
        assert caught.value.message == (f"2 tensor(s) point outside the model folder: 'b0' (../outside.data), "
                                         f"'s0' ({tmp_path / 'abs.data'})"), caught.value.message


def test_reference_runs_external_data_from_its_file_on_onnxruntime_before_1_21(tmp_path, monkeypatch):
    """Before 1.21 onnxruntime ignores the external-data folder option and reads a buffer's files from the
    working directory (measured with 1.18 and 1.20: a ``model.data`` there was read instead, the reference off
    by more than the outputs' size). Such a model then runs from its file, as before the option was used.
    Fault injection: only the version onnxruntime reports is changed."""
    import onnxruntime as ort

    from tfjsconv.plugins.onnx import reference

    inline = _nbits_chain(tmp_path / "inline.onnx", [(4, 16)], accuracy_level=4)
    external = _external(inline, tmp_path / "model", {"b0": "model.data"})
    assert reference._float_activation_copy(external, ort) is not None
    monkeypatch.setattr(ort, "__version__", "1.20.1")
    assert reference._float_activation_copy(external, ort) is None
    assert reference._float_activation_copy(inline, ort) is not None  # inline data: bytes are safe on any version
    decoy = tmp_path / "cwd"
    decoy.mkdir()
    (decoy / "model.data").write_bytes(bytes((tmp_path / "model" / "model.data").stat().st_size))
    monkeypatch.chdir(decoy)
    feeds = {"x": np.random.default_rng(5).standard_normal((2, K)).astype(np.float32)}
    from_file = ort.InferenceSession(str(external), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_array_equal(reference.run_onnxruntime(external, feeds)["y0"], from_file)


def test_import_onnxruntime_leaves_the_environment_as_it_was(tmp_path):
    """The telemetry switch is for onnxruntime's import only: later child processes of a library user do not
    inherit a variable they never set."""
    code = ("import os; from tfjsconv.plugins.onnx.reference import import_onnxruntime; import_onnxruntime(); "
            "print(os.environ.get('ORT_DISABLE_TELEMETRY'))")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "None" and not list(tmp_path.iterdir()), (done.stdout, done.stderr)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=env | {"ORT_DISABLE_TELEMETRY": "0"})
    assert done.stdout.strip() == "0", done.stderr
