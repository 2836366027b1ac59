"""MoPPS agent: conjugacy, discount fixed point, drift tracking, an independent
NumPy port of the paper's update and selection, concentration, edge cases and
the JAX contract (``prompts.md`` section 7.5, items 1-5, 10, 12, 13)."""

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.base import Transition
from bayesrl.prompts import mopps
from bayesrl.prompts.mopps import advance_stream, describe, select, update
from bayesrl.testing import check_agent

pytestmark = pytest.mark.filterwarnings("ignore:num_candidates=.*clamped")
jitted_update = jax.jit(update)
jitted_advance = jax.jit(advance_stream, static_argnums=2)


def low_level(agent):
    config, params = describe(agent)
    return config, params


def apply(agent, state, ids, successes, trials, mask=None):
    _, params = low_level(agent)
    ids = jnp.asarray(ids, jnp.int32)
    mask = jnp.ones(ids.shape, bool) if mask is None else jnp.asarray(mask)
    return jitted_update(
        state,
        ids,
        jnp.asarray(successes, jnp.float32),
        jnp.asarray(trials, jnp.float32),
        mask,
        params,
    )


def test_conjugacy_at_discount_one():
    num_prompts = 20
    agent = mopps(num_prompts, 4, prior_alpha=2.0, prior_beta=3.0)
    state = agent.init(jax.random.key(0))
    rng = np.random.default_rng(1)
    expected_alpha = np.full(num_prompts, 2.0)
    expected_beta = np.full(num_prompts, 3.0)
    for _ in range(10):
        ids = rng.integers(0, num_prompts, 12)
        trials = rng.integers(1, 9, 12).astype(float)
        successes = rng.binomial(trials.astype(int), 0.3).astype(float)
        state, info = apply(agent, state, ids, successes, trials)
        np.add.at(expected_alpha, ids, successes)
        np.add.at(expected_beta, ids, trials - successes)
        assert int(info.num_groups) == np.unique(ids).size
    np.testing.assert_array_equal(np.asarray(state.alpha), expected_alpha)
    np.testing.assert_array_equal(np.asarray(state.beta), expected_beta)
    law = stats.beta(expected_alpha, expected_beta)
    alpha, beta = np.asarray(state.alpha), np.asarray(state.beta)
    np.testing.assert_allclose(alpha / (alpha + beta), law.mean(), rtol=1e-6)
    variance = alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))
    np.testing.assert_allclose(variance, law.var(), rtol=1e-5)


def test_discount_fixed_point():
    discount, k, successes = 0.5, 8, 3.0
    agent = mopps(10, 2, discount=discount)
    state = agent.init(jax.random.key(0))
    for _ in range(60):
        state, _ = apply(agent, state, [4], [successes], [k])
    mass = float(state.alpha[4] + state.beta[4])
    assert mass == pytest.approx(1.0 + 1.0 + k / (1 - discount), abs=1e-4)
    mean = float(state.alpha[4] / (state.alpha[4] + state.beta[4]))
    expected = ((1 - discount) * 1.0 + successes) / ((1 - discount) * 2.0 + k)
    assert mean == pytest.approx(expected, abs=1e-5)


def test_drift_tracking_after_a_jump():
    k = 8
    agent = mopps(10, 2, discount=0.5)
    state = agent.init(jax.random.key(0))
    for _ in range(60):  # steady state at gamma = 0.2, expected counts
        state, _ = apply(agent, state, [0], [0.2 * k], [k])
    np.testing.assert_allclose([state.alpha[0], state.beta[0]], [4.2, 13.8], atol=1e-4)
    state, _ = apply(agent, state, [0], [0.8 * k], [k])
    np.testing.assert_allclose([state.alpha[0], state.beta[0]], [9.0, 9.0], atol=1e-4)
    state, _ = apply(agent, state, [0], [0.8 * k], [k])
    np.testing.assert_allclose([state.alpha[0], state.beta[0]], [11.4, 6.6], atol=1e-4)
    assert float(state.alpha[0] / (state.alpha[0] + state.beta[0])) == pytest.approx(
        0.6333, abs=1e-3
    )

    agent = mopps(10, 2, discount=1.0)
    state = agent.init(jax.random.key(0))
    for _ in range(10):
        state, _ = apply(agent, state, [0], [0.2 * k], [k])
    np.testing.assert_allclose([state.alpha[0], state.beta[0]], [17.0, 65.0], atol=1e-4)
    means = []
    for _ in range(10):
        state, _ = apply(agent, state, [0], [0.8 * k], [k])
        means.append(float(state.alpha[0] / (state.alpha[0] + state.beta[0])))
    np.testing.assert_allclose([state.alpha[0], state.beta[0]], [81.0, 81.0], atol=1e-4)
    assert max(means[:-1]) < 0.5 and means[-1] == pytest.approx(0.5)


