"""N-chain (the LMCDQN papers' version) and the linear contextual bandit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.envs import LinearContextualBandit, NChain


def _episode(env, policy):
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    first_obs, rewards, ends = obs, [], []
    for t in range(env.horizon):
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(t), state, policy(obs), params
        )
        rewards.append(float(reward))
        ends.append(bool(terminated | truncated))
    return first_obs, np.array(rewards), np.array(ends)


@pytest.mark.parametrize("n", [3, 25, 100])
def test_nchain_scripted_returns(n):
    env = NChain(n)
    first_obs, rewards, ends = _episode(env, lambda obs: 1)
    np.testing.assert_array_equal(first_obs[:3], [1.0, 1.0, 0.0 if n > 2 else 1.0])
    assert rewards.sum() == pytest.approx(10.0)
    assert len(rewards) == n + 8 and ends[-1] and not ends[:-1].any()
    _, rewards, _ = _episode(env, lambda obs: 0)
    assert rewards.sum() == pytest.approx((n + 7) * 0.001, rel=1e-5)


def test_nchain_terminal_or_truncated_and_state_index():
    env = NChain(5, time_limit_as_truncation=True)
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    assert int(NChain.state_index(obs)) == 1
    for t in range(env.horizon):
        _, state, _, terminated, truncated, _ = env.step(
            jax.random.key(t), state, 1, params
        )
    assert bool(truncated) and not bool(terminated)
    with pytest.raises(ValueError, match="n"):
        NChain(2)


def test_linear_contextual_regret_is_expected_regret():
    env = LinearContextualBandit(4, 3)
    params = env.sample_params(jax.random.key(1))
    obs, state = env.reset(jax.random.key(2), params)
    means = params.theta @ obs.context
    for arm in range(4):
        _, _, reward, _, _, info = env.step(jax.random.key(3), state, arm, params)
        assert float(info["regret"]) == pytest.approx(
            float(means.max() - means[arm]), abs=1e-6
        )
    assert obs.context.shape == (3,) and bool(jnp.all(obs.available))
