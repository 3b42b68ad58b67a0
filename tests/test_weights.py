"""tfjsconv.weights: byte encodings, sharding, quantization, streaming and safe reading."""
from __future__ import annotations

import gc
import json
import os
import tempfile
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfjsconv.errors import UsageError, WeightsError
from tfjsconv.weights import (
    QuantizationPlan,
    WeightsReport,
    decode_array,
    dequantize,
    encode_array,
    iter_encoded,
    load_manifest_weights,
    read_weights,
    tfjs_dtype,
    write_weights,
)
from tfjsconv.weights.quantize import AffineParams


def roundtrip(groups, tmp_path, **kwargs):
    manifest = write_weights(groups, tmp_path, **kwargs)
    json.dumps(manifest)  # must be plain JSON
    return manifest, load_manifest_weights(manifest, tmp_path)


def shard_sizes(manifest, directory):
    return [[os.path.getsize(Path(directory) / p) for p in group["paths"]] for group in manifest]


def expected_after_storage(array: np.ndarray) -> np.ndarray:
    """What TF.js stores for ``array``: the documented dtype conversions."""
    target = tfjs_dtype(array.dtype)
    if target == "string":
        return array
    numpy_target = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "complex64": np.complex64}[target]
    with np.errstate(over="ignore"):
        return array.astype(numpy_target)


def assert_strings_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    for a, e in zip(actual.flat, expected.flat):
        assert (a.encode() if isinstance(a, str) else a) == (e.encode() if isinstance(e, str) else e)


# -- encoding ---------------------------------------------------------------------------------
def test_string_bytes_are_le_length_prefix_and_utf8():
    data = encode_array(np.array(["", "é", b"\xff\x00"], dtype=object))
    assert data == b"\x00\x00\x00\x00" + b"\x02\x00\x00\x00\xc3\xa9" + b"\x02\x00\x00\x00\xff\x00"


def test_numeric_encodings_are_little_endian():
    assert encode_array(np.array([1], dtype=">i4")) == b"\x01\x00\x00\x00"
    assert encode_array(np.array([1.0], dtype=">f4")) == np.array([1.0], "<f4").tobytes()
    assert encode_array(np.array([True, False, True])) == b"\x01\x00\x01"
    assert encode_array(np.array([1 + 2j], np.complex64)) == np.array([1.0, 2.0], "<f4").tobytes()
    assert encode_array(np.array(5, np.int64)) == b"\x05\x00\x00\x00"


def test_iter_encoded_uses_the_arrays_own_buffer_in_chunks():
    array = np.arange(1000, dtype=np.float32)
    chunks = list(iter_encoded(array, "float32", chunk_bytes=1024))
    assert [len(c) for c in chunks] == [1024, 1024, 1024, 928]
    assert all(np.shares_memory(np.frombuffer(c, np.uint8), array) for c in chunks)
    assert b"".join(chunks) == array.tobytes()


def test_iter_encoded_converts_non_contiguous_arrays_piecewise():
    array = np.arange(600, dtype=np.float64).reshape(20, 30).T  # not C-contiguous, needs conversion
    chunks = list(iter_encoded(array, "float32", chunk_bytes=400))
    assert max(len(c) for c in chunks) <= 400
    assert b"".join(chunks) == np.ascontiguousarray(array, dtype="<f4").tobytes()


def test_long_strings_are_chunked_and_decoded():
    array = np.array(["a" * 5000, "", "ü" * 10], dtype=object)
    chunks = list(iter_encoded(array, "string", chunk_bytes=1000))
    assert len(chunks) > 1
    decoded = decode_array(b"".join(chunks), "string", (3,))
    assert decoded.tolist() == array.tolist()


def test_decode_array_checks_sizes():
    with pytest.raises(WeightsError, match="needs 8 bytes"):
        decode_array(b"\x00" * 7, "float32", (2,))
    with pytest.raises(WeightsError, match="left over"):
        decode_array(b"\x00\x00\x00\x00\x00", "string", (1,))


@pytest.mark.parametrize("dtype, expected", [
    ("float64", "float32"), ("float16", "float32"), ("int64", "int32"), ("uint32", "int32"), ("int8", "int32"),
    ("uint8", "int32"), ("complex128", "complex64"), ("bool", "bool"), ("U3", "string"), ("S3", "string"),
    ("O", "string"), (">f4", "float32"),
])
def test_tfjs_dtype(dtype, expected):
    assert tfjs_dtype(np.dtype(dtype)) == expected


