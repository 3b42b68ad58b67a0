"""The ONNX path without ``import onnx``: our schema and tensor readers agree with onnx's, large raw
initializers stay in the file, and a torch-exported CNN converts with onnx and onnxruntime poisoned."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.plugins.onnx import schema, tensors, wire  # noqa: E402
from tfjsconv.plugins.onnx.dtypes import onnx_elem_to_numpy  # noqa: E402
from tfjsconv.plugins.onnx.external import ExternalArray  # noqa: E402
from tfjsconv.plugins.onnx.reading import MAX_IR_VERSION, initializer_array, read_model  # noqa: E402

RNG = np.random.default_rng(17)


def test_schema_fields_have_onnx_numbers_types_and_presence():
    from google.protobuf.descriptor import FieldDescriptor as FD

    pool = onnx.ModelProto.DESCRIPTOR.file.pool
    checked = 0
    for name in schema.MESSAGES:
        ours = schema.SCHEMA.pool.FindMessageTypeByName(f"onnx.{name}")
        theirs = pool.FindMessageTypeByName(f"onnx.{name}")
        for field in ours.fields:
            other = theirs.fields_by_name[field.name]
            kind = FD.TYPE_INT32 if other.type == FD.TYPE_ENUM else other.type  # enums are int32 here
            assert (field.number, field.type, field.is_repeated, field.is_packed, field.has_presence) == \
                (other.number, kind, other.is_repeated, other.is_packed, other.has_presence), f"{name}.{field.name}"
            assert (field.containing_oneof is None) == (other.containing_oneof is None), f"{name}.{field.name}"
            if field.message_type is not None:
                assert field.message_type.full_name == other.message_type.full_name
            checked += 1
    assert checked > 90
    assert MAX_IR_VERSION == onnx.IR_VERSION


def test_round_trip_is_byte_exact_and_keeps_undeclared_fields():
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(RNG.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")])
    graph.quantization_annotation.add(tensor_name="y")  # not declared in our schema
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.training_info.add().algorithm.name = "train"  # not declared either
    data = model.SerializeToString()
    ours = schema.ModelProto.FromString(data)
    assert ours.graph.node[0].attribute[0].ints == [1, 1, 1, 1]
    assert ours.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "n"
    assert ours.SerializeToString() == data


def test_element_types_are_onnxs():
    for number in range(0, 30):
        try:
            expected = np.dtype(helper.tensor_dtype_to_np_dtype(number))
        except (KeyError, TypeError, ValueError):
            expected = None
        assert onnx_elem_to_numpy(number) == expected, number


def _typed(name: str, data_type: int, dims: list[int], field: str, values: list) -> onnx.TensorProto:
    tensor = TensorProto(name=name, data_type=data_type, dims=dims)
    getattr(tensor, field).extend(values)
    return tensor


def _tensors() -> list[onnx.TensorProto]:
    import ml_dtypes

    arrays = {
        "f32": RNG.standard_normal((2, 3)).astype(np.float32), "f16": RNG.standard_normal(5).astype(np.float16),
        "f64": RNG.standard_normal(3), "i8": RNG.integers(-128, 127, 6).astype(np.int8),
        "u16": RNG.integers(0, 65535, 4).astype(np.uint16), "i64": RNG.integers(-2**40, 2**40, 3),
        "u64": RNG.integers(0, 2**62, 2).astype(np.uint64), "bool": RNG.integers(0, 2, 7).astype(bool),
        "c64": (RNG.standard_normal(3) + 1j * RNG.standard_normal(3)).astype(np.complex64),
        "bf16": RNG.standard_normal(4).astype(ml_dtypes.bfloat16),
        "f8": RNG.standard_normal(4).astype(ml_dtypes.float8_e4m3fn),
        "i4": RNG.integers(-8, 7, (3, 3)).astype(ml_dtypes.int4), "u4": RNG.integers(0, 15, 5).astype(ml_dtypes.uint4),
        "i2": RNG.integers(-2, 1, 7).astype(ml_dtypes.int2), "empty": np.zeros((0, 3), np.float32),
        "str": np.array(["a", "bé", ""], dtype=object),
    }
    raw = [numpy_helper.from_array(a, f"raw_{k}") for k, a in arrays.items()]
    typed = [
        _typed("t_f32", TensorProto.FLOAT, [2, 2], "float_data", [1.5, -2, 3, 4]),
        _typed("t_i64", TensorProto.INT64, [3], "int64_data", [-(2**40), 0, 7]),
        _typed("t_i8", TensorProto.INT8, [3], "int32_data", [-5, 0, 127]),
        _typed("t_f16", TensorProto.FLOAT16, [2], "int32_data", [0x3C00, 0xC000]),
        _typed("t_bf16", TensorProto.BFLOAT16, [2], "int32_data", [0x3F80, 0x4040]),
        _typed("t_bool", TensorProto.BOOL, [3], "int32_data", [1, 0, 1]),
        _typed("t_u4", TensorProto.UINT4, [3], "int32_data", [0x21, 0x03]),
        _typed("t_u32", TensorProto.UINT32, [2], "uint64_data", [1, 2**32 - 1]),
        _typed("t_f64", TensorProto.DOUBLE, [2], "double_data", [0.1, -3]),
        _typed("t_c64", TensorProto.COMPLEX64, [1], "float_data", [1, 2]),
    ]
    return raw + typed


@pytest.mark.parametrize("tensor", _tensors(), ids=lambda t: t.name)
def test_tensor_values_are_onnxs(tensor):
    ours = tensors.tensor_to_array(schema.TensorProto.FromString(tensor.SerializeToString()))
    theirs = numpy_helper.to_array(tensor)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes() if ours.dtype != object else ours.tolist() == theirs.tolist()


def test_attribute_values_are_onnxs():
    node = helper.make_node("Op", [], [], f=0.5, i=-3, s="text", t=numpy_helper.from_array(np.ones(2, np.float32)),
                            floats=[1.0, 2.5], ints=[1, -2], strings=["a", "b"],
                            g=helper.make_graph([], "sub", [], []))
    ours = schema.NodeProto.FromString(node.SerializeToString())
    for mine, theirs in zip(ours.attribute, node.attribute):
        a, b = tensors.attribute_value(mine), helper.get_attribute_value(theirs)
        if hasattr(b, "SerializeToString"):
            a, b = a.SerializeToString(), b.SerializeToString()
        elif isinstance(b, list) and b and hasattr(b[0], "SerializeToString"):
            a, b = [x.SerializeToString() for x in a], [x.SerializeToString() for x in b]
        assert a == b, theirs.name


def _model_with(inits: list, path: Path, outputs: list[str]) -> Path:
    nodes = [helper.make_node("Identity", [n], [f"out_{n}"]) for n in outputs]
    values = [helper.make_tensor_value_info(f"out_{n}", TensorProto.FLOAT, None) for n in outputs]
    graph = helper.make_graph(nodes, "g", [], values, initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_large_raw_initializers_stay_in_the_file_as_mapped_views(tmp_path):
    big = RNG.standard_normal((128, 160)).astype(np.float32)  # 80 KiB >= wire.MIN_BYTES
    small = RNG.standard_normal(10).astype(np.float32)
    path = _model_with([numpy_helper.from_array(big, "big"), numpy_helper.from_array(small, "small")],
                       tmp_path / "m.onnx", ["big", "small"])
    model = read_model(path)
    assert model.ByteSize() < 2048, "the big weight is held in the message"
    arrays = {t.name: initializer_array(t, tmp_path) for t in model.graph.initializer}
    assert isinstance(arrays["big"], ExternalArray) and arrays["big"].in_model
    assert isinstance(arrays["small"], np.ndarray)
    loaded = arrays["big"].load()
    assert not loaded.flags.owndata and loaded.base is not None  # a view of the file mapping, no copy
    np.testing.assert_array_equal(loaded, big)
    np.testing.assert_array_equal(arrays["small"], small)


def test_a_file_cannot_claim_the_in_model_mark(tmp_path):
    (tmp_path / "outside.bin").write_bytes(np.zeros(4, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", "16"), (wire.IN_MODEL_KEY, "1")):
        tensor.external_data.add(key=key, value=value)
    path = _model_with([tensor], folder / "m.onnx", ["w"])
    model = read_model(path)
    with pytest.raises(InputError, match="points outside the model folder"):
        initializer_array(model.graph.initializer[0], folder)


def test_a_large_raw_initializer_that_does_not_fit_its_shape_is_refused(tmp_path):
    tensor = numpy_helper.from_array(np.zeros((100, 200), np.float32), "w")
    tensor.dims[:] = [100, 100]
    model = read_model(_model_with([tensor], tmp_path / "m.onnx", ["w"]))
    with pytest.raises(InputError, match="'w' is corrupt"):
        initializer_array(model.graph.initializer[0], tmp_path)


# -- a torch-exported CNN, converted in a process where onnx and onnxruntime cannot be imported ----------
POISONED = """
import sys
sys.modules["onnx"] = sys.modules["onnxruntime"] = None  # any import of them fails
from tfjsconv.cli import main
code = main([sys.argv[1], sys.argv[2], "--quiet"])
print("LOADED:" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("onnx", "onnxruntime", "torch")
                                  and sys.modules[m] is not None)))
