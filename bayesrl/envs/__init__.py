"""Environments: gymnax (>= 1.0) subclasses that expose what evaluation needs."""

from bayesrl.envs.bandits import (
    BanditState,
    BernoulliBandit,
    BernoulliBanditParams,
    GaussianBandit,
    GaussianBanditParams,
    PiecewiseBernoulliParams,
    PiecewiseStationaryBernoulliBandit,
    heteroscedastic_params,
    sutton_barto_params,
)
from bayesrl.envs.bo_functions import (
    CandidateSetBandit,
    CandidateSetParams,
    ackley_instance,
    branin_instance,
    gp_sample_path_params,
    hartmann6_instance,
)
from bayesrl.envs.classification import (
    ClassificationBandit,
    ClassificationParams,
    sklearn_classification_bandit,
)
from bayesrl.envs.factored import (
    FactoredMDP,
    FactoredMDPParams,
    Taxi,
    random_factored_mdp,
    random_factored_mdp_params,
)
from bayesrl.envs.linear_contextual import (
    LinearContextualBandit,
    LinearContextualParams,
    LinearContextualState,
)
from bayesrl.envs.nchain import NChain, NChainParams, NChainState
from bayesrl.envs.prompt_simulator import (
    PromptSimulator,
    PromptSimulatorParams,
    PromptSimulatorState,
)
from bayesrl.envs.sparse_linear import (
    SparseLinearBandit,
    SparseLinearParams,
    SparseLinearState,
)
from bayesrl.envs.tabular import (
    DeepSea,
    DeepSeaParams,
    RiverSwim,
    TabularMDP,
    TabularMDPParams,
    TabularMDPState,
    TabularModel,
    random_tabular_mdp_params,
)
from bayesrl.envs.wheel import WheelBandit, WheelParams, WheelState

__all__ = [
    "ackley_instance",
    "branin_instance",
    "CandidateSetBandit",
    "CandidateSetParams",
    "gp_sample_path_params",
    "hartmann6_instance",
    "SparseLinearBandit",
    "SparseLinearParams",
    "SparseLinearState",
    "BanditState",
    "BernoulliBandit",
    "BernoulliBanditParams",
    "ClassificationBandit",
    "ClassificationParams",
    "DeepSea",
    "DeepSeaParams",
    "FactoredMDP",
    "FactoredMDPParams",
    "GaussianBandit",
    "GaussianBanditParams",
    "heteroscedastic_params",
    "LinearContextualBandit",
    "LinearContextualParams",
    "LinearContextualState",
    "NChain",
    "NChainParams",
    "NChainState",
    "PiecewiseBernoulliParams",
    "PiecewiseStationaryBernoulliBandit",
    "PromptSimulator",
    "PromptSimulatorParams",
    "PromptSimulatorState",
    "random_factored_mdp",
    "random_factored_mdp_params",
    "random_tabular_mdp_params",
    "sklearn_classification_bandit",
    "RiverSwim",
    "sutton_barto_params",
    "TabularMDP",
    "TabularMDPParams",
    "TabularMDPState",
    "TabularModel",
    "Taxi",
    "WheelBandit",
    "WheelParams",
    "WheelState",
]
