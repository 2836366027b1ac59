"""Adam underdamped Langevin (aULMC, the step of ULMCDQN) as an optax transform.

Ishfaq, Tan, Yang, Lan, Lu, Mahmood, Precup & Xu, "More Efficient Randomized
Exploration for Reinforcement Learning via Approximate Sampling", RLC 2024
(https://arxiv.org/abs/2406.12241), in the form of the authors' reference
implementation (``panxulab/LSVI-ASE``, ``components/lmc_dqn/optim.py``,
``aULMC``). An Euler step of the underdamped Langevin diffusion (friction
``gamma``, inverse temperature ``beta``) whose momentum also receives the
adaptive drift of Adam LMCDQN. Per parameter and per inner step, with ``g`` the
minibatch gradient of the loss (plus ``weight_decay * w`` when set)::

    m <- b1 m + (1 - b1) g            # moments updated BEFORE the step
    v <- b2 v + (1 - b2) g**2         # no bias correction
    p <- (1 - eta gamma) p + eta (g + a m / (sqrt(v) + eps))
    w <- w - eta p + sqrt(2 eta gamma / beta) xi          # noise on w

with ``m = v = p = 0`` at the start, all three persisting across calls, ``eps``
added after the square root and isotropic noise ``xi ~ N(0, I)`` (not
preconditioned by ``v``). The paper writes ``sigma_n = beta^{-1/2}``. ``a = 0``
gives a heavy-ball Langevin step with the noise on the position (the moments
still evolve); the reference code's plain ``EulerULMC``
(:func:`~bayesrl.langevin.underdamped_langevin`) puts the noise on the momentum.
With the noise on the position the chain does not sample ``exp(-beta L)``: for
small steps on ``L = lam w^2`` (and ``a = 0``) its position variance is
``(2 lam + gamma^2) / (2 lam beta)``, ``2 lam + gamma^2`` times the Gibbs value
(the exact discrete law is tested in ``tests/langevin``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayesrl._checks import check_positive
from bayesrl.langevin._common import (
    adam_moments,
    check_adam_langevin_args,
    check_damping,
    revert_if_nonfinite,
    scaled_gaussian_noise,
)
from bayesrl.types import Array, ArrayTree, PRNGKey


class AdamUnderdampedLangevinState(NamedTuple):
    """State of :func:`adam_underdamped_langevin`.

    Attributes:
        count: number of accepted steps.
        mu: first moment ``m``, shaped like the parameters.
        nu: second moment ``v``, shaped like the parameters.
        momentum: the momentum ``p``, shaped like the parameters.
        num_nonfinite: number of steps reverted because they were not finite.
    """

    count: Array
    mu: ArrayTree
    nu: ArrayTree
    momentum: ArrayTree
    num_nonfinite: Array


def adam_underdamped_langevin(
    step_size: float | Array,
    bias_factor: float | Array,
    friction: float | Array,
    inverse_temperature: float | Array,
    b1: float | Array = 0.9,
    b2: float | Array = 0.999,
    eps: float | Array = 1e-8,
    weight_decay: float | Array = 0.0,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """The aULMC step of ULMCDQN (Adam drift in the momentum, noise on the position).

    Args:
        step_size: ``eta > 0``; {1e-2, 1e-3} on N-chain.
        bias_factor: ``a >= 0`` multiplying the Adam direction ``m / (sqrt(v) +
            eps)``; {1, 0.1, 0.01} in the papers' sweeps.
        friction: ``gamma > 0`` with ``eta * gamma <= 1`` so that the momentum's
            damping factor ``1 - eta gamma`` is non-negative; {0.01, 0.1, 1} on
            N-chain.
        inverse_temperature: ``beta > 0``; the position noise std per step is
            ``sqrt(2 eta gamma / beta)``. N-chain sweeps ``sigma_n =
            beta^{-1/2}`` in {1e-4, 1e-5, 1e-6}.
        b1: first-moment decay (0.9).
        b2: second-moment decay (0.999).
        eps: added after the square root (1e-8).
        weight_decay: added to the gradient as ``wd * w`` before the moments
            (0 in the papers); needs ``params`` in ``update``.
        noise_multiplier: multiplies the noise; 0 is the noise-off ablation.

    Returns:
        An optax ``GradientTransformationExtraArgs`` with ``update(grads, state,
        params=None, *, key)``. It is terminal (drift plus noise). A non-finite
        step is reverted with its moments and momentum and counted in
        ``num_nonfinite``.

    Raises:
        ValueError: for invalid concrete hyper-parameters.
    """
    check_adam_langevin_args(
        step_size,
        bias_factor,
        inverse_temperature,
        b1,
        b2,
        eps,
        weight_decay,
        noise_multiplier,
    )
    check_positive("friction", friction)
    check_damping(step_size, friction)

    def init_fn(params: ArrayTree) -> AdamUnderdampedLangevinState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        zero = jnp.zeros((), jnp.int32)
        return AdamUnderdampedLangevinState(
            count=zero, mu=zeros, nu=zeros, momentum=zeros, num_nonfinite=zero
        )

    def update_fn(
        grads: ArrayTree,
        state: AdamUnderdampedLangevinState,
        params: ArrayTree | None = None,
        *,
        key: PRNGKey,
    ) -> tuple[ArrayTree, AdamUnderdampedLangevinState]:
        grads, mu, nu = adam_moments(
            "adam_underdamped_langevin",
            grads,
            state.mu,
            state.nu,
            params,
            weight_decay,
            b1,
            b2,
        )

        def new_momentum(p, g, m, v):
            drift = g + bias_factor * m / (jnp.sqrt(v) + eps)
            return (1.0 - step_size * friction) * p + step_size * drift

        momentum = jax.tree.map(new_momentum, state.momentum, grads, mu, nu)
        noise = scaled_gaussian_noise(
            key,
            grads,
            jnp.sqrt(2.0 * step_size * friction / inverse_temperature),
            noise_multiplier,
        )
        updates = jax.tree.map(lambda p, n: -step_size * p + n, momentum, noise)
        new_state = AdamUnderdampedLangevinState(
            count=state.count + 1,
            mu=mu,
            nu=nu,
            momentum=momentum,
            num_nonfinite=state.num_nonfinite,
        )
        updates, new_state, reverted = revert_if_nonfinite(updates, new_state, state)
        return updates, new_state._replace(num_nonfinite=state.num_nonfinite + reverted)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
