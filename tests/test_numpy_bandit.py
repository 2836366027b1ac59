"""bayesrl.NumpyBandit: the same posterior as bayesrl.Bandit, exact choice laws.

Input validation and masks are shared with ``Bandit`` and tested for both
classes in tests/test_facade.py.
"""

import json
import zipfile

import jax
import numpy as np
import pytest
from scipy import integrate, stats

import bayesrl
from bayesrl import bandits, beliefs

NUM_ARMS = 6

AGENTS = {
    "beta": lambda: bandits.thompson_sampling(beliefs.beta_bernoulli(NUM_ARMS)),
    "beta_discounted": lambda: bandits.thompson_sampling(
        beliefs.beta_bernoulli(
            NUM_ARMS,
            prior_alpha=[0.5, 1.0, 2.0, 1.0, 3.0, 0.2],
            discount=0.9,
            visit_discount=0.7,
        )
    ),
    "beta_window": lambda: bandits.thompson_sampling(
        beliefs.beta_bernoulli(NUM_ARMS, window=8)
    ),
    "gaussian": lambda: bandits.thompson_sampling(
        beliefs.gaussian(NUM_ARMS, noise_std=0.5, prior_std=2.0, discount=0.95)
    ),
    "normal_gamma": lambda: bandits.thompson_sampling(
        beliefs.normal_gamma(NUM_ARMS, prior_shape=0.5, discount=0.9), batch_size=2
    ),
}


def _rewards(rng, name, size):
    if name.startswith("beta"):
        # Bernoulli rewards and some fractional evidence.
        return np.where(
            rng.random(size) < 0.3, rng.random(size), rng.random(size) < 0.4
        )
    return rng.normal(0.5, 1.0, size)


def _assert_states(a, b, **tolerance):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype
        if tolerance:
            np.testing.assert_allclose(x, y, **tolerance)
        else:
            np.testing.assert_array_equal(x, y)


# Single observations: additions only (no discount) are exact in any order.
# XLA:CPU contracts a * b + c into one fused multiply-add and may order a
# division differently, so a discounted update can differ by an ulp or two per
# round from NumPy's separately rounded steps; the discount contracts older
# differences (at most ~2 / (1 - gamma) ulp for gamma = 0.9, 0.95), so these
# compare to 64 float32 eps.
FLOAT32_EPS = float(np.finfo(np.float32).eps)
SINGLE_TOLERANCE = {
    "beta": {},
    "beta_window": {},
    "beta_discounted": dict(rtol=64 * FLOAT32_EPS, atol=1e-7),
    "gaussian": dict(rtol=64 * FLOAT32_EPS, atol=1e-7),
    "normal_gamma": dict(rtol=64 * FLOAT32_EPS, atol=1e-7),
}


@pytest.mark.parametrize("name", AGENTS)
def test_single_observations_give_bandits_posterior(name):
    """One unit-weight observation per update, as Python lists (the serving
    path) and as NumPy arrays: every state leaf equals Bandit's, bit for bit
    without a discount (see SINGLE_TOLERANCE)."""
    rng = np.random.default_rng(0)
    reference = bayesrl.Bandit(AGENTS[name](), seed=0)
    host = bayesrl.NumpyBandit(AGENTS[name](), seed=0)
    for step in range(60):
        arm = int(rng.integers(NUM_ARMS))
        reward = float(_rewards(rng, name, 1)[0])
        reference.update([arm], [reward])
        if step % 2:
            host.update([arm], [reward])
        else:
            host.update(np.array([arm]), np.array([reward]))
        _assert_states(host.state, reference.state, **SINGLE_TOLERANCE[name])
    np.testing.assert_allclose(
        host.posterior_mean(), reference.posterior_mean(), rtol=64 * FLOAT32_EPS
    )


