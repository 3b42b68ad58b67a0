"""Builders and hypothesis strategies for the pass tests.

``Builder`` writes small IR graphs tersely (float32 NHWC, random weights); ``optimize`` runs the
registered passes the way ``convert`` does; ``random_graph`` is a hypothesis strategy for small
graphs of elementwise, matmul, reshape and transpose ops.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.passes import PassManager, PassReport, select_passes
from tfjsconv.plugin_manager import get_plugin_manager

F = DType.FLOAT32


class Builder:
    """A graph under construction with a seeded RNG for its weights."""

    def __init__(self, name: str = "g", seed: int = 0) -> None:
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)

    def input(self, name: str, shape: tuple) -> Value:
        return self.g.placeholder(name, F, shape)

    def const(self, array, name: str = "c") -> Value:
        return self.g.const(np.asarray(array), name=name)

    def weight(self, shape: tuple, name: str = "w", scale: float = 1.0) -> Value:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32), name)

    def op(self, op: str, inputs: list, attrs: dict | None = None, name: str | None = None,
           shape: tuple | None = None, dtype: DType = F) -> Value:
        return self.g.add_op(op, inputs, {"T": dtype, **(attrs or {})}, name=name or op.lower(), dtype=dtype,
                             shape=shape)

    def conv(self, x: Value, cin: int, cout: int, k: int = 3, stride: int = 1, padding: str = "SAME",
             dilation: int = 1, name: str = "conv", **extra) -> Value:
        w = self.weight((k, k, cin, cout), f"{name}/filter")
        return self.op("Conv2D", [x, w], {"strides": [1, stride, stride, 1], "padding": padding,
                                          "data_format": "NHWC", "dilations": [1, dilation, dilation, 1], **extra},
                       name=name)

    def depthwise(self, x: Value, cin: int, mult: int = 1, k: int = 3, stride: int = 1, padding: str = "SAME",
                  name: str = "dw", **extra) -> Value:
        w = self.weight((k, k, cin, mult), f"{name}/filter")
        return self.op("DepthwiseConv2dNative", [x, w], {"strides": [1, stride, stride, 1], "padding": padding,
                                                         "data_format": "NHWC", "dilations": [1, 1, 1, 1], **extra},
                       name=name)

    def matmul(self, x: Value, cin: int, cout: int, name: str = "mm", transpose_b: bool = False) -> Value:
        w = self.weight((cout, cin) if transpose_b else (cin, cout), f"{name}/kernel")
        return self.op("MatMul", [x, w], {"transpose_a": False, "transpose_b": transpose_b}, name=name)

    def bias(self, x: Value, channels: int, name: str = "bias") -> Value:
        return self.op("BiasAdd", [x, self.weight((channels,), f"{name}/b")], {"data_format": "NHWC"}, name=name)

    def batchnorm(self, x: Value, channels: int, name: str = "bn", op: str = "FusedBatchNormV3") -> Value:
        """Random statistics (positive variance and scale away from 0), inference mode."""
        r = self.rng
        stats = [self.const(a.astype(np.float32), f"{name}/{n}") for n, a in (
            ("gamma", r.uniform(0.5, 1.5, channels)), ("beta", r.uniform(-1, 1, channels)),
            ("mean", r.uniform(-1, 1, channels)), ("variance", r.uniform(0.5, 2.0, channels)))]
        node = self.g.add_node(op, [x] + stats, {"T": F, "U": F, "epsilon": 1e-3, "data_format": "NHWC",
                                                 "is_training": False}, name=name, num_outputs=6 if op.endswith("V3") else 5)
        out = node.output(0)
        out.dtype = F
        return out

    def output(self, key: str, value: Value) -> Graph:
        self.g.set_output(key, value)
        return self.g

    def feeds(self, seed: int = 1) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {k: rng.standard_normal(tuple(d if d is not None else 2 for d in v.shape)).astype(np.float32)
                for k, v in self.g.inputs.items()}


def optimize(graph: Graph, *, level: int = 2, only: tuple[str, ...] | None = None) -> tuple[Graph, PassReport]:
    """A copy of ``graph`` after the registered passes (or only the named ones, plus dead_code)."""
    passes = select_passes(get_plugin_manager().registry.passes, level=level)
    if only is not None:
        passes = [p for p in passes if p.name in only or p.name == "dead_code"]
    work = graph.copy()
    report = PassManager(passes).run(work)
    work.validate()
    return work, report


# -- hypothesis: random small graphs ------------------------------------------------------------
UNARY = ("Relu", "Relu6", "Sigmoid", "Tanh", "Neg", "Abs", "Elu", "Square")
BINARY = ("AddV2", "Sub", "Mul", "Maximum", "Minimum")


@st.composite
def random_graph(draw) -> tuple[Graph, dict[str, np.ndarray]]:
    """A chain/DAG of elementwise, MatMul, BiasAdd, Reshape and Transpose ops on a [2, 3, 4] input.

    Every op keeps track of the static shape so that each choice is valid; constants are random.
    """
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    b = Builder("random", seed)
    x = b.input("x", (2, 3, 4))
    values = [(x, (2, 3, 4))]
    for step in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(("unary", "binary", "binary_const", "matmul", "reshape", "transpose",
                                     "transpose_pair", "identity")))
        value, shape = values[draw(st.integers(0, len(values) - 1))]
        name = f"n{step}"
        if kind == "unary":
            out = b.op(draw(st.sampled_from(UNARY)), [value], name=name, shape=shape)
        elif kind == "binary":
            same = [v for v in values if v[1] == shape]
            other = same[draw(st.integers(0, len(same) - 1))][0]
            out = b.op(draw(st.sampled_from(BINARY)), [value, other], name=name, shape=shape)
        elif kind == "binary_const":
            cshape = shape[draw(st.integers(0, len(shape))):]
            const = b.const(rng.standard_normal(cshape).astype(np.float32), f"{name}/c")
            inputs = [value, const] if draw(st.booleans()) else [const, value]
            out = b.op(draw(st.sampled_from(BINARY)), inputs, name=name, shape=shape)
        elif kind == "matmul":
            rows = int(np.prod(shape[:-1]))
            flat = b.op("Reshape", [value, b.const(np.array([rows, shape[-1]], np.int32), f"{name}/shape")],
                        name=f"{name}/flat", shape=(rows, shape[-1]))
            cout = draw(st.integers(1, 5))
            mm = b.matmul(flat, shape[-1], cout, name=name)
            out, shape = (b.bias(mm, cout, name=f"{name}/bias") if draw(st.booleans()) else mm), (rows, cout)
        elif kind == "reshape":
            size = int(np.prod(shape))
            options = [s for s in ((size,), (2, size // 2), (size // 2, 2), (1, size), (2, 3, size // 6))
                       if int(np.prod(s)) == size and all(d > 0 for d in s)]
            target = list(draw(st.sampled_from(options)))
            if draw(st.booleans()):
                target[draw(st.integers(0, len(target) - 1))] = -1
            out = b.op("Reshape", [value, b.const(np.array(target, np.int32), f"{name}/shape")], name=name)
            shape = tuple(int(d) for d in np.empty(shape).reshape(target).shape)
        elif kind in ("transpose", "transpose_pair"):
            perm = list(draw(st.permutations(range(len(shape)))))
            out = b.op("Transpose", [value, b.const(np.array(perm, np.int32), f"{name}/perm")], name=name)
            shape = tuple(shape[p] for p in perm)
            if kind == "transpose_pair":
                inner = b.op(draw(st.sampled_from(UNARY)), [out], name=f"{name}/act", shape=shape)
                inverse = [int(i) for i in np.argsort(perm)]
                out = b.op("Transpose", [inner, b.const(np.array(inverse, np.int32), f"{name}/inv")],
                           name=f"{name}/back")
                shape = tuple(shape[p] for p in inverse)
        else:
            out = b.op("Identity", [value], name=name, shape=shape)
        out.shape = shape
        values.append((out, shape))
    outputs = draw(st.lists(st.integers(1, len(values) - 1), min_size=1, max_size=2, unique=True))
    for i, index in enumerate(outputs):
        b.output(f"y{i}", values[index][0])
    return b.g, {"x": rng.standard_normal((2, 3, 4)).astype(np.float32)}
