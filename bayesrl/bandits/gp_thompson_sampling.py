"""GP Thompson sampling over a finite candidate set.

Each round draws one joint sample ``f~ ~ N(mu_{t-1}, Sigma_{t-1})`` of the GP
posterior over the ``N`` candidates and plays ``argmax_x f~(x)`` (Chowdhury &
Gopalan, ICML 2017, arXiv:1704.00445, "GP-TS"; Russo & Van Roy 2014 for its
Bayesian regret). Cost: one ``O(N^3)`` Cholesky per round with the dense
posterior (layout (a)); with ``max_observations=T`` (layout (b)) a Matheron
draw, ``O(N^2 + N T)`` per round after one shared ``O(N^3)`` prior Cholesky.
"""

from __future__ import annotations

from bayesrl.bandits.thompson import thompson_sampling
from bayesrl.base import Agent
from bayesrl.beliefs.gaussian_process_candidates import gaussian_process_candidates


def gp_thompson_sampling(
    candidates,
    kernel: str = "rbf",
    lengthscale=0.2,
    signal_std=1.0,
    noise_std=0.1,
    prior_mean=0.0,
    max_observations: int | None = None,
    num_propensity_samples: int = 0,
) -> Agent:
    """GP-TS agent: :func:`~bayesrl.bandits.thompson_sampling` over a
    :func:`~bayesrl.beliefs.gaussian_process_candidates` belief.

    Args:
        candidates: ``[N, D]`` candidate inputs (static).
        kernel, lengthscale, signal_std, noise_std, prior_mean: the GP prior and
            noise.
        max_observations: None for the dense posterior (layout (a)); an int
            ``T`` for the observation buffer of capacity ``T`` (layout (b), for
            large candidate sets; see
            :func:`~bayesrl.beliefs.gaussian_process_candidates`).
        num_propensity_samples: extra posterior draws to estimate the
            propensity (0 = off).
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
    return thompson_sampling(belief, num_propensity_samples=num_propensity_samples)
