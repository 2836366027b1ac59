"""Helpers shared by the conjugate beliefs: batched sums, checks, quantiles."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.types import Array

# Bisection halvings for posterior quantiles: 2^-40 of the bracket is below
# float32 (and near float64) resolution for the brackets used here.
QUANTILE_BISECTION_STEPS = 40


def per_arm_sum(values: Array, arms: Array, num_arms: int) -> Array:
    """``out[k] = sum_i values[i] * 1[arms[i] == k]``; padding arms (-1) dropped.

    Order-invariant, so one batch equals any sequence of its items.
    """
    return jax.ops.segment_sum(values, arms, num_segments=num_arms)


def visited_arms(arms: Array, weights: Array, num_arms: int) -> Array:
    """bool ``[num_arms]``: arms with at least one non-zero-weight item."""
    return per_arm_sum((weights != 0).astype(jnp.int32), arms, num_arms) > 0


def per_arm(value, num_arms: int, dtype=jnp.float32) -> Array:
    """Broadcast a scalar or ``[num_arms]`` hyper-parameter to ``[num_arms]``."""
    return jnp.broadcast_to(jnp.asarray(value, dtype), (num_arms,))


def is_concrete(value) -> bool:
    """True when ``value`` is a Python number or a concrete (non-traced) array."""
    if isinstance(value, numbers.Number):
        return True
    return not isinstance(value, jax.core.Tracer)


def check_num_arms(num_arms) -> None:
    if not isinstance(num_arms, numbers.Integral) or isinstance(num_arms, bool):
        raise ValueError(f"num_arms must be an int, got {num_arms!r}")
    if num_arms < 2:
        raise ValueError(f"num_arms must be >= 2, got {num_arms}")


def check_positive(name: str, value, num_arms: int) -> None:
    """Refuse non-positive or non-finite concrete hyper-parameters eagerly."""
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != num_arms):
        raise ValueError(
            f"{name} must be a scalar or have shape [num_arms]=[{num_arms}], "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def check_discount(name: str, value) -> None:
    """Refuse a discount outside (0, 1] eagerly."""
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 0 or not (0.0 < float(array) <= 1.0):
        raise ValueError(f"{name} must be a scalar in (0, 1], got {value!r}")


def all_at_least_one(*values) -> bool:
    """Static promise for the Gamma sampler: every concrete value is >= 1."""
    return all(
        is_concrete(v) and bool(np.all(np.asarray(v, dtype=np.float64) >= 1.0))
        for v in values
    )


def config_value(value):
    """A JSON-friendly copy of a hyper-parameter (for saved headers); None for a
    traced value, which no file can hold."""
    if not is_concrete(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else array.tolist()


def bisect_quantile(cdf, level: Array, low: Array, high: Array) -> Array:
    """Solve ``cdf(x) = level`` for ``x`` in ``[low, high]`` by bisection.

    ``cdf`` is increasing and vectorised; a fixed number of halvings keeps the
    function branch-free and jittable.
    """

    def halve(_, bracket):
        low, high = bracket
        middle = 0.5 * (low + high)
        below = cdf(middle) < level
        return jnp.where(below, middle, low), jnp.where(below, high, middle)

    low, high = jax.lax.fori_loop(0, QUANTILE_BISECTION_STEPS, halve, (low, high))
    return 0.5 * (low + high)
