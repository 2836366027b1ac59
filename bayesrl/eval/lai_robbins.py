"""The Lai-Robbins constant of a Bernoulli bandit.

Lai & Robbins (Adv. Appl. Math. 6, 1985): every uniformly good policy has
``liminf R_T / ln T >= C(mu) = sum_{k: mu_k < mu*} Delta_k / KL(mu_k || mu*)``
with ``KL(p || q) = p ln(p/q) + (1-p) ln((1-p)/(1-q))``. Beta(1, 1) Thompson
sampling and KL-UCB attain it asymptotically. The bound is asymptotic, so
benchmarks report the slope of ``R_T`` over ``ln T`` between two horizons
divided by ``C``, not the ratio at one horizon.
"""

from __future__ import annotations

import numpy as np


def bernoulli_kl(p, q):
    """``KL(Bern(p) || Bern(q))`` with ``0 ln 0 = 0``."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(p > 0, p * np.log(p / q), 0.0)
        second = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - q)), 0.0)
    return first + second


def lai_robbins_constant(means) -> float:
    """``C(mu)`` of a Bernoulli bandit with success probabilities ``means``."""
    means = np.asarray(means, dtype=np.float64)
    best = means.max()
    suboptimal = means < best
    gaps = best - means[suboptimal]
    return float(np.sum(gaps / bernoulli_kl(means[suboptimal], best)))
