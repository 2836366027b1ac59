"""LinUCB with disjoint (or shared) linear models.

Li, Chu, Langford & Schapire, "A Contextual-Bandit Approach to Personalized
News Article Recommendation", WWW 2010 (arXiv:1003.0146), Algorithm 1. Per
arm ``A_k = ridge I + sum x x'`` and ``b_k = sum r x``; the index is
``x . A_k^{-1} b_k + alpha sqrt(x' A_k^{-1} x)`` and the available arm of
largest index is played (lowest index on ties). ``A^{-1}`` is the covariance of
the known-noise belief :mod:`bayesrl.beliefs.linear_gaussian` with
``noise_std = 1`` and ``prior_scale = ridge^{-1/2}``, so LinUCB shares its
rank-one square-root updates. Deterministic: under delayed feedback it repeats
one arm between updates.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl._checks import check_positive
from bayesrl.bandits._linear_agent import make_linear_agent
from bayesrl.bandits._rules import choose, index_policy_info
from bayesrl.base import Agent, BanditObs
from bayesrl.beliefs._common import config_value
from bayesrl.beliefs.linear_gaussian import linear_gaussian


def lin_ucb(
    num_arms: int,
    dim: int,
    alpha=1.0,
    *,
    ridge=1.0,
    layout: str = "disjoint",
    discount=1.0,
) -> Agent:
    """LinUCB agent.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: context (disjoint) or feature (shared) dimension d.
        alpha: width of the confidence bonus (> 0, traceable).
        ridge: ridge penalty (> 0); ``A = ridge I + X'X``.
        layout: ``"disjoint"`` (context ``[d]``) or ``"shared"`` (``[K, d]``).
        discount: time discount in (0, 1] of the statistics.
    """
    check_positive("alpha", alpha)
    check_positive("ridge", ridge)
    belief = linear_gaussian(
        num_arms,
        dim,
        noise_std=1.0,
        prior_scale=ridge**-0.5,
        layout=layout,
        discount=discount,
    )

    def act(key, state, obs: BanditObs):
        del key
        scores = belief.mean(state, obs.context) + alpha * jnp.sqrt(
            belief.variance(state, obs.context)
        )
        arm, shortage = choose(scores, obs.available, 1)
        return arm, index_policy_info(scores, obs.available, arm, shortage)

    config = dict(
        num_arms=num_arms,
        dim=dim,
        alpha=config_value(alpha),
        ridge=config_value(ridge),
        layout=layout,
        discount=config_value(discount),
    )
    return make_linear_agent(belief, act, "lin_ucb", config)
