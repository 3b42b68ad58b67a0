"""TensorFlow's stateless random bits, computed in numpy at conversion time (no TensorFlow).

TF's stateless ops on CPU draw from Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011): a counter-based generator whose output block is ten rounds of a keyed bijection of a 128-bit counter.
A ``seed=(s0, s1)`` becomes a key and a counter as TF documents for ``stateless_random_get_key_counter``: the
seeds (int64, each split into low and high 32 bits) are a counter under a fixed key, one Philox block of it gives
the key (words 0, 1) and the high half of the counter (words 2, 3; the low half 0). Only the bits a few ops need
are computed here (a handful of words), so plain Python integers suffice.
"""
from __future__ import annotations

from collections.abc import Sequence

_MASK = 0xFFFFFFFF
#: The round multipliers and the key increments (Weyl constants) of Philox4x32.
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_ROUNDS = 10
#: The key TF scrambles a seed pair with before it becomes a key and counter.
_SEED_KEY = (0x3EC8F720, 0x02461E29)


def philox_block(counter: Sequence[int], key: Sequence[int]) -> list[int]:
    """The four 32-bit words of Philox4x32-10 for a 128-bit ``counter`` (four words, low first) and ``key``."""
    c0, c1, c2, c3 = (int(w) & _MASK for w in counter)
    k0, k1 = (int(w) & _MASK for w in key)
    for step in range(_ROUNDS):
        if step:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK
    return [c0, c1, c2, c3]


def _increment(counter: list[int]) -> list[int]:
    """The 128-bit counter plus one (carry through the four words)."""
    out = list(counter)
    for i in range(4):
        out[i] = (out[i] + 1) & _MASK
        if out[i]:
            break
    return out


def key_counter(seed: Sequence[int]) -> tuple[list[int], list[int]]:
    """TF's key (two words) and counter (four words) for a stateless op's ``seed=(s0, s1)`` (int32 or int64 seeds:
    a negative one is sign-extended to 64 bits as TF's cast does)."""
    s0, s1 = (int(s) & 0xFFFFFFFFFFFFFFFF for s in seed)
    mixed = philox_block([s0 & _MASK, s0 >> 32, s1 & _MASK, s1 >> 32], _SEED_KEY)
    return [mixed[0], mixed[1]], [0, 0, mixed[2], mixed[3]]


def random_words(seed: Sequence[int], count: int) -> list[int]:
    """The first ``count`` 32-bit words TF's Philox stream gives for ``seed`` (one block per four, in order)."""
    key, counter = key_counter(seed)
    words: list[int] = []
    while len(words) < count:
        words.extend(philox_block(counter, key))
        counter = _increment(counter)
    return words[:count]


def uniform_int32(seed: Sequence[int], count: int, minval: int, maxval: int) -> list[int]:
    """``tf.random.stateless_uniform([count], seed, minval, maxval, dtype=tf.int32)``: each word modulo the range
    ``maxval - minval`` (as unsigned 32-bit), plus ``minval`` (TF's ``UniformDistribution`` of int32)."""
    span = (maxval - minval) & _MASK
    if span <= 0:
        raise ValueError(f"an empty range [{minval}, {maxval})")
    return [minval + word % span for word in random_words(seed, count)]
