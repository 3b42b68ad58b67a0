"""The reference outputs of an ONNX model: onnxruntime on the CPU, fed what TF.js is fed."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, MissingInputsError, UsageError

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


#: onnxruntime fuses ``DequantizeLinear`` (8-bit or 4-bit weight) + ``MatMul`` into ``MatMulNBits`` and by default
#: runs it with int8-quantized activations (accuracy level 4): ≈ 0.5 % off the model's float product, which
#: no TF.js model reproduces. Level 1 (float32 activations) keeps the fusion and computes what the model says.
_MATMUL_NBITS_ACCURACY = ("session.qdq_matmulnbits_accuracy_level", "1")


def _session_options(ort: Any, path: Path | None = None) -> Any:
    """Float32 activations for fused weight-only ``MatMulNBits`` (above); one intra-op thread for a model
    with ``DynamicQuantizeLSTM``: with several, onnxruntime splits the batch among its threads and quantizes
    each part's hidden state with its own range, so the outputs would depend on the machine
    (docs/quantization.md). Found by its name in the file's bytes (mapped, not read)."""
    import mmap

    options = ort.SessionOptions()
    options.add_session_config_entry(*_MATMUL_NBITS_ACCURACY)
    if path is None:
        return options
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b"DynamicQuantizeLSTM") >= 0:
                options.intra_op_num_threads = 1
    except (OSError, ValueError):  # an empty or unreadable file: onnxruntime's own error says why
        pass
    return options


#: Where onnxruntime finds the external data files of a model given as bytes (:func:`_float_activation_copy`).
_EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path"
#: The first onnxruntime that reads it: earlier ones take any config key and read a buffer's external files
#: from the working directory (a file of the same name there gave another reference, measured with 1.18 and 1.20).
_EXTERNAL_DATA_FOLDER_SINCE = (1, 21)


def _reads_external_data_folder(ort: Any) -> bool:
    try:
        return tuple(int(part) for part in ort.__version__.split(".")[:2]) >= _EXTERNAL_DATA_FOLDER_SINCE
    except ValueError:  # a development build: assume a recent one
        return True


def import_onnxruntime() -> Any:
    """onnxruntime, with its telemetry off unless the user chose (``ORT_DISABLE_TELEMETRY``): with it on,
    importing onnxruntime leaves a ``.ses`` session file in ``$TMPDIR`` that nothing removes, and a
    ``verify`` must leave nothing behind. The variable is set for the import only (onnxruntime reads it
    then): the caller's environment, and the processes it starts later, keep what they had."""
    chosen = "ORT_DISABLE_TELEMETRY" in os.environ
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("the ONNX reference runner needs onnxruntime", hint="pip install 'tfjsconv[onnx]'") from None
    finally:
        if not chosen:
            os.environ.pop("ORT_DISABLE_TELEMETRY", None)
    return onnxruntime


def _float_activation_copy(path: Path, ort: Any) -> bytes | None:
    """The model with its ``MatMulNBits`` nodes' ``accuracy_level`` lowered to 1 (float32 activations; level 4
    quantizes them to int8, ≈ 0.5 % off the float product, the same gap as for the fused QDQ pair above) and its
    uint8·int8 products made uint8·uint8 (:mod:`.exact_products`: onnxruntime saturates the former on CPUs
    without VNNI), as
    bytes (external data stays in its files: the session reads them from the model's folder); None when no
    node asks for less, or the model has external data and onnxruntime is older than 1.21 (run as it is).
    Refuses external data outside the model's folder first, as the converter's loader does (onnxruntime before
    1.2x reads ``..`` and absolute locations); the file is parsed only when it holds either word.

    ``accuracy_level`` is the *least* accuracy a node allows onnxruntime for A (4: int8 is good enough), not
    a different function: ``Y = A @ dequant(B)`` is the same op at every level, so level 1 computes what the
    model declares, exactly, and a model with external data is held to the same reference as an inline one."""
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            nbits, external = data.find(b"MatMulNBits") >= 0, data.find(b"location") >= 0
            quantized = any(data.find(word) >= 0 for word in _INTEGER_PRODUCT_WORDS)
    except (OSError, ValueError):
        return None
    if not nbits and not external and not quantized:
        return None
    import onnx

    from .exact_products import exact_integer_products

    model = onnx.load(str(path), load_external_data=False)
    external = _refuse_files_outside(model, path.parent)
    changed = _float_activations(model)
    changed = (quantized and exact_integer_products(model, str(path.parent))) or changed
    if not changed or external and not _reads_external_data_folder(ort):
        return None
    return model.SerializeToString()


