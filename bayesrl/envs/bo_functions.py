"""Bayesian-optimisation test functions on finite candidate sets, as bandits.

:class:`CandidateSetBandit` is a K-armed bandit whose arm ``i`` is a candidate
point ``x_i``: pulling it pays ``f(x_i) + N(0, noise_std^2)`` and
``info["regret"] = f* - f(x_i)`` with ``f* = max_i f(x_i)`` over the candidate
set. **Maximisation convention**: the classical test functions are minimised,
so the bandit's ``f`` is their negation (``f = -branin``, ``-hartmann6``,
``-ackley``); each instance maker appends the function's known global
minimisers to its candidates, so ``f*`` is the true optimum.

Instance makers return ``(candidates [N, D], params)``:

* :func:`branin_instance`: Branin-Hoo on a regular grid over
  ``[-5, 10] x [0, 15]`` plus its three minimisers (min 0.397887).
* :func:`hartmann6_instance`: Hartmann-6 on ``N`` uniform points of
  ``[0, 1]^6`` plus its minimiser (min -3.32237).
* :func:`ackley_instance`: Ackley (a = 20, b = 0.2, c = 2 pi) on a regular grid
  over ``[-32.768, 32.768]^D`` (an odd number of points per axis contains the
  minimiser 0, value 0).
* :func:`gp_sample_path_params`: ``f`` a sample path of a GP prior on the
  candidates (Cholesky of ``K + jitter I``), the benchmark of the spec's
  section 1.10; draw one per seed with ``jax.vmap`` for Bayesian regret.

Formulas and optima: Surjanovic & Bingham, Virtual Library of Simulation
Experiments (https://www.sfu.ca/~ssurjano/optimization.html).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.base import BanditObs
from bayesrl.beliefs.gaussian_process_candidates import kernel_matrix
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey

BRANIN_MINIMISERS = np.array([[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]])
BRANIN_MINIMUM = 0.397887
HARTMANN6_MINIMISER = np.array(
    [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
)
HARTMANN6_MINIMUM = -3.32237
_HARTMANN6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
ACKLEY_BOUND = 32.768


def branin(points: np.ndarray) -> np.ndarray:
    """``a (x2 - b x1^2 + c x1 - r)^2 + s (1 - t) cos(x1) + s`` with
    ``a = 1, b = 5.1/(4 pi^2), c = 5/pi, r = 6, s = 10, t = 1/(8 pi)``."""
    x1, x2 = points[..., 0], points[..., 1]
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


def hartmann6(points: np.ndarray) -> np.ndarray:
    """``-sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2)`` on ``[0, 1]^6``."""
    squared = (points[..., None, :] - _HARTMANN6_P) ** 2
    return -np.sum(_HARTMANN6_ALPHA * np.exp(-np.sum(_HARTMANN6_A * squared, -1)), -1)


def ackley(points: np.ndarray) -> np.ndarray:
    """``-a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e``."""
    a, b, c = 20.0, 0.2, 2 * np.pi
    root_mean_square = np.sqrt(np.mean(points**2, axis=-1))
    return (
        -a * np.exp(-b * root_mean_square)
        - np.exp(np.mean(np.cos(c * points), axis=-1))
        + a
        + np.e
    )


@struct.dataclass
class CandidateSetState(environment.EnvState):
    time: Array


@struct.dataclass
class CandidateSetParams:
    """``values [N]``: ``f(x_i)`` (maximised); ``noise_std``: reward noise."""

    values: Array
    noise_std: Array


class CandidateSetBandit(Environment):
    """Arm ``i`` pays ``values[i] + N(0, noise_std^2)``; regret ``max values -
    values[i]``. Observation: ``BanditObs(available=all True)`` (no context).

    Args:
        num_candidates: number of candidates (arms), >= 2.
    """

    def __init__(self, num_candidates: int):
        if (
            not isinstance(num_candidates, int)
            or isinstance(num_candidates, bool)
            or num_candidates < 2
        ):
            raise ValueError(
                f"num_candidates must be an int >= 2, got {num_candidates!r}"
            )
        self._num_candidates = num_candidates

    def __hash__(self) -> int:
        return hash((type(self), self._num_candidates))

    def __eq__(self, other: Any) -> bool:
        return (
            type(other) is type(self) and other._num_candidates == self._num_candidates
        )

    @property
    def num_arms(self) -> int:
        return self._num_candidates

    @property
    def num_actions(self) -> int:
        return self._num_candidates

    @property
    def default_params(self) -> CandidateSetParams:
        """All values 0 (set them with ``params.replace(values=...)``)."""
        return CandidateSetParams(
            values=jnp.zeros((self._num_candidates,), jnp.float32),
            noise_std=jnp.asarray(0.1, jnp.float32),
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_candidates)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {"available": spaces.Box(0, 1, (self._num_candidates,), bool)}
        )

    def _observation(self) -> BanditObs:
        return BanditObs(available=jnp.ones((self._num_candidates,), dtype=bool))

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, Any]:
        del key, params
        return self._observation(), CandidateSetState(time=jnp.zeros((), jnp.int32))

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state: CandidateSetState, action, params):
        action = jnp.asarray(action, dtype=jnp.int32)
        value = params.values[action]
        reward = value + params.noise_std * fast_random.normal(key, value.shape)
        best = jnp.max(params.values)
        info = {"regret": best - value, "optimal_mean": best}
        state = CandidateSetState(time=state.time + 1)
        return self._observation(), state, reward, jnp.zeros((), bool), info


def _params(values: np.ndarray, noise_std: float) -> CandidateSetParams:
    return CandidateSetParams(
        values=jnp.asarray(values, jnp.float32),
        noise_std=jnp.asarray(noise_std, jnp.float32),
    )


def _check_count(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def branin_instance(
    points_per_axis: int = 20, noise_std: float = 0.1
) -> tuple[np.ndarray, CandidateSetParams]:
    """Negated Branin on a ``points_per_axis^2`` grid plus its 3 minimisers."""
    _check_count("points_per_axis", points_per_axis, 2)
    axis_1 = np.linspace(-5.0, 10.0, points_per_axis)
    axis_2 = np.linspace(0.0, 15.0, points_per_axis)
    grid = np.stack(np.meshgrid(axis_1, axis_2, indexing="ij"), -1).reshape(-1, 2)
    candidates = np.concatenate([grid, BRANIN_MINIMISERS])
    return candidates, _params(-branin(candidates), noise_std)


def hartmann6_instance(
    num_points: int = 500, noise_std: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, CandidateSetParams]:
    """Negated Hartmann-6 on ``num_points`` uniform points of ``[0, 1]^6`` (NumPy
    generator ``seed``) plus its minimiser."""
    _check_count("num_points", num_points, 1)
    uniform = np.random.default_rng(seed).uniform(size=(num_points, 6))
    candidates = np.concatenate([uniform, HARTMANN6_MINIMISER[None]])
    return candidates, _params(-hartmann6(candidates), noise_std)


def ackley_instance(
    dim: int = 2, points_per_axis: int = 21, noise_std: float = 0.1
) -> tuple[np.ndarray, CandidateSetParams]:
    """Negated Ackley on a regular ``points_per_axis^dim`` grid of
    ``[-32.768, 32.768]^dim``; odd ``points_per_axis`` includes the origin."""
    _check_count("dim", dim, 1)
    _check_count("points_per_axis", points_per_axis, 2)
    axis = np.linspace(-ACKLEY_BOUND, ACKLEY_BOUND, points_per_axis)
    grid = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), -1)
    candidates = grid.reshape(-1, dim)
    return candidates, _params(-ackley(candidates), noise_std)


def gp_sample_path_params(
    key: PRNGKey,
    candidates,
    kernel: str = "rbf",
    lengthscale=0.2,
    signal_std=1.0,
    noise_std=0.1,
    jitter: float = 1e-6,
) -> CandidateSetParams:
    """``values = L xi`` with ``L L^T = K + jitter signal_std^2 I`` and
    ``xi ~ N(0, I)``: one GP prior sample path on the candidates (jittable;
    ``jax.vmap`` over keys gives one instance per seed)."""
    points = jnp.asarray(candidates, jnp.float32)
    if points.ndim == 1:
        points = points[:, None]
    covariance = kernel_matrix(points, points, kernel, lengthscale, signal_std)
    num_candidates = points.shape[0]
    cholesky = jnp.linalg.cholesky(
        covariance + jitter * jnp.asarray(signal_std) ** 2 * jnp.eye(num_candidates)
    )
    values = cholesky @ jax.random.normal(key, (num_candidates,))
    return CandidateSetParams(
        values=values, noise_std=jnp.asarray(noise_std, jnp.float32)
    )
