"""Weighted elastic-net regression by cyclic coordinate descent (ridge and
LASSO as its two ends), in JAX with a fixed number of sweeps.

Objective (glmnet's, Friedman, Hastie & Tibshirani, "Regularization paths for
generalized linear models via coordinate descent", J. Stat. Softw. 2010, eq. 1
with observation weights)::

    (1 / (2 n_w)) sum_i w_i (y_i - x_i^T beta)^2
        + l1 ||beta||_1 + (l2 / 2) ||beta||_2^2,       n_w = sum_i w_i.

One sweep visits ``j = 1..p`` in order and sets (their eq. 5)::

    a_j    = (1 / n_w) sum_i w_i x_ij^2
    rho_j  = (1 / n_w) sum_i w_i x_ij (r_i + x_ij beta_j),   r = y - X beta
    beta_j = S(rho_j, l1) / (a_j + l2),   S(z, t) = sign(z) max(|z| - t, 0).

Each step minimises the (convex) objective exactly in one coordinate, so it
never increases; ``l2 = 0`` is the LASSO (scikit-learn's ``Lasso(alpha=l1,
fit_intercept=False)``), ``l1 = 0`` ridge. Cost ``O(p n)`` per sweep; the
coordinate loop is sequential (vmap runs over problems, never over ``j``).
Columns with ``a_j = 0`` (no data) stay at 0.

:func:`universal_lasso_penalty` gives the penalty the spike-and-slab belief's
cold start uses (documented there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl.types import Array


def elastic_net(
    features: Array,
    targets: Array,
    weights: Array,
    l1,
    l2,
    num_sweeps: int,
    start: Array | None = None,
) -> Array:
    """Coordinate-descent elastic net (module docstring).

    Args:
        features: ``[p, n]`` (columns are observations, as in the
            spike-and-slab buffer).
        targets: ``[n]``.
        weights: ``[n]`` observation weights (0 for unused rows).
        l1, l2: penalties ``>= 0``.
        num_sweeps: full passes over the coordinates (static).
        start: ``[p]`` starting coefficients (default 0).

    Returns:
        ``beta [p]``.
    """
    dim = features.shape[0]
    total = jnp.maximum(jnp.sum(weights), 1e-12)
    curvature = (features**2) @ weights / total
    beta = jnp.zeros((dim,), features.dtype) if start is None else start
    residual = targets - beta @ features

    def coordinate(j, carry):
        beta, residual = carry
        column = features[j]
        rho = jnp.dot(weights * column, residual) / total + curvature[j] * beta[j]
        shrunk = jnp.sign(rho) * jnp.maximum(jnp.abs(rho) - l1, 0.0)
        denominator = curvature[j] + l2
        new = jnp.where(
            denominator > 0, shrunk / jnp.where(denominator > 0, denominator, 1.0), 0.0
        )
        residual = residual - (new - beta[j]) * column
        return beta.at[j].set(new), residual

    def sweep(_, carry):
        return jax.lax.fori_loop(0, dim, coordinate, carry)

    beta, _ = jax.lax.fori_loop(0, num_sweeps, sweep, (beta, residual))
    return beta


def universal_lasso_penalty(dim: int, weights: Array):
    """``l1 = sqrt(2 log(p) / n_w)`` for unit-noise data: the universal
    threshold (Donoho & Johnstone, Biometrika 1994) in the objective's scale,
    the usual theory-driven LASSO penalty (Bickel, Ritov & Tsybakov, Ann. Stat.
    2009, up to their constant) when the columns have unit mean square and the
    data are rescaled by the noise standard deviation."""
    total = jnp.maximum(jnp.sum(weights), 1.0)
    return jnp.sqrt(2.0 * jnp.log(float(max(dim, 2))) / total)
