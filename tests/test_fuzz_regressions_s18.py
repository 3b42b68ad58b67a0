"""Regressions for the crash classes session 17's SavedModel fuzz hunt found in three passes.

The fuzzer reached them only through a second, scratch seed model, so no corpus entry replays them:

* narrow_ints: a tensor attr on a node other than ``Const`` (TF's own ``HostConst``, or an unknown op) made
  ``_retype`` compare two arrays with ``!=`` (``ValueError: truth value of an array is ambiguous``);
* grouped_conv: a conv input declared with 0 channels made 0 groups (``ZeroDivisionError``);
* shape_folding: a declared dimension of 2^31 was folded into an int32 constant (``OverflowError``).

and one session 18 found (an exit 2 before, but with a message that did not say the graph is corrupt):

* strip_debug_ops: a node reading a data output of an ``Assert`` (which has none);

and one in the readers fuzzer's .h5 harness (the last test): config text that is not UTF-8.

Each test builds its hostile SavedModel from a real TF-saved model by editing the proto (as
``tests/hostile_models.py`` does) and converts it in process: the rule is the fuzzer's, exit 2 with one
``error:`` line naming the node, or exit 0 with a model whose files load.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("tensorflow")


def build_seed(folder: Path) -> Path:
    """img[?, 8, 8, 2] -> mean of a conv; v[?, 3] -> v + [1, 2, 3] and tf.shape(v): a conv, a 3-element
    Const and a Shape, the three sites the edits below need."""
    import tensorflow as tf

    class Seed(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.k = tf.Variable(np.random.default_rng(0).standard_normal((3, 3, 2, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 2], tf.float32, name="img"),
                                      tf.TensorSpec([None, 3], tf.float32, name="v")])
        def __call__(self, img: Any, v: Any) -> dict[str, Any]:
            y = tf.reduce_mean(tf.nn.conv2d(img, self.k, 1, "SAME"), axis=[1, 2])
            return {"y": y, "w": v + tf.constant([1.0, 2.0, 3.0]), "n": tf.shape(v)}

    module = Seed()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.__call__})
    return folder


def _edit(folder: Path, edit: Callable[[Any], None]) -> Path:
    """Apply ``edit`` to the first MetaGraph's GraphDef of ``folder``'s saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    pb = folder / "saved_model.pb"
    proto.ParseFromString(pb.read_bytes())
    edit(proto.meta_graphs[0].graph_def)
    pb.write_bytes(proto.SerializeToString())
    return folder


def _body(graph_def: Any, op: str) -> Any:
    """The library function whose nodes include an ``op`` node (the traced ``__call__``)."""
    return next(f for f in graph_def.library.function if any(n.op == op for n in f.node_def))


def host_const_add(folder: Path) -> Path:
    """The 3-element Const added to ``v`` becomes a ``HostConst`` (a real TF op, which keeps the same
    ``value`` tensor attr): narrow_ints once compared that array attr with ``!=``."""
    def edit(graph_def: Any) -> None:
        body = _body(graph_def, "AddV2")
        const = next(n for n in body.node_def if n.op == "Const" and len(n.attr["value"].tensor.tensor_content) == 12)
        const.op = "HostConst"
    return _edit(folder, edit)


def _declare_placeholder(folder: Path, name: str, dims: list[int]) -> Path:
    """The top-level Placeholder ``name`` declares ``dims`` in its ``_output_shapes`` (the fuzzer's edit)."""
    def edit(graph_def: Any) -> None:
        node = next(n for n in graph_def.node if n.name == name)
        shape = node.attr["_output_shapes"].list.shape[0]
        shape.Clear()
        for size in dims:
            shape.dim.add().size = size
    return _edit(folder, edit)


def zero_channel_conv(folder: Path) -> Path:
    """The conv's input ``img`` declares 0 channels: grouped_conv once divided by the 0 groups that made."""
    return _declare_placeholder(folder, "serving_default_img", [-1, 8, 8, 0])


