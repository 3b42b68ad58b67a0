"""The ``dense_json`` frontend itself: imported only when a ``*.dense.json`` file is converted or verified."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph

from . import is_dense_json


class DenseJsonFrontend(Frontend):
    name = "dense_json"
    description = "one dense layer as JSON (example plugin)"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source):
        return is_dense_json(source)

    def load(self, source, options):
        path = as_path(source)
        try:
            spec = json.loads(Path(path).read_text())
            kernel = np.asarray(spec["kernel"], dtype=np.float32)
            bias = np.asarray(spec["bias"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path} is not a dense_json file: {err}") from None
        g = Graph(path.name)
        x = g.placeholder("x", DType.FLOAT32, (None, kernel.shape[0]))
        mm = g.add_op("MatMul", [x, g.const(kernel, name="kernel")], name="matmul", dtype=DType.FLOAT32)
        y = g.add_op("BiasAdd", [mm, g.const(bias, name="bias")], name="bias_add", dtype=DType.FLOAT32)
        activation = spec.get("activation", "linear")
        if activation == "relu":
            y = g.add_op("Relu", [y], name="relu", dtype=DType.FLOAT32)
        elif activation == "swish":
            y = g.add_op("ExampleSwish", [y], name="swish", dtype=DType.FLOAT32)
        g.set_output("y", y)
        return g

    def reference(self, source, inputs, options):
        spec = json.loads(Path(as_path(source)).read_text())
        y = inputs["x"] @ np.asarray(spec["kernel"], np.float32) + np.asarray(spec["bias"], np.float32)
        if spec.get("activation") == "relu":
            y = np.maximum(y, 0)
        elif spec.get("activation") == "swish":
            y = y / (1 + np.exp(-y))
        return {"y": y.astype(np.float32)}
