"""Tabular episodic MDPs as gymnax (>= 1.0) environments that expose their model.

Every environment here is a finite MDP with ``S`` states, ``A`` actions and a
static horizon ``H``. Its :class:`TabularMDPParams` *are* the true model, and
:meth:`TabularMDP.model` returns it as a :class:`TabularModel`, so agents and
evaluation code can compute exact values and exact expected regret (see
:mod:`bayesrl.psrl.planning`).

Semantics shared by all of them:

* ``reset`` draws ``s_0 ~ initial_distribution``.
* ``step`` from state ``s`` with action ``a`` draws ``s' ~ P(. | s, a)`` and pays
  the mean reward ``R(s, a)`` (rewards are deterministic given ``(s, a)``).
* The episode terminates after ``(s, a)`` when ``termination[s, a] == 1``
  (no value is collected afterwards) and is truncated after ``H`` steps.
* The observation is the state index (``int32`` scalar), or with
  ``one_hot_obs=True`` a ``float32[S]`` one-hot vector (for value-function
  approximators such as LMC-LSVI).

Instances:

* :class:`TabularMDP`: any model; :func:`random_tabular_mdp_params` draws one
  from a Dirichlet prior (the "random MDP" of Osband, Russo & Van Roy 2013).
* :class:`RiverSwim`: the chain of Strehl & Littman (2008) in the variant used by
  Osband et al. (2013), 6 states and horizon 20 by default.
* :class:`DeepSea`: bsuite's deep sea (Osband et al. 2020,
  https://arxiv.org/abs/1908.03568) with the per-cell randomised action map drawn
  from the instance key and stored in the parameters, so instances vmap.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey


class TabularModel(NamedTuple):
    """The true model of a finite episodic MDP.

    Attributes:
        transitions: ``float32[S, A, S]``, ``P(s' | s, a)``; rows sum to 1.
        rewards: ``float32[S, A]``, the mean reward ``R(s, a)``.
        termination: ``float32[S, A]``, 1 where the episode ends after ``(s, a)``.
        initial_distribution: ``float32[S]``, ``rho(s_0)``.
    """

    transitions: Array
    rewards: Array
    termination: Array
    initial_distribution: Array


@struct.dataclass
class TabularMDPState(environment.EnvState):
    """The step within the episode (``time``) and the current state index."""

    time: Array
    state: Array


@struct.dataclass
class TabularMDPParams:
    """The model of a tabular MDP (the fields of :class:`TabularModel`)."""

    transitions: Array
    rewards: Array
    termination: Array
    initial_distribution: Array


@struct.dataclass
class DeepSeaParams(TabularMDPParams):
    """A deep-sea model plus its action map.

    ``action_mapping[row, col]`` is the action that moves right in that cell
    (bsuite's ``_action_mapping``); the other action moves left.
    """

    action_mapping: Array = None


class TabularMDP(Environment):
    """A finite episodic MDP given by its model (see the module docstring).

    Args:
        num_states: ``S``.
        num_actions: ``A``.
        horizon: ``H``, the number of steps per episode (static).
        one_hot_obs: observe a ``float32[S]`` one-hot vector instead of the index.
        reward_range: bounds ``(low, high)`` of the mean rewards; agents that
            learn rewards rescale them to ``[0, 1]`` with it.
    """

    def __init__(
        self,
        num_states: int,
        num_actions: int,
        horizon: int,
        *,
        one_hot_obs: bool = False,
        reward_range: tuple[float, float] = (0.0, 1.0),
    ):
        for name, value, least in (
            ("num_states", num_states, 1),
            ("num_actions", num_actions, 1),
            ("horizon", horizon, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        low, high = (float(r) for r in reward_range)
        if not low < high:
            raise ValueError(f"reward_range must have low < high, got {reward_range}")
        self._num_states = num_states
        self._num_actions = num_actions
        self._horizon = horizon
        self._one_hot_obs = bool(one_hot_obs)
        self._reward_range = (low, high)

    def _config(self) -> tuple:
        return (
            self._num_states,
            self._num_actions,
            self._horizon,
            self._one_hot_obs,
            self._reward_range,
        )

    # Equal environments share jit caches (gymnax jits `step` on `self`).
    def __hash__(self) -> int:
        return hash((type(self), self._config()))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other._config() == self._config()

    @property
    def num_states(self) -> int:
        return self._num_states

    @property
    def num_actions(self) -> int:
        return self._num_actions

    @property
    def horizon(self) -> int:
        return self._horizon

    @property
    def one_hot_obs(self) -> bool:
        return self._one_hot_obs

    @property
    def reward_range(self) -> tuple[float, float]:
        return self._reward_range

    @property
    def default_params(self) -> TabularMDPParams:
        """A random MDP drawn with ``jax.random.key(0)`` (see
        :func:`random_tabular_mdp_params`)."""
        return random_tabular_mdp_params(
            jax.random.key(0), self._num_states, self._num_actions
        )

    def default_termination(self) -> np.ndarray:
        """``float32[S, A]`` termination known from the environment's rules,
        shared by all its instances (none for a generic tabular MDP)."""
        return np.zeros((self._num_states, self._num_actions), np.float32)

    def model(self, params: TabularMDPParams) -> TabularModel:
        """The true model of the instance ``params``."""
        return TabularModel(
            transitions=params.transitions,
            rewards=params.rewards,
            termination=params.termination,
            initial_distribution=params.initial_distribution,
        )

    def observation(self, state_index: Array) -> Array:
        """The observation of a state index (the index, or its one-hot vector)."""
        if self._one_hot_obs:
            return jax.nn.one_hot(state_index, self._num_states, dtype=jnp.float32)
        return jnp.asarray(state_index, jnp.int32)

    def get_obs(self, state: TabularMDPState, params=None, key=None) -> Array:
        return self.observation(state.state)

    def reset_env(
        self, key: PRNGKey, params: TabularMDPParams
    ) -> tuple[Array, TabularMDPState]:
        state_index = fast_random.categorical(key, jnp.log(params.initial_distribution))
        state = TabularMDPState(
            state=state_index.astype(jnp.int32), time=jnp.zeros((), jnp.int32)
        )
        return self.observation(state.state), state

    def step_env(
        self,
        key: PRNGKey,
        state: TabularMDPState,
        action: Array,
        params: TabularMDPParams,
    ):
        action = jnp.asarray(action, jnp.int32)
        next_probs = params.transitions[state.state, action]
        next_index = fast_random.categorical(key, jnp.log(next_probs)).astype(jnp.int32)
        reward = params.rewards[state.state, action]
        terminated = params.termination[state.state, action] > 0.5
        next_state = TabularMDPState(state=next_index, time=state.time + 1)
        info = {"discount": 1.0 - terminated.astype(jnp.float32)}
        return self.observation(next_index), next_state, reward, terminated, info

    def is_terminated(self, state: TabularMDPState, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state: TabularMDPState, params) -> Array:
        return state.time >= self._horizon

    @property
    def name(self) -> str:
        return type(self).__name__

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params=None):
        if self._one_hot_obs:
            return spaces.Box(0.0, 1.0, (self._num_states,), jnp.float32)
        return spaces.Discrete(self._num_states)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "state": spaces.Discrete(self._num_states),
                "time": spaces.Discrete(self._horizon + 1),
            }
        )


@functools.partial(
    jax.jit, static_argnames=("num_states", "num_actions", "transition_concentration")
)
def random_tabular_mdp_params(
    key: PRNGKey,
    num_states: int,
    num_actions: int,
    *,
    transition_concentration: float = 1.0,
) -> TabularMDPParams:
    """A random MDP drawn from the prior PSRL assumes (Osband et al. 2013, §6).

    ``P(. | s, a) ~ Dirichlet(transition_concentration * 1_S)`` and
    ``R(s, a) ~ U[0, 1]`` independently; the start state is uniform; nothing
    terminates early. Vmap over keys for one instance per seed.
    """
    key_p, key_r = fast_random.split(key)
    concentration = jnp.full((num_states,), transition_concentration, jnp.float32)
    transitions = jax.random.dirichlet(
        key_p, concentration, (num_states, num_actions)
    ).astype(jnp.float32)
    return TabularMDPParams(
        transitions=transitions,
        rewards=fast_random.uniform(key_r, (num_states, num_actions)),
        termination=jnp.zeros((num_states, num_actions), jnp.float32),
        initial_distribution=jnp.full((num_states,), 1.0 / num_states, jnp.float32),
    )


class RiverSwim(TabularMDP):
    """RiverSwim (Strehl & Littman 2008) as used by Osband et al. (2013).

    A chain of ``num_states`` states, starting in state 0. Action 0 ("left",
    with the current) moves one state left deterministically (staying in state
    0); in state 0 it pays 5/1000. Action 1 ("right", against the current)
    succeeds with probability 0.35, stays with 0.6 and slips back with 0.05 in
    the interior; at the left end it moves right with 0.6 and stays with 0.4;
    at the right end it stays with 0.6 (paying 1 on every such action) and slips
    back with 0.4. The reward of "right" in the last state is 1.

    Args:
        num_states: chain length (6 in Osband et al. 2013).
        horizon: episode length (tau = 20 in Osband et al. 2013).
        one_hot_obs: observe one-hot vectors instead of indices.
    """

    def __init__(self, num_states: int = 6, horizon: int = 20, *, one_hot_obs=False):
        if not isinstance(num_states, int) or num_states < 3:
            raise ValueError(f"num_states must be an int >= 3, got {num_states!r}")
        super().__init__(num_states, 2, horizon, one_hot_obs=one_hot_obs)

    @property
    def default_params(self) -> TabularMDPParams:
        num_states = self._num_states
        left, right = 0, 1
        transitions = np.zeros((num_states, 2, num_states), np.float32)
        states = np.arange(num_states)
        transitions[states, left, np.maximum(states - 1, 0)] = 1.0
        interior = states[1:-1]
        transitions[interior, right, interior + 1] = 0.35
        transitions[interior, right, interior] = 0.6
        transitions[interior, right, interior - 1] = 0.05
        transitions[0, right, [0, 1]] = [0.4, 0.6]
        last = num_states - 1
        transitions[last, right, [last - 1, last]] = [0.4, 0.6]
        rewards = np.zeros((num_states, 2), np.float32)
        rewards[0, left] = 5.0 / 1000.0
        rewards[last, right] = 1.0
        initial_distribution = np.zeros((num_states,), np.float32)
        initial_distribution[0] = 1.0
        return TabularMDPParams(
            transitions=jnp.asarray(transitions),
            rewards=jnp.asarray(rewards),
            termination=jnp.zeros((num_states, 2), jnp.float32),
            initial_distribution=jnp.asarray(initial_distribution),
        )


class DeepSea(TabularMDP):
    """bsuite's deep sea: an ``N x N`` grid explored one row per step.

    State ``row * N + col``; the agent starts at ``(0, 0)`` and every step moves
    one row down and one column left or right (clipped to the grid). The
    episode lasts ``N`` steps and terminates after the last row. In cell
    ``(row, col)`` the action ``action_mapping[row, col]`` moves right and the
    other moves left; with ``randomize_actions`` the map is Bernoulli(1/2) per
    cell, fixed per instance (bsuite's semantics), else action 1 is always
    right. Moving right costs ``move_cost / N``; moving right in the last column
    pays +1 (the treasure), so the optimal return is ``1 - move_cost`` (0.99).
    With ``deterministic=False`` a right move succeeds with probability
    ``1 - 1/N`` and otherwise moves left (bsuite's stochastic variant; its
    N(0, 1) reward noise is not modelled, so rewards are the mean rewards).

    Instances: :meth:`sample_params` draws the action map from a key (vmap it
    for one instance per seed); ``default_params`` uses ``jax.random.key(0)``.

    Args:
        size: ``N``.
        randomize_actions: draw a random action map per cell.
        deterministic: right moves always succeed.
        move_cost: total cost of always moving right (0.01 in bsuite).
        one_hot_obs: observe ``float32[N * N]`` one-hot vectors (row-major).
    """

    def __init__(
        self,
        size: int,
        randomize_actions: bool = True,
        *,
        deterministic: bool = True,
        move_cost: float = 0.01,
        one_hot_obs: bool = False,
    ):
        if not isinstance(size, int) or isinstance(size, bool) or size < 2:
            raise ValueError(f"size must be an int >= 2, got {size!r}")
        self._size = size
        self._randomize_actions = bool(randomize_actions)
        self._deterministic = bool(deterministic)
        self._move_cost = float(move_cost)
        super().__init__(
            size * size,
            2,
            size,
            one_hot_obs=one_hot_obs,
            reward_range=(-self._move_cost / size, 1.0),
        )

    def _config(self) -> tuple:
        return super()._config() + (
            self._size,
            self._randomize_actions,
            self._deterministic,
            self._move_cost,
        )

    @property
    def size(self) -> int:
        return self._size

    @property
    def optimal_return(self) -> float:
        """The return of always moving right: ``1 - move_cost``."""
        return 1.0 - self._move_cost

    def default_termination(self) -> np.ndarray:
        """Every action in the last row ends the episode."""
        last_row = np.arange(self.num_states) // self._size == self._size - 1
        return np.repeat(last_row[:, None], 2, axis=1).astype(np.float32)

    @property
    def default_params(self) -> DeepSeaParams:
        return self.sample_params(jax.random.key(0))

    @functools.partial(jax.jit, static_argnums=0)
    def sample_params(self, key: PRNGKey) -> DeepSeaParams:
        """An instance: the action map drawn from ``key``, then the model."""
        size = self._size
        if self._randomize_actions:
            action_mapping = jax.random.bernoulli(key, 0.5, (size, size))
        else:
            action_mapping = jnp.ones((size, size), bool)
        action_mapping = action_mapping.astype(jnp.int32)
        rows, cols = jnp.meshgrid(jnp.arange(size), jnp.arange(size), indexing="ij")
        rows, cols = rows.reshape(-1), cols.reshape(-1)
        next_row = jnp.minimum(rows + 1, size - 1)
        right_cell = next_row * size + jnp.minimum(cols + 1, size - 1)
        left_cell = next_row * size + jnp.maximum(cols - 1, 0)
        right_success = 1.0 if self._deterministic else 1.0 - 1.0 / size
        to_right = jax.nn.one_hot(right_cell, size * size)
        to_left = jax.nn.one_hot(left_cell, size * size)
        right_probs = right_success * to_right + (1.0 - right_success) * to_left
        right_action = action_mapping.reshape(-1)
        is_right = jnp.arange(2)[None, :] == right_action[:, None]  # [S, 2]
        transitions = jnp.where(
            is_right[..., None], right_probs[:, None, :], to_left[:, None, :]
        ).astype(jnp.float32)
        treasure = jnp.where(cols == size - 1, 1.0, 0.0)
        right_reward = treasure - self._move_cost / size
        rewards = jnp.where(is_right, right_reward[:, None], 0.0).astype(jnp.float32)
        termination = jnp.broadcast_to(
            (rows == size - 1)[:, None], (size * size, 2)
        ).astype(jnp.float32)
        return DeepSeaParams(
            transitions=transitions,
            rewards=rewards,
            termination=termination,
            initial_distribution=jax.nn.one_hot(0, size * size, dtype=jnp.float32),
            action_mapping=action_mapping,
        )
