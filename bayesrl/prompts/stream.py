"""The epoch-permutation candidate stream of MoPPS (``prompts.md`` section 1.2).

The official MoPPS code draws its candidates from the trainer's ordinary
shuffled dataloader: each epoch is a fresh uniform permutation of the ``N``
prompt ids, read in consecutive chunks of ``num_candidates`` (``B_hat``), and a
partial last chunk is dropped (``drop_last=True``). Here the permutation is
state, so reading a chunk is a ``lax.dynamic_slice`` (O(B_hat) per step).

Reading (:func:`peek`) needs no key and never changes the stream, so a
read-only ``act`` can use it; :func:`advance` moves past the chunk and, when the
*next* chunk would run past the end, drops the remainder and draws the next
epoch's permutation at once (under ``lax.cond``: the O(N) reshuffle runs once
every ``floor(N / B_hat)`` steps). The stream therefore always holds a full
unread chunk at its cursor.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.types import Array, PRNGKey


class CandidateStream(NamedTuple):
    """Position in the epoch permutation.

    Attributes:
        permutation: int32 ``[N]`` the current epoch's order of prompt ids.
        cursor: int32 index of the next unread entry; ``cursor + B_hat <= N``.
        epoch: int32 number of reshuffles so far.
    """

    permutation: Array
    cursor: Array
    epoch: Array


def init(key: PRNGKey, num_prompts: int) -> CandidateStream:
    """A stream at the start of its first epoch."""
    return CandidateStream(
        permutation=jax.random.permutation(key, num_prompts).astype(jnp.int32),
        cursor=jnp.zeros((), jnp.int32),
        epoch=jnp.zeros((), jnp.int32),
    )


def peek(stream: CandidateStream, num_candidates: int) -> Array:
    """The next ``num_candidates`` distinct ids, without moving the stream."""
    return jax.lax.dynamic_slice(
        stream.permutation, (stream.cursor,), (num_candidates,)
    )


def advance(
    key: PRNGKey, stream: CandidateStream, num_candidates: int
) -> CandidateStream:
    """Move past the current chunk; reshuffle (with ``key``) when the next chunk
    would not fit in what is left of the epoch (drop-last)."""
    num_prompts = stream.permutation.shape[0]
    cursor = stream.cursor + num_candidates

    def reshuffle(stream):
        return CandidateStream(
            permutation=jax.random.permutation(key, num_prompts).astype(jnp.int32),
            cursor=jnp.zeros((), jnp.int32),
            epoch=stream.epoch + 1,
        )

    stream = stream._replace(cursor=cursor)
    return jax.lax.cond(
        cursor + num_candidates > num_prompts, reshuffle, lambda s: s, stream
    )
