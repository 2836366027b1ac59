"""UCBVI with Hoeffding bonuses (Azar, Osband & Munos, ICML 2017), in JAX.

The optimistic baseline of ``python -m benchmarks.psrl``'s tabular anchors. Each
episode it plans on the empirical model with a bonus

    Q_h(s, a) = min(H r_max, r_hat(s, a) + b(s, a) + P_hat(. | s, a) . V_{h+1}),
    b(s, a) = (r_max - r_min) H sqrt(2 L / max(1, n(s, a))),
    L = ln(5 S A H K / delta),

(UCBVI-CH with the constant 7 of the analysis replaced by the usual
sqrt(2) Hoeffding constant; unvisited pairs get ``P_hat`` uniform and
``r_hat = r_max``). It is built as an
:class:`~bayesrl.psrl.parent_sets.EpisodicAgent` so it runs in
:func:`bayesrl.psrl.run_episodes` beside PSRL with the same exact regret.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.base import Transition
from bayesrl.psrl.parent_sets import EpisodicAgent, state_index


class UCBVIState(NamedTuple):
    counts: jax.Array  # [S, A, S]
    reward_sums: jax.Array  # [S, A]
    transitions: jax.Array  # [S, A, S] empirical model
    sampled_parents: jax.Array  # [1, 1] (no graph; kept for run_episodes)
    policy: jax.Array  # [H, S]
    step: jax.Array
    episode: jax.Array


def ucbvi(env, num_episodes: int, delta: float = 0.05) -> EpisodicAgent:
    """UCBVI-CH for ``env`` (a TabularMDP) over ``num_episodes`` episodes."""
    num_states, num_actions, horizon = env.num_states, env.num_actions, env.horizon
    low, high = env.reward_range
    log_term = math.log(5 * num_states * num_actions * horizon * num_episodes / delta)
    termination = jnp.asarray(env.default_termination())

    def plan(state: UCBVIState) -> UCBVIState:
        visits = state.counts.sum(-1)
        seen = visits > 0
        p_hat = jnp.where(
            seen[..., None],
            state.counts / jnp.maximum(visits, 1)[..., None],
            1.0 / num_states,
        )
        r_hat = jnp.where(seen, state.reward_sums / jnp.maximum(visits, 1), high)
        bonus = (high - low) * horizon * jnp.sqrt(2 * log_term / jnp.maximum(visits, 1))

        def backup(next_values, _):
            q = (
                r_hat
                + bonus
                + (1 - termination) * jnp.einsum("sat,t->sa", p_hat, next_values)
            )
            q = jnp.minimum(q, horizon * high)
            return q.max(-1), q.argmax(-1).astype(jnp.int32)

        _, policy = jax.lax.scan(
            backup, jnp.zeros(num_states), None, length=horizon, reverse=True
        )
        return state._replace(transitions=p_hat, policy=policy, step=jnp.int32(0))

    def prior_state():
        return UCBVIState(
            counts=jnp.zeros((num_states, num_actions, num_states)),
            reward_sums=jnp.zeros((num_states, num_actions)),
            transitions=jnp.zeros((num_states, num_actions, num_states)),
            sampled_parents=jnp.zeros((1, 1), jnp.int32),
            policy=jnp.zeros((horizon, num_states), jnp.int32),
            step=jnp.int32(0),
            episode=jnp.int32(0),
        )

    def init(key):
        del key
        return plan(prior_state())

    def act(key, state, obs):
        del key
        step = jnp.clip(state.step, 0, horizon - 1)
        return state.policy[step, state_index(obs, num_states)], {}

    def observe(state, transition: Transition, count_next_state=True):
        used = transition.action >= 0
        s = state_index(transition.obs, num_states)
        s_next = state_index(transition.next_obs, num_states)
        a = jnp.clip(transition.action, 0, num_actions - 1)
        return state._replace(
            counts=state.counts.at[s, a, s_next].add(used & count_next_state),
            reward_sums=state.reward_sums.at[s, a].add(
                jnp.where(used, transition.reward, 0.0)
            ),
            step=state.step + 1,
        )

    def begin_episode(key, state):
        del key
        state = plan(state)
        return state._replace(episode=state.episode + 1)

    def update(key, state, transition):
        done = jnp.logical_or(transition.terminated, transition.truncated)
        # gymnax auto-resets: the final next_obs is the reset observation.
        state = observe(state, transition, ~done)
        return jax.lax.cond(done, begin_episode, lambda k, s: s, key, state), {}

    return EpisodicAgent(
        init,
        act,
        update,
        observe=observe,
        begin_episode=begin_episode,
        transition_model=lambda state: state.transitions,
        prior_state=prior_state,
        plan=lambda key, state: plan(state),
    )
