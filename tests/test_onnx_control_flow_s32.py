"""ONNX ``If`` and ``Loop`` with run-time conditions and trip counts (session 32): functional StatelessIf/While
with IR bodies, lowered to TF v1 frames that TF.js runs with ``executeAsync``.

Models are built with ``onnx.helper``; expected values come from onnxruntime; each converted model runs in TF.js
cpu and wasm with inputs taking each branch / several trip counts (0 included). Before session 32 every one of
them was refused ("no TF.js mapping").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.errors import TfjsconvError  # noqa: E402
from test_onnx import ops_of, save  # noqa: E402

RTOL = 1e-5
F, I64, B, F16, U8 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.UINT8


def _vi(name: str, dtype: int, shape: list | None) -> object:
    return helper.make_tensor_value_info(name, dtype, shape)


def _const(name: str, array: np.ndarray) -> object:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array), name + "_v"))


def _model(nodes: list, inputs: list, outputs: list, inits: list = (), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def if_model() -> onnx.ModelProto:
    """``y = x * w + relu(x)`` when ``sum(x) > 0`` else ``(x - 1)`` flattened: branches of other shapes, reading an
    outer initializer and an outer computed tensor."""
    w = numpy_helper.from_array(np.asarray([[0.5, -2.0, 3.0]], np.float32), "w")
    then = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "r"], ["t"])],
                             "then", [], [_vi("t", F, [2, 3])])
    else_ = helper.make_graph([_const("one", np.float32(1)), helper.make_node("Sub", ["x", "one"], ["d"]),
                               _const("flat", np.asarray([-1], np.int64)),
                               helper.make_node("Reshape", ["d", "flat"], ["e"])], "else", [], [_vi("e", F, [6])])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             _const("zero", np.float32(0)), helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=else_)]
    return _model(nodes, [_vi("x", F, [2, 3])], [_vi("y", F, None)], [w])


def loop_model(with_cond: bool = True) -> onnx.ModelProto:
    """A loop over a run-time trip count ``n`` (and a condition ``acc.sum() < limit``): ``acc = acc * 0.5 + x * i``
    carried, ``acc`` and ``i`` scanned out; an ``If`` inside the body picks ``+x`` or ``-x`` on the iteration's
    parity (nested control flow, reading the body's and the outer scope's tensors)."""
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["p"])], "even", [], [_vi("p", F, [3])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["q"])], "odd", [], [_vi("q", F, [3])])
    body_nodes = [
        _const("half", np.float32(0.5)), _const("two", np.int64(2)), _const("zero_i", np.int64(0)),
        helper.make_node("Mod", ["i", "two"], ["parity"]), helper.make_node("Equal", ["parity", "zero_i"], ["even"]),
        helper.make_node("If", ["even"], ["signed"], then_branch=branch, else_branch=other),
        helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["signed", "fi"], ["step"]),
        helper.make_node("Mul", ["acc_in", "half"], ["decayed"]), helper.make_node("Add", ["decayed", "step"], ["acc"]),
        helper.make_node("ReduceSum", ["acc"], ["total"], keepdims=0),
        helper.make_node("Less", ["total", "limit"], ["go"]) if with_cond else helper.make_node(
            "Identity", ["cond_in"], ["go"]),
        helper.make_node("Identity", ["acc"], ["acc_scan"]), helper.make_node("Identity", ["i"], ["i_scan"])]
    body = helper.make_graph(body_nodes, "body", [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in", F, [3])],
                             [_vi("go", B, []), _vi("acc", F, [3]), _vi("acc_scan", F, [3]), _vi("i_scan", I64, [])])
    nodes = [_const("true", np.asarray(True)),
             helper.make_node("Loop", ["n", "true" if with_cond else "", "acc0"], ["acc_final", "accs", "iters"],
                              body=body)]
    inputs = [_vi("x", F, [3]), _vi("n", I64, []), _vi("acc0", F, [3]), _vi("limit", F, [])]
    outputs = [_vi("acc_final", F, [3]), _vi("accs", F, [None, 3]), _vi("iters", I64, [None])]
    return _model(nodes, inputs, outputs)


def _verify(model: onnx.ModelProto, tmp_path: Path, name: str, feeds: list[dict[str, np.ndarray]],
            reference: onnx.ModelProto | None = None) -> list[str]:
    """Convert once; every feed's outputs in TF.js cpu and wasm match onnxruntime's (on ``reference``, an
    equivalent model, where onnxruntime has no kernel for one of ``model``'s nodes)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path = save(model, tmp_path, name)
    tfjsconv.convert(path, tmp_path / name)
    expected_path = path if reference is None else save(reference, tmp_path, f"{name}_reference")
    session = ort.InferenceSession(str(expected_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    for feed in feeds:
        expected = dict(zip(names, session.run(None, feed), strict=True))
        report = verify_model(tmp_path / name, feed, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
        assert report.passed, format_report(report)
    return ops_of(tmp_path / name)


@pytest.mark.node
def test_if_with_a_run_time_condition_takes_either_branch(tmp_path, tfjs_runtime):
    x = np.asarray([[1.0, -2.0, 3.5], [0.25, 4.0, -1.0]], np.float32)
    ops = _verify(if_model(), tmp_path, "if", [{"x": x}, {"x": -x}])
    assert ops.count("Merge") == 1 and ops.count("Switch") >= 2 and "StatelessIf" not in ops
    assert len(ops) < 40


@pytest.mark.node
def test_loop_with_trip_count_condition_scan_outputs_and_a_nested_if(tmp_path, tfjs_runtime):
    rng = np.random.default_rng(3)

    def feed(n: int, limit: float) -> dict[str, np.ndarray]:
        return {"x": rng.standard_normal(3).astype(np.float32), "n": np.asarray(n, np.int64),
                "acc0": rng.standard_normal(3).astype(np.float32), "limit": np.asarray(limit, np.float32)}

    feeds = [feed(5, 1e9), feed(7, 0.5), feed(0, 1e9), feed(4, -1e9)]  # all trips, stopped, M=0, cond false first
    ops = _verify(loop_model(), tmp_path, "loop", feeds)
    assert ops.count("LoopCond") == 1 and ops.count("TensorListGather") == 2 and "StatelessWhile" not in ops
    assert len(ops) < 120


@pytest.mark.node
def test_loop_without_a_condition_input_runs_its_trip_count(tmp_path, tfjs_runtime):
    rng = np.random.default_rng(4)
    feeds = [{"x": rng.standard_normal(3).astype(np.float32), "n": np.asarray(n, np.int64),
              "acc0": rng.standard_normal(3).astype(np.float32), "limit": np.asarray(0, np.float32)} for n in (3, 0)]
    _verify(loop_model(with_cond=False), tmp_path, "for_loop", feeds)


def test_loop_with_neither_trip_count_nor_condition_is_refused_by_name(tmp_path):
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Identity", ["v"], ["w"])],
                             "body", [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, [2])],
                             [_vi("c_out", B, []), _vi("w", F, [2])])
    model = _model([helper.make_node("Loop", ["", "", "x"], ["y"], body=body, name="forever")],
                   [_vi("x", F, [2])], [_vi("y", F, [2])])
    with pytest.raises(TfjsconvError, match="forever.*neither a trip count nor a condition"):
        tfjsconv.convert(save(model, tmp_path, "forever"), tmp_path / "out")


@pytest.mark.node
def test_loop_without_a_condition_input_stops_where_the_body_says_as_onnxruntime(tmp_path, tfjs_runtime):
    """onnxruntime reads the body's condition even when the Loop has no condition input: a body returning false
    runs once, whatever the trip count (``n=4`` doubles ``x`` once)."""
    body = helper.make_graph([_const("stop", np.asarray(False)), helper.make_node("Add", ["v", "v"], ["w"])],
                             "body", [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, [2])],
                             [_vi("stop", B, []), _vi("w", F, [2])])
    model = _model([helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)],
                   [_vi("x", F, [2]), _vi("n", I64, [])], [_vi("y", F, [2])])
    x = np.asarray([1.5, -3.0], np.float32)
    _verify(model, tmp_path, "stops", [{"x": x, "n": np.asarray(n, np.int64)} for n in (4, 0)])


