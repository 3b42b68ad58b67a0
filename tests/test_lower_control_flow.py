"""Functional While/If/Case lowered to v1 frames by the IR pass ``lower_control_flow``, run in real TF.js.

The IR with functional ops and their bodies comes from today's TF path with ``--control_flow_v2``
(``freeze`` + ``graph_from_frozen``, bodies from ``attach_control_flow_bodies``); the pass lowers it
without Grappler, the graph model runs in TF.js (cpu, wasm) and must give what ``tf.function``
gives. The same function lowered by Grappler (the TF path's default) gives the node counts to
compare with; the backend contract must accept the result on cpu, wasm and webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.errors import UnsupportedOpsError
from tfjsconv.ir import FuncAttr, Graph
from tfjsconv.passes.lower_control_flow import (
    FUNCTIONAL_OPS,
    ControlFlowLoweringError,
    lower_control_flow,
)

RTOL, ATOL = 1e-5, 1e-6
#: webgl's Sin (GLSL, SwiftShader) is off by ~1e-5 relative, and the ``branches`` loop takes it twice and doubles:
#: 1e-4 measured. A wrong branch or frame is off by O(1).
WEBGL_RTOL = 1e-3
V1_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"}


def _functions():
    """name -> (tf.function with an input signature, list of input dicts to check it on)."""
    import tensorflow as tf

    rng = np.random.default_rng(15)
    w_value = rng.normal(size=(3, 3)).astype(np.float32) * 0.5
    x = rng.normal(size=(2, 3)).astype(np.float32)
    spec = tf.TensorSpec([None, 3], tf.float32, name="x")

    @tf.function(input_signature=[spec])
    def loop_vars(x):
        """Five loop variables: a counter, a matmul accumulator, a growing one (its row count read in the
        body), a loop-invariant one and one the body resets to a constant."""
        w = tf.constant(w_value)

        def body(i, acc, grow, scale, reset):
            rows = tf.cast(tf.shape(grow)[0], tf.float32)
            return (i + 1, tf.tanh(tf.matmul(acc, w) * scale + reset * rows), tf.concat([grow, acc[:1]], 0),
                    scale, tf.constant(0.25))
        i, acc, grow, scale, reset = tf.while_loop(
            lambda i, *_: i < 4, body, [tf.constant(0), x, x, tf.reduce_mean(x) + 1.0, tf.constant(1.0)],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, 3]), tf.TensorShape([None, 3]),
                              tf.TensorShape([]), tf.TensorShape([])])
        return {"count": i, "acc": acc, "grow": grow, "scale": scale, "reset": reset}

    @tf.function(input_signature=[spec])
    def nested(x):
        """Loops three deep; the inner bound set by the outer counter; inner counters start at a constant."""
        w = tf.constant(w_value)

        def outer(i, acc):
            def middle(j, a):
                def inner(k, b):
                    return k + 1, b * 0.9 + tf.cast(i + j * k, tf.float32) * 0.1
                _, a = tf.while_loop(lambda k, b: k < 2, inner, [tf.constant(0), a])
                return j + 1, tf.matmul(a, w) + x
            _, acc = tf.while_loop(lambda j, a: j < i + 1, middle, [tf.constant(0), acc])
            return i + 1, tf.tanh(acc)
        _, y = tf.while_loop(lambda i, a: i < 3, outer, [tf.constant(0), x])
        return {"y": y}

    @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32, name="k")])
    def branches(x, k):
        """tf.cond with both branches (one only reading x's shape, two constant ones), tf.switch_case (an
        index out of range takes the last branch), a cond and a switch_case inside a loop, a loop in a cond."""
        a = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: tf.ones_like(x))
        b = tf.cond(k > 0, lambda: tf.constant([1.0, 2.0, 3.0]), lambda: tf.constant([4.0, 5.0, 6.0]))
        c = tf.switch_case(k, [lambda: x + 1.0, lambda: x * 3.0, lambda: tf.sin(x) - 5.0])

        def body(i, acc):
            acc = tf.cond(i % 2 == 0, lambda: acc * 0.5 + 1.0, lambda: acc - 1.0)
            acc = tf.switch_case(i % 4, [lambda: acc + 1.0, lambda: acc * 2.0, lambda: tf.sin(acc)])
            return i + 1, acc
        _, d = tf.while_loop(lambda i, a: i < 6, body, [tf.constant(0), x])
        e = tf.cond(tf.reduce_max(x) > 0,
                    lambda: tf.while_loop(lambda j, a: j < 3, lambda j, a: (j + 1, a * 1.5 - x), [tf.constant(0), x])[1],
                    lambda: -x)
        return {"a": a, "b": b, "c": c, "d": d, "e": e}

    @tf.function(input_signature=[spec])
    def tensor_list(x):
        """An inner loop writing an outer loop variable, scaled, into a TensorArray the outer body creates."""
        from tf_models import nested_tensor_array_loops

        return {"y": nested_tensor_array_loops(x)}

    return {  # name -> (function, inputs to check, whether freezing keeps its functional ops)
        "loop_vars": (loop_vars, [{"x": x}], True),
        "nested": (nested, [{"x": x}], True),
        # freezing lowers Case to _SwitchN even with --control_flow_v2: this one is read from the function graph
        "branches": (branches, [{"x": x, "k": np.int32(-1)}, {"x": -np.abs(x), "k": np.int32(1)}], False),
        # freezing with --control_flow_v2 refuses a nested body writing a TensorList (TF.js would dispose the value)
        "tensor_list": (tensor_list, [{"x": x}], False),
    }


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("tensorflow")
    return _functions()


def functional_ir(fn, frozen: bool = True) -> Graph:
    """The IR of ``fn`` with functional control flow, plus the IR bodies of its functions: through the TF
    path with --control_flow_v2 (``frozen``), or the TF path's translation of the (unfrozen) function graph."""
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.savedmodel.freeze import freeze
    from tfjsconv.plugins.savedmodel.functions import attach_control_flow_bodies
    from tfjsconv.plugins.savedmodel.pipeline import graph_from_frozen
    from tfjsconv.passes.frontend import run_frontend_passes
    from tfjsconv.plugins.savedmodel.translate import graph_from_tf_graph

    concrete = fn.get_concrete_function()
    if frozen:
        result = freeze(concrete, control_flow_v2=True)
        graph = graph_from_frozen(result, ConvertOptions(control_flow_v2=True))
        attach_control_flow_bodies(graph, result.library)
        return graph
    assert not concrete.captured_inputs
    outputs = dict(zip(sorted(concrete.structured_outputs), (t.name for t in concrete.outputs)))
    graph = graph_from_tf_graph(concrete.graph, {t.op.name: t.name for t in concrete.inputs}, outputs)
    run_frontend_passes(graph)
    attach_control_flow_bodies(graph, concrete.graph.as_graph_def().library)
    return graph


