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


# -- pluggy used as pluggy: ordering, wrappers, explicit overrides ----------------------------------
def _pass_named(name, marker):
    from tfjsconv.passes import Pass

    class Named(Pass):
        def run(self, graph):
            return False

    Named.name, Named.marker = name, marker
    return Named()


def _plugin(hook_name, body, **marks):
    """A plugin object whose ``hook_name`` implementation runs ``body(register)`` (a generator for wrappers)."""
    from tfjsconv.hookspecs import hookimpl

    class Plugin:
        pass

    if marks.get("wrapper"):
        def implementation(self, register):
            return (yield from body(register))
    else:
        def implementation(self, register):
            return body(register)
    setattr(Plugin, hook_name, hookimpl(**marks)(implementation))
    return Plugin()


def test_same_named_pass_from_two_plugins_is_an_error_naming_both():
    from tfjsconv.errors import PluginError
    from tfjsconv.plugin_manager import PluginManager

    pm = PluginManager()
    pm.register(_plugin("register_passes", lambda register: register(_pass_named("cse", "mine"))), name="my-cse")
    with pytest.raises(PluginError, match="'my-cse'.*'tfjsconv.builtin'|'tfjsconv.builtin'.*'my-cse'") as err:
        pm.registry.passes
    assert "override=True" in str(err.value.hint)


def test_a_pass_marked_override_replaces_the_builtin_one():
    from tfjsconv.plugin_manager import PluginManager

    pm = PluginManager()
    mine = _pass_named("cse", "mine")
    pm.register(_plugin("register_passes", lambda register: register(mine, override=True)), name="my-cse")
    named_cse = [p for p in pm.registry.passes if p.name == "cse"]
    assert named_cse == [mine]


def test_two_overrides_of_one_op_mapping_are_an_error():
    from tfjsconv.errors import PluginError
    from tfjsconv.plugin_manager import PluginManager

    pm = PluginManager()
    for name in ("first", "second"):
        pm.register(_plugin("register_op_mappings",
                            lambda register: register("onnx", "Relu", lambda ctx: None, override=True)), name=name)
    with pytest.raises(PluginError, match="'first'.*'second'|'second'.*'first'"):
        pm.registry.op_mappings


def test_hooks_run_through_pluggy_so_wrappers_and_tryfirst_work():
    """A hook wrapper sees every registration; tryfirst puts a plugin's call before the built-ins'."""
    from tfjsconv.plugin_manager import PluginManager

    calls = []

    def wrapper_body(register):
        calls.append("wrapper before")
        yield
        calls.append("wrapper after")

    def first_body(register):
        calls.append("first")
        register("--from-first", help="registered by a tryfirst plugin")

    pm = PluginManager()
    pm.register(_plugin("register_options", wrapper_body, wrapper=True), name="wrapping")
    pm.register(_plugin("register_options", first_body, tryfirst=True), name="early")
    options = pm.registry.options
    assert calls == ["wrapper before", "first", "wrapper after"]
    assert options[0].flag == "--from-first" and options[0].plugin == "early"
    assert any(o.plugin == "onnx" for o in options)  # built-ins are credited to themselves


def test_collect_registers_a_reexported_mapping_once(tmp_path, monkeypatch):
    """An @onnx_op function re-exported by a second module is neither lost nor registered twice."""
    from tfjsconv.plugins.onnx.mapping import collect

    (tmp_path / "defining_ops.py").write_text(
        "from tfjsconv.plugins.onnx.mapping import onnx_op\n\n@onnx_op('MyOp', since=1)\ndef my_op(ctx):\n    return None\n")
    (tmp_path / "reexporting_ops.py").write_text("from defining_ops import my_op  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("defining_ops", "reexporting_ops"):  # forgotten again after the test
        monkeypatch.delitem(sys.modules, name, raising=False)
    import reexporting_ops

    found = collect([reexporting_ops])
    assert "MyOp" in found
    found_twice = collect([reexporting_ops, sys.modules["defining_ops"]])
    assert found_twice["MyOp"].since_versions == found["MyOp"].since_versions == (1,)
