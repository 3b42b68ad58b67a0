"""CLAHE's table lookup per image (session 21).

Session 20's lowering read the four tiles' tables through one flat index over the whole batch (``b·S + entry``, S
one image's ``gh·gw·C·256`` entries): past 2^24 (24 images of 32x32 tiles, RGB) webgl, which holds int32 in float32,
read neighbouring entries, and from 2^31 every backend would wrap. Now the table is ``[B, S]`` and each lookup a
``GatherNd`` of ``(image, entry)`` pairs, both parts below S or B whatever the batch. Checked structurally (every
integer constant and the table's row within one image's table), numerically against Keras ``model(x)`` on TF.js cpu
and wasm at small batches, and on webgl at a batch whose old flat index passed 2^24 (which session 20's lowering
fails: neighbouring entries read).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, verify_last_run_on_webgl,  # noqa: E402
                             verify_runs)

#: One 32x32-tile RGB image's table: 32·32·3·256 entries. 2^24 / TABLE ≈ 21.3 images.
GRID = (32, 32)
TABLE = GRID[0] * GRID[1] * 3 * 256
#: A batch whose flat index (old lowering) passes 2^24.
LARGE = 24


def _clahe(k: Any, **options: Any) -> Any:
    return k.layers.ContrastLimitedAdaptiveHistogramEqualization(**options)


def static_family(k: Any) -> Any:
    """32x32 RGB images: one pixel per tile (32x32 grid) and Keras's default 8x8 grid."""
    x = k.Input((32, 32, 3), name="x")
    return k.Model(x, [_clahe(k, tile_grid_size=GRID)(x), _clahe(k)(x)])


def runtime_family(k: Any) -> Any:
    """Unknown height and width: the pairs' tile offsets computed at run time."""
    x = k.Input((None, None, 3), name="x")
    return k.Model(x, [_clahe(k, tile_grid_size=GRID, clip_limit=2.5)(x)])


def _inputs(model: Any, rng: np.random.Generator, batch: int, height: int = 32, width: int = 32) -> dict[str, Any]:
    """Uniform in [0, 255], a third whole numbers (ties at bin edges)."""
    x = rng.uniform(0, 255, (batch, height, width, 3)).astype("float32")
    return {"x": np.where(rng.uniform(size=x.shape) < 0.3, np.round(x), x).astype("float32")}


FAMILIES = {"static": static_family, "runtime": runtime_family}
RUNS = {"static": [(2,), (1,), (LARGE,)], "runtime": [(2, 32, 32), (1, 33, 35), (LARGE, 32, 32)]}
CASES = [("static", "keras3.keras"), ("runtime", "keras3.keras")]
converted = converted_fixture("clahe_batch_s21", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=211))


def _graph(path) -> list[dict]:
    return json.loads((path.parent / f"{path.name}.out" / "model.json").read_text())["modelTopology"]["node"]


def _int_constants(path) -> dict[str, np.ndarray]:
    """The graph's int32 constants (values from the weights manifest)."""
    out = path.parent / f"{path.name}.out"
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    data = b"".join((out / p).read_bytes() for group in manifest for p in group["paths"])
    found, offset = {}, 0
    for spec in (w for group in manifest for w in group["weights"]):
        size = int(np.prod(spec["shape"], dtype=np.int64)) * (1 if spec["dtype"] == "bool" else 4)
        if spec["dtype"] == "int32" and "quantization" not in spec:
            found[spec["name"]] = np.frombuffer(data[offset:offset + size], np.int32)
        offset += size
    return found


@each_case(CASES)
def test_lookup_indices_stay_within_one_image(converted, family, flavor):
    """Every lookup is a GatherNd of (image, entry) pairs into a ``[B, S]`` table, and no integer constant exceeds
    one image's table: nothing in the index grows with the batch (session 20: one GatherV2 at ``b·S + entry``)."""
    path, _, _ = converted[(family, flavor)]
    nodes = {n["name"]: n for n in _graph(path)}
    constants = _int_constants(path)
    gathers = [n for n in nodes.values() if n["op"] in ("GatherV2", "GatherNd")]
    assert gathers and all(n["op"] == "GatherNd" for n in gathers), [n["op"] for n in gathers]
    tables = {n["input"][0].split(":")[0] for n in gathers}
    sizes = {TABLE} if family == "runtime" else {TABLE, 8 * 8 * 3 * 256}
    rows = set()
    for name in tables:
        table = nodes[name]
        assert table["op"] == "Reshape"
        target = constants[table["input"][1].split(":")[0]].tolist()
        assert target[0] == -1 and len(target) == 2, target
        rows.add(target[1])
    assert rows == sizes
    for n in gathers:  # the indices are (image, entry) pairs: their last axis holds 2
        index = nodes[n["input"][1].split(":")[0]]
        assert index["op"] == "AddV2"
    largest = max(int(np.abs(v).max()) for v in constants.values() if v.size)
    assert largest <= TABLE, largest


@pytest.mark.node
@each_case(CASES)
def test_per_image_lookup_matches_keras(converted, tfjs_runtime, family, flavor):
    """TF.js cpu and wasm against Keras at batches 2 and 1, and at 24 (past 2^24 for a flat index)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(CASES)
def test_webgl_past_the_old_flat_index(converted, browser, family, flavor):
    """24 images of 32x32 tiles: a flat index reached 24·32·32·3·256 ≈ 1.9e7 > 2^24, where webgl's float32 int32
    read neighbouring entries (session 20's lowering fails here); per image the entries stay below 786432."""
    path, runs, _ = converted[(family, flavor)]
    assert runs[-1][0]["x"].shape[0] * TABLE > 2 ** 24
    verify_last_run_on_webgl(path, runs, browser)


def _convert(tmp_path, model: Any) -> None:
    import tfjsconv

    model.save(tmp_path / "clahe.keras")
    tfjsconv.convert(tmp_path / "clahe.keras", tmp_path / "out", output_format="tfjs_graph_model")


def test_a_table_past_int32_per_image_is_refused_by_name(tmp_path):
    """4096x4096 tiles of 128 channels: 2^39 entries per image, past int32's indices whatever the batch."""
    from tfjsconv.errors import UsageError

    x = keras.Input((None, None, 128), name="x")
    with pytest.raises(UsageError, match=r"'eq' \(ContrastLimitedAdaptiveHistogramEqualization\): 4096x4096 tiles "
                                         r"of 128 channels make a 549755813888-entry table per image, past int32"):
        _convert(tmp_path, keras.Model(x, _clahe(keras, tile_grid_size=(4096, 4096), name="eq")(x)))


def test_a_table_past_2_24_per_image_is_named(tmp_path, caplog):
    """128x128 tiles of 5 channels: 20971520 entries per image, past webgl's exact int32 (float32) whatever the
    batch: named in the conversion's warnings, not refused (exact on cpu and wasm)."""
    x = keras.Input((None, None, 5), name="x")
    with caplog.at_level("WARNING"):
        _convert(tmp_path, keras.Model(x, _clahe(keras, tile_grid_size=(128, 128), name="eq")(x)))
    assert "'eq' (ContrastLimitedAdaptiveHistogramEqualization): 128x128 tiles of 5 channels make a 20971520-entry " \
           "table per image: on webgl" in caplog.text
