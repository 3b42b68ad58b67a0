"""ONNX's own backend node tests, as folders on disk (``model.onnx`` + ``test_data_set_0/*.pb``).

The installed ``onnx`` wheel ships the model-zoo test data but not the per-op node tests, so they
are generated once with onnx's own case definitions (``onnx.backend.test.case.node``, whose
expected outputs come from ONNX's reference code) into a per-user cache folder keyed by the onnx
version, in the layout ``onnx.backend.test.cmd_tools generate-data`` uses:
``<cache>/onnx-node-tests-<version>/<case>/model.onnx`` and ``test_data_set_0/{input,output}_<i>.pb``.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True)
class NodeCase:
    """One generated node test: its folder, name and the op type of its (single) node."""

    name: str
    folder: Path
    op_type: str

    @property
    def expanded(self) -> bool:
        """A function-expanded variant (``*_expanded``, ``*_expanded_verN``): many nodes, reported apart."""
        return bool(EXPANDED.search(self.name))

    @property
    def model_path(self) -> Path:
        return self.folder / "model.onnx"


def cases_dir() -> Path:
    """Where the generated node tests of the installed onnx version live."""
    import onnx

    from tfjsconv.verify.runtime import cache_root

    return cache_root() / f"onnx-node-tests-{onnx.__version__}"


def ensure_cases(quiet: bool = True) -> Path:
    """Generate the node tests once (about 20 s); later calls return the cached folder."""
    root = cases_dir()
    if (root / ".complete").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".tmp-", dir=root.parent))
    try:
        _generate(tmp, quiet)
        (tmp / ".complete").write_text("ok\n", encoding="utf-8")
        try:
            os.rename(tmp, root)
        except OSError:  # another process finished first
            if not (root / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _generate(out: Path, quiet: bool) -> None:
    import contextlib
    import io
    import warnings

    from onnx import numpy_helper
    from onnx.backend.test.case import node as node_cases

    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()
    for case in cases:
        folder = out / case.name
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(case.model.SerializeToString())
        graph = case.model.graph
        for k, (inputs, outputs) in enumerate(case.data_sets):
            data = folder / f"test_data_set_{k}"
            data.mkdir()
            for kind, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
                for j, value in enumerate(values):
                    (data / f"{kind}_{j}.pb").write_bytes(_serialize(value, infos[j], numpy_helper))


def _serialize(value, info, numpy_helper) -> bytes:
    from onnx import TensorProto

    kind = info.type.WhichOneof("value")
    if kind == "map_type":
        return numpy_helper.from_dict(value, info.name).SerializeToString()
    if kind == "sequence_type":
        return numpy_helper.from_list(value, info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, info.name).SerializeToString()


def list_cases(pattern: str | None = None, *, include_expanded: bool = False) -> list[NodeCase]:
    """The generated node tests (sorted by name), optionally only those whose name matches ``pattern``."""
    import onnx

    root = ensure_cases()
    regex = re.compile(pattern) if pattern else None
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name
        if regex and not regex.search(name):
            continue
        if not include_expanded and EXPANDED.search(name):
            continue
        model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        op_type = model.graph.node[0].op_type if len(model.graph.node) == 1 else _main_op(name, model)
        found.append(NodeCase(name, folder, op_type))
    return found


def _main_op(name: str, model) -> str:
    """The op a multi-node case tests: the last node's type (the others build its inputs)."""
    return model.graph.node[-1].op_type if model.graph.node else "?"


def read_data_set(case: NodeCase, index: int = 0):
    """``(inputs, outputs)``: lists of (name, value) in graph order; values are numpy arrays,
    lists (sequences), dicts (maps) or None (empty optionals)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(case.model_path), load_external_data=False)
    data = case.folder / f"test_data_set_{index}"
    result = []
    for kind, infos in (("input", model.graph.input), ("output", model.graph.output)):
        values = []
        for j, info in enumerate(infos):
            file = data / f"{kind}_{j}.pb"
            values.append((info.name, _load_value(file, info, numpy_helper)))
        result.append(values)
    return result[0], result[1]


def _load_value(file: Path, info, numpy_helper):
    import onnx

    kind = info.type.WhichOneof("value")
    raw = file.read_bytes()
    if kind == "sequence_type":
        proto = onnx.SequenceProto()
        proto.ParseFromString(raw)
        return numpy_helper.to_list(proto)
    if kind == "map_type":
        proto = onnx.MapProto()
        proto.ParseFromString(raw)
        return numpy_helper.to_dict(proto)
    if kind == "optional_type":
        proto = onnx.OptionalProto()
        proto.ParseFromString(raw)
        return numpy_helper.to_optional(proto)
    proto = onnx.TensorProto()
    proto.ParseFromString(raw)
    return numpy_helper.to_array(proto)
