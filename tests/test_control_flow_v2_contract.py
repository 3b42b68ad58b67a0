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


# -- review R5 (session 24): ranks made inside a body, empty broadcasts and gathers, debug ops, softmax ---------------
def r5_module() -> tf.Module:
    """Kept bodies R5 found converting to wrong numbers or crashes (rank-7 Reshape, BroadcastTo/GatherV2 over sizes
    0 at run time, an Assert on the TF loader) or refused though exact (a softmax's size-6 axis reduced)."""

    class R5(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def rank7(self, x):
            def body(i, a):
                y = tf.reshape(a, [2, 2, 2, 2, 2, 2, 2])
                return i + 1, tf.reshape(y * y + y, tf.shape(a))

            return {"a": tf.while_loop(lambda i, a: i < 2, body, (tf.constant(0), x))[1]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def broadcast_empty(self, x):
            n = tf.shape(x)[0]

            def body(i, acc):
                b = tf.broadcast_to(tf.ones((1, 3)), tf.stack([n, 3]))
                return i + 1, acc + tf.cast(tf.shape(b)[0], tf.float32)

            return {"a": tf.while_loop(lambda i, a: i < 2, body, (tf.constant(0), tf.constant(0.0)))[1]}

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32)])
        def gather_empty(self, x):
            def body(i, acc):
                g = tf.gather(x, [1, 4], axis=1)
                return i + 1, acc + tf.cast(tf.shape(g)[0] + tf.size(tf.shape(g)), tf.float32)

            return {"a": tf.while_loop(lambda i, a: i < 2, body, (tf.constant(0), tf.constant(0.0)))[1]}

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32)])
        def asserted(self, x):
            def body(i, acc):
                with tf.control_dependencies([tf.debugging.assert_greater(i, -1)]):
                    y = tf.nn.softmax(x * tf.cast(i, tf.float32), axis=-1)
                return i + 1, acc + tf.reduce_mean(y, axis=1) + tf.reduce_min(y, axis=-1)

            return {"a": tf.while_loop(lambda i, a: i < 3, body, (tf.constant(0), tf.zeros_like(x[:, 0])))[1]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
        def one_hot(self, x):
            def body(i, acc):
                return i + 1, acc + tf.one_hot(x, 3)

            start = (tf.constant(0), tf.zeros(tf.stack([tf.shape(x)[0], 3])))
            return {"a": tf.while_loop(lambda i, a: i < 2, body, start)[1]}

    return R5()


R5_CASES = ("rank7", "broadcast_empty", "gather_empty", "asserted", "one_hot")


@pytest.fixture(scope="module")
def r5_saved(tmp_path_factory):
    root, module = tmp_path_factory.mktemp("cfv2_r5"), r5_module()
    for name in R5_CASES:
        tf.saved_model.save(module, str(root / name), signatures={"serving_default": getattr(module, name)})
    return {name: root / name for name in R5_CASES}


def matches_tf(saved_model: Path, out: Path, inputs: dict, loader: str, backends=("cpu", "wasm")) -> None:
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    options = ConvertOptions.from_kwargs(control_flow_v2=True, loader=loader)
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(saved_model, inputs, options)
    report = verify_model(out, inputs, expected, backends=backends, rtol=1e-5, atol=1e-5)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == set(backends)


def refused(saved_model: Path, out: Path, loader: str) -> set[tuple[str, str, str]]:
    """(op, backend, reason) of every problem converting with --control_flow_v2 (it must refuse, writing nothing)."""
    with pytest.raises(BackendUnsupportedError) as raised:
        tfjsconv.convert(saved_model, out, control_flow_v2=True, loader=loader)
    assert not out.exists() and len(raised.value.message.splitlines()) == 1
    assert all("/" in p.node for p in raised.value.problems)
    return {(p.op, p.backend, p.reason) for p in raised.value.problems}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_rank_a_body_reshape_makes_is_checked(loader, r5_saved, tmp_path, tfjs_runtime):
    """A body reshaping to rank 7 gave 128 of 128 wrong values on wasm and crashed webgl: the Reshape's constant
    shape now gives the rank, so AddV2/Mul are refused there by the contract's rank-7 rows; cpu runs it as TF."""
    problems = refused(r5_saved["rank7"], tmp_path / "web", loader)
    assert {(op, backend) for op, backend, _ in problems} == {(op, b) for op in ("AddV2", "Mul") for b in ("wasm", "webgl")}
    assert all("maxrank:7=true" in reason for _, _, reason in problems)
    tfjsconv.convert(r5_saved["rank7"], tmp_path / "cpu", control_flow_v2=True, loader=loader, target_backends=["cpu"])
    x = np.random.RandomState(5).randn(128).astype(np.float32)
    matches_tf(r5_saved["rank7"], tmp_path / "cpu", {"x": x}, loader, backends=("cpu",))


def test_an_unknown_rank_in_a_body_refuses_the_rank_rows():
    """A Reshape to a run-time shape of unknown length leaves its rank unknown: a rank-row op reading it is refused,
    named, where its rank would decide (wasm's rank-7 binary ops), and one reading known ranks is not."""
    from tfjsconv.ir import Graph
    from tfjsconv.ops.backends import BackendContract

    graph = Graph("kept")
    graph.library.append({
        "signature": {"name": "body", "inputArg": [{"name": "x", "type": "DT_FLOAT"},
                                                    {"name": "dims", "type": "DT_INT32"}]},
        "argAttr": {"0": {"attr": {"_output_shapes": {"list": {"shape": [{"dim": [{"size": "-1"}]}]}}}}},
        "nodeDef": [{"name": "y", "op": "Reshape", "input": ["x", "dims"], "attr": {"T": {"type": "DT_FLOAT"}}},
                    {"name": "z", "op": "Mul", "input": ["y:output:0", "y:output:0"],
                     "attr": {"T": {"type": "DT_FLOAT"}}},
                    {"name": "w", "op": "Mul", "input": ["x", "x"], "attr": {"T": {"type": "DT_FLOAT"}}}]})
    problems = {(p.node, p.backend): p.reason for p in BackendContract.load().unsupported(graph, ["cpu", "wasm"])}
    assert set(problems) == {("body/z", "wasm")}, problems
    assert problems[("body/z", "wasm")].startswith("rank unknown (at maxrank:")


@pytest.mark.parametrize("loader", LOADERS)
def test_empty_broadcasts_and_gathers_in_a_body_are_refused(loader, r5_saved, tmp_path, tfjs_runtime):
    """BroadcastTo of a size 1 to a run-time 0 (TF.js returns the input: 2.0 for TF's 0.0) and GatherV2 over params
    empty at run time (wasm answers its internal shape: 6.0 for TF's 4.0) are refused where the passes that fix them
    in the main graph cannot reach; the gather converts for cpu and runs as TF."""
    problems = refused(r5_saved["broadcast_empty"], tmp_path / "b", loader)
    assert {(op, backend) for op, backend, _ in problems} == {("BroadcastTo", b) for b in ("cpu", "wasm", "webgl")}
    assert all("empty_broadcast pass does not reach: drop --control_flow_v2" in reason for *_, reason in problems)
    problems = refused(r5_saved["gather_empty"], tmp_path / "g", loader)
    assert {(op, backend) for op, backend, _ in problems} == {("GatherV2", "wasm")}
    assert all("empty_gather pass does not reach: drop --control_flow_v2" in reason for *_, reason in problems)
    out = tmp_path / "g_cpu"
    tfjsconv.convert(r5_saved["gather_empty"], out, control_flow_v2=True, loader=loader, target_backends=["cpu"])
    matches_tf(r5_saved["gather_empty"], out, {"x": np.zeros((0, 5), np.float32)}, loader, backends=("cpu",))


@pytest.mark.parametrize("loader", LOADERS)
def test_asserts_are_stripped_and_softmax_reductions_kept_in_bodies(loader, r5_saved, tmp_path, tfjs_runtime):
    """An Assert under a body's control dependency reached TF.js ("Unknown op 'Assert'" on the TF loader): it is
    stripped from the FunctionDef with its control edges. The softmax's size-6 axis is carried to the Mean/Min, which
    converted only refused before; TF's numbers on cpu and wasm."""
    out = tmp_path / "web"
    tfjsconv.convert(r5_saved["asserted"], out, control_flow_v2=True, loader=loader)
    functions = library(out)
    ops = {n["op"] for f in functions for n in f["nodeDef"]}
    assert {"Softmax", "Mean", "Min"} <= ops and not ops & {"Assert", "CheckNumerics", "Print", "PrintV2"}
    names = {n["name"] for f in functions for n in f["nodeDef"]}
    assert all(ref.lstrip("^").split(":")[0] in names | {a["name"] for f in functions
                                                          for a in f["signature"].get("inputArg", [])}
               for f in functions for n in f["nodeDef"] for ref in n.get("input", []))
    x = np.random.RandomState(7).randn(4, 6).astype(np.float32)
    matches_tf(r5_saved["asserted"], out, {"x": x}, loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_a_one_hot_in_a_body_names_the_lowering(loader, r5_saved, tmp_path):
    """wasm's OneHot of float values is wrong; one_hot_values fixes it in the main graph only: the refusal says so."""
    problems = refused(r5_saved["one_hot"], tmp_path / "web", loader)
    assert {(op, backend) for op, backend, _ in problems} == {("OneHot", "wasm")}
    assert any("one_hot_values pass does not reach: drop --control_flow_v2" in reason for *_, reason in problems)