def test_unstorable_dtype_names_the_weight():
    with pytest.raises(WeightsError, match="'when'"):
        tfjs_dtype(np.dtype("datetime64[s]"), name="when")


# -- round trips --------------------------------------------------------------------------------
ROUNDTRIP_CASES = {
    "float32": np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4),
    "float64": np.array([[1.5, -2.25], [1e-3, 7.0]], dtype=np.float64),
    "float16": np.array([0.5, -1.0, 65504.0], dtype=np.float16),
    "int32": np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32),
    "int64": np.array([[-(2**31), 5], [7, 2**31 - 1]], dtype=np.int64),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "uint16": np.array([0, 65535], dtype=np.uint16),
    "uint32": np.array([0, 2**31 - 1], dtype=np.uint32),
    "int8": np.array([-128, 127], dtype=np.int8),
    "bool": np.array([[True, False], [False, True]]),
    "complex64": np.array([1 + 2j, -0.5 - 3j], dtype=np.complex64),
    "complex128": np.array([1 + 2j, 3j], dtype=np.complex128),
    "big_endian": np.array([1.0, 2.0], dtype=">f4"),
    "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T,
    "scalar_float": np.array(3.5, dtype=np.float32),
    "scalar_int": np.array(-7, dtype=np.int64),
    "scalar_bool": np.array(True),
    "zero_size": np.zeros((0, 4), dtype=np.float32),
    "zero_size_int": np.zeros((3, 0), dtype=np.int32),
    "nan_inf": np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32),
}


@pytest.mark.parametrize("key", sorted(ROUNDTRIP_CASES))
def test_roundtrip_numeric(key, tmp_path):
    array = ROUNDTRIP_CASES[key]
    manifest, loaded = roundtrip([[("w", array)]], tmp_path)
    expected = expected_after_storage(array)
    entry = manifest[0]["weights"][0]
    assert entry == {"name": "w", "shape": list(array.shape), "dtype": tfjs_dtype(array.dtype)}
    assert all(type(d) is int for d in entry["shape"])
    assert loaded["w"].dtype == expected.dtype
    assert loaded["w"].shape == array.shape
    np.testing.assert_array_equal(loaded["w"], expected)


@pytest.mark.parametrize("value", [
    np.array(["", "a", "héllo wörld", "日本語", "🙂", ""], dtype=object),
    np.array([b"", b"\x00\xff", "mixed"], dtype=object).reshape(3, 1),
    np.array(["x", "yz"], dtype="U2"),
    np.array([b"ab", b""], dtype="S2"),
    np.array("scalar string", dtype=object),
    np.array([], dtype=object).reshape(0, 2),
])
def test_roundtrip_strings(value, tmp_path):
    manifest, loaded = roundtrip([[("s", value)]], tmp_path)
    assert manifest[0]["weights"][0]["dtype"] == "string"
    assert manifest[0]["weights"][0]["shape"] == list(value.shape)
    assert_strings_equal(loaded["s"], value)


def test_invalid_utf8_comes_back_as_bytes_and_strings_bytes_mode(tmp_path):
    value = np.array([b"\xff", "ok"], dtype=object)
    manifest = write_weights([[("s", value)]], tmp_path)
    assert load_manifest_weights(manifest, tmp_path)["s"].tolist() == [b"\xff", "ok"]
    assert load_manifest_weights(manifest, tmp_path, strings="bytes")["s"].tolist() == [b"\xff", b"ok"]


