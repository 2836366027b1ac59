"""Shared helpers of the Langevin transforms: noise, validation, revert-and-flag."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayesrl import random as fast_random
from bayesrl._checks import check_positive, is_concrete
from bayesrl.types import Array, ArrayTree, PRNGKey


def gaussian_noise(key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Standard normal noise shaped like ``tree``.

    One normal draw over the raveled pytree, as blackjax's
    ``generate_gaussian_noise`` makes it; :func:`bayesrl.random.normal` is
    bit-identical to the ``jax.random.normal`` that blackjax calls (and faster
    on CPU), so a key gives the same noise in bayesrl and in blackjax's SG-MCMC
    kernels.
    """
    flat, unravel = ravel_pytree(tree)
    return unravel(fast_random.normal(key, flat.shape, flat.dtype))


def scaled_gaussian_noise(
    key: PRNGKey, tree: ArrayTree, std: float | Array, noise_multiplier: float | Array
) -> ArrayTree:
    """``noise_multiplier * std * xi`` with ``xi`` from :func:`gaussian_noise`.

    A concrete ``noise_multiplier`` of 0 (the noise-off ablation) returns zeros
    without drawing: the draw is a large part of a small network's step (about 23%
    of a vmapped N-chain epoch). Since ``xi`` is finite, the step is the same
    up to rounding: XLA may contract a multiply-add into an FMA differently in
    the two programs, and over a long training run such ulps grow into a
    different (statistically equivalent) trajectory.
    """
    if is_concrete(noise_multiplier) and float(noise_multiplier) == 0.0:
        return jax.tree.map(jnp.zeros_like, tree)
    scale = noise_multiplier * std
    return jax.tree.map(lambda n: scale * n, gaussian_noise(key, tree))


def adam_moments(
    name: str,
    grads: ArrayTree,
    mu: ArrayTree,
    nu: ArrayTree,
    params: ArrayTree | None,
    weight_decay: Any,
    b1: Any,
    b2: Any,
) -> tuple[ArrayTree, ArrayTree, ArrayTree]:
    """The Adam-Langevin moment step shared by the Adam transforms.

    ``g = grads + weight_decay * params`` (weight decay needs ``params``), then
    ``m <- b1 m + (1 - b1) g`` and ``v <- b2 v + (1 - b2) g**2``, updated
    before the parameter step as in the official aSGLD/aULMC code.

    Returns:
        ``(g, m, v)``.
    """
    if params is None:
        if not isinstance(weight_decay, jax.core.Tracer) and weight_decay != 0:
            raise ValueError(f"{name} with weight_decay needs params")
    else:
        grads = jax.tree.map(lambda g, w: g + weight_decay * w, grads, params)
    mu = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * g * g, nu, grads)
    return grads, mu, nu


def all_finite(tree: ArrayTree) -> Array:
    """True when every entry of every leaf of ``tree`` is finite."""
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def revert_if_nonfinite(
    updates: ArrayTree, new_state: Any, old_state: Any
) -> tuple[ArrayTree, Any, Array]:
    """Blackjax-style "revert and flag" for one transform step.

    Returns zero updates and the old state when ``updates`` or ``new_state`` hold a
    non-finite value, otherwise the inputs unchanged, plus the boolean flag.
    """
    ok = all_finite(updates) & all_finite(new_state)
    updates = jax.tree.map(lambda u: jnp.where(ok, u, jnp.zeros_like(u)), updates)
    state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_state, old_state)
    return updates, state, ~ok


def check_in_unit_interval(name: str, value: Any) -> None:
    """Refuse a concrete value outside [0, 1)."""
    if isinstance(value, jax.core.Tracer):
        return
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_adam_langevin_args(
    step_size: Any,
    bias_factor: Any,
    inverse_temperature: Any,
    b1: Any,
    b2: Any,
    eps: Any,
    weight_decay: Any,
    noise_multiplier: Any,
) -> None:
    """Refuse invalid concrete hyper-parameters of an Adam-drift Langevin step
    (``adam_langevin``, ``adam_underdamped_langevin``) with a ``ValueError``."""
    check_positive("step_size", step_size)
    check_positive("bias_factor", bias_factor, allow_zero=True)
    check_positive("inverse_temperature", inverse_temperature)
    check_in_unit_interval("b1", b1)
    check_in_unit_interval("b2", b2)
    check_positive("eps", eps, allow_zero=True)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    check_positive("noise_multiplier", noise_multiplier, allow_zero=True)


def check_damping(step_size: Any, friction: Any) -> None:
    """Refuse concrete ``step_size * friction > 1``: the momentum's damping
    factor ``1 - step_size * friction`` of an Euler underdamped Langevin step
    would be negative (the momentum would flip sign every step)."""
    if isinstance(step_size, jax.core.Tracer) or isinstance(friction, jax.core.Tracer):
        return
    if float(step_size) * float(friction) > 1.0:
        raise ValueError(
            "step_size * friction must be <= 1 (damping factor 1 - step_size * "
            f"friction >= 0), got {step_size!r} * {friction!r}"
        )
