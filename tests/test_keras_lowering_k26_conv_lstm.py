"""ConvLSTM1D/2D/3D masks over positions known only at run time, and plain ConvLSTMs called with ``initial_state``,
with a mask too (issue 16, K26).

``runtime_masks`` (tf_keras only: Keras 3 refuses to build a ConvLSTM over unknown spatial sizes): Masking's
per-position ``[batch, T, *positions]`` masks into ConvLSTM1D/2D/3D over unknown steps and positions (``same``
padding, ``valid`` with a kernel of 1, go_backwards, return_sequences, return_state), over a static time length
(the unrolled form; ConvLSTM3D's states selected on rank-4 views folded at run time), and a masked ConvLSTM2D
started from given states of run-time positions; a given ``[batch, T]`` mask into a ConvLSTM1D there (tf_keras
cannot build one into a ConvLSTM2D/3D over unknown positions: its ``rnn`` tiles the mask by the output's static
sizes).
``started`` (Keras 3 and tf_keras): ConvLSTM1D/2D/3D called with ``initial_state`` tensors over unknown and static
steps. ``started_masked`` (Keras 3 and tf_keras): ``initial_state`` with a given ``mask=`` (``[batch, T]`` and per
position): a masked step keeps the states and outputs the previous output, zeros before any step (Keras's ``rnn``),
Keras 3's ``zero_output_for_mask`` zeros; Bidirectional too; and a ``[batch, T, 1, W]`` mask, which Keras's
``where`` broadcasts over the output's rows; a Masking mask with ``initial_state`` (tf_keras passes it on, Keras 3
runs the call unmasked when no ``mask=`` is given). ``constants`` (Keras 3): saved ``__numpy__`` states (a batch of 1)
with and without a mask.

Each model is saved once, with Keras's own outputs at two sizes (batch 3 with a fully masked sequence, then batch
1), converted with TensorFlow, Keras and tf_keras poisoned, and must match Keras on TF.js cpu and wasm.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def runtime_masks(k):
    L = k.layers
    x2, x1 = k.Input((None, None, None, 3), name="x2"), k.Input((None, None, 4), name="x1")
    x3, fixed = k.Input((None, None, None, None, 2), name="x3"), k.Input((4, None, None, 3), name="fixed")
    h2, c2 = k.Input((None, None, 2), name="h2"), k.Input((None, None, 2), name="c2")
    masked2 = L.Masking(name="masking2")(x2)
    seq = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="seq2d")(masked2)
    back = L.ConvLSTM2D(2, 2, padding="same", dilation_rate=2, go_backwards=True, return_state=True,
                        name="back2d")(masked2)
    point = L.ConvLSTM2D(2, 1, name="point2d")(masked2)  # valid padding with a kernel of 1 keeps the positions
    one = L.ConvLSTM1D(2, 3, padding="same", return_sequences=True, name="seq1d")(L.Masking(name="masking1")(x1))
    three = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, go_backwards=True, name="seq3d")(
        L.Masking(name="masking3")(x3))
    unrolled = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="fixed2d")(
        L.Masking(name="masking_fixed")(fixed))
    started = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="started2d")(
        masked2, initial_state=[h2, c2])
    bi = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="bi2d")(masked2)
    m1 = k.Input((None,), dtype="bool", name="m1")  # [batch, T]: tf_keras builds it into a ConvLSTM1D only
    steps1 = L.ConvLSTM1D(2, 3, go_backwards=True, return_sequences=True, name="steps1d")(x1, mask=m1)
    return k.Model([x2, x1, x3, fixed, h2, c2, m1], [seq, *back, point, one, three, unrolled, started, bi, steps1])


def started(k):
    L = k.layers
    x2, x1, fixed = k.Input((None, 6, 5, 3), name="x2"), k.Input((None, 7, 2), name="x1"), k.Input((3, 7, 2),
                                                                                                     name="fixed")
    x3 = k.Input((None, 2, 3, 3, 2), name="x3")
    s2 = [k.Input((6, 5, 2), name=f"s2_{i}") for i in range(2)]
    s1 = [k.Input((5, 3), name=f"s1_{i}") for i in range(2)]
    s3 = [k.Input((2, 3, 3, 2), name=f"s3_{i}") for i in range(2)]
    seq = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True, name="seq")(
        x2, initial_state=s2)
    last = L.ConvLSTM1D(3, 3, go_backwards=True, name="last")(x1, initial_state=s1)
    static = L.ConvLSTM1D(3, 3, return_sequences=True, name="static")(fixed, initial_state=s1)
    volume = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="volume")(x3, initial_state=s3)
    return k.Model([x2, *s2, x1, *s1, fixed, x3, *s3], [*seq, last, static, volume])


def started_masked(k):
    L = k.layers
    x2, x1, fixed = k.Input((None, 6, 5, 3), name="x2"), k.Input((None, 7, 2), name="x1"), k.Input((3, 7, 2),
                                                                                                     name="fixed")
    grid, m1, mf = (k.Input((None, 6, 5), dtype="bool", name="grid"), k.Input((None,), dtype="bool", name="m1"),
                    k.Input((3,), dtype="bool", name="mf"))
    s2 = [k.Input((6, 5, 2), name=f"s2_{i}") for i in range(2)]
    s1 = [k.Input((5, 3), name=f"s1_{i}") for i in range(2)]
    seq = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True, name="seq")(
        x2, initial_state=s2, mask=grid)
    last = L.ConvLSTM1D(3, 3, name="last")(x1, initial_state=s1, mask=m1)
    static = L.ConvLSTM1D(3, 3, return_sequences=True, go_backwards=True, name="static")(
        fixed, initial_state=s1, mask=mf)
    zeroed = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, zero_output_for_mask=True, name="zeroed")(
        x2, initial_state=s2, mask=grid)
    bi = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="bi")(
        x2, initial_state=[*s2, *s2[::-1]], mask=grid)
    bi_last = L.Bidirectional(L.ConvLSTM1D(3, 3, return_state=True), merge_mode="sum", name="bi_last")(
        x1, initial_state=[*s1, *s1[::-1]], mask=m1)
    # a mask with one row of flags, which Keras's where broadcasts over the output's rows (static and looped steps)
    row_mask, fixed_rows = (k.Input((None, 1, 5), dtype="bool", name="row_mask"),
                            k.Input((3, 1, 5), dtype="bool", name="fixed_rows"))
    rows = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="rows")(x2, mask=row_mask)
    rows_started = L.ConvLSTM2D(2, 3, padding="same", name="rows_started")(x2, initial_state=s2, mask=row_mask)
    fixed_x = k.Input((3, 6, 5, 3), name="fixed_x")
    rows_fixed = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True, name="rows_fixed")(
        fixed_x, mask=fixed_rows)
    # a Masking mask: tf_keras passes it on with initial_state, Keras 3 runs the call unmasked (no mask= given)
    masking = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="masking")(
        L.Masking(name="masked")(x2), initial_state=s2)
    return k.Model([x2, *s2, grid, x1, *s1, m1, fixed, mf, row_mask, fixed_x, fixed_rows],
                   [*seq, last, static, zeroed, bi, *bi_last, rows, rows_started, rows_fixed, masking])


def constants(k):
    """Keras 3 saves numpy initial states as ``__numpy__`` constants: Consts, a batch of 1 broadcast, here with a
    mask too (the previous output the masked steps repeat starts as zeros of the run-time batch)."""
    rng = np.random.default_rng(5)
    x, fixed = k.Input((None, 7, 2), name="x"), k.Input((3, 7, 2), name="fixed")
    m, mf = k.Input((None,), dtype="bool", name="m"), k.Input((3, 7), dtype="bool", name="mf")
    states = [rng.standard_normal((1, 5, 3)).astype("float32") for _ in range(2)]
    looped = k.layers.ConvLSTM1D(3, 3, return_sequences=True, return_state=True, name="looped")(
        x, initial_state=states, mask=m)
    unrolled = k.layers.ConvLSTM1D(3, 3, padding="same", go_backwards=True, return_sequences=True, name="unrolled")(
        fixed, initial_state=[np.pad(s, ((0, 0), (1, 1), (0, 0))) for s in states], mask=mf)
    plain = k.layers.ConvLSTM1D(3, 3, name="plain")(x, initial_state=states)
    return k.Model([x, m, fixed, mf], [*looped, unrolled, plain])


FAMILIES = {"runtime_masks": runtime_masks, "started": started, "started_masked": started_masked,
            "constants": constants}
CASES = [("runtime_masks", "tf_keras.h5"), ("started", "keras3.keras"), ("started", "tf_keras.h5"),
         ("started_masked", "keras3.keras"), ("started_masked", "tf_keras.h5"), ("constants", "keras3.keras")]


def _sizes(family: str, b: int, t: int, grow: int) -> list[tuple[int, ...]]:
    """Each input's shape for one run (batch ``b``, ``t`` steps, positions ``grow`` larger)."""
    if family == "runtime_masks":
        h, w = 4 + grow, 3 + 2 * grow
        return [(b, t, h, w, 3), (b, t, w + 2, 4), (b, t, 2 + grow, 3, w, 2), (b, 4, h, w, 3), (b, h, w, 2), (b, h, w, 2),
                (b, t)]
    if family == "constants":
        return [(b, t, 7, 2), (b, t), (b, 3, 7, 2), (b, 3, 7)]
    if family == "started":
        return [(b, t, 6, 5, 3), *[(b, 6, 5, 2)] * 2, (b, t + 1, 7, 2), *[(b, 5, 3)] * 2, (b, 3, 7, 2),
                (b, t, 2, 3, 3, 2), *[(b, 2, 3, 3, 2)] * 2]
    return [(b, t, 6, 5, 3), *[(b, 6, 5, 2)] * 2, (b, t, 6, 5), (b, t + 1, 7, 2), *[(b, 5, 3)] * 2, (b, t + 1),
            (b, 3, 7, 2), (b, 3), (b, t, 1, 5), (b, 3, 6, 5, 3), (b, 3, 1, 5)]


