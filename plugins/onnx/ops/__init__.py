"""Built-in ONNX op mappings, one module per domain of ops. Importing them imports no onnx."""
from __future__ import annotations

from . import activation, math, nn, tensor

#: The modules whose ``@onnx_op`` functions are registered (see ``mapping.collect``).
MODULES = (activation, math, nn, tensor)
