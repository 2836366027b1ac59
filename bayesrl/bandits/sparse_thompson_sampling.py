"""Sparse high-dimensional linear Thompson sampling with a spike-and-slab prior
fitted by variational inference (Chakraborty, Roy & Tewari, "Thompson Sampling
for High-Dimensional Sparse Linear Contextual Bandits", ICML 2023, PMLR
202:3979-4008, arXiv:2211.05964; the bandit loop of the authors'
``VB.complexity.TS``).

The first ``warmup_rounds`` rounds (``T0``) play uniformly among the available
arms. Afterwards each round draws ``theta~ = z (mu + s xi)`` with ``z ~
Bern(gamma)``, ``xi ~ N(0, I)`` from the variational posterior
(:mod:`bayesrl.beliefs.spike_and_slab_linear`) and plays
``argmax_a E[r | x, a; theta~]`` among the available arms. Each observed reward
is stored and the posterior refitted by CAVI, warm-started from the previous
round (the authors refit every round and cold-restart every ``T1`` rounds:
``cold_restart_every=T1``; by default we always warm-start).

Layouts:

* disjoint (default, ``per_arm_features=False``): context ``x [dim]`` shared by
  the arms, one sparse ``theta_a`` per arm, score ``x . theta~_a``; each update
  refits only the played arm's regression.
* shared (``per_arm_features=True``, the paper's model): context
  ``[num_arms, dim]`` of per-arm features ``x_{t,a}``, one sparse ``theta``,
  score ``x_{t,a} . theta~``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.bandits._rules import choose, masked, uniform_choice
from bayesrl.base import ActInfo, Agent, BanditObs, Transition, flatten_feedback
from bayesrl.beliefs._common import check_num_arms
from bayesrl.beliefs.spike_and_slab_linear import (
    SpikeAndSlabState,
    spike_and_slab_linear,
)
from bayesrl.types import Array, PRNGKey


class SparseThompsonState(NamedTuple):
    """The belief's state and the number of update rounds so far."""

    belief: SpikeAndSlabState
    num_rounds: Array


class SparseThompsonUpdateInfo(NamedTuple):
    """Diagnostics of an update.

    Attributes:
        rejected: True when the batch held a non-finite reward or context (the
            previous state was kept).
        elbo: the ELBO after the refit of the last item's arm.
        num_sweeps: CAVI sweeps of that refit.
    """

    rejected: Array
    elbo: Array
    num_sweeps: Array


def sparse_thompson_sampling(
    num_arms: int,
    dim: int,
    per_arm_features: bool = False,
    capacity: int = 1000,
    warmup_rounds: int = 10,
    noise_std=None,
    slab_rate=1.0,
    prior_a=1.0,
    prior_b=None,
    max_sweeps: int = 10,
    tolerance=1e-3,
    newton_steps: int = 8,
    slab: str = "laplace",
    cold_restart_every: int | None = None,
) -> Agent:
    """Sparse linear TS agent (spike-and-slab prior, CAVI posterior).

    Args:
        num_arms: number of arms K (static, >= 2).
        dim: context dimension ``p`` (static).
        per_arm_features: False: disjoint layout (context ``[dim]``); True:
            shared ``theta`` with per-arm features (context ``[K, dim]``).
        capacity: observations kept (static); older ones are forgotten.
        warmup_rounds: ``T0`` rounds of uniform play (authors: 5 or 10).
        noise_std: known noise, or None to estimate it.

    The other arguments (``slab_rate``, ``prior_a``, ``prior_b``,
    ``max_sweeps``, ``tolerance``, ``newton_steps``, ``slab``,
    ``cold_restart_every``) are those of the belief,
    :func:`~bayesrl.beliefs.spike_and_slab_linear.spike_and_slab_linear`
    (``slab="gaussian"``: closed-form CAVI; ``cold_restart_every=T1``: the
    authors' ridge/LASSO cold start, repeated every ``T1`` fits).
    """
    check_num_arms(num_arms)
    if not isinstance(warmup_rounds, int) or warmup_rounds < 0:
        raise ValueError(f"warmup_rounds must be an int >= 0, got {warmup_rounds!r}")
    num_groups = 1 if per_arm_features else num_arms
    belief = spike_and_slab_linear(
        dim,
        num_groups=num_groups,
        capacity=capacity,
        noise_std=noise_std,
        slab_rate=slab_rate,
        prior_a=prior_a,
        prior_b=prior_b,
        max_sweeps=max_sweeps,
        tolerance=tolerance,
        newton_steps=newton_steps,
        slab=slab,
        cold_restart_every=cold_restart_every,
    )
    context_shape = (num_arms, dim) if per_arm_features else (dim,)

    def init(key: PRNGKey) -> SparseThompsonState:
        del key
        return SparseThompsonState(belief.init(), jnp.zeros((), jnp.int32))

    def scores_of(theta: Array, context: Array) -> Array:
        if per_arm_features:
            return context @ theta[0]
        return theta @ context

    def act(key: PRNGKey, state: SparseThompsonState, obs: BanditObs):
        key_sample, key_uniform = fast_random.split(key)
        context = jnp.reshape(obs.context, context_shape)
        scores = scores_of(belief.sample(key_sample, state.belief), context)
        greedy, shortage = choose(scores, obs.available, 1)
        warming_up = state.num_rounds < warmup_rounds
        arm = jnp.where(warming_up, uniform_choice(key_uniform, obs.available), greedy)
        info = ActInfo(
            scores=masked(scores, obs.available),
            propensity=jnp.where(
                warming_up, 1.0 / jnp.maximum(jnp.sum(obs.available), 1), jnp.nan
            ).astype(jnp.float32),
            no_arm_available=shortage,
        )
        return arm, info

    def update(key: PRNGKey, state: SparseThompsonState, transition: Transition):
        del key
        arms, rewards = flatten_feedback(transition)
        raw_context = jnp.reshape(transition.obs.context, context_shape)
        valid = (arms >= 0) & (arms < num_arms)
        rejected = jnp.any(valid & ~jnp.isfinite(rewards)) | ~jnp.all(
            jnp.isfinite(raw_context)
        )
        context = jnp.where(jnp.isfinite(raw_context), raw_context, 0.0)

        def add(belief_state, item):
            arm, reward, is_valid = item
            index = jnp.clip(arm, 0, num_arms - 1)
            feature = context[index] if per_arm_features else context
            group = 0 if per_arm_features else index
            new_state, info = belief.update(belief_state, group, feature, reward)
            keep = ~is_valid | rejected
            belief_state = jax.tree.map(
                lambda old, new: jnp.where(keep, old, new), belief_state, new_state
            )
            return belief_state, (info.elbo, info.num_sweeps)

        safe_rewards = jnp.where(valid & jnp.isfinite(rewards), rewards, 0.0)
        if arms.shape[0] == 1:  # the usual one-pull round: no scan to trace
            belief_state, (elbo, sweeps) = add(
                state.belief, (arms[0], safe_rewards[0], valid[0])
            )
            elbos, sweeps = elbo[None], sweeps[None]
        else:
            belief_state, (elbos, sweeps) = jax.lax.scan(
                add, state.belief, (arms, safe_rewards, valid)
            )
        new_state = SparseThompsonState(
            belief_state, state.num_rounds + jnp.where(rejected, 0, 1)
        )
        info = SparseThompsonUpdateInfo(
            rejected=rejected, elbo=elbos[-1], num_sweeps=sweeps[-1]
        )
        return new_state, info

    return Agent(init=init, act=act, update=update)
