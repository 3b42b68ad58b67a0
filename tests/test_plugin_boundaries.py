"""Plugins depend on core, and on another plugin only through its public ``api`` module.

A plugin reaching into another's internals (``tfjsconv.plugins.onnx.reading``) breaks whenever that
plugin is refactored, and makes the two impossible to ship apart. This reads every import in
``plugins/`` (with ``ast``, importing nothing) and names each crossing.
"""
from __future__ import annotations

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
PUBLIC_MODULE = "api"


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if node.module.count(".") == 2]  # `from tfjsconv.plugins.onnx import reading`
    return found


def crossings() -> list[str]:
    bad = []
    for path in sorted(PLUGINS.rglob("*.py")):
        own = path.relative_to(PLUGINS).parts[0]
        for line, module in _imported_modules(path):
            parts = module.split(".")
            if parts[:2] != ["tfjsconv", "plugins"] or len(parts) < 3 or parts[2] == own:
                continue
            if len(parts) >= 4 and parts[3] == PUBLIC_MODULE:
                continue
            bad.append(f"{path.relative_to(PLUGINS.parent)}:{line} imports {module}")
    return sorted(set(bad))


def test_plugins_use_each_other_only_through_their_api_module():
    assert crossings() == []


def test_the_check_sees_a_crossing(tmp_path, monkeypatch):
    fake = tmp_path / "plugins"
    (fake / "mine").mkdir(parents=True)
    (fake / "mine" / "x.py").write_text("from tfjsconv.plugins.onnx.reading import check_versions\n"
                                        "from tfjsconv.plugins.onnx.api import translate_model\n"
                                        "from tfjsconv.plugins.mine import y\n")
    monkeypatch.setattr(__import__(__name__), "PLUGINS", fake)
    assert crossings() == ["plugins/mine/x.py:1 imports tfjsconv.plugins.onnx.reading"]
