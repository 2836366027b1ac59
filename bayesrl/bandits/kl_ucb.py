"""KL-UCB for rewards in [0, 1] (Garivier & Cappe, COLT 2011, arXiv:1102.2490).

``u_k = max{q in [mu_hat_k, 1] : n_k kl(mu_hat_k, q) <= ln t + c ln ln t}``
with the Bernoulli divergence ``kl(p, q) = p ln(p/q) + (1-p) ln((1-p)/(1-q))``
and ``t = sum_k n_k``; ``ln ln t`` is taken as ``ln(max(1, ln t))``. The
theorem uses ``c = 3``; the paper's experiments use ``c = 0``, the default
here. The maximisation is a fixed number of bisection steps (branch-free).
Unpulled arms have index ``+inf`` (round-robin start).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl.bandits._empirical import index_agent
from bayesrl.base import Agent
from bayesrl.beliefs._common import check_num_arms, is_concrete

# 2^-30 of [0, 1] is below float32 resolution.
_BISECTION_STEPS = 30


def bernoulli_kl(p, q):
    """``kl(p, q)`` with the conventions ``0 ln 0 = 0`` and q clipped off {0, 1}."""
    eps = 1e-7
    q = jnp.clip(q, eps, 1.0 - eps)
    p_term = jnp.where(p > 0, p * jnp.log(jnp.maximum(p, eps) / q), 0.0)
    r_term = jnp.where(p < 1, (1 - p) * jnp.log(jnp.maximum(1 - p, eps) / (1 - q)), 0.0)
    return p_term + r_term


def kl_ucb_index(counts, means, c=0.0):
    """The KL-UCB upper bound of every arm, ``+inf`` where ``counts == 0``."""
    t = jnp.maximum(jnp.sum(counts), 1.0)
    budget = jnp.log(t) + c * jnp.log(jnp.maximum(1.0, jnp.log(t)))
    safe_counts = jnp.maximum(counts, 1e-30)
    means = jnp.clip(means, 0.0, 1.0)

    def halve(_, bracket):
        low, high = bracket
        middle = 0.5 * (low + high)
        inside = safe_counts * bernoulli_kl(means, middle) <= budget
        return jnp.where(inside, middle, low), jnp.where(inside, high, middle)

    low, _ = jax.lax.fori_loop(
        0, _BISECTION_STEPS, halve, (means, jnp.ones_like(means))
    )
    return jnp.where(counts > 0, low, jnp.inf)


def kl_ucb(num_arms: int, c=0.0) -> Agent:
    """KL-UCB agent for rewards in [0, 1].

    Args:
        num_arms: number of arms (static, >= 2).
        c: the ``c ln ln t`` coefficient, ``c >= 0`` (default 0).
    """
    check_num_arms(num_arms)
    if is_concrete(c) and not float(c) >= 0:
        raise ValueError(f"c must be >= 0, got {c!r}")
    return index_agent("kl_ucb", num_arms, c, kl_ucb_index)
