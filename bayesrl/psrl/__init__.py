"""Posterior sampling for RL: tabular PSRL, F-PSRL and C-PSRL.

* :func:`psrl` (Osband et al. 2013), :func:`fpsrl` (Osband & Van Roy 2014) and
  :func:`cpsrl` (Mutti et al., ICLR 2024) build :class:`~bayesrl.base.Agent`
  objects that share one kernel (:mod:`bayesrl.psrl.parent_sets`).
* :func:`run_episodes` runs them episode by episode with exact expected regret.
* :func:`run_continuing` runs average-reward agents without reset on the
  doubling (or a fixed) episode schedule; :func:`ucrl2` is the optimistic
  baseline (Jaksch et al. 2010) of Osband et al. (2013).
* :mod:`bayesrl.psrl.planning` holds backward induction and exact evaluation.
"""

from bayesrl.psrl.average_reward import (
    AverageRewardPlan,
    optimal_gain,
    policy_gain,
    relative_value_iteration,
)
from bayesrl.psrl.continuing import ContinuingMetrics, run_continuing
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
from bayesrl.psrl.ucrl2 import (
    UCRL2State,
    extended_value_iteration,
    finite_horizon_extended_value_iteration,
    optimistic_transition,
    ucrl2,
)

__all__ = [
    "AverageRewardPlan",
    "ContinuingMetrics",
    "EpisodeMetrics",
    "EpisodicAgent",
    "PSRLInfo",
    "PSRLState",
    "Plan",
    "UCRL2State",
    "backward_induction",
    "cpsrl",
    "draw_known_parents",
    "expected_regret",
    "extended_value_iteration",
    "factored_backward_induction",
    "factored_expected_next_value",
    "finite_horizon_extended_value_iteration",
    "fpsrl",
    "model_l1_error",
    "optimal_gain",
    "optimistic_transition",
    "policy_evaluation",
    "policy_gain",
    "psrl",
    "relative_value_iteration",
    "run_continuing",
    "run_episodes",
    "ucrl2",
]