sys.exit(code)
"""


def test_torch_cnn_converts_with_onnx_and_onnxruntime_poisoned(tmp_path, tfjs_runtime):
    torch = pytest.importorskip("torch")
    from torch import nn

    from tfjsconv.verify.compare import format_report, verify_model

    torch.manual_seed(3)
    module = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),  # 72 KiB kernel: left in the file
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.randn(2, 3, 16, 16)
    with warnings.catch_warnings():  # the legacy exporter (fast), then shapes as the dynamo exporter writes them
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(tmp_path / "cnn.onnx"), dynamo=False, opset_version=17, input_names=["x"])
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(str(tmp_path / "cnn.onnx"))), str(tmp_path / "cnn.onnx"))
    with torch.no_grad():
        expected = module(x).numpy()
    proc = subprocess.run([sys.executable, "-c", POISONED, "cnn.onnx", "out"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.rsplit("LOADED:", 1)[1].strip() == ""
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert "notes" not in doc["userDefinedMetadata"]["onnx"]  # no shape inference was needed, none failed
    [input_key], [output_key] = doc["signature"]["inputs"], doc["signature"]["outputs"]
    report = verify_model(tmp_path / "out", {input_key: x.numpy()}, {output_key: expected},
                          backends=("cpu", "wasm"), rtol=1e-4, atol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def test_per_axis_scale_of_a_weight_left_in_the_file_is_still_checked(tmp_path):
    """The quantization scan reads the weight's dims, not its values (which .wire leaves in the file)."""
    weight = RNG.integers(-100, 100, (256, 300)).astype(np.int8)  # 75 KiB
    nodes = [helper.make_node("DequantizeLinear", ["w", "s"], ["wf"], axis=0), helper.make_node("MatMul", ["x", "wf"], ["y"])]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 300])],
                              [numpy_helper.from_array(weight, "w"),
                               numpy_helper.from_array(np.full(200, 0.1, np.float32), "s")])
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    import tfjsconv

    with pytest.raises(InputError, match="the scale has 200 values for the 256 indices along axis 0"):
        tfjsconv.convert(path, tmp_path / "out")


