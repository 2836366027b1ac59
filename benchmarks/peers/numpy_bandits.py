"""Vectorised NumPy reference bandits: the performance bar.

All seeds run as one array: one ``[S, K]`` array per posterior parameter, a
Python loop over rounds, draws from ``numpy.random.Generator`` (PCG64). This is
already 20x (TS) to 150x (UCB1) faster than the fastest peer library, which
steps one bandit at a time. Each function returns the cumulative pseudo-regret
of every seed, ``[S]``, computed from the true means.
"""

from __future__ import annotations

import numpy as np


def bernoulli_thompson(means, num_seeds: int, num_steps: int, seed: int = 0):
    """Beta(1, 1)-Bernoulli Thompson sampling on Bernoulli arms."""
    means = np.asarray(means, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = np.arange(num_seeds)
    alpha = np.ones((num_seeds, means.size))
    beta = np.ones((num_seeds, means.size))
    regret = np.zeros(num_seeds)
    gaps = means.max() - means
    for _ in range(num_steps):
        arms = rng.beta(alpha, beta).argmax(axis=1)
        rewards = rng.random(num_seeds) < means[arms]
        alpha[rows, arms] += rewards
        beta[rows, arms] += 1 - rewards
        regret += gaps[arms]
    return regret


def gaussian_thompson(means, stds, num_seeds: int, num_steps: int, seed: int = 0):
    """Gaussian Thompson sampling with known noise and a N(0, 1) prior."""
    means = np.asarray(means, dtype=np.float64)
    noise_var = np.asarray(stds, dtype=np.float64) ** 2 * np.ones_like(means)
    rng = np.random.default_rng(seed)
    rows = np.arange(num_seeds)
    counts = np.zeros((num_seeds, means.size))
    sums = np.zeros((num_seeds, means.size))
    regret = np.zeros(num_seeds)
    gaps = means.max() - means
    for _ in range(num_steps):
        precision = 1.0 + counts / noise_var
        posterior_mean = (sums / noise_var) / precision
        draws = posterior_mean + rng.standard_normal(counts.shape) / np.sqrt(precision)
        arms = draws.argmax(axis=1)
        rewards = means[arms] + np.sqrt(noise_var[arms]) * rng.standard_normal(
            num_seeds
        )
        counts[rows, arms] += 1
        sums[rows, arms] += rewards
        regret += gaps[arms]
    return regret


def ucb1(means, num_seeds: int, num_steps: int, seed: int = 0, c: float = 2.0):
    """UCB1 on Bernoulli arms; unpulled arms first (round-robin start)."""
    means = np.asarray(means, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = np.arange(num_seeds)
    counts = np.zeros((num_seeds, means.size))
    sums = np.zeros((num_seeds, means.size))
    regret = np.zeros(num_seeds)
    gaps = means.max() - means
    for t in range(num_steps):
        with np.errstate(divide="ignore", invalid="ignore"):
            index = sums / counts + np.sqrt(c * np.log(max(t, 1)) / counts)
        index[counts == 0] = np.inf
        arms = index.argmax(axis=1)
        rewards = rng.random(num_seeds) < means[arms]
        counts[rows, arms] += 1
        sums[rows, arms] += rewards
        regret += gaps[arms]
    return regret
