"""Log-Dirichlet sampling for posterior sampling over transition tables.

A Dirichlet draw is a normalised vector of independent Gamma draws,
``theta_i = G_i / sum_j G_j`` with ``G_i ~ Gamma(alpha_i, 1)``; it is formed
here in log space (a log-softmax of log-Gamma draws) so that tiny
concentrations such as ``1 / |S|`` never underflow to ``0 / 0``. The log-Gamma
draws come from :func:`bayesrl.random.log_gamma` (exact Marsaglia-Tsang with
boosting below shape 1), which is far faster on CPU than
``jax.random.loggamma``'s per-element rejection loop; tabular PSRL draws
``|S|^2 |A|`` of them per episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.types import Array, PRNGKey


def log_dirichlet(key: PRNGKey, concentration: Array, mask: Array) -> Array:
    """``ln theta`` with ``theta ~ Dirichlet(concentration[..., mask])`` on the
    last axis; entries outside ``mask`` are ``-inf`` (probability 0).

    Masked entries must still hold a positive concentration (use 1).
    """
    log_gamma = fast_random.log_gamma(key, jnp.asarray(concentration, jnp.float32))
    draws = jnp.where(mask, log_gamma, -jnp.inf)
    return jax.nn.log_softmax(draws, axis=-1)
