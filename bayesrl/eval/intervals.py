"""Confidence intervals over independent seeds."""

from __future__ import annotations

import numpy as np


def mean_interval(values, confidence_z: float = 1.96) -> tuple[float, float]:
    """Mean and half-width ``z * s / sqrt(n)`` of the normal-approximation
    interval (95% for ``z = 1.96``) over the first axis."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < 2:
        raise ValueError("an interval needs at least two seeds")
    half = confidence_z * values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return float(values.mean(axis=0)), float(half)


def bootstrap_interval(
    values,
    statistic=np.mean,
    num_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Statistic over seeds and its percentile bootstrap interval ``(low, high)``
    (for small seed counts, where the normal approximation is poor)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.shape[0], size=(num_resamples, values.shape[0]))
    stats = np.array([statistic(values[d]) for d in draws])
    tail = 100 * (1 - level) / 2
    return (
        float(statistic(values)),
        float(np.percentile(stats, tail)),
        float(np.percentile(stats, 100 - tail)),
    )
