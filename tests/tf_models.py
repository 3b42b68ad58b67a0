"""Small TensorFlow/Keras SavedModels for the TensorFlow frontend tests (random weights, nothing downloaded).

Each builder writes one model into the folder it is given and returns the path. BatchNorm statistics,
betas/gammas and biases get random values, not Keras's zero/one defaults, so that folding and fusion
have something to get wrong.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEED = 1234


def _randomize(model, rng: np.random.Generator) -> None:
    """Every weight random; variances positive."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = []
        for w in weights:
            values = rng.normal(0, 0.5, w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
            new.append(values)
        if type(layer).__name__.startswith("BatchNormalization"):
            new[-1] = rng.uniform(0.5, 2.0, weights[-1].shape).astype(weights[-1].dtype)  # moving variance
        layer.set_weights(new)


def _keras(flavour: str):
    if flavour == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


def _save(model, path: Path, flavour: str) -> Path:
    if flavour == "tf_keras":
        import tensorflow as tf

        tf.saved_model.save(model, str(path))
    else:
        model.export(str(path), verbose=False)
    return path


def cnn(path: Path, flavour: str) -> Path:
    """Conv + BatchNorm + depthwise conv + BatchNorm + pooling + dense softmax."""
    k = _keras(flavour)
    L = k.layers
    x = k.Input((12, 12, 3), name="image")
    y = L.Conv2D(8, 3, padding="same", name="conv")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU(name="relu")(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(y)
    y = L.BatchNormalization(name="bn2")(y)
    y = L.ReLU(6.0, name="relu6")(y)
    y = L.Conv2D(6, 1, activation="swish", name="pointwise")(y)
    y = L.MaxPooling2D(2, name="pool")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dense(5, activation="softmax", name="probs")(y)
    model = k.Model(x, y, name="cnn")
    _randomize(model, np.random.default_rng(SEED))
    return _save(model, path, flavour)


def text_rnn(path: Path, flavour: str, cell: str) -> Path:
    """Embedding + LSTM or GRU + dense: a tiny text classifier over int token ids."""
    k = _keras(flavour)
    L = k.layers
    tokens = k.Input((7,), dtype="int32", name="tokens")
    y = L.Embedding(20, 8, name="embed")(tokens)
    rnn = L.LSTM if cell == "lstm" else L.GRU
    y = rnn(6, name=cell)(y)
    y = L.Dense(3, activation="sigmoid", name="score")(y)
    model = k.Model(tokens, y, name=f"text_{cell}")
    _randomize(model, np.random.default_rng(SEED + 1))
    return _save(model, path, flavour)


def multi_io(path: Path, flavour: str) -> Path:
    """Two inputs, two outputs, many activations."""
    return _save(multi_io_model(flavour), path, flavour)


def multi_io_model(flavour: str):
    """The in-memory Keras model behind :func:`multi_io`."""
    k = _keras(flavour)
    L = k.layers
    a = k.Input((4,), name="a")
    b = k.Input((6,), name="b")
    ya = L.Dense(8, activation="elu", name="da")(a)
    yb = L.Dense(8, activation="selu", name="db")(b)
    y = L.Concatenate(name="cat")([ya, yb])
    acts = ["tanh", "softplus", "softsign", "gelu", "hard_sigmoid", "swish", "exponential"]
    branches = [L.Dense(4, activation=act, name=f"d_{act}")(y) for act in acts]
    merged = L.Add(name="sum")(branches)
    out1 = L.Dense(3, activation="softmax", name="class")(merged)
    out2 = L.Dense(2, name="value")(L.LeakyReLU(name="leaky")(merged))
    model = k.Model([a, b], [out1, out2], name="multi_io")
    _randomize(model, np.random.default_rng(SEED + 2))
    return model


def control_flow(path: Path) -> Path:
    """A tf.function with a tf.while_loop and a tf.cond, over a variable."""
    import tensorflow as tf

    class Loop(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((3, 3), seed=(1, 2)) * 0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            def body(i, acc):
                return i + 1, tf.tanh(tf.matmul(acc, self.w) + x)

            _, acc = tf.while_loop(lambda i, acc: i < 4, body, [tf.constant(0), x])
            y = tf.cond(tf.reduce_sum(acc) > 0, lambda: acc * 2.0 + 1.0, lambda: tf.nn.relu(acc) - 3.0)
            return {"y": y}

    module = Loop()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def hash_table(path: Path) -> Path:
    """A StaticHashTable from words to labels (strings to strings) and to ids."""
    import tensorflow as tf

    class Lookup(tf.Module):
        def __init__(self):
            super().__init__()
            words = tf.constant(["a", "b", "tf.js", "hello"])
            self.labels = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(words, tf.constant(["A", "B", "TFJS", "HI"])), default_value="?")
            self.ids = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(words, tf.constant([1, 2, 3, 4], tf.int32)), default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def __call__(self, words):
            return {"label": self.labels.lookup(words), "id": self.ids.lookup(words) * 10}

    module = Lookup()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def frozen_graph(path: Path) -> Path:
    """A frozen GraphDef .pb with two named outputs (logits, probs) and one unused branch."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    w = tf.Variable(np.random.default_rng(SEED).normal(size=(5, 4)).astype(np.float32))
    b = tf.Variable(np.random.default_rng(SEED + 1).normal(size=(4,)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32, name="features")])
    def f(features):
        logits = tf.nn.bias_add(tf.matmul(features, w), b, name="logits")
        probs = tf.nn.softmax(logits, name="probs")
        unused = tf.reduce_max(logits, name="unused")
        return probs, unused

    frozen = convert_variables_to_constants_v2(f.get_concrete_function())
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


def raw_ops_graph(path: Path, build, feeds: dict[str, np.ndarray],
                  outputs: list[str]) -> tuple[Path, dict[str, np.ndarray]]:
    """A TF1 graph of raw ops, ``build(tf)`` making its placeholders (named as ``feeds``) and ``outputs``, written to
    ``path`` as a GraphDef .pb, with TensorFlow's outputs for ``feeds`` (the reference of one-op contract tests)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        build(tf)
    with tf.compat.v1.Session(graph=graph) as session:
        got = session.run([f"{n}:0" for n in outputs], {f"{k}:0": v for k, v in feeds.items()})
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path, dict(zip(outputs, got, strict=True))


def cpu_and_wasm_outputs(source: Path, out: Path, feeds: dict[str, np.ndarray], outputs: list[str],
                         **options) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``source`` converted to ``out`` and run in TF.js: the cpu and the wasm backend's outputs by name."""
    import tfjsconv
    from tfjsconv.verify.run import run_model

    tfjsconv.convert(source, out, output_node_names=outputs, **options)
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    for backend in ("cpu", "wasm"):
        assert runs.backends[backend].ok, runs.backends[backend].error
    cpu, wasm = ({n: np.asarray(v) for n, v in runs.backends[b].outputs.items()} for b in ("cpu", "wasm"))
    return cpu, wasm


def hub_v1(path: Path) -> Path:
    """A TF1 hub-format module: SavedModel with an empty tag-set, signature 'default', tfhub_module.pb."""
    import tensorflow as tf

    v1 = tf.compat.v1
    rng = np.random.default_rng(SEED + 3)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="images")
        w = v1.get_variable("w", initializer=rng.normal(size=(4, 3)).astype(np.float32))
        b = v1.get_variable("b", initializer=rng.normal(size=(3,)).astype(np.float32))
        y = tf.nn.relu(tf.matmul(x, w) + b, name="features")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.predict_signature_def({"images": x}, {"default": y})
            builder.add_meta_graph_and_variables(session, [], signature_def_map={"default": signature})
            builder.save()
    (path / "tfhub_module.pb").write_bytes(b"\x08\x03")  # ModuleDef{format: FORMAT_V3}
    return path


def hub_v2(path: Path) -> Path:
    """A TF2 SavedModel as published on TF Hub, with a 'default' signature."""
    import tensorflow as tf

    class Embed(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(np.random.default_rng(SEED + 4).normal(size=(10, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="ids")])
        def __call__(self, ids):
            return {"default": tf.nn.l2_normalize(tf.gather(self.table, ids), axis=-1)}

    module = Embed()
    tf.saved_model.save(module, str(path), signatures={"default": module.__call__})
    return path


def nested_tensor_array_loops(x):
    """Inside a ``tf.function``: an inner loop writing the outer loop variable, scaled, into a growing
    TensorArray the outer body creates, ``3 - i`` times (one list shared by all outer iterations would
    keep rows of the previous ones); the outer loop sums the rows, three times over."""
    import tensorflow as tf

    def outer(i, acc):
        def inner(j, t):
            return j + 1, t.write(j, acc * tf.cast(j + i + 1, tf.float32))
        empty = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        _, ta = tf.while_loop(lambda j, t: j < 3 - i, inner, [tf.constant(0), empty])
        return i + 1, tf.reduce_sum(ta.stack(), axis=0) * 0.5
    _, y = tf.while_loop(lambda i, a: i < 3, outer, [tf.constant(0), x])
    return y