def expected_outputs(fn, inputs):
    return {k: v.numpy() for k, v in fn(**inputs).items()}


def node_count(doc) -> int:
    return len(doc["modelTopology"]["node"])


@pytest.fixture(scope="module")
def converted(models, tmp_path_factory):
    """name -> (graph model folder, ConversionResult): the functional IR converted with --control_flow_v2 off,
    so the registered pass lowers it; the contract checks cpu, wasm and webgl."""
    root, done = tmp_path_factory.mktemp("lowered"), {}

    def get(name: str):
        if name not in done:
            fn, _, frozen = models[name]
            graph = functional_ir(fn, frozen)
            assert {n.op for n in graph} & FUNCTIONAL_OPS and graph.functions
            done[name] = (root / name, tfjsconv.convert(graph, root / name, target_backends=["cpu", "wasm", "webgl"]))
        return done[name]

    return get


@pytest.mark.node
@pytest.mark.parametrize("name", ["loop_vars", "nested", "branches", "tensor_list"])
def test_lowered_control_flow_matches_tf_in_tfjs(name, models, converted, tmp_path, tfjs_runtime):
    from tfjsconv.ops.backends import BackendContract
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.savedmodel.pipeline import graph_from_function
    from tfjsconv.verify.compare import verify_model

    fn, input_sets, _ = models[name]
    out, result = converted(name)
    doc = json.loads((out / "model.json").read_text())
    ops = {n["op"] for n in doc["modelTopology"]["node"]}
    assert not ops & FUNCTIONAL_OPS and {"Enter", "Merge", "Switch"} <= ops
    assert not doc["modelTopology"].get("library", {}).get("function")
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["lower_control_flow"] >= 1
    report = BackendContract.load().report(doc["modelTopology"], ["cpu", "wasm", "webgl"])
    assert all(r["runs"] for r in report.values()), report
    for inputs in input_sets:
        expected = expected_outputs(fn, inputs)
        check = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL,
                             quiet=True)
        assert check.passed, check.failures
        assert {c.backend for c in check.comparisons} == {"cpu", "wasm"}
    # Grappler's v1 lowering of the same function (the TF path's default), through the same passes
    try:
        tfjsconv.convert(graph_from_function(fn.get_concrete_function(), ConvertOptions()), tmp_path / "grappler")
    except UnsupportedOpsError as err:  # should not happen: the switch_n pass turns TF's _SwitchN into Switches
        pytest.fail(f"Grappler's lowering of {name} did not convert: {err}")
    theirs = json.loads((tmp_path / "grappler" / "model.json").read_text())
    ours_count, their_count = node_count(doc), node_count(theirs)
    print(f"{name}: {ours_count} nodes lowered by the IR pass, {their_count} by Grappler")
    # branches: each If/Case branch gets its own pivot Identity and anchored outputs (Grappler shares one
    # _SwitchN per argument), about a third more nodes; loops stay within a quarter
    assert ours_count <= their_count * (1.4 if name == "branches" else 1.25) + 4


