"""Gaussian-process posterior over a finite candidate set (GP bandits).

Model (Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006,
section 2.2; the bandit setting of Srinivas et al., ICML 2010, arXiv:0912.3995):
``f ~ GP(m0, k)`` restricted to ``N`` candidate points ``X = {x_1..x_N}``, so
``f ~ N(m0 1, K)`` with ``K_ij = k(x_i, x_j)``; pulling arm ``i`` observes
``y = f(x_i) + N(0, sigma^2 / w)`` (``w`` the observation weight, 1 normally).

State (layout (a) of the spec, section 1.10): the posterior mean ``mu [N]`` and
covariance ``Sigma [N, N]``, updated exactly by one rank-one step per
observation (``x`` the pulled arm)::

    g     = w Sigma[:, x] / (w Sigma[x, x] + sigma^2)
    mu    <- mu + g (y - mu[x])
    Sigma <- Sigma - g Sigma[x, :]

``O(N^2)`` per observation and ``4 N^2`` bytes per run in float32; no matrix is
inverted per step. The state also keeps the sufficient statistics ``n [N]``
(weighted counts) and ``S [N]`` (weighted reward sums): with
``D = diag(n) / sigma^2`` the posterior is also::

    Sigma = K - K D^(1/2) (I + D^(1/2) K D^(1/2))^(-1) D^(1/2) K
    mu    = m0 + Sigma (S - n m0) / sigma^2

which :func:`posterior_from_statistics` evaluates in ``O(N^3)``; ``discount``
uses it (forgetting scales ``n`` and ``S``), and it is the exact refactorisation
a long float32 run can call to remove the drift of many rank-one downdates.

Kernels (fixed hyper-parameters, no marginal-likelihood fitting):
RBF ``k(r) = v exp(-r^2 / (2 l^2))``; Matern-5/2
``k(r) = v (1 + sqrt(5) r / l + 5 r^2 / (3 l^2)) exp(-sqrt(5) r / l)``, with
``v = signal_std^2`` and ``l = lengthscale``.

A joint posterior draw (GP Thompson sampling) is ``mu + L xi`` with
``L = cholesky(Sigma + eps I)``, ``eps = 1e-6 * mean(diag Sigma)`` (a jitter
relative to the posterior scale); if the factorisation fails (non-finite), the
draw falls back to independent marginals ``mu + sqrt(diag Sigma) xi``.

Layout (b) (``max_observations=T``): an observation buffer with a Cholesky
factor grown by one row per observation, ``O(N T)`` per run instead of
``O(N^2)``, and Matheron (pathwise) joint draws; see
:mod:`bayesrl.beliefs.gaussian_process_buffer`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import check_positive
from bayesrl.base import Belief
from bayesrl.beliefs import gaussian_process_buffer as buffer
from bayesrl.beliefs._common import (
    check_discount,
    config_value,
    is_concrete,
)
from bayesrl.types import Array, PRNGKey

KERNELS = ("rbf", "matern52")

# Jitter added to the covariance diagonal before a Cholesky, relative to the mean
# posterior variance: large enough for float32 on near-singular GP covariances,
# small against any posterior standard deviation the decision rules look at.
RELATIVE_JITTER = 1e-6


class GaussianProcessCandidatesState(NamedTuple):
    """Posterior over the ``N`` candidates.

    Attributes:
        mean: ``mu [N]``.
        covariance: ``Sigma [N, N]``.
        num_observations: ``n [N]`` weighted observation counts.
        reward_sum: ``S [N]`` weighted reward sums.
    """

    mean: Array
    covariance: Array
    num_observations: Array
    reward_sum: Array

    @property
    def std(self) -> Array:
        """Posterior standard deviations ``sqrt(diag Sigma)`` (clamped at 0)."""
        return jnp.sqrt(jnp.maximum(jnp.diagonal(self.covariance), 0.0))


def kernel_matrix(
    points_a: Array, points_b: Array, kernel: str, lengthscale, signal_std, xp=jnp
) -> Array:
    """``k(a_i, b_j)`` for ``points_a [N, D]`` and ``points_b [M, D]``; ``xp``
    is the array module (``numpy`` for a float64 host-side matrix)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    difference = points_a[:, None, :] - points_b[None, :, :]
    squared = xp.sum(difference**2, axis=-1) / xp.asarray(lengthscale) ** 2
    variance = xp.asarray(signal_std) ** 2
    if kernel == "rbf":
        return variance * xp.exp(-0.5 * squared)
    scaled = xp.sqrt(5.0 * xp.maximum(squared, 0.0))
    return variance * (1.0 + scaled + scaled**2 / 3.0) * xp.exp(-scaled)