def test_non_string_objects_are_rejected(tmp_path):
    with pytest.raises(WeightsError, match="'s'.*int"):
        write_weights([[("s", np.array(["a", 3], dtype=object))]], tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- sharding -----------------------------------------------------------------------------------
def test_exact_multiple_of_shard_size_has_no_empty_trailing_shard(tmp_path):
    manifest = write_weights([[("a", np.zeros(4, np.float32)), ("b", np.zeros(4, np.float32))]], tmp_path, shard_size=16)
    assert manifest[0]["paths"] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert shard_sizes(manifest, tmp_path) == [[16, 16]]


def test_weight_larger_than_a_shard_straddles_several(tmp_path):
    big = np.arange(25, dtype=np.float32)  # 100 bytes
    small = np.array([1, 2], dtype=np.int32)
    manifest, loaded = roundtrip([[("small", small), ("big", big)]], tmp_path, shard_size=24)
    assert manifest[0]["paths"] == [f"group1-shard{i}of5.bin" for i in range(1, 6)]
    assert shard_sizes(manifest, tmp_path) == [[24, 24, 24, 24, 12]]
    np.testing.assert_array_equal(loaded["big"], big)
    concatenated = b"".join((tmp_path / p).read_bytes() for p in manifest[0]["paths"])
    assert concatenated == small.tobytes() + big.tobytes()


def test_zero_size_weights_take_no_bytes_and_empty_groups_have_no_shards(tmp_path):
    groups = [
        [("e1", np.zeros((0,), np.float32)), ("a", np.ones(3, np.float32)), ("e2", np.zeros((2, 0), np.int32))],
        [("e3", np.zeros((0,), np.float32)), ("e4", np.array([], dtype=object))],
        [],
        [("b", np.array([True]))],
    ]
    manifest, loaded = roundtrip(groups, tmp_path, shard_size=8)
    assert [g["paths"] for g in manifest] == [
        ["group1-shard1of2.bin", "group1-shard2of2.bin"], [], [], ["group4-shard1of1.bin"]]
    assert shard_sizes(manifest, tmp_path) == [[8, 4], [], [], [1]]
    assert [w["name"] for w in manifest[1]["weights"]] == ["e3", "e4"]
    assert loaded["e2"].shape == (2, 0) and loaded["e4"].shape == (0,)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["group1-shard1of2.bin", "group1-shard2of2.bin", "group4-shard1of1.bin"])


def test_several_groups_are_numbered_and_report_totals(tmp_path):
    report = WeightsReport()
    groups = [[(f"g{g}w{i}", np.full(5, g * 10 + i, np.float32)) for i in range(3)] for g in range(3)]
    manifest, loaded = roundtrip(groups, tmp_path, shard_size=32, report=report)
    assert [g["paths"] for g in manifest] == [[f"group{g}-shard1of2.bin", f"group{g}-shard2of2.bin"] for g in (1, 2, 3)]
    assert report.total_bytes == 9 * 20 and report.shard_count == 6 and report.weight_count == 9
    for g in range(3):
        for i in range(3):
            np.testing.assert_array_equal(loaded[f"g{g}w{i}"], np.full(5, g * 10 + i, np.float32))


