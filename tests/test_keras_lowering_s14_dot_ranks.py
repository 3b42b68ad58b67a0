"""Dot on inputs of other ranks than [2, 2] and [3, 3], as Keras's ``batch_dot`` computes it (S14 H6).

Every pair of ranks 2..5 was refused (``'layer' (Dot) on inputs of ranks [2, 3]``) though ``--loader=tensorflow``
converted it to Keras's numbers. Both flavours' ``batch_dot`` expand a rank-2 input, move the contracted axes (``x``'s
last, ``y``'s to 1), merge ``x``'s middle and ``y``'s trailing axes around one matmul, split them back and squeeze the
added axis; the lowering builds the same from ExpandDims/Transpose/Reshape/BatchMatMulV2/Squeeze, reading sizes unknown
in the config at run time. Keras 3's Dot of int32 (a float32 matmul cast back) goes the same way. Expected values from
eager Keras 3 / tf_keras, converted with TensorFlow and Keras poisoned, run in TF.js (cpu, wasm) within 1e-5 (ints
exactly). tf_keras's Dot of int32 (its exact wrapped sums) stays lowered for two rank-2 or rank-3 inputs only
(refused by name otherwise).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, convert_poisoned, saved_and_converted  # noqa: E402


def ranks(k):
    """Each pair of ranks 2..5 somewhere (the contracted size 4 at various axes, ints and negative axes, per-input
    axes), one Dot of an input with itself over a size-2 axis, and normalize=True on ranks [4, 4] and [2, 5]."""
    L = k.layers
    v = k.Input((4,), name="v")
    a, c = k.Input((4, 3), name="a"), k.Input((3, 4), name="c")
    d, e = k.Input((2, 4, 3), name="d"), k.Input((2, 3, 4), name="e")
    g, h = k.Input((3, 4, 2, 2), name="g"), k.Input((2, 3, 2, 4), name="h")
    outs = [L.Dot((1, 1), name="r23")([v, a]), L.Dot(-1, name="r32")([c, v]), L.Dot((1, 2), name="r24")([v, d]),
            L.Dot(-1, name="r42")([e, v]), L.Dot(2, name="r34")([c, d]), L.Dot((2, -2), name="r43")([d, a]),
            L.Dot((-1, 2), name="r45")([e, g]), L.Dot((2, 4), name="r55")([g, h]), L.Dot((1, 2), name="r25")([v, g]),
            L.Dot(-1, name="r52")([h, v]), L.Dot(1, name="r44_self")([e, e]), L.Dot((-3, 2), name="r53")([g, c]),
            L.Dot((2, 3), normalize=True, name="r44_normalized")([d, e]),
            L.Dot((1, 2), normalize=True, name="r25_normalized")([v, g])]
    return k.Model([v, a, c, d, e, g, h], outs)


def keras3_ints(k):
    """Keras 3's Dot of int32 on ranks [2, 3] (the probe's case), [4, 3], [2, 5] and beside a float [3, 4]."""
    L = k.layers
    i, j = k.Input((4,), name="i", dtype="int32"), k.Input((4, 3), name="j", dtype="int32")
    m, n = k.Input((2, 3, 4), name="m", dtype="int32"), k.Input((3, 4, 2, 2), name="n", dtype="int32")
    f = k.Input((3, 4), name="f")
    outs = [L.Dot((1, 1), name="layer")([i, j]), L.Dot((-1, 1), name="ints43")([m, j]),
            L.Dot((1, 2), name="ints25")([i, n]), L.Dot((2, 3), name="mixed34")([f, m])]
    return k.Model([i, j, m, n, f], outs)


FAMILIES = {"ranks": ranks, "ints": keras3_ints}
CASES = [("ranks", "keras3.keras"), ("ranks", "keras3.h5"), ("ranks", "tf_keras.h5"), ("ints", "keras3.keras")]


def _inputs(model, rng: np.random.Generator, batch: int = 2, free: dict[str, tuple[int, ...]] | None = None
            ) -> dict[str, np.ndarray]:
    """Normal floats, ints in [-1000, 1000) (sums exact in float32); ``free[name]``: the sizes of that input's axes
    unknown in the config, in order."""
    out = {}
    for tensor in model.inputs:
        sizes = iter((free or {}).get(tensor.name.split(":")[0], ()))
        shape = (batch, *(next(sizes) if d is None else d for d in tuple(tensor.shape)[1:]))
        dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
        out[tensor.name.split(":")[0]] = rng.integers(-1000, 1000, shape).astype(dtype) if "int" in dtype \
            else rng.standard_normal(shape).astype("float32")
    return out


def _save(family: str, flavor: str, folder):
    from keras_models import save_with_outputs

    model = FAMILIES[family](_module(flavor))
    return save_with_outputs(model, _inputs(model, np.random.default_rng(3)), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "s14_dot_ranks", CASES, _save))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_dot_of_other_ranks_matches_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    if family == "ranks":  # Keras's shapes: a rank-2 input's axis squeezed, x's then y's free axes
        assert [o.shape[1:] for o in outputs[:4]] == [(3,), (3,), (2, 3), (2, 3)]
        assert outputs[7].shape == (2, 3, 2, 2, 2, 3, 2) and outputs[8].shape == (2, 3, 2, 2)
    else:
        assert outputs[0].dtype == np.int32 and outputs[3].dtype == np.float32
    verify_runs(path, [(inputs, outputs)])


def free_sizes(k):
    """Sizes unknown in the config: merged and split back with sizes read at run time."""
    L = k.layers
    v = k.Input((4,), name="v")
    p, q = k.Input((None, 4), name="p"), k.Input((None, 3, 4), name="q")
    r = k.Input((None, None, 4), name="r")
    outs = [L.Dot((2, 3), name="r34")([p, q]), L.Dot(-1, name="r42")([r, v]), L.Dot((1, 3), name="r24")([v, r]),
            L.Dot((3, 2), name="r43")([q, p])]
    return k.Model([v, p, q, r], outs)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_dot_over_sizes_unknown_in_the_config_matches_keras(tmp_path, tfjs_runtime, flavor):
    """One converted model at two batches and lengths (the reshapes read the sizes at run time)."""
    model = free_sizes(_module(flavor))
    path = case_file(tmp_path, "free", flavor)
    model.save(path)
    convert_poisoned([path])
    rng = np.random.default_rng(5)
    for batch, free in ((2, (3, 2, 5, 1)), (1, (1, 4, 2, 3))):
        inputs = _inputs(model, rng, batch, {"p": free[:1], "q": free[1:2], "r": free[2:]})
        outputs = model([*inputs.values()])
        _verify(path.parent / f"{path.name}.out", inputs, [np.asarray(o) for o in outputs])

