"""The random TF program hunter (``bench/tf_random_graphs.py``, ``--wide``) draws every op it lists (session 31, h6).

Before: the constant chains called ``tf.math.truncatediv``/``tf.math.truncatemod``, which TF does not have, and an
int32 ``clip`` made a -0.5 int32 constant; each raised while the step was drawn, so the step was drawn again as
another op and the hunter never tried them. ``Dilation2D``/``LRN`` were drawn on any rank (TF takes 4-D only) and
were almost never kept, and a VALID ``MaxPool`` window wider than an axis killed the whole run (SIGFPE in TF).
No TF.js here: TF runs each op eagerly, as the generator does while drawing (a cheap guard that the bench draws).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import tf_random_graphs as hunter  # noqa: E402
import tf_random_wide as wide  # noqa: E402


@pytest.mark.parametrize("name", hunter.CONST_INT_OPS)
def test_every_int_constant_chain_op_runs(name):
    c = tf.constant([7, -7, 8, 0, -100], tf.int32)
    assert hunter._const_op(tf, c, name, 3).shape == (5,)


@pytest.mark.parametrize("name", hunter.CONST_FLOAT_OPS)
def test_every_float_constant_chain_op_runs(name):
    c = tf.constant([7.5, -7.5, 0.5, 0.0, -100.0], tf.float32)
    assert hunter._const_op(tf, c, name, 2.0).shape == (5,)


def test_truncating_division_in_a_chain_truncates():
    """TF's own truncation (towards zero), where floordiv rounds down: the op the chain meant to draw."""
    c = tf.constant([7, -7], tf.int32)
    assert hunter._const_op(tf, c, "truncatediv", 2).numpy().tolist() == [3, -3]
    assert hunter._const_op(tf, c, "truncatemod", 2).numpy().tolist() == [1, -1]


@pytest.mark.parametrize("dtype", ["int32", "float32"])
@pytest.mark.parametrize("fn", sorted(set(hunter.MISC_INT) & set(hunter.MISC_FLOAT)))
def test_misc_ops_drawn_for_both_dtypes_run(fn, dtype):
    x = tf.constant(np.arange(-4, 8).reshape(3, 4), getattr(tf, dtype))
    assert hunter._misc(tf, [x], {"fn": fn, "axis": -1}).dtype == x.dtype


def test_pools_never_draw_a_valid_window_wider_than_an_axis():
    rng = np.random.default_rng(0)
    pool = [{"t": None, "dtype": "float32", "shape": (7, 7, 1, 8)}]
    drawn = [wide.draw_pool(rng, pool)["p"] for _ in range(100)]
    assert all(p["padding"] == "SAME" for p in drawn)


def test_misc_wide_draws_four_d_only_ops_on_four_d_tensors():
    rng = np.random.default_rng(0)
    for shape in [(7,), (3, 6), (2, 4, 6)]:
        names = {wide.draw_misc_wide(rng, [{"t": None, "dtype": "float32", "shape": shape}])["p"]["fn"]
                 for _ in range(200)}
        assert not names & {"lrn", "dilation2d"}, (shape, names)
    names = {wide.draw_misc_wide(rng, [{"t": None, "dtype": "float32", "shape": (2, 5, 5, 3)}])["p"]["fn"]
             for _ in range(200)}
    assert {"lrn", "dilation2d", "space_to_batch"} <= names


def test_results_files_name_the_generator_version(tmp_path):
    """Old seeds' recipes changed with these fixes: their results go to a new stem, not over session 29's."""
    stem = hunter.write_results([{"index": 0, "verdict": "pass", "ops": []}], 7, "cmd", tmp_path)
    assert stem.name == f"tf_random_graphs_{hunter.GENERATOR_VERSION}_7" and hunter.GENERATOR_VERSION != "s29"
