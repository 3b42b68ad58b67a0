"""Fuzzing SavedModel folders: mutated ``saved_model.pb`` (bytes and protobuf fields) and variables.

TensorFlow's C++ parser, checkpoint reader and Grappler can abort the process on hostile input, so
each example is converted by ``tfjsconv convert`` in a child process (a batch per process, see
``savedmodel_runner.py``). The rule: exit 2 with one ``error:`` block and no output, or exit 0 with
a model that loads. A crash (exit 1, a signal, a hang) is minimized (mutations removed one by one
while it still crashes) and, with ``TFJSCONV_FUZZ_SAVE=1``, saved under
``tests/corpus/savedmodel/`` for ``tests/test_corpus.py`` to replay.

Mutations of a small valid SavedModel (a variable-backed dense layer and a ``tf.cond``):

* ``saved_model.pb`` bytes: bit flips, overwrites with interesting sizes, insertions, deletions,
  truncation;
* ``saved_model.pb`` fields, through the proto classes: wrong dtypes (invalid enum values,
  resource, string), huge, negative and absurd-rank shapes, dropped nodes, functions, attrs and
  signature entries, attrs of the wrong kind, dangling and cyclic inputs, unknown ops, broken
  tensor contents, odd strings and integers anywhere;
* ``variables/variables.index`` and ``variables.data-*`` bytes.

CI runs :data:`EXAMPLES` fixed examples (seeded) of the committed seed model :data:`SEED_FOLDER`;
``TFJSCONV_FUZZ_EXAMPLES=N`` runs more and ``TFJSCONV_FUZZ_RANDOM=1`` picks a fresh seed (printed,
so a run can be repeated with ``TFJSCONV_FUZZ_SEED``); ``TFJSCONV_FUZZ_FRESH_SEED=1`` mutates a seed
model saved now instead. The seed model is committed because ``tf.saved_model.save`` writes other
bytes on every call (function names carry uids): mutations of a fresh save differ from machine to
machine, so CI would fuzz examples nobody ran before. ``python -m tests.fuzz.test_fuzz_savedmodel``
writes it again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .harness import CORPUS
from .savedmodel_runner import problem, run_batch

pytest.importorskip("tensorflow")

EXAMPLES = 60
BATCH = 60  # examples per child process (one TensorFlow import each)
KINDS = ("proto", "pb_bytes", "proto", "index_bytes", "proto", "data_bytes")
FILES = {"pb_bytes": "saved_model.pb", "index_bytes": "variables/variables.index",
         "data_bytes": "variables/variables.data-00000-of-00001"}
SAVED_CORPUS = CORPUS / "savedmodel"
SEED_FOLDER = Path(__file__).parent / "seed_savedmodel"  # build_seed's output, committed (see the docstring)


# -- the seed -----------------------------------------------------------------------------------------
def build_seed(folder: Path) -> Path:
    """x[?, 4] -> relu(x @ w + b), then a tf.cond on its sum: variables, a signature, control flow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w")
            self.b = tf.Variable(rng.standard_normal(3).astype(np.float32), name="b")

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:
            y = tf.nn.relu(tf.matmul(x, self.w) + self.b)
            return {"y": tf.cond(tf.reduce_sum(y) > 1.0, lambda: y * 2.0, lambda: y - 1.0)}

    module = Tiny()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.__call__})
    return folder


