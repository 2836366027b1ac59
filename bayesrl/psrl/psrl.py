"""Tabular posterior sampling for reinforcement learning (PSRL).

Osband, Russo & Van Roy, "(More) Efficient Reinforcement Learning via
Posterior Sampling", NeurIPS 2013, https://arxiv.org/abs/1306.0940.

Each episode ``k``: sample ``P_k(. | s, a) ~ Dirichlet(alpha + n(s, a, .))``
independently for every pair (and ``R_k`` from its posterior unless the reward
is known), compute the optimal ``H``-step policy of ``(P_k, R_k)`` by backward
induction, and follow it for one episode. The Bayesian regret is
``O~(H S sqrt(A T))``.

This is the shared kernel of :mod:`bayesrl.psrl.parent_sets` with one flat
input factor ``x = s * A + a`` and one flat output factor ``s'`` (one candidate
parent set), so it coincides bit for bit with :func:`bayesrl.psrl.fpsrl` on a
factored MDP with one state factor and one action factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesrl._checks import check_positive
from bayesrl.envs.tabular import TabularMDP
from bayesrl.psrl import validation
from bayesrl.psrl.parent_sets import (
    EpisodicAgent,
    build_tables,
    make_posterior_sampling_agent,
)


def psrl(
    env: TabularMDP,
    prior_alpha: Any = None,
    reward: Any = None,
    *,
    termination: Any = None,
    planner: str = "auto",
    criterion: str = "finite_horizon",
    planning_tolerance: float = 0.01,
    max_planning_iterations: int = 1000,
) -> EpisodicAgent:
    """Tabular PSRL with a flat Dirichlet prior over next states.

    Args:
        env: a :class:`~bayesrl.envs.TabularMDP` (any subclass: RiverSwim,
            DeepSea, FactoredMDP, Taxi); its sizes and horizon are used.
        prior_alpha: Dirichlet concentration per next state; None gives
            ``1 / |S|`` (Osband et al. 2013). The regret of PSRL depends a lot on
            it: always report it. :func:`~bayesrl.psrl.fpsrl` and
            :func:`~bayesrl.psrl.cpsrl` default to 1, so pass ``1.0`` here for a
            comparison at equal prior concentration.
        reward: None to learn the reward (Beta(1, 1) on the reward rescaled by
            ``env.reward_range``); ``"normal_gamma"`` to learn it with the
            Normal-Gamma prior of Osband et al. (2013): mean 1, variance 1, one
            pseudo-observation; or a known ``[S, A]`` table. With a learned
            reward on a large MDP, learning one reward per state-action pair
            can dominate the regret for thousands of episodes and hide any
            difference in how the dynamics are learned: to compare transition
            priors, pass the known reward.
        termination: known ``[S, A]`` termination; None takes the environment's
            rules (:meth:`~bayesrl.envs.TabularMDP.default_termination`).
        planner: ``"dense"`` builds ``P[S, A, S]`` and runs backward induction;
            ``"factored"`` contracts ``E[V(s')]`` factor by factor from the
            sampled CPTs and never builds it; ``"auto"`` takes the dense path
            unless ``P`` would exceed 256 MiB (or there is one flat factor), see
            :func:`bayesrl.psrl.parent_sets.resolve_planner`.
        criterion: ``"finite_horizon"`` (episodes of ``env.horizon`` steps with
            reset, :func:`bayesrl.psrl.run_episodes`) or ``"average_reward"``
            (no reset: each sampled model is solved for its gain-optimal
            stationary policy by relative value iteration, and episodes follow
            a schedule such as doubling, :func:`bayesrl.psrl.run_continuing`;
            Osband et al. 2013, §6).
        planning_tolerance: span stopping rule of relative value iteration
            (``sp(T v - v) < tolerance``; 0.01 as in the MATLAB code of Osband
            et al. 2013). Average reward only.
        max_planning_iterations: its cap on backups (1000, ibid.).

    Returns:
        An :class:`~bayesrl.base.Agent` (an :class:`EpisodicAgent`) whose state
        is a :class:`~bayesrl.psrl.PSRLState`.
    """
    validation.check_env(env, factored=False)
    num_states, num_actions = env.num_states, env.num_actions
    if prior_alpha is None:
        prior_alpha = 1.0 / num_states
    check_positive("prior_alpha", prior_alpha)
    reward = validation.resolve_reward(env, reward)
    termination = validation.resolve_termination(env, termination)
    if criterion == "average_reward" and np.asarray(termination).any():
        raise ValueError("criterion='average_reward' needs an MDP without termination")
    check_positive("planning_tolerance", planning_tolerance)
    if not isinstance(max_planning_iterations, int) or max_planning_iterations < 1:
        raise ValueError(
            "max_planning_iterations must be an int >= 1, "
            f"got {max_planning_iterations!r}"
        )
    validation.check_memory(1, 1, num_states * num_actions, num_states)
    pairs = np.arange(num_states * num_actions, dtype=np.int32)
    tables = build_tables(
        input_sizes=(num_states * num_actions,),
        output_sizes=(num_states,),
        candidates=[[(0,)]],
        inputs=pairs.reshape(num_states, num_actions, 1),
        outputs=np.arange(num_states, dtype=np.int32)[:, None],
    )
    return make_posterior_sampling_agent(
        tables,
        horizon=env.horizon,
        alpha=prior_alpha,
        known=np.ones((1, 1), bool),
        max_parents=1,
        hyperprior="uniform",
        size_penalty=1.0,
        reward=reward,
        reward_range=env.reward_range,
        termination=termination,
        planner=planner,
        criterion=criterion,
        planning_tolerance=planning_tolerance,
        max_planning_iterations=max_planning_iterations,
    )
