"""LMC-LSVI: optimism of the M-sample max, acting, feature modes, finiteness,
refused hyper-parameters and (fast) deep exploration on tabular N-chain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl import run
from bayesrl.envs import NChain
from bayesrl.langevin import exact_gaussian_sample_from_noise, lmc_lsvi

EXACT = dict(
    preconditioner="full",
    step_size_scale=0.5,
    num_inner_steps=1,
    exact_discretisation=True,
)


@pytest.mark.parametrize("num_chains", [1, 4, 16])
def test_optimism_of_the_m_sample_max(key, num_chains):
    precision = jnp.array([[2.0, 0.3], [0.3, 1.0]])
    shift = jnp.array([0.5, -0.2])
    beta = 3.0
    x = jnp.array([0.6, -0.8])
    num_draws = 100_000
    xi = jax.random.normal(key, (num_draws, num_chains, 2))
    draws = jax.jit(
        jax.vmap(
            jax.vmap(
                lambda z: exact_gaussian_sample_from_noise(z, precision, shift, beta)
            )
        )
    )(xi)
    mean = jnp.linalg.solve(precision, shift)
    cov = jnp.linalg.inv(precision) / (2 * beta)
    threshold = x @ mean + jnp.sqrt(x @ cov @ x)
    freq = float(jnp.mean(jnp.max(draws @ x, axis=1) >= threshold))
    p_one = stats.norm.sf(1.0)  # 0.158655
    expected = 1 - (1 - p_one) ** num_chains
    se = np.sqrt(expected * (1 - expected) / num_draws)
    assert abs(freq - expected) < 5 * se
    assert freq >= 1 - (1 - 1 / (2 * np.sqrt(2 * np.e * np.pi))) ** num_chains


def test_act_is_the_argmax_of_the_clipped_max_over_chains(key):
    agent = lmc_lsvi(
        3, 4, max_episodes=2, num_states=5, state_fn=lambda o: o, num_chains=3
    )
    state = agent.init(key)
    weights = jax.random.normal(key, state.weights.shape) * 3.0
    state = state._replace(weights=weights, step=jnp.asarray(2))
    obs = jnp.asarray(4)
    action, info = jax.jit(agent.act)(jax.random.key(1), state, obs)
    q = weights[2][:, 4 * 3 : 4 * 3 + 3].max(axis=0)
    expected_q = np.clip(q, 0.0, 2.0)  # H - h + 1 = 2 steps to go at h = 3
    np.testing.assert_allclose(info.q_values, expected_q, rtol=1e-6)
    best = np.flatnonzero(expected_q == expected_q.max())
    assert int(action) in best


def _returns(agent, env, num_episodes, seeds):
    """Episode returns ``[len(seeds), num_episodes]``; seeds run one after the
    other (``lax.map``) so the episode-end ``cond`` stays a real branch."""
    num_steps = num_episodes * env.horizon

    def one(key):
        return run(key, agent, env, env.default_params, num_steps)[1].reward

    keys = jax.vmap(jax.random.key)(jnp.asarray(list(seeds)))
    rewards = jax.jit(lambda k: jax.lax.map(one, k))(keys)
    return np.asarray(rewards).reshape(len(keys), num_episodes, env.horizon).sum(-1)


def _first_success(returns, target):
    hits = np.flatnonzero(returns >= target)
    return int(hits[0]) if hits.size else None


def test_tabular_and_one_hot_feature_modes_agree(key):
    env = NChain(4)
    num_states, horizon = 6, env.horizon
    tabular = lmc_lsvi(
        2,
        horizon,
        max_episodes=10,
        num_states=num_states,
        state_fn=NChain.state_index,
        **EXACT,
    )

    def one_hot(obs):
        return jax.nn.one_hot(
            NChain.state_index(obs) * 2 + jnp.arange(2), 2 * num_states
        )

    features = lmc_lsvi(
        2, horizon, max_episodes=10, feature_fn=one_hot, dim=2 * num_states, **EXACT
    )
    s_tab, _ = run(key, tabular, env, env.default_params, 10 * horizon)
    s_feat, _ = run(key, features, env, env.default_params, 10 * horizon)
    np.testing.assert_allclose(s_tab.weights, s_feat.weights, rtol=1e-4, atol=1e-3)


def test_deep_exploration_on_nchain_diagonal_vs_global_step():
    # N = 10: the preconditioned chain finds the rewarding end (exact RLSVI too,
    # in the slow test);
    # the paper's global step with a small ridge and J = 10 stalls, and so does
    # epsilon-greedy LSVI (2^N-type exploration).
    env = NChain(10)
    common = dict(max_episodes=100, num_states=10, state_fn=NChain.state_index)
    agents = {
        "diagonal": lmc_lsvi(2, env.horizon, **common),
        "none": lmc_lsvi(2, env.horizon, preconditioner="none", **common),
        "epsilon": lmc_lsvi(
            2, env.horizon, noise_multiplier=0.0, epsilon=0.1, **common, **EXACT
        ),
    }
    solved = {
        name: [_first_success(r, 9.99) for r in _returns(agent, env, 100, range(3))]
        for name, agent in agents.items()
    }
    assert all(e is not None for e in solved["diagonal"]), solved
    assert all(e is None for e in solved["none"]), solved
    assert all(e is None for e in solved["epsilon"]), solved


@pytest.mark.slow
def test_deep_exploration_on_nchain_20_spec_protocol():
    env = NChain(20)
    common = dict(max_episodes=1000, num_states=20, state_fn=NChain.state_index)
    diag = lmc_lsvi(2, env.horizon, **common)
    exact = lmc_lsvi(2, env.horizon, **common, **EXACT)
    none = lmc_lsvi(2, env.horizon, preconditioner="none", **common)
    firsts = {}
    for name, agent in (("diagonal", diag), ("exact", exact), ("none", none)):
        firsts[name] = [
            _first_success(r, 9.99) for r in _returns(agent, env, 2000, range(16))
        ]
    n_solved = {k: sum(e is not None for e in v) for k, v in firsts.items()}
    assert n_solved["diagonal"] >= 15 and n_solved["exact"] >= 15, n_solved
    assert n_solved["none"] < n_solved["diagonal"], n_solved
    med = {
        k: np.median([e for e in firsts[k] if e is not None])
        for k in ("diagonal", "exact")
    }
    assert med["diagonal"] <= 2 * med["exact"], med


def test_tiny_ridge_with_unvisited_features_stays_finite(key):
    env = NChain(8)
    agent = lmc_lsvi(
        2,
        env.horizon,
        max_episodes=5,
        num_states=8,
        state_fn=NChain.state_index,
        ridge=1e-6,
        preconditioner="none",
    )
    state, _ = run(key, agent, env, env.default_params, 5 * env.horizon)
    assert np.all(np.isfinite(state.weights))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(preconditioner="adam"), "preconditioner"),
        (dict(ridge=0.0), "ridge"),
        (dict(inverse_temperature=-1.0), "inverse_temperature"),
        (dict(step_size_scale=1.5), "step_size_scale"),
        (dict(num_chains=0), "num_chains"),
        (dict(epsilon=2.0), "epsilon"),
        (
            dict(preconditioner="none", exact_discretisation=True),
            "exact_discretisation",
        ),
        (dict(value_bounds=(1.0, 0.0)), "value_bounds"),
    ],
)
def test_invalid_hyper_parameters_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lmc_lsvi(2, 5, max_episodes=3, num_states=4, state_fn=lambda o: o, **kwargs)


def test_missing_feature_specification_is_refused():
    with pytest.raises(ValueError, match="feature_fn"):
        lmc_lsvi(2, 5, max_episodes=3)
