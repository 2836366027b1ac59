"""Langevin Monte Carlo posterior sampling for decision making.

Transforms (optax-style, terminal: they emit drift plus noise):
:func:`sgld`, :func:`preconditioned_langevin`, :func:`adam_langevin`,
:func:`underdamped_langevin` (EulerULMC), :func:`adam_underdamped_langevin` (aULMC).
Agents: :func:`lmc_ts` (contextual bandits), :func:`lmc_lsvi` (linear MDPs) and
:func:`adam_lmcdqn` (a pure, vmappable deep-RL ``train(key)``).
Exact laws on quadratic losses: :func:`gaussian_law`,
:func:`exact_gaussian_sample`, :func:`quadratic_langevin_step`.
"""

from bayesrl.langevin.adam_langevin import AdamLangevinState, adam_langevin
from bayesrl.langevin.adam_lmcdqn import (
    DEFAULT_CONFIG,
    AdamLMCDQNMetrics,
    AdamLMCDQNState,
    adam_lmcdqn,
    n_step_returns,
)
from bayesrl.langevin.adam_underdamped_langevin import (
    AdamUnderdampedLangevinState,
    adam_underdamped_langevin,
)
from bayesrl.langevin.dqn_loss import DQNBatch, dqn_loss, td_targets
from bayesrl.langevin.lmc_lsvi import (
    LMCLSVIActInfo,
    LMCLSVIInfo,
    LMCLSVIState,
    lmc_lsvi,
)
from bayesrl.langevin.lmc_ts import LMCTSInfo, LMCTSState, lmc_ts
from bayesrl.langevin.preconditioned_langevin import (
    PreconditionedLangevinState,
    preconditioned_langevin,
)
from bayesrl.langevin.quadratic import (
    exact_gaussian_sample,
    exact_gaussian_sample_from_noise,
    gaussian_law,
    quadratic_langevin_step,
)
from bayesrl.langevin.sgld import SGLDState, sgld
from bayesrl.langevin.underdamped_langevin import (
    UnderdampedLangevinState,
    underdamped_langevin,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AdamLMCDQNMetrics",
    "AdamLMCDQNState",
    "AdamLangevinState",
    "AdamUnderdampedLangevinState",
    "DQNBatch",
    "LMCLSVIActInfo",
    "LMCLSVIInfo",
    "LMCLSVIState",
    "LMCTSInfo",
    "LMCTSState",
    "PreconditionedLangevinState",
    "SGLDState",
    "UnderdampedLangevinState",
    "adam_langevin",
    "adam_lmcdqn",
    "adam_underdamped_langevin",
    "dqn_loss",
    "exact_gaussian_sample",
    "exact_gaussian_sample_from_noise",
    "gaussian_law",
    "lmc_lsvi",
    "lmc_ts",
    "n_step_returns",
    "preconditioned_langevin",
    "quadratic_langevin_step",
    "sgld",
    "td_targets",
    "underdamped_langevin",
]