class OfficialMoppsPort:
    """Independent NumPy port of ``thu-rllab/MoPPS:recipe/ours/mopps.py``
    semantics: string-keyed dicts lazily initialised to the prior, Thompson
    draws handed in, sequential per-group update from the group mean
    ``y`` with ``s = y n`` (the intended form, correct for ``n = 1``)."""

    def __init__(self, discount, prior=(1.0, 1.0), target=0.5, bounds=(0.3, 0.7)):
        self.discount, self.prior, self.target = discount, prior, target
        self.bounds = bounds
        self.posterior = {}

    def params(self, index):
        return self.posterior.setdefault(str(index), list(self.prior))

    def select_topk(self, candidates, draws, batch_size):
        for index in candidates:
            self.params(index)
        order = np.argsort(
            (np.asarray(draws, np.float64) - self.target) ** 2, kind="stable"
        )
        return [int(candidates[i]) for i in order[:batch_size]]

    def select_threshold_when_short(self, candidates, draws, batch_size):
        lo, hi = self.bounds
        draws = np.asarray(draws, np.float64)
        inside = [i for i, d in enumerate(draws) if lo <= d <= hi]
        assert len(inside) < batch_size
        outside = [i for i, d in enumerate(draws) if not lo <= d <= hi]
        distance = [max(lo - draws[i], draws[i] - hi) for i in outside]
        fill = [outside[j] for j in np.argsort(distance, kind="stable")]
        chosen = inside + fill[: batch_size - len(inside)]
        return {int(candidates[i]) for i in chosen}

    def update(self, indices, group_means, n):
        a0, b0 = self.prior
        lam = self.discount
        for index, y in zip(indices, group_means, strict=True):
            alpha, beta = self.params(index)
            alpha = lam * alpha + (1 - lam) * a0 + y * n
            beta = lam * beta + (1 - lam) * b0 + (1 - y) * n
            self.posterior[str(index)] = [alpha, beta]


@pytest.mark.parametrize("discount,n", [(0.5, 8), (1.0, 8), (0.5, 1)])
def test_matches_numpy_port_of_official_update_and_topk(discount, n):
    num_prompts, batch_size = 200, 16
    agent = mopps(num_prompts, batch_size, candidate_multiplier=4, discount=discount)
    config, params = low_level(agent)
    state = agent.init(jax.random.key(3))
    port = OfficialMoppsPort(discount)
    rng = np.random.default_rng(0)
    true_success = rng.uniform(0.0, 1.0, num_prompts)
    select_fn = jax.jit(
        lambda key, s: select(
            key, s, params, num_select=batch_size, num_candidates=config.num_candidates
        )
    )
    for t in range(40):
        key = jax.random.fold_in(jax.random.key(4), t)
        ids, info = select_fn(key, state)
        expected = port.select_topk(
            np.asarray(info.candidates), np.asarray(info.draws), batch_size
        )
        assert list(np.asarray(ids)) == expected
        successes = rng.binomial(n, true_success[np.asarray(ids)])
        port.update(expected, successes / n, n)
        state, _ = apply(agent, state, ids, successes, np.full(batch_size, n))
        state = jitted_advance(key, state, config.num_candidates)
    for index, (alpha, beta) in port.posterior.items():
        np.testing.assert_allclose(float(state.alpha[int(index)]), alpha, rtol=1e-6)
        np.testing.assert_allclose(float(state.beta[int(index)]), beta, rtol=1e-6)
    if n == 1:  # the official n = 1 path freezes every visited prompt at Beta(8, 8)
        visited = np.asarray(state.last_visit) >= 0
        assert not np.all(np.asarray(state.alpha)[visited] == 8.0)


