"""Machinery shared by the Bayesian linear-regression beliefs.

Two layouts:

* ``"disjoint"``: one parameter vector ``theta_k`` per arm and one context
  ``x [dim]`` shared by all arms; the mean reward of arm ``k`` is
  ``x . theta_k``. There are ``G = num_arms`` regression groups.
* ``"shared"``: one parameter vector ``theta`` for all arms and per-arm features
  ``x [num_arms, dim]``; the mean reward of arm ``k`` is ``x_k . theta``. There
  is ``G = 1`` regression group.

Every group keeps its data statistics ``X'WX`` (``gram``) and ``X'Wr``
(``moment``) plus a square root ``S`` of its posterior covariance
(``S S' = P^{-1}``, ``factor``). A new observation adds ``v v'`` to the
precision ``P`` (``v = sqrt(w) x`` times the data precision); its covariance
changes by the Sherman-Morrison rank-one downdate, and the square root follows
it exactly in ``O(dim^2)`` without any inverse or factorisation (Potter's
square-root form, Potter & Stern 1963; Bierman, "Factorization Methods for
Discrete Sequential Estimation", 1977)::

    z = S' v,   s = |z|^2,   c = 1 / (sqrt(1 + s) (sqrt(1 + s) + 1)),
    S <- S - c (S z) z'.

Indeed ``(I - c z z')^2 = I - z z' / (1 + s)``, so the new ``S S'`` is
``P^{-1} - P^{-1} v v' P^{-1} / (1 + v' P^{-1} v) = (P + v v')^{-1}``. The form
never loses positive semi-definiteness (a product of square roots) and a
Thompson draw is then a matrix-vector product ``m + S xi``, with no triangular
solve. Weight-0 items give ``z = 0`` and leave ``S`` unchanged exactly.

A time discount ``gamma < 1`` scales the data statistics (the prior is kept), a
change of rank ``dim``; the factor is then recomputed from the precision by one
Cholesky factorisation, ``P = L L'`` and ``S = L^{-T}``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.beliefs._common import is_concrete, newton_quantile
from bayesrl.types import Array, PRNGKey

LAYOUTS = ("disjoint", "shared")
# Items per update applied by an unrolled Python loop; longer batches use a
# ``lax.scan`` over items (each item is a dependent rank-one update).
UNROLL_LIMIT = 8

State = Any


class LinearBelief(NamedTuple):
    """A posterior over the parameters of a linear reward model.

    Attributes:
        init: ``() -> state``, the prior.
        update: ``(state, arms[B], rewards[B], features[B, dim], weights[B]) ->
            state``; ``features[i]`` is the regressor of item ``i`` (the shared
            context in the disjoint layout, the pulled arm's feature row in the
            shared layout). Arms outside ``[0, num_arms)`` (padding ``-1``) and
            weight-0 items are ignored; one batch equals the same items one at a
            time.
        sample: ``(key, state, context) -> [num_arms]``, the mean rewards under
            one posterior draw of the parameters (a Thompson score).
        sample_parameters: ``(key, state) -> [G, dim]``, one posterior draw.
        mean: ``(state, context) -> [num_arms]``, posterior mean rewards.
        quantile: ``(state, context, level) -> [num_arms]``, quantiles of the
            marginal posterior of each arm's mean reward.
        variance: ``(state, context) -> [num_arms]``, ``x' P^{-1} x`` per arm
            (the posterior variance of the mean reward for known noise; the
            ridge width of LinUCB).
        parameter_mean: ``(state) -> [G, dim]``.
        parameter_covariance: ``(state) -> [G, dim, dim]``, the covariance of
            the parameters (for unknown noise: of the marginal Student-t).
        discount: ``(state, gamma) -> state``; ``gamma == 1`` is an identity.
        counts: ``(state) -> [num_arms]`` weighted observation counts.
        num_arms, dim, layout: static sizes and layout.
        reward_range: rewards the model accepts (the facade checks them).
        name, config: the factory's name and keyword arguments (saved files).
    """

    init: Callable[[], State]
    update: Callable[[State, Array, Array, Array, Array], State]
    sample: Callable[[PRNGKey, State, Array], Array]
    sample_parameters: Callable[[PRNGKey, State], Array]
    mean: Callable[[State, Array], Array]
    quantile: Callable[[State, Array, Array], Array]
    variance: Callable[[State, Array], Array]
    parameter_mean: Callable[[State], Array]
    parameter_covariance: Callable[[State], Array]
    discount: Callable[[State, Array], State]
    counts: Callable[[State], Array]
    num_arms: int
    dim: int
    layout: str
    reward_range: tuple[float, float]
    name: str
    config: dict


def num_groups(num_arms: int, layout: str) -> int:
    return num_arms if layout == "disjoint" else 1


def check_sizes(num_arms, dim, layout) -> None:
    for name, value, low in (("num_arms", num_arms, 2), ("dim", dim, 1)):
        if (
            not isinstance(value, numbers.Integral)
            or isinstance(value, bool)
            or value < low
        ):
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def check_prior_mean(prior_mean, dim: int) -> None:
    if not is_concrete(prior_mean):
        return
    array = np.asarray(prior_mean, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != dim):
        raise ValueError(
            f"prior_mean must be a scalar or have shape [dim]=[{dim}], got shape "
            f"{array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("prior_mean must be finite")


def group_weights(arms: Array, weights: Array, num_arms: int, layout: str) -> Array:
    """``[B, G]``: the weight of item ``i`` in group ``g`` (0 elsewhere and for
    padding arms)."""
    valid = (arms >= 0) & (arms < num_arms)
    weights = jnp.where(valid, weights, 0)
    if layout == "disjoint":
        one_hot = arms[:, None] == jnp.arange(num_arms, dtype=arms.dtype)
        return jnp.where(one_hot, weights[:, None], 0)
    return weights[:, None]


def add_statistics(gram, moment, weights_bg, features, rewards):
    """``gram_g += sum_i w_ig x_i x_i'`` and ``moment_g += sum_i w_ig r_i x_i``."""
    gram = gram + jnp.einsum("bg,bi,bj->gij", weights_bg, features, features)
    moment = moment + jnp.einsum("bg,b,bi->gi", weights_bg, rewards, features)
    return gram, moment


