"""TensorFlow's op signatures (input/output args, attrs) from ``data/tf_op_signatures.json``, read lazily.

Why: a reader that takes a GraphDef without TensorFlow must still refuse what TF's importer refuses (an input
of another dtype than the op's signature says, a type attr outside its allowed types, a missing required
attr), or a corrupt graph crashes a pass or converts to a model whose dtypes lie. The table holds facts dumped
from TF's op registry by ``scripts/generate_tf_op_signatures.py`` (see its doc for the format); it is parsed
on the first lookup only, so conversions that read no GraphDef never pay for it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from tfjsconv.dtypes import DType

from .data_files import read_data_text

FILE_NAME = "tf_op_signatures.json"


@dataclasses.dataclass(frozen=True)
class ArgSpec:
    """One input or output arg. Its dtype is ``fixed`` (a DType, or TF's enum name ``DT_QINT8`` for a type the IR
    cannot hold) or the value of the type attr ``type_attr``; ``number_attr`` (an int attr) repeats it;
    ``list_attr`` (a list-of-types attr) instead gives one tensor per entry. ``is_ref``: TF passes a reference
    (a TF1 variable) here."""

    name: str
    fixed: DType | str | None = None
    type_attr: str | None = None
    number_attr: str | None = None
    list_attr: str | None = None
    is_ref: bool = False


@dataclasses.dataclass(frozen=True)
class AttrSpec:
    """One attr: its OpDef type (``type``, ``list(type)``, ``int`` …), whether it has a default, the allowed types
    of a type attr (DTypes, or ``DT_`` names for types the IR cannot hold; None: any) and the minimum of an int or
    list attr (None: none)."""

    type: str
    has_default: bool
    allowed: frozenset[DType | str] | None
    minimum: int | None


@dataclasses.dataclass(frozen=True)
class OpSignature:
    """What TF's OpDef of one op says about its args and attrs."""

    inputs: tuple[ArgSpec, ...]
    outputs: tuple[ArgSpec, ...]
    attrs: dict[str, AttrSpec]
    #: Precomputed for the per-node check (it runs on every node read): the attrs without a default, the attrs
    #: with allowed types or a minimum, and whether every arg is one tensor (no number or list attr).
    required: tuple[str, ...] = ()
    limited: tuple[tuple[str, AttrSpec], ...] = ()
    simple_inputs: bool = False
    simple_outputs: bool = False


def _dtype(name: str) -> DType | str:
    """``DT_FLOAT`` as DType.FLOAT32; a type the IR cannot hold stays its name (it equals no DType)."""
    try:
        return DType(name)
    except ValueError:
        return name


def _simple(args: tuple[ArgSpec, ...]) -> bool:
    return all(a.number_attr is None and a.list_attr is None for a in args)


def _arg(text: str) -> ArgSpec:
    """``[&]name:spec`` (the generator's format) as an :class:`ArgSpec`."""
    is_ref = text.startswith("&")
    name, _, spec = text.lstrip("&").partition(":")
    if spec.startswith("["):
        return ArgSpec(name, list_attr=spec[1:-1], is_ref=is_ref)
    spec, _, number = spec.partition("*")
    fixed = _dtype("DT_" + spec[1:]) if spec.startswith("=") else None
    return ArgSpec(name, fixed, None if fixed else spec, number or None, is_ref=is_ref)


@functools.cache
def _table() -> dict[str, Any]:
    """The file's ``ops`` object, parsed once."""
    return json.loads(read_data_text(FILE_NAME))["ops"]


@functools.cache
def signature(op: str) -> OpSignature | None:
    """The signature of ``op``; None for an op the table does not hold (not in TF's registry, or not dumped)."""
    entry = _table().get(op)
    if entry is None:
        return None
    attrs = {name: AttrSpec(kind, bool(default), None if allowed is None else frozenset(_dtype("DT_" + t)
                                                                                         for t in allowed), minimum)
             for name, (kind, default, allowed, minimum) in entry["attrs"].items()}
    inputs, outputs = tuple(map(_arg, entry["in"])), tuple(map(_arg, entry["out"]))
    return OpSignature(inputs, outputs, attrs, required=tuple(n for n, a in attrs.items() if not a.has_default),
                       limited=tuple((n, a) for n, a in attrs.items() if a.minimum is not None
                                     or (a.allowed is not None and a.type in ("type", "list(type)"))),
                       simple_inputs=_simple(inputs), simple_outputs=_simple(outputs))
