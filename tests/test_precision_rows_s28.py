"""Log1p and Sin nodes left to TF.js's less precise kernels are named (session 28, h10).

wasm's and webgl's ``Log1p`` compute ``log(1 + x)`` in float32 (``log1p(1e-8)`` is 0) and wasm's ``Sin`` of a negative
argument loses its low bits (``sin(-1e-10)`` is +1.75e-7): the ``log1p`` and ``sin_symmetry`` passes rewrite them, but
``--skip_passes`` (or a float16 node, which they leave) brings the kernels back. The contract's deviation rows name
such nodes in the special-values line; a default conversion, whose passes rewrote them, does not.
"""
from __future__ import annotations

from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402

LESS_PRECISE = "small arguments (less precise kernels)"


def _save(path: Path, dtype: tf.DType = tf.float32) -> Path:
    """A SavedModel computing ``tf.math.log1p`` and ``tf.math.sin`` of one input."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"log1p": tf.math.log1p(x), "sin": tf.math.sin(x)},
                           input_signature=[tf.TensorSpec((None, 4), dtype, name="x")])
    tf.saved_model.save(module, str(path), signatures=module.f)
    return path


def _line(result: object) -> str:
    return " ".join(getattr(result, "notices"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("precision") / "model")


def test_skipped_passes_name_the_naive_kernels(saved: Path, tmp_path: Path):
    skipped = tfjsconv.convert(saved, tmp_path / "skipped", skip_passes=["log1p", "sin_symmetry"])
    line = _line(skipped)
    assert LESS_PRECISE in line and "Log1p" in line and "Sin" in line, skipped.notices
    assert "the log1p, sin_symmetry passes rewrite float32 nodes" in line, skipped.notices
    only_sin = tfjsconv.convert(saved, tmp_path / "sin", skip_passes=["sin_symmetry"], target_backends=["wasm"])
    assert LESS_PRECISE in _line(only_sin) and "Log1p" not in _line(only_sin), only_sin.notices
    assert "the sin_symmetry pass rewrites" in _line(only_sin), only_sin.notices


def test_default_conversion_does_not_name_them(saved: Path, tmp_path: Path):
    default = tfjsconv.convert(saved, tmp_path / "default")
    assert LESS_PRECISE not in _line(default) and "Log1p" not in _line(default), default.notices
    cpu = tfjsconv.convert(saved, tmp_path / "cpu", skip_passes=["log1p", "sin_symmetry"], target_backends=["cpu"])
    assert LESS_PRECISE not in _line(cpu), cpu.notices  # cpu's Math.log1p and Math.sin are right


def test_float16_nodes_the_passes_leave_are_named(tmp_path: Path):
    half = tfjsconv.convert(_save(tmp_path / "half", tf.float16), tmp_path / "out", target_backends=["wasm"])
    line = _line(half)
    assert LESS_PRECISE in line and "Log1p" in line and "Sin" in line, half.notices
