"""DAPO dynamic sampling (DS), the post-rollout baseline of MoPPS.

Yu et al., "DAPO: An Open-Source LLM Reinforcement Learning System at Scale"
(arXiv:2503.14476), section 3.2: over-generate, drop the groups whose ``k``
rewards are all equal (``0 < s < k`` is kept), and keep drawing batches until
``B`` informative groups are collected or ``max_batches`` batches were
generated (verl's ``max_num_gen_batches``); at the cap the step trains on
what was kept. The kept groups are trained on **their own rollouts**; every
generated group costs ``k`` rollouts.

Pure JAX with static shapes: batches of ``B`` prompts are read from the same
epoch-permutation stream MoPPS uses, the generation loop is a fixed
``max_batches``-iteration loop whose iterations after the batch is full are
masked (not counted, and the stream is not advanced), and the kept groups
fill a ``[B]`` buffer in generation order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.prompts import stream as candidate_stream
from bayesrl.types import Array, PRNGKey


class DynamicSamplingResult(NamedTuple):
    """One DS step.

    Attributes:
        ids: int32 ``[B]`` kept prompt ids (fill slots are 0 with ``mask`` False).
        successes: int32 ``[B]`` their successes out of ``k``.
        mask: bool ``[B]`` slots holding a kept group.
        num_generated: groups rolled out this step (multiple of ``B``).
        num_degenerate: generated groups that were dropped.
        generated_ids: int32 ``[max_batches * B]`` every candidate read, in order.
        generated_successes: int32 ``[max_batches * B]`` their successes.
        generated_mask: bool ``[max_batches * B]`` candidates actually rolled out.
    """

    ids: Array
    successes: Array
    mask: Array
    num_generated: Array
    num_degenerate: Array
    generated_ids: Array
    generated_successes: Array
    generated_mask: Array


def dynamic_sampling(
    key: PRNGKey,
    stream: candidate_stream.CandidateStream,
    rollout_fn: Callable[[PRNGKey, Array], Array],
    num_prompts: int,
    batch_size: int,
    num_rollouts: int,
    max_batches: int,
) -> tuple[DynamicSamplingResult, candidate_stream.CandidateStream]:
    """Collect up to ``batch_size`` non-degenerate groups.

    Args:
        key: a typed key.
        stream: candidate stream read in chunks of ``batch_size``.
        rollout_fn: ``(key, ids[B]) -> successes[B]`` out of ``num_rollouts``.
        num_prompts: N, size of the pool the stream permutes.
        batch_size: B, groups to train on.
        num_rollouts: k, rollouts per group.
        max_batches: cap on generated batches per step (>= 1).
    """
    if max_batches < 1:
        raise ValueError(f"max_batches must be >= 1, got {max_batches}")
    keys = fast_random.split(key, 2 * max_batches)

    def generate(carry, inputs):
        ids_buffer, successes_buffer, kept, stream = carry
        key_rollout, key_stream = inputs
        active = kept < batch_size
        ids = candidate_stream.peek(stream, batch_size, num_prompts)
        successes = rollout_fn(key_rollout, ids)
        informative = active & (successes > 0) & (successes < num_rollouts)
        slot = kept + jnp.cumsum(informative) - 1
        slot = jnp.where(informative & (slot < batch_size), slot, batch_size)
        ids_buffer = ids_buffer.at[slot].set(ids, mode="drop")
        successes_buffer = successes_buffer.at[slot].set(successes, mode="drop")
        kept = jnp.minimum(kept + jnp.sum(informative), batch_size)
        advanced = candidate_stream.advance(key_stream, stream, batch_size, num_prompts)
        stream = jax.tree.map(
            lambda new, old: jnp.where(active, new, old), advanced, stream
        )
        active_rows = jnp.broadcast_to(active, ids.shape)
        return (ids_buffer, successes_buffer, kept, stream), (
            ids,
            successes,
            active_rows,
        )

    initial = (
        jnp.zeros((batch_size,), jnp.int32),
        jnp.zeros((batch_size,), jnp.int32),
        jnp.zeros((), jnp.int32),
        stream,
    )
    (ids, successes, kept, stream), (all_ids, all_successes, all_active) = jax.lax.scan(
        generate, initial, (keys[:max_batches], keys[max_batches:])
    )
    generated_mask = all_active.reshape(-1)
    generated_successes = all_successes.reshape(-1)
    degenerate = (generated_successes == 0) | (generated_successes == num_rollouts)
    result = DynamicSamplingResult(
        ids=ids,
        successes=successes,
        mask=jnp.arange(batch_size) < kept,
        num_generated=jnp.sum(generated_mask),
        num_degenerate=jnp.sum(generated_mask & degenerate),
        generated_ids=all_ids.reshape(-1),
        generated_successes=generated_successes,
        generated_mask=generated_mask,
    )
    return result, stream
