"""Conjugate beliefs: exact posteriors against closed forms, batching,
discounting, windows, quantiles and Thompson draws against the analytic law."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl import beliefs
from bayesrl.testing import check_belief

K = 4
RNG = np.random.default_rng(0)
ARMS = RNG.integers(0, K, size=50).astype(np.int32)
BINARY = (RNG.random(50) < 0.4).astype(np.float32)
GAUSS = RNG.normal(0.3, 2.0, size=50).astype(np.float32)
WEIGHTS = RNG.uniform(0.5, 2.0, size=50).astype(np.float32)


def add(belief, state, arms, rewards, weights=None):
    weights = np.ones_like(rewards) if weights is None else weights
    return belief.update(
        state, jnp.asarray(arms), jnp.asarray(rewards), jnp.asarray(weights)
    )


@pytest.mark.parametrize(
    "belief,rewards",
    [
        (beliefs.beta_bernoulli(K), BINARY),
        (beliefs.beta_bernoulli(K, window=64), BINARY),
        (beliefs.gaussian(K, noise_std=2.0), GAUSS),
        (beliefs.normal_gamma(K), GAUSS),
    ],
)
def test_belief_contract(belief, rewards):
    check_belief(belief, ARMS, rewards, rtol=1e-4)


def test_beta_bernoulli_posterior_is_exact():
    belief = beliefs.beta_bernoulli(K, prior_alpha=2.0, prior_beta=[1.0, 2.0, 3.0, 4.0])
    state = add(belief, belief.init(), ARMS, BINARY, WEIGHTS)
    for k in range(K):
        mask = ARMS == k
        np.testing.assert_allclose(
            state.alpha[k], 2.0 + np.sum(WEIGHTS[mask] * BINARY[mask]), rtol=1e-6
        )
        np.testing.assert_allclose(
            state.beta[k],
            (1.0 + k) + np.sum(WEIGHTS[mask] * (1 - BINARY[mask])),
            rtol=1e-6,
        )
    np.testing.assert_allclose(
        belief.mean(state), state.alpha / (state.alpha + state.beta)
    )


def test_time_discount_fixed_point():
    # Always pulling arm 0 with reward 1: s <- gamma s + 1 converges to 1/(1-gamma).
    gamma = 0.9
    belief = beliefs.beta_bernoulli(K, discount=gamma)
    state = belief.init()
    for _ in range(300):
        state = add(belief, state, np.array([0], np.int32), np.array([1.0], np.float32))
    np.testing.assert_allclose(state.successes[0], 1.0 / (1.0 - gamma), rtol=1e-4)
    np.testing.assert_allclose(state.failures, 0.0)


def test_time_discount_relaxes_unpulled_arms_to_the_prior():
    belief = beliefs.beta_bernoulli(K, discount=0.5)
    state = add(
        belief, belief.init(), np.array([1], np.int32), np.array([1.0], np.float32)
    )
    for _ in range(60):
        state = add(belief, state, np.array([0], np.int32), np.array([0.0], np.float32))
    np.testing.assert_allclose(state.alpha[1], 1.0, atol=1e-6)


def test_visit_discount_is_the_mopps_update():
    # alpha' = lam alpha + (1 - lam) alpha0 + s for visited arms; others untouched.
    lam, alpha0, beta0 = 0.7, 2.0, 3.0
    belief = beliefs.beta_bernoulli(
        K, prior_alpha=alpha0, prior_beta=beta0, visit_discount=lam
    )
    state = add(belief, belief.init(), ARMS[:20], BINARY[:20])
    arms = np.array([0, 0, 2], np.int32)
    rewards = np.array([1.0, 0.0, 1.0], np.float32)
    new = add(belief, state, arms, rewards)
    for k, successes, failures in [(0, 1.0, 1.0), (2, 1.0, 0.0)]:
        np.testing.assert_allclose(
            new.alpha[k],
            lam * state.alpha[k] + (1 - lam) * alpha0 + successes,
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            new.beta[k], lam * state.beta[k] + (1 - lam) * beta0 + failures, rtol=1e-6
        )
    for k in (1, 3):
        assert new.alpha[k] == state.alpha[k] and new.beta[k] == state.beta[k]


def test_sliding_window_equals_recount_of_last_w():
    window = 7
    belief = beliefs.beta_bernoulli(K, window=window)
    state = belief.init()
    for start in range(0, 48, 3):  # batches of 3, with one padding item each
        arms = np.append(ARMS[start : start + 3], -1).astype(np.int32)
        rewards = np.append(BINARY[start : start + 3], 0.0).astype(np.float32)
        state = add(belief, state, arms, rewards)
        seen = ARMS[: start + 3][-window:], BINARY[: start + 3][-window:]
        for k in range(K):
            mask = seen[0] == k
            np.testing.assert_allclose(
                state.successes[k], seen[1][mask].sum(), atol=1e-5
            )
            np.testing.assert_allclose(
                state.failures[k], (1 - seen[1][mask]).sum(), atol=1e-5
            )


def test_gaussian_posterior_is_exact():
    belief = beliefs.gaussian(
        K, noise_std=[1.0, 2.0, 0.5, 3.0], prior_mean=0.5, prior_std=2.0
    )
    state = add(belief, belief.init(), ARMS, GAUSS, WEIGHTS)
    sigma = np.array([1.0, 2.0, 0.5, 3.0])
    for k in range(K):
        mask = ARMS == k
        precision = 1 / 4.0 + WEIGHTS[mask].sum() / sigma[k] ** 2
        mean = (
            0.5 / 4.0 + (WEIGHTS[mask] * GAUSS[mask]).sum() / sigma[k] ** 2
        ) / precision
        np.testing.assert_allclose(state.precision[k], precision, rtol=1e-5)
        np.testing.assert_allclose(state.mean[k], mean, rtol=1e-5, atol=1e-6)


def test_normal_gamma_posterior_is_exact():
    mu0, kappa0, alpha0, beta0 = 0.2, 0.5, 2.0, 1.5
    belief = beliefs.normal_gamma(K, mu0, kappa0, alpha0, beta0)
    state = belief.init()
    for start in range(0, 50, 5):  # several merges (Chan et al.)
        sl = slice(start, start + 5)
        state = add(belief, state, ARMS[sl], GAUSS[sl], WEIGHTS[sl])
    for k in range(K):
        mask = ARMS == k
        w, y = WEIGHTS[mask].astype(np.float64), GAUSS[mask].astype(np.float64)
        n = w.sum()
        ybar = (w * y).sum() / n
        m2 = (w * (y - ybar) ** 2).sum()
        kappa = kappa0 + n
        np.testing.assert_allclose(state.precision_scale[k], kappa, rtol=1e-5)
        np.testing.assert_allclose(
            state.mean[k], (kappa0 * mu0 + n * ybar) / kappa, rtol=1e-5
        )
        np.testing.assert_allclose(state.shape[k], alpha0 + n / 2, rtol=1e-5)
        rate = beta0 + m2 / 2 + kappa0 * n * (ybar - mu0) ** 2 / (2 * kappa)
        np.testing.assert_allclose(state.rate[k], rate, rtol=1e-4)


def test_quantiles_match_scipy():
    bb = beliefs.beta_bernoulli(K)
    state = add(bb, bb.init(), ARMS, BINARY)
    level = 0.9
    expected = stats.beta(np.asarray(state.alpha), np.asarray(state.beta)).ppf(level)
    np.testing.assert_allclose(bb.quantile(state, level), expected, atol=1e-5)

    g = beliefs.gaussian(K, noise_std=2.0)
    gs = add(g, g.init(), ARMS, GAUSS)
    expected = np.asarray(gs.mean) + stats.norm.ppf(level) / np.sqrt(
        np.asarray(gs.precision)
    )
    np.testing.assert_allclose(g.quantile(gs, level), expected, rtol=1e-5)

    ng = beliefs.normal_gamma(K)
    ns = add(ng, ng.init(), ARMS, GAUSS)
    scale = np.sqrt(
        np.asarray(ns.rate) / (np.asarray(ns.shape) * np.asarray(ns.precision_scale))
    )
    expected = np.asarray(ns.mean) + scale * stats.t(2 * np.asarray(ns.shape)).ppf(
        level
    )
    np.testing.assert_allclose(ng.quantile(ns, level), expected, rtol=1e-4)


def _draws(belief, state, n=20_000):
    keys = jax.random.split(jax.random.key(21), n)
    return np.asarray(jax.jit(jax.vmap(lambda k: belief.sample(k, state)))(keys))


def test_thompson_draws_follow_the_analytic_posterior():
    bb = beliefs.beta_bernoulli(K)
    state = add(bb, bb.init(), ARMS, BINARY)
    draws = _draws(bb, state)
    for k in range(K):
        law = stats.beta(float(state.alpha[k]), float(state.beta[k]))
        assert stats.kstest(draws[:, k], law.cdf).pvalue > 1e-3

    g = beliefs.gaussian(K, noise_std=2.0)
    gs = add(g, g.init(), ARMS, GAUSS)
    draws = _draws(g, gs)
    for k in range(K):
        law = stats.norm(float(gs.mean[k]), float(gs.precision[k]) ** -0.5)
        assert stats.kstest(draws[:, k], law.cdf).pvalue > 1e-3

    # Normal-Gamma: the marginal of mu is a scaled Student t.
    ng = beliefs.normal_gamma(K)
    ns = add(ng, ng.init(), ARMS, GAUSS)
    draws = _draws(ng, ns)
    for k in range(K):
        scale = float(np.sqrt(ns.rate[k] / (ns.shape[k] * ns.precision_scale[k])))
        law = stats.t(2 * float(ns.shape[k]), loc=float(ns.mean[k]), scale=scale)
        assert stats.kstest(draws[:, k], law.cdf).pvalue > 1e-3


def test_no_nan_after_a_million_observations():
    belief = beliefs.beta_bernoulli(K)
    state = add(
        belief,
        belief.init(),
        np.array([0, 1], np.int32),
        np.array([1.0, 0.0], np.float32),
        np.array([1e6, 1e6], np.float32),
    )
    assert bool(jnp.all(jnp.isfinite(belief.sample(jax.random.key(0), state))))
    ng = beliefs.normal_gamma(K)
    ns = add(
        ng,
        ng.init(),
        np.zeros(4, np.int32),
        np.array([1e3, 1e3 + 1, 1e3, 1e3 - 1], np.float32),
        np.full(4, 2.5e5, np.float32),
    )
    assert bool(jnp.all(jnp.isfinite(ng.sample(jax.random.key(0), ns))))


@pytest.mark.parametrize(
    "factory,kwargs,match",
    [
        (beliefs.beta_bernoulli, dict(num_arms=1), "num_arms"),
        (beliefs.beta_bernoulli, dict(num_arms=3, prior_alpha=0.0), "prior_alpha"),
        (beliefs.beta_bernoulli, dict(num_arms=3, prior_beta=[1.0, 2.0]), "prior_beta"),
        (beliefs.beta_bernoulli, dict(num_arms=3, discount=1.5), "discount"),
        (
            beliefs.beta_bernoulli,
            dict(num_arms=3, visit_discount=0.0),
            "visit_discount",
        ),
        (beliefs.beta_bernoulli, dict(num_arms=3, window=0), "window"),
        (beliefs.beta_bernoulli, dict(num_arms=3, window=5, discount=0.9), "window"),
        (beliefs.gaussian, dict(num_arms=3, noise_std=-1.0), "noise_std"),
        (
            beliefs.normal_gamma,
            dict(num_arms=3, prior_shape=float("nan")),
            "prior_shape",
        ),
    ],
)
def test_bad_hyper_parameters_are_refused(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_hyper_parameters_can_be_traced():
    # vmap over the discount: the factory accepts tracers and skips eager checks.
    def posterior_alpha(gamma):
        belief = beliefs.beta_bernoulli(K, discount=gamma)
        state = add(
            belief, belief.init(), np.array([0], np.int32), np.array([1.0], np.float32)
        )
        state = add(belief, state, np.array([0], np.int32), np.array([1.0], np.float32))
        return state.alpha[0]

    alphas = jax.vmap(posterior_alpha)(jnp.array([1.0, 0.5]))
    np.testing.assert_allclose(alphas, [3.0, 2.5])


@pytest.mark.parametrize(
    "a,b", [(1.0, 1.0), (3.0, 500.0), (2000.0, 7.0), (50.0, 50.0), (1.0, 3.0)]
)
@pytest.mark.parametrize("level", [0.01, 0.5, 0.99, 1 - 1e-5])
def test_beta_quantile_at_bayes_ucb_levels(a, b, level):
    expected = stats.beta(a, b).ppf(level)
    # The solver, in float64 where betainc is accurate: tight agreement.
    with jax.enable_x64(True):
        belief = beliefs.beta_bernoulli(2)
        state = belief.init()._replace(
            successes=jnp.array([a - 1.0, 0.0]), failures=jnp.array([b - 1.0, 0.0])
        )
        assert state.alpha.dtype == jnp.float64
        np.testing.assert_allclose(
            belief.quantile(state, level)[0], expected, rtol=1e-8
        )
    # float32: limited by float32 betainc near the tails, still far below any
    # gap between Bayes-UCB indices that matters.
    belief = beliefs.beta_bernoulli(2)
    state = belief.init()._replace(
        successes=jnp.array([a - 1.0, 0.0]), failures=jnp.array([b - 1.0, 0.0])
    )
    assert abs(float(belief.quantile(state, level)[0]) - expected) < 1e-4


@pytest.mark.parametrize(
    "factory, name, value",
    [
        (beliefs.beta_bernoulli, "prior_alpha", 1e-39),
        (beliefs.beta_bernoulli, "prior_alpha", 1e39),
        (beliefs.beta_bernoulli, "prior_beta", 1e-30),
        (beliefs.beta_bernoulli, "prior_beta", [1.0, 1.0, 1e20]),
        (beliefs.gaussian, "prior_std", 1e-20),
        (beliefs.gaussian, "noise_std", 1e30),
        (beliefs.gaussian, "prior_mean", 1e30),
        (beliefs.gaussian, "prior_mean", float("nan")),
        (beliefs.gaussian, "prior_mean", [0.0, 0.0]),
        (beliefs.normal_gamma, "prior_shape", 1e-39),
        (beliefs.normal_gamma, "prior_rate", 1e39),
        (beliefs.normal_gamma, "prior_precision_scale", 1e-25),
        (beliefs.normal_gamma, "prior_mean", -float("inf")),
    ],
)
def test_factories_refuse_hyper_parameters_outside_the_state_dtype(
    factory, name, value
):
    with pytest.raises(ValueError, match=name):
        factory(3, **{name: value})


@pytest.mark.parametrize("value", [1e-9, 1e-3, 1.0, 1e9])
def test_factories_accept_representable_hyper_parameters_and_draw_no_nan(value):
    for belief in (
        beliefs.beta_bernoulli(3, prior_alpha=value, prior_beta=value),
        beliefs.gaussian(3, prior_std=value, noise_std=value, prior_mean=value),
        beliefs.normal_gamma(3, prior_shape=value, prior_rate=value),
    ):
        state = belief.init()
        for seed in range(20):
            draw = belief.sample(jax.random.key(seed), state)
            assert not bool(jnp.any(jnp.isnan(draw))), (belief.name, value)
