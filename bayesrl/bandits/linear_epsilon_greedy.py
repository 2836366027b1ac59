"""Epsilon-greedy on ridge-regression estimates (the linear baseline).

With probability ``epsilon`` play an available arm uniformly at random, else
an arm of largest ridge estimate ``x_k . A^{-1} b`` (``A = ridge I + X'X``, per
arm in the disjoint layout), ties broken uniformly at random. In the disjoint
layout arms never pulled count as best, so every arm is tried before
exploiting. The propensity of the returned arm is
exact: ``epsilon / |A| + (1 - epsilon) 1[a in argmax] / |argmax|``. The ridge
estimate is the mean of :mod:`bayesrl.beliefs.linear_gaussian` with
``noise_std = 1`` and ``prior_scale = ridge^{-1/2}``.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayesrl._checks import check_positive
from bayesrl.bandits._linear_agent import make_linear_agent
from bayesrl.bandits._rules import epsilon_greedy_choice
from bayesrl.base import Agent, BanditObs
from bayesrl.beliefs._common import config_value, is_concrete
from bayesrl.beliefs.linear_gaussian import linear_gaussian


def linear_epsilon_greedy(
    num_arms: int,
    dim: int,
    epsilon=0.1,
    *,
    ridge=1.0,
    layout: str = "disjoint",
) -> Agent:
    """Epsilon-greedy linear agent.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: context (disjoint) or feature (shared) dimension d.
        epsilon: exploration probability in [0, 1] (traceable).
        ridge: ridge penalty (> 0).
        layout: ``"disjoint"`` or ``"shared"``.
    """
    if is_concrete(epsilon) and not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    check_positive("ridge", ridge)
    belief = linear_gaussian(
        num_arms, dim, noise_std=1.0, prior_scale=ridge**-0.5, layout=layout
    )

    def act(key, state, obs: BanditObs):
        estimates = belief.mean(state, obs.context)
        if layout == "disjoint":
            estimates = jnp.where(state.counts > 0, estimates, jnp.inf)
        return epsilon_greedy_choice(key, estimates, obs.available, epsilon)

    config = dict(
        num_arms=num_arms,
        dim=dim,
        epsilon=config_value(epsilon),
        ridge=config_value(ridge),
        layout=layout,
    )
    return make_linear_agent(belief, act, "linear_epsilon_greedy", config)
