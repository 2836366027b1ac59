"""Bayes-UCB: play the arm with the largest posterior quantile.

Kaufmann, Cappe & Garivier, "On Bayesian Upper Confidence Bounds for Bandit
Problems", AISTATS 2012; optimality of the horizon-free form for
one-parameter exponential families: Kaufmann, Ann. Statist. 2018
(arXiv:1601.01190). The index of arm k at round t is the posterior quantile
``q_k(t) = Q(1 - 1/(t (log T)^c); p(mu_k | data))`` with horizon ``T``, or
``Q(1 - 1/(t (log t)^c))`` without one. The analysis needs ``c = 5``; the
authors recommend ``c = 0`` in practice, the default here. The round ``t`` is
one plus the (weighted) number of observations in the state.

No random draws, so it runs at UCB-like speed. Being deterministic, under
delayed feedback it repeats one arm until the next update (Thompson sampling
does not).
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl._checks import check_positive
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import choose, index_policy_info
from bayesrl.base import Agent, BanditObs, Belief, make_agent
from bayesrl.beliefs._common import config_value, is_concrete
from bayesrl.types import PRNGKey


def bayes_ucb(belief: Belief, horizon: int | None = None, c=0.0) -> Agent:
    """Bayes-UCB agent.

    Args:
        belief: a belief with a ``quantile`` function.
        horizon: the horizon ``T`` for the ``1 - 1/(t (log T)^c)`` level, or
            None for the horizon-free ``1 - 1/(t (log t)^c)``.
        c: the exponent ``c >= 0`` (default 0, the paper's practical choice).
    """
    if belief.quantile is None:
        raise ValueError(f"belief {belief.name!r} has no quantile function")
    if horizon is not None:
        check_positive("horizon", horizon, belief.num_arms)
    if is_concrete(c) and not float(c) >= 0:
        raise ValueError(f"c must be >= 0, got {c!r}")

    def act(key: PRNGKey, state, obs: BanditObs):
        del key
        t = 1.0 + jnp.sum(belief.counts(state))
        log_term = jnp.log(jnp.maximum(horizon if horizon is not None else t, jnp.e))
        level = 1.0 - 1.0 / (t * log_term**c)
        scores = belief.quantile(state, level)
        arm, shortage = choose(scores, obs.available, 1)
        return arm, index_policy_info(scores, obs.available, arm, shortage)

    return register(
        make_agent(belief, act),
        AgentSpec(
            factory="bayes_ucb",
            config=dict(
                belief=dict(name=belief.name, config=belief.config),
                horizon=horizon,
                c=config_value(c),
            ),
            num_arms=belief.num_arms,
            batch_size=1,
            reward_range=belief.reward_range,
            belief=belief,
        ),
    )
