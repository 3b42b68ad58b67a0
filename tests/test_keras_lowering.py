"""Keras files -> graph models by lowering the config to TF.js ops with h5py (no TensorFlow, no Keras).

One small model per layer family, built here with random weights, saved as Keras 3 ``.keras`` (and
tf_keras / Keras 3 ``.h5`` for some), converted through the lowering and run in real TF.js (cpu and
wasm); expected values come from Keras itself (``model(x, training=False)``). A subprocess checks
that converting a covered file imports neither TensorFlow nor Keras, and a model with a layer the
lowering does not cover still converts through the TensorFlow tracer.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402

RTOL = 1e-5
LOWERED = "keras: lowered the model config to TF.js ops with h5py (no TensorFlow)"
ACTIVATIONS = ["relu", "relu6", "elu", "celu", "selu", "softplus", "softsign", "sigmoid", "tanh", "exponential",
               "silu", "swish", "gelu", "hard_silu", "hard_swish", "hard_sigmoid", "softmax", "log_softmax",
               "leaky_relu", "mish", "log_sigmoid", "tanh_shrink", "hard_tanh", "soft_shrink", "hard_shrink",
               "squareplus", "sparse_plus", "sparse_sigmoid", "linear"]
TF_KERAS_ACTIVATIONS = ["relu", "elu", "selu", "softplus", "softsign", "sigmoid", "tanh", "exponential", "swish",
                        "gelu", "hard_sigmoid", "softmax", "linear"]


# -- models, one per family (``k`` is keras or tf_keras) ---------------------------------------------
def core_activations(k):
    L = k.layers
    inp = k.Input((6,), name="features")
    names = ACTIVATIONS if k is keras else TF_KERAS_ACTIVATIONS
    branches = [L.Dense(3, activation=name, name=f"dense_{name}")(inp) for name in names]
    x = L.Concatenate(name="all")(branches)
    x = L.Dropout(0.5, name="drop")(x)
    x = L.GaussianNoise(0.3, name="noise")(x)
    parts = [L.ReLU(name="relu_plain")(x), L.ReLU(max_value=6.0, name="relu6_layer")(x),
             L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2, name="relu_general")(x),
             L.LeakyReLU(name="leaky")(x), L.ELU(alpha=0.5, name="elu_half")(x), L.Softmax(name="softmax_layer")(x),
             L.PReLU(name="prelu")(x), L.Activation("tanh", name="act_tanh")(x)]
    seq = L.Dense(4, use_bias=False, name="no_bias")(L.Reshape((len(names), 3), name="as_seq")(x))  # rank-3 Dense
    return k.Model(inp, [L.Concatenate(name="out")(parts), seq])


def conv(k):
    L = k.layers
    inp = k.Input((12, 12, 4), name="image")
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="same")(inp)
    x = L.Conv2D(6, 3, dilation_rate=2, name="dilated")(x)
    x = L.Conv2D(8, 3, strides=2, groups=2, padding="same", name="grouped")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="depthwise")(x)
    x = L.SeparableConv2D(5, 3, padding="same", activation="swish", name="separable")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, name="transposed_valid")(x)
    x = L.Conv2DTranspose(3, 2, strides=2, padding="same", use_bias=False, name="transposed_same")(x)
    x = L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=0, name="transposed_padded_same")(x)
    x = L.Conv2DTranspose(3, (2, 3), strides=(3, 2), output_padding=(2, 1), name="transposed_padded_valid")(x)
    seq = L.Reshape((-1, 3), name="rows")(x)
    y = L.Conv1D(4, 3, padding="causal", dilation_rate=2, name="causal")(seq)
    y = L.Conv1D(4, 5, strides=3, padding="same", name="conv1d_same")(y)
    return k.Model(inp, L.Conv1D(2, 3, name="conv1d_valid")(y))


def pooling(k):
    L = k.layers
    inp = k.Input((9, 9, 3), name="image")
    a = L.MaxPooling2D(name="max2d")(inp)
    b = L.AveragePooling2D(3, strides=2, padding="same", name="avg2d")(inp)
    seq = L.Reshape((27, 9), name="rows")(inp)
    c = L.MaxPooling1D(3, padding="same", name="max1d")(seq)
    d = L.AveragePooling1D(2, name="avg1d")(seq)
    pools = [L.GlobalAveragePooling2D(name="gap")(a), L.GlobalMaxPooling2D(name="gmp")(b),
             L.GlobalAveragePooling1D(name="gap1d")(c), L.GlobalMaxPooling1D(name="gmp1d")(d),
             L.Flatten(name="flat")(L.GlobalAveragePooling2D(keepdims=True, name="gap_keep")(inp))]
    return k.Model(inp, L.Concatenate(name="out")(pools))


def normalization(k):
    L = k.layers
    inp = k.Input((5, 5, 4), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.BatchNormalization(axis=1, center=False, name="bn_axis1")(x)
    x = L.LayerNormalization(name="ln")(x)
    x = L.LayerNormalization(axis=[1, 2, 3], scale=False, epsilon=1e-5, name="ln_all")(x)
    return k.Model(inp, x)


def reshaping_merging(k):
    L = k.layers
    inp = k.Input((6, 6, 2), name="image")
    other = k.Input((6, 6, 2), name="other")
    merged = [L.Add(name="add")([inp, other]), L.Subtract(name="sub")([inp, other]),
              L.Multiply(name="mul")([inp, other]), L.Average(name="avg")([inp, other, inp]),
              L.Maximum(name="max")([inp, other]), L.Minimum(name="min")([inp, other])]
    x = L.Concatenate(axis=-1, name="cat")(merged)
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    x = L.Cropping2D(((2, 0), (1, 1)), name="crop")(x)
    x = L.UpSampling2D((2, 3), name="up_nearest")(x)
    y = L.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(L.Permute((2, 1, 3), name="swap")(x))
    y = L.Reshape((-1, 12), name="rows")(y)
    return k.Model([inp, other], L.Flatten(name="flat")(y))


def preprocessing(k):
    L = k.layers
    inp = k.Input((4, 4, 3), name="image")
    x = L.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inp)
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 0.5], name="norm")(x)
    adapted = L.Normalization(axis=(1, 3), name="adapted")
    adapted.adapt(np.random.default_rng(3).standard_normal((10, 4, 4, 3)).astype("float32") * 2 + 1)
    return k.Model(inp, adapted(x))


def sequential(k):
    L = k.layers
    return k.Sequential([k.Input((10, 3)), L.Conv1D(4, 3, activation="relu", name="c"),
                         L.MaxPooling1D(name="p"), L.Flatten(name="f"), L.Dense(2, name="d")], name="seq")


def shared_layers(k):
    L = k.layers
    inp = k.Input((7, 4), name="seq")
    shared, conv = L.Dense(4, activation="tanh", name="shared"), L.Conv1D(4, 3, padding="same", name="shared_conv")
    x = conv(shared(L.ReLU(name="relu")(shared(inp))))
    return k.Model(inp, L.Add(name="out")([conv(x), shared(x)]))


FAMILIES = {"core_activations": core_activations, "conv": conv, "pooling": pooling, "normalization": normalization,
            "reshaping_merging": reshaping_merging, "preprocessing": preprocessing, "sequential": sequential,
            "shared_layers": shared_layers}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [
    ("core_activations", "tf_keras.h5"), ("conv", "tf_keras.h5"), ("normalization", "tf_keras.h5"),
    ("sequential", "tf_keras.h5"), ("conv", "keras3.h5"), ("preprocessing", "keras3.h5"),
    ("core_activations", "tf_keras.keras")]


def _module(flavor: str):
    return keras if flavor.startswith("keras3") else pytest.importorskip("tf_keras")


def _save(family: str, flavor: str, folder: Path, seed: int = 7):
    """The model saved as ``flavor``, its inputs, and Keras's outputs for them."""
    k = _module(flavor)
    model = FAMILIES[family](k)
    if family != "preprocessing":  # keep the adapted statistics (a variance must stay positive)
        randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    inputs = {t.name.split(":")[0]: rng.standard_normal((2, *tuple(t.shape)[1:])).astype("float32")
              for t in model.inputs}
    if family == "preprocessing":
        inputs = {name: (v * 60 + 128).astype("float32") for name, v in inputs.items()}
    return save_with_outputs(model, inputs, folder / f"{family}{flavor[flavor.index('.'):]}")


