"""Vectorised NumPy linear Thompson sampling: the speed and regret reference.

All S runs advance together as ``[S, K, ...]``
arrays, with a Python loop over rounds. Disjoint model, known noise ``sigma``,
prior ``theta_k ~ N(0, lambda^{-1} I)``. Each run keeps per arm the posterior
covariance ``C = P^{-1}`` and ``b = sum r x / sigma^2``; an observation of arm
``a`` with context ``x`` applies Sherman-Morrison,
``C <- C - C x x' C / (sigma^2 + x' C x)`` (then re-symmetrised, as float
drift would otherwise break the Cholesky), and a Thompson draw is
``C b + chol(C) xi`` with one batched Cholesky of all ``[S, K, d, d]``
covariances per round. Rewards come from the linear contextual environment
``r = theta_a . x + N(0, sigma_env^2)`` with ``x ~ N(0, I)``; the regret is the
expected regret ``max_k theta_k . x - theta_a . x``.
"""

from __future__ import annotations

import numpy as np


def run(
    theta: np.ndarray,
    env_noise_std: float,
    num_steps: int,
    num_seeds: int,
    seed: int,
    noise_std: float = 1.0,
    prior_precision: float = 1.0,
) -> np.ndarray:
    """Runs linear TS on ``num_seeds`` copies of one instance.

    Args:
        theta: ``[K, d]`` true parameters.
        env_noise_std: the environment's reward noise.
        num_steps: rounds T.
        num_seeds: parallel runs S.
        seed: NumPy seed.
        noise_std: the agent's known noise ``sigma``.
        prior_precision: the agent's prior precision ``lambda``.

    Returns:
        ``[S, T]`` per-round expected regret.
    """
    rng = np.random.default_rng(seed)
    num_arms, dim = theta.shape
    runs = np.arange(num_seeds)
    covariance = np.broadcast_to(
        np.eye(dim) / prior_precision, (num_seeds, num_arms, dim, dim)
    ).copy()
    moment = np.zeros((num_seeds, num_arms, dim))
    regret = np.empty((num_seeds, num_steps))
    noise_variance = noise_std**2
    for t in range(num_steps):
        context = rng.standard_normal((num_seeds, dim))
        mean = np.einsum("skij,skj->ski", covariance, moment)
        root = np.linalg.cholesky(covariance)
        xi = rng.standard_normal((num_seeds, num_arms, dim))
        sample = mean + np.einsum("skij,skj->ski", root, xi)
        scores = np.einsum("ski,si->sk", sample, context)
        arm = np.argmax(scores, axis=1)
        means = context @ theta.T
        regret[:, t] = means.max(axis=1) - means[runs, arm]
        reward = means[runs, arm] + env_noise_std * rng.standard_normal(num_seeds)
        chosen = covariance[runs, arm]
        cx = np.einsum("sij,sj->si", chosen, context)
        denominator = noise_variance + np.einsum("si,si->s", context, cx)
        chosen = chosen - cx[:, :, None] * cx[:, None, :] / denominator[:, None, None]
        covariance[runs, arm] = 0.5 * (chosen + np.swapaxes(chosen, -1, -2))
        moment[runs, arm] += (reward / noise_variance)[:, None] * context
    return regret
