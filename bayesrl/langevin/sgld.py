"""Stochastic gradient Langevin dynamics (SGLD) as an optax transformation.

Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin Dynamics",
ICML 2011. For a loss ``L`` (the negative log-density up to a constant) the
Euler–Maruyama step of the overdamped Langevin diffusion is::

    w <- w - step_size * grad L(w) + sqrt(2 * step_size * temperature) * xi,

with ``xi ~ N(0, I)``. Its stationary law (for small steps) is the Gibbs density
``exp(-L / temperature)``; LMC-LSVI and LMC-TS write ``temperature = 1 / beta``.
This is blackjax's ``sgld`` kernel with ``logdensity_grad = -grad L``; a key gives
the same noise draw in both.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayesrl.langevin._common import (
    check_positive,
    gaussian_noise,
    revert_if_nonfinite,
)
from bayesrl.types import Array, ArrayTree, PRNGKey


class SGLDState(NamedTuple):
    """State of :func:`sgld`.

    Attributes:
        count: number of accepted steps.
        num_nonfinite: number of steps reverted because the update was not finite.
    """

    count: Array
    num_nonfinite: Array


def sgld(
    step_size: float | Array,
    temperature: float | Array = 1.0,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """Plain SGLD: ``updates = -step_size * grads + sqrt(2 step_size T) * xi``.

    The transform is terminal: it emits the whole additive update (drift plus
    noise), so apply it with ``optax.apply_updates`` and never chain it with a
    scaling transform. A step whose update is not finite is reverted (zero update,
    state kept) and counted in ``state.num_nonfinite``.

    Args:
        step_size: the step size ``eta > 0`` (traceable).
        temperature: ``T >= 0``; the target is ``exp(-L / T)``. ``1 / beta`` in
            LMC-LSVI notation (traceable).
        noise_multiplier: multiplies the noise; 0 turns SGLD into gradient
            descent (a noise-off ablation).

    Returns:
        An optax ``GradientTransformationExtraArgs`` whose ``update(grads, state,
        params=None, *, key)`` needs a typed PRNG key.

    Raises:
        ValueError: for a non-positive step size or a negative temperature or
            noise multiplier (checked when the values are concrete).
    """
    check_positive("step_size", step_size)
    check_positive("temperature", temperature, allow_zero=True)
    check_positive("noise_multiplier", noise_multiplier, allow_zero=True)

    def init_fn(params: ArrayTree) -> SGLDState:
        del params
        zero = jnp.zeros((), jnp.int32)
        return SGLDState(count=zero, num_nonfinite=zero)

    def update_fn(
        grads: ArrayTree,
        state: SGLDState,
        params: ArrayTree | None = None,
        *,
        key: PRNGKey,
    ) -> tuple[ArrayTree, SGLDState]:
        del params
        noise = gaussian_noise(key, grads)
        scale = noise_multiplier * jnp.sqrt(2.0 * temperature * step_size)
        updates = jax.tree.map(lambda g, n: -step_size * g + scale * n, grads, noise)
        new_state = state._replace(count=state.count + 1)
        updates, new_state, reverted = revert_if_nonfinite(updates, new_state, state)
        return updates, new_state._replace(num_nonfinite=state.num_nonfinite + reverted)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