def test_duplicate_names_across_groups_raise_and_leave_nothing(tmp_path):
    with pytest.raises(WeightsError, match="'w'"):
        write_weights([[("w", np.ones(3, np.float32))], [("w", np.ones(3, np.float32))]], tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shard_size", [0, -1, 1.5, True])
def test_bad_shard_size(shard_size, tmp_path):
    with pytest.raises(UsageError):
        write_weights([[("w", np.ones(1))]], tmp_path, shard_size=shard_size)


class WrongShapeLazy:
    shape = (3,)
    dtype = np.dtype(np.float32)

    def load(self):
        return np.zeros(2, np.float32)


def test_lazy_array_shape_is_checked(tmp_path):
    with pytest.raises(WeightsError, match="declared with shape"):
        write_weights([[("w", WrongShapeLazy())]], tmp_path)


# -- dtype conversion ---------------------------------------------------------------------------
def test_int64_out_of_range_raises_naming_the_weight(tmp_path):
    with pytest.raises(WeightsError, match="'big_ids'.*int32"):
        write_weights([[("ok", np.ones(2, np.float32)), ("big_ids", np.array([0, 2**31], np.int64))]], tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WeightsError, match="'neg'"):
        write_weights([[("neg", np.array([-(2**31) - 1], np.int64))]], tmp_path)
    with pytest.raises(WeightsError, match="'u'"):
        write_weights([[("u", np.array([2**32 - 1], np.uint32))]], tmp_path)


def test_conversions_are_recorded(tmp_path):
    report = WeightsReport()
    write_weights([[("d", np.ones(3, np.float64)), ("i", np.ones(2, np.int64)), ("f", np.ones(1, np.float32)),
                    ("c", np.ones(1, np.complex128))]], tmp_path, report=report)
    assert report.conversions == [("d", "float64", "float32"), ("i", "int64", "int32"), ("c", "complex128", "complex64")]
    assert report.notes == []
    assert "float64 -> float32: d" in report.summary()


def test_float64_overflow_is_noted(tmp_path):
    report = WeightsReport()
    _, loaded = roundtrip([[("d", np.array([1e300, 1.0, -1e39, np.inf]))]], tmp_path, report=report)
    assert len(report.notes) == 1 and "2 finite float64" in report.notes[0] and "'d'" in report.notes[0]
    np.testing.assert_array_equal(loaded["d"], np.array([np.inf, 1.0, -np.inf, np.inf], np.float32))


# -- quantization -------------------------------------------------------------------------------
def quantize_roundtrip(tmp_path, array, spec, name="w"):
    report = WeightsReport()
    manifest, loaded = roundtrip([[(name, array)]], tmp_path, plan=QuantizationPlan.from_spec(spec), report=report)
    return manifest[0]["weights"][0], loaded[name], report


@pytest.mark.parametrize("dtype, qmax", [("uint8", 255), ("uint16", 65535)])
@pytest.mark.parametrize("low, high", [(-1.3, 2.7), (0.5, 4.0), (-9.0, -2.0), (0.0, 1.0)])
def test_affine_quantization_error_within_half_a_step(tmp_path, dtype, qmax, low, high):
    rng = np.random.default_rng(1)
    array = rng.uniform(low, high, size=(64, 33)).astype(np.float32)
    array[0, 0], array[0, 1] = low, high
    entry, restored, report = quantize_roundtrip(tmp_path, array, {dtype: True})
    quant = entry["quantization"]
    assert entry["dtype"] == "float32" and set(quant) == {"dtype", "min", "scale", "original_dtype"}
    assert quant["dtype"] == dtype and quant["original_dtype"] == "float32"
    scale = quant["scale"]
    assert scale == pytest.approx((float(np.float32(high)) - float(np.float32(low))) / qmax)
    assert restored.dtype == np.float32
    error = np.abs(restored.astype(np.float64) - array.astype(np.float64))
    assert error.max() <= scale / 2 * (1 + 1e-6) + 1e-6 * np.abs(array).max()
    (name, qdtype, max_abs, max_rel, before, after), = report.quantized
    assert (name, qdtype, before, after) == ("w", dtype, array.size * 4, array.size * (1 if dtype == "uint8" else 2))
    assert max_abs == pytest.approx(error.max(), rel=1e-6, abs=1e-12)
    assert max_rel == pytest.approx(error.max() / np.abs(array).max(), rel=1e-6, abs=1e-12)
    assert os.path.getsize(tmp_path / "group1-shard1of1.bin") == after


def test_nudge_makes_zero_exactly_representable(tmp_path):
    array = np.array([-0.37, 0.0, 0.11, 1.93, 0.0], dtype=np.float32)
    entry, restored, _ = quantize_roundtrip(tmp_path, array, {"uint8": ["w"]})
    quant = entry["quantization"]
    zero_point = -quant["min"] / quant["scale"]
    assert zero_point == pytest.approx(round(zero_point), abs=1e-9)
    assert restored[1] == 0.0 and restored[4] == 0.0
    params = AffineParams.for_range("uint8", -0.37, 1.93)
    assert params.max == pytest.approx(255 * params.scale + params.min)


def test_no_nudge_when_zero_is_outside_the_range():
    params = AffineParams.for_range("uint8", 2.0, 4.0)
    assert (params.min, params.max, params.scale) == (2.0, 4.0, 2.0 / 255)


def test_constant_weight_quantizes_to_zeros_with_scale_one(tmp_path):
    array = np.full((3, 3), 2.5, np.float32)
    entry, restored, report = quantize_roundtrip(tmp_path, array, {"uint16": True})
    assert entry["quantization"] == {"dtype": "uint16", "min": 2.5, "scale": 1.0, "original_dtype": "float32"}
    assert (tmp_path / "group1-shard1of1.bin").read_bytes() == b"\x00" * 18
    np.testing.assert_array_equal(restored, array)
    assert report.quantized[0].max_abs_error == 0.0


def test_float16_quantization(tmp_path):
    array = np.random.default_rng(2).standard_normal(1000).astype(np.float32) * 10
    entry, restored, report = quantize_roundtrip(tmp_path, array, {"float16": True})
    assert entry["quantization"] == {"dtype": "float16", "original_dtype": "float32"}
    np.testing.assert_array_equal(restored, array.astype(np.float16).astype(np.float32))
    relative = np.abs(restored - array) / np.maximum(np.abs(array), 1e-3)
    assert relative.max() <= 1e-3
    assert report.quantized[0].max_rel_error <= 1e-3


def test_only_float32_weights_are_quantized(tmp_path):
    groups = [[("f", np.ones(4, np.float32)), ("i", np.arange(4, dtype=np.int32)), ("b", np.array([True])),
               ("s", np.array(["x"], dtype=object)), ("d", np.arange(3, dtype=np.float64))]]
    report = WeightsReport()
    manifest = write_weights(groups, tmp_path, plan=QuantizationPlan.from_spec({"uint8": True}), report=report)
    quantized = {w["name"]: w.get("quantization", {}).get("dtype") for w in manifest[0]["weights"]}
    assert quantized == {"f": "uint8", "i": None, "b": None, "s": None, "d": "uint8"}  # d is float32 once stored
    assert [q.name for q in report.quantized] == ["f", "d"]
    loaded = load_manifest_weights(manifest, tmp_path)
    np.testing.assert_array_equal(loaded["i"], np.arange(4, dtype=np.int32))


def test_nan_cannot_be_affine_quantized(tmp_path):
    with pytest.raises(WeightsError, match="'w'.*NaN"):
        write_weights([[("w", np.array([1.0, np.nan], np.float32))]], tmp_path,
                      plan=QuantizationPlan.from_spec({"uint8": True}))


def test_plan_patterns_and_fallthrough():
    plan = QuantizationPlan.from_spec({"float16": True, "uint8": ["conv*/kernel", "dense/bias"], "uint16": None})
    assert plan.dtype_for("conv1/kernel") == "uint8"
    assert plan.dtype_for("dense/bias") == "uint8"
    assert plan.dtype_for("dense/kernel") == "float16"
    patterns_only = QuantizationPlan.from_spec({"uint16": ["*bias"]})
    assert patterns_only.dtype_for("x/bias") == "uint16" and patterns_only.dtype_for("x/kernel") is None
    assert not QuantizationPlan.from_spec({}) and not QuantizationPlan.from_spec({"uint8": []})
    assert QuantizationPlan.from_spec({"uint8": False}).dtype_for("anything") is None


def test_plan_conflicts():
    plan = QuantizationPlan.from_spec({"uint8": ["dense/*"], "float16": ["*/kernel"]})
    with pytest.raises(UsageError, match="'dense/kernel'.*--quantize_"):
        plan.dtype_for("dense/kernel")
    assert plan.dtype_for("dense/bias") == "uint8"
    with pytest.raises(UsageError, match="dense/kernel"):
        plan.resolve(["dense/bias", "dense/kernel"])
    same_dtype = QuantizationPlan.from_spec({"uint8": ["dense/*", "*/kernel"]})
    assert same_dtype.dtype_for("dense/kernel") == "uint8"


def test_plan_conflict_during_write_leaves_nothing(tmp_path):
    plan = QuantizationPlan.from_spec({"uint8": ["a*"], "uint16": ["*b"]})
    with pytest.raises(UsageError, match="'ab'"):
        write_weights([[("a", np.ones(2, np.float32)), ("ab", np.ones(2, np.float32))]], tmp_path, plan=plan)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec", [
    {"float16": True, "uint8": True},
    {"uint8": True, "uint16": True, "float16": ["x"]},
    {"int8": True},
    {"uint8": "dense/*"},
    {"uint8": [3]},
])
def test_plan_rejects_bad_specs(spec):
    with pytest.raises(UsageError):
        QuantizationPlan.from_spec(spec)


