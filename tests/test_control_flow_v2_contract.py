"""The backend contract and the core's rewrite/guard passes inside ``--control_flow_v2`` function bodies.

With ``--control_flow_v2`` a While/If body is written verbatim as a FunctionDef (``Graph.library``). Its nodes had no
input dtypes in the contract check and no pass walked them, so an int32 → bool ``Cast`` in a loop body went out as it
was, and wasm's Cast to bool copies the values (2 stays 2, -1 becomes 255): wrong numbers, silently (session 23, H6).
Now the check types library nodes from the signature and TF's OpDefs, ``cast_to_bool`` rewrites such a cast there as
``NotEqual(x, 0)``, and what another pass would have rewritten or guarded is refused, naming function/node, op and
backend. Checked against TensorFlow running the SavedModel, in TF.js cpu and wasm, on both SavedModel readers.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

#: Values whose cast to bool wasm's byte copy gets wrong (2 stays 2, -1 → 255, 256 → false).
INTS = np.array([0, 1, 2, -1, 256, 3, -256, 7], np.int32)
FLOATS = np.array([0.5, -0.0, 2.0, 1e-30, 0.0, -1.0, -0.25, 3.5], np.float32)
LOADERS = ("tensorflow", "auto")


def casts_module() -> tf.Module:
    """A while loop casting int32 values to bool in its body, and a cond casting float32 values to bool."""

    class Casts(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)])
        def serve(self, x, f):
            def body(i, acc):
                return i + 1, acc + tf.cast(tf.cast(x * i, tf.bool), tf.float32)

            _, counted = tf.while_loop(lambda i, a: i < 3, body, (tf.constant(1), tf.zeros_like(f)))
            picked = tf.cond(tf.reduce_sum(x) > -1000, lambda: tf.cast(tf.cast(f * 2.0, tf.bool), tf.float32),
                             lambda: tf.zeros_like(f))
            return {"counted": counted, "picked": picked}

    return Casts()


def power_module() -> tf.Module:
    """A while loop raising int32 values to a power in its body (TF.js's int32 Pow goes through a float power)."""

    class Power(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
        def serve(self, x):
            def body(i, acc):
                return i + 1, acc + tf.math.pow(x, i)

            _, out = tf.while_loop(lambda i, a: i < 3, body, (tf.constant(1), tf.zeros_like(x)))
            return {"out": out}

    return Power()


def pad_module() -> tf.Module:
    """A tf.cond branch padding by a run-time amount (TF raises on a negative one, TF.js crops silently)."""

    class PadInBranch(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            n = 6 - tf.shape(x)[0]
            return {"out": tf.cond(tf.reduce_min(x) > -1e9, lambda: tf.pad(x, [[0, n]]), lambda: x + 1.0)}

    return PadInBranch()


def reductions_module() -> tf.Module:
    """A while loop whose body sums and maxes over axis 1 (size 4, static), of a product with the loop counter,
    and one that maxes a vector its body shortens (its size is [None] for TF: 0 on the last pass)."""

    class Reductions(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            def body(i, acc, top):
                y = x * tf.cast(i, tf.float32)
                return i + 1, acc + tf.reduce_sum(y, axis=1), tf.maximum(top, tf.reduce_max(y, axis=-1))

            start = (tf.constant(1), tf.zeros_like(x[:, 0]), tf.fill(tf.shape(x)[:1], -1e9))
            _, summed, top = tf.while_loop(lambda i, a, t: i < 3, body, start)
            return {"summed": summed, "top": top}

        @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
        def shrink(self, x):
            def body(i, v, acc):
                return i + 1, v[1:], acc + tf.reduce_max(v, axis=0)

            invariants = (tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([]))
            _, _, out = tf.while_loop(lambda i, v, a: i < 4, body, (tf.constant(0), x, tf.constant(0.0)),
                                      shape_invariants=invariants)
            return {"out": out}

    return Reductions()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfv2_contract")
    paths = {}
    reductions = reductions_module()
    for name, fn in (("reductions", reductions.serve), ("shrink", reductions.shrink)):
        tf.saved_model.save(reductions, str(root / name), signatures={"serving_default": fn})
        paths[name] = root / name
    for name, make in (("casts", casts_module), ("power", power_module), ("pad", pad_module)):
        module = make()
        tf.saved_model.save(module, str(root / name), signatures={"serving_default": module.serve})
        paths[name] = root / name
    return paths


def library(out: Path) -> list[dict]:
    return json.loads((out / "model.json").read_text())["modelTopology"]["library"]["function"]


def bool_casts(functions: list[dict]) -> list[str]:
    return [f"{f['signature']['name']}/{n['name']}" for f in functions for n in f["nodeDef"]
            if n["op"] == "Cast" and n["attr"]["DstT"]["type"] == "DT_BOOL"]


@pytest.mark.parametrize("loader", LOADERS)
def test_casts_to_bool_in_kept_bodies_match_tf(loader, saved, tmp_path, tfjs_runtime):
    """Rewritten as NotEqual inside the kept While body and If branch: TF's numbers on cpu and wasm."""
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    out = tmp_path / "web"
    flags = {"control_flow_v2": True, "loader": loader}
    tfjsconv.convert(saved["casts"], out, **flags)
    functions = library(out)
    assert bool_casts(functions) == []
    assert sum(n["op"] == "NotEqual" for f in functions for n in f["nodeDef"]) >= 2
    inputs = {"x": INTS, "f": FLOATS}
    options = ConvertOptions.from_kwargs(**flags)
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(saved["casts"], inputs, options)
    assert expected["counted"].max() == 2.0 and expected["picked"][2] == 1.0  # the values matter
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=0, atol=0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}


@pytest.mark.parametrize("loader", LOADERS)
def test_without_the_rewrite_the_kept_cast_is_refused(loader, saved, tmp_path):
    """The contract's rows fire for library nodes: the int32 and float32 casts are named function/node on wasm."""
    with pytest.raises(BackendUnsupportedError) as raised:
        tfjsconv.convert(saved["casts"], tmp_path / "web", control_flow_v2=True, loader=loader,
                         skip_passes=["cast_to_bool"])
    problems = {(p.op, p.backend, p.reason.split(" ")[0]) for p in raised.value.problems}
    assert problems == {("Cast", "wasm", "input:0=int32,"), ("Cast", "wasm", "input:0=float32,")}
    assert all("/" in p.node and p.node.split("/")[0] for p in raised.value.problems)
    where = sorted(p.node for p in raised.value.problems)
    assert "cond_true" in where[0] and "while_body" in where[1] and all(n.endswith("/Cast") for n in where), where
    tfjsconv.convert(saved["casts"], tmp_path / "cpu", control_flow_v2=True, loader=loader,
                     skip_passes=["cast_to_bool"], target_backends=["cpu"])
    assert len(bool_casts(library(tmp_path / "cpu"))) == 2  # gated by the targets: cpu casts right


@pytest.mark.parametrize("loader", LOADERS)
def test_a_pass_that_does_not_reach_kept_bodies_refuses_by_name(loader, saved, tmp_path, capsys):
    """int32 Pow in a kept body: int32_power rewrites it in the main graph only, so the CLI refuses it, one line,
    exit 2, naming function/node, op, backends and the hint; without --control_flow_v2 it converts."""
    from tfjsconv.cli import main

    code = main(["convert", str(saved["power"]), str(tmp_path / "refused"), "--control_flow_v2", "--quiet",
                 f"--loader={loader}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1, err
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "Pow on cpu/wasm/webgl (int32 Pow goes through a float power" in line
    assert "int32_power pass does not reach: drop --control_flow_v2" in line
    assert "while_body" in line and "/while/Pow" in line
    assert not (tmp_path / "refused").exists()
    assert main(["convert", str(saved["power"]), str(tmp_path / "lowered"), "--quiet", f"--loader={loader}"]) == 0


@pytest.mark.parametrize("loader", LOADERS)
def test_run_time_paddings_in_a_kept_branch_are_refused(loader, saved, tmp_path):
    """pad_guard makes a negative run-time padding fail in the main graph; in a kept If branch it cannot, so the Pad
    is refused on every target, named function/node; the default lowering converts it."""
    with pytest.raises(BackendUnsupportedError) as raised:
        tfjsconv.convert(saved["pad"], tmp_path / "web", control_flow_v2=True, loader=loader)
    problems = raised.value.problems
    assert {(p.op, p.backend) for p in problems} == {("Pad", b) for b in ("cpu", "wasm", "webgl")}
    assert all("cond_true" in p.node and "pad_guard pass does not reach" in p.reason for p in problems)
    assert len(raised.value.message.splitlines()) == 1 and raised.value.exit_code == 2
    tfjsconv.convert(saved["pad"], tmp_path / "lowered", loader=loader)


def test_a_dtype_the_check_cannot_tell_refuses():
    """A library node whose input dtype neither its attrs nor its producer give is refused where a row depends on it
    (wasm's Cast to bool); the one typed through the signature's argument is named with its dtype."""
    from tfjsconv.ir import Graph
    from tfjsconv.ops.backends import BackendContract

    graph = Graph("kept")
    graph.library.append({
        "signature": {"name": "body", "inputArg": [{"name": "x", "type": "DT_INT32"}]},
        "nodeDef": [{"name": "mystery", "op": "NotAnOpTfKnows", "input": ["x"]},
                    {"name": "untyped", "op": "Cast", "input": ["mystery"], "attr": {"DstT": {"type": "DT_BOOL"}}},
                    {"name": "typed", "op": "Cast", "input": ["x"], "attr": {"DstT": {"type": "DT_BOOL"}}},
                    {"name": "as_float", "op": "Cast", "input": ["typed:y:0"],
                     "attr": {"DstT": {"type": "DT_FLOAT"}}}]})
    problems: dict[tuple[str, str], list[str]] = {}
    for p in BackendContract.load().unsupported(graph, ["cpu", "wasm"]):
        problems.setdefault((p.node, p.backend), []).append(p.reason)
    assert set(problems) == {("body/untyped", "cpu"), ("body/untyped", "wasm"), ("body/typed", "wasm")}, problems
    untyped = problems[("body/untyped", "wasm")]
    assert "dtype unknown in a kept function (at input:0=int32, attr:DstT=bool it gives a wrong answer)" in untyped
    assert problems[("body/untyped", "cpu")] == [  # an unknown input may be a string tensor, which no Cast takes
        "dtype unknown in a kept function (at anyinput:string=true it throws)"]
    assert problems[("body/typed", "wasm")] == ["input:0=int32, DstT=bool gives a wrong answer"]


@pytest.mark.parametrize("loader", LOADERS)
def test_reductions_over_known_non_empty_axes_in_a_kept_body_match_tf(loader, saved, tmp_path, tfjs_runtime):
    """reduce_sum/reduce_max over a static axis of size 4 (the argument shape TF records, carried through the
    broadcasting Mul) cannot meet an empty axis, so the kept body converts and gives TF's numbers on cpu and wasm;
    a reduction of a vector the loop shortens (TF records [None]) is still refused, on every backend."""
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    out = tmp_path / "web"
    flags = {"control_flow_v2": True, "loader": loader}
    tfjsconv.convert(saved["reductions"], out, **flags)
    kept = [n["op"] for f in library(out) for n in f["nodeDef"]]
    assert "Sum" in kept and "Max" in kept  # in the FunctionDef, not lowered
    inputs = {"x": np.random.RandomState(3).randn(5, 4).astype(np.float32)}
    options = ConvertOptions.from_kwargs(**flags)
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(saved["reductions"], inputs,
                                                                                   options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-5)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}

    with pytest.raises(BackendUnsupportedError) as raised:
        tfjsconv.convert(saved["shrink"], tmp_path / "shrink", **flags)
    problems = raised.value.problems
    assert {(p.op, p.backend) for p in problems} == {("Max", b) for b in ("cpu", "wasm", "webgl")}
    assert all("while_body" in p.node and "empty_reductions pass does not reach" in p.reason for p in problems)
