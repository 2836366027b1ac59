"""Beta-Bernoulli posterior over K arms, with discounting and a sliding window.

Model (Thompson 1933; Agrawal & Goyal, COLT 2012, arXiv:1111.1797): rewards
``r in {0, 1}`` (fractional rewards in [0, 1] are added as fractional
evidence), ``theta_k ~ Beta(alpha0_k, beta0_k)``. The state keeps weighted
success and failure counts *net of the prior*, ``s_k`` and ``f_k``, so the
posterior is ``Beta(alpha0_k + s_k, beta0_k + f_k)`` and a discounted arm relaxes
to its prior, not to ``Beta(0, 0)``.

One update round with items ``{(a_i, r_i, w_i)}`` does, in order:

1. time discount of every arm (Raj & Kalyani 2017, arXiv:1707.09727):
   ``s <- gamma s``, ``f <- gamma f``;
2. per-visit discount of the arms present in the batch (MoPPS, Qu et al.
   2025): ``s_k <- lambda s_k``, ``f_k <- lambda f_k``, i.e.
   ``alpha_k <- lambda alpha_k + (1 - lambda) alpha0_k`` before adding;
3. the conjugate addition ``s_k += sum_i w_i 1[a_i = k] r_i``,
   ``f_k += sum_i w_i 1[a_i = k] (1 - r_i)``.

Both discounts equal 1 by default, which makes them exact identities. With
``window=W`` only the last ``W`` observations count (Trovo et al., JAIR 2020,
sliding-window TS, with a global window over observations): a ring buffer
holds them and each insertion subtracts the evicted item, O(batch) per round.

Counts are float32 (float64 under ``jax_enable_x64``): unweighted counts stay
exact up to 2^24 (about 1.7e7) observations per arm in float32.
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
    visited_arms,
)
from bayesrl.types import Array, PRNGKey


class BetaBernoulliState(NamedTuple):
    """Posterior ``Beta(alpha, beta)`` per arm, stored net of the prior.

    Attributes:
        successes: ``[K]`` weighted success counts ``s_k``.
        failures: ``[K]`` weighted failure counts ``f_k``.
        prior_alpha: ``[K]`` prior ``alpha0_k``.
        prior_beta: ``[K]`` prior ``beta0_k``.
        window_arms: ``[W]`` arms of the last ``W`` observations (``-1`` =
            empty); shape ``[0]`` without a window.
        window_rewards: ``[W]`` their rewards.
        window_weights: ``[W]`` their weights.
        window_head: index of the next slot of the ring buffer.
    """

    successes: Array
    failures: Array
    prior_alpha: Array
    prior_beta: Array
    window_arms: Array
    window_rewards: Array
    window_weights: Array
    window_head: Array

    @property
    def alpha(self) -> Array:
        """Posterior ``alpha_k = alpha0_k + s_k``."""
        return self.prior_alpha + self.successes

    @property
    def beta(self) -> Array:
        """Posterior ``beta_k = beta0_k + f_k``."""
        return self.prior_beta + self.failures


def init(num_arms: int, prior_alpha=1.0, prior_beta=1.0, window: int = 0):
    """The prior state (``window=0``: no sliding window)."""
    dtype = jnp.result_type(float)
    return BetaBernoulliState(
        successes=jnp.zeros((num_arms,), dtype),
        failures=jnp.zeros((num_arms,), dtype),
        prior_alpha=per_arm(prior_alpha, num_arms, dtype),
        prior_beta=per_arm(prior_beta, num_arms, dtype),
        window_arms=jnp.full((window,), -1, jnp.int32),
        window_rewards=jnp.zeros((window,), dtype),
        window_weights=jnp.zeros((window,), dtype),
        window_head=jnp.zeros((), jnp.int32),
    )


def discount_state(state: BetaBernoulliState, gamma) -> BetaBernoulliState:
    """Forget evidence of every arm: ``(s, f) <- gamma (s, f)``; exact at 1."""
    return state._replace(
        successes=gamma * state.successes, failures=gamma * state.failures
    )


def _insert_into_window(state, arms, rewards, weights):
    """Push the batch's real observations (not padding, not zero weight) into the
    ring buffer; return the new state and the items they evicted."""
    num_arms = state.successes.shape[0]
    capacity = state.window_arms.shape[0]
    real = (arms >= 0) & (arms < num_arms) & (weights != 0)
    offsets = jnp.cumsum(real) - 1
    # Padding gets slot `capacity`, out of range: dropped by the scatters below.
    slots = jnp.where(real, (state.window_head + offsets) % capacity, capacity)
    evicted = (
        state.window_arms.at[slots].get(mode="fill", fill_value=-1),
        state.window_rewards.at[slots].get(mode="fill", fill_value=0.0),
        state.window_weights.at[slots].get(mode="fill", fill_value=0.0),
    )
    state = state._replace(
        window_arms=state.window_arms.at[slots].set(arms, mode="drop"),
        window_rewards=state.window_rewards.at[slots].set(rewards, mode="drop"),
        window_weights=state.window_weights.at[slots].set(weights, mode="drop"),
        window_head=(state.window_head + jnp.sum(real)) % capacity,
    )
    return state, evicted


def update(
    state: BetaBernoulliState,
    arms: Array,
    rewards: Array,
    weights: Array,
    discount_factor=1.0,
    visit_discount=1.0,
) -> BetaBernoulliState:
    """One round: time discount, per-visit discount, then add the batch.

    Args:
        state: the current posterior.
        arms: int ``[B]``; ``-1`` marks padding.
        rewards: ``[B]`` in [0, 1].
        weights: ``[B]`` non-negative observation weights.
        discount_factor: time discount ``gamma`` applied to every arm.
        visit_discount: per-visit discount ``lambda`` of the arms in the batch.
    """
    num_arms = state.successes.shape[0]
    rewards = rewards.astype(state.successes.dtype)
    weights = weights.astype(state.successes.dtype)
    state = discount_state(state, discount_factor)
    visited = visited_arms(arms, weights, num_arms)
    keep = jnp.where(visited, visit_discount, 1.0)
    successes = keep * state.successes + per_arm_sum(weights * rewards, arms, num_arms)
    failures = keep * state.failures + per_arm_sum(
        weights * (1.0 - rewards), arms, num_arms
    )
    if state.window_arms.shape[0] > 0:
        state, (old_arms, old_rewards, old_weights) = _insert_into_window(
            state, arms, rewards, weights
        )
        successes = successes - per_arm_sum(
            old_weights * old_rewards, old_arms, num_arms
        )
        failures = failures - per_arm_sum(
            old_weights * (1.0 - old_rewards), old_arms, num_arms
        )
        # Subtraction of what was added can leave -1e-7 in float32.
        successes = jnp.maximum(successes, 0.0)
        failures = jnp.maximum(failures, 0.0)
    return state._replace(successes=successes, failures=failures)


def visit_update(
    alpha: Array,
    beta: Array,
    successes: Array,
    failures: Array,
    prior_alpha,
    prior_beta,
    visit_discount=1.0,
) -> tuple[Array, Array]:
    """The per-visit discounted update on a gathered subset of arms.

    MoPPS (Qu et al. 2025, arXiv:2507.04632, eq. 6): for each visited arm,
    ``alpha <- lambda alpha + (1 - lambda) alpha0 + s`` and
    ``beta <- lambda beta + (1 - lambda) beta0 + f``. This is step 2 and 3 of
    :func:`update` written on posterior parameters instead of net counts, for
    callers that keep only ``alpha, beta`` per arm and gather the visited ones
    (O(visited) work instead of O(num_arms)). ``lambda = 1`` is plain conjugate
    accumulation.
    """
    keep = 1.0 - visit_discount
    return (
        visit_discount * alpha + keep * prior_alpha + successes,
        visit_discount * beta + keep * prior_beta + failures,
    )


def decay_towards_prior(
    alpha: Array, beta: Array, prior_alpha, prior_beta, factor
) -> tuple[Array, Array]:
    """Forget evidence towards the prior: ``alpha0 + factor (alpha - alpha0)``.

    With ``factor = rho ** m`` this is ``m`` rounds of the time discount of
    :func:`discount_state` applied at once (lazily, when an arm is next read);
    ``factor = 1`` is an exact identity (no rounding).
    """
    forget = factor < 1.0
    return (
        jnp.where(forget, prior_alpha + factor * (alpha - prior_alpha), alpha),
        jnp.where(forget, prior_beta + factor * (beta - prior_beta), beta),
    )


def sample(
    key: PRNGKey,
    state: BetaBernoulliState,
    num_candidates: int | None = None,
    shapes_at_least_one: bool = False,
) -> Array:
    """One draw ``theta_k ~ Beta(alpha_k, beta_k)`` per arm (fast exact sampler)."""
    return fast_random.beta(
        key,
        state.alpha,
        state.beta,
        num_candidates=num_candidates,
        shapes_at_least_one=shapes_at_least_one,
    )


def mean(state: BetaBernoulliState) -> Array:
    """Posterior means ``alpha / (alpha + beta)``."""
    return state.alpha / (state.alpha + state.beta)


def quantile(state: BetaBernoulliState, level) -> Array:
    """Posterior quantiles by safeguarded Newton steps on the log-odds
    ``y = log(x / (1 - x))``, where the Beta law is close to normal: the start is
    the logit-normal approximation ``y ~ N(psi(a) - psi(b), psi'(a) + psi'(b))``
    and each step solves ``I_x(a, b) = level`` with ``dI/dy = pdf(x) x (1 - x)``.
    """
    alpha, beta = state.alpha, state.beta
    level = jnp.broadcast_to(jnp.asarray(level, alpha.dtype), alpha.shape)
    special = jax.scipy.special
    center = special.digamma(alpha) - special.digamma(beta)
    spread = jnp.sqrt(special.polygamma(1, alpha) + special.polygamma(1, beta))
    log_normaliser = special.betaln(alpha, beta)

    def cdf(y):
        return special.betainc(alpha, beta, jax.nn.sigmoid(y))

    def density(y):  # d cdf / dy = x^a (1 - x)^b / B(a, b)
        return jnp.exp(
            alpha * jax.nn.log_sigmoid(y)
            + beta * jax.nn.log_sigmoid(-y)
            - log_normaliser
        )

    bound = jnp.full_like(alpha, 40.0)  # logit 40: x within 4e-18 of 0 or 1
    start = jnp.clip(center + special.ndtri(level) * spread, -bound, bound)
    return jax.nn.sigmoid(newton_quantile(cdf, density, level, start, -bound, bound))


def beta_bernoulli(
    num_arms: int,
    prior_alpha=1.0,
    prior_beta=1.0,
    discount=1.0,
    visit_discount=1.0,
    window: int | None = None,
    num_candidates: int | None = None,
) -> Belief:
    """Beta-Bernoulli belief over ``num_arms`` arms.

    Args:
        num_arms: number of arms K (static, >= 2).
        prior_alpha: prior ``alpha0 > 0``, a scalar or ``[K]`` (traceable).
        prior_beta: prior ``beta0 > 0``, a scalar or ``[K]`` (traceable).
        discount: time discount ``gamma`` in (0, 1] applied to all arms once per
            update round; memory about ``1 / (1 - gamma)`` rounds.
        visit_discount: per-visit discount ``lambda`` in (0, 1] applied to the
            arms present in an update (MoPPS).
        window: keep only the last ``window`` observations (static), or None.
        num_candidates: Marsaglia-Tsang candidates per Gamma variate (static;
            None picks by size, see :func:`bayesrl.random.log_gamma`). A cost
            knob only: the draws do not depend on it.

    Returns:
        A :class:`~bayesrl.base.Belief` whose state is a
        :class:`BetaBernoulliState` (``state.alpha``, ``state.beta``).
    """
    check_num_arms(num_arms)
    dtype = jnp.result_type(float)
    check_representable("prior_alpha", prior_alpha, num_arms, dtype)
    check_representable("prior_beta", prior_beta, num_arms, dtype)
    check_discount("discount", discount)
    check_discount("visit_discount", visit_discount)
    capacity = 0
    if window is not None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"window must be an int >= 1 or None, got {window!r}")
        # Discounts are <= 1, so "all at least one" means both are exactly 1.
        if not all_at_least_one(discount, visit_discount):
            raise ValueError(
                "window cannot be combined with discount or visit_discount < 1: "
                "evicting an observation must remove exactly what it added"
            )
        capacity = window
    at_least_one = all_at_least_one(prior_alpha, prior_beta)

    def update_fn(state, arms, rewards, weights):
        if capacity and arms.shape[0] > capacity:
            raise ValueError(
                f"a batch of {arms.shape[0]} observations does not fit a window of "
                f"{capacity}"
            )
        return update(state, arms, rewards, weights, discount, visit_discount)

    return Belief(
        init=lambda: init(num_arms, prior_alpha, prior_beta, capacity),
        update=update_fn,
        sample=lambda key, state: sample(key, state, num_candidates, at_least_one),
        mean=mean,
        quantile=quantile,
        discount=discount_state,
        counts=lambda state: state.successes + state.failures,
        num_arms=num_arms,
        reward_range=(0.0, 1.0),
        name="beta_bernoulli",
        config=dict(
            num_arms=num_arms,
            prior_alpha=config_value(prior_alpha),
            prior_beta=config_value(prior_beta),
            discount=config_value(discount),
            visit_discount=config_value(visit_discount),
            window=window,
            num_candidates=num_candidates,
        ),
    )
