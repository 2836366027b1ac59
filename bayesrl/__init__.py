"""bayesrl: JAX-native Bayesian decision making.

Thompson-sampling bandits, posterior sampling for reinforcement learning,
Langevin Monte Carlo posterior sampling and prompt-difficulty bandits, all as
pure JAX functions that jit, vmap over thousands of seeds and run on CPU, GPU
or TPU.

Every subpackage is reachable as an attribute after ``import bayesrl``:
``bandits``, ``beliefs``, ``envs``, ``langevin``, ``prompts`` and ``random`` are
imported with the package; ``eval``, ``psrl``, ``testing`` and ``integrations``
on first access (the trainer adapters under ``integrations`` import their
trainer only when their own submodule is imported).
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

_LAZY_SUBMODULES = ("eval", "integrations", "psrl", "testing")


def __getattr__(name: str):
    """Import the subpackages listed in ``_LAZY_SUBMODULES`` on first access."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"bayesrl.{name}")
    raise AttributeError(f"module 'bayesrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


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
    "eval",
    "integrations",
    "langevin",
    "make_agent",
    "prompts",
    "psrl",
    "random",
    "run",
    "run_many",
    "testing",
]
