"""TF.js 4.22's wasm (and webgl) compute ``Log1p`` as ``log(1 + x)`` in float32, wasm's ``Sin`` of negative ``x``
loses bits (session 28, reviewer R1; h9).

``log1p(1e-8)`` came out 0 on wasm (TF 1e-8), ``log1p(-3e-8)`` -5.96e-8, ``log1p(-0)`` +0, and inputs of scale 1e-3
were 4.7e-5 of their output range off (the bound is 1e-5); cpu's ``Math.log1p`` is exact. The ``log1p`` pass writes
the compensated ``Log(u) · x / (u - 1)`` (``u = 1 + x``) for conversions with a target other than cpu. TF SavedModels
(``tf.math.log1p`` and a softplus written with it), converted by the default (TF-free) loader, run in TF.js cpu and
wasm against TF's own outputs. wasm's ``Sin`` adds 2π in float32 to a negative argument: ``sin(-1e-10)`` was +1.75e-7,
inputs in ``[-1e-3, 0)`` 2.4e-4 of their range off, ``sin(-0)`` +0; the ``sin_symmetry`` pass computes ``-Sin(|x|)``
there. h9's sweep of the other unary ops found them within the bound.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node
F32_MAX = float(np.finfo(np.float32).max)
FEEDS = {
    # below 2^-24 1 + x rounds to 1: naive log1p gives 0 (or ±6e-8)
    "tiny": np.float32([1e-8, -3e-8, 2e-9, 5e-7, -5e-7, 1e-20, -1e-30, 6e-8]),
    # R1's mid-range inputs: naive log1p is 4.7e-5 of the output range off
    "mid": np.float32([1e-3, -5e-4, 2e-4, 7e-4, 3.3e-5]),
    "special": np.float32([-1.0, np.inf, -np.inf, np.nan, -0.0, 0.0, -2.0, -0.9999999, 1e30, F32_MAX, 2.0**24]),
    "broad": np.float32(np.concatenate([np.geomspace(1e-6, 1e6, 25), -np.geomspace(1e-6, 0.999, 25)])),
    # small angles, mostly negative: wasm's sine of them was 2.4e-4 of the range off
    "angles_small": np.float32(np.concatenate([-np.geomspace(1e-10, 1e-3, 12), np.geomspace(1e-6, 1e-3, 3)])),
    # tiny angles of both signs (R8): wasm gave 0 for sin(1e-16), 8.9e-16 for sin(1e-15); float32's sine is x there
    "angles_tiny": np.float32(np.concatenate([np.geomspace(1e-20, 1e-12, 9), -np.geomspace(1e-20, 1e-12, 9),
                                              [2.0 ** -12, -(2.0 ** -12), 2.5e-4, -2.5e-4]])),
    # positional-encoding-like angles of both signs
    "angles_wide": np.float32(np.concatenate([np.linspace(-5000, 5000, 41), [-3.0, -1.0, -0.5, 0.5, 3.0]])),
    # (huge angles, ±1e30, are a named deviation of wasm: docs/backends.md, "Special values")
    "angles_special": np.float32([-0.0, 0.0, np.nan, np.inf, -np.inf]),
}
#: Outputs whose values cross zero at large arguments: judged on the output range only (no relative bound)
RANGE_ONLY = {"sin_angles_wide", "sin_angles_special"}


def _unary_model(path: Path) -> dict[str, np.ndarray]:
    """A SavedModel of ``tf.math.log1p`` of the first inputs, a softplus ``log1p(exp(-|x|)) + relu(x)`` and
    ``tf.math.sin`` of the angles; TF's outputs."""
    specs = [tf.TensorSpec(a.shape, tf.float32, name=k) for k, a in FEEDS.items()]

    def fn(tiny, mid, special, broad, angles_small, angles_tiny, angles_wide, angles_special):
        outputs = {f"log1p_{k}": tf.math.log1p(v) for k, v in zip(FEEDS, (tiny, mid, special, broad))}
        outputs.update({f"sin_{k}": tf.math.sin(v) for k, v in
                        zip(list(FEEDS)[4:], (angles_small, angles_tiny, angles_wide, angles_special))})
        large = mid * 2e4  # |x| around 0.7..20: the exp(-|x|) the softplus adds is tiny beside 1
        outputs["softplus"] = tf.math.log1p(tf.exp(-tf.abs(large))) + tf.nn.relu(large)
        return outputs

    module = tf.Module()
    module.f = tf.function(fn, input_signature=specs)
    tf.saved_model.save(module, str(path), signatures=module.f)
    return {k: v.numpy() for k, v in module.f(**{k: tf.constant(a) for k, a in FEEDS.items()}).items()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The SavedModel, TF's outputs, and its conversions for the default targets and for cpu alone."""
    folder = tmp_path_factory.mktemp("log1p")
    expected = _unary_model(folder / "sm")
    tfjsconv.convert(folder / "sm", folder / "default", output_format="tfjs_graph_model")
    tfjsconv.convert(folder / "sm", folder / "cpu", output_format="tfjs_graph_model", target_backends=["cpu"])
    return folder, expected


def _ops(model_dir: Path) -> set[str]:
    return {node["op"] for node in json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]}


