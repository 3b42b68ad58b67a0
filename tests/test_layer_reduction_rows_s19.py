"""Keras layers models name the float32 reductions past ±FLT_MAX as graph models do, and refuse what wasm's Prelu
misreads (session 19).

A TF.js layers model runs tfjs-layers' own kernels: LayerNormalization's ``moments`` and GlobalAveragePooling1D/2D's
``mean`` run ``Mean``, AveragePooling1D/2D ``avgPool``, Dot of two matrices ``sum(x·y)``, PReLU ``prelu``. TF.js cpu
accumulates those in float64 (its ``Mean`` divides first), so a row whose partial sums pass FLT_MAX and come back gives
a number where Keras gives Inf (the contract's session-18 rows, ``tests/test_special_values_reductions.py``). The
graph model of the same layers names them on its special-values line; the layers model named none of them. And
tfjs-layers' PReLU with a shared axis after an unshared one (``shared_axes=[2]`` of a sequence: alpha (steps, 1))
hands wasm's ``Prelu`` an alpha it reads as ``alpha[i % size]``: the layers model was silently wrong on wasm (the
graph model writes no ``Prelu`` for it). Expected values: Keras 3 ``model(x)``; TF.js runs for real on cpu and wasm.
"""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402

F_MAX = float(np.finfo(np.float32).max)
#: A row whose sum passes FLT_MAX while its mean does not (TF: Inf; TF.js cpu: 1.7e38), and an ordinary row.
ROW = np.float32([F_MAX, F_MAX, 1, 0])
SEQ = np.stack([np.stack([ROW, np.float32([1, 2, 3, 4])], axis=1)])  # (1, 4 steps, 2 channels)
IMAGE = ROW.reshape(1, 2, 2, 1)
#: Dot of ROW-like rows: F + F passes FLT_MAX, - F comes back (TF's float32 sum: Inf; TF.js cpu: FLT_MAX).
DOT_X, DOT_Y = np.float32([[F_MAX, F_MAX, -F_MAX, 0]]), np.float32([[1, 1, 1, 1]])
#: layer name -> the ops its TF.js kernels run that the overflow rows name
REDUCING = {"global_1d": "Mean", "global_2d": "Mean", "avg_1d": "AvgPool", "avg_2d": "AvgPool", "layer_norm": "Mean"}


def _reducing_model():
    """One output per reducing layer (names as in ``REDUCING``); inputs ``seq``, ``image``, ``row``."""
    L = keras.layers
    seq, image, row = keras.Input((4, 2), name="seq"), keras.Input((2, 2, 1), name="image"), keras.Input((4,), name="row")
    outputs = [L.GlobalAveragePooling1D(name="global_1d")(seq), L.GlobalAveragePooling2D(name="global_2d")(image),
               L.AveragePooling1D(4, name="avg_1d")(seq), L.AveragePooling2D(2, name="avg_2d")(image),
               L.LayerNormalization(name="layer_norm")(row)]
    return keras.Model([seq, image, row], outputs)


FEEDS = {"seq": SEQ, "image": IMAGE, "row": ROW.reshape(1, 4)}


def _named(notice: str) -> set[tuple[str, str]]:
    """(op, backend) pairs of a special-values line: ``Mean, Sum (cpu, wasm); AvgPool (cpu)`` and the like."""
    body = notice.split(" in ", 1)[1].split(" (layers ")[0].split("; --exact")[0].split("; no rewrite")[0]
    body = body.split("; a layers model")[0]
    pairs = set()
    for ops, backends in re.findall(r"([A-Za-z0-9_, ]+) \(([a-z, ]+)\)", body):
        pairs |= {(op.strip(), b.strip()) for op in ops.split(",") for b in backends.split(",")}
    return pairs


def _special_line(notices: list[str]) -> str:
    lines = [n for n in notices if n.startswith("special values")]
    assert len(lines) == 1, notices
    return lines[0]


@pytest.fixture(scope="module")
def reducing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reducing")
    model = _reducing_model()
    expected = [np.asarray(o) for o in model([FEEDS["seq"], FEEDS["image"], FEEDS["row"]])]
    model.save(folder / "m.keras")
    return folder / "m.keras", expected


def test_a_layers_model_names_the_reductions_its_graph_model_names(reducing, tmp_path):
    """The layers model's line names Mean and AvgPool on the backends the graph model's line names them, with the
    layers that run them, and says "sums or products past ±FLT_MAX"."""
    path, _ = reducing
    layers = tfjsconv.convert(path, tmp_path / "layers", target_backends=["cpu", "wasm", "webgl"])
    graph = tfjsconv.convert(path, tmp_path / "graph", output_format="tfjs_graph_model",
                             target_backends=["cpu", "wasm", "webgl"])
    layers_line, graph_line = _special_line(layers.notices), _special_line(graph.notices)
    reductions = {"Mean", "AvgPool", "Sum", "Prod"}
    graph_pairs = {p for p in _named(graph_line) if p[0] in reductions}
    assert {op for op, _ in graph_pairs} == {"Mean", "AvgPool"}, graph_line
    assert {p for p in _named(layers_line) if p[0] in reductions} == graph_pairs, (layers_line, graph_line)
    assert "sums or products past ±FLT_MAX" in layers_line
    assert all(name in layers_line for name in REDUCING), layers_line


