"""RT6: the interval analysis that lets ``narrow_ints`` skip a wrap must never prove "in range" wrongly.

Each model is built with TF (SavedModel), converted, run in TF.js cpu and wasm and compared exactly with the
SavedModel's own call. The cases are the ones review found proved wrongly: ``ZerosLike``/``OnesLike`` taken as
the union of their operand's interval (0 and 1 are outside it), a float ``FloorMod`` bounded as an integer's,
loop-carried values, and casts of floats whose range is unknown (TF's result beyond the range depends on the
tensor's size: saturated in the vectorized blocks, wrapped in the tail).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_t6_narrow_ints import _refused, assert_exact, reference, saved  # noqa: E402

S = tf.TensorSpec


def like_ops(p):
    zero = tf.raw_ops.ZerosLike(x=tf.clip_by_value(p, 1, 2))  # 0, outside [1, 2]
    one = tf.raw_ops.OnesLike(x=tf.clip_by_value(p, 0, 0))  # 1, outside [0, 0]
    return {"zero_minus_1": tf.cast(zero - 1, tf.uint8), "one_times_300": tf.cast(one * 300, tf.uint8)}


@pytest.mark.node
def test_zeros_like_and_ones_like_are_not_their_operands_range(tmp_path_factory, tfjs_runtime):
    path = saved(tmp_path_factory, "likes", like_ops, [S([4], tf.int32, name="p")])
    out = tmp_path_factory.mktemp("likes_out") / "web"
    tfjsconv.convert(path, out)
    feeds = {"p": np.array([-5, 0, 1, 7], np.int32)}
    expected = reference(path, feeds)
    assert expected["zero_minus_1"].tolist() == [255] * 4 and expected["one_times_300"].tolist() == [44] * 4
    assert_exact(out, feeds, expected)


def loop_ops(p, n):
    start = tf.clip_by_value(p, 0, 10)
    _, acc = tf.while_loop(lambda i, acc: i < n, lambda i, acc: (i + 1, acc + 100), [tf.constant(0), start])
    return {"acc_u8": tf.cast(acc, tf.uint8)}


@pytest.mark.node
def test_a_loop_carried_value_is_not_bounded_by_its_first_iteration(tmp_path_factory, tfjs_runtime):
    path = saved(tmp_path_factory, "loop_range", loop_ops, [S([3], tf.int32, name="p"), S([], tf.int32, name="n")])
    out = tmp_path_factory.mktemp("loop_range_out") / "web"
    tfjsconv.convert(path, out)
    feeds = {"p": np.array([3, -4, 50], np.int32), "n": np.array(12, np.int32)}
    expected = reference(path, feeds)
    assert expected["acc_u8"].max() < 256 and expected["acc_u8"].tolist() != [1203, 1200, 1210]
    assert_exact(out, feeds, expected)


def cond_ops(x, pred):
    y = tf.cond(pred, lambda: x * tf.constant(3, tf.int8), lambda: x + x)
    return {"y": y, "y16": tf.cast(y, tf.int16) * 300}


@pytest.mark.node
def test_int8_arithmetic_in_both_branches_of_a_cond_wraps(tmp_path_factory, tfjs_runtime):
    path = saved(tmp_path_factory, "cond", cond_ops, [S([3], tf.int8, name="x"), S([], tf.bool, name="pred")])
    out = tmp_path_factory.mktemp("cond_out") / "web"
    tfjsconv.convert(path, out)
    for pred in (True, False):
        feeds = {"x": np.array([100, -100, 7], np.int8), "pred": np.array(pred)}
        assert_exact(out, feeds, reference(path, feeds))


def in_range_float_ops(f):
    return {"rounded": tf.cast(tf.round(tf.clip_by_value(f, 0.0, 255.0)), tf.uint8),
            "sigmoid": tf.cast(tf.sigmoid(f) * 255.0, tf.uint8),
            "clipped": tf.cast(tf.clip_by_value(f, -128.0, 127.0), tf.int8),
            "saturated": tf.saturate_cast(f, tf.int16)}


@pytest.mark.node
def test_floats_proven_in_range_are_cast_exactly_without_wraps(tmp_path_factory, tfjs_runtime):
    path = saved(tmp_path_factory, "float_in_range", in_range_float_ops, [S([6], tf.float32, name="f")])
    out = tmp_path_factory.mktemp("float_in_range_out") / "web"
    tfjsconv.convert(path, out)
    feeds = {"f": np.array([256.2, -0.3, 1000.7, 3.5, -70000.5, 40000.9], np.float32)}
    assert_exact(out, feeds, reference(path, feeds))


def test_float_floor_mod_by_a_fraction_is_not_bounded_like_an_integer(tmp_path_factory):
    """FloorMod(256.2, 256.5) is 256.2, which truncates to 256 (outside uint8): not provably in range."""
    message = _refused(tmp_path_factory, "float_mod", lambda f: {
        "y": tf.cast(tf.math.floormod(f, 256.5), tf.uint8, name="mod_to_u8")}, [S([3], tf.float32, name="f")])
    assert "mod_to_u8" in message and "clip it first" in message


def test_float_casts_of_unknown_range_are_refused_by_name(tmp_path_factory):
    """TF casts 300.0 to uint8 as 255 in a 32-element block and as 44 in a 33rd element: no one answer."""
    message = _refused(tmp_path_factory, "float_cast", lambda f: {
        "a": tf.cast(f, tf.uint8, name="to_u8"), "b": tf.cast(f * 2.0, tf.int16, name="to_i16")},
        [S([40], tf.float32, name="f")])
    assert "to_u8" in message and "to_i16" in message and "clip it first" in message
    assert len(message.splitlines()) == 2


def kept_ops(a, b, u):
    # (TF.js 4.22 runs no int32 bitwise op and no RightShift/Invert: refused before this pass matters)
    return {"mod": tf.math.floormod(a, b),
            "max": tf.maximum(a, b), "one_hot": tf.one_hot(tf.cast(u, tf.int32) % 3, 3, on_value=tf.constant(-128, tf.int8),
                                                            off_value=tf.constant(127, tf.int8), dtype=tf.int8),
            "sign_u8": tf.cast(tf.sign(a), tf.uint8), "concat_sum": tf.reduce_sum(tf.concat([a, b], 0))}


@pytest.mark.node
def test_ops_left_unwrapped_keep_tfs_8_bit_values(tmp_path_factory, tfjs_runtime):
    """FloorMod of negative int8, Maximum, OneHot of int8 values, Sign cast to uint8 (-1 is 255), sums."""
    path = saved(tmp_path_factory, "kept", kept_ops, [S([5], tf.int8, name="a"), S([5], tf.int8, name="b"),
                                                       S([5], tf.uint8, name="u")])
    out = tmp_path_factory.mktemp("kept_out") / "web"
    tfjsconv.convert(path, out)
    feeds = {"a": np.array([-128, -1, 127, -7, 100], np.int8), "b": np.array([3, -128, -1, 5, 100], np.int8),
             "u": np.array([0, 255, 7, 128, 3], np.uint8)}
    assert_exact(out, feeds, reference(path, feeds))
