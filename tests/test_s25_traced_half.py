"""Float16 arithmetic on the traced path (session 25, helper h8; probe H2's T1).

A ``mixed_float16`` model converted with ``--loader=tensorflow`` (and any SavedModel computing in float16) holds
TF's ``T=half`` nodes, which TF.js computes in float32. Unrounded, tf_keras's masked MultiHeadAttention landed up to
0.11 of the range off Keras with no notice but "about 1e-3": at padded query positions TF's float16 logits plus the
mask's -32752 round every key to one value (equal weights) where float32 keeps them apart. Each float16 node's
result is now rounded to float16 as TF rounds it (``half_rounding.round_half_result``): elementwise ops give TF's
values exactly, and the nodes TF computes in several float16 steps are named in a notice (log and the conversion's
details) stating the bound the masked attention is held to here, on TF.js cpu and wasm.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")

import tfjsconv  # noqa: E402
from keras_models import randomize  # noqa: E402
from test_t6_narrow_ints import BACKENDS, assert_exact, reference, saved  # noqa: E402
from tfjsconv.errors import UnsupportedOpsError  # noqa: E402
from tfjsconv.passes.half_rounding import HALF_STEPS_NOTICE  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

S = tf.TensorSpec
#: Padded token ids (0: padding), rows of one to six tokens: the padded query rows are where TF's weights go equal
IDS = np.array([[3, 5, 7, 2, 9, 1], [4, 11, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [8, 2, 10, 0, 0, 0]], np.int32)
FEATURES, HEADS, KEY_DIM = 8, 2, 4


def _mha_model():
    """tf_keras mixed_float16: Embedding(mask_zero) into a MultiHeadAttention reading the padding mask, scores too."""
    k = tf_keras
    k.mixed_precision.set_global_policy("mixed_float16")
    try:
        ids = k.Input((None,), dtype="int32", name="ids")
        h = k.layers.Embedding(12, FEATURES, mask_zero=True, name="emb")(ids)
        out, scores = k.layers.MultiHeadAttention(HEADS, KEY_DIM, name="mha")(h, h, return_attention_scores=True)
        model = k.Model(ids, [k.layers.Activation("linear", dtype="float32", name="out")(out),
                              k.layers.Activation("linear", dtype="float32", name="scores")(scores)])
    finally:
        k.mixed_precision.set_global_policy("float32")
    randomize(model, 25)
    return model


def _notice_bound() -> float:
    """What the notice claims of an attention over logits within ±10: 5e-3 + 3e-4·√n, n its longest float16 sum."""
    assert "5e-3 + 3e-4·√n" in HALF_STEPS_NOTICE
    return 5e-3 + 3e-4 * math.sqrt(max(FEATURES, HEADS * KEY_DIM, IDS.shape[1]))


@pytest.fixture(scope="module")
def traced_mha(tmp_path_factory):
    folder = tmp_path_factory.mktemp("traced_half")
    model = _mha_model()
    expected = [np.asarray(y) for y in model(IDS)]
    path = folder / "mha.h5"
    model.save(path)
    return path, expected, folder


@pytest.mark.node
def test_mixed_float16_masked_attention_traced_within_the_notice(traced_mha, caplog):
    path, (want_out, want_scores), folder = traced_mha
    with caplog.at_level(logging.WARNING):
        result = tfjsconv.convert(path, folder / "web", output_format="tfjs_graph_model", loader="tensorflow")
    notices = [r.getMessage() for r in caplog.records if "in several rounded steps" in r.getMessage()]
    assert len(notices) == 1 and "mha" in notices[0], caplog.text
    assert "about float16's precision, 1e-3)" not in caplog.text  # the old claim, far below the error it hid
    assert any("in several rounded steps" in d for d in result.details), result.details
    bound = _notice_bound()
    run = run_model(folder / "web", {"ids": IDS}, backends=BACKENDS, quiet=True)
    for backend in BACKENDS:
        outputs = list(run.outputs(backend).values())
        for want in (want_out, want_scores):
            got = next(o for o in outputs if o.shape == want.shape)
            err = float(np.abs(got - want).max()) / float(np.abs(want).max())
            assert err <= bound, (backend, want.shape, err, bound)


def _large_negative_sums(f):
    """float16 sums of small values with a mask-sized negative one (tf_keras's -32752 adder), and back."""
    h = tf.cast(f, tf.float16)
    big = tf.constant(-32752.0, tf.float16)
    shifted = tf.add(h, big, name="h_shifted")
    return {"back": tf.cast(tf.subtract(shifted, big, name="h_back"), tf.float32),
            "scaled": tf.cast(tf.multiply(shifted, tf.constant(1.5, tf.float16), name="h_scaled"), tf.float32),
            "ratio": tf.cast(tf.math.divide(h, tf.constant(3.0, tf.float16), name="h_ratio"), tf.float32),
            "summed": tf.cast(tf.reduce_sum(h, name="h_sum"), tf.float32)}


@pytest.mark.node
def test_float16_elementwise_results_are_tfs_exactly(tmp_path_factory, caplog):
    """TF rounds each float16 AddV2/Sub/Mul/RealDiv result: TF.js's float32 ones kept 3.7 beside -32752 (TF: 0)."""
    path = saved(tmp_path_factory, "half_sums", _large_negative_sums, [S([None], tf.float32, name="f")])
    feeds = {"f": np.array([3.7, -0.3, 11.0, 17.5, 1e-3, 24.0, 0.1, -9.0, 1 / 3], np.float32)}
    expected = reference(path, feeds)
    assert not np.array_equal(expected["back"], feeds["f"].astype(np.float16).astype(np.float32))  # TF did round
    expected.pop("summed")  # TF sums in float16 steps: named, not exact
    out = tmp_path_factory.mktemp("half_sums_out") / "web"
    with caplog.at_level(logging.WARNING):
        tfjsconv.convert(path, out)
    notices = [r.getMessage() for r in caplog.records if "in several rounded steps" in r.getMessage()]
    assert len(notices) == 1 and "h_sum" in notices[0] and "h_shifted" not in notices[0], caplog.text
    assert_exact(out, feeds, expected)


# -- session 25, h8c: review R7's findings -----------------------------------------------------------------------
def _notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "in several rounded steps" in r.getMessage()]


