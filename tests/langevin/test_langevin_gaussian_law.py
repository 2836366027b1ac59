"""Exact Gaussian law of Langevin iterates on a ridge (Gaussian linear-regression)
loss: stationary, finite-J, warm-started and preconditioned laws, with
tolerances from Monte Carlo standard errors (5 SE per entry)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.langevin import (
    exact_gaussian_sample_from_noise,
    gaussian_law,
    preconditioned_langevin,
    quadratic_langevin_step,
    sgld,
)

# A d = 3 ridge design: Lambda = X'X + I, b = X'y (fixed data and targets).
_X = np.array(
    [
        [1.0, 0.2, 0.0],
        [0.3, 1.1, -0.4],
        [0.0, -0.5, 0.9],
        [0.7, 0.1, 0.3],
        [0.2, 0.4, 0.6],
    ]
)
_Y = np.array([1.0, -0.5, 0.3, 0.8, 0.1])
PRECISION = jnp.asarray(_X.T @ _X + np.eye(3), jnp.float32)
SHIFT = jnp.asarray(_X.T @ _Y, jnp.float32)
W_HAT = jnp.linalg.solve(PRECISION, SHIFT)
LAMBDA_MAX = float(jnp.linalg.eigvalsh(PRECISION)[-1])
BETA = 2.0


def _run_chains(key, transform, w0, num_chains, num_steps, preconditioner=None):
    """``num_chains`` independent chains of ``num_steps`` transform steps."""
    extra = {} if preconditioner is None else {"preconditioner": preconditioner}

    def chain(key):
        def body(carry, k):
            w, s = carry
            grads = 2.0 * (PRECISION @ w - SHIFT)
            updates, s = transform.update(grads, s, key=k, **extra)
            return (w + updates, s), None

        (w, _), _ = jax.lax.scan(
            body, (w0, transform.init(w0)), jax.random.split(key, num_steps)
        )
        return w

    return jax.jit(jax.vmap(chain))(jax.random.split(key, num_chains))


def _assert_law(samples, mean, cov, num_se=5.0):
    samples = np.asarray(samples, np.float64)
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    n = samples.shape[0]
    mean_se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(samples.mean(0) - mean) <= num_se * mean_se), (
        samples.mean(0),
        mean,
    )
    # Var(S_ij) = (S_ii S_jj + S_ij^2) / n for Gaussian samples.
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    sample_cov = np.cov(samples, rowvar=False)
    assert np.all(np.abs(sample_cov - cov) <= num_se * cov_se), (sample_cov, cov)


def test_stationary_law_is_the_discrete_time_law_not_gibbs(key):
    eta = 1.0 / (4.0 * LAMBDA_MAX)
    samples = _run_chains(key, sgld(eta, 1.0 / BETA), W_HAT, 20_000, 300)
    mean, cov = gaussian_law(W_HAT, PRECISION, W_HAT, eta, BETA, None)
    gibbs = np.linalg.inv(np.asarray(PRECISION)) / (2 * BETA)
    expected = gibbs @ np.linalg.inv(np.eye(3) - eta * np.asarray(PRECISION))
    np.testing.assert_allclose(cov, expected, rtol=1e-4, atol=1e-6)
    _assert_law(samples, mean, cov)
    # Along the top eigenvector the variance is 4/3 of the Gibbs value.
    top = np.linalg.eigh(np.asarray(PRECISION))[1][:, -1]
    ratio = np.var(np.asarray(samples) @ top) / (top @ gibbs @ top)
    se = np.sqrt(2.0 / samples.shape[0]) * 4 / 3
    assert abs(ratio - 4 / 3) < 5 * se
    assert abs(ratio - 1.0) > 10 * se  # the Gibbs formula is rejected


def test_stationary_law_in_float64(key):
    # The x64 job of spec 8.1: the same chain in double precision (noise,
    # gradients and iterates in float64) has the same exact law.
    eta = 1.0 / (4.0 * LAMBDA_MAX)
    with jax.enable_x64(True):
        w0 = jnp.asarray(W_HAT, jnp.float64)
        samples = _run_chains(key, sgld(eta, 1.0 / BETA), w0, 20_000, 300)
        assert samples.dtype == jnp.float64
    mean, cov = gaussian_law(W_HAT, PRECISION, W_HAT, eta, BETA, None)
    _assert_law(samples, mean, cov)


def test_small_step_stationary_law_is_close_to_gibbs(key):
    eta = 1.0 / (40.0 * LAMBDA_MAX)
    _, cov = gaussian_law(W_HAT, PRECISION, W_HAT, eta, BETA, None)
    gibbs = np.linalg.inv(np.asarray(PRECISION)) / (2 * BETA)
    assert np.max(np.abs(cov - gibbs) / np.abs(gibbs).max()) < 0.04


def test_finite_j_law_from_a_distant_start(key):
    eta = 1.0 / (4.0 * LAMBDA_MAX)
    w0 = jnp.array([3.0, -2.0, 1.5])
    samples = _run_chains(key, sgld(eta, 1.0 / BETA), w0, 40_000, 7)
    mean, cov = gaussian_law(w0, PRECISION, W_HAT, eta, BETA, 7)
    assert np.linalg.norm(mean - W_HAT) > 0.1  # far from stationarity
    _assert_law(samples, mean, cov)


def test_warm_started_episodes_follow_the_affine_recursion(key):
    # Three episodes with growing data (Lambda_k, w_hat_k) and J_k steps each,
    # warm-started from the previous episode's iterate.
    episodes = [
        (PRECISION, SHIFT, 3),
        (PRECISION * 2.0, SHIFT * 1.5, 5),
        (PRECISION * 3.0, SHIFT * 2.5, 2),
    ]
    eta0 = 0.2

    def chain(key):
        w = jnp.zeros(3)
        for (lam, b, j), k in zip(episodes, jax.random.split(key, 3), strict=True):
            eta = eta0 / jnp.linalg.eigvalsh(lam)[-1]
            for xi in jax.random.normal(k, (j, 3)):
                w = quadratic_langevin_step(xi, w, lam, b, eta, BETA)
        return w

    samples = jax.jit(jax.vmap(chain))(jax.random.split(key, 40_000))
    mean, cov = np.zeros(3), np.zeros((3, 3))
    for lam, b, j in episodes:
        lam = np.asarray(lam, np.float64)
        eta = eta0 / np.linalg.eigvalsh(lam)[-1]
        a_j = np.linalg.matrix_power(np.eye(3) - 2 * eta * lam, j)
        step_mean, step_cov = gaussian_law(
            jnp.asarray(mean, jnp.float32),
            jnp.asarray(lam, jnp.float32),
            jnp.asarray(np.linalg.solve(lam, b), jnp.float32),
            eta,
            BETA,
            j,
        )
        mean = np.asarray(step_mean)
        cov = a_j @ cov @ a_j.T + np.asarray(step_cov)
    _assert_law(samples, mean, cov)


@pytest.mark.parametrize("kind", ["diagonal", "full"])
def test_preconditioned_law(key, kind):
    lam = np.asarray(PRECISION, np.float64)
    if kind == "diagonal":
        precond = np.diag(1.0 / np.diag(lam))
        eta = 0.25 / np.linalg.eigvalsh(np.sqrt(precond) @ lam @ np.sqrt(precond))[-1]
        transform = preconditioned_langevin(eta, 1.0 / BETA)
        samples = _run_chains(
            key,
            transform,
            jnp.zeros(3),
            20_000,
            40,
            jnp.asarray(np.diag(precond), jnp.float32),
        )
    else:
        precond = np.linalg.inv(lam)
        eta = 0.25

        def chain(k):
            def body(w, xi):
                return quadratic_langevin_step(
                    xi, w, PRECISION, SHIFT, eta, BETA, "full"
                ), None

            return jax.lax.scan(body, jnp.zeros(3), jax.random.normal(k, (40, 3)))[0]

        samples = jax.jit(jax.vmap(chain))(jax.random.split(key, 20_000))
    mean, cov = gaussian_law(
        jnp.zeros(3), PRECISION, W_HAT, eta, BETA, 40, jnp.asarray(precond)
    )
    _assert_law(samples, mean, cov)
    if kind == "full":
        # Stationary covariance (2 beta)^{-1} (1 - eta)^{-1} Lambda^{-1}.
        _, stationary = gaussian_law(
            jnp.zeros(3), PRECISION, W_HAT, eta, BETA, None, jnp.asarray(precond)
        )
        np.testing.assert_allclose(
            stationary, precond / (2 * BETA * (1 - eta)), rtol=1e-4, atol=1e-6
        )


def test_diagonal_quadratic_step_matches_the_transform(key):
    xi = jax.random.normal(key, (3,))
    w = jnp.array([0.1, 0.2, -0.3])
    eta = 0.1
    step = quadratic_langevin_step(xi, w, PRECISION, SHIFT, eta, BETA, "diagonal")
    diag = jnp.diagonal(PRECISION)
    expected = (
        w
        - eta / diag * 2 * (PRECISION @ w - SHIFT)
        + jnp.sqrt(2 * eta / (BETA * diag)) * xi
    )
    np.testing.assert_allclose(step, expected, rtol=1e-6)


def test_exact_discretisation_one_step_is_an_exact_gibbs_draw(key):
    xi = jax.random.normal(key, (3,))
    w = jnp.array([5.0, -4.0, 2.0])
    step = quadratic_langevin_step(
        xi, w, PRECISION, SHIFT, 0.5, BETA, "full", exact_discretisation=True
    )
    exact = exact_gaussian_sample_from_noise(xi, PRECISION, SHIFT, BETA)
    np.testing.assert_allclose(step, exact, rtol=1e-5, atol=1e-5)


def test_unknown_preconditioner_is_refused():
    with pytest.raises(ValueError, match="preconditioner"):
        quadratic_langevin_step(
            jnp.zeros(3), jnp.zeros(3), PRECISION, SHIFT, 0.1, BETA, "adam"
        )
