"""Shared plumbing of the GP agents: the belief factory's keyword arguments and
the upper-confidence agent ``argmax_x mu(x) + sqrt(beta_t) sigma(x)`` whose
confidence parameter ``beta_t`` each rule draws or computes."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import choose, masked
from bayesrl.base import ActInfo, Agent, Belief, make_agent


def upper_confidence_agent(
    factory: str,
    belief: Belief,
    beta_fn: Callable,
    config: dict,
    deterministic: bool,
) -> Agent:
    """Plays the available candidate maximising ``mu + sqrt(beta) sigma``.

    Args:
        factory: the public factory's name (saved headers).
        belief: a :func:`~bayesrl.beliefs.gaussian_process_candidates` belief.
        beta_fn: ``(key, round_index) -> beta``; ``round_index`` counts the
            weighted observations so far plus one (``t`` in the GP-UCB papers).
        config: the rule's JSON-friendly keyword arguments (the belief's are
            added).
        deterministic: True when ``beta_fn`` ignores its key (propensity 1);
            otherwise the propensity is reported as NaN (not computed).
    """

    def act(key, state, obs):
        round_index = jnp.sum(state.num_observations) + 1.0
        beta = beta_fn(key, round_index)
        scores = state.mean + jnp.sqrt(beta) * state.std
        arm, shortage = choose(scores, obs.available, 1)
        propensity = jnp.float32(1.0 if deterministic else jnp.nan)
        info = ActInfo(
            scores=masked(scores, obs.available),
            propensity=propensity,
            no_arm_available=shortage,
        )
        return arm, info

    # The factory's own keyword arguments (the GP prior and noise, then the
    # rule's), so that a saved file rebuilds the same agent.
    prior = {k: v for k, v in belief.config.items() if k != "discount"}
    spec = AgentSpec(
        factory,
        dict(prior, **config),
        belief.num_arms,
        1,
        belief.reward_range,
        belief,
    )
    return register(make_agent(belief, act), spec)
