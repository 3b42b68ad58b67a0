"""Session 33 (h8): ONNX ``Einsum`` of three or more operands, lowered as a chain of two-operand contractions
(``core/passes/einsum.py``: ``lower_einsum_chain``), before refused ("only one or two operands ..."). The random
hunters' seeds of session 33 (TF 3301-3303, ONNX 3331-3332, the torch zoo) found no converter bug to test here: their
two WRONG verdicts were TF's grappler rewriting ``ArgMin(Log1p(x))`` as ``ArgMin(x)`` and a wasm ``ResizeBilinear`` of
graph-made Inf named by the special-values line (report h8_33).

Expected values come from onnxruntime or torch eager; the converted models run in TF.js cpu and wasm.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import BACKENDS, matches_onnxruntime, onnx_model  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402

F = TensorProto.FLOAT

# (equation, operand shapes): outer products, a matrix chain, a diagonal, a scalar, an ellipsis, attention-like
NARY = [
    ("bi,bj,bk->bijk", [(2, 3), (2, 4), (2, 5)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
    ("ii,ij,j->i", [(3, 3), (3, 4), (4,)]),
    ("i,i,i->", [(5,), (5,), (5,)]),
    ("a,b,c,d->abcd", [(2,), (3,), (1,), (2,)]),
    ("...i,...j,...k->...ijk", [(2, 3), (2, 2), (2, 4)]),
    ("bhqd,bhkd,bhkd->bhqd", [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 5), (5, 6)]),
    ("ij,jk,ki", [(3, 4), (4, 2), (2, 3)]),  # implicit output: a trace of a product, a scalar
]


def _einsum_model(path: Path, equation: str, shapes: list[tuple]) -> tuple[Path, list[str]]:
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    inputs = {n: (F, list(s)) for n, s in zip(names, shapes, strict=True)}
    return onnx_model(path, [node], inputs, ["y"], opset=17), names


@pytest.mark.node
@pytest.mark.parametrize(("equation", "shapes"), NARY, ids=[e for e, _ in NARY])
def test_nary_einsum_matches_onnxruntime(tmp_path, tfjs_runtime, equation, shapes):
    path, names = _einsum_model(tmp_path / "m.onnx", equation, shapes)
    rng = np.random.default_rng(33)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes, strict=True)}
    matches_onnxruntime(path, feeds, tmp_path / "out")


def test_nary_einsum_contracts_cheapest_pair_first():
    """``ab,bc,cd->ad`` over 50x50, 50x50, 50x2: the written order would build a 50x50 product first, the chain
    contracts the cheap pair (``bc,cd``: 50x2) first."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.einsum import GraphBuilder, lower_einsum_chain

    graph = Graph()
    shapes = [(50, 50), (50, 50), (50, 2)]
    values = [graph.placeholder(f"x{i}", DType.FLOAT32, s) for i, s in enumerate(shapes)]
    assert lower_einsum_chain(GraphBuilder(graph, "e"), "ab,bc,cd->ad", values, shapes) is not None
    matmuls = [n for n in graph.nodes if n.op == "BatchMatMulV2"]
    assert len(matmuls) == 2
    assert {v.name for v in _sources(matmuls[0])} == {"x1", "x2"}


def _sources(node: Any) -> set:
    """The placeholders ``node`` reads, through Transposes and Reshapes."""
    found, todo = set(), list(node.inputs)
    while todo:
        value = todo.pop()
        producer = value.producer
        if producer is None or producer.op == "Placeholder":
            found.add(value)
        elif producer.op in ("Transpose", "Reshape"):
            todo.append(producer.inputs[0])
    return found


@pytest.mark.node
def test_nary_einsum_symbolic_batch_two_sizes(tmp_path, tfjs_runtime):
    """A symbolic batch label shared by three operands: one model, run at batch 3 and 1."""
    names = ["a", "b", "c"]
    node = helper.make_node("Einsum", names, ["y"], equation="bi,bj,bk->bijk")
    path = onnx_model(tmp_path / "m.onnx", [node], {"a": (F, ["N", 3]), "b": (F, ["N", 4]), "c": (F, ["N", 2])},
                      ["y"], opset=17)
    rng = np.random.default_rng(7)
    tfjsconv.convert(path, tmp_path / "out")
    for batch in (3, 1):
        feeds = {n: rng.standard_normal((batch, d)).astype(np.float32) for n, d in zip(names, (3, 4, 2))}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)


@pytest.mark.node
def test_torch_three_operand_einsum_matches_torch(tmp_path, tfjs_runtime):
    """``torch.einsum('bi,bj,bk->bijk')`` times a weight, exported by the TorchScript exporter as one 3-input
    Einsum over a dynamic batch; TF.js cpu and wasm against torch eager at two batch sizes."""
    torch = pytest.importorskip("torch")
    from tfjsconv.verify.compare import format_report, verify_model

    class Triple(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 3 * 4 * 5).reshape(3, 4, 5))

        def forward(self, a, b, c):
            return torch.einsum("bi,bj,bk,ijk->bijk", a, b, c, self.w) + torch.einsum("bi,bj,bk->bijk", a, b, c)

    module = Triple().eval()
    path = tmp_path / "triple.onnx"
    args = (torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=17, input_names=["a", "b", "c"],
                          output_names=["y"], dynamic_axes={n: {0: "batch"} for n in "abcy"})
    einsums = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Einsum"]
    assert sorted(len(n.input) for n in einsums) == [3, 4]
    tfjsconv.convert(path, tmp_path / "out")
    for batch in (2, 5):
        gen = torch.Generator().manual_seed(batch)
        inputs = [torch.randn(batch, d, generator=gen) for d in (3, 4, 5)]
        with torch.no_grad():
            expected = module(*inputs).numpy()
        report = verify_model(tmp_path / "out", dict(zip("abc", (t.numpy() for t in inputs))), {"y": expected},
                              backends=BACKENDS, rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)


def test_nary_einsum_broadcast_label_refused_by_name(tmp_path):
    """A label of size 1 against 3 (numpy's einsum broadcasts it) is still refused, the node named."""
    path, _ = _einsum_model(tmp_path / "m.onnx", "bi,bi,bi->bi", [(1, 3), (2, 3), (2, 3)])
    with pytest.raises(InputError, match=r"Einsum.*cannot be lowered.*one size \(no broadcast\)"):
        tfjsconv.convert(path, tmp_path / "out")
