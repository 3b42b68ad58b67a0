"""Session 30 (h1): a select whose operands' sizes are unknown at conversion along an axis, 1 in one operand and 0
in another at run time.

tfjs-core's ``where`` broadcasts its operands with ``broadcastTo``, which keeps a 1 meeting a 0 when nothing grows:
``tf.where(c, t, e)`` with run-time shapes ``c: [0], t: [1], e: [0]`` answered shape ``[1]`` on cpu and wasm (TF:
``[0]``; r4 session 29, ``/work/notes/probe29/r4/sel.py``). ``select_shape`` left such axes alone (unknown in every
operand: the batch of nearly every masked model). It now broadcasts an operand there unless ``dim_sources`` proves that
another operand's 0 makes its size 0 too: operands computed from one input, and a loop's carried value whose size is
its initial value's (the masked RNN's ``where(mask, h_new, h)``), are left as they were.

Expected values are TF's (a ``tf.function`` SavedModel converted by the TF-free loader), run in TF.js cpu and wasm,
and webgl in Chromium where one is installed.
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

#: Four selects over independent inputs (rewritten) and two whose operands one input sizes (left alone).
SPECS = {"c": (None,), "t": (None,), "e": (None,), "c2": (None, None), "t2": (None, None), "e2": (None, None),
         "x": (None, 3)}


def _selects(c, t, e, c2, t2, e2, x):
    def body(i, h):
        column = x[:, i]
        return i + 1, tf.where(column > 0, tf.tanh(h * 0.5 + column), h)

    carried = tf.while_loop(lambda i, h: i < tf.shape(x)[1], body, (tf.constant(0), tf.zeros_like(x[:, 0])))[1]
    return {"left_t1": tf.where(c > 0, t, e), "left_e1": tf.where(e > 0, c, t),
            "left_condition": tf.where(t > 0, c, e), "left_2d": tf.where(c2 > 0, t2, e2),
            "one_input": tf.where(x > 0, x * 2.0, -x), "loop_carried": carried}


#: Run-time shapes: a 1 meeting a 0 in each independent select (TF: the 0); then every size equal.
FEEDS = {
    "ones_meet_zeros": {"c": (0,), "t": (1,), "e": (0,), "c2": (0, 1), "t2": (1, 1), "e2": (0, 1), "x": (0, 3)},
    "equal_sizes": {"c": (4,), "t": (4,), "e": (4,), "c2": (2, 3), "t2": (2, 3), "e2": (2, 3), "x": (2, 3)},
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("select_unknown")
    module = tf.Module()
    module.f = tf.function(_selects, input_signature=[tf.TensorSpec(s, tf.float32, name=k) for k, s in SPECS.items()])
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    rng = np.random.default_rng(30)
    feeds = {case: {k: rng.standard_normal(shape).astype(np.float32) for k, shape in shapes.items()}
             for case, shapes in FEEDS.items()}
    expected = {case: {k: v.numpy() for k, v in module.f(**{k: tf.constant(a) for k, a in f.items()}).items()}
                for case, f in feeds.items()}
    tfjsconv.convert(folder / "sm", folder / "out", output_format="tfjs_graph_model")
    return folder / "out", feeds, expected


def _widened(model: Path) -> set[str]:
    """The selects (by the output they feed, through their name) reading an operand ``select_shape`` broadcast."""
    nodes = json.loads((model / "model.json").read_text())["modelTopology"]["node"]
    return {n["name"] for n in nodes if n["op"] == "SelectV2" and any("/select_shape/" in r for r in n["input"])}


def test_ones_meeting_zeros_along_unknown_axes_keep_tf_shapes(converted, tfjs_runtime):
    """Failed before: left_t1 answered (1,) and left_2d (1, 1) for TF's (0,) and (0, 1) on cpu and wasm."""
    model, feeds, expected = converted
    for case, inputs in feeds.items():
        runs = run_model(model, inputs, backends=["cpu", "wasm"], quiet=True)
        for backend, run in runs.backends.items():
            assert run.ok, (case, backend, run.error)
            for key, want in expected[case].items():
                got = np.asarray(run.outputs[key])
                assert got.shape == want.shape, (case, backend, key, got.shape, want.shape)
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{case} {backend} {key}")
    assert expected["ones_meet_zeros"]["left_t1"].shape == (0,)


def test_only_selects_whose_sizes_are_not_proven_equal_are_broadcast(converted):
    """The four selects over independent inputs are rewritten; the one over a single input and the loop's
    ``where(column > 0, h_new, h)`` (the masked RNN's shape) are not. Before: none was."""
    model, _, _ = converted
    widened = _widened(model)
    assert len(widened) == 4, widened
    assert not any("while" in name for name in widened), widened


def test_ones_meeting_zeros_along_unknown_axes_keep_tf_shapes_on_webgl(converted, browser):
    """webgl runs the same tfjs-core ``where`` (its shader, not the CPU forwarding): left_t1 (1,) before."""
    from tfjsconv.serve.browser import run_backends_in_browser

    model, feeds, expected = converted
    for case, inputs in feeds.items():
        run = run_backends_in_browser(model, inputs, backends=["webgl"], session=browser,
                                      flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
        assert run.ok, (case, run.error)
        for key, want in expected[case].items():
            got = np.asarray(run.outputs[key])
            assert got.shape == want.shape, (case, key, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{case} {key}")
