"""GraphDef pieces in the protobuf JSON mapping that TF.js's model loader parses.

Conventions: int64 as decimal strings, bytes as base64, enums by name (``DT_FLOAT``), non-finite
floats as ``"NaN"``/``"Infinity"``, empty repeated fields omitted.
"""
from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dtypes import DType
from ..errors import GraphError
from ..ir import FuncAttr, LazyArray, Shape, TensorShapeAttr


def shape_json(shape: Shape) -> dict[str, Any]:
    """A TensorShapeProto: ``{"dim": [{"size": "-1"}, …]}``; ``{}`` for a scalar."""
    if shape is None:
        return {"unknownRank": True}
    if len(shape) == 0:
        return {}
    return {"dim": [{"size": str(-1 if d is None else int(d))} for d in shape]}


def float_json(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def tensor_meta_json(dtype: DType, shape: Sequence[int]) -> dict[str, Any]:
    """A TensorProto with its content stripped: the weight travels in the shards instead."""
    return {"dtype": dtype.tf_name, "tensorShape": shape_json(tuple(shape))}


def _list_json(items: Sequence[Any], where: str) -> dict[str, Any]:
    if not items:
        return {"list": {}}
    first = items[0]
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return {"list": {"b": [bool(v) for v in items]}}
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items):
        return {"list": {"i": [str(int(v)) for v in items]}}
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in items):
        return {"list": {"f": [float_json(float(v)) for v in items]}}
    if all(isinstance(v, (str, bytes)) for v in items):
        return {"list": {"s": [_b64(v) for v in items]}}
    if all(isinstance(v, DType) for v in items):
        return {"list": {"type": [v.tf_name for v in items]}}
    if all(isinstance(v, TensorShapeAttr) for v in items):
        return {"list": {"shape": [shape_json(v.dims) for v in items]}}
    if all(isinstance(v, FuncAttr) for v in items):
        return {"list": {"func": [_func_json(v) for v in items]}}
    raise GraphError(f"{where}: cannot encode a list attr mixing {type(first).__name__} and other types")


def _b64(value: str | bytes) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def _func_json(value: FuncAttr) -> dict[str, Any]:
    out: dict[str, Any] = {"name": value.name}
    if value.attr:
        out["attr"] = {k: attr_json(v, f"func {value.name} attr {k}") for k, v in sorted(value.attr.items())}
    return out


def attr_json(value: Any, where: str = "attr") -> dict[str, Any]:
    """One AttrValue. ``where`` names the node/attr in error messages."""
    if isinstance(value, (bool, np.bool_)):
        return {"b": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"i": str(int(value))}
    if isinstance(value, (float, np.floating)):
        return {"f": float_json(float(value))}
    if isinstance(value, (str, bytes)):
        return {"s": _b64(value)}
    if isinstance(value, DType):
        return {"type": value.tf_name}
    if isinstance(value, TensorShapeAttr):
        return {"shape": shape_json(value.dims)}
    if isinstance(value, FuncAttr):
        return {"func": _func_json(value)}
    if isinstance(value, (list, tuple)):
        return _list_json(list(value), where)
    if isinstance(value, (np.ndarray, LazyArray)):
        raise GraphError(f"{where}: tensor attrs are only supported as the value of a Const node")
    raise GraphError(f"{where}: cannot encode attr value of type {type(value).__name__}")
