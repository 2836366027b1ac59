"""Rank correlation with ties and masks, in JAX (used by MoPPS's diagnostics)."""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl.types import Array


def average_ranks(values: Array, mask: Array) -> Array:
    """0-based ranks of ``values`` among the masked-in entries, ties sharing the
    average of their ranks (as ``scipy.stats.rankdata(method="average") - 1``).

    Masked-out entries are sorted past every real value, so they never shift
    a real value's rank; their own ranks are meaningless.
    """
    keyed = jnp.where(mask, values, jnp.inf)
    ordered = jnp.sort(keyed)
    below = jnp.searchsorted(ordered, keyed, side="left")
    up_to = jnp.searchsorted(ordered, keyed, side="right")
    return 0.5 * (below + up_to - 1).astype(values.dtype)


def spearman(x: Array, y: Array, mask: Array | None = None) -> Array:
    """Spearman's rank correlation of the masked-in pairs (Pearson correlation
    of their average ranks); NaN when fewer than two pairs or a constant side.
    """
    dtype = jnp.result_type(x.dtype, y.dtype, jnp.float32)
    x, y = x.astype(dtype), y.astype(dtype)
    mask = jnp.ones(x.shape, bool) if mask is None else mask
    weight = mask.astype(dtype)
    count = jnp.sum(weight)
    rank_x, rank_y = average_ranks(x, mask), average_ranks(y, mask)
    centred_x = (rank_x - jnp.sum(weight * rank_x) / count) * weight
    centred_y = (rank_y - jnp.sum(weight * rank_y) / count) * weight
    covariance = jnp.sum(centred_x * centred_y)
    scale = jnp.sqrt(jnp.sum(centred_x**2) * jnp.sum(centred_y**2))
    return jnp.where((count >= 2) & (scale > 0), covariance / scale, jnp.nan)
