"""The plugin manager: loads built-in and third-party plugins through the ``tfjsconv`` entry points.

Built-in plugins are ordinary entry points in our own pyproject.toml; the core's own writers and
passes are registered as an internal plugin first, like pytest's and tox's defaults.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
from .entry_points import EntryPoint, entry_points
from .errors import PluginError

ENTRY_POINT_GROUP = "tfjsconv"
#: Comma-separated entry-point names to load (empty: none). Unset: load all.
LOAD_PLUGINS_ENV = "TFJSCONV_LOAD_PLUGINS"
INTERNAL_PLUGINS = ("tfjsconv.builtin",)


@dataclasses.dataclass
class PluginInfo:
    name: str
    version: str | None
    module: str
    hooks: list[str]


@dataclasses.dataclass
class OpMapping:
    frontend: str
    op_type: str
    function: Callable
    options: dict[str, Any]
    plugin: str


@dataclasses.dataclass
class PluginOption:
    flag: str
    kwargs: dict[str, Any]
    plugin: str


class Registry:
    """Everything the plugins registered, collected per table on first use.

    Each table calls only its own hook (``options`` -> ``register_options``), so building the CLI
    parser asks for flags without loading any frontend, pass or op mapping.
    """

    #: table -> the hook that fills it
    HOOKS = {"frontends": "register_frontends", "writers": "register_writers", "ops": "register_ops",
             "op_mappings": "register_op_mappings", "passes": "register_passes", "options": "register_options"}

    frontends: dict[str, Any]
    writers: dict[str, Any]
    passes: list[Any]
    ops: list[Any]
    op_mappings: dict[tuple[str, str], OpMapping]
    options: list[PluginOption]

    def __init__(self, collect: Callable[[str], Any] | None = None) -> None:
        self._collect_table = collect

    def __getattr__(self, table: str) -> Any:  # called once per table: the value is then an attribute
        if table not in Registry.HOOKS:
            raise AttributeError(table)
        collect = self.__dict__.get("_collect_table")
        value = collect(table) if collect is not None else _empty(table)
        setattr(self, table, value)
        return value


def _empty(table: str) -> Any:
    return {} if table in ("frontends", "writers", "op_mappings") else []


class PluginManager:
    """A pluggy manager that knows where each plugin came from and fails loudly on a broken one."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("tfjsconv")
        self.pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None
        for module_name in INTERNAL_PLUGINS:
            module = importlib.import_module(module_name)
            self._register(module, name=module_name, version=None)
        if load_entry_points:
            self.load_entry_points()

    def _register(self, plugin: Any, *, name: str, version: str | None) -> None:
        self.pm.register(plugin, name=name)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self._info[name] = PluginInfo(name, version, module, hooks)
        self._registry = None

    def register(self, plugin: Any, name: str | None = None, version: str | None = None) -> None:
        """Register an in-process plugin object or module (tests and notebooks use this)."""
        name = name or getattr(plugin, "__name__", repr(plugin))
        self._register(plugin, name=name, version=version)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as err:
            raise PluginError(f"plugin {name!r} defines hooks tfjsconv does not have: {err}") from None

    def load_entry_points(self) -> None:
        wanted = os.environ.get(LOAD_PLUGINS_ENV)
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        # Our own built-ins first, then third parties, so a third party's op mapping overrides ours.
        def order(ep: EntryPoint) -> tuple[bool, str]:
            return (ep.dist_name != "tfjsconv", ep.name)

        for ep in sorted(entry_points(ENTRY_POINT_GROUP), key=order):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist_label = f"{ep.dist_name} {ep.dist_version}" if ep.dist_name else "unknown distribution"
            try:
                plugin = ep.load()
            except Exception as err:  # a plugin's import error must name the plugin, not crash anonymously
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}, from {dist_label}) failed to load: {type(err).__name__}: {err}",
                    hint=f"fix or uninstall it, or set {LOAD_PLUGINS_ENV} to the plugins you want",
                ) from err
            self.register(plugin, name=ep.name, version=ep.dist_version)

    def plugins(self) -> list[PluginInfo]:
        return list(self._info.values())

    @property
    def registry(self) -> Registry:
        """What the plugins registered; each ``register_*`` hook is called once, when its table is first read."""
        if self._registry is None:
            self._registry = self._collect()
        return self._registry

    def _collect(self) -> Registry:
        return Registry(self._collect_table)

    def _collect_table(self, table: str) -> Any:
        """Call one ``register_*`` hook through pluggy and validate what each plugin registers.

        Going through ``pm.hook`` keeps pluggy's semantics (``tryfirst``/``trylast``, hook wrappers);
        each registration is credited to the plugin whose hook implementation made the call.
        """
        caller = getattr(self.pm.hook, Registry.HOOKS[table])
        owners: dict[Any, list[tuple[Any, str]]] = {}
        for impl in caller.get_hookimpls():
            owners.setdefault(_code_of(impl.function), []).append((impl.plugin, impl.plugin_name))
        value = _empty(table)
        adders: dict[str, Callable] = {}

        def register(*args: Any, **kwargs: Any) -> None:
            plugin = _calling_plugin(owners)
            if plugin not in adders:
                adders[plugin] = _adder(table, value, plugin)
            adders[plugin](*args, **kwargs)

        caller(register=register)
        return _resolved(table, value)


