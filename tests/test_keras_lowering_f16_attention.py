"""float16 MultiHeadAttention (session 24, helper h3; issue 16): Keras 3 and tf_keras ``mixed_float16`` / ``float16``
MultiHeadAttention lowered with Keras's float16 rounding points, held to what the conversion's float16 notice claims.

Keras rounds each float16 op's result: the projections (einsum, then the bias), the query times ``1/√key_dim`` (the
scale itself a float16 constant), the logits, tf_keras's mask adder ``(1 - float16(w)) · -32752`` and the masked
logits, each step of TF's float16 Softmax kernel (``exp(x - max) · (1 / sum)``) or of tf_keras's
``exp(x - logsumexp(x))`` over several axes, the attended values and the output projection; Keras 3's fused attention
scales the float16 logits, masks and normalizes in float32, and casts the weights to float16. tf_keras's non-bool
``attention_mask`` (refused since session 23's review: 0.64..21.6 off with a float32 mask and -1e9) is now rounded
to float16 (1.0001 is 1) and weighed by float16's -32752 as Keras does.

The lowering sums its einsums in float32, TF's CPU einsums in float16 steps: a logit lands up to a float16 step
away, which changes its weight by that step's factor, and the error grows with the length of the sum. So each output
is held to the float16 notice's claim for its layer's longest float16 sum and largest logit
(:func:`float_widths.mha_half_bound`), at inputs of scale 1 (logits about 1) and 25 (logits about 1000); a tf_keras
layer 256 features wide (8 heads of 32: session 24's review R2 found 5.8e-3..0.3 there, past the first claim's
5e-3..0.1) at logits of about 1 and 1000. Files converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js
cpu and wasm.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import each_case, flat  # noqa: E402
from test_keras_lowering import _module, case_file, saved_and_converted  # noqa: E402
from tfjsconv.plugins.keras.lowering.float_widths import MHA_HALF_BOUNDS, mha_half_bound  # noqa: E402

HEADS, KEY_DIM, FEATURES = 2, 3, 4
#: tf_keras's mask weights: 1.0001 rounds to 1 in float16 (R2's regression: it added +1e5 to the logit), 2 adds
#: +32752 there, -1 adds -65504
FLOAT_WEIGHTS = np.array([0.0, 1.0, 1.0001, 2.0, -1.0, 0.5], "float32")
INT_WEIGHTS = np.array([0, 1, 2, -1], "int32")
SCALES = (1.0, 25.0)
#: The wide family: 8 heads of 32 over 256 features (R2's ``tk_w256``), inputs scaled for logits of about 1 and 1000
WIDE, WIDE_SCALES = 256, (0.1, 2.0)


def _mha(k: Any, name: str, policy: str = "mixed_float16", **config: Any) -> Any:
    return k.layers.MultiHeadAttention(HEADS, KEY_DIM, dtype=policy, name=name, **config)


def masks_family(k: Any) -> Any:
    """The default attention axis over known lengths: no mask, a bool one, causal, returned scores (Keras 3's
    explicit path), a ``float16`` policy; tf_keras's int32 and float32 weights (robust masking too)."""
    x = k.Input((5, FEATURES), name="x")
    bools = k.Input((5, 5), dtype="bool", name="bools")
    inputs, outputs = [x, bools], [
        _mha(k, "plain")(x, x), _mha(k, "bool")(x, x, attention_mask=bools),
        _mha(k, "causal")(x, x, use_causal_mask=True),
        *_mha(k, "scores")(x, x, attention_mask=bools, return_attention_scores=True),
        _mha(k, "half", "float16")(x, x, attention_mask=bools)]
    if not k.__name__.startswith("keras"):  # tf_keras
        ints, floats = k.Input((5, 5), dtype="int32", name="ints"), k.Input((5, 5), name="floats")
        inputs += [ints, floats]
        outputs += [_mha(k, "int_weights")(x, x, attention_mask=ints), _mha(k, "float_weights")(x, x, attention_mask=floats),
                    _mha(k, "floats_half", "float16")(x, x, attention_mask=floats),
                    _mha(k, "robust", softmax_robust_masking=True)(x, x, attention_mask=floats)]
    return k.Model(inputs, outputs)


