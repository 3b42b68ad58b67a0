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
    """Everything the plugins registered, collected once per manager."""

    def __init__(self) -> None:
        self.frontends: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}
        self.passes: list[Any] = []
        self.ops: list[Any] = []
        self.op_mappings: dict[tuple[str, str], OpMapping] = {}
        self.options: list[PluginOption] = []


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
        """Call every ``register_*`` hook once and collect the results."""
        if self._registry is None:
            self._registry = self._collect()
        return self._registry

    def _collect(self) -> Registry:
        from .frontend import Frontend
        from .ops import OpDef
        from .writers import Writer

        reg = Registry()
        for plugin_name, plugin in self.pm.list_name_plugin():
            hook_names = {h.name for h in self.pm.get_hookcallers(plugin) or []}

            def call(hook: str, register: Callable) -> None:
                if hook in hook_names:
                    getattr(plugin, hook)(register=register)

            def add_frontend(frontend: Any, _p: str = plugin_name) -> None:
                if not isinstance(frontend, Frontend) or not frontend.name:
                    raise PluginError(f"plugin {_p!r} registered {frontend!r}, which is not a named Frontend")
                _add_unique(reg.frontends, frontend, "input format", _p)

            def add_writer(writer: Any, _p: str = plugin_name) -> None:
                if not isinstance(writer, Writer) or not writer.name:
                    raise PluginError(f"plugin {_p!r} registered {writer!r}, which is not a named Writer")
                _add_unique(reg.writers, writer, "output format", _p)

            def add_op(op: Any, _p: str = plugin_name) -> None:
                if not isinstance(op, OpDef):
                    raise PluginError(f"plugin {_p!r} registered {op!r}, which is not an OpDef")
                reg.ops.append(dataclasses.replace(op, plugin=_p))

            def add_mapping(frontend: str, op_type: str, function: Callable, _p: str = plugin_name, **opts: Any) -> None:
                key = (frontend, op_type)
                # later registrations (third-party plugins load after built-ins) override earlier ones
                reg.op_mappings[key] = OpMapping(frontend, op_type, function, opts, _p)

            call("register_frontends", add_frontend)
            call("register_writers", add_writer)
            call("register_ops", add_op)
            call("register_op_mappings", add_mapping)
            call("register_passes", reg.passes.append)

            def add_option(flag: str, _p: str = plugin_name, **kwargs: Any) -> None:
                if not flag.startswith("--"):
                    raise PluginError(f"plugin {_p!r} registered option {flag!r}; options must start with --")
                reg.options.append(PluginOption(flag, kwargs, _p))

            call("register_options", add_option)
        return reg


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
