"""SavedModels and checkpoints read without TensorFlow: our schema and TensorBundle reader against TF's own.

Real TF writes every file here (tf.Module checkpoints, tf.compat.v1 Saver checkpoints, SavedModels);
TF's parse and ``tf.train.load_checkpoint`` are the references, compared bit for bit. Damaged
copies of those files must give one clear error that names the file or variable.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.plugins.savedmodel import crc32c, schema, snappy, sstable  # noqa: E402
from tfjsconv.plugins.savedmodel.tensor_bundle import BundleReader  # noqa: E402

RNG = np.random.default_rng(15)


def _module_variables() -> dict[str, np.ndarray]:
    values = {
        "f32": RNG.standard_normal((3, 5)).astype(np.float32),
        "f64": RNG.standard_normal((7,)),
        "f16": RNG.standard_normal((2, 3)).astype(np.float16),
        "i8": RNG.integers(-128, 127, (4, 4), dtype=np.int8),
        "i16": RNG.integers(-3000, 3000, (5,), dtype=np.int16),
        "i32": RNG.integers(-2**31, 2**31 - 1, (2, 2, 2), dtype=np.int32),
        "i64": RNG.integers(-2**62, 2**62, (3,), dtype=np.int64),
        "u8": RNG.integers(0, 255, (6,), dtype=np.uint8),
        "c64": (RNG.standard_normal(4) + 1j * RNG.standard_normal(4)).astype(np.complex64),
        "flags": RNG.random((3, 3)) > 0.5,
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), np.float32),
        "big": RNG.standard_normal((700, 500)).astype(np.float32),  # 1.4 MB: the vectorised CRC path
    }
    return values


@pytest.fixture(scope="module")
def tf2_checkpoint(tmp_path_factory) -> str:
    """A tf.train.Checkpoint of a tf.Module with many dtypes, strings and enough variables for several index blocks."""
    module = tf.Module()
    for name, value in _module_variables().items():
        setattr(module, name, tf.Variable(value))
    module.bf16 = tf.Variable(tf.cast(RNG.standard_normal((3, 4)), tf.bfloat16))
    module.words = tf.Variable([b"hello", b"", b"\x00\xffbinary", "ünïcode".encode(), b"x" * 300])
    module.word = tf.Variable(b"one string")
    module.many = [tf.Variable(RNG.standard_normal((2,)).astype(np.float32)) for _ in range(250)]
    # long unrelated names (no shared prefix): an index of ~300 KB, more than one 256 KB block
    module.named = {RNG.bytes(900).hex(): tf.Variable(np.float32(i)) for i in range(170)}
    return tf.train.Checkpoint(module=module).write(str(tmp_path_factory.mktemp("tf2") / "ckpt"))


@pytest.fixture(scope="module")
def v1_checkpoints(tmp_path_factory) -> tuple[str, str]:
    """tf.compat.v1 Saver checkpoints: plain variables, and one with partitioned variables (rows, columns)."""
    root = tmp_path_factory.mktemp("v1")
    prefixes = []
    for partitioned in (False, True):
        with tf.Graph().as_default():
            tf.compat.v1.get_variable("dense/kernel", initializer=RNG.standard_normal((4, 3)).astype(np.float32))
            tf.compat.v1.get_variable("counter", initializer=np.int64(7))
            tf.compat.v1.get_variable("mask", initializer=np.array([True, False]))
            if partitioned:
                tf.compat.v1.get_variable("embedding", shape=(10, 4), dtype=tf.float32,
                                          partitioner=tf.compat.v1.fixed_size_partitioner(2))
                tf.compat.v1.get_variable("columns", shape=(6, 9), dtype=tf.float64,
                                          partitioner=tf.compat.v1.fixed_size_partitioner(3, axis=1))
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as session:
                session.run(tf.compat.v1.global_variables_initializer())
                prefixes.append(saver.save(session, str(root / f"model{int(partitioned)}" / "ckpt")))
    return prefixes[0], prefixes[1]


class Signed(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(RNG.standard_normal((4, 3)).astype(np.float32))
        self.steps = tf.Variable(3)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x):
        y = tf.matmul(x, self.kernel)
        i = tf.constant(0)
        _, y = tf.while_loop(lambda i, y: i < self.steps, lambda i, y: (i + 1, tf.nn.relu(y) * 0.5), (i, y))
        return {"y": y, "label": tf.constant(["a", "b"])}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sm") / "model"
    module = Signed()
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def assert_reads_like_tf(prefix: str, skip: tuple[str, ...] = ()) -> int:
    ours, theirs = BundleReader(prefix), tf.train.load_checkpoint(prefix)
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    dtypes = theirs.get_variable_to_dtype_map()
    for key in ours.keys():
        if key in skip:
            continue
        got, want = ours.get_tensor(key), np.asarray(theirs.get_tensor(key))
        assert got.shape == want.shape and got.flags.c_contiguous, key
        if dtypes[key] == tf.string:  # numpy's bytes scalars drop trailing NULs: restore as a tf.Tensor
            want = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[key], shape_and_slices=[""],
                                        dtypes=[tf.string])[0].numpy()
            want = np.array(want, dtype=object) if isinstance(want, bytes) else want
            assert np.shape(want) == got.shape and got.tolist() == want.tolist(), key
        else:
            assert got.dtype == want.dtype, key
            assert got.tobytes() == want.tobytes(), key  # bit-exact
    return len(ours.keys())


def test_tf2_checkpoint_reads_bit_exactly(tf2_checkpoint):
    assert assert_reads_like_tf(tf2_checkpoint) > 430
    index = Path(tf2_checkpoint + ".index").read_bytes()
    footer = index[-sstable.FOOTER_SIZE:]
    _, pos = sstable.block_handle(footer, 0, 40)
    handle, _ = sstable.block_handle(footer, pos, 40)
    blocks = list(sstable.block_entries(sstable.read_block(index, handle, "index"), "index"))
    assert len(blocks) >= 2, "the index should span several data blocks"


def test_v1_saver_checkpoint_reads_bit_exactly(v1_checkpoints):
    assert assert_reads_like_tf(v1_checkpoints[0]) == 3


def test_partitioned_variables_are_assembled_bit_exactly(v1_checkpoints):
    reader = BundleReader(v1_checkpoints[1])
    assert reader.shape("embedding") == (10, 4) and len(reader.entries["embedding"].slices) == 2
    assert reader.shape("columns") == (6, 9) and len(reader.entries["columns"].slices) == 3
    assert assert_reads_like_tf(v1_checkpoints[1]) == 5


def test_a_missing_slice_is_a_clear_error(v1_checkpoints, tmp_path):
    prefix = v1_checkpoints[1]
    entries = [(k, v) for k, v in sstable.read_table(Path(prefix + ".index").read_bytes())
               if not k.startswith(b"\x00columns")]  # drop the slices, keep the variable's entry
    for file in Path(prefix).parent.glob(Path(prefix).name + ".data*"):
        shutil.copy(file, tmp_path / file.name)
    (tmp_path / "ckpt.index").write_bytes(_table([entries], kind=0))
    reader = BundleReader(tmp_path / "ckpt")
    assert reader.get_tensor("embedding").shape == (10, 4)
    with pytest.raises(InputError, match="variable 'columns' lists 3 slices, the index holds 0"):
        reader.get_tensor("columns")


def test_saved_model_parses_like_tf(saved_model):
    from tensorflow.core.protobuf import saved_model_pb2

    data = (saved_model / "saved_model.pb").read_bytes()
    ours, theirs = schema.SavedModel(), saved_model_pb2.SavedModel()
    ours.ParseFromString(data)
    theirs.ParseFromString(data)
    # nothing lost: fields we do not declare survive as unknown fields
    round_trip = saved_model_pb2.SavedModel()
    round_trip.ParseFromString(ours.SerializeToString())
    assert round_trip == theirs
    mg, tmg = ours.meta_graphs[0], theirs.meta_graphs[0]
    assert list(mg.meta_info_def.tags) == ["serve"]
    graphs = [(mg.graph_def.node, tmg.graph_def.node)]
    graphs += [(f.node_def, g.node_def) for f, g in zip(mg.graph_def.library.function, tmg.graph_def.library.function)]
    assert len(mg.graph_def.library.function) == len(tmg.graph_def.library.function) > 2
    ops = set()
    for nodes, tnodes in graphs:
        assert [(n.name, n.op, list(n.input)) for n in nodes] == [(n.name, n.op, list(n.input)) for n in tnodes]
        for node, tnode in zip(nodes, tnodes):
            ops.add(node.op)
            assert sorted(node.attr) == sorted(tnode.attr)
            for key in node.attr:
                assert (node.attr[key].SerializeToString(deterministic=True)
                        == tnode.attr[key].SerializeToString(deterministic=True)), (node.name, key)
    assert {"While", "MatMul", "StatefulPartitionedCall", "Const"} <= ops
    for f, g in zip(mg.graph_def.library.function, tmg.graph_def.library.function):
        assert f.signature.name == g.signature.name
        assert [(a.name, a.type) for a in f.signature.input_arg] == [(a.name, a.type) for a in g.signature.input_arg]
        assert dict(f.ret) == dict(g.ret)
    signature = mg.signature_def["serving_default"]
    tsig = tmg.signature_def["serving_default"]
    assert {k: (v.name, v.dtype) for k, v in signature.outputs.items()} == \
        {k: (v.name, v.dtype) for k, v in tsig.outputs.items()}
    assert [n.WhichOneof("kind") for n in mg.object_graph_def.nodes] == \
        [n.WhichOneof("kind") for n in tmg.object_graph_def.nodes]
    assert mg.saver_def.restore_op_name == tmg.saver_def.restore_op_name != ""
    assert assert_reads_like_tf(str(saved_model / "variables" / "variables")) >= 3


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_keras_saved_models_parse_and_read_like_tf(flavour, tmp_path):
    """Keras SavedModels (tf_keras saved_model.save, Keras 3 export): the whole file survives our
    parse (re-serialised, TF reads the same message) and every variable reads bit-exactly."""
    import tf_models
    from tensorflow.core.protobuf import saved_model_pb2

    path = tf_models.cnn(tmp_path / "cnn", flavour)
    data = (path / "saved_model.pb").read_bytes()
    theirs = saved_model_pb2.SavedModel.FromString(data)
    assert saved_model_pb2.SavedModel.FromString(schema.SavedModel.FromString(data).SerializeToString()) == theirs
    ours = schema.SavedModel.FromString(data)
    functions = {f.signature.name: f for f in ours.meta_graphs[0].graph_def.library.function}
    ops = {n.op for f in functions.values() for n in f.node_def}
    assert {"Conv2D", "DepthwiseConv2dNative", "MaxPool", "Softmax"} <= ops  # Keras 3 has no FusedBatchNorm
    assert assert_reads_like_tf(str(path / "variables" / "variables")) >= 16


def test_checkpoint_object_graph_parses_like_tf(saved_model):
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    raw = BundleReader(saved_model / "variables" / "variables").get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")[()]
    ours, theirs = schema.TrackableObjectGraph(), trackable_object_graph_pb2.TrackableObjectGraph()
    ours.ParseFromString(raw)
    theirs.ParseFromString(raw)
    keys = [a.checkpoint_key for n in ours.nodes for a in n.attributes]
    assert keys == [a.checkpoint_key for n in theirs.nodes for a in n.attributes]
    assert "kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys


def test_schema_field_numbers_match_tensorflow():
    """Every field we declare has TF's number, type and repetition (a typo would silently misread)."""
    from google.protobuf import descriptor_pool
    from tensorflow.core.protobuf import saved_model_pb2, tensor_bundle_pb2, trackable_object_graph_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    checked = 0
    for name in schema.MESSAGES:
        ours = schema.POOL.FindMessageTypeByName(f"tensorflow.{name}")
        theirs = pool.FindMessageTypeByName(f"tensorflow.{name}")
        for field in ours.fields:
            other = theirs.fields_by_name[field.name]
            assert (field.number, field.type, field.is_repeated) == (other.number, other.type, other.is_repeated), \
                f"{name}.{field.name}"
            if field.message_type is not None:
                assert field.message_type.full_name == other.message_type.full_name
            assert (field.containing_oneof and field.containing_oneof.name) == \
                (other.containing_oneof and other.containing_oneof.name)
            checked += 1
    enum = pool.FindEnumTypeByName("tensorflow.DataType")
    assert {v.name: v.number for v in enum.values} == {v.name: v.number for v in schema.DATA_TYPE.values}
    assert checked > 150


