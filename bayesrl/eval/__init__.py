"""Evaluation helpers: intervals over seeds, regret plots with bands, the
Lai-Robbins constant and the bsuite DeepSea protocol.

:func:`plot_regret` imports matplotlib only when called (``bayesrl[plot]``).
"""

from bayesrl.eval.intervals import bootstrap_interval, mean_interval
from bayesrl.eval.lai_robbins import bernoulli_kl, lai_robbins_constant
from bayesrl.eval.plot import plot_regret
from bayesrl.eval.protocols import (
    BSUITE_DEEP_SEA_EPISODES,
    BSUITE_DEEP_SEA_SIZES,
    DeepSeaScore,
    bsuite_logged_episodes,
    deep_sea_bad_episodes,
    deep_sea_learning_time,
    deep_sea_score,
    deep_sea_solved,
)

__all__ = [
    "BSUITE_DEEP_SEA_EPISODES",
    "BSUITE_DEEP_SEA_SIZES",
    "DeepSeaScore",
    "bernoulli_kl",
    "bsuite_logged_episodes",
    "deep_sea_bad_episodes",
    "deep_sea_learning_time",
    "deep_sea_score",
    "deep_sea_solved",
    "bootstrap_interval",
    "lai_robbins_constant",
    "mean_interval",
    "plot_regret",
]
