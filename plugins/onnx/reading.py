"""Reading an ``.onnx`` file into a checked ModelProto, with clear errors for bad files.

External-data initializers are not read here: they become :class:`~.external.ExternalArray`
LazyArrays, so a large model's weights are read once, when the writer copies them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError

from .mapping import DEFAULT_DOMAINS

log = logging.getLogger(__name__)

#: The ai.onnx opsets this frontend's mappings were written against (both ends included).
#: MAX_OPSET is the newest opset of onnx 1.23 (a test checks it against the installed onnx): every
#: op whose schema changed up to it was reviewed (docs/onnx.md, "Opsets"). A model older than
#: MIN_OPSET is read when each of its ops has the same schema as at MIN_OPSET (:func:`older_ops`).
MIN_OPSET = 7
MAX_OPSET = 28


def read_model(path: Path, options: Any = None) -> Any:
    """The ModelProto at ``path`` (external data left on disk), or an InputError saying what is wrong.

    ``options``: the ConvertOptions whose ``--max_nodes`` bounds the work (checked before any walk)."""
    import onnx
    from google.protobuf.message import DecodeError

    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except DecodeError as err:
        raise InputError(f"{path} is not a valid ONNX model: the file is truncated or not ONNX protobuf data ({err})",
                         hint="re-export the model, or check that the download/copy completed") from None
    except Exception as err:  # onnx raises assorted errors for foreign bytes
        raise InputError(f"{path} cannot be read as an ONNX model: {type(err).__name__}: {err}") from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise InputError(f"{path} is not an ONNX model (no IR version or graph)",
                         hint="the file may be truncated or another format; --input_format chooses the frontend")
    from .frontend import check_node_count

    check_node_count(model, options)
    check_versions(model, path)
    check_text_fields(model, path)
    return model


def check_text_fields(model: Any, path: Path) -> None:
    """Refuse names that are not UTF-8 (protobuf then hands out bytes, which nothing downstream expects)."""
    g = model.graph
    texts = [model.producer_name, model.producer_version, model.domain, g.name,
             *(imp.domain for imp in model.opset_import)]
    for node in g.node:
        texts += [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
    texts += [t.name for t in g.initializer] + [v.name for v in (*g.input, *g.output, *g.value_info)]
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise InputError(f"{path} holds {len(bad)} name(s) that are not valid UTF-8 text (e.g. {bad[0][:40]!r})",
                         hint="the file is corrupt; re-export the model")


def checker_note(model: Any) -> str | None:
    """onnx.checker's complaint, if any, as a note: it is stricter than onnxruntime (e.g. outputs
    without shapes), so a complaint is reported, not fatal; real problems fail in translation."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except Exception as err:
        log.info("onnx.checker: %s", err)
        return f"onnx.checker: {err}".strip()
    return None


def check_versions(model: Any, path: Path) -> None:
    """Refuse IR versions and ai.onnx opsets outside what we (and the installed onnx) understand."""
    import onnx

    if model.ir_version > onnx.IR_VERSION:
        raise InputError(f"{path} has ONNX IR version {model.ir_version}; the installed onnx {onnx.__version__} "
                         f"reads up to {onnx.IR_VERSION}", hint="upgrade the onnx package or re-export the model")
    opsets = {imp.domain: imp.version for imp in model.opset_import}
    default = [opsets[d] for d in DEFAULT_DOMAINS if d in opsets]
    if not default:
        if any(node.domain in DEFAULT_DOMAINS for node in model.graph.node):
            raise InputError(f"{path} imports no ai.onnx opset but has ai.onnx nodes",
                             hint="the model is incomplete or truncated")
        return  # only other domains (ai.onnx.ml, ...): their ops are reported as unmapped, all at once
    version = max(default)
    if version > MAX_OPSET:
        raise InputError(
            f"{path} uses ONNX opset {version}, which is newer than the opsets tfjsconv's ONNX frontend "
            f"supports ({MIN_OPSET}..{MAX_OPSET})",
            hint=f"re-export with an opset <= {MAX_OPSET} (torch.onnx.export(..., opset_version={MAX_OPSET}))")
    if version < MIN_OPSET:
        changed = older_ops(model, version)
        if changed:
            raise InputError(
                f"{path} uses ONNX opset {version}, older than the opsets tfjsconv's ONNX frontend supports "
                f"({MIN_OPSET}..{MAX_OPSET}), and these ops meant something else then: {', '.join(changed)}",
                hint="convert it to a newer opset with onnx.version_converter.convert_version")