def test_threshold_matches_port_when_few_in_band():
    num_prompts, batch_size = 300, 40
    agent = mopps(
        num_prompts,
        batch_size,
        strategy="threshold",
        lower_bound=0.48,
        upper_bound=0.52,
    )
    config, params = low_level(agent)
    state = agent.init(jax.random.key(0))
    port = OfficialMoppsPort(1.0, bounds=(0.48, 0.52))
    select_fn = jax.jit(
        lambda key: select(
            key,
            state,
            params,
            num_select=batch_size,
            num_candidates=config.num_candidates,
            strategy="threshold",
        )
    )
    checked = 0
    for t in range(10):
        ids, info = select_fn(jax.random.key(t))
        draws = np.asarray(info.draws)
        if np.sum((draws >= 0.48) & (draws <= 0.52)) < batch_size:
            expected = port.select_threshold_when_short(
                np.asarray(info.candidates), draws, batch_size
            )
            assert set(np.asarray(ids).tolist()) == expected
            checked += 1
    assert checked == 10


def concentrated_state(agent, success, mass=1e6):
    state = agent.init(jax.random.key(0))
    success = jnp.asarray(success, jnp.float32)
    return state._replace(alpha=mass * success, beta=mass * (1 - success))


def test_threshold_is_uniform_within_the_band():
    num_prompts, batch_size = 64, 8
    agent = mopps(
        num_prompts, batch_size, num_candidates=num_prompts, strategy="threshold"
    )
    config, params = low_level(agent)
    success = np.where(np.arange(num_prompts) < 24, 0.5, 0.95)  # 24 in the band
    state = concentrated_state(agent, success)
    keys = jax.random.split(jax.random.key(5), 3000)
    ids, _ = jax.jit(
        jax.vmap(
            lambda k: select(
                k,
                state,
                params,
                num_select=batch_size,
                num_candidates=num_prompts,
                strategy="threshold",
            )
        )
    )(keys)
    counts = np.bincount(np.asarray(ids).ravel(), minlength=num_prompts)
    assert counts[24:].sum() == 0
    # Each of the 24 in-band prompts is included with probability 8/24.
    _, p_value = stats.chisquare(counts[:24])
    assert p_value > 1e-3


def test_selection_concentrates_near_target():
    num_prompts, batch_size = 4096, 64
    agent = mopps(num_prompts, batch_size, candidate_multiplier=8)
    config, params = low_level(agent)
    success = np.random.default_rng(2).uniform(0, 1, num_prompts)
    state = concentrated_state(agent, success, mass=400.0)
    ids, info = jax.jit(
        lambda k, s: select(
            k, s, params, num_select=batch_size, num_candidates=config.num_candidates
        )
    )(jax.random.key(1), state)
    chosen = success[np.asarray(ids)]
    candidates = success[np.asarray(info.candidates)]
    # Perfect knowledge keeps the 64 of 512 uniform candidates within 1/16 of 0.5
    # (mean distance 1/32 ~ 0.12x the candidates' 1/4); posterior noise (sd
    # ~0.025 at 400 pseudo-counts) adds about 0.01.
    assert np.mean(np.abs(chosen - 0.5)) < 0.25 * np.mean(np.abs(candidates - 0.5))
    assert np.mean((chosen >= 0.3) & (chosen <= 0.7)) >= 0.9


def test_all_unseen_candidates_are_chosen_uniformly():
    num_prompts, batch_size, multiplier = 400, 10, 4
    agent = mopps(num_prompts, batch_size, candidate_multiplier=multiplier)
    config, params = low_level(agent)
    state = agent.init(jax.random.key(0))
    keys = jax.random.split(jax.random.key(9), 2000)
    ids, info = jax.jit(
        jax.vmap(
            lambda k: select(k, state, params, num_select=batch_size, num_candidates=40)
        )
    )(keys)
    candidates = np.asarray(info.candidates[0])
    assert np.all(np.isin(np.asarray(ids), candidates))
    counts = np.bincount(np.asarray(ids).ravel(), minlength=num_prompts)[candidates]
    _, p_value = stats.chisquare(counts)  # each with probability B / B_hat
    assert p_value > 1e-3


