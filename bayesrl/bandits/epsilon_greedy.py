"""Epsilon-greedy (Sutton & Barto; decaying schedule: Auer et al. 2002).

With probability ``epsilon`` play an available arm uniformly at random, else an
arm of largest empirical mean, ties broken uniformly at random and unpulled
arms counting as best (so every arm is tried before exploiting). The
propensity of the returned arm is exact:
``epsilon / |A| + (1 - epsilon) 1[a in argmax] / |argmax|``.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.bandits._empirical import empirical_means
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import masked, uniform_choice
from bayesrl.base import ActInfo, Agent, BanditObs, make_agent
from bayesrl.beliefs._common import check_num_arms, config_value, is_concrete


def epsilon_greedy(num_arms: int, epsilon=0.1) -> Agent:
    """Epsilon-greedy agent.

    Args:
        num_arms: number of arms (static, >= 2).
        epsilon: exploration probability in [0, 1] (default 0.1, traceable).
    """
    check_num_arms(num_arms)
    if is_concrete(epsilon) and not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    belief = empirical_means(num_arms, (-float("inf"), float("inf")))

    def act(key, state, obs: BanditObs):
        key_coin, key_explore, key_tie = fast_random.split(key, 3)
        available = obs.available
        scores = masked(jnp.where(state.counts > 0, state.means, jnp.inf), available)
        best = available & (scores == jnp.max(scores))
        explore = fast_random.uniform(key_coin) < epsilon
        arm = jnp.where(
            explore,
            uniform_choice(key_explore, available),
            uniform_choice(key_tie, best),
        )
        num_available = jnp.maximum(jnp.sum(available), 1)
        propensity = epsilon / num_available + (1.0 - epsilon) * best[
            arm
        ] / jnp.maximum(jnp.sum(best), 1)
        info = ActInfo(scores, propensity.astype(jnp.float32), ~jnp.any(available))
        return arm, info

    return register(
        make_agent(belief, act),
        AgentSpec(
            "epsilon_greedy",
            dict(num_arms=num_arms, epsilon=config_value(epsilon)),
            num_arms,
            1,
            belief.reward_range,
            belief,
        ),
    )
