"""A linear contextual bandit with a context shared by all arms, as a gymnax env.

Each round draws a context ``x ~ N(0, I_dim)`` shared by all arms; arm ``a`` pays
``theta_a . x + N(0, noise_std^2)``. The observation is
``BanditObs(available=all True, context=x)`` and ``info["regret"]`` is the
expected regret ``max_a theta_a . x - theta_action . x`` of the arm played, for
the context it was played in. This is the disjoint linear model of Li et al.
(2010) and of LinTS with one parameter vector per arm.

With ``reward="logistic"`` arm ``a`` instead pays a Bernoulli reward of mean
``sigmoid(theta_a . x)`` (a generalised linear bandit; ``noise_std`` is then
unused) and the regret is ``max_a sigmoid(theta_a . x) - sigmoid(theta_action .
x)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.base import BanditObs
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey

REWARD_MODELS = ("gaussian", "logistic")


@struct.dataclass
class LinearContextualState(environment.EnvState):
    """The context of the current round and the round counter."""

    context: Array
    time: Array


@struct.dataclass
class LinearContextualParams:
    """Per-arm parameters ``theta [num_arms, dim]`` and the reward noise std."""

    theta: Array
    noise_std: Array


class LinearContextualBandit(Environment):
    """Arm ``a`` pays ``theta_a @ x + N(0, noise_std^2)`` for a shared context ``x``.

    Args:
        num_arms: number of arms (>= 2).
        dim: context dimension (>= 1).
        reward: ``"gaussian"`` (default) or ``"logistic"`` (Bernoulli rewards
            of mean ``sigmoid(theta_a . x)``).
    """

    def __init__(self, num_arms: int, dim: int, reward: str = "gaussian"):
        for name, value, low in (("num_arms", num_arms, 2), ("dim", dim, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if reward not in REWARD_MODELS:
            raise ValueError(f"reward must be one of {REWARD_MODELS}, got {reward!r}")
        self._num_arms = num_arms
        self._dim = dim
        self._reward = reward

    def __hash__(self) -> int:
        return hash((type(self), self._num_arms, self._dim, self._reward))

    def __eq__(self, other: Any) -> bool:
        return (
            type(other) is type(self)
            and other._num_arms == self._num_arms
            and other._dim == self._dim
            and other._reward == self._reward
        )

    @property
    def reward_model(self) -> str:
        return self._reward

    @property
    def num_arms(self) -> int:
        return self._num_arms

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def num_actions(self) -> int:
        return self._num_arms

    @property
    def default_params(self) -> LinearContextualParams:
        """``theta`` rows on the unit sphere (a fixed draw) and ``noise_std`` 0.5."""
        return self.sample_params(jax.random.key(0))

    def sample_params(
        self, key: PRNGKey, noise_std: float = 0.5
    ) -> LinearContextualParams:
        """Draws ``theta_a`` uniformly on the unit sphere, one row per arm."""
        theta = jax.random.normal(key, (self._num_arms, self._dim))
        theta = theta / jnp.linalg.norm(theta, axis=-1, keepdims=True)
        return LinearContextualParams(
            theta=theta, noise_std=jnp.asarray(noise_std, jnp.float32)
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_arms)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "available": spaces.Box(0, 1, (self._num_arms,), bool),
                "context": spaces.Box(-jnp.inf, jnp.inf, (self._dim,), jnp.float32),
            }
        )

    def _observation(self, context: Array) -> BanditObs:
        return BanditObs(
            available=jnp.ones((self._num_arms,), dtype=bool), context=context
        )

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, Any]:
        del params
        context = fast_random.normal(key, (self._dim,))
        state = LinearContextualState(context=context, time=jnp.zeros((), jnp.int32))
        return self._observation(context), state

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state: LinearContextualState, action, params):
        key_noise, key_context = fast_random.split(key)
        action = jnp.asarray(action, dtype=jnp.int32)
        means = params.theta @ state.context
        if self._reward == "logistic":
            means = jax.nn.sigmoid(means)
            reward = fast_random.bernoulli(key_noise, means[action]).astype(jnp.float32)
        else:
            reward = means[action] + params.noise_std * fast_random.normal(key_noise)
        regret = jnp.max(means) - means[action]
        context = fast_random.normal(key_context, (self._dim,))
        state = LinearContextualState(context=context, time=state.time + 1)
        info = {"regret": regret, "optimal_mean": jnp.max(means)}
        return self._observation(context), state, reward, jnp.zeros((), bool), info
