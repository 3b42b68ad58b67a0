"""complex64 TF graphs run in TF.js or are refused by name (session 28, h1; probe27/r7's irfft_pad, dct, cplx_b, mel).

TF.js 4.22's cpu backend has no complex64 kernel for most ops: ``tf.signal.irfft`` longer than its bins pads them with
a complex ``Pad`` ("pad does not support complex64 tensors in the CPU backend"), ``tf.signal.dct`` and
``mfccs_from_log_mel_spectrograms`` build a ``Complex`` of a scalar and a vector ("real and imag shapes ... must
match") and a complex ``Exp``; cpu's complex ``Mul`` of a broadcast operand answers NaN past its first row. All of them
converted and then crashed (or answered NaN). The ``complex_parts`` pass writes them on the real and imaginary parts;
what stays complex without a kernel is refused by the backend contract, naming op, node and backend. Expected values
are TF's own (the SavedModel's ``tf.function``); the models run in real TF.js on cpu (wasm holds no complex64 tensor),
and on webgl in Chromium where one is installed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

LOADERS = ("savedmodel", "tensorflow")
SIGNAL = (np.sin(np.arange(40, dtype=np.float32)[None] * np.float32([[0.3], [1.1]])) * 3
          + np.arange(40, dtype=np.float32)[None] / 17).astype(np.float32)


def _save(path: Path, fn: Callable[[Any], dict], shape: tuple = (None, 40)) -> dict:
    """A SavedModel of ``fn`` over a float32 signal; TF's own outputs for SIGNAL."""
    module = tf.Module()
    module.f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name="x")])
    tf.saved_model.save(module, str(path), signatures=module.f)
    return {k: v.numpy() for k, v in module.f(tf.constant(SIGNAL)).items()}


def _convert(source: Path, out: Path, loader: str = "savedmodel", backends: tuple = ("cpu",)) -> None:
    options = {"loader": "tensorflow"} if loader == "tensorflow" else {}
    tfjsconv.convert(source, out, output_format="tfjs_graph_model", target_backends=list(backends), **options)


def _assert_as_tf(outputs: dict, expected: dict[str, np.ndarray], rtol: float = 1e-5) -> None:
    for key, want in expected.items():
        got = np.asarray(outputs[key])
        assert got.shape == want.shape, f"{key}: shape {got.shape} != TF's {want.shape}"
        bound = rtol * max(1.0, float(np.abs(want).max()))
        error = float(np.abs(got - want).max())
        assert error <= bound, f"{key}: {error} off ({got.ravel()[:4]} != TF's {want.ravel()[:4]})"


def _run_on_cpu(out: Path, expected: dict) -> None:
    run = run_model(out, {"x": SIGNAL}, backends=["cpu"], quiet=True)["cpu"]
    assert run.ok, run.error
    _assert_as_tf(run.outputs, expected)


def signal_transforms(x: Any) -> dict:
    """``tf.signal`` transforms that build complex64 ops TF.js lacks: an irfft longer than its bins (a complex
    ``Pad``), the DCTs (a broadcast ``Complex``, a complex ``Exp``, a broadcast complex ``Mul``), MFCCs."""
    bins = tf.signal.rfft(x)  # 21 bins
    log_mel = tf.math.log(tf.abs(x) + 0.5)
    return {"irfft60": tf.signal.irfft(bins, fft_length=[60]),
            "irfft48": tf.signal.irfft(bins, fft_length=[48]),
            "dct2": tf.signal.dct(x, type=2, norm="ortho"), "dct2_plain": tf.signal.dct(x, type=2),
            "dct3": tf.signal.dct(x, type=3, norm="ortho"), "idct": tf.signal.idct(x, type=2, norm="ortho"),
            "mfccs": tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :13]}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_signal_transforms_run_on_cpu_as_tf(tmp_path, tfjs_runtime, loader):
    """Before: the cpu backend threw "pad does not support complex64 tensors" / "real and imag shapes ... must
    match" / "Exp does not support complex64 tensors" on every one of these."""
    expected = _save(tmp_path / "sm", signal_transforms)
    assert expected["irfft60"].shape == (2, 60) and expected["mfccs"].shape == (2, 13)
    _convert(tmp_path / "sm", tmp_path / "out", loader)
    _run_on_cpu(tmp_path / "out", expected)


