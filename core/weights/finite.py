"""NaN and infinity in weights: counted in chunks, so checking a large tensor needs no second copy.

The policy (docs/reliability.md): a layers model refuses weights with NaN or ±Inf (Keras weights
never legitimately hold them: training diverged or the file is corrupt); a graph model keeps them,
since constants such as attention masks use -Inf on purpose, and the conversion report notes NaN.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..ir import materialize

_CHUNK_ELEMENTS = 1 << 20


def count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """``(NaN count, ±Inf count)`` of a floating or complex array; ``(0, 0)`` for anything else."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return 0, 0
    flat = array.reshape(-1)
    nan = inf = 0
    for start in range(0, flat.size, _CHUNK_ELEMENTS):
        chunk = flat[start:start + _CHUNK_ELEMENTS]
        if np.isfinite(chunk).all():  # the common case in one pass over the chunk
            continue
        nan += int(np.count_nonzero(np.isnan(chunk)))
        inf += int(np.count_nonzero(np.isinf(chunk)))
    return nan, inf


def describe_nonfinite(nan: int, inf: int) -> str:
    parts = [f"{nan} NaN value{'s' if nan != 1 else ''}"] if nan else []
    parts += [f"{inf} infinite value{'s' if inf != 1 else ''}"] if inf else []
    return " and ".join(parts)


def nan_note(name: str, array: np.ndarray) -> str | None:
    """A report note for a weight holding NaN (graph models keep it; ±Inf alone is not noted)."""
    return nan_count_note(name, count_nonfinite(array)[0])


def nan_count_note(name: str, nan: int) -> str | None:
    """:func:`nan_note` from a count already made."""
    if not nan:
        return None
    return f"weight {name!r} holds {describe_nonfinite(nan, 0)}; the model's outputs may be NaN"


class FiniteWeight:
    """A weight that refuses NaN and ±Inf when the writer loads it (stays lazy until then)."""

    def __init__(self, name: str, source: Any) -> None:
        self.name = name
        self.source = source
        self.shape = tuple(int(d) for d in source.shape)
        self.dtype = np.dtype(source.dtype)

    @property
    def plain_source(self) -> Any:
        """The wrapped weight, for a writer that copies its bytes and counts them itself (then calls
        :meth:`refuse`)."""
        return self.source

    def load(self) -> np.ndarray:
        array = np.asarray(materialize(self.source))
        self.refuse(*count_nonfinite(array))
        return array

    def refuse(self, nan: int, inf: int) -> None:
        """Raise :class:`InputError` when the weight held ``nan`` NaN or ``inf`` infinite values."""
        if nan or inf:
            raise InputError(
                f"weight {self.name!r} holds {describe_nonfinite(nan, inf)}; a layers model with such weights "
                "computes NaN", hint="the training diverged or the file is corrupt: fix the weights and save the "
                                     "model again (docs/reliability.md, 'NaN and Inf weights')")
