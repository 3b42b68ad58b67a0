"""The kernel table and the small attr helpers every kernel module shares."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GraphError
from ..ir import Node

Kernel = Callable[[Node, list[np.ndarray]], list[np.ndarray]]
#: Op name -> numpy implementation (TensorFlow semantics).
KERNELS: dict[str, Kernel] = {}


def kernel(*ops: str) -> Callable[[Kernel], Kernel]:
    """Register a numpy implementation for ``ops``."""

    def wrap(fn: Kernel) -> Kernel:
        for op in ops:
            KERNELS[op] = fn
        return fn

    return wrap


def attr_str(node: Node, key: str, default: str = "") -> str:
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def attr_list(node: Node, key: str, default: Any = ()) -> list[Any]:
    value = node.attrs.get(key, default)
    return list(value) if value is not None else []


def attr_strings(node: Node, key: str) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in attr_list(node, key)]


def ints(array: np.ndarray) -> list[int]:
    """A shape/axis/perm input as python ints (scalars become one-element lists)."""
    return [int(v) for v in np.asarray(array).reshape(-1)]


def unsupported(node: Node, why: str) -> GraphError:
    return GraphError(f"the numpy interpreter cannot evaluate {node.name} ({node.op}): {why}")
