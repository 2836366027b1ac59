"""Exact results for Langevin Monte Carlo on a quadratic (ridge) loss.

For the ridge Bellman/regression loss of LMC-LSVI and linear LMC-TS,
``L(w) = w' Lambda w - 2 b' w + c`` (a plain sum, no 1/2), the gradient is
``2 (Lambda w - b)`` and the Gibbs target ``exp(-beta L)`` is
``N(w_hat, (2 beta)^{-1} Lambda^{-1})`` with ``w_hat = Lambda^{-1} b``, the
RLSVI / LinTS Gaussian with ``nu^2 = 1 / (2 beta)``.

The (preconditioned) Langevin step with a constant SPD preconditioner ``P``::

    w <- w - eta P grad L(w) + c sqrt(2 eta / beta) P^{1/2} xi

is an affine Gaussian recursion, so its law after ``J`` steps is known in closed
form (Ishfaq et al., ICLR 2024, arXiv:2305.18246). With ``Lt = P^{1/2} Lambda
P^{1/2}`` and ``A = I - 2 eta Lt`` (stable iff ``eta < 1 / lambda_max(Lt)``),
in the whitened coordinates ``z = P^{-1/2} w``::

    mean_z = A^J z0 + (I - A^J) z_hat
    cov_z  = c^2 beta^{-1} (I - A^{2J}) Lt^{-1} (I + A)^{-1}

and ``w = P^{1/2} z``. As ``J -> infinity`` the covariance tends to
``(2 beta)^{-1} Lt^{-1} (I - eta Lt)^{-1}``, inflated by ``(1 - eta lambda_i)^{-1}``
over the Gibbs value. With the full preconditioner ``P = Lambda^{-1}``,
``eta = 1/2`` and ``c = sqrt(1 - eta)`` one step is an exact Gibbs draw
(``exact_discretisation``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.types import Array, PRNGKey


def _sym_power(matrix: Array, power: float) -> Array:
    """``matrix ** power`` for a symmetric positive definite matrix."""
    values, vectors = jnp.linalg.eigh(matrix)
    return (vectors * values**power) @ vectors.T


def gaussian_law(
    w0: Array,
    precision: Array,
    target_mean: Array,
    step_size: float | Array,
    inverse_temperature: float | Array,
    num_steps: int | None,
    preconditioner: Array | None = None,
    noise_multiplier: float | Array = 1.0,
) -> tuple[Array, Array]:
    """The exact mean and covariance of the Langevin iterate on a ridge loss.

    Args:
        w0: ``[d]`` the deterministic starting point.
        precision: ``[d, d]`` SPD ``Lambda``.
        target_mean: ``[d]`` ``w_hat = Lambda^{-1} b``.
        step_size: ``eta``; must satisfy ``eta < 1 / lambda_max(P Lambda)``.
        inverse_temperature: ``beta``.
        num_steps: ``J``; None gives the stationary law (``J -> infinity``).
        preconditioner: ``[d, d]`` SPD ``P``, or None for ``P = I``.
        noise_multiplier: ``c``, multiplies the noise.

    Returns:
        ``(mean [d], cov [d, d])``.
    """
    dim = precision.shape[-1]
    identity = jnp.eye(dim, dtype=precision.dtype)
    root = identity if preconditioner is None else _sym_power(preconditioner, 0.5)
    root_inv = identity if preconditioner is None else _sym_power(preconditioner, -0.5)
    whitened = root @ precision @ root
    values, vectors = jnp.linalg.eigh(whitened)
    contraction = 1.0 - 2.0 * step_size * values
    if num_steps is None:
        power = jnp.zeros_like(values)
    else:
        power = contraction**num_steps
    # Per eigen-direction: variance c^2 (1 - a^{2J}) / (beta lambda (1 + a)).
    variances = (
        noise_multiplier**2
        * (1.0 - power**2)
        / (inverse_temperature * values * (1.0 + contraction))
    )
    z0 = vectors.T @ (root_inv @ w0)
    z_hat = vectors.T @ (root_inv @ target_mean)
    mean_z = power * z0 + (1.0 - power) * z_hat
    mean = root @ (vectors @ mean_z)
    cov = root @ ((vectors * variances) @ vectors.T) @ root
    return mean, cov


def exact_gaussian_sample(
    key: PRNGKey, precision: Array, shift: Array, inverse_temperature: float | Array
) -> Array:
    """One draw from the Gibbs law ``N(Lambda^{-1} b, (2 beta)^{-1} Lambda^{-1})``.

    This is the RLSVI / linear Thompson sampling oracle: with ``Lambda = L L'``
    (Cholesky) the draw is ``w_hat + (2 beta)^{-1/2} L^{-T} xi``.

    Args:
        key: a typed PRNG key.
        precision: ``[d, d]`` SPD ``Lambda``.
        shift: ``[d]`` ``b``.
        inverse_temperature: ``beta``.
    """
    xi = fast_random.normal(key, shift.shape, shift.dtype)
    return exact_gaussian_sample_from_noise(xi, precision, shift, inverse_temperature)


def exact_gaussian_sample_from_noise(
    xi: Array, precision: Array, shift: Array, inverse_temperature: float | Array
) -> Array:
    """:func:`exact_gaussian_sample` with the standard normal ``xi`` given."""
    chol = jnp.linalg.cholesky(precision)
    mean = jax.scipy.linalg.cho_solve((chol, True), shift)
    scaled = jax.scipy.linalg.solve_triangular(chol.T, xi, lower=False)
    return mean + scaled / jnp.sqrt(2.0 * inverse_temperature)


def quadratic_langevin_step(
    xi: Array,
    w: Array,
    precision: Array,
    shift: Array,
    step_size: float | Array,
    inverse_temperature: float | Array,
    preconditioner: str = "none",
    exact_discretisation: bool = False,
) -> Array:
    """One Langevin step on ``L(w) = w' Lambda w - 2 b' w`` with given noise.

    ``"none"``: ``w - 2 eta (Lambda w - b) + sqrt(2 eta / beta) xi``.
    ``"diagonal"``: ``P = diag(Lambda)^{-1}``, per-coordinate step ``eta / Lambda_ii``
    and noise ``sqrt(2 eta / (beta Lambda_ii)) xi``.
    ``"full"``: ``P = Lambda^{-1}``: ``w - 2 eta (w - w_hat) + sqrt(2 eta / beta)
    L^{-T} xi``; with ``exact_discretisation`` the noise is multiplied by
    ``sqrt(1 - eta)`` so that the chain's stationary law is the Gibbs law, and
    with ``eta = 1/2`` one step is :func:`exact_gaussian_sample_from_noise`.

    Args:
        xi: ``[d]`` standard normal noise.
        w: ``[d]`` current iterate.
        precision: ``[d, d]`` ``Lambda``.
        shift: ``[d]`` ``b``.
        step_size: ``eta`` (for ``"none"`` the caller scales it by
            ``1 / lambda_max``).
        inverse_temperature: ``beta``.
        preconditioner: ``"none"``, ``"diagonal"`` or ``"full"``.
        exact_discretisation: only with ``"full"``.
    """
    noise_scale = jnp.sqrt(2.0 * step_size / inverse_temperature)
    if preconditioner == "none":
        return w - 2.0 * step_size * (precision @ w - shift) + noise_scale * xi
    if preconditioner == "diagonal":
        diag = jnp.diagonal(precision)
        grad = 2.0 * (precision @ w - shift)
        return w - step_size * grad / diag + noise_scale * xi / jnp.sqrt(diag)
    if preconditioner == "full":
        chol = jnp.linalg.cholesky(precision)
        mean = jax.scipy.linalg.cho_solve((chol, True), shift)
        noise = jax.scipy.linalg.solve_triangular(chol.T, xi, lower=False)
        if exact_discretisation:
            noise_scale = noise_scale * jnp.sqrt(1.0 - step_size)
        return w - 2.0 * step_size * (w - mean) + noise_scale * noise
    raise ValueError(
        f"preconditioner must be 'none', 'diagonal' or 'full', got {preconditioner!r}"
    )
