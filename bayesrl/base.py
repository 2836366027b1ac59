"""The core abstractions: ``Agent``, ``Belief``, ``Transition`` and ``make_agent``.

Every algorithm in bayesrl is an :class:`Agent`: a NamedTuple of three pure
functions built by a factory that closes over static configuration, the way
``optax.adam(...)`` returns a ``GradientTransformation``.

Contract (checked for every agent by :func:`bayesrl.testing.check_agent`):

* ``init(key) -> state``; ``act(key, state, obs) -> (action, act_info)``;
  ``update(key, state, transition) -> (state, update_info)``.
* Pure and jittable: no Python control flow on traced values, no hidden state,
  no global RNG. The key is always the first argument and never stored in state.
* ``act`` is read-only: it never returns a new state.
* ``update``'s info holds diagnostics only, never anything the next step needs.
* Shapes are static: they are fixed when the factory is called.
* Inside jit, numerical trouble (a non-finite reward, say) keeps the previous
  state and is counted in the info ("revert and flag"), never propagated as NaN.

Bandit agents are mostly a :class:`Belief` (a posterior over the arms' mean
rewards) combined with a decision rule; :func:`make_agent` does the plumbing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.types import Array, ArrayTree, PRNGKey

State = Any
InitFn = Callable[[PRNGKey], State]
ActFn = Callable[[PRNGKey, State, ArrayTree], tuple[Array, ArrayTree]]


class Transition(NamedTuple):
    """One interaction step; mirrors the outputs of gymnax>=1.0 ``step``.

    For bandits ``action`` and ``reward`` may carry a leading batch axis (a
    batch of pulled arms with their rewards, repeats allowed); arms equal to
    ``-1`` are padding and are ignored by every conjugate update.
    """

    obs: ArrayTree
    action: Array
    reward: Array
    next_obs: ArrayTree
    terminated: Array
    truncated: Array


UpdateFn = Callable[[PRNGKey, State, Transition], tuple[State, ArrayTree]]


class Agent(NamedTuple):
    """A decision-making algorithm as three pure functions."""

    init: InitFn
    act: ActFn
    update: UpdateFn


class Belief(NamedTuple):
    """A posterior over the mean rewards of ``num_arms`` arms.

    Attributes:
        init: ``() -> state``, the prior.
        update: ``(state, arms[B], rewards[B], weights[B]) -> state``; adds a
            batch of weighted observations. Arms outside ``[0, num_arms)`` (the
            padding value ``-1``) are ignored. For conjugate beliefs one batch
            equals the same observations added one at a time, in any order.
        sample: ``(key, state) -> [num_arms]``, one posterior draw of the mean
            rewards.
        mean: ``(state) -> [num_arms]``, the posterior mean rewards.
        quantile: ``(state, level) -> [num_arms]``, posterior quantiles of the
            mean rewards at ``level`` in (0, 1), or None when not available.
        discount: ``(state, gamma) -> state``, forgets evidence towards the
            prior; ``gamma == 1`` is an exact identity. Beliefs built with a
            time discount call it inside ``update``, once per round; call it
            directly to age a state by several rounds (``gamma ** m``).
        counts: ``(state) -> [num_arms]``, the (weighted) number of
            observations of each arm in the state.
        num_arms: the static number of arms.
        reward_range: the closed interval of rewards the model accepts; the
            host-side facade refuses rewards outside it.
        name: the factory's name, used in saved files.
        config: the factory's keyword arguments, used in saved files.
    """

    init: Callable[[], State]
    update: Callable[[State, Array, Array, Array], State]
    sample: Callable[[PRNGKey, State], Array]
    mean: Callable[[State], Array]
    quantile: Callable[[State, Array], Array] | None
    discount: Callable[[State, Array], State]
    counts: Callable[[State], Array]
    num_arms: int
    reward_range: tuple[float, float]
    name: str
    config: dict


class BanditObs(NamedTuple):
    """What a bandit agent sees before acting.

    Attributes:
        available: bool ``[num_arms]``; unavailable arms are never chosen.
        context: None for K-armed bandits, ``[dim]`` (one context shared by all
            arms) or ``[num_arms, dim]`` (per-arm features) for contextual ones.
    """

    available: Array
    context: ArrayTree = None


class ActInfo(NamedTuple):
    """Diagnostics of a bandit decision.

    Attributes:
        scores: ``[num_arms]`` the scores the rule maximised (a posterior draw for
            Thompson sampling, an index for UCB-type rules); ``-inf`` for
            unavailable arms.
        propensity: probability that the rule chooses the returned action given
            the state (exact for uniform, epsilon-greedy and index policies; a
            Monte Carlo estimate for Thompson rules when requested, else NaN).
        no_arm_available: True when the mask allowed no arm (the action is then
            arm 0 and must not be used).
    """

    scores: Array
    propensity: Array
    no_arm_available: Array


class UpdateInfo(NamedTuple):
    """Diagnostics of a bandit update.

    Attributes:
        rejected: True when the batch held a non-finite reward or one outside
            the belief's ``reward_range``; the whole batch was then ignored and
            the previous state kept.
    """

    rejected: Array


DecisionRule = Callable[[PRNGKey, State, BanditObs], tuple[Array, ActInfo]]


def all_arms_available(num_arms: int) -> BanditObs:
    """The observation of a K-armed bandit whose arms are all available."""
    return BanditObs(available=jnp.ones((num_arms,), dtype=bool))


def flatten_feedback(transition: Transition) -> tuple[Array, Array]:
    """Arms and rewards of a (possibly batched) bandit transition as 1-D arrays."""
    arms = jnp.reshape(transition.action, (-1,)).astype(jnp.int32)
    rewards = jnp.reshape(transition.reward, (-1,))
    return arms, rewards


def guarded_update(
    belief: Belief, state: State, arms: Array, rewards: Array, weights: Array
) -> tuple[State, UpdateInfo]:
    """One round of a belief's update, guarded against non-finite rewards and
    rewards outside the belief's ``reward_range``.

    A batch containing such a reward on a non-padding item is ignored as a
    whole (the previous state is kept) and flagged in :class:`UpdateInfo`.
    """
    in_range = (arms >= 0) & (arms < belief.num_arms) & (weights != 0)
    acceptable = jnp.isfinite(rewards)
    low, high = belief.reward_range
    if low > -math.inf:  # static: unbounded ranges cost no comparison
        acceptable = acceptable & (rewards >= low)
    if high < math.inf:
        acceptable = acceptable & (rewards <= high)
    rejected = jnp.any(in_range & ~acceptable)
    safe_rewards = jnp.where(in_range, rewards, 0.0)
    new_state = belief.update(state, arms, safe_rewards, weights)
    state = jax.tree.map(
        lambda old, new: jnp.where(rejected, old, new), state, new_state
    )
    return state, UpdateInfo(rejected=rejected)


def make_agent(belief: Belief, rule: DecisionRule) -> Agent:
    """Combine a posterior model and a decision rule into an :class:`Agent`.

    The agent's state is the belief's state, so posterior fields (``state.alpha``
    for a Beta-Bernoulli belief, say) are read directly off it. One ``update``
    call is one round: a belief built with a time discount forgets inside its
    own ``update``, once per call, whatever the batch size.

    Args:
        belief: the posterior model.
        rule: ``(key, belief_state, obs) -> (action, ActInfo)``.
    """

    def init(key: PRNGKey) -> State:
        del key
        return belief.init()

    def act(key: PRNGKey, state: State, obs: BanditObs) -> tuple[Array, ActInfo]:
        return rule(key, state, obs)

    def update(
        key: PRNGKey, state: State, transition: Transition
    ) -> tuple[State, UpdateInfo]:
        del key
        arms, rewards = flatten_feedback(transition)
        weights = jnp.ones(arms.shape, dtype=jnp.float32)
        return guarded_update(belief, state, arms, rewards, weights)

    return Agent(init=init, act=act, update=update)