def complex_of_broadcast_parts(x: Any) -> dict:
    """TF's ``Complex`` broadcasts its parts (a scalar, a row against rows); TF.js's requires equal shapes. A complex
    product of a broadcast operand (cpu answered NaN past its first row)."""
    z = tf.complex(tf.zeros([]), x)
    row = tf.complex(x[:1], x)
    product = tf.complex(x, x * 0.5) * tf.complex(tf.range(40.0) / 10, 1.0)
    return {"scalar_real": tf.math.real(z * tf.complex(x, x)), "scalar_imag": tf.math.imag(z),
            "row_real": tf.math.real(row), "row_imag": tf.math.imag(row),
            "product_real": tf.math.real(product), "product_imag": tf.math.imag(product)}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_broadcast_complex_parts_run_on_cpu_as_tf(tmp_path, tfjs_runtime, loader):
    expected = _save(tmp_path / "sm", complex_of_broadcast_parts)
    _convert(tmp_path / "sm", tmp_path / "out", loader)
    _run_on_cpu(tmp_path / "out", expected)


def moved_complex_values(x: Any) -> dict:
    """complex64 ops that only move, sum or negate values (each threw on cpu), fed a run-time complex tensor."""
    z = tf.complex(x, tf.reverse(x, [1]) - 1.0)
    moved = {
        "slice": z[:, 3:17], "strided": z[:, 1:30:3], "tile": tf.tile(z[:, :5], [2, 3]),
        "gather": tf.gather(z, [7, 0, 39, 2], axis=1), "reverse": tf.reverse(z, [1]),
        "pad": tf.pad(z, [[1, 0], [2, 3]]),
        "pad_value": tf.pad(z, [[0, 0], [1, 1]], constant_values=tf.complex(1.5, -2.0)),
        "mirror": tf.pad(z, [[0, 0], [2, 2]], mode="REFLECT"), "split": tf.split(z, 4, axis=1)[2],
        "unstack": tf.unstack(z[:, :3], axis=1)[1], "broadcast": tf.broadcast_to(z[:1], [3, 40]), "neg": -z,
        "sum": tf.reduce_sum(z, 1), "mean": tf.reduce_mean(z, 0), "cumsum": tf.math.cumsum(z, 1),
        "add_n": tf.add_n([z, z, -z]), "select": tf.where(x > 0.5, z, -z), "exp": tf.exp(z * 0.25),
        "square": tf.square(z), "sum_rows": z + z[:1],
    }
    return {f"{key}_{part}": fn(value) for key, value in moved.items()
            for part, fn in (("re", tf.math.real), ("im", tf.math.imag))}


@pytest.mark.node
def test_moved_complex_values_run_on_cpu_as_tf(tmp_path, tfjs_runtime):
    expected = _save(tmp_path / "sm", moved_complex_values)
    _convert(tmp_path / "sm", tmp_path / "out")
    _run_on_cpu(tmp_path / "out", expected)


#: webgl's sin/cos (SwiftShader) are ~1e-4 off, and its FFTs use them for twiddle factors (docs/backends.md, a
#: documented deviation row: Sin, Cos, FFT ... on webgl): outputs through them held to 1e-3 there, the rest to 1e-5
WEBGL_TRIG_RTOL = 1e-3


@pytest.mark.node
def test_rewritten_complex_ops_run_on_webgl_as_tf(tmp_path, browser):
    """The same graphs, converted for cpu and webgl, in Chromium's webgl (before: "GPGPUProgram does not support
    complex64 input"): the moved values exact, the transforms and ``Exp`` within webgl's trigonometry."""
    from tfjsconv.serve.browser import run_backends_in_browser

    for name, fn in (("signal", signal_transforms), ("moved", moved_complex_values),
                     ("broadcast", complex_of_broadcast_parts)):
        expected = _save(tmp_path / f"{name}_sm", fn)
        _convert(tmp_path / f"{name}_sm", tmp_path / name, backends=("cpu", "webgl"))
        runs, _ = run_backends_in_browser(tmp_path / name, {"x": SIGNAL}, backends=("webgl",), session=browser)
        assert runs["webgl"].ok, runs["webgl"].error
        trig = {k for k in expected if name == "signal" or k.startswith("exp_")}
        _assert_as_tf(runs["webgl"].outputs, {k: v for k, v in expected.items() if k not in trig})
        _assert_as_tf(runs["webgl"].outputs, {k: v for k, v in expected.items() if k in trig}, WEBGL_TRIG_RTOL)


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("name, fn, op", [
    ("matmul", lambda x: {"y": tf.math.real(tf.matmul(tf.complex(x, x), tf.complex(x, -x), transpose_b=True))},
     "MatMul"),
    ("divide", lambda x: {"y": tf.math.real(tf.complex(x, x) / tf.complex(x + 3.0, x))}, "RealDiv"),
    ("prod", lambda x: {"y": tf.math.imag(tf.reduce_prod(tf.complex(x, x * 0.1), 1))}, "Prod"),
])
def test_complex_ops_without_a_kernel_are_refused_by_name(tmp_path, loader, name, fn, op):
    """What no pass writes on the parts (a complex product of matrices, a division, a product reduction) is refused
    by the backend contract, naming the op, the node and the backend (before: converted, then threw on cpu)."""
    _save(tmp_path / "sm", fn)
    with pytest.raises(BackendUnsupportedError) as refused:
        _convert(tmp_path / "sm", tmp_path / "out", loader)
    text = str(refused.value)
    assert f"{op} on cpu" in text and "anyinput:complex64=true" in text and "PartitionedCall" in text, text
    assert not (tmp_path / "out").exists()


