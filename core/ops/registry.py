"""Which ops TF.js 4.22 can run, so an unsupported op fails at conversion time instead of in the browser.

The built-in ops come from ``data/tfjs_ops.json``, generated from ``@tensorflow/tfjs-converter``'s own
op lists by ``scripts/generate_op_registry.py``; plugins add custom ops that users implement in JS
with ``tf.registerOp``.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, UnsupportedOpsError
from . import AttrDef, InputDef, OpDef
from .data_files import read_data_text

if TYPE_CHECKING:
    from ..ir import Graph

log = logging.getLogger(__name__)

DATA_FILE = "tfjs_ops.json"
#: Ops ``--strip_debug_ops`` removes, so they need not be runnable.
DEBUG_OPS = frozenset({"Assert", "CheckNumerics", "Print"})

_CUSTOM_OP_HINT = (
    "implement the op in JS with tf.registerOp() and declare it from a plugin's register_ops hook "
    "(see docs/plugins.md), or change the model to avoid it; --skip_op_check only moves this failure "
    "to when the model runs in TF.js"
)


def _freeze(value: Any) -> Any:
    """JSON lists -> tuples, so OpDef/AttrDef (frozen dataclasses) stay hashable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _opdef_from_json(entry: dict[str, Any]) -> OpDef:
    inputs = tuple(
        InputDef(name=i["name"], start=int(i["start"]), end=i.get("end"), type=i.get("type", "tensor"))
        for i in entry.get("inputs", [])
    )
    attrs = tuple(
        AttrDef(
            tf_name=a["tfName"],
            name=a["name"],
            type=a["type"],
            default=_freeze(a.get("defaultValue")),
            has_default="defaultValue" in a,
            not_supported=bool(a.get("notSupported", False)),
            tf_deprecated_name=a.get("tfDeprecatedName"),
        )
        for a in entry.get("attrs", [])
    )
    return OpDef(
        name=entry["name"],
        category=entry["category"],
        inputs=inputs,
        attrs=attrs,
        executable=bool(entry.get("executable", True)),
        outputs=tuple(entry.get("outputs", ())),
    )


def _read_builtin_document() -> dict[str, Any]:
    return json.loads(read_data_text(DATA_FILE))  # also works from a zipped install


@functools.cache
def _builtin() -> OpRegistry:
    return OpRegistry.from_document(_read_builtin_document())


