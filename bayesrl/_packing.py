"""A pytree of arrays laid out in one flat ``uint32`` buffer.

On CPU a jitted call costs a few microseconds for every argument and every
result it carries across the Python boundary, more than the arithmetic of a
small bandit's update and draw. The ``Bandit`` facade therefore keeps its
agent's state, its key and the slots for the chosen action and the update's
rejection flag in one buffer (:class:`WordLayout`): one device array goes in,
one comes out, and the host reads the action off a NumPy view of the result.

Every leaf is stored as 32-bit words: 4-byte dtypes bit for bit, 8-byte dtypes
as two words per element (low word first, as NumPy views them on a
little-endian host and as ``lax.bitcast_convert_type`` splits them), 1- and
2-byte dtypes and ``bool`` one word per element. :meth:`WordLayout.pack` and
:meth:`WordLayout.unpack` are traceable; ``pack_host``/``unpack_host`` do the
same on NumPy arrays, bit-identically.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_UNSIGNED_OF_SIZE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class _Slot(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    start: int  # first word
    stop: int  # one past the last word

    @property
    def words_per_item(self) -> int:
        return 2 if self.dtype.itemsize == 8 else 1


class WordLayout:
    """Where each leaf of a fixed pytree structure sits in a ``uint32`` buffer.

    Args:
        example: a pytree of arrays (or ``jax.ShapeDtypeStruct``) fixing the
            structure, shapes and dtypes of every tree this layout packs.
    """

    def __init__(self, example: Any):
        leaves, self.treedef = jax.tree.flatten(example)
        slots, start = [], 0
        for leaf in leaves:
            dtype = np.dtype(leaf.dtype)
            if dtype.kind not in "biuf" or dtype.itemsize not in _UNSIGNED_OF_SIZE:
                raise ValueError(f"cannot lay out dtype {dtype} in 32-bit words")
            size = math.prod(leaf.shape) * (2 if dtype.itemsize == 8 else 1)
            slots.append(_Slot(tuple(leaf.shape), dtype, start, start + size))
            start += size
        self.slots: tuple[_Slot, ...] = tuple(slots)
        self.num_words = start

    # -- traceable ------------------------------------------------------------

    def pack(self, tree: Any) -> jax.Array:
        """The ``uint32[num_words]`` buffer holding ``tree``."""
        leaves = self.treedef.flatten_up_to(tree)
        parts = [
            _to_words(jnp.asarray(leaf, slot.dtype)).reshape(-1)
            for leaf, slot in zip(leaves, self.slots, strict=True)
        ]
        if not parts:
            return jnp.zeros((0,), jnp.uint32)
        return jnp.concatenate(parts)

    def unpack(self, words: jax.Array) -> Any:
        """Inverse of :meth:`pack`."""
        leaves = [_from_words(words[s.start : s.stop], s) for s in self.slots]
        return self.treedef.unflatten(leaves)

    # -- host (NumPy) ---------------------------------------------------------

    def pack_host(self, tree: Any) -> np.ndarray:
        """:meth:`pack` on the host; the same bits."""
        leaves = self.treedef.flatten_up_to(tree)
        parts = [
            _to_words_host(np.asarray(leaf, slot.dtype))
            for leaf, slot in zip(leaves, self.slots, strict=True)
        ]
        return np.concatenate(parts) if parts else np.zeros((0,), np.uint32)

    def unpack_host(self, words: np.ndarray) -> Any:
        """:meth:`unpack` on the host (NumPy arrays, copies)."""
        return self.treedef.unflatten(
            [self.leaf_host(words, index) for index in range(len(self.slots))]
        )

    def leaf_host(self, words: np.ndarray, index: int) -> np.ndarray:
        """One leaf read off a host buffer (a copy)."""
        slot = self.slots[index]
        chunk = np.ascontiguousarray(words[slot.start : slot.stop])
        if slot.dtype.itemsize >= 4:
            values = chunk.view(slot.dtype)
        elif slot.dtype == np.bool_:
            values = chunk != 0
        else:
            values = chunk.astype(_UNSIGNED_OF_SIZE[slot.dtype.itemsize]).view(
                slot.dtype
            )
        return values.reshape(slot.shape).copy()


def _to_words(x: jax.Array) -> jax.Array:
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    if x.dtype.itemsize < 4:
        unsigned = jax.lax.bitcast_convert_type(x, _UNSIGNED_OF_SIZE[x.dtype.itemsize])
        return unsigned.astype(jnp.uint32)
    return jax.lax.bitcast_convert_type(x, jnp.uint32)


def _from_words(words: jax.Array, slot: _Slot) -> jax.Array:
    if slot.dtype == np.bool_:
        return (words != 0).reshape(slot.shape)
    if slot.dtype.itemsize < 4:
        narrow = words.astype(_UNSIGNED_OF_SIZE[slot.dtype.itemsize])
        return jax.lax.bitcast_convert_type(narrow, slot.dtype).reshape(slot.shape)
    if slot.dtype.itemsize == 8:
        words = words.reshape(-1, 2)
    return jax.lax.bitcast_convert_type(words, slot.dtype).reshape(slot.shape)


def _to_words_host(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x).reshape(-1)
    if x.dtype == np.bool_:
        return x.astype(np.uint32)
    if x.dtype.itemsize < 4:
        return x.view(_UNSIGNED_OF_SIZE[x.dtype.itemsize]).astype(np.uint32)
    return x.view(np.uint32)
