"""Which Keras layer classes lower to IR ops, and how: one function per class, registered by family module.

A lowering is ``fn(ctx: LayerContext) -> Value``. An optional ``check(config) -> str | None`` names
an option the lowering does not cover yet (``data_format='channels_first'``), so the frontend can
fall back to the TensorFlow path before it opens the weights. A lowering may still raise
:class:`Unsupported` when only the shapes show a gap; the caller then falls back too.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfjsconv.ir import Value

    from .context import LayerContext

Check = Callable[[dict[str, Any]], "str | None"]


class Unsupported(Exception):
    """A layer (or an option of one) the lowering does not cover: convert through TensorFlow instead."""


#: How long the list of gaps in one refusal may grow before the rest is counted (``(and N more)``).
GAPS_LINE_LIMIT = 600


class UncoveredLayers(Unsupported):
    """Every gap the walk found in one model (``gaps``), so that one refusal names them all."""

    def __init__(self, gaps: list[str]) -> None:
        self.gaps = list(gaps)
        super().__init__(named_gaps(self.gaps))


def named_gaps(gaps: list[str], limit: int = GAPS_LINE_LIMIT) -> str:
    """``a, b (and N more)``: the gaps in order, as many as fit in ``limit`` characters (always the first)."""
    shown: list[str] = []
    for gap in gaps:
        if shown and len(", ".join([*shown, gap])) > limit:
            break
        shown.append(gap)
    rest = len(gaps) - len(shown)
    return ", ".join(shown) + (f" (and {rest} more)" if rest else "")


@dataclasses.dataclass(frozen=True)
class LayerLowering:
    lower: Callable[["LayerContext"], "Value"]
    check: Check | None = None
    #: Call keyword arguments the lowering reads as tensors (``attention_mask``); see ``LayerContext.call_kwargs``.
    keywords: tuple[str, ...] = ()


LOWERINGS: dict[str, LayerLowering] = {}


def lowers(*class_names: str, check: Check | None = None, channels_first: bool = False,
           keywords: tuple[str, ...] = ()) -> Callable:
    """Register the decorated function as the lowering of ``class_names``.

    With ``channels_first``, the function is written for channels_last and a channels_first call of the
    layer runs it between transposes (:func:`.data_format.through_channels_last`). ``keywords`` names the
    call keyword arguments the lowering takes as tensors (others passed as tensors make the walk fall back).
    """
    def register(fn: Callable) -> Callable:
        lowering, gate = fn, check
        if channels_first:
            from .data_format import through_channels_last, with_channels_last

            lowering, gate = through_channels_last(fn), with_channels_last(check)
        for name in class_names:
            LOWERINGS[name] = LayerLowering(lowering, gate, tuple(keywords))
        return fn
    return register


def loaded_lowerings() -> dict[str, LayerLowering]:
    """The registry, with every family module imported (each registers its classes on import)."""
    from . import (activations, conv, core, merging, normalization, pooling, preprocessing,  # noqa: F401
                   recurrent, reshaping)
    from . import attention, conv_lstm, lookups, wrappers  # noqa: F401
    from . import op_layers  # noqa: F401
    from . import (op_layers_arrays, op_layers_conv_pool, op_layers_elementwise, op_layers_image,  # noqa: F401
                   op_layers_linalg, op_layers_matrix, op_layers_nn, op_layers_tf_more)
    from . import op_layers_scatter  # noqa: F401
    from . import op_layers_k3_more  # noqa: F401
    from . import op_layers_k3_gaps  # noqa: F401
    from . import masking  # noqa: F401
    from . import adaptive_pooling, grouped_query_attention, rnn_cells  # noqa: F401
    from . import lookup_tables, text_vectorization  # noqa: F401
    from . import pipeline  # noqa: F401
    from . import locally_connected  # noqa: F401
    from . import audio, op_layers_fourier  # noqa: F401
    from . import clahe  # noqa: F401
    from . import op_layers_tf_gaps  # noqa: F401
    from . import op_layers_complex  # noqa: F401
    from . import stft_spectrogram  # noqa: F401
    from . import bounding_boxes  # noqa: F401

    return LOWERINGS


def channels_last_only(config: dict[str, Any]) -> str | None:
    """Keras is channels_last by default; channels_first layers are left to the TensorFlow path for now."""
    if config.get("data_format", "channels_last") not in (None, "channels_last"):
        return f"data_format={config.get('data_format')!r}"
    return None
