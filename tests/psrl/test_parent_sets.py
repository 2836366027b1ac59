"""The parent-set posterior: evidence identities, support, frequencies, draws."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from bayesrl.envs import FactoredMDP, random_factored_mdp
from bayesrl.psrl.dirichlet import log_dirichlet
from bayesrl.psrl.parent_sets import (
    ONE_HOT_MAX_CELLS,
    build_tables,
    candidate_mask,
    graph_logits,
    log_hyperprior,
    log_marginal_likelihood,
    observe,
    parents_to_mask,
    sample_graph,
    sample_log_theta,
    subsets_up_to,
)


def _oracle_log_ml(counts, alpha, output_sizes):
    """Float64 batch Gamma form with SciPy."""
    counts = np.asarray(counts, np.float64)
    out = np.zeros(counts.shape[:2])
    for j, b in enumerate(output_sizes):
        n = counts[j, :, :, :b]
        out[j] = (
            special.gammaln(b * alpha)
            - special.gammaln(b * alpha + n.sum(-1))
            + (special.gammaln(alpha + n) - special.gammaln(alpha)).sum(-1)
        ).sum(-1)
    return out


def _normalise(values, valid):
    values = np.where(valid, values, -np.inf)
    return values - values.max(-1, keepdims=True)


def _random_inputs(key, env, num_steps):
    """Uniform random (x, y) pairs of a factored env."""
    key_x, key_y = jax.random.split(key)
    s = jax.random.randint(key_x, (num_steps,), 0, env.num_states)
    a = jax.random.randint(jax.random.fold_in(key_x, 1), (num_steps,), 0, 2)
    s_next = jax.random.randint(key_y, (num_steps,), 0, env.num_states)
    x = jnp.asarray(env.input_factors())[s, a]
    y = jnp.asarray(env.state_factors)[s_next]
    return x, y


def _scan_observe(tables, valid, alpha, x, y, one_hot=None):
    shape = (
        len(tables.output_sizes),
        tables.num_candidates,
        tables.num_configurations,
        tables.num_values,
    )

    @jax.jit
    def run(x, y):
        def body(carry, xy):
            counts, log_ev = carry
            counts, log_ev = observe(
                counts,
                log_ev,
                valid,
                tables,
                xy[0],
                xy[1],
                alpha,
                jnp.int32(1),
                one_hot=one_hot,
            )
            return (counts, log_ev), None

        init = (jnp.zeros(shape, jnp.int32), jnp.zeros(shape[:2], jnp.float32))
        return jax.lax.scan(body, init, (x, y))[0]

    return run(x, y)


def _tables(env, max_parents):
    subsets = subsets_up_to(len(env.input_sizes), max_parents)
    return build_tables(
        env.input_sizes,
        env.state_sizes,
        [subsets] * len(env.state_sizes),
        env.input_factors(),
        env.state_factors,
    )


def test_sequential_evidence_equals_batch_gamma_form(key):
    """Mixed cardinalities (2, 3, 2 | 2), Z = 2, 400 random transitions."""
    env = FactoredMDP((2, 3, 2), (2,), 5, 2)
    tables = _tables(env, 2)
    known = parents_to_mask(jnp.array([[0], [-1], [3]]), 4)
    valid = candidate_mask(tables, known, 2)
    x, y = _random_inputs(key, env, 400)
    counts, log_ev = _scan_observe(tables, valid, 0.7, x, y)
    assert int(counts.sum()) == 400 * 3 * tables.num_candidates
    # U N = 6 * 3 takes the one-hot update; the gather/scatter one is identical.
    assert tables.num_configurations * tables.num_values <= ONE_HOT_MAX_CELLS
    scattered = _scan_observe(tables, valid, 0.7, x, y, one_hot=False)
    np.testing.assert_array_equal(counts, scattered[0])
    np.testing.assert_array_equal(log_ev, scattered[1])
    oracle = _normalise(_oracle_log_ml(counts, 0.7, env.state_sizes), valid)
    ours = np.where(valid, log_ev, -np.inf)
    np.testing.assert_allclose(ours[valid], oracle[valid], atol=1e-4, rtol=1e-5)
    # The JAX batch form is the same oracle in float32.
    batch = log_marginal_likelihood(counts, 0.7, tables.output_sizes)
    np.testing.assert_allclose(
        _normalise(np.asarray(batch, np.float64), valid)[valid],
        oracle[valid],
        atol=1e-3,
    )


def test_empty_parent_set_is_the_beta_binomial_sequence_probability(key):
    env = FactoredMDP((2,), (2,), 5, 1)
    tables = _tables(env, 1)  # candidates {}, {0}, {1}
    none_valid = jnp.zeros((1, tables.num_candidates), bool)  # no shift
    x, y = _random_inputs(key, env, 50)
    counts, log_ev = _scan_observe(tables, none_valid, 0.5, x, y)
    n1 = int(jnp.sum(y[:, 0]))
    n0 = 50 - n1
    expected = special.betaln(0.5 + n1, 0.5 + n0) - special.betaln(0.5, 0.5)
    assert float(log_ev[0, 0]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("eta,expected", [(0, 130), (1, 37), (2, 8), (3, 1)])
def test_hypothesis_space_sizes_and_empty_data_posterior_is_the_prior(eta, expected):
    """|Z_j| = sum_{i <= Z - eta} C(d_X - eta, i) (spec table, d_X = 9, Z = 3)."""
    env = FactoredMDP((2,) * 6, (2,) * 3, 5, 3)
    tables = _tables(env, 3)
    known_lists = np.full((6, 3), -1)
    known_lists[:, :eta] = np.arange(eta)
    known = parents_to_mask(jnp.asarray(known_lists), 9)
    valid = candidate_mask(tables, known, 3)
    assert int(valid[0].sum()) == expected
    assert expected == sum(math.comb(9 - eta, i) for i in range(3 - eta + 1))
    for hyperprior in ("uniform", "size_penalised", "size_uniform"):
        log_prior = log_hyperprior(tables, known, 3, hyperprior, 0.5)
        logits = graph_logits(jnp.zeros(valid.shape), log_prior, valid)
        probs = np.asarray(jax.nn.softmax(logits, axis=-1))
        sizes = tables.members.sum(-1)[0]
        if hyperprior == "uniform":
            target = np.where(valid[0], 1.0 / expected, 0.0)
        elif hyperprior == "size_penalised":
            target = np.where(valid[0], 0.5 ** (sizes - eta), 0.0)
        else:
            per_size = np.array(
                [1.0 / math.comb(9 - eta, k - eta) if k >= eta else 0 for k in sizes]
            )
            target = np.where(valid[0], per_size, 0.0)
        np.testing.assert_allclose(probs[0], target / target.sum(), atol=1e-6)


def test_sampled_parent_sets_respect_g0_and_z_and_match_the_posterior(key):
    """10^5 draws: support, then Pearson chi-square against the softmax."""
    env = FactoredMDP((2,) * 4, (2,) * 2, 5, 3)
    tables = _tables(env, 3)
    known = parents_to_mask(jnp.array([[0, -1], [1, 4], [-1, -1], [2, -1]]), 6)
    valid = candidate_mask(tables, known, jnp.array(3))
    logits = graph_logits(
        jax.random.normal(key, valid.shape) * 1.5,
        log_hyperprior(tables, known, 3, "uniform", 1.0),
        valid,
    )
    draws = jax.random.categorical(key, logits, axis=-1, shape=(100_000, 4))
    draws = np.asarray(draws)
    # sample_graph is this draw with one sample per node.
    assert sample_graph(key, logits).shape == (4,)
    members = tables.members
    for j in range(4):
        chosen = members[j, draws[:, j]]
        assert bool(np.all(chosen[:, np.asarray(known[j])]))
        assert chosen.sum(-1).max() <= 3
        assert bool(np.all(np.asarray(valid[j])[draws[:, j]]))
        probs = np.asarray(jax.nn.softmax(logits[j]), np.float64)
        observed = np.bincount(draws[:, j], minlength=len(probs))
        expected = probs / probs.sum() * len(draws)
        # Merge the bins with expected count < 5 into the smallest kept bin.
        keep = expected >= 5
        merged_obs, merged_exp = observed[keep], expected[keep]
        smallest = np.argmin(merged_exp)
        merged_obs[smallest] += observed[~keep].sum()
        merged_exp[smallest] += expected[~keep].sum()
        statistic = np.sum((merged_obs - merged_exp) ** 2 / merged_exp)
        assert stats.chi2.sf(statistic, len(merged_obs) - 1) > 0.01


def test_forbidden_parents_leave_the_support_and_size_uniform_counts_allowed_inputs(
    key,
):
    """Validity against direct enumeration; under "size_uniform" every
    achievable size carries the same prior mass (so d_X counts only the inputs
    that are not forbidden); draws never contain a forbidden input."""
    env = FactoredMDP((2,) * 4, (2,) * 2, 5, 3)  # d_X = 6
    tables = _tables(env, 3)
    known = parents_to_mask(jnp.array([[0, -1], [1, 4], [-1, -1], [2, -1]]), 6)
    forbidden = parents_to_mask(
        jnp.array([[1, 5, -1], [0, -1, -1], [0, 1, 2], [-1, -1, -1]]), 6
    )
    valid = np.asarray(candidate_mask(tables, known, 3, forbidden))
    members, known_np, forbidden_np = (
        tables.members,
        np.asarray(known),
        np.asarray(forbidden),
    )
    for j in range(4):
        for m in range(members.shape[1]):
            z = members[j, m]
            expected = (
                bool(np.all(z[known_np[j]]))
                and not bool(np.any(z & forbidden_np[j]))
                and z.sum() <= 3
            )
            assert valid[j, m] == expected
    log_prior = np.asarray(
        log_hyperprior(tables, known, 3, "size_uniform", 1.0, forbidden), np.float64
    )
    for j in range(4):
        sizes = members[j].sum(-1)
        masses = [
            np.exp(log_prior[j][valid[j] & (sizes == size)]).sum()
            for size in np.unique(sizes[valid[j]])
        ]
        np.testing.assert_allclose(masses, masses[0], rtol=1e-5)
    logits = graph_logits(
        jax.random.normal(key, valid.shape), jnp.asarray(log_prior), jnp.asarray(valid)
    )
    draws = np.asarray(jax.random.categorical(key, logits, axis=-1, shape=(10_000, 4)))
    for j in range(4):
        assert not np.any(members[j, draws[:, j]] & forbidden_np[j])


def test_dirichlet_draws_have_the_posterior_mean_and_variance(key):
    """20,000 draws of Dirichlet(alpha + n) with alpha = 0.5, n = (5, 0, 2)."""
    counts = jnp.zeros((1, 1, 2, 3), jnp.int32).at[0, 0, 0].set(jnp.array([5, 0, 2]))
    one_draw = jax.jit(
        lambda key: sample_log_theta(key, counts, jnp.zeros(1, jnp.int32), 0.5, [3])
    )(key)
    assert one_draw.shape == (1, 2, 3)
    np.testing.assert_allclose(jnp.exp(one_draw).sum(-1), 1.0, atol=1e-6)
    concentration = np.array([5.5, 0.5, 2.5])
    # sample_log_theta draws log_dirichlet(alpha + n); draw it in one batch.
    draws = jnp.exp(
        jax.jit(log_dirichlet)(
            key,
            jnp.broadcast_to(jnp.asarray(concentration, jnp.float32), (20_000, 3)),
            jnp.ones(3, bool),
        )
    )
    total = concentration.sum()
    mean = concentration / total
    var = mean * (1 - mean) / (total + 1)
    n = draws.shape[0]
    sample_mean = np.asarray(draws.mean(0))
    sample_var = np.asarray(draws.var(0))
    assert np.all(np.abs(sample_mean - mean) < 4 * np.sqrt(var / n))
    # SE of a sample variance: sqrt((m4 - var^2) / n), m4 estimated.
    m4 = np.asarray(((draws - draws.mean(0)) ** 4).mean(0))
    assert np.all(np.abs(sample_var - var) < 4 * np.sqrt((m4 - sample_var**2) / n))


def test_posterior_concentrates_on_the_true_parents():
    """d_X = 9, |z*| = 3, Z = 4, eta = 0 (256 candidates), 2,000 random steps."""
    key = jax.random.key(5)
    env, params = random_factored_mdp(key, 6, 3, max_parents=3)
    # Precondition (the edge-effect margin): every true edge changes some
    # conditional by >= 0.2 in total variation.
    cpts = np.asarray(params.cpts)
    for j in range(6):
        for k in range(3):
            stride = 2 ** (2 - k)
            u = np.arange(8)
            flipped = u ^ stride
            assert np.max(np.abs(cpts[j, u, 1] - cpts[j, flipped, 1])) >= 0.2
    # 2,000 transitions from uniformly random states under uniformly random
    # actions, next states drawn from the true model.
    key_s, key_a, key_next = jax.random.split(jax.random.key(1), 3)
    states = jax.random.randint(key_s, (2000,), 0, env.num_states)
    actions = jax.random.randint(key_a, (2000,), 0, env.num_actions)
    next_probs = jax.jit(env.model)(params).transitions[states, actions]
    next_states = jax.random.categorical(key_next, jnp.log(next_probs))
    x = jnp.asarray(env.input_factors())[states, actions]
    y = jnp.asarray(env.state_factors)[next_states]
    tables = _tables(env, 4)
    assert tables.num_candidates == 256
    valid = jnp.ones((6, 256), bool)
    _, log_evidence = _scan_observe(tables, valid, 1.0, x, y)
    probs = np.asarray(jax.nn.softmax(log_evidence, axis=-1))
    for j, parents in enumerate(np.asarray(params.parents)):
        true = np.zeros(9, bool)
        true[parents] = True
        exact = np.all(tables.members[j] == true, axis=-1)
        superset = np.all(tables.members[j] | ~true, axis=-1)
        assert probs[j, exact].sum() > 0.95
        assert probs[j, superset].sum() > 0.99
