"""Builders of hostile inputs (issue 21): each starts from a small real model and edits its file.

Used by the rows of ``tests/test_bad_inputs.py`` and by ``tests/test_hostile_inputs.py``.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


# -- .pt2 archives with a crafted pickle -----------------------------------------------------------
def pt2_archive(path: Path, *, keep_sample_inputs: bool = True) -> Path:
    """A real ``torch.export.save`` archive of a small conv net (random weights)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 2)).eval()
    program = torch.export.export(module, (torch.randn(1, 3, 8, 8),))
    if not keep_sample_inputs:
        program.example_inputs = None
    torch.export.save(program, str(path))
    return path


def _rewrite_zip(path: Path, replace: dict[str, bytes]) -> None:
    """Rewrite ``path`` with the members named by their path under the archive root replaced."""
    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info)) for info in zin.infolist()]
    root = members[0][0].filename.split("/", 1)[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info, data in members:
            zout.writestr(info, replace.get(info.filename[len(root) + 1:], data))


def pt2_with_pickled_sample_input(path: Path, payload: Any) -> Path:
    """Variant 1: the sample inputs member is a pickle whose ``__reduce__`` runs code."""
    pt2_archive(path)
    buffer = io.BytesIO()
    import torch

    torch.save(((payload,), {}), buffer)
    _rewrite_zip(path, {"data/sample_inputs/model.pt": buffer.getvalue()})
    return path


def pt2_with_pickled_weight(path: Path, payload: Any) -> Path:
    """Variant 2: a weight marked ``use_pickle`` whose file is a code-running pickle (sample inputs removed,
    so the weight is the only pickle left)."""
    pt2_archive(path, keep_sample_inputs=False)
    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/", 1)[0]
        config = json.loads(z.read(f"{root}/data/weights/model_weights_config.json"))
    entry = next(iter(config["config"].values()))
    entry["use_pickle"] = True
    _rewrite_zip(path, {"data/weights/model_weights_config.json": json.dumps(config).encode(),
                        f"data/weights/{entry['path_name']}": pickle.dumps(payload)})
    return path


# -- SavedModels and GraphDefs ---------------------------------------------------------------------
def saved_model(path: Path) -> Path:
    """``y = x * w + 1`` saved by ``tf.saved_model.save`` (one signature, one variable)."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(0).standard_normal(4).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return {"y": x * self.w + 1.0}

    module = Affine()
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def _edit_saved_model(path: Path, edit) -> Path:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    pb = path / "saved_model.pb"
    proto.ParseFromString(pb.read_bytes())
    edit(proto.meta_graphs[0].graph_def)
    pb.write_bytes(proto.SerializeToString())
    return path


def _signature_function(graph_def: Any) -> tuple[Any, Any]:
    """(the wrapper's call node, the function it calls) of the serving signature."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    wrapper = next(f for name, f in functions.items() if name.startswith("__inference_signature_wrapper"))
    call = next(n for n in wrapper.node_def if n.op == "StatefulPartitionedCall")
    return call, functions[call.attr["f"].func.name]


def recursive_saved_model(path: Path) -> Path:
    """The signature's function calls itself."""
    def edit(graph_def):
        call, body = _signature_function(graph_def)
        node = body.node_def.add()
        node.CopyFrom(call)
        node.name = "recurse"
        del node.input[:]
        node.input.extend(arg.name for arg in body.signature.input_arg)
    return _edit_saved_model(saved_model(path), edit)


def saved_model_with_short_node(path: Path) -> Path:
    """The signature's ``mul`` reads ``x`` only after a control edge: a Mul of one input (the fuzzer's
    ``^node`` mutation, which once reached the passes and crashed them)."""
    def edit(graph_def):
        _, body = _signature_function(graph_def)
        node = next(n for n in body.node_def if n.op == "Mul")
        node.input[0] = "^" + node.input[1].split(":")[0]
    return _edit_saved_model(saved_model(path), edit)


def saved_model_with_dangling_control(path: Path) -> Path:
    """A node of the signature's function waits for a node the function does not have."""
    def edit(graph_def):
        _, body = _signature_function(graph_def)
        next(n for n in body.node_def if n.op == "AddV2").input.append("^nope")
    return _edit_saved_model(saved_model(path), edit)


def saved_model_with_string_axis(path: Path) -> Path:
    """``sum(x, axis=1)`` whose axis Const holds strings, its ``dtype`` attr changed to match (consistent with itself,
    so only the Sum's ``Tidx`` tells it is wrong; a pass once crashed on ``int(b'a')``)."""
    import tensorflow as tf

    class Summed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return {"y": tf.reduce_sum(x, axis=1)}

    module = Summed()
    tf.saved_model.save(module, str(path), signatures=module.__call__)

    def edit(graph_def):
        body = next(f for f in graph_def.library.function if any(n.op == "Sum" for n in f.node_def))
        total = next(n for n in body.node_def if n.op == "Sum")
        axis = next(n for n in body.node_def if n.name == total.input[1].split(":")[0])
        axis.attr["dtype"].type = axis.attr["value"].tensor.dtype = 7  # DT_STRING
        axis.attr["value"].tensor.ClearField("tensor_content")
        axis.attr["value"].tensor.ClearField("int_val")
        axis.attr["value"].tensor.string_val.append(b"a")
    return _edit_saved_model(path, edit)


def saved_model_with_bad_attrs(path: Path) -> Path:
    """A conv whose ``strides`` is an int and a StridedSlice whose ``begin_mask`` is a list: attrs of a kind TF's
    ops do not take (the passes reading them once failed unnamed, found by session 17's fuzz hunt)."""
    import tensorflow as tf

    class ConvSlice(tf.Module):
        def __init__(self) -> None:
            self.k = tf.Variable(np.random.default_rng(0).standard_normal((3, 3, 2, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 2], tf.float32)])
        def __call__(self, img):
            return {"y": tf.nn.conv2d(img, self.k, 1, "SAME")[:, 1:]}

    module = ConvSlice()
    tf.saved_model.save(module, str(path), signatures=module.__call__)

    def edit(graph_def):
        _, body = _signature_function(graph_def)
        conv = next(n for n in body.node_def if n.op == "Conv2D")
        conv.attr["strides"].Clear()
        conv.attr["strides"].i = 1
        sliced = next(n for n in body.node_def if n.op == "StridedSlice")
        sliced.attr["begin_mask"].Clear()
        sliced.attr["begin_mask"].list.i.extend([1, 2])
    return _edit_saved_model(path, edit)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""
    size, length = bytearray(), len(payload)
    while True:
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    return bytes([number << 3 | 2]) + bytes(size) + payload


#: ``attr {key: "T" value {type: DT_FLOAT}}`` of a NodeDef (field 5; AttrValue.type is field 6).
_T_FLOAT = _field(5, _field(1, b"T") + _field(2, b"\x30\x01"))


def _identity_chain(message: Any, field: int, first_input: str, count: int, *, in_function: bool) -> str:
    """Append ``count`` Identity NodeDefs reading each other to the repeated ``field`` of ``message``
    (serialized directly: building 10^5 protobuf objects one by one takes seconds)."""
    suffix = ":output:0" if in_function else ""
    inputs = [first_input, *(f"chain_{i}{suffix}" for i in range(count - 1))]
    message.MergeFromString(b"".join(
        _field(field, _field(1, f"chain_{i}".encode()) + _field(2, b"Identity") + _field(3, inputs[i].encode())
               + _T_FLOAT) for i in range(count)))
    return f"chain_{count - 1}{suffix}"


def huge_saved_model(path: Path, count: int) -> Path:
    """The signature's function gets a chain of ``count`` Identity nodes before its result."""
    def edit(graph_def):
        _, body = _signature_function(graph_def)
        add = next(n for n in body.node_def if n.op == "AddV2")
        last = _identity_chain(body, 3, f"{add.name}:z:0", count, in_function=True)
        for node in body.node_def:
            if node.op == "Identity" and node.input and node.input[0] == f"{add.name}:z:0" \
                    and not node.name.startswith("chain_"):
                node.input[0] = last
    return _edit_saved_model(saved_model(path), edit)


def huge_frozen_graph(path: Path, count: int) -> Path:
    """A GraphDef: Placeholder ``x`` then ``count`` Identity nodes (output ``chain_{count-1}``)."""
    from tensorflow.core.framework import graph_pb2, types_pb2

    graph_def = graph_pb2.GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = types_pb2.DT_FLOAT
    _identity_chain(graph_def, 1, "x", count, in_function=False)
    graph_def.versions.producer = 1882
    path.write_bytes(graph_def.SerializeToString())
    return path


# -- ONNX, TF.js -----------------------------------------------------------------------------------
def huge_onnx(path: Path, count: int) -> Path:
    """``count`` Identity nodes in a chain from input ``x`` to output ``y``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([], "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    names = ["x", *(f"t{i}" for i in range(1, count)), "y"]
    # NodeProto: input = 1, output = 2, op_type = 4; GraphProto.node = 1
    graph.MergeFromString(b"".join(_field(1, _field(1, names[i].encode()) + _field(2, names[i + 1].encode())
                                          + _field(4, b"Identity")) for i in range(count)))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return path


def tfjs_layers_with_many_weights(folder: Path, count: int) -> Path:
    """A layers-model folder (from a converted Keras model) whose manifest lists ``count`` scalar weights."""
    doc = json.loads((folder / "model.json").read_text())
    group = doc["weightsManifest"][0]
    extra = count - sum(len(g["weights"]) for g in doc["weightsManifest"])
    marker = "__extra_weights__"
    group["weights"].append(marker)
    text = json.dumps(doc)  # the entries are spliced in as text: json.dumps of 10^6 dicts takes seconds
    entries = ", ".join(f'{{"name": "extra_{i}", "shape": [], "dtype": "float32"}}' for i in range(extra))
    (folder / "model.json").write_text(text.replace(json.dumps(marker), entries))
    with open(folder / group["paths"][-1], "ab") as f:
        f.write(np.zeros(extra, np.float32).tobytes())
    return folder


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file, folder and link under ``folder`` (links not followed) with its content hash."""
    import hashlib
    import os

    result = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            full = Path(root) / name
            rel = str(full.relative_to(folder))
            if full.is_symlink():
                result[rel] = "link:" + os.readlink(full)
            elif full.is_file():
                result[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
            else:
                result[rel] = "dir"
    return result