def test_duplicates_masked_rows_and_invalid_rows():
    agent = mopps(10, 2, discount=0.5)
    state = agent.init(jax.random.key(0))
    # Duplicate ids: summed evidence, one discount.
    once, info = apply(agent, state, [3, 3], [2, 5], [4, 8])
    summed, _ = apply(agent, state, [3], [7], [12])
    np.testing.assert_array_equal(np.asarray(once.alpha), np.asarray(summed.alpha))
    np.testing.assert_array_equal(np.asarray(once.beta), np.asarray(summed.beta))
    assert int(info.num_groups) == 1
    # All rows masked: only step changes.
    masked, info = apply(agent, once, [1, 2], [1, 1], [2, 2], mask=[False, False])
    for name in ("alpha", "beta", "last_visit"):
        np.testing.assert_array_equal(getattr(masked, name), getattr(once, name))
    assert int(masked.step) == int(once.step) + 1 and int(info.num_invalid) == 0
    # Invalid rows are ignored and counted; valid rows still count.
    bad, info = apply(
        agent,
        once,
        [1, 11, -2, 2, 4, 5, 6],
        [1, 1, 1, np.nan, 5, -1, 1],
        [2, 2, 2, 2, 4, 2, 0],
    )
    assert int(info.num_invalid) == 6 and int(info.num_groups) == 1
    expected, _ = apply(agent, once, [1], [1], [2])
    np.testing.assert_array_equal(np.asarray(bad.alpha), np.asarray(expected.alpha))
    np.testing.assert_array_equal(np.asarray(bad.beta), np.asarray(expected.beta))


def test_factory_validation_and_clamping():
    with pytest.raises(ValueError, match="num_candidates"):
        mopps(100, 10, num_candidates=5)
    with pytest.raises(ValueError, match="discount"):
        mopps(100, 10, discount=0.0)
    with pytest.raises(ValueError, match="strategy"):
        mopps(100, 10, strategy="closest")
    with pytest.raises(ValueError, match="lower_bound"):
        mopps(100, 10, lower_bound=0.8, upper_bound=0.2)
    with pytest.raises(ValueError, match="prior_alpha"):
        mopps(100, 10, prior_alpha=-1.0)
    with pytest.raises(ValueError, match="group_ids"):
        mopps(100, 10, share_strength=2.0)
    with pytest.warns(UserWarning, match="clamped"):
        agent = mopps(100, 16, candidate_multiplier=8)
    assert describe(agent)[0].num_candidates == 100


def test_lazy_time_decay_equals_eager_decay():
    rho = 0.9
    agent = mopps(10, 2, time_discount=rho)
    state = agent.init(jax.random.key(0))
    state, _ = apply(agent, state, [0], [6], [8])  # step 0: alpha 7, beta 3
    for _ in range(4):  # four updates that do not touch prompt 0
        state, _ = apply(agent, state, [1], [1], [2])
    state, _ = apply(agent, state, [0], [0], [8])  # 5 updates after the visit
    factor = rho**5
    np.testing.assert_allclose(
        [float(state.alpha[0]), float(state.beta[0])],
        [1 + 6 * factor, 1 + 2 * factor + 8],
        rtol=1e-6,
    )


def test_group_sharing_moves_unseen_prompts():
    num_prompts = 40
    groups = np.repeat([0, 1], 20)
    agent = mopps(
        num_prompts,
        20,
        num_candidates=num_prompts,
        group_ids=groups,
        share_strength=20.0,
    )
    config, params = low_level(agent)
    state = agent.init(jax.random.key(0))
    # Group 0's prompts 0..9 always succeed, group 1's prompts 20..29 always fail.
    for _ in range(5):
        ids = np.r_[0:10, 20:30]
        state, _ = apply(agent, state, ids, np.r_[[8] * 10, [0] * 10], [8] * 20)
    keys = jax.random.split(jax.random.key(1), 200)
    _, info = jax.jit(
        jax.vmap(
            lambda k: select(
                k, state, params, num_select=20, num_candidates=num_prompts
            )
        )
    )(keys)
    draws = np.asarray(info.draws)
    # Unseen prompts 10..19 (group 0) draw high, 30..39 (group 1) draw low.
    assert draws[:, 10:20].mean() > 0.7 and draws[:, 30:40].mean() < 0.3