class OpRegistry:
    """An immutable set of op definitions: TF.js's built-ins plus any custom ops.

    ``in``/``get``/``names``/``len`` cover every op TF.js's op lists define, including the few it
    does not load (``OpDef.executable`` is False); :meth:`is_supported` and :meth:`check` answer
    "will TF.js run this?".
    """

    def __init__(self, ops: Iterable[OpDef], *, source: dict[str, Any] | None = None) -> None:
        self._ops: dict[str, OpDef] = {}
        for op in ops:
            if op.name in self._ops:
                raise ValueError(f"op {op.name!r} is defined twice")
            self._ops[op.name] = op
        #: The generated file's header (package and version it came from); empty for ad-hoc registries.
        self.source: dict[str, Any] = dict(source or {})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> OpRegistry:
        """The ops of TF.js 4.22, loaded once per process."""
        return _builtin()

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OpRegistry:
        """Build from a generated document (``{"header": ..., "ops": [...]}``)."""
        return cls((_opdef_from_json(entry) for entry in document["ops"]), source=document.get("header"))

    def with_custom(self, opdefs: Iterable[OpDef]) -> OpRegistry:
        """A new registry that also knows ``opdefs`` (custom ops from plugins).

        Shadowing a built-in op that TF.js runs is an error: the plugin probably meant another name,
        and silently replacing a kernel is not something a converter should do. Ops TF.js defines but
        does not load (e.g. the TF-DF ``SimpleML*`` ops) may be supplied this way: that is how
        ``tf.registerOp`` makes them run.
        """
        ops = dict(self._ops)
        added: dict[str, OpDef] = {}
        for op in opdefs:
            if not isinstance(op, OpDef):
                raise PluginError(f"custom op {op!r} is not an OpDef")
            origin = f"plugin {op.plugin!r}" if op.plugin else "a custom op definition"
            if op.name in added:
                other = added[op.name]
                other_origin = f"plugin {other.plugin!r}" if other.plugin else "another custom op definition"
                raise PluginError(f"{origin} registers custom op {op.name!r}, which {other_origin} already registered")
            existing = ops.get(op.name)
            if existing is not None and existing.executable:
                kind = "custom op" if existing.custom else "built-in TF.js op"
                raise PluginError(
                    f"{origin} registers custom op {op.name!r}, but {op.name} is a {kind} "
                    f"(category {existing.category!r})",
                    hint="custom ops need a name TF.js does not already run; rename the op in the plugin",
                )
            if not op.custom:
                op = dataclasses.replace(op, custom=True)
            added[op.name] = op
            ops[op.name] = op
        return OpRegistry(ops.values(), source=self.source)

    # -- lookup -------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[OpDef]:
        return iter(self._ops[name] for name in sorted(self._ops))

    def get(self, name: str) -> OpDef:
        """The definition of ``name``; an unknown op raises :class:`UnsupportedOpsError`, never KeyError."""
        try:
            return self._ops[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._ops), n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise UnsupportedOpsError({name: []}, hint=hint + _CUSTOM_OP_HINT) from None

    def names(self) -> list[str]:
        """All op names, sorted."""
        return sorted(self._ops)

    def categories(self) -> dict[str, list[str]]:
        """Category -> sorted op names; custom ops are under ``custom`` unless they say otherwise."""
        result: dict[str, list[str]] = {}
        for name in sorted(self._ops):
            result.setdefault(self._ops[name].category, []).append(name)
        return dict(sorted(result.items()))

    def is_supported(self, name: str, *, strip_debug_ops: bool = False) -> bool:
        """Whether TF.js will run ``name`` (a loaded built-in or a custom op), or it will be stripped."""
        if strip_debug_ops and name in DEBUG_OPS:
            return True
        op = self._ops.get(name)
        return op is not None and (op.executable or op.custom)

    # -- graph checks -------------------------------------------------------------------------
    def unsupported(self, graph: Graph, *, strip_debug_ops: bool = False) -> dict[str, list[str]]:
        """Unsupported op type -> sorted names of the nodes using it (empty if all is well).

        Walks every node, dead or alive, and the nodes of serialised library functions (control
        flow v2 bodies run in TF.js too); those are reported as ``function/node``.
        """
        found: dict[str, list[str]] = {}
        for node_name, op in _graph_ops(graph):
            if not self.is_supported(op, strip_debug_ops=strip_debug_ops):
                found.setdefault(op, []).append(node_name)
        return {op: sorted(names) for op, names in sorted(found.items())}

    def check(self, graph: Graph, *, strip_debug_ops: bool = False, skip_op_check: bool = False) -> dict[str, list[str]]:
        """Raise :class:`UnsupportedOpsError` naming every unsupported op and its nodes at once.

        With ``skip_op_check`` nothing is raised (a warning is logged); either way the unsupported
        ops are returned, so callers can still report them.
        """
        found = self.unsupported(graph, strip_debug_ops=strip_debug_ops)
        if not found:
            return found
        if skip_op_check:
            log.warning("--skip_op_check: the model uses ops TF.js cannot run and will fail when it runs: %s",
                        ", ".join(found))
            return found
        main = {node.name for node in graph.nodes}
        kept = {name for name, _ in _graph_ops(graph) if name not in main}
        raise UnsupportedOpsError(found, hint=self._hint(found, strip_debug_ops=strip_debug_ops, kept=kept))

    def _hint(self, found: dict[str, list[str]], *, strip_debug_ops: bool, kept: frozenset[str] | set[str] = frozenset()
              ) -> str:
        from .kept_bodies import kept_unsupported_hints

        notes: list[str] = kept_unsupported_hints(found, kept)  # kept --control_flow_v2 bodies: a pass would rewrite them
        rewritable = len(notes)
        unloaded = [op for op in found if op in self._ops]
        if unloaded:
            notes.append(f"{', '.join(unloaded)} appear in tfjs-converter's op lists, but TF.js "
                         f"{self.source.get('version', '4.22')} does not load them (\"Unknown op\" at runtime)")
        debug = [op for op in found if op in DEBUG_OPS]
        if debug and not strip_debug_ops:
            notes.append(f"{', '.join(debug)} are debug ops that --strip_debug_ops removes")
        if rewritable < len(found):  # some op no pass would rewrite
            notes.append(_CUSTOM_OP_HINT)
        return "; ".join(notes)

    def __repr__(self) -> str:
        custom = sum(1 for op in self._ops.values() if op.custom)
        return f"OpRegistry({len(self._ops)} ops, {custom} custom)"


def _graph_ops(graph: Graph) -> Iterator[tuple[str, str]]:
    """(node name, op type) for every node of the graph and of its library functions."""
    for node in graph.nodes:
        yield node.name, node.op
    for function in graph.library:
        if not isinstance(function, dict):
            continue
        fname = function.get("signature", {}).get("name", "function")
        for node_def in function.get("nodeDef", function.get("node_def", [])):
            if isinstance(node_def, dict) and node_def.get("op"):
                yield f"{fname}/{node_def.get('name', '?')}", node_def["op"]
