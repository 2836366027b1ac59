"""Checks shared by every factory that validates hyper-parameters eagerly."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    """Whether ``value`` (a number, array or pytree) holds no tracer, so that a
    factory can check it eagerly; traced hyper-parameters are checked by no one
    and flow through ``vmap`` sweeps."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(value))


def check_positive(
    name: str, value: Any, num_arms: int | None = None, *, allow_zero: bool = False
) -> None:
    """Refuse a concrete hyper-parameter that is not finite and ``> 0`` (``>= 0``
    with ``allow_zero``) with a ``ValueError``; traced values pass unchecked.

    Args:
        name: the parameter's name, for the message.
        value: a number, or with ``num_arms`` a scalar or ``[num_arms]`` array.
        num_arms: allow a per-arm array of this length (None: scalars only).
        allow_zero: accept 0.
    """
    if not is_concrete(value):
        return
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if num_arms is None and array.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
    if num_arms is not None and (
        array.ndim > 1 or (array.ndim == 1 and array.shape[0] != num_arms)
    ):
        raise ValueError(
            f"{name} must be a scalar or have shape [num_arms]=[{num_arms}], "
            f"got shape {array.shape}"
        )
    too_small = np.any(array < 0) if allow_zero else np.any(array <= 0)
    if too_small or not np.all(np.isfinite(array)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def representable_limit(dtype) -> float:
    """``2 ** (maxexp / 4)`` (2^32, about 4.3e9, in float32): the largest
    hyper-parameter magnitude a belief accepts, and its inverse the smallest
    positive one, so that products of up to three hyper-parameters, squares and
    inverse squares (a prior precision ``1 / s**2`` times a prior mean, say)
    stay finite and normal in ``dtype``: no subnormal the CPU would flush to
    zero, no overflow, no Gamma or Beta shape whose draws underflow."""
    return 2.0 ** (np.finfo(dtype).maxexp // 4)


def check_representable(
    name: str, value: Any, num_arms: int, dtype, *, positive: bool = True
) -> None:
    """Refuse a concrete scalar or ``[num_arms]`` hyper-parameter whose posterior
    draws ``dtype`` cannot represent: positive ones outside
    ``[1 / limit, limit]``, others with ``|value| > limit`` or not finite
    (``limit`` from :func:`representable_limit`). Traced values pass."""
    if not is_concrete(value):
        return
    if positive:
        check_positive(name, value, num_arms)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != num_arms):
        raise ValueError(
            f"{name} must be a scalar or have shape [num_arms]=[{num_arms}], "
            f"got shape {array.shape}"
        )
    limit = representable_limit(dtype)
    low = 1.0 / limit if positive else -limit
    inside = np.isfinite(array) & (array >= low) & (array <= limit)
    if not np.all(inside):
        raise ValueError(
            f"{name} must lie in [{low:.3g}, {limit:.3g}] so that its posterior "
            f"draws are representable in {np.dtype(dtype).name}, got {value!r}"
        )
