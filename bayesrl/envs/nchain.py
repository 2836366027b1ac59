"""The N-chain exploration benchmark of the Langevin DQN papers, as a gymnax env.

Osband et al., "Deep Exploration via Randomized Value Functions" (JMLR 2019);
the variant used by Ishfaq et al. (ICLR 2024, RLC 2024), after
``qlan3/gym-games`` ``NChain-v1``:

* states ``s_1 .. s_N`` (indices ``0 .. N-1``); every episode starts in ``s_2``
  (index 1);
* two deterministic actions, 0 = left and 1 = right, clipped at the ends;
* the reward is computed from the pre-move state: ``0.001`` for left in ``s_1``,
  ``1`` for right in ``s_N``, 0 otherwise;
* the horizon is ``N + 8`` steps; the optimal return is 10 (``N - 2`` right
  moves, then 10 rewarded steps) and the left loop earns ``(N + 7) * 0.001``;
* the observation is the thermometer code ``1[i <= state]`` in ``{0, 1}^N``
  (the reset observation is ``[1, 1, 0, ...]``).

The reference reports the end of the episode as ``done`` and treats it as
terminal (no bootstrap): ``step`` returns ``terminated=True`` at ``t = N + 8``,
or ``truncated=True`` instead with ``time_limit_as_truncation=True``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey


@struct.dataclass
class NChainState(environment.EnvState):
    """Position on the chain (index) and the step counter."""

    position: Array
    time: Array


@struct.dataclass
class NChainParams:
    """Rewards of the two ends and the horizon (``N + 8`` by default)."""

    small_reward: Array
    large_reward: Array
    max_steps_in_episode: Array


class NChain(Environment):
    """The N-chain of the LMCDQN papers (see the module docstring).

    Args:
        n: the chain length ``N >= 3``.
        time_limit_as_truncation: report the horizon as truncation instead of
            termination (the reference treats it as terminal).
    """

    def __init__(self, n: int, time_limit_as_truncation: bool = False):
        if not isinstance(n, int) or isinstance(n, bool) or n < 3:
            raise ValueError(f"n must be an int >= 3, got {n!r}")
        self._n = n
        self._time_limit_as_truncation = bool(time_limit_as_truncation)

    def __hash__(self) -> int:
        return hash((type(self), self._n, self._time_limit_as_truncation))

    def __eq__(self, other: Any) -> bool:
        return (
            type(other) is type(self)
            and other._n == self._n
            and other._time_limit_as_truncation == self._time_limit_as_truncation
        )

    @property
    def n(self) -> int:
        return self._n

    @property
    def horizon(self) -> int:
        """Steps per episode, ``N + 8``."""
        return self._n + 8

    @property
    def num_states(self) -> int:
        return self._n

    @property
    def num_actions(self) -> int:
        return 2

    @property
    def default_params(self) -> NChainParams:
        return NChainParams(
            small_reward=jnp.asarray(0.001, jnp.float32),
            large_reward=jnp.asarray(1.0, jnp.float32),
            max_steps_in_episode=jnp.asarray(self._n + 8, jnp.int32),
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self._n,), jnp.float32)

    def observation(self, position: Array) -> Array:
        """The thermometer code ``1[i <= position]`` of a position."""
        return (jnp.arange(self._n) <= position).astype(jnp.float32)

    @staticmethod
    def state_index(obs: Array) -> Array:
        """The position encoded by a thermometer observation."""
        return jnp.sum(obs).astype(jnp.int32) - 1

    def reset_env(self, key: PRNGKey, params) -> tuple[Array, NChainState]:
        del key, params
        state = NChainState(
            position=jnp.ones((), jnp.int32), time=jnp.zeros((), jnp.int32)
        )
        return self.observation(state.position), state

    def _at_horizon(self, state: NChainState, params) -> Array:
        return state.time >= params.max_steps_in_episode

    def is_terminated(self, state: NChainState, params) -> Array:
        if self._time_limit_as_truncation:
            return jnp.zeros((), bool)
        return self._at_horizon(state, params)

    def is_truncated(self, state: NChainState, params) -> Array:
        if self._time_limit_as_truncation:
            return self._at_horizon(state, params)
        return jnp.zeros((), bool)

    def step_env(self, key: PRNGKey, state: NChainState, action, params):
        del key
        right = jnp.asarray(action) == 1
        reward = jnp.where(
            right & (state.position == self._n - 1), params.large_reward, 0.0
        ) + jnp.where(~right & (state.position == 0), params.small_reward, 0.0)
        position = jnp.clip(
            state.position + jnp.where(right, 1, -1), 0, self._n - 1
        ).astype(jnp.int32)
        state = NChainState(position=position, time=state.time + 1)
        terminated = self.is_terminated(state, params)
        return self.observation(position), state, reward, terminated, {}
