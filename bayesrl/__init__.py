"""bayesrl: JAX-native Bayesian decision making.

Thompson-sampling bandits, posterior sampling for reinforcement learning,
Langevin Monte Carlo posterior sampling and prompt-difficulty bandits, all as
pure JAX functions that jit, vmap over thousands of seeds and run on CPU, GPU
or TPU.
"""

__version__ = "0.1.0"

from bayesrl import bandits, beliefs, envs, langevin, prompts, random  # noqa: E402
from bayesrl.base import (  # noqa: E402
    ActInfo,
    Agent,
    BanditObs,
    Belief,
    Transition,
    UpdateInfo,
    make_agent,
)
from bayesrl.contextual_facade import ContextualBandit  # noqa: E402
from bayesrl.facade import Bandit  # noqa: E402
from bayesrl.numpy_bandit import NumpyBandit  # noqa: E402
from bayesrl.runner import Metrics, run, run_many  # noqa: E402

__all__ = [
    "ActInfo",
    "Agent",
    "Bandit",
    "BanditObs",
    "ContextualBandit",
    "Belief",
    "Metrics",
    "NumpyBandit",
    "Transition",
    "UpdateInfo",
    "__version__",
    "bandits",
    "beliefs",
    "envs",
    "langevin",
    "make_agent",
    "prompts",
    "random",
    "run",
    "run_many",
]
