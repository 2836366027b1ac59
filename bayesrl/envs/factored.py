"""Factored MDPs (Boutilier et al. 2000; Osband & Van Roy 2014) with exact models.

A factored MDP has ``d_Y`` state factors ``s = (s[1], ..., s[d_Y])`` with
cardinalities ``b_j`` and ``d_A`` action factors; the input of the transition
model is ``x = (s, a)`` with ``d_X = d_Y + d_A`` factors (state factors first).
Each next-state factor ``j`` has a parent set (scope) ``z_j`` of input factors
and

    P(s' | s, a) = prod_j P_j(s'[j] | x[z_j]).

Flat indices are mixed radix with the first factor most significant (the
``state_factors`` and ``action_factors`` tables convert). The conditional
probability tables are stored padded: ``cpts[j, u, v]`` with
``u = sum_k x[z_j[k]] * stride_jk`` (mixed radix over the parents in the order
listed, first most significant) and ``v < b_j``; parent slots equal to ``-1``
are padding.

* :class:`FactoredMDP` is a :class:`~bayesrl.envs.tabular.TabularMDP` whose
  ``model`` is the dense product of its CPTs.
* :func:`random_factored_mdp` draws the paper's random instances (Mutti et al.,
  ICLR 2024, https://arxiv.org/abs/2310.07518, §6): true parent sets of size
  ``max_parents`` uniform over the input factors, Dirichlet CPTs, dense
  ``U[0, 1]`` or sparse rewards, random or fixed start.
* :class:`Taxi` is Dietterich's Taxi 5x5 (gym's Taxi-v3) written as a factored
  MDP with known reward and termination.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from bayesrl.envs.tabular import TabularMDP, TabularMDPState, TabularModel
from bayesrl.types import Array, PRNGKey


@struct.dataclass
class FactoredMDPParams:
    """One factored MDP instance.

    Attributes:
        parents: ``int32[d_Y, max_parents]``, the parent input factors of each
            next-state factor, padded with ``-1``.
        cpts: ``float32[d_Y, U, N]``, ``P_j(v | u)`` for configuration ``u`` of
            the parents; padded values (``v >= b_j``, unused ``u``) are 0.
        rewards: ``float32[S, A]`` mean rewards.
        termination: ``float32[S, A]``, 1 where the episode ends after ``(s, a)``.
        initial_distribution: ``float32[S]``.
    """

    parents: Array
    cpts: Array
    rewards: Array
    termination: Array
    initial_distribution: Array


def mixed_radix_table(sizes: tuple[int, ...]) -> np.ndarray:
    """All tuples of ``prod(sizes)`` flat indices, ``int32[prod(sizes), len]``,
    first factor most significant."""
    grids = np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1).astype(np.int32)


def configuration_index(inputs: Array, parents: Array, input_sizes: Array) -> Array:
    """Configuration index of each node's parents: ``int32[..., d_Y]``.

    ``u_j = sum_k x[z_j[k]] * stride_jk`` with mixed-radix strides over the
    parents in the listed order (first most significant); ``-1`` slots are
    skipped (their stride is 0 and they leave the others unchanged).

    Args:
        inputs: ``int32[..., d_X]`` input factor values ``x``.
        parents: ``int32[d_Y, max_parents]``, padded with ``-1``.
        input_sizes: ``int32[d_X]`` cardinalities ``c_i``.
    """
    used = parents >= 0
    safe = jnp.where(used, parents, 0)
    sizes = jnp.where(used, jnp.asarray(input_sizes)[safe], 1)
    # Exclusive reverse cumulative product: stride_k = prod_{l > k} sizes_l.
    strides = jnp.flip(jnp.cumprod(jnp.flip(sizes, -1), -1), -1) // sizes
    values = jnp.where(used, jnp.take(inputs, safe, axis=-1), 0)
    return jnp.sum(values * strides, axis=-1).astype(jnp.int32)


def product_of_factors(factor_probs: list[Array]) -> Array:
    """Joint distribution of independent factors, flattened mixed radix.

    Args:
        factor_probs: ``d_Y`` arrays ``[..., b_j]`` of per-factor probabilities.

    Returns:
        ``[..., prod_j b_j]`` with ``out[..., y] = prod_j factor_probs[j][..., y_j]``
        (first factor most significant).
    """
    joint = factor_probs[0]
    for probs in factor_probs[1:]:
        joint = joint[..., :, None] * probs[..., None, :]
        joint = joint.reshape(*joint.shape[:-2], -1)
    return joint


def max_num_configurations(input_sizes: tuple[int, ...], max_parents: int) -> int:
    """``U``: the largest number of parent configurations with at most
    ``max_parents`` parents (the product of the largest cardinalities)."""
    largest = sorted(input_sizes, reverse=True)[:max_parents]
    return int(math.prod(largest))


class FactoredMDP(TabularMDP):
    """A factored episodic MDP (see the module docstring).

    Args:
        state_sizes: cardinalities ``b_j`` of the ``d_Y`` state factors.
        action_sizes: cardinalities of the ``d_A`` action factors.
        horizon: ``H``.
        max_parents: the largest parent set the parameters may hold (the width
            of ``params.parents``).
        one_hot_obs: observe one-hot vectors over the flat state.
        reward_range: bounds of the mean rewards.
    """

    def __init__(
        self,
        state_sizes: tuple[int, ...],
        action_sizes: tuple[int, ...],
        horizon: int,
        max_parents: int,
        *,
        one_hot_obs: bool = False,
        reward_range: tuple[float, float] = (0.0, 1.0),
    ):
        state_sizes = tuple(int(b) for b in state_sizes)
        action_sizes = tuple(int(c) for c in action_sizes)
        if not state_sizes or min(state_sizes) < 1:
            raise ValueError(f"state_sizes must be positive ints, got {state_sizes}")
        if not action_sizes or min(action_sizes) < 1:
            raise ValueError(f"action_sizes must be positive ints, got {action_sizes}")
        num_inputs = len(state_sizes) + len(action_sizes)
        if not isinstance(max_parents, int) or not 1 <= max_parents <= num_inputs:
            raise ValueError(
                f"max_parents must be an int in [1, {num_inputs}], got {max_parents!r}"
            )
        self._state_sizes = state_sizes
        self._action_sizes = action_sizes
        self._max_parents = max_parents
        super().__init__(
            int(math.prod(state_sizes)),
            int(math.prod(action_sizes)),
            horizon,
            one_hot_obs=one_hot_obs,
            reward_range=reward_range,
        )

    def _config(self) -> tuple:
        return super()._config() + (
            self._state_sizes,
            self._action_sizes,
            self._max_parents,
        )

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return self._state_sizes

    @property
    def action_sizes(self) -> tuple[int, ...]:
        return self._action_sizes

    @property
    def input_sizes(self) -> tuple[int, ...]:
        """Cardinalities of ``x = (s, a)``: state factors, then action factors."""
        return self._state_sizes + self._action_sizes

    @property
    def max_parents(self) -> int:
        return self._max_parents

    @property
    def num_configurations(self) -> int:
        """``U``, the padded number of parent configurations in ``cpts``."""
        return max_num_configurations(self.input_sizes, self._max_parents)

    @property
    def state_factors(self) -> np.ndarray:
        """``int32[S, d_Y]``: the factors of each flat state."""
        return mixed_radix_table(self._state_sizes)

    @property
    def action_factors(self) -> np.ndarray:
        """``int32[A, d_A]``: the factors of each flat action."""
        return mixed_radix_table(self._action_sizes)

    def input_factors(self) -> np.ndarray:
        """``int32[S, A, d_X]``: the input factors ``x = (s, a)`` of every pair."""
        states = np.broadcast_to(
            self.state_factors[:, None, :],
            (self.num_states, self.num_actions, len(self._state_sizes)),
        )
        actions = np.broadcast_to(
            self.action_factors[None, :, :],
            (self.num_states, self.num_actions, len(self._action_sizes)),
        )
        return np.concatenate([states, actions], axis=-1)

    @property
    def default_params(self) -> FactoredMDPParams:
        """A random instance drawn with ``jax.random.key(0)`` (dense reward,
        random start; see :func:`random_factored_mdp_params`)."""
        return random_factored_mdp_params(jax.random.key(0), self)

    def model(self, params: FactoredMDPParams) -> TabularModel:
        """The dense model: ``P[s, a, s'] = prod_j cpts[j, u_j(s, a), s'[j]]``."""
        inputs = jnp.asarray(self.input_factors())
        configs = configuration_index(inputs, params.parents, self.input_sizes)
        factor_probs = [
            params.cpts[j, configs[..., j], :b] for j, b in enumerate(self._state_sizes)
        ]
        return TabularModel(
            transitions=product_of_factors(factor_probs),
            rewards=params.rewards,
            termination=params.termination,
            initial_distribution=params.initial_distribution,
        )

    def step_env(
        self,
        key: PRNGKey,
        state: TabularMDPState,
        action: Array,
        params: FactoredMDPParams,
    ):
        action = jnp.asarray(action, jnp.int32)
        inputs = jnp.concatenate(
            [
                jnp.asarray(self.state_factors)[state.state],
                jnp.asarray(self.action_factors)[action],
            ]
        )
        configs = configuration_index(inputs, params.parents, self.input_sizes)
        probs = params.cpts[jnp.arange(len(self._state_sizes)), configs]
        next_factors = jax.random.categorical(key, jnp.log(probs), axis=-1)
        strides = np.flip(np.cumprod(np.flip(self._state_sizes))) // np.asarray(
            self._state_sizes
        )
        next_index = jnp.sum(next_factors * jnp.asarray(strides)).astype(jnp.int32)
        reward = params.rewards[state.state, action]
        terminated = params.termination[state.state, action] > 0.5
        next_state = TabularMDPState(time=state.time + 1, state=next_index)
        info = {"discount": 1.0 - terminated.astype(jnp.float32)}
        return self.observation(next_index), next_state, reward, terminated, info


@functools.partial(
    jax.jit, static_argnames=("env", "reward", "start", "cpt_concentration")
)
def random_factored_mdp_params(
    key: PRNGKey,
    env: FactoredMDP,
    *,
    reward: str = "dense",
    start: str = "random",
    cpt_concentration: float = 1.0,
) -> FactoredMDPParams:
    """A random instance of ``env``'s shape (jittable, vmap over keys).

    * Every next-state factor gets ``env.max_parents`` distinct parents drawn
      uniformly from the ``d_X`` input factors (listed in increasing order).
    * ``P_j(. | u) ~ Dirichlet(cpt_concentration * 1_{b_j})`` independently for
      every configuration ``u``.
    * ``reward="dense"``: ``R(s, a) ~ U[0, 1]`` i.i.d.; ``"sparse"``:
      ``R(s, a) = 1`` in the state whose factors are all at their largest value
      (the all-ones state for binary factors), else 0.
    * ``start="random"``: uniform over states; ``"fixed"``: the all-zeros state.
    """
    if reward not in ("dense", "sparse"):
        raise ValueError(f"reward must be 'dense' or 'sparse', got {reward!r}")
    if start not in ("random", "fixed"):
        raise ValueError(f"start must be 'random' or 'fixed', got {start!r}")
    num_outputs = len(env.state_sizes)
    num_inputs = len(env.input_sizes)
    max_values = max(env.state_sizes)
    key_parents, key_cpts, key_rewards = jax.random.split(key, 3)
    scores = jax.random.uniform(key_parents, (num_outputs, num_inputs))
    parents = jnp.sort(jnp.argsort(scores, axis=-1)[:, : env.max_parents], axis=-1)
    value_mask = jnp.arange(max_values)[None, :] < jnp.asarray(env.state_sizes)[:, None]
    concentration = jnp.where(value_mask, cpt_concentration, 1.0)
    log_gammas = jax.random.loggamma(
        key_cpts,
        concentration[:, None, :],
        (num_outputs, env.num_configurations, max_values),
    )
    log_gammas = jnp.where(value_mask[:, None, :], log_gammas, -jnp.inf)
    cpts = jax.nn.softmax(log_gammas, axis=-1)
    shape = (env.num_states, env.num_actions)
    if reward == "dense":
        rewards = jax.random.uniform(key_rewards, shape)
    else:
        rewards = jnp.zeros(shape).at[env.num_states - 1].set(1.0)
    if start == "random":
        initial = jnp.full((env.num_states,), 1.0 / env.num_states)
    else:
        initial = jax.nn.one_hot(0, env.num_states)
    return FactoredMDPParams(
        parents=parents.astype(jnp.int32),
        cpts=cpts.astype(jnp.float32),
        rewards=rewards.astype(jnp.float32),
        termination=jnp.zeros(shape, jnp.float32),
        initial_distribution=initial.astype(jnp.float32),
    )


def random_factored_mdp(
    key: PRNGKey,
    num_state_factors: int,
    num_action_factors: int,
    num_values: int = 2,
    max_parents: int = 3,
    horizon: int = 10,
    reward: str = "dense",
    start: str = "random",
    *,
    cpt_concentration: float = 1.0,
) -> tuple[FactoredMDP, FactoredMDPParams]:
    """The paper's random factored MDP: ``(env, params)``.

    Mutti et al. (ICLR 2024) use ``d_Y = 6`` binary state factors and 3 binary
    action factors (``d_X = 9``, ``|S| = 64``, ``|A| = 8``). Each next-state
    factor has exactly ``max_parents`` parents; see
    :func:`random_factored_mdp_params` for the distribution. For one instance
    per seed, vmap ``random_factored_mdp_params(keys, env, ...)`` instead.

    Args:
        key: instance key.
        num_state_factors: ``d_Y``.
        num_action_factors: ``d_A``.
        num_values: ``N``, the cardinality of every factor.
        max_parents: the size of every true parent set.
        horizon: ``H``.
        reward: ``"dense"`` or ``"sparse"``.
        start: ``"random"`` or ``"fixed"``.
        cpt_concentration: Dirichlet concentration of the CPTs (larger is a
            weaker signal).
    """
    env = FactoredMDP(
        (num_values,) * num_state_factors,
        (num_values,) * num_action_factors,
        horizon,
        max_parents,
    )
    params = random_factored_mdp_params(
        key, env, reward=reward, start=start, cpt_concentration=cpt_concentration
    )
    return env, params


# Taxi-v3 landmarks R, G, Y, B as (row, col), and the walls on the east side of
# (row, col) read off gym's map: "|R: | : :G|", "| : | : : |", "| : : : : |",
# "| | : | : |", "|Y| : |B: |".
_TAXI_LANDMARKS = ((0, 0), (0, 4), (4, 0), (4, 3))
_TAXI_EAST_WALLS = frozenset({(0, 1), (1, 1), (3, 0), (3, 2), (4, 0), (4, 2)})


class Taxi(FactoredMDP):
    """Dietterich's Taxi 5x5 (gym's Taxi-v3) as a factored MDP.

    State factors: taxi row (5), taxi column (5), passenger (5: landmarks R, G,
    Y, B, or 4 = in the taxi) and destination (4); one action factor with 6
    values (0 south, 1 north, 2 east, 3 west, 4 pick up, 5 drop off), so
    ``|S| = 500``, ``|A| = 6``, ``d_X = 5``, ``d_Y = 4``.

    True parent sets (from the rules): row' <- {row, a}; col' <- {row, col, a}
    (walls); passenger' <- {row, col, passenger, a}; destination' <-
    {destination}. Rewards are Taxi-v3's: -1 per step, +20 for a delivery
    (which terminates the episode), -10 for an illegal pick-up or drop-off.
    The start distribution is Taxi-v3's: uniform over taxi cell, passenger
    landmark and a destination different from it (300 states).

    Args:
        horizon: ``H`` (a time limit; 50 by default).
        one_hot_obs: observe one-hot vectors over the 500 states.
    """

    def __init__(self, horizon: int = 50, *, one_hot_obs: bool = False):
        super().__init__(
            (5, 5, 5, 4),
            (6,),
            horizon,
            4,
            one_hot_obs=one_hot_obs,
            reward_range=(-10.0, 20.0),
        )

    @property
    def true_parents(self) -> np.ndarray:
        """``int32[4, 4]`` rule-derived parent sets, padded with ``-1``."""
        return np.array(
            [[0, 4, -1, -1], [0, 1, 4, -1], [0, 1, 2, 4], [3, -1, -1, -1]], np.int32
        )

    def default_termination(self) -> np.ndarray:
        """A successful drop-off ends the episode."""
        return np.asarray(self.default_params.termination)

    @functools.cached_property
    def default_params(self) -> FactoredMDPParams:
        """The Taxi-v3 rules (deterministic CPTs, rewards, termination, start)."""
        rows, cols, passengers, destinations = self.state_factors.T
        next_factors = np.zeros((self.num_states, self.num_actions, 4), np.int32)
        rewards = np.full((self.num_states, self.num_actions), -1.0, np.float32)
        termination = np.zeros((self.num_states, self.num_actions), np.float32)
        for s in range(self.num_states):
            row, col = int(rows[s]), int(cols[s])
            passenger, destination = int(passengers[s]), int(destinations[s])
            here = (row, col)
            for a in range(self.num_actions):
                new = [row, col, passenger, destination]
                if a == 0:
                    new[0] = min(row + 1, 4)
                elif a == 1:
                    new[0] = max(row - 1, 0)
                elif a == 2 and here not in _TAXI_EAST_WALLS:
                    new[1] = min(col + 1, 4)
                elif a == 3 and (row, col - 1) not in _TAXI_EAST_WALLS:
                    new[1] = max(col - 1, 0)
                elif a == 4:
                    if passenger < 4 and here == _TAXI_LANDMARKS[passenger]:
                        new[2] = 4
                    else:
                        rewards[s, a] = -10.0
                elif a == 5:
                    if passenger == 4 and here == _TAXI_LANDMARKS[destination]:
                        new[2] = destination
                        rewards[s, a] = 20.0
                        termination[s, a] = 1.0
                    elif passenger == 4 and here in _TAXI_LANDMARKS:
                        new[2] = _TAXI_LANDMARKS.index(here)
                    else:
                        rewards[s, a] = -10.0
                next_factors[s, a] = new
        inputs = self.input_factors()
        parents = self.true_parents
        configs = np.asarray(configuration_index(inputs, parents, self.input_sizes))
        cpts = np.zeros((4, self.num_configurations, 5), np.float32)
        for j in range(4):
            cpts[j, configs[..., j].reshape(-1), next_factors[..., j].reshape(-1)] = 1.0
        # Padded configurations (u beyond a node's parent configurations) are
        # never reached; give them a valid distribution all the same.
        empty = cpts.sum(-1) == 0
        cpts[..., 0] = np.where(empty, 1.0, cpts[..., 0])
        start = (passengers < 4) & (passengers != destinations)
        initial = start.astype(np.float32) / start.sum()
        return FactoredMDPParams(
            parents=jnp.asarray(parents),
            cpts=jnp.asarray(cpts),
            rewards=jnp.asarray(rewards),
            termination=jnp.asarray(termination),
            initial_distribution=jnp.asarray(initial),
        )
