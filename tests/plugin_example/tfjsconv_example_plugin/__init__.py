"""An example tfjsconv plugin: the "dense_json" input format and a custom op.

A ``*.dense.json`` file holds one dense layer::

    {"kernel": [[...], ...], "bias": [...], "activation": "relu" | "swish"}

``swish`` lowers to the custom op ``ExampleSwish``, which TF.js does not have: the user registers
it in JavaScript with ``tf.registerOp("ExampleSwish", node => ...)``. Registering it here tells
tfjsconv's op check that it is expected.
"""
from __future__ import annotations

from tfjsconv.frontend import as_path
from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend


def is_dense_json(source):
    """Cheap detection (a file name): it runs for every input, so it imports nothing heavy."""
    path = as_path(source)
    return path is not None and path.name.endswith(".dense.json")


@hookimpl
def register_frontends(register):
    # Declared lazily: .dense_json (numpy, the IR) is imported only when a dense_json file is converted.
    register(LazyFrontend("dense_json", f"{__name__}.dense_json:DenseJsonFrontend", detect=is_dense_json,
                          description="one dense layer as JSON (example plugin)"))


@hookimpl
def register_ops(register):
    from tfjsconv.ops import InputDef, OpDef

    register(OpDef(name="ExampleSwish", category="custom", inputs=(InputDef("x", 0),), custom=True,
                   description="x * sigmoid(x), implemented in JS by the app"))
