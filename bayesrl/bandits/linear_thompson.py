"""Linear Thompson sampling (known or unknown noise, disjoint or shared).

Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with Linear
Payoffs", ICML 2013 (arXiv:1209.3352); unknown noise as in the Deep Bayesian
Bandits Showdown (Riquelme, Tucker & Snoek, ICLR 2018). Each ``act`` draws
``theta ~ p(theta | data)`` (one vector per arm in the disjoint layout, one for
all arms in the shared layout) and plays ``argmax_k x_k . theta`` over the
available arms. Posterior models: :mod:`bayesrl.beliefs.linear_gaussian`
(``noise_std`` given) and :mod:`bayesrl.beliefs.linear_normal_inverse_gamma`
(``noise_std=None``).

Mapping to the peers' ridge form (``A = l2 I + X'X``, draws from
``N(A^{-1} X'r, alpha^2 A^{-1})``: MABWiser ``LinTS(alpha, l2_lambda)``,
contextualbandits ``v_sq = alpha^2``, the Agrawal-Goyal ``v``): with known
noise our precision is ``P = lambda I + X'X / sigma^2 = A / sigma^2`` where
``l2 = sigma^2 lambda``, so the peers' draw is ours with
``noise_std=1, prior_scale=1/sqrt(l2), inflation=alpha`` (or equivalently
``noise_std=alpha, prior_scale=alpha/sqrt(l2)``). The Gibbs law
``N(V^{-1} b, nu^2 V^{-1})`` with ``V = X'X + I`` that LMC-TS targets
(``nu^2 = 1/(2 beta)``) is ``noise_std=1, prior_scale=1, inflation=nu``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.bandits._linear_agent import make_linear_agent
from bayesrl.bandits._rules import choose, masked
from bayesrl.base import ActInfo, Agent, BanditObs
from bayesrl.beliefs._common import config_value
from bayesrl.beliefs.linear_gaussian import linear_gaussian
from bayesrl.beliefs.linear_normal_inverse_gamma import linear_normal_inverse_gamma
from bayesrl.types import PRNGKey


def linear_belief(
    num_arms,
    dim,
    noise_std,
    prior_scale,
    layout,
    inflation=1.0,
    noise_shape=6.0,
    noise_rate=6.0,
    discount=1.0,
):
    """The known-noise belief when ``noise_std`` is given, else the NIG one."""
    if noise_std is None:
        return linear_normal_inverse_gamma(
            num_arms,
            dim,
            prior_scale=prior_scale,
            noise_shape=noise_shape,
            noise_rate=noise_rate,
            layout=layout,
            inflation=inflation,
            discount=discount,
        )
    return linear_gaussian(
        num_arms,
        dim,
        noise_std=noise_std,
        prior_scale=prior_scale,
        layout=layout,
        inflation=inflation,
        discount=discount,
    )


def linear_thompson_sampling(
    num_arms: int,
    dim: int,
    noise_std=None,
    prior_scale=1.0,
    *,
    inflation=1.0,
    layout: str = "disjoint",
    noise_shape=6.0,
    noise_rate=6.0,
    discount=1.0,
    num_propensity_samples: int = 0,
) -> Agent:
    """Linear Thompson sampling agent.

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: context (disjoint) or feature (shared) dimension d.
        noise_std: known reward noise ``sigma > 0`` (scalar, or ``[K]``
            disjoint), or None (default) for unknown noise with a
            Normal-Inverse-Gamma prior.
        prior_scale: prior standard deviation of each coefficient
            (``lambda = prior_scale^-2``; must be > 0).
        inflation: posterior inflation ``v > 0`` of the draws (1 = exact
            posterior; MABWiser's ``alpha``, see the module docstring).
        layout: ``"disjoint"`` (context ``[d]``) or ``"shared"`` (``[K, d]``).
        noise_shape: ``a0`` of the inverse-Gamma noise prior (unknown noise).
        noise_rate: ``b0`` of the inverse-Gamma noise prior (unknown noise).
        discount: time discount ``gamma`` in (0, 1], once per update.
        num_propensity_samples: ``M`` extra draws estimating the chosen arm's
            propensity (0 = off, NaN reported).
    """
    if not isinstance(num_propensity_samples, int) or num_propensity_samples < 0:
        raise ValueError(
            "num_propensity_samples must be an int >= 0, got "
            f"{num_propensity_samples!r}"
        )
    belief = linear_belief(
        num_arms,
        dim,
        noise_std,
        prior_scale,
        layout,
        inflation,
        noise_shape,
        noise_rate,
        discount,
    )

    def act(key: PRNGKey, state, obs: BanditObs):
        key_sample, key_propensity = fast_random.split(key)
        scores = belief.sample(key_sample, state, obs.context)
        arm, shortage = choose(scores, obs.available, 1)
        if num_propensity_samples:
            keys = fast_random.split(key_propensity, num_propensity_samples)
            draws = jax.vmap(lambda k: belief.sample(k, state, obs.context))(keys)
            winners = jnp.argmax(masked(draws, obs.available), axis=-1)
            propensity = jnp.mean(winners == arm).astype(jnp.float32)
        else:
            propensity = jnp.full((), jnp.nan, jnp.float32)
        info = ActInfo(masked(scores, obs.available), propensity, shortage)
        return arm, info

    config = dict(
        num_arms=num_arms,
        dim=dim,
        noise_std=config_value(noise_std),
        prior_scale=config_value(prior_scale),
        inflation=config_value(inflation),
        layout=layout,
        noise_shape=config_value(noise_shape),
        noise_rate=config_value(noise_rate),
        discount=config_value(discount),
        num_propensity_samples=num_propensity_samples,
    )
    return make_linear_agent(belief, act, "linear_thompson_sampling", config)
