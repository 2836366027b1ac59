"""LMC-TS: K_t masking, warm start, regret against exact linear TS, neural model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayesrl import BanditObs, Transition, run_many
from bayesrl.bandits import linear_thompson_sampling
from bayesrl.envs import LinearContextualBandit
from bayesrl.langevin import lmc_ts, sgld


def _transition(context, action, reward):
    obs = BanditObs(available=jnp.ones(3, bool), context=context)
    return Transition(obs, jnp.asarray(action), jnp.asarray(reward), obs, False, False)


def test_first_round_takes_one_step_and_later_rounds_warm_start(key):
    agent = lmc_ts(3, 2, inverse_temperature=10.0, num_inner_steps=5, ridge=1.0)
    state = agent.init(key)
    x = jnp.array([1.0, -0.5])
    update = jax.jit(agent.update)
    k1, k2 = jax.random.split(key)
    state1, info1 = update(k1, state, _transition(x, 1, 0.7))
    assert int(info1.num_inner_steps) == 1  # K_1 = min(1, K)
    # The same single step by hand: sgld on 2((V + I) theta - b) from zero.
    grads = jnp.zeros((3, 2)).at[1].set(-2 * 0.7 * x)
    eta = 0.25 / (float(x @ x) + 1.0)
    transform = sgld(eta, 1.0 / 10.0)
    first_key = jax.random.split(k1, 5)[0]
    updates, _ = transform.update(grads, transform.init(grads), key=first_key)
    np.testing.assert_allclose(state1.params, updates, rtol=1e-5, atol=1e-7)
    state2, info2 = update(k2, state1, _transition(x, 0, -0.2))
    assert int(info2.num_inner_steps) == 2
    # Warm start: arm 2 has no data, so only noise and ridge moved it from round 1.
    moved = state2.params[2] - state1.params[2]
    assert np.all(np.abs(moved) < 1.0) and not np.allclose(moved, 0.0)


def test_non_finite_reward_is_rejected(key):
    agent = lmc_ts(3, 2, inverse_temperature=10.0)
    state = agent.init(key)
    new, info = jax.jit(agent.update)(key, state, _transition(jnp.ones(2), 0, jnp.nan))
    assert bool(info.rejected) and int(new.count) == 0
    assert np.all(np.isfinite(new.params))


def _regret(agent, env, params, num_steps, num_seeds, seed):
    _, metrics = run_many(
        jax.random.key(seed), agent, env, params, num_steps, num_seeds
    )
    return np.asarray(metrics.regret).sum(axis=1)


def _lmc_and_exact_gibbs(num_arms, dim, beta):
    """LMC-TS and the exact LinTS of the Gibbs law N(V^-1 b, V^-1 / (2 beta)),
    V = X'X + I, that LMC-TS targets: unit noise and prior, posterior
    inflation nu = (2 beta)^-1/2."""
    lmc = lmc_ts(num_arms, dim, inverse_temperature=beta, num_inner_steps=25)
    exact = linear_thompson_sampling(
        num_arms, dim, noise_std=1.0, prior_scale=1.0, inflation=(2.0 * beta) ** -0.5
    )
    return lmc, exact


def _uniform_regret_per_round(theta):
    """Uniform play's expected regret per round, E[max_a m_a - mean_a m_a],
    by Monte Carlo over 20,000 contexts x ~ N(0, I)."""
    contexts = jax.random.normal(jax.random.key(9), (20_000, theta.shape[1]))
    means = contexts @ theta.T
    return float(jnp.mean(means.max(1) - means.mean(1)))


def test_lmc_ts_regret_matches_exact_linear_ts():
    num_arms, dim, beta, num_seeds = 5, 5, 50.0, 8
    env = LinearContextualBandit(num_arms, dim)
    params = env.sample_params(jax.random.key(3))
    lmc, exact = _lmc_and_exact_gibbs(num_arms, dim, beta)
    r_lmc = _regret(lmc, env, params, 300, num_seeds, 1)
    r_exact = _regret(exact, env, params, 300, num_seeds, 2)
    se = np.sqrt(r_lmc.var(ddof=1) / num_seeds + r_exact.var(ddof=1) / num_seeds)
    assert abs(r_lmc.mean() - r_exact.mean()) < 3 * se, (r_lmc, r_exact)
    uniform = 300 * _uniform_regret_per_round(params.theta)
    assert r_lmc.mean() < 0.25 * uniform and r_exact.mean() < 0.25 * uniform


class _Net(nnx.Module):
    def __init__(self, dim, num_arms, rngs):
        self.hidden = nnx.Linear(dim, 16, rngs=rngs)
        self.out = nnx.Linear(16, num_arms, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.relu(self.hidden(x)))


def test_neural_lmc_ts_learns_and_seeds_differ():
    num_arms, dim = 3, 3
    env = LinearContextualBandit(num_arms, dim)
    params = env.sample_params(jax.random.key(4))
    agent = lmc_ts(
        num_arms,
        dim,
        inverse_temperature=100.0,
        num_inner_steps=5,
        step_size=5e-3,
        network_factory=lambda rngs: _Net(dim, num_arms, rngs),
        capacity=200,
    )
    states, metrics = run_many(jax.random.key(0), agent, env, params, 200, 2)
    regret = np.asarray(metrics.regret)
    uniform = _uniform_regret_per_round(params.theta)
    assert regret[:, -100:].mean() < 0.5 * uniform, (regret[:, -100:].mean(), uniform)
    for leaf in jax.tree.leaves(states.params):  # each seed has its own init
        assert not np.allclose(leaf[0], leaf[1])


@pytest.mark.slow
def test_lmc_ts_regret_spec_instance():
    num_arms, dim, beta, num_seeds = 50, 20, 50.0, 8
    env = LinearContextualBandit(num_arms, dim)
    params = env.sample_params(jax.random.key(3))
    lmc, exact = _lmc_and_exact_gibbs(num_arms, dim, beta)
    r_lmc = _regret(lmc, env, params, 2000, num_seeds, 1)
    r_exact = _regret(exact, env, params, 2000, num_seeds, 2)
    assert abs(r_lmc.mean() - r_exact.mean()) < 0.25 * r_exact.mean()


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(inverse_temperature=0.0), "inverse_temperature"),
        (dict(inverse_temperature=1.0, ridge=-1.0), "ridge"),
        (dict(inverse_temperature=1.0, num_inner_steps=0), "num_inner_steps"),
        (dict(inverse_temperature=1.0, network_factory=lambda r: None), "step_size"),
    ],
)
def test_invalid_hyper_parameters_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lmc_ts(3, 2, **kwargs)
