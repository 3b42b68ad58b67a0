"""Keras 3 LoRA layers (``lora_rank``) read from a whole-model ``.h5`` file: their kernel merged as Keras merges it.

A ``.keras`` archive saves a LoRA layer's kernel already merged (``save_own_variables``), so it reads as a plain
layer's. A Keras 3 ``.h5`` file keeps the frozen kernel and the two factors apart, in the order Keras's
``.h5`` loader assigns them by position (``legacy_h5_format._legacy_weights``: trainable weights first, then the
others; all in creation order when the layer, or a wrapper or nested model holding it, is not trainable; the
root model's own flag does not count). Keras's ``kernel`` property then computes, in float32::

    kernel + (lora_alpha / lora_rank) · matmul(a, b)      a: kernel.shape[:-1] + (rank,), b: (rank, kernel.shape[-1])

which is the same formula (``matmul`` broadcasting over a conv's or an EinsumDense's leading kernel axes) for every
class that has LoRA: Dense, EinsumDense, Conv1D/2D/3D, Embedding and ReversibleEmbedding (``embeddings``). The merged
kernel stands in for the kernel (in the plain layer's weight order), so the layer lowerings stay as they are; it is
computed per layer when the writer loads it (no second copy of the model is held). The float32 steps are Keras's (the product, scaled,
added to the kernel); rank 1 is bit for bit Keras's, but TensorFlow's matmul sums several products in an order
that depends on the kernel path it takes (FMA in vector blocks, plain in the tail), so from rank 2 on a weight may
differ from Keras's by a rounding step of the sum (2 ulps of ``|kernel| + scale·|a|@|b|`` at most in the tests).

Keras 3.15's ``Dense`` and ``Embedding`` (ReversibleEmbedding too) ``build`` call ``enable_lora(rank)`` without
``lora_alpha``, so a loaded layer computes with ``lora_alpha = lora_rank`` (scale 1), whatever its config says;
``EinsumDense`` and the convolutions pass the config's ``lora_alpha`` on. A ``.h5`` Dense or Embedding whose config's ``lora_alpha`` differs
from its rank (only ``enable_lora(rank, lora_alpha=…)`` on a built layer saves one) therefore computed other numbers
before it was saved than Keras computes after loading it: it stays refused (:func:`lora_gap`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.errors import InputError
from tfjsconv.ir import LazyArray, materialize

from .registry import Unsupported

#: The layer classes with LoRA: (kernel, factor a, factor b) weight names.
LORA_WEIGHTS = {
    **{cls: ("kernel", "lora_kernel_a", "lora_kernel_b") for cls in ("Dense", "EinsumDense", "Conv1D", "Conv2D",
                                                                     "Conv3D")},
    # ReversibleEmbedding is an Embedding (with LoRA Keras builds only its tied form, which reverses by embeddingsᵀ)
    **{cls: ("embeddings", "lora_embeddings_a", "lora_embeddings_b") for cls in ("Embedding", "ReversibleEmbedding")},
}
#: Classes whose ``build`` drops ``lora_alpha`` (Keras 3.15: ``enable_lora(self.lora_rank)``): loaded, they scale by 1.
_ALPHA_DROPPED = frozenset({"Dense", "Embedding", "ReversibleEmbedding"})
#: The weight a LoRA layer may hold beside its kernel and factors (the embeddings have none).
_OTHERS = {"Embedding": (), "ReversibleEmbedding": ()}


def lora_gap(cls: str, config: dict[str, Any]) -> str | None:
    """Why a LoRA layer read from a ``.h5`` file (factors apart) is not lowered, or None: a class without LoRA in
    Keras 3, or a Dense/Embedding whose saved ``lora_alpha`` Keras drops when it loads the file (module docstring)."""
    if cls not in LORA_WEIGHTS:
        return "lora_rank"
    rank, alpha = config.get("lora_rank"), config.get("lora_alpha")
    if cls in _ALPHA_DROPPED and alpha is not None and alpha != rank:
        return (f"lora_alpha {alpha} beside lora_rank {rank} in a .h5 file: Keras 3 loads the layer with lora_alpha "
                "= lora_rank, so it computes other numbers than the model that was saved")
    return None


class LoraKernel:
    """``kernel + scale · matmul(a, b)`` in float32, as Keras's ``kernel`` property computes it, when loaded."""

    def __init__(self, kernel: np.ndarray | LazyArray, a: np.ndarray | LazyArray, b: np.ndarray | LazyArray,
                 scale: float) -> None:
        self.kernel, self.a, self.b, self.scale = kernel, a, b, scale
        self.shape = tuple(int(d) for d in kernel.shape)
        self.dtype = np.dtype("float32")

    def load(self) -> np.ndarray:
        kernel, a, b = (materialize(w).astype(np.float32) for w in (self.kernel, self.a, self.b))
        # Keras multiplies the float32 product by the Python scale (a float32 constant), then adds the kernel
        return np.add(kernel, np.float32(self.scale) * np.matmul(a, b), dtype=np.float32)


