"""Bayesian linear regression with unknown noise (Normal-Inverse-Gamma prior).

The model of the Deep Bayesian Bandits Showdown's
``LinearFullPosteriorSampling`` (Riquelme, Tucker & Snoek, ICLR 2018,
arXiv:1802.09127). Per regression group ``g`` (see
:mod:`bayesrl.beliefs._linear`): ``r = x . theta_g + N(0, sigma_g^2)``,
``sigma_g^2 ~ IG(a0, b0)``, ``theta_g | sigma_g^2 ~ N(m0, sigma_g^2
Lambda0^{-1})`` with ``Lambda0 = lambda I``. With weighted data::

    Lambda_n = Lambda0 + X'WX,     m_n = Lambda_n^{-1} (Lambda0 m0 + X'Wr),
    a_n = a0 + (sum w) / 2,
    b_n = b0 + (r'Wr + m0' Lambda0 m0 - m_n' Lambda_n m_n) / 2.

A Thompson draw is ``sigma^2 = b_n / Gamma(a_n, 1)`` then
``theta = m_n + v sigma S xi`` with ``S S' = Lambda_n^{-1}`` and inflation ``v``
(1 = exact). The bracket of ``b_n`` is a minimised sum of squares (>= 0)
computed as a difference of large numbers; ``r'Wr`` is kept as a running sum,
``m_n' Lambda_n m_n = |S' eta|^2`` with ``eta = Lambda0 m0 + X'Wr``, and
``b_n`` is clamped at ``b0``. The marginal posterior of ``x . theta`` is a
Student-t with ``2 a_n`` degrees of freedom, location ``x . m_n`` and squared
scale ``(b_n / a_n) x' Lambda_n^{-1} x``.
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
    all_at_least_one,
    check_discount,
    config_value,
    is_concrete,
    per_arm_sum,
)
from bayesrl.types import Array, PRNGKey


class LinearNormalInverseGammaState(NamedTuple):
    """Sufficient statistics, square-root covariance and hyper-parameters.

    Attributes:
        gram: ``[G, d, d]`` weighted ``X'WX``.
        moment: ``[G, d]`` weighted ``X'Wr``.
        reward_square_sum: ``[G]`` weighted ``r'Wr``.
        counts: ``[K]`` weighted observation counts per arm.
        factor: ``[G, d, d]`` ``S_g`` with ``S_g S_g' = Lambda_n^{-1}``.
        mean: ``[G, d]`` ``m_n``.
        rate: ``[G]`` ``b_n`` (clamped at ``b0``).
        prior_precision: ``lambda``.
        prior_mean: ``[d]`` ``m0``.
        noise_shape: ``a0``.
        noise_rate: ``b0``.
    """

    gram: Array
    moment: Array
    reward_square_sum: Array
    counts: Array
    factor: Array
    mean: Array
    rate: Array
    prior_precision: Array
    prior_mean: Array
    noise_shape: Array
    noise_rate: Array

    def posterior_shape(self, layout: str) -> Array:
        """``[G]`` ``a_n = a0 + (sum w) / 2``."""
        return self.noise_shape + 0.5 * _linear.group_counts(self.counts, layout)

    @property
    def precision(self) -> Array:
        """``[G, d, d]`` ``Lambda_n``."""
        ones = jnp.ones(self.gram.shape[0], self.gram.dtype)
        return _linear.precision_matrix(self.gram, self.prior_precision, ones)

    @property
    def scaled_covariance(self) -> Array:
        """``[G, d, d]`` ``Lambda_n^{-1} = S S'``."""
        return self.factor @ jnp.swapaxes(self.factor, -1, -2)