def _masked(value: np.ndarray, full: bool) -> np.ndarray:
    """Sequence 0 fully masked (when ``full``: the batch has more), the next one's first step and a position of
    its second step masked (zeros for Masking, False for bool masks)."""
    off = False if value.dtype == bool else 0
    if full:
        value[0] = off
    row = 1 if full else 0
    value[row, 0] = off
    if value.ndim > 2 and value.shape[1] > 1:
        value[(row, 1, *[0] * (value.ndim - 3 if value.dtype != bool else value.ndim - 2))] = off
    return value


def inputs_of(model, family: str, rng: np.random.Generator) -> Iterable[dict[str, np.ndarray]]:
    names = [t.name.split(":")[0] for t in model.inputs]
    for b, t, grow in ((3, 4, 0), (1, 2, 1)):
        run = {}
        for name, tensor, shape in zip(names, model.inputs, _sizes(family, b, t, grow), strict=True):
            if "bool" in str(getattr(tensor.dtype, "name", tensor.dtype)):
                run[name] = _masked(rng.random(shape) > 0.3, b > 1)
            elif name.startswith(("x", "fixed")):
                run[name] = _masked(rng.standard_normal(shape).astype("float32"), b > 1)
            else:
                run[name] = rng.standard_normal(shape).astype("float32")
        yield run


