"""Checks shared by every factory that validates hyper-parameters eagerly."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
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


def host_real_array(name: str, value: Any, dtype, *, nonnegative: bool = False):
    """Host input (rewards, weights, contexts) as a float64 NumPy array, refused
    with a ``ValueError`` naming ``name`` unless every entry is a real number
    that ``dtype`` (the state's float dtype) holds as a finite value.

    Refuses complex numbers (not silently truncated to their real part),
    strings and other non-numbers, Python ints of any size beyond ``dtype``'s
    range (``10**400`` gives a ``ValueError``, not an ``OverflowError``), NaN,
    infinities, magnitudes above ``finfo(dtype).max`` (finite in float64 but
    infinite once cast) and, with ``nonnegative``, negative values. Shapes are
    the caller's to check.
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name} must be an array of real numbers: {error}") from None
    if array.dtype.kind == "c":
        raise ValueError(
            f"{name} must be real numbers, got complex dtype {array.dtype}"
        )
    if array.dtype.kind not in "biufO":
        raise ValueError(f"{name} must be real numbers, got dtype {array.dtype}")
    limit = float(np.finfo(dtype).max)
    try:
        if array.dtype.kind == "O":  # Python ints too large for int64, or mixtures
            items = [_real_item(name, item, limit) for item in array.ravel().tolist()]
            array = np.array(items, dtype=np.float64).reshape(array.shape)
        else:
            array = array.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name} must be real numbers: {error}") from None
    if array.size and not (np.all(np.isfinite(array)) and np.abs(array).max() <= limit):
        raise ValueError(
            f"{name} must be finite in {np.dtype(dtype).name} (|x| <= {limit:.4g}), "
            "got NaN, inf or a value too large"
        )
    if nonnegative and array.size and array.min() < 0:
        raise ValueError(f"{name} must be >= 0")
    return array


def _real_item(name: str, item: Any, limit: float) -> float:
    """One entry of an object array: a real number within ``limit``."""
    complex_types = (complex, np.complexfloating)
    if isinstance(item, complex_types) or not isinstance(item, (int, float, np.number)):
        raise ValueError(f"{name} must be real numbers, got {type(item).__name__}")
    if isinstance(item, int) and abs(item) > limit:
        raise ValueError(f"{name} holds an integer too large for the state's dtype")
    return float(item)


def is_real_scalar(value: Any, limit: float) -> bool:
    """Whether ``value`` is a Python or NumPy real scalar, finite and within
    ``limit`` in magnitude (the fast path of a one-observation update; any
    other input goes through :func:`host_real_array`, which words the error)."""
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        return False
    if isinstance(value, int):
        return abs(value) <= limit
    return math.isfinite(value) and abs(value) <= limit


NONFINITE_UPDATE = (
    "the update was refused: it would make the model's state non-finite in its "
    "dtype (rewards, weights or contexts too large); the state is unchanged"
)


def _float_leaf_pairs(old: Any, new: Any):
    return [
        (a, b)
        for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True)
        if np.issubdtype(a.dtype if hasattr(a, "dtype") else type(a), np.inexact)
    ]


def newly_nonfinite(old: Any, new: Any) -> bool:
    """Whether a float leaf of ``new`` is NaN or infinite where ``old`` is finite
    (host side; leaves that were already non-finite, sentinels say, are not
    blamed on the update)."""
    return any(
        bool(np.any(np.isfinite(a) & ~np.isfinite(b)))
        for a, b in _float_leaf_pairs(old, new)
    )


def newly_nonfinite_traced(old: Any, new: Any, *derived_fns):
    """:func:`newly_nonfinite` inside jit (a bool array), also over each
    ``fn(state)`` of ``derived_fns`` (a belief's ``mean`` and ``counts``: a Beta
    state whose ``alpha + beta`` overflows has finite leaves but a mean of 0
    or NaN and infinite counts)."""
    pairs = _float_leaf_pairs(old, new)
    pairs += [(fn(old), fn(new)) for fn in derived_fns]
    flags = [jnp.any(jnp.isfinite(a) & ~jnp.isfinite(b)) for a, b in pairs]
    return jnp.any(jnp.stack(flags)) if flags else jnp.zeros((), bool)
