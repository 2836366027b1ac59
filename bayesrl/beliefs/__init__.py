"""Posterior models (each a :class:`~bayesrl.base.Belief`), one per file."""

from bayesrl.beliefs._linear import LinearBelief
from bayesrl.beliefs.beta_bernoulli import BetaBernoulliState, beta_bernoulli
from bayesrl.beliefs.gaussian import GaussianState, gaussian
from bayesrl.beliefs.gaussian_process_buffer import GaussianProcessBufferState
from bayesrl.beliefs.gaussian_process_candidates import (
    GaussianProcessCandidatesState,
    gaussian_process_candidates,
)
from bayesrl.beliefs.linear_gaussian import LinearGaussianState, linear_gaussian
from bayesrl.beliefs.linear_normal_inverse_gamma import (
    LinearNormalInverseGammaState,
    linear_normal_inverse_gamma,
)
from bayesrl.beliefs.normal_gamma import NormalGammaState, normal_gamma
from bayesrl.beliefs.spike_and_slab_linear import (
    SpikeAndSlabState,
    spike_and_slab_linear,
)

__all__ = [
    "BetaBernoulliState",
    "GaussianProcessBufferState",
    "GaussianProcessCandidatesState",
    "GaussianState",
    "LinearBelief",
    "LinearGaussianState",
    "LinearNormalInverseGammaState",
    "NormalGammaState",
    "SpikeAndSlabState",
    "beta_bernoulli",
    "gaussian",
    "gaussian_process_candidates",
    "linear_gaussian",
    "linear_normal_inverse_gamma",
    "normal_gamma",
    "spike_and_slab_linear",
]
