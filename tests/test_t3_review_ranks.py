"""Padded reductions and matmuls of rank 2-6 (``core/passes/reduction_padding.py``): several reduced axes,
negative/unsorted axes, keepdims, float/int32/bool, transposed matmuls, and inputs that are ``Concat`` outputs
(cpu holds an empty ``Concat`` output as a plain array, which a ``Slice`` of it cannot read: "vals.subarray is not
a function"). Fed a zero along each axis in turn, TF.js gives TF's own outputs on cpu and webgl, and on wasm where
no kept axis is empty (wasm throws "divide by zero" for a reduction or transpose with an empty kept axis, padded
or not: ``bench/results/empty_tensors.md``)."""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node


def _spec(rank, dtype, name):
    return tf.TensorSpec([None] * rank, dtype, name=name)


class Ranks(tf.Module):
    @tf.function(input_signature=[_spec(4, tf.float32, "x4"), _spec(5, tf.float32, "x5"), _spec(6, tf.float32, "x6"),
                                  _spec(5, tf.int32, "n5"), _spec(5, tf.bool, "b5"), _spec(4, tf.bool, "b4"),
                                  _spec(4, tf.float32, "a4"), _spec(4, tf.float32, "w4"),
                                  _spec(5, tf.float32, "a5"), _spec(5, tf.float32, "w5"),
                                  _spec(2, tf.float32, "ma"), _spec(2, tf.float32, "mw")])
    def __call__(self, x4, x5, x6, n5, b5, b4, a4, w4, a5, w5, ma, mw):
        raw = tf.raw_ops
        return {
            "sum4_13": tf.reduce_sum(x4, [1, 3]), "max4_all": tf.reduce_max(x4, [0, 1, 2, 3]),
            "mean4_neg": tf.reduce_mean(x4, [-1, -2], keepdims=True), "min4_20": tf.reduce_min(x4, [2, 0]),
            "prod4_1": tf.reduce_prod(x4, [1]),
            "sum5_024": tf.reduce_sum(x5, [0, 2, 4]), "max5_14": tf.reduce_max(x5, [1, 4], keepdims=True),
            "mean5_3": tf.reduce_mean(x5, [3]), "min5_all": tf.reduce_min(x5, [0, 1, 2, 3, 4]),
            "norm5_12": raw.EuclideanNorm(input=x5, axis=[1, 2], keep_dims=False),
            "int_sum5": tf.reduce_sum(n5, [2, 3]), "int_max5": tf.reduce_max(n5, [0, 4]),
            "int_prod5": tf.reduce_prod(n5, [1]),
            "all5": tf.reduce_all(b5, [1, 3]), "any5": tf.reduce_any(b5, [0, 2, 4]),
            "all4": tf.reduce_all(b4, [3, 1]), "any4": tf.reduce_any(b4, [2], keepdims=True),
            "sum6_135": tf.reduce_sum(x6, [1, 3, 5]), "max6_5": tf.reduce_max(x6, [5]),
            "mean6_all": tf.reduce_mean(x6, [0, 1, 2, 3, 4, 5]),
            "bmm4": tf.matmul(a4, w4, adjoint_a=True, adjoint_b=True), "bmm5": tf.matmul(a5, w5),
            "mm_t": tf.matmul(ma, mw, transpose_a=True, transpose_b=True),
            # inputs produced by a Concat: empty at run time whenever one of their axes is
            "concat_max4": tf.reduce_max(tf.concat([x4, x4], axis=1), [1, 3]),
            "concat_sum2": tf.reduce_sum(tf.concat([ma, ma], axis=0), [0]),
            "concat_mm": tf.matmul(tf.concat([ma, ma], axis=1), mw, transpose_a=True, transpose_b=True),
        }


FULL = {4: (2, 3, 4, 5), 5: (2, 3, 2, 3, 2), 6: (2, 1, 3, 2, 2, 3)}


def feeds(zero_at: int | None) -> dict:
    rng = np.random.default_rng(zero_at or 0)

    def shape(rank):
        s = list(FULL[rank])
        if zero_at is not None and zero_at < rank:
            s[zero_at] = 0
        return s

    b, c, m, k, n = 2, 3, 4, 5, 3
    if zero_at == 0:
        k = 0
    elif zero_at == 1:
        b = 0
    elif zero_at == 2:
        m = 0
    elif zero_at == 3:
        k, b = 0, 0
    f = lambda s: (rng.standard_normal(s) - 0.3).astype(np.float32)  # noqa: E731
    return {"x4": f(shape(4)), "x5": f(shape(5)), "x6": f(shape(6)),
            "n5": rng.integers(-3, 4, shape(5)).astype(np.int32), "b5": rng.random(shape(5)) > 0.3,
            "b4": rng.random(shape(4)) > 0.3,
            "a4": f((b, c, k, m)), "w4": f((b, c, n, k)), "a5": f((b, 2, c, m, k)), "w5": f((b, 2, c, k, n)),
            "ma": f((k, m)), "mw": f((n, k))}


CASES = [None, 0, 1, 2, 3, 4, 5]
#: The feeds wasm runs: the others empty a leading kept axis, where wasm throws "divide by zero" (padded or not).
WASM_CASES = [None, 3, 4, 5]


@pytest.fixture(scope="module")
def model(tmp_path_factory, tfjs_runtime):
    base = tmp_path_factory.mktemp("ranks")
    tf.saved_model.save(Ranks(), str(base / "saved"))
    result = tfjsconv.convert(base / "saved", base / "web")
    return base / "saved", result, base / "web"


def expected_of(model, case):
    saved, result, out = model
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds(case), options)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "full" if c is None else f"zero_at_{c}")
def test_ranks_match_tf_cpu_wasm(model, case):
    expected = expected_of(model, case)
    backends = ("cpu", "wasm") if case in WASM_CASES else ("cpu",)
    report = verify_model(model[2], feeds(case), expected, backends=backends, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_concat_fed_inputs_are_really_empty(model):
    """The feeds are what the Concat cases claim: an empty Concat output reduced over an empty axis."""
    assert feeds(1)["x4"].shape[1] == 0 and feeds(0)["ma"].shape[0] == 0
    assert np.all(np.isneginf(expected_of(model, 1)["concat_max4"]))


def test_ranks_match_tf_webgl(model, browser):
    for case in CASES:
        expected = expected_of(model, case)
        report = verify_model(model[2], feeds(case), expected, backends=("webgl",), rtol=1e-5, atol=1e-6,
                              browser_session=browser)
        failed = {row.name for row in report.comparisons if not row.passed}
        assert not failed, (case, format_report(report))