def test_prior_initialisation_from_pass_rates():
    successes = np.arange(10.0)
    failures = 9.0 - successes
    agent = mopps(10, 2, initial_successes=successes, initial_failures=failures)
    state = agent.init(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(state.alpha), 1.0 + 3.0 * successes)
    np.testing.assert_array_equal(np.asarray(state.beta), 1.0 + 3.0 * failures)


def test_agent_contract_and_no_retrace():
    agent = mopps(50, 4, candidate_multiplier=4, discount=0.5, time_discount=0.99)
    ids = jnp.asarray([1, 2, 2, -1], jnp.int32)
    transition = Transition(
        obs=None,
        action=ids,
        reward=jnp.asarray([1.0, 0.0, 1.0, 0.0]),
        next_obs=None,
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )
    check_agent(agent, None, transition)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state):
        key_act, key_update = jax.random.split(key)
        action, _ = agent.act(key_act, state, None)
        rewards = jnp.ones(action.shape)
        return agent.update(
            key_update, state, transition._replace(action=action, reward=rewards)
        )[0]

    state = agent.init(jax.random.key(0))
    for t in range(10):  # crosses candidate epochs (50 // 16 = 3 chunks each)
        state = step(jax.random.key(t), state)
    assert int(state.stream.epoch) == 3


def test_x64_and_tracer_leaks():
    with jax.enable_x64(True):
        agent = mopps(30, 3)
        state = agent.init(jax.random.key(0))
        assert state.alpha.dtype == jnp.float64
        ids, _ = jax.jit(agent.act)(jax.random.key(1), state, None)
        state, _ = apply(agent, state, ids, [1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
        assert state.alpha.dtype == jnp.float64
    with jax.checking_leaks():
        agent = mopps(30, 3)
        state = agent.init(jax.random.key(0))
        jax.jit(agent.act)(jax.random.key(1), state, None)


def test_million_prompts_select_and_update_on_cpu():
    num_prompts, batch_size = 10**6, 256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent = mopps(num_prompts, batch_size, candidate_multiplier=16)
    config, params = low_level(agent)
    state = agent.init(jax.random.key(0))
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    assert state_bytes <= 16 * num_prompts + 64
    act = jax.jit(agent.act)
    ids, _ = act(jax.random.key(1), state, None)
    assert np.unique(np.asarray(ids)).size == batch_size
    state, info = apply(
        agent, state, ids, np.full(batch_size, 3.0), np.full(batch_size, 8.0)
    )
    assert int(info.num_groups) == batch_size
    assert float(state.alpha[int(ids[0])]) == 4.0


@pytest.mark.parametrize("discount", [1.0, 0.5])
def test_update_equals_the_beta_bernoulli_belief(discount):
    """MoPPS's gathered update is the per-visit discounted Beta-Bernoulli belief
    of ``bayesrl.beliefs`` fed each group as weight-``n`` fractional evidence."""
    from bayesrl import beliefs

    num_prompts = 30
    agent = mopps(num_prompts, 4, discount=discount)
    belief = beliefs.beta_bernoulli(num_prompts, visit_discount=discount)
    state, belief_state = agent.init(jax.random.key(0)), belief.init()
    rng = np.random.default_rng(4)
    for _ in range(8):
        ids = rng.integers(0, num_prompts, 10)
        trials = rng.integers(1, 9, 10).astype(np.float32)
        successes = rng.binomial(trials.astype(int), 0.6).astype(np.float32)
        state, _ = apply(agent, state, ids, successes, trials)
        belief_state = belief.update(
            belief_state,
            jnp.asarray(ids, jnp.int32),
            jnp.asarray(successes / trials),
            jnp.asarray(trials),
        )
    np.testing.assert_allclose(state.alpha, belief_state.alpha, rtol=1e-5)
    np.testing.assert_allclose(state.beta, belief_state.beta, rtol=1e-5)