@pytest.mark.node
@pytest.mark.parametrize("name", ["nested", "branches"])
def test_lowered_control_flow_on_webgl(name, models, converted, browser):
    """The same models on webgl in headless Chromium: frames and Switch chains need no backend kernel."""
    from tfjsconv.verify.compare import verify_model

    fn, input_sets, _ = models[name]
    out, _ = converted(name)
    for inputs in input_sets:
        report = verify_model(out, inputs, expected_outputs(fn, inputs), backends=("webgl",), rtol=WEBGL_RTOL, atol=ATOL,
                              browser_session=browser)
        assert report.passed, report.failures


def test_frames_enters_and_anchors(models):
    """Unique frame names, parallel_iterations kept, invariants as constant Enters, inner loops anchored."""
    graph = functional_ir(models["nested"][0])
    whiles = [n for n in graph if n.op in ("While", "StatelessWhile")]
    parallel = whiles[0].attrs["parallel_iterations"]
    lowered = lower_control_flow(graph)
    assert lowered == 3  # the outer loop, then the middle and inner ones from the inlined bodies
    assert not graph.functions and not graph.library and not graph.library_weights
    graph.validate()
    enters = [n for n in graph if n.op == "Enter"]
    frames = {n.attrs["frame_name"] for n in enters}
    assert len(frames) == 3 and all(n.attrs["parallel_iterations"] == parallel for n in enters)
    # x is read by the innermost loops unchanged: a constant Enter, whose reader sees it in every iteration
    assert any(n.attrs["is_constant"] for n in enters)
    # the Enters of the middle and inner loops run once per iteration of the loop around them
    inner = [n for n in enters if not n.attrs["frame_name"].startswith(whiles[0].name + "/while_context")]
    assert inner and all(n.control_inputs for n in inner)
    for enter in inner:
        (pivot,) = enter.control_inputs
        assert pivot.op == "Identity" and pivot.inputs[0].producer.op == "Switch"
    merges = {n for n in graph if n.op == "Merge"}
    assert all(any(v.producer.op == "NextIteration" for v in m.inputs) for m in merges)


def _body(name: str, ops: list[tuple[str, str]], *, resource_arg: bool = False) -> Graph:
    """A function body: one float argument, ``ops`` as (op, node name) nodes reading a resource, returned + arg."""
    body = Graph(name)
    a = body.placeholder("a", DType.FLOAT32, (3,))
    handle = body.placeholder("h", DType.RESOURCE, ()) if resource_arg else None
    out = a
    for op, node_name in ops:
        if op == "VarHandleOp":
            handle = body.add_op("VarHandleOp", [], {"dtype": DType.FLOAT32}, name=node_name, dtype=DType.RESOURCE)
        elif op == "ReadVariableOp":
            read = body.add_op("ReadVariableOp", [handle], {"dtype": DType.FLOAT32}, name=node_name,
                               dtype=DType.FLOAT32, shape=(3,))
            out = body.add_op("AddV2", [out, read], {"T": DType.FLOAT32}, name=f"{node_name}_add",
                              dtype=DType.FLOAT32, shape=(3,))
        else:
            body.add_node(op, [handle, a], {"dtype": DType.FLOAT32}, name=node_name, num_outputs=0)
    body.set_output("out", out)
    return body


