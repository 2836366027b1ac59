"""Tabular MDP environments: model consistency, RiverSwim, bsuite DeepSea."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.envs import DeepSea, RiverSwim, TabularMDP, random_tabular_mdp_params


def _rollout(env, params, key, actions_fn):
    """Return (states, rewards, terminated, truncated) of one episode."""
    obs, state = env.reset(key, params)
    states, rewards, terms, truncs = [], [], [], []
    for t in range(env.horizon):
        s = int(state.state)
        states.append(s)
        key, sub = jax.random.split(key)
        obs, state, reward, term, trunc, _ = env.step(
            sub, state, actions_fn(s, t), params
        )
        rewards.append(float(reward))
        terms.append(bool(term))
        truncs.append(bool(trunc))
    return states, rewards, terms, truncs


@pytest.mark.parametrize(
    "env",
    [RiverSwim(), DeepSea(6), DeepSea(5, deterministic=False), TabularMDP(7, 3, 4)],
)
def test_model_is_a_distribution(env):
    model = env.model(env.default_params)
    s, a = env.num_states, env.num_actions
    assert model.transitions.shape == (s, a, s)
    assert model.rewards.shape == model.termination.shape == (s, a)
    np.testing.assert_allclose(model.transitions.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.initial_distribution.sum(), 1.0, atol=1e-6)
    assert bool(jnp.all(model.transitions >= 0))


def test_riverswim_matches_osband_2013():
    params = RiverSwim().default_params
    p = np.asarray(params.transitions)
    np.testing.assert_allclose(p[3, 1, [2, 3, 4]], [0.05, 0.6, 0.35])
    np.testing.assert_allclose(p[0, 1, [0, 1]], [0.4, 0.6])
    np.testing.assert_allclose(p[5, 1, [4, 5]], [0.4, 0.6])
    np.testing.assert_allclose(p[4, 0, 3], 1.0)
    np.testing.assert_allclose(p[0, 0, 0], 1.0)
    r = np.asarray(params.rewards)
    assert r[0, 0] == pytest.approx(0.005) and r[5, 1] == 1.0
    assert r.sum() == pytest.approx(1.005)
    assert int(RiverSwim().reset(jax.random.key(3), params)[0]) == 0


def test_step_frequencies_match_the_model(key):
    """Pearson chi-square of 4,000 next states from RiverSwim (3, right)."""
    env = RiverSwim()
    params = env.default_params
    state = env.reset(key, params)[1].replace(state=jnp.int32(3))
    keys = jax.random.split(key, 4000)
    step = jax.vmap(lambda k: env.step_env(k, state, 1, params)[1].state)
    next_states = np.asarray(step(keys))
    observed = np.bincount(next_states, minlength=6)[[2, 3, 4]]
    assert observed.sum() == 4000
    expected = 4000 * np.array([0.05, 0.6, 0.35])
    assert stats.chisquare(observed, expected).pvalue > 0.01


def test_deep_sea_always_right_collects_the_treasure(key):
    env = DeepSea(8)
    params = env.sample_params(key)
    mapping = np.asarray(params.action_mapping)
    size = env.size
    states, rewards, terms, truncs = _rollout(
        env, params, key, lambda s, t: int(mapping[s // size, s % size])
    )
    assert [s // size for s in states] == list(range(size))
    assert [s % size for s in states] == list(range(size))
    assert sum(rewards) == pytest.approx(env.optimal_return, abs=1e-6)
    assert rewards[-1] == pytest.approx(1.0 - 0.01 / size, abs=1e-6)
    assert terms == [False] * (size - 1) + [True]
    assert truncs[-1]


def test_deep_sea_left_is_free_and_clipped(key):
    env = DeepSea(5)
    params = env.sample_params(key)
    mapping = np.asarray(params.action_mapping)
    size = env.size
    states, rewards, _, _ = _rollout(
        env, params, key, lambda s, t: 1 - int(mapping[s // size, s % size])
    )
    assert [s % size for s in states] == [0] * size
    assert sum(rewards) == 0.0


def test_deep_sea_action_map_is_random_per_cell_and_per_instance():
    env = DeepSea(20)
    maps = jax.vmap(lambda k: env.sample_params(k).action_mapping)(
        jax.random.split(jax.random.key(0), 2)
    )
    assert maps.shape == (2, 20, 20)
    # 400 Bernoulli(1/2) cells: the mean is within 4 standard errors of 1/2.
    assert abs(float(maps[0].mean()) - 0.5) < 4 * 0.5 / 20
    assert bool(jnp.any(maps[0] != maps[1]))
    fixed = DeepSea(4, randomize_actions=False).default_params.action_mapping
    assert bool(jnp.all(fixed == 1))


def test_deep_sea_one_hot_observation(key):
    env = DeepSea(4, one_hot_obs=True)
    obs, state = env.reset(key, env.default_params)
    assert obs.shape == (16,) and obs.dtype == jnp.float32
    assert int(jnp.argmax(obs)) == int(state.state) == 0
    assert env.observation_space().shape == (16,)


def test_stochastic_deep_sea_right_fails_with_probability_one_over_n():
    env = DeepSea(4, randomize_actions=False, deterministic=False)
    p = env.default_params.transitions
    np.testing.assert_allclose(p[0, 1, 1 * 4 + 1], 0.75)
    np.testing.assert_allclose(p[0, 1, 1 * 4 + 0], 0.25)


def test_equal_envs_hash_equal_and_bad_sizes_raise():
    assert DeepSea(5) == DeepSea(5) and hash(DeepSea(5)) == hash(DeepSea(5))
    assert DeepSea(5) != DeepSea(5, randomize_actions=False)
    with pytest.raises(ValueError, match="size"):
        DeepSea(1)
    with pytest.raises(ValueError, match="num_states"):
        TabularMDP(0, 2, 3)


def test_random_tabular_mdp_vmaps_over_keys():
    params = jax.vmap(lambda k: random_tabular_mdp_params(k, 10, 5))(
        jax.random.split(jax.random.key(1), 3)
    )
    assert params.transitions.shape == (3, 10, 5, 10)
    np.testing.assert_allclose(params.transitions.sum(-1), 1.0, atol=1e-5)