def init(prior_covariance: Array, prior_mean) -> GaussianProcessCandidatesState:
    num_candidates = prior_covariance.shape[0]
    dtype = prior_covariance.dtype
    return GaussianProcessCandidatesState(
        mean=jnp.full((num_candidates,), prior_mean, dtype),
        covariance=prior_covariance,
        num_observations=jnp.zeros((num_candidates,), dtype),
        reward_sum=jnp.zeros((num_candidates,), dtype),
    )


def posterior_from_statistics(
    prior_covariance: Array, prior_mean, noise_std, num_observations, reward_sum
) -> tuple[Array, Array]:
    """``(mu, Sigma)`` from the sufficient statistics in ``O(N^3)`` (module
    docstring); stable for any ``n >= 0`` since ``I + D^(1/2) K D^(1/2)`` has
    eigenvalues ``>= 1``."""
    root = jnp.sqrt(num_observations) / noise_std
    scaled = root[:, None] * prior_covariance * root[None, :]
    inner = jnp.eye(root.shape[0], dtype=scaled.dtype) + scaled
    factor = jax.scipy.linalg.cho_factor(inner, lower=True)
    right = root[:, None] * prior_covariance
    covariance = prior_covariance - right.T @ jax.scipy.linalg.cho_solve(factor, right)
    covariance = 0.5 * (covariance + covariance.T)
    residual = reward_sum - num_observations * prior_mean
    mean = prior_mean + covariance @ residual / noise_std**2
    return mean, covariance


def rank_one_update(
    state: GaussianProcessCandidatesState, arm, reward, weight, noise_std
) -> GaussianProcessCandidatesState:
    """Condition on one observation ``y = reward`` at candidate ``arm`` with
    noise variance ``sigma^2 / weight``; arm ``-1`` or weight 0 changes
    nothing."""
    num_candidates = state.mean.shape[0]
    valid = (arm >= 0) & (arm < num_candidates)
    weight = jnp.where(valid, weight, 0.0).astype(state.mean.dtype)
    index = jnp.clip(arm, 0, num_candidates - 1)
    column = state.covariance[:, index]
    gain = weight * column / (weight * column[index] + noise_std**2)
    mean = state.mean + gain * (reward - state.mean[index])
    covariance = state.covariance - gain[:, None] * column[None, :]
    one_hot = (jnp.arange(num_candidates) == index) & valid
    return GaussianProcessCandidatesState(
        mean=mean,
        covariance=covariance,
        num_observations=state.num_observations + weight * one_hot,
        reward_sum=state.reward_sum + weight * reward * one_hot,
    )


def update(state, arms, rewards, weights, noise_std):
    """Add a batch: one exact rank-one step per item, in order."""
    rewards = jnp.where(arms >= 0, rewards, 0.0)
    if arms.shape[0] == 1:  # the usual one-pull round: no scan to trace
        return rank_one_update(state, arms[0], rewards[0], weights[0], noise_std)

    def step(state, item):
        arm, reward, weight = item
        return rank_one_update(state, arm, reward, weight, noise_std), None

    state, _ = jax.lax.scan(step, state, (arms, rewards, weights))
    return state


def discount_state(state, gamma, prior_covariance, prior_mean, noise_std):
    """``(n, S) <- gamma (n, S)`` and the posterior recomputed from them;
    ``gamma == 1`` returns the state unchanged (exact identity)."""
    num_observations = gamma * state.num_observations
    reward_sum = gamma * state.reward_sum
    mean, covariance = posterior_from_statistics(
        prior_covariance, prior_mean, noise_std, num_observations, reward_sum
    )
    discounted = GaussianProcessCandidatesState(
        mean, covariance, num_observations, reward_sum
    )
    keep = jnp.asarray(gamma) == 1
    return jax.tree.map(lambda old, new: jnp.where(keep, old, new), state, discounted)


