"""Keras 3 LoRA layers (``lora_rank``) lowered from a ``.h5`` file and inside TimeDistributed (session 17).

A ``.keras`` archive saves a LoRA layer's kernel merged; a Keras 3 ``.h5`` keeps the kernel and its two factors
apart, and the lowering merges them when it reads the layer's weights (``plugins/keras/lowering/lora.py``) as Keras's
``kernel`` property computes them: ``kernel + (lora_alpha / lora_rank) · a @ b``. One functional model holds every
class with LoRA (Dense, EinsumDense with a 2-D and a 3-D kernel, Conv1D (grouped too), Conv2D, Conv3D, Embedding,
ReversibleEmbedding both ways),
ranks 1 and 2, with and without ``lora_alpha`` (Keras 3.15's Dense and Embedding drop it when built, EinsumDense and
the convolutions keep it), non-trainable layers (their ``.h5`` order differs), TimeDistributed over LoRA layers, and
LoRA layers in a nested model and in a Pipeline;
random weights (the factors too, so the LoRA term counts). It is saved as ``.keras`` and ``.h5``, converted with
TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm and compared with Keras's own ``model(x)`` (and the
``.h5`` reloaded by Keras gives the same). The merged kernel itself is compared with Keras's ``layer.kernel``.
What stays refused is named: a ``.h5`` Dense whose ``lora_alpha`` Keras drops on loading, quantized LoRA layers, and
a ``.h5`` whose factors do not fit the kernel (a clear InputError naming the layer).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

L = keras.layers


def lora_model():
    """Every class with LoRA, ranks 1 and 2, with and without lora_alpha, plain and in TimeDistributed."""
    x, seq = keras.Input((6, 4), name="x"), keras.Input((3, 6, 4), name="seq")
    img, vol = keras.Input((5, 5, 3), name="img"), keras.Input((4, 4, 4, 2), name="vol")
    ids = keras.Input((5,), name="ids", dtype="int32")
    sub_in = keras.Input((6, 4), name="sub_in")
    sub = keras.Model(sub_in, L.Dense(3, lora_rank=2, name="sub_lora")(L.Dense(4, name="sub_plain")(sub_in)),
                      name="sub")
    reversible = L.ReversibleEmbedding(9, 4, lora_rank=2, name="reversible_r2")
    outputs = [
        sub(x),  # a nested model's LoRA layer, and a Pipeline's
        L.Pipeline([L.Rescaling(2.0), L.Dense(3, lora_rank=1, name="pipe_lora")], name="pipe")(x),
        L.Dense(5, lora_rank=1, name="dense_r1")(x),
        L.Dense(5, lora_rank=2, lora_alpha=2.0, use_bias=False, activation="tanh", name="dense_r2")(x),
        L.Dense(3, lora_rank=2, trainable=False, name="dense_frozen")(x),  # .h5 order: kernel, bias, a, b
        L.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d", lora_rank=2, lora_alpha=3.0,
                      name="einsum_r2")(x),
        L.EinsumDense("abc,cde->abde", output_shape=(None, 3, 2), lora_rank=1, name="einsum_3d")(x),
        L.Conv1D(4, 3, lora_rank=1, lora_alpha=4.0, name="conv1d_r1")(x),
        L.Conv1D(4, 2, groups=2, padding="same", lora_rank=2, name="conv1d_grouped")(x),
        L.Conv2D(3, 2, lora_rank=2, lora_alpha=0.5, name="conv2d_r2")(img),
        L.Conv3D(2, 2, lora_rank=1, name="conv3d_r1")(vol),
        L.Embedding(9, 4, lora_rank=2, name="embedding_r2")(ids),
        L.Embedding(9, 3, lora_rank=1, lora_alpha=1.0, name="embedding_r1")(ids),
        reversible(ids), reversible(x, reverse=True),  # tied (Keras builds no untied one with LoRA)
        L.TimeDistributed(L.Dense(3, lora_rank=2, name="td_dense"), name="td_dense_wrap")(seq),
        L.TimeDistributed(L.Conv1D(2, 2, lora_rank=1, lora_alpha=3.0, name="td_conv"), name="td_conv_wrap")(seq),
        L.TimeDistributed(L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", lora_rank=2, name="td_einsum"),
                          name="td_einsum_wrap", trainable=False)(x),
    ]
    return keras.Model([x, seq, img, vol, ids], outputs)


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 4)).astype("float32")
    x[0, 0] = 0.0
    x[1, 2] = [-3.0, 3.0, -0.0, 1e-3]
    return {"x": x, "seq": rng.standard_normal((2, 3, 6, 4)).astype("float32"),
            "img": rng.standard_normal((2, 5, 5, 3)).astype("float32"),
            "vol": rng.standard_normal((2, 4, 4, 4, 2)).astype("float32"),
            "ids": np.array([[0, 8, 3, 3, 1], [7, 0, 2, 8, 5]], np.int32)}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s17_lora")
    saved = {}
    for suffix in (".keras", ".h5"):
        model = lora_model()
        randomize(model, 11)
        saved[suffix] = save_with_outputs(model, _inputs(), folder / f"lora{suffix}")
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lora_layers_lower_and_match_keras(converted, tfjs_runtime, suffix):
    path, inputs, outputs = converted[suffix]
    reloaded = keras.saving.load_model(path, compile=False)(list(inputs.values()), training=False)
    for mine, theirs in zip(outputs, reloaded, strict=True):  # the file Keras loads computes the saved model's numbers
        np.testing.assert_allclose(np.asarray(theirs), mine, rtol=1e-5, atol=1e-5)
    _verify(Path(f"{path}.out"), inputs, outputs)


def _kernel_of(layer):
    return layer.embeddings if isinstance(layer, L.Embedding) else layer.kernel


def test_merged_kernels_are_keras_kernels(converted):
    """The merged kernels the lowering writes, against Keras's own ``layer.kernel`` of the reloaded ``.h5``: rank 1
    bit for bit; rank 2 within 2 ulps of ``|kernel| + scale·(|a| @ |b|)`` (TensorFlow's matmul rounds its sums in an
    order that depends on the kernel path it takes, FMA or not, so no fixed order matches it everywhere)."""
    from tfjsconv.plugins.keras.h5source import H5Source
    from tfjsconv.plugins.keras.lowering.lora import LoraKernel
    from tfjsconv.plugins.keras.lowering.weights import h5_layer_weights

    path = converted[".h5"][0]
    model = keras.saving.load_model(path, compile=False)
    of = h5_layer_weights(H5Source(Path(path)))
    checked = 0
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, L.TimeDistributed) else layer
        if not getattr(inner, "lora_rank", None):
            continue
        merged = of((layer.name,))[0]
        assert isinstance(merged, LoraKernel), layer.name
        want = np.asarray(_kernel_of(inner))
        got = merged.load()
        assert got.dtype == np.float32 and got.shape == want.shape
        if inner.lora_rank == 1:
            assert np.array_equal(got, want), layer.name
        else:
            names = ("_embeddings", "lora_embeddings_a", "lora_embeddings_b") if isinstance(inner, L.Embedding) \
                else ("_kernel", "lora_kernel_a", "lora_kernel_b")
            k, a, b = (np.asarray(getattr(inner, n), np.float64) for n in names)
            bound = np.abs(k) + inner.lora_alpha / inner.lora_rank * np.matmul(np.abs(a), np.abs(b))
            assert np.all(np.abs(got.astype(np.float64) - want) <= 2 * np.spacing(bound.astype(np.float32))), \
                layer.name
        checked += 1
    assert checked == 15  # the top-level ones (the nested model's and the Pipeline's are checked in TF.js)


def _h5_with(tmp_path: Path, model, name: str = "m.h5") -> Path:
    randomize(model, 3)
    model.save(tmp_path / name)
    return tmp_path / name


def test_dropped_lora_alpha_in_h5_stays_refused_by_name(tmp_path):
    """``enable_lora(2, lora_alpha=5.0)`` on a built Dense saves lora_alpha 5.0, but Keras 3 loads the ``.h5`` with
    lora_alpha = 2 (other numbers than the saved model's): refused by name, top-level and in TimeDistributed. The
    ``.keras`` archive of the same model (kernel saved merged) lowers."""
    x = keras.Input((6, 4), name="x")
    dense, inner = L.Dense(5, name="late"), L.Dense(3, name="late_inner")
    wrapped = L.TimeDistributed(inner, name="late_wrap")
    model = keras.Model(x, [dense(x), wrapped(keras.ops.expand_dims(x, 1))])
    dense.enable_lora(2, lora_alpha=5.0)
    inner.enable_lora(2, lora_alpha=5.0)
    message = _refused(_h5_with(tmp_path, model))
    assert "'late' (Dense: lora_alpha 5.0 beside lora_rank 2 in a .h5 file: Keras 3 loads the layer with " \
           "lora_alpha = lora_rank" in message, message
    edited = tmp_path / "wrapped_only.h5"
    model2 = keras.Model(x, wrapped(keras.ops.expand_dims(x, 1)))
    model2.save(edited)
    message = _refused(edited)
    assert "'late_wrap' (TimeDistributed: wrapped Dense 'late_inner': lora_alpha 5.0 beside lora_rank 2" in message, \
        message


def test_quantized_lora_layers_stay_refused_by_name(tmp_path):
    """LoRA layers quantized to int8 (a QuantizedDTypePolicy, whose config has a ``mode`` and no ``name``) stay gaps
    named by their quantization, top-level and in TimeDistributed, from ``.keras`` and ``.h5``."""
    x = keras.Input((6, 4), name="x")
    model = keras.Model(x, [L.Dense(5, lora_rank=2, name="quant")(x),
                            L.TimeDistributed(L.Dense(3, lora_rank=1, name="quant_inner"), name="quant_wrap")(x)])
    randomize(model, 5)
    model.quantize("int8")
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"q{suffix}")
        message = _refused(tmp_path / f"q{suffix}")
        # named by their dtype, as every quantized layer (the dtype check comes first)
        assert "'quant' (Dense: dtype int8_from_float32)" in message, message
        assert "'quant_wrap' (TimeDistributed: a wrapped Dense of dtype int8_from_float32)" in message, message


def test_quantized_layers_and_a_spectral_normalized_lora_layer_are_named(tmp_path):
    """A quantized layer without LoRA (its policy has no ``name``, which read as float32 before) and a
    SpectralNormalization holding a LoRA Dense (which keeps no kernel of its own then) are named gaps, not a
    misleading "the file is corrupt" weight count."""
    x = keras.Input((6, 4), name="x")
    quantized = keras.Model(x, [L.Dense(5, name="q8")(x), L.TimeDistributed(L.Dense(3, name="q8_inner"),
                                                                             name="q8_wrap")(x)])
    randomize(quantized, 6)
    quantized.quantize("int8")
    spectral = keras.Model(x, L.SpectralNormalization(L.Dense(5, lora_rank=2, name="sn_inner"), name="sn")(x))
    randomize(spectral, 7)
    for suffix in (".keras", ".h5"):
        quantized.save(tmp_path / f"q{suffix}")
        message = _refused(tmp_path / f"q{suffix}")
        assert "'q8' (Dense: dtype int8_from_float32)" in message, message
        assert "'q8_wrap' (TimeDistributed: a wrapped Dense of dtype int8_from_float32)" in message, message
        spectral.save(tmp_path / f"sn{suffix}")
        message = _refused(tmp_path / f"sn{suffix}")
        assert "'sn' (SpectralNormalization: a wrapped Dense with lora_rank)" in message, message


def _rewrite(path: Path, dataset: str, value: np.ndarray) -> None:
    with h5py.File(path, "r+") as f:
        del f[dataset]
        f[dataset] = value


def test_lora_factors_that_do_not_fit_are_an_input_error(tmp_path):
    """A hostile ``.h5``: a factor of the wrong shape, a lora_rank that does not fit the factors, or the weights
    renamed out of Keras's order, each an InputError naming the layer."""
    import tfjsconv
    from tfjsconv.errors import InputError

    x = keras.Input((6, 4), name="x")
    path = _h5_with(tmp_path, keras.Model(x, L.Dense(5, lora_rank=2, name="lora_dense")(x)))
    cases = {"factor": lambda p: _rewrite(p, "model_weights/lora_dense/lora_dense/lora_kernel_b",
                                          np.zeros((2, 4), np.float32)),
             "rank": lambda p: _edit_rank(p, 3)}
    for case, edit in cases.items():
        bad = tmp_path / f"{case}.h5"
        bad.write_bytes(path.read_bytes())
        edit(bad)
        with pytest.raises(InputError, match=r"layer 'lora_dense' \(Dense\) has LoRA factors of shapes"):
            tfjsconv.convert(bad, tmp_path / f"{case}.out", output_format="tfjs_graph_model")
    renamed = tmp_path / "renamed.h5"
    renamed.write_bytes(path.read_bytes())
    with h5py.File(renamed, "r+") as f:
        group = f["model_weights/lora_dense"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        group.attrs["weight_names"] = [names[0], names[2], names[1], names[3]]  # a and b swapped
    with pytest.raises(InputError, match=r"layer 'lora_dense' \(Dense\) holds the weights"):
        tfjsconv.convert(renamed, tmp_path / "renamed.out", output_format="tfjs_graph_model")


def _edit_rank(path: Path, rank: int) -> None:
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        entry = next(e for e in config["config"]["layers"] if e["config"]["name"] == "lora_dense")
        entry["config"]["lora_rank"] = entry["config"]["lora_alpha"] = rank
        f.attrs["model_config"] = json.dumps(config)


def test_lora_is_a_gap_only_where_keras_3_did_not_save_it():
    """Judged from the config alone: a Keras 3 config's LoRA layers are covered (a ``.keras`` archive saves them
    merged, a ``.h5`` is merged when read), a tf_keras config's are not (tf_keras has no LoRA; its SavedModel's
    weights are not merged)."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    x = keras.Input((4,), name="x")
    config = json.loads(keras.Model(x, L.Dense(2, lora_rank=1, name="lora")(x)).to_json())
    assert layer_gaps(config) == [] and layer_gaps(config, keras3=True) == []
    assert layer_gaps(config, keras3=False) == ["'lora' (Dense: lora_rank)"]