def _verify(out: Path, inputs: dict[str, np.ndarray], outputs: list[np.ndarray]) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    signature = json.loads((out / "model.json").read_text())["signature"]
    names = list(signature["outputs"])
    assert len(names) == len(outputs), names
    if len(inputs) == 1:
        inputs = dict(zip(signature["inputs"], inputs.values(), strict=True))
    expected = dict(zip(names, outputs, strict=True))
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_family_lowers_and_matches_keras(tmp_path, tfjs_runtime, family, flavor):
    path, inputs, outputs = _save(family, flavor, tmp_path)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    _verify(tmp_path / "out", inputs, outputs)
    if family == "shared_layers":  # each shared weight is written once
        names = [w["name"] for group in json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"]
                 for w in group["weights"]]
        assert len([n for n in names if "kernel" in n]) == 2, names


POISONED = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None  # any import of them now fails
import tfjsconv
for path in sys.argv[1:]:
    result = tfjsconv.convert(path, path + ".out", output_format="tfjs_graph_model")
    print(result.details)
print("LOADED:" + ",".join(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")
                            and sys.modules[m] is not None))
"""


def convert_poisoned(paths: list[Path]) -> None:
    """Convert ``paths`` in one subprocess where TensorFlow, Keras and tf_keras cannot be imported: each must lower."""
    out = subprocess.run([sys.executable, "-c", POISONED, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count(LOWERED) == len(paths), out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout


def case_file(folder: Path, family: str, flavor: str) -> Path:
    """Where a ``(family, flavor)`` case is saved, e.g. ``conv-keras3-keras.keras``."""
    return folder / f"{family}-{flavor.replace('.', '-')}{flavor[flavor.index('.'):]}"


def layer_gaps_of(model) -> list[str]:
    """The lowering's config-level gaps of a built Keras model."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    return layer_gaps(json.loads(model.to_json()))