def test_float_ops_are_not_refused_for_complex64():
    """A node whose type attrs are known and none is complex64 has no complex64 input, even when the IR does not type
    its inputs (a kept function's node, whose unknown dtypes refuse): the complex64 limits do not refuse it."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ops.backends import BackendContract, NodeFacts

    contract = BackendContract.load()
    assert contract.runs_on("Slice", "cpu", "float32") and not contract.runs_on("Slice", "cpu", "complex64")
    assert contract.runs_on("Transpose", "cpu", "complex64") and not contract.runs_on("MatMul", "webgl", "complex64")
    kept = NodeFacts("Pad", {"T": DType.FLOAT32, "Tpaddings": DType.INT32}, [None, None])
    kept.refuse_unknown_dtype = True
    assert not [r for r in contract.reasons(kept, "cpu") if "complex64" in str(r)], contract.reasons(kept, "cpu")
    complex_pad = NodeFacts("Pad", {"T": DType.COMPLEX64, "Tpaddings": DType.INT32}, [None, None])
    complex_pad.refuse_unknown_dtype = True
    assert [r for r in contract.reasons(complex_pad, "cpu") if "complex64" in str(r)]


INF, NAN = np.float32(np.inf), np.float32(np.nan)
#: real and imaginary parts of complex Exp inputs: a zero imaginary part (±0) beside a real part past float32 exp
#: overflow (TF: (inf, ±0); exp(a)·sin(0) = inf·0 gave NaN), NaN and ±Inf real parts (TF: exp(inf + NaN i) is
#: (inf, NaN), exp(-inf + NaN i) is (0, 0)), ordinary values
EXP_RE = np.float32([1, 50, 88, 89, 100, INF, 89, 200, NAN, -INF, 1, 89, -1, 0, INF, INF, -INF, 3, NAN])
EXP_IM = np.float32([0, 0, -0.0, 0, -0.0, 0, 1, -3, 0, 0, 2, 1e30, 0.5, -0.0, NAN, INF, NAN, INF, INF])
#: rows of complex Mean inputs: Inf or NaN in one part (TF divides the sum by complex(n, 0): the other part NaN)
MEAN_RE = np.float32([[INF, 1], [1, 2], [-INF, 3], [1, -0.0], [3e38, -1e38]])
MEAN_IM = np.float32([[1, 2], [NAN, 4], [0, 0], [-0.0, -0.0], [1, 1]])


def _save_feeds(path: Path, fn: Callable[..., dict], feeds: dict[str, np.ndarray], shapes: dict[str, tuple]) -> dict:
    """A SavedModel of ``fn`` over float32 inputs of ``shapes``; TF's own outputs for ``feeds``."""
    module = tf.Module()
    specs = [tf.TensorSpec(shapes[k], tf.float32, name=k) for k in feeds]
    module.f = tf.function(fn, input_signature=specs)
    tf.saved_model.save(module, str(path), signatures=module.f)
    return {k: v.numpy() for k, v in module.f(**{k: tf.constant(v) for k, v in feeds.items()}).items()}


def _run_specials_on_cpu(out: Path, feeds: dict, expected: dict) -> None:
    """TF.js cpu's outputs are TF's: NaN where TF's are, ±Inf and ±0 alike, the rest within 1e-5."""
    run = run_model(out, feeds, backends=["cpu"], quiet=True)["cpu"]
    assert run.ok, run.error
    for key, want in expected.items():
        got = np.asarray(run.outputs[key], np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=0, equal_nan=True, err_msg=key)
        zeros = want == 0
        assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), f"{key}: the sign of a zero"


def _parts(prefix: str, z: Any) -> dict:
    return {f"{prefix}_re": tf.math.real(z), f"{prefix}_im": tf.math.imag(z)}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_complex_exp_special_values_run_on_cpu_as_tf(tmp_path, tfjs_runtime, loader):
    """exp(a + 0i) is (exp(a), 0) in TF even where exp(a) overflows (before: NaN imaginary part, silently); what TF's
    kernel answers by position in the tensor (±Inf real part, non-finite imaginary part) is named by the notice."""
    feeds = {"a": EXP_RE, "b": EXP_IM}
    expected = _save_feeds(tmp_path / "sm", lambda a, b: {**_parts("exp", tf.exp(tf.complex(a, b))),
                                                          **_parts("cast", tf.exp(tf.cast(a, tf.complex64)))},
                           feeds, {"a": (None,), "b": (None,)})
    options = {"loader": "tensorflow"} if loader == "tensorflow" else {}
    result = tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model",
                              target_backends=["cpu"], **options)
    assert any("complex Exp (cpu)" in line for line in result.notices), result.notices
    _run_specials_on_cpu(tmp_path / "out", feeds, expected)


