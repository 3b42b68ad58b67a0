"""Cheap declarations of frontends, writers and passes: a hook names the class, its module loads when it runs.

Every ``tfjsconv`` run calls the plugins' hooks (``--help`` needs their flags, ``plugins`` their
names), so a hook that imports an op table, an interpreter or a framework makes every command pay
for it. A :class:`LazyFrontend`, :class:`LazyWriter` or :class:`LazyPass` carries what the core asks
before running one (name, formats, detection; level, order, gate) and imports ``"package.module:Class"`` on first
real use. This module imports neither numpy nor the IR. See docs/plugins.md ("Lazy loading").
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import PluginError, TfjsconvError
from .frontend import Frontend
from .options import ConvertOptions


def load_object(target: str) -> Any:
    """``"package.module:Name"`` (or ``…:Outer.Inner``) -> that object, importing its module now."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{target!r} is not a 'package.module:Name' reference")
    try:
        __import__(module_name)  # not importlib.import_module: `python -X importtime` sees only __import__
        obj: Any = sys.modules[module_name]
        for part in attr.split("."):
            obj = getattr(obj, part)
    except TfjsconvError:
        raise
    except Exception as err:  # a broken plugin must name what failed, not crash anonymously
        raise PluginError(f"cannot load {target}: {type(err).__name__}: {err}") from err
    return obj


def _instance(target: str) -> Any:
    obj = load_object(target)
    return obj() if isinstance(obj, type) else obj


class LazyFrontend(Frontend):
    """A frontend declared by name, formats and an optional cheap ``detect``; the class loads on use.

    ``detect(source) -> bool`` and ``claims_remote(source) -> bool`` must be cheap and import nothing
    heavy: they run for every conversion whose ``--input_format`` is omitted, whatever the input.
    Without ``detect`` the real frontend is loaded to answer; without ``claims_remote`` the frontend
    claims no remote address. ``load``, ``describe``, ``reference`` and any other attribute go to the
    real frontend, which must have the declared ``name`` and ``output_formats``.
    """

    def __init__(self, name: str, target: str, *, description: str = "",
                 output_formats: Sequence[str] = ("tfjs_graph_model",),
                 detect: Callable[[Any], bool] | None = None,
                 claims_remote: Callable[[Any], bool] | None = None) -> None:
        self._real: Frontend | None = None
        self.name = name  # type: ignore[misc]  # instance values for the ClassVars of Frontend
        self.description = description  # type: ignore[misc]
        self.output_formats = tuple(output_formats)  # type: ignore[misc]
        self.target = target
        self._detect = detect
        self._claims_remote = claims_remote

    @property
    def loaded(self) -> bool:
        return self._real is not None

    @property
    def real(self) -> Frontend:
        """The frontend itself, imported and checked against this declaration on first use."""
        if self._real is None:
            real = _instance(self.target)
            if not isinstance(real, Frontend) or isinstance(real, LazyFrontend):
                raise PluginError(f"{self.target} (declared for input format {self.name!r}) is not a Frontend")
            if real.name != self.name or tuple(real.output_formats) != self.output_formats:
                raise PluginError(
                    f"{self.target} is input format {real.name!r} with outputs {tuple(real.output_formats)}, but was "
                    f"declared as {self.name!r} with outputs {self.output_formats}; make the declaration match")
            self._real = real
        return self._real

    def detect(self, source: Any) -> bool:
        return self._detect(source) if self._detect is not None else self.real.detect(source)

    def claims_remote(self, source: Any) -> bool:
        return self._claims_remote(source) if self._claims_remote is not None else False

    def load(self, source: Any, options: ConvertOptions) -> Any:
        return self.real.load(source, options)

    def describe(self, source: Any, options: ConvertOptions) -> dict[str, Any]:
        return self.real.describe(source, options)

    def reference(self, source: Any, inputs: Mapping[str, Any], options: ConvertOptions) -> dict[str, Any]:
        return self.real.reference(source, inputs, options)

    def trace_reference(self, source: Any, inputs: Mapping[str, Any], sources: Any,
                        options: ConvertOptions) -> dict[str, Any]:
        return self.real.trace_reference(source, inputs, sources, options)

    def __getattr__(self, attr: str) -> Any:  # only for attributes not found above (e.g. a frontend's helpers)
        if attr.startswith("__") or attr in ("_real", "target", "_detect", "_claims_remote"):
            raise AttributeError(attr)
        return getattr(self.real, attr)

    def __repr__(self) -> str:
        return f"<Frontend {self.name} (lazy: {'loaded' if self._real is not None else self.target})>"


