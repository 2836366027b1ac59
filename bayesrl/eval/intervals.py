"""Confidence intervals over independent seeds."""

from __future__ import annotations

import numpy as np


def mean_interval(values, confidence_z: float = 1.96, axis: int = 0):
    """Mean over seeds and the half-width of its normal-approximation interval.

    The interval is ``mean +- z * s / sqrt(n)``, with ``s`` the sample standard
    deviation (``ddof=1``) of the ``n`` seeds along ``axis``; ``z = 1.96`` gives
    95%. For a ``[seeds, steps]`` array of regret curves, the default
    ``axis=0`` gives the mean curve and its band, one value per step.

    Args:
        values: an array with at least two seeds along ``axis``.
        confidence_z: the normal quantile ``z``.
        axis: the seed axis.

    Returns:
        ``(mean, half_width)``: floats for a 1-D input, else arrays with
        ``axis`` removed.

    Raises:
        ValueError: if ``values`` has fewer than two seeds along ``axis``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        raise ValueError("values must have a seed axis, got a scalar")
    num_seeds = values.shape[axis]
    if num_seeds < 2:
        raise ValueError(
            f"an interval needs at least two seeds along axis {axis}, got {num_seeds}"
        )
    mean = values.mean(axis=axis)
    half = confidence_z * values.std(axis=axis, ddof=1) / np.sqrt(num_seeds)
    if mean.ndim == 0:
        return float(mean), float(half)
    return mean, half


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