def read_folder(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


# -- byte mutations (replayable ops, so crashes can be minimized) ------------------------------------
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def byte_ops(rng: random.Random, size: int) -> list[tuple]:
    ops = []
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(max(size, 1))
        kind = rng.choice(["flip", "flip", "overwrite", "insert", "delete", "truncate", "interesting"])
        if kind == "flip":
            ops.append(("flip", at, rng.randrange(8)))
        elif kind == "overwrite":
            ops.append(("overwrite", at, rng.randbytes(rng.randint(1, 8)).hex()))
        elif kind == "insert":
            ops.append(("insert", at, rng.randbytes(rng.randint(1, 32)).hex()))
        elif kind == "delete":
            ops.append(("delete", at, rng.randint(1, 32)))
        elif kind == "truncate":
            ops.append(("truncate", at))
        else:
            ops.append(("overwrite", at, rng.choice(INTERESTING).to_bytes(4, "little").hex()))
    return ops


def apply_byte_ops(data: bytes, ops: list[tuple]) -> bytes:
    buf = bytearray(data)
    for op in ops:
        if not buf:
            break
        at = op[1] % len(buf)
        if op[0] == "flip":
            buf[at] ^= 1 << op[2]
        elif op[0] == "overwrite":
            chunk = bytes.fromhex(op[2])
            buf[at:at + len(chunk)] = chunk
        elif op[0] == "insert":
            buf[at:at] = bytes.fromhex(op[2])
        elif op[0] == "delete":
            del buf[at:at + op[2]]
        else:
            del buf[at:]
    return bytes(buf)


# -- protobuf field mutations -------------------------------------------------------------------------
def _is_repeated(field: Any) -> bool:
    return field.is_repeated


def _is_map(field: Any) -> bool:
    return field.type == field.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def walk(message: Any) -> Iterator[Any]:
    """Every message inside ``message`` (itself first), in a fixed order (map keys sorted)."""
    yield message
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if _is_map(field):
            if field.message_type.fields_by_name["value"].type == field.TYPE_MESSAGE:
                for key in sorted(value):
                    yield from walk(value[key])
        elif _is_repeated(field):
            for item in value:
                yield from walk(item)
        else:
            yield from walk(value)


def _of_type(root: Any, name: str) -> list[Any]:
    return [m for m in walk(root) if m.DESCRIPTOR.full_name == f"tensorflow.{name}"]


def _scalar_fields(root: Any, types: tuple[int, ...]) -> list[tuple[Any, Any]]:
    """(message, field) for every set, singular scalar field of one of ``types``."""
    return [(m, f) for m in walk(root) for f, _ in m.ListFields() if not _is_repeated(f) and f.type in types]


def _node_slots(root: Any) -> list[tuple[Any, int]]:
    """(repeated container, index) of every NodeDef: the MetaGraphs' graphs and their functions."""
    slots = []
    for graph in _of_type(root, "GraphDef"):
        slots += [(graph.node, i) for i in range(len(graph.node))]
        for function in graph.library.function:
            slots += [(function.node_def, i) for i in range(len(function.node_def))]
    return slots


BAD_DTYPES = (0, 2, 3, 7, 9, 10, 20, 21, 99, 101, 1 << 20)
BAD_DIMS = ([1 << 62], [-7], [1 << 40, 1 << 40], [1] * 300, [0], [-1, -1, -1], [3, 1 << 31])
BAD_STRINGS = ("", "nope", "nope:0", "../../x", "serving_default_x:7", "a" * 5000, "StatefulPartitionedCall:9")
BAD_INTS = (-1, 0, (1 << 31) - 1, -(1 << 31), (1 << 63) - 1, 1 << 40)
UNKNOWN_OPS = ("NoSuchOp", "", "Assert", "VarHandleOp", "Const", "RestoreV2", "While")


def _set_attr(attr: Any, rng: random.Random) -> None:
    """``attr`` (an AttrValue) becomes a value of some other kind."""
    kind = rng.choice(["s", "i", "f", "b", "type", "shape", "list", "func", "tensor", "placeholder"])
    attr.Clear()
    if kind == "s":
        attr.s = b"\xff" * rng.randint(0, 4)
    elif kind == "i":
        attr.i = rng.choice(BAD_INTS)
    elif kind == "f":
        attr.f = rng.choice([math.nan, math.inf, -1e30])
    elif kind == "b":
        attr.b = True
    elif kind == "type":
        attr.type = rng.choice(BAD_DTYPES)
    elif kind == "shape":
        attr.shape.dim.add().size = rng.choice([1 << 62, -9])
    elif kind == "list":
        attr.list.i.extend([rng.choice(BAD_INTS) for _ in range(rng.randint(0, 5))])
    elif kind == "func":
        attr.func.name = "no_such_function"
    elif kind == "tensor":
        attr.tensor.dtype = rng.choice(BAD_DTYPES)
        for size in rng.choice(BAD_DIMS[:3]):
            attr.tensor.tensor_shape.dim.add().size = size
    else:
        attr.placeholder = "missing_attr"


def _proto_op(proto: Any, op: tuple) -> None:
    """Apply one mutation ``(kind, site, choice)``; sites and choices wrap around the current counts."""
    kind, site, choice = op
    rng = random.Random(choice)
    if kind == "dtype":
        fields = [(m, f) for m, f in _scalar_fields(proto, (14,)) if f.enum_type.name == "DataType"]
        lists = [m for m in _of_type(proto, "AttrValue.ListValue") if len(m.type)]
        if fields and (site % 4 or not lists):
            message, field = fields[site % len(fields)]
            setattr(message, field.name, rng.choice(BAD_DTYPES))
        elif lists:
            values = lists[site % len(lists)].type
            values[rng.randrange(len(values))] = rng.choice(BAD_DTYPES)
    elif kind == "shape":
        shapes = _of_type(proto, "TensorShapeProto")
        if shapes:
            shape = shapes[site % len(shapes)]
            shape.Clear()
            if rng.random() < 0.15:
                shape.unknown_rank = True
            for size in rng.choice(BAD_DIMS):
                shape.dim.add().size = size
    elif kind == "drop_node":
        slots = _node_slots(proto)
        if slots:
            container, index = slots[site % len(slots)]
            del container[index]
    elif kind == "drop_function":
        libraries = [g.library for g in _of_type(proto, "GraphDef") if len(g.library.function)]
        if libraries:
            functions = libraries[0].function
            del functions[site % len(functions)]
    elif kind in ("attr_kind", "drop_attr"):
        attrs = [(node, key) for container, i in _node_slots(proto) for node in [container[i]] for key in sorted(node.attr)]
        if attrs:
            node, key = attrs[site % len(attrs)]
            if kind == "drop_attr":
                del node.attr[key]
            else:
                _set_attr(node.attr[key], rng)
    elif kind == "input":
        nodes = [container[i] for container, i in _node_slots(proto) if len(container[i].input)]
        if nodes:
            node = nodes[site % len(nodes)]
            at = rng.randrange(len(node.input))
            node.input[at] = rng.choice([node.name, f"{node.name}:0", "nope:0", "^nope",
                                         node.input[at].split(":")[0] + ":99", ""])
    elif kind == "op":
        slots = _node_slots(proto)
        if slots:
            container, index = slots[site % len(slots)]
            container[index].op = rng.choice(UNKNOWN_OPS)
    elif kind == "tensor":
        tensors = _of_type(proto, "TensorProto")
        if tensors:
            tensor = tensors[site % len(tensors)]
            how = rng.choice(["content", "dtype", "shape", "values"])
            if how == "content":
                tensor.tensor_content = tensor.tensor_content[:rng.randint(0, 7)] + rng.randbytes(rng.randint(0, 5))
            elif how == "dtype":
                tensor.dtype = rng.choice(BAD_DTYPES)
            elif how == "shape":
                tensor.tensor_shape.Clear()
                for size in rng.choice(BAD_DIMS):
                    tensor.tensor_shape.dim.add().size = size
            else:
                tensor.string_val.append(b"\x00" * 3)
                tensor.int_val.extend([7] * rng.randint(1, 50))
    elif kind == "signature":
        infos = _of_type(proto, "TensorInfo")
        maps = [(sig.inputs if rng.random() < 0.5 else sig.outputs) for sig in _of_type(proto, "SignatureDef")]
        if infos and rng.random() < 0.6:
            infos[site % len(infos)].name = rng.choice(BAD_STRINGS)
        elif maps:
            entries = maps[site % len(maps)]
            if len(entries):
                del entries[sorted(entries)[0]]
    elif kind == "string":
        fields = _scalar_fields(proto, (9,))
        if fields:
            message, field = fields[site % len(fields)]
            setattr(message, field.name, rng.choice(BAD_STRINGS))
    elif kind == "int":
        fields = _scalar_fields(proto, (3, 4, 5, 13))  # int64, uint64, int32, uint32
        if fields:
            message, field = fields[site % len(fields)]
            value = rng.choice(BAD_INTS)
            unsigned = field.type in (4, 13)
            bits = 64 if field.type in (3, 4) else 32
            value = value % (1 << bits) if unsigned else max(min(value, (1 << (bits - 1)) - 1), -(1 << (bits - 1)))
            setattr(message, field.name, value)


PROTO_KINDS = ("dtype", "shape", "drop_node", "drop_function", "attr_kind", "drop_attr", "input", "op", "tensor",
               "signature", "string", "int")


def proto_ops(rng: random.Random) -> list[tuple]:
    return [(rng.choice(PROTO_KINDS), rng.randrange(1 << 16), rng.randrange(1 << 30)) for _ in range(rng.randint(1, 3))]


def apply_proto_ops(data: bytes, ops: list[tuple]) -> bytes:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(data)
    for op in ops:
        _proto_op(proto, tuple(op))
    return proto.SerializeToString()


# -- examples -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Example:
    kind: str  # "proto" or one of FILES
    ops: list[tuple]

    def files(self, seed: dict[str, bytes]) -> dict[str, bytes]:
        files = dict(seed)
        target = FILES.get(self.kind, "saved_model.pb")
        apply = apply_proto_ops if self.kind == "proto" else apply_byte_ops
        files[target] = apply(seed[target], self.ops)
        return files

    def label(self) -> str:
        return f"{self.kind}:{self.ops}"


def make_examples(seed: dict[str, bytes], count: int, base: int) -> list[Example]:
    examples = []
    for number in range(count):
        rng = random.Random(f"{base}-{number}")
        kind = KINDS[number % len(KINDS)]
        ops = proto_ops(rng) if kind == "proto" else byte_ops(rng, len(seed[FILES[kind]]))
        examples.append(Example(kind, ops))
    return examples


def run_examples(examples: list[Example], seed: dict[str, bytes], root: Path) -> list[dict[str, Any]]:
    folders = []
    for number, example in enumerate(examples):
        folder = root / f"ex{number}"
        shutil.rmtree(folder, ignore_errors=True)
        folders.append(write_folder(folder, example.files(seed)))
    outcomes = []
    for start in range(0, len(folders), BATCH):
        outcomes += run_batch(folders[start:start + BATCH])
    return outcomes


def _crash_class(why: str) -> str:
    return why.split(":")[0]


def minimize(example: Example, why: str, seed: dict[str, bytes], root: Path) -> Example:
    """Drop mutations one at a time while the same kind of crash remains."""
    while len(example.ops) > 1:
        candidates = [Example(example.kind, example.ops[:i] + example.ops[i + 1:]) for i in range(len(example.ops))]
        outcomes = run_examples(candidates, seed, root)
        smaller = [c for c, o in zip(candidates, outcomes) if (p := problem(o)) and _crash_class(p) == _crash_class(why)]
        if not smaller:
            break
        example = smaller[0]
    return example


def save_crash(example: Example, seed: dict[str, bytes]) -> Path:
    files = example.files(seed)
    digest = hashlib.sha1(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()[:12]
    folder = SAVED_CORPUS / f"{digest}-{example.kind}"
    shutil.rmtree(folder, ignore_errors=True)
    return write_folder(folder, files)


# -- the tests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_files(tmp_path_factory) -> dict[str, bytes]:
    if os.environ.get("TFJSCONV_FUZZ_FRESH_SEED"):
        return read_folder(build_seed(tmp_path_factory.mktemp("sm_seed") / "tiny"))
    return read_folder(SEED_FOLDER)


def test_mutated_savedmodels_end_cleanly(seed_files, tmp_path):
    count = int(os.environ.get("TFJSCONV_FUZZ_EXAMPLES", EXAMPLES))
    base = int(os.environ.get("TFJSCONV_FUZZ_SEED", random.randrange(1 << 30) if os.environ.get("TFJSCONV_FUZZ_RANDOM") else 0))
    print(f"SavedModel fuzzing: {count} examples, TFJSCONV_FUZZ_SEED={base}")
    examples = [Example("proto", []), *make_examples(seed_files, count, base)]  # the seed itself first
    outcomes = run_examples(examples, seed_files, tmp_path / "examples")
    assert len(outcomes) == len(examples)
    assert outcomes[0]["code"] == 0 and outcomes[0]["loaded"], f"the unmutated seed does not convert: {outcomes[0]}"
    crashes = [(e, o, why) for e, o in zip(examples, outcomes) if (why := problem(o))]
    codes = sorted({o.get("code") for o in outcomes if "code" in o}, key=str)
    print(f"exit codes seen: {codes}; crashes: {len(crashes)}")
    reports = []
    for example, outcome, why in crashes:
        small = minimize(example, why, seed_files, tmp_path / "minimize")
        saved = save_crash(small, seed_files) if os.environ.get("TFJSCONV_FUZZ_SAVE") else None
        reports.append(f"{why}\n    {small.label()}" + (f"\n    saved as {saved}" if saved else ""))
    assert not reports, f"{len(reports)} crash(es):\n" + "\n".join(reports)
    assert 2 in codes, "no example was refused: the mutations did not reach the reader"


if __name__ == "__main__":  # rewrite the committed seed model (after a TensorFlow upgrade, say)
    shutil.rmtree(SEED_FOLDER, ignore_errors=True)
    build_seed(SEED_FOLDER)
    (SEED_FOLDER / "fingerprint.pb").unlink(missing_ok=True)  # optional, and TF ignores a missing one
    print(f"wrote {SEED_FOLDER}")