def test_unknown_fields_are_kept_not_fatal():
    node = schema.NodeDef(name="n", op="Op")
    extra = node.SerializeToString() + b"\xba\x3e\x03abc"  # field 999 (length-delimited), unknown to us
    parsed = schema.NodeDef()
    parsed.ParseFromString(extra)
    assert parsed.name == "n" and parsed.SerializeToString() == extra


# --- damaged files -------------------------------------------------------------------------------

@pytest.fixture()
def damaged(tmp_path, tf2_checkpoint) -> str:
    for file in Path(tf2_checkpoint).parent.glob(Path(tf2_checkpoint).name + ".*"):
        shutil.copy(file, tmp_path / file.name)
    return str(tmp_path / Path(tf2_checkpoint).name)


def _entry(prefix: str, key: str):
    return BundleReader(prefix).entries[key]


@pytest.mark.parametrize("key", ["module/big/.ATTRIBUTES/VARIABLE_VALUE", "module/f32/.ATTRIBUTES/VARIABLE_VALUE",
                                 "module/words/.ATTRIBUTES/VARIABLE_VALUE"])
def test_flipped_byte_is_a_corrupt_checkpoint_naming_the_variable(damaged, key):
    entry = _entry(damaged, key)
    shard = Path(f"{damaged}.data-00000-of-00001")
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size - 1] ^= 0x40
    shard.write_bytes(bytes(data))
    reader = BundleReader(damaged)
    with pytest.raises(InputError, match=rf"corrupt checkpoint .*{key}.* CRC-32C"):
        reader.get_tensor(key)
    assert reader.get_tensor("module/i8/.ATTRIBUTES/VARIABLE_VALUE").shape == (4, 4)  # the others still read