def axes_family(k: Any) -> Any:
    """attention_axes=(1, 2) of a ``[B, 3, 5, 4]`` query (tf_keras's Softmax over two axes: ``exp(x - logsumexp)``),
    with no mask and a bool ``[B, 3, 5, 3, 5]`` one; tf_keras's float32 weights too; attention_axes=(2,)."""
    x = k.Input((3, 5, FEATURES), name="x")
    bools = k.Input((3, 5, 3, 5), dtype="bool", name="bools")
    inputs, outputs = [x, bools], [_mha(k, "grid", attention_axes=(1, 2))(x, x),
                                   _mha(k, "grid_bool", attention_axes=(1, 2))(x, x, attention_mask=bools),
                                   _mha(k, "rows", attention_axes=(2,))(x, x)]
    if not k.__name__.startswith("keras"):
        floats = k.Input((3, 5, 3, 5), name="floats")
        inputs.append(floats)
        outputs.append(_mha(k, "grid_floats", attention_axes=(1, 2))(x, x, attention_mask=floats))
    return k.Model(inputs, outputs)


def runtime_family(k: Any) -> Any:
    """Lengths known only at run time: a bool mask, causal; tf_keras's float32 weights (R2's ``{0, 1, 1.0001}``)."""
    x = k.Input((None, FEATURES), name="x")
    bools = k.Input((None, None), dtype="bool", name="bools")
    inputs, outputs = [x, bools], [_mha(k, "dyn_bool")(x, x, attention_mask=bools),
                                   _mha(k, "dyn_causal")(x, x, use_causal_mask=True)]
    if not k.__name__.startswith("keras"):
        floats = k.Input((None, None), name="floats")
        inputs.append(floats)
        outputs.append(_mha(k, "dyn_floats")(x, x, attention_mask=floats))
    return k.Model(inputs, outputs)


def wide_family(k: Any) -> Any:
    """tf_keras's einsums over 256 features and 8 heads of 32 (sums of 256 terms in float16 steps), with and without
    a bool mask."""
    x = k.Input((6, WIDE), name="x")
    bools = k.Input((6, 6), dtype="bool", name="bools")
    return k.Model([x, bools], [k.layers.MultiHeadAttention(8, 32, dtype="mixed_float16", name="wide")(x, x),
                                k.layers.MultiHeadAttention(8, 32, dtype="mixed_float16", name="wide_bool")(
                                    x, x, attention_mask=bools)])


FAMILIES = {"masks": masks_family, "axes": axes_family, "runtime": runtime_family, "wide": wide_family}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")
         if family != "wide" or flavor == "tf_keras.h5"]


def _inputs(model: Any, rng: np.random.Generator, scale: float, steps: int) -> dict[str, np.ndarray]:
    """``x`` at ``scale``, each mask drawn per element, one query row of every mask all dropped."""
    values: dict[str, np.ndarray] = {}
    for t in model.inputs:
        name, shape = t.name.split(":")[0], tuple(t.shape)[1:]
        if name == "x":
            shape = (steps, shape[-1]) if shape[0] is None else shape
            values[name] = (rng.standard_normal((2, *shape)) * scale).astype("float32")
            continue
        shape = (steps, steps) if shape[0] is None else shape
        pool = {"bools": np.array([True, True, False]), "ints": INT_WEIGHTS}.get(name, FLOAT_WEIGHTS)
        mask = rng.choice(pool, (2, *shape)).astype(t.dtype if isinstance(t.dtype, str) else t.dtype.name)
        mask.reshape(2, -1, shape[-1])[0, 0] = 0
        values[name] = mask
    return values


def _largest_logit(model: Any, name: str, x: np.ndarray) -> float:
    """The largest |q·k/√key_dim| over every pair of positions of a batch element and head (in float32): more than
    any logit Keras computes, so the tolerance read from it is never the tighter one by mistake."""
    arrays = [np.asarray(w, np.float32) for w in model.get_layer(name).get_weights()]  # query, key: kernel, bias
    flat_x = x.reshape(x.shape[0], -1, x.shape[-1])
    q = np.einsum("bpf,fhd->bphd", flat_x, arrays[0]) + arrays[1]
    k = np.einsum("bpf,fhd->bphd", flat_x, arrays[2]) + arrays[3]
    return float(np.abs(np.einsum("bphd,bqhd->bhpq", q, k)).max() / math.sqrt(arrays[0].shape[-1]))


def _summed(model: Any, name: str, x: np.ndarray, keras3: bool) -> int:
    """The longest sum of the layer's float16 einsums (the notice's ``n``): key_dim and the attended length, and
    unless Keras 3's rank-3 matmul projections, the features and heads·value_dim."""
    layer = model.get_layer(name)
    heads, key_dim = layer.get_config()["num_heads"], layer.get_config()["key_dim"]
    value_dim = layer.get_config().get("value_dim") or key_dim
    axes = layer.get_config().get("attention_axes") or (1,)
    attended = int(np.prod([x.shape[a] for a in axes]))
    sums = [key_dim, attended]
    if not keras3 or x.ndim != 3:
        sums += [x.shape[-1], heads * value_dim]
    return max(sums)


