"""The plugin manager: loads built-in and third-party plugins through the ``tfjsconv`` entry points.

Built-in plugins are ordinary entry points in our own pyproject.toml; the core's own writers and
passes are registered as an internal plugin first, like pytest's and tox's defaults.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
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
        def order(ep: importlib.metadata.EntryPoint) -> tuple[bool, str]:
            dist = getattr(ep, "dist", None)
            return (dist is None or dist.name != "tfjsconv", ep.name)

        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=order):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            dist_label = f"{dist.name} {dist.version}" if dist else "unknown distribution"
            try:
                plugin = ep.load()
            except Exception as err:  # a plugin's import error must name the plugin, not crash anonymously
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}, from {dist_label}) failed to load: {type(err).__name__}: {err}",
                    hint=f"fix or uninstall it, or set {LOAD_PLUGINS_ENV} to the plugins you want",
                ) from err
            self.register(plugin, name=ep.name, version=dist.version if dist else None)

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
        """Call one ``register_*`` hook of every plugin, in load order, and validate what they register."""
        hook = Registry.HOOKS[table]
        value = _empty(table)
        for plugin_name, plugin in self.pm.list_name_plugin():
            if hook in {h.name for h in self.pm.get_hookcallers(plugin) or []}:
                getattr(plugin, hook)(register=_adder(table, value, plugin_name))
        return value


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
        def add_mapping(frontend: str, op_type: str, function: Callable, **opts: Any) -> None:
            # later registrations (third-party plugins load after built-ins) override earlier ones
            value[(frontend, op_type)] = OpMapping(frontend, op_type, function, opts, plugin)
        return add_mapping
    if table == "options":
        def add_option(flag: str, **kwargs: Any) -> None:
            if not flag.startswith("--"):
                raise PluginError(f"plugin {plugin!r} registered option {flag!r}; options must start with --")
            value.append(PluginOption(flag, kwargs, plugin))
        return add_option
    return value.append  # passes: a Pass or a tfjsconv.lazy.LazyPass


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
