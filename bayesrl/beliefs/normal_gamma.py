"""Normal-Gamma posterior: Gaussian arms with unknown per-arm variance (VarTS).

Model (the conjugate model of Saha & Kveton, "Only Pay for What Is Uncertain:
Variance-Adaptive Thompson Sampling", ICLR 2024, arXiv:2303.09033):
``r ~ N(mu_k, 1/lambda_k)``, ``lambda_k ~ Gamma(alpha0, beta0)`` (shape,
rate), ``mu_k | lambda_k ~ N(mu0, 1/(kappa0 lambda_k))``. Project defaults
(not the paper's): ``mu0 = 0, kappa0 = 1, alpha0 = 2, beta0 = 1``, so the prior
expected variance ``beta0 / (alpha0 - 1)`` is 1; ``alpha0 >= 1`` keeps every
Gamma shape at least one (the fast sampler's cheap path).

State per arm: ``n = sum w``, the weighted mean ``ybar`` and
``M2 = sum w (y - ybar)^2``, merged batch-wise with Chan, Golub & LeVeque
(1979): ``delta = ybar_b - ybar``, ``n' = n + n_b``,
``ybar' = ybar + delta n_b / n'``, ``M2' = M2 + M2_b + delta^2 n n_b / n'``
(never a raw sum of squares, which cancels in float32). Posterior:
``kappa_n = kappa0 + n``, ``mu_n = (kappa0 mu0 + n ybar) / kappa_n``,
``alpha_n = alpha0 + n/2``,
``beta_n = beta0 + M2/2 + kappa0 n (ybar - mu0)^2 / (2 kappa_n)``.
Thompson draw: ``lambda ~ Gamma(alpha_n, beta_n)``,
``mu ~ N(mu_n, 1/(kappa_n lambda))``. Discount: ``n <- gamma n``,
``M2 <- gamma M2``, ``ybar`` unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl._checks import check_representable
from bayesrl.base import Belief
from bayesrl.beliefs._common import (
    all_at_least_one,
    check_discount,
    check_num_arms,
    config_value,
    newton_quantile,
    per_arm,
    per_arm_sum,
)
from bayesrl.types import Array, PRNGKey


class NormalGammaState(NamedTuple):
    """Welford statistics and the prior, all ``[K]``.

    The posterior parameters are properties: ``mean`` (mu_n),
    ``precision_scale`` (kappa_n), ``shape`` (alpha_n) and ``rate`` (beta_n).
    """

    num_observations: Array
    sample_mean: Array
    sum_squares: Array
    prior_mean: Array
    prior_precision_scale: Array
    prior_shape: Array
    prior_rate: Array

    @property
    def precision_scale(self) -> Array:
        return self.prior_precision_scale + self.num_observations

    @property
    def mean(self) -> Array:
        weighted = (
            self.prior_precision_scale * self.prior_mean
            + self.num_observations * self.sample_mean
        )
        return weighted / self.precision_scale

    @property
    def shape(self) -> Array:
        return self.prior_shape + 0.5 * self.num_observations

    @property
    def rate(self) -> Array:
        shrinkage = (
            self.prior_precision_scale
            * self.num_observations
            * (self.sample_mean - self.prior_mean) ** 2
            / (2.0 * self.precision_scale)
        )
        return self.prior_rate + 0.5 * self.sum_squares + shrinkage


def init(
    num_arms, prior_mean=0.0, prior_precision_scale=1.0, prior_shape=2.0, prior_rate=1.0
) -> NormalGammaState:
    dtype = jnp.result_type(float)
    zeros = jnp.zeros((num_arms,), dtype)
    return NormalGammaState(
        num_observations=zeros,
        sample_mean=zeros,
        sum_squares=zeros,
        prior_mean=per_arm(prior_mean, num_arms, dtype),
        prior_precision_scale=per_arm(prior_precision_scale, num_arms, dtype),
        prior_shape=per_arm(prior_shape, num_arms, dtype),
        prior_rate=per_arm(prior_rate, num_arms, dtype),
    )


def discount_state(state: NormalGammaState, gamma) -> NormalGammaState:
    """``n <- gamma n``, ``M2 <- gamma M2``; exact identity at 1."""
    return state._replace(
        num_observations=gamma * state.num_observations,
        sum_squares=gamma * state.sum_squares,
    )


def update(state: NormalGammaState, arms, rewards, weights, discount_factor=1.0):
    """One round: time discount, then merge the batch's weighted statistics."""
    num_arms = state.num_observations.shape[0]
    state = discount_state(state, discount_factor)
    dtype = state.sample_mean.dtype
    weights = weights.astype(dtype)
    rewards = rewards.astype(dtype)
    batch_count = per_arm_sum(weights, arms, num_arms)
    safe_count = jnp.where(batch_count > 0, batch_count, 1.0)
    batch_mean = per_arm_sum(weights * rewards, arms, num_arms) / safe_count
    centred = rewards - batch_mean[jnp.clip(arms, 0, num_arms - 1)]
    batch_m2 = per_arm_sum(weights * centred**2, arms, num_arms)
    total = state.num_observations + batch_count
    safe_total = jnp.where(total > 0, total, 1.0)
    delta = batch_mean - state.sample_mean
    sample_mean = jnp.where(
        batch_count > 0,
        state.sample_mean + delta * batch_count / safe_total,
        state.sample_mean,
    )
    sum_squares = (
        state.sum_squares
        + batch_m2
        + jnp.where(
            batch_count > 0,
            delta**2 * state.num_observations * batch_count / safe_total,
            0.0,
        )
    )
    return state._replace(
        num_observations=total, sample_mean=sample_mean, sum_squares=sum_squares
    )


