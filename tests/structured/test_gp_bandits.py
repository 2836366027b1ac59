"""GP posterior over candidates, GP-TS, GP-UCB and IRGP-UCB."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayesrl
from bayesrl import bandits, envs
from bayesrl.base import BanditObs, Transition
from bayesrl.beliefs import gaussian_process_candidates
from bayesrl.beliefs.gaussian_process_candidates import posterior_from_statistics
from bayesrl.testing import check_agent, check_belief


def numpy_kernel(a, b, kernel, lengthscale, signal_std):
    """Independent NumPy kernels (Rasmussen & Williams, eq. 4.9 and 4.17)."""
    r = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    if kernel == "rbf":
        return signal_std**2 * np.exp(-0.5 * (r / lengthscale) ** 2)
    z = np.sqrt(5.0) * r / lengthscale
    return signal_std**2 * (1 + z + z**2 / 3) * np.exp(-z)


def dense_posterior(candidates, arms, rewards, weights, kernel, noise, prior_mean):
    """``mu = m0 + K_*X (K_XX + sigma^2 W^-1)^-1 (y - m0)``, dense, float64."""
    k_all = numpy_kernel(candidates, candidates, kernel, 0.3, 1.5)
    keep = (weights > 0) & (arms >= 0)
    arms, rewards, weights = arms[keep], rewards[keep], weights[keep]
    k_xx = k_all[np.ix_(arms, arms)] + np.diag(noise**2 / weights)
    k_sx = k_all[:, arms]
    mean = prior_mean + k_sx @ np.linalg.solve(k_xx, rewards - prior_mean)
    cov = k_all - k_sx @ np.linalg.solve(k_xx, k_sx.T)
    return mean, cov


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_posterior_matches_dense_computation(kernel):
    rng = np.random.default_rng(0)
    candidates = rng.uniform(size=(12, 2))
    arms = np.array([3, 7, 3, 0, 11, -1, 5, 7])
    rewards = rng.normal(size=arms.size)
    weights = np.array([1.0, 1.0, 0.5, 1.0, 2.0, 1.0, 0.0, 1.0])
    with jax.enable_x64(True):
        belief = gaussian_process_candidates(
            candidates,
            kernel,
            lengthscale=0.3,
            signal_std=1.5,
            noise_std=0.4,
            prior_mean=0.2,
        )
        state = belief.update(
            belief.init(),
            jnp.asarray(arms),
            jnp.asarray(rewards),
            jnp.asarray(weights),
        )
        mean, cov = np.asarray(state.mean), np.asarray(state.covariance)
        from_stats = posterior_from_statistics(
            belief.init().covariance,
            0.2,
            0.4,
            state.num_observations,
            state.reward_sum,
        )
    expected_mean, expected_cov = dense_posterior(
        candidates, arms, rewards, weights, kernel, 0.4, 0.2
    )
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(np.asarray(from_stats[0]), expected_mean, atol=1e-9)
    np.testing.assert_allclose(np.asarray(from_stats[1]), expected_cov, atol=1e-9)


def test_discount_equals_down_weighted_data():
    rng = np.random.default_rng(1)
    candidates = rng.uniform(size=(8, 1))
    arms = np.array([1, 4, 6, 4])
    rewards = rng.normal(size=4)
    with jax.enable_x64(True):
        belief = gaussian_process_candidates(
            candidates, "matern52", lengthscale=0.3, signal_std=1.5, noise_std=0.3
        )
        state = belief.update(
            belief.init(), jnp.asarray(arms), jnp.asarray(rewards), jnp.ones(4)
        )
        discounted = belief.discount(state, 0.5)
    expected_mean, expected_cov = dense_posterior(
        candidates, arms, rewards, 0.5 * np.ones(4), "matern52", 0.3, 0.0
    )
    np.testing.assert_allclose(np.asarray(discounted.mean), expected_mean, atol=1e-9)
    np.testing.assert_allclose(
        np.asarray(discounted.covariance), expected_cov, atol=1e-9
    )


def test_check_belief_and_joint_sample_covariance(key):
    candidates = np.linspace(0, 1, 6)
    belief = gaussian_process_candidates(candidates, lengthscale=0.3, noise_std=0.5)
    check_belief(belief, np.array([0, 2, 2, 5, 1]), np.array([0.3, -1.0, 0.2, 1, 0]))
    state = belief.update(
        belief.init(), jnp.array([1, 4]), jnp.array([0.5, -0.5]), jnp.ones(2)
    )
    draws = np.asarray(
        jax.jit(jax.vmap(belief.sample, (0, None)))(
            jax.random.split(key, 20000), state
        ),
        np.float64,
    )
    # Standard errors of a sample mean and covariance with 20000 draws: the
    # marginal variances are <= 1, so 5 s.e. is below 0.04 for every entry.
    np.testing.assert_allclose(draws.mean(0), np.asarray(state.mean), atol=0.04)
    np.testing.assert_allclose(np.cov(draws.T), np.asarray(state.covariance), atol=0.05)


def test_irgp_beta_distribution_is_shifted_exponential(key):
    """``beta_t = 2 log(N/2) + 2 E``: read it off the scores of a state whose
    posterior std is 1 and mean 0 at one candidate (score = sqrt(beta))."""
    candidates = np.linspace(0, 1, 20)
    agent = bandits.irgp_ucb(candidates, lengthscale=0.05, signal_std=1.0)
    state = agent.init(key)
    obs = BanditObs(available=jnp.ones(20, bool))
    keys = jax.random.split(key, 4000)
    _, info = jax.jit(jax.vmap(agent.act, (0, None, None)))(keys, state, obs)
    beta = np.asarray(info.scores[:, 0], np.float64) ** 2
    shift = 2 * np.log(20 / 2)
    result = stats.kstest(beta, stats.expon(loc=shift, scale=2.0).cdf)
    assert result.pvalue > 1e-3, result
    assert beta.min() >= shift - 1e-4


def test_gp_ucb_scores_match_srinivas_beta(key):
    candidates = np.linspace(0, 1, 10)
    agent = bandits.gp_ucb(candidates, delta=0.1, lengthscale=0.2, noise_std=0.3)
    state = agent.update(
        key,
        agent.init(key),
        Transition(None, jnp.array([2, 7]), jnp.array([1.0, -1.0]), None, False, False),
    )[0]
    _, info = agent.act(key, state, BanditObs(available=jnp.ones(10, bool)))
    t = 3.0  # two observations so far, plus one
    beta = 2 * np.log(10 * t**2 * np.pi**2 / (6 * 0.1))
    std = np.sqrt(np.clip(np.diag(np.asarray(state.covariance)), 0, None))
    expected = np.asarray(state.mean) + np.sqrt(beta) * std
    np.testing.assert_allclose(np.asarray(info.scores), expected, rtol=1e-5)


AGENTS = {
    "gp_thompson_sampling": bandits.gp_thompson_sampling,
    "gp_ucb": bandits.gp_ucb,
    "irgp_ucb": bandits.irgp_ucb,
}


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agents_contract_and_masks(name, key):
    candidates = np.random.default_rng(2).uniform(size=(15, 2))
    agent = AGENTS[name](candidates, lengthscale=0.3, noise_std=0.2)
    obs = BanditObs(available=jnp.ones(15, bool))
    transition = Transition(obs, jnp.array(4), jnp.array(0.7), obs, False, False)
    check_agent(agent, obs, transition)
    available = jnp.zeros(15, bool).at[jnp.array([1, 9])].set(True)
    masked_obs = BanditObs(available=available)
    state = jax.jit(agent.update)(key, agent.init(key), transition)[0]
    actions, _ = jax.jit(jax.vmap(agent.act, (0, None, None)))(
        jax.random.split(key, 200), state, masked_obs
    )
    assert set(np.unique(np.asarray(actions))) <= {1, 9}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="candidates"):
        bandits.gp_ucb(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="kernel"):
        bandits.gp_thompson_sampling(np.zeros((3, 1)), kernel="linear")
    with pytest.raises(ValueError, match="lengthscale"):
        bandits.irgp_ucb(np.zeros((3, 1)), lengthscale=0.0)
    with pytest.raises(ValueError, match="delta"):
        bandits.gp_ucb(np.zeros((3, 1)), delta=1.5)
    with pytest.raises(ValueError, match="scale"):
        bandits.irgp_ucb(np.zeros((3, 1)), scale=-1.0)


NUM_PATH_CANDIDATES = 30


def _path_params(num_seeds):
    candidates = np.linspace(0, 1, NUM_PATH_CANDIDATES)[:, None]
    keys = jax.random.split(jax.random.key(5), num_seeds)
    return jax.vmap(
        lambda k: envs.gp_sample_path_params(
            k, candidates, lengthscale=0.1, noise_std=0.1
        )
    )(keys)


def _cumulative_regret(agent, num_steps=40, num_seeds=10):
    """Cumulative regret on GP sample paths drawn from the agents' own prior
    (one path per seed): Bayesian regret."""
    env = envs.CandidateSetBandit(NUM_PATH_CANDIDATES)
    _, metrics = bayesrl.run_many(
        jax.random.key(6),
        agent,
        env,
        _path_params(num_seeds),
        num_steps,
        num_seeds,
        batched_env_params=True,
    )
    return np.asarray(metrics.regret, np.float64).sum(1)


def _uniform_regret(num_steps=40, num_seeds=10):
    """Uniform play's expected cumulative regret on the same paths, exactly:
    ``T (max f - mean f)`` per path."""
    values = np.asarray(_path_params(num_seeds).values, np.float64)
    return num_steps * (values.max(axis=1) - values.mean(axis=1))


def _assert_less(regret_a, regret_b):
    """Upper end of a 99% Student-t interval of the paired difference of
    per-seed regrets below 0."""
    difference = regret_a - regret_b
    quantile = stats.t.ppf(0.995, difference.size - 1)
    upper = difference.mean() + quantile * difference.std(ddof=1) / np.sqrt(
        difference.size
    )
    assert upper < 0, (regret_a.mean(), regret_b.mean(), upper)


def test_irgp_ucb_beats_uniform_on_gp_sample_paths():
    candidates = np.linspace(0, 1, NUM_PATH_CANDIDATES)[:, None]
    uniform = _uniform_regret()
    # The other agents' orderings are slow-marked (GP-UCB's scores are also
    # checked exactly above).
    agent = bandits.irgp_ucb(candidates, lengthscale=0.1, noise_std=0.1)
    _assert_less(_cumulative_regret(agent), uniform)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gp_thompson_sampling", "gp_ucb"])
def test_gp_ts_and_gp_ucb_beat_uniform_slow(name):
    candidates = np.linspace(0, 1, NUM_PATH_CANDIDATES)[:, None]
    agent = AGENTS[name](candidates, lengthscale=0.1, noise_std=0.1)
    uniform = _uniform_regret(100, 32)
    _assert_less(_cumulative_regret(agent, 100, 32), uniform)


@pytest.mark.slow
def test_irgp_ucb_beats_gp_ucb_slow():
    """Srinivas's growing beta over-explores: IRGP-UCB's constant-in-t mean
    beta gives lower cumulative regret (the paper's figures)."""
    candidates = np.linspace(0, 1, NUM_PATH_CANDIDATES)[:, None]
    kwargs = dict(lengthscale=0.1, noise_std=0.1)
    irgp = _cumulative_regret(bandits.irgp_ucb(candidates, **kwargs), 200, 64)
    gp_ucb = _cumulative_regret(bandits.gp_ucb(candidates, **kwargs), 200, 64)
    _assert_less(irgp, gp_ucb)


@pytest.mark.parametrize("name", ["gp_thompson_sampling", "gp_ucb", "irgp_ucb"])
def test_facade_save_load_round_trip(name, tmp_path):
    """GP-TS saves as ``thompson_sampling`` over the GP belief; the UCB rules
    save their own keyword arguments. A loaded bandit continues exactly."""
    agent = AGENTS[name](np.linspace(0, 1, 8), lengthscale=0.3, noise_std=0.2)
    original = bayesrl.Bandit(agent, seed=3)
    original.update([2, 5], [0.4, -0.1])
    original.save(tmp_path / "gp.zip")
    loaded = bayesrl.Bandit.load(tmp_path / "gp.zip")
    for step in range(3):
        a = original.update_and_select([step], [0.1 * step])
        b = loaded.update_and_select([step], [0.1 * step])
        assert a == b
