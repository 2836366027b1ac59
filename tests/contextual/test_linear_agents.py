"""Linear contextual agents: the Agent contract, masks, propensities, regret
ordering with intervals (fast here, the spec instance in the slow test)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl import BanditObs, Transition, bandits, run_many
from bayesrl.envs import LinearContextualBandit
from bayesrl.eval import mean_interval
from bayesrl.testing import check_agent
from benchmarks.peers import numpy_linear_thompson

NUM_ARMS, DIM = 4, 3


def _agents(layout="disjoint"):
    return {
        "linear_ts_known": bandits.linear_thompson_sampling(
            NUM_ARMS, DIM, noise_std=0.5, layout=layout
        ),
        "linear_ts_nig": bandits.linear_thompson_sampling(NUM_ARMS, DIM, layout=layout),
        "lin_ucb": bandits.lin_ucb(NUM_ARMS, DIM, 1.0, layout=layout),
        "linear_bayes_ucb": bandits.linear_bayes_ucb(
            NUM_ARMS, DIM, noise_std=0.5, layout=layout
        ),
        "linear_epsilon_greedy": bandits.linear_epsilon_greedy(
            NUM_ARMS, DIM, 0.1, layout=layout
        ),
    }


def _context(layout, seed=0):
    shape = (DIM,) if layout == "disjoint" else (NUM_ARMS, DIM)
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


@pytest.mark.parametrize("layout", ["disjoint", "shared"])
def test_agents_follow_the_contract_and_respect_masks(layout):
    available = jnp.array([False, True, False, True])
    obs = BanditObs(available=available, context=_context(layout))
    # A batched transition: three items, one padding arm.
    contexts = jnp.stack([_context(layout, s) for s in (1, 2, 3)])
    batch = Transition(
        obs=BanditObs(jnp.ones((3, NUM_ARMS), bool), contexts),
        action=jnp.array([1, -1, 3]),
        reward=jnp.array([0.5, 9.0, -0.2]),
        next_obs=obs,
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )
    keys = jax.random.split(jax.random.key(0), 32)
    agents = _agents(layout)
    if layout == "shared":  # the layout only changes the shared belief code
        agents = {"lin_ucb": agents["lin_ucb"]}
    for name, agent in agents.items():
        check_agent(agent, obs, batch)
        state, info = jax.jit(agent.update)(jax.random.key(1), agent.init(None), batch)
        assert not bool(info.rejected), name
        act = jax.jit(agent.act)  # compiled by check_agent already
        for key in keys:
            arm, act_info = act(key, state, obs)
            assert bool(available[arm]), name
            assert np.all(np.isneginf(np.asarray(act_info.scores)[~available])), name


def test_non_finite_context_or_reward_is_rejected():
    agent = bandits.linear_thompson_sampling(NUM_ARMS, DIM, noise_std=1.0)
    state = agent.init(None)
    update = jax.jit(agent.update)
    for context, reward in ((jnp.full(DIM, jnp.nan), 1.0), (jnp.ones(DIM), jnp.inf)):
        obs = BanditObs(jnp.ones(NUM_ARMS, bool), context)
        transition = Transition(
            obs, jnp.asarray(0), jnp.asarray(reward, jnp.float32), obs, False, False
        )
        new, info = update(jax.random.key(0), state, transition)
        assert bool(info.rejected)
        for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state), strict=True):
            np.testing.assert_array_equal(a, b)


def test_propensity_estimate_is_a_probability():
    agent = bandits.linear_thompson_sampling(
        NUM_ARMS, DIM, noise_std=1.0, num_propensity_samples=200
    )
    obs = BanditObs(jnp.array([True, True, False, True]), _context("disjoint"))
    arm, info = jax.jit(agent.act)(jax.random.key(3), agent.init(None), obs)
    # Under the prior the winner is uniform over the 3 available arms.
    assert 0.0 < float(info.propensity) <= 1.0
    assert abs(float(info.propensity) - 1 / 3) < 4 * np.sqrt(2 / 9 / 200)


@pytest.mark.parametrize(
    "factory,kwargs,name",
    [
        (bandits.linear_thompson_sampling, dict(prior_scale=0.0), "prior_scale"),
        (bandits.linear_thompson_sampling, dict(noise_std=-1.0), "noise_std"),
        (bandits.linear_thompson_sampling, dict(num_propensity_samples=-1), "num_"),
        (bandits.lin_ucb, dict(alpha=0.0), "alpha"),
        (bandits.lin_ucb, dict(alpha=1.0, ridge=0.0), "ridge"),
        (bandits.linear_bayes_ucb, dict(c=-1.0), "c must"),
        (bandits.linear_epsilon_greedy, dict(epsilon=2.0), "epsilon"),
    ],
)
def test_invalid_hyper_parameters_are_refused(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(NUM_ARMS, DIM, **kwargs)


def _regrets(agents, env, params, num_steps, num_seeds):
    out = {}
    for i, (name, agent) in enumerate(agents.items()):
        _, metrics = run_many(
            jax.random.key(i), agent, env, params, num_steps, num_seeds
        )
        out[name] = np.asarray(metrics.regret, np.float64).sum(axis=1)
    return out


def test_regret_ordering_fast():
    """LinTS beats uniform (which must run on contextual envs) with intervals."""
    env = LinearContextualBandit(NUM_ARMS, DIM)
    agents = {
        "linear_ts": bandits.linear_thompson_sampling(NUM_ARMS, DIM, noise_std=0.5),
        "uniform": bandits.uniform(NUM_ARMS),
    }
    regrets = _regrets(agents, env, env.default_params, 200, 16)
    uniform, uniform_half = mean_interval(regrets["uniform"])
    for name in ("linear_ts",):
        mean, half = mean_interval(regrets[name])
        assert mean + half < uniform - uniform_half, (name, mean, uniform)


@pytest.mark.slow
def test_regret_on_the_throughput_job_matches_the_numpy_reference():
    """``bandits.md`` 2.2: d = K = 10, theta_k ~ N(0, I/d), sigma = 0.5, T = 1000:
    every Bayesian agent beats uniform and LinTS agrees with the NumPy LinTS
    within the combined 95% interval."""
    num_arms = dim = 10
    env = LinearContextualBandit(num_arms, dim)
    theta = jax.random.normal(jax.random.key(7), (num_arms, dim)) / np.sqrt(dim)
    params = env.default_params.replace(theta=theta)
    agents = {
        "linear_ts": bandits.linear_thompson_sampling(num_arms, dim, noise_std=0.5),
        "linear_ts_nig": bandits.linear_thompson_sampling(num_arms, dim),
        "lin_ucb": bandits.lin_ucb(num_arms, dim, 1.0),
        "linear_bayes_ucb": bandits.linear_bayes_ucb(num_arms, dim, noise_std=0.5),
        "uniform": bandits.uniform(num_arms),
    }
    regrets = _regrets(agents, env, params, 1000, 200)
    reference = numpy_linear_thompson.run(
        np.asarray(theta), 0.5, 1000, 200, seed=0, noise_std=0.5
    ).sum(axis=1)
    ours, ours_half = mean_interval(regrets["linear_ts"])
    ref, ref_half = mean_interval(reference)
    assert abs(ours - ref) < np.hypot(ours_half, ref_half), (ours, ref)
    uniform, uniform_half = mean_interval(regrets["uniform"])
    for name in ("linear_ts", "linear_ts_nig", "lin_ucb", "linear_bayes_ucb"):
        mean, half = mean_interval(regrets[name])
        assert mean + half < uniform - uniform_half, name
