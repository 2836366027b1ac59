"""Gaussian posterior over K arm means with known noise (Gaussian TS).

Model (Agrawal & Goyal, AISTATS 2013, arXiv:1209.3353; per-arm noise as in
Saha & Kveton, ICLR 2024, Algorithm 1): ``r ~ N(mu_k, sigma_k^2)`` with
``sigma_k`` known, prior ``mu_k ~ N(m0_k, s0_k^2)``. With ``n_k = sum w`` and
``S_k = sum w r`` the posterior is Gaussian with precision
``P_k = 1/s0_k^2 + n_k/sigma_k^2`` and mean
``m_k = (m0_k/s0_k^2 + S_k/sigma_k^2) / P_k``. A Thompson draw is
``m_k + xi_k / sqrt(P_k)``, one standard normal per arm. The defaults
``m0 = 0, s0 = 1, sigma = 1`` are the Sutton-Barto testbed's.
Discount: ``(n, S) <- gamma (n, S)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl._checks import check_representable
from bayesrl.base import Belief
from bayesrl.beliefs._common import (
    check_discount,
    check_num_arms,
    config_value,
    per_arm,
    per_arm_sum,
)
from bayesrl.types import Array, PRNGKey


class GaussianState(NamedTuple):
    """Sufficient statistics and hyper-parameters, all ``[K]``.

    Attributes:
        num_observations: ``n_k``, weighted observation counts.
        reward_sum: ``S_k``, weighted reward sums.
        prior_mean: ``m0_k``.
        prior_std: ``s0_k``.
        noise_std: ``sigma_k``.
    """

    num_observations: Array
    reward_sum: Array
    prior_mean: Array
    prior_std: Array
    noise_std: Array

    @property
    def precision(self) -> Array:
        """Posterior precision ``P_k``."""
        return self.prior_std**-2 + self.num_observations / self.noise_std**2

    @property
    def mean(self) -> Array:
        """Posterior mean ``m_k``."""
        weighted = (
            self.prior_mean / self.prior_std**2 + self.reward_sum / self.noise_std**2
        )
        return weighted / self.precision


def init(num_arms: int, prior_mean=0.0, prior_std=1.0, noise_std=1.0) -> GaussianState:
    dtype = jnp.result_type(float)
    return GaussianState(
        num_observations=jnp.zeros((num_arms,), dtype),
        reward_sum=jnp.zeros((num_arms,), dtype),
        prior_mean=per_arm(prior_mean, num_arms, dtype),
        prior_std=per_arm(prior_std, num_arms, dtype),
        noise_std=per_arm(noise_std, num_arms, dtype),
    )


def discount_state(state: GaussianState, gamma) -> GaussianState:
    """``(n, S) <- gamma (n, S)``; exact identity at 1."""
    return state._replace(
        num_observations=gamma * state.num_observations,
        reward_sum=gamma * state.reward_sum,
    )


def update(state: GaussianState, arms, rewards, weights, discount_factor=1.0):
    """One round: time discount, then add the weighted batch."""
    num_arms = state.num_observations.shape[0]
    state = discount_state(state, discount_factor)
    weights = weights.astype(state.reward_sum.dtype)
    return state._replace(
        num_observations=state.num_observations + per_arm_sum(weights, arms, num_arms),
        reward_sum=state.reward_sum + per_arm_sum(weights * rewards, arms, num_arms),
    )


def sample(key: PRNGKey, state: GaussianState) -> Array:
    """``m_k + xi_k / sqrt(P_k)`` with ``xi ~ N(0, I)``."""
    noise = fast_random.normal(key, state.reward_sum.shape, state.reward_sum.dtype)
    return state.mean + noise * jax.lax.rsqrt(state.precision)


def quantile(state: GaussianState, level) -> Array:
    """``m_k + Phi^{-1}(level) / sqrt(P_k)``."""
    z = jax.scipy.special.ndtri(jnp.asarray(level, state.reward_sum.dtype))
    return state.mean + z * jax.lax.rsqrt(state.precision)


def gaussian(
    num_arms: int,
    noise_std=1.0,
    prior_mean=0.0,
    prior_std=1.0,
    discount=1.0,
) -> Belief:
    """Gaussian belief with known noise.

    Args:
        num_arms: number of arms K (static, >= 2).
        noise_std: known reward noise ``sigma > 0``, scalar or ``[K]``.
        prior_mean: prior mean ``m0``, scalar or ``[K]``.
        prior_std: prior standard deviation ``s0 > 0``, scalar or ``[K]``.
        discount: time discount ``gamma`` in (0, 1], once per update round.
    """
    check_num_arms(num_arms)
    dtype = jnp.result_type(float)
    check_representable("prior_mean", prior_mean, num_arms, dtype, positive=False)
    check_representable("noise_std", noise_std, num_arms, dtype)
    check_representable("prior_std", prior_std, num_arms, dtype)
    check_discount("discount", discount)
    return Belief(
        init=lambda: init(num_arms, prior_mean, prior_std, noise_std),
        update=lambda state, arms, rewards, weights: update(
            state, arms, rewards, weights, discount
        ),
        sample=sample,
        mean=lambda state: state.mean,
        quantile=quantile,
        discount=discount_state,
        counts=lambda state: state.num_observations,
        num_arms=num_arms,
        reward_range=(-float("inf"), float("inf")),
        name="gaussian",
        config=dict(
            num_arms=num_arms,
            noise_std=config_value(noise_std),
            prior_mean=config_value(prior_mean),
            prior_std=config_value(prior_std),
            discount=config_value(discount),
        ),
    )