def family_saver(families: dict, inputs_of, seed: int):
    """A ``save`` for :func:`saved_and_converted`: the family's model with random weights (``seed``), saved as
    ``flavor``, with inputs from ``inputs_of(model, seed + 1)`` and Keras's outputs for them."""
    def save(family: str, flavor: str, folder: Path):
        model = families[family](_module(flavor))
        randomize(model, seed)
        return save_with_outputs(model, inputs_of(model, seed + 1), case_file(folder, family, flavor))

    return save


def saved_and_converted(tmp_path_factory, label: str, cases, save) -> dict:
    """Every case saved by Keras (``save(family, flavor, folder)`` -> ``(path, inputs, outputs)``), then
    converted in one subprocess with TensorFlow, Keras and tf_keras poisoned; keyed by case."""
    folder = tmp_path_factory.mktemp(label)
    saved = {case: save(*case, folder) for case in cases}
    convert_poisoned([p for p, _, _ in saved.values()])
    return saved


def test_covered_files_convert_without_tensorflow_or_keras(tmp_path):
    paths = [_save("conv", "keras3.keras", tmp_path)[0], _save("normalization", "keras3.h5", tmp_path)[0]]
    convert_poisoned(paths)
    assert all((Path(f"{p}.out") / "model.json").is_file() for p in paths)


def test_uncovered_layer_without_tensorflow_names_the_layer(tmp_path):
    from tfjsconv.errors import UsageError

    L = keras.layers
    inp = keras.Input(batch_shape=(2, 5, 3), name="seq")
    keras.Model(inp, L.RNN(L.SimpleRNNCell(2), stateful=True, name="td")(inp)).save(tmp_path / "gru.keras")
    code = POISONED.split("for path")[0] + "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', " \
                                            "output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "gru.keras")], capture_output=True, text=True)
    assert out.returncode != 0
    assert UsageError.__name__ in out.stderr
    assert "does not cover 1 layer: 'td' (RNN: stateful=True)" in out.stderr, \
        out.stderr[-1500:]
    assert "hint: these layers need the TensorFlow tracer: pip install tensorflow keras, then use " \
           "--loader=tensorflow" in out.stderr


