"""Bandit agents: contract, masks, cold start, propensities, batches, NaN
guarding and regret behaviour with intervals over seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs, envs
from bayesrl.base import BanditObs, Transition
from bayesrl.testing import check_agent

K = 5


def agents(num_arms=K):
    return {
        "thompson_beta": bandits.thompson_sampling(beliefs.beta_bernoulli(num_arms)),
        "thompson_top2": bandits.thompson_sampling(
            beliefs.beta_bernoulli(num_arms), batch_size=2
        ),
        "thompson_gaussian": bandits.thompson_sampling(beliefs.gaussian(num_arms)),
        "thompson_normal_gamma": bandits.thompson_sampling(
            beliefs.normal_gamma(num_arms)
        ),
        "bayes_ucb_beta": bandits.bayes_ucb(beliefs.beta_bernoulli(num_arms)),
        "bayes_ucb_gaussian": bandits.bayes_ucb(
            beliefs.gaussian(num_arms), horizon=100, c=1.0
        ),
        "ucb1": bandits.ucb1(num_arms),
        "kl_ucb": bandits.kl_ucb(num_arms),
        "epsilon_greedy": bandits.epsilon_greedy(num_arms, 0.2),
        "uniform": bandits.uniform(num_arms),
    }


def obs(available=None):
    available = jnp.ones(K, bool) if available is None else jnp.asarray(available)
    return BanditObs(available=available)


def transition(action, reward):
    return Transition(
        obs(),
        jnp.asarray(action),
        jnp.asarray(reward, jnp.float32),
        obs(),
        jnp.bool_(False),
        jnp.bool_(False),
    )


@pytest.mark.parametrize("name", list(agents()))
def test_agent_contract(name):
    agent = agents()[name]
    action = [1, 3] if name == "thompson_top2" else 2
    reward = [1.0, 0.0] if name == "thompson_top2" else 1.0
    check_agent(agent, obs(), transition(action, reward))


@pytest.mark.parametrize("name", list(agents()))
def test_masked_arms_are_never_chosen(name):
    agent = agents()[name]
    available = jnp.array([False, True, False, True, False])
    state = agent.init(jax.random.key(0))
    act, update = jax.jit(agent.act), jax.jit(agent.update)
    for seed in range(30):
        action, info = act(jax.random.key(seed), state, obs(available))
        assert bool(jnp.all(available[jnp.atleast_1d(action)])), action
        assert not bool(info.no_arm_available)
        state, _ = update(
            jax.random.key(seed),
            state,
            transition(action, jnp.ones_like(action, jnp.float32) * 0.5),
        )


@pytest.mark.parametrize("name", ["ucb1", "kl_ucb"])
def test_index_policies_start_round_robin(name):
    # An unpulled arm must never score 0 (MABWiser's UCB cold start locks on arm 0).
    agent = agents()[name]
    state = agent.init(jax.random.key(0))
    played = []
    for t in range(K):
        action, info = agent.act(jax.random.key(t), state, obs())
        played.append(int(action))
        state, _ = agent.update(jax.random.key(t), state, transition(action, 0.0))
    assert played == list(range(K))


def test_top_b_thompson_returns_distinct_arms():
    agent = agents()["thompson_top2"]
    state = agent.init(jax.random.key(0))
    act = jax.jit(agent.act)
    for seed in range(20):
        action, _ = act(jax.random.key(seed), state, obs())
        assert action.shape == (2,) and int(action[0]) != int(action[1])


def test_epsilon_greedy_and_uniform_propensities_are_exact():
    eps = 0.2
    agent = agents()["epsilon_greedy"]
    state = agent.init(jax.random.key(0))
    for arm, reward in [(0, 1.0), (1, 0.0), (2, 1.0), (3, 0.0), (4, 0.0)]:
        state, _ = agent.update(jax.random.key(0), state, transition(arm, reward))
    # Arms 0 and 2 tie for the best mean 1.0.
    act = jax.jit(agent.act)
    for seed in range(10):
        action, info = act(jax.random.key(seed), state, obs())
        best = int(action) in (0, 2)
        expected = eps / K + (1 - eps) * (0.5 if best else 0.0)
        np.testing.assert_allclose(info.propensity, expected, rtol=1e-6)
    _, info = agents()["uniform"].act(
        jax.random.key(0), state, obs([True, True, False, False, True])
    )
    np.testing.assert_allclose(info.propensity, 1 / 3, rtol=1e-6)


def test_thompson_propensity_estimate_matches_frequency():
    belief = beliefs.beta_bernoulli(2)
    agent = bandits.thompson_sampling(belief, num_propensity_samples=4000)
    state = belief.update(
        belief.init(), jnp.array([0, 1]), jnp.array([1.0, 0.0]), jnp.ones(2)
    )
    # P(Beta(2,1) > Beta(1,2)) = 5/6.
    action, info = jax.jit(agent.act)(
        jax.random.key(1), state, BanditObs(jnp.ones(2, bool))
    )
    expected = 5 / 6 if int(action) == 0 else 1 / 6
    se = np.sqrt(expected * (1 - expected) / 4000)
    assert abs(float(info.propensity) - expected) < 4 * se


def test_non_finite_reward_is_rejected_and_state_kept():
    agent = agents()["thompson_beta"]
    state = agent.init(jax.random.key(0))
    new_state, info = agent.update(jax.random.key(0), state, transition(1, jnp.nan))
    assert bool(info.rejected)
    assert jnp.array_equal(new_state.alpha, state.alpha)
    assert jnp.array_equal(new_state.beta, state.beta)


@pytest.mark.parametrize(
    "reward", [5.0, -1.0, 1.0 + 1e-6, -1e-30, np.inf, -np.inf, np.nan, 3e38]
)
def test_out_of_support_reward_is_rejected_and_state_kept(reward):
    # A Bernoulli reward of 5.0 would make the failure count -4 (NaN draws).
    belief = beliefs.beta_bernoulli(3)
    agent = bandits.thompson_sampling(belief)
    state, _ = agent.update(
        jax.random.key(0), agent.init(jax.random.key(0)), transition(0, 1.0)
    )
    arms, rewards = jnp.array([1, 2]), jnp.array([0.0, reward], jnp.float32)
    new_state, info = jax.jit(agent.update)(
        jax.random.key(0), state, transition(arms, rewards)
    )
    assert bool(info.rejected)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, state, new_state))
    # The bounds themselves are in the support.
    _, info = agent.update(
        jax.random.key(0), state, transition(arms, jnp.array([0.0, 1.0]))
    )
    assert not bool(info.rejected)


def test_unbounded_beliefs_accept_any_finite_reward():
    agent = bandits.thompson_sampling(beliefs.gaussian(3))
    state = agent.init(jax.random.key(0))
    _, info = agent.update(jax.random.key(0), state, transition(1, 5.0))
    assert not bool(info.rejected)


def test_batched_feedback_equals_sequential_for_the_agent():
    agent = agents()["thompson_beta"]
    state = agent.init(jax.random.key(0))
    arms, rewards = jnp.array([0, 3, 0, 4, 3]), jnp.array([1.0, 0.0, 0.0, 1.0, 1.0])
    batched, _ = agent.update(jax.random.key(0), state, transition(arms, rewards))
    sequential = state
    for a, r in zip(arms, rewards, strict=True):
        sequential, _ = agent.update(jax.random.key(0), sequential, transition(a, r))
    assert jnp.array_equal(batched.alpha, sequential.alpha)
    assert jnp.array_equal(batched.beta, sequential.beta)


def test_bad_agent_arguments_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        bandits.thompson_sampling(beliefs.beta_bernoulli(3), batch_size=4)
    with pytest.raises(ValueError, match="epsilon"):
        bandits.epsilon_greedy(3, 1.5)
    with pytest.raises(ValueError, match="num_arms"):
        bandits.ucb1(1)
    with pytest.raises(ValueError, match="quantile"):
        from bayesrl.bandits._empirical import empirical_means

        bandits.bayes_ucb(empirical_means(3, (0.0, 1.0)))


def regret_at_horizon(agent, num_seeds, num_steps, num_arms=10, key=0):
    env = envs.BernoulliBandit(num_arms)
    _, metrics = bayesrl.run_many(
        jax.random.key(key), agent, env, env.default_params, num_steps, num_seeds
    )
    return np.asarray(metrics.regret).sum(axis=1)


def interval(x):
    return x.mean(), 1.96 * x.std(ddof=1) / np.sqrt(x.size)


def test_thompson_regret_is_below_uniform_and_sub_linear():
    ts = bandits.thompson_sampling(beliefs.beta_bernoulli(10))
    env = envs.BernoulliBandit(10)
    _, metrics = bayesrl.run_many(
        jax.random.key(1), ts, env, env.default_params, 2000, 200
    )
    cumulative = np.asarray(metrics.regret).cumsum(axis=1)
    first, second = cumulative[:, 999], cumulative[:, 1999] - cumulative[:, 999]
    uniform_regret = 2000 * float(np.mean(0.7 - np.linspace(0.2, 0.7, 10)))
    mean, half = interval(cumulative[:, -1])
    assert mean + half < 0.5 * uniform_regret
    # Sub-linear: the second thousand rounds cost clearly less than the first.
    difference = first - second
    mean, half = interval(difference)
    assert mean - half > 0


def test_regret_matches_the_numpy_reference():
    from benchmarks.peers import numpy_bandits

    means = np.linspace(0.2, 0.7, 10)
    for agent, reference in [
        (
            bandits.thompson_sampling(beliefs.beta_bernoulli(10)),
            numpy_bandits.bernoulli_thompson,
        ),
        (bandits.ucb1(10), numpy_bandits.ucb1),
    ]:
        ours = regret_at_horizon(agent, 400, 1000)
        theirs = reference(means, 400, 1000, seed=3)
        (m1, h1), (m2, h2) = interval(ours), interval(theirs)
        assert abs(m1 - m2) < np.hypot(h1, h2) * 1.3, (m1, h1, m2, h2)


@pytest.mark.slow
def test_regret_matches_the_numpy_reference_at_scale():
    from benchmarks.peers import numpy_bandits

    means = np.linspace(0.2, 0.7, 10)
    ours = regret_at_horizon(
        bandits.thompson_sampling(beliefs.beta_bernoulli(10)), 10_000, 1000
    )
    theirs = numpy_bandits.bernoulli_thompson(means, 10_000, 1000, seed=3)
    (m1, h1), (m2, h2) = interval(ours), interval(theirs)
    assert abs(m1 - m2) < np.hypot(h1, h2) * 1.3


@pytest.mark.slow
def test_thompson_slope_is_in_the_lai_robbins_band():
    # bandits.md section 2.4: slope/C ~ 0.8 between 1e3 and 1e4 for Beta(1,1) TS.
    ts = bandits.thompson_sampling(beliefs.beta_bernoulli(10))
    env = envs.BernoulliBandit(10)
    _, metrics = bayesrl.run_many(
        jax.random.key(2), ts, env, env.default_params, 10_000, 400
    )
    cumulative = np.asarray(metrics.regret).cumsum(axis=1)
    slope = (cumulative[:, -1] - cumulative[:, 999]) / np.log(10)
    mean, half = interval(slope)
    constant = 22.91
    assert 0.6 < (mean - half) / constant and (mean + half) / constant < 1.05
