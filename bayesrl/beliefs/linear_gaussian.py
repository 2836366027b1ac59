"""Bayesian linear regression with known noise (the posterior of linear TS).

Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with Linear
Payoffs", ICML 2013 (arXiv:1209.3352). Model per
regression group ``g`` (one per arm in the disjoint layout, one in the shared
layout, see :mod:`bayesrl.beliefs._linear`): ``r = x . theta_g + N(0,
sigma_g^2)``, prior ``theta_g ~ N(m0, lambda^{-1} I)``. With weighted data::

    P_g = lambda I + sigma_g^{-2} sum_i w_i x_i x_i',
    m_g = P_g^{-1} (lambda m0 + sigma_g^{-2} sum_i w_i r_i x_i),
    theta_g | data ~ N(m_g, P_g^{-1}).

A Thompson draw is ``m_g + v S_g xi`` with ``S_g S_g' = P_g^{-1}``,
``xi ~ N(0, I)`` and the posterior inflation ``v`` (1 = exact posterior). The
state keeps ``X'WX``, ``X'Wr`` and the counts (for discounting and checks),
the square root ``S_g`` updated by rank-one (Potter) updates and the mean.
Discount: ``(X'WX, X'Wr, counts) <- gamma (...)``, the prior untouched.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import check_positive
from bayesrl.beliefs import _linear
from bayesrl.beliefs._common import (
    check_discount,
    config_value,
    is_concrete,
    per_arm_sum,
)
from bayesrl.types import Array, PRNGKey


class LinearGaussianState(NamedTuple):
    """Sufficient statistics, square-root covariance and hyper-parameters.

    Attributes:
        gram: ``[G, d, d]`` weighted ``X'WX`` per group.
        moment: ``[G, d]`` weighted ``X'Wr`` per group.
        counts: ``[K]`` weighted observation counts per arm.
        factor: ``[G, d, d]`` ``S_g`` with ``S_g S_g' = P_g^{-1}``.
        mean: ``[G, d]`` posterior means ``m_g``.
        prior_precision: ``lambda`` (scalar).
        prior_mean: ``[d]`` ``m0``.
        noise_std: ``[G]`` ``sigma_g``.
    """

    gram: Array
    moment: Array
    counts: Array
    factor: Array
    mean: Array
    prior_precision: Array
    prior_mean: Array
    noise_std: Array

    @property
    def data_precision(self) -> Array:
        return self.noise_std**-2

    @property
    def precision(self) -> Array:
        """``[G, d, d]`` posterior precisions ``P_g``."""
        return _linear.precision_matrix(
            self.gram, self.prior_precision, self.data_precision
        )

    @property
    def covariance(self) -> Array:
        """``[G, d, d]`` posterior covariances ``S_g S_g'``."""
        return self.factor @ jnp.swapaxes(self.factor, -1, -2)


def init(num_arms, dim, layout, noise_std, prior_precision, prior_mean):
    dtype = jnp.result_type(float)
    groups = _linear.num_groups(num_arms, layout)
    prior_precision = jnp.asarray(prior_precision, dtype)
    factor = jnp.broadcast_to(
        jnp.eye(dim, dtype=dtype) * jax.lax.rsqrt(prior_precision), (groups, dim, dim)
    )
    prior_mean = jnp.broadcast_to(jnp.asarray(prior_mean, dtype), (dim,))
    return LinearGaussianState(
        gram=jnp.zeros((groups, dim, dim), dtype),
        moment=jnp.zeros((groups, dim), dtype),
        counts=jnp.zeros((num_arms,), dtype),
        factor=factor,
        mean=jnp.broadcast_to(prior_mean, (groups, dim)),
        prior_precision=prior_precision,
        prior_mean=prior_mean,
        noise_std=jnp.broadcast_to(jnp.asarray(noise_std, dtype), (groups,)),
    )


def _with_mean(state: LinearGaussianState) -> LinearGaussianState:
    eta = _linear.natural_mean(
        state.moment, state.prior_mean, state.prior_precision, state.data_precision
    )
    return state._replace(mean=_linear.covariance_product(state.factor, eta))


def refactorise(state: LinearGaussianState) -> LinearGaussianState:
    """Recompute ``S`` and ``m`` from the data statistics (one Cholesky)."""
    factor = _linear.factor_from_precision(state.precision)
    return _with_mean(state._replace(factor=factor))


def discount_state(state: LinearGaussianState, gamma) -> LinearGaussianState:
    """``(X'WX, X'Wr, counts) <- gamma (...)``; an exact identity at 1."""
    if is_concrete(gamma) and float(np.asarray(gamma)) == 1.0:
        return state
    state = state._replace(
        gram=gamma * state.gram,
        moment=gamma * state.moment,
        counts=gamma * state.counts,
    )
    return refactorise(state)


