"""A float32 ``Mean`` runs as TF's ``Sum / n`` on cpu (the core pass ``mean_as_sum``, session 30, helper h3).

TF.js 4.22's cpu ``Mean`` divides every element by the count before summing (webgl's multiplies by ``1/n``), so the
mean of a constant row of integers is one ulp off where ``c / n`` is inexact (114 over 7, 1000 over 15, 1e6 over 49:
TF sums them exactly and divides once), ``0.1`` over 3 is ``0.10000001``, and sums past ±FLT_MAX stay finite (TF
Inf). A normalization subtracting that mean (tf_keras's BatchNormalization with ``training=True``, Keras 3's
LayerNormalization) turns the ulp into an output off by up to 5e-4 of its range. Expected values from TF and Keras;
run in TF.js cpu and wasm (wasm's kernel already sums first: it passed before).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from tfjsconv.cli import main  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node
FLT_MAX = np.finfo(np.float32).max


class Means(tf.Module):
    """``tf.reduce_mean`` over rows whose count is known at conversion (``fixed``) and read at run time (``rows``),
    kept and reduced over two axes (``cube``)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="rows"),
                                  tf.TensorSpec([4, 15], tf.float32, name="fixed"),
                                  tf.TensorSpec([2, None, 5], tf.float32, name="cube")])
    def __call__(self, rows, fixed, cube):
        return {"rows": tf.reduce_mean(rows, axis=1), "fixed": tf.reduce_mean(fixed, axis=-1),
                "cube": tf.reduce_mean(cube, axis=[1, 2], keepdims=True)}


def _feeds(length: int) -> dict[str, np.ndarray]:
    """Rows of one value each, ``length`` long: integers whose share ``c / n`` rounds (114, 117 over 7; 125, 241 over
    15; 1e6, 30000 over 49), 0.1 over 3 (in any order its float32 sum is TF's), and 3e38 (the sum overflows: Inf)."""
    rows = {7: [114, 117, -121, 3e38, 1000], 49: [1e6, 30000, -1e6, 3e38, 7], 3: [0.1, -0.1, 7, 3e38, 1e6]}[length]
    fixed = np.float32([[125.0] * 15, [241.0] * 15, [-1000.0] * 15, list(range(15))])
    cube_value = {7: 1000.0, 49: 1000.0, 3: 125.0}[length]  # over 3·5 = 15 (both off on cpu before)
    return {"rows": np.repeat(np.float32(rows)[:, None], length, axis=1), "fixed": fixed,
            "cube": np.full((2, 3, 5), cube_value, np.float32) * np.float32([[[1.0]], [[-1.0]]])}


@pytest.fixture(scope="module")
def means_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Means]:
    folder = tmp_path_factory.mktemp("means")
    module = Means()
    tf.saved_model.save(module, folder / "sm")
    return folder, module


#: ``--target_backends`` of each conversion: without webgl the pass divides ``Sum(x)`` (TF's Inf past ±FLT_MAX); with
#: it (the default) ``Sum(x · 2^-k) / (n · 2^-k)``, whose sums stay finite there (float16 textures: r3, session 30).
TARGETS = {"cpu_wasm": "cpu,wasm", "default": "cpu,wasm,webgl"}


@pytest.fixture(scope="module")
def means_models(means_saved) -> dict[str, Path]:
    folder, _ = means_saved
    for label, targets in TARGETS.items():
        assert main(["convert", str(folder / "sm"), str(folder / label), "--quiet", "--target_backends", targets]) == 0
    return {label: folder / label for label in TARGETS}


@pytest.fixture(scope="module")
def means_model(means_saved, means_models) -> tuple[Path, Means]:
    return means_models["default"], means_saved[1]


