"""Exact Gaussian linear Thompson sampling: the reference for LMC-TS.

Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with Linear Payoffs",
ICML 2013, with one parameter vector per arm (disjoint model) and a shared
context. Each round draws ``theta_a ~ N(V_a^{-1} b_a, nu^2 V_a^{-1})`` with
``V_a = sum x x' + ridge I`` and ``b_a = sum r x`` over the rounds arm ``a`` was
played, and plays ``argmax_a theta_a . x``. With ``nu^2 = 1 / (2 beta)`` this is
the Gibbs law that LMC-TS samples approximately.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.base import ActInfo, Agent, BanditObs, Transition, UpdateInfo
from bayesrl.types import Array, PRNGKey


class LinearThompsonState(NamedTuple):
    """Per-arm sufficient statistics ``sum x x'`` and ``sum r x``."""

    gram: Array
    shift: Array


def linear_thompson_sampling(
    num_arms: int, dim: int, *, inverse_temperature: float, ridge: float = 1.0
) -> Agent:
    """Exact LinTS with ``nu^2 = 1 / (2 inverse_temperature)``."""

    def init(key: PRNGKey) -> LinearThompsonState:
        del key
        return LinearThompsonState(
            gram=jnp.zeros((num_arms, dim, dim)), shift=jnp.zeros((num_arms, dim))
        )

    def act(key, state: LinearThompsonState, obs: BanditObs):
        precision = state.gram + ridge * jnp.eye(dim)
        chol = jnp.linalg.cholesky(precision)
        mean = jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(
            chol, state.shift
        )
        xi = jax.random.normal(key, (num_arms, dim))
        noise = jax.vmap(
            lambda c, z: jax.scipy.linalg.solve_triangular(c.T, z, lower=False)
        )(chol, xi)
        theta = mean + noise / jnp.sqrt(2.0 * inverse_temperature)
        scores = jnp.where(obs.available, theta @ obs.context, -jnp.inf)
        info = ActInfo(
            scores=scores,
            propensity=jnp.full((), jnp.nan),
            no_arm_available=~jnp.any(obs.available),
        )
        return jnp.argmax(scores).astype(jnp.int32), info

    def update(key, state: LinearThompsonState, transition: Transition):
        del key
        x = transition.obs.context
        a = jnp.reshape(transition.action, ()).astype(jnp.int32)
        state = LinearThompsonState(
            gram=state.gram.at[a].add(jnp.outer(x, x)),
            shift=state.shift.at[a].add(transition.reward * x),
        )
        return state, UpdateInfo(rejected=jnp.zeros((), bool))

    return Agent(init=init, act=act, update=update)
