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

__all__ = [
    "BanditState",
    "BernoulliBandit",
    "BernoulliBanditParams",
    "GaussianBandit",
    "GaussianBanditParams",
    "PiecewiseBernoulliParams",
    "PiecewiseStationaryBernoulliBandit",
    "heteroscedastic_params",
    "sutton_barto_params",
]
