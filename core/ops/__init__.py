"""The ops TF.js can execute: definitions generated from @tensorflow/tfjs-converter's own op list.

``registry.py`` loads the generated data (``data/tfjs_ops.json``) and custom ops from plugins;
``scripts/generate_op_registry.py`` regenerates the data from the npm package.
"""
from __future__ import annotations

import dataclasses
from typing import Any

@dataclasses.dataclass(frozen=True)
class InputDef:
    """A tensor input of an op: positions ``start`` (inclusive) to ``end`` (exclusive; None = one, 0 = to the end)."""

    name: str
    start: int
    end: int | None = None
    type: str = "tensor"


@dataclasses.dataclass(frozen=True)
class AttrDef:
    """An attr TF.js reads: ``tf_name`` in the GraphDef, ``name`` in the TF.js kernel."""

    tf_name: str
    name: str
    type: str
    default: Any = None
    has_default: bool = False
    not_supported: bool = False
    #: An older GraphDef name TF.js also accepts (``squeeze_dims`` for Squeeze's ``axis``).
    tf_deprecated_name: str | None = None


@dataclasses.dataclass(frozen=True)
class OpDef:
    """One op TF.js runs. ``custom`` ops are implemented by the user in JS with ``tf.registerOp``."""

    name: str
    category: str = "custom"
    inputs: tuple[InputDef, ...] = ()
    attrs: tuple[AttrDef, ...] = ()
    custom: bool = False
    plugin: str | None = None
    description: str = ""
    #: False for ops TF.js lists but does not load (4.22: the ragged and tfdf lists), which fail at runtime.
    executable: bool = True
    #: Named outputs, for the few ops whose op list gives them (StringNGrams, StringSplit).
    outputs: tuple[str, ...] = ()

    @property
    def min_inputs(self) -> int:
        """How many tensor inputs a node of this op needs: TF.js reads inputs by position, so a node
        with fewer (a corrupt graph) would reach a kernel with ``undefined``. Inputs counted from the
        end (negative ``start``) and trailing lists (which may be empty) add nothing."""
        return max((i.start + (1 if i.end is None else 0) for i in self.inputs if i.start >= 0
                    and i.name not in _READ_IF_PRESENT.get(self.name, ())), default=0)


#: Inputs TF.js's op list places that TF's op takes as optional or not at all (TF's EnsureShape has
#: its shape as an attr; Print's data is a list that may be empty).
_READ_IF_PRESENT: dict[str, tuple[str, ...]] = {"EnsureShape": ("shape",), "Print": ("data",)}


from .registry import DEBUG_OPS, OpRegistry  # noqa: E402  (needs the dataclasses above)

__all__ = ["AttrDef", "DEBUG_OPS", "InputDef", "OpDef", "OpRegistry"]
