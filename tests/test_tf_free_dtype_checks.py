"""The TF-free reader refuses what TF's importer refuses against an op's OpDef (session 18, H3).

Each row edits a real ``tf.saved_model.save`` file (random weights) the way a corrupt or crafted file could be:
an ``AddV2`` (``T=float``) fed an int32, a ``MatMul`` fed a string Const, a ``Select`` whose condition is float,
a ``ConcatV2`` with ``N=3`` but two values, a ``MatMul`` without its ``T``, a ``MatMul`` with ``T=bool`` (not
among TF's allowed types), a ``ReadVariableOp`` fed a float instead of a resource. The TF-free path (the default)
must exit 2 naming the node; before the signature table it read them on trust (five converted with exit 0, two
were refused later for other reasons). TF's own importer is shown to refuse the same bodies, naming the same node,
so the table agrees with TF. The generated table is checked current against the installed TensorFlow, and its
cost on a 200-node graph is bounded.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parent.parent
PHRASE = "TensorFlow's op signatures refuse"


class _Seed(tf.Module):
    """One body holding every op the rows corrupt."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.w = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))
        self.b = tf.Variable(rng.standard_normal(4).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x):
        summed = x + self.b
        picked = tf.raw_ops.Select(condition=x > 0.0, x=x, y=-x)
        return {"mm": tf.matmul(summed, self.w), "sel": picked, "cat": tf.concat([x, picked, summed], axis=1)}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "sm"
    module = _Seed()
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def _body(graph_def: Any) -> Any:
    """The traced function holding the ops (the one with a MatMul)."""
    return next(f for f in graph_def.library.function if any(n.op == "MatMul" for n in f.node_def))


def _node(body: Any, op: str) -> Any:
    return next(n for n in body.node_def if n.op == op)


def _const(body: Any, name: str, dtype: int, shape: list[int], fill: Callable[[Any], None]) -> str:
    """Add a Const node to ``body`` (a FunctionDef or a GraphDef); its function-body output reference."""
    node = (body.node_def if hasattr(body, "node_def") else body.node).add()
    node.name, node.op = name, "Const"
    node.attr["dtype"].type = node.attr["value"].tensor.dtype = dtype
    for size in shape:
        node.attr["value"].tensor.tensor_shape.dim.add().size = size
    fill(node.attr["value"].tensor)
    return f"{name}:output:0"


def add_fed_int32(body: Any) -> str:
    add = _node(body, "AddV2")
    add.input[1] = _const(body, "ints", 3, [4], lambda t: t.int_val.extend([1, 2, 3, 4]))  # DT_INT32
    return add.name


def matmul_fed_string(body: Any) -> str:
    mm = _node(body, "MatMul")
    mm.input[1] = _const(body, "texts", 7, [4, 3], lambda t: t.string_val.append(b"a"))  # DT_STRING
    return mm.name


def select_float_condition(body: Any) -> str:
    select = _node(body, "Select")
    select.input[0] = select.input[1]  # x: a float where TF's Select takes a bool
    return select.name


def concat_short_of_values(body: Any) -> str:
    concat = _node(body, "ConcatV2")
    del concat.input[1]  # N=3, two values and the axis
    return concat.name


def matmul_without_t(body: Any) -> str:
    mm = _node(body, "MatMul")
    del mm.attr["T"]
    return mm.name


def matmul_bool_t(body: Any) -> str:
    mm = _node(body, "MatMul")
    mm.attr["T"].type = 10  # DT_BOOL: not among the types TF's MatMul allows
    return mm.name


def read_variable_fed_float(body: Any) -> str:
    read = _node(body, "ReadVariableOp")
    read.input[0] = body.signature.input_arg[0].name  # x (float) where a resource handle belongs
    return read.name


ROWS = [add_fed_int32, matmul_fed_string, select_float_condition, concat_short_of_values, matmul_without_t,
        matmul_bool_t, read_variable_fed_float]
#: What each row's refusal says besides the node's name.
DETAIL = {add_fed_int32: "input 1 is int32, expected float32", matmul_fed_string: "input 1 is string, expected float32",
          select_float_condition: "input 0 is float32, expected bool",
          concat_short_of_values: "3 inputs where its attrs give 4", matmul_without_t: "lacks its T attr",
          matmul_bool_t: "T=bool, not a type TF's T allows",
          read_variable_fed_float: "input 0 is float32, expected resource"}


