"""MultiHeadAttention's masks over other ``attention_axes``, lined up with the scores exactly as Keras lines them up.

Keras (3 and tf_keras) builds one bool mask from its pieces (``attention_mask``; the query's Keras mask expanded
to ``[B, .., 1]``, the value's and key's to ``[B, .., 1, S]`` in Keras 3 or at axes 2 and 1 in tf_keras; the causal
and sliding-window bands ``[1, T0, S0]`` over axis 1 of query and value), ANDed with NumPy broadcasting (aligned
from the right), then ``_masked_softmax`` expands it at axis ``-2·len(attention_axes) - 1`` up to the rank of the
scores ``[B, <batch dims>, <query attention axes>, <key attention axes>]`` (the batch dims being the other axes
and the heads) and the Softmax layer broadcasts it against them (again from the right). Over several attention
axes, or one that is not the last, a piece's axes then land on axes of the scores that mean something else; that
is still what Keras computes, so it is followed step by step on static shapes.

Each piece is then laid out as ``[B|1, G|1, T|1, S|1]``, the scores seen as ``[B, G, T, S]`` (``G`` the batch dims
after ``B``, ``T`` and ``S`` the flattened attention axes): a Reshape of its sizes per group, and one GatherV2 with
constant indices per group where it covers only some of the group's axes (broadcast over the others), so every
op stays at rank 4 (webgl). What Keras cannot broadcast (it raises) or could only for some batch sizes is refused
by name. Over sizes known only at run time the same steps run on run-time shapes (:func:`runtime_keras_keep`):
the pieces ANDed by ``LogicalAnd`` (which broadcasts, and fails, as Keras's ``&`` does), expanded as Keras expands
them, then ``BroadcastTo`` the scores' run-time shape and folded per group (a mask axis longer than the scores'
grows them rather than fail: the probabilities' reshape to the scores' shape fails there, as Keras raises).
tf_keras's non-bool ``attention_mask`` with nothing to AND it with reaches its Softmax as float32 weights rather than
bool (:func:`attention_mask_value`); being the only piece, it is laid out by the same Reshape / GatherV2 /
BroadcastTo steps, which keep its dtype.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .attention_layout import AttentionLayout, sizes_at
from .context import LayerContext, broadcast_shape
from .dynamic_shape import runtime_range
from .masking import tf_kept
from .registry import Unsupported
from .requested_backends import rank_6_backends_requested
from .runtime_fold import merge_axes

Dim = int | None


@dataclass(frozen=True)
class MaskPiece:
    """One bool part of Keras's attention mask: a tensor (or a constant) and the shape Keras gives it."""

    value: Value | np.ndarray
    shape: tuple[Dim, ...]
    label: str


@dataclass(frozen=True)
class ScoresGroups:
    """Keras's scores ``[B, *batch, *query, *key]`` seen as ``[B, G, T, S]``."""

    batch: tuple[int, ...]
    query: tuple[int, ...]
    key: tuple[int, ...]

    @property
    def shape(self) -> tuple[Dim, ...]:
        return (None, *self.batch, *self.query, *self.key)

    def group_of(self, axis: int) -> int:
        """1, 2 or 3: the group (``G``, ``T``, ``S``) of a scores axis after the batch."""
        if axis <= len(self.batch):
            return 1
        return 2 if axis <= len(self.batch) + len(self.query) else 3

    def group_axes(self, group: int) -> range:
        first = 1 + (0, len(self.batch), len(self.batch) + len(self.query))[group - 1]
        return range(first, first + len(((), self.batch, self.query, self.key)[group]))


def _rank_6_names() -> str:
    """The requested backends a rank-7 op stops, for a refusal's text (``webgl``, ``webgl/webgpu``)."""
    return "/".join(rank_6_backends_requested())


def _refuse(ctx: LayerContext, why: str) -> Unsupported:
    return Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): {why}")


