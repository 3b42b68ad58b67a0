"""``cast_to_bool``: TF.js 4.22's wasm ``Cast`` to bool copies the values into the bool (Uint8) buffer.

tfjs-backend-wasm's kernel is ``outVals.set(inVals)``: an int32 2 stays a "bool" 2, -1 becomes 255, 256 and
INT32_MIN become 0 (false, where TF's ``x != 0`` is true), and a float32 is truncated first (0.5, NaN, ±Inf and
1e-30 give false). A later ``Cast`` back to float reads 2.0, so a Keras 3 attention mask of {0, 1, 2} came out wrong
on wasm (session 23, H3). The contract named only float32 → bool; the pass rewrites every ``Cast`` to bool of a
non-bool value that a target backend computes wrongly as ``NotEqual(x, 0)``, TF's own definition (NaN is true).
Checked against ``tf.raw_ops.Cast`` and onnxruntime, with what later ops read, on cpu, wasm and webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

I32 = np.iinfo(np.int32)
#: The int32 values: 0/1, then what wasm's byte copy gets wrong (2, -1 → 255, 256 and INT32_MIN → 0, ...).
INTS = np.array([0, 1, 2, -1, 256, I32.min, I32.max, 3, -256, 512], np.int32)
#: The float32 values: fractions, signed zeros, NaN, ±Inf, a tiny normal, whole numbers. No subnormal: TF flushes
#: it to zero (false) where TF.js's cpu keeps it (true), an op-independent difference (docs/backends.md).
FLOATS = np.array([0.5, -0.0, np.nan, np.inf, -np.inf, 2.0, 1e-30, 0.0, 256.0, -1.0, -0.25], np.float32)
#: int64 as a TF graph holds it (TF.js holds it as int32): within int32's range, as TF.js's int64 is.
VALUES = {"int32": INTS, "float32": FLOATS, "int64": INTS.astype(np.int64)}
DTYPES = tuple(VALUES)
#: Each output's suffix: what a later op reads from the cast.
READS = ("bool", "float", "int", "select", "and", "or", "not", "equal", "any", "all")


def names(dtype: str) -> list[str]:
    return [f"{dtype}_{read}" for read in READS]


def build_graph(path, dtypes=DTYPES):
    """A TF1 graph casting each dtype's values to bool and reading the bool through each op in ``READS``; TF's
    outputs."""
    feeds = {f"x_{d}": VALUES[d] for d in dtypes}

    def build(tf) -> None:
        raw = tf.raw_ops
        for dtype in dtypes:
            n = VALUES[dtype].size
            x = tf.compat.v1.placeholder(tf.as_dtype(dtype), (None,), f"x_{dtype}")
            b = raw.Cast(x=x, DstT=tf.bool, name=f"{dtype}_cast")
            ones, zeros = tf.constant([True] * n), tf.constant([False] * n)
            rows = raw.Reshape(tensor=b, shape=[-1, 1])
            reads = {
                "bool": raw.Identity(input=b),
                "float": raw.Cast(x=b, DstT=tf.float32),
                "int": raw.Cast(x=b, DstT=tf.int32),
                "select": raw.SelectV2(condition=b, t=tf.constant(1.5), e=tf.constant(-1.0)),
                "and": raw.LogicalAnd(x=b, y=ones),
                "or": raw.LogicalOr(x=b, y=zeros),
                "not": raw.LogicalNot(x=b),
                "equal": raw.Equal(x=b, y=ones),
                "any": raw.Any(input=rows, axis=[1]),
                "all": raw.All(input=rows, axis=[1]),
            }
            for read, value in reads.items():
                tf.identity(value, name=f"{dtype}_{read}")

    outputs = [name for d in dtypes for name in names(d)]
    source, expected = raw_ops_graph(path, build, feeds, outputs)
    return source, expected, {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in feeds.items()}


def mismatches(outputs: dict, expected: dict) -> list[str]:
    """Outputs that differ from TF's, compared as numbers: a "bool" 2 is not TF's True."""
    bad = []
    for name, want in expected.items():
        got = np.asarray(outputs[name]).reshape(want.shape)
        if not np.array_equal(got.astype(np.float64), want.astype(np.float64), equal_nan=True):
            bad.append(f"{name}: {got.tolist()} != {want.tolist()}")
    return bad


def _changes(result) -> dict[str, int]:
    return {s.name: s.changes for s in result.pass_report.stats}


def _bool_casts(out) -> list[str]:
    """The converted model's Casts to bool."""
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    return [n["name"] for n in nodes if n["op"] == "Cast" and n.get("attr", {}).get("DstT", {}).get("type") == "DT_BOOL"]


