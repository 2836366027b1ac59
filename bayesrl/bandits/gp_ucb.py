"""GP-UCB over a finite candidate set (Srinivas, Krause, Kakade & Seeger, ICML
2010, arXiv:0912.3995, Theorem 1).

``x_t = argmax_x mu_{t-1}(x) + sqrt(beta_t) sigma_{t-1}(x)`` with
``beta_t = 2 log(N t^2 pi^2 / (6 delta))`` for ``N`` candidates and confidence
``delta`` in (0, 1): the theorem's schedule for a finite domain, which grows
with ``t``. Here ``t`` is the number of (weighted) observations so far plus one,
which equals the round index when one candidate is pulled per round.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from bayesrl.bandits._gp_index import upper_confidence_agent
from bayesrl.base import Agent
from bayesrl.beliefs._common import config_value, is_concrete
from bayesrl.beliefs.gaussian_process_candidates import gaussian_process_candidates


def srinivas_beta(round_index, num_candidates: int, delta):
    """``2 log(N t^2 pi^2 / (6 delta))``."""
    return 2.0 * jnp.log(num_candidates * round_index**2 * np.pi**2 / (6.0 * delta))


def gp_ucb(
    candidates,
    delta=0.1,
    kernel: str = "rbf",
    lengthscale=0.2,
    signal_std=1.0,
    noise_std=0.1,
    prior_mean=0.0,
    max_observations: int | None = None,
) -> Agent:
    """GP-UCB agent; the arms are the candidates.

    Args:
        candidates: ``[N, D]`` candidate inputs (static).
        delta: confidence level of Srinivas et al.'s ``beta_t``, in (0, 1).
        kernel, lengthscale, signal_std, noise_std, prior_mean: the GP prior and
            noise (:func:`~bayesrl.beliefs.gaussian_process_candidates`).
        max_observations: None for the dense posterior (layout (a)); an int
            ``T`` for the observation buffer of capacity ``T`` (layout (b), for
            large candidate sets; see
            :func:`~bayesrl.beliefs.gaussian_process_candidates`).
    """
    if is_concrete(delta) and not 0.0 < float(delta) < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    belief = gaussian_process_candidates(
        candidates,
        kernel,
        lengthscale,
        signal_std,
        noise_std,
        prior_mean,
        max_observations=max_observations,
    )
    num_candidates = belief.num_arms
    return upper_confidence_agent(
        "gp_ucb",
        belief,
        lambda key, t: srinivas_beta(t, num_candidates, delta),
        dict(delta=config_value(delta)),
        deterministic=True,
    )
