"""Which fused ops TF.js 4.22 executes, per backend: the single source of truth for fusion.

Derived from the TF.js 4.22.0 sources (the packages the verify runtime installs):

- activations: tfjs-backend-wasm ``kernels/types.ts`` ``FusableActivation`` (linear, relu, relu6,
  prelu, leakyrelu, sigmoid, elu), tfjs-backend-cpu ``utils/fused_utils.ts`` ``applyActivation`` and
  tfjs-backend-webgl ``kernel_utils/kernel_funcs_utils.ts`` ``mapActivationToShaderProgram`` (the
  same seven). None implements ``tanh``: the official converter's ``_FusedMatMul`` + ``Tanh``
  fails at run time;
- bias: the wasm ``FusedConv2D``/``FusedDepthwiseConv2D``/``_FusedMatMul`` kernels throw unless
  the bias is rank 1 (and, for the convs, has exactly ``outChannels`` elements); cpu and webgl
  broadcast. So biases are always rank 1 with one value per output channel;
- arguments: tfjs-converter's executors read ``fused_ops[0]`` as the extra op and ``fused_ops[1]`` as
  the activation. For ``_FusedMatMul`` ``args`` are always ``[bias, prelu_alpha]`` (a prelu without a
  bias would be read as the bias), and a lone activation in ``fused_ops[0]`` is ignored; so every
  fusion here carries a ``BiasAdd``;
- ``leakyrelu_alpha``: the converter's op list gives ``_FusedConv2D`` and ``_FusedMatMul`` this
  attr but not ``FusedDepthwiseConv2dNative``, whose alpha then arrives as ``undefined`` (wasm
  passes ``leakyreluAlpha || 0``, i.e. a plain relu): LeakyRelu is never fused into it;
- dtypes: the wasm ``_FusedMatMul`` refuses non-float32 operands; all fusions are float32 only;
- transposes: the wasm ``_FusedMatMul`` with a bias gives wrong numbers when ``transpose_a`` or
  ``transpose_b`` is set (found by tests/test_passes_backend.py; plain ``MatMul`` is right), so a
  MatMul is fused only without transposes (``fuse_ops`` pre-transposes a constant ``b``).

tests/test_passes_backend.py runs every allowed combination in real TF.js on the cpu and wasm
backends; webgl has no context under Node, so tests/test_browser_backends.py runs the same graphs
(and a transposed ``_FusedMatMul``, the webgl-only claim) on webgl in headless Chromium.
"""
from __future__ import annotations

import dataclasses

BACKENDS = ("cpu", "wasm", "webgl")
_ALL_SEVEN = frozenset({"linear", "relu", "relu6", "prelu", "leakyrelu", "sigmoid", "elu"})


@dataclasses.dataclass(frozen=True)
class FusedOpSupport:
    """What one TF.js fused kernel accepts on each backend."""

    graph_op: str  # the op name in model.json
    kernel: str  # the TF.js kernel name
    activations: dict[str, frozenset[str]]
    bias_ranks: dict[str, frozenset[int]]
    #: Activations the converter cannot express for this op (missing attrs), whatever the backend.
    converter_excludes: frozenset[str] = frozenset()
    #: Backends that compute a fused matmul correctly with transpose_a/transpose_b set.
    transposes_ok: frozenset[str] = frozenset(BACKENDS)

    def fusable_activations(self) -> frozenset[str]:
        """Activations every backend runs and the converter can express."""
        common = frozenset.intersection(*(self.activations[b] for b in BACKENDS))
        return common - self.converter_excludes

    def bias_rank_ok(self, rank: int) -> bool:
        return all(rank in self.bias_ranks[b] for b in BACKENDS)


def _table(graph_op: str, kernel: str, excludes: frozenset[str] = frozenset(),
           transposes_ok: frozenset[str] = frozenset(BACKENDS)) -> FusedOpSupport:
    return FusedOpSupport(
        graph_op, kernel,
        activations={b: _ALL_SEVEN for b in BACKENDS},
        bias_ranks={"cpu": frozenset({0, 1, 2, 3, 4}), "wasm": frozenset({1}), "webgl": frozenset({0, 1, 2, 3, 4})},
        converter_excludes=excludes,
        transposes_ok=transposes_ok,
    )


FUSED_OPS: dict[str, FusedOpSupport] = {
    "Conv2D": _table("_FusedConv2D", "FusedConv2D"),
    "DepthwiseConv2dNative": _table("FusedDepthwiseConv2dNative", "FusedDepthwiseConv2D", frozenset({"leakyrelu"})),
    "MatMul": _table("_FusedMatMul", "_FusedMatMul", transposes_ok=frozenset({"cpu", "webgl"})),
}

#: IR activation op -> TF.js activation name (``fused_ops[1]`` is the IR op name; TF.js lowercases it).
ACTIVATIONS = {"Relu": "relu", "Relu6": "relu6", "Elu": "elu", "Sigmoid": "sigmoid",
               "LeakyRelu": "leakyrelu", "Prelu": "prelu", "Tanh": "tanh"}


def can_fuse(base_op: str, activation_op: str | None, bias_rank: int = 1, *, transposed: bool = False) -> bool:
    """Whether ``base_op`` + BiasAdd(rank ``bias_rank``) [+ ``activation_op``] runs on every backend."""
    support = FUSED_OPS.get(base_op)
    if support is None or not support.bias_rank_ok(bias_rank):
        return False
    if transposed and set(BACKENDS) - support.transposes_ok:
        return False
    if activation_op is None:
        return True
    name = ACTIVATIONS.get(activation_op)
    return name is not None and name in support.fusable_activations()
