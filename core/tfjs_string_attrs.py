"""String attrs TF.js would read as other text than TensorFlow, and the graph-model writer's refusal of them.

TF.js's op mapper reads a string attr with ``atob`` (one Latin-1 character per byte, so non-ASCII UTF-8 turns
into other characters) and lower-cases it. For most string attrs (padding, data_format, ...) that is what its
kernels expect; for the ones below the text is data: ``StaticRegexReplace(pattern="A", rewrite="B")`` would
replace ``a`` by ``b``, ``StringNGrams(separator="_X_")`` would join with ``_x_``. ``StaticRegexReplace`` also
runs the pattern as a JavaScript ``RegExp`` on UTF-16 code units and the rewrite through
``String.prototype.replace``, so RE2 constructs they read differently are refused as well: ``.`` and ``[^..]``
(one code point in RE2, one UTF-16 unit in JS; ``.`` also matches ``\\r`` in RE2 only), ``\\s`` (JS adds
``\\v`` and Unicode spaces), ``\\z`` and other letter escapes (``\\z`` is a plain ``z`` in JS), ``[:alpha:]``
classes (RE2 only), and in the rewrite ``\\1``/``\\\\`` (RE2's back-references and escapes) and ``$`` (JS's).
"""
from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from .errors import InputError

#: op -> the string attrs whose text is data (not an enumerated option TF.js expects lower-cased).
DATA_ATTRS = {
    "StaticRegexReplace": ("pattern", "rewrite"),
    "StringNGrams": ("separator", "left_pad", "right_pad"),
    "Einsum": ("equation",),
}
#: Escapes RE2 and a JavaScript ``RegExp`` (no ``u`` flag) read alike; RE2's ``\\z``, ``\\s``, ``\\p``, ... differ.
SAME_ESCAPES = frozenset("dwbntrfvx")
#: Characters of a ``StaticRegexReplace`` rewrite that RE2 and ``String.prototype.replace`` read differently.
REWRITE_DIFFERENCES = ("\\", "$")


def regex_differences(pattern: str) -> list[str]:
    """The constructs of an RE2 ``pattern`` a JavaScript ``RegExp`` reads otherwise (escaped characters are
    literals: ``\\.`` is a dot in both)."""
    found: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char, ahead = pattern[i], pattern[i + 1:i + 3]
        if char == "\\":
            escaped = ahead[:1]
            if (escaped.isalnum() and escaped not in SAME_ESCAPES) or ahead == "x{":
                found.append("\\" + escaped)
            i += 2
            continue
        if char == "[" and in_class and ahead[:1] == ":":
            found.append("[:")
        elif char == "[" and not in_class:
            in_class = True
            if ahead[:1] == "^":
                found.append("[^")
            if ahead[:1] == "]":  # a leading ']' is a member in RE2, ends an empty class in JavaScript
                found.append("[]")
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            found.append(".")
        i += 1
    return list(dict.fromkeys(found))


def _text(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return None


def why_altered(op: str, attr: str, data: bytes) -> str | None:
    """Why TF.js would read string attr ``attr`` of an ``op`` node as other text (None if it reads it as is)."""
    if not data.isascii():
        return "not ASCII"
    text = data.decode("ascii")
    if text.lower() != text:
        return "upper case"
    if op == "StaticRegexReplace":
        found = regex_differences(text) if attr == "pattern" else [c for c in REWRITE_DIFFERENCES if c in text]
        if found:
            return f"{', '.join(found)} mean(s) other things in JavaScript than in RE2"
    return None


def _node_attrs(graph: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(node name, op, attrs as bytes) of the graph's nodes, its initializer's and its library functions'."""
    for part in (graph, graph.initializer):
        if part is None:
            continue
        for node in part.nodes:
            if node.op in DATA_ATTRS:
                yield node.name, node.op, {k: _text(v) for k, v in node.attrs.items()}
    for function in graph.library:
        fname = function.get("signature", {}).get("name", "?")
        for node in function.get("nodeDef", []):
            if node.get("op") in DATA_ATTRS:
                attrs = {k: base64.b64decode(v["s"]) for k, v in node.get("attr", {}).items()
                         if isinstance(v, dict) and isinstance(v.get("s"), str)}
                yield f"{fname}/{node.get('name')}", node["op"], attrs


def refuse_altered_string_attrs(graph: Any) -> None:
    """Raise one :class:`InputError` naming every node whose data string attr TF.js would read altered."""
    found = []
    for name, op, attrs in _node_attrs(graph):
        for attr in DATA_ATTRS[op]:
            data = attrs.get(attr)
            reason = None if data is None else why_altered(op, attr, data)
            if reason:
                found.append(f"{name} ({op}) {attr}={data[:40]!r}: {reason}")
    if found:
        raise InputError(f"TF.js would read {len(found)} string attr(s) as other text than TensorFlow: "
                         + "; ".join(found),
                         hint="TF.js lower-cases string attrs, reads them as Latin-1 and runs regexes as "
                              "JavaScript RegExp; keep them lower-case ASCII (and, for regexes, free of "
                              "., [^, [:, letter escapes but \\d \\w \\b \\n \\t \\r \\f \\v \\x in the pattern, "
                              "and of \\, $ in the rewrite)")


def refuse_altered_strings(graph: Any) -> None:
    """Both checks, one :class:`InputError` naming every altered string constant and string attr at once."""
    from .tfjs_strings import refuse_altered_string_constants

    errors = []
    for check in (refuse_altered_string_constants, refuse_altered_string_attrs):
        try:
            check(graph)
        except InputError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputError("; also ".join(e.message for e in errors), hint="; ".join(e.hint for e in errors if e.hint))
