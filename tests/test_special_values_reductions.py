"""Float32 reductions whose partial results pass ±FLT_MAX: TF.js gives other numbers than TF, and says so (session 18).

TF adds and multiplies float32 in float32: a row shorter than 8 in order, a longer row in 8 AVX lanes then pairwise.
TF.js cpu accumulates ``Sum``, ``Prod`` and ``AvgPool`` windows in float64 and its ``Mean`` divides each value by the
count first; wasm adds in order. So ``[FLT_MAX, FLT_MAX, -FLT_MAX]`` sums to Inf in TF and FLT_MAX on cpu, and
``[FLT_MAX, 1, FLT_MAX, 2, -FLT_MAX, 3, 0, 4]`` to FLT_MAX in TF and Inf on wasm. No rewrite gives TF's order, so the
contract names these (``scripts/generate_backend_contract.py``, ``_REDUCTION_OVERFLOW_ROWS``) and the conversion's
special-values line says "sums or products past ±FLT_MAX", with or without ``--exact_special_values``. Expected values
are TF's raw ops; TF.js runs for real on cpu and wasm (webgl: the conformance cases ``*/overflow_*``, ``tf_ops.py
--webgl``).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.ops.special_values import deviations, overflows  # noqa: E402

F_MAX = float(np.finfo(np.float32).max)
#: Rows shorter than 8 (TF adds them in order): partial sums past FLT_MAX that come back, a sum past FLT_MAX whose
#: mean is finite, products overflowing or underflowing before coming back, and an ordinary row.
ROWS = np.float32([[F_MAX, F_MAX, -F_MAX, 0], [F_MAX, F_MAX, 1, 0], [-F_MAX, -F_MAX, 1, 0], [-F_MAX, F_MAX, F_MAX, 0],
                   [1e30, 1e30, 1e-30, 1e-30], [1e-30, 1e-30, 1e30, 1e30], [1, 2, 3, 4]])
#: Rows of 8 (TF adds them in 8 lanes: FLT_MAX meets -FLT_MAX before FLT_MAX meets FLT_MAX).
LANES = np.float32([[F_MAX, 1, F_MAX, 2, -F_MAX, 3, 0, 4], [1e30, 1e30, 1e30, 1e30, 1e-30, 1e-30, 1e-30, 1e-30]])
#: 2x2 windows: a sum past FLT_MAX whose mean is finite, and FLT_MAX beside -FLT_MAX.
IMAGE = np.float32([[F_MAX, F_MAX, F_MAX, -F_MAX], [1, 0, -F_MAX, 0]]).reshape(1, 2, 4, 1)
FEEDS = {"rows": ROWS, "columns": ROWS.T.copy(), "lanes": LANES, "image": IMAGE}
REDUCTIONS = ("Sum", "Mean", "Prod")
#: output -> the op it shows
OUTPUTS = {**{f"{op.lower()}_{kind}": op for op in REDUCTIONS for kind in ("rows", "columns", "lanes")},
           "avg_pool": "AvgPool", "cumsum": "Cumsum", "cumprod": "Cumprod", "norm": "EuclideanNorm"}


def _build(tf) -> None:
    """One output per (op, input): rows keep_dims False, columns keep_dims True, lanes; the pool and the scans."""
    holders = {k: tf.compat.v1.placeholder(tf.float32, v.shape, name=k) for k, v in FEEDS.items()}
    for op in REDUCTIONS:
        for kind, axis, keep in (("rows", 1, False), ("columns", 0, True), ("lanes", -1, False)):
            getattr(tf.raw_ops, op)(input=holders[kind], axis=tf.constant([axis]), keep_dims=keep,
                                    name=f"{op.lower()}_{kind}")
    tf.raw_ops.AvgPool(value=holders["image"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID",
                       name="avg_pool")
    tf.raw_ops.Cumsum(x=holders["rows"], axis=tf.constant(1), name="cumsum")
    tf.raw_ops.Cumprod(x=holders["rows"], axis=tf.constant(1), name="cumprod")
    tf.raw_ops.EuclideanNorm(input=holders["rows"] * 1e-18, axis=tf.constant([1]), name="norm")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("overflow") / "overflow.pb", _build, FEEDS, list(OUTPUTS))


def _differs(want: np.ndarray, have: np.ndarray) -> bool:
    """Whether TF.js's output is not TF's (NaN and ±Inf positions exactly, finite values to float32 rounding)."""
    return have.shape != want.shape or not np.allclose(have.astype(np.float64), want.astype(np.float64), rtol=1e-5,
                                                       atol=0, equal_nan=True)


def test_the_contract_quotes_tfs_own_answers(frozen):
    """TF's answers (measured, not assumed: its order is its AVX build's) are what the contract's reasons quote."""
    _, want = frozen
    reasons = {(d.op, d.backend): d.reason for d in deviations() if overflows(d)}
    assert want["sum_rows"][0] == np.inf and "[FLT_MAX, FLT_MAX, -FLT_MAX] gives FLT_MAX" in reasons["Sum", "cpu"]
    assert want["sum_lanes"][0] == np.float32(F_MAX) and "gives Inf; TF FLT_MAX" in reasons["Sum", "wasm"]
    assert want["mean_rows"][1] == np.inf and "[FLT_MAX, FLT_MAX, 1, 0] gives 1.7e38" in reasons["Mean", "cpu"]
    assert np.isnan(want["prod_rows"][1]) and want["prod_rows"][4] == np.inf and "NaN (Inf·0)" in reasons["Prod", "cpu"]
    assert want["prod_lanes"][1] == 1 and "TF 1)" in reasons["Prod", "wasm"]
    assert want["avg_pool"][0, 0, 0, 0] == np.inf and "TF gives Inf" in reasons["AvgPool", "cpu"]
    assert want["sum_columns"].shape == (1, 7) and want["sum_rows"][3] == np.float32(F_MAX)  # in order: -F + F first


