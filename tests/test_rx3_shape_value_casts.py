"""Shape arithmetic through narrowing Casts, and a Transpose perm that is no permutation (review RX3).

``plugins/onnx/symbolic.py`` follows a Reshape target's elements through Casts; a Cast to uint8 wraps a
dim of 260 to 4, so the target is ``[4, -1]``, not the input's own batch (it was silently reshaped to
``[260, 2]``). Checked against onnxruntime in TF.js cpu and wasm. A Transpose perm out of range must be
refused by name (it was an IndexError traceback).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.mark.node
@pytest.mark.parametrize("to", ["UINT8", "INT8", "INT16"])
def test_a_dim_cast_to_a_narrow_type_wraps(to, tmp_path, tfjs_runtime):
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i0"], ["b"], axis=0),
             n("Cast", ["b"], ["narrow"], to=getattr(TensorProto, to)), n("Cast", ["narrow"], ["b64"], to=TensorProto.INT64),
             n("Unsqueeze", ["b64", "zero"], ["b1"]),
             n("Concat", ["b1", "m1"], ["target"], axis=0), n("Reshape", ["x", "target"], ["y"])]
    path = onnx_model(tmp_path / "m.onnx", nodes, {"x": (TensorProto.FLOAT, ["n", 2])}, ["y"], opset=18,
                      initializers={"i0": np.array(0, np.int64), "zero": np.array([0], np.int64),
                                    "m1": np.array([-1], np.int64)})
    rows = 65540 if to == "INT16" else 260  # wraps to 4 in each type
    feeds = {"x": np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)}
    matches_onnxruntime(path, feeds, tmp_path / "web", backends=("cpu", "wasm"))


def test_a_transpose_perm_out_of_range_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    graph = helper.make_graph([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 5])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(TfjsconvError, match="not a permutation"):
        tfjsconv.convert(path, tmp_path / "web")


@pytest.mark.node
def test_shape_arithmetic_in_float_is_true_division(tmp_path, tfjs_runtime):
    """``int(float(6) / float(4) * float(2))`` is 3; followed as integers (floor division) it was 2, and
    ``Reshape(x, [that, -1])`` of a ``[6, 2]`` x gave ``[2, 6]`` instead of onnxruntime's ``[3, 4]``."""
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    n, f = helper.make_node, TensorProto.FLOAT
    nodes = [n("Shape", ["x"], ["s"]), n("Cast", ["s"], ["sf"], to=f), n("Shape", ["w"], ["ws"]),
             n("Cast", ["ws"], ["wf"], to=f), n("Div", ["sf", "wf"], ["q"]),
             n("Shape", ["v"], ["vs"]), n("Cast", ["vs"], ["vf"], to=f), n("Mul", ["q", "vf"], ["q2"]),
             n("Cast", ["q2"], ["qi"], to=TensorProto.INT64), n("Slice", ["qi", "zero", "one"], ["b1"]),
             n("Concat", ["b1", "m1"], ["target"], axis=0), n("Reshape", ["x", "target"], ["y"])]
    path = onnx_model(tmp_path / "m.onnx", nodes, {"x": (f, [6, "c"]), "w": (f, [4, "d"]), "v": (f, [2, "e"])},
                      ["y"], opset=18, initializers={"zero": np.array([0], np.int64), "one": np.array([1], np.int64),
                                                     "m1": np.array([-1], np.int64)})
    feeds = {"x": np.arange(12, dtype=np.float32).reshape(6, 2), "w": np.zeros((4, 2), np.float32),
             "v": np.zeros((2, 2), np.float32)}
    matches_onnxruntime(path, feeds, tmp_path / "web", backends=("cpu", "wasm"))
