"""Plugins load through entry points, built-in and third-party alike; a broken one is named."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory) -> Path:
    """The example plugin, pip-installed (built from its own pyproject.toml) into a private site dir."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(EXAMPLE)], check=True)
    return target


@pytest.fixture
def with_example_plugin(example_plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(example_plugin_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(example_plugin_site), os.environ.get("PYTHONPATH", "")]))
    return example_plugin_site


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_builtin_plugins_load_through_entry_points():
    from tfjsconv.plugin_manager import get_plugin_manager

    names = {p.name: p for p in get_plugin_manager().plugins()}
    assert {"keras", "savedmodel", "onnx", "pytorch"} <= set(names)
    assert names["keras"].module == "tfjsconv.plugins.keras"
    assert names["keras"].version  # comes from the tfjsconv distribution's metadata


def test_third_party_frontend_and_custom_op_are_found(with_example_plugin):
    out = cli("plugins", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    example = next(p for p in doc["plugins"] if p["name"] == "example")
    assert example["version"] == "1.2.3"
    assert example["hooks"] == ["register_frontends", "register_ops"]
    assert "dense_json" in doc["input_formats"]
    assert doc["custom_ops"] == ["ExampleSwish"]


def test_third_party_lazy_frontend_loads_only_when_it_converts(with_example_plugin, tmp_path):
    """The example declares its frontend with LazyFrontend: listing plugins or converting another format
    never imports its module; converting a dense_json file does."""
    probe = ("import sys\nfrom tfjsconv.cli import main\nmain({argv!r})\n"
             "print('LOADED' if 'tfjsconv_example_plugin.dense_json' in sys.modules else 'NOT LOADED')")
    model = tmp_path / "m.dense.json"
    model.write_text(json.dumps({"kernel": [[1.0], [2.0]], "bias": [0.0]}))
    for argv, loaded in ((["plugins"], False), ([str(model), str(tmp_path / "out"), "--quiet"], True)):
        out = subprocess.run([sys.executable, "-c", probe.format(argv=argv)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == ("LOADED" if loaded else "NOT LOADED"), argv


def test_third_party_format_is_detected_and_custom_op_passes_the_op_check(with_example_plugin, tmp_path):
    model = tmp_path / "tiny model.dense.json"
    model.write_text(json.dumps({"kernel": [[1, 2], [3, 4], [5, 6]], "bias": [0.5, -1], "activation": "swish"}))
    out = cli("convert", str(model), str(tmp_path / "out dir"))
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "out dir" / "model.json").read_text())
    assert [n["op"] for n in doc["modelTopology"]["node"]][-1] == "ExampleSwish"


def test_custom_op_without_its_plugin_is_refused(tmp_path):
    from tfjsconv.dtypes import DType
    from tfjsconv.errors import UnsupportedOpsError
    from tfjsconv.ir import Graph
    import tfjsconv

    g = Graph()
    x = g.placeholder("x", DType.FLOAT32, (2,))
    g.set_output("y", g.add_op("ExampleSwish", [x], name="swish"))
    with pytest.raises(UnsupportedOpsError, match="ExampleSwish: swish"):
        tfjsconv.convert(g, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_in_process_registration(tmp_path):
    """Notebooks and tests can register a plugin object directly, e.g. a custom op."""
    from tfjsconv.hookspecs import hookimpl
    from tfjsconv.ops import OpDef
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    import tfjsconv

    class MyOps:
        @hookimpl
        def register_ops(self, register):
            register(OpDef(name="MyOp", custom=True))

    pm = get_plugin_manager()
    pm.register(MyOps(), name="my-ops")
    g = Graph()
    x = g.placeholder("x", DType.FLOAT32, (2,))
    g.set_output("y", g.add_op("MyOp", [x], name="mine"))
    tfjsconv.convert(g, tmp_path / "out", plugin_manager=pm)
    assert (tmp_path / "out" / "model.json").exists()


def test_broken_plugin_is_named(tmp_path):
    site = tmp_path / "site"
    (site / "broken_plugin").mkdir(parents=True)
    (site / "broken_plugin" / "__init__.py").write_text("raise ImportError('needs libfoo')\n")
    dist = site / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tfjsconv]\nbroken = broken_plugin\n")
    out = cli("plugins", env={"PYTHONPATH": str(site)})
    assert out.returncode == 2
    assert "plugin 'broken'" in out.stderr and "broken-plugin 0.1" in out.stderr and "needs libfoo" in out.stderr
    assert "Traceback" not in out.stderr
    # the escape hatch the message names works
    ok = cli("plugins", env={"PYTHONPATH": str(site), "TFJSCONV_LOAD_PLUGINS": "keras"})
    assert ok.returncode == 0 and "broken" not in ok.stdout


def test_plugin_with_unknown_hook_is_rejected():
    from tfjsconv.errors import PluginError
    from tfjsconv.hookspecs import hookimpl
    from tfjsconv.plugin_manager import PluginManager

    class Typo:
        @hookimpl
        def register_frontend(self, register):  # missing "s"
            pass

    with pytest.raises(PluginError, match="register_frontend"):
        PluginManager(load_entry_points=False).register(Typo(), name="typo")


@pytest.mark.node
def test_verify_against_a_third_party_frontends_reference(with_example_plugin, tmp_path, tfjs_runtime):
    """`tfjsconv verify SOURCE MODEL_DIR` asks the source's frontend for the reference, on random inputs."""
    model = tmp_path / "relu.dense.json"
    rng = np.random.default_rng(0)
    model.write_text(json.dumps({"kernel": rng.standard_normal((4, 3)).tolist(),
                                 "bias": rng.standard_normal(3).tolist(), "activation": "relu"}))
    assert cli("convert", str(model), str(tmp_path / "web")).returncode == 0
    out = cli("verify", str(model), str(tmp_path / "web"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("PASS") == 3  # two rows and the verdict
