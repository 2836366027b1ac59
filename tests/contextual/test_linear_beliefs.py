"""Linear beliefs: exact posteriors against dense NumPy closed forms, batched =
sequential, discount, and the law of the posterior draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.beliefs import linear_gaussian, linear_normal_inverse_gamma

NUM_ARMS, DIM, NUM_ITEMS = 3, 4, 40


def _data(layout, seed=0):
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, NUM_ARMS, NUM_ITEMS)
    if layout == "disjoint":
        contexts = rng.normal(size=(NUM_ITEMS, DIM))
        features = contexts
    else:
        contexts = rng.normal(size=(NUM_ITEMS, NUM_ARMS, DIM))
        features = contexts[np.arange(NUM_ITEMS), arms]
    rewards = features @ rng.normal(size=DIM) + rng.normal(size=NUM_ITEMS)
    weights = rng.uniform(0.5, 2.0, NUM_ITEMS)
    return arms, rewards, features, weights


def _groups(layout, arms):
    if layout == "disjoint":
        return [arms == k for k in range(NUM_ARMS)]
    return [np.ones(arms.shape, bool)]


def _update(belief, state, arms, rewards, features, weights):
    return jax.jit(belief.update)(
        state,
        jnp.asarray(arms, jnp.int32),
        jnp.asarray(rewards),
        jnp.asarray(features),
        jnp.asarray(weights),
    )


@pytest.mark.parametrize(
    "layout,x64", [("disjoint", False), ("disjoint", True), ("shared", False)]
)
def test_known_noise_posterior_is_exact(layout, x64):
    noise_std, prior_scale, prior_mean = 0.7, 2.0, 0.3
    arms, rewards, features, weights = _data(layout)
    with jax.enable_x64(x64):
        belief = linear_gaussian(
            NUM_ARMS, DIM, noise_std, prior_scale, prior_mean, layout=layout
        )
        state = belief.init()
        chunk = 1 if x64 else 8  # sequential and batched updates
        for start in range(0, NUM_ITEMS, chunk):
            stop = start + chunk
            state = _update(
                belief,
                state,
                arms[start:stop],
                rewards[start:stop],
                features[start:stop],
                weights[start:stop],
            )
        mean = np.asarray(belief.parameter_mean(state))
        covariance = np.asarray(belief.parameter_covariance(state))
    tolerance = 1e-10 if x64 else 2e-5
    for g, rows in enumerate(_groups(layout, arms)):
        x, r, w = features[rows], rewards[rows], weights[rows]
        precision = np.eye(DIM) / prior_scale**2 + (x.T * w) @ x / noise_std**2
        expected_cov = np.linalg.inv(precision)
        expected_mean = expected_cov @ (
            prior_mean / prior_scale**2 + (x.T * w) @ r / noise_std**2
        )
        np.testing.assert_allclose(mean[g], expected_mean, atol=tolerance * 10)
        np.testing.assert_allclose(covariance[g], expected_cov, atol=tolerance)


@pytest.mark.parametrize(
    "layout,x64", [("disjoint", False), ("shared", False), ("shared", True)]
)
def test_normal_inverse_gamma_posterior_is_exact(layout, x64):
    prior_scale, a0, b0 = 2.0, 3.0, 2.0
    arms, rewards, features, weights = _data(layout, seed=1)
    with jax.enable_x64(x64):
        belief = linear_normal_inverse_gamma(
            NUM_ARMS, DIM, prior_scale, a0, b0, layout=layout
        )
        state = _update(belief, belief.init(), arms, rewards, features, weights)
        mean = np.asarray(state.mean)
        rate = np.asarray(state.rate)
        shape = np.asarray(state.posterior_shape(layout))
        scaled_cov = np.asarray(state.scaled_covariance)
    tolerance = 1e-9 if x64 else 1e-4
    for g, rows in enumerate(_groups(layout, arms)):
        x, r, w = features[rows], rewards[rows], weights[rows]
        precision = np.eye(DIM) / prior_scale**2 + (x.T * w) @ x
        m = np.linalg.solve(precision, (x.T * w) @ r)
        b = b0 + 0.5 * (np.sum(w * r * r) - m @ precision @ m)
        np.testing.assert_allclose(mean[g], m, atol=tolerance * 10)
        np.testing.assert_allclose(
            scaled_cov[g], np.linalg.inv(precision), atol=tolerance
        )
        np.testing.assert_allclose(rate[g], b, rtol=tolerance * 10)
        np.testing.assert_allclose(shape[g], a0 + 0.5 * w.sum(), rtol=1e-6)


def test_noise_rate_is_clamped_at_its_prior_value():
    # Rewards exactly fitted by the prior mean: the bracket is 0 in exact
    # arithmetic and float32 cancellation must not push b_n below b0.
    belief = linear_normal_inverse_gamma(2, 2, prior_mean=1.0, noise_rate=1e-3)
    x = np.tile(np.array([[1e3, 1e3]]), (8, 1))
    state = _update(belief, belief.init(), np.zeros(8), x.sum(1), x, np.ones(8))
    assert np.all(np.asarray(state.rate) >= 1e-3)


@pytest.mark.parametrize("factory", [linear_gaussian, linear_normal_inverse_gamma])
def test_batched_update_equals_sequential_and_padding_is_inert(factory):
    arms, rewards, features, _ = _data("disjoint", seed=2)
    belief = factory(NUM_ARMS, DIM)
    ones = np.ones(NUM_ITEMS)
    batched = _update(belief, belief.init(), arms, rewards, features, ones)
    sequential = belief.init()
    for i in np.random.default_rng(0).permutation(NUM_ITEMS):
        sequential = _update(
            belief,
            sequential,
            arms[i : i + 1],
            rewards[i : i + 1],
            features[i : i + 1],
            ones[:1],
        )
    # The square root S is not unique (it depends on the order of the items);
    # the posterior it represents must agree.
    for summary in (
        belief.parameter_mean,
        belief.parameter_covariance,
        belief.counts,
        lambda state: state.gram,
        lambda state: state.moment,
    ):
        np.testing.assert_allclose(
            np.asarray(summary(batched)),
            np.asarray(summary(sequential)),
            atol=2e-4,
            rtol=2e-4,
        )
    padded = _update(
        belief,
        batched,
        np.array([-1, 0]),
        np.array([5.0, 5.0]),
        np.ones((2, DIM)),
        np.array([1.0, 0.0]),
    )
    for a, b in zip(jax.tree.leaves(padded), jax.tree.leaves(batched), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert belief.discount(batched, 1.0) is batched


@pytest.mark.parametrize("factory", [linear_gaussian, linear_normal_inverse_gamma])
def test_discount_scales_statistics_and_keeps_the_prior(factory):
    arms, rewards, features, _ = _data("disjoint", seed=3)
    gamma = 0.9
    discounted = factory(NUM_ARMS, DIM, discount=gamma)
    plain = factory(NUM_ARMS, DIM)
    state = discounted.init()
    reference = plain.init()
    for i in range(10):
        item = (arms[i : i + 1], rewards[i : i + 1], features[i : i + 1], np.ones(1))
        state = _update(discounted, state, *item)
        # By hand: age the plain state by one round, then add the item.
        reference = _update(plain, plain.discount(reference, gamma), *item)
    np.testing.assert_allclose(state.mean, reference.mean, atol=1e-4)
    np.testing.assert_allclose(state.counts, reference.counts, rtol=1e-6)
    expected_counts = np.zeros(NUM_ARMS)
    for i in range(10):
        expected_counts *= gamma
        expected_counts[arms[i]] += 1
    np.testing.assert_allclose(np.asarray(state.counts), expected_counts, rtol=1e-5)


def test_known_noise_draws_have_the_posterior_law(key):
    """Whitened draws ``S^{-1}(theta - m)`` are iid N(0, v^2): KS and moments."""
    arms, rewards, features, _ = _data("disjoint", seed=4)
    inflation = 1.5
    belief = linear_gaussian(NUM_ARMS, DIM, 0.5, inflation=inflation)
    state = _update(belief, belief.init(), arms, rewards, features, np.ones(NUM_ITEMS))
    keys = jax.random.split(key, 4000)
    draws = np.asarray(
        jax.jit(jax.vmap(belief.sample_parameters, (0, None)))(keys, state)
    )
    factor = np.asarray(state.factor, np.float64)
    whitened = np.einsum("gij,ngj->ngi", np.linalg.inv(factor), draws - state.mean)
    z = whitened.ravel() / inflation
    # 48 000 draws: KS at the 0.1% level, moments within 4 standard errors.
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    cov = np.cov(draws[:, 0].T)
    expected = inflation**2 * np.asarray(belief.parameter_covariance(state))[0]
    np.testing.assert_allclose(
        cov, expected, atol=6 * np.sqrt(2 / 4000) * expected.max()
    )


def test_unknown_noise_draws_have_the_student_t_law(key):
    """``x . theta`` is Student-t(2 a_n) with the closed-form location and scale."""
    arms, rewards, features, _ = _data("shared", seed=5)
    belief = linear_normal_inverse_gamma(
        NUM_ARMS, DIM, noise_shape=2.0, noise_rate=1.0, layout="shared"
    )
    state = _update(
        belief, belief.init(), arms[:6], rewards[:6], features[:6], np.ones(6)
    )
    context = np.random.default_rng(6).normal(size=(NUM_ARMS, DIM))
    keys = jax.random.split(key, 4000)
    scores = np.asarray(
        jax.jit(jax.vmap(belief.sample, (0, None, None)))(keys, state, context)
    )
    location = np.asarray(belief.mean(state, context))
    scale = np.sqrt(np.asarray(belief.variance(state, context)))
    degrees = 2 * float(state.posterior_shape("shared")[0])
    for k in range(NUM_ARMS):
        t = (scores[:, k] - location[k]) / scale[k]
        assert stats.kstest(t, "t", args=(degrees,)).pvalue > 1e-3


def test_quantiles_match_scipy():
    arms, rewards, features, _ = _data("disjoint", seed=7)
    context = np.random.default_rng(8).normal(size=DIM)
    with jax.enable_x64(True):
        for belief in (
            linear_gaussian(NUM_ARMS, DIM, 0.5),
            linear_normal_inverse_gamma(NUM_ARMS, DIM),
        ):
            state = _update(
                belief, belief.init(), arms[:9], rewards[:9], features[:9], np.ones(9)
            )
            location = np.asarray(belief.mean(state, context))
            scale = np.sqrt(np.asarray(belief.variance(state, context)))
            got = np.asarray(belief.quantile(state, context, 0.95))
            if belief.name == "linear_gaussian":
                expected = stats.norm.ppf(0.95, location, scale)
            else:
                degrees = 2 * np.asarray(state.posterior_shape("disjoint"))
                expected = stats.t.ppf(0.95, degrees, location, scale)
            np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(prior_scale=0.0), "prior_scale"),
        (dict(prior_scale=-1.0), "prior_scale"),
        (dict(noise_std=0.0), "noise_std"),
        (dict(noise_std=[1.0, 2.0]), "noise_std"),
        (dict(prior_mean=[0.0] * 3), "prior_mean"),
        (dict(layout="both"), "layout"),
        (dict(discount=1.5), "discount"),
        (dict(inflation=0.0), "inflation"),
    ],
)
def test_invalid_known_noise_hyper_parameters_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        linear_gaussian(NUM_ARMS, DIM, **kwargs)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(prior_scale=0.0), "prior_scale"),
        (dict(noise_shape=0.0), "noise_shape"),
        (dict(noise_rate=-1.0), "noise_rate"),
    ],
)
def test_invalid_unknown_noise_hyper_parameters_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        linear_normal_inverse_gamma(NUM_ARMS, DIM, **kwargs)


def test_square_root_updates_do_not_drift_in_float32():
    """2 000 rank-one updates with features scaled over two decades: the float32
    factor still matches the float64 closed form to float32 precision (the
    Sherman-Morrison drift of ``bandits.md`` 1.5 does not occur)."""
    num_items, dim = 2000, 6
    rng = np.random.default_rng(9)
    x = rng.normal(size=(num_items, dim)) * np.geomspace(0.1, 10.0, dim)
    arms = rng.integers(0, 2, num_items)
    r = rng.normal(size=num_items)
    belief = linear_gaussian(2, dim, noise_std=0.5)

    def add(state, item):
        features, arm, reward = item
        return belief.update(
            state, arm[None], reward[None], features[None], jnp.ones(1)
        ), None

    items = (
        jnp.asarray(x, jnp.float32),
        jnp.asarray(arms, jnp.int32),
        jnp.asarray(r, jnp.float32),
    )
    state, _ = jax.jit(lambda s: jax.lax.scan(add, s, items))(belief.init())
    for k in range(2):
        rows = arms == k
        precision = np.eye(dim) + x[rows].T @ x[rows] / 0.25
        covariance = np.linalg.inv(precision)
        mean = covariance @ (x[rows].T @ r[rows] / 0.25)
        got = np.asarray(state.covariance[k], np.float64)
        assert np.abs(got - covariance).max() < 1e-5 * np.abs(covariance).max()
        assert (
            np.abs(np.asarray(state.mean[k]) - mean).max() < 1e-5 * np.abs(mean).max()
        )
