"""Two silent WRONG verdicts of the random ONNX graph hunter (``bench/onnx_random_graphs.py --seed 3101 --boost
precision=5``, session 31), each now named by the converter and counted notice-only by the bench:

- 3101/27: ``1e30`` cast to double, squared and rooted: onnxruntime computes in double (1e30), TF.js, which has no
  float64, in float32 (Inf), and no line said so. The ONNX frontend now names the double arithmetic it narrows.
- 3101/59: a NaN made inside the graph (``Sqrt`` of a negative) ranked by a TopK: onnxruntime ranks NaN first,
  TF.js below +Inf. The special-values line named ``TopKV2``, but the bench's checks (the exact flag, tamed feeds)
  could not see the NaN it makes itself, so it counted WRONG; it now scrubs the TopKs' NaNs in a copy.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model, onnxruntime_outputs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import onnx_named_deviations  # noqa: E402
import onnx_random_graphs as hunter  # noqa: E402
import tf_random_graphs  # noqa: E402

F, D = TensorProto.FLOAT, TensorProto.DOUBLE


def _float64_lines(result) -> list[str]:
    return [line for line in result.details if line.startswith("float64:")]


def _double_chain(path: Path) -> Path:
    """Graph 3101/27's chain: float32 in, Cast to double, Add, Pow 2, Sqrt, an Identity (a move), Cast back; a dead
    double Exp beside, and the exponent a double Mul of constants (folded at conversion, in double)."""
    nodes = [helper.make_node("Cast", ["x"], ["wide"], to=D),
             helper.make_node("Mul", ["one", "two_ones"], ["two"]),
             helper.make_node("Add", ["wide", "shift"], ["moved"]),
             helper.make_node("Pow", ["moved", "two"], ["squared"]),
             helper.make_node("Sqrt", ["squared"], ["root"]),
             helper.make_node("Identity", ["root"], ["kept"]),
             helper.make_node("Cast", ["kept"], ["y"], to=F),
             helper.make_node("Exp", ["wide"], ["unused"])]
    init = {"shift": np.array([0.5, -1.25, 2.0], np.float64), "one": np.array([1.0], np.float64),
            "two_ones": np.array([2.0], np.float64)}
    return onnx_model(path, nodes, {"x": (F, [2, 3])}, ["y"], opset=17, initializers=init)


@pytest.mark.node
def test_double_arithmetic_is_named_and_exact_below_float32_range(tmp_path, tfjs_runtime):
    """The line names the live double ops (not the exact Cast up, the Identity moving values, the dead Exp nor the
    folded Mul) with onnxruntime as the reference; below float32's range TF.js matches onnxruntime, at 1e30
    onnxruntime stays finite where float32 overflows: the deviation the line names."""
    path = _double_chain(tmp_path / "model.onnx")
    result = tfjsconv.convert(path, tmp_path / "out")
    lines = _float64_lines(result)
    assert len(lines) == 1, result.details
    assert "3 float64 op(s)" in lines[0] and "Add " in lines[0] and "Pow " in lines[0] and "Sqrt " in lines[0]
    assert "Exp " not in lines[0] and "Cast " not in lines[0] and "Identity " not in lines[0]
    assert "Mul " not in lines[0]
    assert "overflow past 3.4e38" in lines[0] and "onnxruntime computes them in float64" in lines[0]
    x = np.array([[0.25, -3.0, 7.5], [1e3, -2e2, 0.0]], np.float32)
    matches_onnxruntime(path, {"x": x}, tmp_path / "out", convert=False)
    huge = onnxruntime_outputs(path, {"x": np.full((2, 3), 1e30, np.float32)})["y"]
    assert np.isfinite(huge).all()


def test_double_input_is_named_as_fed_float32(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["y"], to=F)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (D, [4])}, ["y"], opset=17)
    lines = _float64_lines(tfjsconv.convert(path, tmp_path / "out"))
    assert len(lines) == 1 and "input(s) x are fed as float32" in lines[0]


def _nan_topk(path: Path) -> Path:
    """Graph 3101/59's TopK: its input's NaNs come from a Sqrt of negatives in the graph (not from the feeds)."""
    nodes = [helper.make_node("Sub", ["x", "shift"], ["moved"]),
             helper.make_node("Sqrt", ["moved"], ["root"]),
             helper.make_node("TopK", ["root", "k"], ["values", "indices"], axis=-1, largest=1, sorted=1)]
    init = {"shift": np.array([0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 3.0], np.float32), "k": np.array([5], np.int64)}
    return onnx_model(path, nodes, {"x": (F, [7])}, ["indices"], opset=15, initializers=init)


def _judged(path: Path, work: Path, feeds: dict[str, np.ndarray], convert=tf_random_graphs.convert):
    """The bench's verdict of the model at ``path`` on ``feeds``: judge's, then the named deviations'."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "tfjs"
    proc = convert(path, out)
    assert proc.returncode == 0, proc.stderr

    def oracle(run_feeds):
        return hunter.run_onnxruntime(path, run_feeds)

    verdict = tf_random_graphs.judge(path, oracle, out, proc, work, feeds, oracle(feeds))
    assert verdict is not None and verdict["verdict"] == "WRONG", verdict
    return onnx_named_deviations.explained(path, proc, work, feeds, convert, hunter.run_onnxruntime,
                                           tf_random_graphs.verify) or verdict


