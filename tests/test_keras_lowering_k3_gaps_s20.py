"""Keras 3 calls session 19's probe (helper H2) found refused by the lowering while ``--loader=tensorflow`` converted
them (session 20): ``image.map_coordinates`` (orders 0 and 1, every fill mode, constant and tensor coordinates, out
of range and NaN), ``einsum`` with a repeated label (the diagonal, gathered: an Inf off it stays off it),
``nanmedian``/``nanquantile`` over the flattened tensor (``axis=None``, batch included), ``x[0, 0]`` saved as the
key ``[0, 0]`` (``searchsorted`` of it), ``scatter`` (duplicates summed) and ``scatter_update``, and ``image.resize``
of one rank-3 image. Keras 3 ``.keras`` and ``.h5``, converted with TensorFlow and Keras poisoned, against
``model(x)`` on TF.js cpu and wasm at two input sizes where the config leaves sizes unknown.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, verify_last_run_on_webgl,  # noqa: E402
                             verify_runs)

FLAVORS = ["keras3.keras", "keras3.h5"]

#: Coordinates ``[2, 2, 3]`` into a 4×5 image: inside, between pixels, past every edge, far out, on the last row.
_COORDS = np.float32([[[0.5, 1.2, -1.5], [3.0, 3.99, 9.25]], [[1.0, 0.3, 4.5], [-7.2, 2.5, 0.0]]])
#: Mirror mode's TensorFlow gather raises where a neighbour folds onto the size itself: coordinates that avoid it.
_MIRROR = np.float32([[[0.5, 1.2, -1.5], [6.3, 2.25, -2.0]], [[1.0, 0.3, 2.5], [-7.2, 1.5, 0.0]]])


def map_family(k: Any) -> Any:
    """A 4×5 image (``x[0]``) at constant coordinates in every fill mode and both orders; one at the coordinates
    of a second input (NaN and far-out values among them); one rank-3 image."""
    o = k.ops
    x = k.Input((4, 5), name="x")
    coords = k.Input((2, 3, 3), name="coords")
    rgb = k.Input((4, 5, 2), name="rgb")
    image = x[0]
    outputs = [o.image.map_coordinates(image, _COORDS, order, fill_mode="constant", fill_value=2.5)
               for order in (0, 1)]
    outputs += [o.image.map_coordinates(image, _COORDS, order, fill_mode=mode)
                for mode in ("nearest", "wrap", "reflect") for order in (0, 1)]
    outputs += [o.image.map_coordinates(image, _MIRROR, order, fill_mode="mirror") for order in (0, 1)]
    outputs += [o.image.map_coordinates(image, coords[0], 1), o.image.map_coordinates(image, coords[0], 0,
                                                                                        fill_mode="nearest"),
                o.image.map_coordinates(image, coords[0], 1, fill_mode="wrap"),
                o.image.map_coordinates(rgb[1], np.float32([[[0.5, 3.2]], [[1.5, -0.4]], [[0.0, 0.75]]]), 1)]
    return k.Model([x, coords, rgb], outputs)


def map_unknown_family(k: Any) -> Any:
    """An image of sizes known only at run time (``x[0]`` of ``Input((None, None))``), every mode; coordinates of
    a run-time count (``pts[0]`` of ``Input((2, None))``)."""
    o = k.ops
    x = k.Input((None, None), name="x")
    pts = k.Input((2, None), name="pts")
    image = x[0]
    outputs = [o.image.map_coordinates(image, _COORDS, order, fill_mode=mode, fill_value=-1.0)
               for mode in ("constant", "nearest", "wrap", "reflect") for order in (0, 1)]
    outputs += [o.image.map_coordinates(image, np.float32([[[0.5, 1.25]], [[-0.5, 1.75]]]), 1, fill_mode="mirror"),
                o.image.map_coordinates(image, pts[0], 1), o.image.map_coordinates(image, pts[1], 0,
                                                                                   fill_mode="reflect")]
    return k.Model([x, pts], outputs)


def einsum_family(k: Any) -> Any:
    """Diagonals: ``bii->bi``, a trace, a diagonal kept beside another label, ``iii`` of a cube, a diagonal then a
    product with a second operand."""
    o = k.ops
    x = k.Input((4, 4), name="x")
    cube = k.Input((3, 3, 3), name="cube")
    y = k.Input((4,), name="y")
    outputs = [o.einsum("bii->bi", x), o.einsum("bii->b", x), o.einsum("bii", x), o.einsum("bjj->jb", x),
               o.einsum("biii->bi", cube), o.einsum("bjii->bij", cube),
               o.einsum("bii,bi->bi", x, y), o.einsum("bii,bj->bij", x, y)]
    return k.Model([x, cube, y], outputs)


def nan_family(k: Any) -> Any:
    """``nanmedian``/``nanquantile``/``nanpercentile`` with ``axis=None``: over every element, batch included."""
    o = k.ops
    x = k.Input((3, 4), name="x")
    outputs = [o.nanmedian(x), o.nanmedian(x, keepdims=True), o.nanquantile(x, [0.25, 0.9]),
               o.nanquantile(x, 0.3, method="nearest"), o.nanpercentile(x, [10.0, 50.0], method="midpoint",
                                                                        keepdims=True),
               o.nanquantile(x, 0.5, method="lower"), o.nanquantile(x, 0.75, method="higher")]
    return k.Model(x, outputs)


def items_family(k: Any) -> Any:
    """``x[0, 0]`` (saved as the key ``[0, 0]``, as ``x[[0, 0]]`` is, which Keras 3 reads as ``x[0, 0]`` too),
    ``searchsorted`` of it, ``scatter`` (a duplicate index summed) and ``scatter_update`` (the batch's first
    element, checked at run time)."""
    o = k.ops
    x = k.Input((3, 4), name="x")
    outputs = [x[0, 0], x[[1, 2]], x[1, -1, 2], o.searchsorted(np.float32([-1, 0, 2, 10]), x[0, 0]),
               o.searchsorted(np.float32([-1, 0, 2, 10]), x[[0, 1]], side="right"),
               o.scatter(np.int32([[0, 1], [2, 3], [0, 1]]), x[0, 0, :3], (4, 4)),
               o.scatter_update(x, np.int32([[0, 1, 1]]), np.float32([9.0])),
               o.scatter_update(x, np.int32([[0, 2], [1, 0]]), np.float32([[1, 2, 3, 4], [5, 6, 7, 8]]))]
    return k.Model(x, outputs)


def resize_family(k: Any) -> Any:
    """``image.resize`` of one rank-3 image (``x[0]``): bilinear and nearest, channels_first, to the aspect ratio."""
    o = k.ops
    x = k.Input((5, 6, 3), name="x")
    image = x[0]
    outputs = [o.image.resize(image, (3, 4)), o.image.resize(image, (7, 9), interpolation="nearest"),
               o.image.resize(image, (4, 3), crop_to_aspect_ratio=True),
               o.image.resize(o.transpose(image, (2, 0, 1)), (4, 4), data_format="channels_first"),
               o.image.resize(image, (4, 8), pad_to_aspect_ratio=True, fill_value=1.5)]
    return k.Model(x, outputs)


def resize_unknown_family(k: Any) -> Any:
    o = k.ops
    x = k.Input((None, None, 3), name="x")
    image = x[1]
    return k.Model(x, [o.image.resize(image, (4, 4)), o.image.resize(image, (3, 5), interpolation="nearest")])


FAMILIES = {"map": map_family, "map_unknown": map_unknown_family, "einsum": einsum_family, "nan": nan_family,
            "items": items_family, "resize": resize_family, "resize_unknown": resize_unknown_family}


def _awkward(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal values with ties, a NaN, ±Inf and -0 among them."""
    x = rng.standard_normal(shape).astype("float32")
    flat = x.reshape(-1)
    flat[1], flat[2], flat[5] = 0.5, 0.5, -0.0
    return x


