"""The whole plugin surface of tfjsconv.

Each hook receives a ``register`` callback; a plugin calls it once per thing it contributes. The
built-in frontends are plugins like any other, found through the ``tfjsconv`` entry-point group.
"""
from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("tfjsconv")
hookimpl = pluggy.HookimplMarker("tfjsconv")


@hookspec
def register_frontends(register: Callable) -> None:
    """Register :class:`tfjsconv.frontend.Frontend` objects, one per ``--input_format``."""


@hookspec
def register_ops(register: Callable) -> None:
    """Register custom ops (:class:`tfjsconv.ops.OpDef`) that the user implements in JS with ``tf.registerOp``."""


@hookspec
def register_op_mappings(register: Callable) -> None:
    """Register source-op translators: ``register(frontend_name, op_type, function, **options)``."""


@hookspec
def register_passes(register: Callable) -> None:
    """Register graph passes (:class:`tfjsconv.passes.Pass`)."""


@hookspec
def register_writers(register: Callable) -> None:
    """Register output writers (:class:`tfjsconv.writers.Writer`), one per ``--output_format``."""


@hookspec
def register_options(register: Callable) -> None:
    """Register extra ``tfjsconv convert`` flags: ``register("--input_layout", help=..., choices=..., default=...)``.

    Their values reach frontends, passes and writers in ``ConvertOptions.extra`` under the flag's
    name without dashes.
    """