@pytest.mark.node
def test_bench_counts_nan_made_inside_the_graph_into_topk_as_notice_only(tmp_path, tfjs_runtime):
    """TF.js ranks the NaN of ``sqrt(x - shift)`` below +Inf, onnxruntime first: the special-values line names
    TopKV2, so the case is notice-only (it was WRONG). Since session 32 the flag orders TopK's NaNs as onnxruntime,
    so the judge's own run with the flag already passes."""
    path = _nan_topk(tmp_path / "model.onnx")
    feeds = {"x": np.array([0.63, 0.36, -1.2, -2.35, 1e-30, 0.82, -0.09], np.float32)}
    out = tmp_path / "tfjs"
    proc = tf_random_graphs.convert(path, out)
    assert proc.returncode == 0, proc.stderr
    expected = hunter.run_onnxruntime(path, feeds)
    verdict = tf_random_graphs.judge(path, lambda run_feeds: hunter.run_onnxruntime(path, run_feeds), out, proc,
                                     tmp_path, feeds, expected)
    assert verdict is not None and verdict["verdict"] == "notice-only", verdict
    assert verdict["why"].startswith("special values:") and "TopKV2" in verdict["why"]


def _corrupting_convert(source: Path, out: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Fault injection: the real conversion, then the weights' bytes reversed (a converter bug of its own)."""
    proc = tf_random_graphs.convert(source, out, extra)
    for shard in out.glob("*.bin"):
        shard.write_bytes(shard.read_bytes()[::-1])
    return proc


@pytest.mark.node
def test_bench_counts_the_named_float64_narrowing_as_notice_only(tmp_path, tfjs_runtime):
    """1e30 squared: Inf in TF.js, finite in onnxruntime; the float32 copy matches, so notice-only. With the weights
    corrupted (fault injection) the copy does not match either: the line does not explain that, it stays WRONG."""
    path = _double_chain(tmp_path / "model.onnx")
    feeds = {"x": np.array([[0.25, 1e30, 7.5], [1e3, -2e2, 0.0]], np.float32)}
    assert _judged(path, tmp_path / "corrupted", feeds, _corrupting_convert)["verdict"] == "WRONG"
    verdict = _judged(path, tmp_path / "real", feeds)
    assert verdict["verdict"] == "notice-only", verdict
    assert verdict["why"].startswith("float64:") and "Pow " in verdict["why"]