@pytest.mark.node
def test_torch_cond_exported_by_dynamo_runs_either_branch(tmp_path, tfjs_runtime):
    torch = pytest.importorskip("torch")

    class Gate(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cond(x.sum() > 0, lambda v: self.lin(v).relu(), lambda v: v * 2.0 - 1.0, (x,))

    torch.manual_seed(0)
    path = tmp_path / "gate.onnx"
    torch.onnx.export(Gate().eval(), (torch.randn(2, 3),), dynamo=True).save(str(path))
    model = onnx.load(str(path))
    assert [n.op_type for n in model.graph.node].count("If") == 1
    x = np.random.default_rng(5).standard_normal((2, 3)).astype(np.float32) + 0.5
    name = model.graph.input[0].name
    _verify(model, tmp_path, "gate", [{name: np.abs(x)}, {name: -np.abs(x)}])


def scan_model() -> onnx.ModelProto:
    """A Scan (opset 16) with a state, one scan input read forward along axis 0 and one read in reverse along axis 1,
    an outer computed tensor, and scan outputs written in reverse and along axis 1."""
    body = helper.make_graph(
        [_const("decay", np.float32(0.9)), helper.make_node("Mul", ["s", "decay"], ["kept"]),
         helper.make_node("Mul", ["a", "b"], ["ab"]), helper.make_node("Add", ["kept", "ab"], ["s2"]),
         helper.make_node("Add", ["s2", "shift"], ["y1"]), helper.make_node("Mul", ["a", "b"], ["y2"])],
        "body", [_vi("s", F, [2]), _vi("a", F, [2]), _vi("b", F, [2])],
        [_vi("s2", F, [2]), _vi("y1", F, [2]), _vi("y2", F, [2])])
    nodes = [helper.make_node("Exp", ["z"], ["shift"]),
             helper.make_node("Scan", ["s0", "xa", "xb"], ["s_final", "ys1", "ys2"], body=body, num_scan_inputs=2,
                              scan_input_axes=[0, -1], scan_input_directions=[0, 1], scan_output_axes=[0, 1],
                              scan_output_directions=[1, 0])]
    inputs = [_vi("s0", F, [2]), _vi("xa", F, ["T", 2]), _vi("xb", F, [2, "T"]), _vi("z", F, [2])]
    outputs = [_vi("s_final", F, [2]), _vi("ys1", F, ["T", 2]), _vi("ys2", F, [2, "T"])]
    return _model(nodes, inputs, outputs, opset=16)


@pytest.mark.node
def test_scan_with_axes_and_directions_over_run_time_lengths(tmp_path, tfjs_runtime):
    rng = np.random.default_rng(6)

    def feed(t: int) -> dict[str, np.ndarray]:
        return {"s0": rng.standard_normal(2).astype(np.float32), "xa": rng.standard_normal((t, 2)).astype(np.float32),
                "xb": rng.standard_normal((2, t)).astype(np.float32), "z": rng.standard_normal(2).astype(np.float32)}

    ops = _verify(scan_model(), tmp_path, "scan", [feed(5), feed(1)])  # onnxruntime 1.32 crashes on a length 0
    assert ops.count("LoopCond") == 1 and ops.count("TensorListGather") == 2 and "StatelessWhile" not in ops


@pytest.mark.node
def test_loop_carried_value_growing_each_iteration(tmp_path, tfjs_runtime):
    """``v = concat(v, x * i)``: a loop-carried value whose shape changes from one iteration to the next."""
    body = helper.make_graph([helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["x", "fi"], ["xi"]),
                              helper.make_node("Concat", ["v", "xi"], ["w"], axis=0),
                              helper.make_node("Identity", ["c"], ["c_out"])],
                             "body", [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, [None])],
                             [_vi("c_out", B, []), _vi("w", F, [None])])
    model = _model([_const("go", np.asarray(True)), helper.make_node("Loop", ["n", "go", "v0"], ["v"], body=body)],
                   [_vi("x", F, [2]), _vi("n", I64, []), _vi("v0", F, [1])], [_vi("v", F, [None])])
    x, v0 = np.asarray([0.5, -1.25], np.float32), np.asarray([3.0], np.float32)
    _verify(model, tmp_path, "grow", [{"x": x, "n": np.asarray(n, np.int64), "v0": v0} for n in (4, 0)])


