"""Lazy plugin declarations (tfjsconv.lazy): what they load, when, and that they match what they name."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder
from tfjsconv.errors import PluginError
from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend, LazyPass, LazyWriter
from tfjsconv.plugin_manager import PluginManager


def test_builtin_declarations_match_the_classes_they_name():
    """Every built-in frontend, writer and pass is declared lazily, and loading it confirms the declaration."""
    reg = PluginManager().registry
    assert reg.frontends and reg.writers and reg.passes
    for frontend in reg.frontends.values():
        assert isinstance(frontend, LazyFrontend), frontend
        assert frontend.real.description == frontend.description, frontend.name
    for writer in reg.writers.values():
        assert isinstance(writer, LazyWriter) and writer.real.description == writer.description
    for pass_ in reg.passes:
        assert isinstance(pass_, LazyPass), pass_
        pass_.load()  # raises PluginError when name, level, after or before differ


def test_every_pass_module_is_registered():
    """A pass class added under core/passes/ must also be declared in builtin.py (or it never runs)."""
    import importlib
    import pkgutil

    import tfjsconv.passes as passes

    declared = {p.target for p in PluginManager().registry.passes}
    defined = set()
    for info in pkgutil.iter_modules(passes.__path__):
        module = importlib.import_module(f"tfjsconv.passes.{info.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, passes.Pass) and obj.__module__ == module.__name__
                    and "name" in vars(obj) and obj.name):
                defined.add(f"{module.__name__}:{name}")
    assert defined - declared == set()


def test_a_declaration_that_does_not_match_is_refused():
    with pytest.raises(PluginError, match="declared as"):
        LazyPass("dead_code", "tfjsconv.passes.dead_code:RemoveDeadNodes", level=0, after=("fuse_ops",)).load()
    with pytest.raises(PluginError, match="declared as"):
        _ = LazyFrontend("onnx", "tfjsconv.plugins.onnx.frontend:OnnxFrontend",
                         output_formats=("tfjs_layers_model",)).real
    with pytest.raises(PluginError, match="cannot load tfjsconv.no_such_module:X"):
        LazyPass("x", "tfjsconv.no_such_module:X").load()


def test_a_plugin_needs_no_lazy_declaration():
    """Plain Frontend/Pass objects (the hook API before lazy loading) still register and run."""
    from tfjsconv.frontends.ir_frontend import IRFrontend

    class Eager:
        @hookimpl
        def register_frontends(self, register):
            register(type("Ir2", (IRFrontend,), {"name": "ir2"})())

    pm = PluginManager(load_entry_points=False)
    pm.register(Eager(), name="eager")
    assert pm.registry.frontends["ir2"].name == "ir2"


THIRD_PARTY_PASS = '''
from tfjsconv.passes import Pass


class CountMuls(Pass):
    """Changes nothing; records that it ran."""

    name = "count_muls"
    level = 2
    order = 90
    seen: list = []

    def run(self, graph):
        CountMuls.seen.append(sum(n.op == "Mul" for n in graph))
        return False
'''


@pytest.fixture
def lazy_plugin(tmp_path, monkeypatch):
    """A third-party plugin whose pass lives in its own module, declared with LazyPass."""
    (tmp_path / "thirdparty_lazy_pass.py").write_text(textwrap.dedent(THIRD_PARTY_PASS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "thirdparty_lazy_pass", raising=False)

    class Plugin:
        @hookimpl
        def register_passes(self, register):
            register(LazyPass("count_muls", "thirdparty_lazy_pass:CountMuls", level=2, order=90))

    pm = PluginManager()
    pm.register(Plugin(), name="thirdparty")
    return pm


def _graph() -> Builder:
    b = Builder()
    x = b.input("x", (2, 3))
    b.output("y", b.op("Mul", [x, b.const(np.full(3, 2, np.float32), "twos")], name="y"))
    return b


@pytest.mark.parametrize("options", [{"optimization_level": 1}, {"skip_passes": ["count_muls"]}])
def test_a_lazy_pass_that_does_not_run_is_not_imported(lazy_plugin, tmp_path, options):
    result = tfjsconv.convert(_graph().g, tmp_path / "m", plugin_manager=lazy_plugin, **options)
    assert "thirdparty_lazy_pass" not in sys.modules
    assert "count_muls" not in {s.name for s in result.pass_report.stats}
    assert "count_muls" in {p.name for p in lazy_plugin.registry.passes}  # still listed by `tfjsconv plugins`


def test_a_lazy_pass_that_runs_is_imported_and_run(lazy_plugin, tmp_path):
    result = tfjsconv.convert(_graph().g, tmp_path / "m", plugin_manager=lazy_plugin)
    assert sys.modules["thirdparty_lazy_pass"].CountMuls.seen[:1] == [1]
    assert {s.name: s.runs for s in result.pass_report.stats}["count_muls"] >= 1


def test_a_gated_pass_is_not_imported_unless_its_option_is_on():
    modules_before = set(sys.modules)
    gated = [p for p in PluginManager().registry.passes if p.name == "exact_special_values"]
    assert len(gated) == 1 and gated[0].enabled_when is not None
    off = gated[0].enabled(type("Options", (), {"exact_special_values": False})())
    assert off is False and not gated[0].loaded
    assert ("tfjsconv.passes.special_values" in sys.modules) == ("tfjsconv.passes.special_values" in modules_before)