def shape_past_int32(folder: Path) -> Path:
    """``v`` declares a dimension of 2^31: shape_folding once folded ``tf.shape(v)`` into an int32 constant."""
    return _declare_placeholder(folder, "serving_default_v", [3, 1 << 31])


def assert_read_as_data(folder: Path) -> Path:
    """The AddV2 of ``v`` becomes an ``Assert`` (an op TF gives no outputs) that an Identity still reads: found by
    session 18's fuzzer, where strip_debug_ops failed on it with an invariant message that named no corruption."""
    def edit(graph_def: Any) -> None:
        next(n for n in _body(graph_def, "AddV2").node_def if n.op == "AddV2").op = "Assert"
    return _edit(folder, edit)


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    return build_seed(tmp_path_factory.mktemp("s18_seed") / "seed")


def _convert(seed: Path, tmp_path: Path, make: Callable[[Path], Path], capsys) -> tuple[int, list[str], Path]:
    """Convert the hostile copy of ``seed`` in process: (exit code, stderr's ``error:`` block as lines, output
    folder). An ``error:`` line may be followed by indented lines of the same block (the nodes it names)."""
    from tfjsconv.cli import main

    folder = make(Path(shutil.copytree(seed, tmp_path / "sm")))
    out = tmp_path / "web"
    capsys.readouterr()
    code = main(["convert", str(folder), str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    block = err[err.index("error:"):].splitlines() if errors else []
    return code, errors + [line for line in block[1:] if line.startswith(" ")], out


def _assert_loads(out: Path) -> None:
    """The converted model.json and every weight it lists read back."""
    from tfjsconv.weights import load_manifest_weights, read_model_json

    doc = read_model_json(out)
    load_manifest_weights(doc.get("weightsManifest", []), out)


def test_the_seed_converts(seed, tmp_path, capsys):
    code, errors, out = _convert(seed, tmp_path, lambda folder: folder, capsys)
    assert (code, errors) == (0, [])
    _assert_loads(out)


def test_tensor_attr_on_a_host_const_is_named(seed, tmp_path, capsys):
    code, errors, out = _convert(seed, tmp_path, host_const_add, capsys)
    assert code == 2 and sum(line.startswith("error:") for line in errors) == 1, errors
    assert any("HostConst" in line and "StatefulPartitionedCall/Const" in line for line in errors), errors
    assert not out.exists()


def test_zero_channel_conv_input_converts(seed, tmp_path, capsys):
    code, errors, out = _convert(seed, tmp_path, zero_channel_conv, capsys)
    assert (code, errors) == (0, [])
    _assert_loads(out)


def test_declared_dim_past_int32_is_not_folded(seed, tmp_path, capsys):
    code, errors, out = _convert(seed, tmp_path, shape_past_int32, capsys)
    assert (code, errors) == (0, [])
    _assert_loads(out)


def test_data_read_of_an_assert_is_named(seed, tmp_path, capsys):
    code, errors, out = _convert(seed, tmp_path, assert_read_as_data, capsys)
    assert code == 2 and len(errors) == 1, errors
    assert "(Assert), which has none: the graph is corrupt" in errors[0] and "/add" in errors[0], errors
    assert not out.exists()


def test_h5_config_that_is_not_utf8_is_named(tmp_path):
    """Session 18's readers fuzzer: one byte of a tf_keras .h5's model_config made invalid UTF-8 ("ragged" ->
    "\\x80agged"). h5py hands the text on with a surrogate escape, and writing model.json failed with a
    UnicodeEncodeError (exit 1) after the whole conversion; now one InputError, and no output folder."""
    tf_keras = pytest.importorskip("tf_keras")
    import tfjsconv
    from tfjsconv.errors import InputError

    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)])
    model.save(tmp_path / "m.h5")
    data = (tmp_path / "m.h5").read_bytes()
    assert data.count(b'"ragged"') == 1
    (tmp_path / "bad.h5").write_bytes(data.replace(b'"ragged"', b'"\x80agged"'))
    with pytest.raises(InputError, match="not valid UTF-8"):
        tfjsconv.convert(tmp_path / "bad.h5", tmp_path / "web", input_format="keras")
    assert not (tmp_path / "web").exists()
