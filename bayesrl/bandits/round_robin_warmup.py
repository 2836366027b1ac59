"""Round-robin warm-up in front of any single-arm bandit agent.

The Deep Bayesian Bandits Showdown (Riquelme, Tucker & Snoek, ICLR 2018,
arXiv:1802.09127; ``initial_pulls = 2`` in its ``example_main.py``) starts
every algorithm by pulling each arm a fixed number of times in turn before
its own rule takes over. :func:`round_robin_warmup` wraps an agent the same
way: in rounds ``t = 0 .. K m - 1`` (``m = pulls_per_arm``) it plays arm
``t mod K``, or, when that arm is unavailable, the next available arm in
cyclic order; from round ``K m`` on it plays the wrapped agent's action.
Every observation (warm-up ones included) is passed to the wrapped agent's
``update``, so the warm-up pulls are data for its posterior.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bayesrl.base import Agent, BanditObs, Transition
from bayesrl.types import Array, PRNGKey


class RoundRobinWarmupState(NamedTuple):
    """The wrapped agent's state and the number of update rounds so far."""

    inner: object
    num_rounds: Array


def round_robin_warmup(agent: Agent, num_arms: int, pulls_per_arm: int = 2) -> Agent:
    """Pull each of ``num_arms`` arms ``pulls_per_arm`` times in turn, then act
    as ``agent`` (module docstring).

    Args:
        agent: a bandit agent choosing one arm per step.
        num_arms: number of arms ``K`` (static, >= 2).
        pulls_per_arm: warm-up pulls per arm ``m`` (static, >= 0; the
            Showdown's 2).

    Returns:
        An :class:`~bayesrl.base.Agent` whose state is a
        :class:`RoundRobinWarmupState`. During the warm-up ``ActInfo`` carries
        the wrapped agent's scores and a propensity of 1 (the choice is
        deterministic).
    """
    for name, value, low in (
        ("num_arms", num_arms, 2),
        ("pulls_per_arm", pulls_per_arm, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    warmup_rounds = num_arms * pulls_per_arm

    def init(key: PRNGKey) -> RoundRobinWarmupState:
        return RoundRobinWarmupState(agent.init(key), jnp.zeros((), jnp.int32))

    def act(key: PRNGKey, state: RoundRobinWarmupState, obs: BanditObs):
        action, info = agent.act(key, state.inner, obs)
        # Distance of each arm after arm (t mod K) in cyclic order; the first
        # available one is the round-robin choice.
        offset = (jnp.arange(num_arms) - state.num_rounds) % num_arms
        turn = jnp.argmin(jnp.where(obs.available, offset, num_arms)).astype(
            action.dtype
        )
        warming_up = state.num_rounds < warmup_rounds
        info = info._replace(
            propensity=jnp.where(warming_up, 1.0, info.propensity).astype(
                info.propensity.dtype
            )
        )
        return jnp.where(warming_up, turn, action), info

    def update(key: PRNGKey, state: RoundRobinWarmupState, transition: Transition):
        inner, info = agent.update(key, state.inner, transition)
        # A round the wrapped agent rejected (non-finite feedback) is not counted.
        rejected = getattr(info, "rejected", jnp.zeros((), bool))
        return RoundRobinWarmupState(
            inner, state.num_rounds + jnp.where(rejected, 0, 1)
        ), info

    return Agent(init=init, act=act, update=update)
