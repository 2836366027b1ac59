"""bayesrl.random: bit-identity with jax.random, exact laws (KS vs scipy), no NaN.

KS tests use fixed keys and a false-alarm level of 1e-3 per test: with the
fixed keys they are deterministic, and a correct sampler fails one only with
probability 1e-3 over the choice of key.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from bayesrl import random as fast_random

ALPHA = 1e-3  # KS false-alarm level per test
N = 20_000


def log_gamma_cdf(a):
    """CDF of log G, G ~ Gamma(a): P(a, e^x), with the series P(a, z) ~
    z^a / Gamma(a + 1) where e^x underflows float64."""

    def cdf(x):
        x = np.asarray(x, np.float64)
        z = np.exp(x)
        tiny = z < 1e-250
        with np.errstate(over="ignore"):  # only used where z is tiny
            series = np.exp(a * x - special.gammaln(a + 1.0))
        return np.where(tiny, series, special.gammainc(a, np.where(tiny, 1.0, z)))

    return cdf


@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (1000,)])
def test_bits_uniform_normal_split_are_bit_identical_to_jax(shape):
    key = jax.random.key(3)
    assert jnp.array_equal(fast_random.bits(key, shape), jax.random.bits(key, shape))
    assert jnp.array_equal(
        fast_random.uniform(key, shape), jax.random.uniform(key, shape)
    )
    assert jnp.array_equal(
        fast_random.normal(key, shape), jax.random.normal(key, shape)
    )
    assert jnp.array_equal(
        jax.random.key_data(fast_random.split(key, 5)),
        jax.random.key_data(jax.random.split(key, 5)),
    )


@pytest.mark.parametrize(
    "shape, minval, maxval",
    [
        ((), 0, 7),
        ((1000,), 0, 10),
        ((4, 9), -50, 13),
        ((257,), 3, 3),  # empty range: minval
        ((64,), 9, 2),  # reversed range: minval
        ((512,), -(2**31), 2**31 - 1),  # the widest int32 span
        ((300,), 0, 2**30 + 3),  # a span far from a power of two
    ],
)
def test_randint_is_bit_identical_to_jax(shape, minval, maxval):
    for seed in range(3):
        key = jax.random.key(seed)
        ours = fast_random.randint(key, shape, minval, maxval)
        assert ours.dtype == jnp.int32
        assert jnp.array_equal(ours, jax.random.randint(key, shape, minval, maxval))


def test_randint_with_traced_and_batched_bounds_matches_jax():
    keys = jax.random.split(jax.random.key(8), 6)
    maxvals = jnp.array([1, 2, 5, 100, 9999, 12345], jnp.int32)

    def both(key, maxval):
        return (
            fast_random.randint(key, (40,), 2, maxval),
            jax.random.randint(key, (40,), 2, maxval),
        )

    ours, theirs = jax.jit(jax.vmap(both))(keys, maxvals)
    assert jnp.array_equal(ours, theirs)
    # Array bounds broadcast against the shape, as in jax.random.
    lows = jnp.arange(5, dtype=jnp.int32)
    assert jnp.array_equal(
        fast_random.randint(keys[0], (3, 5), lows, 50),
        jax.random.randint(keys[0], (3, 5), lows, 50),
    )


def test_randint_other_dtypes_delegate_to_jax():
    key = jax.random.key(2)
    ours = fast_random.randint(key, (100,), 0, 200, jnp.uint8)
    assert ours.dtype == jnp.uint8
    assert jnp.array_equal(ours, jax.random.randint(key, (100,), 0, 200, jnp.uint8))


@pytest.mark.parametrize("p, shape", [(0.3, (1000,)), (0.5, None), (0.9, (4, 5))])
def test_bernoulli_is_bit_identical_to_jax(p, shape):
    key = jax.random.key(6)
    assert jnp.array_equal(
        fast_random.bernoulli(key, p, shape), jax.random.bernoulli(key, p, shape)
    )
    probs = jnp.linspace(0.0, 1.0, 33)
    assert jnp.array_equal(
        fast_random.bernoulli(key, probs), jax.random.bernoulli(key, probs)
    )
    with pytest.raises(TypeError, match="floating"):
        fast_random.bernoulli(key, jnp.array(1))


@pytest.mark.parametrize("shape", [(7,), (4, 3), (50, 2, 6)])
def test_categorical_is_bit_identical_to_jax(shape):
    logits = jnp.log(jax.random.dirichlet(jax.random.key(1), jnp.ones(shape)))
    logits = logits.at[..., 0].set(-jnp.inf)  # an impossible category
    for seed in range(3):
        key = jax.random.key(seed)
        ours = fast_random.categorical(key, logits)
        assert jnp.array_equal(ours, jax.random.categorical(key, logits))
        assert not bool(jnp.any(ours == 0))


def test_split_nth_is_one_key_of_split():
    keys = jax.random.split(jax.random.key(12), 7)
    for num in (1, 2, 3, 5):
        whole = jax.vmap(lambda k, n=num: fast_random.split(k, n))(keys)
        for index in range(num):
            alone = jax.vmap(lambda k, n=num, i=index: fast_random.split_nth(k, n, i))(
                keys
            )
            assert jnp.array_equal(
                jax.random.key_data(alone), jax.random.key_data(whole[:, index])
            )
    with pytest.raises(ValueError, match="index"):
        fast_random.split_nth(keys[0], 3, 3)


@pytest.mark.parametrize("num_lanes", [20, 5000])
def test_log_gamma_draws_do_not_depend_on_num_candidates(num_lanes):
    # Shapes 1 and 0.3 reject most often (acceptance about 95% at a = 1).
    # Each lane must keep the same (first accepted) candidate whatever m is.
    # Compiled separately, the programs may round a transcendental differently
    # in the last bit (1e-6 here), while another candidate would move log G
    # by O(0.1): hence atol 1e-5 rather than bit equality.
    shapes = jnp.where(jnp.arange(num_lanes) % 2 == 0, 1.0, 0.3)
    key = jax.random.key(21)
    draws = [
        jax.jit(functools.partial(fast_random.log_gamma, num_candidates=m))(key, shapes)
        for m in (None, 1, 2, 3)
    ]
    for other in draws[1:]:
        np.testing.assert_allclose(draws[0], other, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="num_candidates"):
        fast_random.log_gamma(key, shapes, num_candidates=0)


def test_bit_identity_in_float64():
    key = jax.random.key(4)
    with jax.enable_x64(True):
        assert jnp.array_equal(
            fast_random.uniform(key, (64,), jnp.float64),
            jax.random.uniform(key, (64,), jnp.float64),
        )
        assert jnp.array_equal(
            fast_random.normal(key, (64,), jnp.float64),
            jax.random.normal(key, (64,), jnp.float64),
        )


def test_uniform_respects_bounds():
    u = fast_random.uniform(jax.random.key(0), (10_000,), minval=-2.0, maxval=3.0)
    assert float(u.min()) >= -2.0 and float(u.max()) < 3.0


@pytest.mark.parametrize("a", [1e-3, 0.1, 0.5, 1.0, 2.5, 10.0, 1e3, 1e7])
def test_log_gamma_law_matches_scipy(a):
    log_g = fast_random.log_gamma(jax.random.key(11), jnp.full((N,), a))
    assert bool(jnp.all(jnp.isfinite(log_g)))
    assert stats.kstest(np.asarray(log_g), log_gamma_cdf(a)).pvalue > ALPHA


@pytest.mark.parametrize("num_candidates", [1, 3])
def test_fallback_loop_keeps_the_exact_law(num_candidates):
    # With one candidate about 5% of lanes at a = 1 go through the fallback loop.
    a = 1.0
    log_g = fast_random.log_gamma(
        jax.random.key(12), jnp.full((N,), a), num_candidates=num_candidates
    )
    assert stats.kstest(np.asarray(log_g), log_gamma_cdf(a)).pvalue > ALPHA


def test_gamma_is_a_drop_in_for_jax_random_gamma():
    a = jnp.array([0.3, 2.0, 50.0])
    g = fast_random.gamma(jax.random.key(2), a, (N, 3))
    assert g.shape == (N, 3)
    for j in range(3):
        assert (
            stats.kstest(np.asarray(g[:, j]), stats.gamma(float(a[j])).cdf).pvalue
            > ALPHA
        )


@pytest.mark.parametrize(
    "a,b",
    [(1.0, 1.0), (2.0, 5.0), (0.3, 0.7), (1e-3, 2.0), (100.0, 3000.0), (1e6, 1e6)],
)
def test_beta_law_matches_scipy(a, b):
    x = fast_random.beta(jax.random.key(5), a, b, (N,))
    assert bool(jnp.all((x >= 0) & (x <= 1)))
    if a >= 1e-2:  # below that, float32 draws pile up at exactly 0
        assert stats.kstest(np.asarray(x), stats.beta(a, b).cdf).pvalue > ALPHA


def test_beta_fast_path_for_shapes_at_least_one_keeps_the_law():
    x = fast_random.beta(jax.random.key(6), 3.0, 7.0, (N,), shapes_at_least_one=True)
    assert stats.kstest(np.asarray(x), stats.beta(3.0, 7.0).cdf).pvalue > ALPHA


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_no_nan_at_extreme_shapes(dtype):
    shapes = jnp.array([1e-3, 1e-2, 1.0, 1e3, 1e7])
    a, b = jnp.meshgrid(shapes, shapes)
    with jax.enable_x64(dtype == jnp.float64):
        a, b = a.astype(dtype), b.astype(dtype)
        draw = jax.jit(
            lambda k: (fast_random.beta(k, a, b), fast_random.log_gamma(k, a))
        )
        for seed in range(5):
            x, g = draw(jax.random.key(seed))
            assert x.dtype == dtype
            assert bool(jnp.all(jnp.isfinite(x))) and bool(jnp.all(jnp.isfinite(g)))


def test_dirichlet_marginals_and_simplex():
    alpha = jnp.array([0.5, 2.0, 7.0])
    x = fast_random.dirichlet(jax.random.key(8), alpha, (N,))
    assert x.shape == (N, 3)
    np.testing.assert_allclose(np.asarray(x.sum(-1)), 1.0, rtol=1e-5)
    total = float(alpha.sum())
    for j in range(3):
        marginal = stats.beta(float(alpha[j]), total - float(alpha[j]))
        assert stats.kstest(np.asarray(x[:, j]), marginal.cdf).pvalue > ALPHA


def test_vmap_equals_loop():
    # Two different compiled programs (batched and single) may round the last
    # bit of log/erf_inv differently (XLA:CPU vectorises them differently), so
    # the draws agree to a few ulps; a logic error (a lane reading another
    # lane's counters) would differ by O(1).
    keys = fast_random.split(jax.random.key(9), 64)
    a = jnp.linspace(0.5, 20.0, 10)
    draw = jax.jit(lambda k: fast_random.beta(k, a, 2.0 * a))
    batched = np.asarray(jax.jit(jax.vmap(draw))(keys))
    looped = np.stack([np.asarray(draw(k)) for k in keys])
    np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "batched_key,batched_shape", [(True, True), (True, False), (False, True)]
)
def test_batching_rule_folds_every_batch_layout_into_lanes(batched_key, batched_shape):
    # The vmap rule of the Gamma kernel flattens the batch into lanes; each
    # combination of batched and unbatched arguments, and a nested vmap, must
    # reproduce the per-example draws (to the last-bit rounding noted above).
    # a = 1 with one candidate sends about 5% of lanes through the fallback
    # rounds, so the lanes' fallback counters are checked too.
    keys = fast_random.split(jax.random.key(21), 12).reshape(3, 4)
    shapes = jnp.linspace(1.0, 3.0, 3 * 4 * 50).reshape(3, 4, 50)
    shapes = shapes.at[..., :25].set(1.0)

    def draw(k, a):
        return fast_random.log_gamma(k, a, num_candidates=1)

    key_axis = 0 if batched_key else None
    shape_axis = 0 if batched_shape else None
    key_arg = keys if batched_key else keys[0, 0]
    shape_arg = shapes if batched_shape else shapes[0, 0]
    inner = jax.vmap(draw, in_axes=(key_axis, shape_axis))
    nested = jax.jit(jax.vmap(inner, in_axes=(key_axis, shape_axis)))(
        key_arg, shape_arg
    )
    assert nested.shape == (3, 4, 50)
    single = jax.jit(draw)  # unbatched: one compilation, not 12 op-by-op runs
    for i in range(3):
        for j in range(4):
            k = keys[i, j] if batched_key else keys[0, 0]
            a = shapes[i, j] if batched_shape else shapes[0, 0]
            np.testing.assert_allclose(
                np.asarray(nested[i, j]), np.asarray(single(k, a)), rtol=1e-5, atol=1e-6
            )


def test_invalid_shape_gives_nan_and_bad_key_raises():
    out = fast_random.log_gamma(jax.random.key(0), jnp.array([-1.0, 0.0, jnp.nan]))
    assert bool(jnp.all(jnp.isnan(out)))
    with pytest.raises(ValueError, match="typed PRNG key"):
        fast_random.gamma(jax.random.PRNGKey(0), 1.0)
    with pytest.raises(ValueError, match="num_candidates"):
        fast_random.gamma(jax.random.key(0), 1.0, num_candidates=0)


# sha256 prefixes of draws made by the sampler before subnormal shapes were
# handled (commit 9ff5bef), on XLA:CPU: the handling must not move one bit at
# ordinary shapes. Recompute with _draw_digests if the sampler is meant to change.
ORDINARY_SHAPES = np.array(
    [1e-30, 1e-6, 1e-3, 0.1, 0.5, 0.999, 1.0, 1.5, 3.0, 10.0, 1e3, 1e7, 1e20],
    np.float32,
)
GOLDEN_DIGESTS = {
    0: ("6d1c34011144e065", "335fc36e98ba7d70", "4f7d7fcc94826146",
        "d0122ad68cf7cdbe", "f2cd2be1dae31d3d", "59042cefe6bdb7e9"),
    1: ("93b4fa54c049ddfa", "ded327c4ea2b5015", "5e47420d75e27236",
        "e36486f6f11d41cb", "aa34a4eb02aa6065", "05f8a9abbe792d6a"),
    2: ("1318c01c9c365199", "5e6f573ff6a50b0e", "d8952964ddbb82b7",
        "88306eaa17b16221", "52c4f89f20e4a86c", "f9e9aa65c5b04d8f"),
}  # fmt: skip


def _draw_digests(seed):
    import hashlib

    key = jax.random.key(seed)
    shapes = ORDINARY_SHAPES
    tiled = jnp.tile(shapes, 8)
    big = jnp.tile(shapes[6:], 8)
    draws = (
        fast_random.log_gamma(key, tiled),
        fast_random.gamma(key, tiled),
        fast_random.beta(key, tiled, jnp.repeat(shapes[::-1], 8)),
        fast_random.beta(key, big, big, shapes_at_least_one=True),
        fast_random.dirichlet(key, jnp.tile(shapes[1:], (5, 1))),
        jax.vmap(lambda k: fast_random.beta(k, shapes, shapes[::-1]))(
            jax.random.split(key, 4)
        ),
    )
    return tuple(
        hashlib.sha256(np.asarray(x).tobytes()).hexdigest()[:16] for x in draws
    )


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="digests are XLA:CPU's")
@pytest.mark.parametrize("seed", sorted(GOLDEN_DIGESTS))
def test_draws_at_ordinary_shapes_are_bit_identical_to_before(seed):
    assert _draw_digests(seed) == GOLDEN_DIGESTS[seed]


def _tiny_shapes(dtype):
    info = np.finfo(dtype)
    if dtype == np.float32:
        return [info.smallest_subnormal, 1e-45, 1e-39, 1.2e-38, info.tiny, 5e-38, 1e-30]
    return [info.smallest_subnormal, 1e-320, 1e-310, info.tiny, 1e-300]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fast", [True, False])
def test_no_nan_at_subnormal_and_tiny_shapes(dtype, fast):
    info = np.finfo(dtype)
    shapes = np.array([*_tiny_shapes(dtype), 0.5, 1.0, 1e3, info.max / 4], dtype)
    with jax.enable_x64(dtype == np.float64):
        a, b = (jnp.asarray(x, dtype) for x in np.meshgrid(shapes, shapes))
        for seed in range(3):
            key = jax.random.key(seed, impl=None if fast else "rbg")
            x = fast_random.beta(key, a, b)
            log_g = fast_random.log_gamma(key, a)
            g = fast_random.gamma(key, a)
            d = fast_random.dirichlet(key, jnp.stack([a, b, a], axis=-1))
            assert not bool(jnp.any(jnp.isnan(x))), (seed, np.asarray(x))
            assert bool(jnp.all((x >= 0) & (x <= 1)))
            assert not bool(jnp.any(jnp.isnan(log_g) | (log_g == jnp.inf)))
            assert bool(jnp.all(g >= 0)) and not bool(jnp.any(jnp.isnan(g)))
            assert bool(jnp.all(jnp.abs(d.sum(-1) - 1) < 1e-5))
            # The limit: Gamma(a) for tiny a underflows to 0 almost surely.
            assert float(g[0, 0]) == 0.0 and float(g[0, 1]) == 0.0


@pytest.mark.parametrize(
    "a, b", [(1e-39, 3e-39), (1e-45, 1e-45), (2e-38, 1e-39), (1e-39, 1e-37)]
)
def test_beta_at_tiny_shapes_is_bernoulli_with_the_limit_law(a, b):
    # Beta(a, b) -> Bernoulli(a / (a + b)) on {0, 1} as a, b -> 0.
    n = 20_000
    a_array = jnp.full((n,), a, jnp.float32)
    b_array = jnp.full((n,), b, jnp.float32)
    x = np.asarray(fast_random.beta(jax.random.key(3), a_array, b_array))
    assert np.all((x == 0) | (x == 1))
    p = a / (a + b)
    assert stats.binomtest(int(x.sum()), n, p).pvalue > ALPHA


def test_dirichlet_at_tiny_shapes_is_categorical_with_the_limit_law():
    n = 20_000
    alpha = np.array([1e-39, 2e-39, 1e-38])
    x = np.asarray(
        fast_random.dirichlet(jax.random.key(4), jnp.asarray(alpha, jnp.float32), (n,))
    )
    assert np.all((x == 0) | (x == 1)) and np.all(x.sum(-1) == 1)
    counts = x.sum(0)
    assert stats.chisquare(counts, n * alpha / alpha.sum()).pvalue > ALPHA


def test_vmap_equals_loop_at_tiny_shapes():
    a = jnp.array([1e-39, 1e-45, 2e-38, 0.5], jnp.float32)
    keys = jax.random.split(jax.random.key(5), 6)
    batched = jax.vmap(lambda k: fast_random.beta(k, a, a[::-1]))(keys)
    looped = jnp.stack([fast_random.beta(k, a, a[::-1]) for k in keys])
    np.testing.assert_array_equal(np.asarray(batched), np.asarray(looped))