def _sine_arguments(model_dir: Path) -> set[str]:
    """The ops that produce the arguments of the model's ``Sin`` nodes."""
    nodes = json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]
    ops = {node["name"]: node["op"] for node in nodes}
    return {ops[node["input"][0].split(":")[0]] for node in nodes if node["op"] == "Sin"}


def _problems(got: np.ndarray, want: np.ndarray, relative: float | None = 1e-6) -> list[str]:
    """Where ``got`` is not TF's float32 answer: NaN/±Inf/sign of zero exactly, finite values within 1e-5 of the
    output range and ``relative`` (TF's own log1p is 3.2 ulp from the exact result, the rewrite 2.25)."""
    problems = []
    if got.shape != want.shape:
        return [f"shape {got.shape} != {want.shape}"]
    special = ~np.isfinite(want) | (want == 0)
    nan_alike = np.isnan(got) & np.isnan(want)  # a NaN's sign is not TF's promise
    same = nan_alike | ((got == want) & (np.signbit(got) == np.signbit(want)))
    problems += [f"{g} for TF's {w}" for g, w in zip(got[special & ~same], want[special & ~same])]
    finite = np.isfinite(want) & (want != 0)
    if not finite.any():
        return problems
    span = float(np.ptp(want[finite])) if finite.sum() > 1 else float(np.abs(want[finite]).max())
    error = np.abs(got[finite].astype(np.float64) - want[finite])
    bad = error > 1e-5 * span
    if relative is not None:
        bad |= error > relative * np.abs(want[finite])
    problems += [f"{g!r} for TF's {w!r}" for g, w in zip(got[finite][bad], want[finite][bad])]
    return problems


def test_log1p_matches_tf_on_cpu_and_wasm(converted, tfjs_runtime):
    """Failed before on wasm (tiny values 0, -0 as +0, mid-range 4.7e-5 of the range off); cpu must stay right."""
    folder, expected = converted
    runs = run_model(folder / "default", FEEDS, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        problems = {k: p for k, want in expected.items() if (p := _problems(np.asarray(run.outputs[k]), want, None if k in RANGE_ONLY else 1e-6))}
        assert not problems, (backend, problems)


def test_the_rewrite_is_made_only_for_a_backend_other_than_cpu(converted, tfjs_runtime):
    """The default targets get the compensated form (no ``Log1p`` node); cpu alone keeps TF.js cpu's exact kernel,
    which matches TF too."""
    folder, expected = converted
    assert "Log1p" not in _ops(folder / "default") and "Log" in _ops(folder / "default")
    assert "Log1p" in _ops(folder / "cpu")
    assert _sine_arguments(folder / "default") == {"Abs"} and "Abs" not in _sine_arguments(folder / "cpu")
    run = run_model(folder / "cpu", FEEDS, backends=["cpu"], quiet=True)["cpu"]
    assert run.ok, run.error
    problems = {k: p for k, want in expected.items() if (p := _problems(np.asarray(run.outputs[k]), want, None if k in RANGE_ONLY else 1e-6))}
    assert not problems, problems


def test_the_rewrites_quantize_to_uint8(converted, tmp_path, tfjs_runtime):
    """R8: the log1p rewrite told +Inf by a constant +Inf, which ``--quantize_uint8`` refuses ("contains NaN or
    infinity") for every model with a Log1p; it compares with float32's largest value now."""
    folder, expected = converted
    tfjsconv.convert(folder / "sm", tmp_path / "u8", output_format="tfjs_graph_model", quantize_uint8=True)
    assert "Log1p" not in _ops(tmp_path / "u8")
    run = run_model(tmp_path / "u8", FEEDS, backends=["wasm"], quiet=True)["wasm"]
    assert run.ok, run.error
    assert not _problems(np.asarray(run.outputs["log1p_tiny"]), expected["log1p_tiny"])