def test_identity_of_a_weight_folds_without_onnx_and_stays_lazy(tmp_path):
    """Exporters alias shared weights with Identity: folded without onnx's reference evaluator."""
    from tfjsconv.plugins.onnx.folding import try_fold

    big = RNG.standard_normal((128, 160)).astype(np.float32)
    model = read_model(_model_with([numpy_helper.from_array(big, "big")], tmp_path / "m.onnx", ["big"]))
    weight = initializer_array(model.graph.initializer[0], tmp_path)
    [folded] = try_fold(model.graph.node[0], [weight], {"": 17})
    assert folded is weight and isinstance(folded, ExternalArray)
    np.testing.assert_array_equal(folded.load(), big)


def test_every_initializer_outside_the_model_folder_is_named_at_once(tmp_path):
    """Two initializers pointing out of the folder: one conversion refusal names both, not the first alone."""
    import tfjsconv

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "in.bin").write_bytes(np.zeros(4, np.float32).tobytes())
    tensors = []
    for name, location in (("a", "../a.bin"), ("inside", "in.bin"), ("b", str(tmp_path / "b.bin"))):
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
        tensor.external_data.add(key="location", value=location)
        tensors.append(tensor)
    path = _model_with(tensors, folder / "m.onnx", ["a", "inside", "b"])
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.message == (f"2 initializers point outside the model folder: 'a' (../a.bin), "
                                    f"'b' ({tmp_path / 'b.bin'})")
