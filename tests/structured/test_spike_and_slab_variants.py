"""Spike-and-slab belief variants: the Gaussian slab's closed-form CAVI, the
elastic-net coordinate descent, and the ridge/LASSO cold start and restarts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Lasso

import bayesrl
from bayesrl import bandits, envs
from bayesrl.beliefs import spike_and_slab_linear
from bayesrl.beliefs.elastic_net import elastic_net, universal_lasso_penalty
from bayesrl.beliefs.spike_and_slab_linear import (
    Hyperparameters,
    cold_initialisation,
    fit,
)

_fit = jax.jit(fit, static_argnames=("max_sweeps", "newton_steps", "slab"))
_elastic_net = jax.jit(elastic_net, static_argnames=("num_sweeps",))


def synthetic_regression(seed, n=150, p=60, support=(3, 17, 41), noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    theta = np.zeros(p)
    theta[list(support)] = [2.0, -1.5, 1.0]
    y = x @ theta + noise * rng.normal(size=n)
    return x, y, theta


def numpy_gaussian_cavi(x, y, noise, mean, std, inclusion, log_odds, rate, sweeps):
    """Independent NumPy CAVI for the Gaussian slab ``N(0, 1/rate^2)``
    (Carbonetto & Stephens 2012, section 2): returns the variational
    parameters and the ELBO after each sweep."""
    x, y = x / noise, y / noise
    mean, std, inclusion = mean.copy(), std.copy(), inclusion.copy()
    half_curvature = 0.5 * (x**2).sum(0)
    order = np.argsort(-np.abs(mean), kind="stable")
    elbos = []
    for _ in range(sweeps):
        for j in order:
            others = x @ (inclusion * mean) - x[:, j] * inclusion[j] * mean[j]
            c = x[:, j] @ others - x[:, j] @ y
            variance = 1.0 / (2 * half_curvature[j] + rate**2)
            mean[j] = -c * variance
            std[j] = np.sqrt(variance)
            inclusion[j] = 1.0 / (
                1.0
                + np.exp(
                    -(log_odds + np.log(rate * std[j]) + mean[j] ** 2 / (2 * variance))
                )
            )
        elbos.append(numpy_elbo(x, y, mean, std, inclusion, log_odds, rate))
    return mean, std, inclusion, np.array(elbos)


def numpy_elbo(x, y, mean, std, inclusion, log_odds, rate):
    """E_q log p(y, theta, z) + H(q) for the Gaussian slab, term by term."""
    second_moment = inclusion * (mean**2 + std**2)
    first_moment = inclusion * mean
    fitted = x @ first_moment
    expected_rss = (
        np.sum((y - fitted) ** 2)
        + np.sum((x**2).sum(0) * second_moment)
        - np.sum((x**2).sum(0) * first_moment**2)
    )
    log_likelihood = -0.5 * expected_rss - 0.5 * y.size * np.log(2 * np.pi)
    log_w = -np.log1p(np.exp(-log_odds))
    log_not_w = -np.log1p(np.exp(log_odds))
    slab = np.log(rate) - 0.5 * np.log(2 * np.pi) - 0.5 * rate**2 * (mean**2 + std**2)
    normal_entropy = 0.5 * np.log(2 * np.pi * np.e * std**2)
    entropy = stats.bernoulli(inclusion).entropy()
    return (
        log_likelihood
        + np.sum(inclusion * (log_w + slab + normal_entropy))
        + np.sum((1 - inclusion) * log_not_w)
        + np.sum(entropy)
    )


def test_gaussian_slab_cavi_matches_numpy_implementation():
    x, y, _ = synthetic_regression(2, n=40, p=10, support=(1, 4, 7))
    rng = np.random.default_rng(3)
    start = (rng.normal(size=10), np.full(10, 0.7), rng.uniform(size=10))
    log_odds, rate, noise = np.log(0.3), 1.3, 0.8
    with jax.enable_x64(True):
        mean, std, inclusion, info = _fit(
            jnp.asarray(x.T),
            jnp.asarray(y),
            jnp.ones(40),
            *map(jnp.asarray, start),
            jnp.float64(noise),
            Hyperparameters(jnp.float64(rate), jnp.float64(log_odds)),
            max_sweeps=6,
            tolerance=0.0,
            newton_steps=1,
            slab="gaussian",
        )
    expected = numpy_gaussian_cavi(x, y, noise, *start, log_odds, rate, 6)
    assert int(info.num_sweeps) == 6
    for got, want in zip((mean, std, inclusion), expected[:3], strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(info.elbo_per_sweep), expected[3], rtol=1e-9)


def test_gaussian_slab_elbo_never_decreases_and_support_is_recovered():
    x, y, theta = synthetic_regression(0)
    p = x.shape[1]
    mean, std, inclusion, info = _fit(
        jnp.asarray(x.T, jnp.float32),
        jnp.asarray(y, jnp.float32),
        jnp.ones(x.shape[0]),
        jnp.zeros(p),
        jnp.ones(p),
        jnp.zeros(p),
        jnp.float32(0.5),
        Hyperparameters(jnp.float32(1.0), jnp.log(1.0 / p**1.001)),
        max_sweeps=40,
        tolerance=jnp.float32(0.0),
        newton_steps=1,
        slab="gaussian",
    )
    num_sweeps = int(info.num_sweeps)
    trace = np.asarray(info.elbo_per_sweep, np.float64)[:num_sweeps]
    assert num_sweeps >= 3 and np.all(np.isfinite(trace))
    # float32 ELBO of magnitude ~1e2-1e3: allow rounding of 1e-5 relative.
    assert np.all(np.diff(trace) >= -1e-5 * np.abs(trace).max()), trace
    truth = theta != 0
    inclusion = np.asarray(inclusion)
    assert np.all(inclusion[truth] > 0.99) and np.all(inclusion[~truth] < 0.1)
    # The N(0, 1) slab shrinks by h / (h + 1/2) with h = n / (2 sigma^2) = 300.
    np.testing.assert_allclose(
        np.asarray(mean)[truth], theta[truth], atol=4 * 0.5 / np.sqrt(150)
    )


def test_lasso_and_ridge_coordinate_descent_against_references():
    """LASSO equals scikit-learn's ``Lasso(fit_intercept=False)`` (same
    objective) at the universal penalty; ridge equals the closed form
    ``(X^T X / n + l2 I)^-1 X^T y / n``. Zero-weight rows are ignored."""
    x, y, _ = synthetic_regression(4, n=80, p=30, support=(2, 9, 20))
    weights = np.ones(80)
    weights[70:] = 0.0  # unused buffer rows
    penalty = float(universal_lasso_penalty(30, jnp.asarray(weights)))
    np.testing.assert_allclose(penalty, np.sqrt(2 * np.log(30) / 70), rtol=1e-6)
    with jax.enable_x64(True):
        args = (jnp.asarray(x.T), jnp.asarray(y), jnp.asarray(weights))
        lasso = np.asarray(_elastic_net(*args, penalty, 0.0, num_sweeps=200))
        ridge = np.asarray(_elastic_net(*args, 0.0, 0.5, num_sweeps=200))
    reference = Lasso(alpha=penalty, fit_intercept=False, tol=1e-12, max_iter=100_000)
    reference.fit(x[:70], y[:70])
    np.testing.assert_allclose(lasso, reference.coef_, atol=1e-8)
    assert 0 < np.count_nonzero(lasso) < 30
    gram = x[:70].T @ x[:70] / 70
    expected = np.linalg.solve(gram + 0.5 * np.eye(30), x[:70].T @ y[:70] / 70)
    np.testing.assert_allclose(ridge, expected, atol=1e-8)


def test_cold_initialisation_uses_ridge_means_and_lasso_support():
    x, y, theta = synthetic_regression(5, n=100, p=40, support=(3, 17, 30))
    noise = 0.5
    mean, std, inclusion = jax.jit(cold_initialisation)(
        jnp.asarray(x.T, jnp.float32),
        jnp.asarray(y, jnp.float32),
        jnp.ones(100),
        jnp.float32(noise),
    )
    # Rescaled data: ridge with penalty (1/n) ||b||^2 / 2 in glmnet's scale,
    # i.e. (X^T X + sigma^2 I)^-1 X^T y on the original data.
    expected_mean = np.linalg.solve(x.T @ x + noise**2 * np.eye(40), x.T @ y)
    np.testing.assert_allclose(np.asarray(mean), expected_mean, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(std), 1.0)
    reference = Lasso(
        alpha=np.sqrt(2 * np.log(40) / 100), fit_intercept=False, tol=1e-12
    ).fit(x / noise, y / noise)
    support = reference.coef_ != 0
    inclusion = np.asarray(inclusion)
    assert set(np.flatnonzero(theta)) <= set(np.flatnonzero(support))
    np.testing.assert_array_equal(inclusion[support], 1.0)
    np.testing.assert_allclose(inclusion[~support], support.sum() / 40, rtol=1e-6)


@pytest.mark.parametrize(
    "slab", [pytest.param("laplace", marks=pytest.mark.slow), "gaussian"]
)
def test_cold_restart_every_t1_fits_starts_from_the_cold_init(slab):
    """With ``cold_restart_every=3`` the fits 0 and 3 of a group equal a fit
    started from :func:`cold_initialisation` on the buffer, and fits 1, 2 and
    4 one started from the previous fit; without the option fit 3 is warm."""
    rng = np.random.default_rng(6)
    dim, num_rows = 8, 6
    features = rng.normal(size=(num_rows, dim))
    targets = features[:, 0] - features[:, 3] + 0.1 * rng.normal(size=num_rows)
    kwargs = dict(capacity=8, noise_std=0.5, max_sweeps=3, tolerance=0.0, slab=slab)
    restarting = spike_and_slab_linear(dim, cold_restart_every=3, **kwargs)
    warm_only = spike_and_slab_linear(dim, **kwargs)
    hyper = Hyperparameters(jnp.float32(1.0), jnp.log(1.0 / dim**1.001))
    state, plain = restarting.init(), warm_only.init()
    update = jax.jit(restarting.update)
    for i in range(5):
        previous = state
        state, _ = update(state, 0, jnp.asarray(features[i]), targets[i])
        plain, _ = jax.jit(warm_only.update)(
            plain, 0, jnp.asarray(features[i]), targets[i]
        )
        weights = jnp.asarray((np.arange(8) <= i).astype(np.float32))
        if i % 3 == 0:
            start = cold_initialisation(state.features, state.targets, weights, 0.5)
        else:
            start = (previous.mean[0], previous.std[0], previous.inclusion[0])
        expected = _fit(
            state.features,
            state.targets,
            weights,
            *start,
            jnp.float32(0.5),
            hyper,
            max_sweeps=3,
            tolerance=jnp.float32(0.0),
            newton_steps=8,
            slab=slab,
        )
        np.testing.assert_allclose(state.mean[0], expected[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            state.inclusion[0], expected[2], rtol=1e-5, atol=1e-6
        )
        assert int(state.num_fits[0]) == i + 1
    assert not np.allclose(np.asarray(plain.inclusion), np.asarray(state.inclusion))
    with pytest.raises(ValueError, match="cold_restart_every"):
        spike_and_slab_linear(dim, cold_restart_every=0)
    with pytest.raises(ValueError, match="slab"):
        spike_and_slab_linear(dim, slab="horseshoe")


def _regret(agent, env, params, num_steps, num_seeds, seed=3):
    _, metrics = bayesrl.run_many(
        jax.random.key(seed), agent, env, params, num_steps, num_seeds
    )
    return np.asarray(metrics.regret, np.float64).sum(1)


def test_gaussian_slab_sparse_ts_beats_linear_ts_fast():
    """Disjoint sparse instance (K = 3, d = 40, s = 2, T = 120, 8 paired
    seeds): the Gaussian-slab sparse TS (noise estimated) has lower
    cumulative regret than linear TS told the true noise std (upper end of a
    99% paired Student-t interval below 0)."""
    env = envs.SparseLinearBandit(3, 40, 2)
    params = env.default_params.replace(noise_std=jnp.float32(0.3))
    sparse = bandits.sparse_thompson_sampling(
        3, 40, capacity=120, slab="gaussian", max_sweeps=3
    )
    linear = bandits.linear_thompson_sampling(3, 40, noise_std=0.3)
    difference = _regret(sparse, env, params, 120, 8) - _regret(
        linear, env, params, 120, 8
    )
    quantile = stats.t.ppf(0.995, difference.size - 1)
    upper = difference.mean() + quantile * difference.std(ddof=1) / np.sqrt(8)
    assert upper < 0, (difference.mean(), upper)
