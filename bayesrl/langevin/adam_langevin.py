"""Adam Langevin (the official aSGLD step of Adam LMCDQN) as an optax transform.

Ishfaq, Lan, Xu, Mahmood, Precup, Anandkumar & Azizzadenesheli, "Provable and
Practical: Efficient Exploration in Reinforcement Learning via Langevin Monte
Carlo", ICLR 2024 (https://arxiv.org/abs/2305.18246), Algorithm 2, in the form of
the authors' reference implementation. Per parameter and per inner step, with
``g`` the minibatch gradient of the loss (plus ``weight_decay * w`` when set)::

    m <- b1 m + (1 - b1) g            # moments updated BEFORE the step
    v <- b2 v + (1 - b2) g**2         # no bias correction by default
    w <- w - eta g - eta a m / (sqrt(v) + eps) + sqrt(2 eta / beta) xi

``a`` is the bias factor, ``eps`` is added after the square root, and the noise
``xi ~ N(0, I)`` is isotropic: it is *not* preconditioned by ``v``. The paper
writes ``beta = sigma_n^{-2}``. ``a = 0`` is plain SGLD (the moments still
evolve). This differs from Kim, Song & Liang's Adam-SGLD (bias-corrected,
preconditioned noise) and from "Langevin DQN" (Dwaracherla & Van Roy 2020).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from bayesrl.langevin._common import (
    adam_moments,
    check_adam_langevin_args,
    revert_if_nonfinite,
    scaled_gaussian_noise,
)
from bayesrl.types import Array, ArrayTree, PRNGKey


class AdamLangevinState(NamedTuple):
    """State of :func:`adam_langevin`.

    Attributes:
        count: number of accepted steps (used only with ``bias_correction``).
        mu: first moment ``m``, shaped like the parameters.
        nu: second moment ``v``, shaped like the parameters.
        num_nonfinite: number of steps reverted because they were not finite.
    """

    count: Array
    mu: ArrayTree
    nu: ArrayTree
    num_nonfinite: Array


def adam_langevin(
    step_size: float | Array,
    bias_factor: float | Array,
    inverse_temperature: float | Array,
    b1: float | Array = 0.9,
    b2: float | Array = 0.999,
    eps: float | Array = 1e-8,
    weight_decay: float | Array = 0.0,
    bias_correction: bool = False,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """The official Adam LMCDQN step (aSGLD).

    Args:
        step_size: ``eta > 0``; 1e-4 on Atari, {1e-2, 1e-3} on N-chain.
        bias_factor: ``a >= 0`` multiplying the Adam direction ``m / (sqrt(v) +
            eps)``; {1, 0.1, 0.01} in the papers' sweeps.
        inverse_temperature: ``beta > 0``; the noise std per step is
            ``sqrt(2 eta / beta)``. The papers sweep ``sigma_n = beta^{-1/2}`` in
            {1e-8, 1e-7, 1e-6} (Atari) and {1e-4, 1e-5, 1e-6} (N-chain).
        b1: first-moment decay (alpha_1 = 0.9).
        b2: second-moment decay (alpha_2 = 0.999).
        eps: added after the square root (lambda_1 = 1e-8).
        weight_decay: added to the gradient as ``wd * w`` before the moments
            (0 in the papers); needs ``params`` in ``update``.
        bias_correction: divide ``m`` and ``v`` by ``1 - b^t`` (off in the
            official step; a named deviation).
        noise_multiplier: multiplies the noise; 0 is the noise-off ablation.

    Returns:
        An optax ``GradientTransformationExtraArgs`` with ``update(grads, state,
        params=None, *, key)``. It is terminal (drift plus noise). A non-finite
        step is reverted with its moments and counted in ``num_nonfinite``.

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

    def init_fn(params: ArrayTree) -> AdamLangevinState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        zero = jnp.zeros((), jnp.int32)
        return AdamLangevinState(count=zero, mu=zeros, nu=zeros, num_nonfinite=zero)

    def update_fn(
        grads: ArrayTree,
        state: AdamLangevinState,
        params: ArrayTree | None = None,
        *,
        key: PRNGKey,
    ) -> tuple[ArrayTree, AdamLangevinState]:
        # The step runs on the raveled parameter vector: one fused elementwise
        # pass and one finiteness reduction instead of one per leaf (under vmap
        # over seeds the per-leaf version recomputed the noise transform in
        # every leaf's finiteness check). The noise is the same draw (it is
        # taken over the raveled tree either way); the moments keep the
        # parameters' tree structure in the state.
        flat_grads, unravel = ravel_pytree(grads)
        flat_params = None if params is None else ravel_pytree(params)[0]
        flat_state = state._replace(
            mu=ravel_pytree(state.mu)[0], nu=ravel_pytree(state.nu)[0]
        )
        g, mu, nu = adam_moments(
            "adam_langevin",
            flat_grads,
            flat_state.mu,
            flat_state.nu,
            flat_params,
            weight_decay,
            b1,
            b2,
        )
        count = state.count + 1
        if bias_correction:
            mu_hat, nu_hat = mu / (1.0 - b1**count), nu / (1.0 - b2**count)
        else:
            mu_hat, nu_hat = mu, nu
        noise = scaled_gaussian_noise(
            key, g, jnp.sqrt(2.0 * step_size / inverse_temperature), noise_multiplier
        )
        drift = g + bias_factor * mu_hat / (jnp.sqrt(nu_hat) + eps)
        updates = -step_size * drift + noise
        new_state = AdamLangevinState(
            count=count, mu=mu, nu=nu, num_nonfinite=state.num_nonfinite
        )
        updates, new_state, reverted = revert_if_nonfinite(
            updates, new_state, flat_state
        )
        return unravel(updates), new_state._replace(
            mu=unravel(new_state.mu),
            nu=unravel(new_state.nu),
            num_nonfinite=state.num_nonfinite + reverted,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