def test_dequantize_int32_original_rounds():
    q = np.array([0, 1, 2], np.uint8)
    out = dequantize(q, {"dtype": "uint8", "min": -1.0, "scale": 0.6, "original_dtype": "int32"})
    assert out.dtype == np.int32 and out.tolist() == [-1, 0, 0]


# -- reader -------------------------------------------------------------------------------------
def simple_model(tmp_path):
    manifest = write_weights([[("a", np.arange(6, dtype=np.float32)), ("b", np.array(["hi", ""], dtype=object))]],
                             tmp_path, shard_size=16)
    return manifest


@pytest.mark.parametrize("bad_path", ["../x.bin", "sub/../../x.bin", "..\\x.bin", "/etc/passwd", "C:\\x.bin", ""])
def test_reader_rejects_paths_outside_the_model(tmp_path, bad_path):
    manifest = simple_model(tmp_path)
    manifest[0]["paths"][0] = bad_path
    with pytest.raises(WeightsError, match="shard path"):
        load_manifest_weights(manifest, tmp_path)


def test_reader_rejects_symlinks_out_of_the_model(tmp_path):
    model = tmp_path / "model"
    manifest = simple_model(model)
    first = manifest[0]["paths"][0]
    outside = tmp_path / "outside.bin"
    outside.write_bytes((model / first).read_bytes())
    (model / "link.bin").symlink_to(outside)
    manifest[0]["paths"][0] = "link.bin"
    with pytest.raises(WeightsError, match="symbolic link"):
        load_manifest_weights(manifest, model)
    # a symlink that stays inside is fine
    (model / "inner.bin").symlink_to(model / first)
    manifest[0]["paths"][0] = "inner.bin"
    assert load_manifest_weights(manifest, model)["a"].tolist() == list(range(6))