def _code_of(function: Callable) -> Any:
    return getattr(getattr(function, "__func__", function), "__code__", None)


def _calling_plugin(owners: dict[Any, list[tuple[Any, str]]]) -> str:
    """The plugin whose hook implementation is on the stack (its helpers may make the call).

    Two instances of one plugin class share the method's code; ``self`` tells them apart.
    """
    frame = sys._getframe(2)
    while frame is not None:
        candidates = owners.get(frame.f_code)
        if candidates:
            if len(candidates) == 1:
                return candidates[0][1]
            this = frame.f_locals.get("self")
            for plugin, name in candidates:
                if plugin is this:
                    return name
        frame = frame.f_back
    return "<unknown plugin>"


def _adder(table: str, value: Any, plugin: str) -> Callable:
    """The ``register`` callback one plugin's hook gets for ``table``."""
    if table == "frontends":
        def add_frontend(frontend: Any) -> None:
            from .frontend import Frontend

            if not isinstance(frontend, Frontend) or not frontend.name:
                raise PluginError(f"plugin {plugin!r} registered {frontend!r}, which is not a named Frontend")
            _add_unique(value, frontend, "input format", plugin)
        return add_frontend
    if table == "writers":
        def add_writer(writer: Any) -> None:
            from .lazy import LazyWriter

            if isinstance(writer, LazyWriter):
                _add_unique(value, writer, "output format", plugin)
                return
            from .writers import Writer

            if not isinstance(writer, Writer) or not writer.name:
                raise PluginError(f"plugin {plugin!r} registered {writer!r}, which is not a named Writer")
            _add_unique(value, writer, "output format", plugin)
        return add_writer
    if table == "ops":
        def add_op(op: Any) -> None:
            from .ops import OpDef

            if not isinstance(op, OpDef):
                raise PluginError(f"plugin {plugin!r} registered {op!r}, which is not an OpDef")
            value.append(dataclasses.replace(op, plugin=plugin))
        return add_op
    if table == "op_mappings":
        def add_mapping(frontend: str, op_type: str, function: Callable, *, override: bool = False,
                        **opts: Any) -> None:
            value.setdefault((frontend, op_type), []).append(
                (override, OpMapping(frontend, op_type, function, opts, plugin)))
        return add_mapping
    if table == "options":
        def add_option(flag: str, **kwargs: Any) -> None:
            if not flag.startswith("--"):
                raise PluginError(f"plugin {plugin!r} registered option {flag!r}; options must start with --")
            value.append(PluginOption(flag, kwargs, plugin))
        return add_option
    def add_pass(pass_: Any, *, override: bool = False) -> None:  # a Pass or a tfjsconv.lazy.LazyPass
        name = getattr(pass_, "name", "")
        if not name:
            raise PluginError(f"plugin {plugin!r} registered {pass_!r}, which is not a named Pass")
        value.append((override, plugin, pass_))
    return add_pass


def _resolved(table: str, value: Any) -> Any:
    """Same-named passes and op mappings: one must say ``override=True``, else both plugins are named."""
    if table == "passes":
        chosen: dict[str, tuple[bool, str, Any]] = {}
        for entry in value:
            name = entry[2].name
            chosen[name] = _winner(chosen[name], entry, f"pass {name!r}") if name in chosen else entry
        return [entry[2] for entry in chosen.values()]
    if table == "op_mappings":
        resolved = {}
        for key, entries in value.items():
            winner = entries[0]
            for entry in entries[1:]:
                winner = _winner((winner[0], winner[1].plugin, winner[1]), (entry[0], entry[1].plugin, entry[1]),
                                 f"the {key[0]} op mapping {key[1]!r}")
                winner = (winner[0], winner[2])
            resolved[key] = winner[1]
        return resolved
    return value


def _winner(first: tuple[bool, str, Any], second: tuple[bool, str, Any], what: str) -> tuple[bool, str, Any]:
    """Of two registrations of one name, the one marked ``override=True``; anything else is an error."""
    if first[0] != second[0]:
        return first if first[0] else second
    if first[1] == second[1]:
        raise PluginError(f"plugin {first[1]!r} registers {what} twice")
    if first[0]:
        raise PluginError(f"plugins {first[1]!r} and {second[1]!r} both override {what}",
                          hint="uninstall one of them, or set TFJSCONV_LOAD_PLUGINS to the plugins you want")
    raise PluginError(f"plugins {first[1]!r} and {second[1]!r} both register {what}",
                      hint="the one that should replace the other registers it with override=True")


def _add_unique(table: dict[str, Any], item: Any, kind: str, plugin: str) -> None:
    if item.name in table:
        raise PluginError(f"plugin {plugin!r} registers {kind} {item.name!r}, which another plugin already registered")
    table[item.name] = item


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, created on first use."""
    global _default
    if _default is None:
        _default = PluginManager()
    return _default


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests install plugins and need a fresh look)."""
    global _default
    _default = None
