"""Reading an ``.onnx`` file into a checked ModelProto, with clear errors for bad files; no ``onnx`` import.

The ModelProto is our own minimal schema (:mod:`.schema`). Initializers are not read here: external
data, and raw data of at least ``wire.MIN_BYTES`` (left in the file by :mod:`.wire`), become
:class:`~.external.ExternalArray` LazyArrays, so a model's weights are read once, when the writer
copies them. ``onnx`` is imported only when a feature needs it: shape inference for a graph that
lacks shapes, the schema check of a model older than MIN_OPSET, and folding (:mod:`.folding`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError

from .mapping import DEFAULT_DOMAINS


#: The ai.onnx opsets this frontend's mappings were written against (both ends included).
#: MAX_OPSET is the newest opset of onnx 1.23 (a test checks it against the installed onnx): every
#: op whose schema changed up to it was reviewed (docs/onnx.md, "Opsets"). A model older than
#: MIN_OPSET is read when each of its ops has the same schema as at MIN_OPSET (:func:`older_ops`).
MIN_OPSET = 7
MAX_OPSET = 28
#: The newest ONNX IR version this frontend reads (that of onnx 1.23; a test checks it).
MAX_IR_VERSION = 14


def read_model(path: Path, options: Any = None) -> Any:
    """The ModelProto at ``path`` (external data left on disk), or an InputError saying what is wrong.

    ``options``: the ConvertOptions whose ``--max_nodes`` bounds the work (checked before any walk)."""
    from google.protobuf.message import DecodeError

    from .schema import ModelProto
    from .wire import model_bytes

    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file")
    try:
        model = ModelProto.FromString(model_bytes(path))
    except DecodeError as err:
        raise InputError(f"{path} is not a valid ONNX model: the file is truncated or not ONNX protobuf data ({err})",
                         hint="re-export the model, or check that the download/copy completed") from None
    except Exception as err:  # protobuf raises assorted errors for foreign bytes
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


def check_versions(model: Any, path: Path) -> None:
    """Refuse IR versions and ai.onnx opsets outside what we understand."""
    if model.ir_version > MAX_IR_VERSION:
        raise InputError(f"{path} has ONNX IR version {model.ir_version}; tfjsconv reads up to {MAX_IR_VERSION}",
                         hint="re-export the model with an older onnx, or upgrade tfjsconv")
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
    """The model with inferred value_info when it lacks shapes (else unchanged), and a note when
    inference failed. Only this imports onnx: the bytes go through onnx's ModelProto and back."""
    if not lacks_shapes(model):
        return model, None
    from .schema import from_onnx, to_onnx

    try:
        import onnx

        inferred = onnx.shape_inference.infer_shapes(to_onnx(model), check_type=False, strict_mode=False,
                                                     data_prop=True)
    except Exception as err:  # inference is an aid; translation still works without it for most ops
        return model, f"ONNX shape inference failed ({type(err).__name__}: {err}); shapes are partly unknown"
    return from_onnx(inferred, like=model), None


def lacks_shapes(model: Any) -> bool:
    """Whether some node output of the main graph has no declared tensor type with a full shape
    (every dim a number or a symbol): then shape inference is worth its cost (importing onnx)."""
    g = model.graph
    typed = {vi.name for vi in (*g.input, *g.value_info, *g.output) if has_full_shape(vi.type)}
    return any(out and out not in typed for node in g.node for out in node.output)


def has_full_shape(type_proto: Any) -> bool:
    """A tensor type with an element type and a shape whose every dim is a number or a named symbol."""
    if not type_proto.HasField("tensor_type"):
        return False
    tt = type_proto.tensor_type
    return bool(tt.elem_type) and tt.HasField("shape") and all(
        d.HasField("dim_value") or d.HasField("dim_param") for d in tt.shape.dim)


