"""Built-in ONNX op mappings, one module per domain of ops. Importing them imports no onnx."""
from __future__ import annotations

from . import activation, attention, conv_nd, indexing, math, nn, normalization, resize, rnn, slicing, tensor

#: The modules whose ``@onnx_op`` functions are registered (see ``mapping.collect``).
MODULES = (activation, attention, conv_nd, indexing, math, nn, normalization, resize, rnn, slicing, tensor)