def _merged_dim(ctx: LayerContext, dims: list[Dim], shapes: list[tuple[Dim, ...]]) -> Dim:
    """One axis of the pieces ANDed with broadcasting; a batch meeting a size is batch-dependent, so refused."""
    sizes = {d for d in dims if d != 1}
    if len(sizes) > 1:
        raise _refuse(ctx, f"attention mask parts of shapes {[list(s) for s in shapes]} that Keras cannot "
                           f"broadcast together (for every batch size)")
    return sizes.pop() if sizes else 1


def keras_keep(ctx: LayerContext, pieces: list[MaskPiece], groups: ScoresGroups, attention_axes: int) -> Value | None:
    """The AND of ``pieces`` as Keras applies it to the scores, laid out ``[B|1, G|1, T|1, S|1]``; None without
    pieces."""
    if not pieces:
        return None
    scores = groups.shape
    rank = max(len(p.shape) for p in pieces)
    if rank > len(scores):
        raise _refuse(ctx, f"an attention mask of rank {rank} for scores of rank {len(scores)} (Keras raises)")
    shapes = [p.shape for p in pieces]
    merged = [_merged_dim(ctx, [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0], shapes)
              for i in range(rank)]
    labels: list[int | None] = list(range(rank))  # _masked_softmax's expand_dims, as TensorFlow reads the axis
    expansion = -2 * attention_axes - 1
    while len(labels) < len(scores):
        at = len(labels) + 1 + expansion
        if at < 0:
            raise _refuse(ctx, f"an attention mask of shape {merged} that Keras expands at axis {expansion} for "
                               f"{attention_axes} attention axes (Keras raises)")
        labels.insert(at, None)
    where = {label: axis for axis, label in enumerate(labels) if label is not None}
    for axis, label in enumerate(labels):
        dim = 1 if label is None else merged[label]
        if not (dim == 1 or (dim is None and axis == 0) or (dim is not None and axis > 0 and dim == scores[axis])):
            raise _refuse(ctx, f"an attention mask of shape {merged} lined up as "
                               f"{[1 if la is None else merged[la] for la in labels]} with scores of shape "
                               f"{list(scores)} (Keras cannot broadcast it for every batch size)")
    keep: Value | None = None
    for piece in pieces:
        offset = rank - len(piece.shape)
        axes = [where[offset + j] for j in range(len(piece.shape))]
        part = _laid_out(ctx, piece, axes, groups)
        keep = part if keep is None else ctx.op("LogicalAnd", [keep, part], dtype=DType.BOOL,
                                                shape=broadcast_shape(keep.shape, part.shape),
                                                label=f"mask_and_{piece.label}")
    return keep


def _gather_indices(groups: ScoresGroups, group: int, covered: list[tuple[int, int]]) -> np.ndarray:
    """For each position of a group (row-major over its axes), the flat position in the piece's axes of it."""
    axes = groups.group_axes(group)
    full = [groups.shape[a] for a in axes]
    grid = np.indices(full).reshape(len(full), -1)
    coords = [grid[axes.index(axis)] for axis, _ in covered]
    return np.ravel_multi_index(coords, [size for _, size in covered]).astype(np.int32)