@pytest.mark.node
def test_what_the_layers_line_names_is_what_tfjs_cpu_computes(reducing, tmp_path, tfjs_runtime):
    """The layers model, run in TF.js: on cpu every reducing layer gives a number where Keras gives Inf (or NaN from
    it); this is what the line names."""
    from tfjsconv.verify.run import run_model

    path, expected = reducing
    assert np.isinf(expected[0][0, 0]) and np.isinf(expected[3][0, 0, 0, 0])  # Keras: the float32 sum is Inf
    tfjsconv.convert(path, tmp_path / "out", target_backends=["cpu"])
    runs = run_model(tmp_path / "out", FEEDS, backends=["cpu"], quiet=True)
    assert runs.backends["cpu"].ok, runs.backends["cpu"].error
    got = [np.asarray(v) for v in runs.backends["cpu"].outputs.values()]
    for name, want, have in zip(REDUCING, expected, got, strict=True):
        assert np.isfinite(have).sum() > np.isfinite(want).sum(), (name, want, have)


@pytest.mark.node
def test_a_layers_dot_of_matrices_is_named_as_the_sum_it_runs(tmp_path, tfjs_runtime):
    """tfjs-layers' Dot of two matrices is ``sum(x·y)``: on cpu in float64 (FLT_MAX where Keras's float32 sum is Inf)."""
    from tfjsconv.verify.run import run_model

    x, y = keras.Input((4,), name="x"), keras.Input((4,), name="y")
    model = keras.Model([x, y], keras.layers.Dot(axes=1, name="dot")([x, y]))
    expected = np.asarray(model([DOT_X, DOT_Y]))
    model.save(tmp_path / "dot.keras")
    result = tfjsconv.convert(tmp_path / "dot.keras", tmp_path / "out", target_backends=["cpu", "wasm"])
    line = _special_line(result.notices)
    assert {("Sum", "cpu"), ("Sum", "wasm")} <= _named(line) and "dot" in line, line
    got = np.asarray(run_model(tmp_path / "out", {"x": DOT_X, "y": DOT_Y}, backends=["cpu"], quiet=True)
                     .backends["cpu"].outputs["dot"])
    assert np.isinf(expected).all() and np.isfinite(got).all(), (expected, got)


#: (steps, features) inputs: PReLU sharing the features (alpha (3, 1)), and sharing the steps (alpha (1, 4)).
SEQUENCE = np.random.default_rng(19).standard_normal((2, 3, 4)).astype(np.float32)


def _prelu_model(path, shared_axes):
    x = keras.Input((3, 4), name="x")
    layer = keras.layers.PReLU(shared_axes=shared_axes, name="prelu")
    model = keras.Model(x, layer(x))
    shape = layer.get_weights()[0].shape
    layer.set_weights([np.linspace(-1, 2, int(np.prod(shape)), dtype=np.float32).reshape(shape)])
    expected = np.asarray(model(SEQUENCE))
    model.save(path)
    return expected


def test_a_layers_prelu_whose_alpha_wasm_misreads_is_refused_there(tmp_path):
    """``shared_axes=[2]``: exit 2 naming the layer and wasm, through the CLI; cpu and webgl convert; the steps shared
    (alpha (1, 4) tiles x's trailing axis) converts for wasm."""
    _prelu_model(tmp_path / "features.keras", [2])
    run = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(tmp_path / "features.keras"),
                          str(tmp_path / "refused")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert re.search(r"PReLU \(Prelu\) on wasm .*tiles:1,0=false.*: prelu", run.stderr), run.stderr
    assert not (tmp_path / "refused").exists()
    tfjsconv.convert(tmp_path / "features.keras", tmp_path / "cpu", target_backends=["cpu", "webgl"])
    _prelu_model(tmp_path / "steps.keras", [1])
    tfjsconv.convert(tmp_path / "steps.keras", tmp_path / "steps", target_backends=["cpu", "wasm"])


@pytest.mark.node
def test_the_refused_layers_prelu_is_right_on_cpu_and_wrong_on_wasm(tmp_path, tfjs_runtime):
    """What the refusal is for: written anyway (--skip_op_check), wasm pairs alphas with the wrong elements; the graph
    model of the same file is right on both."""
    from tfjsconv.verify.compare import verify_model

    expected = _prelu_model(tmp_path / "features.keras", [2])
    tfjsconv.convert(tmp_path / "features.keras", tmp_path / "layers", skip_op_check=True)
    report = verify_model(tmp_path / "layers", {"x": SEQUENCE}, {"prelu": expected}, backends=("cpu", "wasm"),
                          rtol=1e-5, quiet=True)
    assert {c.backend: c.passed for c in report.comparisons} == {"cpu": True, "wasm": False}
    tfjsconv.convert(tmp_path / "features.keras", tmp_path / "graph", output_format="tfjs_graph_model")
    graph = verify_model(tmp_path / "graph", {"x": SEQUENCE}, {"prelu": expected}, backends=("cpu", "wasm"),
                         rtol=1e-5, quiet=True)
    assert graph.passed
