"""ScatterElements over run-time indices with repeats, cases the X3 tests leave out (review RX3).

The repeated-index guard (reduction none) sorts each line on ``index * S + position`` with TopKV2. Checked
here against onnxruntime in TF.js cpu and wasm: integer data and updates, a line of one index (no guard),
no indices at all, no lines at all, and the combining reductions with repeats (exact, or refused by name).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent))

F, I32, I64 = 1, 6, 7  # TensorProto.FLOAT, INT32, INT64


def _model(folder: Path, axis: int, rank: int, elem: int, reduction: str = "none", shapes: tuple = ()) -> Path:
    from onnx import helper
    from onnx_models import onnx_model

    attrs = {"axis": axis} if reduction == "none" else {"axis": axis, "reduction": reduction}
    nodes = [helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], **attrs)]
    data, index = shapes or ([f"d{k}" for k in range(rank)], [f"i{k}" for k in range(rank)])
    return onnx_model(folder / "m.onnx", nodes, {"d": (elem, data), "i": (I64, index), "u": (elem, index)}, ["y"])


def _feeds(data_shape: tuple, index_shape: tuple, axis: int, dtype: type, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    size = data_shape[axis]
    values = (lambda s: rng.integers(-50, 50, s)) if np.issubdtype(dtype, np.integer) else rng.standard_normal
    return {"d": values(data_shape).astype(dtype), "u": values(index_shape).astype(dtype),
            "i": rng.integers(-size, size, index_shape).astype(np.int64) if size else
            np.zeros(index_shape, np.int64)}


CASES = {  # axis, data shape, indices shape, dtype
    "int32_repeats": (1, (3, 4), (3, 9), np.int32),
    "int64_repeats": (0, (4, 2), (12, 2), np.int64),
    "one_index_per_line": (1, (3, 5), (3, 1), np.float32),
    "no_indices": (1, (3, 5), (3, 0), np.float32),
    "no_lines": (1, (0, 5), (0, 3), np.float32),
    "all_the_same_index": (1, (2, 6), (2, 7), np.float32),
}


@pytest.mark.node
@pytest.mark.parametrize("static", [False, True], ids=["run_time_sizes", "static_sizes"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_repeated_indices_match_onnxruntime(case, static, tmp_path, tfjs_runtime):
    """Static sizes sort each line (TopKV2); run-time ones compare pairs (keys past 2**24 unbounded)."""
    from onnx_models import matches_onnxruntime

    axis, data_shape, index_shape, dtype = CASES[case]
    elem = {np.int32: I32, np.int64: I64, np.float32: F}[dtype]
    path = _model(tmp_path, axis, len(data_shape), elem, shapes=(list(data_shape), list(index_shape)) if static else ())
    feeds = _feeds(data_shape, index_shape, axis, dtype, seed=len(case))
    if case == "all_the_same_index":
        feeds["i"][:] = 2
    matches_onnxruntime(path, feeds, tmp_path / "out", narrow_int64_feeds=True, backends=("cpu", "wasm"))


@pytest.mark.node
@pytest.mark.parametrize("static", [False, True], ids=["run_time_sizes", "static_sizes"])
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_combining_reductions_with_repeats_are_exact_or_refused(reduction, static, tmp_path, tfjs_runtime):
    from onnx_models import matches_onnxruntime

    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    path = _model(tmp_path, 1, 2, F, reduction, shapes=([3, 4], [3, 6]) if static else ())
    feeds = _feeds((3, 4), (3, 6), 1, np.float32, seed=3)
    feeds["i"][0, :3] = 1  # three updates landing on one element
    try:
        tfjsconv.convert(path, tmp_path / "out")
    except TfjsconvError as err:
        assert not static and reduction in str(err)  # refused by name: mul/max/min need static index rows
        return
    matches_onnxruntime(path, feeds, tmp_path / "out", convert=False, narrow_int64_feeds=True,
                        backends=("cpu", "wasm"))


@pytest.mark.node
@pytest.mark.parametrize("static", [False, True], ids=["run_time_sizes", "static_sizes"])
def test_sort_keys_past_float32_integers(static, tmp_path, tfjs_runtime):
    """A multi-hot over a 40000-token vocabulary from 512 ids: ``index * 512 + position`` reaches 2**24,
    where wasm's TopKV2 (float32 compares) tied two keys and kept the wrong update; such sizes compare
    pairs instead."""
    from onnx_models import matches_onnxruntime

    vocab, count = 40000, 512
    path = _model(tmp_path, 1, 2, F, shapes=([2, vocab], [2, count]) if static else ())
    rng = np.random.default_rng(0)
    feeds = {"d": np.zeros((2, vocab), np.float32), "i": rng.integers(vocab - 40, vocab, (2, count)).astype(np.int64),
             "u": rng.standard_normal((2, count)).astype(np.float32)}
    matches_onnxruntime(path, feeds, tmp_path / "out", narrow_int64_feeds=True, backends=("cpu", "wasm"))
