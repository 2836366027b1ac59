"""The wheel bandit of the Deep Bayesian Bandits Showdown, as a gymnax env.

Riquelme, Tucker & Snoek, ICLR 2018 (arXiv:1802.09127), section 5. K = 5
arms, contexts ``x`` uniform on the unit disc
(d = 2). Arms 0-3 pay ``N(1.0, sigma_v^2)`` and arm 4 pays ``N(1.2,
sigma_v^2)``, except that when ``|x| >= delta`` the arm of ``x``'s quadrant pays
``N(50, sigma_large^2)`` instead: ``(x1 > 0, x2 > 0) -> 0``,
``(x1 > 0, x2 <= 0) -> 1``, ``(x1 <= 0, x2 > 0) -> 2``,
``(x1 <= 0, x2 <= 0) -> 3``. The optimal mean is 50 outside the radius
``delta`` and 1.2 inside; the outer region has probability ``1 - delta^2``, so
large ``delta`` hides the informative region and punishes under-exploration.
``info["regret"]`` is the expected regret of the arm played.

``sigma_v`` defaults to 0.01 (the Showdown's wheel data script; its
``example_main.py`` uses 0.05); ``sigma_large = 0.01``. With ``intercept=True``
the context is ``(x1, x2, 1)`` (d = 3): the Showdown's linear agents append
this constant feature, without which a linear model cannot represent arm 4's
constant 1.2.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.base import BanditObs
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey

NUM_ARMS = 5
DIM = 2


@struct.dataclass
class WheelState(environment.EnvState):
    """The context of the current round and the round counter."""

    context: Array
    time: Array


@struct.dataclass
class WheelParams:
    """Radius ``delta``, the three mean rewards and the two noise levels."""

    delta: Array
    mean_small: Array
    mean_medium: Array
    mean_large: Array
    noise_std: Array
    noise_std_large: Array


def _check_delta(delta) -> None:
    if not isinstance(delta, (int, float)) or not 0.0 <= float(delta) <= 1.0:
        raise ValueError(f"delta must be a number in [0, 1], got {delta!r}")


def wheel_means(context: Array, params: WheelParams) -> Array:
    """Expected rewards ``[5]`` of every arm at ``context``."""
    x1, x2 = context[0], context[1]
    quadrant = jnp.where(x1 > 0, jnp.where(x2 > 0, 0, 1), jnp.where(x2 > 0, 2, 3))
    outside = jnp.sum(context**2) >= params.delta**2
    base = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0]) * params.mean_small
    base = base.at[4].set(params.mean_medium)
    large = outside & (jnp.arange(NUM_ARMS) == quadrant)
    return jnp.where(large, params.mean_large, base)


class WheelBandit(Environment):
    """The wheel bandit with exploration parameter ``delta`` in [0, 1].

    Args:
        delta: radius of the inner disc (default parameters; also a field of
            ``WheelParams`` so runs can ``vmap`` over it).
        noise_std: ``sigma_v`` of the ordinary arms (default 0.01).
        intercept: append a constant 1 to the context (d = 3).
    """

    def __init__(
        self, delta: float = 0.5, noise_std: float = 0.01, intercept: bool = False
    ):
        _check_delta(delta)
        if not isinstance(noise_std, (int, float)) or not noise_std >= 0:
            raise ValueError(f"noise_std must be a number >= 0, got {noise_std!r}")
        self._delta = float(delta)
        self._noise_std = float(noise_std)
        self._intercept = bool(intercept)

    def _key_fields(self):
        return (self._delta, self._noise_std, self._intercept)

    def __hash__(self) -> int:
        return hash((type(self), *self._key_fields()))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other._key_fields() == self._key_fields()

    @property
    def num_arms(self) -> int:
        return NUM_ARMS

    @property
    def dim(self) -> int:
        return DIM + self._intercept

    @property
    def num_actions(self) -> int:
        return NUM_ARMS

    @property
    def default_params(self) -> WheelParams:
        return WheelParams(
            delta=jnp.asarray(self._delta, jnp.float32),
            mean_small=jnp.asarray(1.0, jnp.float32),
            mean_medium=jnp.asarray(1.2, jnp.float32),
            mean_large=jnp.asarray(50.0, jnp.float32),
            noise_std=jnp.asarray(self._noise_std, jnp.float32),
            noise_std_large=jnp.asarray(0.01, jnp.float32),
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ARMS)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "available": spaces.Box(0, 1, (NUM_ARMS,), bool),
                "context": spaces.Box(-1.0, 1.0, (self.dim,), jnp.float32),
            }
        )

    @staticmethod
    def sample_context(key: PRNGKey) -> Array:
        """Uniform on the unit disc: radius ``sqrt(U)``, angle uniform."""
        key_radius, key_angle = fast_random.split(key)
        radius = jnp.sqrt(fast_random.uniform(key_radius))
        angle = fast_random.uniform(key_angle, minval=0.0, maxval=2.0 * jnp.pi)
        return radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])

    def _observation(self, context: Array) -> BanditObs:
        if self._intercept:
            context = jnp.append(context, 1.0)
        return BanditObs(available=jnp.ones((NUM_ARMS,), dtype=bool), context=context)

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, Any]:
        del params
        context = self.sample_context(key)
        state = WheelState(context=context, time=jnp.zeros((), jnp.int32))
        return self._observation(context), state

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state: WheelState, action, params: WheelParams):
        key_noise, key_context = fast_random.split(key)
        action = jnp.asarray(action, dtype=jnp.int32)
        means = wheel_means(state.context, params)
        noise_std = jnp.where(
            means[action] == params.mean_large,
            params.noise_std_large,
            params.noise_std,
        )
        reward = means[action] + noise_std * fast_random.normal(key_noise)
        regret = jnp.max(means) - means[action]
        context = self.sample_context(key_context)
        state = WheelState(context=context, time=state.time + 1)
        info = {"regret": regret, "optimal_mean": jnp.max(means)}
        return self._observation(context), state, reward, jnp.zeros((), bool), info
