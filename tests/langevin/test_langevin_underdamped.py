"""The underdamped Langevin transforms (EulerULMC and aULMC): the official steps
against NumPy references, the exact stationary law of the (position, momentum)
chain on a quadratic loss, revert-and-flag and refused hyper-parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
from blackjax.util import generate_gaussian_noise

from bayesrl.langevin import adam_underdamped_langevin, underdamped_langevin


def _numpy_euler_ulmc(w, p, g, xi, *, eta, gamma, beta, wd):
    """EulerULMC written from the spec (section 2.4): noise on the momentum."""
    g = g + wd * w
    p = (1 - eta * gamma) * p + eta * g + np.sqrt(2 * eta * gamma / beta) * xi
    return w - eta * p, p


def _numpy_aulmc(w, p, m, v, g, xi, *, eta, a, gamma, beta, b1, b2, eps, wd):
    """aULMC written from the spec (sections 2.1 and 2.4): noise on the position."""
    g = g + wd * w
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    p = (1 - eta * gamma) * p + eta * (g + a * m / (np.sqrt(v) + eps))
    w = w - eta * p + np.sqrt(2 * eta * gamma / beta) * xi
    return w, p, m, v


def _params():
    return {"w": jnp.array([0.3, -1.2, 2.0]), "b": jnp.array([[0.5], [-0.1]])}


@pytest.mark.parametrize("weight_decay", [0.0, 0.03])
def test_underdamped_langevin_matches_numpy_reference(key, weight_decay):
    hyper = dict(eta=0.05, gamma=2.0, beta=50.0)
    transform = underdamped_langevin(
        hyper["eta"], hyper["gamma"], hyper["beta"], weight_decay=weight_decay
    )
    params = _params()
    state = transform.init(params)
    update = jax.jit(transform.update)
    ref_w = {n: np.asarray(x, np.float64) for n, x in params.items()}
    ref_p = {n: np.zeros_like(x) for n, x in ref_w.items()}
    rng = np.random.default_rng(1)
    for k in jax.random.split(key, 6):
        grads = {
            n: jnp.asarray(rng.normal(size=x.shape), jnp.float32)
            for n, x in params.items()
        }
        xi = generate_gaussian_noise(k, grads)  # the draw the transform makes
        updates, state = update(grads, state, params, key=k)
        params = optax.apply_updates(params, updates)
        for n in ref_w:
            ref_w[n], ref_p[n] = _numpy_euler_ulmc(
                ref_w[n],
                ref_p[n],
                np.asarray(grads[n], np.float64),
                np.asarray(xi[n], np.float64),
                wd=weight_decay,
                **hyper,
            )
            np.testing.assert_allclose(params[n], ref_w[n], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                state.momentum[n], ref_p[n], rtol=1e-5, atol=1e-6
            )
    assert int(state.count) == 6 and int(state.num_nonfinite) == 0


@pytest.mark.parametrize("weight_decay", [0.0, 0.03])
def test_adam_underdamped_langevin_matches_numpy_reference(key, weight_decay):
    hyper = dict(eta=0.05, a=0.7, gamma=2.0, beta=50.0, b1=0.9, b2=0.999, eps=1e-8)
    transform = adam_underdamped_langevin(
        hyper["eta"],
        hyper["a"],
        hyper["gamma"],
        hyper["beta"],
        weight_decay=weight_decay,
    )
    params = _params()
    state = transform.init(params)
    update = jax.jit(transform.update)
    ref_w = {n: np.asarray(x, np.float64) for n, x in params.items()}
    ref_p = {n: np.zeros_like(x) for n, x in ref_w.items()}
    ref_m = {n: np.zeros_like(x) for n, x in ref_w.items()}
    ref_v = {n: np.zeros_like(x) for n, x in ref_w.items()}
    rng = np.random.default_rng(2)
    for t, k in enumerate(jax.random.split(key, 6), start=1):
        grads = {
            n: jnp.asarray(rng.normal(size=x.shape), jnp.float32)
            for n, x in params.items()
        }
        xi = generate_gaussian_noise(k, grads)
        updates, state = update(grads, state, params, key=k)
        params = optax.apply_updates(params, updates)
        for n in ref_w:
            ref_w[n], ref_p[n], ref_m[n], ref_v[n] = _numpy_aulmc(
                ref_w[n],
                ref_p[n],
                ref_m[n],
                ref_v[n],
                np.asarray(grads[n], np.float64),
                np.asarray(xi[n], np.float64),
                wd=weight_decay,
                **hyper,
            )
            np.testing.assert_allclose(params[n], ref_w[n], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                state.momentum[n], ref_p[n], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(state.mu[n], ref_m[n], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(state.nu[n], ref_v[n], rtol=1e-5, atol=1e-9)
        if t == 1 and not weight_decay:
            # Moments before the step, no bias correction: 0.1 g and 0.001 g^2.
            np.testing.assert_allclose(state.mu["w"], 0.1 * grads["w"], rtol=1e-6)
            np.testing.assert_allclose(state.nu["w"], 1e-3 * grads["w"] ** 2, rtol=1e-5)


def test_noise_sits_on_the_momentum_for_euler_ulmc_and_on_the_position_for_aulmc(
    key,
):
    # With a zero gradient from rest, the only motion is the noise.
    eta, gamma, beta = 0.1, 3.0, 2.0
    scale = np.sqrt(2 * eta * gamma / beta)
    params = jnp.zeros(5)
    xi = generate_gaussian_noise(key, params)
    euler = underdamped_langevin(eta, gamma, beta)
    updates, state = jax.jit(euler.update)(jnp.zeros(5), euler.init(params), key=key)
    np.testing.assert_allclose(state.momentum, scale * xi, rtol=1e-6)
    np.testing.assert_allclose(updates, -eta * scale * xi, rtol=1e-6)
    adam = adam_underdamped_langevin(eta, 1.0, gamma, beta)
    updates, state = jax.jit(adam.update)(jnp.zeros(5), adam.init(params), key=key)
    np.testing.assert_array_equal(state.momentum, 0.0)
    np.testing.assert_allclose(updates, scale * xi, rtol=1e-6)


# A quadratic loss L(w) = w' Lambda w - 2 b' w (gradient 2 (Lambda w - b)).
PRECISION = np.array([[2.0, 0.6], [0.6, 1.0]])
SHIFT = np.array([1.0, -0.5])
ETA, FRICTION, BETA = 0.1, 2.0, 4.0


def _exact_stationary_law(noise_on_position):
    """Stationary (mean, cov) of the linear-Gaussian chain x = (w, p).

    Both steps are x' = A x + c + B xi with the same A on a quadratic loss
    (aULMC with a = 0); the covariance solves Sigma = A Sigma A' + B B'.
    """
    d = len(SHIFT)
    eye = np.eye(d)
    damping = 1 - ETA * FRICTION
    transition = np.block(
        [
            [eye - 2 * ETA**2 * PRECISION, -ETA * damping * eye],
            [2 * ETA * PRECISION, damping * eye],
        ]
    )
    scale = np.sqrt(2 * ETA * FRICTION / BETA)
    if noise_on_position:  # aULMC: w' = w - eta p' + s xi
        noise_map = np.vstack([scale * eye, np.zeros((d, d))])
    else:  # EulerULMC: p' = ... + s xi, w' = w - eta p'
        noise_map = np.vstack([-ETA * scale * eye, scale * eye])
    assert np.max(np.abs(np.linalg.eigvals(transition))) < 0.9  # mixes fast
    cov = scipy.linalg.solve_discrete_lyapunov(transition, noise_map @ noise_map.T)
    mean = np.concatenate([np.linalg.solve(PRECISION, SHIFT), np.zeros(d)])
    return mean, cov


def _stationary_chains(key, transform, num_chains=20_000, num_steps=200):
    # 0.9^200 < 1e-9: the start (w, p) = 0 is forgotten far below the MC error.
    precision = jnp.asarray(PRECISION, jnp.float32)
    shift = jnp.asarray(SHIFT, jnp.float32)

    def chain(key):
        def body(carry, k):
            w, s = carry
            updates, s = transform.update(2.0 * (precision @ w - shift), s, key=k)
            return (w + updates, s), None

        w0 = jnp.zeros(2)
        (w, s), _ = jax.lax.scan(
            body, (w0, transform.init(w0)), jax.random.split(key, num_steps)
        )
        return jnp.concatenate([w, s.momentum])

    return np.asarray(
        jax.jit(jax.vmap(chain))(jax.random.split(key, num_chains)), np.float64
    )


@pytest.mark.parametrize("noise_on_position", [False, True])
def test_stationary_law_of_position_and_momentum_is_the_discrete_lyapunov_law(
    key, noise_on_position
):
    if noise_on_position:
        transform = adam_underdamped_langevin(ETA, 0.0, FRICTION, BETA)
    else:
        transform = underdamped_langevin(ETA, FRICTION, BETA)
    samples = _stationary_chains(key, transform)
    mean, cov = _exact_stationary_law(noise_on_position)
    n = samples.shape[0]
    mean_se = np.sqrt(np.diag(cov) / n)
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), 5 * mean_se)
    # Gaussian: var of x_i x_j is Sigma_ii Sigma_jj + Sigma_ij^2.
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    sample_cov = np.cov(samples, rowvar=False)
    np.testing.assert_array_less(np.abs(sample_cov - cov), 5 * cov_se)


def test_euler_ulmc_position_law_is_near_gibbs_and_aulmc_is_not():
    # Documents what the official steps sample: EulerULMC's position covariance
    # is within 2% of the Gibbs (2 beta)^{-1} Lambda^{-1}; aULMC's position noise
    # sqrt(2 eta gamma / beta) is not a discretisation of the underdamped SDE
    # and inflates it several-fold.
    gibbs = np.linalg.inv(PRECISION) / (2 * BETA)
    _, euler = _exact_stationary_law(noise_on_position=False)
    _, aulmc = _exact_stationary_law(noise_on_position=True)
    np.testing.assert_allclose(euler[:2, :2], gibbs, rtol=0.02, atol=1e-3)
    assert np.all(np.diag(aulmc)[:2] > 3 * np.diag(gibbs))


def test_first_step_with_zero_gradient_is_finite_and_nonfinite_steps_revert(key):
    params = jnp.ones(3)
    for transform in (
        underdamped_langevin(1e-3, 1.0, 1e10),
        adam_underdamped_langevin(1e-3, 1.0, 1.0, 1e10),
    ):
        updates, state = transform.update(
            jnp.zeros(3), transform.init(params), params, key=key
        )
        assert np.all(np.isfinite(updates)) and int(state.num_nonfinite) == 0
    # eps = 0 and a zero gradient give 0/0 in the Adam term: reverted, state kept.
    transform = adam_underdamped_langevin(1e-3, 1.0, 1.0, 1e10, eps=0.0)
    updates, state = transform.update(
        jnp.zeros(3), transform.init(params), params, key=key
    )
    np.testing.assert_array_equal(updates, 0.0)
    assert int(state.num_nonfinite) == 1 and int(state.count) == 0
    np.testing.assert_array_equal(state.momentum, 0.0)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: underdamped_langevin(1e3, 1e-3, 1.0),
        lambda: adam_underdamped_langevin(1e3, 1.0, 1e-3, 1.0),
    ],
)
def test_extreme_steps_are_flagged_and_every_position_stays_finite(key, factory):
    # An extreme step on w^4 overflows float32 within a few steps.
    transform = factory()

    def body(carry, k):
        w, s = carry
        updates, s = transform.update(4 * w**3, s, key=k)
        return (w + updates, s), w

    (w, s), path = jax.lax.scan(
        body, (jnp.ones(4), transform.init(jnp.ones(4))), jax.random.split(key, 30)
    )
    assert np.all(np.isfinite(path)) and np.all(np.isfinite(w))
    assert np.all(np.isfinite(s.momentum))
    assert int(s.num_nonfinite) > 0


def test_noise_multiplier_is_traceable_and_zero_turns_the_noise_off(key):
    def run(multiplier):
        transform = adam_underdamped_langevin(
            0.1, 0.5, 1.0, 1.0, noise_multiplier=multiplier
        )
        updates, _ = transform.update(
            jnp.ones(3), transform.init(jnp.zeros(3)), key=key
        )
        return updates

    out = jax.jit(jax.vmap(run))(jnp.array([0.0, 1.0]))
    # First step from rest: p = eta (g + a 0.1 g / (sqrt(0.001) |g| + eps)).
    expected = -0.1 * 0.1 * (1.0 + 0.5 * 0.1 / (np.sqrt(1e-3) + 1e-8))
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    assert not np.allclose(out[1], expected)


@pytest.mark.parametrize(
    "factory,kwargs,name",
    [
        (underdamped_langevin, dict(step_size=0.0), "step_size"),
        (underdamped_langevin, dict(friction=0.0), "friction"),
        (underdamped_langevin, dict(friction=-1.0), "friction"),
        (underdamped_langevin, dict(inverse_temperature=0.0), "inverse_temperature"),
        (underdamped_langevin, dict(step_size=0.5, friction=3.0), "friction"),
        (underdamped_langevin, dict(weight_decay=-1.0), "weight_decay"),
        (adam_underdamped_langevin, dict(bias_factor=-1.0), "bias_factor"),
        (adam_underdamped_langevin, dict(friction=float("nan")), "friction"),
        (adam_underdamped_langevin, dict(step_size=2.0, friction=1.0), "friction"),
        (adam_underdamped_langevin, dict(b2=1.0), "b2"),
        (adam_underdamped_langevin, dict(noise_multiplier=-1.0), "noise_multiplier"),
    ],
)
def test_invalid_hyper_parameters_are_refused(factory, kwargs, name):
    base = dict(step_size=1e-2, friction=1.0, inverse_temperature=1.0)
    if factory is adam_underdamped_langevin:
        base["bias_factor"] = 1.0
    with pytest.raises(ValueError, match=name):
        factory(**{**base, **kwargs})
