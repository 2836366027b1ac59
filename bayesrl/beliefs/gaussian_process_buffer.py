"""GP posterior over a finite candidate set, observation-buffer layout (b).

The model is the one of :mod:`bayesrl.beliefs.gaussian_process_candidates`:
``f ~ N(m0 1, K)`` over ``N`` candidates, ``y = f(x_i) + N(0, sigma^2 / w)``.
Layout (a) keeps the dense posterior covariance ``[N, N]`` per run; this
layout (b) of the spec (section 1.10) keeps the observations instead, in a
buffer of static capacity ``T`` (``max_observations``), with the Cholesky
factor ``L`` of ``K_obs + diag(sigma^2 / w)`` grown by one row per
observation (Rasmussen & Williams, *Gaussian Processes for Machine
Learning*, 2006, Algorithm 2.1, made incremental).

State per run: the observed candidate indices, rewards and weights ``[T]``,
``L [T, T]`` (rows past the count are identity rows, so triangular solves
over the full capacity leave them inert), the whitened cross-covariance
``V = L^-1 K_{obs, X}  [T, N]`` (rows past the count are zero), and the
posterior mean ``mu [N]`` and variance ``s2 [N]``. Observing ``y`` at
candidate ``x`` with weight ``w`` is one new row of each::

    l     = V[:, x]                       (= L^-1 K_{obs, x}: the forward
                                           substitution, already in V)
    d     = sqrt(s2[x] + sigma^2 / w)     (new diagonal entry of L)
    v     = (k(x, X) - l^T V) / d         (new row of V)
    mu    <- mu + v (y - mu[x]) / d
    s2    <- s2 - v^2

``k(x, X)`` is computed from the candidate points (``O(N D)``), so no
``[N, N]`` matrix is needed by the UCB rules. Cost ``O(N T)`` per
observation, ``O(N)`` per UCB decision (``mu`` and ``s2`` are kept), and
``4 (N T + T^2 + 3 T + 3 N)`` bytes per run in float32, against ``4 N^2``
for layout (a).

Joint draws (GP Thompson sampling) use pathwise conditioning, Matheron's
rule (Wilson, Borovitskiy, Terenin, Mostowsky & Deisenroth, "Efficiently
sampling functions from Gaussian process posteriors", ICML 2020,
arXiv:2002.09309, eq. 13)::

    f_post = f_prior + K_{X, obs} (K_obs + diag(sigma^2 / w))^-1
                       (y - f_prior[obs] - eps),
    f_prior = m0 + L_K xi,  xi ~ N(0, I_N),  eps_i ~ N(0, sigma^2 / w_i),

where ``K_{X, obs} (K_obs + ...)^-1 = V^T L^-1``, so the correction is one
triangular solve (``O(T^2)``) and one ``[N, T]`` product. ``L_K`` is the
Cholesky factor of ``K + jitter I``, computed once per belief (shared by
every run and seed, ``4 N^2`` bytes once, ``O(N^3)`` once) and closed over;
each draw then costs ``O(N^2 + N T)``, against the ``O(N^3)`` Cholesky per
draw of layout (a).

A full buffer takes no more observations: further ones are dropped and
counted in ``num_dropped`` (inside ``jit`` nothing can be raised); the
host-side facade refuses such an update with a ``ValueError`` before it
happens. Time discounting is not offered in this layout.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.types import Array, PRNGKey


class GaussianProcessBufferState(NamedTuple):
    """Posterior over the ``N`` candidates from a buffer of ``T`` observations.

    Attributes:
        mean: ``mu [N]`` posterior means.
        variance: ``s2 [N]`` posterior variances.
        num_observations: ``[N]`` weighted observation counts.
        observed_arms: int32 ``[T]`` candidate of each buffered observation
            (``-1`` past the count).
        observed_rewards: ``[T]`` buffered rewards (0 past the count).
        observed_weights: ``[T]`` buffered weights (0 past the count).
        cholesky: ``L [T, T]``, lower Cholesky factor of
            ``K_obs + diag(sigma^2 / w)``; identity rows past the count.
        whitened_cross_covariance: ``V = L^-1 K_{obs, X}  [T, N]``; zero rows
            past the count.
        count: int32, observations in the buffer.
        num_dropped: int32, observations refused because the buffer was full.
    """

    mean: Array
    variance: Array
    num_observations: Array
    observed_arms: Array
    observed_rewards: Array
    observed_weights: Array
    cholesky: Array
    whitened_cross_covariance: Array
    count: Array
    num_dropped: Array

    @property
    def std(self) -> Array:
        """Posterior standard deviations ``sqrt(s2)`` (clamped at 0)."""
        return jnp.sqrt(jnp.maximum(self.variance, 0.0))

    @property
    def remaining_capacity(self) -> Array:
        """Observations the buffer can still take (the facade checks it)."""
        return self.observed_arms.shape[-1] - self.count


def init(
    num_candidates: int, capacity: int, prior_mean, prior_variance, dtype
) -> GaussianProcessBufferState:
    return GaussianProcessBufferState(
        mean=jnp.full((num_candidates,), prior_mean, dtype),
        variance=jnp.full((num_candidates,), prior_variance, dtype),
        num_observations=jnp.zeros((num_candidates,), dtype),
        observed_arms=jnp.full((capacity,), -1, jnp.int32),
        observed_rewards=jnp.zeros((capacity,), dtype),
        observed_weights=jnp.zeros((capacity,), dtype),
        cholesky=jnp.eye(capacity, dtype=dtype),
        whitened_cross_covariance=jnp.zeros((capacity, num_candidates), dtype),
        count=jnp.zeros((), jnp.int32),
        num_dropped=jnp.zeros((), jnp.int32),
    )


def append_observation(
    state: GaussianProcessBufferState, kernel_row_fn, arm, reward, weight, noise_std
) -> GaussianProcessBufferState:
    """Condition on ``y = reward`` at candidate ``arm`` with noise variance
    ``sigma^2 / weight`` by growing ``L`` and ``V`` by one row (module
    docstring). Arm ``-1`` or weight 0 changes nothing; a full buffer only
    counts the observation in ``num_dropped``.

    Args:
        kernel_row_fn: ``index -> k(x_index, X) [N]``.
    """
    num_candidates = state.mean.shape[0]
    capacity = state.observed_arms.shape[0]
    dtype = state.mean.dtype
    valid = (arm >= 0) & (arm < num_candidates) & (weight > 0)
    accepted = valid & (state.count < capacity)
    index = jnp.clip(arm, 0, num_candidates - 1)
    row = jnp.minimum(state.count, capacity - 1)
    safe_weight = jnp.where(accepted, weight, 1.0).astype(dtype)

    forward = state.whitened_cross_covariance[:, index]  # L^-1 K_{obs, x}
    diagonal = jnp.sqrt(
        jnp.maximum(state.variance[index], 0.0) + noise_std**2 / safe_weight
    )
    new_row = (kernel_row_fn(index) - forward @ state.whitened_cross_covariance) / (
        diagonal
    )
    innovation = (reward - state.mean[index]) / diagonal
    updated = GaussianProcessBufferState(
        mean=state.mean + new_row * innovation,
        variance=state.variance - new_row**2,
        num_observations=state.num_observations.at[index].add(safe_weight),
        observed_arms=state.observed_arms.at[row].set(index.astype(jnp.int32)),
        observed_rewards=state.observed_rewards.at[row].set(reward),
        observed_weights=state.observed_weights.at[row].set(safe_weight),
        cholesky=state.cholesky.at[row].set(forward.at[row].set(diagonal)),
        whitened_cross_covariance=state.whitened_cross_covariance.at[row].set(new_row),
        count=state.count + 1,
        num_dropped=state.num_dropped,
    )
    kept = jax.tree.map(lambda old, new: jnp.where(accepted, new, old), state, updated)
    return kept._replace(num_dropped=state.num_dropped + (valid & ~accepted))


def update(state, kernel_row_fn, arms, rewards, weights, noise_std):
    """Add a batch: one row per item, in order (the posterior does not depend
    on the order)."""
    rewards = jnp.where(arms >= 0, rewards, 0.0)
    if arms.shape[0] == 1:  # the usual one-pull round: no scan to trace
        return append_observation(
            state, kernel_row_fn, arms[0], rewards[0], weights[0], noise_std
        )

    def step(state, item):
        arm, reward, weight = item
        return (
            append_observation(state, kernel_row_fn, arm, reward, weight, noise_std),
            None,
        )

    state, _ = jax.lax.scan(step, state, (arms, rewards, weights))
    return state


def sample(
    key: PRNGKey,
    state: GaussianProcessBufferState,
    prior_cholesky: Array,
    prior_mean,
    noise_std,
) -> Array:
    """One joint posterior draw of ``f`` by Matheron's rule (module docstring).

    Args:
        prior_cholesky: ``L_K [N, N]``, Cholesky factor of ``K + jitter I``.
    """
    num_candidates = state.mean.shape[0]
    dtype = state.mean.dtype
    key_prior, key_noise = fast_random.split(key)
    prior_draw = prior_mean + prior_cholesky @ fast_random.normal(
        key_prior, (num_candidates,), dtype
    )
    filled = jnp.arange(state.observed_arms.shape[0]) < state.count
    noise_scale = noise_std / jnp.sqrt(jnp.where(filled, state.observed_weights, 1.0))
    noise = noise_scale * fast_random.normal(key_noise, filled.shape, dtype)
    at_observations = prior_draw[jnp.clip(state.observed_arms, 0, num_candidates - 1)]
    residual = jnp.where(filled, state.observed_rewards - at_observations - noise, 0.0)
    whitened = jax.scipy.linalg.solve_triangular(state.cholesky, residual, lower=True)
    return prior_draw + whitened @ state.whitened_cross_covariance