def _overflows_as_tf_or_finite(got: np.ndarray, want: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``want`` with TF's Inf (a sum past FLT_MAX) replaced by the constant row's value where ``got`` holds that: with
    webgl a target the scaled sum ``Sum(x · 2^-k)`` is below twice the mean, so it passes FLT_MAX only for means
    past FLT_MAX/2 (the documented cost); anything else there still fails."""
    return np.where(np.isinf(want) & (got == rows[:, 0]), rows[:, 0], want)


@pytest.mark.parametrize("targets", list(TARGETS))
@pytest.mark.parametrize("length", [7, 49, 3])
def test_reduce_mean_of_edge_rows_is_tf_s(means_saved, means_models, tfjs_runtime, length, targets):
    """Bit for bit on cpu and wasm: TF's sum of these rows is exact (or Inf) and divided once. With webgl a target
    the row whose sum passes FLT_MAX (TF Inf) keeps its finite mean, as before the pass (docs/backends.md)."""
    _, module = means_saved
    feeds = _feeds(length)
    want = {key: value.numpy() for key, value in module(**feeds).items()}
    assert want["rows"][3] == np.inf and want["fixed"][0] == 125.0  # TF: the sum overflows; the constant is kept
    for backend, run in run_model(means_models[targets], feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        for key, value in want.items():
            got = np.asarray(run.outputs[key], np.float32).reshape(value.shape)
            if key == "rows" and targets == "default":
                value = _overflows_as_tf_or_finite(got, value, feeds["rows"])
            np.testing.assert_array_equal(got, value, err_msg=f"{backend} {key} (length {length}, {targets})")


# -- Keras: normalizations that subtract the mean ---------------------------------------------------------------
def bn_training_family(k: Any) -> Any:
    """tf_keras BatchNormalization with ``training=True``: over the batch (rank 2) and over batch and steps (rank 3,
    a length unknown in the config; both ``tf.nn.moments``, not the fused kernel)."""
    L = k.layers
    vec, img = k.Input((4,), name="vec"), k.Input((None, 2), name="img")
    return k.Model([vec, img], [L.BatchNormalization(name="bn_vec")(vec, training=True),
                                L.BatchNormalization(name="bn_img")(img, training=True)])


def layer_norm_family(k: Any) -> Any:
    """Keras 3 LayerNormalization over 7 and over 3·5 values, without β: Keras's ``x·inv + (−mean·inv + β)`` rounds
    ``β`` beside a large ``mean·inv`` (the lowering's float32 form does not), which a constant row would show too."""
    L = k.layers
    x, grid = k.Input((7,), name="x"), k.Input((3, 5), name="grid")
    return k.Model([x, grid], [L.LayerNormalization(center=False, name="ln")(x),
                               L.LayerNormalization(axis=[1, 2], center=False, name="ln2")(grid)])


FAMILIES = {"bn_training": bn_training_family, "layer_norm": layer_norm_family}
CASES = [("bn_training", "tf_keras.h5"), ("layer_norm", "keras3.keras")]
#: Per run: the batch, the img size, and the constant each model's constant row or channel holds (its count's
#: share rounds on cpu: 114 over 7 samples, 103 over 7·5 steps, 100 over 3·15, 125 over 3·5).
RUNS = {"bn_training": [(7, 5, 114.0, 103.0), (3, 15, 5.0, 100.0)], "layer_norm": [(3, 0, 114.0, 125.0)]}


def _inputs(family: str, rng: np.random.Generator, batch: int, size: int, first: float, second: float) -> dict:
    """Random inputs with a constant column (bn_vec), channel (bn_img) or row (the layer norms) of ``first`` and
    ``second``."""
    if family == "bn_training":
        vec = (rng.standard_normal((batch, 4)) * 2).astype(np.float32)
        img = (rng.standard_normal((batch, size, 2)) * 2).astype(np.float32)
        vec[:, 0], img[..., 0] = first, second
        return {"vec": vec, "img": img}
    x, grid = (rng.standard_normal((batch, 7)) * 2).astype(np.float32), rng.standard_normal((batch, 3, 5))
    x[0], grid = first, grid.astype(np.float32)
    grid[1] = second
    return {"x": x, "grid": grid}


def _runs(model: Any, family: str, rng: np.random.Generator) -> Iterator[dict]:
    """The family's runs: :func:`_inputs` at each of its ``RUNS``."""
    return (_inputs(family, rng, *spec) for spec in RUNS[family])


_save = two_size_saver(FAMILIES, _runs, 30)


converted = converted_fixture("mean_as_sum", CASES, _save)


@each_case(CASES)
def test_normalizations_of_a_constant_channel_match_keras(converted, tfjs_runtime, family, flavor):
    """Keras's mean of a constant channel is the constant (variance 0, output β); cpu's was an ulp off, which the
    normalization divided by √ε (5e-4 of the output range off before)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.parametrize("length", [7, 49])
def test_reduce_mean_of_edge_rows_on_webgl(means_model, browser, length):
    """webgl's first stage multiplied every element by ``1/n`` (1e6 over 49 was 2 ulps off on SwiftShader); rows of
    4096 run in its shaders, not forwarded to the cpu kernels as small tensors are."""
    from tfjsconv.serve.browser import run_backends_in_browser

    out, module = means_model
    feeds = {key: np.tile(value, (1024, 1)) if key == "rows" else value for key, value in _feeds(length).items()}
    want = {key: value.numpy() for key, value in module(**feeds).items()}
    runs, _ = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser)
    assert runs["webgl"].ok, runs["webgl"].error
    for key, value in want.items():
        got = np.asarray(runs["webgl"].outputs[key], np.float32).reshape(value.shape)
        if key == "rows":  # converted for webgl (the default targets): the scaled sum
            value = _overflows_as_tf_or_finite(got, value, feeds["rows"])
        np.testing.assert_array_equal(got, value, err_msg=f"webgl {key} (length {length})")


# -- review r3: quantization, float16 textures, unknown rank, wasm only ------------------------------------------
def _mean_graph(folder: Path, specs: dict[str, tuple[list | None, list[int]]]) -> Path:
    """A frozen GraphDef of ``tf.raw_ops.Mean`` nodes, one per ``name: (input shape or None for unknown rank,
    axes)``, each fed by the placeholder ``in_<name>``."""
    graph = tf.Graph()
    with graph.as_default():
        for name, (shape, axes) in specs.items():
            x = tf.compat.v1.placeholder(tf.float32, shape, name=f"in_{name}")
            tf.raw_ops.Mean(input=x, axis=tf.constant(np.int32(axes)), keep_dims=False, name=name)
    path = folder / "means.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def _tf_means(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF's outputs of :func:`_mean_graph`'s nodes for ``feeds`` (keyed ``in_<name>``)."""
    graph_def = tf.compat.v1.GraphDef.FromString(path.read_bytes())
    names = [key[3:] for key in feeds]
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        tf.graph_util.import_graph_def(graph_def, name="")
        got = session.run([f"{n}:0" for n in names], {f"{k}:0": v for k, v in feeds.items()})
    return dict(zip(names, got))


def _assert_tf_on_cpu_and_wasm(out: Path, feeds: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for backend, run in run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        for key, value in want.items():
            got = np.asarray(run.outputs[key], np.float32).reshape(value.shape)
            np.testing.assert_array_equal(got, value, err_msg=f"{backend} {key}")


def test_quantize_float16_leaves_the_count_exact(tmp_path, tfjs_runtime):
    """A mean over 90000 values (float16: Inf, a mean of 0) and over 4097 (float16 rounds it to 4096) under
    ``--quantize_float16``: the pass's constants are exempt, as erf_small's are. Rows of 1s and 2s: TF's sums are
    exact, so the result is TF's bit for bit."""
    path = _mean_graph(tmp_path, {"n90000": ([1, 300, 300, 2], [1, 2]), "n4097": ([2, 4097], [1])})
    rng = np.random.default_rng(5)
    feeds = {"in_n90000": rng.integers(1, 3, (1, 300, 300, 2)).astype(np.float32),
             "in_n4097": rng.integers(1, 3, (2, 4097)).astype(np.float32)}
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out), "--quiet", "--quantize_float16",
                 "--output_node_names", "n90000,n4097"]) == 0
    _assert_tf_on_cpu_and_wasm(out, feeds, _tf_means(path, feeds))


