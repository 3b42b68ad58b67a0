"""The lean entry-point scan finds exactly what importlib.metadata finds (the stdlib is the oracle)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tfjsconv.entry_points import EntryPoint, _from_importlib, _scan, entry_points


def _dist(site: Path, folder: str, name: str, version: str, entry_points_txt: str, *, metadata: str = "METADATA"):
    info = site / folder
    info.mkdir(parents=True)
    (info / metadata).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nLong: text\n")
    (info / "entry_points.txt").write_text(entry_points_txt)


@pytest.mark.parametrize("group", ["tfjsconv", "console_scripts", "no_such_group"])
def test_installed_environment_matches_importlib(group):
    assert _scan(group) == _from_importlib(group)


def test_site_dirs_order_duplicates_and_egg_info_match_importlib(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Shadow_Plugin-2.0.dist-info", "Shadow-Plugin", "2.0", "[tfjsconv]\nshadow = json\n")
    _dist(first, "other-1.0.dist-info", "other", "1.0",
          "# a comment\n[console_scripts]\nx = json:loads\n\n[tfjsconv]\n  alpha =  json:loads  \nbeta=json\n")
    _dist(second, "shadow.plugin-1.0.dist-info", "shadow.plugin", "1.0", "[tfjsconv]\nshadow = os\n")  # hidden
    _dist(second, "legacy-0.3.egg-info", "legacy", "0.3", "[tfjsconv]\nlegacy = os.path:join\n", metadata="PKG-INFO")
    (second / "no_entry_points-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    found = _scan("tfjsconv")
    assert found == _from_importlib("tfjsconv")
    assert {(e.name, e.dist_name, e.dist_version) for e in found if e.dist_name != "tfjsconv"} == {
        ("shadow", "Shadow-Plugin", "2.0"), ("alpha", "other", "1.0"), ("beta", "other", "1.0"),
        ("legacy", "legacy", "0.3")}  # the second "shadow" (same normalized name, later on sys.path) is hidden
    by_name = {e.name: e for e in found}
    assert by_name["shadow"].value == "json" and by_name["alpha"].load() is json.loads
    assert by_name["legacy"].load() is __import__("os").path.join


def test_a_zip_on_sys_path_is_left_to_importlib(tmp_path, monkeypatch):
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", "[tfjsconv]\nzipped = json\n")
    monkeypatch.syspath_prepend(str(archive))
    found = entry_points("tfjsconv")
    assert EntryPoint("zipped", "json", "zipped", "1.0") in found
    assert found == _from_importlib("tfjsconv")


def test_the_cli_does_not_import_importlib_metadata():
    probe = ("import sys\nfrom tfjsconv.plugin_manager import get_plugin_manager\n"
             "names = {p.name for p in get_plugin_manager().plugins()}\n"
             "print({'keras', 'onnx', 'pytorch', 'savedmodel'} <= names, 'importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True False"