def test_control_flow_v2_is_refused_by_name_rather_than_written_without_its_functions(tmp_path):
    with pytest.raises(TfjsconvError, match="If_.*--control_flow_v2"):
        tfjsconv.convert(save(if_model(), tmp_path, "if_v2"), tmp_path / "out", control_flow_v2=True)


@pytest.mark.node
def test_torch_jit_script_loop_with_a_data_dependent_if_runs_its_run_time_trip_count(tmp_path, tfjs_runtime):
    torch = pytest.importorskip("torch")

    class Decay(torch.nn.Module):
        def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:
            acc = torch.zeros_like(x)
            for i in range(n):
                acc = acc * 0.5 + x * i
                if acc.sum() > 2.0:
                    acc = acc - 1.0
            return acc

    path = tmp_path / "decay.onnx"
    torch.onnx.export(torch.jit.script(Decay()), (torch.randn(3), torch.tensor(4)), str(path), dynamo=False,
                      input_names=["x", "n"], output_names=["y"], opset_version=17)
    model = onnx.load(str(path))
    assert [n.op_type for n in model.graph.node].count("Loop") == 1
    x = np.asarray([0.5, 1.0, -0.25], np.float32)
    _verify(model, tmp_path, "decay", [{"x": x, "n": np.asarray(n, np.int64)} for n in (4, 0, 9)])


