"""Posterior models (``Belief``s): one per file."""

from bayesrl.beliefs.beta_bernoulli import BetaBernoulliState, beta_bernoulli
from bayesrl.beliefs.gaussian import GaussianState, gaussian
from bayesrl.beliefs.normal_gamma import NormalGammaState, normal_gamma

__all__ = [
    "BetaBernoulliState",
    "GaussianState",
    "NormalGammaState",
    "beta_bernoulli",
    "gaussian",
    "normal_gamma",
]