def update(
    state: LinearGaussianState,
    arms,
    rewards,
    features,
    weights,
    layout: str,
    discount_factor=1.0,
) -> LinearGaussianState:
    """One round: time discount, then add the weighted batch.

    Without discount the square root follows one rank-one update per item; with
    a discount it is recomputed once from the statistics.
    """
    num_arms = state.counts.shape[0]
    dtype = state.moment.dtype
    rewards = rewards.astype(dtype)
    features = features.astype(dtype)
    weights = weights.astype(dtype)
    weights_bg = _linear.group_weights(arms, weights, num_arms, layout)
    exact_identity = is_concrete(discount_factor) and float(discount_factor) == 1.0
    gram_scale = 1.0 if exact_identity else discount_factor
    gram, moment = _linear.add_statistics(
        gram_scale * state.gram,
        gram_scale * state.moment,
        weights_bg,
        features,
        rewards,
    )
    counts = gram_scale * state.counts + per_arm_sum(weights, arms, num_arms)
    state = state._replace(gram=gram, moment=moment, counts=counts)
    if exact_identity:
        factor = _linear.rank_one_updates(
            state.factor, weights_bg, features, state.data_precision
        )
        return _with_mean(state._replace(factor=factor))
    return refactorise(state)


def sample_parameters(key: PRNGKey, state: LinearGaussianState, inflation=1.0):
    """``theta_g = m_g + v S_g xi_g``, ``xi ~ N(0, I)``: ``[G, d]``."""
    noise = fast_random.normal(key, state.mean.shape, state.mean.dtype)
    return state.mean + inflation * jnp.einsum("gij,gj->gi", state.factor, noise)


def quantile(state: LinearGaussianState, context, level, layout: str) -> Array:
    """``x_k' m + Phi^{-1}(level) sqrt(x_k' P^{-1} x_k)`` per arm."""
    z = jax.scipy.special.ndtri(jnp.asarray(level, state.mean.dtype))
    mean = _linear.arm_scores(state.mean, context, layout)
    return mean + z * jnp.sqrt(_linear.arm_variances(state.factor, context, layout))


def linear_gaussian(
    num_arms: int,
    dim: int,
    noise_std=1.0,
    prior_scale=1.0,
    prior_mean=0.0,
    layout: str = "disjoint",
    inflation=1.0,
    discount=1.0,
) -> _linear.LinearBelief:
    """Bayesian linear regression with known noise.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: feature dimension d (static, >= 1).
        noise_std: known reward noise ``sigma > 0``; a scalar, or ``[K]`` in the
            disjoint layout.
        prior_scale: prior standard deviation of each coefficient, so the prior
            precision is ``lambda = prior_scale^-2`` (> 0: a singular prior
            would lock the agent on one arm, tensorflow/agents#698).
        prior_mean: ``m0``, a scalar or ``[d]``.
        layout: ``"disjoint"`` (context ``[d]``, one theta per arm) or
            ``"shared"`` (features ``[K, d]``, one theta).
        inflation: posterior inflation ``v > 0`` of the draws in ``sample``
            (1 = the exact posterior).
        discount: time discount ``gamma`` in (0, 1], once per update round.
    """
    _linear.check_sizes(num_arms, dim, layout)
    groups = _linear.num_groups(num_arms, layout)
    if is_concrete(noise_std):
        array = np.asarray(noise_std, dtype=np.float64)
        if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != groups):
            raise ValueError(
                f"noise_std must be a scalar or have shape [{groups}] in the "
                f"{layout} layout, got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise ValueError(f"noise_std must be finite and > 0, got {noise_std!r}")
    check_positive("prior_scale", prior_scale)
    check_positive("inflation", inflation)
    _linear.check_prior_mean(prior_mean, dim)
    check_discount("discount", discount)

    def sample_scores(key, state, context):
        theta = sample_parameters(key, state, inflation)
        return _linear.arm_scores(theta, context, layout)

    return _linear.LinearBelief(
        init=lambda: init(
            num_arms, dim, layout, noise_std, prior_scale**-2.0, prior_mean
        ),
        update=lambda state, arms, rewards, features, weights: update(
            state, arms, rewards, features, weights, layout, discount
        ),
        sample=sample_scores,
        sample_parameters=lambda key, state: sample_parameters(key, state, inflation),
        mean=lambda state, context: _linear.arm_scores(state.mean, context, layout),
        quantile=lambda state, context, level: quantile(state, context, level, layout),
        variance=lambda state, context: _linear.arm_variances(
            state.factor, context, layout
        ),
        parameter_mean=lambda state: state.mean,
        parameter_covariance=lambda state: state.covariance,
        discount=discount_state,
        counts=lambda state: state.counts,
        num_arms=num_arms,
        dim=dim,
        layout=layout,
        reward_range=(-float("inf"), float("inf")),
        name="linear_gaussian",
        config=dict(
            num_arms=num_arms,
            dim=dim,
            noise_std=config_value(noise_std),
            prior_scale=config_value(prior_scale),
            prior_mean=config_value(prior_mean),
            layout=layout,
            inflation=config_value(inflation),
            discount=config_value(discount),
        ),
    )
