"""Helpers every benchmark shares: the machine record and best-of timing."""

from __future__ import annotations

import os
import platform
import time

import jax

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
