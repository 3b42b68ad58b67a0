"""Whether a random ONNX graph's mismatch is the one the converter's own line names (``onnx_random_graphs.py``).

Two lines name deviations the generic checks of ``tf_random_graphs.judge`` (the exact flag, feeds without special
values) cannot explain:

- ``float64: ...``: TF.js computes the double arithmetic in float32. The same model with every double made float32
  (types, Casts, constants), run by onnxruntime, is what TF.js computes: a match means the narrowing is the only
  deviation (graph 3101/27: ``1e30`` squared in double, finite in onnxruntime, Inf in float32).
- ``special values: ... TopKV2``: TF.js ranks NaN below +Inf, onnxruntime first. A NaN the graph makes itself (a
  ``Sqrt`` of a negative, graph 3101/59) stays when the feeds are tamed, so the TopKs' inputs are scrubbed instead
  (``Where(IsNaN(x), 0, x)``) in a copy converted again: a match means the NaN ordering is the only deviation.

Either way the case is notice-only, with the line as the reason; otherwise it stays WRONG.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Transform = Callable[[Any], Any]


def _line(proc: subprocess.CompletedProcess, start: str, holding: str = "") -> str | None:
    """The converter's first line starting with ``start`` (and holding ``holding``), stripped."""
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines()]
    return next((ln[:400] for ln in lines if ln.startswith(start) and holding in ln), None)


def _retype_tensor(tensor: Any) -> None:
    """A double TensorProto made float32 in place (its values rounded)."""
    from onnx import TensorProto, numpy_helper

    if tensor.data_type == TensorProto.DOUBLE:
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))


def _float32_graph(graph: Any) -> None:
    """Every double of ``graph`` (and of its subgraphs) made float32 in place."""
    from onnx import AttributeProto, TensorProto

    for vi in (*graph.input, *graph.output, *graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.DOUBLE:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    for init in graph.initializer:
        _retype_tensor(init)
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.DOUBLE:
                attr.i = TensorProto.FLOAT
            elif attr.type == AttributeProto.TENSOR:
                _retype_tensor(attr.t)
            elif attr.type == AttributeProto.GRAPH:
                _float32_graph(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    _float32_graph(sub)


def float32_everywhere(model: Any) -> Any:
    """``model`` with every double made float32: what TF.js, which has no float64, computes."""
    _float32_graph(model.graph)
    return model


def scrub_topk_nans(model: Any) -> Any:
    """``model`` with each main-graph TopK reading ``Where(IsNaN(x), 0, x)``: no NaN to rank."""
    from onnx import helper, numpy_helper

    nodes = []
    for k, node in enumerate(model.graph.node):
        if node.op_type == "TopK":
            flag, zero, clean = (f"scrub{k}/{what}" for what in ("nan", "zero", "clean"))
            model.graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
            nodes += [helper.make_node("IsNaN", [node.input[0]], [flag]),
                      helper.make_node("Where", [flag, zero, node.input[0]], [clean])]
            node.input[0] = clean
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def named_transforms(proc: subprocess.CompletedProcess) -> tuple[str, list[Transform]]:
    """The lines naming the deviations these checks can remove, and the model edits that remove them."""
    lines, transforms = [], []
    float64 = _line(proc, "float64:")
    if float64:
        lines.append(float64)
        transforms.append(float32_everywhere)
    topk = _line(proc, "special values:", "TopKV2")
    if topk:
        lines.append(topk)
        transforms.append(scrub_topk_nans)
    return "; ".join(lines), transforms


def explained(source: Path, proc: subprocess.CompletedProcess, work: Path, feeds: dict[str, np.ndarray],
              convert: Callable[..., subprocess.CompletedProcess], run_onnxruntime: Callable[..., Any],
              verify: Callable[..., tuple[str, str]]) -> dict[str, Any] | None:
    """notice-only when the model without the named deviations matches onnxruntime in TF.js, else None."""
    import onnx

    why, transforms = named_transforms(proc)
    if not transforms:
        return None
    model = onnx.load(str(source))
    for transform in transforms:
        model = transform(model)
    edited, out = work / "named_removed.onnx", work / "tfjs_named_removed"
    onnx.save(model, str(edited))
    feeds = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in feeds.items()}
    try:
        expected = run_onnxruntime(edited, feeds)
    except Exception:  # noqa: BLE001 - onnxruntime refuses the edited model: not explained
        return None
    if convert(edited, out).returncode != 0:
        return None
    return {"verdict": "notice-only", "why": why} if verify(out, feeds, expected)[0] == "pass" else None
