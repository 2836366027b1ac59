"""K-armed bandit environments as gymnax (>= 1.0) environments.

A bandit is one endless episode: ``step`` never terminates nor truncates. The
observation is a :class:`~bayesrl.base.BanditObs` with every arm available.
The action is one arm (a scalar) or a batch of arms (``[B]``, repeats allowed);
the reward has the action's shape. ``info["regret"]`` is the expected
(pseudo-)regret ``max_k mu_k - mu_a`` of each arm played, computed from the
true means, never from the sampled reward.

The number of arms is static (a constructor argument); the arms' means are
traced parameters, so one compiled run serves every instance of that size and
``run_many(..., batched_env_params=True)`` plays one instance per seed. Set
them with ``env.default_params.replace(means=...)``; :func:`bayesrl.run` and
:func:`bayesrl.run_many` refuse parameters whose shapes do not match the
environment (3 means for a 5-armed bandit is a ``ValueError``).

Instances:

* ``BernoulliBandit(K)`` defaults to ``mu = linspace(0.2, 0.7, K)`` (the
  10-armed version is the usual Thompson-sampling test bed).
* ``GaussianBandit(K)`` with per-arm ``stds`` (heteroscedastic when they differ);
  :func:`sutton_barto_params` draws the 10-armed testbed, and
  :func:`heteroscedastic_params` the variance-adaptive instance.
* ``PiecewiseStationaryBernoulliBandit(K, num_pieces)``: the means switch at
  given change points (non-stationary experiments).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.base import BanditObs
from bayesrl.types import Array, PRNGKey


@struct.dataclass
class BanditState(environment.EnvState):
    """The state of a bandit environment: only the round counter."""

    time: Array


@struct.dataclass
class BernoulliBanditParams:
    """Success probabilities of the arms.

    Attributes:
        means: ``float[K]``, the probability ``mu_k`` in ``[0, 1]`` that arm ``k``
            pays 1.
    """

    means: Array


@struct.dataclass
class GaussianBanditParams:
    """Means and standard deviations of the arms' Gaussian rewards.

    Attributes:
        means: ``float[K]``, the expected reward of each arm.
        stds: ``float[K]``, the standard deviation of each arm's reward noise.
    """

    means: Array
    stds: Array


@struct.dataclass
class PiecewiseBernoulliParams:
    """Means per stationary piece ``[num_pieces, K]`` and the round at which each
    piece starts ``[num_pieces]`` (the first must be 0, increasing)."""

    means: Array
    change_points: Array


class _KArmedBandit(environment.Environment):
    """Shared plumbing: endless episode, all arms available, expected regret."""

    def __init__(self, num_arms: int):
        if not isinstance(num_arms, int) or num_arms < 2:
            raise ValueError(f"num_arms must be an int >= 2, got {num_arms!r}")
        self._num_arms = num_arms

    # Equal environments share jit caches (gymnax jits `step` on `self`).
    def __hash__(self) -> int:
        return hash((type(self), self._num_arms))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other._num_arms == self._num_arms

    @property
    def num_arms(self) -> int:
        return self._num_arms

    @property
    def num_actions(self) -> int:
        return self._num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_arms)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({"available": spaces.Box(0, 1, (self._num_arms,), bool)})

    def _observation(self) -> BanditObs:
        return BanditObs(available=jnp.ones((self._num_arms,), dtype=bool))

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, BanditState]:
        del key, params
        return self._observation(), BanditState(time=jnp.zeros((), jnp.int32))

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step(self, key: PRNGKey, state: BanditState, action, params=None):
        """gymnax's six-value ``step`` without the auto-reset: a bandit never
        terminates nor truncates, so resetting would be a no-op that costs a key
        split and a reset state every round."""
        if params is None:
            params = self.default_params
        obs, state, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = jnp.zeros((), dtype=bool)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs,
        }
        return obs, state, reward, terminated, truncated, info

    def _means_at(self, state: BanditState, params) -> Array:
        return params.means

    def _draw(self, key: PRNGKey, action: Array, means: Array, params) -> Array:
        raise NotImplementedError

    def step_env(self, key: PRNGKey, state: BanditState, action, params):
        action = jnp.asarray(action, dtype=jnp.int32)
        means = self._means_at(state, params)
        reward = self._draw(key, action, means, params)
        regret = jnp.max(means) - means[action]
        state = BanditState(time=state.time + 1)
        info = {"regret": regret, "optimal_mean": jnp.max(means)}
        return self._observation(), state, reward, jnp.zeros((), bool), info


class BernoulliBandit(_KArmedBandit):
    """K arms paying 1 with probability ``means[k]``, else 0.

    Args:
        num_arms: the number of arms K (static, at least 2).

    The instance lives in :class:`BernoulliBanditParams` (``means``,
    ``float[K]``); ``default_params`` is ``linspace(0.2, 0.7, K)``. A custom
    instance::

        env = envs.BernoulliBandit(3)
        params = env.default_params.replace(means=jnp.array([0.1, 0.5, 0.45]))
        bayesrl.run(key, agent, env, params, num_steps=1000)

    ``info["regret"]`` is ``max_k mu_k - mu_a`` for the arm ``a`` played.
    """

    @property
    def default_params(self) -> BernoulliBanditParams:
        return BernoulliBanditParams(
            means=jnp.linspace(0.2, 0.7, self._num_arms),
        )

    def _draw(self, key, action, means, params):
        unit = fast_random.uniform(key, jnp.shape(action))
        return (unit < means[action]).astype(jnp.float32)


class GaussianBandit(_KArmedBandit):
    """K arms paying ``N(means[k], stds[k]**2)``.

    Args:
        num_arms: the number of arms K (static, at least 2).

    The instance lives in :class:`GaussianBanditParams` (``means`` and
    ``stds``, both ``float[K]``); ``default_params`` has means
    ``linspace(0, 1, K)`` and unit noise. A custom instance is
    ``env.default_params.replace(means=..., stds=...)``;
    :func:`sutton_barto_params` and :func:`heteroscedastic_params` draw random
    ones.
    """

    @property
    def default_params(self) -> GaussianBanditParams:
        return GaussianBanditParams(
            means=jnp.linspace(0.0, 1.0, self._num_arms),
            stds=jnp.ones((self._num_arms,)),
        )

    def _draw(self, key, action, means, params):
        noise = fast_random.normal(key, jnp.shape(action))
        return means[action] + params.stds[action] * noise


class PiecewiseStationaryBernoulliBandit(_KArmedBandit):
    """A Bernoulli bandit whose means switch at fixed rounds.

    Piece ``j`` is active for rounds ``change_points[j] <= t <
    change_points[j + 1]``; the regret is measured against the active piece.
    The default has two pieces, the standard instance then its reverse at
    round 500.

    Args:
        num_arms: the number of arms K (static, at least 2).
        num_pieces: the number of stationary pieces P (static, at least 1).

    The instance lives in :class:`PiecewiseBernoulliParams`: ``means``
    ``float[P, K]`` and ``change_points`` ``int32[P]`` (starting at 0,
    increasing).
    """

    def __init__(self, num_arms: int, num_pieces: int = 2):
        super().__init__(num_arms)
        if not isinstance(num_pieces, int) or num_pieces < 1:
            raise ValueError(f"num_pieces must be an int >= 1, got {num_pieces!r}")
        self._num_pieces = num_pieces

    def __hash__(self) -> int:
        return hash((type(self), self._num_arms, self._num_pieces))

    def __eq__(self, other: Any) -> bool:
        return super().__eq__(other) and other._num_pieces == self._num_pieces

    @property
    def default_params(self) -> PiecewiseBernoulliParams:
        base = jnp.linspace(0.2, 0.7, self._num_arms)
        means = jnp.stack(
            [base if j % 2 == 0 else base[::-1] for j in range(self._num_pieces)]
        )
        return PiecewiseBernoulliParams(
            means=means,
            change_points=500 * jnp.arange(self._num_pieces, dtype=jnp.int32),
        )

    def _means_at(self, state, params):
        piece = jnp.searchsorted(params.change_points, state.time, side="right") - 1
        return params.means[jnp.clip(piece, 0, self._num_pieces - 1)]

    def _draw(self, key, action, means, params):
        unit = fast_random.uniform(key, jnp.shape(action))
        return (unit < means[action]).astype(jnp.float32)


def sutton_barto_params(key: PRNGKey, num_arms: int = 10) -> GaussianBanditParams:
    """The Sutton & Barto 10-armed testbed: ``q*(a) ~ N(0, 1)``, unit noise.

    Vmap over keys for one instance per run (``run_many(...,
    batched_env_params=True)``).
    """
    return GaussianBanditParams(
        means=jax.random.normal(key, (num_arms,)),
        stds=jnp.ones((num_arms,)),
    )


def heteroscedastic_params(
    key: PRNGKey,
    num_arms: int = 10,
    prior_mean: float = 0.0,
    prior_precision_scale: float = 1.0,
    prior_shape: float = 2.0,
    prior_rate: float = 1.0,
) -> GaussianBanditParams:
    """An instance drawn from the Normal-Gamma prior (variance-adaptive TS).

    ``lambda_k ~ Gamma(shape, rate)``, ``mu_k | lambda_k ~ N(m0, 1/(kappa0
    lambda_k))``; the arm's std is ``lambda_k ** -0.5``, i.e.
    ``sigma_k^2 ~ InvGamma(shape, rate)``: the instances of variance-adaptive
    Thompson sampling (Saha & Kveton, ICLR 2024, arXiv:2303.09033).
    """
    key_precision, key_mean = jax.random.split(key)
    precision = jax.random.gamma(key_precision, prior_shape, (num_arms,)) / prior_rate
    means = prior_mean + jax.random.normal(key_mean, (num_arms,)) / jnp.sqrt(
        prior_precision_scale * precision
    )
    return GaussianBanditParams(means=means, stds=precision**-0.5)