@pytest.mark.parametrize("name", AGENTS)
def test_weighted_batches_give_bandits_posterior(name):
    """Batches of up to 6 weighted items with repeated arms. Sums over a batch
    are formed in another order (float64 then rounded, vs float32), so leaves
    agree to float32 rounding: at most ~100 roundings of 6e-8 relative each
    over the 40 rounds, hence rtol 1e-5."""
    rng = np.random.default_rng(1)
    reference = bayesrl.Bandit(AGENTS[name](), seed=0)
    host = bayesrl.NumpyBandit(AGENTS[name](), seed=0)
    for _ in range(40):
        size = int(rng.integers(1, 7))
        arms = rng.integers(0, 3, size)  # few arms: repeats in most batches
        rewards = _rewards(rng, name, size)
        weights = np.where(rng.random(size) < 0.2, 0.0, rng.uniform(0.5, 2.0, size))
        reference.update(arms, rewards, weights)
        host.update(arms, rewards, weights)
        _assert_states(host.state, reference.state, rtol=1e-5, atol=1e-6)


def _beta_probabilities(alpha, beta, best):
    """Exact P(arm k has the largest draw) (``best``) or the smallest, for
    independent Beta posteriors: integral of f_k prod_j F_j (or 1 - F_j)."""
    laws = [stats.beta(a, b) for a, b in zip(alpha, beta, strict=True)]
    out = []
    for k, law in enumerate(laws):
        others = [other for j, other in enumerate(laws) if j != k]

        def integrand(x, law=law, others=others):
            factor = np.prod([o.cdf(x) if best else o.sf(x) for o in others])
            return law.pdf(x) * factor

        out.append(integrate.quad(integrand, 0.0, 1.0, limit=200)[0])
    return np.array(out)


def _assert_frequencies(choices, probabilities, num_draws):
    """Each frequency within 4.5 binomial standard errors of its probability."""
    probabilities = np.asarray(probabilities)
    frequencies = np.bincount(np.ravel(choices), minlength=probabilities.size)
    frequencies = frequencies / num_draws
    error = np.sqrt(probabilities * (1.0 - probabilities) / num_draws)
    np.testing.assert_array_less(
        np.abs(frequencies - probabilities), 4.5 * error + 1e-12
    )


NUM_DRAWS = 20_000


def test_beta_choices_follow_the_exact_thompson_law():
    agent = bandits.thompson_sampling(
        beliefs.beta_bernoulli(
            3, prior_alpha=[2.0, 5.0, 3.0], prior_beta=[4.0, 3.0, 3.0]
        )
    )
    bandit = bayesrl.NumpyBandit(agent, seed=11)
    choices = [bandit.select() for _ in range(NUM_DRAWS)]
    probabilities = _beta_probabilities([2.0, 5.0, 3.0], [4.0, 3.0, 3.0], best=True)
    assert abs(probabilities.sum() - 1.0) < 1e-6
    _assert_frequencies(choices, probabilities, NUM_DRAWS)


def test_top_two_leaves_out_the_arm_with_the_smallest_draw():
    agent = bandits.thompson_sampling(
        beliefs.beta_bernoulli(
            3, prior_alpha=[2.0, 5.0, 3.0], prior_beta=[4.0, 3.0, 3.0]
        ),
        batch_size=2,
    )
    bandit = bayesrl.NumpyBandit(agent, seed=12)
    chosen = np.array([bandit.select() for _ in range(NUM_DRAWS)])
    assert chosen.dtype == np.int32 and np.all(chosen[:, 0] != chosen[:, 1])
    left_out = 3 - chosen.sum(axis=1)
    smallest = _beta_probabilities([2.0, 5.0, 3.0], [4.0, 3.0, 3.0], best=False)
    _assert_frequencies(left_out, smallest, NUM_DRAWS)


