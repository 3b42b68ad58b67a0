"""The random hunters' session-32 options: ``keras_random_models.py --boost`` takes shell patterns (a run aims at a
whole family such as the rare ``--extra`` steps), and ``onnx_random_graphs.py`` names its results after the seed's
session or ``--tag`` (its stem said ``s30`` for every session). No conversion: cheap guards of the benches."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


@pytest.fixture
def keras_bench(monkeypatch):
    """The Keras hunter with ``--extra`` on and no boosts (restored after the test)."""
    import keras_random_models as bench

    monkeypatch.setattr(bench, "EXTRA", True)
    monkeypatch.setattr(bench, "BOOSTS", {})
    return bench


def test_boost_pattern_multiplies_a_family(keras_bench):
    bench = keras_bench
    plain = {name: bench.weight_of(bench.OPS[name]) for name in ("extra_core", "extra_augment", "dense")}
    bench.BOOSTS.update({"extra_*": 4.0})
    assert bench.weight_of(bench.OPS["extra_core"]) == 4 * plain["extra_core"] > 0
    assert bench.weight_of(bench.OPS["extra_augment"]) == 4 * plain["extra_augment"]
    assert bench.weight_of(bench.OPS["dense"]) == plain["dense"]


def test_boost_exact_name_and_pattern_combine(keras_bench):
    bench = keras_bench
    plain = bench.weight_of(bench.OPS["extra_core"])
    bench.BOOSTS.update({"extra_*": 4.0, "extra_core": 0.5, "dense": 2.0})
    assert bench.weight_of(bench.OPS["extra_core"]) == 2 * plain
    assert bench.weight_of(bench.OPS["dense"]) == 2 * bench.OPS["dense"].weight


def test_onnx_results_stem_follows_seed_session_or_tag(tmp_path):
    pytest.importorskip("onnx")
    import onnx_random_graphs as hunter

    case = [{"index": 0, "verdict": "pass", "ops": []}]
    assert hunter.write_results(case, 3231, "cmd", tmp_path).name == "onnx_random_graphs_s32_3231"
    assert hunter.write_results(case, 3001, "cmd", tmp_path).name == "onnx_random_graphs_s30_3001"
    assert hunter.write_results(case, 7, "cmd", tmp_path, "_only").name == "onnx_random_graphs_seed_7_only"
    tagged = hunter.write_results(case, 3231, "cmd", tmp_path, tag="probe")
    assert tagged.name == "onnx_random_graphs_probe_3231" and tagged.with_suffix(".md").exists()
