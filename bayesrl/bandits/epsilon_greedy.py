"""Epsilon-greedy (Sutton & Barto; decaying schedule: Auer et al. 2002).

With probability ``epsilon`` play an available arm uniformly at random, else an
arm of largest empirical mean, ties broken uniformly at random and unpulled
arms counting as best (so every arm is tried before exploiting). The
propensity of the returned arm is exact:
``epsilon / |A| + (1 - epsilon) 1[a in argmax] / |argmax|``.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl.bandits._empirical import empirical_means
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import epsilon_greedy_choice
from bayesrl.base import Agent, BanditObs, make_agent
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
        estimates = jnp.where(state.counts > 0, state.means, jnp.inf)
        return epsilon_greedy_choice(key, estimates, obs.available, epsilon)

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