@pytest.mark.parametrize("cut", [1, 20, 48, 200, 5000])
def test_truncated_index_is_a_clear_error(damaged, cut):
    index = Path(damaged + ".index")
    index.write_bytes(index.read_bytes()[:-cut])
    with pytest.raises(InputError, match=r"corrupt checkpoint .*\.index: "):
        BundleReader(damaged)


def test_bad_footer_magic_and_garbage_index(damaged):
    index = Path(damaged + ".index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 1
    index.write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad footer magic"):
        BundleReader(damaged)
    index.write_bytes(RNG.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="corrupt checkpoint"):
        BundleReader(damaged)


def test_flipped_index_byte_fails_the_block_checksum(damaged):
    index = Path(damaged + ".index")
    data = bytearray(index.read_bytes())
    data[10] ^= 0x01
    index.write_bytes(bytes(data))
    with pytest.raises(InputError, match="block at offset 0 fails its checksum"):
        BundleReader(damaged)


def test_short_and_missing_shard(damaged):
    shard = Path(f"{damaged}.data-00000-of-00001")
    entry = _entry(damaged, "module/big/.ATTRIBUTES/VARIABLE_VALUE")
    shard.write_bytes(shard.read_bytes()[:entry.offset + 10])
    reader = BundleReader(damaged)
    with pytest.raises(InputError, match=r"'module/big/.ATTRIBUTES/VARIABLE_VALUE' lies at bytes .* which holds"):
        reader.get_tensor("module/big/.ATTRIBUTES/VARIABLE_VALUE")
    shard.unlink()
    with pytest.raises(InputError, match=r"cannot read variable 'module/f32/.*data-00000-of-00001: No such file"):
        reader.get_tensor("module/f32/.ATTRIBUTES/VARIABLE_VALUE")


# --- the formats' pieces -------------------------------------------------------------------------

@pytest.mark.parametrize("window", [crc32c.WINDOW, 3 * 4096 + 256])
def test_crc32c_vectors_and_fast_path(window, monkeypatch):
    monkeypatch.setattr(crc32c, "WINDOW", window)
    # RFC 3720 (iSCSI) appendix B.4 test vectors
    assert crc32c.value(bytes(32)) == 0x8A9136AA
    assert crc32c.value(b"\xff" * 32) == 0x62A8AB43
    assert crc32c.value(bytes(range(32))) == 0x46DD794E
    assert crc32c.value(b"123456789") == 0xE3069283
    data = RNG.integers(0, 256, 1_100_001, dtype=np.uint8)
    slow = crc32c._register_small(0xFFFFFFFF, data.tobytes()) ^ 0xFFFFFFFF
    assert crc32c.value(data) == slow == crc32c.extend(crc32c.value(data[:123]), data[123:])
    for size in (4095, 4096, 4097, 70_000, 64 * 256 + 5, 64 * 64 * 256 + 1):  # unit and group boundaries
        part = data[:size]
        assert crc32c.value(part) == crc32c._register_small(0xFFFFFFFF, part.tobytes()) ^ 0xFFFFFFFF, size
    assert crc32c.unmask(crc32c.mask(slow)) == slow


def _literal(data: bytes) -> bytes:
    """A snappy literal element (format: tag 60 + 1-byte length for lengths up to 256)."""
    assert 0 < len(data) <= 256
    return bytes([(60 << 2), len(data) - 1]) + data if len(data) > 60 else bytes([(len(data) - 1) << 2]) + data


def test_snappy_literals_and_copies():
    # "abcd" + copy(len 8, offset 4, 1-byte form) + copy(len 3, offset 10, 2-byte form) + "!"
    stream = bytes([16]) + _literal(b"abcd") + bytes([((8 - 4) << 2) | 1, 4]) + bytes([((3 - 1) << 2) | 2, 10, 0])
    stream += _literal(b"!")
    assert snappy.decompress(stream) == b"abcdabcdabcd" + b"cda" + b"!"
    four_byte = bytes([9]) + _literal(b"xyz") + bytes([((6 - 1) << 2) | 3, 3, 0, 0, 0])
    assert snappy.decompress(four_byte) == b"xyzxyzxyz"
    for bad in (bytes([5]) + _literal(b"abc"), bytes([4]) + bytes([((4 - 4) << 2) | 1, 9]), b"\xff"):
        with pytest.raises(ValueError, match="snappy"):
            snappy.decompress(bad)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _block(contents: bytes, kind: int) -> bytes:
    """A block with its trailer; ``kind`` 1 encodes it as snappy literal elements."""
    body = contents if kind == 0 else _varint(len(contents)) + b"".join(
        _literal(contents[i:i + 256]) for i in range(0, len(contents), 256))
    crc = crc32c.mask(crc32c.extend(crc32c.value(body), bytes([kind])))
    return body + bytes([kind]) + crc.to_bytes(4, "little")


def _table(blocks: list[list[tuple[bytes, bytes]]], kind: int) -> bytes:
    """An SSTable of these data blocks (entries unshared, one restart point each), per the format."""
    def block_body(entries: list[tuple[bytes, bytes]]) -> bytes:
        body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
        return body + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")

    out, index_entries = bytearray(), []
    for entries in blocks:
        encoded = _block(block_body(entries), kind)
        index_entries.append((entries[-1][0], _varint(len(out)) + _varint(len(encoded) - 5)))
        out += encoded
    index_offset = len(out)
    out += _block(block_body(index_entries), kind)
    handles = _varint(0) + _varint(0) + _varint(index_offset) + _varint(len(out) - index_offset - 5)
    return bytes(out + handles.ljust(40, b"\x00") + sstable.MAGIC.to_bytes(8, "little"))


def _copy_data(tf2_checkpoint: str, tmp_path: Path) -> str:
    for file in Path(tf2_checkpoint).parent.glob(Path(tf2_checkpoint).name + ".data*"):
        shutil.copy(file, tmp_path / file.name)
    return str(tmp_path / Path(tf2_checkpoint).name)


def test_snappy_compressed_index_reads_the_same(tmp_path, tf2_checkpoint):
    """The index rewritten with snappy-compressed blocks (literal elements): same entries, and TF agrees."""
    data = Path(tf2_checkpoint + ".index").read_bytes()
    entries = list(sstable.read_table(data))
    rewritten = _table([entries[i:i + 40] for i in range(0, len(entries), 40)], kind=1)
    assert list(sstable.read_table(rewritten)) == entries
    prefix = _copy_data(tf2_checkpoint, tmp_path)
    Path(prefix + ".index").write_bytes(rewritten)
    assert assert_reads_like_tf(prefix) > 430  # TF reads our snappy index too


@pytest.mark.parametrize("change, message", [
    ({"size": 1 << 45, "shape": [1 << 43]}, r"lies at bytes 0\.\.35184372088832 of .*which holds"),
    ({"offset": -8}, "lies at bytes -8"),
    ({"shard_id": 3}, "names shard 3 of 1"),
    ({"shape": [2, -1]}, "negative dimension"),
    ({"size": 12}, "stores 12 bytes, its shape \\[3, 5\\] of float32 needs 60"),
    ({"dtype": 21}, "holds DT_VARIANT, which cannot be read"),
])
def test_hostile_entries_are_clear_errors(tmp_path, tf2_checkpoint, change, message):
    """Entries that lie about their place or size: one clear error, and nothing huge is allocated."""
    data = Path(tf2_checkpoint + ".index").read_bytes()
    key = b"module/f32/.ATTRIBUTES/VARIABLE_VALUE"
    entries = dict(sstable.read_table(data))
    entry = schema.BundleEntryProto.FromString(entries[key])
    for field, value in change.items():
        if field == "shape":
            del entry.shape.dim[:]
            for size in value:
                entry.shape.dim.add(size=size)
        else:
            setattr(entry, field, value)
    entries[key] = entry.SerializeToString()
    prefix = _copy_data(tf2_checkpoint, tmp_path)
    Path(prefix + ".index").write_bytes(_table([sorted(entries.items())], kind=0))
    with pytest.raises(InputError, match=message):
        BundleReader(prefix).get_tensor(key.decode())


def test_reading_imports_no_tensorflow(saved_model):
    code = f"""
import sys, json
from tfjsconv.plugins.savedmodel import schema
from tfjsconv.plugins.savedmodel.tensor_bundle import BundleReader
model = schema.SavedModel()
model.ParseFromString(open({str(saved_model / 'saved_model.pb')!r}, 'rb').read())
reader = BundleReader({str(saved_model / 'variables' / 'variables')!r})
total = sum(reader.get_tensor(k).size for k in reader.keys())
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'torch', 'onnx'))
print(json.dumps([len(model.meta_graphs[0].graph_def.node), total, heavy]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    nodes, total, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert nodes > 0 and total >= 13 and heavy == []

