"""Cheap recognition of PyTorch inputs: Module objects (without importing torch) and file suffixes."""
from __future__ import annotations

import sys
from typing import Any

from tfjsconv.frontend import as_path


def is_torch_module(source: Any) -> bool:
    """True for a ``torch.nn.Module``, checked without importing torch (a Module implies torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(source, torch.nn.Module)


def is_torch_export(source: Any) -> bool:
    """A ``torch.export.save`` archive (``.pt2``)."""
    path = as_path(source)
    return path is not None and path.suffix.lower() == ".pt2"


def is_torch_pickle(source: Any) -> bool:
    """A ``torch.save`` pickle (``.pt``/``.pth``)."""
    path = as_path(source)
    return path is not None and path.suffix.lower() in (".pt", ".pth")
