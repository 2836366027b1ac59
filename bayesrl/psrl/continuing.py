"""The continuing (no reset) loop with episode schedules: :func:`run_continuing`.

Osband, Russo & Van Roy (2013, §6, "learning in MDPs without episodic
resets") run PSRL without reset on the episode schedule of UCRL2 (Jaksch,
Ortner & Auer 2010): episode ``k`` starts at time ``t_k`` with counts
``N_k(s, a)``, and ends after the step at which some pair's count within the
episode reaches ``max(1, N_k(s, a))``, i.e. when a visit count has doubled
(``schedule="doubling"``). ``schedule=tau`` (an int) ends episodes every ``tau``
steps instead, still without reset. At each episode start the agent samples
(PSRL) or builds (UCRL2) a model and plans for the average-reward criterion.

Regret, as in the paper's MATLAB code (``PlotGraphs.m``):

    Regret(T) = T g* - sum_{t < T} R(s_t, a_t),

with ``g*`` the optimal gain from the start distribution
(:func:`bayesrl.psrl.average_reward.optimal_gain`) and ``R`` the mean reward
(our environments pay the mean reward, as the paper's did).

Under ``vmap`` the loop is two nested ``while_loop``\\ s, episodes outside and
steps inside, so a model is sampled and planned once per episode for the whole
batch (a ``lax.cond`` in a step scan would plan at every step once batched);
seeds whose episode has ended wait, masked, for the others.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.base import Transition
from bayesrl.envs.tabular import TabularMDP
from bayesrl.psrl.average_reward import optimal_gain
from bayesrl.psrl.parent_sets import EpisodicAgent, state_index
from bayesrl.types import Array, PRNGKey


class ContinuingMetrics(NamedTuple):
    """Per-step metrics of :func:`run_continuing` (``[num_steps]`` arrays).

    Attributes:
        regret: ``g* - R(s_t, a_t)``; its sum is the total regret.
        reward: ``R(s_t, a_t)``, the mean reward of the pair played.
        episode_start: True at the first step of every episode.
        state: ``int32``, the state ``s_t``.
        action: ``int32``, the action ``a_t``.
        optimal_gain: ``g*`` (a scalar).
    """

    regret: Array
    reward: Array
    episode_start: Array
    state: Array
    action: Array
    optimal_gain: Array


def _check_schedule(schedule: Any) -> None:
    if schedule == "doubling":
        return
    if isinstance(schedule, int) and not isinstance(schedule, bool) and schedule > 0:
        return
    raise ValueError(f"schedule must be 'doubling' or a positive int, got {schedule!r}")


@functools.partial(jax.jit, static_argnames=("agent", "env", "num_steps", "schedule"))
def run_continuing(
    key: PRNGKey,
    agent: EpisodicAgent,
    env: TabularMDP,
    params: Any,
    num_steps: int,
    *,
    schedule: str | int = "doubling",
) -> tuple[Any, ContinuingMetrics]:
    """Run an average-reward agent for ``num_steps`` steps without reset.

    Args:
        key: a typed PRNG key.
        agent: an :class:`~bayesrl.psrl.EpisodicAgent` built with the
            average-reward criterion (``psrl(env, criterion="average_reward")``
            or :func:`bayesrl.psrl.ucrl2`).
        env: a :class:`~bayesrl.envs.TabularMDP` without termination; its
            horizon is ignored (the state is never reset).
        params: the instance; the start state is drawn once from its start
            distribution.
        num_steps: ``T`` (static).
        schedule: ``"doubling"`` (see the module docstring) or an int ``tau``,
            fixed episodes of ``tau`` steps (static).

    Returns:
        ``(final_agent_state, metrics)``, metrics as in
        :class:`ContinuingMetrics`. Vmap over keys (and ``params``).
    """
    if not isinstance(agent, EpisodicAgent) or agent.criterion != "average_reward":
        raise ValueError(
            "agent must be an EpisodicAgent with the average-reward criterion "
            "(psrl(env, criterion='average_reward') or ucrl2(env)), got "
            f"{getattr(agent, 'criterion', type(agent).__name__)!r}"
        )
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    _check_schedule(schedule)
    num_states, num_actions = env.num_states, env.num_actions
    model = env.model(params)
    gain = optimal_gain(model)
    key_init, key_reset, key_steps, key_episodes = fast_random.split(key, 4)
    obs, env_state = env.reset_env(key_reset, params)
    empty = ContinuingMetrics(
        regret=jnp.zeros((num_steps,), jnp.float32),
        reward=jnp.zeros((num_steps,), jnp.float32),
        episode_start=jnp.zeros((num_steps,), bool),
        state=jnp.zeros((num_steps,), jnp.int32),
        action=jnp.zeros((num_steps,), jnp.int32),
        optimal_gain=gain,
    )

    def play_one_step(carry):
        (state, env_state, obs, time, visits, in_episode, metrics, _) = carry
        key_act, key_env = fast_random.split(jax.random.fold_in(key_steps, time))
        action, _ = agent.act(key_act, state, obs)
        next_obs, next_env_state, reward, _, _ = env.step_env(
            key_env, env_state, action, params
        )
        transition = Transition(
            obs=obs,
            action=action,
            reward=reward,
            next_obs=next_obs,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
        )
        state = agent.observe(state, transition)
        s = state_index(obs, num_states)
        mean_reward = model.rewards[s, action]
        metrics = metrics._replace(
            regret=metrics.regret.at[time].set(gain - mean_reward),
            reward=metrics.reward.at[time].set(mean_reward),
            state=metrics.state.at[time].set(s),
            action=metrics.action.at[time].set(action),
        )
        in_episode = in_episode.at[s, action].add(1)
        if schedule == "doubling":
            ended = in_episode[s, action] >= jnp.maximum(1, visits[s, action])
        else:
            ended = in_episode.sum() >= schedule
        return (
            state,
            next_env_state,
            next_obs,
            time + 1,
            visits,
            in_episode,
            metrics,
            ended,
        )

    def episode_running(carry):
        time, ended = carry[3], carry[-1]
        return (time < num_steps) & ~ended

    def play_one_episode(carry):
        state, env_state, obs, time, visits, metrics, episode = carry
        metrics = metrics._replace(
            episode_start=metrics.episode_start.at[time].set(True)
        )
        in_episode = jnp.zeros((num_states, num_actions), jnp.int32)
        inner = (
            state,
            env_state,
            obs,
            time,
            visits,
            in_episode,
            metrics,
            jnp.zeros((), bool),
        )
        inner = jax.lax.while_loop(episode_running, play_one_step, inner)
        state, env_state, obs, time, visits, in_episode, metrics, _ = inner
        state = agent.begin_episode(jax.random.fold_in(key_episodes, episode), state)
        return state, env_state, obs, time, visits + in_episode, metrics, episode + 1

    carry = (
        agent.init(key_init),
        env_state,
        obs,
        jnp.zeros((), jnp.int32),
        jnp.zeros((num_states, num_actions), jnp.int32),
        empty,
        jnp.zeros((), jnp.int32),
    )
    carry = jax.lax.while_loop(lambda c: c[3] < num_steps, play_one_episode, carry)
    return carry[0], carry[5]