def init(num_arms, dim, layout, prior_precision, prior_mean, noise_shape, noise_rate):
    dtype = jnp.result_type(float)
    groups = _linear.num_groups(num_arms, layout)
    prior_precision = jnp.asarray(prior_precision, dtype)
    prior_mean = jnp.broadcast_to(jnp.asarray(prior_mean, dtype), (dim,))
    noise_rate = jnp.asarray(noise_rate, dtype)
    return LinearNormalInverseGammaState(
        gram=jnp.zeros((groups, dim, dim), dtype),
        moment=jnp.zeros((groups, dim), dtype),
        reward_square_sum=jnp.zeros((groups,), dtype),
        counts=jnp.zeros((num_arms,), dtype),
        factor=jnp.broadcast_to(
            jnp.eye(dim, dtype=dtype) * jax.lax.rsqrt(prior_precision),
            (groups, dim, dim),
        ),
        mean=jnp.broadcast_to(prior_mean, (groups, dim)),
        rate=jnp.broadcast_to(noise_rate, (groups,)),
        prior_precision=prior_precision,
        prior_mean=prior_mean,
        noise_shape=jnp.asarray(noise_shape, dtype),
        noise_rate=noise_rate,
    )


def _with_mean_and_rate(state: LinearNormalInverseGammaState):
    ones = jnp.ones(state.moment.shape[0], state.moment.dtype)
    eta = _linear.natural_mean(
        state.moment, state.prior_mean, state.prior_precision, ones
    )
    projected = jnp.einsum("gji,gj->gi", state.factor, eta)  # S' eta
    mean = jnp.einsum("gij,gj->gi", state.factor, projected)
    fitted = jnp.sum(projected * projected, axis=-1)  # m_n' Lambda_n m_n
    prior_term = state.prior_precision * jnp.sum(state.prior_mean**2)
    residual = state.reward_square_sum + prior_term - fitted
    rate = jnp.maximum(state.noise_rate + 0.5 * residual, state.noise_rate)
    return state._replace(mean=mean, rate=rate)


def refactorise(state: LinearNormalInverseGammaState):
    """Recompute ``S``, ``m_n`` and ``b_n`` from the statistics."""
    factor = _linear.factor_from_precision(state.precision)
    return _with_mean_and_rate(state._replace(factor=factor))


def discount_state(state: LinearNormalInverseGammaState, gamma):
    """Scale all data statistics by ``gamma``; an exact identity at 1."""
    if is_concrete(gamma) and float(np.asarray(gamma)) == 1.0:
        return state
    state = state._replace(
        gram=gamma * state.gram,
        moment=gamma * state.moment,
        reward_square_sum=gamma * state.reward_square_sum,
        counts=gamma * state.counts,
    )
    return refactorise(state)


def update(state, arms, rewards, features, weights, layout, discount_factor=1.0):
    """One round: time discount, then add the weighted batch."""
    num_arms = state.counts.shape[0]
    dtype = state.moment.dtype
    rewards = rewards.astype(dtype)
    features = features.astype(dtype)
    weights = weights.astype(dtype)
    weights_bg = _linear.group_weights(arms, weights, num_arms, layout)
    exact_identity = is_concrete(discount_factor) and float(discount_factor) == 1.0
    scale = 1.0 if exact_identity else discount_factor
    gram, moment = _linear.add_statistics(
        scale * state.gram, scale * state.moment, weights_bg, features, rewards
    )
    state = state._replace(
        gram=gram,
        moment=moment,
        reward_square_sum=scale * state.reward_square_sum
        + jnp.einsum("bg,b->g", weights_bg, rewards * rewards),
        counts=scale * state.counts + per_arm_sum(weights, arms, num_arms),
    )
    if exact_identity:
        ones = jnp.ones(gram.shape[0], dtype)
        factor = _linear.rank_one_updates(state.factor, weights_bg, features, ones)
        return _with_mean_and_rate(state._replace(factor=factor))
    return refactorise(state)


def sample_parameters(
    key: PRNGKey, state, layout: str, inflation=1.0, shapes_at_least_one=False
):
    """``sigma_g^2 = b_n / Gamma(a_n)``, ``theta_g = m_g + v sigma_g S_g xi_g``."""
    key_noise, key_theta = fast_random.split(key)
    log_gamma = fast_random.log_gamma(
        key_noise,
        state.posterior_shape(layout),
        shapes_at_least_one=shapes_at_least_one,
    )
    noise_scale = jnp.exp(0.5 * (jnp.log(state.rate) - log_gamma))
    xi = fast_random.normal(key_theta, state.mean.shape, state.mean.dtype)
    direction = jnp.einsum("gij,gj->gi", state.factor, xi)
    return state.mean + (inflation * noise_scale)[:, None] * direction


