"""PyTorch frontend: ``torch.nn.Module`` objects and ``torch.export`` programs (``.pt2``), through ONNX.

The module is exported with ``torch.onnx.export`` in memory (the dynamo exporter by default, the
legacy TorchScript one as a fallback or by choice) and translated by the ONNX frontend, so the
same op mappings and NHWC layout handling apply. Nothing but the output folder is written.
This module only declares hooks: torch is never imported here, and a Module is recognised only
when torch is already in ``sys.modules`` (a user holding a Module has imported torch).
"""
from __future__ import annotations

from typing import Callable

from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend

from .detect import is_torch_export, is_torch_module, is_torch_pickle


@hookimpl
def register_frontends(register: Callable) -> None:
    # Declared lazily (docs/plugins.md): .frontend (and torch, onnx) load only for a PyTorch input.
    register(LazyFrontend("pytorch", f"{__name__}.frontend:TorchModuleFrontend", detect=is_torch_module,
                          description="torch.nn.Module objects (Python API), exported with torch.onnx.export in memory"))
    register(LazyFrontend("torch_export", f"{__name__}.frontend:TorchExportFrontend", detect=is_torch_export,
                          description="torch.export programs saved with torch.export.save (.pt2)"))
    register(LazyFrontend("torch_pickle", f"{__name__}.frontend:TorchPickleFrontend", detect=is_torch_pickle,
                          description="torch.save pickles (.pt/.pth): only with --allow_unsafe_deserialization"))


@hookimpl
def register_options(register: Callable) -> None:
    register("--exporter", choices=["dynamo", "legacy"], default=None,
             help="torch.onnx exporter for PyTorch models: dynamo (default; the legacy one is tried if it fails) "
                  "or legacy (TorchScript)")
