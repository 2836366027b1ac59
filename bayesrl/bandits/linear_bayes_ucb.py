"""Bayes-UCB for linear contextual bandits.

Kaufmann, Cappe & Garivier, "On Bayesian Upper Confidence Bounds for Bandit
Problems", AISTATS 2012, applied to the marginal posterior of each arm's mean
reward ``x_k . theta``. The index of arm ``k`` at
round ``t`` is its posterior quantile at level ``1 - 1/(t (log T)^c)`` (horizon
``T``; ``log t`` without one), ``c = 0`` by default (the paper's practical
choice). With known noise the marginal is Gaussian,
``x' m + Phi^{-1}(q) sqrt(x' P^{-1} x)``; with unknown noise (NIG) it is a
Student-t with ``2 a_n`` degrees of freedom. ``t`` is one plus the weighted
number of observations. No random draws; deterministic.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl._checks import check_positive
from bayesrl.bandits._linear_agent import make_linear_agent
from bayesrl.bandits._rules import choose, index_policy_info
from bayesrl.bandits.linear_thompson import linear_belief
from bayesrl.base import Agent, BanditObs
from bayesrl.beliefs._common import config_value, is_concrete


def linear_bayes_ucb(
    num_arms: int,
    dim: int,
    noise_std=None,
    prior_scale=1.0,
    *,
    horizon: int | None = None,
    c=0.0,
    layout: str = "disjoint",
    noise_shape=6.0,
    noise_rate=6.0,
    discount=1.0,
) -> Agent:
    """Linear Bayes-UCB agent.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: context (disjoint) or feature (shared) dimension d.
        noise_std: known noise ``sigma > 0``, or None for the NIG belief.
        prior_scale: prior standard deviation of each coefficient (> 0).
        horizon: the horizon ``T`` of the level, or None (horizon-free).
        c: the exponent ``c >= 0`` of ``(log T)^c`` (default 0).
        layout: ``"disjoint"`` or ``"shared"``.
        noise_shape: ``a0`` of the noise prior (unknown noise).
        noise_rate: ``b0`` of the noise prior (unknown noise).
        discount: time discount in (0, 1].
    """
    if horizon is not None:
        check_positive("horizon", horizon)
    if is_concrete(c) and not float(c) >= 0:
        raise ValueError(f"c must be >= 0, got {c!r}")
    belief = linear_belief(
        num_arms,
        dim,
        noise_std,
        prior_scale,
        layout,
        noise_shape=noise_shape,
        noise_rate=noise_rate,
        discount=discount,
    )

    def act(key, state, obs: BanditObs):
        del key
        t = 1.0 + jnp.sum(belief.counts(state))
        log_term = jnp.log(jnp.maximum(horizon if horizon is not None else t, jnp.e))
        level = 1.0 - 1.0 / (t * log_term**c)
        scores = belief.quantile(state, obs.context, level)
        arm, shortage = choose(scores, obs.available, 1)
        return arm, index_policy_info(scores, obs.available, arm, shortage)

    config = dict(
        num_arms=num_arms,
        dim=dim,
        noise_std=config_value(noise_std),
        prior_scale=config_value(prior_scale),
        horizon=horizon,
        c=config_value(c),
        layout=layout,
        noise_shape=config_value(noise_shape),
        noise_rate=config_value(noise_rate),
        discount=config_value(discount),
    )
    return make_linear_agent(belief, act, "linear_bayes_ucb", config)