def test_quantize_float16_keeps_the_share_out_of_a_convolution_kernel(tmp_path, tfjs_runtime):
    """Review r7: ``fold_batchnorm`` folded the ``2^-k`` share (k = 13 for 100×100 positions) into the convolution
    before a global average pool; ``--quantize_float16`` then made float16 subnormals of the kernel (~1e-6):
    7e-3 of the range off (6.6e-2 at 200×200). The share stays a node of its own; only the kernel is quantized."""
    rng = np.random.default_rng(7)
    kernel = (rng.standard_normal((3, 3, 3, 8)) * 0.01).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 100, 100, 3], name="img")
        conv = tf.nn.conv2d(x, tf.constant(kernel), 1, "SAME")
        tf.raw_ops.Mean(input=conv, axis=tf.constant(np.int32([1, 2])), keep_dims=False, name="pooled")
    path = tmp_path / "conv_pool.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    feeds = {"img": rng.uniform(0, 1, (1, 100, 100, 3)).astype(np.float32)}
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as session:
        tf.graph_util.import_graph_def(graph.as_graph_def(), name="")
        want = session.run("pooled:0", {"img:0": feeds["img"]})
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out), "--quiet", "--quantize_float16", "--output_node_names",
                 "pooled"]) == 0
    # the kernel's own float16 rounding leaves about 3e-4 of the range; folding the share in made it 7e-3
    for backend, run in run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        got = np.asarray(run.outputs["pooled"], np.float32).reshape(want.shape)
        assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max(), (backend, np.abs(got - want).max())