def test_stateful_bodies_are_refused_by_node_all_at_once():
    graph = Graph("g")
    x = graph.placeholder("x", DType.FLOAT32, (3,))
    pred = graph.placeholder("p", DType.BOOL, ())
    cond = Graph("loop_cond")
    cond.placeholder("a", DType.FLOAT32, (3,))
    cond.set_output("out", cond.const(np.asarray(False)))
    graph.functions["loop_cond"] = cond
    graph.functions["reads_variable"] = _body("reads_variable", [("VarHandleOp", "v"), ("ReadVariableOp", "read")])
    graph.functions["assigns"] = _body("assigns", [("AssignVariableOp", "assign")], resource_arg=True)
    graph.functions["plain"] = _body("plain", [])
    loop = graph.add_node("While", [x], {"T": [DType.FLOAT32], "cond": FuncAttr("loop_cond"),
                                         "body": FuncAttr("reads_variable"), "parallel_iterations": 10}, name="loop")
    loop.output(0).dtype = DType.FLOAT32
    branch = graph.add_node("If", [pred, loop.output(0)], {"Tcond": DType.BOOL, "then_branch": FuncAttr("plain"),
                                                           "else_branch": FuncAttr("missing")}, name="choose")
    branch.output(0).dtype = DType.FLOAT32
    graph.set_output("y", branch.output(0))
    before = graph.op_histogram()
    with pytest.raises(ControlFlowLoweringError) as caught:
        lower_control_flow(graph)
    message = caught.value.message
    assert caught.value.exit_code == 2 and "\n" not in message
    for part in ("reads_variable/v", "reads_variable/read", "VarHandleOp", "ReadVariableOp", "loop",
                 "choose (else function missing has no IR body)"):
        assert part in message, message
    assert graph.op_histogram() == before  # nothing half-lowered

    graph.functions["missing"] = _body("missing", [])
    graph.functions["reads_variable"] = _body("reads_variable", [])
    branch.attrs["else_branch"] = FuncAttr("assigns")
    branch.inputs.append(x)  # the If now passes a second argument: arity mismatch too
    with pytest.raises(ControlFlowLoweringError) as caught:
        lower_control_flow(graph)
    assert "assigns/assign" in caught.value.message and "AssignVariableOp" in caught.value.message
    assert "passes 2 argument(s)" in caught.value.message


def test_a_body_running_itself_is_refused():
    """A While whose body runs the same While (hostile: lowering would never end) is refused, naming the cycle."""
    graph = Graph("g")
    x = graph.placeholder("x", DType.FLOAT32, (3,))
    cond = Graph("stop")
    cond.placeholder("a", DType.FLOAT32, (3,))
    cond.set_output("out", cond.const(np.asarray(False)))
    body = Graph("again")
    a = body.placeholder("a", DType.FLOAT32, (3,))
    attrs = {"T": [DType.FLOAT32], "cond": FuncAttr("stop"), "body": FuncAttr("again")}
    inner = body.add_node("While", [a], attrs, name="inner")
    inner.output(0).dtype = DType.FLOAT32
    body.set_output("out", inner.output(0))
    graph.functions.update(stop=cond, again=body)
    loop = graph.add_node("While", [x], attrs, name="loop")
    loop.output(0).dtype = DType.FLOAT32
    graph.set_output("y", loop.output(0))
    with pytest.raises(ControlFlowLoweringError, match="again -> again"):
        lower_control_flow(graph)
    assert [n.op for n in graph].count("While") == 1


