"""The ``pytorch`` (Module objects), ``torch_export`` (``.pt2``) and ``torch_pickle`` (``.pt``/``.pth``) formats."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, MissingInputsError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions


from .detect import is_torch_export, is_torch_module, is_torch_pickle


def _translate(model_proto: Any, options: ConvertOptions, notes: list[str]) -> Graph:
    from tfjsconv.plugins.onnx.api import check_versions, translate_model

    check_versions(model_proto, Path("<torch.onnx.export>"))
    graph = translate_model(model_proto, options, base_dir=Path.cwd())
    import torch

    graph.metadata.setdefault("onnx", {})["torch"] = {"version": torch.__version__, "export": notes}
    graph.generated_by = f"torch {torch.__version__} (via ONNX)"
    return graph


def _torch_inputs(inputs: Mapping[str, np.ndarray], names: list[str], examples: tuple) -> list[Any]:
    """The reference's inputs as tensors in signature order, in the dtypes of the example inputs."""
    import torch

    missing = [n for n in names if n not in inputs]
    if missing:
        raise MissingInputsError(f"no value given for input(s) {', '.join(missing)}", missing)
    tensors = []
    for k, name in enumerate(names):
        tensor = torch.from_numpy(np.ascontiguousarray(inputs[name]))
        if k < len(examples) and isinstance(examples[k], torch.Tensor):
            tensor = tensor.to(examples[k].dtype)
        tensors.append(tensor)
    return tensors


def _flatten(result: Any) -> list[Any]:
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [t for item in result for t in _flatten(item)]
    if isinstance(result, Mapping):
        return [t for item in result.values() for t in _flatten(item)]
    raise InputError(f"the module returned a {type(result).__name__}; tensors (or tuples of them) are needed")


def _run(callable_: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions, examples: tuple
         ) -> dict[str, np.ndarray]:
    """Run the torch callable on TF.js's inputs and key the outputs like the converted model's signature."""
    import torch

    doc = _model_json(options.extra.get("model_dir"))
    names = list((doc.get("signature") or {}).get("inputs", {})) if doc else list(inputs)
    names = [n.split(":")[0] for n in names] or list(inputs)
    layouts = ((doc.get("userDefinedMetadata") or {}).get("onnx", {}).get("layout", {}) if doc else {}) or {}
    arrays = {}
    for name in names:
        array = np.asarray(inputs[name]) if name in inputs else None
        if array is not None and layouts.get("inputs", {}).get(name) == "NHWC":
            array = array.transpose(0, 3, 1, 2)
        arrays[name] = array
    with torch.no_grad():
        try:
            outputs = _flatten(callable_(*_torch_inputs(arrays, names, examples)))
        except RuntimeError as err:  # an ExportedProgram checks its inputs against the shapes it was exported for
            if not str(err).startswith("Expected input at"):
                raise _torch_cannot_run(err) from None
            raise UsageError(f"the reference model refuses these inputs: {str(err).splitlines()[0]}",
                             hint="a .pt2 program runs only on the shapes it was exported for (or the dynamic "
                                  "shapes torch.export was given); pass inputs of those shapes") from None
        except Exception as err:  # the module's own refusal (a shape, a dtype): the source cannot run these inputs
            raise _torch_cannot_run(err) from None
    out_names = [n.split(":")[0] for n in (doc.get("signature") or {}).get("outputs", {})] if doc else []
    if len(out_names) != len(outputs):
        out_names = options.extra.get("output_names") or [f"output_{i}" for i in range(len(outputs))]
    result = {}
    for name, tensor in zip(out_names, outputs):
        array = tensor.detach().cpu().numpy()
        if layouts.get("outputs", {}).get(name) == "NHWC":
            array = array.transpose(0, 2, 3, 1)
        result[name] = array
    return result


def _torch_cannot_run(err: Exception) -> InputError:
    """torch's failure to run the source on the inputs fed, as one line naming torch and its message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return InputError(f"torch cannot run the model on these inputs: {(lines[0] if lines else type(err).__name__)[:400]}",
                      hint="feed inputs the source model itself accepts (--inputs X.npz)")


def _model_json(model_dir: Any) -> dict:
    import json

    if not model_dir:
        return {}
    try:
        return json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _trace(proto: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str], options: ConvertOptions
           ) -> dict[str, list[np.ndarray]]:
    """The ONNX export's intermediate values (its node names are the provenance of a torch conversion)."""
    from tfjsconv.plugins.onnx.api import layout_from_model_dir, onnx_intermediates

    layout = options.extra.get("input_layout") or layout_from_model_dir(options.extra.get("model_dir"))
    return onnx_intermediates(proto, inputs, sources, input_layout=str(layout).lower() if layout else None)