class LazyWriter:
    """A writer declared by name and description; its module (numpy, the IR, the shard writer) loads on use."""

    def __init__(self, name: str, target: str, *, description: str = "") -> None:
        self._real: Any = None
        self.name = name
        self.description = description
        self.target = target

    @property
    def real(self) -> Any:
        """The writer itself, imported and checked against this declaration on first use."""
        if self._real is None:
            from .writers import Writer

            real = _instance(self.target)
            if not isinstance(real, Writer) or real.name != self.name:
                raise PluginError(f"{self.target} (declared as output format {self.name!r}) is not a Writer "
                                  f"named {self.name!r}")
            self._real = real
        return self._real

    def accepts(self, model: Any) -> bool:
        return bool(self.real.accepts(model))

    def write(self, model: Any, staging_dir: Any, options: ConvertOptions) -> dict[str, Any]:
        return self.real.write(model, staging_dir, options)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_real", "target"):
            raise AttributeError(attr)
        return getattr(self.real, attr)

    def __repr__(self) -> str:
        return f"<Writer {self.name} (lazy: {'loaded' if self._real is not None else self.target})>"


class LazyPass:
    """A pass declared by name, level and place (what selection and ordering read); its module loads only if it runs.

    ``enabled_when(options) -> bool`` is an optional cheap gate (e.g. a flag) checked before loading;
    a pass it turns off is never imported. Once loaded, the real pass's own ``enabled`` and
    ``configured`` decide as before. The real pass must have the declared name, level, ``after``,
    ``before``, ``stage`` and ``required`` (and ``order``, deprecated, when one is given here).
    """

    def __init__(self, name: str, target: str, *, level: int = 1, after: tuple[str, ...] | str = (),
                 before: tuple[str, ...] | str = (), order: int | None = None,
                 enabled_when: Callable[[Any], bool] | None = None, stage: str = "pipeline",
                 required: bool = False) -> None:
        self.name = name
        self.target = target
        self.level = level
        self.stage = stage
        self.required = required
        self.after = _as_names(after)
        self.before = _as_names(before)
        #: deprecated integer place (third-party passes, one more release): only breaks ties
        self.order = 100 if order is None else order
        self._declared_order = order is not None
        self.enabled_when = enabled_when
        self._real: Any = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def load(self) -> Any:
        """The pass itself, imported and checked against this declaration on first use."""
        if self._real is None:
            real = _instance(self.target)
            if not callable(getattr(real, "run", None)):
                raise PluginError(f"{self.target} (declared as pass {self.name!r}) is not a Pass")
            fields = ["name", "level", "after", "before", "stage", "required"]
            fields += ["order"] if self._declared_order else []
            declared = tuple(getattr(self, f) for f in fields)
            defaults = {"stage": "pipeline", "required": False}
            actual = tuple(_as_names(getattr(real, f, ())) if f in ("after", "before")
                           else getattr(real, f, defaults.get(f)) for f in fields)
            if declared != actual:
                raise PluginError(f"{self.target} is pass ({', '.join(fields)}) = {actual}, but was declared as "
                                  f"{declared}; make the declaration match")
            self._real = real
        return self._real

    def enabled(self, options: object) -> bool:
        if self.enabled_when is not None and not self.enabled_when(options):
            return False
        return bool(self.load().enabled(options))

    def configured(self, options: object) -> Any:
        return self.load().configured(options)

    def run(self, graph: Any) -> Any:
        """The real pass's result (a PassResult; a third-party pass may still return a bool or int)."""
        return self.load().run(graph)

    def __repr__(self) -> str:
        return f"<Pass {self.name} (lazy: {'loaded' if self._real is not None else self.target})>"


def _as_names(names: Any) -> tuple[str, ...]:
    """A pass's ``after``/``before`` as a tuple (a bare string is one name)."""
    return (names,) if isinstance(names, str) else tuple(names or ())


def option_is_set(name: str, default: bool = False) -> Callable[[Any], bool]:
    """An ``enabled_when`` gate: the conversion option ``name`` is true (``default`` when absent)."""
    def gate(options: Any) -> bool:
        return bool(getattr(options, name, default))

    gate.__name__ = f"option_is_set({name!r})"
    return gate
