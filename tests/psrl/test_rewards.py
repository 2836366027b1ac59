"""Normal-Gamma reward learning in PSRL: closed-form posterior, Student-t draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.base import Transition
from bayesrl.envs import RiverSwim
from bayesrl.psrl import psrl

NUM_DRAWS = 20_000


def _observe_rewards(agent, pairs, rewards, num_actions):
    """Feed (s, a, r) with next state s (the reward posterior ignores it)."""

    @jax.jit
    def run(state, pairs, rewards):
        def body(state, item):
            pair, reward = item
            s, a = pair // num_actions, pair % num_actions
            transition = Transition(
                obs=s,
                action=a,
                reward=reward,
                next_obs=s,
                terminated=jnp.zeros((), bool),
                truncated=jnp.zeros((), bool),
            )
            return agent.observe(state, transition), None

        return jax.lax.scan(body, state, (pairs, rewards))[0]

    state = jax.jit(agent.init)(jax.random.key(0))
    return run(state, jnp.asarray(pairs, jnp.int32), jnp.asarray(rewards, jnp.float32))


def _closed_form(rewards, mean0=1.0, kappa0=1.0, shape0=0.5, rate0=0.5):
    """Normal-Gamma posterior (mu_n, kappa_n, alpha_n, beta_n) in float64."""
    r = np.asarray(rewards, np.float64)
    n = len(r)
    mean = r.mean() if n else 0.0
    kappa = kappa0 + n
    mu = (kappa0 * mean0 + r.sum()) / kappa
    shape = shape0 + n / 2
    rate = (
        rate0
        + 0.5 * ((r - mean) ** 2).sum()
        + kappa0 * n * (mean - mean0) ** 2 / (2 * kappa)
    )
    return mu, kappa, shape, rate


@pytest.fixture(scope="module")
def learned():
    """RiverSwim PSRL with Normal-Gamma rewards after 40 noisy rewards on pair 3
    (N(0.4, 0.7^2)), 12 on pair 7 (N(-1.5, 0.3^2)) and none elsewhere."""
    env = RiverSwim(horizon=5)
    agent = psrl(env, reward="normal_gamma")
    rng = np.random.default_rng(0)
    pairs = np.array([3] * 40 + [7] * 12)
    rewards = np.concatenate([rng.normal(0.4, 0.7, 40), rng.normal(-1.5, 0.3, 12)])
    order = rng.permutation(len(pairs))
    state = _observe_rewards(agent, pairs[order], rewards[order], env.num_actions)
    return env, agent, state, {3: rewards[pairs == 3], 7: rewards[pairs == 7]}


def test_normal_gamma_posterior_equals_the_closed_form(learned):
    env, _, state, data = learned
    posterior = state.reward_posterior
    for pair in range(env.num_states * env.num_actions):
        expected = _closed_form(data.get(pair, []))
        ours = (
            posterior.mean[pair],
            posterior.precision_scale[pair],
            posterior.shape[pair],
            posterior.rate[pair],
        )
        np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_normal_gamma_draws_follow_the_student_t_marginal(learned):
    """mu ~ t_{2 alpha_n}(mu_n, beta_n / (alpha_n kappa_n)) marginally: the mean
    and variance of 2 * 10^4 episode draws agree within 4 standard errors."""
    env, agent, state, data = learned
    keys = jax.random.split(jax.random.key(1), NUM_DRAWS)
    draws = jax.jit(jax.vmap(lambda k: agent.begin_episode(k, state).rewards))(keys)
    draws = np.asarray(draws, np.float64).reshape(NUM_DRAWS, -1)
    for pair, rewards in data.items():
        mu, kappa, shape, rate = _closed_form(rewards)
        marginal = stats.t(df=2 * shape, loc=mu, scale=np.sqrt(rate / (shape * kappa)))
        variance = marginal.var()
        excess_kurtosis = marginal.stats(moments="k")
        sample = draws[:, pair]
        assert abs(sample.mean() - mu) < 4 * np.sqrt(variance / NUM_DRAWS)
        variance_se = variance * np.sqrt(
            2 / (NUM_DRAWS - 1) + excess_kurtosis / NUM_DRAWS
        )
        assert abs(sample.var(ddof=1) - variance) < 4 * variance_se


def test_unknown_reward_option_is_refused():
    with pytest.raises(ValueError, match="reward"):
        psrl(RiverSwim(horizon=5), reward="gaussian")