def _laid_out(ctx: LayerContext, piece: MaskPiece, axes: list[int], groups: ScoresGroups) -> Value:
    """One piece as ``[B|1, G|1, T|1, S|1]``: its sizes per group, broadcast over the group's other axes."""
    batch: Dim = 1
    covered: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 3: []}
    for axis, dim in zip(axes, piece.shape):
        if dim is None:
            batch = None  # lined up with the scores' batch (checked)
        elif dim != 1:
            covered[groups.group_of(axis)].append((axis, int(dim)))
    sizes = [int(np.prod([d for _, d in covered[g]], dtype=np.int64)) for g in (1, 2, 3)]
    constant = isinstance(piece.value, np.ndarray)
    if constant:
        x: Value | np.ndarray = np.asarray(piece.value, dtype=bool).reshape(1, *sizes)
    else:
        x = ctx.reshape(piece.value, [batch, *sizes], f"{piece.label}/grouped")
    for group in (1, 2, 3):
        full = int(np.prod([groups.shape[a] for a in groups.group_axes(group)], dtype=np.int64))
        if sizes[group - 1] in (1, full):
            continue
        index = _gather_indices(groups, group, covered[group])
        if constant:
            x = np.take(x, index, axis=group)
        else:
            shape = list(ctx.shape(x))
            shape[group] = full
            x = ctx.op("GatherV2", [x, ctx.ints(index, f"{piece.label}/spread_{group}_indices"),
                                    ctx.ints(group, f"{piece.label}/spread_{group}_axis")],
                       {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                       dtype=x.dtype, shape=tuple(shape), label=f"{piece.label}/spread_{group}")
    return ctx.const(np.ascontiguousarray(x), piece.label) if constant else x


def causal_keep(rows: int, cols: int) -> np.ndarray:
    """Keras's causal mask: query step ``i`` sees key steps ``j <= i`` (``band_part(ones, -1, 0)``)."""
    return np.tril(np.ones((rows, cols), dtype=bool))


def as_bool(ctx: LayerContext, mask: Value, *, label: str) -> Value:
    """A mask tensor as bool, as TensorFlow's ``cast(mask, bool)``: nonzero kept, a float's subnormals masked
    (:func:`.masking.tf_kept`)."""
    if mask.dtype == DType.BOOL:
        return mask
    return tf_kept(ctx.graph, mask, f"{ctx.name}/{label}")


def sliding_window_keep(rows: int, cols: int, window: int) -> np.ndarray:
    """Keras's sliding-window band: query step ``i`` sees key steps ``j`` with ``|i - j| < window``."""
    return np.abs(np.arange(rows)[:, None] - np.arange(cols)[None, :]) < window



def _attention_mask_piece(ctx: LayerContext, attention_mask: Value, input_masks: tuple[Value | None, ...],
                          banded: bool) -> MaskPiece:
    """The ``attention_mask`` piece as Keras's softmax reads it (:func:`attention_mask_value`)."""
    return MaskPiece(attention_mask_value(ctx, attention_mask, input_masks, banded), tuple(ctx.shape(attention_mask)),
                     "attention_mask")


def attention_mask_value(ctx: LayerContext, attention_mask: Value, input_masks: tuple[Value | None, ...],
                         banded: bool) -> Value:
    """``attention_mask`` as the softmax reads it. Keras 3, and tf_keras when it ANDs the mask with a Keras or causal
    mask, bool-cast it (nonzero kept). tf_keras hands a non-bool mask alone to its Softmax as it is: float32
    weights, ``scores + (1 - w)·-1e9`` (2 adds +1e9, NaN gives NaN: :func:`.attention.masked_softmax`'s adder; under
    a float16 policy ``w`` rounded to float16 and ``-1e9`` float16's ``-32752``, each step rounded), or with
    ``softmax_robust_masking`` ``w > 0.5`` kept. A lone weights piece is laid out as a bool one would be."""
    if ctx.keras3 or attention_mask.dtype == DType.BOOL or banded or any(m is not None for m in input_masks):
        return as_bool(ctx, attention_mask, label="attention_mask")
    shape, dtype = ctx.shape(attention_mask), attention_mask.dtype
    if dtype not in (DType.FLOAT32, DType.INT32):
        name = dtype.name.lower()
        raise _refuse(ctx, f"{'an' if name[0] in 'aeiou' else 'a'} {name} attention_mask in tf_keras (its Softmax "
                      "weighs the scores by it)")
    if ctx.config.get("softmax_robust_masking"):
        if dtype != DType.FLOAT32:  # tf.constant(0.5, dtype=int32) raises
            raise _refuse(ctx, "an int32 attention_mask with softmax_robust_masking (Keras raises)")
        return ctx.op("Greater", [attention_mask, ctx.floats(0.5, "attention_mask_half")], dtype=DType.BOOL,
                      shape=shape, label="attention_mask_kept")
    if dtype == DType.FLOAT32:
        return attention_mask
    return ctx.op("Cast", [attention_mask], {"SrcT": dtype, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, shape=shape, label="attention_mask_float")


def mha_mask_pieces(ctx: LayerContext, attention_mask: Value | None, input_masks: tuple[Value | None, ...],
                    causal: bool, window: int | None, band_steps: tuple[int, int]) -> list[MaskPiece]:
    """Keras's ``_compute_attention_mask`` as pieces: ``attention_mask`` (bool-cast), the query's / value's / key's
    Keras masks expanded as the saving flavour does (Keras 3 at -1 / -2, tf_keras at 2 / 1), the causal and
    sliding-window bands ``[1, T0, S0]`` over ``band_steps`` (axis 1 of query and value)."""
    pieces: list[MaskPiece] = []
    if attention_mask is not None:
        pieces.append(_attention_mask_piece(ctx, attention_mask, input_masks, banded=causal))
    for mask, is_query, label in zip(input_masks, (True, False, False), ("query_mask", "value_mask", "key_mask")):
        if mask is None:
            continue
        shape = list(ctx.shape(mask))
        if len(shape) < 2:
            raise _refuse(ctx, f"a {label} of shape {shape}")
        if ctx.keras3:
            at = len(shape) if is_query else len(shape) - 1
        else:  # ``mask[:, :, tf.newaxis]`` and ``mask[:, tf.newaxis, :]``
            at = 2 if is_query else 1
        shape.insert(at, 1)
        pieces.append(MaskPiece(as_bool(ctx, mask, label=f"{label}_bool"), tuple(shape), label))
    rows, cols = band_steps
    if causal:
        pieces.append(MaskPiece(causal_keep(rows, cols)[None], (1, rows, cols), "causal_mask"))
    if window is not None:
        pieces.append(MaskPiece(sliding_window_keep(rows, cols, int(window))[None], (1, rows, cols),
                                "sliding_window_mask"))
    return pieces


def runtime_bands(ctx: LayerContext, query: Value, value: Value, *, causal: bool,
                  window: int | None) -> list[Value]:
    """The causal and sliding-window bands ``[T, S]`` of steps known only at run time, from ``tf.range`` of the
    query's and value's lengths (axis 1): Keras's ``cumsum`` rows ``>=`` columns, ``|i - j| < window``. As
    ``[T, S]`` they broadcast from the right as Keras's ``[1, T, S]`` (or ``[1, 1, T, S]``) do."""
    if not causal and window is None:
        return []
    i32 = DType.INT32
    rows = ctx.expand_dims(runtime_range(ctx, query, 1, "query_positions"), 1, "query_position_rows")
    cols = runtime_range(ctx, value, 1, "value_positions")
    shape = (ctx.shape(query)[1], ctx.shape(value)[1])
    bands = []
    if causal:
        bands.append(ctx.op("GreaterEqual", [rows, cols], dtype=DType.BOOL, shape=shape, label="causal_mask"))
    if window is not None:
        distance = ctx.op("Abs", [ctx.op("Sub", [rows, cols], dtype=i32, shape=shape, label="step_offsets")],
                          dtype=i32, shape=shape, label="step_distances")
        # a window past int32 keeps every step (no distance reaches it): clamped, the band is the same
        bands.append(ctx.op("Less", [distance, ctx.ints(min(int(window), 2**31 - 1), "sliding_window")],
                            dtype=DType.BOOL, shape=shape, label="sliding_window_mask"))
    return bands


def runtime_keep(ctx: LayerContext, attention_mask: Value | None, input_masks: tuple[Value | None, ...],
                 bands: list[Value]) -> Value | None:
    """Keras's attention mask of a rank-3 attention (the default axes) over lengths known only at run time, ready
    to broadcast against the scores ``[B, heads, T, S]``; None without pieces.

    Keras ANDs ``attention_mask`` (bool-cast), the query's Keras mask as ``[B, T, 1]``, the value's and key's as
    ``[B, 1, S]`` and the bands with broadcasting from the right, then expands a rank-3 result at axis 1 (``-3``);
    the same ops here, on run-time shapes. (A per-head ``[B, heads, T, S]`` mask beside a Keras mask, whose batch
    Keras lines up with the heads, goes through :func:`runtime_keras_keep`.)
    """
    parts: list[Value] = []
    if attention_mask is not None:
        shape = ctx.shape(attention_mask)
        if len(shape) > 4:
            raise _refuse(ctx, f"an attention mask of rank {len(shape)} for scores of rank 4 (Keras raises)")
        parts.append(attention_mask_value(ctx, attention_mask, input_masks, bool(bands)))
    for mask, axis, label in zip(input_masks, (2, 1, 1), ("query_mask", "value_mask", "key_mask")):
        if mask is None:
            continue
        if len(ctx.shape(mask)) != 2:
            raise _refuse(ctx, f"a {label} of shape {list(ctx.shape(mask))} over unknown steps")
        parts.append(ctx.expand_dims(as_bool(ctx, mask, label=f"{label}_bool"), axis, f"{label}_steps"))
    parts += bands
    return all_kept(ctx, parts)


def all_kept(ctx: LayerContext, parts: list[Value]) -> Value | None:
    """The AND of every keep-mask piece (None when there is none), a rank-3 result given a heads axis at 1."""
    if not parts:
        return None
    keep = parts[0]
    for i, part in enumerate(parts[1:]):
        keep = ctx.op("LogicalAnd", [keep, part], shape=broadcast_shape(keep.shape, part.shape), dtype=DType.BOOL,
                      label=f"mask_and_{i}")
    return ctx.expand_dims(keep, 1, "mask_heads") if len(ctx.shape(keep)) == 3 else keep


def folded_runtime_keep(ctx: LayerContext, attention_mask: Value | None, input_masks: tuple[Value | None, ...],
                        layout: AttentionLayout, query_value: tuple[Value, Value], *, causal: bool,
                        window: int | None) -> Value | None:
    """The causal and sliding-window bands of other ``attention_axes`` over sizes known only at run time, ready to
    broadcast against the folded scores ``[batch', heads, T, S]``; None without them.

    Keras builds the bands ``[1, T0, S0]`` from axis 1 of query and value and expands them at ``-2·n - 1`` (``n``
    attention axes): over one attention axis ``T0`` and ``S0`` land on it, so the band ``[T0, S0]`` broadcasts
    against ``[.., T, S]`` from the right as Keras's does (where Keras cannot broadcast it, an axis other than 1
    of another length, TF.js cannot either); over two or more, Keras raises (the axis is out of range). With an
    ``attention_mask`` or a Keras mask the whole mask goes through :func:`runtime_keras_keep` instead.
    """
    assert attention_mask is None and not any(m is not None for m in input_masks)
    query, value = query_value
    bands = runtime_bands(ctx, query, value, causal=causal, window=window)
    if not bands:
        return None
    if len(layout.axes) > 1:
        raise _refuse(ctx, f"a causal or sliding-window mask [1, T, S] over attention_axes={list(layout.axes)}, "
                           f"which Keras expands at axis {-2 * len(layout.axes) - 1} (Keras raises)")
    keep = bands[0]
    for i, band in enumerate(bands[1:]):
        keep = ctx.op("LogicalAnd", [keep, band], shape=keep.shape, dtype=DType.BOOL, label=f"bands_and_{i}")
    return keep


# -- masks over sizes known only at run time, lined up as Keras lines them up -----------------------------------
@dataclass(frozen=True)
class ScoresAxis:
    """One axis of Keras's scores: its static size (None: unknown), where its run-time size is read (``source``'s
    axis ``source_axis``; no source: the static size), and which axis of the folded scores it merges into."""

    size: Dim
    source: Value | None
    source_axis: int
    group: int


def runtime_mask_pieces(ctx: LayerContext, attention_mask: Value | None, input_masks: tuple[Value | None, ...],
                        bands: list[Value]) -> list[MaskPiece]:
    """Keras's ``_compute_attention_mask`` as run-time tensors of the shapes Keras gives them: ``attention_mask``
    (bool-cast), the query's Keras mask expanded at -1 (Keras 3) or 2 (tf_keras), the value's and key's at -2 or 1,
    the causal and sliding-window bands ``[T, S]`` as ``[1, T, S]``."""
    pieces: list[MaskPiece] = []
    if attention_mask is not None:
        piece = _attention_mask_piece(ctx, attention_mask, input_masks, banded=bool(bands))
        if attention_mask.dtype != DType.BOOL and len(ctx.shape(attention_mask)) > 6 and rank_6_backends_requested():
            raise _refuse(ctx, f"a non-bool attention_mask of rank {len(ctx.shape(attention_mask))} over sizes known "
                               f"only at run time ({_rank_6_names()}'s comparisons stop at rank 6)")
        pieces.append(piece)
    for mask, is_query, label in zip(input_masks, (True, False, False), ("query_mask", "value_mask", "key_mask")):
        if mask is None:
            continue
        rank = len(ctx.shape(mask))
        if rank < 2:
            raise _refuse(ctx, f"a {label} of shape {list(ctx.shape(mask))}")
        at = (rank if is_query else rank - 1) if ctx.keras3 else (2 if is_query else 1)
        expanded = ctx.expand_dims(as_bool(ctx, mask, label=f"{label}_bool"), at, f"{label}_expanded")
        pieces.append(MaskPiece(expanded, tuple(ctx.shape(expanded)), label))
    for i, band in enumerate(bands):
        expanded = ctx.expand_dims(band, 0, f"band_{i}_batch")
        pieces.append(MaskPiece(expanded, tuple(ctx.shape(expanded)), f"band_{i}"))
    return pieces


def runtime_keras_keep(ctx: LayerContext, pieces: list[MaskPiece], scores: list[ScoresAxis],
                       attention_axes: int) -> Value | None:
    """The AND of ``pieces`` applied to Keras's scores (``scores``: their axes) exactly as Keras applies it over
    sizes known only at run time, laid out as the folded scores (one axis per group); None without pieces.

    Keras ANDs the pieces with NumPy broadcasting (``LogicalAnd`` broadcasts the same way, and fails where Keras
    raises), expands the result at ``-2·attention_axes - 1`` up to the scores' rank and broadcasts it against them:
    ``BroadcastTo`` the scores' run-time shape does the same (a mask axis of another length than the scores' fails
    to broadcast, or grows one of length 1: the converter's rewrite of ``BroadcastTo`` broadcasts both ways, so the
    caller reshapes the probabilities to the scores' shape, which fails there as Keras's Softmax raises), then each
    group of axes merges into one (a group the mask leaves at 1 stays 1). What Keras raises on for every size is
    refused by name.
    """
    if not pieces:
        return None
    rank, scores_rank = max(len(p.shape) for p in pieces), len(scores)
    if rank > scores_rank:
        raise _refuse(ctx, f"an attention mask of rank {rank} for scores of rank {scores_rank} (Keras raises)")
    if rank > 6 and len(pieces) > 1:
        raise _refuse(ctx, f"attention mask parts of rank {rank} ANDed over sizes known only at run time (webgl's "
                           "logical ops stop at rank 6)")
    shapes = [p.shape for p in pieces]
    merged: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            raise _refuse(ctx, f"attention mask parts of shapes {[list(s) for s in shapes]} that Keras cannot "
                               "broadcast together (Keras raises)")
        merged.append(sizes.pop() if sizes else None if None in dims else 1)
    keep: Value = pieces[0].value  # type: ignore[assignment]
    for i, piece in enumerate(pieces[1:]):
        keep = ctx.op("LogicalAnd", [keep, piece.value], dtype=DType.BOOL,
                      shape=broadcast_shape(ctx.shape(keep), ctx.shape(piece.value)), label=f"mask_and_{i}")
    # _masked_softmax's expand_dims, as TensorFlow reads the axis
    dims: list[Dim] = list(merged)
    expansion = -2 * attention_axes - 1
    while len(dims) < scores_rank:
        at = len(dims) + 1 + expansion
        if at < 0:
            raise _refuse(ctx, f"an attention mask of shape {merged} that Keras expands at axis {expansion} for "
                               f"{attention_axes} attention axes (Keras raises)")
        dims.insert(at, 1)
        keep = ctx.expand_dims(keep, at, f"mask_expanded_{len(dims)}")
    for axis, (dim, score) in enumerate(zip(dims, scores)):
        if dim is not None and dim != 1 and score.size is not None and dim != score.size:
            raise _refuse(ctx, f"an attention mask of shape {merged} lined up as {dims} with scores of shape "
                               f"{[s.size for s in scores]} (Keras raises)")
    groups = max(s.group for s in scores) + 1
    spanned = [any(dims[i] != 1 for i, s in enumerate(scores) if s.group == g) for g in range(groups)]
    # axes of groups the mask leaves at 1 go (they stay 1): the broadcast runs at the rank webgl allows
    dropped = [i for i, s in enumerate(scores) if not spanned[s.group]]
    if dropped:
        dims = [d for i, d in enumerate(dims) if i not in dropped]
        keep = ctx.op("Squeeze", [keep], {"squeeze_dims": dropped}, shape=tuple(dims), label="mask_spanned")
    kept = [(i, s) for i, s in enumerate(scores) if spanned[s.group]]
    if len(kept) > 6 and rank_6_backends_requested():
        raise _refuse(ctx, f"an attention mask spanning {len(kept)} axes of Keras's scores over sizes known only "
                           f"at run time ({_rank_6_names()}'s ops stop at rank 6)")
    parts: list[Value | list[int]] = []
    for i, score in kept:
        parts.append([int(score.size)] if score.size is not None else
                     sizes_at(ctx, score.source, [score.source_axis], f"mask_scores_size_{i}"))
    values = [p if isinstance(p, Value) else ctx.ints(p, f"mask_scores_part{i}") for i, p in enumerate(parts)]
    shape = ctx.op("ConcatV2", [*values, ctx.ints(0, "mask_scores_axis")], {"N": len(values), "Tidx": DType.INT32},
                   dtype=DType.INT32, shape=(len(kept),), label="mask_scores_shape")
    keep = ctx.op("BroadcastTo", [keep, shape], {"T": keep.dtype, "Tidx": DType.INT32}, dtype=keep.dtype,
                  shape=tuple(s.size for _, s in kept), label="mask_on_scores")
    kept_groups = [g for g in range(groups) if spanned[g]]
    for g in reversed(kept_groups):
        axes = [j for j, (_, s) in enumerate(kept) if s.group == g]
        if len(axes) > 1:
            keep = merge_axes(ctx, keep, axes[0], axes[-1] + 1, f"mask_group_{g}")
    for g in range(groups):
        if not spanned[g]:
            keep = ctx.expand_dims(keep, g, f"mask_group_{g}_kept")
    return keep


def keras_scores_axes(layout: AttentionLayout, heads: int, query: Value, key: Value) -> list[ScoresAxis]:
    """The axes of Keras's scores ``[B, <other axes>, heads, <query attention axes>, <key attention axes>]`` (over
    the heads axis: ``[B, <other axes>, <query attention axes>, <key attention axes>]``, the heads among the
    attention axes), grouped as the folded scores ``[batch', heads, T, S]`` (``[batch', T, S]``) merge them."""
    def attended(a: int, dims: tuple[Dim, ...], source: Value, group: int) -> ScoresAxis:
        if a == layout.rank - 1:  # the heads axis of the projections
            return ScoresAxis(heads, None, 0, group)
        return ScoresAxis(dims[a - 1], source, a, group)

    axes = [ScoresAxis(None, query, 0, 0), *(ScoresAxis(layout.query_dims[a - 1], query, a, 0)
                                             for a in layout.outer_axes)]
    if not layout.heads_attended:
        axes.append(ScoresAxis(heads, None, 0, 1))
    first = len({a.group for a in axes})
    axes += [attended(a, layout.query_dims, query, first) for a in layout.axes]
    axes += [attended(a, layout.key_dims, key, first + 1) for a in layout.axes]
    return axes
