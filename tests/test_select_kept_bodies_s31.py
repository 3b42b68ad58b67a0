"""Session 31 (h1): selects inside the While/If functions ``--control_flow_v2`` keeps, whose operands' unknown
sizes are 1 in one and 0 in another at run time.

``select_shape`` rewrote such selects in the main graph only: ``tf.where(c > 0, t, e)`` in a while body fed
``c: [0], t: [1], e: [0]`` answered shape ``[1]`` on cpu and wasm under ``--control_flow_v2`` (TF ``[0]``;
``/work/notes/probe30/h1/kept_body_repro.py``). The pass now reaches kept bodies (``core/passes/kept_selects.py``),
and leaves a select whose operands the body computes from one value (a loop-carried ``acc``) as it is.

Expected values are TF's (a ``tf.function`` SavedModel), run in TF.js cpu and wasm; the conversion runs in a
subprocess where tensorflow, keras and tf_keras cannot be imported.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

SPECS = {"c": tf.float32, "t": tf.float32, "e": tf.float32, "ti": tf.int32, "ei": tf.int32, "x": tf.float32}
#: The outputs whose select meets a 1 and a 0 (rewritten), and the one whose operands come from one value.
INDEPENDENT = ("while_float", "while_int", "cond_float", "cond_int")

POISONED = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None  # any import of them now fails
import tfjsconv
tfjsconv.convert(sys.argv[1], sys.argv[2], output_format="tfjs_graph_model", control_flow_v2=True)
print("LOADED:" + ",".join(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")
                            and sys.modules[m] is not None))
"""


def _in_loop(value_of_step):
    """One iteration of a while loop whose carried value (unknown size) becomes ``value_of_step()``."""
    def body(i, _):
        return i + 1, value_of_step()

    first = value_of_step()
    return tf.while_loop(lambda i, _: i < 1, body, (tf.constant(0), tf.zeros_like(first)),
                         shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])))[1]


def _selects(c, t, e, ti, ei, x):
    pred = tf.shape(c)[0] >= 0  # known only at run time: the If stays

    def carried(i, acc):
        return i + 1, tf.where(acc > 0, acc * 2.0, acc - 1.0)

    return {
        "while_float": _in_loop(lambda: tf.where(c > 0, t, e) * 2.0),
        "while_int": _in_loop(lambda: tf.where(c > 0, ti, ei) * 3),
        "cond_float": tf.cond(pred, lambda: tf.where(c > 0, t, e) + 1.0, lambda: tf.where(c < 0, e, t) - 1.0),
        "cond_int": tf.cond(pred, lambda: tf.where(c > 0, ti, ei) + 1, lambda: tf.where(c < 0, ei, ti) - 1),
        "carried": tf.while_loop(lambda i, acc: i < 2, carried, (tf.constant(0), x))[1],
    }


#: Run-time sizes: a 1 meeting 0s (TF: 0), a 0 meeting a 1, and every size equal.
FEEDS = {
    "ones_meet_zeros": {"c": 0, "t": 1, "e": 0, "ti": 1, "ei": 0, "x": 0},
    "zeros_meet_ones": {"c": 1, "t": 0, "e": 1, "ti": 0, "ei": 1, "x": 1},
    "equal_sizes": {"c": 5, "t": 5, "e": 5, "ti": 5, "ei": 5, "x": 5},
}


