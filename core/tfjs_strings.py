"""String tensors TF.js would not read back byte for byte, and the writer's refusal of them.

TF.js decodes the strings of a graph model as UTF-8 (``TextDecoder``): a leading byte-order mark is
dropped and invalid bytes become U+FFFD. A string constant ``"\\ufeffword"`` would then equal
``"word"``, which in TensorFlow it does not, and two different invalid strings may become one: the
model would answer differently without any error. A string that is valid UTF-8 and does not start
with a BOM decodes to itself, so only the others are refused.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InputError

#: How many offending constants a refusal names before "... and N more".
SHOWN = 8
HINT = ("TF.js decodes strings as UTF-8 and drops a leading byte-order mark, so the model would compute "
        "other results than TensorFlow's; store such strings as bytes TF.js keeps (valid UTF-8 without a "
        "leading BOM), e.g. remove the BOM from the vocabulary file")


def strings_tfjs_alters(strings: Any) -> list[bytes]:
    """The items of ``strings`` (bytes or str, any shape) TF.js would not read back as they are."""
    altered = []
    for item in np.asarray(strings, dtype=object).reshape(-1).tolist():
        data = item if isinstance(item, bytes) else str(item).encode()
        try:
            kept = not data.decode("utf-8").startswith("\ufeff")
        except UnicodeDecodeError:
            kept = False
        if not kept:
            altered.append(data)
    return altered


def _is_string(array: Any) -> bool:
    """A string weight (object, bytes or str array; a lazy one is not read to tell)."""
    from .dtypes import DType

    try:
        return DType.from_any(array.dtype) is DType.STRING
    except (AttributeError, TypeError):
        return False


def altered_string_weights(weights: Iterable[tuple[str, Any]]) -> dict[str, list[bytes]]:
    """Weight name -> the strings TF.js would alter, for each string weight that holds any."""
    from .ir import materialize

    found = {}
    for name, array in weights:
        if _is_string(array):
            altered = strings_tfjs_alters(materialize(array))
            if altered:
                found[name] = altered
    return found


def refuse_altered_string_constants(graph: Any) -> None:
    """Raise one :class:`InputError` naming every string constant of ``graph`` (main graph, library
    functions, initializer) that TF.js would read altered, with an example of each; nothing otherwise."""
    from .writers.graph_model import all_weights

    found = altered_string_weights(all_weights(graph))
    if not found:
        return
    names = sorted(found)
    shown = "; ".join(f"{name} ({len(found[name])} string(s), e.g. {found[name][0][:40]!r})" for name in names[:SHOWN])
    more = f"; ... and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    raise InputError(f"TF.js would read {len(names)} string constant(s) altered (not UTF-8, or starting with a "
                     f"byte-order mark): {shown}{more}", hint=HINT)

