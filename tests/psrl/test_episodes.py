"""run_episodes against the loop it stands for: ``init``, then K rounds of
(score the plan, play the episode, ``begin_episode``)."""

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl.base import Transition
from bayesrl.envs import RiverSwim
from bayesrl.psrl import psrl, run_episodes
from bayesrl.psrl.planning import optimal_value, policy_value


def test_run_episodes_equals_init_then_episode_and_begin_episode_rounds():
    env = RiverSwim(horizon=4)
    params = env.default_params
    model = env.model(params)
    agent = psrl(env, reward="normal_gamma")
    key, num_episodes = jax.random.key(11), 3
    final_state, metrics = run_episodes(key, agent, env, params, num_episodes)

    init, observe = jax.jit(agent.init), jax.jit(agent.observe)
    begin_episode, act = jax.jit(agent.begin_episode), jax.jit(agent.act)
    step_env = jax.jit(env.step_env)
    key_init, key_episodes = fast_random.split(key)
    state = init(key_init)
    best = optimal_value(model, env.horizon)
    regrets = []
    for key_episode in fast_random.split(key_episodes, num_episodes):
        key_reset, key_steps, key_begin = fast_random.split(key_episode, 3)
        regrets.append(best - policy_value(model, state.policy))
        obs, env_state = env.reset_env(key_reset, params)
        for key_step in fast_random.split(key_steps, env.horizon):
            key_act, key_env = fast_random.split(key_step)
            action, _ = act(key_act, state, obs)
            next_obs, env_state, reward, terminated, _ = step_env(
                key_env, env_state, action, params
            )
            transition = Transition(
                obs, action, reward, next_obs, terminated, jnp.zeros((), bool)
            )
            state = observe(state, transition)
            obs = next_obs
        state = begin_episode(key_begin, state)

    np.testing.assert_allclose(metrics.regret, np.array(regrets), rtol=1e-6)
    for expected, actual in zip(
        jax.tree.leaves(state), jax.tree.leaves(final_state), strict=True
    ):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6)
    assert int(final_state.episode) == num_episodes