@pytest.mark.node
def test_what_differs_on_cpu_and_wasm_is_what_the_contract_names(frozen, tmp_path, tfjs_runtime):
    """Each op's outputs differ from TF on a backend exactly when the contract has its overflow row there, and the
    conversion's special-values line names them (the flag cannot make them exact, so it names them too)."""
    from tfjsconv.verify.run import run_model

    source, want = frozen
    result = tfjsconv.convert(source, tmp_path / "plain", output_node_names=list(OUTPUTS),
                              target_backends=["cpu", "wasm"])
    runs = run_model(tmp_path / "plain", FEEDS, backends=["cpu", "wasm"], quiet=True)
    measured = set()
    for backend in ("cpu", "wasm"):
        assert runs.backends[backend].ok, runs.backends[backend].error
        got = runs.backends[backend].outputs
        measured |= {(OUTPUTS[name], backend) for name in OUTPUTS if _differs(want[name], np.asarray(got[name]))}
    named = {(d.op, d.backend) for d in deviations() if overflows(d) and d.backend in ("cpu", "wasm")}
    assert measured == named, (sorted(measured), sorted(named))
    cpu = runs.backends["cpu"].outputs
    assert np.asarray(cpu["sum_rows"])[0] == np.float32(F_MAX) and np.asarray(cpu["prod_rows"])[1] == 0

    lines = [n for n in result.notices if n.startswith("special values")]
    assert len(lines) == 1 and "sums or products past ±FLT_MAX" in lines[0], result.notices
    assert "AvgPool, Mean, Prod, Sum (cpu, wasm)" in lines[0], lines
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=list(OUTPUTS),
                             target_backends=["cpu", "wasm"], exact_special_values=True)
    assert any("cannot make these exact" in n and "Mean, Prod, Sum (cpu, wasm)" in n for n in exact.notices), \
        exact.notices


def test_webgl_names_its_own_orders_and_int32_sums_are_not_overflow_rows():
    """webgl's Mean divides first, its Sum/Prod and parallel scans add in their own order (measured by the conformance
    run in Chromium); an int32 Sum stays the int32 row only."""
    webgl = {d.op for d in deviations() if overflows(d) and d.backend == "webgl"}
    assert webgl == {"Sum", "Mean", "Prod", "Cumsum", "Cumprod"}
    assert not any(overflows(d) for d in deviations() if d.dtype == "int32")
    cases = {c for d in deviations() if overflows(d) for c in d.cases}
    assert {"Sum/overflow_rows", "Mean/overflow_lanes", "AvgPool/overflow_windows", "Cumprod/overflow_rows"} <= cases


#: PReLU alphas with NaN and ±Inf (a weight: known at conversion), beside finite ones; x below, at and above 0.
ALPHA = np.float32([np.nan, np.inf, -np.inf, 0.25, np.nan, np.inf, -np.inf])
X_PRELU = np.float32([[-2, -1, 0, 2, 1e-3, 7, -7], [3, 2, 1, -1, -5, 0.5, 4]])


@pytest.mark.node
def test_a_non_finite_prelu_alpha_is_named_where_a_backend_leaves_keras(tmp_path, tfjs_runtime):
    """A ``Prelu`` a source brings (an IR graph, a TF.js graph model) with a NaN or ±Inf alpha: cpu gives x for
    x >= 0 (onnxruntime's PRelu), wasm NaN (Keras's PReLU), so the line names it on both. Keras and ONNX conversions
    no longer write such a Prelu (tests/test_prelu_exact_s19.py); a finite alpha is not named."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.verify.run import run_model

    def graph(alpha):
        g = Graph("prelu")
        x = g.placeholder("x", DType.FLOAT32, X_PRELU.shape)
        g.set_output("y", g.add_node("Prelu", [x, g.const(alpha, name="alpha")], {"T": DType.FLOAT32},
                                     name="prelu").output(0))
        return g

    keras_like = (tf.nn.relu(X_PRELU) - ALPHA * tf.nn.relu(-X_PRELU)).numpy()
    result = tfjsconv.convert(graph(ALPHA), tmp_path / "out", target_backends=["cpu", "wasm"])
    runs = run_model(tmp_path / "out", {"x": X_PRELU}, backends=["cpu", "wasm"], quiet=True)
    assert _differs(keras_like, np.asarray(runs.backends["cpu"].outputs["y"]))
    assert not _differs(keras_like, np.asarray(runs.backends["wasm"].outputs["y"]))
    lines = [n for n in result.notices if n.startswith("special values")]
    assert len(lines) == 1 and "Prelu (cpu, wasm)" in lines[0], result.notices
    finite = tfjsconv.convert(graph(np.float32([0.25, -0.5, 2, 0, 1, 0.1, 3])), tmp_path / "finite",
                              target_backends=["cpu", "wasm"])
    assert not any("Prelu" in n for n in finite.notices), finite.notices