def test_float16_einsum_dense_traced_stays_named(tmp_path_factory, caplog):
    """TF sums a float16 Einsum in float16 steps (R7: 7.1e-3 off Keras at K=512); lower_einsum makes it a
    BatchMatMulV2, which alone TF rounds once: the nodes made from the einsum stay named."""
    k = tf_keras
    k.mixed_precision.set_global_policy("mixed_float16")
    try:
        x = k.Input((None, 64), name="x")
        h = k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 16), name="proj")(x)
        model = k.Model(x, k.layers.Activation("linear", dtype="float32", name="y")(h))
    finally:
        k.mixed_precision.set_global_policy("float32")
    folder = tmp_path_factory.mktemp("einsum_half")
    model.save(folder / "m.h5")
    with caplog.at_level(logging.WARNING):
        tfjsconv.convert(folder / "m.h5", folder / "web", output_format="tfjs_graph_model", loader="tensorflow")
    notices = _notices(caplog)
    assert len(notices) == 1 and "proj/einsum" in notices[0], caplog.text


def _half_loop(f):
    h = tf.cast(f, tf.float16)
    big = tf.constant(-32752.0, tf.float16)

    def body(i, x, acc):
        y = (x + big) - big
        return i + 1, y * tf.constant(1.1, tf.float16), acc + y
    _, _, acc = tf.while_loop(lambda i, x, a: i < 4, body, [tf.constant(0), h, tf.zeros_like(h)])
    return {"acc": tf.cast(acc, tf.float32)}


def test_float16_arithmetic_in_a_kept_loop_is_refused(tmp_path_factory):
    """A kept body (--control_flow_v2) is written as it is: its float16 sums would go unrounded (R7: 47 off 64)."""
    path = saved(tmp_path_factory, "half_loop", _half_loop, [S([None], tf.float32, name="f")])
    with pytest.raises(UnsupportedOpsError, match=r"while_body\w* \(float16 (AddV2|Sub|Mul) .*without "
                                                  r"--control_flow_v2"):
        tfjsconv.convert(path, tmp_path_factory.mktemp("half_loop_v2") / "web", control_flow_v2=True)


def _gates_and_lists(f):
    h = tf.cast(f, tf.float16)
    gate = tf.sigmoid(h, name="h_gate")
    squashed = tf.tanh(h, name="h_squash")
    steps = tf.TensorArray(tf.float16, size=3)

    def body(i, steps):
        return i + 1, steps.write(i, squashed)
    _, steps = tf.while_loop(lambda i, s: i < 3, body, [tf.constant(0), steps])
    return {"gate": tf.cast(gate, tf.float32), "steps": tf.cast(steps.stack(), tf.float32)}


@pytest.mark.node
def test_sigmoid_named_and_tensor_lists_not(tmp_path_factory, caplog):
    """TF's float16 Sigmoid rounds in several steps (1-2 float16 steps off the float32 result rounded once for a
    seventh of all inputs): named; a TensorList only moves float16 values: not named, and exact."""
    path = saved(tmp_path_factory, "gates_lists", _gates_and_lists, [S([None], tf.float32, name="f")])
    out = tmp_path_factory.mktemp("gates_lists_out") / "web"
    with caplog.at_level(logging.WARNING):
        tfjsconv.convert(path, out)
    notices = _notices(caplog)
    assert len(notices) == 1 and "h_gate" in notices[0], caplog.text
    assert "TensorList" not in notices[0] and "h_squash" not in notices[0], notices[0]
    feeds = {"f": np.array([0.3, -1.7, 2.5, 11.0], np.float32)}
    expected = reference(path, feeds)
    expected.pop("gate")
    assert_exact(out, feeds, expected)