def test_tiny_beta_shapes_never_give_nan_and_keep_their_law():
    """Beta(0.002, 0.008) against Beta(1, 1): P(arm 0 wins) = E[theta_0] = 0.2.
    A Gamma(0.002) variate is below the smallest float64 (about 5e-324) with
    probability about (5e-324)^0.002 = 0.23, so a plain ratio of Gammas would
    give 0 / 0 for about a twentieth of the draws here."""
    agent = bandits.thompson_sampling(
        beliefs.beta_bernoulli(2, prior_alpha=[0.002, 1.0], prior_beta=[0.008, 1.0])
    )
    bandit = bayesrl.NumpyBandit(agent, seed=13)
    assert not bandit._shapes_at_least_one
    draws = np.array(
        [
            bandit._model.sample(bandit._rng, bandit._draw_input, False)
            for _ in range(400)
        ]
    )
    assert np.all(np.isfinite(draws)) and np.all((draws >= 0) & (draws <= 1))
    choices = [bandit.select() for _ in range(NUM_DRAWS)]
    _assert_frequencies(choices, [0.2, 0.8], NUM_DRAWS)


def test_gaussian_choices_follow_the_exact_thompson_law():
    """P(arm 1 beats arm 0) = Phi((m1 - m0) / sqrt(1/P0 + 1/P1))."""
    agent = bandits.thompson_sampling(
        beliefs.gaussian(2, noise_std=1.0, prior_mean=[0.3, 0.0], prior_std=[0.5, 1.5])
    )
    bandit = bayesrl.NumpyBandit(agent, seed=14)
    bandit.update([1, 1], [0.4, 0.2])
    state = bandit.state
    p1 = stats.norm.cdf(
        (state.mean[1] - state.mean[0]) / np.sqrt(np.sum(1.0 / state.precision))
    )
    choices = [bandit.select() for _ in range(NUM_DRAWS)]
    _assert_frequencies(choices, [1.0 - p1, p1], NUM_DRAWS)


def test_normal_gamma_choices_follow_the_student_t_marginals():
    """mu_k is Student-t with 2 alpha_k degrees of freedom, location mu_k and
    scale sqrt(beta_k / (alpha_k kappa_k)); shape 0.4 takes the boosted path."""
    agent = bandits.thompson_sampling(
        beliefs.normal_gamma(
            2, prior_mean=[0.0, 0.2], prior_shape=[0.4, 3.0], prior_rate=[1.0, 2.0]
        )
    )
    bandit = bayesrl.NumpyBandit(agent, seed=15)
    state = bandit.state
    laws = [
        stats.t(
            2.0 * state.shape[k],
            loc=state.mean[k],
            scale=np.sqrt(state.rate[k] / (state.shape[k] * state.precision_scale[k])),
        )
        for k in range(2)
    ]
    p1 = integrate.quad(
        lambda x: laws[1].pdf(x) * laws[0].cdf(x), -np.inf, np.inf, limit=400
    )[0]
    choices = [bandit.select() for _ in range(NUM_DRAWS)]
    _assert_frequencies(choices, [1.0 - p1, p1], NUM_DRAWS)


def test_same_seed_same_arms_and_a_saved_bandit_continues_identically(tmp_path):
    make = AGENTS["beta_discounted"]
    first = bayesrl.NumpyBandit(make(), seed=5)
    second = bayesrl.NumpyBandit(make(), seed=5)
    other = bayesrl.NumpyBandit(make(), seed=6)
    arms = [first.update_and_select([s % NUM_ARMS], [1.0]) for s in range(30)]
    assert arms == [second.update_and_select([s % NUM_ARMS], [1.0]) for s in range(30)]
    assert arms != [other.update_and_select([s % NUM_ARMS], [1.0]) for s in range(30)]

    path = tmp_path / "bandit.zip"
    first.save(path)
    header = json.loads(zipfile.ZipFile(path).read("header.json"))
    assert header["format"] == "bayesrl.NumpyBandit"
    assert header["config"]["belief"]["config"]["discount"] == 0.9
    loaded = bayesrl.NumpyBandit.load(path)
    for step in range(10):
        assert loaded.update_and_select([step % 3], [0.0]) == first.update_and_select(
            [step % 3], [0.0]
        )
    _assert_states(loaded.state, first.state)
    with pytest.raises(ValueError, match="NumpyBandit.load"):
        bayesrl.Bandit.load(path)