def _hostile(seed: Path, folder: Path, edit: Callable[[Any], str]) -> tuple[Path, str, Any]:
    """A copy of ``seed`` with ``edit`` applied to its body: (path, the edited node's name, the edited body)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(shutil.copytree(seed, folder / "sm"))
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    body = _body(proto.meta_graphs[0].graph_def)
    name = edit(body)
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())
    return path, name, body


@pytest.mark.parametrize("edit", ROWS, ids=[r.__name__ for r in ROWS])
def test_tf_free_reader_refuses_what_tensorflow_refuses(edit, seed: Path, tmp_path: Path, capsys) -> None:
    """Exit 2 naming the node and what is wrong; and TF's importer, given the same edited function body, refuses
    it naming the same node (the table agrees with TF)."""
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph

    from tfjsconv.cli import main

    path, name, body = _hostile(seed, tmp_path, edit)
    capsys.readouterr()
    code = main(["convert", str(path), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("error: ") == 1, err
    assert PHRASE in err and f"{name} (" in err and DETAIL[edit] in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)) as refused:
        function_def_to_graph(body)
    assert name in str(refused.value)


def test_the_seed_converts_with_every_node_checked(seed: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """The unedited seed passes the check, which saw each op the rows corrupt (the rows fail for their edit
    alone, and the check does not refuse a valid model)."""
    from tfjsconv.cli import main
    from tfjsconv.plugins.savedmodel import graphdef_ir

    seen: set[str] = set()
    check = graphdef_ir.check_signatures

    def spy(nodes, functions):
        nodes = list(nodes)
        seen.update(node.op for node in nodes)
        return check(nodes, functions)

    monkeypatch.setattr(graphdef_ir, "check_signatures", spy)
    assert main(["convert", str(seed), str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert {"AddV2", "MatMul", "Select", "ConcatV2", "ReadVariableOp"} <= seen


def test_the_signature_table_is_current() -> None:
    """``core/ops/data/tf_op_signatures.json`` matches the installed TensorFlow's op registry."""
    spec = importlib.util.spec_from_file_location("gen_sigs", REPO / "scripts" / "generate_tf_op_signatures.py")
    gen = importlib.util.module_from_spec(spec)
    sys.modules["gen_sigs"] = gen
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run scripts/generate_tf_op_signatures.py"


def frozen_bias_add_fed_int32(path: Path) -> tuple[Path, str]:
    """A frozen GraphDef (``tests/tf_models.frozen_graph``) whose BiasAdd (``T=float``) is fed an int32 bias."""
    from tensorflow.core.framework import graph_pb2

    from tf_models import frozen_graph

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(frozen_graph(path).read_bytes())
    bias_add = next(n for n in graph_def.node if n.op == "BiasAdd")
    bias_add.input[1] = _const(graph_def, "ints", 3, [4], lambda t: t.int_val.extend([1, 2, 3, 4])).split(":")[0]
    path.write_bytes(graph_def.SerializeToString())
    return path, bias_add.name


def test_frozen_graph_is_checked_too(tmp_path: Path, capsys) -> None:
    """The frozen-graph reader shares ``add_nodes``: the same check refuses there, naming the node."""
    from tfjsconv.cli import main

    path, name = frozen_bias_add_fed_int32(tmp_path / "g.pb")
    capsys.readouterr()
    code = main(["convert", str(path), str(tmp_path / "out"), "--output_node_names=probs"])
    err = capsys.readouterr().err
    assert code == 2 and PHRASE in err and f"{name} (BiasAdd: input 1 is int32, expected float32)" in err, err


def test_a_producer_the_table_lacks_is_not_second_guessed() -> None:
    """A ``Bitcast`` (not in the table: TF.js has no such op) gives its ``type``; the reader's own guess says its
    ``T``. The check does not trust that guess: its int32 consumer is not refused (a valid model once was)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.plugins.savedmodel.op_defaults import check_signatures

    graph = Graph("bitcast")
    x = graph.add_node("Placeholder", (), {"dtype": DType.FLOAT32}, name="x").outputs[0]
    cast = graph.add_node("Bitcast", (x,), {"T": DType.FLOAT32, "type": DType.INT32}, name="cast").outputs[0]
    cast.dtype = DType.FLOAT32  # op_outputs' guess: the first of its output-type attrs present, T
    graph.add_node("Identity", (cast,), {"T": DType.INT32}, name="y")
    check_signatures(list(graph), {})
    graph.add_node("Neg", (x,), {"T": DType.INT32}, name="neg")  # a producer the table has is still checked
    with pytest.raises(Exception, match=r"neg \(Neg: input 0 is float32, expected int32\)"):
        check_signatures(list(graph), {})


def test_a_huge_number_attr_is_refused_without_allocating() -> None:
    """``ConcatV2`` with ``N=2^40`` and two values: refused by count, before any per-tensor list is built."""
    from tfjsconv.dtypes import DType
    from tfjsconv.errors import InputError
    from tfjsconv.ir import Graph
    from tfjsconv.plugins.savedmodel.op_defaults import check_signatures

    graph = Graph("huge")
    x = graph.add_node("Placeholder", (), {"dtype": DType.FLOAT32}, name="x").outputs[0]
    axis = graph.add_node("Const", (), {"dtype": DType.INT32, "value": np.array(0, np.int32)}, name="axis").outputs[0]
    graph.add_node("ConcatV2", (x, x, axis), {"N": 1 << 40, "T": DType.FLOAT32, "Tidx": DType.INT32}, name="cat")
    with pytest.raises(InputError, match=r"cat \(ConcatV2: 3 inputs where its attrs give 1099511627777\)"):
        check_signatures(list(graph), {})
