"""Posterior sampling for RL: tabular PSRL, F-PSRL and C-PSRL.

* :func:`psrl` (Osband et al. 2013), :func:`fpsrl` (Osband & Van Roy 2014) and
  :func:`cpsrl` (Mutti et al., ICLR 2024) build :class:`~bayesrl.base.Agent`
  objects that share one kernel (:mod:`bayesrl.psrl.parent_sets`).
* :func:`run_episodes` runs them episode by episode with exact expected regret.
* :mod:`bayesrl.psrl.planning` holds backward induction and exact evaluation.
"""

from bayesrl.psrl.cpsrl import cpsrl, draw_known_parents
from bayesrl.psrl.episodes import EpisodeMetrics, run_episodes
from bayesrl.psrl.fpsrl import fpsrl
from bayesrl.psrl.parent_sets import EpisodicAgent, PSRLInfo, PSRLState
from bayesrl.psrl.planning import (
    Plan,
    backward_induction,
    expected_regret,
    factored_backward_induction,
    factored_expected_next_value,
    model_l1_error,
    policy_evaluation,
)
from bayesrl.psrl.psrl import psrl

__all__ = [
    "EpisodeMetrics",
    "EpisodicAgent",
    "PSRLInfo",
    "PSRLState",
    "Plan",
    "backward_induction",
    "cpsrl",
    "draw_known_parents",
    "expected_regret",
    "factored_backward_induction",
    "factored_expected_next_value",
    "fpsrl",
    "model_l1_error",
    "policy_evaluation",
    "psrl",
    "run_episodes",
]
