"""What the host-side facade needs to know about an agent built by a factory.

``Agent`` is a bare NamedTuple of three functions, so factories record a
:class:`AgentSpec` here, keyed weakly by the agent's ``act`` function. The
facade (:class:`bayesrl.Bandit`) uses it to validate input and to write a
saved file's header from which the same agent can be rebuilt.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

from bayesrl.base import Agent, Belief


class AgentSpec(NamedTuple):
    """Static description of a bandit agent.

    Attributes:
        factory: the public factory's name (``"thompson_sampling"``...).
        config: JSON-friendly keyword arguments that rebuild the agent; a
            belief argument appears as ``{"name": ..., "config": {...}}``.
        num_arms: number of arms.
        batch_size: arms chosen per ``act``.
        reward_range: closed interval of accepted rewards.
        belief: the agent's belief (its state is the agent's state).
    """

    factory: str
    config: dict
    num_arms: int
    batch_size: int
    reward_range: tuple[float, float]
    belief: Belief


_SPECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register(agent: Agent, spec: AgentSpec) -> Agent:
    _SPECS[agent.act] = spec
    return agent


def describe(agent: Agent) -> AgentSpec | None:
    """The :class:`AgentSpec` of an agent built by a bayesrl factory, else None."""
    return _SPECS.get(agent.act)
