"""The core stays light: importing it, or asking the CLI for help, loads no ML framework."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "torch", "onnx", "h5py", "keras", "jax", "onnxruntime")

PROBE = """
import sys
{body}
heavy = {heavy!r}
print()
print("LOADED:" + ",".join(m for m in sys.modules if m.split(".")[0] in heavy))
"""


def loaded_after(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = out.stdout.rsplit("LOADED:", 1)[1].strip()
    return [m for m in line.split(",") if m]


@pytest.mark.parametrize("body", [
    "import tfjsconv",
    "import tfjsconv.conversion, tfjsconv.ir, tfjsconv.writers.graph_model, tfjsconv.weights, tfjsconv.verify",
    "from tfjsconv.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from tfjsconv.cli import main\ntry:\n    main(['convert', '--help'])\nexcept SystemExit:\n    pass",
    "from tfjsconv.cli import main\nmain(['plugins'])",
    "import tfjsconv.plugins.savedmodel.schema, tfjsconv.plugins.savedmodel.tensor_bundle",
    "import tfjsconv.plugins.savedmodel.tf_free, tfjsconv.plugins.savedmodel.pipeline, "
    "tfjsconv.plugins.savedmodel.frozen_model",
])
def test_no_heavy_imports(body):
    assert loaded_after(body) == []


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "convert" in out.stdout


# --- lazy plugins: a command imports only the frontend and the passes it uses ------------------------
#: Plugin modules every run may import: the hook modules and their cheap detectors (tfjsconv.lazy).
HOOK_MODULES = {"tfjsconv.plugins", "tfjsconv.plugins.savedmodel.source"} | {
    f"tfjsconv.plugins.{p}{m}" for p in ("keras", "savedmodel", "onnx", "pytorch") for m in ("", ".detect")}

MODULES_PROBE = """
import sys
{body}
print()
print("MODULES:" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("tfjsconv", "numpy"))))
"""


def modules_after(body: str, cwd=None) -> set[str]:
    code = MODULES_PROBE.format(body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd)
    return set(out.stdout.rsplit("MODULES:", 1)[1].strip().split(","))


def plugin_modules(modules: set[str], plugin: str) -> set[str]:
    return {m for m in modules if m.startswith(f"tfjsconv.plugins.{plugin}.")} - HOOK_MODULES


def pass_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("tfjsconv.passes.")}


@pytest.mark.parametrize("argv", [["--help"], ["convert", "--help"], ["plugins"]])
def test_cli_listing_imports_no_plugin_internals(argv):
    """--help, convert --help (with the plugins' flags) and `plugins` load hooks and detectors only."""
    body = f"from tfjsconv.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    modules = modules_after(body)
    assert {m for m in modules if m.startswith("tfjsconv.plugins.")} <= HOOK_MODULES
    assert not pass_modules(modules) and "tfjsconv.passes" not in modules
    assert not {m for m in modules if m.startswith("tfjsconv.interpreter")}
    assert not {m for m in modules if m.startswith("tfjsconv.plugins.onnx.ops")}
    assert not {m for m in modules if m.startswith("numpy")}


def test_plugin_flags_still_reach_the_parser():
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--input_layout" in out.stdout and "--exporter" in out.stdout


def _write_keras2_h5(path) -> None:
    """A tf_keras-layout .h5 (Input -> Dense), written with h5py alone, random weights."""
    import json

    import h5py
    import numpy as np

    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["x", 0, 0, {}]]],
         "config": {"name": "dense", "units": 2, "activation": "relu", "use_bias": True, "dtype": "float32"}}],
        "input_layers": [["x", 0, 0]], "output_layers": [["dense", 0, 0]]}}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs.update(backend="tensorflow", keras_version="2.15.0", model_config=json.dumps(config))
        weights = f.create_group("model_weights")
        weights.attrs.update(backend="tensorflow", keras_version="2.15.0", layer_names=["x", "dense"])
        weights.create_group("x").attrs["weight_names"] = np.array([], dtype="S1")
        dense = weights.create_group("dense")
        dense.attrs["weight_names"] = ["dense/kernel:0", "dense/bias:0"]
        dense["dense/kernel:0"] = rng.standard_normal((3, 2)).astype(np.float32)
        dense["dense/bias:0"] = rng.standard_normal(2).astype(np.float32)


def test_h5_to_layers_imports_no_other_frontend_and_no_pass(tmp_path):
    _write_keras2_h5(tmp_path / "m.h5")
    modules = modules_after("from tfjsconv.cli import main\nassert main(['m.h5', 'out', '--quiet']) == 0", cwd=tmp_path)
    assert (tmp_path / "out" / "model.json").is_file()
    assert "tfjsconv.plugins.keras.frontends" in modules
    for other in ("onnx", "savedmodel", "pytorch"):
        assert not plugin_modules(modules, other), other
    assert not pass_modules(modules - {"tfjsconv.passes.distinct_outputs"})  # a layers model runs no pass
    assert not {m for m in modules if m.startswith("tfjsconv.interpreter")}


def _write_tiny_onnx(path) -> None:
    """Conv -> Relu on a 1x3x8x8 input (random weights), saved by onnx in the test process."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_to_graph_imports_only_the_onnx_frontend_and_the_passes_that_run(tmp_path):
    _write_tiny_onnx(tmp_path / "m.onnx")
    body = "from tfjsconv.cli import main\nassert main(['m.onnx', 'out', '--quiet', '--optimization_level', '0']) == 0"
    modules = modules_after(body, cwd=tmp_path)
    assert (tmp_path / "out" / "model.json").is_file()
    assert "tfjsconv.plugins.onnx.frontend" in modules
    for other in ("keras", "savedmodel", "pytorch"):
        assert not plugin_modules(modules, other), other
    # level 0 runs the required rewrites only: no optimization pass, and the opt-in one is off
    for skipped in ("fuse_ops", "constant_folding", "cse", "pad_into_conv", "special_values"):
        assert f"tfjsconv.passes.{skipped}" not in modules
    assert "tfjsconv.passes.strip_debug_ops" in modules