@pytest.fixture(scope="module", params=DTYPES)
def converted(request, tmp_path_factory):
    """One dtype's graph, converted for the default targets (cpu, wasm, webgl)."""
    folder = tmp_path_factory.mktemp(f"cast_to_bool_{request.param}")
    source, expected, feeds = build_graph(folder / "m.pb", (request.param,))
    out = folder / "out"
    result = tfjsconv.convert(source, out, output_node_names=list(expected))
    return out, result, expected, feeds


def test_every_cast_to_bool_is_rewritten(converted):
    out, result, _, _ = converted
    assert _changes(result)["cast_to_bool"] == 1
    assert _bool_casts(out) == []


def test_matches_tf_on_cpu_and_wasm(converted, tfjs_runtime):
    """Before the pass: int32 and int64 silently wrong on wasm (2.0 after a Cast back), float32 refused."""
    out, _, expected, feeds = converted
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        assert mismatches(run.outputs, expected) == [], backend


def test_matches_tf_on_webgl(converted, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    out, _, expected, feeds = converted
    run = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    assert mismatches(run.outputs, expected) == []


def test_int32_casts_to_bool_are_refused_on_wasm_without_the_pass(tmp_path):
    """Why the pass exists: the contract names int32 (int64 as TF.js holds it) → bool on wasm, as it named
    float32 → bool; before session 23 the int32 ones were converted silently."""
    from tfjsconv.errors import BackendUnsupportedError

    source, expected, _ = build_graph(tmp_path / "m.pb", ("int32", "int64"))
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "out", output_node_names=list(expected), skip_passes=["cast_to_bool"])
    message = str(err.value)
    assert message.startswith("2 node(s) cannot run on target backend(s) wasm"), message
    assert "Cast on wasm (input:0=int32, DstT=bool gives a wrong answer): int32_cast, int64_cast" in message, message


def test_gated_by_the_targets(tmp_path, tfjs_runtime):
    """cpu computes ``x != 0`` itself: converted for cpu alone, the Casts stay (and wasm would be wrong)."""
    source, expected, feeds = build_graph(tmp_path / "m.pb")
    out = tmp_path / "out"
    result = tfjsconv.convert(source, out, output_node_names=list(expected), target_backends=["cpu"])
    assert _changes(result)["cast_to_bool"] == 0
    assert sorted(_bool_casts(out)) == ["float32_cast", "int32_cast", "int64_cast"]
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
    assert mismatches(runs["cpu"].outputs, expected) == []
    wrong = mismatches(runs["wasm"].outputs, expected)
    assert any(line.startswith("int32_float:") for line in wrong), wrong  # the byte copy the pass avoids


# -- ONNX ------------------------------------------------------------------------------------------------------------
def test_onnx_cast_to_bool_matches_onnxruntime(tmp_path, tfjs_runtime):
    """An ONNX ``Cast(to=BOOL)`` of int64 and float values, cast back and used as a ``Where`` condition. The ONNX
    frontend already writes it as ``NotEqual`` (plugins/onnx/ops/math.py): a guard, not a fix."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    nodes = []
    for name, source in (("i", "ints"), ("f", "floats")):
        nodes += [helper.make_node("Cast", [source], [f"{name}_bool"], to=TensorProto.BOOL),
                  helper.make_node("Cast", [f"{name}_bool"], [f"{name}_back"], to=TensorProto.FLOAT),
                  helper.make_node("Where", [f"{name}_bool", "one", "minus"], [f"{name}_where"]),
                  helper.make_node("Not", [f"{name}_bool"], [f"{name}_not"])]
    outputs = [f"{n}_{r}" for n in "if" for r in ("bool", "back", "where", "not")]
    path = onnx_model(tmp_path / "m.onnx", nodes,
                      {"ints": (TensorProto.INT64, [None]), "floats": (TensorProto.FLOAT, [None])}, outputs,
                      initializers={"one": np.array(1.5, np.float32), "minus": np.array(-1.0, np.float32)})
    feeds = {"ints": np.array([0, 1, 2, -1, 256, I32.min, I32.max, 3], np.int64), "floats": FLOATS}
    matches_onnxruntime(path, feeds, tmp_path / "out", backends=("cpu", "wasm"), rtol=0, atol=0,
                        narrow_int64_feeds=True)
