"""Contextual environments: wheel geometry, dataset conversion, logistic
rewards, and regret equal to the expected regret of the action played."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.envs import (
    ClassificationBandit,
    LinearContextualBandit,
    WheelBandit,
    sklearn_classification_bandit,
)
from bayesrl.envs.classification import standardise
from bayesrl.envs.wheel import wheel_means


def _steps(env, params, num_steps, seed=0):
    """Step an env with random actions; returns contexts, actions, rewards, infos."""

    def one(carry, key):
        obs, state = carry
        key_action, key_step = jax.random.split(key)
        action = jax.random.randint(key_action, (), 0, env.num_actions)
        next_obs, state, reward, _, _, info = env.step(key_step, state, action, params)
        return (next_obs, state), (obs.context, action, reward, info["regret"])

    obs, state = env.reset(jax.random.key(seed), params)
    keys = jax.random.split(jax.random.key(seed + 1), num_steps)
    _, out = jax.jit(lambda c, k: jax.lax.scan(one, c, k))((obs, state), keys)
    return jax.tree.map(np.asarray, out)


def test_wheel_geometry_and_regret():
    env = WheelBandit(0.5)
    params = env.default_params
    # Quadrant arms outside the radius; arm 4 inside.
    cases = {(0.6, 0.6): 0, (0.6, -0.6): 1, (-0.6, 0.6): 2, (-0.6, -0.6): 3}
    for (x1, x2), arm in cases.items():
        means = np.asarray(wheel_means(jnp.array([x1, x2]), params))
        assert means[arm] == 50.0 and np.argmax(means) == arm
        assert np.all(np.delete(means, arm)[:4] <= 1.2)
    inside = np.asarray(wheel_means(jnp.array([0.3, -0.2]), params))
    np.testing.assert_allclose(inside, [1.0, 1.0, 1.0, 1.0, 1.2])
    contexts, actions, rewards, regrets = _steps(env, params, 4000)
    radius = np.linalg.norm(contexts, axis=1)
    assert radius.max() <= 1.0
    # Uniform on the disc: P(|x| < r) = r^2 (4000 draws, 4 standard errors).
    for r in (0.5, 0.9):
        assert abs(np.mean(radius < r) - r**2) < 4 * np.sqrt(r**2 * (1 - r**2) / 4000)
    # Expected rewards by an independent NumPy re-implementation.
    expected = np.tile([1.0, 1.0, 1.0, 1.0, 1.2], (contexts.shape[0], 1))
    quadrant = np.where(
        contexts[:, 0] > 0,
        np.where(contexts[:, 1] > 0, 0, 1),
        np.where(contexts[:, 1] > 0, 2, 3),
    )
    outside = radius >= 0.5
    expected[np.flatnonzero(outside), quadrant[outside]] = 50.0
    rows = np.arange(contexts.shape[0])
    np.testing.assert_allclose(
        regrets, expected.max(1) - expected[rows, actions], atol=1e-4
    )
    # sigma_v = 0.01 around the chosen mean.
    noise = rewards - expected[rows, actions]
    assert abs(noise.std() - 0.01) < 0.001 and np.abs(noise).max() < 0.06


def test_linear_gaussian_and_logistic_regret_is_expected_regret():
    for reward in ("gaussian", "logistic"):
        env = LinearContextualBandit(3, 2, reward=reward)
        params = env.default_params
        contexts, actions, rewards, regrets = _steps(env, params, 2000)
        means = contexts @ np.asarray(params.theta).T
        if reward == "logistic":
            means = 1 / (1 + np.exp(-means))
            assert set(np.unique(rewards)) <= {0.0, 1.0}
            # Bernoulli rewards average to the chosen means (4 standard errors).
            chosen = means[np.arange(2000), actions]
            assert abs(rewards.mean() - chosen.mean()) < 4 * 0.5 / np.sqrt(2000)
        np.testing.assert_allclose(
            regrets, means.max(1) - means[np.arange(2000), actions], atol=1e-5
        )
    assert LinearContextualBandit(3, 2) != LinearContextualBandit(3, 2, "logistic")
    with pytest.raises(ValueError, match="reward"):
        LinearContextualBandit(3, 2, reward="poisson")


def test_classification_bandit_conversion():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 2.0, size=(50, 4))
    features[:, 2] = 7.0  # a constant column is only centred
    labels = rng.integers(0, 3, 50)
    env = ClassificationBandit(3, 4, 50)
    params = env.make_params(features, labels)
    z = np.asarray(params.features)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, [0, 1, 3]].std(0), 1, rtol=1e-4)
    np.testing.assert_array_equal(z[:, 2], 0)
    contexts, actions, rewards, regrets = _steps(env, params, 500)
    rows = [int(np.argmin(np.abs(z - c).sum(1))) for c in contexts]
    correct = actions == labels[rows]
    np.testing.assert_array_equal(rewards, correct)
    np.testing.assert_array_equal(regrets, 1 - correct)
    with pytest.raises(ValueError, match="labels"):
        env.make_params(features, np.full(50, 3))


@pytest.mark.parametrize(
    "name,shape",
    [
        ("digits", (10, 64, 1797)),
        ("wine", (3, 13, 178)),
        ("iris", (3, 4, 150)),
        ("breast_cancer", (2, 30, 569)),
    ],
)
def test_sklearn_datasets_are_bundled(name, shape):
    pytest.importorskip("sklearn")
    env, params = sklearn_classification_bandit(name)
    assert (env.num_arms, env.dim, params.features.shape[0]) == shape
    np.testing.assert_allclose(
        np.asarray(params.features), standardise(np.asarray(params.features)), atol=1e-4
    )
    with pytest.raises(ValueError, match="covtype"):
        sklearn_classification_bandit("covtype")