converted = converted_fixture("k26_conv_lstm", CASES, two_size_saver(FAMILIES, inputs_of, seed=31))


@pytest.mark.node
@each_case(CASES)
def test_conv_lstms_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case([("runtime_masks", "tf_keras.h5")])
def test_masked_conv_lstms_run_on_webgl(converted, browser, family, flavor):
    """webgl too: the masks broadcast over run-time positions, ConvLSTM3D's selects on rank-4 views folded at run
    time (webgl has no rank-5 ``SelectV2``), and the previous output carried beside given states (``started2d``)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                              quiet=True, browser_session=browser)
        assert report.passed, format_report(report)


# -- what Keras fails on fails at run time, never read elsewhere --------------------------------------------------
@pytest.mark.node
def test_masks_over_other_run_time_positions_fail_as_in_keras(tmp_path, tfjs_runtime):
    """A Masking mask over the input's positions into a ConvLSTM whose ``valid`` padding shrinks them: tf_keras
    builds it (the positions are unknown), then fails on every input (its ``where`` cannot broadcast the mask, or
    the state would grow); the converted model fails too, on cpu and wasm, rather than reading the mask elsewhere."""
    k = pytest.importorskip("tf_keras")
    from tfjsconv.verify.compare import verify_model

    x = k.Input((None, None, None, 3), name="x")
    model = k.Model(x, k.layers.ConvLSTM2D(2, 3, return_sequences=True, name="conv")(k.layers.Masking(name="m")(x)))
    model.save(tmp_path / "shrunk.h5")
    tfjsconv.convert(tmp_path / "shrunk.h5", tmp_path / "out", output_format="tfjs_graph_model")
    rng = np.random.default_rng(3)
    for size in (5, 3):  # mask positions 5x5 against outputs of 3x3, and 3x3 against 1x1
        inputs = {"x": rng.standard_normal((2, 4, size, size, 3)).astype("float32")}
        with pytest.raises(Exception):  # noqa: B017 (Keras raises InvalidArgumentError or ValueError)
            model(inputs["x"])
        expected = {name: np.zeros((2, 4, size - 2, size - 2, 2), "float32")
                    for name in json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"]}
        report = verify_model(tmp_path / "out", inputs, expected, backends=("cpu", "wasm"), quiet=True)
        assert set(report.crashes) == {"cpu", "wasm"}, report.to_json()


# -- what stays refused, by name -----------------------------------------------------------------------------------
def test_initial_states_of_another_count_are_refused_by_name(tmp_path):
    """An edited tf_keras file giving a ConvLSTM three state inputs (Keras refuses to build it): refused by name."""
    k = pytest.importorskip("tf_keras")
    import h5py

    from tfjsconv.errors import UsageError

    x, h, c = k.Input((None, 3, 3, 2), name="x"), k.Input((3, 3, 2), name="h"), k.Input((3, 3, 2), name="c")
    path = tmp_path / "three.h5"
    k.Model([x, h, c], k.layers.ConvLSTM2D(2, 3, padding="same", name="conv")(x, initial_state=[h, c])).save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        conv = next(layer for layer in config["config"]["layers"] if layer["name"] == "conv")
        conv["inbound_nodes"][0].append(["h", 0, 0, {}])
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert "'conv' (ConvLSTM2D) called with 3 initial_state tensor(s); it has 2 states" in str(info.value), info.value
    assert not (tmp_path / "out").exists()