def test_unknown_rank_mean_is_tf_s(tmp_path, tfjs_runtime):
    """Input of unknown rank, negative and positive axes: the count is read at run time (``Rank``, ``FloorMod``, and
    with webgl a target the power-of-two share from a table). 114 over 7 and 1000 over 15 were an ulp off on cpu."""
    path = _mean_graph(tmp_path, {"last": (None, [-1]), "both": (None, [1, -1])})
    feeds = {"in_last": np.full((3, 7), 114.0, np.float32) * np.float32([[1], [-1], [0.5]]),
             "in_both": np.full((2, 3, 5), 1000.0, np.float32)}
    want = _tf_means(path, feeds)
    for targets in TARGETS.values():
        out = tmp_path / targets.replace(",", "_")
        assert main(["convert", str(path), str(out), "--quiet", "--target_backends", targets,
                     "--output_node_names", "last,both"]) == 0
        assert "FloorMod" in (out / "model.json").read_text()  # the unknown-rank path, not a known shape
        _assert_tf_on_cpu_and_wasm(out, feeds, want)


def test_wasm_only_target_keeps_the_mean(tmp_path):
    """wasm's kernel sums first and divides once: with wasm the only target the pass does nothing."""
    path = _mean_graph(tmp_path, {"last": ([3, 7], [-1])})
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out), "--quiet", "--target_backends", "wasm",
                 "--output_node_names", "last"]) == 0
    ops = {node["op"] for node in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    assert "Mean" in ops and "RealDiv" not in ops, ops


def test_means_on_webgl_float16_textures_stay_finite(tmp_path, browser):
    """webgl without float32 render targets (``--webgl_f16``): ``Sum(x)`` of 225 values of about 325 passes 65504
    (NaN, review r3); the scaled sum stays of the mean's size. Known and run-time (unknown rank) counts; float16's
    own bound 1e-2 (docs/verify.md)."""
    from tfjsconv.serve.browser import run_backends_in_browser

    path = _mean_graph(tmp_path, {"known": ([4, 225], [1]), "unknown": (None, [-1])})
    rng = np.random.default_rng(6)
    feeds = {"in_known": (300 + 50 * rng.random((4, 225))).astype(np.float32),
             "in_unknown": (300 + 50 * rng.random((4, 300))).astype(np.float32)}
    want = _tf_means(path, feeds)
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out), "--quiet", "--output_node_names", "known,unknown"]) == 0
    runs, _ = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser,
                                      flags={"WEBGL_FORCE_F16_TEXTURES": True})
    assert runs["webgl"].ok, runs["webgl"].error
    for key, value in want.items():
        got = np.asarray(runs["webgl"].outputs[key], np.float32).reshape(value.shape)
        np.testing.assert_allclose(got, value, rtol=1e-2, err_msg=f"webgl float16 textures {key}")


# -- review r3 N1/M1: the special-values line names the Means left, and not the pass's division ------------------
MEANS_ROW = "means of constant rows (less precise kernels)"


def _saved_mean_then_relu(folder: Path, size: int) -> Path:
    """A SavedModel computing ``relu(reduce_mean(x, -1))`` over rows of ``size`` (the Mean is not an output)."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": tf.nn.relu(tf.reduce_mean(x, axis=-1))},
                           input_signature=[tf.TensorSpec((None, size), tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / f"mean{size}"), signatures=module.f)
    return folder / f"mean{size}"


def _line(result: object) -> str:
    return " ".join(getattr(result, "notices"))


def test_means_left_are_named_and_rewritten_ones_are_not(tmp_path):
    """Default: the Mean is rewritten and its division named exact (webgl's x / x = 1 cannot happen with a finite
    count): no Mean row and no RealDiv. ``--skip_passes mean_as_sum``: the Mean over 7 is named on cpu and webgl, with
    the pass as the remedy; over 8 (every share exact) and on wasm alone it is not."""
    import tfjsconv

    odd, even = _saved_mean_then_relu(tmp_path, 7), _saved_mean_then_relu(tmp_path, 8)
    default = _line(tfjsconv.convert(odd, tmp_path / "default"))
    assert MEANS_ROW not in default and "RealDiv" not in default, default
    skipped = _line(tfjsconv.convert(odd, tmp_path / "skipped", skip_passes=["mean_as_sum"]))
    assert MEANS_ROW in skipped and "Mean (cpu" in skipped, skipped
    assert "the mean_as_sum pass rewrites float32 nodes" in skipped, skipped
    power_of_two = _line(tfjsconv.convert(even, tmp_path / "even", skip_passes=["mean_as_sum"]))
    assert MEANS_ROW not in power_of_two, power_of_two
    wasm = _line(tfjsconv.convert(odd, tmp_path / "wasm", skip_passes=["mean_as_sum"], target_backends=["wasm"]))
    assert MEANS_ROW not in wasm, wasm
