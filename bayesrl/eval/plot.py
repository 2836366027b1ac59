"""Regret curves with confidence bands (matplotlib, imported when called)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesrl.eval.intervals import mean_interval


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "plot_regret needs matplotlib: pip install 'bayesrl[plot]'"
        ) from error
    return plt


def plot_regret(
    curves: Mapping[str, Any],
    *,
    ax: Any = None,
    cumulative: bool = True,
    confidence_z: float = 1.96,
    record_every: int = 1,
    xlabel: str = "step",
    ylabel: str | None = None,
) -> Any:
    """Plot each method's mean regret curve over seeds with its band.

    For every method, the curve at step ``t`` is the mean over seeds of the
    cumulative regret ``R_t = sum_{s <= t} r_s`` (or of ``r_t`` itself with
    ``cumulative=False``), and the band is the normal-approximation interval
    ``mean +- z * sd / sqrt(num_seeds)`` of :func:`mean_interval` (95% for
    ``z = 1.96``), step by step.

    Args:
        curves: method name -> per-step regret ``[num_seeds, num_steps]``, for
            example ``metrics.regret`` from :func:`bayesrl.run_many`.
        ax: a matplotlib ``Axes`` to draw on; a new figure when ``None``.
        cumulative: sum the regret over steps before averaging.
        confidence_z: the normal quantile of the band.
        record_every: steps per stored row (as in ``run_many(...,
            record_every=...)``), so the x axis counts environment steps.
        xlabel: the x-axis label.
        ylabel: the y-axis label; by default "cumulative regret" or "regret".

    Returns:
        The ``Axes`` drawn on.

    Raises:
        ValueError: if a curve is not 2-D or has fewer than two seeds.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(
                f"curves[{name!r}] must be [num_seeds, num_steps], got shape "
                f"{values.shape}"
            )
        if cumulative:
            values = np.cumsum(values, axis=1)
        mean, half = mean_interval(values, confidence_z=confidence_z, axis=0)
        steps = record_every * np.arange(1, values.shape[1] + 1)
        (line,) = ax.plot(steps, mean, label=name)
        ax.fill_between(
            steps, mean - half, mean + half, color=line.get_color(), alpha=0.25
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or ("cumulative regret" if cumulative else "regret"))
    ax.legend()
    return ax
