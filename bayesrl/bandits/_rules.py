"""Pieces shared by decision rules: masking, argmax, uniform choice, top-B."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.base import ActInfo
from bayesrl.types import Array, PRNGKey


def masked(scores: Array, available: Array) -> Array:
    """Scores with unavailable arms at ``-inf``."""
    return jnp.where(available, scores, -jnp.inf)


def choose(scores: Array, available: Array, batch_size: int) -> tuple[Array, Array]:
    """Best available arm (lowest index on ties), or the ``batch_size`` best
    distinct arms; also whether fewer arms than asked for were available."""
    scores = masked(scores, available)
    shortage = jnp.sum(available) < batch_size
    if batch_size == 1:
        return jnp.argmax(scores).astype(jnp.int32), shortage
    _, arms = jax.lax.top_k(scores, batch_size)
    return arms.astype(jnp.int32), shortage


def uniform_choice(key: PRNGKey, candidates: Array) -> Array:
    """An arm drawn uniformly among the True entries of ``candidates``."""
    noise = fast_random.uniform(key, candidates.shape)
    return jnp.argmax(jnp.where(candidates, noise, -1.0)).astype(jnp.int32)


def epsilon_greedy_choice(
    key: PRNGKey, estimates: Array, available: Array, epsilon
) -> tuple[Array, ActInfo]:
    """With probability ``epsilon`` an available arm uniformly, otherwise one of
    the best available ``estimates`` uniformly; the exact propensity
    ``epsilon / |A| + (1 - epsilon) 1[a in argmax] / |argmax|``."""
    key_coin, key_explore, key_tie = fast_random.split(key, 3)
    scores = masked(estimates, available)
    best = available & (scores == jnp.max(scores))
    explore = fast_random.uniform(key_coin) < epsilon
    arm = jnp.where(
        explore,
        uniform_choice(key_explore, available),
        uniform_choice(key_tie, best),
    )
    num_available = jnp.maximum(jnp.sum(available), 1)
    propensity = epsilon / num_available + (1.0 - epsilon) * best[arm] / jnp.maximum(
        jnp.sum(best), 1
    )
    info = ActInfo(scores, propensity.astype(jnp.float32), ~jnp.any(available))
    return arm, info


def index_policy_info(scores, available, arm, shortage) -> ActInfo:
    """ActInfo of a deterministic index policy: propensity 1."""
    return ActInfo(
        scores=masked(scores, available),
        propensity=jnp.ones(jnp.shape(arm), jnp.float32),
        no_arm_available=shortage,
    )


def check_batch_size(batch_size, num_arms: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool):
        raise ValueError(f"batch_size must be an int, got {batch_size!r}")
    if not 1 <= batch_size <= num_arms:
        raise ValueError(
            f"batch_size must be in [1, num_arms={num_arms}], got {batch_size}"
        )