# -- session 32, h7b: review r7's findings (F1-F4), each converted and then crashing or wrong before --------------
def _loop_over(body_nodes: list, carried: list, outer: list, outputs: list, scans: list = (),
               outer_nodes: list = ()) -> onnx.ModelProto:
    """``Loop(n, "", v...)`` whose body runs ``body_nodes`` on ``carried`` (``(name, type, shape)``; the body
    returns ``<name>_next``), reading the ``outer`` graph inputs; ``scans`` are extra body outputs."""
    body_in = [_vi("i", I64, []), _vi("cond_in", B, []), *[_vi(n, t, s) for n, t, s in carried]]
    body_out = [_vi("cond_out", B, []), *[_vi(f"{n}_next", t, s) for n, t, s in carried], *scans]
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]), *body_nodes], "body",
                             body_in, body_out)
    loop_outputs = [f"{n}_final" for n, _, _ in carried] + [f"{vi.name}s" for vi in scans]
    loop = helper.make_node("Loop", ["n", "", *[f"{n}_init" for n, _, _ in carried]], loop_outputs, body=body)
    inputs = [_vi("n", I64, []), *[_vi(f"{n}_init", t, s) for n, t, s in carried], *outer]
    return _model([*outer_nodes, loop], inputs, outputs)


@pytest.mark.node
def test_loop_body_reducing_an_outer_tensor_runs_every_iteration(tmp_path, tfjs_runtime):
    """F1: Sum/Mean/Max of an outer tensor in a Loop body. The passes after lowering (empty_reductions,
    mean_as_sum) add nodes that read only the outer value's loop-invariant Enter: TF.js failed with "Cannot read
    properties of undefined (reading 'id')" on cpu and wasm. ``lower_control_flow`` now bypasses such Enters."""
    nodes = [helper.make_node("ReduceSum", ["xd"], ["s"], keepdims=0),  # xd may be empty: its Sum is 0
             helper.make_node("ReduceMean", ["xs"], ["m"], keepdims=0),
             helper.make_node("ReduceMax", ["xm"], ["mx"], keepdims=0),
             helper.make_node("Add", ["v", "s"], ["vs"]), helper.make_node("Add", ["vs", "m"], ["vsm"]),
             helper.make_node("Add", ["vsm", "mx"], ["v_next"])]
    model = _loop_over(nodes, [("v", F, [])], [_vi("xd", F, ["N"]), _vi("xs", F, [3]), _vi("xm", F, ["M"])],
                       [_vi("v_final", F, [])])
    feeds = [{"n": np.asarray(n, np.int64), "v_init": np.asarray(1, np.float32), "xd": np.asarray(xd, np.float32),
              "xs": np.asarray([0.5, -2.0, 1.25], np.float32), "xm": np.asarray(xm, np.float32)}
             for n, xd, xm in ((3, [1, 2, 3.5], [-1, 2.5]), (2, [], [-3]), (0, [4], [1, 2, 3]))]
    ops = _verify(model, tmp_path, "reduce_outer", feeds)
    assert ops.count("LoopCond") == 1


@pytest.mark.node
def test_torch_jit_script_loop_reading_the_mean_of_its_input(tmp_path, tfjs_runtime):
    """F1 as TorchScript writes it: ``acc = acc * 0.5 + x.mean()`` in a ``for`` loop (a Loop body reading ``x``)."""
    torch = pytest.importorskip("torch")

    class Running(torch.nn.Module):
        def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:
            acc = torch.zeros(1)
            for _ in range(n):
                acc = acc * 0.5 + x.mean()
            return acc

    path = tmp_path / "running.onnx"
    torch.onnx.export(torch.jit.script(Running()), (torch.randn(3), torch.tensor(4)), str(path), dynamo=False,
                      input_names=["x", "n"], output_names=["y"], opset_version=17, dynamic_axes={"x": {0: "N"}})
    x = np.asarray([0.5, 1.0, -0.25, 3.0], np.float32)
    _verify(onnx.load(str(path)), tmp_path, "running", [{"x": x, "n": np.asarray(k, np.int64)} for k in (4, 0, 7)])


