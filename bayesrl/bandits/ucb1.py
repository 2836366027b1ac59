"""UCB1 (Auer, Cesa-Bianchi & Fischer, Machine Learning 47, 2002).

Index ``mu_hat_k + sqrt(c ln t / n_k)`` with ``t = sum_k n_k`` and rewards in
[0, 1]; the paper's width is ``c = 2``. An unpulled arm has index ``+inf``, so
the first K decisions are round-robin in index order: an unpulled arm never
scores 0 (the cold-start bug that locks MABWiser's UCB1 on arm 0).
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl.bandits._empirical import index_agent
from bayesrl.base import Agent
from bayesrl.beliefs._common import check_num_arms, is_concrete


def ucb1_index(counts, means, c=2.0):
    """``means + sqrt(c ln t / counts)``, ``+inf`` where ``counts == 0``."""
    t = jnp.sum(counts)
    width = jnp.sqrt(c * jnp.log(jnp.maximum(t, 1.0)) / jnp.maximum(counts, 1e-30))
    return jnp.where(counts > 0, means + width, jnp.inf)


def ucb1(num_arms: int, c=2.0) -> Agent:
    """UCB1 agent for rewards in [0, 1].

    Args:
        num_arms: number of arms (static, >= 2).
        c: exploration width ``c > 0`` in ``sqrt(c ln t / n)`` (default 2).
    """
    check_num_arms(num_arms)
    if is_concrete(c) and not float(c) > 0:
        raise ValueError(f"c must be > 0, got {c!r}")
    return index_agent("ucb1", num_arms, c, ucb1_index)
