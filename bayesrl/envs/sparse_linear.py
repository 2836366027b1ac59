"""A sparse high-dimensional linear contextual bandit, as a gymnax env.

Default layout (the issue's public API): each round draws one context
``x ~ N(0, V)`` shared by all arms (``V = I_dim`` by default) and arm ``a`` pays
``theta_a . x + N(0, noise_std^2)``, where each row ``theta_a`` of
``params.theta [num_arms, dim]`` has exactly ``sparsity`` non-zeros.

With ``per_arm_features=True`` (the setting of Chakraborty, Roy & Tewari, ICML
2023, section 5, and the authors' ``parallel.R``) each arm gets its own feature
vector ``x_{t,a} ~ N(0, V)`` (observation context ``[num_arms, dim]``) and arm
``a`` pays ``theta_a . x_{t,a}``; draw the parameters with ``shared=True`` so
that every row of ``theta`` is the same sparse vector (one shared ``theta``).

``V`` is equicorrelated, ``V = (1 - rho) I + rho 1 1^T`` with ``rho =
correlation`` in [0, 1), sampled as ``sqrt(1 - rho) z + sqrt(rho) u 1`` with
``z ~ N(0, I)``, ``u ~ N(0, 1)``; the paper uses ``rho = 0.3``.

Supports (:meth:`SparseLinearBandit.sample_params`): each row's support is
``sparsity`` coordinates drawn uniformly without replacement, independently per
arm (``shared=False``) or one support and one vector for all arms
(``shared=True``); the non-zero values are ``N(0, 1)`` draws, and each row is
scaled to unit Euclidean norm (as the Showdown's sparse linear sampler).

``info["regret"]`` (``metrics.regret``) is the expected regret
``max_a E[r | x, a] - E[r | x, action]``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl._checks import is_concrete
from bayesrl.base import BanditObs
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey


@struct.dataclass
class SparseLinearState(environment.EnvState):
    """The context of the current round and the round counter."""

    context: Array
    time: Array


@struct.dataclass
class SparseLinearParams:
    """``theta [num_arms, dim]`` (``sparsity`` non-zeros per row), ``noise_std``
    and the context correlation ``correlation`` (scalars)."""

    theta: Array
    noise_std: Array
    correlation: Array


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _sparse_rows(key: PRNGKey, rows: int, dim: int, sparsity: int) -> Array:
    """``[rows, dim]``: ``sparsity`` uniform random coordinates per row (the
    ``sparsity`` smallest of ``dim`` uniforms index a uniform random subset),
    ``N(0, 1)`` values scaled to unit row norm."""
    key_support, key_values = jax.random.split(key)
    ranks = jnp.argsort(jax.random.uniform(key_support, (rows, dim)), axis=-1)
    support = ranks[:, :sparsity]
    values = jax.random.normal(key_values, (rows, sparsity))
    values = values / jnp.linalg.norm(values, axis=-1, keepdims=True)
    return jnp.zeros((rows, dim)).at[jnp.arange(rows)[:, None], support].set(values)


class SparseLinearBandit(Environment):
    """Sparse linear rewards ``theta_a @ x``; see the module docstring.

    Args:
        num_arms: number of arms (>= 2).
        dim: context dimension (>= 1).
        sparsity: non-zeros per row of ``theta`` (1 <= sparsity <= dim).
        per_arm_features: False (default): one context ``[dim]`` shared by all
            arms; True: one feature vector per arm, context ``[num_arms, dim]``.
    """

    def __init__(
        self, num_arms: int, dim: int, sparsity: int, per_arm_features: bool = False
    ):
        for name, value, low in (
            ("num_arms", num_arms, 2),
            ("dim", dim, 1),
            ("sparsity", sparsity, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if sparsity > dim:
            raise ValueError(f"sparsity must be <= dim={dim}, got {sparsity}")
        self._num_arms = num_arms
        self._dim = dim
        self._sparsity = sparsity
        self._per_arm_features = bool(per_arm_features)

    def _key(self):
        return (self._num_arms, self._dim, self._sparsity, self._per_arm_features)

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    @property
    def num_arms(self) -> int:
        return self._num_arms

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def sparsity(self) -> int:
        return self._sparsity

    @property
    def per_arm_features(self) -> bool:
        return self._per_arm_features

    @property
    def num_actions(self) -> int:
        return self._num_arms

    @property
    def default_params(self) -> SparseLinearParams:
        """A fixed draw (key 0): per-arm supports, or one shared ``theta`` with
        per-arm features; ``noise_std`` 1, ``correlation`` 0."""
        return self.sample_params(jax.random.key(0), shared=self._per_arm_features)

    def sample_params(
        self,
        key: PRNGKey,
        noise_std: float = 1.0,
        correlation: float = 0.0,
        shared: bool = False,
    ) -> SparseLinearParams:
        """Random sparse ``theta`` (module docstring); jittable and vmappable."""
        if is_concrete(correlation) and not 0.0 <= float(correlation) < 1.0:
            raise ValueError(f"correlation must be in [0, 1), got {correlation!r}")
        theta = _sparse_rows(
            key, 1 if shared else self._num_arms, self._dim, self._sparsity
        )
        theta = jnp.broadcast_to(theta, (self._num_arms, self._dim))
        return SparseLinearParams(
            theta=theta,
            noise_std=jnp.asarray(noise_std, jnp.float32),
            correlation=jnp.asarray(correlation, jnp.float32),
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_arms)

    def _context_shape(self) -> tuple[int, ...]:
        if self._per_arm_features:
            return (self._num_arms, self._dim)
        return (self._dim,)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "available": spaces.Box(0, 1, (self._num_arms,), bool),
                "context": spaces.Box(
                    -jnp.inf, jnp.inf, self._context_shape(), jnp.float32
                ),
            }
        )

    def _draw_context(self, key: PRNGKey, correlation) -> Array:
        key_own, key_common = fast_random.split(key)
        shape = self._context_shape()
        own = fast_random.normal(key_own, shape)
        common = fast_random.normal(key_common, shape[:-1] + (1,))
        return jnp.sqrt(1.0 - correlation) * own + jnp.sqrt(correlation) * common

    def _observation(self, context: Array) -> BanditObs:
        return BanditObs(
            available=jnp.ones((self._num_arms,), dtype=bool), context=context
        )

    def expected_rewards(self, context: Array, params: SparseLinearParams) -> Array:
        """``[num_arms]`` mean rewards for a context."""
        if self._per_arm_features:
            return jnp.sum(params.theta * context, axis=-1)
        return params.theta @ context

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, Any]:
        context = self._draw_context(key, params.correlation)
        state = SparseLinearState(context=context, time=jnp.zeros((), jnp.int32))
        return self._observation(context), state

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state: SparseLinearState, action, params):
        key_noise, key_context = fast_random.split(key)
        action = jnp.asarray(action, dtype=jnp.int32)
        means = self.expected_rewards(state.context, params)
        reward = means[action] + params.noise_std * fast_random.normal(key_noise)
        regret = jnp.max(means) - means[action]
        context = self._draw_context(key_context, params.correlation)
        state = SparseLinearState(context=context, time=state.time + 1)
        info = {"regret": regret, "optimal_mean": jnp.max(means)}
        return self._observation(context), state, reward, jnp.zeros((), bool), info