#: Op names of the integer products :mod:`.exact_products` makes exact (and of the dequantizer it fuses).
_INTEGER_PRODUCT_WORDS = (b"MatMulInteger", b"ConvInteger", b"QLinearConv", b"QLinearMatMul", b"DynamicQuantize",
                          b"DequantizeLinear")


def _refuse_files_outside(model: Any, folder: Path) -> bool:
    """Whether the model keeps data in external files; an :class:`InputError` naming every tensor whose file
    lies outside ``folder``."""
    from .tensors import outside_folder, uses_external_data

    tensors = list(_tensors(model.graph))
    outside = [f"{name!r} ({location})" for name, location in outside_folder(tensors, folder)]
    if outside:
        raise InputError(f"{len(outside)} tensor(s) point outside the model folder: {', '.join(outside)}",
                         hint="keep the .onnx file next to its external data files")
    return any(uses_external_data(t) for t in tensors)


def _tensors(graph: Any) -> Any:
    """Every TensorProto of ``graph``: initializers (sparse ones' parts too) and attributes, subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            yield from ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _float_activations(model: Any) -> bool:
    """Lower every main-graph ``MatMulNBits`` node's ``accuracy_level`` above 1 to 1, in place; whether any was."""
    changed = False
    for node in model.graph.node:
        if node.op_type != "MatMulNBits" or node.domain != "com.microsoft":
            continue
        for attr in node.attribute:
            if attr.name == "accuracy_level" and attr.i > 1:
                attr.i, changed = 1, True
    return changed


