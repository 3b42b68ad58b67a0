"""Built-in ONNX op mappings, one module per domain of ops. Importing them imports no onnx."""
from __future__ import annotations

from . import activation, attention, control_flow, bitwise, causal_conv, depth_space, detection, elementwise_extra, linalg, linear_attention, matmul_nbits, triangular, encoding, modulo, quantized, quantized_lstm, sequence_ops, col2im, conv_integer, conv_nd, deform_conv, indexing, losses, math, nn, normalization, resize, rnn, rotary, sampling, sets, signal, slicing, tensor, unpool

#: The modules whose ``@onnx_op`` functions are registered (see ``mapping.collect``).
MODULES = (activation, attention, control_flow, bitwise, causal_conv, depth_space, detection, elementwise_extra, linalg, linear_attention, matmul_nbits, triangular, encoding, modulo, quantized, quantized_lstm, sequence_ops, col2im, conv_integer, conv_nd, deform_conv, indexing, losses, math, nn, normalization, resize, rnn, rotary, sampling, sets, signal, slicing, tensor, unpool)