def _trainable(entries: list[dict[str, Any]]) -> bool:
    """Whether Keras's ``.h5`` loader lists the layer's weights trainable first: only when the layer and every layer
    holding it (a wrapper, a nested model) are trainable; a non-trainable container makes its layers so when Keras
    builds it from its config (the root model's flag is not passed on: the caller leaves it out)."""
    return all((e.get("config") or {}).get("trainable", True) is not False for e in entries)


def _entries(model_config: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The model and the layer entries along ``path``, each TimeDistributed followed by the layer it wraps."""
    from .weights import entry_at  # weights imports this module

    entries = [model_config]
    for depth in range(1, len(path) + 1):
        entry = entry_at(model_config, path[:depth])
        if entry is None:
            return None
        entries.append(entry)
        while entry.get("class_name") == "TimeDistributed" and isinstance((entry.get("config") or {}).get("layer"),
                                                                          dict):
            entry = entry["config"]["layer"]
            entries.append(entry)
    return entries


def merged_lora_weights(model_config: dict[str, Any], path: tuple[str, ...], arrays: list[Any],
                        where: str) -> list[Any]:
    """``arrays`` (a layer's weights in a ``.h5`` file, in Keras's load order) with a LoRA layer's kernel and
    factors replaced by the merged kernel, in the plain layer's order (kernel, then bias); other layers' as given."""
    entries = _entries(model_config, path)
    layer = entries[-1] if entries else {}
    config = layer.get("config") or {}
    cls = str(layer.get("class_name"))
    if not config.get("lora_rank"):
        return arrays
    why = lora_gap(cls, config)
    if why:  # a wrapped layer's (a top-level one's is a gap of the walk's config check already)
        outer = entries[len(path)] if entries else layer
        raise Unsupported(f"layer {path[-1]!r} ({cls}: {why})" if outer is layer else
                          f"layer {path[-1]!r} ({outer.get('class_name')}: wrapped {cls} "
                          f"{config.get('name')!r}: {why})")
    name = f"{where}: layer {'/'.join(path)!r} ({cls})"
    rank, scale = _rank_and_scale(cls, config, name)
    kernel_name, a_name, b_name = LORA_WEIGHTS[cls]
    others = list(_OTHERS.get(cls, ("bias",)))[:max(len(arrays) - 3, 0)]
    # the root model's own flag is not applied to its layers when Keras loads the file; a nested model's is
    order = [*others, a_name, b_name, kernel_name] if _trainable(entries[1:]) else \
        [kernel_name, *others, a_name, b_name]
    names = [str(getattr(w, "path", "")).rsplit("/", 1)[-1] for w in arrays]
    if names != order:
        raise InputError(f"{name} holds the weights {names}, not {order} in the order Keras loads a LoRA layer's "
                         "from a .h5 file", hint="the file is corrupt or was edited; save the model again with Keras")
    held = dict(zip(names, arrays, strict=True))
    kernel, a, b = held[kernel_name], held[a_name], held[b_name]
    kernel_shape = tuple(kernel.shape)
    if len(kernel_shape) < 2 or tuple(a.shape) != (*kernel_shape[:-1], rank) or \
            tuple(b.shape) != (rank, kernel_shape[-1]):
        raise InputError(f"{name} has LoRA factors of shapes {list(a.shape)} and {list(b.shape)}, which do not fit "
                         f"its {kernel_name} of shape {list(kernel_shape)} and lora_rank {rank} (expected "
                         f"{[*kernel_shape[:-1], rank]} and {[rank, *kernel_shape[-1:]]})",
                         hint="the file is corrupt or was edited; save the model again with Keras")
    return [LoraKernel(kernel, a, b, scale), *(held[n] for n in others)]


def _rank_and_scale(cls: str, config: dict[str, Any], name: str) -> tuple[int, float]:
    """The rank and Keras's ``lora_alpha / lora_rank`` (alpha defaults to the rank; Dense and Embedding always scale
    by 1, :func:`lora_gap` refuses a saved alpha they drop)."""
    rank, alpha = config.get("lora_rank"), config.get("lora_alpha")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise InputError(f"{name} has lora_rank {rank!r}, not a positive integer",
                         hint="the file is corrupt or was edited; save the model again with Keras")
    if alpha is None or cls in _ALPHA_DROPPED:
        return rank, 1.0
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha):
        raise InputError(f"{name} has lora_alpha {alpha!r}, not a number",
                         hint="the file is corrupt or was edited; save the model again with Keras")
    return rank, alpha / rank