def test_inlining_that_would_exceed_max_nodes_is_refused():
    """A body run by 3 nested loops, each level running the next one twice: 2^3 copies. Bounded by --max_nodes."""
    from tfjsconv.limits import LimitExceeded
    from tfjsconv.passes.lower_control_flow import lowered_size

    graph = Graph("g")
    x = graph.placeholder("x", DType.FLOAT32, (3,))
    cond = Graph("stop")
    cond.placeholder("a", DType.FLOAT32, (3,))
    cond.set_output("out", cond.const(np.asarray(False)))
    graph.functions["stop"] = cond
    leaf = Graph("level_0")
    a = leaf.placeholder("a", DType.FLOAT32, (3,))
    leaf.set_output("out", leaf.add_op("Neg", [a], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=(3,)))
    graph.functions["level_0"] = leaf
    for level in range(1, 4):
        body = Graph(f"level_{level}")
        value = body.placeholder("a", DType.FLOAT32, (3,))
        for twice in range(2):
            loop = body.add_node("While", [value], {"T": [DType.FLOAT32], "cond": FuncAttr("stop"),
                                                    "body": FuncAttr(f"level_{level - 1}")}, name=f"loop_{twice}")
            value = loop.output(0)
            value.dtype = DType.FLOAT32
        body.set_output("out", value)
        graph.functions[f"level_{level}"] = body
    top = graph.add_node("While", [x], {"T": [DType.FLOAT32], "cond": FuncAttr("stop"), "body": FuncAttr("level_3")},
                         name="top")
    top.output(0).dtype = DType.FLOAT32
    graph.set_output("y", top.output(0))
    size = lowered_size(graph)
    assert size > 8 * len(leaf)  # the leaf body is copied 2^3 times
    with pytest.raises(LimitExceeded, match="max_nodes"):
        lower_control_flow(graph, max_nodes=size - 1)
    assert lower_control_flow(graph, max_nodes=size) == 1 + 2 + 4 + 8
    assert len(graph) <= size


def test_pass_is_off_with_control_flow_v2(models):
    from tfjsconv.options import ConvertOptions
    from tfjsconv.passes.lower_control_flow import LowerControlFlow

    assert not LowerControlFlow().enabled(ConvertOptions(control_flow_v2=True))
    assert LowerControlFlow().enabled(ConvertOptions())
    graph = functional_ir(models["loop_vars"][0])
    assert LowerControlFlow().run(graph).rewrites == 1
    assert not {n.op for n in graph} & FUNCTIONAL_OPS and V1_OPS <= {n.op for n in graph}
    assert LowerControlFlow().run(graph).rewrites == 0


def _graph_body(name: str, build) -> Graph:
    """A function body with one float (2, 3) argument ``a``; ``build(body, a)`` returns its outputs."""
    body = Graph(name)
    a = body.placeholder("a", DType.FLOAT32, (2, 3))
    for key, value in build(body, a).items():
        body.set_output(key, value)
    return body