def _feed(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if SPECS[name] == tf.int32:
        return rng.integers(-50, 50, size).astype(np.int32)
    return rng.standard_normal(size).astype(np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("select_kept")
    module = tf.Module()
    module.f = tf.function(_selects, input_signature=[tf.TensorSpec((None,), d, name=k) for k, d in SPECS.items()])
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    rng = np.random.default_rng(31)
    feeds = {case: {k: _feed(k, size, rng) for k, size in sizes.items()} for case, sizes in FEEDS.items()}
    expected = {case: {k: v.numpy() for k, v in module.f(**{k: tf.constant(a) for k, a in f.items()}).items()}
                for case, f in feeds.items()}
    proc = subprocess.run([sys.executable, "-c", POISONED, str(folder / "sm"), str(folder / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("LOADED:"), proc.stdout
    return folder / "out", feeds, expected


def _library_selects(model: Path) -> dict[str, list[str]]:
    """``function/select`` -> its data inputs, for every SelectV2 of the model's kept functions."""
    library = json.loads((model / "model.json").read_text())["modelTopology"].get("library") or {}
    return {f"{f['signature']['name']}/{n['name']}": n.get("input", []) for f in library.get("function", [])
            for n in f.get("nodeDef", []) if n.get("op") == "SelectV2"}


def _assert_matches_tf(model: Path, inputs: dict, expected: dict, case: str) -> None:
    """The converted model run in TF.js cpu and wasm gives TF's shapes and values for ``inputs``."""
    runs = run_model(model, inputs, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (case, backend, run.error)
        for key, want in expected.items():
            got = np.asarray(run.outputs[key])
            assert got.shape == want.shape, (case, backend, key, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{case} {backend} {key}")


def test_kept_selects_meeting_ones_and_zeros_match_tf(converted, tfjs_runtime):
    """Failed before: while_float/while_int/cond_* answered shape (1,) for TF's (0,) on cpu and wasm."""
    model, feeds, expected = converted
    assert expected["ones_meet_zeros"]["while_float"].shape == (0,)
    for case, inputs in feeds.items():
        _assert_matches_tf(model, inputs, expected[case], case)


def test_only_kept_selects_over_independent_sizes_are_broadcast(converted):
    """The six selects over independent inputs (one per while body, two per If) are rewritten, the loop's
    ``where(acc > 0, acc * 2, acc - 1)`` over its carried ``acc`` is not. Before: none was."""
    model, _, _ = converted
    selects = _library_selects(model)
    widened = sorted(name for name, refs in selects.items() if any("/select_shape/" in ref for ref in refs))
    assert len(selects) == 7, selects
    assert len(widened) == 6, widened


def _two_callers_module() -> tf.Module:
    """``inner`` inlined at top level (``inner(x, x)``: its operands tied) and again inside a kept loop body
    (``inner(p, q)``: not tied): one If's branches named by both callers."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32)])
    def inner(a, b):
        pred = tf.shape(a)[0] >= 0
        return tf.cond(pred, lambda: tf.where(a > 0, a, b) * 2.0, lambda: tf.where(b > 0, b, a) - 1.0)

    def f(x, p, q):
        def body(i, _):
            return i + 1, inner(p, q)

        nested = tf.while_loop(lambda i, _: i < 1, body, (tf.constant(0), tf.zeros([0])),
                               shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])))[1]
        return {"top": inner(x, x), "nested": nested}

    module = tf.Module()
    module.inner = inner
    module.f = tf.function(f, input_signature=[tf.TensorSpec([None], tf.float32, name=k) for k in "xpq"])
    return module


def test_a_body_called_from_a_kept_function_too_gets_no_seed(tmp_path, tfjs_runtime):
    """Review r1: the branches were seeded from the top-level call alone (x, x: tied), so their selects were left
    and the nested call's p = [1], q = [0] gave shape (1,) for TF's (0,) on cpu and wasm."""
    import tfjsconv

    module = _two_callers_module()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model", control_flow_v2=True)
    feeds = {"x": np.array([1.0, -2.0, 3.0], np.float32), "p": np.array([0.5], np.float32),
             "q": np.zeros(0, np.float32)}
    expected = {k: v.numpy() for k, v in module.f(**{k: tf.constant(a) for k, a in feeds.items()}).items()}
    assert expected["nested"].shape == (0,)
    _assert_matches_tf(tmp_path / "out", feeds, expected, "two callers")
