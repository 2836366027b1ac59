"""Posterior models (``Belief``s): one per file."""

from bayesrl.beliefs._linear import LinearBelief
from bayesrl.beliefs.beta_bernoulli import BetaBernoulliState, beta_bernoulli
from bayesrl.beliefs.gaussian import GaussianState, gaussian
from bayesrl.beliefs.linear_gaussian import LinearGaussianState, linear_gaussian
from bayesrl.beliefs.linear_normal_inverse_gamma import (
    LinearNormalInverseGammaState,
    linear_normal_inverse_gamma,
)
from bayesrl.beliefs.normal_gamma import NormalGammaState, normal_gamma

__all__ = [
    "BetaBernoulliState",
    "GaussianState",
    "LinearBelief",
    "LinearGaussianState",
    "LinearNormalInverseGammaState",
    "NormalGammaState",
    "beta_bernoulli",
    "gaussian",
    "linear_gaussian",
    "linear_normal_inverse_gamma",
    "normal_gamma",
]