def older_ops(model: Any, version: int) -> list[str]:
    """The ai.onnx op types of ``model`` whose schema at opset ``version`` is not the one in force at
    MIN_OPSET (changed since, or unknown): a mapping written for MIN_OPSET and up is right for the others."""
    import onnx

    changed = []
    for op_type in sorted({node.op_type for node in model.graph.node if node.domain in DEFAULT_DOMAINS}):
        try:
            same = (onnx.defs.get_schema(op_type, version, "").since_version
                    == onnx.defs.get_schema(op_type, MIN_OPSET, "").since_version)
        except Exception:  # onnx.defs.SchemaError: no such op at that opset
            same = False
        if not same:
            changed.append(op_type)
    return changed


def opset_map(model: Any) -> dict[str, int]:
    """Domain -> opset version, with the standard domain under ``""``."""
    result: dict[str, int] = {}
    for imp in model.opset_import:
        domain = "" if imp.domain in DEFAULT_DOMAINS else imp.domain
        result[domain] = max(result.get(domain, 0), imp.version)
    return result


def infer_shapes(model: Any) -> tuple[Any, str | None]:
    """The model with inferred value_info (or unchanged), and a note when inference failed."""
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True), None
    except Exception as err:  # inference is an aid; translation still works without it for most ops
        return model, f"ONNX shape inference failed ({type(err).__name__}: {err}); shapes are partly unknown"


def initializer_array(tensor: Any, base_dir: Path) -> Any:
    """An initializer as numpy, or as an ExternalArray (read only when written) for external data."""
    from onnx import numpy_helper
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    if any(d < 0 for d in tensor.dims):
        raise InputError(f"initializer {tensor.name!r} has a negative dimension in its shape {list(tensor.dims)}",
                         hint="the file is corrupt or was not written by an ONNX exporter")
    if not uses_external_data(tensor):
        try:
            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError, OverflowError) as err:  # data and dims disagree
            raise InputError(f"initializer {tensor.name!r} is corrupt: its data does not fit its shape "
                             f"{list(tensor.dims)} ({str(err)[:200]})") from None
    info = ExternalDataInfo(tensor)
    location = (base_dir / info.location).resolve()
    if base_dir.resolve() not in location.parents and location != base_dir.resolve():
        raise InputError(f"initializer {tensor.name!r} points outside the model folder: {info.location}")
    if not location.is_file():
        raise InputError(f"initializer {tensor.name!r} needs external data file {location}, which does not exist",
                         hint="keep the .onnx file next to its external data files")
    from .dtypes import onnx_elem_to_numpy

    dtype = onnx_elem_to_numpy(tensor.data_type)
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype is None or dtype.kind not in "fiub" or dtype.itemsize == 0:
        from onnx.external_data_helper import load_external_data_for_tensor

        load_external_data_for_tensor(tensor, str(base_dir))
        return numpy_helper.to_array(tensor)
    offset = int(info.offset or 0)
    needed = count * dtype.itemsize
    if info.length and int(info.length) < needed or location.stat().st_size < offset + needed:
        raise InputError(f"external data for initializer {tensor.name!r} in {location.name} is shorter than "
                         f"its shape {list(shape)} needs (truncated file?)")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    from .external import ExternalArray

    return ExternalArray(location, offset, dtype, shape)
