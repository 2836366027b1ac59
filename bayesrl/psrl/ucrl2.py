"""UCRL2: optimism over L1 confidence sets (Jaksch, Ortner & Auer, JMLR 2010).

Jaksch, Ortner & Auer, "Near-optimal Regret Bounds for Reinforcement
Learning", JMLR 11 (2010), https://jmlr.org/papers/v11/jaksch10a.html; the
optimistic baseline of Osband, Russo & Van Roy (2013, §6).

At the start of episode ``k`` (time ``t_k``, counts ``N_k(s, a)``, empirical
means ``r_hat`` and ``p_hat``) the plausible models are

    |r(s, a) - r_hat(s, a)| <= sqrt(7 ln(2 S A t_k / delta) / (2 max(1, N_k))),
    ||p(. | s, a) - p_hat(. | s, a)||_1 <= sqrt(14 S ln(2 A t_k / delta) / max(1, N_k)),

(both radii scaled by the width of ``env.reward_range`` for the reward; an
unvisited pair has ``p_hat = 0``, so any distribution is plausible). The agent
plays the optimal policy of the most optimistic plausible model, found by
**extended value iteration**,

    v_{i+1}(s) = max_a [ r_hat(s, a) + conf_r(s, a)
                         + max_{p in P(s, a)} sum_s' p(s') v_i(s') ],

where the inner maximum (:func:`optimistic_transition`) puts
``min(1, p_hat(s_1) + conf_p / 2)`` on the best state ``s_1`` of ``v_i`` and
removes the excess mass from the worst states first (Jaksch et al., Fig. 2).

* ``criterion="average_reward"`` (the paper's algorithm): extended relative
  value iteration stopped when ``sp(v_{i+1} - v_i) < 1 / sqrt(t_k)``; episodes
  end when some pair's count within the episode reaches ``max(1, N_k(s, a))``
  (the doubling rule, :func:`bayesrl.psrl.run_continuing`).
* ``criterion="finite_horizon"`` (for ``tau``-episodic MDPs with reset, the
  "UCRL2 optimised for finite episodes" of Osband et al. 2013): ``H`` steps of
  extended backward induction with a non-stationary policy, the confidence
  sets recomputed before every episode (:func:`bayesrl.psrl.run_episodes`).

Regret: ``O~(D S sqrt(A T))`` with probability ``1 - delta``, ``D`` the
diameter.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl._checks import check_positive
from bayesrl.base import Transition
from bayesrl.envs.tabular import TabularMDP
from bayesrl.psrl.average_reward import AverageRewardPlan, value_iteration_until_span
from bayesrl.psrl.parent_sets import EpisodicAgent, state_index
from bayesrl.psrl.planning import Plan
from bayesrl.types import Array, PRNGKey

CRITERIA = ("average_reward", "finite_horizon")


class UCRL2State(NamedTuple):
    """State of :func:`ucrl2`.

    Attributes:
        counts: ``float32[S, A, S]`` transition counts.
        reward_sums: ``float32[S, A]`` summed rewards.
        total_steps: ``int32`` transitions observed so far (``t_k - 1`` at the
            start of episode ``k``).
        policy: ``int32[S]`` (average reward) or ``int32[H, S]`` (finite
            horizon), the optimistic policy of the episode.
        planning_iterations: ``int32`` backups of the last extended value
            iteration (``H`` in the finite-horizon mode).
        planning_converged: whether it met its stopping rule.
        sampled_parents: ``int32[1, 1]``, -1 (no graph; the field
            :func:`bayesrl.psrl.run_episodes` records).
        step: ``int32`` step within the episode.
        episode: ``int32`` number of completed episodes.
    """

    counts: Array
    reward_sums: Array
    total_steps: Array
    policy: Array
    planning_iterations: Array
    planning_converged: Array
    sampled_parents: Array
    step: Array
    episode: Array


def confidence_radii(
    visits: Array, time: Array, num_states: int, num_actions: int, delta: Any
) -> tuple[Array, Array]:
    """``(conf_r, conf_p)`` of Jaksch et al. (2010, eq. (3)) for unit-range
    rewards: ``float32[S, A]`` each (``visits`` counted as at least 1)."""
    visits = jnp.maximum(visits, 1.0)
    time = jnp.asarray(time, jnp.float32)
    reward_radius = jnp.sqrt(
        7.0 * jnp.log(2.0 * num_states * num_actions * time / delta) / (2.0 * visits)
    )
    transition_radius = jnp.sqrt(
        14.0 * num_states * jnp.log(2.0 * num_actions * time / delta) / visits
    )
    return reward_radius, transition_radius


def optimistic_transition(p_hat: Array, radius: Array, values: Array) -> Array:
    """``argmax_{p : ||p - p_hat||_1 <= radius} p @ values`` for every row.

    Args:
        p_hat: ``[..., S]`` empirical distributions (rows of zeros allowed for
            unvisited pairs).
        radius: ``[...]`` L1 radii.
        values: ``[S]``.

    Returns:
        ``[..., S]``: ``p(s_1) = min(1, p_hat(s_1) + radius / 2)`` on the best
        state ``s_1`` (lowest index among ties), then mass is removed from the
        other states in increasing order of value until the row sums to 1.
    """
    order = jnp.argsort(-values, stable=True)  # best first
    sorted_p = p_hat[..., order]
    top = jnp.minimum(1.0, sorted_p[..., 0] + 0.5 * radius)
    sorted_p = sorted_p.at[..., 0].set(top)
    excess = jnp.maximum(jnp.sum(sorted_p, -1) - 1.0, 0.0)
    # Worst first over the states other than s_1: remove what is left of the
    # excess after the mass of the even worse states.
    others_worst_first = sorted_p[..., :0:-1]
    mass_before = jnp.cumsum(others_worst_first, -1) - others_worst_first
    removed = jnp.clip(excess[..., None] - mass_before, 0.0, others_worst_first)
    others = (others_worst_first - removed)[..., ::-1]
    sorted_p = jnp.concatenate([top[..., None], others], -1)
    return jnp.zeros_like(p_hat).at[..., order].set(sorted_p)


def extended_bellman(
    p_hat: Array, transition_radius: Array, optimistic_rewards: Array, values: Array
) -> tuple[Array, Array, Array]:
    """One extended backup: ``(Q [S, A], max_a Q [S], argmax_a Q [S])``."""
    optimistic = optimistic_transition(p_hat, transition_radius, values)
    q_values = optimistic_rewards + optimistic @ values
    return (
        q_values,
        jnp.max(q_values, -1),
        jnp.argmax(q_values, -1).astype(jnp.int32),
    )


def extended_value_iteration(
    p_hat: Array,
    transition_radius: Array,
    optimistic_rewards: Array,
    tolerance: Any,
    max_iterations: int,
) -> AverageRewardPlan:
    """Extended relative value iteration, stopped when ``sp(v_{i+1} - v_i) <
    tolerance`` (Jaksch et al. use ``1 / sqrt(t_k)``) or after
    ``max_iterations`` backups. ``gain_bracket`` holds the optimistic gain."""

    def bellman(values):
        _, next_values, policy = extended_bellman(
            p_hat, transition_radius, optimistic_rewards, values
        )
        return next_values, policy

    return value_iteration_until_span(
        bellman, optimistic_rewards.shape[0], tolerance, max_iterations
    )


def finite_horizon_extended_value_iteration(
    p_hat: Array,
    transition_radius: Array,
    optimistic_rewards: Array,
    termination: Array,
    horizon: int,
) -> Plan:
    """``H`` steps of extended backward induction (non-stationary policy):
    ``Q_h = r~ + (1 - T) max_{p in P} p @ V_{h+1}``, ``V_H = 0``."""
    num_states = optimistic_rewards.shape[0]

    def backup(next_values, _):
        optimistic = optimistic_transition(p_hat, transition_radius, next_values)
        q_values = optimistic_rewards + (1.0 - termination) * (optimistic @ next_values)
        values = jnp.max(q_values, -1)
        policy = jnp.argmax(q_values, -1).astype(jnp.int32)
        return values, (values, policy, q_values)

    terminal = jnp.zeros((num_states,), jnp.float32)
    _, (values, policy, q_values) = jax.lax.scan(
        backup, terminal, None, length=horizon, reverse=True
    )
    values = jnp.concatenate([values, terminal[None]], 0)
    return Plan(policy=policy, values=values, q_values=q_values)


def ucrl2(
    env: TabularMDP,
    delta: float = 0.05,
    *,
    criterion: str = "average_reward",
    max_iterations: int = 1000,
    termination: Any = None,
) -> EpisodicAgent:
    """UCRL2 for a tabular MDP (see the module docstring).

    Args:
        env: a :class:`~bayesrl.envs.TabularMDP`; its sizes, ``reward_range``
            (the reward radius is scaled by its width) and, for
            ``"finite_horizon"``, its horizon are used.
        delta: confidence level (0.05 in Osband et al. 2013).
        criterion: ``"average_reward"`` (continuing; run it with
            :func:`bayesrl.psrl.run_continuing`) or ``"finite_horizon"``
            (episodic with reset; :func:`bayesrl.psrl.run_episodes`).
        max_iterations: cap on the backups of extended value iteration
            (average reward only; 1000 as in the MATLAB code of Osband et al.).
        termination: known ``[S, A]`` termination (finite horizon only); None
            takes the environment's rules.

    Returns:
        An :class:`~bayesrl.psrl.EpisodicAgent` whose state is a
        :class:`UCRL2State`; ``transition_model(state)`` is the empirical
        model ``p_hat`` (uniform on unvisited pairs).
    """
    if not isinstance(env, TabularMDP):
        raise ValueError(f"env must be a TabularMDP, got {type(env).__name__}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not (isinstance(delta, (int, float)) and 0.0 < delta < 1.0):
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if not isinstance(max_iterations, int) or max_iterations < 1:
        raise ValueError(f"max_iterations must be an int >= 1, got {max_iterations!r}")
    num_states, num_actions, horizon = env.num_states, env.num_actions, env.horizon
    low, high = env.reward_range
    check_positive("reward range width", high - low)
    if termination is None:
        termination = env.default_termination()
    termination = np.asarray(termination, np.float32)
    if termination.shape != (num_states, num_actions):
        raise ValueError(
            f"termination must have shape {(num_states, num_actions)}, "
            f"got {termination.shape}"
        )
    if criterion == "average_reward" and termination.any():
        raise ValueError(
            "the average-reward criterion needs an MDP without termination"
        )
    termination = jnp.asarray(termination)
    policy_shape = (
        (num_states,) if criterion == "average_reward" else (horizon, num_states)
    )

    def empirical_model(state: UCRL2State) -> tuple[Array, Array, Array]:
        visits = state.counts.sum(-1)
        p_hat = state.counts / jnp.maximum(visits, 1.0)[..., None]
        r_hat = state.reward_sums / jnp.maximum(visits, 1.0)
        return visits, p_hat, r_hat

    def begin_episode(key: PRNGKey, state: UCRL2State) -> UCRL2State:
        del key
        visits, p_hat, r_hat = empirical_model(state)
        time = state.total_steps + 1
        reward_radius, transition_radius = confidence_radii(
            visits, time, num_states, num_actions, delta
        )
        optimistic_rewards = r_hat + (high - low) * reward_radius
        if criterion == "average_reward":
            plan = extended_value_iteration(
                p_hat,
                transition_radius,
                optimistic_rewards,
                1.0 / jnp.sqrt(time.astype(jnp.float32)),
                max_iterations,
            )
            policy, iterations, converged = plan.policy, plan.iterations, plan.converged
        else:
            plan = finite_horizon_extended_value_iteration(
                p_hat, transition_radius, optimistic_rewards, termination, horizon
            )
            policy = plan.policy
            iterations, converged = jnp.int32(horizon), jnp.ones((), bool)
        return state._replace(
            policy=policy,
            planning_iterations=iterations,
            planning_converged=converged,
            step=jnp.zeros((), jnp.int32),
        )

    def prior_state() -> UCRL2State:
        return UCRL2State(
            counts=jnp.zeros((num_states, num_actions, num_states), jnp.float32),
            reward_sums=jnp.zeros((num_states, num_actions), jnp.float32),
            total_steps=jnp.zeros((), jnp.int32),
            policy=jnp.zeros(policy_shape, jnp.int32),
            planning_iterations=jnp.zeros((), jnp.int32),
            planning_converged=jnp.zeros((), bool),
            sampled_parents=jnp.full((1, 1), -1, jnp.int32),
            step=jnp.zeros((), jnp.int32),
            episode=jnp.zeros((), jnp.int32),
        )

    def init(key: PRNGKey) -> UCRL2State:
        return begin_episode(key, prior_state())

    def act(key: PRNGKey, state: UCRL2State, obs: Array) -> tuple[Array, dict]:
        del key
        s = state_index(obs, num_states)
        if criterion == "average_reward":
            return state.policy[s], {}
        return state.policy[jnp.clip(state.step, 0, horizon - 1), s], {}

    def observe_pair(
        state: UCRL2State, transition: Transition, count_next_state: Array
    ) -> UCRL2State:
        action = jnp.asarray(transition.action, jnp.int32)
        reward = jnp.asarray(transition.reward, jnp.float32)
        used = (action >= 0) & jnp.isfinite(reward)
        s = state_index(transition.obs, num_states)
        s_next = state_index(transition.next_obs, num_states)
        a = jnp.clip(action, 0, num_actions - 1)
        counted = (used & count_next_state).astype(jnp.float32)
        return state._replace(
            counts=state.counts.at[s, a, s_next].add(counted),
            reward_sums=state.reward_sums.at[s, a].add(
                jnp.where(used & count_next_state, reward, 0.0)
            ),
            total_steps=state.total_steps + used.astype(jnp.int32),
            step=state.step + 1,
        )

    def observe(state: UCRL2State, transition: Transition) -> UCRL2State:
        return observe_pair(state, transition, jnp.ones((), bool))

    def begin_next_episode(key: PRNGKey, state: UCRL2State) -> UCRL2State:
        state = begin_episode(key, state)
        return state._replace(episode=state.episode + 1)

    def update(
        key: PRNGKey, state: UCRL2State, transition: Transition
    ) -> tuple[UCRL2State, dict]:
        done = jnp.logical_or(transition.terminated, transition.truncated)
        # gymnax auto-resets: the final next_obs is the reset observation, so
        # the transition that ends an episode is not counted.
        state = observe_pair(state, transition, ~done)
        state = jax.lax.cond(done, begin_next_episode, lambda k, s: s, key, state)
        return state, {}

    def transition_model(state: UCRL2State) -> Array:
        visits, p_hat, _ = empirical_model(state)
        return jnp.where(visits[..., None] > 0, p_hat, 1.0 / num_states)

    return EpisodicAgent(
        init,
        act,
        update,
        observe=observe,
        begin_episode=begin_next_episode,
        transition_model=transition_model,
        prior_state=prior_state,
        plan=begin_episode,
        criterion=criterion,
    )
