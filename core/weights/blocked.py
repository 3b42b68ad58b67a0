"""Blocked quantization (ONNX ``DequantizeLinear`` with ``block_size``): split a float32 weight back into
its integers and its per-block scales, in whatever layout the passes gave the weight.

A blocked scale has the weight's shape except along one axis, where it holds ``ceil(D / block_size)``
values, each used by ``block_size`` consecutive indices (the last block may be shorter). Expanding it to
the weight's size would write a float32 constant as large as the weight, so the writer keeps it blocked
and applies it in the graph (:mod:`tfjsconv.writers.quantized_weights`). The passes may have transposed
the weight (an ONNX conv kernel ``[O, I, kh, kw]`` is ``[kh, kw, I, O]`` in TF), so every axis order
that gives the weight's shape is tried; exactness (bit for bit) decides, never a guess. With a zero
point per block, ``q - zp`` may span more values than one byte holds: then ``q`` is stored and the
zero point is subtracted in the graph too (``float32(q - zp)`` is exact: the same weight).
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from .int8 import _SAMPLE, QuantizedWeight, RecoveredWeight, _splits, storage_span

#: Axis orders tried beyond this rank: only the source's own (rank-7 weights are rare; 7! orders are many).
_MAX_PERMUTED_RANK = 6


def _orders(source: tuple[int, ...], laid: tuple[int, ...]):
    """Permutations ``p`` with ``source[p[i]] == laid[i]`` (identity first)."""
    if len(source) != len(laid):
        return
    if tuple(source) == tuple(laid):
        yield tuple(range(len(source)))
    if len(source) > _MAX_PERMUTED_RANK:
        return
    for perm in itertools.permutations(range(len(source))):
        if perm != tuple(range(len(source))) and all(source[p] == d for p, d in zip(perm, laid)):
            yield perm


def expand_blocks(param: np.ndarray, axis: int, block: int, size: int) -> np.ndarray:
    """``param`` with each value along ``axis`` repeated ``block`` times, cut to ``size`` (ONNX's rule)."""
    return np.take(param, np.arange(size) // block, axis=axis)


def recover_blocked(weight: np.ndarray, hint: QuantizedWeight) -> RecoveredWeight | None:
    """``weight`` as integers (padded to whole blocks) and blocked scales if it is exactly
    ``float32((q - zp) * scale)`` for ``hint`` in some axis order, else None.

    None too when keeping the scale blocked saves nothing (``block_size`` 1: a scale per value)."""
    assert hint.block is not None and hint.shape is not None
    lead = weight.ndim - len(hint.shape)
    if lead > 0 and all(d == 1 for d in weight.shape[:lead]):  # a matmul weight given leading batch dims of 1
        found = recover_blocked(weight.reshape(weight.shape[lead:]), hint)
        if found is None:
            return None
        ones = (1,) * lead
        zero_point = None if found.zero_point is None else found.zero_point.reshape(ones + found.zero_point.shape)
        return dataclasses.replace(found, values=found.values.reshape(ones + found.values.shape),
                                   scale=found.scale.reshape(ones + found.scale.shape),
                                   block=(found.block[0] + lead, found.block[1]), zero_point=zero_point)
    axis, block = hint.block
    width = 2 if hint.bounds[1] - hint.bounds[0] > 255 else 1
    if hint.scale.size * 4 + weight.size * width >= weight.size * 4:
        return None
    lo, hi = hint.bounds
    picks = np.linspace(0, weight.size - 1, min(_SAMPLE, weight.size)).astype(np.int64)
    sample = np.unravel_index(picks, weight.shape)
    for perm in _orders(tuple(hint.shape), tuple(weight.shape)):
        laid_axis = perm.index(axis)
        scale = np.transpose(hint.scale.astype(np.float32), perm)
        at = tuple(i // block if a == laid_axis else i for a, i in enumerate(sample))
        if not _splits(np.asarray(weight[sample]), np.asarray(scale[at])):
            continue  # cheap: most (weight, hint, order) triples that fail, fail on a few elements
        zero_point = np.transpose(hint.zero_point.astype(np.int64), perm)
        size = weight.shape[laid_axis]
        full_scale = expand_blocks(scale, laid_axis, block, size)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = np.rint(weight.astype(np.float64) / full_scale.astype(np.float64))
            if not np.all(np.isfinite(values)) or not np.array_equal(values.astype(np.float32) * full_scale, weight):
                continue
        q = values + expand_blocks(zero_point, laid_axis, block, size)
        if q.min() < lo or q.max() > hi:
            continue
        subtract = None
        if np.unique(zero_point).size == 1:  # the stored integer is q - lo, as in the source
            offset = float(lo - int(zero_point.reshape(-1)[0]))
        elif values.max() - values.min() <= storage_span(hint.bounds):
            offset = float(values.min())
        else:  # q - zp spans too much: store q, subtract the blocked zero point in the graph
            values, offset, subtract = q, float(lo), zero_point.astype(np.float32)
        padding = [(0, 0)] * values.ndim
        padding[laid_axis] = (0, -size % block)
        padded = np.pad(values, padding, mode="edge")  # edge values: within the stored range; sliced off
        return RecoveredWeight(padded.astype(np.float32), scale, offset, hint, block=(laid_axis, block),
                               zero_point=subtract)
    return None