def _save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
    model = FAMILIES[family](_module(flavor))
    randomize(model, 24)
    rng = np.random.default_rng(25)
    names = [layer.name for layer in model.layers if layer.__class__.__name__ == "MultiHeadAttention"]
    per_output = [n for n in names for _ in range(2 if n == "scores" else 1)]  # (output, scores)
    runs = []
    for scale in WIDE_SCALES if family == "wide" else SCALES:
        for steps in (5, 7) if family == "runtime" else (5,):
            inputs = _inputs(model, rng, scale, steps)
            outputs = [np.asarray(o, np.float32) for o in flat(model(list(inputs.values()), training=False))]
            bounds = [(_summed(model, n, inputs["x"], flavor.startswith("keras3")),
                       _largest_logit(model, n, inputs["x"])) for n in per_output]
            runs.append((inputs, outputs, bounds))
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


@pytest.fixture(scope="module", name="converted")
def converted_models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return saved_and_converted(tmp_path_factory, "f16_attention", CASES, _save)


def claimed(summed: int, logit: float) -> float:
    """The float16 notice's bound on a MultiHeadAttention's error (of its outputs' largest magnitude) at ``logit``,
    its longest float16 sum ``summed`` terms long."""
    (large, _) = MHA_HALF_BOUNDS[1]
    assert logit <= large, f"a logit of {logit:.3g} is past what the notice claims anything of"
    return mha_half_bound(summed, logit)


@pytest.mark.node
@each_case(CASES)
def test_float16_attention_within_the_notice(converted, tfjs_runtime, family, flavor):
    from tfjsconv.verify.run import run_model

    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs, bounds in runs:
        result = run_model(out, inputs, backends=("cpu", "wasm"), quiet=True)
        for backend in ("cpu", "wasm"):
            got = result.outputs(backend)
            for name, want, (summed, logit) in zip(names, outputs, bounds, strict=True):
                have = np.asarray(got[name], np.float32).reshape(want.shape)
                assert np.array_equal(np.isnan(have), np.isnan(want)), (backend, name)
                error = float(np.nanmax(np.abs(have - want))) / float(np.nanmax(np.abs(want)))
                assert error <= claimed(summed, logit), (backend, name, f"x{np.abs(inputs['x']).max():.3g}", error,
                                                         summed, logit)


def test_float16_notice_names_each_layer_with_its_bound(tmp_path):
    """The warning names each float16 MultiHeadAttention with the bounds for its longest float16 sum, which the test
    above holds it to: a narrow one (n = 6: heads·value_dim), a wide one (n = 256: the features), one over lengths
    known at run time (n = max(6, the key's length))."""
    import tf_keras as tk

    import tfjsconv

    x, floats = tk.Input((5, FEATURES), name="x"), tk.Input((5, 5), name="floats")
    wide, steps = tk.Input((5, WIDE), name="wide_x"), tk.Input((None, FEATURES), name="steps")
    outputs = [_mha(tk, "mha")(x, x, attention_mask=floats),
               tk.layers.MultiHeadAttention(8, 32, dtype="mixed_float16", name="wide")(wide, wide),
               _mha(tk, "dyn")(steps, steps)]
    tk.Model([x, floats, wide, steps], outputs).save(tmp_path / "m.h5")
    result = tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    notes = [n for n in result.details if "Keras computes in float16" in n]
    assert len(notes) == 1 and notes[0].endswith(": mha (MultiHeadAttention), wide (MultiHeadAttention), "
                                                 "dyn (MultiHeadAttention)"), result.details
    (small, (a, b)), (large, (c, d)) = MHA_HALF_BOUNDS
    mha = [n for n in result.details if "float16 MultiHeadAttention layer(s)" in n]
    assert len(mha) == 1, result.details
    assert f"results within {a:g} + {b:g}·√n of their largest value while the logits stay within ±{small:g}, " \
           f"{c:g} + {d:g}·√n (at most 1) at logits up to {large:g}; nothing is claimed past logits of {large:g}" \
           in mha[0], mha[0]
    shown = [f"{name} (n = {n}: {mha_half_bound(n, small):.2g}, {mha_half_bound(n, large):.2g})"
             for name, n in (("mha", 6), ("wide", 256))]
    assert mha[0].endswith(": " + ", ".join([*shown, "dyn (n = max(6, the key's length))"])), mha[0]
