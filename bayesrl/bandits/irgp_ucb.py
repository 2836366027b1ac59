"""IRGP-UCB: improved randomised GP-UCB (Takeno, Inatsu & Karasuyama, ICML 2023,
PMLR 202:33490-33515, arXiv:2302.01511).

``x_t = argmax_x mu_{t-1}(x) + sqrt(beta_t) sigma_{t-1}(x)`` with ``beta_t``
drawn afresh each round from a two-parameter (shifted) exponential
distribution::

    beta_t = shift + scale * E_t,   E_t ~ Exp(1),

i.e. ``beta_t - shift ~ Exp(rate = 1 / scale)``. The paper's choice for a
finite domain ``X`` is ``shift = 2 log(|X| / 2)`` and rate ``1/2``
(``scale = 2``), so ``E[beta_t] = 2 log(|X| / 2) + 2`` does not grow with ``t``
and the Bayesian cumulative regret is ``O(sqrt(T gamma_T log |X|))``. With a
candidate set, ``|X| = N`` (the number of candidates) by our choice; for
continuous domains the paper's shift depends on a discretisation that grows
with ``t``. Defaults follow the paper; both parameters can be overridden.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl.bandits._gp_index import upper_confidence_agent
from bayesrl.base import Agent
from bayesrl.beliefs._common import config_value, is_concrete
from bayesrl.beliefs.gaussian_process_candidates import gaussian_process_candidates


def sample_beta(key, shift, scale):
    """``shift + scale * E``, ``E ~ Exp(1)`` drawn as ``-log(U)``."""
    uniform = fast_random.uniform(key, (), jnp.result_type(float))
    exponential = -jnp.log1p(-uniform)
    return shift + scale * exponential


def default_shift(num_candidates: int) -> float:
    """The paper's ``2 log(|X| / 2)``, floored at 0 (``|X| = 2`` gives 0)."""
    return max(0.0, 2.0 * float(np.log(num_candidates / 2.0)))


def irgp_ucb(
    candidates,
    shift=None,
    scale=2.0,
    kernel: str = "rbf",
    lengthscale=0.2,
    signal_std=1.0,
    noise_std=0.1,
    prior_mean=0.0,
    max_observations: int | None = None,
) -> Agent:
    """IRGP-UCB agent; the arms are the candidates.

    Args:
        candidates: ``[N, D]`` candidate inputs (static).
        shift: location ``s >= 0`` of ``beta_t``; None = ``2 log(N / 2)``.
        scale: scale ``> 0`` of the exponential part (the paper: 2, rate 1/2).
        kernel, lengthscale, signal_std, noise_std, prior_mean: the GP prior and
            noise (:func:`~bayesrl.beliefs.gaussian_process_candidates`).
        max_observations: None for the dense posterior (layout (a)); an int
            ``T`` for the observation buffer of capacity ``T`` (layout (b), for
            large candidate sets; see
            :func:`~bayesrl.beliefs.gaussian_process_candidates`).
    """
    belief = gaussian_process_candidates(
        candidates,
        kernel,
        lengthscale,
        signal_std,
        noise_std,
        prior_mean,
        max_observations=max_observations,
    )
    if shift is None:
        shift = default_shift(belief.num_arms)
    if is_concrete(shift) and not float(shift) >= 0.0:
        raise ValueError(f"shift must be >= 0, got {shift!r}")
    if is_concrete(scale) and not float(scale) > 0.0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    return upper_confidence_agent(
        "irgp_ucb",
        belief,
        lambda key, t: sample_beta(key, shift, scale),
        dict(shift=config_value(shift), scale=config_value(scale)),
        deterministic=False,
    )