@pytest.mark.parametrize(
    "agent,match",
    [
        (bandits.ucb1(4), "thompson_sampling over one of"),
        (bandits.bayes_ucb(beliefs.beta_bernoulli(4)), "thompson_sampling over one of"),
        (
            bandits.thompson_sampling(
                beliefs.beta_bernoulli(4), num_propensity_samples=10
            ),
            "propensities",
        ),
    ],
)
def test_refuses_agents_it_does_not_run(agent, match):
    with pytest.raises(ValueError, match=match):
        bayesrl.NumpyBandit(agent, seed=0)


def test_bandit_with_the_numpy_backend_is_a_numpy_bandit():
    bandit = bayesrl.Bandit(AGENTS["beta"](), seed=4, backend="numpy")
    assert type(bandit) is bayesrl.NumpyBandit
    twin = bayesrl.NumpyBandit(AGENTS["beta"](), seed=4)
    assert [bandit.update_and_select([1], [1.0]) for _ in range(20)] == [
        twin.update_and_select([1], [1.0]) for _ in range(20)
    ]
    assert type(bayesrl.Bandit(AGENTS["beta"](), seed=4)) is bayesrl.Bandit
    with pytest.raises(ValueError, match="backend"):
        bayesrl.Bandit(AGENTS["beta"](), seed=4, backend="torch")


def test_refuses_a_negative_seed():
    with pytest.raises(ValueError, match="seed >= 0"):
        bayesrl.NumpyBandit(AGENTS["beta"](), seed=-1)


def test_a_batch_larger_than_the_window_is_refused_and_the_state_kept():
    bandit = bayesrl.NumpyBandit(AGENTS["beta_window"](), seed=0)
    bandit.update([0, 1], [1.0, 0.0])
    before = jax.tree.map(np.copy, bandit.state)
    with pytest.raises(ValueError, match="does not fit a window of 8"):
        bandit.update(np.zeros(9, int), np.ones(9))
    _assert_states(bandit.state, before)


def test_states_handed_out_are_not_changed_by_later_updates():
    for name in ("beta", "beta_discounted", "gaussian"):
        bandit = bayesrl.NumpyBandit(AGENTS[name](), seed=0)
        earlier = bandit.state
        copy = jax.tree.map(np.copy, earlier)
        bandit.update([1], [1.0])
        bandit.update(np.array([2, 2]), np.array([0.0, 1.0]))
        _assert_states(earlier, copy)


@pytest.mark.parametrize("name", ["beta", "beta_discounted", "beta_window"])
def test_cached_gamma_shapes_follow_the_state(name):
    """The Beta draw's float64 shapes, kept between calls and updated in place
    by short updates, equal the shapes computed afresh from the state after
    every kind of update (short lists with repeats, arrays, weights, a state
    handed out in between, a loaded state)."""
    from bayesrl.numpy_bandit import _beta_shapes

    bandit = bayesrl.NumpyBandit(AGENTS[name](), seed=1)
    feedback = [
        ([3], [1.0]),
        ([3, 3, 0], [0.0, 1.0, 0.25]),
        (np.array([1, 4]), np.array([1.0, 0.0])),
        ([2], [0.5]),
    ]
    for step in range(12):
        arms, rewards = feedback[step % len(feedback)]
        if step == 5:
            bandit.update(arms, rewards, weights=np.full(len(arms), 0.5))
        else:
            bandit.update(arms, rewards)
        if step == 7:
            snapshot = jax.tree.map(np.copy, bandit.state)
            bandit.state = snapshot
        np.testing.assert_array_equal(bandit._draw_input, _beta_shapes(bandit._state))
