"""The fusion table (tfjsconv.passes.backend_support) against TF.js 4.22 itself.

Every fusion the table allows is emitted and run in real TF.js on cpu and wasm (webgl needs a
WebGL context, which Node does not have); fusions it forbids are not emitted; the table's
activation lists match the kernels' own source in the installed runtime.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder, optimize
from tf_reference import reference as tf_reference
from tfjsconv.passes.backend_support import ACTIVATIONS, BACKENDS, FUSED_OPS, can_fuse

ACT_OPS = {name: op for op, name in ACTIVATIONS.items()}


def fusion_graph(base: str, seed: int = 0) -> tuple[Builder, dict[str, tuple[str, str | None]]]:
    """One branch per (base op, allowed activation or none); returns what each output should become."""
    b = Builder(f"fusions_{base}", seed)
    x = b.input("x", (2, 6, 6, 3) if base != "MatMul" else (3, 5))
    expected: dict[str, tuple[str, str | None]] = {}
    allowed = sorted(FUSED_OPS[base].fusable_activations() - {"linear"})
    for activation in [None] + allowed:
        tag = activation or "bias_only"
        if base == "Conv2D":
            y, channels = b.conv(x, 3, 4, stride=2 if activation == "elu" else 1, name=f"{tag}/conv"), 4
        elif base == "DepthwiseConv2dNative":
            y, channels = b.depthwise(x, 3, mult=2, name=f"{tag}/dw"), 6
        else:
            y, channels = b.matmul(x, 5, 4, name=f"{tag}/mm", transpose_b=activation == "relu"), 4
        y = b.bias(y, channels, name=f"{tag}/bias")
        if activation == "prelu":
            alpha = b.const(b.rng.uniform(0.05, 0.5, channels).astype(np.float32), f"{tag}/alpha")
            y = b.op("Prelu", [y, alpha], name=f"{tag}/act")
        elif activation == "leakyrelu":
            y = b.op("LeakyRelu", [y], {"alpha": 0.15}, name=f"{tag}/act")
        elif activation is not None:
            y = b.op(ACT_OPS[activation], [y], name=f"{tag}/act")
        b.output(tag, y)
        expected[tag] = (FUSED_OPS[base].graph_op, ACT_OPS.get(activation) if activation else None)
    if base == "MatMul":  # wasm computes a transposed fused matmul wrongly: this one must stay unfused
        a = b.g.add_op("MatMul", [b.input("xt", (5, 3)), b.weight((5, 4), "ta/kernel")],
                       {"T": x.dtype, "transpose_a": True, "transpose_b": False}, name="ta/mm")
        b.output("transpose_a", b.op("Relu", [b.bias(a, 4, name="ta/bias")], name="ta/act"))
    return b, expected


@pytest.mark.parametrize("base", sorted(FUSED_OPS))
def test_every_allowed_fusion_is_emitted(base):
    b, expected = fusion_graph(base)
    g, _ = optimize(b.g)
    for key, (op, activation) in expected.items():
        node = g.outputs[key].producer
        assert node.op == op, key
        assert node.attrs["fused_ops"] == (["BiasAdd", activation] if activation else ["BiasAdd"]), key
        assert node.attrs["num_args"] == (2 if activation == "Prelu" else 1)
        assert all(const.producer.attrs["value"].ndim == 1 for const in node.inputs[2:])  # rank-1 bias/alpha
        assert not node.attrs.get("transpose_a") and not node.attrs.get("transpose_b")
    if base == "MatMul":
        assert g.outputs["transpose_a"].producer.op == "Relu"
        assert g.outputs["transpose_a"].producer.inputs[0].producer.op == "BiasAdd"


@pytest.mark.node
@pytest.mark.parametrize("base", sorted(FUSED_OPS))
def test_every_allowed_fusion_runs_in_tfjs(base, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    b, expected = fusion_graph(base, seed=3)
    feeds = b.feeds()
    reference = tf_reference(b.g, feeds)
    tfjsconv.convert(b.g, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    fused = [n for n in doc["modelTopology"]["node"] if n["op"] == FUSED_OPS[base].graph_op]
    assert len(fused) == len(expected)
    report = verify_model(tmp_path / "m", feeds, reference, backends=("cpu", "wasm"), rtol=1e-4, atol=1e-5)
    assert report.passed, report.failures


def test_forbidden_fusions_are_not_emitted():
    b = Builder()
    v = b.input("v", (2, 4))
    tanh = b.op("Tanh", [b.bias(b.matmul(v, 4, 3, name="mm"), 3, name="mm/b")], name="tanh")
    x = b.input("x", (1, 5, 5, 2))
    leaky = b.op("LeakyRelu", [b.bias(b.depthwise(x, 2, name="dw"), 2, name="dw/b")], {"alpha": 0.3}, name="leaky")
    conv_tanh = b.op("Tanh", [b.bias(b.conv(x, 2, 3, name="c"), 3, name="c/b")], name="conv_tanh")
    b.output("tanh", tanh)
    b.output("conv_tanh", conv_tanh)
    g, _ = optimize(b.output("leaky", leaky))
    assert g.outputs["tanh"].producer.op == "Tanh"
    assert g.outputs["tanh"].producer.inputs[0].producer.attrs["fused_ops"] == ["BiasAdd"]
    assert g.outputs["leaky"].producer.op == "LeakyRelu"
    assert g.outputs["conv_tanh"].producer.op == "Tanh"
    assert not can_fuse("MatMul", "Tanh") and not can_fuse("DepthwiseConv2dNative", "LeakyRelu")
    assert not can_fuse("Conv2D", "Relu", bias_rank=3)


def test_rank_3_bias_constants_become_rank_1():
    b = Builder()
    x = b.input("x", (1, 4, 4, 2))
    y = b.op("AddV2", [b.conv(x, 2, 3), b.weight((1, 1, 3), "bias3")], name="add")
    g, _ = optimize(b.output("y", b.op("Relu", [y], name="y")))
    node = g.outputs["y"].producer
    assert node.op == "_FusedConv2D" and node.inputs[2].producer.attrs["value"].shape == (3,)


def test_fusion_without_a_bias_is_left_alone():
    """TF.js reads a _FusedMatMul's first argument as the bias, so an activation alone is never fused."""
    b = Builder()
    v = b.input("v", (2, 4))
    g, _ = optimize(b.output("y", b.op("Relu", [b.matmul(v, 4, 3)], name="y")))
    assert g.outputs["y"].producer.op == "Relu"


