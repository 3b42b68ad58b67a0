"""``select_rank``: TF.js 4.22's webgl throws on a ``SelectV2`` of rank 5 and up, and wasm selects bool branches wrongly.

So a rank-5 ``where`` (Keras 3's ``logsumexp`` over a rank-5 tensor, ONNX ``Where`` in 3-D conv and attention
models) was refused for the default targets (session 20's random-model bench: "SelectV2 on webgl (maxrank:5=true,
maxrank:7=false throws): logsumexp_1/shift"). The pass selects at rank ≤ 4: adjacent axes that broadcast alike
merged (an unknown batch stays an axis of its own), or, where that leaves rank > 4, every operand broadcast to the
run-time output shape and flattened. A select copies elements, so both are exact: TF's values bit for bit (NaN, ±Inf
and -0 included) on cpu, wasm and webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_last_run_on_webgl  # noqa: E402
from keras_two_sizes import verify_runs  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node
RNG = np.random.default_rng(20)

#: name: (condition's placeholder shape, its fed shape, t's, t fed, e's, e fed, branch dtype, op); a fed shape of
#: None is the placeholder's. The comment says which form the pass takes.
CASES = {
    # every operand (None, 1, 4, 4, 8): merged to (-1, 128), the batch an axis of its own
    "batch": ((None, 1, 4, 4, 8), (2, 1, 4, 4, 8), (None, 1, 4, 4, 8), (2, 1, 4, 4, 8), (None, 1, 4, 4, 8),
              (2, 1, 4, 4, 8), "float32", "SelectV2"),
    # broadcasting on alternating axes: five runs, so flat, broadcast to the (static) output shape
    "alternating": ((2, 1, 4, 1, 8), None, (1, 3, 4, 5, 1), None, (5, 1), None, "int32", "SelectV2"),
    # rank 6, bool branches (wasm's bool select is wrong at any rank: selected as int32), a batch of 1 broadcast
    "bool6": ((None, 3, 1, 2, 2, 3), (1, 3, 1, 2, 2, 3), (None, 3, 4, 2, 2, 3), (2, 3, 4, 2, 2, 3), (1,), None,
              "bool", "SelectV2"),
    # rank 6, bool branches broadcasting on alternating axes: flat, a bool BroadcastTo
    "bool6_flat": ((2, 1, 3, 1, 2, 1), None, (1, 3, 1, 2, 1, 3), None, (2, 3, 3, 2, 2, 3), None, "bool", "SelectV2"),
    # rank 6, sizes unknown all over (two in one operand): flat, the output shape read at run time
    "unknown6": ((None, 2, None, 3, 1, 2), (3, 2, 2, 3, 1, 2), (None, 1, None, 3, 4, 2), (3, 1, 1, 3, 4, 2),
                 (None, 2, 1, None, 4, 2), (1, 2, 1, 3, 4, 2), "float32", "SelectV2"),
    # two unknown output sizes, each from one operand: merged, the output shape read at run time
    "two_unknowns": ((None, 2, 3, 4, 1), (3, 2, 3, 4, 1), (1, 2, 3, 4, None), (1, 2, 3, 4, 5), (), None, "float32",
                     "SelectV2"),
    # rank 7 broadcasting on alternating axes (webgl: "Where for rank 7"): flat
    "alternating7": ((2, 1, 2, 1, 2, 1, 2), None, (1, 2, 1, 2, 1, 2, 1), None, (2, 2, 2, 2, 2, 2, 2), None, "float32",
                     "SelectV2"),
    # rank 8, bool branches, the batch broadcast from 1: merged
    "bool8": ((None, 1, 2, 1, 2, 2, 3, 2), (2, 1, 2, 1, 2, 2, 3, 2), (None, 2, 2, 1, 2, 2, 3, 2),
              (1, 2, 2, 1, 2, 2, 3, 2), (1,), None, "bool", "SelectV2"),
    # an empty batch
    "empty": ((None, 1, 4, 4, 8), (0, 1, 4, 4, 8), (None, 1, 4, 4, 8), (0, 1, 4, 4, 8), (None, 1, 4, 4, 8),
              (0, 1, 4, 4, 8), "float32", "SelectV2"),
    # TF1 Select, one shape (a scalar condition would be one too)
    "v1": ((None, 2, 3, 2, 2), (2, 2, 3, 2, 2), (None, 2, 3, 2, 2), (2, 2, 3, 2, 2), (None, 2, 3, 2, 2),
           (2, 2, 3, 2, 2), "int32", "Select"),
}
NAMES = list(CASES)


def _values(shape: tuple, dtype: str) -> np.ndarray:
    """Random values; float32 ones start with NaN, ±Inf and -0, which a select copies untouched."""
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if dtype == "int32":
        return RNG.integers(-9, 9, shape).astype(np.int32)
    values = RNG.standard_normal(shape).astype(np.float32)
    flat = values.reshape(-1)
    flat[:4] = [np.nan, np.inf, -np.inf, -0.0][:flat.size]
    return values


def _graph(path, names=NAMES):
    """One graph holding each case's select (output ``name``), and TF's outputs."""
    feeds = {}
    for name in names:
        cs, cf, ts, tf_, es, ef, dtype, _ = CASES[name]
        feeds[f"{name}_c"] = _values(cs if cf is None else cf, "bool")
        feeds[f"{name}_t"] = _values(ts if tf_ is None else tf_, dtype)
        feeds[f"{name}_e"] = _values(es if ef is None else ef, dtype)

    def build(tf) -> None:
        for name in names:
            cs, _, ts, _, es, _, dtype, op = CASES[name]
            dtype = tf.as_dtype(dtype)
            c = tf.compat.v1.placeholder(tf.bool, cs, f"{name}_c")
            t = tf.compat.v1.placeholder(dtype, ts, f"{name}_t")
            e = tf.compat.v1.placeholder(dtype, es, f"{name}_e")
            branches = {"t": t, "e": e} if op == "SelectV2" else {"x": t, "y": e}
            tf.identity(getattr(tf.raw_ops, op)(condition=c, **branches), name=name)

    return (*raw_ops_graph(path, build, feeds, names), feeds)


def _bits(array: np.ndarray) -> np.ndarray:
    """Bytes for floats (NaN, -0 compared exactly), values otherwise."""
    return array.view(np.uint32) if array.dtype == np.float32 else array


def _check(runs: dict, expected: dict) -> None:
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        for name, want in expected.items():
            got = np.asarray(run.outputs[name]).reshape(want.shape).astype(want.dtype)
            np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=f"{backend} {name}")


def _changes(result) -> dict[str, int]:
    return {s.name: s.changes for s in result.pass_report.stats}


@pytest.fixture(scope="module")
def tf_converted(tmp_path_factory):
    """Every case in one graph, converted for the default targets (cpu, wasm, webgl)."""
    folder = tmp_path_factory.mktemp("select_rank")
    source, expected, feeds = _graph(folder / "m.pb")
    result = tfjsconv.convert(source, folder / "out", output_node_names=NAMES)
    return folder / "out", result, expected, feeds


def test_every_case_is_lowered(tf_converted):
    out, result, _, _ = tf_converted
    assert _changes(result)["select_rank"] == len(CASES)
    ops = {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    assert "Select" not in ops and "BroadcastTo" in ops and "Cast" in ops


def test_matches_tf_on_cpu_and_wasm(tf_converted, tfjs_runtime):
    out, _, expected, feeds = tf_converted
    _check(dict(run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends), expected)


def test_matches_tf_on_webgl(tf_converted, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    out, _, expected, feeds = tf_converted
    _check(run_backends_in_browser(out, feeds, backends=["webgl"], session=browser,
                                   flags={"WEBGL_CPU_FORWARD": False})[0], expected)


def test_without_the_pass_the_default_targets_refuse(tmp_path):
    """Why the pass exists: the contract refuses every case for webgl (and the bool ones for wasm)."""
    from tfjsconv.errors import BackendUnsupportedError

    source, _, _ = _graph(tmp_path / "m.pb")
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "out", output_node_names=NAMES, skip_passes=["select_rank"])
    message = str(err.value)
    assert message.startswith(f"{len(NAMES)} node(s) cannot run on target backend(s) wasm, webgl"), message
    assert "SelectV2 on wasm (input:1=bool gives a wrong answer): bool6, bool6_flat, bool8" in message, message


def test_gated_by_the_targets(tmp_path, tfjs_runtime):
    """cpu and wasm run float32/int32 selects of rank 5 and 6: converted for them, those selects stay."""
    names = ["batch", "alternating", "unknown6"]
    source, expected, feeds = _graph(tmp_path / "m.pb", names)
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=names, target_backends=["cpu", "wasm"])
    assert _changes(result)["select_rank"] == 0
    _check(dict(run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends), expected)


# -- the merging rule ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes,targets,out", [
    ([(None, 1, 4, 4, 8)] * 3, [[-1, 128]] * 3, (None, 1, 4, 4, 8)),
    ([(None, 1, 4, 4, 1), (None, 1, 4, 4, 1), ()], [[-1, 16], [-1, 16], [1, 1]], (None, 1, 4, 4, 1)),
    ([(2, 3, 4, 5, 6), (5, 6), (1,)], [[24, 30], [1, 30], [1, 1]], (2, 3, 4, 5, 6)),
    ([(2, 0, 3, 1, 2), (2, 0, 3, 4, 2), (1,)], [[0, 1, 2], [0, 4, 2], [1, 1, 1]], (2, 0, 3, 4, 2)),
    ([(None, 2, 3, 4, 1), (1, 2, 3, 4, None), ()], [[-1, 24, 1], [1, 24, -1], [1, 1, 1]], (None, 2, 3, 4, None)),
])
def test_merged_shapes(shapes, targets, out):
    from tfjsconv.passes.select_rank import merged_shapes

    assert merged_shapes(shapes) == (targets, out)


@pytest.mark.parametrize("shapes", [
    [(2, 1, 4, 1, 8), (1, 3, 4, 5, 1), (5, 1)],  # five runs
    [(None, None, 4, 4, 8)] * 3,  # two unknown sizes in one operand
    [(None, 2, 3), (None, 3, 3), (1,)],  # 2 against 3: TF refuses it
])
def test_merged_shapes_refuses(shapes):
    from tfjsconv.passes.select_rank import merged_shapes

    assert merged_shapes(shapes) is None


# -- Keras 3 -----------------------------------------------------------------------------------------------------------
def logsumexp_family(k):
    """``logsumexp`` over a rank-5 tensor whose batch is unknown (its ``where(isfinite(max), max, 0)`` shift), and a
    rank-5 ``where`` broadcasting its ``else`` branch."""
    o = k.ops
    x = k.Input((2, 3, 4, 5), name="x")
    return k.Model(x, [o.logsumexp(x, axis=-1, keepdims=True), o.logsumexp(x, axis=(2, 3)),
                       o.where(o.greater(x, 0.0), x, o.mean(x, axis=1, keepdims=True))])


def _keras_inputs(model, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Special values in the first run only: the webgl check reads the last, and webgl's Max of an all -Inf row
    and Log of a zero the GPU made are documented special-value deviations (docs/backends.md)."""
    x = rng.standard_normal((batch, 2, 3, 4, 5)).astype("float32")
    if batch > 1:
        x[0, 0, 0, 0] = -np.inf  # a row of -inf: its max is not finite, the shift 0, the result -inf
        x[-1, 1, 2, 3, 4] = np.inf
    return {"x": x}


KERAS_CASES = [("logsumexp", "keras3.keras")]
converted = converted_fixture("select_rank_s20", KERAS_CASES, two_size_saver(
    {"logsumexp": logsumexp_family}, at_runs(_keras_inputs, [(3,), (1,)]), seed=2001))


@each_case(KERAS_CASES)
def test_keras3_logsumexp_rank5_lowers_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@each_case(KERAS_CASES)
def test_keras3_logsumexp_rank5_runs_on_webgl(converted, browser, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_last_run_on_webgl(path, runs, browser)