def complex_means(re: Any, im: Any, empty: Any) -> dict:
    """complex Means as TF's kernel: Inf/NaN rows (the other part NaN), kept dims, and empty axes known at conversion
    (``x[:0]``) or only at run time (``empty`` fed with no column): TF's 0 + 0i, not NaN."""
    z = tf.complex(re, im)
    return {**_parts("rows", tf.reduce_mean(z, 1)), **_parts("keep", tf.reduce_mean(z, [0, 1], keepdims=True)),
            **_parts("static_empty", tf.reduce_mean(tf.complex(re[:, :0], im[:, :0]), 1)),
            **_parts("run_time_empty", tf.reduce_mean(tf.complex(empty, -empty), 1)),
            **_parts("empty_rows", tf.reduce_mean(tf.complex(empty, empty), 0)),
            # nothing reduced (R9): TF copies the input, inf + 1i stays so, -0 - 0i keeps its signs
            **_parts("one_column", tf.reduce_mean(z[:, :1], 1)), **_parts("one_keep", tf.reduce_mean(z[:, 1:], -1, True)),
            **_parts("no_axes", tf.reduce_mean(z, tf.zeros([0], tf.int32)))}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_complex_mean_runs_on_cpu_as_tf_kernel(tmp_path, tfjs_runtime, loader):
    """Before: an empty axis gave NaN + NaN i (TF 0 + 0i), and [inf + 1i, 1 + 2i] gave (inf, 1.5) (TF (inf, NaN))."""
    feeds = {"re": MEAN_RE, "im": MEAN_IM, "empty": np.zeros((3, 0), np.float32)}
    expected = _save_feeds(tmp_path / "sm", complex_means, feeds, {"re": (None, 2), "im": (None, 2), "empty": (3, None)})
    assert expected["run_time_empty_re"].shape == (3,) and not np.isnan(expected["run_time_empty_re"]).any()
    _convert(tmp_path / "sm", tmp_path / "out", loader)
    _run_specials_on_cpu(tmp_path / "out", feeds, expected)


@pytest.mark.node
def test_complex_gather_nd_of_a_run_time_size_runs_on_cpu_as_tf(tmp_path, tfjs_runtime):
    """A complex ``GatherNd`` whose params' first size is known only at run time (before: the SavedModel's stripped
    ``Tout`` left ``tf.complex``'s output untyped and the index guard's ``Shape`` of it could not be written; TF's own
    loader restores the default, so only the SavedModel reader is under test)."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    feeds = {"x": x, "y": -2 * x}
    expected = _save_feeds(tmp_path / "sm", lambda x, y: _parts("gathered", tf.gather_nd(
        tf.complex(x, y), [[0, 1], [1, 2]])), feeds, {"x": (None, 3, 4), "y": (None, 3, 4)})
    _convert(tmp_path / "sm", tmp_path / "out")
    _run_specials_on_cpu(tmp_path / "out", feeds, expected)


def test_index_type_attrs_do_not_clear_complex64():
    """Only the type attrs that type an op's data tensors (those TF's op def lets hold complex64: ``T``, ``Tparams``)
    tell that no input is complex64: a kept function's ``Pad`` known only by ``Tpaddings``, or a ``GatherV2`` by
    ``Tindices``/``Taxis``, may still pad or gather a complex64 tensor, and stays refused (session 28, h10)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ops.backends import BackendContract, NodeFacts

    contract = BackendContract.load()
    for op, attrs in (("Pad", {"Tpaddings": DType.INT32}), ("GatherV2", {"Tindices": DType.INT32, "Taxis": DType.INT32})):
        node = NodeFacts(op, attrs, [None] * (3 if op == "GatherV2" else 2))
        node.refuse_unknown_dtype = True
        assert node.select("anyinput:complex64") is None, (op, attrs)
        assert [r for r in contract.reasons(node, "cpu") if "complex64" in str(r)], (op, contract.reasons(node, "cpu"))
    assert NodeFacts("Cast", {"DstT": DType.FLOAT32}, [None]).select("anyinput:complex64") is None  # SrcT types x
    gather = NodeFacts("GatherV2", {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32},
                       [None] * 3)
    assert gather.select("anyinput:complex64") == "false"
