"""Review of K26 (RK26): ConvLSTMs started from ``initial_state`` with a mask, in the combinations K26's tests leave
out: go_backwards over unknown steps (sequence and last output), ``zero_output_for_mask`` without sequences (Keras
3 zeroes a masked last output; tf_keras repeats the previous one), ConvLSTM3D (rank-5 states selected on rank-4
views), Bidirectional merge modes ``mul``, ``ave`` and ``None``, and a Masking mask with ``initial_state``
(Bidirectional and go_backwards).

Each model is saved once with Keras's own outputs at two sizes (batch 3 with a fully masked sequence and one whose
first step is masked, then batch 1), converted with TensorFlow, Keras and tf_keras poisoned, and must match Keras on
TF.js cpu and wasm.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def started_masked(k):
    L = k.layers
    x, fx = k.Input((None, 5, 4, 3), name="x"), k.Input((3, 5, 4, 3), name="fx")
    s = [k.Input((5, 4, 2), name=f"s_{i}") for i in range(2)]
    m, grid = k.Input((None,), dtype="bool", name="m"), k.Input((None, 5, 4), dtype="bool", name="grid")
    fgrid = k.Input((3, 5, 4), dtype="bool", name="fgrid")
    back = L.ConvLSTM2D(2, 3, padding="same", go_backwards=True, return_sequences=True, return_state=True,
                        name="back")(x, initial_state=s, mask=grid)
    back_last = L.ConvLSTM2D(2, 3, padding="same", go_backwards=True, name="back_last")(x, initial_state=s, mask=m)
    zero_last = L.ConvLSTM2D(2, 3, padding="same", zero_output_for_mask=True, return_state=True, name="zero_last")(
        x, initial_state=s, mask=grid)
    zero_fixed = L.ConvLSTM2D(2, 3, padding="same", zero_output_for_mask=True, go_backwards=True, name="zero_fixed")(
        fx, initial_state=s, mask=fgrid)
    bi_mul = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), merge_mode="mul",
                             name="bi_mul")(x, initial_state=[*s, *s[::-1]], mask=grid)
    bi_ave = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same"), merge_mode="ave", name="bi_ave")(
        fx, initial_state=[*s, *s[::-1]], mask=fgrid)
    bi_none = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True),
                              merge_mode=None, name="bi_none")(x, initial_state=[*s, *s[::-1]], mask=m)
    # a Masking mask with initial_state: tf_keras passes it on (per position here), Keras 3 runs unmasked
    masked = L.Masking(name="masking")(x)
    bi_masking = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="bi_masking")(
        masked, initial_state=[*s, *s[::-1]])
    masking_last = L.ConvLSTM2D(2, 3, padding="same", go_backwards=True, name="masking_last")(masked, initial_state=s)
    return k.Model([x, fx, *s, m, grid, fgrid], [*back, back_last, *zero_last, zero_fixed, bi_mul, bi_ave, *bi_none,
                                                  bi_masking, masking_last])


def volumes(k):
    L = k.layers
    x, fx = k.Input((None, 2, 3, 3, 2), name="x"), k.Input((3, 2, 3, 3, 2), name="fx")
    s = [k.Input((2, 3, 3, 2), name=f"s_{i}") for i in range(2)]
    grid, fgrid = k.Input((None, 2, 3, 3), dtype="bool", name="grid"), k.Input((3, 2, 3, 3), dtype="bool",
                                                                                name="fgrid")
    seq = L.ConvLSTM3D(2, 2, padding="same", go_backwards=True, return_sequences=True, return_state=True,
                       name="seq")(x, initial_state=s, mask=grid)
    last = L.ConvLSTM3D(2, 2, padding="same", name="last")(fx, initial_state=s, mask=fgrid)
    return k.Model([x, fx, *s, grid, fgrid], [*seq, last])


FAMILIES = {"started_masked": started_masked, "volumes": volumes}
CASES = [("started_masked", "keras3.keras"), ("started_masked", "tf_keras.h5"), ("started_masked", "keras3.h5"),
         ("volumes", "keras3.keras"), ("volumes", "tf_keras.h5")]


def inputs_of(model, family: str, rng: np.random.Generator) -> Iterable[dict[str, np.ndarray]]:
    """Batch 3 (sequence 0 fully masked, sequence 1's first step masked) at 4 steps, then batch 1 at 2 steps."""
    for b, t in ((3, 4), (1, 2)):
        run = {}
        for tensor in model.inputs:
            name = tensor.name.split(":")[0]
            shape = (b, *[t if d is None else int(d) for d in tuple(tensor.shape)[1:]])
            if "bool" in str(getattr(tensor.dtype, "name", tensor.dtype)):
                value = rng.random(shape) > 0.3
                if b > 1:
                    value[0] = False
                    value[1, 0] = False
                run[name] = value
            else:
                value = rng.standard_normal(shape).astype("float32")
                if b > 1 and name == "x":  # Masking's: sequence 0 fully masked, sequence 1's first step and a cell
                    value[0] = 0
                    value[1, 0] = 0
                    value[1, 1, 0, 0] = 0
                run[name] = value
        yield run


converted = converted_fixture("rk26_started", CASES, two_size_saver(FAMILIES, inputs_of, seed=41))


@pytest.mark.node
@each_case(CASES)
def test_started_masked_conv_lstms_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