@pytest.mark.node
def test_bodies_returning_constants_directly(tmp_path, tfjs_runtime):
    """Bodies whose outputs are Consts, not Identities (as a FunctionDef read without TF may have them): the
    untaken branch's constant must not reach the Merge, and a loop variable reset to a constant must
    step once per iteration. Expected values from TF's own tf.cond / tf.while_loop."""
    import tensorflow as tf

    from tfjsconv.verify.compare import verify_model

    c = np.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    f32 = {"T": DType.FLOAT32}
    graph = Graph("consts")
    x = graph.placeholder("x", DType.FLOAT32, (2, 3))
    p = graph.placeholder("p", DType.BOOL, ())
    graph.functions["then_const"] = _graph_body("then_const", lambda b, a: {"out": b.const(c, name="c")})
    graph.functions["else_double"] = _graph_body("else_double", lambda b, a: {
        "out": b.add_op("Mul", [a, b.const(np.float32(2.0))], f32, dtype=DType.FLOAT32, shape=(2, 3))})
    branch = graph.add_node("StatelessIf", [p, x], {"Tcond": DType.BOOL, "Tin": [DType.FLOAT32],
                                                    "Tout": [DType.FLOAT32], "then_branch": FuncAttr("then_const"),
                                                    "else_branch": FuncAttr("else_double")}, name="choose")
    branch.output(0).dtype, branch.output(0).shape = DType.FLOAT32, (2, 3)

    def loop_body(b: Graph) -> Graph:
        i = b.placeholder("i", DType.INT32, ())
        a = b.placeholder("a", DType.FLOAT32, (2, 3))
        r = b.placeholder("r", DType.FLOAT32, ())
        b.set_output("i", b.add_op("AddV2", [i, b.const(np.int32(1))], {"T": DType.INT32}, dtype=DType.INT32, shape=()))
        b.set_output("a", b.add_op("AddV2", [a, r], f32, dtype=DType.FLOAT32, shape=(2, 3)))
        b.set_output("r", b.const(np.float32(0.5), name="reset"))
        return b

    def loop_cond(b: Graph) -> Graph:
        i = b.placeholder("i", DType.INT32, ())
        b.placeholder("a", DType.FLOAT32, (2, 3))
        b.placeholder("r", DType.FLOAT32, ())
        b.set_output("go", b.add_op("Less", [i, b.const(np.int32(3))], {"T": DType.INT32}, dtype=DType.BOOL, shape=()))
        return b

    graph.functions["body"], graph.functions["cond"] = loop_body(Graph("body")), loop_cond(Graph("cond"))
    loop = graph.add_node("StatelessWhile", [graph.const(np.int32(0)), branch.output(0), graph.const(np.float32(4.0))],
                          {"T": [DType.INT32, DType.FLOAT32, DType.FLOAT32], "cond": FuncAttr("cond"),
                           "body": FuncAttr("body"), "parallel_iterations": 4}, name="loop", num_outputs=3)
    for value, dtype, shape in zip(loop.outputs, (DType.INT32, DType.FLOAT32, DType.FLOAT32), ((), (2, 3), ())):
        value.dtype, value.shape = dtype, shape
    single = graph.add_node("StatelessCase", [graph.const(np.int32(5)), x],  # index out of range: the last branch
                            {"Tin": [DType.FLOAT32], "Tout": [DType.FLOAT32],
                             "branches": [FuncAttr("else_double")]}, name="only_case")
    single.output(0).dtype, single.output(0).shape = DType.FLOAT32, (2, 3)
    graph.set_output("single", single.output(0))
    graph.set_output("chosen", branch.output(0))
    graph.set_output("looped", loop.output(1))
    tfjsconv.convert(graph, tmp_path / "web")

    x_value = np.random.default_rng(3).normal(size=(2, 3)).astype(np.float32)
    for taken in (True, False):
        chosen = tf.cond(tf.constant(taken), lambda: tf.constant(c), lambda: tf.constant(x_value) * 2.0)
        _, looped, _ = tf.while_loop(lambda i, a, r: i < 3, lambda i, a, r: (i + 1, a + r, tf.constant(0.5)),
                                     [tf.constant(0), chosen, tf.constant(4.0)])
        single = tf.switch_case(tf.constant(5), [lambda: tf.constant(x_value) * 2.0])
        expected = {"chosen": np.asarray(chosen), "looped": np.asarray(looped), "single": np.asarray(single)}
        check = verify_model(tmp_path / "web", {"x": x_value, "p": np.bool_(taken)}, expected, backends=("cpu", "wasm"),
                             rtol=RTOL, atol=ATOL, quiet=True)
        assert check.passed, (taken, check.failures)


@pytest.mark.parametrize("known_shape", [True, False], ids=["shape_known", "rank_unknown"])
def test_if_condition_truth_follows_tf(tmp_path, tfjs_runtime, known_shape):
    """TF's ``If``: a scalar is true when true or not 0 (NaN too); any other tensor when it has elements,
    whatever their values. TF.js's ``Switch`` reads the first element only, so the pass builds the truth."""
    import tensorflow as tf

    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.lower_control_flow import _if_predicate
    from tfjsconv.verify.compare import format_report, verify_model

    then = tf.function(lambda: tf.constant(1.0), autograph=False).get_concrete_function()
    other = tf.function(lambda: tf.constant(0.0), autograph=False).get_concrete_function()
    cases = [np.array([False]), np.array([], bool), np.array(False), np.array(True), np.array([[False, False]]),
             np.array([0.0, 0.0], np.float32), np.array(0.0, np.float32), np.array(np.nan, np.float32),
             np.array(3, np.int32), np.zeros((0, 2), np.float32)]
    for k, cond in enumerate(cases):
        taken = tf.raw_ops.If(cond=tf.constant(cond), input=[], Tout=[tf.float32], then_branch=then,
                              else_branch=other)[0].numpy()
        g = Graph(f"if_truth_{k}")
        dtype = DType.from_any(cond.dtype)
        c = g.placeholder("c", dtype, cond.shape if known_shape else None)
        truth = _if_predicate(g, c, "if")
        g.set_output("taken", g.add_op("Cast", [truth], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32},
                                       name="taken", dtype=DType.FLOAT32, shape=()))
        out = tmp_path / f"case_{k}"
        tfjsconv.convert(g, out)
        report = verify_model(out, {"c": cond}, {"taken": np.asarray(taken, np.float32)}, backends=("cpu", "wasm"),
                              quiet=True)
        assert report.passed, f"{cond!r}: {format_report(report)}"