def sample(key: PRNGKey, state: GaussianProcessCandidatesState) -> Array:
    """One joint posterior draw of ``f`` over the candidates (module docstring)."""
    covariance = state.covariance
    num_candidates = covariance.shape[0]
    jitter = RELATIVE_JITTER * jnp.maximum(jnp.mean(jnp.diagonal(covariance)), 1e-12)
    cholesky = jnp.linalg.cholesky(
        covariance + jitter * jnp.eye(num_candidates, dtype=covariance.dtype)
    )
    noise = fast_random.normal(key, (num_candidates,), covariance.dtype)
    joint = state.mean + cholesky @ noise
    marginal = state.mean + state.std * noise
    return jnp.where(jnp.all(jnp.isfinite(joint)), joint, marginal)


def quantile(state: GaussianProcessCandidatesState, level) -> Array:
    """Marginal posterior quantiles ``mu + Phi^{-1}(level) sqrt(diag Sigma)``."""
    z = jax.scipy.special.ndtri(jnp.asarray(level, state.mean.dtype))
    return state.mean + z * state.std


def check_candidates(candidates) -> np.ndarray:
    array = np.asarray(candidates, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(
            "candidates must be an array [num_candidates >= 2, dim] (or "
            f"[num_candidates] for 1-D inputs), got shape {np.shape(candidates)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("candidates must be finite")
    return array


def prior_cholesky_factor(
    points: np.ndarray, kernel: str, lengthscale, signal_std, dtype
) -> Array:
    """Lower Cholesky factor of ``K + jitter I`` over the candidates, for
    Matheron draws in layout (b): computed in float64 NumPy when the kernel's
    hyper-parameters are concrete (``jitter = RELATIVE_JITTER * v``, raised
    tenfold until the factorisation succeeds, at most six times), otherwise
    traced in the working precision."""
    if not is_concrete((lengthscale, signal_std)):
        matrix = kernel_matrix(
            jnp.asarray(points, dtype),
            jnp.asarray(points, dtype),
            kernel,
            lengthscale,
            signal_std,
        )
        jitter = RELATIVE_JITTER * jnp.asarray(signal_std, dtype) ** 2
        return jnp.linalg.cholesky(
            matrix + jitter * jnp.eye(points.shape[0], dtype=dtype)
        )
    matrix = kernel_matrix(
        points, points, kernel, float(lengthscale), float(signal_std), xp=np
    )
    jitter = RELATIVE_JITTER * float(signal_std) ** 2
    for _ in range(7):
        try:
            factor = np.linalg.cholesky(matrix + jitter * np.eye(points.shape[0]))
            return jnp.asarray(factor, dtype)
        except np.linalg.LinAlgError:
            jitter *= 10.0
    raise ValueError(
        "the prior kernel matrix over the candidates is not positive definite "
        "even with a relative jitter of 1; are candidates duplicated?"
    )


def gaussian_process_candidates(
    candidates,
    kernel: str = "rbf",
    lengthscale=0.2,
    signal_std=1.0,
    noise_std=0.1,
    prior_mean=0.0,
    discount=1.0,
    max_observations: int | None = None,
) -> Belief:
    """GP belief over ``N`` candidate points (the arms).

    Args:
        candidates: ``[N, D]`` candidate inputs (``[N]`` for 1-D); static.
        kernel: ``"rbf"`` or ``"matern52"``.
        lengthscale: kernel lengthscale ``l > 0`` (same units as candidates).
        signal_std: prior standard deviation of ``f``, ``sqrt(v) > 0``.
        noise_std: known observation noise ``sigma > 0``.
        prior_mean: constant prior mean ``m0``.
        discount: time discount ``gamma`` in (0, 1] applied once per update
            round (``O(N^3)`` when below 1); layout (a) only.
        max_observations: None (default) for layout (a), the dense posterior
            covariance ``[N, N]`` per run; an int ``T >= 1`` for layout (b),
            a buffer of at most ``T`` observations with a Cholesky factor
            grown by one row per observation
            (:mod:`bayesrl.beliefs.gaussian_process_buffer`): ``O(N T)``
            memory and work per observation instead of ``O(N^2)``, for
            ``N`` too large for ``seeds x N^2``.

    Returns:
        A :class:`~bayesrl.base.Belief` with ``num_arms = N``; its state is a
        :class:`GaussianProcessCandidatesState` (layout (a)) or a
        :class:`~bayesrl.beliefs.gaussian_process_buffer.GaussianProcessBufferState`
        (layout (b)). Both have ``mean``, ``std`` and ``num_observations``.
    """
    points = check_candidates(candidates)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    check_positive("lengthscale", lengthscale)
    check_positive("signal_std", signal_std)
    check_positive("noise_std", noise_std)
    check_discount("discount", discount)
    if max_observations is not None:
        if (
            not isinstance(max_observations, (int, np.integer))
            or isinstance(max_observations, bool)
            or max_observations < 1
        ):
            raise ValueError(
                "max_observations must be None (dense layout) or an int >= 1, "
                f"got {max_observations!r}"
            )
        if not (is_concrete(discount) and float(discount) == 1.0):
            raise ValueError(
                "discount must be 1 with max_observations (the observation-buffer "
                "layout does not forget); use max_observations=None to discount"
            )
    config = dict(
        candidates=points.tolist(),
        kernel=kernel,
        lengthscale=config_value(lengthscale),
        signal_std=config_value(signal_std),
        noise_std=config_value(noise_std),
        prior_mean=config_value(prior_mean),
        discount=config_value(discount),
        max_observations=None if max_observations is None else int(max_observations),
    )
    if max_observations is not None:
        return _buffer_belief(
            points,
            kernel,
            lengthscale,
            signal_std,
            noise_std,
            prior_mean,
            int(max_observations),
            config,
        )
    dtype = jnp.result_type(float)
    points_jax = jnp.asarray(points, dtype)
    prior_covariance = kernel_matrix(
        points_jax, points_jax, kernel, lengthscale, signal_std
    )
    num_candidates = points.shape[0]

    # Without a discount the O(N^3) recomputation is skipped at trace time.
    forgets = not (is_concrete(discount) and float(discount) == 1.0)

    def update_round(state, arms, rewards, weights):
        if forgets:
            state = discount_state(
                state, discount, prior_covariance, prior_mean, noise_std
            )
        return update(state, arms, rewards, weights.astype(dtype), noise_std)

    return Belief(
        init=lambda: init(prior_covariance, prior_mean),
        update=update_round,
        sample=sample,
        mean=lambda state: state.mean,
        quantile=quantile,
        discount=lambda state, gamma: discount_state(
            state, gamma, prior_covariance, prior_mean, noise_std
        ),
        counts=lambda state: state.num_observations,
        num_arms=num_candidates,
        reward_range=(-float("inf"), float("inf")),
        name="gaussian_process_candidates",
        config=config,
    )


def _buffer_belief(
    points, kernel, lengthscale, signal_std, noise_std, prior_mean, capacity, config
) -> Belief:
    """Layout (b): :mod:`bayesrl.beliefs.gaussian_process_buffer`."""
    dtype = jnp.result_type(float)
    points_jax = jnp.asarray(points, dtype)
    num_candidates = points.shape[0]
    # Stationary kernels: k(x, x) = v for every candidate.
    prior_variance = jnp.asarray(signal_std, dtype) ** 2
    prior_cholesky_cache = []

    def kernel_row(index):
        return kernel_matrix(
            points_jax[index][None], points_jax, kernel, lengthscale, signal_std
        )[0]

    def prior_cholesky():
        # Built on the first draw only (O(N^3) once; the UCB rules never need
        # it) and shared by every later trace, run and seed; traced kernel
        # hyper-parameters cannot be cached and are factorised in each trace.
        if prior_cholesky_cache:
            return prior_cholesky_cache[0]
        factor = prior_cholesky_factor(points, kernel, lengthscale, signal_std, dtype)
        if is_concrete(factor):
            prior_cholesky_cache.append(factor)
        return factor

    def discount(state, gamma):
        if is_concrete(gamma) and float(gamma) == 1.0:
            return state
        raise ValueError(
            "discount is not available with max_observations (observation-buffer "
            "layout); build the belief with max_observations=None"
        )

    return Belief(
        init=lambda: buffer.init(
            num_candidates, capacity, prior_mean, prior_variance, dtype
        ),
        update=lambda state, arms, rewards, weights: buffer.update(
            state, kernel_row, arms, rewards, weights.astype(dtype), noise_std
        ),
        sample=lambda key, state: buffer.sample(
            key, state, prior_cholesky(), prior_mean, noise_std
        ),
        mean=lambda state: state.mean,
        quantile=quantile,
        discount=discount,
        counts=lambda state: state.num_observations,
        num_arms=num_candidates,
        reward_range=(-float("inf"), float("inf")),
        name="gaussian_process_candidates",
        config=config,
    )