def variance(state, context, layout: str) -> Array:
    """``(b_n / a_n) x' Lambda_n^{-1} x`` per arm: the squared Student-t scale."""
    num_arms = state.counts.shape[0]
    ratio = _linear.per_arm_of_group(
        state.rate / state.posterior_shape(layout), num_arms, layout
    )
    return ratio * _linear.arm_variances(state.factor, context, layout)


def quantile(state, context, level, layout: str) -> Array:
    """``x_k' m_n + t_{2 a_n}^{-1}(level) sqrt((b_n / a_n) x_k' Lambda_n^{-1} x_k)``."""
    num_arms = state.counts.shape[0]
    degrees = _linear.per_arm_of_group(
        2.0 * state.posterior_shape(layout), num_arms, layout
    )
    t = _linear.student_t_quantile(level, degrees)
    mean = _linear.arm_scores(state.mean, context, layout)
    return mean + t * jnp.sqrt(variance(state, context, layout))


def parameter_covariance(state, layout: str) -> Array:
    """Covariance of the marginal Student-t of ``theta_g``:
    ``b_n / (a_n - 1) Lambda_n^{-1}`` (defined for ``a_n > 1``)."""
    scale = state.rate / (state.posterior_shape(layout) - 1.0)
    return scale[:, None, None] * state.scaled_covariance


def linear_normal_inverse_gamma(
    num_arms: int,
    dim: int,
    prior_scale=1.0,
    noise_shape=6.0,
    noise_rate=6.0,
    prior_mean=0.0,
    layout: str = "disjoint",
    inflation=1.0,
    discount=1.0,
) -> _linear.LinearBelief:
    """Bayesian linear regression with Normal-Inverse-Gamma unknown noise.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: feature dimension d (static, >= 1).
        prior_scale: ``Lambda0 = prior_scale^-2 I`` (> 0). The Showdown uses
            ``lambda = 0.25``, i.e. ``prior_scale = 2``.
        noise_shape: ``a0 > 0`` (default 6, the Showdown's).
        noise_rate: ``b0 > 0`` (default 6, the Showdown's).
        prior_mean: ``m0``, scalar or ``[d]``.
        layout: ``"disjoint"`` or ``"shared"``.
        inflation: posterior inflation ``v > 0`` of the draws (1 = exact).
        discount: time discount ``gamma`` in (0, 1].
    """
    _linear.check_sizes(num_arms, dim, layout)
    for name, value in (
        ("prior_scale", prior_scale),
        ("noise_shape", noise_shape),
        ("noise_rate", noise_rate),
        ("inflation", inflation),
    ):
        check_positive(name, value)
    _linear.check_prior_mean(prior_mean, dim)
    check_discount("discount", discount)
    shapes_at_least_one = all_at_least_one(noise_shape)

    def draw(key, state):
        return sample_parameters(key, state, layout, inflation, shapes_at_least_one)

    return _linear.LinearBelief(
        init=lambda: init(
            num_arms,
            dim,
            layout,
            prior_scale**-2.0,
            prior_mean,
            noise_shape,
            noise_rate,
        ),
        update=lambda state, arms, rewards, features, weights: update(
            state, arms, rewards, features, weights, layout, discount
        ),
        sample=lambda key, state, context: _linear.arm_scores(
            draw(key, state), context, layout
        ),
        sample_parameters=draw,
        mean=lambda state, context: _linear.arm_scores(state.mean, context, layout),
        quantile=lambda state, context, level: quantile(state, context, level, layout),
        variance=lambda state, context: variance(state, context, layout),
        parameter_mean=lambda state: state.mean,
        parameter_covariance=lambda state: parameter_covariance(state, layout),
        discount=discount_state,
        counts=lambda state: state.counts,
        num_arms=num_arms,
        dim=dim,
        layout=layout,
        reward_range=(-float("inf"), float("inf")),
        name="linear_normal_inverse_gamma",
        config=dict(
            num_arms=num_arms,
            dim=dim,
            prior_scale=config_value(prior_scale),
            noise_shape=config_value(noise_shape),
            noise_rate=config_value(noise_rate),
            prior_mean=config_value(prior_mean),
            layout=layout,
            inflation=config_value(inflation),
            discount=config_value(discount),
        ),
    )