def _inputs(model: Any, rng: np.random.Generator, run: int) -> dict[str, np.ndarray]:
    names = [t.name.split(":")[0] for t in model.inputs]
    shapes = {n: tuple(d if d is not None else 0 for d in t.shape[1:]) for n, t in zip(names, model.inputs)}
    batch = (3, 2)[run]
    unknown = {n for n, t in zip(names, model.inputs) if None in t.shape[1:]}
    out = {}
    for name in names:
        shape = shapes[name]
        if name == "pts":
            shape = (2, (3, 5)[run])
        elif name in unknown:
            shape = ((4, 5, 3), (6, 3, 3))[run][:len(shape)]
        out[name] = _awkward(rng, (batch, *shape))
    if "pts" in out:
        out["pts"] = (out["pts"] * 3.0).astype("float32")
    if "coords" in out:  # far out, NaN, between pixels
        out["coords"] = (out["coords"] * 3.0).astype("float32")
        out["coords"][0, 0, 0, :3] = [np.nan, 1e6, -3.5]
        if run == 0:  # past 2^24 (index + 1 no float32) and int32: exact on cpu and wasm (webgl holds int32 as
            out["coords"][0, 1, 2, :3] = [123456792.0, 3e9, 16777217.0]  # float32: the contract's deviation)
    if "x" in out and out["x"].ndim == 3 and out["x"].shape[1:] == (4, 5):  # the mapped image: Inf off the points
        out["x"][0, 3, 4] = np.inf
    if "x" in out and out["x"].shape[1:] == (4, 4):  # the diagonal's neighbours: Inf and NaN off it
        out["x"][0, 0, 1], out["x"][0, 2, 3], out["x"][-1, 1, 1] = np.inf, np.nan, -np.inf
    if "x" in out and out["x"].shape[1:] == (3, 4) and run == 0:  # NaN in the flattened tensor, ties, an Inf
        out["x"][0, 0, :2] = np.nan
        out["x"][1, 2, 3] = np.inf
    return out


CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
converted = converted_fixture("k3_gaps_s20", CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(0,), (1,)]),
                                                                   seed=2011))


@pytest.mark.node
@each_case(CASES)
def test_keras3_calls_the_traced_path_converted_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("family", ["map", "map_unknown", "einsum", "nan", "items", "resize_unknown"])
def test_keras3_calls_the_traced_path_converted_match_keras_on_webgl(converted, browser, family):
    path, runs, _ = converted[(family, "keras3.keras")]
    verify_last_run_on_webgl(path, runs, browser)


@pytest.mark.node
def test_mirror_onto_the_size_at_run_time_raises_in_tfjs_as_in_tensorflow(tmp_path, tfjs_runtime):
    """Mirror mode folds a neighbour of 3.5 (index 4) onto the size of a 4-row image, where TensorFlow's gather
    raises: so does the converted model on TF.js cpu and wasm; at 1.5 it matches Keras."""
    import json

    import tfjsconv
    from tfjsconv.verify.run import run_model

    x, coords = keras.Input((4, 5), name="x"), keras.Input((2, 1), name="coords")
    model = keras.Model([x, coords], keras.ops.image.map_coordinates(x[0], coords[0], 1, fill_mode="mirror"))
    image = np.arange(40, dtype="float32").reshape(2, 4, 5)
    good, bad = np.float32([[[1.5], [0.25]]]), np.float32([[[3.5], [0.25]]])
    with pytest.raises(Exception, match="(?i)index"):
        model([image, bad])
    model.save(tmp_path / "mirror.keras")
    tfjsconv.convert(tmp_path / "mirror.keras", tmp_path / "mirror", output_format="tfjs_graph_model")
    names = json.loads((tmp_path / "mirror" / "model.json").read_text())["signature"]["inputs"]
    feed = dict(zip(sorted(names), [coords_value for coords_value in (bad, image)]))  # "coords" < "x"
    run = run_model(tmp_path / "mirror", feed, backends=["cpu", "wasm"], quiet=True)
    assert not run["cpu"].ok and not run["wasm"].ok, run.to_json()
    feed = dict(zip(sorted(names), (good, image)))
    fine = run_model(tmp_path / "mirror", feed, backends=["cpu", "wasm"], quiet=True)
    for backend in ("cpu", "wasm"):
        (actual,) = fine.outputs(backend).values()
        np.testing.assert_allclose(actual, np.asarray(model([image, good])), rtol=1e-6)


def _refused(k: Any, case: str) -> Any:
    o = k.ops
    if case == "mirror_constant":  # 3.5's neighbour 4 folds onto the size: Keras raises on every input
        x = k.Input((4, 5), name="x")
        return k.Model(x, o.image.map_coordinates(x[0], np.float32([[[3.5]], [[0.5]]]), 1, fill_mode="mirror"))
    if case == "update_twice":  # TensorFlow's order of two updates of one element is unspecified
        x = k.Input((3, 4), name="x")
        return k.Model(x, o.scatter_update(x, np.int32([[0, 1, 1], [0, 1, 1]]), np.float32([1.0, 2.0])))
    if case == "update_add":
        x = k.Input((3, 4), name="x")
        return k.Model(x, o.scatter_update(x, np.int32([[0, 1, 1]]), np.float32([1.0]), reduction="add"))
    x = k.Input((None, None), name="x")  # a diagonal over sizes known only at run time
    return k.Model(x, o.einsum("bii->bi", x))


@pytest.mark.parametrize("case,reason", [
    ("mirror_constant", r"'map_coordinates\w*' \(MapCoordinates\): fill_mode='mirror' at constant coordinates whose "
                        r"neighbour folds onto size 4 of axis 0"),
    ("update_twice", r"'scatter_update\w*' \(ScatterUpdate\): indices \[\[0, 1, 1\], \[0, 1, 1\]\] name an element "
                     r"twice"),
    ("update_add", r"'scatter_update\w*' \(ScatterUpdate\): reduction='add'"),
    ("diagonal_unknown", r"'einsum\w*' \(Einsum\): subscripts 'bii->bi': a repeated label over sizes \[None, None\]"),
])
def test_what_stays_refused_is_named(tmp_path, case, reason):
    import tfjsconv
    from tfjsconv.errors import UsageError

    _refused(keras, case).save(tmp_path / f"{case}.keras")
    with pytest.raises(UsageError, match=reason):
        tfjsconv.convert(tmp_path / f"{case}.keras", tmp_path / case, output_format="tfjs_graph_model")
    assert not (tmp_path / case).exists()