def sample(key: PRNGKey, state: NormalGammaState, shapes_at_least_one=False):
    """``lambda ~ Gamma(alpha_n, beta_n)``, ``mu ~ N(mu_n, 1/(kappa_n lambda))``."""
    key_precision, key_mean = fast_random.split(key)
    log_precision = fast_random.log_gamma(
        key_precision, state.shape, shapes_at_least_one=shapes_at_least_one
    ) - jnp.log(state.rate)
    noise = fast_random.normal(key_mean, state.mean.shape, state.mean.dtype)
    scale = jnp.exp(-0.5 * log_precision) * jax.lax.rsqrt(state.precision_scale)
    return state.mean + noise * scale


def _student_t_cdf(x, degrees):
    """CDF of Student's t through the regularised incomplete beta."""
    tail = 0.5 * jax.scipy.special.betainc(
        0.5 * degrees, 0.5, degrees / (degrees + x**2)
    )
    return jnp.where(x > 0, 1.0 - tail, tail)


def quantile(state: NormalGammaState, level) -> Array:
    """Quantile of the marginal posterior of ``mu``:
    ``mu_n + sqrt(beta_n / (alpha_n kappa_n)) t_{2 alpha_n}^{-1}(level)``."""
    degrees = 2.0 * state.shape
    level = jnp.broadcast_to(jnp.asarray(level, degrees.dtype), degrees.shape)
    # |t| beyond 1e4 has probability far below any level used by Bayes-UCB
    # for degrees >= 2 (alpha0 >= 1).
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
    t = newton_quantile(
        lambda x: _student_t_cdf(x, degrees), pdf, level, start, -bound, bound
    )
    return state.mean + jnp.sqrt(state.rate / (state.shape * state.precision_scale)) * t


def normal_gamma(
    num_arms: int,
    prior_mean=0.0,
    prior_precision_scale=1.0,
    prior_shape=2.0,
    prior_rate=1.0,
    discount=1.0,
) -> Belief:
    """Normal-Gamma belief (unknown per-arm variance).

    Args:
        num_arms: number of arms K (static, >= 2).
        prior_mean: ``mu0``, scalar or ``[K]``.
        prior_precision_scale: ``kappa0 > 0``.
        prior_shape: ``alpha0 > 0`` (>= 1 recommended: faster sampling).
        prior_rate: ``beta0 > 0``.
        discount: time discount ``gamma`` in (0, 1], once per update round.
    """
    check_num_arms(num_arms)
    dtype = jnp.result_type(float)
    check_representable("prior_mean", prior_mean, num_arms, dtype, positive=False)
    check_representable("prior_precision_scale", prior_precision_scale, num_arms, dtype)
    check_representable("prior_shape", prior_shape, num_arms, dtype)
    check_representable("prior_rate", prior_rate, num_arms, dtype)
    check_discount("discount", discount)
    at_least_one = all_at_least_one(prior_shape)
    return Belief(
        init=lambda: init(
            num_arms, prior_mean, prior_precision_scale, prior_shape, prior_rate
        ),
        update=lambda state, arms, rewards, weights: update(
            state, arms, rewards, weights, discount
        ),
        sample=lambda key, state: sample(key, state, at_least_one),
        mean=lambda state: state.mean,
        quantile=quantile,
        discount=discount_state,
        counts=lambda state: state.num_observations,
        num_arms=num_arms,
        reward_range=(-float("inf"), float("inf")),
        name="normal_gamma",
        config=dict(
            num_arms=num_arms,
            prior_mean=config_value(prior_mean),
            prior_precision_scale=config_value(prior_precision_scale),
            prior_shape=config_value(prior_shape),
            prior_rate=config_value(prior_rate),
            discount=config_value(discount),
        ),
    )
