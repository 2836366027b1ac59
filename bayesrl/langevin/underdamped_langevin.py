"""Underdamped Langevin Monte Carlo (EulerULMC) as an optax transformation.

The underdamped (kinetic) Langevin diffusion with friction ``gamma`` and inverse
temperature ``beta`` for a loss ``L``, written with ``p`` the *negative*
velocity as in the reference code,

    dw = -p dt,   dp = -gamma p dt + grad L(w) dt + sqrt(2 gamma / beta) dB,

has the stationary law ``exp(-beta L(w) - beta |p|^2 / 2)`` (Cheng, Chatterji,
Bartlett & Jordan, "Underdamped Langevin MCMC: A non-asymptotic analysis",
COLT 2018). ``EulerULMC`` of Ishfaq, Tan, Yang, Lan,
Lu, Mahmood, Precup & Xu, "More Efficient Randomized Exploration for
Reinforcement Learning via Approximate Sampling", RLC 2024
(https://arxiv.org/abs/2406.12241), in the form of the authors' reference
implementation (``panxulab/LSVI-ASE``, ``components/lmc_dqn/optim.py``), is the
following Euler step (time step ``eta``), per parameter, with ``g`` the
(minibatch) gradient of the loss plus ``weight_decay * w`` when set::

    p <- (1 - eta gamma) p + eta g + sqrt(2 eta gamma / beta) xi   # noise on p
    w <- w - eta p

with the *updated* momentum in the position step, ``p = 0`` at the start and
``xi ~ N(0, I)``. The momentum persists across calls (the warm-started chain).
The paper writes ``sigma_n = beta^{-1/2}``. Compare
:func:`~bayesrl.langevin.adam_underdamped_langevin` (aULMC), which adds an Adam
drift to the momentum and puts the noise on the position instead.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayesrl._checks import check_positive
from bayesrl.langevin._common import (
    check_damping,
    gaussian_noise,
    revert_if_nonfinite,
)
from bayesrl.types import Array, ArrayTree, PRNGKey


class UnderdampedLangevinState(NamedTuple):
    """State of :func:`underdamped_langevin`.

    Attributes:
        count: number of accepted steps.
        momentum: the momentum ``p``, shaped like the parameters.
        num_nonfinite: number of steps reverted because they were not finite.
    """

    count: Array
    momentum: ArrayTree
    num_nonfinite: Array


def underdamped_langevin(
    step_size: float | Array,
    friction: float | Array,
    inverse_temperature: float | Array,
    weight_decay: float | Array = 0.0,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """The EulerULMC step of the RLC 2024 follow-up (noise on the momentum).

    Args:
        step_size: ``eta > 0`` (traceable).
        friction: ``gamma > 0`` with ``eta * gamma <= 1`` so that the momentum's
            damping factor ``1 - eta gamma`` is non-negative; {0.01, 0.1, 1} in
            the papers' N-chain sweep.
        inverse_temperature: ``beta > 0``; the momentum noise std per step is
            ``sqrt(2 eta gamma / beta)``.
        weight_decay: added to the gradient as ``wd * w`` (0 in the papers);
            needs ``params`` in ``update``.
        noise_multiplier: multiplies the noise; 0 is the noise-off ablation
            (heavy-ball descent).

    Returns:
        An optax ``GradientTransformationExtraArgs`` with ``update(grads, state,
        params=None, *, key)`` returning ``-eta p_new``. It is terminal (drift
        plus noise). A non-finite step is reverted with its momentum and
        counted in ``num_nonfinite``.

    Raises:
        ValueError: for invalid concrete hyper-parameters.
    """
    check_positive("step_size", step_size)
    check_positive("friction", friction)
    check_positive("inverse_temperature", inverse_temperature)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    check_positive("noise_multiplier", noise_multiplier, allow_zero=True)
    check_damping(step_size, friction)

    def init_fn(params: ArrayTree) -> UnderdampedLangevinState:
        zero = jnp.zeros((), jnp.int32)
        return UnderdampedLangevinState(
            count=zero,
            momentum=jax.tree.map(jnp.zeros_like, params),
            num_nonfinite=zero,
        )

    def update_fn(
        grads: ArrayTree,
        state: UnderdampedLangevinState,
        params: ArrayTree | None = None,
        *,
        key: PRNGKey,
    ) -> tuple[ArrayTree, UnderdampedLangevinState]:
        if params is None:
            if not isinstance(weight_decay, jax.core.Tracer) and weight_decay != 0:
                raise ValueError("underdamped_langevin with weight_decay needs params")
        else:
            grads = jax.tree.map(lambda g, w: g + weight_decay * w, grads, params)
        noise = gaussian_noise(key, grads)
        scale = noise_multiplier * jnp.sqrt(
            2.0 * step_size * friction / inverse_temperature
        )

        def new_momentum(p, g, n):
            return (1.0 - step_size * friction) * p + step_size * g + scale * n

        momentum = jax.tree.map(new_momentum, state.momentum, grads, noise)
        updates = jax.tree.map(lambda p: -step_size * p, momentum)
        new_state = UnderdampedLangevinState(
            count=state.count + 1, momentum=momentum, num_nonfinite=state.num_nonfinite
        )
        updates, new_state, reverted = revert_if_nonfinite(updates, new_state, state)
        return updates, new_state._replace(num_nonfinite=state.num_nonfinite + reverted)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
