"""Thompson sampling (and top-B Thompson sampling) over any :class:`Belief`.

Thompson (Biometrika, 1933); with a Beta(1, 1) prior on Bernoulli arms it is
asymptotically optimal, ``R_T / (C(mu) ln T) -> 1`` (Kaufmann, Korda & Munos,
ALT 2012, arXiv:1205.4217). Each ``act`` draws one posterior sample
``theta ~ p(theta | data)`` of every arm's mean reward and plays
``argmax_k theta_k`` over the available arms; with ``batch_size=B`` it plays the
``B`` distinct arms with the largest draws (top-B Thompson sampling, used for
batched pulls and prompt batches).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.bandits._rules import check_batch_size, choose, masked
from bayesrl.base import ActInfo, Agent, BanditObs, Belief, make_agent
from bayesrl.types import PRNGKey


def thompson_sampling(
    belief: Belief, batch_size: int = 1, num_propensity_samples: int = 0
) -> Agent:
    """Thompson sampling agent.

    Args:
        belief: the posterior model (``bayesrl.beliefs.beta_bernoulli(...)``...).
        batch_size: arms played per step (static); ``1`` returns a scalar arm,
            ``B > 1`` an int ``[B]`` array of distinct arms.
        num_propensity_samples: ``M`` extra posterior draws used to estimate the
            probability of choosing the returned arm (``ActInfo.propensity``);
            0 (default) skips it and reports NaN, since it multiplies the
            sampling cost by ``M + 1``. Only for ``batch_size == 1``.

    Returns:
        An :class:`~bayesrl.base.Agent` whose state is the belief's state.
    """
    check_batch_size(batch_size, belief.num_arms)
    if not isinstance(num_propensity_samples, int) or num_propensity_samples < 0:
        raise ValueError(
            "num_propensity_samples must be an int >= 0, got "
            f"{num_propensity_samples!r}"
        )
    if num_propensity_samples and batch_size != 1:
        raise ValueError("num_propensity_samples needs batch_size=1")

    def act(key: PRNGKey, state, obs: BanditObs):
        key_sample, key_propensity = fast_random.split(key)
        scores = belief.sample(key_sample, state)
        arm, shortage = choose(scores, obs.available, batch_size)
        if num_propensity_samples:
            keys = fast_random.split(key_propensity, num_propensity_samples)
            draws = jax.vmap(lambda k: belief.sample(k, state))(keys)
            winners = jnp.argmax(masked(draws, obs.available), axis=-1)
            propensity = jnp.mean(winners == arm)
        else:
            propensity = jnp.full(jnp.shape(arm), jnp.nan, jnp.float32)
        info = ActInfo(
            scores=masked(scores, obs.available),
            propensity=propensity,
            no_arm_available=shortage,
        )
        return arm, info

    agent = make_agent(belief, act)
    return register(
        agent,
        AgentSpec(
            factory="thompson_sampling",
            config=dict(
                belief=dict(name=belief.name, config=belief.config),
                batch_size=batch_size,
                num_propensity_samples=num_propensity_samples,
            ),
            num_arms=belief.num_arms,
            batch_size=batch_size,
            reward_range=belief.reward_range,
            belief=belief,
        ),
    )