def refuse_initializers_outside(initializers: Any, base_dir: Path) -> None:
    """One :class:`InputError` naming every initializer whose external data file lies outside ``base_dir``
    (checked before any is read, so a second one is not left for the next run)."""
    from .tensors import outside_folder
    from .wire import IN_MODEL_KEY, IN_MODEL_TOKEN

    outside = outside_folder(initializers, base_dir, skip=lambda info: info.get(IN_MODEL_KEY) == IN_MODEL_TOKEN)
    hint = "keep the .onnx file next to its external data files"
    if len(outside) == 1:
        (name, location), = outside
        raise InputError(f"initializer {name!r} points outside the model folder: {location}", hint=hint)
    if outside:
        named = ", ".join(f"{name!r} ({location})" for name, location in outside)
        raise InputError(f"{len(outside)} initializers point outside the model folder: {named}", hint=hint)


def initializer_array(tensor: Any, base_dir: Path) -> Any:
    """An initializer as numpy, or as an ExternalArray (read only when written) for data in a file."""
    from .tensors import escapes_folder, external_data_info, raw_to_array, tensor_to_array, uses_external_data
    from .wire import IN_MODEL_KEY, IN_MODEL_TOKEN

    if any(d < 0 for d in tensor.dims):
        raise InputError(f"initializer {tensor.name!r} has a negative dimension in its shape {list(tensor.dims)}",
                         hint="the file is corrupt or was not written by an ONNX exporter")
    if not uses_external_data(tensor):
        try:
            return tensor_to_array(tensor)
        except (ValueError, TypeError, OverflowError) as err:  # data and dims disagree
            raise _corrupt(tensor, err) from None
    if tensor.HasField("segment"):
        raise _corrupt(tensor, ValueError("segmented tensors are not supported"))
    info = external_data_info(tensor)
    in_model = info.get(IN_MODEL_KEY) == IN_MODEL_TOKEN  # raw_data that .wire left in the model file
    location = (base_dir / info.get("location", "")).resolve()
    if not in_model and escapes_folder(info.get("location", ""), base_dir):
        raise InputError(f"initializer {tensor.name!r} points outside the model folder: {info.get('location', '')}")
    if not location.is_file():
        raise InputError(f"initializer {tensor.name!r} needs external data file {location}, which does not exist",
                         hint="keep the .onnx file next to its external data files")
    from .dtypes import onnx_elem_to_numpy

    try:
        offset, length = int(info.get("offset") or 0), int(info["length"]) if info.get("length") else None
    except ValueError:
        raise InputError(f"initializer {tensor.name!r} has an external data offset or length that is not a "
                         f"number: {info.get('offset')!r}, {info.get('length')!r}") from None
    dtype = onnx_elem_to_numpy(tensor.data_type)
    shape = tuple(int(d) for d in tensor.dims)
    if dtype is None or dtype.kind not in "fiub" or dtype.itemsize == 0:  # strings, packed or exotic types
        with open(location, "rb") as f:
            f.seek(offset)
            data = f.read(-1 if length is None else length)
        try:
            return raw_to_array(data, tensor.data_type, shape)
        except (ValueError, TypeError, OverflowError) as err:
            raise _corrupt(tensor, err) from None
    count = math.prod(shape)
    needed = count * dtype.itemsize
    if in_model and length != needed:
        raise _corrupt(tensor, ValueError(f"{length} bytes of raw data for {count} elements of {dtype}"))
    if length is not None and length < needed or location.stat().st_size < offset + needed:
        raise InputError(f"external data for initializer {tensor.name!r} in {location.name} is shorter than "
                         f"its shape {list(shape)} needs (truncated file?)")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    from .external import ExternalArray

    return ExternalArray(location, offset, dtype, shape, in_model=in_model)


def _corrupt(tensor: Any, err: Exception) -> InputError:
    return InputError(f"initializer {tensor.name!r} is corrupt: its data does not fit its shape "
                      f"{list(tensor.dims)} ({str(err)[:200]})")