def _rank_one(factor: Array, vectors: Array) -> Array:
    """Potter's update of ``[G, d, d]`` square roots for ``P_g += v_g v_g'``."""
    z = jnp.einsum("gij,gi->gj", factor, vectors)  # S' v
    root = jnp.sqrt(1.0 + jnp.sum(z * z, axis=-1))
    c = 1.0 / (root * (root + 1.0))
    factor_z = jnp.einsum("gij,gj->gi", factor, z)
    return factor - c[:, None, None] * factor_z[:, :, None] * z[:, None, :]


def rank_one_updates(factor, weights_bg, features, data_precision):
    """Apply the items' rank-one precision updates in order.

    ``v_ig = sqrt(w_ig * data_precision_g) x_i``; items of other groups and
    weight-0 items give ``v = 0`` and change nothing.
    """
    scales = jnp.sqrt(weights_bg * data_precision[None, :])  # [B, G]
    vectors = scales[:, :, None] * features[:, None, :]  # [B, G, d]
    if vectors.shape[0] <= UNROLL_LIMIT:
        for item in range(vectors.shape[0]):
            factor = _rank_one(factor, vectors[item])
        return factor
    factor, _ = jax.lax.scan(lambda f, v: (_rank_one(f, v), None), factor, vectors)
    return factor


def precision_matrix(gram, prior_precision, data_precision):
    """``P_g = lambda I + data_precision_g gram_g``."""
    dim = gram.shape[-1]
    eye = jnp.eye(dim, dtype=gram.dtype)
    return prior_precision * eye + data_precision[:, None, None] * gram


def factor_from_precision(precision: Array) -> Array:
    """``S = L^{-T}`` with ``P = L L'``, so that ``S S' = P^{-1}``."""
    lower = jnp.linalg.cholesky(precision)
    eye = jnp.broadcast_to(
        jnp.eye(precision.shape[-1], dtype=precision.dtype), precision.shape
    )
    inverse_lower = jax.scipy.linalg.solve_triangular(lower, eye, lower=True)
    return jnp.swapaxes(inverse_lower, -1, -2)


def natural_mean(moment, prior_mean, prior_precision, data_precision):
    """``eta_g = lambda m0 + data_precision_g moment_g`` (so ``m = P^{-1} eta``)."""
    return prior_precision * prior_mean[None, :] + data_precision[:, None] * moment


def covariance_product(factor: Array, vector: Array) -> Array:
    """``S S' v`` per group."""
    return jnp.einsum("gij,gj->gi", factor, jnp.einsum("gji,gj->gi", factor, vector))


def arm_scores(parameters: Array, context: Array, layout: str) -> Array:
    """Mean rewards ``[K]`` under parameters ``[G, d]``."""
    if layout == "disjoint":
        return parameters @ context
    return context @ parameters[0]


def arm_variances(factor: Array, context: Array, layout: str) -> Array:
    """``x_k' S S' x_k`` for every arm."""
    if layout == "disjoint":
        projected = jnp.einsum("gij,i->gj", factor, context)
    else:
        projected = context @ factor[0]
    return jnp.sum(projected * projected, axis=-1)


def group_counts(counts: Array, layout: str) -> Array:
    """Weighted observation counts per group ``[G]``."""
    return counts if layout == "disjoint" else jnp.sum(counts, keepdims=True)


def per_arm_of_group(values: Array, num_arms: int, layout: str) -> Array:
    """Broadcast a per-group ``[G]`` value to the arms."""
    return values if layout == "disjoint" else jnp.broadcast_to(values, (num_arms,))


def student_t_quantile(level: Array, degrees: Array) -> Array:
    """Quantile of Student's t with ``degrees`` degrees of freedom.

    Safeguarded Newton steps on the CDF (through the regularised incomplete
    beta), started at the normal quantile.
    """
    from bayesrl.beliefs.normal_gamma import _student_t_cdf

    level = jnp.broadcast_to(jnp.asarray(level, degrees.dtype), degrees.shape)
    bound = jnp.full_like(degrees, 1e4)
    log_normaliser = (
        jax.scipy.special.gammaln(0.5 * (degrees + 1.0))
        - jax.scipy.special.gammaln(0.5 * degrees)
        - 0.5 * jnp.log(degrees * jnp.pi)
    )

    def pdf(x):
        return jnp.exp(
            log_normaliser - 0.5 * (degrees + 1.0) * jnp.log1p(x**2 / degrees)
        )

    start = jax.scipy.special.ndtri(level)
    return newton_quantile(
        lambda x: _student_t_cdf(x, degrees), pdf, level, start, -bound, bound
    )
