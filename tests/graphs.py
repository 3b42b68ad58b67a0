"""Small IR graphs used across the tests (and mirrored by examples/demo.py)."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph


def dense_relu(seed: int = 0) -> Graph:
    """MatMul + BiasAdd + Relu: x[-1, 8] -> y[-1, 4]."""
    rng = np.random.default_rng(seed)
    g = Graph("dense_relu")
    x = g.placeholder("x", DType.FLOAT32, (None, 8))
    w = g.const(rng.standard_normal((8, 4)).astype(np.float32), name="dense/kernel")
    b = g.const(rng.standard_normal(4).astype(np.float32), name="dense/bias")
    mm = g.add_op("MatMul", [x, w], {"T": DType.FLOAT32, "transpose_a": False, "transpose_b": False},
                  name="dense/MatMul", dtype=DType.FLOAT32, shape=(None, 4))
    ba = g.add_op("BiasAdd", [mm, b], {"T": DType.FLOAT32, "data_format": "NHWC"}, name="dense/BiasAdd",
                  dtype=DType.FLOAT32, shape=(None, 4))
    y = g.add_op("Relu", [ba], {"T": DType.FLOAT32}, name="dense/Relu", dtype=DType.FLOAT32, shape=(None, 4))
    g.set_output("y", y)
    return g


def conv_pool_softmax(seed: int = 0) -> Graph:
    """NHWC Conv2D + MaxPool + Reshape + Softmax: image[1, 8, 8, 3] -> probs[1, 64]."""
    rng = np.random.default_rng(seed)
    g = Graph("conv_pool_softmax")
    x = g.placeholder("image", DType.FLOAT32, (1, 8, 8, 3))
    w = g.const(rng.standard_normal((3, 3, 3, 4)).astype(np.float32), name="conv/filter")
    conv = g.add_op("Conv2D", [x, w], {"T": DType.FLOAT32, "strides": [1, 1, 1, 1], "padding": "SAME",
                                       "data_format": "NHWC", "dilations": [1, 1, 1, 1]},
                    name="conv/Conv2D", dtype=DType.FLOAT32, shape=(1, 8, 8, 4))
    pool = g.add_op("MaxPool", [conv], {"T": DType.FLOAT32, "ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                        "padding": "VALID", "data_format": "NHWC"},
                    name="pool", dtype=DType.FLOAT32, shape=(1, 4, 4, 4))
    shape = g.const(np.array([1, 64], dtype=np.int32), name="flatten/shape")
    flat = g.add_op("Reshape", [pool, shape], {"T": DType.FLOAT32, "Tshape": DType.INT32}, name="flatten",
                    dtype=DType.FLOAT32, shape=(1, 64))
    probs = g.add_op("Softmax", [flat], {"T": DType.FLOAT32}, name="probs", dtype=DType.FLOAT32, shape=(1, 64))
    g.set_output("probs", probs)
    return g


def mixed_dtypes() -> Graph:
    """int32, bool and string constants: counts + offsets, flags AND mask, and a string table."""
    g = Graph("mixed_dtypes")
    counts = g.placeholder("counts", DType.INT32, (3,))
    flags = g.placeholder("flags", DType.BOOL, (4,))
    offsets = g.const(np.array([10, -20, 2**30], dtype=np.int32), name="offsets")
    mask = g.const(np.array([True, False, True, True]), name="mask")
    table = g.const(np.array(["tf.js", "", "ünïcødé", "a b"], dtype=object), name="table", dtype=DType.STRING)
    g.set_output("shifted", g.add_op("AddV2", [counts, offsets], {"T": DType.INT32}, name="shifted",
                                     dtype=DType.INT32, shape=(3,)))
    g.set_output("masked", g.add_op("LogicalAnd", [flags, mask], {}, name="masked", dtype=DType.BOOL, shape=(4,)))
    g.set_output("words", g.add_op("Identity", [table], {"T": DType.STRING}, name="words",
                                   dtype=DType.STRING, shape=(4,)))
    return g


def complex_parts() -> Graph:
    """A complex64 constant and its real/imaginary parts (TF.js 4.22 runs complex only on cpu)."""
    g = Graph("complex_parts")
    scale = g.placeholder("scale", DType.FLOAT32, (3,))
    waves = g.const(np.array([1 + 2j, -3.5 - 0.25j, 0j], dtype=np.complex64), name="waves")
    real = g.add_op("Real", [waves], {"T": DType.COMPLEX64, "Tout": DType.FLOAT32}, name="real")
    g.set_output("waves_real", g.add_op("Mul", [real, scale], {"T": DType.FLOAT32}, name="waves_real", dtype=DType.FLOAT32, shape=(3,)))
    g.set_output("waves_imag", g.add_op("Imag", [waves], {"T": DType.COMPLEX64, "Tout": DType.FLOAT32},
                                        name="waves_imag", dtype=DType.FLOAT32, shape=(3,)))
    return g


def example_inputs(graph: Graph, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if graph.name == "dense_relu":
        return {"x": rng.standard_normal((5, 8)).astype(np.float32)}
    if graph.name == "conv_pool_softmax":
        return {"image": rng.standard_normal((1, 8, 8, 3)).astype(np.float32)}
    if graph.name == "complex_parts":
        return {"scale": np.array([1.0, -2.0, 0.5], dtype=np.float32)}
    if graph.name == "mixed_dtypes":
        return {"counts": np.array([1, 2, 3], dtype=np.int32), "flags": np.array([True, True, False, True])}
    raise KeyError(graph.name)


ALL = {"dense_relu": dense_relu, "conv_pool_softmax": conv_pool_softmax, "mixed_dtypes": mixed_dtypes}


def save_tiny_onnx_cnn(path) -> None:
    """Conv(3→4, 3x3) + Relu as an ONNX file: x[1, 3, 6, 6] (NCHW) -> y[1, 4, 4, 4]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv1.weight"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv1.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