def test_uncovered_layer_is_refused_and_traced_with_the_loader_flag(tmp_path):
    """The lowering is the graph path; a gap is named with the way out, --loader=tensorflow, which traces."""
    pytest.importorskip("tensorflow")
    from tfjsconv.errors import UsageError

    L = keras.layers
    inp = keras.Input((5, 5), name="seq")
    # Keras 3's repeat without an axis (over the flattened tensor, batch included) has no lowering; TensorFlow
    # traces it (session 20: einsum 'bii->bi', the example until then, lowers)
    steps = keras.ops.reshape(keras.ops.repeat(inp, 2), (-1, 10, 5))
    model = keras.Model(inp, L.Dense(2, name="head")(L.GRU(4, name="gru")(steps)))
    randomize(model, 3)
    model.save(tmp_path / "gru.keras")
    refusal = r"does not cover 1 layer: 'repeat\w*' \(Repeat\): repeats=2 along axis=None"
    with pytest.raises(UsageError, match=refusal) as err:
        tfjsconv.convert(tmp_path / "gru.keras", tmp_path / "refused", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "refused").exists()
    result = tfjsconv.convert(tmp_path / "gru.keras", tmp_path / "out", output_format="tfjs_graph_model",
                              loader="tensorflow")
    assert result.details == ["keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"]
    assert (tmp_path / "out" / "model.json").is_file()


def test_lowering_gaps_are_named_from_the_config():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    inp = keras.Input((6, 6, 3), name="image")
    x = L.Resizing(4, 4, interpolation="bicubic", name="bicubic")(inp)
    x = L.Dense(2, activation="glu", name="glu_dense")(x)
    x = L.Dense(2, lora_rank=1, name="lora")(x)
    cell = L.GRUCell(2, name="shared_cell")
    x = L.LSTM(2, name="lstm")(L.RNN([cell, cell], return_sequences=True, name="td")(
        L.Reshape((-1, 2))(x)))
    config = json.loads(keras.Model(inp, x).to_json())
    # glu, a shared cell and a Keras 3 LoRA Dense (merged when read, session 17) are lowered
    assert layer_gaps(config) == ["'bicubic' (Resizing: interpolation='bicubic')"]


def _edit_config(path: Path, edit) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit({layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]})
        f.attrs["model_config"] = json.dumps(config)


@pytest.mark.parametrize("edit,needle", [
    (lambda layers: layers["c"].update(filters=5), "layer 'c' (Conv1D) has a kernel of shape [3, 3, 4], expected [3, 3, 5]"),
    (lambda layers: layers["d"].update(use_bias=False), "layer 'd' (Dense) has 2 weights, but its config needs 1"),
    (lambda layers: layers["c"].update(kernel_size="three"), "the model config is malformed"),
])
def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, edit, needle):
    from tfjsconv.errors import InputError

    path = _save("sequential", "keras3.h5", tmp_path)[0]
    _edit_config(path, edit)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert needle in str(err.value)
    assert not (tmp_path / "out").exists()


def test_verbose_names_the_path(tmp_path, capsys):
    from tfjsconv.cli import main

    path = _save("sequential", "keras3.keras", tmp_path)[0]
    main(["convert", str(path), str(tmp_path / "out"), "--output_format=tfjs_graph_model", "--verbose"])
    assert f"  {LOWERED}" in capsys.readouterr().out


@pytest.mark.node
def test_loader_tensorflow_forces_the_traced_path(tmp_path, tfjs_runtime):
    pytest.importorskip("tensorflow")
    path, inputs, outputs = _save("sequential", "tf_keras.h5", tmp_path)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model", loader="tensorflow")
    assert result.details == ["keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"]
    _verify(tmp_path / "out", inputs, outputs)


def test_a_config_the_lowering_cannot_read_names_both_causes(tmp_path):
    """A wrong type deep in a layer's config fails inside the lowering, where it may also be a lowering bug on a
    valid file: the error says both, and the hint offers the TensorFlow path."""
    from tfjsconv.errors import InputError

    path = _save("sequential", "keras3.h5", tmp_path)[0]
    _edit_config(path, lambda layers: layers["c"].update(kernel_size="three"))
    with pytest.raises(InputError, match="the model config is malformed, or the lowering failed on it") as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()
