"""Helpers every benchmark shares: the machine record, best-of timing, plots."""

from __future__ import annotations

import os
import platform
import time

import jax
import numpy as np

import bayesrl


def machine() -> dict:
    """Where the numbers come from (results are only comparable on one machine)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        jax=jax.__version__,
        devices=[str(d) for d in jax.devices()],
        load_average_at_start=load,
    )


def machine_header(record: dict) -> str:
    """One line naming the version, machine and load a run started on."""
    return (
        f"bayesrl {bayesrl.__version__} on {record['platform']}, "
        f"{record['cpu_count']} CPUs, devices {record['devices']}, "
        f"load average {record['load_average_at_start']}"
    )


def best_of(fn, repeats):
    """Best wall time of ``fn(0) ... fn(repeats - 1)`` and the last result."""
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        result = fn(seed)
        times.append(time.perf_counter() - start)
    return min(times), result


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend, or None (with a
    message) when the ``plot`` extra is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install '.[plot]'): no plot written")
        return None
    return plt


def plot_band(ax, t, mean, half, label):
    """A mean curve and its shaded interval ``mean +- half``."""
    ax.plot(t, mean, label=label)
    ax.fill_between(t, mean - half, mean + half, alpha=0.25)


def plot_seed_band(ax, curves, label):
    """Mean over seeds (axis 0) of ``curves[seed, t]`` with its 95% interval."""
    mean = curves.mean(axis=0)
    half = 1.96 * curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])
    plot_band(ax, np.arange(1, mean.size + 1), mean, half, label)


def save_figure(plt, fig, path, dpi=120):
    """Lay out, write and close ``fig``; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
