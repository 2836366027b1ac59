"""Diagonally preconditioned Langevin dynamics as an optax transformation.

For a loss ``L`` and a positive diagonal preconditioner ``P`` (a pytree shaped
like the parameters) the step is::

    w <- w - step_size * P * grad L(w) + sqrt(2 * step_size * T) * sqrt(P) * xi,

whose stationary law (for small steps) is still ``exp(-L / T)`` (Girolami &
Calderhead 2011, constant metric; Li et al., "Preconditioned Stochastic Gradient
Langevin Dynamics", AAAI 2016, without the drift correction, which vanishes for a
constant ``P``). With ``P = diag(Lambda)^{-1}`` on a ridge loss whose precision
``Lambda`` is diagonal (tabular features) every coordinate contracts at the same
rate ``1 - 2 step_size`` per step, which removes the conditioning problem of
global-step LMC-LSVI (:func:`~bayesrl.langevin.lmc_lsvi`). The preconditioner
is passed with every call because it changes with the data.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayesrl._checks import check_positive
from bayesrl.langevin._common import (
    gaussian_noise,
    revert_if_nonfinite,
)
from bayesrl.types import Array, ArrayTree, PRNGKey


class PreconditionedLangevinState(NamedTuple):
    """State of :func:`preconditioned_langevin`.

    Attributes:
        count: number of accepted steps.
        num_nonfinite: number of steps reverted because the update was not finite.
    """

    count: Array
    num_nonfinite: Array


def preconditioned_langevin(
    step_size: float | Array,
    temperature: float | Array = 1.0,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """Langevin step with a per-call positive diagonal preconditioner.

    ``update(grads, state, params=None, *, key, preconditioner)`` returns
    ``-step_size * P * grads + noise_multiplier * sqrt(2 step_size T P) * xi``.
    ``preconditioner=None`` means ``P = 1`` (plain SGLD, same noise draw as
    :func:`~bayesrl.langevin.sgld`). The transform is terminal; a non-finite
    update (a negative ``P``, say) is reverted and counted.

    Args:
        step_size: ``eta > 0`` (traceable).
        temperature: ``T >= 0`` (``1 / beta``).
        noise_multiplier: multiplies the noise; 0 is preconditioned descent.

    Returns:
        An optax ``GradientTransformationExtraArgs``.
    """
    check_positive("step_size", step_size)
    check_positive("temperature", temperature, allow_zero=True)
    check_positive("noise_multiplier", noise_multiplier, allow_zero=True)

    def init_fn(params: ArrayTree) -> PreconditionedLangevinState:
        del params
        zero = jnp.zeros((), jnp.int32)
        return PreconditionedLangevinState(count=zero, num_nonfinite=zero)

    def update_fn(
        grads: ArrayTree,
        state: PreconditionedLangevinState,
        params: ArrayTree | None = None,
        *,
        key: PRNGKey,
        preconditioner: ArrayTree | None = None,
    ) -> tuple[ArrayTree, PreconditionedLangevinState]:
        del params
        if preconditioner is None:
            preconditioner = jax.tree.map(jnp.ones_like, grads)
        noise = gaussian_noise(key, grads)
        scale = noise_multiplier * jnp.sqrt(2.0 * temperature * step_size)

        def step(g, p, n):
            # sqrt(-1) is NaN: a non-positive preconditioner is reverted below.
            return -step_size * p * g + scale * jnp.sqrt(p) * n

        updates = jax.tree.map(step, grads, preconditioner, noise)
        new_state = state._replace(count=state.count + 1)
        updates, new_state, reverted = revert_if_nonfinite(updates, new_state, state)
        return updates, new_state._replace(num_nonfinite=state.num_nonfinite + reverted)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