def test_reader_missing_shard(tmp_path):
    manifest = simple_model(tmp_path)
    (tmp_path / "group1-shard2of3.bin").unlink()
    with pytest.raises(WeightsError, match="group1-shard2of3.bin.*missing"):
        load_manifest_weights(manifest, tmp_path)


def test_reader_wrong_total_size(tmp_path):
    manifest = write_weights([[("a", np.arange(6, dtype=np.float32))]], tmp_path, shard_size=16)
    with open(tmp_path / "group1-shard2of2.bin", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(WeightsError, match="need 24 bytes.*hold 25"):
        load_manifest_weights(manifest, tmp_path)
    (tmp_path / "group1-shard2of2.bin").write_bytes(b"\x00\x00")
    with pytest.raises(WeightsError, match="need 24 bytes.*hold 18"):
        load_manifest_weights(manifest, tmp_path)


def test_reader_string_groups_are_checked_by_walking_prefixes(tmp_path):
    manifest = simple_model(tmp_path)
    last = tmp_path / manifest[0]["paths"][-1]
    original = last.read_bytes()
    last.write_bytes(original + b"\x00")
    with pytest.raises(WeightsError, match="need only"):
        load_manifest_weights(manifest, tmp_path)
    last.write_bytes(original[:-3])
    with pytest.raises(WeightsError, match="string weight 'b'"):
        load_manifest_weights(manifest, tmp_path)


def test_reader_empty_paths_with_bytes_needed(tmp_path):
    manifest = [{"paths": [], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}]}]
    with pytest.raises(WeightsError, match="need 8 bytes"):
        load_manifest_weights(manifest, tmp_path)


@pytest.mark.parametrize("manifest, message", [
    ({"paths": []}, "must be a list"),
    ([{"paths": "x.bin", "weights": []}], "paths"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}], "shape"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [1], "dtype": "float64"}]}], "unsupported dtype"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [], "dtype": "float32",
                                 "quantization": {"dtype": "uint8", "scale": 1.0}}]}], "min"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [0], "dtype": "float32"}]},
      {"paths": [], "weights": [{"name": "a", "shape": [0], "dtype": "float32"}]}], "twice"),
])
def test_reader_rejects_malformed_manifests(tmp_path, manifest, message):
    with pytest.raises(WeightsError, match=message):
        load_manifest_weights(manifest, tmp_path)


def test_reader_names_filter_skips_groups(tmp_path):
    groups = [[("a", np.ones(3, np.float32)), ("s", np.array(["x"], dtype=object)), ("b", np.zeros(2, np.int32))],
              [("c", np.full(2, 4.0, np.float32))]]
    manifest = write_weights(groups, tmp_path, shard_size=5)
    for path in manifest[1]["paths"]:
        (tmp_path / path).unlink()  # group 2 must not even be opened
    assert list(load_manifest_weights(manifest, tmp_path, names=["b"])) == ["b"]
    np.testing.assert_array_equal(load_manifest_weights(manifest, tmp_path, names=["a", "b"])["b"], [0, 0])
    with pytest.raises(WeightsError, match="'nope'"):
        load_manifest_weights(manifest, tmp_path, names=["a", "nope"])


