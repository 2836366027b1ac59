"""The gymnax ``Environment`` base of bayesrl's environments, with a fast step.

gymnax's ``Environment.step`` splits its key with ``jax.random.split`` on every
step (one key for the transition, one for the auto-reset). On CPU JAX lowers
that Threefry hash to a rolled five-round ``while`` loop, whose bookkeeping
costs a few microseconds per call: in a seed-vectorised training loop with one
environment step per iteration, more than the step itself. :class:`Environment`
overrides ``step`` with the same semantics (same keys, same auto-reset, same
``info``) using :func:`bayesrl.random.split`, which is bit-identical to
``jax.random.split`` and unrolled, so every trajectory is unchanged.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment

from bayesrl import random as fast_random
from bayesrl.types import PRNGKey


class Environment(environment.Environment):
    """``gymnax.environments.environment.Environment`` with an unrolled key split."""

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: PRNGKey, state: Any, action: Any, params: Any = None):
        """gymnax's ``step``: transition, then auto-reset when done."""
        if params is None:
            params = self.default_params
        key_step, key_reset = fast_random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(
            key_step, state, action, params
        )
        truncated = self.is_truncated(state_step, params)
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.reset_env(key_reset, params)
        state = jax.tree.map(
            lambda reset, stepped: jax.lax.select(done, reset, stepped),
            state_reset,
            state_step,
        )
        obs = jax.tree.map(
            lambda reset, stepped: jax.lax.select(done, reset, stepped),
            obs_reset,
            obs_step,
        )
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_step,
        }
        return obs, state, reward, terminated, truncated, info
