"""Empirical means: the state of the frequentist baselines (UCB1, KL-UCB,
epsilon-greedy, uniform), written as a :class:`Belief` so the baselines share
the batched, weighted, NaN-guarded update of the Bayesian agents."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import choose, index_policy_info
from bayesrl.base import Belief, make_agent
from bayesrl.beliefs._common import config_value, per_arm_sum
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


def index_agent(factory: str, num_arms: int, c, index_fn):
    """An agent playing the available arm of largest ``index_fn(counts, means,
    c)`` over empirical means of rewards in [0, 1] (UCB1, KL-UCB)."""
    belief = empirical_means(num_arms, (0.0, 1.0))

    def act(key, state, obs):
        del key
        scores = index_fn(state.counts, state.means, c)
        arm, shortage = choose(scores, obs.available, 1)
        return arm, index_policy_info(scores, obs.available, arm, shortage)

    spec = AgentSpec(
        factory,
        dict(num_arms=num_arms, c=config_value(c)),
        num_arms,
        1,
        belief.reward_range,
        belief,
    )
    return register(make_agent(belief, act), spec)
