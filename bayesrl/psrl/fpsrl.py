"""Factored PSRL with known scopes (F-PSRL).

Osband & Van Roy, "Near-optimal Reinforcement Learning in Factored MDPs",
NeurIPS 2014, https://arxiv.org/abs/1403.3741.

The transition model factorises as ``P(s' | s, a) = prod_j P_j(s'[j] | x[z_j])``
with known scopes ``z_j``; every conditional has a ``Dirichlet(alpha 1_{b_j})``
prior, so each episode samples ``theta_j(. | u) ~ Dirichlet(alpha +
n_j(u, .))`` per node and parent configuration, builds the dense model, plans by
backward induction and acts for one episode. With the true scopes this is the
"oracle prior" baseline of Mutti et al. (ICLR 2024); it equals
:func:`bayesrl.psrl.cpsrl` when every node has a single candidate parent set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesrl._checks import check_positive
from bayesrl.envs.factored import FactoredMDP
from bayesrl.psrl import validation
from bayesrl.psrl.parent_sets import (
    EpisodicAgent,
    build_tables,
    make_posterior_sampling_agent,
    parents_to_mask,
)


def fpsrl(
    env: FactoredMDP,
    parents: Any,
    reward: Any = None,
    *,
    prior_alpha: float = 1.0,
    termination: Any = None,
    planner: str = "auto",
) -> EpisodicAgent:
    """F-PSRL on ``env`` with the known parent sets ``parents``.

    Args:
        env: a :class:`~bayesrl.envs.FactoredMDP`.
        parents: int ``[d_Y, K]`` parent input factors of each next-state factor
            (state factors first, then action factors), padded with -1; the
            layout of ``params.parents``. Must be concrete (it fixes shapes).
        reward: None to learn the reward (Beta(1, 1) on the reward rescaled by
            ``env.reward_range``); ``"normal_gamma"`` to learn it with the
            Normal-Gamma prior of Osband et al. (2013): mean 1, variance 1, one
            pseudo-observation; or a known ``[S, A]`` table. A learned reward
            (one per state-action pair) can dominate the regret for thousands
            of episodes and hide what the dynamics prior buys: to compare
            transition priors, pass the known reward.
        prior_alpha: Dirichlet concentration of every conditional (1 in the
            paper's experiments; :func:`~bayesrl.psrl.psrl` defaults to
            ``1 / |S|``, so set its ``prior_alpha`` when comparing).
        termination: known ``[S, A]`` termination; None takes the env's rules.
        planner: ``"dense"`` builds ``P[S, A, S]`` and runs backward induction;
            ``"factored"`` contracts ``E[V(s')]`` factor by factor from the
            sampled CPTs and never builds it; ``"auto"`` takes the dense path
            unless ``P`` would exceed 256 MiB (or there is one flat factor), see
            :func:`bayesrl.psrl.parent_sets.resolve_planner`.
    """
    validation.check_env(env, factored=True)
    num_outputs, num_inputs = len(env.state_sizes), len(env.input_sizes)
    if not validation.is_concrete(parents):
        raise ValueError("parents must be concrete: it fixes the table shapes")
    validation.check_parent_lists(
        "parents", parents, num_outputs, num_inputs, num_inputs
    )
    check_positive("prior_alpha", prior_alpha)
    reward = validation.resolve_reward(env, reward)
    termination = validation.resolve_termination(env, termination)
    parents = np.asarray(parents)
    candidates = [[tuple(sorted(row[row >= 0].tolist()))] for row in parents]
    tables = build_tables(
        env.input_sizes,
        env.state_sizes,
        candidates,
        env.input_factors(),
        env.state_factors,
    )
    validation.check_memory(
        num_outputs, 1, tables.num_configurations, tables.num_values
    )
    return make_posterior_sampling_agent(
        tables,
        horizon=env.horizon,
        alpha=prior_alpha,
        known=np.asarray(parents_to_mask(parents, num_inputs)),
        max_parents=num_inputs,
        hyperprior="uniform",
        size_penalty=1.0,
        reward=reward,
        reward_range=env.reward_range,
        termination=termination,
        planner=planner,
    )
