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
