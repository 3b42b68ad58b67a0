"""Read which op a TF.js failure is about, so a crash report can name it.

TF.js names the kernel in its errors, in a few fixed phrasings (4.22): a kernel a backend lacks
(``Kernel 'Einsum' not registered for backend 'wasm'``, ``'Einsum' not yet implemented or not found
in the registry``), an op the graph-model loader does not know (``Tensorflow Op is not supported:
Foo``) and an op's own argument check (``Error in einsum: ...``).
"""
from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"Kernel '([\w.]+)' not registered"),
    re.compile(r"'([\w.]+)' not yet implemented"),
    re.compile(r"Op is not supported: ([\w.]+)"),
    re.compile(r"[Uu]nsupported [Oo]ps?[^:]*: ([\w.]+)"),
    re.compile(r"Error in ([\w.]+):"),
)


def op_named_in(message: str) -> str | None:
    """The op or kernel name a TF.js error message names, or None."""
    for pattern in _PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return None


#: TF.js faults whose message names no op, with what they are (measured in TF.js 4.22; docs/backends.md, "Empty
#: tensors"): (backend, a phrase of the message, the explanation a report adds).
_KNOWN_FAULTS = (
    ("cpu", "vals.subarray is not a function",
     "a TF.js cpu fault, not a wrong conversion: tfjs-backend-cpu keeps the empty result of Concat, Pack or GatherNd "
     "as a plain array, and a Slice, StridedSlice, Unpack or Split of it throws; it happens only where a tensor has "
     "no elements (a batch of 0, as in a stacked RNN: docs/backends.md, 'Empty tensors'); wasm runs it"),
)


def known_fault(message: str, backend: str) -> str | None:
    """What a TF.js failure that names no op is, when it is a known backend fault; else None."""
    for fault_backend, phrase, explanation in _KNOWN_FAULTS:
        if backend == fault_backend and phrase in message:
            return explanation
    return None