@pytest.mark.node
def test_table_matches_the_installed_kernels(tfjs_runtime):
    """The activation lists are what wasm's enum, cpu's applyActivation and webgl's shader mapping define."""
    root = next(p for p in [tfjs_runtime / "node_modules" / "@tensorflow", tfjs_runtime / "@tensorflow"] if p.exists())
    wasm = (root / "tfjs-backend-wasm" / "dist" / "kernels" / "types.js").read_text()
    enum = wasm[wasm.index("FusableActivation"):]
    wasm_acts = set(re.findall(r'FusableActivation\["(\w+)"\]', enum))
    cpu = (root / "tfjs-backend-cpu" / "dist" / "utils" / "fused_utils.js").read_text()
    cpu_acts = set(re.findall(r"activation === '(\w+)'", cpu))
    webgl = (root / "tfjs-backend-webgl" / "dist" / "kernel_utils" / "kernel_funcs_utils.js").read_text()
    webgl_acts = set(re.findall(r"activation === '(\w+)'", webgl))
    for support in FUSED_OPS.values():
        assert support.activations["wasm"] == wasm_acts
        assert support.activations["cpu"] == cpu_acts
        assert support.activations["webgl"] == webgl_acts
        assert "tanh" not in support.fusable_activations()
    ops = json.loads((root / "tfjs-converter" / "package.json").read_text())["version"]
    assert ops == "4.22.0"
    assert BACKENDS == ("cpu", "wasm", "webgl")