def test_read_weights_is_lazy_and_ordered(tmp_path):
    manifest = write_weights([[("a", np.ones(1))], [("b", np.ones(1)), ("c", np.ones(1))]], tmp_path)
    iterator = read_weights(manifest, tmp_path)
    assert next(iterator)[0] == "a"
    assert [name for name, _ in iterator] == ["b", "c"]


# -- streaming ----------------------------------------------------------------------------------
class CountingLazy:
    """A LazyArray that makes its data on load and reports how many loaded arrays are alive."""

    live = 0
    peak_live = 0

    def __init__(self, shape, value, dtype, on_load):
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.value = value
        self.on_load = on_load

    def load(self):
        array = np.full(self.shape, self.value, dtype=self.dtype)
        CountingLazy.live += 1
        CountingLazy.peak_live = max(CountingLazy.peak_live, CountingLazy.live)
        weakref.finalize(array, CountingLazy._dead)
        self.on_load()
        return array

    @staticmethod
    def _dead():
        CountingLazy.live -= 1


@pytest.mark.parametrize("dtype, quantize", [("float32", None), ("float64", None), ("float32", "uint8")])
def test_writer_streams_one_lazy_array_at_a_time(tmp_path, dtype, quantize):
    """~50 MB of lazy weights: one loaded at a time, peak memory ~ one tensor (conversions are chunked)."""
    CountingLazy.live = CountingLazy.peak_live = 0
    source_bytes = 5 * 1024 * 1024
    tensor_bytes = source_bytes * np.dtype(dtype).itemsize // 4
    shard_size = 4 * 1024 * 1024
    count = 10  # 50 MB in total
    loads = []

    def group():
        for i in range(count):
            yield f"w{i}", CountingLazy((source_bytes // 4,), float(i), dtype, lambda: loads.append(CountingLazy.live))

    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        plan = QuantizationPlan.from_spec({quantize: True} if quantize else None)
        manifest = write_weights([group()], tmp_path, shard_size=shard_size, plan=plan)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert CountingLazy.peak_live == 1 and loads == [1] * count
    assert peak < 2 * tensor_bytes + shard_size, f"peak traced memory {peak} bytes"
    total = count * source_bytes // (4 if quantize == "uint8" else 1)
    assert len(manifest[0]["paths"]) == -(-total // shard_size)
    assert sum(os.path.getsize(tmp_path / p) for p in manifest[0]["paths"]) == total
    for name, array in read_weights(manifest, tmp_path):
        assert array.dtype == np.float32 and array[0] == array[-1] == float(name[1:])


# -- property -----------------------------------------------------------------------------------
_DTYPES = ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "uint16", "bool", "complex64",
           "complex128"]


@st.composite
def weight_arrays(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    kind = draw(st.sampled_from(_DTYPES + ["string"]))
    if kind == "string":
        elements = st.one_of(st.text(max_size=6), st.binary(max_size=6))
        flat = draw(st.lists(elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    dtype = np.dtype(kind)
    if kind == "int64":
        return draw(hnp.arrays(dtype, shape, elements=st.integers(-(2**31), 2**31 - 1)))
    if kind == "float64":
        return draw(hnp.arrays(dtype, shape, elements=st.floats(-1e30, 1e30)))
    if kind == "complex128":
        return draw(hnp.arrays(dtype, shape, elements=st.complex_numbers(max_magnitude=1e30)))
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=st.lists(st.lists(weight_arrays(), max_size=4), max_size=3), shard_size=st.integers(1, 64))
def test_roundtrip_property(groups, shard_size):
    named = [[(f"g{g}/w{i}", array) for i, array in enumerate(group)] for g, group in enumerate(groups)]
    with tempfile.TemporaryDirectory() as directory:
        manifest = write_weights(named, directory, shard_size=shard_size)
        sizes = shard_sizes(manifest, directory)
        for group_sizes in sizes:
            assert all(size == shard_size for size in group_sizes[:-1])
            assert all(0 < size <= shard_size for size in group_sizes)
        assert sorted(os.listdir(directory)) == sorted(p for g in manifest for p in g["paths"])
        loaded = dict(read_weights(manifest, directory))
    assert list(loaded) == [name for group in named for name, _ in group]
    for group in named:
        for name, array in group:
            if array.dtype == object:
                assert_strings_equal(loaded[name], array)
            else:
                expected = expected_after_storage(array)
                assert loaded[name].dtype == expected.dtype
                np.testing.assert_array_equal(loaded[name], expected)
