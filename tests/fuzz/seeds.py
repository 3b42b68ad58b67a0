"""Small valid models, built in the test from random weights: the seeds that bad inputs and fuzzing mutate.

Shared by the bad-input table, the determinism tests and the fuzz harnesses. Keras files need
Keras (imported only by :func:`keras_files`); ONNX models need ``onnx``; nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# -- ONNX ----------------------------------------------------------------------------------------
def onnx_mlp(seed: int = 0, *, weights: dict[str, np.ndarray] | None = None, opset: int = 13) -> Any:
    """x[2, 8] -> MatMul -> Add -> Relu -> MatMul -> y[2, 3]; ``weights`` replaces initializers by name."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {
        "w1": rng.standard_normal((8, 16)).astype(np.float32),
        "b1": rng.standard_normal(16).astype(np.float32),
        "w2": rng.standard_normal((16, 3)).astype(np.float32),
    }
    arrays.update(weights or {})
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="add1"),
        helper.make_node("Relu", ["hb"], ["hr"], name="relu1"),
        helper.make_node("MatMul", ["hr", "w2"], ["y"], name="mm2"),
    ]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[numpy_helper.from_array(a, n) for n, a in arrays.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8,
                             producer_name="tfjsconv-tests")


def onnx_cycle() -> Any:
    """Two nodes that read each other's outputs: not a DAG."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="first"),
        helper.make_node("Relu", ["a"], ["b"], name="second"),
    ]
    graph = helper.make_graph(nodes, "cycle", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def save_onnx(model: Any, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def onnx_with_external_data(folder: Path, *, location: str = "weights.bin", seed: int = 0) -> Path:
    """The MLP with every initializer in one external data file next to the model."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    model = onnx_mlp(seed)
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return folder / "model.onnx"


# -- IR and TF.js --------------------------------------------------------------------------------
def ir_graph(seed: int = 0) -> Any:
    from graphs import conv_pool_softmax

    return conv_pool_softmax(seed)


def tfjs_model(folder: Path, *, seed: int = 0, shard_size: int = 1024) -> Path:
    """A valid TF.js graph model folder (several small shards) converted from an IR graph."""
    import tfjsconv

    tfjsconv.convert(ir_graph(seed), folder, weight_shard_size_bytes=shard_size)
    return folder


# -- Keras ---------------------------------------------------------------------------------------
def _small(k: Any) -> Any:
    return k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="relu", name="d1"),
                         k.layers.Dense(2, name="d2")])


def _randomize(model: Any, seed: int, fill: float | None = None) -> None:
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()]
    if fill is not None:
        weights[0].flat[0] = fill
    model.set_weights(weights)


def _lambda_model(k: Any, body: Any) -> Any:
    inp = k.Input((4,))
    x = k.layers.Dense(3)(inp)
    x = k.layers.Lambda(body, name="canary_lambda")(x)
    return k.Model(inp, k.layers.Dense(2)(x))


def keras_files(folder: Path, canary: Any) -> dict[str, Path]:
    """Valid and code-bearing Keras files: Keras 3 (.keras, .h5) and tf_keras (.h5).

    ``canary`` (a :class:`canary.Canary`) goes into the Lambda layers; it is armed before returning.
    """
    import keras
    import tf_keras

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for tag, k, suffixes in (("k3", keras, (".keras", ".h5")), ("tk", tf_keras, (".h5",))):
        model = _small(k)
        _randomize(model, 0)
        for suffix in suffixes:
            files[f"{tag}{suffix}"] = folder / f"{tag}{suffix}"
            model.save(files[f"{tag}{suffix}"])
        for fill, label in ((np.nan, "nan"), (np.inf, "inf")):
            model = _small(k)
            _randomize(model, 0, fill)
            files[f"{tag}_{label}{suffixes[0]}"] = folder / f"{tag}_{label}{suffixes[0]}"
            model.save(files[f"{tag}_{label}{suffixes[0]}"])
        for suffix in suffixes:
            path = folder / f"{tag}_lambda{suffix}"
            _lambda_model(k, canary.lambda_body()).save(path)
            files[f"{tag}_lambda{suffix}"] = path

    @keras.saving.register_keras_serializable(package="tfjsconv_reliability")
    class Doubler(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return x * 2.0

    inp = keras.Input((4,))
    custom = keras.Model(inp, Doubler(name="doubler")(keras.layers.Dense(3)(inp)))
    files["k3_custom.keras"] = folder / "k3_custom.keras"
    custom.save(files["k3_custom.keras"])
    canary.arm()
    return files
