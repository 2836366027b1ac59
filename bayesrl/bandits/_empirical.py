"""Empirical means: the state of the frequentist baselines (UCB1, KL-UCB,
epsilon-greedy, uniform), written as a :class:`Belief` so the baselines share
the batched, weighted, NaN-guarded update of the Bayesian agents."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bayesrl.base import Belief
from bayesrl.beliefs._common import per_arm_sum
from bayesrl.types import Array


class EmpiricalState(NamedTuple):
    """``[K]`` weighted pull counts ``n_k`` and reward sums."""

    counts: Array
    reward_sums: Array

    @property
    def means(self) -> Array:
        """Empirical means, 0 for unpulled arms (their index handles them)."""
        return self.reward_sums / jnp.maximum(self.counts, 1e-30)


def empirical_means(num_arms: int, reward_range: tuple[float, float]) -> Belief:
    """Counts and sums of rewards; ``sample`` returns the empirical means."""
    dtype = jnp.result_type(float)

    def update(state, arms, rewards, weights):
        weights = weights.astype(dtype)
        return EmpiricalState(
            counts=state.counts + per_arm_sum(weights, arms, num_arms),
            reward_sums=state.reward_sums
            + per_arm_sum(weights * rewards, arms, num_arms),
        )

    return Belief(
        init=lambda: EmpiricalState(
            jnp.zeros((num_arms,), dtype), jnp.zeros((num_arms,), dtype)
        ),
        update=update,
        sample=lambda key, state: state.means,
        mean=lambda state: state.means,
        quantile=None,
        discount=lambda state, gamma: EmpiricalState(
            gamma * state.counts, gamma * state.reward_sums
        ),
        counts=lambda state: state.counts,
        num_arms=num_arms,
        reward_range=reward_range,
        name="empirical_means",
        config=dict(num_arms=num_arms),
    )
