"""Fast exact log-gamma and log-Dirichlet sampling for posterior sampling.

``jax.random.loggamma`` runs an element-wise rejection loop that splits a key
per element and costs about 2 microseconds per draw on CPU, which dominated
tabular PSRL (``|S|^2 |A|`` draws per episode). Here all proposals of a round
are drawn as whole arrays:

* Marsaglia & Tsang (2000), "A simple method for generating gamma variables":
  for shape ``beta >= 1`` set ``d = beta - 1/3``, ``c = 1 / sqrt(9 d)``, draw
  ``x ~ N(0, 1)``, ``u ~ U(0, 1)``, ``v = (1 + c x)^3`` and accept ``d v`` when
  ``v > 0`` and ``ln u < x^2 / 2 + d - d v + d ln v`` (acceptance >= 0.95).
* Shapes below 1 use the boost ``G(alpha) = G(alpha + 1) U^{1 / alpha}``, done
  in log space (``ln G(alpha + 1) + ln(U) / alpha``) so tiny ``alpha`` such as
  ``1 / |S|`` never underflow to ``0``; it is applied to every shape, so one
  code path serves all.

Rounds repeat (``lax.while_loop``) until every element is accepted, so the
draw is exact; more than two rounds are rare.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl.types import Array, PRNGKey


def log_gamma(key: PRNGKey, concentration: Array) -> Array:
    """``ln G`` with ``G ~ Gamma(concentration, 1)``, element-wise (float32)."""
    concentration = jnp.asarray(concentration, jnp.float32)
    shape = concentration.shape
    d = concentration + 1.0 - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    tiny = jnp.finfo(jnp.float32).tiny

    def propose(key_round):
        key_normal, key_uniform = jax.random.split(key_round)
        x = jax.random.normal(key_normal, shape)
        u = jax.random.uniform(key_uniform, shape, minval=tiny)
        v = (1.0 + c * x) ** 3
        log_v = jnp.log(jnp.where(v > 0, v, 1.0))
        accept = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * v + d * log_v)
        return accept, jnp.log(d) + log_v

    def body(carry):
        key_loop, accepted, value = carry
        key_loop, key_round = jax.random.split(key_loop)
        accept, proposal = propose(key_round)
        take = accept & ~accepted
        return key_loop, accepted | accept, jnp.where(take, proposal, value)

    key_boost, key_first, key_loop = jax.random.split(key, 3)
    accepted, value = propose(key_first)
    _, _, value = jax.lax.while_loop(
        lambda carry: ~jnp.all(carry[1]), body, (key_loop, accepted, value)
    )
    boost = jnp.log(jax.random.uniform(key_boost, shape, minval=tiny))
    return value + boost / concentration


def log_dirichlet(key: PRNGKey, concentration: Array, mask: Array) -> Array:
    """``ln theta`` with ``theta ~ Dirichlet(concentration[..., mask])`` on the
    last axis; entries outside ``mask`` are ``-inf`` (probability 0).

    Masked entries must still hold a positive concentration (use 1).
    """
    draws = jnp.where(mask, log_gamma(key, concentration), -jnp.inf)
    return jax.nn.log_softmax(draws, axis=-1)
