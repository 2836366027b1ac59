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
draw is exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl.types import Array, PRNGKey


def _marsaglia_tsang(key: PRNGKey, d: Array, c: Array) -> tuple[Array, Array]:
    """One proposal per element: ``(accepted, ln(d v))``."""
    key_normal, key_uniform = jax.random.split(key)
    x = jax.random.normal(key_normal, d.shape)
    u = jax.random.uniform(key_uniform, d.shape, minval=jnp.finfo(jnp.float32).tiny)
    v = (1.0 + c * x) ** 3
    log_v = jnp.log(jnp.where(v > 0, v, 1.0))
    accept = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * v + d * log_v)
    return accept, jnp.log(d) + log_v


def log_gamma(key: PRNGKey, concentration: Array) -> Array:
    """``ln G`` with ``G ~ Gamma(concentration, 1)``, element-wise (float32).

    Two rounds of proposals cover the whole array (each element is then
    accepted with probability >= 1 - 0.05^2); the few elements left are
    gathered into a small fixed-size buffer (``max(64, size / 64)``) and
    retried there until all are accepted, so large arrays do not pay full-size
    rounds for a handful of rejections.
    """
    concentration = jnp.asarray(concentration, jnp.float32)
    shape = concentration.shape
    flat = concentration.reshape(-1)
    size = flat.shape[0]
    d = flat + 1.0 - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    key_boost, key_first, key_second, key_loop = jax.random.split(key, 4)
    accepted, value = _marsaglia_tsang(key_first, d, c)
    accept, proposal = _marsaglia_tsang(key_second, d, c)
    value = jnp.where(accepted, value, proposal)
    accepted = accepted | accept
    buffer = max(64, size // 64)

    def body(carry):
        key_round, accepted, value = carry
        key_round, key_proposal = jax.random.split(key_round)
        index = jnp.nonzero(~accepted, size=buffer, fill_value=size)[0]
        safe = jnp.minimum(index, size - 1)
        accept, proposal = _marsaglia_tsang(key_proposal, d[safe], c[safe])
        accept = accept & (index < size)
        value = value.at[index].set(
            jnp.where(accept, proposal, value[safe]), mode="drop"
        )
        accepted = accepted.at[index].set(accept | accepted[safe], mode="drop")
        return key_round, accepted, value

    _, _, value = jax.lax.while_loop(
        lambda carry: ~jnp.all(carry[1]), body, (key_loop, accepted, value)
    )
    boost = jnp.log(
        jax.random.uniform(key_boost, (size,), minval=jnp.finfo(jnp.float32).tiny)
    )
    return (value + boost / flat).reshape(shape)


def log_dirichlet(key: PRNGKey, concentration: Array, mask: Array) -> Array:
    """``ln theta`` with ``theta ~ Dirichlet(concentration[..., mask])`` on the
    last axis; entries outside ``mask`` are ``-inf`` (probability 0).

    Masked entries must still hold a positive concentration (use 1).
    """
    draws = jnp.where(mask, log_gamma(key, concentration), -jnp.inf)
    return jax.nn.log_softmax(draws, axis=-1)
