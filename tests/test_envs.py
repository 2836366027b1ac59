"""Bandit environments: gymnax interface, rewards, expected regret."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.environment import Environment

from bayesrl import envs


def test_bernoulli_bandit_rewards_and_regret():
    env = envs.BernoulliBandit(4)
    assert isinstance(env, Environment) and env.num_actions == 4
    params = env.default_params.replace(means=jnp.array([0.1, 0.5, 0.8, 0.3]))
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.available.shape == (4,)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))
    keys = jax.random.split(jax.random.key(1), 20_000)
    _, _, reward, terminated, truncated, info = step(keys, state, 1, params)
    assert not bool(terminated.any()) and not bool(truncated.any())
    assert abs(float(reward.mean()) - 0.5) < 4 * np.sqrt(0.25 / 20_000)
    np.testing.assert_allclose(info["regret"], 0.3, rtol=1e-6)


def test_batched_actions_and_gaussian_noise():
    env = envs.GaussianBandit(3)
    params = env.default_params.replace(
        means=jnp.array([0.0, 1.0, 2.0]), stds=jnp.array([0.1, 1.0, 3.0])
    )
    _, state = env.reset(jax.random.key(0), params)
    keys = jax.random.split(jax.random.key(2), 20_000)
    _, _, reward, _, _, info = jax.vmap(env.step, in_axes=(0, None, None, None))(
        keys, state, jnp.array([2, 0, 2]), params
    )
    assert reward.shape == (20_000, 3)
    np.testing.assert_allclose(info["regret"][0], [0.0, 2.0, 0.0])
    assert abs(float(reward[:, 0].std()) - 3.0) < 0.1
    assert abs(float(reward[:, 1].std()) - 0.1) < 0.01


def test_piecewise_bandit_switches_means():
    env = envs.PiecewiseStationaryBernoulliBandit(3, num_pieces=2)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    step = jax.jit(env.step)
    regrets = []
    for t in range(1000):
        _, state, _, _, _, info = step(jax.random.key(t), state, 2, params)
        regrets.append(float(info["regret"]))
    assert regrets[0] == 0.0 and regrets[499] == 0.0
    assert regrets[500] == pytest.approx(0.5)


def test_instance_generators():
    p = jax.jit(envs.sutton_barto_params)(jax.random.key(0))
    assert p.means.shape == (10,) and bool(jnp.all(p.stds == 1.0))
    keys = jax.random.split(jax.random.key(0), 3)
    q = jax.jit(jax.vmap(envs.heteroscedastic_params))(keys)
    assert q.stds.shape == (3, 10) and bool(jnp.all(q.stds > 0))


def test_bad_arm_count_is_refused():
    with pytest.raises(ValueError, match="num_arms"):
        envs.BernoulliBandit(1)