@pytest.mark.node
def test_loop_body_selecting_between_outer_bools(tmp_path, tfjs_runtime):
    """F2: a bool Where whose data are outer tensors, in a Loop body: for wasm, select_rank casts the data to int32
    after lowering, and those Casts read only the loop-invariant Enters (a crash on cpu and wasm). onnxruntime has
    no bool Where: the expected values come from the same model with the bools as uint8."""

    def model(data_type: int) -> onnx.ModelProto:
        casts = [] if data_type == B else [helper.make_node("Cast", [x], [f"{x}_data"], to=U8) for x in ("m", "mn")]
        data = ["m", "mn"] if data_type == B else ["m_data", "mn_data"]
        nodes = [helper.make_node("Cast", ["v"], ["vb"], to=B), helper.make_node("Where", ["vb", *data], ["w"]),
                 helper.make_node("Cast", ["w"], ["wf"], to=F), helper.make_node("Add", ["v", "wf"], ["v_next"])]
        return _loop_over(nodes, [("v", F, [4])], [_vi("m", B, [4])], [_vi("v_final", F, [4])],
                          outer_nodes=[helper.make_node("Not", ["m"], ["mn"]), *casts])

    feeds = [{"n": np.asarray(n, np.int64), "v_init": np.asarray([0.5, 0, 2, -1], np.float32),
              "m": np.asarray([1, 0, 1, 0], bool)} for n in (3, 1)]
    _verify(model(B), tmp_path, "where_outer_bools", feeds, reference=model(U8))


@pytest.mark.node
def test_float16_loop_carried_sum_stalls_as_onnxruntime(tmp_path, tfjs_runtime):
    """F3: ``v = v + x`` in float16 for 5000 iterations; onnxruntime holds ``v`` in float16 between iterations, so
    the sum stalls at 1024 and 2048 (TF.js gave 1501 and 5000 in float32). The body's float16 outputs, carried and
    scanned, are rounded to float16 in every iteration."""
    nodes = [helper.make_node("Add", ["v", "x"], ["v_next"]), helper.make_node("Mul", ["v_next", "k"], ["scaled"])]
    k = numpy_helper.from_array(np.asarray([1.001, 0.999], np.float16), "k")
    model = _loop_over(nodes, [("v", F16, [2])], [_vi("x", F16, [2])],
                       [_vi("v_final", F16, [2]), _vi("scaleds", F16, [None, 2])], scans=[_vi("scaled", F16, [2])])
    model.graph.initializer.append(k)
    feeds = [{"n": np.asarray(n, np.int64), "v_init": np.asarray([0.1, 0.2], np.float16),
              "x": np.asarray([0.3, 1.0], np.float16)} for n in (5000, 7)]
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds[0])
    assert expected[0].tolist() == [1024.0, 2048.0]  # the stall this test is about
    _verify(model, tmp_path, "half_sum", feeds)


@pytest.mark.node
def test_loop_with_no_iteration_gives_an_empty_scan_output_of_run_time_element_shape(tmp_path, tfjs_runtime):
    """F4: scan outputs whose element shape is known at run time only, and a loop that runs no iteration: TF.js
    cannot stack an empty list of element shape ``[-1, -1]`` ("Tried to calculate elements of an empty list");
    onnxruntime gives ``[0, 0, 0]`` and ``[0, 0, 3]`` (unknown sizes as 0)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["y"], ["ny"]),
             helper.make_node("Identity", ["v"], ["v_next"])]
    model = _loop_over(nodes, [("v", F, [])], [_vi("x", F, ["a", "b"]), _vi("y", F, ["c", 3])],
                       [_vi("v_final", F, []), _vi("rs", F, None), _vi("nys", F, None), _vi("shape", I64, None)],
                       scans=[_vi("r", F, None), _vi("ny", F, None)])
    model.graph.node.append(helper.make_node("Shape", ["rs"], ["shape"]))
    rng = np.random.default_rng(32)
    feeds = [{"n": np.asarray(n, np.int64), "v_init": np.asarray(0.5, np.float32),
              "x": rng.standard_normal((2, 3)).astype(np.float32),
              "y": rng.standard_normal((4, 3)).astype(np.float32)} for n in (0, 2)]
    _verify(model, tmp_path, "no_iteration", feeds)


def test_scan_output_of_unknown_rank_is_refused_by_name(tmp_path):
    """F4: without its rank, TF.js cannot stack the empty list of a loop that runs no iteration (onnxruntime gives
    ``[0]``): refused, naming the Loop and the scan output, rather than converted to a model that fails then."""
    nodes = [helper.make_node("Reshape", ["x", "to"], ["r"]), helper.make_node("Identity", ["v"], ["v_next"])]
    model = _loop_over(nodes, [("v", F, [])], [_vi("x", F, [6]), _vi("to", I64, None)],
                       [_vi("v_final", F, []), _vi("rs", F, None)], scans=[_vi("r", F, None)])
    with pytest.raises(TfjsconvError, match=r"Loop_0.*rank of its scan output\(s\) r is unknown"):
        tfjsconv.convert(save(model, tmp_path, "unranked"), tmp_path / "out")
