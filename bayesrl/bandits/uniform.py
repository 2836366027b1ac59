"""Uniform random play over the available arms: the random-play floor."""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl.bandits._empirical import empirical_means
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import uniform_choice
from bayesrl.base import ActInfo, Agent, BanditObs, make_agent
from bayesrl.beliefs._common import check_num_arms


def uniform(num_arms: int) -> Agent:
    """Plays an available arm uniformly at random; propensity ``1/|A|``.

    Its state counts pulls and rewards (for inspection), which the choice
    ignores.
    """
    check_num_arms(num_arms)
    belief = empirical_means(num_arms, (-float("inf"), float("inf")))

    def act(key, state, obs: BanditObs):
        available = obs.available
        arm = uniform_choice(key, available)
        count = jnp.sum(available)
        info = ActInfo(
            scores=jnp.where(available, 0.0, -jnp.inf),
            propensity=(1.0 / jnp.maximum(count, 1)).astype(jnp.float32),
            no_arm_available=count == 0,
        )
        return arm, info

    return register(
        make_agent(belief, act),
        AgentSpec(
            "uniform", dict(num_arms=num_arms), num_arms, 1, belief.reward_range, belief
        ),
    )