def reference_session(path: Path) -> Any:
    """An onnxruntime CPU session of the model at ``path`` that computes what the model declares: weight-only
    ``MatMulNBits`` with float activations, 8-bit integer products exact (:func:`_float_activation_copy`)."""
    ort = import_onnxruntime()
    try:
        copy = _float_activation_copy(Path(path), ort)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"onnxruntime cannot load {path}: {err}") from None
    try:
        options = _session_options(ort, path)
        if copy is not None:
            options.add_session_config_entry(_EXTERNAL_DATA_FOLDER, str(Path(path).resolve().parent))
        return ort.InferenceSession(copy or str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise InputError(f"onnxruntime cannot load {path}: {err}") from None


def run_onnxruntime(path: Path, inputs: Mapping[str, np.ndarray], *, input_layout: str | None = None
                    ) -> dict[str, np.ndarray]:
    """Outputs keyed by ONNX output name. With ``input_layout="nhwc"`` 4-D inputs/outputs are NHWC, as in TF.js.

    ``None`` (e.g. ``tfjsconv verify``, which does not know the flag) means: NHWC when the 4-D inputs
    only fit the model that way, else NCHW.
    """
    session = reference_session(path)
    feeds, nhwc = _feeds(session, inputs, input_layout)
    names = [o.name for o in session.get_outputs()]
    try:
        results = session.run(names, feeds)
    except Exception as err:
        raise InputError(f"onnxruntime cannot run {path.name} on these inputs: {err}",
                         hint="for a model converted with --input_layout nhwc, give NHWC inputs") from None
    out = {}
    for name, array in zip(names, results):
        array = np.asarray(array)
        out[name] = array.transpose(0, 2, 3, 1) if nhwc and array.ndim == 4 else array
    return out


def _feeds(session: Any, inputs: Mapping[str, np.ndarray], input_layout: str | None
           ) -> tuple[dict[str, np.ndarray], bool]:
    """onnxruntime's feeds (NCHW, ONNX dtypes) from TF.js's inputs, and whether those were NHWC."""
    expected = session.get_inputs()
    missing = [i.name for i in expected if i.name not in inputs]
    if missing:
        raise MissingInputsError(f"no value given for ONNX input(s) {', '.join(missing)}", missing)
    arrays = {info.name: np.asarray(inputs[info.name]) for info in expected}
    nhwc = input_layout == "nhwc" if input_layout else _looks_nhwc(expected, arrays)
    feeds = {}
    for info in expected:
        array = arrays[info.name]
        if nhwc and array.ndim == 4:
            array = array.transpose(0, 3, 1, 2)
        # np.asarray(order="C") keeps a scalar's shape () (np.ascontiguousarray makes it [1]: review r7 M4)
        feeds[info.name] = np.asarray(array.astype(_ORT_TYPES.get(info.type, array.dtype), copy=False), order="C")
    return feeds, nhwc


def onnx_intermediates(model: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str], *,
                       input_layout: str | None = None, base_dir: Path | None = None) -> dict[str, list[np.ndarray]]:
    """ONNX node name -> its outputs as onnxruntime computes them (ONNX layout), for ``verify --trace``.

    ``model`` is a path or a ModelProto. The chosen nodes' outputs become graph outputs of a copy of
    the model (nodes are named as the translator names them: ``node.name`` or ``OpType_index``);
    nodes inside subgraphs and unknown names are left out.
    """
    import onnx

    ort = import_onnxruntime()
    if isinstance(model, (str, Path)):
        base_dir = Path(model).parent
        model = onnx.load(str(model), load_external_data=False)
        _refuse_files_outside(model, base_dir)
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(base_dir))
    else:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        model = copy
    _float_activations(model)  # the reference verify compares with (above)
    wanted = set(sources)
    outputs: dict[str, list[str]] = {}
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        if name in wanted:
            outputs[name] = list(node.output)
    present = {o.name for o in model.graph.output}
    for names in outputs.values():
        for out in names:
            if out and out not in present:
                model.graph.output.append(onnx.ValueInfoProto(name=out))
                present.add(out)
    try:
        session = ort.InferenceSession(model.SerializeToString(), _session_options(ort),
                                       providers=["CPUExecutionProvider"])
    except Exception as err:
        raise InputError(f"onnxruntime cannot load the model with its intermediate values as outputs: {err}") from None
    feeds, _ = _feeds(session, inputs, input_layout)
    fetch = [n for names in outputs.values() for n in names if n]
    try:
        values = dict(zip(fetch, session.run(fetch, feeds)))
    except Exception as err:
        raise InputError(f"onnxruntime cannot run the model on these inputs: {err}") from None
    return {node: [np.asarray(values[o]) for o in names if o] for node, names in outputs.items()}


def _fits(shape: Sequence[Any], dims: Sequence[int]) -> bool:
    return len(shape) == len(dims) and all(not isinstance(s, int) or s == d for s, d in zip(shape, dims))


def _looks_nhwc(expected: Sequence[Any], arrays: Mapping[str, np.ndarray]) -> bool:
    """True when some 4-D input fits the model only as NHWC."""
    for info in expected:
        array = arrays[info.name]
        if array.ndim == 4 and not _fits(info.shape, array.shape):
            n, h, w, c = array.shape
            if _fits(info.shape, (n, c, h, w)):
                return True
    return False


def layout_from_model_dir(model_dir: Path | None) -> str | None:
    """The layout a converted model records in model.json (userDefinedMetadata.onnx.layout)."""
    if model_dir is None:
        return None
    try:
        doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    layouts = (doc.get("userDefinedMetadata") or {}).get("onnx", {}).get("layout", {}).get("inputs", {})
    return "nhwc" if "NHWC" in layouts.values() else ("nchw" if layouts else None)