class TorchModuleFrontend(Frontend):
    """``tfjsconv.convert(module, out, example_inputs=..., input_names=..., output_names=..., dynamic_batch=True)``."""

    name = "pytorch"
    description = "torch.nn.Module objects (Python API), exported with torch.onnx.export in memory"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_torch_module(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from .export import as_tuple, export_to_onnx

        if not is_torch_module(source):
            raise InputError(f"the pytorch format takes torch.nn.Module objects, not {type(source).__name__}",
                             hint="for files use .pt2 (torch.export.save) or .onnx")
        extra = options.extra
        source.eval()
        proto, notes = export_to_onnx(source, as_tuple(extra.get("example_inputs")),
                                      input_names=extra.get("input_names"), output_names=extra.get("output_names"),
                                      dynamic_batch=bool(extra.get("dynamic_batch", True)), exporter=extra.get("exporter"))
        return _translate(proto, options, notes)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        from .export import as_tuple

        return _run(source.eval(), inputs, options, as_tuple(options.extra.get("example_inputs")))

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        """Through the same ONNX export as the conversion (same exporter, so the same node names)."""
        from .export import as_tuple, export_to_onnx

        extra = options.extra
        proto, _ = export_to_onnx(source.eval(), as_tuple(extra.get("example_inputs")),
                                  input_names=extra.get("input_names"), output_names=extra.get("output_names"),
                                  dynamic_batch=bool(extra.get("dynamic_batch", True)), exporter=extra.get("exporter"))
        return _trace(proto, inputs, sources, options)


class TorchExportFrontend(Frontend):
    """``.pt2`` archives written by ``torch.export.save``: refused if ``torch.export.load`` would unpickle anything."""

    name = "torch_export"
    description = "torch.export programs saved with torch.export.save (.pt2)"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_torch_export(source)

    def _program(self, source: Any, options: ConvertOptions) -> Any:
        """The ExportedProgram; an archive holding anything ``torch.export.load`` would unpickle is
        refused unless --allow_unsafe_deserialization (see :mod:`.pt2_archive`)."""
        import io

        from tfjsconv.limits import limits_of

        from .pt2_archive import read_checked, refuse_unsafe

        path = as_path(source)
        if path is None or not path.is_file():
            raise InputError(f"{source} is not a .pt2 file")
        data, unsafe = read_checked(path, limits_of(options))
        if unsafe and not options.allow_unsafe_deserialization:
            refuse_unsafe(path, unsafe)
        try:
            import torch
        except ImportError:
            raise UsageError("reading .pt2 files needs torch", hint="pip install 'tfjsconv[pytorch]'") from None
        if not unsafe:
            _same_members_for_torch(torch, path, data)
        try:
            return torch.export.load(io.BytesIO(data))
        except Exception as err:
            raise InputError(f"{path} cannot be read by torch.export.load: {type(err).__name__}: "
                             f"{(str(err).splitlines() or [''])[0][:300]}",
                             hint="write it with torch.export.save(torch.export.export(module, args), path)") from None

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from .export import export_to_onnx

        program = self._program(source, options)
        args = example_args(program)
        proto, notes = export_to_onnx(program, args, input_names=options.extra.get("input_names"),
                                      output_names=options.extra.get("output_names"), dynamic_batch=False,
                                      exporter="dynamo")
        return _translate(proto, options, notes)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        program = self._program(source, options)
        examples = example_args(program)
        return _run(program.module(), inputs, options, examples)

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        from .export import export_to_onnx

        program = self._program(source, options)
        proto, _ = export_to_onnx(program, example_args(program), input_names=options.extra.get("input_names"),
                                  output_names=options.extra.get("output_names"), dynamic_batch=False,
                                  exporter="dynamo")
        return _trace(proto, inputs, sources, options)


def _same_members_for_torch(torch: Any, path: Path, data: bytes) -> None:
    """torch reads zips with its own (miniz) reader: it must see the members Python's zipfile checked."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    root = names[0].split("/", 1)[0]
    checked = {name[len(root) + 1:] for name in names}
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = set(reader.get_all_records())
        sample_size = reader.get_record_size("data/sample_inputs/model.pt") if reader.has_record(
            "data/sample_inputs/model.pt") else 0
    except Exception as err:
        raise InputError(f"{path} cannot be read as a .pt2 archive: {type(err).__name__}") from None
    if records != checked or sample_size:
        raise InputError(f"{path} is a zip that reads differently depending on the reader; refused",
                         hint="the file is corrupt or crafted; write it again with torch.export.save")


def example_args(program: Any) -> tuple:
    """The program's example inputs; without saved ones (a pickle-free .pt2), zeros shaped like its inputs."""
    import torch

    if program.example_inputs:
        return tuple(program.example_inputs[0])
    user_inputs = set(program.graph_signature.user_inputs)
    args = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user_inputs:
            continue
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor) or not all(isinstance(d, int) for d in value.shape):
            raise InputError(f"input {node.name} of the .pt2 program has no static shape to build an example from",
                             hint="save the program with its example inputs and pass --allow_unsafe_deserialization "
                                  "if you trust the file, or convert the module in memory")
        args.append(torch.zeros(tuple(value.shape), dtype=value.dtype))
    return tuple(args)


class TorchPickleFrontend(Frontend):
    """``.pt``/``.pth`` pickles: refused by default, since unpickling can run arbitrary code."""

    name = "torch_pickle"
    description = "torch.save pickles (.pt/.pth): only with --allow_unsafe_deserialization"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_torch_pickle(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        path = as_path(source)
        if not options.allow_unsafe_deserialization:
            raise InputError(
                f"{path} is a Python pickle (torch.save); loading it can run arbitrary code, so tfjsconv refuses it",
                hint="save the model with torch.export.save(torch.export.export(model, args), 'model.pt2') or export "
                     "ONNX; or, if you trust the file, pass --allow_unsafe_deserialization (then torch.load runs "
                     "with weights_only=True first and only falls back to full unpickling for a whole module)")
        import torch

        try:  # weights_only refuses code; it succeeds for state_dicts, which hold no architecture
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:
            loaded = torch.load(str(path), map_location="cpu", weights_only=False)  # allowed explicitly
        if not isinstance(loaded, torch.nn.Module):
            raise InputError(f"{path} holds a {type(loaded).__name__} (weights only, no architecture)",
                             hint="build the module in Python, load_state_dict, and call "
                                  "tfjsconv.convert(module, 'out/', example_inputs=(...))")
        example = options.extra.get("example_inputs")
        if example is None:
            raise UsageError("a pickled module needs example inputs to be traced; convert it from Python with "
                             "tfjsconv.convert(module, 'out/', example_inputs=(...))")
        return TorchModuleFrontend().load(loaded, options)
