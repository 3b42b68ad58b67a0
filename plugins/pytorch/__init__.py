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


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontend import TorchExportFrontend, TorchModuleFrontend, TorchPickleFrontend

    register(TorchModuleFrontend())
    register(TorchExportFrontend())
    register(TorchPickleFrontend())


@hookimpl
def register_options(register: Callable) -> None:
    register("--exporter", choices=["dynamo", "legacy"], default=None,
             help="torch.onnx exporter for PyTorch models: dynamo (default; the legacy one is tried if it fails) "
                  "or legacy (TorchScript)")
