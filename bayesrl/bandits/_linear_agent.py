"""Plumbing shared by the linear contextual agents: a :class:`LinearBelief`
plus a decision rule ``(key, state, obs) -> (action, ActInfo)`` becomes an
``Agent`` whose ``update`` reads the regressors off ``transition.obs.context``.

Feedback layout: ``transition.action`` and ``transition.reward`` are scalars or
``[B]`` (batched or delayed feedback, arm ``-1`` = padding);
``transition.obs.context`` is the context each item was played in: ``[dim]`` or
``[B, dim]`` in the disjoint layout, ``[K, dim]`` or ``[B, K, dim]`` in the
shared one (a single context is shared by all items of the batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl.bandits._registry import AgentSpec, register
from bayesrl.base import Agent, Transition, UpdateInfo, flatten_feedback
from bayesrl.beliefs._linear import LinearBelief
from bayesrl.types import Array


def item_features(belief: LinearBelief, arms: Array, context: Array) -> Array:
    """``[B, dim]`` regressors of ``B`` items played in ``context``."""
    num_items = arms.shape[0]
    dim = belief.dim
    if belief.layout == "disjoint":
        features = jnp.reshape(context, (-1, dim))
        return jnp.broadcast_to(features, (num_items, dim))
    contexts = jnp.reshape(context, (-1, belief.num_arms, dim))
    contexts = jnp.broadcast_to(contexts, (num_items, belief.num_arms, dim))
    index = jnp.clip(arms, 0, belief.num_arms - 1)
    return jnp.take_along_axis(contexts, index[:, None, None], axis=1)[:, 0]


def guarded_linear_update(
    belief: LinearBelief, state, arms, rewards, features, weights
) -> tuple[object, UpdateInfo]:
    """One round of the belief's update; a batch with a non-finite reward or
    regressor on a non-padding item is ignored as a whole and flagged."""
    used = (arms >= 0) & (arms < belief.num_arms) & (weights != 0)
    finite = jnp.isfinite(rewards) & jnp.all(jnp.isfinite(features), axis=-1)
    rejected = jnp.any(used & ~finite)
    safe_rewards = jnp.where(used, rewards, 0.0)
    safe_features = jnp.where(used[:, None], features, 0.0)
    new_state = belief.update(state, arms, safe_rewards, safe_features, weights)
    state = jax.tree.map(
        lambda old, new: jnp.where(rejected, old, new), state, new_state
    )
    return state, UpdateInfo(rejected=rejected)


def make_linear_agent(belief: LinearBelief, rule, factory: str, config: dict) -> Agent:
    """An :class:`Agent` over a linear belief, registered for the facade."""

    def init(key):
        del key
        return belief.init()

    def update(key, state, transition: Transition):
        del key
        arms, rewards = flatten_feedback(transition)
        features = item_features(belief, arms, transition.obs.context)
        weights = jnp.ones(arms.shape, dtype=features.dtype)
        return guarded_linear_update(belief, state, arms, rewards, features, weights)

    agent = Agent(init=init, act=rule, update=update)
    return register(
        agent,
        AgentSpec(
            factory=factory,
            config=config,
            num_arms=belief.num_arms,
            batch_size=1,
            reward_range=belief.reward_range,
            belief=belief,
        ),
    )
