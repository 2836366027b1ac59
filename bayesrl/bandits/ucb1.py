"""UCB1 (Auer, Cesa-Bianchi & Fischer, Machine Learning 47, 2002).

Index ``mu_hat_k + sqrt(c ln t / n_k)`` with ``t = sum_k n_k`` and rewards in
[0, 1]; the paper's width is ``c = 2``. An unpulled arm has index ``+inf``, so
the first K decisions are round-robin in index order: an unpulled arm never
scores 0 (the cold-start bug that locks MABWiser's UCB1 on arm 0).
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl.bandits._empirical import empirical_means
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import choose, index_policy_info
from bayesrl.base import Agent, BanditObs, make_agent
from bayesrl.beliefs._common import check_num_arms, config_value, is_concrete


def ucb1_index(counts, means, c=2.0):
    """``means + sqrt(c ln t / counts)``, ``+inf`` where ``counts == 0``."""
    t = jnp.sum(counts)
    width = jnp.sqrt(c * jnp.log(jnp.maximum(t, 1.0)) / jnp.maximum(counts, 1e-30))
    return jnp.where(counts > 0, means + width, jnp.inf)


def ucb1(num_arms: int, c=2.0) -> Agent:
    """UCB1 agent for rewards in [0, 1].

    Args:
        num_arms: number of arms (static, >= 2).
        c: exploration width ``c > 0`` in ``sqrt(c ln t / n)`` (default 2).
    """
    check_num_arms(num_arms)
    if is_concrete(c) and not float(c) > 0:
        raise ValueError(f"c must be > 0, got {c!r}")
    belief = empirical_means(num_arms, (0.0, 1.0))

    def act(key, state, obs: BanditObs):
        del key
        scores = ucb1_index(state.counts, state.means, c)
        arm, shortage = choose(scores, obs.available, 1)
        return arm, index_policy_info(scores, obs.available, arm, shortage)

    return register(
        make_agent(belief, act),
        AgentSpec(
            "ucb1",
            dict(num_arms=num_arms, c=config_value(c)),
            num_arms,
            1,
            belief.reward_range,
            belief,
        ),
    )
