"""Keras 3 op layers the lowering refused while ``--loader=tensorflow`` converted them, and ``round``'s signed zero
(session 19, helper H2's probe of 324 ``keras.ops`` functions): ``round(x, decimals)`` (its TensorFlow backend's
``round(x · 10^d) / 10^d`` in float32), ``max``/``min`` with ``initial`` (``maximum`` of the reduction and it),
``repeat`` with a count per entry, ``argmax``/``argmin`` over the flattened tensor (batch included, as Keras
3 computes it), and SpectralNormalization saved as ``.h5``. ``round`` of ``-0.5 <= x < 0`` is -0 in TF and +0 in TF.js's cpu ``Round``, so
``1 / round(x)`` came out +Inf where Keras gives -Inf, silently: the lowering now gives TF's signed zero. Keras 3
``.keras`` and ``.h5``, TF.js cpu and wasm against ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5"]
SIZES = [(3,), (2,)]  # batch of each run


def ops_family(k: Any) -> Any:
    o = k.ops
    x = k.Input((3, 4), name="x")
    outputs = [o.divide(1.0, o.round(x)), o.round(x, 1), o.round(x * 1000.0, -2), o.max(x, axis=1, initial=0.25),
               o.min(x, axis=-1, keepdims=True, initial=-0.5), o.repeat(x, [1, 0, 2], axis=1),
               o.repeat(x, [2, 1, 1, 3], axis=-1), o.argmax(x), o.argmin(x, keepdims=True)]
    return k.Model(x, outputs)


def spectral_family(k: Any) -> Any:
    """SpectralNormalization around a Dense (bias and none, one input feature) and a Conv1D: a ``.h5`` file saves
    the wrapped layer's weights, then ``vector_u`` (a ``.keras`` archive the kernel's reference and ``vector_u``
    first); the lowering refused the ``.h5`` as corrupt until session 19."""
    L = k.layers
    x = k.Input((3, 4), name="x")
    narrow = L.Reshape((12, 1))(x)
    outputs = [L.SpectralNormalization(L.Dense(3))(x), L.SpectralNormalization(L.Dense(2, use_bias=False))(x),
               L.SpectralNormalization(L.Dense(2))(narrow), L.SpectralNormalization(L.Conv1D(2, 2))(x)]
    return k.Model(x, outputs)


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    x = rng.standard_normal((batch, 3, 4)).astype("float32")
    x[0, 0] = [-0.5, -0.25, -0.0, 0.5]
    x[0, 1] = [-1.5, 2.5, -2.5, 0.049999]
    x[-1, 2] = [-0.45, 0.45, -3.0, np.nan]
    return {"x": x}


CASES = [(family, flavor) for family in ("ops", "spectral") for flavor in FLAVORS]
converted = converted_fixture("k3_ops_s19", CASES, two_size_saver({"ops": ops_family, "spectral": spectral_family},
                                                                  at_runs(_inputs, SIZES), seed=197))


@pytest.mark.node
@each_case(CASES)
def test_keras3_ops_the_traced_path_converted_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
